"""Reader-facing checks of check-book: each fails on a crafted bad page and passes the good version.

Pure checks (raw markup, findings links, recorded figure font sizes) run on static HTML; the layout and
figure-text checks are measured in real Chromium (skipped when it is not installed, required under CI).
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import pytest

from alliance_study.book import browser_check as cb
from alliance_study.book import page_checks as pc

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alliance_study.chapters import display  # noqa: E402


def _page(body: str, title: str = "A page") -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{margin:0;font-family:sans-serif} article{width:800px;margin:0 auto}"
            "td,th{white-space:nowrap;padding:4px}</style></head><body><nav><ul><li>menu</li></ul></nav>"
            f"<main><article class='bd-article'><h1>{title}</h1>{body}</article></main></body></html>")


def _figure_png(fontsize: float, width_in: float = 8.0, dpi: int = 100) -> bytes:
    fig, ax = plt.subplots(figsize=(width_in, 3), dpi=dpi)
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=fontsize)
    ax.set_title("title", fontsize=fontsize + 2)
    data = display.figure_png(fig)
    plt.close(fig)
    return data


def _chromium_or_skip() -> Path:
    if cb.DEFAULT_CHROMIUM.is_file():
        return cb.DEFAULT_CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {cb.DEFAULT_CHROMIUM} is missing: run `bash tools/install_chromium.sh`")
    pytest.skip(f"{cb.DEFAULT_CHROMIUM} not installed (bash tools/install_chromium.sh)")


# --- raw markup ------------------------------------------------------------------------------------------

def test_raw_roles_and_glue_keys_are_found_outside_code():
    bad = pc.parse_text(_page("<p>We rank {glue:text}<code>n_ranked</code> districts (see {numref}"
                              "<code>tbl-x</code>) and <em>chapters/program.ipynb::n_total_2023</em>.</p>"
                              "<pre>{glue:text}`allowed_in_code`</pre>"))
    found = pc.markup_findings(bad)
    assert [f.detail.split(" '")[0] for f in found] == ["unparsed MyST role", "unparsed MyST role",
                                                         "glue key shown as text"]
    assert "{glue:text}" in found[0].detail and "{numref}" in found[1].detail
    good = pc.parse_text(_page("<p>We rank 30 districts (Table 3).</p><pre>{glue:text}`x`</pre>"))
    assert pc.markup_findings(good) == []


# --- findings links --------------------------------------------------------------------------------------

def test_findings_page_needs_a_section_link_per_finding():
    body = ("<ul><li>Money went up (<a href='chapters/program.html#tbl-funding'>Table 2</a>).</li>"
            "<li>Graduation rose 4.6 points <a href='chapters/impact.html'>(the chapter)</a>.</li>"
            "<li>No link at all.</li></ul>")
    text = pc.parse_text(_page(body, "Findings"))
    found = pc.findings_page_findings("findings.html", text)
    assert len(found) == 2
    assert "Graduation rose" in found[0].detail and "No link at all" in found[1].detail
    assert pc.findings_page_findings("chapters/impact.html", text) == []  # other pages: not findings
    assert pc.findings_page_findings("findings.html", pc.parse_text(_page("<p>none</p>")))[0].detail == (
        "the findings page lists no findings")
    nested = "<ul><li>A finding <a href='a.html#s'>here</a><ul><li>detail without link</li></ul></li></ul>"
    assert pc.findings_page_findings("findings.html", pc.parse_text(_page(nested))) == []


# --- figure font sizes -----------------------------------------------------------------------------------

def test_figures_record_their_smallest_text():
    data = _figure_png(fontsize=7, dpi=100)
    assert pc.recorded_font_px(data) == pytest.approx(7 * 100 / 72, abs=0.01)
    assert pc.recorded_font_px(b"not a png") is None
    fig, axes = plt.subplots(1, 2)
    axes[1].set_title("hidden", fontsize=3)
    axes[1].set_visible(False)  # text on a hidden axes is not drawn, so it does not count
    axes[0].tick_params(labelsize=9)
    fig.canvas.draw()  # tick labels get their text when drawn
    assert display.min_font_px(fig, dpi=72) == pytest.approx(9)
    plt.close(fig)


def test_figure_text_check_scales_by_displayed_width():
    data = _figure_png(fontsize=10, dpi=100)  # 13.9 image px
    uri = "data:image/png;base64," + base64.b64encode(data).decode()

    def measured(natural: int, shown: float) -> pc.PageText:
        return pc.PageText(measure={"column": 800, "overflow": [],
                                    "images": [{"src": uri, "natural": natural, "shown": shown}]})

    def load(src: str) -> bytes:
        return cb.decode_data_uri(src)[1]

    assert pc.figure_text_findings(measured(800, 800), load) == []
    small = pc.figure_text_findings(measured(1600, 800), load)  # shown at half size: 6.9 px
    assert len(small) == 1 and "smallest text 6.9 px < 10 px" in small[0].detail


# --- in Chromium: layout and figure text on crafted pages ------------------------------------------------

def _wide_table(caption: str = "") -> str:
    cells = "".join(f"<td>a long cell value number {i}</td>" for i in range(12))
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f"<table>{cap}<tr>{cells}</tr></table>"


def test_layout_and_figure_text_measured_in_chromium(tmp_path):
    chromium = _chromium_or_skip()
    root = tmp_path / "html"
    root.mkdir()
    small = base64.b64encode(_figure_png(fontsize=7, width_in=12, dpi=100)).decode()  # 1200 px wide
    big = base64.b64encode(_figure_png(fontsize=12, width_in=7, dpi=100)).decode()
    long_caption = "Table 1 " + "a caption that runs on " * 12
    pages = {
        "clipped.html": _wide_table(),
        "scrolls.html": f"<div style='overflow-x:auto'>{_wide_table()}</div>",
        "caption.html": f"<div style='overflow-x:auto'>{_wide_table(long_caption)}</div>",
        "figures.html": (f"<figure><img src='data:image/png;base64,{small}' style='max-width:100%'></figure>"
                         f"<figure><img src='data:image/png;base64,{big}' style='max-width:100%'></figure>"),
        "fine.html": "<table><caption>Short</caption><tr><td>1</td></tr></table><p>ok</p>",
    }
    for name, body in pages.items():
        (root / name).write_text(_page(body, name))
    report = cb.check_book(root, chromium, workers=2, timeout=60)
    by_page: dict[str, list[str]] = {}
    for p in report.failures:
        by_page.setdefault(p.page, []).append(f"{p.check}: {p.detail}")
    assert set(by_page) == {"clipped.html", "caption.html", "figures.html"}, by_page
    assert len(by_page["clipped.html"]) == 1 and by_page["clipped.html"][0].startswith(
        "layout: <table> wider than the 800 px column")
    assert len(by_page["caption.html"]) == 1 and by_page["caption.html"][0].startswith("layout: <caption>")
    # The 12-inch figure (7 pt = 9.7 image px) is shrunk to the column: below 10 px; the 7-inch one with
    # 12 pt text is legible.
    assert len(by_page["figures.html"]) == 1
    m = re.search(r"\((\d+) px shown at (\d+) px\): smallest text ([\d.]+) px", by_page["figures.html"][0])
    natural, shown, text_px = int(m.group(1)), int(m.group(2)), float(m.group(3))
    assert natural > shown and text_px == pytest.approx(7 * 100 / 72 * shown / natural, abs=0.1)


def test_instrumented_copy_keeps_relative_urls(tmp_path):
    page = tmp_path / "book" / "chapters" / "x.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><head><title>x</title></head><body><img src='../_images/a.png'></body></html>")
    out = pc.instrumented_copy(page, tmp_path, "chapters__x.html")
    html = out.read_text()
    assert f'<base href="{page.parent.as_uri()}/">' in html and pc.MEASURE_ID in html
    assert html.index("<base") < html.index("<title>") and html.rstrip().endswith("</html>")
    assert io.StringIO(html).read().count("<script>") == 1


def test_wide_figures_are_shrunk_so_their_text_stays_legible():
    fig, _axes = plt.subplots(1, 3, figsize=(14, 3))
    assert display.fit_width(fig)
    assert fig.get_size_inches()[0] == pytest.approx(display.MAX_FIGURE_WIDTH_IN)
    assert fig.get_size_inches()[1] == pytest.approx(3 * display.MAX_FIGURE_WIDTH_IN / 14)
    assert not display.fit_width(fig)  # already fits
    plt.close(fig)


def test_small_text_is_raised_to_the_house_minimum():
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=7)
    ax.annotate("note", (0.5, 0.5), fontsize=6)
    assert display.raise_small_text(fig) > 0
    assert display.min_font_px(fig, dpi=72) == pytest.approx(display.MIN_FONT_PT)
    plt.close(fig)


def test_inline_code_is_not_prose():
    text = pc.parse_text(_page("<p>Use the <code>{numref}</code> role or <code>a.ipynb::key</code>.</p>"))
    assert pc.markup_findings(text) == []

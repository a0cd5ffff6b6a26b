"""check-book: the pure checks find exactly the problems planted in a tiny site; real Chromium agrees."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance_study.book import browser_check as cb
from alliance_study.cli import app

PIL = pytest.importorskip("PIL", reason="Pillow comes with matplotlib (the book extra)")
from PIL import Image, ImageDraw  # noqa: E402

CDN_SCRIPT = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"


def _png(blank: bool = False, size: tuple[int, int] = (200, 120), mode: str = "RGB") -> bytes:
    """A small PNG: a white canvas, with a line and a box unless ``blank``."""
    img = Image.new(mode, size, "white" if mode == "RGB" else (0, 0, 0, 0))
    if not blank:
        draw = ImageDraw.Draw(img)
        draw.line((10, 100, 190, 20), fill="firebrick", width=3)
        draw.rectangle((30, 30, 60, 90), fill="steelblue")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _page(title: str, body: str, head: str = "", title_id: str = "top-title") -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head><body>"
            f"<nav><a href='index.html'>Home</a></nav><main id='main-content'><article>"
            f"<h1 id='{title_id}'>{title}</h1>{body}</article></main></body></html>")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Three pages: a good one, one with a blank figure, one with a broken link and a missing anchor."""
    root = tmp_path / "html"
    (root / "_images").mkdir(parents=True)
    (root / "_static").mkdir()
    (root / "_sources").mkdir()
    (root / "_images" / "good.png").write_bytes(_png())
    (root / "_images" / "blank.png").write_bytes(_png(blank=True))
    (root / "_static" / "theme.css").write_text("body { font-family: serif; }\n")
    (root / "_sources" / "index.md").write_text("# Good page\n")
    glued = base64.b64encode(_png(size=(80, 60))).decode()
    (root / "index.html").write_text(_page("Good page", f"""
        <section id="intro"><h2>Intro</h2>
        <p>See <a href="blank.html">the blank chapter</a>, <a href="broken.html#results">its results</a>,
        <a href="#intro">this section</a>, <a href="./">the book</a>, <a href="#">top</a>,
        <a href="_sources/index.md">source</a>, <a href="https://example.org/x#y">elsewhere</a>,
        <a href="mailto:a@example.org">mail</a>.</p>
        <img src="_images/good.png" alt="a figure">
        <img src="data:image/png;base64,{glued}" alt="a glued figure">
        </section>""", head='<link rel="stylesheet" href="_static/theme.css">'))
    (root / "blank.html").write_text(_page("Blank figure", """
        <p><a href="index.html#intro">back</a></p>
        <img src="_images/blank.png" alt="an empty figure">"""))
    (root / "broken.html").write_text(_page("Broken links", """
        <section id="results"><p><a href="missing.html">gone</a>, <a href="missing.html">same, once</a>,
        <a href="index.html#no-such-anchor">bad anchor</a>, <a href="index.html#intro">good anchor</a>,
        <a href="blank.html?x=1#top-title">query and anchor</a>.</p></section>""", title_id="broken"))
    # Generated pages and assets that are not content: never visited.
    (root / "genindex.html").write_text("<html><body>index</body></html>")
    (root / "search.html").write_text("<html><body>search</body></html>")
    (root / "_static" / "junk.html").write_text("<html></html>")
    return root


def _planted_match(problems: list[cb.Problem]) -> None:
    """Assert that ``problems`` are exactly the planted ones."""
    assert len(problems) == 3, [str(p) for p in problems]
    blank = [p for p in problems if p.check == "image"]
    assert len(blank) == 1 and blank[0].page == "blank.html"
    assert "blank: one uniform colour" in blank[0].detail
    links = [p.detail for p in problems if p.check == "link"]
    assert all(p.page == "broken.html" for p in problems if p.check == "link")
    assert any("'missing.html'>: missing.html does not exist" in d for d in links)
    assert any("no element with id 'no-such-anchor' in index.html" in d for d in links)


def _static_check(root: Path, page: str) -> list[cb.Problem]:
    dom = cb.parse_dom((root / page).read_text())

    def ids_for(rel: str) -> set[str]:
        return cb.parse_dom((root / rel).read_text()).ids

    return (cb.load_problems(page, dom) + cb.image_problems(page, dom, root)
            + cb.link_problems(page, dom, root, ids_for)[1] + cb.external_problems(page, dom, root))


def test_find_pages_skips_assets_and_generated_pages(site):
    assert cb.find_pages(site) == ["blank.html", "broken.html", "index.html"]


def test_parse_dom_collects_what_the_checks_need(site):
    dom = cb.parse_dom((site / "index.html").read_text())
    assert dom.has_main and dom.h1 == ["Good page"]
    assert {"intro", "main-content", "top-title"} <= dom.ids
    assert dom.images[0] == "_images/good.png" and dom.images[1].startswith("data:image/png;base64,")
    assert "broken.html#results" in dom.links and "mailto:a@example.org" in dom.links
    assert dom.resources == [("stylesheet", "_static/theme.css")]


def test_good_page_passes(site):
    assert _static_check(site, "index.html") == []


def test_blank_page_has_exactly_the_blank_figure(site):
    problems = _static_check(site, "blank.html")
    assert [p.check for p in problems] == ["image"]
    assert "_images/blank.png" in problems[0].detail
    assert "uniform colour (255, 255, 255)" in problems[0].detail


def test_broken_page_has_exactly_the_two_bad_links(site):
    problems = _static_check(site, "broken.html")
    assert [p.check for p in problems] == ["link", "link"]
    assert "'missing.html'" in problems[0].detail and "does not exist" in problems[0].detail
    assert "no element with id 'no-such-anchor' in index.html" in problems[1].detail


def test_check_book_orchestration_without_a_browser(site):
    report = cb.check_book(site, Path("/nonexistent/chromium"), render=lambda f: f.read_text())
    _planted_match(report.problems)
    assert report.pages == ["blank.html", "broken.html", "index.html"]
    assert (report.images, report.distinct_images) == (3, 3)
    # nav link on each page (3) + index 6 internal + blank 1 + broken 5 (a broken href twice: one problem)
    assert report.links == 15
    assert not report.ok and "3 failures, 0 warnings" in report.summary()


def test_load_problems_name_what_is_missing():
    dom = cb.parse_dom("<html><body><div><h1>  </h1></div></body></html>")
    details = [p.detail for p in cb.load_problems("x.html", dom)]
    assert details == ["rendered DOM has no <main> or <article> element",
                       "rendered DOM has no <h1> heading with text"]
    ok = cb.parse_dom("<div role='main'><h1>Title <a class='headerlink' href='#t'>#</a></h1></div>")
    assert cb.load_problems("x.html", ok) == [] and ok.h1 == ["Title #"]


def test_figures_without_images_and_redirects():
    dom = cb.parse_dom("""<main><h1>T</h1>
        <figure id="fig-ok"><img src="a.png"><figcaption>ok</figcaption></figure>
        <figure id="fig-text"><div class="output text_plain">
          <pre>&lt;Figure size 640x480 with 1 Axes&gt;</pre>
          <button class="copybtn"><svg><path d="M0 0"/></svg></button>
        </div><figcaption>lost</figcaption></figure>
        <figure><svg><path d="M0 0"/></svg></figure><figure></figure>
        <figure id="glued-table"><table><tr><td>1</td></tr></table></figure>
        <pre>(&lt;Figure size 640x480 with 1 Axes&gt;, &lt;Axes: &gt;)</pre></main>""")
    assert dom.figures == 5
    assert dom.empty_figures == ["<figure id='fig-text'>", "<figure> number 4"]
    assert dom.figure_reprs == ["<Figure size 640x480 with 1 Axes>"]
    details = [p.detail for p in cb.image_problems("p.html", cb.PageDom(
        empty_figures=dom.empty_figures, figure_reprs=dom.figure_reprs), Path("/tmp"))]
    assert details == ["<figure id='fig-text'> contains no image", "<figure> number 4 contains no image",
                       "matplotlib figure shown as text '<Figure size 640x480 with 1 Axes>': "
                       "no image was saved"]
    stub = cb.parse_dom('<html><head><meta http-equiv="Refresh" content="0; url=intro.html" /></head></html>')
    assert stub.refresh == "intro.html"


def test_image_blank_reason():
    assert cb.image_blank_reason(_png()) is None
    assert cb.image_blank_reason(_png(blank=True)).startswith("blank: one uniform colour")
    # Fully transparent is as blank as white; a figure on a transparent background is not.
    assert cb.image_blank_reason(_png(blank=True, mode="RGBA")).startswith("blank")
    assert cb.image_blank_reason(_png(mode="RGBA")) is None
    # One thin line on a large canvas is enough to count as a figure.
    img = Image.new("RGB", (600, 400), "white")
    ImageDraw.Draw(img).line((0, 200, 599, 200), fill="black", width=1)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert cb.image_blank_reason(buf.getvalue()) is None
    assert cb.image_blank_reason(b"") == "empty file"
    assert cb.image_blank_reason(b"\x89PNG\r\n\x1a\nnot really").startswith("cannot decode")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">%s</svg>'
    assert cb.image_blank_reason(svg % b'<path d="M0 0L10 10"/>') is None
    assert cb.image_blank_reason(svg % b"") == "blank: SVG has no drawing elements"


def test_data_uris():
    assert cb.decode_data_uri("data:image/png;base64,aGVs\nbG8=") == ("image/png", b"hello")
    assert cb.decode_data_uri("data:,a%20b") == ("text/plain", b"a b")
    with pytest.raises(ValueError, match="not valid base64"):
        cb.decode_data_uri("data:image/png;base64,***")
    dom = cb.parse_dom('<img src="data:image/png;base64,***"><img src="https://cdn.example.org/f.png">')
    details = [p.detail for p in cb.image_problems("p.html", dom, Path("/tmp"))]
    assert "not valid base64" in details[0] and "remote image" in details[1]


def test_resolve_link(site):
    assert cb.resolve_link("https://example.org", "index.html", site) is None
    assert cb.resolve_link("//cdn.example.org/x.js", "index.html", site) is None
    assert cb.resolve_link("#a%20b", "sub/p.html", site) == cb.LinkTarget("sub/p.html", "a b")
    assert cb.resolve_link("../index.html#x", "sub/p.html", site) == cb.LinkTarget("index.html", "x")
    assert cb.resolve_link("./", "index.html", site) == cb.LinkTarget("index.html", "")
    assert cb.resolve_link("/broken.html", "sub/p.html", site) == cb.LinkTarget("broken.html", "")
    assert cb.resolve_link((site / "blank.html").as_uri() + "#t", "index.html", site) == \
        cb.LinkTarget("blank.html", "t")
    with pytest.raises(ValueError, match="outside the book"):
        cb.resolve_link("../../etc/passwd", "sub/p.html", site)
    with pytest.raises(ValueError, match="outside the book"):
        cb.resolve_link("file:///etc/passwd", "index.html", site)


def test_external_resources_are_reported(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "fonts.css").write_text(
        "@font-face { src: url('https://fonts.example.org/a.woff2') format('woff2'); }\n"
        "@font-face { src: url(../_static/local.woff2); }\n")
    (tmp_path / "_static" / "theme.css").write_text('@import "fonts.css";\nbody { color: red; }\n')
    dom = cb.parse_dom(f"""<html><head><script src="{CDN_SCRIPT}"></script>
        <script src="_static/local.js"></script><link rel="stylesheet" href="_static/theme.css">
        <link rel="preload" as="font" href="//fonts.example.org/b.woff2">
        <link rel="canonical" href="https://example.org/book/">
        <style>@import url("https://fonts.example.org/css2?family=Lato");</style></head></html>""")
    problems = cb.external_problems("p.html", dom, tmp_path)
    assert {p.severity for p in problems} == {"warning"}
    details = [p.detail for p in problems]
    assert details == [f"script loaded from the network: {CDN_SCRIPT}",
                       "url() in _static/fonts.css loaded from the network: https://fonts.example.org/a.woff2",
                       "preload loaded from the network: //fonts.example.org/b.woff2",
                       "url() in inline <style> loaded from the network: "
                       "https://fonts.example.org/css2?family=Lato"]
    strict = cb.external_problems("p.html", dom, tmp_path, severity="error")
    assert {p.severity for p in strict} == {"error"}


def test_missing_book_and_missing_chromium_are_clear_errors(tmp_path, site):
    with pytest.raises(cb.CheckBookError, match="run `make book` first"):
        cb.check_book(tmp_path / "nope", Path("/nonexistent/chromium"))
    with pytest.raises(cb.CheckBookError, match=r"tools/install_chromium\.sh"):
        cb.check_book(site, Path("/nonexistent/chromium"))


def _chromium_or_skip() -> Path:
    if cb.DEFAULT_CHROMIUM.is_file():
        return cb.DEFAULT_CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {cb.DEFAULT_CHROMIUM} is missing: run `bash tools/install_chromium.sh`")
    pytest.skip(f"{cb.DEFAULT_CHROMIUM} not installed (bash tools/install_chromium.sh); "
                "required when CI is set")


def test_real_chromium_on_the_synthetic_site(site, tmp_path):
    chromium = _chromium_or_skip()
    # The rendered DOM, not the file, is what gets checked: ids added by scripts are visible.
    (site / "index.html").write_text((site / "index.html").read_text().replace(
        "</body>", f'<script src="{CDN_SCRIPT}"></script>'
                   "<script>document.body.insertAdjacentHTML('beforeend', '<p id=\"js-anchor\">x</p>')"
                   "</script></body>"))
    assert 'id="js-anchor"' in cb.dump_dom(chromium, (site / "index.html").as_uri(), timeout=60)

    # A redirect stub like Jupyter Book's index.html: the browser follows it; only its target is checked.
    (site / "start.html").write_text('<html><head><meta http-equiv="Refresh" content="0; url=index.html" />'
                                     "</head></html>")
    shots = tmp_path / "shots"
    result = CliRunner().invoke(app, ["check-book", "--html", str(site), "--chromium", str(chromium),
                                      "--screenshot-dir", str(shots), "--timeout", "60"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "FAIL blank.html: [image] <img src='_images/blank.png'>: blank: one uniform colour" in out
    assert "FAIL broken.html: [link] <a href='missing.html'>: missing.html does not exist" in out
    assert "no element with id 'no-such-anchor' in index.html" in out
    assert out.count("FAIL ") == 3
    assert (f"warning: [external] script loaded from the network: {CDN_SCRIPT} "
            "(1 page, e.g. index.html)") in out
    assert "4 pages, 3 images (3 distinct)" in out and "4 screenshots" in out
    assert sorted(p.name for p in shots.iterdir()) == ["blank.png", "broken.png", "index.png", "start.png"]

"""Reader-facing checks of built pages: raw markup, clipped tables, tiny figure text, findings links.

:mod:`alliance_study.book.browser_check` proves that pages load, figures decode and links resolve. This
module checks what a reader sees once they do (issue 13):

1. **raw markup** -- no MyST role or glue key reached the page as text (``{glue:text}`x```,
   ``{numref}`tbl-x```, ``chapters/program.ipynb::n_total``): prose outside code blocks only;
2. **layout** -- no table is wider than the content column unless it sits inside a box that scrolls
   horizontally, and no caption is wider than the column or than the visible part of the box it sits in
   (a caption cut off inside a scrolling table is unreadable); measured in Chromium at
   :data:`LAYOUT_WIDTH` px by :data:`MEASURE_SCRIPT`;
3. **figure text** -- the smallest text of every figure is at least :data:`MIN_FIGURE_TEXT_PX` CSS pixels
   as displayed: the figure's PNG records its smallest font in image pixels (``MinFontPx``, written by
   :func:`alliance_study.chapters.display.figure_png`) and the browser reports the image's natural and
   displayed widths, so displayed size = ``MinFontPx * displayed / natural``;
4. **findings** -- every finding (list item) of the findings page links to a section of another page.

The measuring script is injected into a temporary copy of the page (with a ``<base>`` pointing at the
original folder, so every relative URL still resolves) and writes its measurements into the DOM, which
Chromium's ``--dump-dom`` then returns. Everything else is pure string and byte processing.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

#: Window width (CSS px) at which layout and figure text are measured: a laptop screen, as in issue 13.
LAYOUT_WIDTH = 1400

#: Smallest legible figure text in CSS pixels at :data:`LAYOUT_WIDTH` (issue 13: "at least 10 px").
MIN_FIGURE_TEXT_PX = 10.0

#: Overflow below this many pixels is sub-pixel rounding, not a clipped table.
OVERFLOW_TOLERANCE_PX = 2

#: The PNG text key under which figures record their smallest font size in image pixels.
FONT_KEY = "MinFontPx"

#: Pages whose list items are findings that must each link to a supporting section.
FINDINGS_PAGES = frozenset({"findings.html"})

#: A MyST role that was not parsed (``{numref}`tbl-x```) -- Chromium shows it as "{numref}" then the
#: target (in a <code> or as text). Directive-like ``{glue:figure}`` lines are included.
_RAW_ROLE = re.compile(r"\{(glue(?::[a-z]+)?|numref|ref|doc|eq|cite(?::[a-z]+)?|term|download|"
                       r"math|sub|abbr|index)\}")
#: A glue key that leaked as text: ``chapters/program.ipynb::n_total_2023``.
_GLUE_KEY = re.compile(r"[\w./-]+\.ipynb::\w+")

#: Id of the element the measuring script writes its JSON into.
MEASURE_ID = "checkbook-measure"

#: Runs in the page (after load and the theme's scripts); writes JSON measurements into the DOM.
MEASURE_SCRIPT = r"""
(function () {
  function measure() {
    var col = document.querySelector('article.bd-article') || document.querySelector('main article') ||
              document.querySelector('article') || document.querySelector('main') || document.body;
    var colRect = col.getBoundingClientRect();
    var out = {column: Math.round(colRect.width), overflow: [], images: []};
    function scrolls(el) {
      // el, or an ancestor up to the column, scrolls horizontally and itself fits the column.
      for (var a = el; a && a !== col.parentElement; a = a.parentElement) {
        var ox = getComputedStyle(a).overflowX;
        if ((ox === 'auto' || ox === 'scroll') &&
            a.getBoundingClientRect().right <= colRect.right + 2) { return true; }
        if (a === col) { break; }
      }
      return false;
    }
    function label(el) {
      var cap = el.tagName === 'TABLE' ? el.querySelector('caption') : null;
      var t = (cap || el).textContent || '';
      return t.replace(/\s+/g, ' ').trim().slice(0, 90);
    }
    var els = col.querySelectorAll('table, caption, figcaption, .caption, .caption-text');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.closest('pre, nav, .cell_input')) { continue; }
      var r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) { continue; }  // hidden (e.g. inside a closed fold)
      var past = Math.max(r.right - colRect.right, el.scrollWidth - el.clientWidth);
      var isTable = el.tagName === 'TABLE';
      if (!isTable) {
        // A caption is read, not scrolled: it must fit the visible part of any box it sits in.
        for (var b = el.parentElement; b && b !== col; b = b.parentElement) {
          var br = b.getBoundingClientRect();
          past = Math.max(past, r.right - br.right, br.left - r.left);
        }
      }
      if (past > __TOL__ && (!isTable || !scrolls(el))) {
        out.overflow.push({tag: el.tagName.toLowerCase(), label: label(el), px: Math.round(past)});
      }
    }
    var imgs = col.querySelectorAll('img');
    for (var j = 0; j < imgs.length; j++) {
      var im = imgs[j];
      var w = im.getBoundingClientRect().width;
      if (w === 0 || !im.naturalWidth) { continue; }
      out.images.push({src: im.getAttribute('src') || '', natural: im.naturalWidth, shown: w});
    }
    var pre = document.createElement('pre');
    pre.id = '__ID__';
    pre.hidden = true;
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (document.readyState === 'complete') { setTimeout(measure, 200); }
  else { window.addEventListener('load', function () { setTimeout(measure, 200); }); }
})();
""".replace("__TOL__", str(OVERFLOW_TOLERANCE_PX)).replace("__ID__", MEASURE_ID)


@dataclass
class PageText:
    """What the reader-facing checks need from one page's DOM."""

    #: Visible prose of the content column (``<pre>``, ``<script>``, ``<style>`` and nav excluded).
    prose: str = ""
    #: Top-level findings: (text, hrefs of the links inside) for each ``<li>`` of the article.
    items: list[tuple[str, list[str]]] = field(default_factory=list)
    #: The measuring script's JSON, if the page was measured.
    measure: dict | None = None


class _TextScanner(HTMLParser):
    #: Not prose: code blocks and inline code (a role name quoted as ``{numref}`` in the API reference is
    #: code; an unparsed role shows its name as plain text before the target), scripts, navigation.
    _SKIP = frozenset({"pre", "code", "script", "style", "nav", "head", "button", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = PageText()
        self._article = 0
        self._in_article = 0
        self._skip = 0
        self._prose: list[str] = []
        self._items: list[tuple[list[str], list[str]]] = []  # open <li>: (text parts, hrefs)
        self._measure: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "pre" and a.get("id") == MEASURE_ID:
            self._measure = []
            return
        if tag in ("article", "main") or a.get("role") == "main":
            self._article += 1
        if tag == "article":
            self._in_article += 1
        if tag in self._SKIP:
            self._skip += 1
        if not self._article or self._skip:
            return
        if tag == "li" and self._in_article:  # findings are in the article, not the page header's menus
            self._items.append(([], []))
        elif tag == "a" and self._items and a.get("href"):
            self._items[-1][1].append(a["href"])
        elif tag in ("p", "div", "li", "td", "th", "br", "h1", "h2", "h3", "caption", "figcaption"):
            self._prose.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._measure is not None:
            try:
                self.page.measure = json.loads("".join(self._measure))
            except ValueError:
                self.page.measure = None
            self._measure = None
            return
        if tag in self._SKIP and self._skip:
            self._skip -= 1
            return
        if tag in ("article", "main") and self._article:
            self._article -= 1
        if tag == "article" and self._in_article:
            self._in_article -= 1
        if tag == "li" and self._items and not self._skip:
            parts, hrefs = self._items.pop()
            text = " ".join("".join(parts).split())
            if not self._items:  # only top-level list items are findings
                self.page.items.append((text, hrefs))
            else:
                self._items[-1][0].append(text)
                self._items[-1][1].extend(hrefs)

    def handle_data(self, data: str) -> None:
        if self._measure is not None:
            self._measure.append(data)
            return
        if self._article and not self._skip:
            self._prose.append(data)
            if self._items:
                self._items[-1][0].append(data)

    def close(self) -> None:
        super().close()
        self.page.prose = " ".join("".join(self._prose).split())


def parse_text(html: str) -> PageText:
    """Prose, list items and measurements of a page (Chromium's DOM or the static file)."""
    scanner = _TextScanner()
    scanner.feed(html)
    scanner.close()
    return scanner.page


@dataclass(frozen=True)
class Finding:
    """One reader-facing problem: ``check`` is ``markup``, ``layout``, ``figure-text`` or ``findings``."""

    check: str
    detail: str


def markup_findings(text: PageText) -> list[Finding]:
    """MyST roles and glue keys that reached the page as text (outside code blocks)."""
    found = []
    for pattern, what in ((_RAW_ROLE, "unparsed MyST role"), (_GLUE_KEY, "glue key shown as text")):
        for m in pattern.finditer(text.prose):
            context = text.prose[max(0, m.start() - 40): m.end() + 40]
            found.append(Finding("markup", f"{what} {m.group(0)!r} in '...{context}...'"))
    return found


def layout_findings(text: PageText) -> list[Finding]:
    """Tables and captions the browser laid out wider than the content column (not inside a scroller)."""
    if text.measure is None:
        return []
    return [Finding("layout", f"<{o['tag']}> wider than the {text.measure.get('column')} px column by "
                              f"{o['px']} px and not scrollable: '{o['label']}'")
            for o in text.measure.get("overflow", [])]


def recorded_font_px(data: bytes) -> float | None:
    """The smallest font (image pixels) a figure's PNG records under :data:`FONT_KEY`, or ``None``."""
    if not data.startswith(b"\x89PNG"):
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # text chunks after the image data are read only with the pixels
            value = img.info.get(FONT_KEY)
    except Exception:  # a corrupt image is browser_check's "image" problem, not this check's
        return None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def figure_text_findings(text: PageText, load: Callable[[str], bytes], *,
                         min_px: float = MIN_FIGURE_TEXT_PX) -> list[Finding]:
    """Figures whose smallest text is displayed below ``min_px`` CSS pixels.

    Parameters
    ----------
    text
        The measured page (:func:`parse_text` of the instrumented DOM).
    load
        ``load(src) -> bytes`` for an ``<img src>`` (raises ``ValueError`` when it cannot).
    min_px
        Smallest acceptable displayed text height in CSS pixels.
    """
    if text.measure is None:
        return []
    found = []
    for image in text.measure.get("images", []):
        try:
            data = load(image["src"])
        except ValueError:
            continue  # unresolvable images are reported by browser_check
        font = recorded_font_px(data)
        if font is None or not image.get("natural"):
            continue
        shown = font * image["shown"] / image["natural"]
        if shown < min_px - 0.05:
            src = image["src"]
            name = src if not src.startswith("data:") else "a glued figure"
            found.append(Finding("figure-text",
                                 f"{name} ({image['natural']} px shown at {image['shown']:.0f} px): "
                                 f"smallest text {shown:.1f} px < {min_px:g} px "
                                 f"(recorded {font:.1f} image px)"))
    return found


def findings_page_findings(page: str, text: PageText, *,
                           pages: frozenset[str] = FINDINGS_PAGES) -> list[Finding]:
    """On the findings page, every finding (top-level list item) links to a section of another page."""
    if page not in pages:
        return []
    if not text.items:
        return [Finding("findings", "the findings page lists no findings")]
    found = []
    for item, hrefs in text.items:
        internal = [h for h in hrefs if not urlsplit(h).scheme and not h.startswith("//")]
        to_section = [h for h in internal if "#" in h and not h.startswith("#")]
        if not to_section:
            found.append(Finding("findings",
                                 f"finding without a link to a supporting section: '{item[:100]}'"))
    return found


def instrumented_copy(page_file: Path, out_dir: Path, name: str) -> Path:
    """Write ``page_file`` with :data:`MEASURE_SCRIPT` and a ``<base>`` to its folder as ``out_dir/name``."""
    html = page_file.read_text(encoding="utf-8", errors="replace")
    base = f'<base href="{page_file.parent.resolve().as_uri()}/">'
    script = f"<script>{MEASURE_SCRIPT}</script>"
    html = re.sub(r"<head([^>]*)>", lambda m: f"<head{m.group(1)}>{base}", html, count=1, flags=re.IGNORECASE)
    if re.search(r"</body>", html, re.IGNORECASE):
        html = re.sub(r"</body>", lambda m: script + m.group(0), html, count=1, flags=re.IGNORECASE)
    else:
        html += script
    out = out_dir / name
    out.write_text(html, encoding="utf-8")
    return out

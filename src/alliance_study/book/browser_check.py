"""Check the built HTML book in a real browser: pages load, figures show, links resolve, pages read cleanly.

``alliance-study check-book`` opens every page of ``book/_build/html`` in Debian's headless Chromium
(``--dump-dom``: the DOM after scripts ran), then checks the rendered DOM:

1. the page loads: the DOM has a ``<main>`` or ``<article>`` element and a non-empty ``<h1>``;
2. every ``<img>`` resolves (a local file inside the book, or a ``data:`` URI as myst-nb writes for glued
   figures), decodes with Pillow, has a non-zero size and is not one uniform colour;
3. every relative or same-site ``<a href>`` points at a file of the book and, when it has a ``#fragment``,
   at an element with that id in the target page.

4. what a reader sees (:mod:`alliance_study.book.page_checks`, measured at 1400 px in the same Chromium
   run): no raw MyST role or glue key as text, no table or caption wider than its column, no figure text
   under 10 px, and a section link from every finding of the findings page.

It also reports pages that load scripts, stylesheets or fonts from the network (the book must render
offline; CI has no network beyond package registries): a warning, or a failure with ``strict_external``.

The parsing and checking functions are pure (strings, bytes and files in, :class:`Problem` lists out) so
tests can plant problems in a tiny site; only :func:`run_chromium` and its wrappers start a browser.

Why one module of over 600 lines: the load, image, link and external-resource checks all work on one
parse of each page's DOM (:class:`PageDom`) and share its caches; the reader-facing measurements made in
the browser live in :mod:`alliance_study.book.page_checks`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import os
import posixpath
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from alliance_study.book import page_checks
from alliance_study.data import paths
from alliance_study.errors import AllianceStudyError

#: Where ``make book`` leaves the HTML.
DEFAULT_HTML_DIR = paths.PROJECT_ROOT / "book" / "_build" / "html"

#: Debian's Chromium (``tools/install_chromium.sh`` installs it).
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")

#: Flags every Chromium run gets. Headless with no sandbox (CI runs as root in a container), no GPU, and
#: nothing that phones home: the machine has no network, and background requests only slow start-up.
#: ``--virtual-time-budget`` lets page scripts (theme, MathJax) run before the DOM is dumped without
#: waiting in real time.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
    "--disable-quic",
)

#: Top-level folders of a Sphinx build that hold assets, not pages.
SKIP_DIRS = frozenset({"_static", "_sources", "_images", "_downloads", "_panels_static",
                       "_sphinx_design_static"})

#: Generated pages that are not book content (their links come from Sphinx, not from us).
SKIP_PAGES = frozenset({"genindex.html", "search.html", "py-modindex.html"})

#: Below this pixel standard deviation (0-255 scale, worst channel) an image counts as one flat colour.
#: A single one-pixel line across a 600x400 white figure already gives about 12, so 1.0 only catches
#: images that really are blank.
MIN_PIXEL_STD = 1.0

#: URL schemes that never point into the book.
_FOREIGN_SCHEMES = frozenset({"http", "https", "ftp", "mailto", "tel", "javascript", "data", "blob"})

#: ``<link rel=...>`` values that make the browser fetch the resource while rendering.
_FETCHING_RELS = frozenset({"stylesheet", "preload", "modulepreload"})

#: Elements that give a ``<figure>`` content (a glued DataFrame is a figure holding a <table>).
_FIGURE_CONTENT = frozenset({"img", "svg", "picture", "object", "embed", "canvas", "video", "iframe",
                             "table"})

#: An output that is nothing but a matplotlib figure's repr: the notebook saved no image for it (a
#: non-inline backend). Matched against a whole text node so a tuple repr such as
#: ``(<Figure ...>, <Axes: >)`` from an unassigned ``plt.subplots()`` does not count.
_FIGURE_REPR = re.compile(r"\s*(<Figure size \d+x\d+ with \d+ Axes>)\s*")

_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")\s]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.IGNORECASE)


class CheckBookError(AllianceStudyError):
    """The check could not run (no Chromium, no built book)."""


class ChromiumError(AllianceStudyError):
    """One Chromium run failed: timed out, exited non-zero, or printed nothing."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one page.

    Parameters
    ----------
    page
        The page, relative to the HTML root (POSIX separators).
    check
        ``load``, ``image``, ``link``, ``external``, ``screenshot``, or a reader-facing check of
        :mod:`alliance_study.book.page_checks` (``markup``, ``layout``, ``figure-text``, ``findings``).
    detail
        What is wrong, naming the offending ``src``/``href``.
    severity
        ``error`` (fails the check) or ``warning``.
    """

    page: str
    check: str
    detail: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.page}: [{self.check}] {self.detail}"


@dataclass
class PageDom:
    """What the checks need from one page's DOM."""

    ids: set[str] = field(default_factory=set)
    has_main: bool = False
    h1: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    #: ``(kind, url)`` of resources the browser fetches: ``script``, ``stylesheet``, ``preload``...
    resources: list[tuple[str, str]] = field(default_factory=list)
    #: Text of inline ``<style>`` elements (may load fonts by URL).
    inline_css: list[str] = field(default_factory=list)
    #: Number of ``<figure>`` elements, and the ones with no image inside (by id, or number in order).
    figures: int = 0
    empty_figures: list[str] = field(default_factory=list)
    #: Matplotlib figures that reached the page as their text repr (no image output was saved).
    figure_reprs: list[str] = field(default_factory=list)
    #: Target of a ``<meta http-equiv="refresh">`` redirect (Jupyter Book's index.html).
    refresh: str | None = None


class _DomScanner(HTMLParser):
    """Collect ids, headings, images, links and fetched resources in one pass."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dom = PageDom()
        self._h1_depth = 0
        self._h1_text: list[str] = []
        self._in_style = False
        #: Open <figure> elements: [label, visual elements seen so far].
        self._figures: list[list] = []
        self._button_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if a.get("id"):
            self.dom.ids.add(a["id"])
        # Legacy anchors (<a name="x">) are fragment targets too.
        if tag == "a" and a.get("name"):
            self.dom.ids.add(a["name"])
        if tag in ("main", "article") or a.get("role") == "main":
            self.dom.has_main = True
        if tag == "figure":
            self.dom.figures += 1
            label = f"<figure id={a['id']!r}>" if a.get("id") else f"<figure> number {self.dom.figures}"
            self._figures.append([label, 0])
        elif tag == "button":
            self._button_depth += 1
        elif tag in _FIGURE_CONTENT and self._figures and not self._button_depth:
            # Icons inside buttons (sphinx-copybutton adds an <svg> to every code block) are not figures.
            self._figures[-1][1] += 1
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            m = re.search(r"url\s*=\s*['\"]?([^'\";]+)", a.get("content", ""), re.IGNORECASE)
            if m:
                self.dom.refresh = m.group(1).strip()
        if tag == "h1":
            self._h1_depth += 1
            self._h1_text = []
        elif tag == "img" and "src" in a:
            self.dom.images.append(a["src"])
        elif tag == "a" and "href" in a:
            self.dom.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.dom.resources.append(("script", a["src"]))
        elif tag == "link" and a.get("href"):
            rels = set(a.get("rel", "").lower().split())
            for rel in sorted(rels & _FETCHING_RELS):
                self.dom.resources.append((rel, a["href"]))
        elif tag == "style":
            self._in_style = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "h1":  # <h1/> is not valid HTML, but never leave the counter open
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._h1_depth:
            self._h1_depth -= 1
            self.dom.h1.append(" ".join("".join(self._h1_text).split()))
        elif tag == "style":
            self._in_style = False
        elif tag == "button" and self._button_depth:
            self._button_depth -= 1
        elif tag == "figure" and self._figures:
            label, visuals = self._figures.pop()
            if not visuals:
                self.dom.empty_figures.append(label)
            elif self._figures:  # a figure nested in a figure makes its parent visual too
                self._figures[-1][1] += visuals

    def handle_data(self, data: str) -> None:
        if m := _FIGURE_REPR.fullmatch(data):
            self.dom.figure_reprs.append(m.group(1))
        if self._h1_depth:
            self._h1_text.append(data)
        if self._in_style:
            self.dom.inline_css.append(data)


def parse_dom(html: str) -> PageDom:
    """Parse an HTML document (Chromium's ``--dump-dom`` output or a static file).

    Parameters
    ----------
    html
        The document text.

    Returns
    -------
    PageDom
        Element ids, ``<h1>`` texts, ``<img src>``, ``<a href>`` and fetched resources, in document order.
    """
    scanner = _DomScanner()
    scanner.feed(html)
    scanner.close()
    return scanner.dom


def find_pages(html_root: Path) -> list[str]:
    """List the book's content pages under ``html_root``, relative, sorted.

    Asset folders (``_static``, ``_sources``, ``_images``...), hidden folders and the generated index and
    search pages are left out; ``index.html`` and every chapter and profile page are in.
    """
    pages = []
    for dirpath, dirnames, filenames in os.walk(html_root):
        rel_dir = Path(dirpath).relative_to(html_root)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not (rel_dir == Path(".") and d in SKIP_DIRS))
        for name in filenames:
            if name.endswith(".html") and not (rel_dir == Path(".") and name in SKIP_PAGES):
                pages.append((rel_dir / name).as_posix())
    return sorted(pages)


# ---------------------------------------------------------------------------------------------------------
# Check 1: the page loaded.


def load_problems(page: str, dom: PageDom) -> list[Problem]:
    """Problems with a page's main content: no ``<main>``/``<article>``, or no non-empty ``<h1>``."""
    problems = []
    if not dom.has_main:
        problems.append(Problem(page, "load", "rendered DOM has no <main> or <article> element"))
    if not any(dom.h1):
        problems.append(Problem(page, "load", "rendered DOM has no <h1> heading with text"))
    return problems


# ---------------------------------------------------------------------------------------------------------
# Check 2: figures are real, non-blank images.


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """Decode a ``data:`` URI into its media type and bytes.

    Raises
    ------
    ValueError
        If the URI is malformed or its base64 payload does not decode.
    """
    if not uri.startswith("data:") or "," not in uri:
        raise ValueError("malformed data: URI")
    header, payload = uri[5:].split(",", 1)
    parts = header.split(";")
    media_type = parts[0] or "text/plain"
    if "base64" in parts[1:]:
        try:
            # Whitespace inside long base64 attributes is legal in HTML; strip it before strict decoding.
            return media_type, base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"data: URI payload is not valid base64 ({exc})") from exc
    return media_type, unquote_to_bytes(payload)


def image_blank_reason(data: bytes, *, min_std: float = MIN_PIXEL_STD) -> str | None:
    """Say why an image is not a usable figure, or return ``None`` if it is.

    Raster images are decoded with Pillow, flattened onto white (a transparent figure is as blank as a
    white one), and counted blank when every channel's pixel standard deviation is below ``min_std``. SVG
    cannot be rasterised without a browser, so it only has to be well-formed XML with drawing elements.

    Parameters
    ----------
    data
        The image file's bytes.
    min_std
        Threshold on the largest per-channel pixel standard deviation (0-255 scale).

    Returns
    -------
    str or None
        ``"empty file"``, ``"cannot decode ..."``, ``"zero size"``, ``"blank: one uniform colour ..."``,
        or ``None`` for a good image.
    """
    if not data:
        return "empty file"
    head = data[:512].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        return _svg_blank_reason(data)
    from PIL import Image, ImageStat  # Pillow comes with matplotlib (the book extra)

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.width == 0 or img.height == 0:
                return "zero size"
            rgba = img.convert("RGBA")
    except Exception as exc:  # Pillow raises many types for corrupt files; all mean the same here
        return f"cannot decode ({type(exc).__name__}: {exc})"
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    std = max(ImageStat.Stat(flat.convert("RGB")).stddev)
    if std < min_std:
        colour = flat.getpixel((0, 0))[:3]
        return f"blank: one uniform colour {colour} (pixel std {std:.2f} < {min_std})"
    return None


def _svg_blank_reason(data: bytes) -> str | None:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"cannot decode (SVG is not well-formed XML: {exc})"
    drawing = {"path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "image", "use"}
    if not any(el.tag.rsplit("}", 1)[-1] in drawing for el in root.iter()):
        return "blank: SVG has no drawing elements"
    return None


class _Unresolved(Exception):
    """A ``src`` or ``href`` that does not point at a file of the book."""


def _local_target(url_path: str, page: str, html_root: Path) -> tuple[str, Path]:
    """Resolve a URL path (percent-encoded, relative to ``page``) to ``(relative posix path, file)``."""
    path = unquote(url_path)
    if path.startswith("/"):
        # Root-relative: what a web server serving the book at the site root would do.
        rel = posixpath.normpath(path.lstrip("/")) if path.strip("/") else "."
    else:
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    if rel == ".." or rel.startswith("../"):
        raise _Unresolved("points outside the book")
    return rel, html_root / rel


def _file_url_target(url: str, html_root: Path) -> tuple[str, Path]:
    """Resolve a ``file://`` URL (scripts sometimes absolutise links) inside ``html_root``."""
    file_path = Path(unquote(urlsplit(url).path)).resolve()
    try:
        rel = file_path.relative_to(html_root.resolve()).as_posix()
    except ValueError as exc:
        raise _Unresolved("file:// URL outside the book") from exc
    return rel, file_path


def load_image(src: str, page: str, html_root: Path) -> tuple[str, bytes]:
    """Fetch an ``<img src>`` the way the browser would, offline.

    Returns
    -------
    (key, bytes)
        ``key`` identifies the image for caching and messages: the book-relative path, or ``data:<sha1>``.

    Raises
    ------
    ValueError
        If the image is remote, outside the book, missing, or an undecodable ``data:`` URI.
    """
    src = src.strip()
    if not src:
        raise ValueError("empty src")
    if src.startswith("data:"):
        _, data = decode_data_uri(src)
        return f"data:{hashlib.sha1(src.encode()).hexdigest()[:12]}", data
    parts = urlsplit(src)
    try:
        if parts.scheme == "file":
            rel, target = _file_url_target(src, html_root)
        elif parts.scheme or src.startswith("//"):
            raise ValueError("remote image (the book must render offline)")
        else:
            rel, target = _local_target(parts.path, page, html_root)
    except _Unresolved as exc:
        raise ValueError(str(exc)) from exc
    if not target.is_file():
        raise ValueError(f"file {rel} does not exist")
    return rel, target.read_bytes()


def image_problems(page: str, dom: PageDom, html_root: Path, cache: dict[str, str | None] | None = None,
                   *, min_std: float = MIN_PIXEL_STD) -> list[Problem]:
    """Check every ``<img>`` of a page: it resolves, decodes, has a size and is not blank.

    Also fails ``<figure>`` elements with no image inside and matplotlib figures that reached the page as
    text (``<Figure size 640x480 with 1 Axes>``: the notebook saved no image output, e.g. a non-inline
    backend). ``cache`` maps an image key (see :func:`load_image`) to its blank reason, so the logo that
    every page shows is decoded once.
    """
    cache = {} if cache is None else cache
    problems = [Problem(page, "image", f"{label} contains no image") for label in dom.empty_figures]
    problems += [Problem(page, "image", f"matplotlib figure shown as text {text!r}: no image was saved")
                 for text in dom.figure_reprs]
    for src in dom.images:
        shown = src if len(src) <= 80 else src[:60] + "..."
        try:
            key, data = load_image(src, page, html_root)
        except ValueError as exc:
            problems.append(Problem(page, "image", f"<img src={shown!r}>: {exc}"))
            continue
        if key not in cache:
            cache[key] = image_blank_reason(data, min_std=min_std)
        if cache[key] is not None:
            problems.append(Problem(page, "image", f"<img src={shown!r}>: {cache[key]}"))
    return problems


# ---------------------------------------------------------------------------------------------------------
# Check 3: internal links resolve.


@dataclass(frozen=True)
class LinkTarget:
    """Where an internal link points: a book-relative file and an optional (decoded) fragment."""

    path: str
    fragment: str


def resolve_link(href: str, page: str, html_root: Path) -> LinkTarget | None:
    """Resolve an ``<a href>`` found on ``page``.

    Returns
    -------
    LinkTarget or None
        ``None`` for links that leave the book (``https:``, ``mailto:``...) and so are not checked.

    Raises
    ------
    ValueError
        If an internal link points outside the book.
    """
    href = href.strip()
    parts = urlsplit(href)
    if parts.scheme in _FOREIGN_SCHEMES or href.startswith("//"):
        return None
    fragment = unquote(parts.fragment)
    try:
        if parts.scheme == "file":
            rel, target = _file_url_target(href, html_root)
        elif parts.scheme:
            return None  # some other protocol handler; not a file of the book
        elif not parts.path:
            return LinkTarget(page, fragment)  # "#x" or "?q": this page
        else:
            rel, target = _local_target(parts.path, page, html_root)
    except _Unresolved as exc:
        raise ValueError(str(exc)) from exc
    if target.is_dir():
        rel = posixpath.normpath(posixpath.join(rel, "index.html"))
    return LinkTarget(rel, fragment)


def _link_error(target: LinkTarget, html_root: Path, ids_for: Callable[[str], set[str]]) -> str | None:
    """Why an internal link target does not resolve, or ``None``."""
    if not (html_root / target.path).is_file():
        return f"{target.path} does not exist"
    # An empty fragment and "#top" scroll to the top of the page without any element (HTML spec).
    if target.fragment and target.fragment.lower() != "top" and target.path.endswith((".html", ".htm")):
        if target.fragment not in ids_for(target.path):
            return f"no element with id {target.fragment!r} in {target.path}"
    return None


def link_problems(page: str, dom: PageDom, html_root: Path,
                  ids_for: Callable[[str], set[str]]) -> tuple[int, list[Problem]]:
    """Check every internal ``<a href>`` of a page.

    Parameters
    ----------
    page
        The page, relative to ``html_root``.
    dom
        Its parsed DOM.
    html_root
        The book's HTML folder.
    ids_for
        Returns the element ids of a book-relative HTML page (the rendered DOM when the page was rendered,
        else the static file), for fragment checks.

    Returns
    -------
    (checked, problems)
        The number of internal links checked and the broken ones.
    """
    problems: list[Problem] = []
    checked = 0
    verdicts: dict[str, str | None] = {}  # href -> error; the same href in sidebar and body is one problem
    for href in dom.links:
        if href not in verdicts:
            try:
                target = resolve_link(href, page, html_root)
            except ValueError as exc:
                verdicts[href] = str(exc)
            else:
                if target is None:
                    continue  # leaves the book: not checked, and not counted
                verdicts[href] = _link_error(target, html_root, ids_for)
            if verdicts[href] is not None:
                problems.append(Problem(page, "link", f"<a href={href!r}>: {verdicts[href]}"))
        checked += 1
    return checked, problems


# ---------------------------------------------------------------------------------------------------------
# External resources: the book has to render offline.


def _is_remote(url: str) -> bool:
    return urlsplit(url.strip()).scheme in ("http", "https") or url.strip().startswith("//")


def css_remote_urls(css: str) -> list[str]:
    """Remote ``url(...)`` and ``@import`` references in a stylesheet (fonts, images, other sheets)."""
    found = []
    for m in _CSS_URL.finditer(css):
        url = m.group(2) or m.group(4)
        if _is_remote(url):
            found.append(url)
    return found


def css_local_imports(css: str) -> list[str]:
    """Local ``@import`` and ``url(...)`` references of a stylesheet that are themselves stylesheets."""
    return [u for m in _CSS_URL.finditer(css) if (u := m.group(2) or m.group(4))
            and not _is_remote(u) and not u.startswith("data:") and urlsplit(u).path.endswith(".css")]


def external_problems(page: str, dom: PageDom, html_root: Path,
                      css_cache: dict[str, list[tuple[str, str]]] | None = None,
                      *, severity: str = "warning") -> list[Problem]:
    """Scripts, stylesheets and fonts a page would fetch from the network.

    Looks at ``<script src>``, ``<link rel=stylesheet|preload|modulepreload>``, inline ``<style>`` and,
    through local stylesheets (following local ``@import``), at ``url(...)`` references such as web fonts.
    """
    css_cache = {} if css_cache is None else css_cache
    problems = []
    seen: set[str] = set()

    def add(kind: str, url: str) -> None:
        if url not in seen:
            seen.add(url)
            problems.append(Problem(page, "external", f"{kind} loaded from the network: {url}", severity))

    def scan_sheet(rel: str, depth: int = 0) -> list[tuple[str, str]]:
        """``(sheet, remote url)`` pairs of a local stylesheet and the local sheets it imports."""
        if rel in css_cache:
            return css_cache[rel]
        css_cache[rel] = []  # guards against @import cycles
        file = html_root / rel
        text = file.read_text(encoding="utf-8", errors="replace") if file.is_file() else ""
        remote = [(rel, url) for url in css_remote_urls(text)]
        if depth < 5:
            for imported in css_local_imports(text):
                with contextlib.suppress(_Unresolved):
                    sub, _ = _local_target(urlsplit(imported).path, rel, html_root)
                    remote += scan_sheet(sub, depth + 1)
        css_cache[rel] = remote
        return remote

    for kind, url in dom.resources:
        if _is_remote(url):
            add(kind, url)
        elif kind == "stylesheet" and not urlsplit(url).scheme:
            with contextlib.suppress(_Unresolved):
                rel, _ = _local_target(urlsplit(url).path, page, html_root)
                for sheet, remote in scan_sheet(rel):
                    add(f"url() in {sheet}", remote)
    for css in dom.inline_css:
        for remote in css_remote_urls(css):
            add("url() in inline <style>", remote)
    return problems


# ---------------------------------------------------------------------------------------------------------
# What the reader sees (page_checks): raw markup, clipped tables, tiny figure text, findings links.


def reader_problems(page: str, text: page_checks.PageText, html_root: Path) -> list[Problem]:
    """The checks of :mod:`alliance_study.book.page_checks` on one page, as :class:`Problem` s.

    Layout and figure-text checks need the measurements that only a Chromium render adds; the markup and
    findings checks run on any DOM.
    """
    def load(src: str) -> bytes:
        return load_image(src, page, html_root)[1]

    found = (page_checks.markup_findings(text) + page_checks.layout_findings(text)
             + page_checks.figure_text_findings(text, load) + page_checks.findings_page_findings(page, text))
    return [Problem(page, f.check, f.detail) for f in found]


# ---------------------------------------------------------------------------------------------------------
# The browser.


def require_chromium(chromium: Path) -> None:
    """Raise :class:`CheckBookError` with the install command if ``chromium`` is not an executable."""
    if not chromium.is_file() or not os.access(chromium, os.X_OK):
        raise CheckBookError(f"Chromium not found at {chromium}: run `bash tools/install_chromium.sh` "
                             "(Debian/Ubuntu; installs /usr/bin/chromium) or pass --chromium")


def run_chromium(chromium: Path, args: Sequence[str], *, timeout: float) -> str:
    """Run Chromium once with :data:`CHROMIUM_FLAGS`, a fresh profile and ``args``; return its stdout.

    The browser runs in its own session so that on a timeout the whole process group (browser, zygote,
    renderers) is killed, not just the launcher script.

    Raises
    ------
    ChromiumError
        On a timeout, a non-zero exit, or when Chromium cannot be started.
    """
    with tempfile.TemporaryDirectory(prefix="checkbook-chromium-", ignore_cleanup_errors=True) as profile:
        cmd = [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise ChromiumError(f"cannot start {chromium}: {exc}") from exc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            raise ChromiumError(f"Chromium timed out after {timeout:g} s") from None
        finally:
            # Stray renderer processes of this run (never anything else: the group is ours).
            _kill_group(proc.pid)
    if proc.returncode != 0:
        tail = " | ".join(err.decode("utf-8", "replace").strip().splitlines()[-3:])
        raise ChromiumError(f"Chromium exited with status {proc.returncode}: {tail}")
    return out.decode("utf-8", errors="replace")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def dump_dom(chromium: Path, url: str, *, timeout: float = 60.0, width: int | None = None) -> str:
    """The page's DOM after its scripts ran (``chromium --dump-dom``), laid out ``width`` px wide if given."""
    size = [f"--window-size={width},2000"] if width else []
    dom = run_chromium(chromium, [*size, "--dump-dom", url], timeout=timeout)
    if "<html" not in dom.lower():
        raise ChromiumError("Chromium printed no DOM")
    return dom


def screenshot(chromium: Path, url: str, out: Path, *, timeout: float = 60.0,
               window: tuple[int, int] = (1280, 1600)) -> Path:
    """Save a PNG screenshot of the page's first ``window`` pixels to ``out``."""
    run_chromium(chromium, [f"--window-size={window[0]},{window[1]}", f"--screenshot={out}", url],
                 timeout=timeout)
    if not out.is_file():
        raise ChromiumError("Chromium wrote no screenshot")
    return out


# ---------------------------------------------------------------------------------------------------------
# The whole book.


@dataclass
class BookReport:
    """Outcome of :func:`check_book`."""

    html_root: Path
    pages: list[str] = field(default_factory=list)
    images: int = 0
    distinct_images: int = 0
    links: int = 0
    screenshots: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line: pages, images, links, screenshots, failures, warnings, time."""
        shots = f", {self.screenshots} screenshots" if self.screenshots else ""
        return (f"check-book: {len(self.pages)} pages, "
                f"{self.images} images ({self.distinct_images} distinct), "
                f"{self.links:,} internal links{shots} checked in {self.seconds:.1f} s; "
                f"{_plural(len(self.failures), 'failure')}, {_plural(len(self.warnings), 'warning')}")

    def warning_lines(self) -> list[str]:
        """Warnings grouped by message (the same CDN script on every page is one line)."""
        groups: Counter[str] = Counter()
        first: dict[str, str] = {}
        for p in self.warnings:
            key = f"[{p.check}] {p.detail}"
            groups[key] += 1
            first.setdefault(key, p.page)
        return [f"{key} ({n} page{'s' if n > 1 else ''}, e.g. {first[key]})" for key, n in groups.items()]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


Renderer = Callable[[Path], str]


def check_book(
    html_root: Path = DEFAULT_HTML_DIR,
    chromium: Path = DEFAULT_CHROMIUM,
    *,
    workers: int = 2,
    timeout: float = 60.0,
    screenshot_dir: Path | None = None,
    strict_external: bool = False,
    min_std: float = MIN_PIXEL_STD,
    pages: Iterable[str] | None = None,
    render: Renderer | None = None,
    progress: Callable[[str], None] | None = None,
) -> BookReport:
    """Open every page of the built book in headless Chromium and run the three checks.

    Parameters
    ----------
    html_root
        The built HTML (``book/_build/html``).
    chromium
        The Chromium executable.
    workers
        Chromium runs in parallel (each is a separate browser; two suit a 2-core runner).
    timeout
        Seconds allowed per Chromium run.
    screenshot_dir
        If given, also screenshot every page there and fail pages whose screenshot is blank.
    strict_external
        Fail (instead of warn) on pages that fetch scripts, stylesheets or fonts from the network.
    min_std
        Blank-image threshold, see :func:`image_blank_reason`.
    pages
        Pages to check (default: :func:`find_pages`).
    render
        Replaces Chromium: takes a page file, returns its DOM (tests use the static file).
    progress
        Called with each page once it has been rendered.

    Raises
    ------
    CheckBookError
        If ``html_root`` has no pages or Chromium is missing.
    """
    start = time.perf_counter()
    html_root = html_root.resolve()
    if not html_root.is_dir():
        raise CheckBookError(f"no built book at {html_root}: run `make book` first")
    page_list = sorted(pages) if pages is not None else find_pages(html_root)
    if not page_list:
        raise CheckBookError(f"no HTML pages under {html_root}")
    if render is None or screenshot_dir is not None:
        require_chromium(chromium)

    measure_dir = tempfile.TemporaryDirectory(prefix="checkbook-measure-", ignore_cleanup_errors=True)

    def render_page(file: Path) -> str:
        if render is not None:
            return render(file)
        # The page with the measuring script of page_checks (same DOM plus a JSON of layout measurements);
        # redirect stubs (index.html) are opened as they are, the browser follows them.
        if re.search(r"http-equiv=[\"']?refresh", file.read_text(encoding="utf-8", errors="replace"), re.I):
            return dump_dom(chromium, file.as_uri(), timeout=timeout)
        name = file.relative_to(html_root).as_posix().replace("/", "__")
        copy = page_checks.instrumented_copy(file, Path(measure_dir.name), name)
        return dump_dom(chromium, copy.as_uri(), timeout=timeout, width=page_checks.LAYOUT_WIDTH)

    report = BookReport(html_root=html_root, pages=page_list)
    if screenshot_dir is not None:
        screenshot_dir.mkdir(parents=True, exist_ok=True)

    def visit(page: str) -> tuple[str, str | None, str | None, str | None]:
        """Render one page (and screenshot it); return (page, dom, load error, screenshot problem)."""
        file = html_root / page
        try:
            dom_text: str | None = render_page(file)
            error = None
        except ChromiumError as exc:
            dom_text, error = None, str(exc)
        shot_problem = None
        if screenshot_dir is not None and dom_text is not None:
            out = screenshot_dir / (page.replace("/", "__").removesuffix(".html") + ".png")
            try:
                screenshot(chromium, file.as_uri(), out, timeout=timeout)
                shot_problem = image_blank_reason(out.read_bytes(), min_std=min_std)
            except ChromiumError as exc:
                shot_problem = str(exc)
        if progress is not None:
            progress(page)
        return page, dom_text, error, shot_problem

    doms: dict[str, PageDom] = {}
    texts: dict[str, page_checks.PageText] = {}
    with measure_dir, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(visit, page_list))
    for page, dom_text, error, shot_problem in results:
        if error is not None:
            report.problems.append(Problem(page, "load", error))
            continue
        assert dom_text is not None
        doms[page] = parse_dom(dom_text)
        texts[page] = page_checks.parse_text(dom_text)
        report.problems += load_problems(page, doms[page])
        if screenshot_dir is not None:
            report.screenshots += 1
            if shot_problem is not None:
                report.problems.append(Problem(page, "screenshot", shot_problem))

    static_doms: dict[str, PageDom] = {}

    def static_dom(rel: str) -> PageDom:
        if rel not in static_doms:
            static_doms[rel] = parse_dom((html_root / rel).read_text(encoding="utf-8", errors="replace"))
        return static_doms[rel]

    def ids_for(rel: str) -> set[str]:
        # Prefer the rendered DOM (scripts may add ids); fall back to the file for pages not rendered.
        return doms[rel].ids if rel in doms else static_dom(rel).ids

    image_cache: dict[str, str | None] = {}
    css_cache: dict[str, list[tuple[str, str]]] = {}
    for page, dom in doms.items():
        static = static_dom(page)
        if static.refresh is not None:
            # A redirect stub (Jupyter Book writes index.html as one): the browser followed it, so the
            # rendered DOM is the target's, whose own images and links are checked on the target page.
            checked, problems = link_problems(page, PageDom(links=[static.refresh]), html_root, ids_for)
            report.links += checked
            report.problems += problems
            continue
        report.images += len(dom.images)
        report.problems += image_problems(page, dom, html_root, image_cache, min_std=min_std)
        checked, problems = link_problems(page, dom, html_root, ids_for)
        report.links += checked
        report.problems += problems
        report.problems += external_problems(page, dom, html_root, css_cache,
                                             severity="error" if strict_external else "warning")
        report.problems += reader_problems(page, texts[page], html_root)
    report.distinct_images = len(image_cache)
    report.seconds = time.perf_counter() - start
    return report

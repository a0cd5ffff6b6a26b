"""The whole book as one PDF, built offline: a single-page HTML build printed by headless Chromium.

``alliance-study pdf`` (``make pdf``) runs ``jupyter-book build --builder custom --custom-builder
singlehtml`` into ``book/_build/singlehtml`` (the same executed notebooks as the HTML book, no LaTeX
needed), prints its ``index.html`` with Chromium's ``--print-to-pdf`` to ``book/_build/pdf/`` and checks the
result with pypdf: at least :data:`MIN_PAGES` pages and no blank page (a page with neither text nor an
image). :func:`pdf_problems` is pure (bytes in, problems out) so tests can feed it crafted PDFs.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from alliance_study.book import browser_check
from alliance_study.data import paths
from alliance_study.errors import AllianceStudyError

BOOK_DIR = paths.PROJECT_ROOT / "book"

#: Where the PDF lands.
PDF_NAME = "alliance-study.pdf"

#: A book of nine chapters and 36 profiles printed on A4/Letter runs to well over a hundred pages; fewer than
#: this means pages were lost (a failed build printing only the landing page has one or two).
MIN_PAGES = 20

#: Seconds Chromium may take to lay out and print the single page (about 50 pages of HTML with figures).
PRINT_TIMEOUT = 600.0


class PdfError(AllianceStudyError):
    """The PDF could not be built or failed its checks."""


@dataclass(frozen=True)
class PdfReport:
    """What :func:`build_pdf` produced: the file, its page count and the pages without content."""

    path: Path
    pages: int
    blank_pages: list[int]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def singlehtml_command(book_dir: Path = BOOK_DIR, *, strict: bool = True) -> list[str]:
    """The ``jupyter-book build`` command for the single-page HTML build of ``book_dir``."""
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book"),
               "build", str(book_dir), "--builder", "custom", "--custom-builder", "singlehtml", "--quiet"]
    if strict:
        command += ["--warningiserror", "--keep-going"]
    return command


def page_has_content(page) -> bool:
    """True when a pypdf page draws text or an image (a printed page that is not blank)."""
    try:
        if page.extract_text().strip():
            return True
    except Exception:  # pypdf raises various errors on odd content streams; fall through to images
        pass
    try:
        return len(page.images) > 0
    except Exception:
        return False


def pdf_problems(data: bytes, *, min_pages: int = MIN_PAGES) -> tuple[int, list[int], list[str]]:
    """Check a PDF: it parses, has at least ``min_pages`` pages, and no page is blank.

    Returns
    -------
    (pages, blank_pages, problems)
        The page count, the 1-based numbers of blank pages, and messages for each failed check.
    """
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = list(reader.pages)
    except Exception as exc:
        return 0, [], [f"not a readable PDF ({type(exc).__name__}: {exc})"]
    problems = []
    if len(pages) < min_pages:
        problems.append(f"{len(pages)} pages, fewer than the {min_pages} a whole book prints to")
    blank = [i for i, page in enumerate(pages, start=1) if not page_has_content(page)]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" ..." if len(blank) > 10 else "")
        problems.append(f"{len(blank)} blank page(s): {shown}")
    return len(pages), blank, problems


def single_page(out_dir: Path) -> Path:
    """The page of a single-page build holding the whole book (``index.html`` redirects to the root)."""
    index = out_dir / "index.html"
    if not index.is_file():
        raise PdfError(f"the single-page build wrote no {index}")
    target = browser_check.parse_dom(index.read_text(encoding="utf-8", errors="replace")).refresh
    page = out_dir / target if target else index
    if not page.is_file():
        raise PdfError(f"{index} redirects to {target}, which does not exist")
    return page


def print_to_pdf(chromium: Path, html: Path, out: Path, *, timeout: float = PRINT_TIMEOUT) -> Path:
    """Print ``html`` to ``out`` with headless Chromium (no header or footer lines)."""
    browser_check.require_chromium(chromium)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.pdf")
    tmp.unlink(missing_ok=True)
    browser_check.run_chromium(chromium, ["--no-pdf-header-footer", f"--print-to-pdf={tmp}", html.as_uri()],
                               timeout=timeout)
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise PdfError(f"Chromium wrote no PDF for {html}")
    tmp.replace(out)  # atomic: a failed print never leaves a half-written book PDF
    return out


def build_pdf(book_dir: Path = BOOK_DIR, chromium: Path = browser_check.DEFAULT_CHROMIUM, *,
              strict: bool = True, min_pages: int = MIN_PAGES) -> PdfReport:
    """Build the single-page HTML, print it to ``book/_build/pdf/alliance-study.pdf`` and check the PDF.

    Raises
    ------
    PdfError
        If the single-page build fails or Chromium writes nothing.
    """
    browser_check.require_chromium(chromium)
    completed = subprocess.run(singlehtml_command(book_dir, strict=strict), check=False)
    if completed.returncode != 0:
        raise PdfError(f"single-page HTML build failed (exit {completed.returncode})")
    html = single_page(book_dir / "_build" / "singlehtml")

    out = print_to_pdf(chromium, html, book_dir / "_build" / "pdf" / PDF_NAME)
    pages, blank, problems = pdf_problems(out.read_bytes(), min_pages=min_pages)
    return PdfReport(out, pages, blank, problems)

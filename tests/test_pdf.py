"""The book's PDF check: page count and blank pages, on PDFs made here (pypdf writes them)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from alliance_study.book import pdf

pypdf = pytest.importorskip("pypdf")


def _pdf(pages: list[str | None]) -> bytes:
    """A PDF with one page per entry: text drawn on it, or a blank page for None."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                             NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    font_ref = writer._add_object(font)
    for text in pages:
        page = writer.add_blank_page(width=300, height=300)
        if text is not None:
            stream = DecodedStreamObject()
            stream.set_data(f"BT /F1 12 Tf 20 200 Td ({text}) Tj ET".encode())
            page[NameObject("/Contents")] = writer._add_object(stream)
            page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
                {NameObject("/F1"): font_ref})})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_good_pdf_passes():
    n, blank, problems = pdf.pdf_problems(_pdf([f"page {i}" for i in range(5)]), min_pages=5)
    assert (n, blank, problems) == (5, [], [])


def test_blank_pages_and_short_books_fail():
    n, blank, problems = pdf.pdf_problems(_pdf(["title", None, "text", None]), min_pages=10)
    assert n == 4 and blank == [2, 4]
    assert problems == ["4 pages, fewer than the 10 a whole book prints to", "2 blank page(s): 2, 4"]
    assert pdf.pdf_problems(b"%PDF-1.4 garbage")[2][0].startswith("not a readable PDF")


def test_single_page_follows_the_redirect(tmp_path: Path):
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    with pytest.raises(pdf.PdfError, match="does not exist"):
        pdf.single_page(tmp_path)
    (tmp_path / "intro.html").write_text("<html><body>the book</body></html>")
    assert pdf.single_page(tmp_path) == tmp_path / "intro.html"
    with pytest.raises(pdf.PdfError, match="wrote no"):
        pdf.single_page(tmp_path / "missing")
    cmd = pdf.singlehtml_command(tmp_path)
    assert cmd[1:6] == ["build", str(tmp_path), "--builder", "custom", "--custom-builder"] and "-W" not in cmd

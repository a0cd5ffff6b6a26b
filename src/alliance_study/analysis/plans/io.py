"""The plan toolkit's file I/O: coding sheets (CSV) and plan documents (text or PDF).

This is the only module of :mod:`alliance_study.analysis.plans` that touches the disk, so the rest stays pure
(DataFrames in, DataFrames out). PDF text extraction needs the optional ``pypdf`` package
(``pip install alliance-study[plans]``); plain-text plans never do.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from alliance_study.analysis.plans.codebook import Codebook
from alliance_study.analysis.plans.records import (
    RECORD_COLUMNS,
    CodingRecordError,
    template,
    validate_records,
)
from alliance_study.data import reads

#: Plan-document suffixes read as plain text (one "page" per form feed, or the whole file as page 1).
TEXT_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".text"})


def write_template(path: str | Path, codebook: Codebook, example: bool = True) -> Path:
    """Write an empty coding sheet (CSV, UTF-8) with the record columns; atomically (temp file + rename).

    Parameters
    ----------
    path
        Where to write it.
    codebook
        Codebook whose version is filled into the example row.
    example
        Include one example row (a real public plan fact) to show a complete record.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    frame = template(codebook, example=example)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, quoting=csv.QUOTE_MINIMAL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_records(
    path: str | Path, codebook: Codebook, districts: Mapping[str, str] | Iterable[str] | None = None
) -> pd.DataFrame:
    """Read a coding sheet (CSV) and validate it
    (:func:`~alliance_study.analysis.plans.records.validate_records`).

    Every cell is read as text (district codes keep their leading zeros; nothing becomes NaN), blank rows are
    skipped, and each row keeps its CSV line for error messages.

    Raises
    ------
    CodingRecordError
        Naming the file, row and column of the first problem.
    """
    path = Path(path)
    display = path.name
    reads.record(path)  # a notebook run is keyed on the files it read (alliance_study.data.reads)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CodingRecordError(
            display, f"not valid UTF-8 (byte {exc.start}); save the sheet as UTF-8 CSV"
        ) from exc
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CodingRecordError(display, "empty file: expected a header with the record columns", row=1)
        header = [h.strip() for h in header]
        rows, lines = [], []
        for record in reader:
            if not any(c.strip() for c in record):
                continue
            if len(record) != len(header):
                raise CodingRecordError(
                    display, f"{len(record)} cells but the header has {len(header)}", row=reader.line_num
                )
            rows.append(record)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise CodingRecordError(display, f"malformed CSV ({exc})", row=reader.line_num) from exc
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame["_line"] = lines
    return validate_records(frame, codebook, districts, display=display)


def read_plan_text(path: str | Path) -> list[tuple[int, str]]:
    """Text of a plan document as ``(page, text)`` pairs.

    Text files (:data:`TEXT_SUFFIXES`) are split into pages at form feeds (``\\f``); PDFs are read page by
    page with ``pypdf`` when it is installed.

    Raises
    ------
    ImportError
        For a PDF when ``pypdf`` is not installed (install the ``plans`` extra).
    ValueError
        For another file type.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    reads.record(path)
    if suffix in TEXT_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="replace")
        return [(i, page) for i, page in enumerate(text.split("\f"), start=1)]
    if suffix == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("reading PDF plans needs pypdf: pip install 'alliance-study[plans]'") from exc
        reader = PdfReader(str(path))
        return [(i, page.extract_text() or "") for i, page in enumerate(reader.pages, start=1)]
    raise ValueError(f"{path.name}: plan documents must be text ({sorted(TEXT_SUFFIXES)}) or .pdf")


# --- the planning tool's plan files ---------------------------------------------------------------------

#: Sheet names of an .xlsx plan file: the plan, then the codes it may use.
PLAN_SHEET = "plan"
CODES_SHEET = "codebook"


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path`` (nothing half-written is ever left at ``path``)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    def write(tmp: Path) -> None:
        frame.to_csv(tmp, index=False, encoding="utf-8", quoting=csv.QUOTE_MINIMAL)

    return _atomic_write(path, write)


def xlsx_available() -> bool:
    """Whether ``openpyxl`` (the ``plans`` extra) is installed: .xlsx plan files can be written and read."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        return False
    return True


def write_plan_template(path: str | Path, template: pd.DataFrame, codes: pd.DataFrame,
                        xlsx: bool | None = None) -> list[Path]:
    """Write a plan template: ``<path>.csv`` with the plan rows, ``<stem>_codebook.csv`` with the codes, and
    (when ``openpyxl`` is available, or ``xlsx=True``) ``<stem>.xlsx`` with both as sheets and drop-down
    lists of the allowed domain, intervention and accepted values. Each file is written atomically.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from alliance_study.analysis.plans.planfile import PLAN_COLUMNS

    path = Path(path)
    stem = path.with_suffix("")
    written = [_write_csv(template, stem.with_suffix(".csv")),
               _write_csv(codes, stem.parent / f"{stem.name}_codebook.csv")]
    if xlsx is None:
        xlsx = xlsx_available()
    if xlsx:
        from openpyxl import Workbook
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.datavalidation import DataValidation

        def write(tmp: Path) -> None:
            book = Workbook()
            sheet = book.active
            sheet.title = PLAN_SHEET
            sheet.append(list(template.columns))
            for row in template.itertuples(index=False):
                sheet.append([str(v) for v in row])
            sheet.freeze_panes = "A2"
            codes_sheet = book.create_sheet(CODES_SHEET)
            codes_sheet.append(list(codes.columns))
            for row in codes.itertuples(index=False):
                codes_sheet.append([str(v) for v in row])
            n_codes = len(codes) + 1
            kinds = list(codes["kind"])
            for column, kind in (("domain", "domain"), ("intervention", "intervention"),
                                 ("suggested_code", "intervention")):
                rows = [i + 2 for i, k in enumerate(kinds) if k == kind]
                first, last = (min(rows), max(rows)) if rows else (2, n_codes)
                ref = f"{CODES_SHEET}!$B${first}:$B${last}"
                letter = get_column_letter(PLAN_COLUMNS.index(column) + 1)
                check = DataValidation(type="list", formula1=ref, allow_blank=True)
                check.add(f"{letter}2:{letter}5000")
                sheet.add_data_validation(check)
            letter = get_column_letter(PLAN_COLUMNS.index("accepted") + 1)
            verdict = DataValidation(type="list", formula1='"yes,no"', allow_blank=True)
            verdict.add(f"{letter}2:{letter}5000")
            sheet.add_data_validation(verdict)
            for i, column in enumerate(template.columns, start=1):
                sheet.column_dimensions[get_column_letter(i)].width = max(12, min(40, len(column) + 4))
            book.save(tmp)

        written.append(_atomic_write(stem.with_suffix(".xlsx"), write))
    return written


def read_plan_frame(path: str | Path) -> pd.DataFrame:
    """Read a plan file (CSV, or the ``plan`` sheet of an .xlsx) as text, every row with its file line.

    Every cell is text (district codes keep their leading zeros), blank rows are skipped, ``_line`` holds the
    CSV line or sheet row (header = 1) for error messages.

    Raises
    ------
    PlanFileError
        For an unreadable file: not UTF-8, malformed CSV, a row of the wrong width, no header, a workbook
        without a ``plan`` sheet, or another suffix.
    """
    from alliance_study.analysis.plans.planfile import PlanFileError

    path = Path(path)
    display = path.name
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        if not xlsx_available():
            raise PlanFileError(display, "reading .xlsx needs openpyxl: pip install 'alliance-study[plans]' "
                                         "or save the sheet as CSV")
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        if PLAN_SHEET not in book.sheetnames:
            raise PlanFileError(display, f"no sheet named {PLAN_SHEET!r} (sheets: {book.sheetnames})")
        sheet_rows = book[PLAN_SHEET].iter_rows(values_only=True)
        values = [["" if v is None else str(v) for v in row] for row in sheet_rows]
        book.close()
        if not values:
            raise PlanFileError(display, "empty sheet: expected a header with the plan columns", row=1)
        header = [h.strip() for h in values[0]]
        while header and not header[-1]:
            header.pop()
        rows, lines = [], []
        for line, record in enumerate(values[1:], start=2):
            if any(c.strip() for c in record[len(header):]):
                raise PlanFileError(display, "a cell right of the last header column is filled", row=line)
            record = (record + [""] * len(header))[: len(header)]
            if any(c.strip() for c in record):
                rows.append(record)
                lines.append(line)
    elif suffix == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PlanFileError(display, f"not valid UTF-8 (byte {exc.start}); save the sheet as UTF-8 "
                                         "CSV") from exc
        reader = csv.reader(text.splitlines(keepends=True), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise PlanFileError(display, "empty file: expected a header with the plan columns", row=1)
            header = [h.strip() for h in header]
            rows, lines = [], []
            for record in reader:
                if not any(c.strip() for c in record):
                    continue
                if len(record) != len(header):
                    raise PlanFileError(display, f"{len(record)} cells but the header has {len(header)}",
                                        row=reader.line_num)
                rows.append(record)
                lines.append(reader.line_num)
        except csv.Error as exc:
            raise PlanFileError(display, f"malformed CSV ({exc})", row=reader.line_num) from exc
    else:
        raise PlanFileError(display, "a plan file is .csv or .xlsx")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame["_line"] = lines
    return frame


def write_plan_frame(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a plan file back as CSV (atomically), without the bookkeeping ``_line`` column."""
    keep = [c for c in frame.columns if not str(c).startswith("_")]
    return _write_csv(frame[keep], Path(path))


__all__ = ["RECORD_COLUMNS", "read_plan_frame", "read_plan_text", "read_records", "write_plan_frame",
           "write_plan_template", "write_template"]

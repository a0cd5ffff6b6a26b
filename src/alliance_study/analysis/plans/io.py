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


__all__ = ["RECORD_COLUMNS", "read_plan_text", "read_records", "write_template"]

"""What every source reader shares: the row accounting, the output types, and reading raw files.

Every reader follows read -> clean -> validate and records, per raw file, how many data rows it read,
kept and dropped (by reason), and how many cells were suppressed (by column), in a :class:`SourceReport`;
its ``load`` returns a :class:`SourceOutput`. Bad input raises :class:`~alliance_study.errors.RawDataError`
naming the file, the 1-based line and the column.

This module holds those types and the reading of raw files: decoding, EdSight-style exports
(:func:`read_export` -> :class:`RawTable`), plain CSV files, and explicit column maps
(:func:`apply_column_map` and its label-only forms). The rest of the readers' toolkit lives beside it,
each module importing only from the ones before it:

- :mod:`~alliance_study.data.sources.numbers`: cells to numbers (suppression tokens, thousands separators,
  bounds, whole counts);
- :mod:`~alliance_study.data.sources.keys`: the panel's keys, district codes and school years;
- :mod:`~alliance_study.data.sources.checks`: shape and coverage checks of a file and of a family's files
  (cut files, note lines, duplicate keys, missing years and districts, refusing the first bad row).
"""

from __future__ import annotations

import csv
import gc
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from alliance_study.errors import RawDataError

_EXCEL_TEXT = re.compile(r'^="(.*)"$', re.S)
_SPACES = re.compile(r"\s+")
_LONE_CR = re.compile(r"\r(?!\n)")

T = TypeVar("T")


@dataclass
class SourceReport:
    """Row accounting for one raw file.

    Invariant (checked by :meth:`check`): ``rows_read == rows_kept + sum(dropped.values())``.
    """

    family: str
    file: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    suppressed: Counter = field(default_factory=Counter)
    #: Rows kept as published although a check found them inconsistent (e.g. amounts that do not add up to
    #: their total): one dict per row with ``line``, ``column``, ``what`` and ``gap``.
    flagged: list = field(default_factory=list)

    def flag(self, line: int, column: str, what: str, gap: float) -> None:
        """List a kept row that a check flagged, with the size of the inconsistency."""
        self.flagged.append({"line": int(line), "column": column, "what": what, "gap": float(gap)})

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rows dropped for ``reason``."""
        if n:
            self.dropped[reason] += int(n)

    def suppress(self, column: str, n: int = 1) -> None:
        """Count ``n`` suppressed or unavailable cells in ``column``."""
        if n:
            self.suppressed[column] += int(n)

    def check(self) -> None:
        """Raise if kept + dropped rows do not add up to the rows read."""
        total = self.rows_kept + sum(self.dropped.values())
        if total != self.rows_read:
            raise RawDataError(
                self.file,
                f"row accounting does not add up: read {self.rows_read}, kept {self.rows_kept}, "
                f"dropped {dict(self.dropped)}",
            )


@dataclass
class ColumnSpec:
    """Data-dictionary entry for one output column."""

    name: str
    type: str  # frictionless types: string, integer, number, boolean
    unit: str
    description: str
    source: str


@dataclass
class SourceOutput:
    """What one source family's ``load`` returns.

    Attributes
    ----------
    family
        Registry family name.
    district
        Panel-ready table, unique on ``(district_code, year)``, columns as in ``columns``.
    state
        State totals by ``year`` (same measure columns where they exist), or None.
    extra
        Other tidy tables (for example SBAC by grade), keyed by name.
    reports
        One :class:`SourceReport` per raw file read.
    columns
        Data dictionary of the ``district`` table's measure columns.
    """

    family: str
    district: pd.DataFrame
    state: pd.DataFrame | None = None
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    reports: list[SourceReport] = field(default_factory=list)
    columns: list[ColumnSpec] = field(default_factory=list)


@dataclass
class RawTable:
    """A parsed CSV export: normalized column labels, string cells, and each row's line number."""

    file: str
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]
    title: list[str]
    #: 1-based line of the header row.
    header_line: int = 0
    #: The file ends with an empty line after its last row.
    ends_blank: bool = False
    #: An empty line (not even commas) separates the title block from the header: EdSight's own writer.
    #: Its exports also end with an empty line; copies re-saved by a spreadsheet pad both with commas.
    empty_separator: bool = False

    def frame(self) -> pd.DataFrame:
        """The rows as a string DataFrame with a ``_line`` column (1-based line in the file)."""
        df = pd.DataFrame(self.rows, columns=self.columns, dtype=object)
        df["_line"] = self.lines
        return df


#: Longest cell excerpt quoted in an error message (a damaged row can hold a whole file in one cell).
EXCERPT_CHARS = 60


def excerpt(cell: str) -> str:
    """``repr`` of a cell, shortened to :data:`EXCERPT_CHARS` characters."""
    if len(cell) <= EXCERPT_CHARS:
        return repr(cell)
    return repr(cell[:EXCERPT_CHARS]) + f"... ({len(cell)} characters)"


def unquote_excel(value: str) -> str:
    """Strip Excel text protection (``="0640011"`` -> ``0640011``) and surrounding whitespace."""
    value = value.strip()
    # Same as ``_EXCEL_TEXT.match`` (after strip, ``$`` can only match at the very end), without the regex.
    if len(value) >= 3 and value.startswith('="') and value.endswith('"'):
        return value[2:-1].strip()
    return value


def normalize_label(label: str) -> str:
    """Collapse runs of whitespace in a column label and strip it."""
    return _SPACES.sub(" ", unquote_excel(label)).strip()


def decode(path: Path, display: str) -> str:
    """Read a raw file as UTF-8 (with or without BOM); raise naming the file on another encoding."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RawDataError(
            display, f"not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
            "re-export the file as UTF-8", row=line
        ) from exc
    check_line_endings(text, display)
    return text


def check_line_endings(text: str, display: str) -> None:
    """Raise if a line ends with a bare carriage return (old Mac line endings, or a damaged CRLF).

    Every export ends its lines with LF or CRLF; a lone CR would make ``csv`` fail or rows merge.
    """
    if "\r" not in text:
        return
    lone = _LONE_CR.search(text)
    if lone is not None:
        line = text.count("\n", 0, lone.start()) + 1
        raise RawDataError(
            display, "a line ends with a bare carriage return (CR-only line endings); re-save the file with "
            "LF or CRLF line endings", row=line
        )


def read_export(
    path: Path,
    display: str,
    header_first: Iterable[str] = ("District",),
    *,
    max_title_lines: int = 8,
) -> RawTable:
    """Parse an EdSight-style CSV export with title lines and an optional group-header row.

    The header is the first row whose first cell (after unquoting) is one of ``header_first``. A
    non-empty row directly above it is a group header (e.g. ``Level 3&4 Met or Exceeded``); its labels
    are carried right over blank cells and prefixed to the labels below as ``"group | label"`` so that
    repeated labels such as ``%`` become unique. Labels are whitespace-normalized.

    Parameters
    ----------
    path
        File to read.
    display
        Name to use in error messages (usually the registry path).
    header_first
        Accepted labels of the first header cell.
    max_title_lines
        The header must start within this many lines; beyond that the file is not the expected export.

    Returns
    -------
    RawTable
        Data rows padded or trimmed to the header width (trailing empty cells only), with line numbers.

    Raises
    ------
    RawDataError
        If no header is found, a label repeats even after group prefixing, or a row has extra
        non-empty cells.
    """
    return parse_export(decode(path, display), display, header_first, max_title_lines=max_title_lines)


def parse_export(
    text: str,
    display: str,
    header_first: Iterable[str] = ("District",),
    *,
    max_title_lines: int = 8,
) -> RawTable:
    """:func:`read_export` on already decoded text (for readers that repair the text first)."""
    # A large export becomes many long-lived lists; the cyclic collector would rescan them over and over
    # while they are built (reference counting still frees everything else).
    with _gc_paused():
        return _parse_export(text, display, header_first, max_title_lines)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for the block; restore its previous state afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_export(
    text: str, display: str, header_first: Iterable[str], max_title_lines: int
) -> RawTable:
    """:func:`parse_export` itself."""
    records = _one_record_per_line(text)
    ends_blank = _ends_blank(text)
    if records is None:
        return _read_export_stream(text, display, header_first, max_title_lines, ends_blank)
    header, before, header_line = _find_header(iter(records), lambda n: n, display,
                                               header_first, max_title_lines)
    labels, title = _labels_and_title(header, before, header_line, display)
    width = len(labels)
    data = records[header_line:]
    strip = str.strip
    if all(len(record) == width for record in data):
        rows = [list(map(strip, record)) for record in data]
    elif (all(len(record) == width + 1 for record in data)
          and not "".join([record[-1] for record in data]).strip()):
        # Every row ends with one empty cell (a trailing comma): dropped, as below.
        rows = [list(map(strip, record[:width])) for record in data]
    else:
        rows = []
        append = rows.append
        for index, record in enumerate(data):
            if len(record) > width:
                if "".join(record[width:]).strip():
                    extra = [c for c in record[width:] if c.strip()]
                    raise RawDataError(
                        display, f"{len(record)} cells but the header has {width}: extra {extra[:3]}",
                        row=header_line + 1 + index,
                    )
                append(list(map(strip, record[:width])))
            elif len(record) < width:
                append(list(map(strip, record + [""] * (width - len(record)))))
            else:
                append(list(map(strip, record)))
    lines = list(range(header_line + 1, header_line + 1 + len(data)))
    return RawTable(file=display, columns=labels, rows=rows, lines=lines, title=title,
                    header_line=header_line, ends_blank=ends_blank,
                    empty_separator=any(not record for record in before))


def _one_record_per_line(text: str) -> list[list[str]] | None:
    """All CSV records of ``text`` when each is exactly one line (record ``i`` is on line ``i + 1``).

    Returns None when a quoted field spans lines, the CSV module raises, or the text has a carriage return
    without quotes; :func:`read_export` then parses record by record as ``csv.reader`` counts lines.
    Without quotes or carriage returns, splitting on newlines and commas is what ``csv.reader`` does
    (an empty line is an empty record).
    """
    if '"' not in text and "\r" not in text:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if lines and max(map(len, lines)) > csv.field_size_limit():
            return None
        return [line.split(",") if line else [] for line in lines]
    try:
        records = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return None
    n_lines = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
    return records if len(records) == n_lines else None


def _labels_and_title(
    header: list[str], before: list[list[str]], header_line: int, display: str
) -> tuple[list[str], list[str]]:
    """Column labels (group-prefixed, trailing blanks dropped, unique) and title lines of an export."""
    labels = [normalize_label(h) for h in header]
    group_row = before[-1] if before and any(c.strip() for c in before[-1]) else None
    title = [" ".join(c.strip() for c in r if c.strip()) for r in before if any(c.strip() for c in r)]
    if group_row is not None and len(before) >= 1 and len(title) >= 1:
        # The group header is not part of the title.
        title = title[:-1]
        groups: list[str] = []
        current = ""
        for i in range(len(labels)):
            cell = normalize_label(group_row[i]) if i < len(group_row) else ""
            if cell and cell != "_":
                current = cell
            groups.append(current)
        labels = [f"{g} | {lab}" if g else lab for g, lab in zip(groups, labels, strict=True)]
    while labels and labels[-1] == "":
        labels.pop()
    dupes = [lab for lab, n in Counter(labels).items() if n > 1]
    if dupes:
        raise RawDataError(display, f"repeated column labels {dupes}", row=header_line)
    return labels, title


def _ends_blank(text: str) -> bool:
    """True if the text ends with an empty line (two line breaks in a row at the very end)."""
    return text.endswith(("\n\n", "\r\n\r\n", "\n\r\n"))


def _find_header(
    records: Iterator[list[str]], line_of: Callable[[int], int], display: str, header_first: Iterable[str],
    max_title_lines: int,
) -> tuple[list[str], list[list[str]], int]:
    """The header record, the records above it and its 1-based line.

    ``line_of(n)`` gives the line of the ``n``-th record (1-based) just after it was read.

    The header is the first record whose first cell (normalized) is one of ``header_first``, within
    ``max_title_lines`` lines of the top; raise naming the file otherwise.
    """
    accepted = {normalize_label(h) for h in header_first}
    before: list[list[str]] = []
    for record in records:
        if record and normalize_label(record[0]) in accepted:
            return record, before, line_of(len(before) + 1)
        before.append(record)
        if len(before) > max_title_lines:
            break
    raise RawDataError(
        display,
        f"no header row starting with one of {sorted(accepted)} in the first {max_title_lines} lines",
        row=1,
    )


def _read_export_stream(
    text: str, display: str, header_first: Iterable[str], max_title_lines: int, ends_blank: bool
) -> RawTable:
    """:func:`read_export` record by record, with ``csv.reader``'s line numbers (quoted line breaks)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header, before, header_line = _find_header(reader, lambda n: reader.line_num, display, header_first,
                                                   max_title_lines)
    except csv.Error as exc:
        raise RawDataError(display, f"malformed CSV ({exc})", row=reader.line_num + 1) from exc
    labels, title = _labels_and_title(header, before, header_line, display)
    width = len(labels)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        records = list(_numbered(reader))
    except csv.Error as exc:
        raise RawDataError(display, f"malformed CSV ({exc})", row=reader.line_num + 1) from exc
    for line, record in records:
        if len(record) > width:
            extra = [c for c in record[width:] if c.strip()]
            if extra:
                raise RawDataError(
                    display, f"{len(record)} cells but the header has {width}: extra {extra[:3]}", row=line
                )
            record = record[:width]
        elif len(record) < width:
            record = record + [""] * (width - len(record))
        rows.append([c.strip() for c in record])
        lines.append(line)
    return RawTable(file=display, columns=labels, rows=rows, lines=lines, title=title,
                    header_line=header_line, ends_blank=ends_blank,
                    empty_separator=any(not record for record in before))


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """``(line, record)`` pairs of a ``csv.reader`` (the line on which each record ends)."""
    for record in reader:
        yield reader.line_num, record


def apply_column_map(
    df: pd.DataFrame,
    column_map: Mapping[str, str | None],
    display: str,
    *,
    required: Sequence[str] = (),
    header_line: int | None = None,
) -> pd.DataFrame:
    """Rename columns by an explicit map; raise on unknown labels and on missing required ones.

    ``column_map`` maps every accepted raw label to its canonical name, or to None for a known
    column the reader deliberately ignores. Columns starting with ``_`` (bookkeeping) pass through.
    ``required`` lists canonical names that must be present after renaming.
    """
    unknown = [c for c in df.columns if not c.startswith("_") and c not in column_map]
    if unknown:
        raise RawDataError(
            display, f"unexpected column label(s) {unknown}; known labels: {sorted(column_map)}",
            row=header_line, column=unknown[0],
        )
    keep = {c: (c if c.startswith("_") else column_map[c]) for c in df.columns
            if c.startswith("_") or column_map.get(c)}
    out = df[list(keep)].rename(columns=keep)
    dup = [n for n, k in Counter(out.columns).items() if k > 1]
    if dup:
        raise RawDataError(display, f"two raw columns map to {dup}", row=header_line)
    missing = [c for c in required if c not in out.columns]
    if missing:
        raise RawDataError(display, f"missing column(s) {missing}", row=header_line, column=missing[0])
    return out


def mapped_columns(
    table: RawTable, column_map: dict[str, str], display: str, required: list[str], header_line: int | None
) -> dict[str, list[str]]:
    """The table's cells by column name, as :func:`apply_column_map` would rename and keep them.

    The labels are checked here; :func:`apply_column_map` is run (on the labels only) just to raise its
    usual error when one is unknown, two map to the same name or a required one is missing.
    """
    keep = {
        i: (label if label.startswith("_") else column_map[label])
        for i, label in enumerate(table.columns)
        if label != "_line" and (label.startswith("_") or column_map.get(label))
    }
    names = list(keep.values())
    if (
        any(not c.startswith("_") and c not in column_map for c in table.columns)
        or len(set(names)) < len(names)
        or any(c not in names for c in required)
    ):
        apply_column_map(
            pd.DataFrame(columns=[c for c in table.columns if c != "_line"]), column_map, display,
            required=required, header_line=header_line,
        )
    cells = list(zip(*table.rows, strict=True)) if table.rows else [() for _ in table.columns]
    return {name: list(cells[i]) for i, name in keep.items()}


def kept_labels(table: RawTable, column_map: Mapping[str, str | None], display: str,
                required: Sequence[str], header_line: int | None) -> dict[str, str]:
    """Raw label -> name of the columns :func:`apply_column_map` keeps (``_line`` left out).

    Other ``_`` columns pass through under their label. Where ``apply_column_map`` would raise (an
    unknown, repeated or missing column), it is called to raise; its checks depend on the labels only.
    """
    labels = [c for c in table.columns if c != "_line"]
    keep = {c: (c if c.startswith("_") else column_map[c]) for c in labels
            if c.startswith("_") or column_map.get(c)}
    names = list(keep.values())
    if (any(not c.startswith("_") and c not in column_map for c in labels)
            or len(set(names)) != len(names) or "_line" in names
            or any(c not in names for c in required)):
        apply_column_map(table.frame(), column_map, display, required=required, header_line=header_line)
    return keep


def read_strict_csv(path: Path, display: str, body: Callable[[Any], T]) -> T:
    """``body(reader)`` on a strict ``csv.reader`` of the decoded file; malformed CSV raises naming the line.

    Strict: a file cut inside a quoted field raises instead of yielding a short last cell.
    """
    reader = csv.reader(io.StringIO(decode(path, display)), strict=True)
    try:
        return body(reader)
    except csv.Error as exc:
        raise RawDataError(display, f"malformed CSV ({exc}); truncated file?", row=reader.line_num) from exc


def read_csv_header(reader: Iterator[list[str]], display: str, column_map: Mapping[str, object]) -> list[str]:
    """Stripped labels of a plain CSV header (line 1); raise on an empty file, an unknown or missing label."""
    header = next(reader, None)
    if header is None:
        raise RawDataError(display, "empty file", row=1)
    labels = [h.strip() for h in header]
    unknown = [h for h in labels if h not in column_map]
    if unknown:
        raise RawDataError(
            display, f"unexpected column label(s) {unknown}; known labels: {sorted(column_map)}",
            row=1, column=unknown[0],
        )
    missing = [h for h in column_map if h not in labels]
    if missing:
        raise RawDataError(display, f"missing column(s) {missing}", row=1, column=missing[0])
    return labels


def label_of(column_map: Mapping[str, str | None], canonical: str, present: Sequence[str]) -> str:
    """The raw label that produced ``canonical`` (for error messages)."""
    for raw in present:
        if column_map.get(raw) == canonical:
            return raw
    return canonical


def line_count(path: Path) -> int:
    """Number of lines of a file (its last line's number)."""
    data = path.read_bytes()
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)

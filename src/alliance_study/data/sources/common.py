"""Shared parsing for the source readers: EdSight exports, suppression, codes, and the build report.

Every reader follows read -> clean -> validate and records, per raw file, how many data rows it read,
kept and dropped (by reason), and how many cells were suppressed (by column). Bad input raises
:class:`~alliance_study.errors.RawDataError` naming the file, the 1-based line and the column.

Why one module of over 600 lines: it is the toolkit every reader shares (export parsing, number parsing,
codes and years, the export-shape and coverage checks of issue 10), and readers import one name set from
it. Its three parts are marked by the section order above; splitting number parsing and the shape and
coverage checks into modules of their own is the next clean-up.
"""

from __future__ import annotations

import csv
import gc
import io
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alliance_study.errors import RawDataError

if TYPE_CHECKING:
    from alliance_study.data.registry import Registry

#: Entity type by the last two digits of a 7-digit CSDE district code (shared/data/README.md).
ENTITY_TYPES: dict[str, str] = {
    "00": "state",
    "11": "town_district",
    "12": "regional_district",
    "13": "charter",
    "14": "resc",
    "15": "state_agency",
    "16": "technical_hs_system",
    "18": "other",  # Goodwin University Educational Services, a magnet operator
    "22": "endowed_academy",
}

#: State-total pseudo-district code used by EdSight exports.
STATE_CODE = "0000000"

#: Tokens EdSight uses for suppressed or unavailable cells ("*" small cell, "N/A" not available;
#: "**" and "-" in the CEDaR CMT/CAPT files). CTData processed files use -9999 / -6666 instead.
SUPPRESSION_TOKENS: frozenset[str] = frozenset({"*", "N/A", "**", "-", ""})

#: Suppression marks of the EdSight exports proper: ``*`` (small cell) and ``N/A`` (not available). An
#: empty cell is not one of them (the exports write ``*``), so an empty cell in a data row means a damaged
#: or cut row and raises.
EDSIGHT_TOKENS: frozenset[str] = frozenset({"*", "N/A"})

_EXCEL_TEXT = re.compile(r'^="(.*)"$', re.S)
_SPACES = re.compile(r"\s+")
_YEAR_LABEL = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})(?![0-9])")
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


def to_number(
    df: pd.DataFrame,
    column: str,
    display: str,
    report: SourceReport,
    *,
    lo: float | None = None,
    hi: float | None = None,
    tokens: frozenset[str] = SUPPRESSION_TOKENS,
    label: str | None = None,
    whole: bool = False,
) -> pd.Series:
    """Parse a string column to float; suppression tokens become NaN and are counted.

    Parameters
    ----------
    df
        Frame with a ``_line`` column (line numbers for error messages).
    column
        Column to parse.
    display
        File name for errors.
    report
        Where suppressed cells are counted (under ``label`` or ``column``).
    lo, hi
        Inclusive bounds; a value outside raises.
    tokens
        Cell values meaning "suppressed or not available".
    label
        Column name to use in errors and the report (defaults to ``column``).
    whole
        The column holds counts: a value with a fractional part raises.

    Raises
    ------
    RawDataError
        On a non-numeric or non-finite value (``Inf``, ``NaN``), a decimal comma (``63,6``), a value out
        of bounds or (with ``whole``) a fractional count, naming the line and column.
    """
    name = label or column
    # Plain Python strings: iterating pandas' Arrow-backed strings cell by cell is several times slower.
    raw = df[column].to_numpy(dtype=object)
    # Columns repeat a few values (counts, percents, ids): clean and parse each distinct cell once.
    index, distinct = pd.factorize(raw)
    if len(index) and index.min() < 0:  # a missing cell (None or NaN): no shortcut
        index, distinct = None, raw
    cells = _clean_cells(distinct.tolist())
    flags = list(map(tokens.__contains__, cells))
    suppressed = np.array(flags, dtype=bool)
    values = _plain_floats(cells, flags, suppressed)
    if index is not None:
        suppressed = suppressed[index]
        values = values[index] if values is not None else None
    if (values is None or (lo is not None and bool((values < lo).any()))
            or (hi is not None and bool((values > hi).any()))):
        # Anything unusual (and every error) goes through pandas' parser, as it always did.
        if index is not None:
            cells = [cells[k] for k in index.tolist()]
        values = _parse_numbers(cells, suppressed, df, display, name, lo, hi)
    report.suppress(name, int(suppressed.sum()))
    out = pd.Series(values, index=df.index, copy=False)
    if whole:
        check_whole(out, df["_line"], display, name)
    return out


def to_numbers(
    df: pd.DataFrame,
    columns: Sequence[str],
    display: str,
    report: SourceReport,
    *,
    lo: float | None = None,
    hi: float | None = None,
    tokens: frozenset[str] = SUPPRESSION_TOKENS,
    labels: Sequence[str | None] | None = None,
    whole: bool = False,
) -> np.ndarray:
    """:func:`to_number` over several columns that share bounds and tokens: float64, rows x columns.

    The same as calling :func:`to_number` column by column in the given order (``labels[k]`` for
    ``columns[k]``): the same values, the same suppressed counts, and on bad input the same first error.
    Each distinct cell of all the columns is cleaned and parsed once.
    """
    labels = list(labels) if labels is not None else [None] * len(columns)
    if len(labels) != len(columns):
        raise ValueError("one label per column")
    n = len(df)
    values = None
    if columns and all(c in df.columns for c in columns):
        index, distinct = pd.factorize(np.concatenate([df[c].to_numpy(dtype=object) for c in columns]))
        if not len(index) or index.min() >= 0:
            cells = _clean_cells(distinct.tolist())
            flags = list(map(tokens.__contains__, cells))
            suppressed = np.array(flags, dtype=bool)
            parsed = _plain_floats(cells, flags, suppressed)
            if not (parsed is None or (lo is not None and bool((parsed < lo).any()))
                    or (hi is not None and bool((parsed > hi).any()))):
                values = parsed[index].reshape(len(columns), n)
                counts = suppressed[index].reshape(len(columns), n).sum(axis=1)
    if values is None:
        # Something to report (or unusual cells): column by column, exactly as to_number does.
        parts = [to_number(df, c, display, report, lo=lo, hi=hi, tokens=tokens, label=lab,
                           whole=whole).to_numpy()
                 for c, lab in zip(columns, labels, strict=True)]
        return np.column_stack(parts) if parts else np.empty((n, 0))
    if whole:
        fractional = ~np.isnan(values) & (values != np.round(values))
        if fractional.any():
            k, i = (int(v[0]) for v in np.nonzero(fractional))
            raise RawDataError(display, f"count {values[k, i]} is not a whole number",
                               row=int(df["_line"].iloc[i]), column=labels[k] or columns[k])
    for c, lab, k in zip(columns, labels, counts.tolist(), strict=True):
        report.suppress(lab or c, int(k))
    return values.T


def _clean_cells(raw: list) -> list[str]:
    """Cells stripped and Excel-unquoted; a cell that is not a string (missing) becomes empty."""
    try:
        cells = list(map(str.strip, raw))
    except TypeError:
        cells = [v.strip() if isinstance(v, str) else "" for v in raw]
    if '="' in "\x00".join(cells):
        cells = [unquote_excel(c) for c in cells]
    return cells


#: Characters of a plain decimal number (and the separator used to check many at once).
_PLAIN_NUMBER = re.compile(r"[0-9.+\-\x00]*")

#: Longest plain number parsed by ``float``: at most 15 digits, so every value and power of ten involved
#: is exact and ``float`` and pandas' parser both return the correctly rounded double.
_PLAIN_NUMBER_MAX_LEN = 15


def _plain_floats(cells: list[str], flags: list[bool], suppressed: np.ndarray) -> np.ndarray | None:
    """float64 values of the unsuppressed cells (NaN where suppressed), or None if any cell is unusual.

    A fast path for :func:`to_number`: it only accepts short plain decimals (digits, a sign and a point,
    after removing ``,`` and ``$``), for which Arrow's cast (like ``float``) gives the same double as
    ``pandas.to_numeric``; anything it rejects is left to ``to_numeric``.
    A negative zero is left to ``to_numeric`` too (it returns +0.0 for an all-integer column).
    """
    any_suppressed = any(flags)
    texts = list(compress(cells, map(operator.not_, flags))) if any_suppressed else cells
    joined = "\x00".join(texts)
    if "," in joined or "$" in joined:
        if "," in joined and not all(_GROUPED.fullmatch(c) for c in texts if "," in c):
            return None  # a comma that is not a thousands separator: to_numeric's path raises
        texts = [c.replace(",", "").replace("$", "") for c in texts]
        joined = "\x00".join(texts)
    if _PLAIN_NUMBER.fullmatch(joined) is None:
        return None
    if texts and max(map(len, texts)) > _PLAIN_NUMBER_MAX_LEN:
        return None
    try:
        # Arrow's parser accepts the same plain decimals as float and returns the same (correctly
        # rounded) doubles, several times faster.
        parsed = pc.cast(pa.array(texts, type=pa.string()), pa.float64()).to_numpy(
            zero_copy_only=False, writable=True)
    except pa.ArrowInvalid:
        return None
    if ((parsed == 0) & np.signbit(parsed)).any():
        return None
    if not any_suppressed:
        return parsed
    values = np.full(len(cells), np.nan)
    values[~suppressed] = parsed
    return values


def _parse_numbers(
    cells: list[str],
    suppressed: np.ndarray,
    df: pd.DataFrame,
    display: str,
    name: str,
    lo: float | None,
    hi: float | None,
) -> np.ndarray:
    """:func:`to_number`'s parse with ``pandas.to_numeric``: raise on a bad cell or a value out of bounds."""
    cleaned = [None if s else _number_text(c) for c, s in zip(cells, suppressed.tolist(), strict=True)]
    values = pd.to_numeric(np.array(cleaned, dtype=object) if cleaned else np.empty(0, dtype=object),
                           errors="coerce")
    bad = (pd.isna(values) | ~np.isfinite(values)) & ~suppressed
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RawDataError(
            display, f"not a number: {_excerpt(cells[i])}{_number_hint(cells[i])}",
            row=int(df["_line"].iloc[i]), column=name
        )
    for bound, word in ((lo, "below"), (hi, "above")):
        if bound is None:
            continue
        test = values < bound if word == "below" else values > bound
        if test.any():
            i = int(np.flatnonzero(test)[0])
            raise RawDataError(
                display, f"value {values[i]} is {word} the allowed {bound}",
                row=int(df["_line"].iloc[i]), column=name,
            )
    return values.astype("float64")


#: A number as the exports print it: ASCII digits, an optional sign, point and exponent; commas only as
#: thousands separators between groups of exactly three digits ("1,234,567"; never "63,6"), an optional
#: leading "$". Non-finite spellings (Inf, NaN) and other scripts' digits ("2013\u00b9") are not numbers.
_NUMBER = re.compile(r"[+-]?\$?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"
                     r"|[+-]?\$?\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_GROUPED = re.compile(r"[+-]?\$?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


def _number_text(cell: str) -> str | None:
    """The cell without thousands separators and ``$`` if it is a number as defined by ``_NUMBER``."""
    if _NUMBER.fullmatch(cell) is None:
        return None
    return cell.replace(",", "").replace("$", "")


def _number_hint(cell: str) -> str:
    """Why a cell that looks almost numeric is refused (empty if nothing specific)."""
    if re.fullmatch(r"[+-]?[0-9]*,[0-9]+", cell):
        return " (a decimal comma? thousands separators must separate groups of three digits)"
    if re.fullmatch(r"[+-]?(inf(inity)?|nan)", cell, re.IGNORECASE):
        return " (not a finite number)"
    if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in cell):
        return " (a character that is a digit but not 0-9, e.g. a superscript)"
    return ""


#: Longest cell excerpt quoted in an error message (a damaged row can hold a whole file in one cell).
EXCERPT_CHARS = 60


def _excerpt(cell: str) -> str:
    """``repr`` of a cell, shortened to :data:`EXCERPT_CHARS` characters."""
    if len(cell) <= EXCERPT_CHARS:
        return repr(cell)
    return repr(cell[:EXCERPT_CHARS]) + f"... ({len(cell)} characters)"


def ascii_int(text: str, display: str, line: int | None, column: str) -> int:
    """``int`` of a cell of ASCII digits; raise naming file, row and column otherwise (``'2013\u00b9'``)."""
    value = unquote_excel(str(text))
    if not (value.isascii() and value.isdigit()):
        raise RawDataError(display, f"not an integer: {_excerpt(value)}{_number_hint(value)}",
                           row=line, column=column)
    return int(value)


def parse_code(value: str, display: str, line: int, column: str) -> str:
    """Return a 7-digit CSDE code from ``="0640011"``, ``640011`` or ``0640011``; raise otherwise."""
    v = unquote_excel(str(value))
    if v.endswith(".0"):
        v = v[:-2]
    if not (v.isascii() and v.isdigit()) or len(v) > 7:
        raise RawDataError(display, f"not a 7-digit district code: {_excerpt(str(value))}", row=line,
                           column=column)
    v = v.zfill(7)
    if v[-2:] not in ENTITY_TYPES:
        raise RawDataError(
            display, f"district code {v} has an unknown entity suffix {v[-2:]!r}", row=line, column=column
        )
    return v


def entity_type(code: str) -> str:
    """Entity type of a 7-digit district code (see :data:`ENTITY_TYPES`)."""
    return ENTITY_TYPES[code[-2:]]


def town_district_code(town_code: int) -> str:
    """The local (town) district code of a town: 3-digit town code + ``0011``."""
    if not 1 <= int(town_code) <= 169:
        raise ValueError(f"town code {town_code} outside 1-169")
    return f"{int(town_code):03d}0011"


def spring_year(
    label: str, display: str, line: int | None = None, column: str | None = None, *, exact: bool = False
) -> int:
    """Spring year of a school-year label: ``'2012-13'`` -> 2013. Raises if no label is found.

    With ``exact`` the whole label must be the school year (a cell, not a title): ``'2012-13\u00b9'``
    raises. Errors name ``line`` and ``column`` when given.
    """
    match = _YEAR_LABEL.fullmatch(label.strip()) if exact else _YEAR_LABEL.search(label)
    if not match:
        raise RawDataError(display, f"no school year like 2012-13 in {_excerpt(label)}{_number_hint(label)}",
                           row=line, column=column)
    start, end2 = int(match.group(1)), int(match.group(2))
    if (start + 1) % 100 != end2:
        raise RawDataError(display, f"inconsistent school year {match.group(0)!r}", row=line, column=column)
    return start + 1


def check_year_coverage(
    years: Sequence[int],
    lines: Sequence[int],
    display: str,
    column: str,
    *,
    entities: Sequence[object] | None = None,
    known_gaps: Iterable[int] = (),
    min_share: float = 0.5,
    every_year: Iterable[object] | None = None,
) -> None:
    """Raise if a keyed file's years do not cover what the file promises.

    A file keyed by year (one row per entity and year) covers a run of years. Three checks catch a
    mistyped year (2003 for 2013) and rows lost from a year:

    - every year has at least ``min_share`` of the median year's rows (a stray year has a handful);
    - the years form an unbroken run, apart from ``known_gaps`` (years the source is known to lack);
    - with ``entities``, each entity has a row in every year between its first and its last;
    - with ``every_year`` (and ``entities``), each year has a row for each of these entities.

    Errors name the first row of the offending year (or entity) and ``column``, the file's own label of
    the year column.
    """
    ys = np.asarray(years, dtype=np.int64)
    if not len(ys):
        return
    ln = np.asarray(lines, dtype=np.int64)
    distinct, first, counts = np.unique(ys, return_index=True, return_counts=True)
    median = float(np.median(counts))
    for y, i, k in zip(distinct.tolist(), first.tolist(), counts.tolist(), strict=True):
        if k < min_share * median:
            raise RawDataError(
                display, f"year {y} has {k} row(s) where the file's years have a median of {median:g}: "
                "a mistyped year, or rows lost?", row=int(ln[i]), column=column,
            )
    gaps = sorted(set(range(int(distinct[0]), int(distinct[-1]) + 1)) - set(distinct.tolist())
                  - set(known_gaps))
    if gaps:
        after = int(distinct[np.searchsorted(distinct, gaps[0])])
        i = int(first[np.searchsorted(distinct, after)])
        raise RawDataError(
            display, f"no rows for year {gaps[0]} though the file covers {distinct[0]}-{distinct[-1]}",
            row=int(ln[i]), column=column,
        )
    if entities is None:
        return
    frame = pd.DataFrame({"e": list(entities), "y": ys, "line": ln})
    if every_year is not None:
        wanted = set(every_year)
        for y, i in zip(distinct.tolist(), first.tolist(), strict=True):
            absent = sorted(wanted - set(frame.loc[frame["y"] == y, "e"].tolist()))
            if absent:
                raise RawDataError(
                    display, f"year {y} has no row for {absent[:5]} ({len(absent)} missing; every year must "
                    f"list all {len(wanted)}): rows lost or a mistyped year?", row=int(ln[i]), column=column,
                )
    span = frame.groupby("e", sort=True)["y"].agg(["min", "max", "nunique"])
    expected = span["max"] - span["min"] + 1 - span.apply(
        lambda r: sum(r["min"] < g < r["max"] for g in known_gaps), axis=1) if len(span) else span["max"]
    short = span.index[(span["nunique"] < expected).to_numpy()]
    if len(short):
        entity = short[0]
        have = set(frame.loc[frame["e"] == entity, "y"].tolist())
        lo, hi = int(span.loc[entity, "min"]), int(span.loc[entity, "max"])
        missing = [y for y in range(lo, hi + 1) if y not in have and y not in set(known_gaps)]
        later = frame[(frame["e"] == entity) & (frame["y"] > missing[0])]
        raise RawDataError(
            display, f"{entity} has no row for year {missing[0]} though it has rows for {lo}-{hi}: "
            "a mistyped year?", row=int(later["line"].iloc[0]), column=column,
        )


def year_span(years: Iterable[int]) -> str:
    """Compact text for a set of years: ``2006-2011, 2015-2019``."""
    ys = sorted({int(y) for y in years})
    if not ys:
        return ""
    spans, start, prev = [], ys[0], ys[0]
    for y in ys[1:]:
        if y != prev + 1:
            spans.append(f"{start}-{prev}" if start != prev else str(start))
            start = y
        prev = y
    spans.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(spans)


def year_from_path(path: str) -> int:
    """Spring year from a registry path such as ``...__2012-13_all-students.csv`` -> 2013."""
    return spring_year(Path(path).name, path)


def check_unique(df: pd.DataFrame, keys: Sequence[str], display: str) -> None:
    """Raise naming the first duplicate key (and its line when ``_line`` is present)."""
    dup = df.duplicated(list(keys), keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        key = {k: df[k].iloc[i] for k in keys}
        line = int(df["_line"].iloc[i]) if "_line" in df.columns else None
        raise RawDataError(display, f"duplicate row for {key}", row=line, column=keys[0])


def header_line_of(table: RawTable, path: Path, display: str) -> int:
    """Line of the header row: just above the first data row, or the file's last line if none follow."""
    if table.lines:
        return table.lines[0] - 1
    return max(len(decode(path, display).splitlines()), 1)


def check_complete(path: Path, display: str, last_line: int, column: str | None = None) -> None:
    """Raise if the file does not end with a line break (a download or copy cut mid-row)."""
    if not path.read_bytes().endswith(b"\n"):
        raise RawDataError(display, "file ends without a line break: the last row looks cut off",
                           row=last_line, column=column)


def check_export_end(table: RawTable, path: Path, display: str, column: str | None = None) -> None:
    """Raise if an export does not end the way a whole export ends (errors name ``column``, by default
    the last one, where a cut row ends).

    Every file must end with a line break (else the last row was cut mid-row). An EdSight export whose
    title block is separated from the header by an empty line (EdSight's own writer) also ends with an
    empty line after its last row (every such file in the registry does); a file cut at a line boundary
    has lost it.
    """
    last_line = table.lines[-1] if table.lines else table.header_line
    column = column or (table.columns[-1] if table.columns else None)
    check_complete(path, display, last_line, column)
    if table.title and table.empty_separator and not table.ends_blank:
        raise RawDataError(
            display, "the export has a title block but does not end with the empty line EdSight exports "
            "end with: the file looks cut short at a line boundary", row=last_line, column=column,
        )


#: Drop reasons of :func:`classify_rows`.
BLANK_LINE = "blank line"
NOTE_LINE = "note line (text in the first cell only)"


def classify_rows(
    rows: Sequence[Sequence[str]],
    lines: Sequence[int],
    display: str,
    report: SourceReport,
    labels: Sequence[str],
    *,
    is_name: Callable[[str], bool] | None = None,
) -> list[int]:
    """Positions of the data rows; blank lines and trailing note lines are counted as dropped.

    A note line has text in its first cell only. Notes are told from damaged data rows by position and
    shape: notes follow the data (a footnote block), so a first-cell-only row with data rows after it is
    a damaged data row, as is one whose text is a district name (``is_name``). Both raise naming the row
    and the first blank column, never drop silently.
    """
    kept: list[int] = []
    notes: list[int] = []
    n_blank = 0
    for i, row in enumerate(rows):
        if not any(row):
            n_blank += 1
        elif row[0] and not any(row[1:]):
            if is_name is not None and is_name(row[0]):
                raise RawDataError(
                    display, f"{_excerpt(row[0])} names a district but every other cell is blank: a damaged "
                    "data row", row=int(lines[i]), column=labels[1] if len(labels) > 1 else None,
                )
            notes.append(i)
        else:
            if notes:
                j = notes[0]
                raise RawDataError(
                    display, f"a row with text in its first cell only ({_excerpt(rows[j][0])}) comes before "
                    f"data rows (next at row {lines[i]}): a damaged data row, not a note",
                    row=int(lines[j]), column=labels[1] if len(labels) > 1 else None,
                )
            kept.append(i)
    report.drop(BLANK_LINE, n_blank)
    report.drop(NOTE_LINE, len(notes))
    return kept


def first_true(mask: pd.Series) -> int:
    """Position of the first True in a boolean Series (which must have one)."""
    return int(np.flatnonzero(mask.to_numpy())[0])


def refuse_first(df: pd.DataFrame, mask: pd.Series, display: str, column: str,
                 message: Callable[[int], str]) -> None:
    """Raise for the first row where ``mask`` is True, naming its file line and ``column``; else return.

    ``df`` carries the file line of each row in ``_line``; ``message(i)`` builds the text for position ``i``.
    """
    if mask.any():
        i = first_true(mask)
        raise RawDataError(display, message(i), row=int(df["_line"].iloc[i]), column=column)


def refuse_district_rows(out: pd.DataFrame, display: str, column: str) -> None:
    """Raise at the first row of a state-total file (``out``, with ``district_code`` and ``_line``) that is
    not the state row: such a file holds the state total only, so a district row means a mislabelled file."""
    refuse_first(out, out["district_code"] != STATE_CODE, display, column,
                 lambda i: f"state-total file has a district row ({out['district_code'].iloc[i]})")


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


def load_with_state_totals(
    registry: Registry,
    family: str,
    read_file: Callable[[Path, str, SourceReport], pd.DataFrame],
    columns: Sequence[ColumnSpec],
    coverage_column: str = "District",
) -> SourceOutput:
    """Read every file of ``family`` and split the rows into districts and state totals (``0000000``).

    ``read_file(path, display, report)`` returns one file's rows with ``district_code`` and ``year``.
    Both tables are sorted and checked to be unique on their keys across all files, and each year's file
    must list the districts of the years around it (:func:`check_district_coverage`; errors name
    ``coverage_column``).
    """
    frames: list[pd.DataFrame] = []
    reports: list[SourceReport] = []
    files: dict[int, FileRows] = {}
    for entry in registry.files(family):
        report = SourceReport(family, entry.path)
        path = registry.verified_path(entry)
        frame = read_file(path, entry.path, report)
        frames.append(frame)
        reports.append(report)
        if (frame["district_code"] != STATE_CODE).any():
            files[int(frame["year"].iloc[0])] = FileRows(entry.path, line_count(path), coverage_column)
    if not frames:
        raise RawDataError("registry", f"no files registered for family {family!r}")
    rows = pd.concat(frames, ignore_index=True)
    is_state = rows["district_code"] == STATE_CODE
    district = rows[~is_state].sort_values(["district_code", "year"], ignore_index=True)
    check_unique(district, ["district_code", "year"], f"{family} (all files)")
    check_district_coverage(district, files)
    state = rows[is_state].drop(columns="district_code").sort_values("year", ignore_index=True)
    check_unique(state, ["year"], f"{family} state totals (all files)")
    return SourceOutput(family, district=district, state=state, reports=reports, columns=list(columns))


#: Districts a year's file may lack although the files of the years around it list them: closures, and
#: districts a source could not report one year. The registry's files lack at most 3 (graduation 2024;
#: SEDA 2022); a file cut short at a line boundary lacks many more.
MAX_DISTRICTS_LOST = 5


@dataclass(frozen=True)
class FileRows:
    """Where a year's district rows came from: the file, its last line and its key column's label."""

    file: str
    last_line: int
    column: str


def check_district_coverage(
    district: pd.DataFrame, files: Mapping[int, FileRows], *, tolerance: int = MAX_DISTRICTS_LOST,
    groups: Sequence[str] = (),
) -> None:
    """Raise if a year's file lacks districts that the neighbouring years' files list.

    For each year whose previous and next years are present, the districts in both neighbours but not in
    the year are counted; for the last year, the districts in both previous years. More than
    ``tolerance`` means rows were lost (a file cut at a line boundary keeps its line break). ``groups``
    are further key columns (for example the file kind) checked separately. The error names the year's
    file, its last line and key column.
    """
    if district.empty:
        return
    keyed = district.groupby(list(groups), sort=True) if groups else [((), district)]
    for _, frame in keyed:
        by_year = {int(y): set(g) for y, g in frame.groupby("year")["district_code"]}
        years = sorted(by_year)
        for k, y in enumerate(years):
            if 0 < k < len(years) - 1 and years[k - 1] == y - 1 and years[k + 1] == y + 1:
                expected = by_year[y - 1] & by_year[y + 1]
            elif k == len(years) - 1 and k >= 2 and years[k - 2] == y - 2 and years[k - 1] == y - 1:
                expected = by_year[y - 1] & by_year[y - 2]
            else:
                continue
            lost = sorted(expected - by_year[y])
            if len(lost) > tolerance and y in files:
                where = files[y]
                raise RawDataError(
                    where.file, f"{len(lost)} districts listed in the files of the years around {y} are "
                    f"missing here (for example {lost[:3]}): the file looks cut short (rows lost)",
                    row=where.last_line, column=where.column,
                )


def line_count(path: Path) -> int:
    """Number of lines of a file (its last line's number)."""
    data = path.read_bytes()
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def exact_sums(*columns: np.ndarray) -> bool:
    """True if the non-NaN values are whole numbers small enough that every sum of them is exact.

    Then any order of addition gives the same float64 sums, so a vectorized sum equals pandas' (which adds
    group members in its own order); readers fall back to pandas otherwise.
    """
    for values in columns:
        finite = values[~np.isnan(values)]
        if not (np.isfinite(finite).all() and (finite == np.round(finite)).all()
                and np.abs(finite).sum() < 2.0 ** 52):
            return False
    return True


def check_whole(values: pd.Series, lines: pd.Series, display: str, column: str) -> None:
    """Raise naming the first count that is not a whole number."""
    bad = values.notna() & (values != np.round(values))
    if bad.any():
        i = first_true(bad)
        raise RawDataError(
            display, f"count {values.iloc[i]} is not a whole number", row=int(lines.iloc[i]), column=column
        )


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

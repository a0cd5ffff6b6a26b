"""Shared parsing for the source readers: EdSight exports, suppression, codes, and the build report.

Every reader follows read -> clean -> validate and records, per raw file, how many data rows it read,
kept and dropped (by reason), and how many cells were suppressed (by column). Bad input raises
:class:`~alliance_study.errors.RawDataError` naming the file, the 1-based line and the column.
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

_EXCEL_TEXT = re.compile(r'^="(.*)"$', re.S)
_SPACES = re.compile(r"\s+")
_YEAR_LABEL = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?!\d)")

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
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RawDataError(
            display, f"not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
            "re-export the file as UTF-8", row=line
        ) from exc


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
    if records is None:
        return _read_export_stream(text, display, header_first, max_title_lines)
    accepted = {normalize_label(h) for h in header_first}
    before: list[list[str]] = []
    header: list[str] | None = None
    header_line = 0
    for index, record in enumerate(records):
        if record and normalize_label(record[0]) in accepted:
            header = record
            header_line = index + 1
            break
        before.append(record)
        if len(before) > max_title_lines:
            break
    if header is None:
        raise RawDataError(
            display,
            f"no header row starting with one of {sorted(accepted)} in the first {max_title_lines} lines",
            row=1,
        )
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
    return RawTable(file=display, columns=labels, rows=rows, lines=lines, title=title)


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


def _read_export_stream(
    text: str, display: str, header_first: Iterable[str], max_title_lines: int
) -> RawTable:
    """:func:`read_export` record by record, with ``csv.reader``'s line numbers (quoted line breaks)."""
    reader = csv.reader(io.StringIO(text))
    accepted = {normalize_label(h) for h in header_first}
    before: list[list[str]] = []
    header: list[str] | None = None
    header_line = 0
    for record in reader:
        if record and normalize_label(record[0]) in accepted:
            header = record
            header_line = reader.line_num
            break
        before.append(record)
        if len(before) > max_title_lines:
            break
    if header is None:
        raise RawDataError(
            display,
            f"no header row starting with one of {sorted(accepted)} in the first {max_title_lines} lines",
            row=1,
        )
    labels, title = _labels_and_title(header, before, header_line, display)
    width = len(labels)
    rows: list[list[str]] = []
    lines: list[int] = []
    for record in reader:
        line = reader.line_num
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
    return RawTable(file=display, columns=labels, rows=rows, lines=lines, title=title)


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

    Raises
    ------
    RawDataError
        On a non-numeric value or a value out of bounds, naming the line and column.
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
    return pd.Series(values, index=df.index, copy=False)


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
        parts = [to_number(df, c, display, report, lo=lo, hi=hi, tokens=tokens, label=lab).to_numpy()
                 for c, lab in zip(columns, labels, strict=True)]
        return np.column_stack(parts) if parts else np.empty((n, 0))
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
    cleaned = [None if s else c.replace(",", "").replace("$", "")
               for c, s in zip(cells, suppressed.tolist(), strict=True)]
    values = pd.to_numeric(np.array(cleaned, dtype=object) if cleaned else np.empty(0, dtype=object),
                           errors="coerce")
    bad = pd.isna(values) & ~suppressed
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RawDataError(
            display, f"not a number: {cells[i]!r}", row=int(df["_line"].iloc[i]), column=name
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


def parse_code(value: str, display: str, line: int, column: str) -> str:
    """Return a 7-digit CSDE code from ``="0640011"``, ``640011`` or ``0640011``; raise otherwise."""
    v = unquote_excel(str(value))
    if v.endswith(".0"):
        v = v[:-2]
    if not v.isdigit() or len(v) > 7:
        raise RawDataError(display, f"not a 7-digit district code: {value!r}", row=line, column=column)
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


def spring_year(label: str, display: str, line: int | None = None) -> int:
    """Spring year of a school-year label: ``'2012-13'`` -> 2013. Raises if no label is found."""
    match = _YEAR_LABEL.search(label)
    if not match:
        raise RawDataError(display, f"no school year like 2012-13 in {label!r}", row=line)
    start, end2 = int(match.group(1)), int(match.group(2))
    if (start + 1) % 100 != end2:
        raise RawDataError(display, f"inconsistent school year {match.group(0)!r}", row=line)
    return start + 1


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


def first_true(mask: pd.Series) -> int:
    """Position of the first True in a boolean Series (which must have one)."""
    return int(np.flatnonzero(mask.to_numpy())[0])


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
) -> SourceOutput:
    """Read every file of ``family`` and split the rows into districts and state totals (``0000000``).

    ``read_file(path, display, report)`` returns one file's rows with ``district_code`` and ``year``.
    Both tables are sorted and checked to be unique on their keys across all files.
    """
    frames: list[pd.DataFrame] = []
    reports: list[SourceReport] = []
    for entry in registry.files(family):
        report = SourceReport(family, entry.path)
        frames.append(read_file(registry.verified_path(entry), entry.path, report))
        reports.append(report)
    if not frames:
        raise RawDataError("registry", f"no files registered for family {family!r}")
    rows = pd.concat(frames, ignore_index=True)
    is_state = rows["district_code"] == STATE_CODE
    district = rows[~is_state].sort_values(["district_code", "year"], ignore_index=True)
    check_unique(district, ["district_code", "year"], f"{family} (all files)")
    state = rows[is_state].drop(columns="district_code").sort_values("year", ignore_index=True)
    check_unique(state, ["year"], f"{family} state totals (all files)")
    return SourceOutput(family, district=district, state=state, reports=reports, columns=list(columns))


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

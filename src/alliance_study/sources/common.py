"""Shared parsing for the source readers: EdSight exports, suppression, codes, and the build report.

Every reader follows read -> clean -> validate and records, per raw file, how many data rows it read,
kept and dropped (by reason), and how many cells were suppressed (by column). Bad input raises
:class:`~alliance_study.errors.RawDataError` naming the file, the 1-based line and the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RawDataError

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
    match = _EXCEL_TEXT.match(value)
    return match.group(1).strip() if match else value


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
    text = decode(path, display)
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
    cells = [unquote_excel(v) if isinstance(v, str) else "" for v in df[column].to_numpy(dtype=object)]
    raw = pd.Series(cells, index=df.index, dtype=object)
    suppressed = pd.Series([c in tokens for c in cells], index=df.index, dtype=bool)
    cleaned = [None if s else c.replace(",", "").replace("$", "")
               for c, s in zip(cells, suppressed, strict=True)]
    values = pd.to_numeric(pd.Series(cleaned, index=df.index, dtype=object), errors="coerce")
    bad = values.isna() & ~suppressed
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RawDataError(
            display, f"not a number: {raw.iloc[i]!r}", row=int(df["_line"].iloc[i]), column=name
        )
    for bound, test, word in ((lo, values < lo if lo is not None else None, "below"),
                              (hi, values > hi if hi is not None else None, "above")):
        if bound is not None and test is not None and test.any():
            i = int(np.flatnonzero(test.fillna(False).to_numpy())[0])
            raise RawDataError(
                display, f"value {values.iloc[i]} is {word} the allowed {bound}",
                row=int(df["_line"].iloc[i]), column=name,
            )
    report.suppress(name, int(suppressed.sum()))
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

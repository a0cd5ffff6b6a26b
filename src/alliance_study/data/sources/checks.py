"""Shape and coverage checks of the source readers: is a file whole, and does a family cover what it should?

Within a file: the export ends as a whole export ends (:func:`check_export_end`), blank and note lines are
told from damaged data rows (:func:`classify_rows`), keys are unique (:func:`check_unique`), the years run
without gaps (:func:`check_year_coverage`), and a reader's own row checks raise at the first bad row
(:func:`refuse_first`, :func:`refuse_district_rows`). Across a family's files: each year's file lists the
districts of the years around it (:func:`check_district_coverage`), as :func:`load_with_state_totals`
checks for the families that mix district rows and state totals. Errors name the file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from alliance_study.data.sources.common import (
    ColumnSpec,
    RawTable,
    SourceOutput,
    SourceReport,
    decode,
    excerpt,
    line_count,
)
from alliance_study.data.sources.keys import STATE_CODE
from alliance_study.errors import RawDataError

if TYPE_CHECKING:
    from alliance_study.data.registry import Registry


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
                    display, f"{excerpt(row[0])} names a district but every other cell is blank: a damaged "
                    "data row", row=int(lines[i]), column=labels[1] if len(labels) > 1 else None,
                )
            notes.append(i)
        else:
            if notes:
                j = notes[0]
                raise RawDataError(
                    display, f"a row with text in its first cell only ({excerpt(rows[j][0])}) comes before "
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


def check_unique(df: pd.DataFrame, keys: Sequence[str], display: str) -> None:
    """Raise naming the first duplicate key (and its line when ``_line`` is present)."""
    dup = df.duplicated(list(keys), keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        key = {k: df[k].iloc[i] for k in keys}
        line = int(df["_line"].iloc[i]) if "_line" in df.columns else None
        raise RawDataError(display, f"duplicate row for {key}", row=line, column=keys[0])


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

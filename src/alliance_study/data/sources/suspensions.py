"""Suspension rates: number and percent of students with at least one suspension or expulsion, by district.

Sources (registry family ``suspensions``): CT-Data-Collaborative ``suspension-rates__YYYY-YY_.csv``
(2010-2020), raw EdSight exports with no title lines: the header ``"District","District Code","Count","%"``,
the data and a trailing blank line; and ``suspension-rates__YYYY-YY__ct.csv``, the state total, whose code
column is labelled ``Organization Code`` and whose single row is ``"State"`` with code ``="0000000"``.

``Count`` is the number of students with at least one in-school suspension, out-of-school suspension
or expulsion; ``%`` is that count as a percent of enrolled students. Suppression: ``*`` (small cell) and
``N/A`` (not available; mostly very small districts; kept as NaN, not
zero). 2020 (school year 2019-20) is distorted by the COVID-19 school closures from March 2020.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import (
    check_export_end,
    check_unique,
    load_with_state_totals,
    refuse_district_rows,
    refuse_first,
)
from alliance_study.data.sources.common import (
    ColumnSpec,
    SourceOutput,
    SourceReport,
    apply_column_map,
    read_export,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import parse_code, year_from_path
from alliance_study.data.sources.numbers import EDSIGHT_TOKENS, to_number
from alliance_study.errors import RawDataError

FAMILY = "suspensions"

#: Raw label -> canonical name (district files use ``District Code``, the state files
#: ``Organization Code``).
COLUMN_MAP: dict[str, str | None] = {
    "District": "district_name",
    "District Code": "district_code",
    "Organization Code": "district_code",
    "Count": "suspension_count",
    "%": "suspension_rate",
}

#: Output measure columns, in order.
MEASURES = ["suspension_count", "suspension_rate"]


#: File-name ending of the state-total exports.
STATE_FILE_SUFFIX = "_ct.csv"

#: Where the data come from, for the data dictionary.
SOURCE = "CSDE EdSight suspension rates, all students: CT-Data-Collaborative/suspension-rates-by-all-students"

#: Caveat shared by the column descriptions.
_CAVEAT = (
    " Suppressed (*) and not-available (N/A) cells are NaN. 2020 (school year 2019-20) is distorted by the "
    "COVID-19 school closures from March 2020 and is not comparable with earlier years."
)

COLUMNS = [
    ColumnSpec(
        "suspension_count", "number", "students",
        "Students with at least one in-school suspension, out-of-school suspension or expulsion." + _CAVEAT,
        SOURCE,
    ),
    ColumnSpec(
        "suspension_rate", "number", "percent",
        "Percent of students with at least one in-school suspension, out-of-school suspension or expulsion."
        + _CAVEAT,
        SOURCE,
    ),
]

#: Raw labels of the measures, for error messages and the suppression counts.
_RAW_LABEL = {"suspension_count": "Count", "suspension_rate": "%"}


def read_suspension_file(
    path: Path,
    display: str,
    crosswalk: Crosswalk,
    report: SourceReport,
    year: int | None = None,
) -> pd.DataFrame:
    """Read one suspension-rate export (district file or state ``_ct`` file).

    Parameters
    ----------
    path
        File to read.
    display
        Name for error messages and the report (the registry path); the year is taken from it.
    crosswalk
        District master list.
    report
        Row accounting for this file; checked before returning.
    year
        Spring year; defaults to the school year in ``display`` (``2009-10`` -> 2010).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year``, ``suspension_count``, ``suspension_rate`` sorted by code; the state
        total is the row with code ``0000000``.

    Raises
    ------
    RawDataError
        On an unknown, renamed or missing column, a non-numeric or out-of-range value, a count that is
        not whole, a zero count with a non-zero rate (or the reverse), an unknown or duplicate district,
        a non-state row in a state file, a file without data rows or cut mid-row, or a file that is not
        UTF-8.
    """
    year = year_from_path(display) if year is None else int(year)
    state_file = display.endswith(STATE_FILE_SUFFIX)
    table = read_export(path, display, header_first=("District",))
    header_line = table.header_line
    code_label = "Organization Code" if state_file else "District Code"
    df = apply_column_map(table.frame(), COLUMN_MAP, display,
                          required=["district_name", "district_code", *MEASURES], header_line=header_line)
    if code_label not in table.columns:
        raise RawDataError(display, f"expected the code column to be labelled {code_label!r}",
                           row=header_line, column=code_label)

    report.rows_read += len(df)
    data_cols = [c for c in df.columns if c != "_line"]
    blank = (df[data_cols] == "").all(axis=1)
    report.drop("blank line", int(blank.sum()))
    df = df[~blank].reset_index(drop=True)
    if df.empty:
        raise RawDataError(display, "no data rows after the header", row=header_line, column=table.columns[0])
    check_export_end(table, path, display, table.columns[-1])

    codes = [
        crosswalk.check_code(parse_code(c, display, int(line), code_label), display, int(line), code_label)
        for c, line in zip(df["district_code"], df["_line"], strict=True)
    ]
    crosswalk.check_names(codes, df["district_name"].tolist(), df["_line"].tolist(), display, code_label)
    out = pd.DataFrame({"district_code": pd.Series(codes, dtype=str), "_line": df["_line"]})
    out["suspension_count"] = to_number(df, "suspension_count", display, report, lo=0.0,
                                        tokens=EDSIGHT_TOKENS, label=_RAW_LABEL["suspension_count"],
                                        whole=True)
    out["suspension_rate"] = to_number(df, "suspension_rate", display, report, lo=0.0, hi=100.0,
                                       tokens=EDSIGHT_TOKENS, label=_RAW_LABEL["suspension_rate"])
    count, rate = out["suspension_count"], out["suspension_rate"]
    # A zero count with a positive rate (or the reverse) means the columns are out of step.
    clash = ((count == 0) != (rate == 0)) & count.notna() & rate.notna()
    refuse_first(out, clash, display, _RAW_LABEL["suspension_count"],
                 lambda i: f"count {count.iloc[i]:g} and rate {rate.iloc[i]:g} disagree about zero")

    if state_file:
        refuse_district_rows(out, display, code_label)
    check_unique(out, ["district_code"], display)
    out.insert(1, "year", np.int64(year))
    out["year"] = out["year"].astype("int64")
    report.rows_kept += len(out)
    report.check()
    return out.drop(columns="_line").sort_values("district_code", ignore_index=True)


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every suspension-rate file in the registry.

    Returns
    -------
    SourceOutput
        ``district``: one row per district and year (``suspension_count``, ``suspension_rate``);
        ``state``: the state totals by year.
    """
    return load_with_state_totals(
        registry, FAMILY,
        lambda path, display, report: read_suspension_file(path, display, crosswalk, report),
        COLUMNS,
    )

"""Chronic absenteeism: percent (and, from 2019, number) of students chronically absent, by district.

Sources (registry family ``absenteeism``): CT-Data-Collaborative ``chronic-absenteeism__YYYY-YY_all-
students.csv`` (2012-2020), raw EdSight exports with two title lines, a blank line, the header, the data
and a trailing blank line; and ``..._all-students_ct.csv``, the same layout with one ``State of
Connecticut`` row under an ``Organization`` header and no code column.

Label drift: up to 2017-18 the only measure is ``% Chronically Absent``. From 2018-19 the export has a
two-row header, ``Chronically Absent`` over ``Student Count`` and ``%``, which
:func:`~alliance_study.data.sources.common.read_export` turns into ``Chronically Absent | Student Count`` and
``Chronically Absent | %``. The count is therefore NaN before 2019. Suppression: ``*``.

A student is chronically absent when absent for 10% or more of the days enrolled. The 2019-20 rate covers
a year cut short by the COVID-19 school closures (March 2020) and is not comparable with earlier years.
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
from alliance_study.data.sources.keys import parse_code, spring_year, year_from_path
from alliance_study.data.sources.numbers import EDSIGHT_TOKENS, to_number
from alliance_study.errors import RawDataError

FAMILY = "absenteeism"

#: Raw label -> canonical name for every layout seen (2012-2018 one measure; 2019-2020 two-row header
#: with a count; state files with an ``Organization`` header and no code).
COLUMN_MAP: dict[str, str | None] = {
    "District": "district_name",
    "Organization": "district_name",
    "District Code": "district_code",
    "% Chronically Absent": "chronic_absent_rate",
    "Chronically Absent | %": "chronic_absent_rate",
    "Chronically Absent | Student Count": "chronic_absent_count",
}

#: Output measure columns, in order.
MEASURES = ["chronic_absent_rate", "chronic_absent_count"]

#: First spring year (2018-19) whose export has the ``Student Count`` column.
FIRST_COUNT_YEAR = 2019

#: File-name ending of the state-total exports.
STATE_FILE_SUFFIX = "_ct.csv"

#: Where the data come from, for the data dictionary.
SOURCE = (
    "CSDE EdSight chronic absenteeism, all students: "
    "CT-Data-Collaborative/chronic-absenteeism-by-all-students"
)

#: Caveat shared by the column descriptions.
_CAVEAT = (
    " 2020 (school year 2019-20) was cut short by the COVID-19 school closures in March 2020 and is not "
    "comparable with earlier years."
)

COLUMNS = [
    ColumnSpec(
        "chronic_absent_rate", "number", "percent",
        "Percent of students chronically absent (absent 10% or more of the days enrolled)." + _CAVEAT,
        SOURCE,
    ),
    ColumnSpec(
        "chronic_absent_count", "number", "students",
        "Number of students chronically absent; published from 2019 only (NaN before)." + _CAVEAT,
        SOURCE,
    ),
]


def read_absenteeism_file(
    path: Path,
    display: str,
    crosswalk: Crosswalk,
    report: SourceReport,
    year: int | None = None,
) -> pd.DataFrame:
    """Read one chronic-absenteeism export (district file or state ``_ct`` file).

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
        Spring year; defaults to the school year in ``display`` (``2011-12`` -> 2012).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year``, ``chronic_absent_rate``, ``chronic_absent_count`` sorted by code;
        the state total is the row with code ``0000000``.

    Raises
    ------
    RawDataError
        On an unknown, renamed or missing column, a non-numeric or out-of-range value, a count that is
        not whole, a zero count with a non-zero rate (or the reverse), an unknown district, a duplicate
        district, a year that disagrees with the file name, a non-state row in a state file, a file
        without data rows or cut mid-row, or a file that is not UTF-8.
    """
    year = year_from_path(display) if year is None else int(year)
    state_file = display.endswith(STATE_FILE_SUFFIX)
    table = read_export(path, display, header_first=("District", "Organization"))
    header_line = table.header_line
    required = ["district_name", "chronic_absent_rate"]
    if not state_file:
        required.append("district_code")
    if year >= FIRST_COUNT_YEAR:
        required.append("chronic_absent_count")
    df = apply_column_map(table.frame(), COLUMN_MAP, display, required=required, header_line=header_line)
    if table.title:
        # The title names the school year; it must agree with the file name.
        title_year = spring_year(table.title[0], display, 1)
        if title_year != year:
            raise RawDataError(display, f"title says {title_year}, file name says {year}", row=1)

    report.rows_read += len(df)
    data_cols = [c for c in df.columns if c != "_line"]
    blank = (df[data_cols] == "").all(axis=1)
    report.drop("blank line", int(blank.sum()))
    df = df[~blank].reset_index(drop=True)
    if df.empty:
        raise RawDataError(display, "no data rows after the header", row=header_line, column=table.columns[0])
    check_export_end(table, path, display, table.columns[-1])

    if "district_code" in df.columns:
        codes = [
            crosswalk.check_code(parse_code(c, display, int(line), "District Code"), display, int(line),
                                 "District Code")
            for c, line in zip(df["district_code"], df["_line"], strict=True)
        ]
        crosswalk.check_names(codes, df["district_name"].tolist(), df["_line"].tolist(), display,
                              "District Code")
    else:
        codes = list(crosswalk.codes_for_names(df["district_name"], df["_line"], display, table.columns[0]))
    out = pd.DataFrame({"district_code": pd.Series(codes, dtype=str), "_line": df["_line"]})
    rate_label = "Chronically Absent | %" if "chronic_absent_count" in df.columns else "% Chronically Absent"
    out["chronic_absent_rate"] = to_number(df, "chronic_absent_rate", display, report, lo=0.0, hi=100.0,
                                           tokens=EDSIGHT_TOKENS, label=rate_label)
    if "chronic_absent_count" in df.columns:
        count_label = "Chronically Absent | Student Count"
        count = to_number(df, "chronic_absent_count", display, report, lo=0.0, tokens=EDSIGHT_TOKENS,
                          label=count_label, whole=True)
        # A zero count with a positive rate (or the reverse) means the columns are out of step.
        clash = (count == 0) != (out["chronic_absent_rate"] == 0)
        clash &= count.notna() & out["chronic_absent_rate"].notna()
        refuse_first(df, clash, display, count_label,
                     lambda i: f"count {count.iloc[i]:g} and rate {out['chronic_absent_rate'].iloc[i]:g} "
                               "disagree about zero")
        out["chronic_absent_count"] = count
    else:
        out["chronic_absent_count"] = np.nan

    if state_file:
        refuse_district_rows(out, display, table.columns[0])
    check_unique(out, ["district_code"], display)
    out.insert(1, "year", np.int64(year))
    out["year"] = out["year"].astype("int64")
    out["chronic_absent_count"] = out["chronic_absent_count"].astype("float64")
    report.rows_kept += len(out)
    report.check()
    return out.drop(columns="_line").sort_values("district_code", ignore_index=True)


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every chronic-absenteeism file in the registry.

    Returns
    -------
    SourceOutput
        ``district``: one row per district and year (``chronic_absent_rate``, ``chronic_absent_count``);
        ``state``: the state totals by year.
    """
    return load_with_state_totals(
        registry, FAMILY,
        lambda path, display, report: read_absenteeism_file(path, display, crosswalk, report),
        COLUMNS,
    )

"""Four-year cohort graduation: cohort size, graduates and rate by district and year.

Sources (registry family ``graduation``):

- CT-Data-Collaborative ``four-year-graduation-rates__YYYY-YY_all-students_grad.csv`` (2011-2019), raw
  EdSight exports: two title lines, a blank line, a group header (``Graduates`` over the count and the
  rate), the header, the data and one trailing blank line. 2010-11 to 2014-15 carry district names only;
  from 2015-16 on a ``District Code`` column (``="0640011"``) is added. Suppression: ``*``.
- ``..._grad_ct.csv``: the same layout with one ``State of Connecticut`` row (the state totals).
- edbot317-source ``grad-2019-20.csv``, ``grad-2022-23.csv``, ``grad-2023-24.csv``: verified
  transcriptions of later EdSight exports as plain CSV (``District,fiscal_year,cohort_count,
  graduation_count,graduation_rate``), names only, suppressed cells left blank. They hold no state row,
  so there are no state totals for 2020, 2023 and 2024 (none are computed; a state row would be used).
- edbot317-source ``grad-2020-21.csv``, ``grad-2021-22.csv``, ``grad-2024-25.csv``: the same transcription
  layout, but these copies keep the export's trailing free-text Notes row: one long quoted cell in the
  ``District`` column (the export title, ``Notes:`` and the whole table flattened), the fiscal year, and
  blank measures. It is recognised by :func:`is_notes_row`, must be the last row, and is counted as
  dropped (:data:`DROP_NOTES`); a Notes-like row anywhere else raises.

Norwich and Winchester have no public high school of their own: their students attend the endowed
academies, and their graduates are reported under Norwich Free Academy (9010022) and The Gilbert School
(9020022). Those rows are kept under the academies' codes, not reassigned to the towns, because the
academies also enrol students from neighbouring towns. (``Norwich School District`` itself appears only
in 2011 and 2012, with cohorts under 100 and rates near 23%; those rows are kept as reported.)

Every row is checked for internal consistency: counts are whole and non-negative, graduates do not exceed
the cohort, and the rate agrees with ``100 * graduates / cohort`` within :data:`RATE_TOLERANCE`.
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
from alliance_study.data.sources.numbers import EDSIGHT_TOKENS, check_whole, to_number
from alliance_study.errors import RawDataError

FAMILY = "graduation"

#: Raw label -> canonical name, for every layout seen (EdSight 2011-2015 without codes, 2016-2019 with
#: codes, the state ``_ct`` files, and the edbot317 transcriptions). The EdSight group header
#: ``Graduates`` is prefixed by :func:`~alliance_study.data.sources.common.read_export`.
COLUMN_MAP: dict[str, str | None] = {
    "District": "district_name",
    "District Code": "district_code",
    "Four-Year Cohort Count": "grad_cohort",
    "Graduates | Graduation Count": "grad_count",
    "Graduates | Graduation Rate": "grad_rate",
    "fiscal_year": "fiscal_year",
    "cohort_count": "grad_cohort",
    "graduation_count": "grad_count",
    "graduation_rate": "grad_rate",
}

#: Output measure columns, in order.
MEASURES = ["grad_cohort", "grad_count", "grad_rate"]

#: First spring year whose EdSight export carries a ``District Code`` column (2015-16); earlier exports
#: have names only and are mapped through the crosswalk.
FIRST_CODED_YEAR = 2016

#: Raw label of each measure, by layout, for error messages and the suppression counts.
EDSIGHT_LABELS = {
    "grad_cohort": "Four-Year Cohort Count",
    "grad_count": "Graduates | Graduation Count",
    "grad_rate": "Graduates | Graduation Rate",
}
TRANSCRIBED_LABELS = {"grad_cohort": "cohort_count", "grad_count": "graduation_count",
                      "grad_rate": "graduation_rate"}


#: The edbot317 transcriptions leave suppressed cells blank (shared/data/MANIFEST.csv notes).
TRANSCRIBED_TOKENS = frozenset({""})

#: Largest allowed gap, in percentage points, between the published rate and 100 * graduates / cohort:
#: the rate is published to one decimal (rounding error up to 0.05) plus a margin for EdSight's own
#: rounding of the cohort adjustments.
RATE_TOLERANCE = 0.15

#: Start of the trailing free-text Notes row's District cell (the export title) and the word it contains
#: (grad-2020-21, grad-2021-22, grad-2024-25; shared/data/MANIFEST.csv notes).
NOTES_TITLE = "Four-Year Graduation Rates"
NOTES_MARK = "Notes:"

#: Drop reason for the trailing Notes row.
DROP_NOTES = "export notes row (free text after the table)"

#: File-name ending of the state-total exports.
STATE_FILE_SUFFIX = "_ct.csv"

#: Where the data come from, for the data dictionary.
SOURCE = (
    "CSDE EdSight four-year graduation rates, all students: CT-Data-Collaborative/"
    "four-year-grad-rates-by-all-students (2011-2019); edbot317-source/public-CT-ed-data transcriptions "
    "(2020-2025)"
)

#: Caveat shared by the column descriptions.
_CAVEAT = (
    " Norwich and Winchester graduates are reported under Norwich Free Academy (9010022) and The Gilbert "
    "School (9020022). The class of 2020 finished during the COVID-19 school closures."
)

COLUMNS = [
    ColumnSpec(
        "grad_cohort", "number", "students",
        "Four-year adjusted cohort: students who entered grade 9 four years earlier, adjusted for transfers."
        + _CAVEAT,
        SOURCE,
    ),
    ColumnSpec(
        "grad_count", "number", "students",
        "Cohort members who graduated with a regular diploma within four years." + _CAVEAT,
        SOURCE,
    ),
    ColumnSpec(
        "grad_rate", "number", "percent",
        "Four-year cohort graduation rate (graduates / cohort, percent, as published)." + _CAVEAT,
        SOURCE,
    ),
]

def is_notes_row(name: str, measures: list[str]) -> bool:
    """True for the export's free-text Notes row: the title and ``Notes:`` in the name cell, no measures."""
    return name.startswith(NOTES_TITLE) and NOTES_MARK in name and not any(m.strip() for m in measures)


def _drop_notes_row(df: pd.DataFrame, display: str, report: SourceReport) -> pd.DataFrame:
    """Drop the trailing Notes row (counted); raise on a Notes-like row that is not the last row."""
    names = df["district_name"].astype(str).tolist()
    notes = [i for i, name in enumerate(names)
             if is_notes_row(name, [str(df[c].iloc[i]) for c in MEASURES])]
    if not notes:
        return df
    last = len(df) - 1
    for i in notes:
        if i != last:
            raise RawDataError(display, "export notes row is not the last row of the file",
                               row=int(df["_line"].iloc[i]), column="District")
    report.drop(DROP_NOTES)
    return df.iloc[:last].reset_index(drop=True)


def read_grad_file(
    path: Path,
    display: str,
    crosswalk: Crosswalk,
    report: SourceReport,
    year: int | None = None,
) -> pd.DataFrame:
    """Read one graduation file (EdSight export, state total or transcription).

    Parameters
    ----------
    path
        File to read.
    display
        Name for error messages and the report (the registry path); the year is taken from it.
    crosswalk
        District master list, for codes and for names in the names-only files.
    report
        Row accounting for this file; checked before returning.
    year
        Spring year; defaults to the school year in ``display`` (``2010-11`` -> 2011).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year``, ``grad_cohort``, ``grad_count``, ``grad_rate``, sorted by code. The
        state total, if the file has one, is the row with code ``0000000``.

    Raises
    ------
    RawDataError
        On an unknown, renamed or missing column, a non-numeric or out-of-range value, a count that is
        not whole, graduates above the cohort, a rate that disagrees with the counts, an unknown
        district, a duplicate district, a year that disagrees with the file name, a non-state row in a
        state file, a file without data rows or cut mid-row, or a file that is not UTF-8.
    """
    year = year_from_path(display) if year is None else int(year)
    table = read_export(path, display, header_first=("District",))
    header_line = table.header_line
    df = apply_column_map(table.frame(), COLUMN_MAP, display, required=["district_name", *MEASURES],
                          header_line=header_line)
    transcribed = "fiscal_year" in df.columns
    if not transcribed and year >= FIRST_CODED_YEAR and not display.endswith(STATE_FILE_SUFFIX):
        if "district_code" not in df.columns:
            raise RawDataError(display, f"missing column 'District Code' (present from {FIRST_CODED_YEAR})",
                               row=header_line, column="District Code")
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
    if transcribed:
        df = _drop_notes_row(df, display, report)
    if df.empty:
        raise RawDataError(display, "no data rows after the header", row=header_line, column=table.columns[0])
    check_export_end(table, path, display, table.columns[-1])

    tokens = TRANSCRIBED_TOKENS if transcribed else EDSIGHT_TOKENS
    if "district_code" in df.columns:
        codes = [
            crosswalk.check_code(parse_code(c, display, int(line), "District Code"), display, int(line),
                                 "District Code")
            for c, line in zip(df["district_code"], df["_line"], strict=True)
        ]
    else:
        codes = list(crosswalk.codes_for_names(df["district_name"], df["_line"], display, "District"))
    out = pd.DataFrame({"district_code": pd.Series(codes, dtype=str), "_line": df["_line"]})
    if transcribed:
        fy = to_number(df, "fiscal_year", display, report, tokens=frozenset())
        off = fy != year
        refuse_first(df, off, display, "fiscal_year",
                     lambda i: f"fiscal_year {fy.iloc[i]:g} but the file is for {year}")
    raw_label = TRANSCRIBED_LABELS if transcribed else EDSIGHT_LABELS
    for col in MEASURES:
        hi = 100.0 if col == "grad_rate" else None
        out[col] = to_number(df, col, display, report, lo=0.0, hi=hi, tokens=tokens, label=raw_label[col])
    for col in ("grad_cohort", "grad_count"):
        check_whole(out[col], out["_line"], display, raw_label[col])

    over = out["grad_count"] > out["grad_cohort"]
    refuse_first(out, over, display, raw_label["grad_count"],
                 lambda i: f"graduates {out['grad_count'].iloc[i]:g} exceed the cohort "
                           f"{out['grad_cohort'].iloc[i]:g}")
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = 100.0 * out["grad_count"] / out["grad_cohort"]
    gap = (implied - out["grad_rate"]).abs()
    off = gap > RATE_TOLERANCE
    refuse_first(out, off, display, raw_label["grad_rate"],
                 lambda i: f"rate {out['grad_rate'].iloc[i]:g} disagrees with 100 * graduates / cohort = "
                           f"{implied.iloc[i]:.2f} (tolerance {RATE_TOLERANCE})")

    if display.endswith(STATE_FILE_SUFFIX):
        refuse_district_rows(out, display, "District")
    check_unique(out, ["district_code"], display)
    out.insert(1, "year", np.int64(year))
    out["year"] = out["year"].astype("int64")
    report.rows_kept += len(out)
    report.check()
    return out.drop(columns="_line").sort_values("district_code", ignore_index=True)


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every graduation file in the registry.

    Returns
    -------
    SourceOutput
        ``district``: one row per district and year (``grad_cohort``, ``grad_count``, ``grad_rate``);
        ``state``: the state totals by year (2011-2019; later years have no state file).
    """
    return load_with_state_totals(
        registry, FAMILY,
        lambda path, display, report: read_grad_file(path, display, crosswalk, report),
        COLUMNS,
    )

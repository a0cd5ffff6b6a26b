"""District revenue by source (local, state, federal, tuition and other), excluding school construction.

Sources (registry family ``revenue``), EdSight "Revenue by Source" exports, district names only (most
Excel-protected as ``="Name"``), mapped to codes through the crosswalk:

- 2005-06 to 2014-15: CT-Data-Collaborative/edsight-data ``revenue-sources-district/revenue-sources__
  YYYY-YY_excluding-school-construction.csv``. Percentages only: two title lines (``"Percentage of Revenue
  by Source (Excluding School Construction), 2012-13"``, ``"All Districts"``), a blank line, a group row of
  ``"_"``, the header ``District, Local, State, Federal, Tuition & Other``, the data and a trailing blank
  line. (The ``_including-school-construction`` and ``_all`` files of the same folder are a different
  definition and the two stacked; they are not registered.) Quirks: the New Beginnings row is broken by
  an unquoted comma (repaired with :data:`~alliance_study.data.sources.expenditures.NAME_REPAIRS`) and
  Cross Cultural Academy, a closed charter without a code, is dropped with a counted reason (as in the
  expenditure files).
- 2017-18 to 2024-25: edbot317-source/public-CT-ed-data ``district_year_revenue/raw/revenue-YYYY-YY.csv``.
  No title: a group row (``Local``, ``State``, ``Federal``, ``Tuition & Other``, ``Total``) over ``Amount``
  and ``Percent``, the amounts table, two blank lines, and then a second table, the percentages
  INCLUDING school construction, which is all ``N/A`` in every file: its title, header and rows are counted
  as dropped, and a value other than ``N/A`` there raises (it would be data thrown away).

Checks and kept inconsistencies: amounts are non-negative whole dollars and percents lie in 0-100. Where
the four amounts do not add up to ``Total`` (Colebrook 2022-23, North Branford 2022-23 and 2023-24 in the
source), the row is kept as published and listed in the build report (``flagged``) and in the
``revenue_checks`` side table with the gap. A row whose amounts are all 0 (the technical high school
system 2017-18 to 2021-22, with a Total percent of 100) is "not reported": its amounts and percents
become empty and it is flagged. The published percents of the other rows must equal
``100 * amount / Total`` within :data:`PCT_TOLERANCE`; in the percentage files the four shares must add to
100 within :data:`SHARE_SUM_TOLERANCE`, else the row is kept and flagged with its gap. A negative share
(Integrated Day Charter 2006-07: Tuition & Other -9.8%, a net refund) is not a share: that cell becomes
empty and the row is flagged.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import (
    FileRows,
    check_complete,
    check_district_coverage,
    check_export_end,
    check_unique,
)
from alliance_study.data.sources.common import (
    ColumnSpec,
    RawTable,
    SourceOutput,
    SourceReport,
    decode,
    kept_labels,
    line_count,
    parse_export,
    unquote_excel,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.expenditures import NAME_REPAIRS, UNCODED_DISTRICTS, UNCODED_REASON
from alliance_study.data.sources.keys import spring_year, year_from_path
from alliance_study.data.sources.numbers import EDSIGHT_TOKENS, check_whole, to_numbers
from alliance_study.errors import RawDataError

FAMILY = "revenue"

#: Revenue sources: raw group label -> short name used in column names.
SOURCES: dict[str, str] = {
    "Local": "local",
    "State": "state",
    "Federal": "federal",
    "Tuition & Other": "tuition_other",
}

#: Percentage files (2006-2015): raw label -> canonical name.
SHARE_COLUMNS: dict[str, str | None] = {
    "District": "district",
    **{k: f"rev_{v}_pct" for k, v in SOURCES.items()},
}

#: Amount files (2018-2025): raw label (group | label) -> canonical name.
AMOUNT_COLUMNS: dict[str, str | None] = {
    "District": "district",
    **{f"{k} | Amount": f"rev_{v}" for k, v in SOURCES.items()},
    **{f"{k} | Percent": f"rev_{v}_pct" for k, v in SOURCES.items()},
    "Total | Amount": "rev_total",
    "Total | Percent": "rev_total_pct",
}

AMOUNTS = [f"rev_{v}" for v in SOURCES.values()]
SHARES = [f"rev_{v}_pct" for v in SOURCES.values()]

#: Title of the percentage files, and of the all-N/A second table of the amount files.
SHARE_TITLE = "Percentage of Revenue by Source (Excluding School Construction)"
INCLUDING_TITLE = "Percentage of Revenue by Source (Including School Construction)"
#: Header of the second table of the amount files.
INCLUDING_HEADER = ["District", *SOURCES]

#: Published percents are rounded to 0.1: a percent may differ from 100 * amount / Total by 0.05 (plus
#: float error).
PCT_TOLERANCE = 0.051
#: Four shares rounded to 0.1 add to 100 within 4 * 0.05 = 0.2 (plus float error).
SHARE_SUM_TOLERANCE = 0.201
#: EdSight rounds each of the four amounts and the Total to whole dollars, so they can disagree by up to
#: 5 * 0.5 dollars (1-dollar gaps are common); a larger gap is a real inconsistency and is flagged.
AMOUNT_TOLERANCE = 2.5

DROP_BLANK = "blank line"
DROP_INCLUDING_TITLE = "title or header line of the including-school-construction table (all N/A)"
DROP_INCLUDING_ROW = "row of the including-school-construction percent table (all N/A in the source)"

_FILE_PCT = re.compile(r"revenue-sources__\d{4}-\d{2}_excluding-school-construction\.csv$")
_FILE_AMOUNT = re.compile(r"revenue-\d{4}-\d{2}\.csv$")

SOURCE = (
    "CSDE EdSight Revenue by Source, excluding school construction: CT-Data-Collaborative/edsight-data "
    "revenue-sources-district (percentages, 2006-2015); edbot317-source/public-CT-ed-data "
    "district_year_revenue (amounts and percentages, 2018-2025)"
)

_NAMES = {"local": "local", "state": "state", "federal": "federal", "tuition_other": "tuition and other"}
_GAPS = " Rows whose parts do not add up to the total are kept as published (build report, revenue_checks)."

COLUMNS = [
    *[
        ColumnSpec(
            f"rev_{v}",
            "number",
            "USD (nominal)",
            f"Revenue from {_NAMES[v]} sources, excluding school "
            "construction (2018-2025; no amounts are published for earlier years here)." + _GAPS,
            SOURCE,
        )
        for v in SOURCES.values()
    ],
    ColumnSpec(
        "rev_total",
        "number",
        "USD (nominal)",
        "Total revenue excluding school construction (2018-2025), as published." + _GAPS,
        SOURCE,
    ),
    *[
        ColumnSpec(
            f"rev_{v}_pct",
            "number",
            "percent",
            f"Share of revenue from {_NAMES[v]} sources, excluding "
            "school construction, as published (2006-2015, 2018-2025; none for 2016-2017)." + _GAPS,
            SOURCE,
        )
        for v in SOURCES.values()
    ],
]

#: Last spring year of the percentage files (2014-15); the amount files start in 2017-18.
LAST_SHARE_YEAR = 2015

#: Columns of the ``revenue_checks`` side table: every flagged row.
CHECK_COLUMNS = ["file", "line", "district_code", "year", "check", "parts", "total", "gap"]


def _read_repaired(path: Path, display: str) -> RawTable:
    """Parse the export after the :data:`NAME_REPAIRS` (same line numbers)."""
    text = decode(path, display)
    for broken, fixed in NAME_REPAIRS.items():
        text = text.replace(broken, fixed)
    return parse_export(text, display, header_first=("District",))


def _frame(table: RawTable, rows: list[int], keep: dict[str, str]) -> pd.DataFrame:
    """The given rows of ``table``, the kept columns under their names, plus ``_line``."""
    data = {name: [table.rows[i][table.columns.index(raw)] for i in rows] for raw, name in keep.items()}
    data["_line"] = [table.lines[i] for i in rows]
    return pd.DataFrame(data, dtype=object)


def _codes(df: pd.DataFrame, crosswalk: Crosswalk, display: str, report: SourceReport) -> pd.DataFrame:
    """Map names to codes; drop (counted) the closed charters without a code."""
    names = df["district"].map(unquote_excel)
    uncoded = names.isin(UNCODED_DISTRICTS)
    report.drop(UNCODED_REASON, int(uncoded.sum()))
    df = df[~uncoded].reset_index(drop=True)
    codes = crosswalk.codes_for_names(
        names[~uncoded].reset_index(drop=True), df["_line"], display, "District"
    )
    return df.assign(district_code=codes.to_numpy())


def _split_amount_table(table: RawTable, display: str, year: int, report: SourceReport) -> list[int]:
    """Indices of the amounts table's rows; count (and check) the blank lines and all-N/A table after it."""
    first_blank = next((i for i, row in enumerate(table.rows) if not any(row)), len(table.rows))
    rest = list(range(first_blank, len(table.rows)))
    state = "gap"
    n_second = 0
    for i in rest:
        row, line = table.rows[i], table.lines[i]
        if not any(row):
            report.drop(DROP_BLANK)
            continue
        cells = [unquote_excel(c) for c in row]
        if state == "gap":
            if not cells[0].startswith(INCLUDING_TITLE):
                raise RawDataError(
                    display,
                    f"unexpected line after the amounts table: {cells[0][:60]!r}",
                    row=line,
                    column="District",
                )
            if spring_year(cells[0], display, line) != year:
                raise RawDataError(display, f"second table is for another year: {cells[0]!r}", row=line)
            state = "title"
            report.drop(DROP_INCLUDING_TITLE)
        elif state == "title":
            report.drop(DROP_INCLUDING_TITLE)
            if cells[:5] == INCLUDING_HEADER:
                state = "rows"
        else:
            bad = [k for k in range(1, 5) if cells[k] != "N/A"] + [
                k for k in range(5, len(cells)) if cells[k]
            ]
            if bad:
                label = INCLUDING_HEADER[bad[0]] if bad[0] < 5 else f"cell {bad[0] + 1}"
                raise RawDataError(
                    display,
                    f"the including-school-construction table has a value "
                    f"{row[bad[0]]!r}; the reader expects it all N/A",
                    row=line,
                    column=label,
                )
            n_second += 1
            report.drop(DROP_INCLUDING_ROW)
    if state != "rows" and rest and any(any(table.rows[i]) for i in rest):
        raise RawDataError(
            display, "the including-school-construction table has no header", row=table.lines[rest[-1]]
        )
    _check_second_table(n_second, first_blank, state == "rows", table, display)
    return list(range(first_blank))


def _check_second_table(n_second: int, n_first: int, complete: bool, table: RawTable, display: str) -> None:
    """Raise unless the all-N/A second table is there with one row per row of the amounts table.

    Every export closes with it (the same districts as the first table), so a file cut at a line boundary
    shows as a short or missing second table. (Unit tests of excerpts replace this check.)
    """
    if not complete or n_second != n_first:
        last = table.lines[-1] if table.lines else 1
        raise RawDataError(
            display, f"the second table (percentages including school construction), which every export "
            f"closes with one row per district of the first, has {n_second} rows for {n_first}: the file "
            "looks cut short", row=last, column="District",
        )


def _flag_share_sums(
    df: pd.DataFrame, shares: np.ndarray, display: str, year: int, report: SourceReport, checks: list[dict]
) -> None:
    total = shares.sum(axis=1)
    gap = total - 100.0
    for i in np.flatnonzero(np.abs(gap) > SHARE_SUM_TOLERANCE):
        line, code = int(df["_line"].iloc[i]), df["district_code"].iloc[i]
        report.flag(line, "Local..Tuition & Other", f"{code}: shares add to {total[i]:.1f}, not 100", gap[i])
        checks.append(
            {
                "file": display,
                "line": line,
                "district_code": code,
                "year": year,
                "check": "shares add to 100",
                "parts": total[i],
                "total": 100.0,
                "gap": gap[i],
            }
        )


def read_share_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport, checks: list[dict]
) -> pd.DataFrame:
    """Read a 2006-2015 percentage file: ``district_code``, ``year`` and the four ``rev_*_pct`` shares."""
    year = year_from_path(display)
    table = _read_repaired(path, display)
    header_line = table.lines[0] - 1 if table.lines else 1
    title = table.title[0] if table.title else ""
    if not title.startswith(SHARE_TITLE):
        raise RawDataError(display, f"title {title!r} does not start with {SHARE_TITLE!r}", row=1)
    if spring_year(title, display, 1) != year:
        raise RawDataError(display, f"title {title!r} is for another year than the file name", row=1)
    keep = kept_labels(table, SHARE_COLUMNS, display, list(SHARE_COLUMNS.values()), header_line)
    check_export_end(table, path, display)
    report.rows_read += len(table.rows)
    blank = [i for i, row in enumerate(table.rows) if not any(row)]
    report.drop(DROP_BLANK, len(blank))
    rows = [i for i in range(len(table.rows)) if i not in set(blank)]
    if not rows:
        raise RawDataError(display, "no data rows after the header", row=header_line)
    df = _codes(_frame(table, rows, keep), crosswalk, display, report)
    shares = to_numbers(df, SHARES, display, report, lo=-100, hi=100, labels=list(SOURCES),
                        tokens=EDSIGHT_TOKENS)
    _flag_share_sums(df, shares, display, year, report, checks)
    for i, k in zip(*np.nonzero(shares < 0), strict=True):
        line, code = int(df["_line"].iloc[i]), df["district_code"].iloc[i]
        report.flag(
            line,
            list(SOURCES)[k],
            f"{code}: negative share {shares[i, k]:g} (net refund; set empty)",
            shares[i, k],
        )
        checks.append(
            {
                "file": display,
                "line": line,
                "district_code": code,
                "year": year,
                "check": f"negative share ({list(SOURCES)[k]}): set empty",
                "parts": shares[i, k],
                "total": 100.0,
                "gap": shares[i, k],
            }
        )
        shares[i, k] = np.nan
    out = pd.DataFrame(
        {
            "district_code": df["district_code"].to_numpy(dtype=object),
            "year": np.int64(year),
            **{c: shares[:, k] for k, c in enumerate(SHARES)},
            "_line": df["_line"],
        }
    )
    check_unique(out, ["district_code", "year"], display)
    report.rows_kept += len(out)
    report.check()
    return out.drop(columns="_line")


def read_amount_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport, checks: list[dict]
) -> pd.DataFrame:
    """Read a 2018-2025 amounts file: ``district_code``, ``year``, the amounts, total and shares.

    Raises
    ------
    RawDataError
        On an unknown, renamed or missing column, an unknown district name, a non-numeric, negative or
        fractional amount, a percent out of range or disagreeing with its amount, a Total percent other than
        100, a value in the all-N/A second table, a duplicate district, or a file cut mid-row.
    """
    year = year_from_path(display)
    table = _read_repaired(path, display)
    header_line = table.lines[0] - 1 if table.lines else 1
    keep = kept_labels(table, AMOUNT_COLUMNS, display, list(AMOUNT_COLUMNS.values()), header_line)
    check_complete(path, display, table.lines[-1] if table.lines else header_line, table.columns[-1])
    report.rows_read += len(table.rows)
    rows = _split_amount_table(table, display, year, report)
    if not rows:
        raise RawDataError(display, "no data rows after the header", row=header_line)
    df = _codes(_frame(table, rows, keep), crosswalk, display, report)
    label = {v: k for k, v in AMOUNT_COLUMNS.items()}
    amounts = to_numbers(
        df, [*AMOUNTS, "rev_total"], display, report, lo=0,
        labels=[label[c] for c in [*AMOUNTS, "rev_total"]], tokens=EDSIGHT_TOKENS, whole=True,
    )
    for k, c in enumerate([*AMOUNTS, "rev_total"]):
        check_whole(pd.Series(amounts[:, k]), df["_line"], display, label[c])
    pct = to_numbers(
        df,
        [*SHARES, "rev_total_pct"],
        display,
        report,
        lo=0,
        hi=100,
        labels=[label[c] for c in [*SHARES, "rev_total_pct"]],
    )
    parts, total = amounts[:, :4], amounts[:, 4]
    lines = df["_line"].astype(int).to_numpy()
    codes = df["district_code"].to_numpy(dtype=object)
    not_reported = (np.nan_to_num(parts).sum(axis=1) == 0) & (total == 0)
    gap = parts.sum(axis=1) - total
    off = (np.abs(gap) > AMOUNT_TOLERANCE) & ~not_reported
    for i in np.flatnonzero(off):
        report.flag(
            lines[i],
            "Total | Amount",
            f"{codes[i]}: amounts add to {parts[i].sum():,.0f}, Total {total[i]:,.0f}",
            gap[i],
        )
        checks.append(
            {
                "file": display,
                "line": int(lines[i]),
                "district_code": codes[i],
                "year": year,
                "check": "amounts add to Total",
                "parts": parts[i].sum(),
                "total": total[i],
                "gap": gap[i],
            }
        )
    for i in np.flatnonzero(not_reported):
        report.flag(lines[i], "Total | Amount", f"{codes[i]}: all amounts 0 (not reported; set empty)", 0.0)
        checks.append(
            {
                "file": display,
                "line": int(lines[i]),
                "district_code": codes[i],
                "year": year,
                "check": "all amounts 0: not reported",
                "parts": 0.0,
                "total": 0.0,
                "gap": 0.0,
            }
        )
    ok = ~off & ~not_reported & (total > 0)
    with np.errstate(all="ignore"):
        implied = 100.0 * parts / total[:, None]
    bad = ok[:, None] & (np.abs(implied - pct[:, :4]) > PCT_TOLERANCE)
    if bad.any():
        i, k = (int(x[0]) for x in np.nonzero(bad))
        raise RawDataError(
            display,
            f"percent {pct[i, k]} disagrees with 100 * amount / Total = {implied[i, k]:.2f}",
            row=int(lines[i]),
            column=label[SHARES[k]],
        )
    total_pct_off = ok & (np.abs(pct[:, 4] - 100.0) > PCT_TOLERANCE)
    if total_pct_off.any():
        i = int(np.flatnonzero(total_pct_off)[0])
        raise RawDataError(
            display, f"Total percent {pct[i, 4]} is not 100", row=int(lines[i]), column="Total | Percent"
        )
    values = {c: amounts[:, k].copy() for k, c in enumerate([*AMOUNTS, "rev_total"])}
    values.update({c: pct[:, k].copy() for k, c in enumerate(SHARES)})
    for c in values:
        values[c][not_reported] = np.nan
    out = pd.DataFrame({"district_code": codes, "year": np.int64(year), **values, "_line": lines})
    check_unique(out, ["district_code", "year"], display)
    report.rows_kept += len(out)
    report.check()
    return out.drop(columns="_line")


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every revenue file in the registry.

    Returns
    -------
    SourceOutput
        ``district``: one row per district and year with the amounts (2018-2025) and shares;
        ``extra["revenue_checks"]``: every row kept although a check flagged it (:data:`CHECK_COLUMNS`).
    """
    frames, reports, checks = [], [], []
    files: dict[int, FileRows] = {}
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        path = registry.verified_path(entry)
        files[year_from_path(entry.path)] = FileRows(entry.path, line_count(path), "District")
        if _FILE_PCT.search(entry.path):
            frames.append(read_share_file(path, entry.path, crosswalk, report, checks))
        elif _FILE_AMOUNT.search(entry.path):
            frames.append(read_amount_file(path, entry.path, crosswalk, report, checks))
        else:
            raise RawDataError(
                entry.path,
                "not a revenue file: expected revenue-sources__YYYY-YY_excluding-"
                "school-construction.csv or revenue-YYYY-YY.csv",
            )
        reports.append(report)
    if not frames:
        raise RawDataError("registry", f"no files registered for family {FAMILY!r}")
    columns = ["district_code", "year", *[c.name for c in COLUMNS]]
    district = pd.concat(frames, ignore_index=True).reindex(columns=columns)
    district = district.astype({c.name: "float64" for c in COLUMNS})
    district = district.sort_values(["district_code", "year"], ignore_index=True)
    check_unique(district, ["district_code", "year"], f"{FAMILY} (all files)")
    # Percentage files (2006-2015) and amount files (2018-2025) are checked as two runs of years.
    check_district_coverage(district.assign(kind=np.where(district["year"] <= LAST_SHARE_YEAR, "share",
                                                             "amount")), files, groups=["kind"])
    check_table = pd.DataFrame(checks, columns=CHECK_COLUMNS)
    return SourceOutput(
        FAMILY,
        district=district,
        state=None,
        extra={"revenue_checks": check_table},
        reports=reports,
        columns=list(COLUMNS),
    )

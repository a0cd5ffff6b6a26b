"""Enrollment: total students, free/reduced-price lunch, English learners, special education, race.

Two registered sub-sources, both EdSight "Student Counts by District and ..." exports:

(a) ``CT-Data-Collaborative/edsight-data/data/enrollment-district/enrollment__YYYY-YY_<kind>.csv`` for
    2007-08 to 2016-17 (spring years 2008-2017), kinds ``all-students``, ``race``, ``lunch``, ``ell``,
    ``special-education``;
(b) ``CT-Data-Collaborative/educational-need/raw/enrollment__YYYY-YY_<kind>.csv`` for 2011-12 to 2021-22
    (2012-2022), kinds ``lunch``, ``ell``, ``special-education``.

Where both cover a year and kind (2012-2017), (b) is used and (a) is checked cell by cell against it: the
files must agree except where one suppresses a cell the other shows; any other difference raises. The
rows of the (a) file are then counted as dropped ("superseded ..."). On the registered files the two agree
in every cell (they differ only in two district names, EdAdvance / Education Connection, and one missing
code in (b) 2016-17, filled from the name).

Files: three title lines (title, "All Districts", the school year), a blank line, a group-header row
(not in ``all-students``), the header, district rows with ``="0640011"`` codes, a ``Total`` row with an
empty code (the state), and a trailing blank line. ``*`` marks a suppressed count (1-5 students, or a
complementary cell). In (b) the Department of Mental Health and Addiction Services (2018-19 to 2021-22)
and New Beginnings (2016-17) have an empty code: they are mapped by name through the crosswalk. In
2017-18 (b) a few district rows follow the Total row and one blank line sits above it; order is ignored.

Suppression: a count built from several cells (e.g. Free + Reduced) is exact when every cell it needs is
shown or when the suppressed cells can be recovered from the Total (e.g. Free + Reduced = Total -
Non-Subsidized). Otherwise the suppressed cells of the row are known only to sum to ``R = Total - shown
cells``, so the count lies in an interval of width ``R``; it is set to the interval's midpoint when that
width is at most :data:`SUPPRESSION_TOLERANCE_PCT` percent of the Total (error at most half of that), and
to NaN otherwise. Every such case is listed in ``extra["suppression_bounds"]``. When both Yes and No are
suppressed (an EL or special-education count of 1-5, or its complement), the interval is the whole Total and
the count is NaN: about 35 small districts a year have no ``el_count``.

Known breaks in the series: race categories changed in 2010-11 (see :data:`COLUMN_MAPS`; ``share_other``
jumps when "two or more races" begins); free/reduced-price meal shares drop sharply in some districts
(Bridgeport 99.9 percent in 2014, 51 percent in 2017; probably the Community Eligibility Provision, under
which districts stop collecting meal applications), and Bridgeport's 2015-2016 Free and Non-Subsidized cells
are both suppressed, so its ``frl_count`` is NaN in those years.

Why one module of over 600 lines: two overlapping sub-sources and five export kinds are read and
cross-checked cell by cell here, and the check needs both readers side by side.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_export_end, check_unique
from alliance_study.data.sources.common import (
    ColumnSpec,
    SourceOutput,
    SourceReport,
    mapped_columns,
    read_export,
    unquote_excel,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import STATE_CODE, parse_code, spring_year, year_from_path
from alliance_study.data.sources.numbers import to_numbers
from alliance_study.errors import RawDataError

FAMILY = "enrollment"

#: Registry path prefixes of the two sub-sources. (b) is preferred where both cover a year and kind.
EDSIGHT_PREFIX = "CT-Data-Collaborative/edsight-data/"
EDUCATIONAL_NEED_PREFIX = "CT-Data-Collaborative/educational-need/"

#: File kinds (the part of the file name after the school year).
KINDS = ("all-students", "race", "lunch", "ell", "special-education")

#: Kinds that (b) exports and that replace (a) in the years both cover.
PREFERRED_KINDS = ("lunch", "ell", "special-education")

_FILE_NAME = re.compile(r"^enrollment__(\d{4}-\d{2})_(?P<kind>[a-z-]+?)(?P<ct>_ct)?\.csv$")

#: First title line of each kind of export; a file whose title does not match its name raises.
TITLES: dict[str, str] = {
    "all-students": "Student Counts by District and Year",
    "race": "Student Counts by District and Race",
    "lunch": "Student Counts by District and Free/Reduced Lunch Eligibility",
    "ell": "Student Counts by District and English Learner Status",
    "special-education": "Student Counts by District and Special Education Status",
}

_ID_COLUMNS: dict[str, str] = {"District": "district_name", "District Code": "district_code"}

#: Raw label (group header prefixed, as built by ``read_export``) -> canonical raw-count column, per kind.
#: Race labels changed in 2010-11 with the federal race/ethnicity standards: "Black, not of Hispanic
#: Origin" -> "Black or African American", "Hispanic/Latino" -> "Hispanic/Latino of any race", "White, not
#: of Hispanic Origin" -> "White", "American Indian" -> "American Indian or Alaska Native"; "Not Reported"
#: was dropped and "Native Hawaiian or Other Pacific Islander" and "Two or More Races" were added.
COLUMN_MAPS: dict[str, dict[str, str]] = {
    "all-students": {**_ID_COLUMNS, "Count": "students_total"},
    "lunch": {
        **_ID_COLUMNS,
        "Free/Reduced Lunch Eligibility | Free": "lunch_free",
        "Free/Reduced Lunch Eligibility | Non-Subsidized": "lunch_non_subsidized",
        "Free/Reduced Lunch Eligibility | Reduced": "lunch_reduced",
        "Free/Reduced Lunch Eligibility | Total": "lunch_total",
    },
    "ell": {
        **_ID_COLUMNS,
        "English Learner Status | No": "ell_no",
        "English Learner Status | Yes": "ell_yes",
        "English Learner Status | Total": "ell_total",
    },
    "special-education": {
        **_ID_COLUMNS,
        "Special Education Status | No": "sped_no",
        "Special Education Status | Yes": "sped_yes",
        "Special Education Status | Total": "sped_total",
    },
    "race": {
        **_ID_COLUMNS,
        "Race | American Indian": "race_american_indian",
        "Race | American Indian or Alaska Native": "race_american_indian",
        "Race | Asian": "race_asian",
        "Race | Black, not of Hispanic Origin": "race_black",
        "Race | Black or African American": "race_black",
        "Race | Hispanic/Latino": "race_hispanic",
        "Race | Hispanic/Latino of any race": "race_hispanic",
        "Race | Native Hawaiian or Other Pacific Islander": "race_pacific_islander",
        "Race | Not Reported": "race_not_reported",
        "Race | Two or More Races": "race_two_or_more",
        "Race | White, not of Hispanic Origin": "race_white",
        "Race | White": "race_white",
        "Race | Total": "race_total",
    },
}

#: The two race layouts seen (through 2009-10, from 2010-11); a file must have exactly one of them.
RACE_LAYOUTS: tuple[frozenset[str], ...] = (
    frozenset({"race_american_indian", "race_asian", "race_black", "race_hispanic", "race_not_reported",
               "race_white", "race_total"}),
    frozenset({"race_american_indian", "race_asian", "race_black", "race_hispanic", "race_pacific_islander",
               "race_two_or_more", "race_white", "race_total"}),
)

#: Count columns each kind must have (race: see :data:`RACE_LAYOUTS`), components first, Total last.
COUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "all-students": ("students_total",),
    "lunch": ("lunch_free", "lunch_non_subsidized", "lunch_reduced", "lunch_total"),
    "ell": ("ell_no", "ell_yes", "ell_total"),
    "special-education": ("sped_no", "sped_yes", "sped_total"),
}

#: The race groups with their own share; every other race column (American Indian, Pacific Islander, two
#: or more races, and "Not Reported" through 2009-10) goes to ``share_other``.
MAJOR_RACE_GROUPS: dict[str, str] = {
    "share_black": "race_black",
    "share_hispanic": "race_hispanic",
    "share_white": "race_white",
    "share_asian": "race_asian",
}

#: Output measure columns of the district table, in order.
MEASURES = [
    "enrollment", "frl_count", "frl_share", "el_count", "el_share", "sped_count", "sped_share",
    "share_black", "share_hispanic", "share_white", "share_asian", "share_other",
]

#: Only ``*`` marks suppression in these exports; an empty cell in a district row means a cut-off row.
SUPPRESSION = frozenset({"*"})

#: Name of the state-total row (its code cell is ``=""``).
STATE_ROW_NAME = "Total"

#: Widest allowed uncertainty from suppressed cells, in percent of the row's Total, for a count or share
#: to be reported (as the interval midpoint); wider -> NaN. 2 points keep the error of a share within one
#: percentage point. (At 1 point, 2008-2017, share_black is NaN in 391 district-years, at 2 in 235, at 5 in
#: 74; el_share is NaN in 348 at any tolerance, because Yes and No are then both suppressed.)
SUPPRESSION_TOLERANCE_PCT = 2.0

STATE_ROW_REASON = "state total row (reported in the state table)"
BLANK_REASON = "blank line"
SUPERSEDED_REASON = "superseded by educational-need export for the same year"


def parse_file_name(display: str) -> tuple[int, str]:
    """Spring year and kind of an enrollment export from its (registry) path.

    Raises
    ------
    RawDataError
        If the name is not ``enrollment__YYYY-YY_<kind>.csv`` with a known kind.
    """
    match = _FILE_NAME.match(Path(display).name)
    if not match or match.group("kind") not in KINDS:
        raise RawDataError(display, f"not an enrollment export name (kinds {list(KINDS)})")
    return year_from_path(display), match.group("kind")


def read_enrollment_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one enrollment export: parse, clean and validate its counts.

    Parameters
    ----------
    path
        The CSV file.
    display
        Registry path (used for errors and to derive the year and kind).
    crosswalk
        District crosswalk: codes must be known; rows with an empty code are mapped by name.
    report
        Row accounting for this file.

    Returns
    -------
    districts, state
        ``districts``: ``district_code``, ``year``, the kind's raw count columns (float64, NaN =
        suppressed) and ``_line`` (line in the file), sorted by code. ``state``: the Total row in the same
        layout with ``district_code`` = ``"0000000"`` (one row).

    Raises
    ------
    RawDataError
        On a title or year that does not match the file name, an unknown or missing column, a
        non-numeric or negative count, components that do not add up to the Total, an unknown code or
        name, a duplicate district, a missing or repeated Total row, or no data rows.
    """
    year, kind = parse_file_name(display)
    table = read_export(path, display, header_first=("District",))
    if not table.title or table.title[0] != TITLES[kind]:
        raise RawDataError(
            display, f"title {table.title[:1]} is not {TITLES[kind]!r} (the file name says {kind!r})", row=1
        )
    title_year = spring_year(" ".join(table.title), display, line=1)
    if title_year != year:
        raise RawDataError(display, f"title says spring year {title_year}, file name says {year}", row=1)
    header_line = table.header_line
    column_map = COLUMN_MAPS[kind]
    # Plain Python lists of the mapped columns (per-cell work through pandas' Arrow-backed strings is slow).
    columns = mapped_columns(table, column_map, display, ["district_name", "district_code"], header_line)
    counts = _count_columns(kind, [*columns, "_line"], display, header_line)
    labels = {canon: raw for raw, canon in column_map.items() if raw in table.columns}

    report.rows_read += len(table.rows)
    keep = [any(cells) for cells in zip(*columns.values(), strict=True)]
    report.drop(BLANK_REASON, keep.count(False))
    if not any(keep):
        raise RawDataError(
            display, "no data rows after the header (truncated file?)", row=header_line, column="District"
        )
    if not all(keep):
        columns = {c: [v for v, k in zip(cells, keep, strict=True) if k] for c, cells in columns.items()}
    lines = [line for line, k in zip(table.lines, keep, strict=True) if k]
    names = list(map(_unquote, columns["district_name"]))
    codes = list(map(_unquote, columns["district_code"]))
    is_state = [name == STATE_ROW_NAME and code == "" for name, code in zip(names, codes, strict=True)]
    known = crosswalk.codes  # check_code is called only to raise the standard error
    resolved = []
    for name, code, line, state_row in zip(names, codes, lines, is_state, strict=True):
        if state_row:
            resolved.append(STATE_CODE)
        elif code == "":
            # (b) leaves the code empty for a few districts in some years; their names are unambiguous.
            resolved.append(crosswalk.code_for_name(name, display, int(line), "District"))
        else:
            parsed = _PARSED_CODES.get(code)
            if parsed is None:
                parsed = parse_code(code, display, int(line), "District Code")
                _PARSED_CODES[code] = parsed
            if parsed not in known:
                crosswalk.check_code(parsed, display, int(line), "District Code")
            resolved.append(parsed)
    coded = [i for i, code in enumerate(codes) if code]
    crosswalk.check_names([resolved[i] for i in coded], [names[i] for i in coded], [lines[i] for i in coded],
                          display, "District Code")
    values = _parse_counts(columns, counts, lines, display, report, labels)
    n_state = is_state.count(True)
    if n_state == 0:
        raise RawDataError(
            display, f"no {STATE_ROW_NAME!r} row with an empty code (truncated file?)",
            row=int(lines[-1]), column="District",
        )
    if n_state > 1:
        raise RawDataError(
            display, f"repeated {STATE_ROW_NAME!r} row",
            row=int([line for line, s in zip(lines, is_state, strict=True) if s][1]), column="District",
        )
    check_export_end(table, path, display)
    line_array = np.asarray(lines, dtype="int64")
    # Fast checks first; the shared checks then raise their usual errors.
    if len(set(resolved)) < len(resolved):
        check_unique(_count_frame(resolved, year, line_array, values, counts), ["district_code"], display)
    if len(counts) > 1 and _totals_disagree(values):
        _check_totals(_count_frame(resolved, year, line_array, values, counts), counts, display, labels)

    state_rows = [i for i, code in enumerate(resolved) if code == STATE_CODE]
    # District rows sorted by code (unique, checked above).
    district_rows = sorted(
        (i for i, code in enumerate(resolved) if code != STATE_CODE), key=resolved.__getitem__
    )
    report.drop(STATE_ROW_REASON, n_state)
    report.rows_kept += len(district_rows)
    report.check()
    return (
        _count_frame(resolved, year, line_array, values, counts, district_rows),
        _count_frame(resolved, year, line_array, values, counts, state_rows),
    )


#: Memo of :func:`parse_code` for code cells that parsed (a bad cell is parsed, and raises, every time).
_PARSED_CODES: dict[str, str] = {}

#: :func:`unquote_excel`, memoized: the same district names and codes recur in every file.
_unquote = functools.lru_cache(maxsize=8192)(unquote_excel)


def _parse_counts(
    columns: dict[str, list[str]], counts: tuple[str, ...], lines: list[int], display: str,
    report: SourceReport, labels: dict[str, str],
) -> np.ndarray:
    """The count columns parsed by :func:`to_numbers` (rows x counts, float64, NaN = suppressed)."""
    df = pd.DataFrame({**{col: pd.Series(columns[col], dtype=object) for col in counts}, "_line": lines})
    return to_numbers(df, list(counts), display, report, lo=0, tokens=SUPPRESSION,
                      labels=[labels.get(col, col) for col in counts], whole=True)


def _totals_disagree(values: np.ndarray) -> bool:
    """True when :func:`_check_totals` would raise (components vs. the Total, as there)."""
    parts, total = values[:, :-1], values[:, -1]
    missing = np.isnan(parts)
    shown = np.where(missing, 0.0, parts).sum(axis=1)
    has_total = ~np.isnan(total)
    complete = ~missing.any(axis=1) & has_total
    return bool(((complete & (shown != total)) | (~complete & has_total & (shown > total))).any())


def _count_frame(
    codes: list[str], year: int, lines: np.ndarray, values: np.ndarray, counts: tuple[str, ...],
    rows: list[int] | None = None,
) -> pd.DataFrame:
    """``district_code``, ``year``, ``_line`` and the count columns, for ``rows`` (default: all, in order)."""
    if rows is None:
        rows = list(range(len(codes)))
    take = np.asarray(rows, dtype="int64")
    return pd.DataFrame({
        "district_code": pd.Series([codes[i] for i in rows], dtype="str"),
        "year": np.full(len(rows), year, dtype="int64"),
        "_line": lines[take],
        **{col: values[take, j] for j, col in enumerate(counts)},
    })


def _count_columns(kind: str, columns: list[str], display: str, header_line: int | None) -> tuple[str, ...]:
    """The kind's count columns in file order; raise if one is missing (race: neither layout)."""
    present = [c for c in columns if c not in ("district_name", "district_code", "_line")]
    if kind == "race":
        if frozenset(present) not in RACE_LAYOUTS:
            closest = min(RACE_LAYOUTS, key=lambda s: len(s ^ set(present)))
            missing = sorted(closest - set(present)) or sorted(set(present) - closest)
            raise RawDataError(
                display, f"race columns {sorted(present)} match neither known layout; differs by {missing}",
                row=header_line, column=missing[0],
            )
        return tuple([c for c in present if c != "race_total"] + ["race_total"])
    expected = COUNT_COLUMNS[kind]
    missing = [c for c in expected if c not in present]
    if missing:
        raise RawDataError(display, f"missing column(s) {missing}", row=header_line, column=missing[0])
    return expected


def _check_totals(df: pd.DataFrame, counts: tuple[str, ...], display: str, labels: dict[str, str]) -> None:
    """Components must add up to the Total (exactly, or at most to it when some are suppressed)."""
    if len(counts) < 2:
        return
    total_col = counts[-1]
    parts = df[list(counts[:-1])]
    total = df[total_col]
    shown = parts.sum(axis=1, min_count=0)
    complete = parts.notna().all(axis=1) & total.notna()
    bad = (complete & (shown != total)) | (~complete & total.notna() & (shown > total))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RawDataError(
            display,
            f"components add up to {shown.iloc[i]:g}, but the Total is {total.iloc[i]:g}",
            row=int(df["_line"].iloc[i]), column=labels.get(total_col, total_col),
        )


def bounded_count(
    df: pd.DataFrame, parts: list[str], all_parts: list[str], total: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Sum of ``parts`` per row, given suppressed (NaN) cells and the row Total.

    The suppressed cells of ``all_parts`` (which add up to ``total``) sum to ``R = Total - shown``. The sum
    of ``parts`` is exact when ``parts`` holds none or all of the suppressed cells, and otherwise lies in
    ``[shown parts, shown parts + R]``.

    Returns
    -------
    value, lo, hi
        ``value`` is the exact sum, or the interval midpoint when its width is at most
        :data:`SUPPRESSION_TOLERANCE_PCT` percent of the Total, else NaN. ``lo``/``hi`` are the bounds
        (NaN when the Total itself is suppressed and some needed cell is too).
    """
    value, lo, hi = _bounded(
        df[parts].to_numpy(dtype="float64"), df[all_parts].to_numpy(dtype="float64"),
        df[total].to_numpy(dtype="float64"),
    )
    return tuple(pd.Series(v, index=df.index, dtype="float64") for v in (value, lo, hi))


def _bounded(a: np.ndarray, every: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`bounded_count` on arrays: ``a`` and ``every`` are rows x cells, ``t`` the row Totals."""
    supp_a, supp_all = np.isnan(a), np.isnan(every)
    known_a = np.where(supp_a, 0.0, a).sum(axis=1)
    residual = t - np.where(supp_all, 0.0, every).sum(axis=1)
    n_supp_a = supp_a.sum(axis=1)
    n_supp_all = supp_all.sum(axis=1)
    lo = known_a + np.where((n_supp_a == n_supp_all) & (n_supp_a > 0), residual, 0.0)
    hi = known_a + np.where(n_supp_a > 0, residual, 0.0)
    # A suppressed Total leaves the bounds open unless the needed cells are all shown.
    bounded = ~np.isnan(t) | (n_supp_a == 0)
    lo = np.where(bounded, lo, np.nan)
    hi = np.where(bounded, hi, np.nan)
    width = hi - lo
    ok = (width <= SUPPRESSION_TOLERANCE_PCT / 100.0 * t) | (width == 0)
    value = np.where(ok, (lo + hi) / 2.0, np.nan)
    return value, lo, hi


def _share(count: pd.Series, total: pd.Series) -> pd.Series:
    """Percent of ``total``; NaN where the total is missing or zero."""
    t = total.where(total > 0)
    return (100.0 * count / t).astype("float64")


def derive_measures(wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn the raw counts of one district-year table into the output measures.

    Parameters
    ----------
    wide
        ``district_code``, ``year`` and the raw count columns present (any subset of the kinds), with
        ``enrollment`` already chosen.

    Returns
    -------
    measures, bounds
        ``measures``: ``district_code``, ``year`` and :data:`MEASURES`. ``bounds``: one row per count
        affected by suppression (``district_code``, ``year``, ``measure``, ``lo``, ``hi``, ``value``).
    """
    out = wide[["district_code", "year", "enrollment"]].copy()
    bounds: list[pd.DataFrame] = []
    arrays: dict[str, np.ndarray] = {}  # count columns as float arrays, extracted once

    def cells(columns: list[str]) -> np.ndarray:
        for c in columns:
            if c not in arrays:
                arrays[c] = wide[c].to_numpy(dtype="float64")
        if not columns:
            return np.empty((len(wide), 0))
        return np.column_stack([arrays[c] for c in columns])

    def add(measure: str, parts: list[str], all_parts: list[str], total: str) -> pd.Series:
        if total not in wide.columns:
            return pd.Series(np.nan, index=wide.index, dtype="float64")
        value, lo, hi = _bounded(cells(parts), cells(all_parts), cells([total])[:, 0])
        # Rows of years without this kind of file have no cells at all: not a suppression case.
        has_data = ~np.isnan(cells([*all_parts, total])).all(axis=1)
        inexact = ~(lo == hi) & has_data
        if inexact.any():
            rows = np.flatnonzero(inexact)
            bounds.append(pd.DataFrame({
                "district_code": wide["district_code"].iloc[rows].to_numpy(),
                "year": wide["year"].to_numpy()[rows], "measure": measure,
                "lo": lo[rows], "hi": hi[rows], "value": value[rows],
            }))
        return pd.Series(value, index=wide.index, dtype="float64")

    lunch = ["lunch_free", "lunch_non_subsidized", "lunch_reduced"]
    out["frl_count"] = add("frl_count", ["lunch_free", "lunch_reduced"], lunch, "lunch_total")
    out["frl_share"] = _share(out["frl_count"], wide.get("lunch_total", out["frl_count"] * np.nan))
    out["el_count"] = add("el_count", ["ell_yes"], ["ell_no", "ell_yes"], "ell_total")
    out["el_share"] = _share(out["el_count"], wide.get("ell_total", out["el_count"] * np.nan))
    out["sped_count"] = add("sped_count", ["sped_yes"], ["sped_no", "sped_yes"], "sped_total")
    out["sped_share"] = _share(out["sped_count"], wide.get("sped_total", out["sped_count"] * np.nan))
    race_cols = [c for c in wide.columns if c.startswith("race_") and c != "race_total"]
    # A year without a race file has all race columns NaN: its race shares stay NaN.
    major = set(MAJOR_RACE_GROUPS.values())
    others = [c for c in race_cols if c not in major]
    for share, col in [*MAJOR_RACE_GROUPS.items(), ("share_other", None)]:
        parts = [col] if col else others
        if not race_cols:
            out[share] = np.nan
            continue
        count = add(share.replace("share_", "race_count_"), parts, race_cols, "race_total")
        out[share] = _share(count, wide["race_total"])
    measures = out[["district_code", "year", *MEASURES]]
    table = (
        pd.concat(bounds, ignore_index=True) if bounds
        else pd.DataFrame(columns=["district_code", "year", "measure", "lo", "hi", "value"])
    )
    return measures, table


_SRC = "EdSight enrollment exports (CT-Data-Collaborative edsight-data 2008-2017; educational-need 2012-2022)"

#: Data dictionary of the district table.
COLUMNS: list[ColumnSpec] = [
    ColumnSpec("enrollment", "number", "students",
               "Total students: the all-students export through 2017, the Total column of "
               "the free/reduced lunch export (educational-need) for 2018-2022", _SRC),
    ColumnSpec("frl_count", "number", "students",
               "Students eligible for free or reduced-price meals (Free + Reduced); where suppressed cells "
               f"leave an interval narrower than {SUPPRESSION_TOLERANCE_PCT:g}% of the Total, its midpoint "
               "(then within 1 point of the true share)", _SRC),
    ColumnSpec("frl_share", "number", "percent", "frl_count as a percent of the lunch export's Total", _SRC),
    ColumnSpec("el_count", "number", "students", "English learners (status Yes)", _SRC),
    ColumnSpec("el_share", "number", "percent", "el_count as a percent of the EL export's Total", _SRC),
    ColumnSpec("sped_count", "number", "students", "Students with special education status Yes", _SRC),
    ColumnSpec("sped_share", "number", "percent",
               "sped_count as a percent of the special-education export's Total", _SRC),
    ColumnSpec("share_black", "number", "percent",
               "Black students (through 2010 'Black, not of Hispanic Origin'), percent of the race Total; "
               "2008-2017 only", _SRC),
    ColumnSpec("share_hispanic", "number", "percent", "Hispanic/Latino students, percent of the race Total",
               _SRC),
    ColumnSpec("share_white", "number", "percent", "White students, percent of the race Total", _SRC),
    ColumnSpec("share_asian", "number", "percent", "Asian students, percent of the race Total", _SRC),
    ColumnSpec("share_other", "number", "percent",
               "American Indian + Pacific Islander + two or more races (+ 'Not Reported' through 2010; "
               "the last two categories begin in 2010-11), percent of the race Total", _SRC),
]


def compare_exports(a: pd.DataFrame, b: pd.DataFrame, display_a: str, display_b: str,
                    counts: tuple[str, ...]) -> dict[str, int]:
    """Check that two exports of the same year and kind agree cell by cell.

    Parameters
    ----------
    a, b
        Outputs of :func:`read_enrollment_file` (district rows) for the superseded and the preferred file.
    display_a, display_b
        Their registry paths.
    counts
        Count columns to compare.

    Returns
    -------
    dict
        ``cells`` compared, ``equal`` cells and ``suppression_differences`` (suppressed in one, shown in
        the other: allowed).

    Raises
    ------
    RawDataError
        Naming the superseded file, its line and the column, when a district is in only one file or a
        count differs.
    """
    fast = _compare_aligned(a, b, counts)
    if fast is not None:
        return fast
    merged = a.merge(b, on="district_code", how="outer", suffixes=("_a", "_b"), indicator=True)
    alone = merged[merged["_merge"] != "both"]
    if not alone.empty:
        r = alone.iloc[0]
        side, other = (display_a, display_b) if r["_merge"] == "left_only" else (display_b, display_a)
        line = r["_line_a"] if r["_merge"] == "left_only" else r["_line_b"]
        raise RawDataError(side, f"district {r['district_code']} is not in {other}", row=int(line),
                           column="District Code")
    stats = {"cells": 0, "equal": 0, "suppression_differences": 0}
    for col in counts:
        va, vb = merged[f"{col}_a"], merged[f"{col}_b"]
        equal = (va == vb) | (va.isna() & vb.isna())
        supp = va.isna() ^ vb.isna()
        differ = ~equal & ~supp
        if differ.any():
            i = int(np.flatnonzero(differ.to_numpy())[0])
            raise RawDataError(
                display_a,
                f"{col} is {va.iloc[i]:g} here but {vb.iloc[i]:g} in {display_b} (line "
                f"{int(merged['_line_b'].iloc[i])}) for district {merged['district_code'].iloc[i]}",
                row=int(merged["_line_a"].iloc[i]), column=col,
            )
        stats["cells"] += len(merged)
        stats["equal"] += int(equal.sum())
        stats["suppression_differences"] += int(supp.sum())
    return stats


def _compare_aligned(a: pd.DataFrame, b: pd.DataFrame, counts: tuple[str, ...]) -> dict[str, int] | None:
    """:func:`compare_exports`' statistics without a merge, when the two files list the same districts
    (each once) and agree in every cell up to suppression; None otherwise (the merge then finds the error).
    """
    codes_a, codes_b = a["district_code"].tolist(), b["district_code"].tolist()
    position = {code: i for i, code in enumerate(codes_b)}
    if len(position) != len(codes_b) or len(set(codes_a)) != len(codes_a) or set(codes_a) != set(position):
        return None
    rows = np.fromiter((position[c] for c in codes_a), dtype="int64", count=len(codes_a))
    stats = {"cells": 0, "equal": 0, "suppression_differences": 0}
    for col in counts:
        va, vb = a[col].to_numpy(), b[col].to_numpy()[rows]
        missing_a, missing_b = pd.isna(va), pd.isna(vb)
        equal = (va == vb) | (missing_a & missing_b)
        supp = missing_a ^ missing_b
        if (~equal & ~supp).any():
            return None
        stats["cells"] += len(codes_a)
        stats["equal"] += int(equal.sum())
        stats["suppression_differences"] += int(supp.sum())
    return stats


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every enrollment export and build the district-year table.

    Returns
    -------
    SourceOutput
        ``district``: ``district_code``, ``year`` and :data:`MEASURES`, unique on (district_code, year),
        2008-2022 (race shares 2008-2017 only). ``state``: the same measures from the Total rows.
        ``extra``: ``overlap_check`` (one row per superseded file: year, kind, both files, cells compared,
        equal, suppression differences) and ``suppression_bounds`` (counts whose value comes from a
        suppression interval, or is NaN because the interval is too wide).
    """
    files: dict[tuple[str, int, str], tuple[str, pd.DataFrame, pd.DataFrame, SourceReport]] = {}
    reports: list[SourceReport] = []
    for entry in registry.files(FAMILY):
        if entry.path.startswith(EDUCATIONAL_NEED_PREFIX):
            source = "educational-need"
        elif entry.path.startswith(EDSIGHT_PREFIX):
            source = "edsight"
        else:
            raise RawDataError(entry.path, "enrollment file from neither known sub-source")
        year, kind = parse_file_name(entry.path)
        report = SourceReport(FAMILY, entry.path)
        districts, state = read_enrollment_file(registry.verified_path(entry), entry.path, crosswalk, report)
        files[(source, year, kind)] = (entry.path, districts, state, report)
        reports.append(report)

    overlap = []
    chosen: dict[tuple[int, str], tuple[str, pd.DataFrame, pd.DataFrame]] = {}
    for (source, year, kind), (path, districts, state, report) in sorted(files.items()):
        preferred = files.get(("educational-need", year, kind))
        if source == "edsight" and kind in PREFERRED_KINDS and preferred is not None:
            # District rows and the state Total row are both compared.
            stats = compare_exports(
                pd.concat([districts, state]), pd.concat([preferred[1], preferred[2]]), path, preferred[0],
                COUNT_COLUMNS[kind],
            )
            overlap.append(
                {"year": year, "kind": kind, "superseded": path, "preferred": preferred[0], **stats}
            )
            kept = report.rows_kept
            report.rows_kept = 0
            report.drop(SUPERSEDED_REASON, kept)
            report.check()
            continue
        chosen[(year, kind)] = (path, districts, state)

    district = _assemble(chosen, "districts")
    state = _assemble(chosen, "state")
    measures, bounds = derive_measures(district)
    state_measures, _ = derive_measures(state)
    check_unique(measures, ["district_code", "year"], "enrollment (assembled)")
    measures = measures.sort_values(["district_code", "year"], ignore_index=True)
    state_measures = state_measures.drop(columns="district_code").sort_values("year", ignore_index=True)
    bounds = bounds.sort_values(["district_code", "year", "measure"], ignore_index=True)
    overlap_table = pd.DataFrame(
        overlap,
        columns=["year", "kind", "superseded", "preferred", "cells", "equal", "suppression_differences"],
    )
    return SourceOutput(
        FAMILY, district=measures, state=state_measures,
        extra={"overlap_check": overlap_table, "suppression_bounds": bounds},
        reports=reports, columns=list(COLUMNS),
    )


def _assemble(
    chosen: dict[tuple[int, str], tuple[str, pd.DataFrame, pd.DataFrame]], which: str
) -> pd.DataFrame:
    """Outer-join the chosen files of each year into one wide table with an ``enrollment`` column.

    The join is done by position, as an outer merge of the files on (``district_code``, ``year``) and a
    concatenation of the years would do it: the district codes of each year in sorted order, each file's
    columns in turn (NaN where a file lacks the district or a year lacks the file).
    """
    years = sorted({y for y, _ in chosen})
    codes: list[str] = []
    year_col: list[np.ndarray] = []
    blocks: list[dict[str, np.ndarray]] = []  # per year: column -> values
    for year in years:
        parts = [
            (kind, chosen[(year, kind)][1] if which == "districts" else chosen[(year, kind)][2])
            for kind in KINDS if (year, kind) in chosen
        ]
        assert parts
        part_codes = [part["district_code"].tolist() for _, part in parts]
        year_codes = sorted(set().union(*part_codes))
        position = {code: i for i, code in enumerate(year_codes)}
        n = len(year_codes)
        block: dict[str, np.ndarray] = {}
        for (kind, part), these in zip(parts, part_codes, strict=True):
            rows = np.fromiter((position[c] for c in these), dtype="int64", count=len(these))
            for col in part.columns:
                if col in ("district_code", "year"):
                    continue
                values = np.full(n, np.nan)
                values[rows] = part[col].to_numpy(dtype="float64")
                block[f"_line_{kind}" if col == "_line" else col] = values
        if (year, "all-students") in chosen:
            block["enrollment"] = block["students_total"]
            if "lunch_total" in block:
                count, total = block["students_total"], block["lunch_total"]
                if (~np.isnan(count) & ~np.isnan(total) & (count != total)).any():
                    wide = pd.DataFrame({"district_code": pd.Series(year_codes, dtype="str"), **block})
                    _check_same_total(wide, chosen[(year, "all-students")][0])  # raises
        else:
            # No all-students export after 2017: the lunch export's Total counts the same students (the
            # two agree in every district and year where both exist).
            block["enrollment"] = block["lunch_total"] if "lunch_total" in block else np.full(n, np.nan)
        codes.extend(year_codes)
        year_col.append(np.full(n, year, dtype="int64"))
        blocks.append({c: v for c, v in block.items() if not c.startswith("_line")})
    # Columns in order of first appearance, as pandas.concat unites them.
    names = list(dict.fromkeys(c for block in blocks for c in block))
    data = {
        c: np.concatenate([b.get(c, np.full(len(y), np.nan)) for b, y in zip(blocks, year_col, strict=True)])
        for c in names
    }
    return pd.DataFrame(
        {"district_code": pd.Series(codes, dtype="str"), "year": np.concatenate(year_col), **data}
    )


def _check_same_total(wide: pd.DataFrame, display: str) -> None:
    """The all-students Count must equal the lunch export's Total wherever both are shown."""
    both = wide["students_total"].notna() & wide["lunch_total"].notna()
    differ = both & (wide["students_total"] != wide["lunch_total"])
    if differ.any():
        r = wide[differ].iloc[0]
        raise RawDataError(
            display, f"Count {r['students_total']:g} differs from the lunch export's Total "
            f"{r['lunch_total']:g} for district {r['district_code']}",
            row=int(r["_line_all-students"]), column="Count",
        )

"""SEDA 2025.2 district achievement (grades 3-8, math and reading) on one scale across years.

Source: edbot317-source/public-CT-ed-data ``district_year_seda_gcs__all_students_extract.csv``, the
all-students rows of the Stanford Education Data Archive (Reardon et al. 2026, version 2025.2) for
Connecticut. One row per SEDA administrative district (``sedaadmin``, the NCES LEA id) x fiscal year,
except that each K-12 regional district is repeated once per member town (``town_code``, ``town``,
``town_match = "regional district"``) with identical numbers. The grade-cohort-standardized (GCS) scale
is in grade levels; ``grade_levels_vs_national`` is the mean minus 5.5, the national average of the
middle grade of 3-8.

Mapping to CSDE codes: local districts by ``town_code`` (town code + ``0011``); regional districts and
every other entity (charters, RESCs, the state agency) by name through the crosswalk.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_complete, check_unique, check_year_coverage, refuse_first
from alliance_study.data.sources.common import (
    ColumnSpec,
    SourceOutput,
    SourceReport,
    apply_column_map,
    read_export,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import town_district_code
from alliance_study.data.sources.numbers import to_number
from alliance_study.errors import RawDataError

FAMILY = "seda"

#: Raw label -> canonical name (None: read but not used). Every column of the extract is listed.
SEDA_COLUMNS: dict[str, str | None] = {
    "sedaadmin": "sedaadmin",
    "district": "district",
    "fiscal_year": "fiscal_year",
    "subcat": "subcat",
    "subgroup": "subgroup",
    "gradecenter": "gradecenter",
    "tot_asmts": "tot_asmts",
    "gcs_mn_avg_eb": "gcs_eb",
    "gcs_mn_avg_eb_se": "gcs_eb_se",
    # Unshrunk (OLS) estimates and their sampling SEs: an analysis that shrinks (the improvement ranking)
    # must start from these, not from the EB means, or it shrinks twice.
    "gcs_mn_avg_ol": "gcs_ol",
    "gcs_mn_avg_ol_se": "gcs_ol_se",
    "grade_levels_vs_national": "grade_levels",
    "grade_levels_vs_national_ol": None,
    "gcs_mn_avg_mth_eb": "math_eb",
    "gcs_mn_avg_mth_eb_se": "math_eb_se",
    "gcs_mn_avg_rla_eb": "rla_eb",
    "gcs_mn_avg_rla_eb_se": "rla_eb_se",
    "grade_levels_vs_national_mth": None,  # = math mean - 5.5
    "grade_levels_vs_national_rla": None,
    "town_code": "town_code",
    "town": None,
    "town_match": "town_match",
}

_REQUIRED = tuple(v for v in SEDA_COLUMNS.values() if v)

#: The extract holds the all-students estimates only, pooled over grades 3-8 (centered at 5.5).
SUBGROUP = "all"
GRADE_CENTER = 5.5

#: ``town_match`` values: local districts link by town code, regional ones repeat per member town;
#: empty for entities without a town (charters, RESCs, the state agency).
TOWN_MATCH_LOCAL = "local district"
TOWN_MATCH_REGIONAL = "regional district"
TOWN_MATCH_NONE = ""

#: Fiscal years SEDA 2025.2 covers (no 2014: field test; no 2020-2021: no testing or too few tested).
SEDA_YEARS = (2009, 2010, 2011, 2012, 2013, 2015, 2016, 2017, 2018, 2019, 2022, 2023, 2024, 2025)

#: ``grade_levels_vs_national`` must equal the EB mean minus the grade center to this tolerance.
GRADE_LEVEL_TOLERANCE = 1e-6

#: SEDA administrative districts with no CSDE district code: their rows are dropped with this reason.
#: SEDA keeps one stable unit for districts that later merged; 905374 "Regional School District 20" is
#: Litchfield (0740011) plus Regional School District 06 (2060012) in every year (its 2019 tests, 1,360,
#: match their SBAC counts, 384 + 291 per subject), and neither appears separately. Region 20 itself
#: (formed 2025) is not in the 2022-23 Education Directory.
UNMAPPED_SEDAADMIN: dict[str, str] = {
    "905374": "SEDA unit 905374 'Regional School District 20' pools Litchfield and Regional School "
    "District 06 (no single CSDE code)",
}

DROP_REPEAT = "repeat of a regional district for another member town"

_MEASURES = (
    "tot_asmts", "gcs_eb", "gcs_eb_se", "gcs_ol", "gcs_ol_se", "grade_levels", "math_eb", "math_eb_se",
    "rla_eb", "rla_eb_se",
)

#: Subject means SEDA leaves empty where it has no estimate (seen: 21 math and 31 reading cells).
_SUBJECT_MEASURES = ("math_eb", "math_eb_se", "rla_eb", "rla_eb_se")
SUBJECT_MISSING = frozenset({""})

#: Canonical measure -> panel column.
PANEL_NAMES: dict[str, str] = {
    "gcs_eb": "seda_gcs_eb",
    "gcs_eb_se": "seda_gcs_eb_se",
    "gcs_ol": "seda_gcs_ol",
    "gcs_ol_se": "seda_gcs_ol_se",
    "grade_levels": "seda_grade_levels",
    "math_eb": "seda_math_eb",
    "math_eb_se": "seda_math_eb_se",
    "rla_eb": "seda_rla_eb",
    "rla_eb_se": "seda_rla_eb_se",
    "tot_asmts": "seda_tot_asmts",
}

#: District columns in output order (``seda_id`` is the SEDA/NCES id as a string).
DISTRICT_COLUMNS = [*PANEL_NAMES.values(), "seda_id"]

_SOURCE = "seda: edbot317-source/public-CT-ed-data extract of SEDA 2025.2 (Reardon et al. 2026), GCS scale"


#: Years inside the extract's span that SEDA 2025.2 does not estimate (no CT data for spring 2014, the
#: 2020 and 2021 pandemic years); :func:`check_year_coverage` allows exactly these gaps.
SEDA_GAPS = (2014, 2020, 2021)

#: Smallest row count of a year relative to the median year: the extract's years hold 172-187 rows
#: (2022 the fewest, 94% of the median), so a year with fewer than 85% lost rows or is a mistyped year.
#: (Unit tests of excerpts set it to 0.)
SEDA_MIN_YEAR_SHARE = 0.85

def read_seda_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read the SEDA extract: one row per district x fiscal year, mapped to CSDE codes.

    Parameters
    ----------
    path
        Local file (hash-checked by the caller).
    display
        Registry path, used in error messages.
    crosswalk
        Maps town codes and names to CSDE codes.
    report
        Row accounting: repeats of a regional district (one per member town) and SEDA units without a
        CSDE code (:data:`UNMAPPED_SEDAADMIN`) are dropped with their reasons.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year`` (the fiscal = spring year), :data:`DISTRICT_COLUMNS`; unique on
        ``(district_code, year)``.

    Raises
    ------
    RawDataError
        On an unknown or missing column, a subgroup other than all students, a non-numeric value or a
        negative count or standard error, an inconsistent grade-level column, an unknown year, town code
        or name, repeats of a district-year that differ, or two SEDA units mapping to one district-year.
    """
    table = read_export(path, display, header_first=("sedaadmin",), max_title_lines=0)
    df = table.frame()
    report.rows_read += len(df)
    blank = ~df.drop(columns="_line").ne("").any(axis=1)
    report.drop("blank line", int(blank.sum()))
    df = df[~blank]
    header_line = table.header_line
    # "_line" is listed so the call works whether or not apply_column_map passes "_" columns through.
    df = apply_column_map(df, {**SEDA_COLUMNS, "_line": "_line"}, display, required=_REQUIRED,
                          header_line=header_line)
    if df.empty:
        raise RawDataError(display, "no data rows after the header (truncated file?)", row=header_line)
    label = {v: k for k, v in SEDA_COLUMNS.items() if v}

    for col, want in (("subcat", SUBGROUP), ("subgroup", SUBGROUP)):
        refuse_first(df, df[col] != want, display, label[col],
                     lambda i, col=col: f"{df[col].iloc[i]!r}: the extract should hold all-students rows "
                                        "only")
    center = to_number(df, "gradecenter", display, report, tokens=frozenset(), label=label["gradecenter"])
    refuse_first(df, center != GRADE_CENTER, display, label["gradecenter"],
                 lambda i: f"grade center {center.iloc[i]} is not {GRADE_CENTER} (grades 3-8 pooled)")
    year = to_number(df, "fiscal_year", display, report, tokens=frozenset(), label=label["fiscal_year"])
    refuse_first(df, ~year.isin(SEDA_YEARS), display, label["fiscal_year"],
                 lambda i: f"fiscal year {df['fiscal_year'].iloc[i]!r} is not a SEDA 2025.2 year")
    ids = df["sedaadmin"]
    refuse_first(df, ~ids.str.fullmatch(r"[0-9]{1,7}"), display, label["sedaadmin"],
                 lambda i: f"not a SEDA/NCES district id: {ids.iloc[i]!r}")

    values = pd.DataFrame(index=df.index)
    values["_line"] = df["_line"]
    values["sedaadmin"] = ids.astype("str")
    values["year"] = year.astype("int64")
    # Standard errors and counts cannot be negative; means are unbounded on the GCS scale. Only a
    # subject mean may be empty (SEDA could not estimate it): counted as suppressed. An empty pooled cell
    # means a damaged row and raises.
    for col in _MEASURES:
        lo = 0 if col == "tot_asmts" or col.endswith("_se") else None
        tokens = SUBJECT_MISSING if col in _SUBJECT_MEASURES else frozenset()
        values[col] = to_number(df, col, display, report, lo=lo, tokens=tokens, label=label[col])
    off = (values["grade_levels"] - (values["gcs_eb"] - GRADE_CENTER)).abs() > GRADE_LEVEL_TOLERANCE
    refuse_first(df, off, display, label["grade_levels"],
                 lambda i: f"grade levels {values['grade_levels'].iloc[i]} != EB mean "
                           f"{values['gcs_eb'].iloc[i]} - {GRADE_CENTER}")

    # Regional districts repeat once per member town: every repeat must carry the same numbers.
    content = [*_MEASURES, "district"]
    values["district"] = df["district"]
    values["town_match"] = df["town_match"]
    values["town_code"] = df["town_code"]
    first = values.drop_duplicates(["sedaadmin", "year"], keep="first")
    merged = values.merge(first[["sedaadmin", "year", *content]], on=["sedaadmin", "year"],
                          suffixes=("", "_first"), how="left")
    for col in content:
        a, b = merged[col], merged[f"{col}_first"]
        differ = ~((a == b) | (a.isna() & b.isna()))
        refuse_first(merged, differ, display, label.get(col, col),
                     lambda i, col=col: f"rows for SEDA district {merged['sedaadmin'].iloc[i]} in "
                                        f"{merged['year'].iloc[i]} differ in {label.get(col, col)!r}")
    repeat = values.duplicated(["sedaadmin", "year"], keep="first")
    # Only regional districts legitimately repeat; any other repeated district-year is an error.
    not_regional = repeat & (values["town_match"] != TOWN_MATCH_REGIONAL)
    refuse_first(values, not_regional, display, label["sedaadmin"],
                 lambda i: f"duplicate row for SEDA district {values['sedaadmin'].iloc[i]} in "
                           f"{values['year'].iloc[i]} (not a regional district)")
    report.drop(DROP_REPEAT, int(repeat.sum()))
    values = values[~repeat]

    unmapped = values["sedaadmin"].isin(list(UNMAPPED_SEDAADMIN))
    for sid, reason in sorted(UNMAPPED_SEDAADMIN.items()):
        report.drop(reason, int((values["sedaadmin"] == sid).sum()))
    values = values[~unmapped]

    values["district_code"] = _codes(values, display, crosswalk, label)
    check_unique(values, ["district_code", "year"], display)
    check_complete(path, display, int(table.lines[-1]), table.columns[-1])
    check_year_coverage(values["year"].to_numpy(), values["_line"].to_numpy(), display, label["fiscal_year"],
                        known_gaps=SEDA_GAPS, min_share=SEDA_MIN_YEAR_SHARE)
    report.rows_kept += len(values)
    report.check()
    out = values.rename(columns=PANEL_NAMES)
    out["seda_id"] = out["sedaadmin"].astype("str")
    out = out[["district_code", "year", *DISTRICT_COLUMNS]]
    return out.sort_values(["district_code", "year"], ignore_index=True)


def _codes(values: pd.DataFrame, display: str, crosswalk: Crosswalk, label: dict[str, str]) -> pd.Series:
    """CSDE code of each row: local districts by town code (checked against the name), others by name."""
    codes = []
    for name, match, town, line in zip(values["district"], values["town_match"], values["town_code"],
                                       values["_line"], strict=True):
        line = int(line)
        if match == TOWN_MATCH_LOCAL:
            try:
                code = town_district_code(int(town))
            except ValueError as exc:
                raise RawDataError(display, f"bad town code {town!r}: {exc}", row=line,
                                   column=label["town_code"]) from exc
            by_name = crosswalk.code_for_name(name, display, line, label["district"])
            if by_name != code:
                raise RawDataError(display, f"local district {name!r} is {by_name} by name but town code "
                                   f"{town} gives {code}", row=line, column=label["town_code"])
        elif match in (TOWN_MATCH_REGIONAL, TOWN_MATCH_NONE):
            code = crosswalk.code_for_name(name, display, line, label["district"])
        else:
            raise RawDataError(display, f"unknown town_match {match!r}", row=line, column=label["town_match"])
        codes.append(crosswalk.check_code(code, display, line, label["district"]))
    return pd.Series(codes, index=values.index, dtype="str")


def column_specs() -> list[ColumnSpec]:
    """Data dictionary entries for :data:`DISTRICT_COLUMNS`."""
    gl = "grade levels (GCS scale: 5.5 = national average of grades 3-8)"
    return [
        ColumnSpec("seda_gcs_eb", "number", gl, "SEDA mean achievement, math and reading, grades 3-8 "
                   "pooled, empirical-Bayes estimate (gcs_mn_avg_eb)", _SOURCE),
        ColumnSpec("seda_gcs_eb_se", "number", gl, "Posterior standard error of seda_gcs_eb", _SOURCE),
        ColumnSpec("seda_gcs_ol", "number", gl, "SEDA mean achievement, math and reading, grades 3-8 "
                   "pooled, unshrunk (OLS) estimate (gcs_mn_avg_ol): the input for any analysis that "
                   "shrinks", _SOURCE),
        ColumnSpec("seda_gcs_ol_se", "number", gl, "Sampling standard error of seda_gcs_ol "
                   "(gcs_mn_avg_ol_se)", _SOURCE),
        ColumnSpec("seda_grade_levels", "number", "grade levels",
                   "seda_gcs_eb minus 5.5: grade levels above (+) or below (-) the national average "
                   "(grade_levels_vs_national)", _SOURCE),
        ColumnSpec("seda_math_eb", "number", gl, "SEDA math mean, grades 3-8, EB estimate "
                   "(gcs_mn_avg_mth_eb)", _SOURCE),
        ColumnSpec("seda_math_eb_se", "number", gl, "Standard error of seda_math_eb", _SOURCE),
        ColumnSpec("seda_rla_eb", "number", gl, "SEDA reading/language arts mean, grades 3-8, EB estimate "
                   "(gcs_mn_avg_rla_eb)", _SOURCE),
        ColumnSpec("seda_rla_eb_se", "number", gl, "Standard error of seda_rla_eb", _SOURCE),
        ColumnSpec("seda_tot_asmts", "number", "assessments", "Number of math and reading assessments "
                   "behind the estimate (tot_asmts)", _SOURCE),
        ColumnSpec("seda_id", "string", "", "SEDA administrative district id (sedaadmin = NCES LEA id)",
                   _SOURCE),
    ]


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read the SEDA extract(s) in the registry.

    Returns
    -------
    SourceOutput
        ``district``: one row per district x year with :data:`DISTRICT_COLUMNS`; no state table.
    """
    reports: list[SourceReport] = []
    frames: list[pd.DataFrame] = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_seda_file(registry.verified_path(entry), entry.path, crosswalk, report))
        reports.append(report)
    key = ["district_code", "year"]
    district = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*key, *DISTRICT_COLUMNS])
    )
    district = district.astype({"district_code": "str", "year": "int64", "seda_id": "str",
                                **{c: "float64" for c in PANEL_NAMES.values()}})
    district = district.sort_values(key, ignore_index=True)
    check_unique(district, key, "seda (all files)")
    return SourceOutput(family=FAMILY, district=district, state=None, extra={}, reports=reports,
                        columns=column_specs())

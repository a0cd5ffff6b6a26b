"""CMT (grades 3, 5, 8) and CAPT (grade 10) school results, 2006-2011, aggregated to districts.

Source: sgaul/testscores ``cmt.csv`` and ``capt.csv``, CSDE CEDaR school-level downloads stacked over
school years (CMT 2005-06 to 2010-11, CAPT 2006-07 to 2010-11). One row per test (subject) x grade x
school x school year with the number tested, the average scale score and the % at or above goal and
proficient. ``**`` marks a suppressed school (fewer than 20 tested); ``-`` is CEDaR's "not available".

``District ID`` is the CEDaR district number, the first three digits of the 7-digit CSDE code; it is
mapped with :meth:`~alliance_study.data.sources.directory.Crosswalk.code_for_cedar_id`, or by name for the
numbers in :data:`CEDAR_IDS_BY_NAME`. Schools are aggregated to districts with number-tested weights.
"""

from __future__ import annotations

from itertools import compress
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_unique, check_year_coverage
from alliance_study.data.sources.common import (
    ColumnSpec,
    RawTable,
    SourceOutput,
    SourceReport,
    kept_labels,
    label_of,
    read_export,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import spring_year
from alliance_study.data.sources.numbers import to_number, to_numbers
from alliance_study.errors import RawDataError

FAMILY = "cmt_capt"

#: Registry file name -> test. Each file holds every school year of its test.
TEST_BY_FILE: dict[str, str] = {"cmt.csv": "CMT", "capt.csv": "CAPT"}

#: Raw ``Test`` values (the subject) -> short names.
SUBJECTS: dict[str, str] = {
    "Mathematics": "math", "Reading": "reading", "Writing": "writing", "Science": "science",
}

#: Grades the CMT covers (3-8; this download has 3 and 8 for math, reading and writing, 5 and 8 for
#: science). The CAPT is the grade 10 test and its file has no grade column.
CMT_GRADES = (3, 4, 5, 6, 7, 8)
CAPT_GRADE = 10

#: Grades pooled in the ``cmt_*`` panel columns: the two grades with math and reading results here.
CMT_PANEL_GRADES = (3, 8)

#: Subjects with panel columns (writing and science stay in the long table).
PANEL_SUBJECTS = ("math", "reading")

#: CMT (4th generation) and CAPT (3rd generation) scale scores run from 100 to 400 in every grade and
#: subject (CSDE interpretive guides); seen 158-325.
SCALE_RANGE = (100.0, 400.0)

#: CEDaR suppression and not-available markers in these downloads. An empty cell is not one of them:
#: it means a damaged row, so it raises.
CEDAR_SUPPRESSION = frozenset({"**", "-"})

#: Smallest row count of a school year relative to the file's median year: the CMT file's years hold
#: 2,528-3,420 rows (75% of the median at least), CAPT's 772-840; a year with less than half is a mistyped
#: year or lost rows. (Unit tests of excerpts set it to 0.)
MIN_YEAR_SHARE = 0.5

#: CEDaR district numbers with no code starting with their digits in the crosswalk that are mapped by
#: their ``District Name`` through the crosswalk instead. 277 is Highville Mustard Seed Charter School
#: (2005-06 and 2006-07), the Hamden charter renamed Highville Charter School, which CEDaR numbers 286
#: (code 2860013) from 2007-08; NAME_ALIASES maps its old name to 2860013, as the staffing and expenditure
#: files need too.
CEDAR_IDS_BY_NAME: frozenset[int] = frozenset({277})

#: CEDaR district numbers with no CSDE code at all: their rows are dropped with the reason given (none
#: seen in 2006-2011).
UNMAPPED_CEDAR_IDS: dict[int, str] = {}

_COMMON_COLUMNS: dict[str, str | None] = {
    "Test": "subject",
    "District ID": "cedar_id",
    "District Name": "district_name",  # used only for CEDAR_IDS_BY_NAME; the number identifies the rest
    "School ID": "school_id",
    "School Name": None,
    "School Year": "school_year",
    "Number of Students Tested": "n_tested",
}

#: ``cmt.csv`` columns.
CMT_COLUMNS: dict[str, str | None] = {
    **_COMMON_COLUMNS,
    "Grade": "grade",
    "Standard CMT Score Summary Average Scale Score": "scale_score",
    "Standard CMT Score Summary Percent at above Goal level": "pct_goal",
    "Standard CMT Score Summary Percent at above Proficient level": "pct_prof",
}

#: ``capt.csv`` columns. The level distribution and participation columns are not used.
CAPT_COLUMNS: dict[str, str | None] = {
    **_COMMON_COLUMNS,
    "Standard CAPT Score Summary Average Scale Score": "scale_score",
    "Standard CAPT Score Summary Percent at/above goal level": "pct_goal",
    "Standard CAPT Score Summary Percent at/above proficient level": "pct_prof",
    "Standard CAPT Results by Below Basic": None,
    "Standard CAPT Results by Basic": None,
    "Standard CAPT Results by Proficient": None,
    "Standard CAPT Results by Goal": None,
    "Standard CAPT Results by Advanced": None,
    "Assessment Participation Standard CAPT": None,
    "Assessment Participation Skills Checklist": None,
    "Assessment Participation Modified Assessment": None,
    "Assessment Participation ELL Exempt": None,
    "Assessment Participation No Valid Score": None,
    "Assessment Participation Total Participation": None,
    "Assessment Participation Absent": None,
}

_REQUIRED = (
    "subject", "cedar_id", "district_name", "school_id", "school_year", "n_tested", "scale_score", "pct_goal",
    "pct_prof",
)

MEASURES = ("scale_score", "pct_goal", "pct_prof")

#: Columns of the ``cmt_capt_by_grade`` side table.
BY_GRADE_COLUMNS = [
    "district_code", "year", "test", "grade", "subject", "n_tested", "scale_score", "pct_goal", "pct_prof",
]

#: School-level columns returned by :func:`read_test_file`.
SCHOOL_COLUMNS = [
    "district_code", "year", "test", "grade", "subject", "school_id", "n_tested", *MEASURES,
]

def read_test_file(
    path: Path, display: str, test: str, crosswalk: Crosswalk, report: SourceReport
) -> pd.DataFrame:
    """Read ``cmt.csv`` or ``capt.csv``: one row per subject x grade x school x school year.

    Parameters
    ----------
    path
        Local file (hash-checked by the caller).
    display
        Registry path, used in error messages.
    test
        ``"CMT"`` or ``"CAPT"``.
    crosswalk
        Maps CEDaR district numbers to CSDE codes.
    report
        Row accounting; rows of :data:`UNMAPPED_CEDAR_IDS` are dropped with their reason.

    Returns
    -------
    pandas.DataFrame
        :data:`SCHOOL_COLUMNS`, sorted; ``year`` is the spring year, measures are float64 (NaN where
        suppressed).

    Raises
    ------
    RawDataError
        On an unknown or missing column, an unknown subject or grade, a non-numeric or out-of-range
        value, % goal above % proficient, an unmapped CEDaR district number, or a repeated row.
    """
    if test not in ("CMT", "CAPT"):
        raise ValueError(f"test must be 'CMT' or 'CAPT', not {test!r}")
    column_map = CMT_COLUMNS if test == "CMT" else CAPT_COLUMNS
    table = read_export(path, display, header_first=("Test",), max_title_lines=0)
    report.rows_read += len(table.rows)
    if all(map(any, table.rows)):
        rows, lines = table.rows, table.lines
    else:
        filled = [any(row) for row in table.rows]
        rows = list(compress(table.rows, filled))
        lines = list(compress(table.lines, filled))
    report.drop("blank line", len(table.rows) - len(rows))
    header_line = table.header_line
    required = (*_REQUIRED, "grade") if test == "CMT" else _REQUIRED
    position = _column_positions(table, {**column_map, "_line": "_line"}, display, required, header_line)
    if not rows:
        raise RawDataError(display, "no data rows after the header (truncated file?)", row=header_line)
    labels = {c: label_of(column_map, c, table.columns) for c in required}
    n = len(rows)
    df = table.frame() if rows is table.rows else pd.DataFrame(rows, columns=table.columns, dtype=object)
    if rows is not table.rows:
        df["_line"] = lines
    # The canonical names as df's columns (the raw labels), for to_number and for the cells.
    df = df.rename(columns={table.columns[j]: name for name, j in position.items()})

    def cells(name: str) -> list[str]:
        return df[name].tolist()

    raw_subjects = cells("subject")
    subjects = list(map(SUBJECTS.get, raw_subjects))
    if None in subjects:
        i = subjects.index(None)
        raise RawDataError(display, f"unknown test {raw_subjects[i]!r}; expected one of "
                           f"{sorted(SUBJECTS)}", row=int(lines[i]), column=labels["subject"])
    if test == "CMT":
        grade = to_number(df, "grade", display, report, tokens=frozenset(), label=labels["grade"],
                          whole=True).to_numpy()
        bad = ~np.isin(grade, CMT_GRADES)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise RawDataError(display, f"grade {cells('grade')[i]!r} is not a CMT grade {CMT_GRADES}",
                               row=int(lines[i]), column=labels["grade"])
        grades = grade.astype("int64")
    else:
        grades = np.full(n, CAPT_GRADE, dtype=np.int64)
    cedar = to_number(df, "cedar_id", display, report, lo=1, tokens=frozenset(), label=labels["cedar_id"],
                      whole=True)
    # pandas' cast (not numpy's): an infinite value raises rather than wrapping around.
    school_id = to_number(df, "school_id", display, report, lo=0, tokens=frozenset(),
                          label=labels["school_id"], whole=True).astype("int64").to_numpy()
    school_years = cells("school_year")
    years: dict[str, int] = {}
    for label in dict.fromkeys(school_years):  # each distinct label, at its first line
        years[label] = spring_year(label, display, int(lines[school_years.index(label)]),
                                   labels["school_year"], exact=True)
    year = np.fromiter(map(years.__getitem__, school_years), dtype=np.int64, count=n)
    values = {"n_tested": to_number(df, "n_tested", display, report, lo=0, tokens=CEDAR_SUPPRESSION,
                                    label=labels["n_tested"], whole=True).to_numpy()}
    values["scale_score"] = to_number(df, "scale_score", display, report, lo=SCALE_RANGE[0],
                                      hi=SCALE_RANGE[1], tokens=CEDAR_SUPPRESSION,
                                      label=labels["scale_score"]).to_numpy()
    percents = to_numbers(df, ["pct_goal", "pct_prof"], display, report, lo=0, hi=100,
                          tokens=CEDAR_SUPPRESSION, labels=[labels["pct_goal"], labels["pct_prof"]])
    values["pct_goal"], values["pct_prof"] = percents[:, 0], percents[:, 1]
    # Goal is the higher standard, so its share cannot exceed the proficient share.
    above = values["pct_goal"] > values["pct_prof"]
    if above.any():
        i = int(np.flatnonzero(above)[0])
        raise RawDataError(display, f"% at goal {values['pct_goal'][i]} exceeds % proficient "
                           f"{values['pct_prof'][i]}", row=int(lines[i]), column=labels["pct_goal"])

    # Map each CEDaR number once; rows of a district without a CSDE code are dropped with a reason.
    cedar_int = cedar.astype("int64").to_numpy()
    cedar_ids = cedar_int.tolist()
    by_cedar_id = crosswalk.code_for_cedar_id
    names = cells("district_name")
    codes: dict[int, str | None] = {}
    # Each distinct number at its first row, in order (going backwards, earlier rows overwrite later ones).
    first_row = dict(zip(reversed(cedar_ids), range(len(cedar_ids) - 1, -1, -1), strict=True))
    for i in sorted(first_row.values()):
        cid = cedar_ids[i]
        code = by_cedar_id(cid)
        if code is None and cid in CEDAR_IDS_BY_NAME:
            code = crosswalk.code_for_name(names[i], display, int(lines[i]), labels["district_name"])
        if code is None and cid not in UNMAPPED_CEDAR_IDS:
            raise RawDataError(display, f"CEDaR district number {cid} matches no single district code in "
                               "the crosswalk; add it to CEDAR_IDS_BY_NAME or UNMAPPED_CEDAR_IDS if it is "
                               "a real district", row=int(lines[i]), column=labels["cedar_id"])
        codes[cid] = code
    pairs = dict.fromkeys(zip(cedar_ids, names, lines, strict=True))
    named = [(codes[c], nm, ln) for c, nm, ln in _first_of_pairs(pairs) if codes[c] is not None]
    crosswalk.check_names([c for c, _, _ in named], [nm for _, nm, _ in named], [ln for _, _, ln in named],
                          display, labels["cedar_id"])
    for cid, reason in sorted(UNMAPPED_CEDAR_IDS.items()):
        report.drop(reason, int((cedar_int == cid).sum()))
    if any(cid in UNMAPPED_CEDAR_IDS for cid in codes):
        keep = np.flatnonzero(~np.isin(cedar_int, list(UNMAPPED_CEDAR_IDS)))
    else:
        keep = np.arange(n)

    # Sort by district, year, grade, subject and school; equal neighbours are repeated rows. Codes and
    # subjects are sorted through their ranks among the distinct values (string order).
    code_list = sorted({str(codes[cid]) for cid in codes if cid not in UNMAPPED_CEDAR_IDS})
    code_rank = {code: k for k, code in enumerate(code_list)}
    rank_of_cid = {cid: code_rank[str(code)] for cid, code in codes.items() if cid not in UNMAPPED_CEDAR_IDS}
    subject_list = sorted(set(subjects))
    subject_rank = {subject: k for k, subject in enumerate(subject_list)}
    district = np.fromiter(map(rank_of_cid.__getitem__, cedar_int[keep].tolist()), dtype=np.intp,
                           count=len(keep))
    subject = np.fromiter(map(subject_rank.__getitem__, subjects), dtype=np.intp, count=n)[keep]
    sort_keys = (school_id[keep], subject, grades[keep], year[keep], district)
    order = np.lexsort(sort_keys)
    if len(order) > 1:
        same = np.ones(len(order) - 1, dtype=bool)
        for key in sort_keys:
            ordered = key[order]
            same &= ordered[1:] == ordered[:-1]
        if same.any():
            check_unique(pd.DataFrame({"_line": np.array(lines, dtype=np.int64)[keep],
                                       "district_code": [code_list[k] for k in district.tolist()],
                                       "school_id": school_id[keep], "year": year[keep],
                                       "grade": grades[keep],
                                       "subject": [subject_list[k] for k in subject.tolist()]}),
                         ["district_code", "school_id", "year", "grade", "subject"], display)
    # The school years form an unbroken run, each with a comparable number of rows (a mistyped year).
    check_year_coverage(year, lines, display, labels["school_year"], min_share=MIN_YEAR_SHARE)
    report.rows_kept += len(keep)
    report.check()
    rows_out = keep[order]
    out = {
        "district_code": _take_text(code_list, district[order]),
        "year": year[rows_out],
        "test": _take_text([test], np.zeros(len(order), dtype=np.intp)),
        "grade": grades[rows_out],
        "subject": _take_text(subject_list, subject[order]),
        "school_id": school_id[rows_out],
        **{c: values[c][rows_out] for c in ("n_tested", *MEASURES)},
    }
    return pd.DataFrame(out)


#: The dtype pandas infers for a column of Python strings ("str", Arrow-backed, from pandas 3).
_TEXT_DTYPE = pd.Series(["text"]).dtype


def _take_text(values: list[str], index: np.ndarray):
    """``values[index]`` as a column of strings, of the dtype pandas would infer for it."""
    if isinstance(_TEXT_DTYPE, pd.StringDtype) and _TEXT_DTYPE.storage == "pyarrow":
        return pd.array(pa.array(values, type=pa.string()).take(pa.array(index)), dtype=_TEXT_DTYPE)
    return np.array(values, dtype=object)[index]


def _column_positions(table: RawTable, column_map: dict[str, str | None], display: str,
                      required: tuple[str, ...], header_line: int) -> dict[str, int]:
    """Canonical name -> position of the raw column that :func:`apply_column_map` would keep under it.

    Where ``apply_column_map`` would raise (an unknown, repeated or missing column), it is called to raise.
    """
    keep = kept_labels(table, column_map, display, required, header_line)
    return {name: table.columns.index(raw) for raw, name in keep.items()}


def aggregate_schools(schools: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Aggregate school rows to ``keys`` with number-tested weights.

    ``n_tested`` is the sum over schools with a published count (NaN if none). Each of
    :data:`MEASURES` is the mean over schools with both the measure and the count published, weighted
    by the count (NaN if there are none).

    Parameters
    ----------
    schools
        Rows with ``keys``, ``n_tested`` and :data:`MEASURES`.
    keys
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        ``keys``, ``n_tested`` and :data:`MEASURES`, sorted by ``keys``.
    """
    work = schools[[*keys, "n_tested"]].copy()
    for m in MEASURES:
        weight = schools["n_tested"].where(schools[m].notna() & schools["n_tested"].notna())
        work[f"_w_{m}"] = weight
        work[f"_wx_{m}"] = schools[m] * weight
    sums = work.groupby(keys, sort=True).sum(min_count=1)
    out = pd.DataFrame({"n_tested": sums["n_tested"]}, index=sums.index)
    for m in MEASURES:
        w = sums[f"_w_{m}"]
        out[m] = sums[f"_wx_{m}"] / w.where(w > 0)
    return out.reset_index().astype({c: "float64" for c in ("n_tested", *MEASURES)})


_PANEL_NAMES = {"scale_score": "scale", "pct_goal": "pct_goal", "pct_prof": "pct_prof", "n_tested": "n"}

#: District measure columns in output order.
DISTRICT_COLUMNS = [
    f"{t}_{s}_{m}" for t in ("cmt", "capt") for m in _PANEL_NAMES.values() for s in PANEL_SUBJECTS
]

_SOURCE = "cmt_capt: sgaul/testscores CSDE CEDaR school-level downloads, aggregated with N-tested weights"


def _panel_wide(schools: pd.DataFrame, test: str) -> pd.DataFrame:
    """Pooled district x year columns for one test (math and reading only)."""
    t = test.lower()
    sel = schools[(schools["test"] == test) & schools["subject"].isin(PANEL_SUBJECTS)]
    if test == "CMT":
        sel = sel[sel["grade"].isin(CMT_PANEL_GRADES)]
    agg = aggregate_schools(sel, ["district_code", "year", "subject"])
    wide = agg.pivot(index=["district_code", "year"], columns="subject",
                     values=["n_tested", *MEASURES])
    wide.columns = [f"{t}_{s}_{_PANEL_NAMES[m]}" for m, s in wide.columns]
    return wide.reset_index()


def column_specs() -> list[ColumnSpec]:
    """Data dictionary entries for :data:`DISTRICT_COLUMNS`."""
    specs = []
    for t, what in (("cmt", "CMT grades 3 and 8 pooled"), ("capt", "CAPT grade 10")):
        for s in PANEL_SUBJECTS:
            subj = "math" if s == "math" else "reading"
            specs += [
                ColumnSpec(f"{t}_{s}_scale", "number", "scale score points",
                           f"{what}, {subj}: average scale score (100-400), school averages weighted by "
                           "number tested", _SOURCE),
                ColumnSpec(f"{t}_{s}_pct_goal", "number", "percent",
                           f"{what}, {subj}: % at or above goal, weighted by number tested", _SOURCE),
                ColumnSpec(f"{t}_{s}_pct_prof", "number", "percent",
                           f"{what}, {subj}: % at or above proficient, weighted by number tested", _SOURCE),
                ColumnSpec(f"{t}_{s}_n", "number", "students",
                           f"{what}, {subj}: students tested in schools with published results "
                           "(suppressed schools, under 20 tested, are left out)", _SOURCE),
            ]
    order = {c: i for i, c in enumerate(DISTRICT_COLUMNS)}
    return sorted(specs, key=lambda c: order[c.name])


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read ``cmt.csv`` and ``capt.csv`` and aggregate them to districts.

    Returns
    -------
    SourceOutput
        ``district``: one row per district x year with :data:`DISTRICT_COLUMNS` (CMT 2006-2011, CAPT
        2007-2011); no state table; ``extra["cmt_capt_by_grade"]``: district x year x test x grade x
        subject (all four subjects) with ``n_tested``, ``scale_score``, ``pct_goal``, ``pct_prof``.
    """
    reports: list[SourceReport] = []
    frames: list[pd.DataFrame] = []
    for entry in registry.files(FAMILY):
        name = Path(entry.path).name
        if name not in TEST_BY_FILE:
            raise RawDataError(entry.path, f"not a CMT/CAPT file: expected one of {sorted(TEST_BY_FILE)}")
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_test_file(registry.verified_path(entry), entry.path, TEST_BY_FILE[name],
                                     crosswalk, report))
        reports.append(report)
    schools = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCHOOL_COLUMNS)

    key = ["district_code", "year"]
    district = None
    for test in ("CMT", "CAPT"):
        wide = _panel_wide(schools, test)
        # Outer: a district with only a CAPT (high school) or only a CMT row keeps its row.
        district = wide if district is None else district.merge(wide, on=key, how="outer")
    for col in DISTRICT_COLUMNS:
        if col not in district.columns:
            district[col] = np.nan
    district = district[[*key, *DISTRICT_COLUMNS]].astype({c: "float64" for c in DISTRICT_COLUMNS})
    district = district.astype({"district_code": "str", "year": "int64"})
    district = district.sort_values(key, ignore_index=True)
    check_unique(district, key, "cmt_capt (all files)")

    by_grade = aggregate_schools(schools, ["district_code", "year", "test", "grade", "subject"])
    by_grade = by_grade[BY_GRADE_COLUMNS].astype({"year": "int64", "grade": "int64"})
    by_grade = by_grade.sort_values(["district_code", "year", "test", "grade", "subject"], ignore_index=True)
    return SourceOutput(
        family=FAMILY,
        district=district,
        state=None,
        extra={"cmt_capt_by_grade": by_grade},
        reports=reports,
        columns=column_specs(),
    )


def _first_of_pairs(rows: dict) -> list[tuple[int, str, int]]:
    """``(cedar_id, name, line)`` at the first line of each distinct (number, name) pair."""
    seen: dict[tuple[int, str], int] = {}
    for cid, name, line in rows:
        seen.setdefault((cid, name), line)
    return [(cid, name, line) for (cid, name), line in seen.items()]

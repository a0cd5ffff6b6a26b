"""Smarter Balanced (SBAC) ELA and math results, 2015-2019 and 2022-2025, from the raw EdSight exports.

Source for 2015-2019: CT-Data-Collaborative/smarter-balanced-by-all-students, ``raw/``. Each school year
has three files:

- ``..._all-grades-combined.csv``: district x subject, all tested grades together (levels 1-4 counts and
  percents, % level 3&4, participation);
- ``..._all-grades.csv``: district x grade x subject, the same measures plus the average vertical scale
  score (``AverageVSS``); 2014-15 also has grade 11;
- ``..._all-grades-combined_ct.csv``: the state total by subject.

All three have title lines and a two-row header (level group over count and ``%``), which
:func:`~alliance_study.data.sources.common.read_export` joins as ``"group | label"``. Codes are ``="0640011"``
in some years and plain ``640011`` in others; ``*`` marks a suppressed cell.

Grades 3-8 measures (``*_g38``) are comparable across years (2015 also tested grade 11, later years did
not), so they are computed from the by-grade file rather than taken from the all-grades-combined one.

Source for 2022-2025: edbot317-source/public-CT-ed-data ``data/sbac/raw/all_students/sbac-YYYY-YY.csv``
(:data:`KIND_EDBOT`), the all-grades-combined export only (grades 3-8; no tests in 2020 and 2021). Same
layout, with three quirks handled here: the level columns are labelled plain ``Count`` under each level
group (so ``"Level 1Not Met | Count"``), the Math row of each district leaves ``District`` and ``District
Code`` blank (they are carried down from the ELA row directly above, which must be the same district's
ELA row), and there is no average scale score and no by-grade or state file. Because these exports cover
grades 3-8 only, their % level 3&4 and scored tests also fill ``*_pct_l34_g38`` and ``*_n_g38`` for those
years; ``*_vss_g38`` stays empty.

Why one module of over 600 lines: the 2015-2019 and 2022-2025 export layouts, the by-grade files and the
state totals are one family whose files are checked against each other.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import (
    BLANK_LINE,
    NOTE_LINE,
    check_export_end,
    check_unique,
    classify_rows,
)
from alliance_study.data.sources.common import (
    ColumnSpec,
    RawTable,
    SourceOutput,
    SourceReport,
    kept_labels,
    label_of,
    read_export,
    unquote_excel,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import STATE_CODE, parse_code, year_from_path
from alliance_study.data.sources.numbers import exact_sums, to_number, to_numbers
from alliance_study.errors import RawDataError

FAMILY = "sbac"

#: Registry file-name endings of the three kinds of file (CTData naming; see the module docstring).
KIND_STATE = "_all-grades-combined_ct.csv"
KIND_COMBINED = "_all-grades-combined.csv"
KIND_GRADE = "_all-grades.csv"
#: edbot317-source exports (2021-22 on): all grades combined, named ``sbac-2021-22.csv``.
KIND_EDBOT = "edbot"
_EDBOT_NAME = re.compile(r"(^|/)sbac-\d{4}-\d{2}\.csv$")

#: Raw ``Subject`` values -> the short names used in column names.
SUBJECTS: dict[str, str] = {"ELA": "ela", "Math": "math"}

#: Grades tested by Smarter Balanced in Connecticut: 3-8 every year, 11 in 2014-15 only (the SAT
#: replaced it from 2015-16).
GRADES_TESTED = (3, 4, 5, 6, 7, 8, 11)

#: Grades pooled in the ``*_g38`` columns: the grades tested every year.
GRADES_3_8 = (3, 4, 5, 6, 7, 8)

#: Plausible range of an average vertical scale score: the Smarter Balanced scale runs from about
#: 2100 (lowest obtainable score, grade 3) to about 2900 (highest, grade 11); seen 2355-2696.
VSS_RANGE = (2000.0, 3000.0)

#: Suppression marker in these exports (small cells). An empty cell is not suppression here: it means a
#: truncated or damaged row, so it raises.
SBAC_SUPPRESSION = frozenset({"*"})

#: A published % must equal 100 * count / scored tests to this tolerance (one-decimal rounding).
PCT_TOLERANCE = 0.051

# Labels shared by every file. The group row puts "Level 1Not Met" etc. (no space: an in-cell line
# break lost in the export) over each count/% pair.
_LEVEL_COLUMNS: dict[str, str | None] = {
    "Level 1Not Met | Level 1 Not Met Count": "l1_n",
    "Level 1Not Met | %": "l1_pct",
    "Level 2Approaching | Level 2 Approaching Count": "l2_n",
    "Level 2Approaching | %": "l2_pct",
    "Level 3Met | Level 3 Met Count": "l3_n",
    "Level 3Met | %": "l3_pct",
    "Level 4Exceeded | Level 4 Exceeded Count": "l4_n",
    "Level 4Exceeded | %": "l4_pct",
    "Level 3&4Met or Exceeded | Level 3&4 Met or Exceeded Count": "l34_n",
    "Level 3&4Met or Exceeded | %": "l34_pct",
    # 2021-22 on (edbot317 copies of the EdSight export): the count columns are labelled plain "Count".
    "Level 1Not Met | Count": "l1_n",
    "Level 2Approaching | Count": "l2_n",
    "Level 3Met | Count": "l3_n",
    "Level 4Exceeded | Count": "l4_n",
    "Level 3&4Met or Exceeded | Count": "l34_n",
}

# Count labels lost their in-cell line breaks ("Total Numberof Students"); the spaced spellings are the
# labels EdSight shows on screen and are accepted too.
_COUNT_COLUMNS: dict[str, str | None] = {
    "Total Numberof Students": "n_students",
    "Total Number of Students": "n_students",
    "Total NumberTested": "n_tested",
    "Total Number Tested": "n_tested",
    "Smarter BalancedParticipationRate": "participation",
    "Smarter Balanced Participation Rate": "participation",
    "Total Number with Scored Tests": "n_scored",
}

#: District x subject file (all grades combined).
COMBINED_COLUMNS: dict[str, str | None] = {
    "District": "district",
    "District Code": "district_code",
    "Subject": "subject",
    **_COUNT_COLUMNS,
    **_LEVEL_COLUMNS,
}

#: District x grade x subject file. ``AverageVSS`` sits right of the last level group, so the group
#: label is carried over it; the bare label is accepted in case the group row stops earlier.
GRADE_COLUMNS: dict[str, str | None] = {
    **COMBINED_COLUMNS,
    "Grade": "grade",
    "Level 3&4Met or Exceeded | AverageVSS": "avg_vss",
    "AverageVSS": "avg_vss",
}

#: State file: no code column.
STATE_COLUMNS: dict[str, str | None] = {k: v for k, v in COMBINED_COLUMNS.items() if v != "district_code"}

_COUNTS = ("n_students", "n_tested", "n_scored", "l1_n", "l2_n", "l3_n", "l4_n", "l34_n")
_PERCENTS = ("participation", "l1_pct", "l2_pct", "l3_pct", "l4_pct", "l34_pct")
_REQUIRED_COMBINED = ("district", "district_code", "subject", *_COUNTS, *_PERCENTS)
_REQUIRED_GRADE = (*_REQUIRED_COMBINED, "grade", "avg_vss")
_REQUIRED_STATE = ("district", "subject", *_COUNTS, *_PERCENTS)

#: Drop reasons.
DROP_BLANK = BLANK_LINE
DROP_NOTE = NOTE_LINE

#: Columns of the ``sbac_by_grade`` side table.
BY_GRADE_COLUMNS = ["district_code", "year", "grade", "subject", "n_scored", "pct_l34", "avg_scale_score"]

def _table(
    path: Path,
    display: str,
    report: SourceReport,
    column_map: dict[str, str | None],
    required: tuple[str, ...],
    crosswalk: Crosswalk | None = None,
) -> tuple[pd.DataFrame, list[str], RawTable]:
    """Read one export, count its rows, drop blank and note lines, and rename its columns.

    Returns the kept rows as object (string) columns under their canonical names plus ``_line``, the
    raw column labels, and the parsed export (for :func:`check_export_end` once the rows are parsed).
    """
    table = read_export(path, display, header_first=("District",))
    rows = table.rows
    report.rows_read += len(rows)
    kept = classify_rows(rows, table.lines, display, report, table.columns,
                         is_name=None if crosswalk is None else crosswalk.is_district_name)
    header_line = table.header_line
    # "_line" is listed so the call works whether or not apply_column_map passes "_" columns through.
    full_map = {**column_map, "_line": "_line"}
    keep = kept_labels(table, full_map, display, required, header_line)
    if not kept:
        raise RawDataError(display, "no data rows after the header (truncated file?)", row=header_line)
    data: dict[str, np.ndarray] = {}
    for raw, name in keep.items():
        j = table.columns.index(raw)
        data[name] = np.array([rows[i][j] for i in kept], dtype=object)
    data["_line"] = np.array([table.lines[i] for i in kept], dtype=object)
    return pd.DataFrame(data, dtype=object), table.columns, table


def _numbers(
    df: pd.DataFrame, display: str, report: SourceReport, labels: dict[str, str]
) -> dict[str, np.ndarray]:
    """Parse counts (>= 0) and percents (0-100); check % level 3&4 against its count."""
    counts = to_numbers(df, _COUNTS, display, report, lo=0, tokens=SBAC_SUPPRESSION,
                        labels=[labels[c] for c in _COUNTS], whole=True)
    percents = to_numbers(df, _PERCENTS, display, report, lo=0, hi=100, tokens=SBAC_SUPPRESSION,
                          labels=[labels[c] for c in _PERCENTS])
    out = {c: counts[:, k] for k, c in enumerate(_COUNTS)}
    out.update({c: percents[:, k] for k, c in enumerate(_PERCENTS)})
    n_scored = out["n_scored"]
    with np.errstate(all="ignore"):
        implied = 100.0 * out["l34_n"] / np.where(n_scored > 0, n_scored, np.nan)
        off = np.abs(implied - out["l34_pct"]) > PCT_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise RawDataError(
            display,
            f"% level 3&4 {out['l34_pct'][i]} disagrees with its count {out['l34_n'][i]:.0f} "
            f"of {out['n_scored'][i]:.0f} scored tests",
            row=int(df["_line"].iloc[i]),
            column=labels["l34_pct"],
        )
    return out


def _carry_down(df: pd.DataFrame, display: str, labels: dict[str, str]) -> pd.DataFrame:
    """Fill a Math row's blank ``District`` and ``District Code`` from the ELA row directly above.

    The 2021-22 to 2024-25 exports name each district once, on its ELA row. A blank name or code anywhere
    else (a first row, a row under a non-ELA row, or only one of the two blank) raises.
    """
    names = df["district"].tolist()
    codes = df["district_code"].tolist()
    subjects = [unquote_excel(v) for v in df["subject"].tolist()]
    lines = df["_line"].tolist()
    changed = False
    for i in range(len(names)):
        blank_name, blank_code = not names[i].strip(), not codes[i].strip()
        if not (blank_name or blank_code):
            continue
        column = labels["district"] if blank_name else labels["district_code"]
        if not (blank_name and blank_code):
            raise RawDataError(display, "district name or code missing on a row that has the other",
                               row=int(lines[i]), column=column)
        if i == 0 or subjects[i] != "Math" or subjects[i - 1] != "ELA" or not codes[i - 1].strip():
            raise RawDataError(display, "blank district on a row that is not the Math row under a "
                               "district's ELA row", row=int(lines[i]), column=column)
        names[i], codes[i] = names[i - 1], codes[i - 1]
        changed = True
    if not changed:
        return df
    return df.assign(district=names, district_code=codes)


def _subjects(df: pd.DataFrame, display: str, label: str) -> list[str]:
    """Map raw subject names to ``ela`` / ``math``; raise on anything else."""
    raw = df["subject"].tolist()
    mapped = [SUBJECTS.get(unquote_excel(v)) for v in raw]
    for i, subject in enumerate(mapped):
        if subject is None:
            raise RawDataError(
                display, f"unknown subject {raw[i]!r}; expected one of {sorted(SUBJECTS)}",
                row=int(df["_line"].iloc[i]), column=label,
            )
    return mapped


def _codes(df: pd.DataFrame, display: str, crosswalk: Crosswalk, label: str) -> list[str]:
    """Parse district codes (each distinct cell once) and check each distinct code once."""
    parsed: dict[str, str] = {}
    codes = []
    lines = df["_line"].tolist()
    for v, line in zip(df["district_code"].tolist(), lines, strict=True):
        code = parsed.get(v)
        if code is None:
            code = parsed[v] = parse_code(v, display, int(line), label)
        codes.append(code)
    seen: set[str] = set()
    for code, line in zip(codes, lines, strict=True):
        if code not in seen:
            seen.add(code)
            crosswalk.check_code(code, display, int(line), label)
    crosswalk.check_names(codes, df["district"].tolist(), lines, display, label)
    return codes


def _finish(
    display: str,
    report: SourceReport,
    keys: dict[str, list],
    lines: list,
    values: dict[str, np.ndarray],
    drop_state: bool,
) -> pd.DataFrame:
    """Drop state rows, check the keys are unique, count the kept rows, and sort by the keys."""
    n = len(lines)
    if drop_state:
        state = [c == STATE_CODE for c in keys["district_code"]]
        report.drop("state total row (the state comes from the _ct file)", sum(state))
        if any(state):
            sel = [i for i in range(n) if not state[i]]
            keys = {k: [v[i] for i in sel] for k, v in keys.items()}
            lines = [lines[i] for i in sel]
            values = {k: v[sel] for k, v in values.items()}
            n = len(sel)
    tuples = list(zip(*keys.values(), strict=True))
    if len(set(tuples)) != n:
        check_unique(pd.DataFrame({"_line": lines, **keys}), list(keys), display)
    report.rows_kept += n
    report.check()
    order = sorted(range(n), key=tuples.__getitem__)
    out: dict[str, np.ndarray] = {}
    for k, v in keys.items():
        dtype = np.int64 if k == "grade" else object
        out[k] = np.array([v[i] for i in order], dtype=dtype)
    for k, v in values.items():
        out[k] = v[order]
    return pd.DataFrame(out)


def read_combined_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read an all-grades-combined district file (one row per district x subject).

    Parameters
    ----------
    path
        Local file (hash-checked by the caller).
    display
        Registry path, used in error messages.
    crosswalk
        District crosswalk; every code must be known.
    report
        Row accounting for this file (blank and note lines are dropped with a reason).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``subject`` (``ela``/``math``), the counts and percents (float64, NaN where
        suppressed), sorted by code and subject.

    Raises
    ------
    RawDataError
        On an unknown or missing column, a bad code, a non-numeric or out-of-range value, a % level 3&4
        that disagrees with its count, or a repeated district x subject.
    """
    df, present, table = _table(path, display, report, COMBINED_COLUMNS, _REQUIRED_COMBINED, crosswalk)
    labels = {c: label_of(COMBINED_COLUMNS, c, present) for c in _REQUIRED_COMBINED}
    df = _carry_down(df, display, labels)
    values = _numbers(df, display, report, labels)
    codes = _codes(df, display, crosswalk, labels["district_code"])
    subjects = _subjects(df, display, labels["subject"])
    check_export_end(table, path, display)
    # The state total has its own file; a state row here would double-count it.
    return _finish(display, report, {"district_code": codes, "subject": subjects}, df["_line"].tolist(),
                   {c: values[c] for c in (*_COUNTS, *_PERCENTS)}, drop_state=True)


def read_grade_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read an all-grades district file (one row per district x grade x subject).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``grade`` (int), ``subject``, counts, percents and ``avg_vss`` (average vertical
        scale score), sorted by code, grade and subject.

    Raises
    ------
    RawDataError
        As :func:`read_combined_file`, and on a grade outside :data:`GRADES_TESTED` or an average scale
        score outside :data:`VSS_RANGE`.
    """
    df, present, table = _table(path, display, report, GRADE_COLUMNS, _REQUIRED_GRADE, crosswalk)
    labels = {c: label_of(GRADE_COLUMNS, c, present) for c in _REQUIRED_GRADE}
    values = _numbers(df, display, report, labels)
    values["avg_vss"] = to_number(df, "avg_vss", display, report, lo=VSS_RANGE[0], hi=VSS_RANGE[1],
                                  tokens=SBAC_SUPPRESSION, label=labels["avg_vss"]).to_numpy()
    grade = to_number(df, "grade", display, report, tokens=frozenset(), label=labels["grade"]).to_numpy()
    bad = ~np.isin(grade, GRADES_TESTED)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RawDataError(display, f"grade {df['grade'].iloc[i]!r} is not one of {GRADES_TESTED}",
                           row=int(df["_line"].iloc[i]), column=labels["grade"])
    codes = _codes(df, display, crosswalk, labels["district_code"])
    subjects = _subjects(df, display, labels["subject"])
    keys = {"district_code": codes, "grade": grade.astype("int64").tolist(), "subject": subjects}
    check_export_end(table, path, display)
    return _finish(display, report, keys, df["_line"].tolist(),
                   {c: values[c] for c in (*_COUNTS, *_PERCENTS, "avg_vss")}, drop_state=True)


def read_state_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read the state all-grades-combined file (one row per subject).

    Returns
    -------
    pandas.DataFrame
        ``subject`` plus the counts and percents.

    Raises
    ------
    RawDataError
        As :func:`read_combined_file`, and if a row is not the state total or a subject repeats.
    """
    df, present, table = _table(path, display, report, STATE_COLUMNS, _REQUIRED_STATE, crosswalk)
    labels = {c: label_of(STATE_COLUMNS, c, present) for c in _REQUIRED_STATE}
    values = _numbers(df, display, report, labels)
    for name, line in zip(df["district"], df["_line"], strict=True):
        if crosswalk.code_for_name(name, display, int(line), labels["district"]) != STATE_CODE:
            raise RawDataError(display, f"{name!r} is not the state total", row=int(line),
                               column=labels["district"])
    subjects = _subjects(df, display, labels["subject"])
    check_export_end(table, path, display)
    return _finish(display, report, {"subject": subjects}, df["_line"].tolist(),
                   {c: values[c] for c in (*_COUNTS, *_PERCENTS)}, drop_state=False)


def _pivot_subjects(codes: list[str], subjects: list[str], measures: dict[str, np.ndarray],
                    year: int) -> pd.DataFrame:
    """``DataFrame.pivot(index="district_code", columns="subject", values=...)`` for unique keys.

    One row per code (sorted) with ``year`` and ``sbac_<subject>_<measure>`` for each measure (in the
    given order) and each subject present (sorted); NaN where a code has no row for a subject.
    """
    index = sorted(set(codes))
    row_of = {c: i for i, c in enumerate(index)}
    present = sorted(set(subjects))
    rows = np.array([row_of[c] for c in codes], dtype=np.intp)
    data: dict[str, np.ndarray] = {
        "district_code": np.array(index, dtype=object),
        "year": np.full(len(index), year, dtype=np.int64),
    }
    for name, values in measures.items():
        for subject in present:
            sel = np.array([s == subject for s in subjects], dtype=bool)
            column = np.full(len(index), np.nan)
            column[rows[sel]] = values[sel]
            data[f"sbac_{subject}_{name}"] = column
    return pd.DataFrame(data)


def _wide(combined: pd.DataFrame, year: int) -> pd.DataFrame:
    """District (or state) x subject rows -> one row per district with ``sbac_<subject>_<measure>``."""
    measures = {"l34_pct": "pct_l34", "n_scored": "n_scored", "participation": "participation"}
    is_state = "district_code" not in combined.columns
    subjects = combined["subject"].tolist()
    codes = [STATE_CODE] * len(subjects) if is_state else combined["district_code"].tolist()
    wide = _pivot_subjects(codes, subjects,
                           {new: combined[old].to_numpy(dtype=np.float64) for old, new in measures.items()},
                           year)
    return wide.drop(columns="district_code") if is_state else wide


def grades_3_8_summary(by_grade: pd.DataFrame) -> pd.DataFrame:
    """Pool grades 3-8 of a district x grade x subject table.

    Parameters
    ----------
    by_grade
        Output of :func:`read_grade_file` (``district_code``, ``grade``, ``subject``, ``n_scored``,
        ``l34_n``, ``avg_vss``), possibly with more grades than 3-8.

    Returns
    -------
    pandas.DataFrame
        One row per district x subject with grades 3-8 rows: ``n_g38`` (scored tests; NaN if any grade's
        number of scored tests is suppressed), ``pct_l34_g38`` (100 * level 3&4 count / scored tests;
        NaN if any grade's level 3&4 count or scored tests are suppressed), ``vss_g38`` (average scale
        score weighted by scored tests over the grades whose score and count are both published; NaN if
        none).
    """
    sel = np.isin(by_grade["grade"].to_numpy(), GRADES_3_8)
    n = by_grade["n_scored"].to_numpy(dtype=np.float64)[sel]
    l34 = by_grade["l34_n"].to_numpy(dtype=np.float64)[sel]
    vss = by_grade["avg_vss"].to_numpy(dtype=np.float64)[sel]
    has_vss = ~np.isnan(vss) & ~np.isnan(n)
    w = np.where(has_vss, n, np.nan)
    wv = np.where(has_vss, vss * n, np.nan)
    if not sel.any() or not exact_sums(n, l34, w, wv):
        return _grades_3_8_summary_groupby(by_grade)
    keys = list(zip(by_grade["district_code"].to_numpy(dtype=object)[sel].tolist(),
                    by_grade["subject"].to_numpy(dtype=object)[sel].tolist(), strict=True))
    groups = sorted(set(keys))
    group_of = {k: i for i, k in enumerate(groups)}
    gid = np.array([group_of[k] for k in keys], dtype=np.intp)
    size = len(groups)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(gid, weights=np.where(np.isnan(values), 0.0, values), minlength=size)

    def count(flags: np.ndarray) -> np.ndarray:
        return np.bincount(gid, weights=flags.astype(np.float64), minlength=size)

    n_sum, l34_sum = total(n), total(l34)
    w_sum = np.where(count(~np.isnan(w)) > 0, total(w), np.nan)
    wv_sum = np.where(count(~np.isnan(wv)) > 0, total(wv), np.nan)
    n_missing = count(np.isnan(n)) > 0
    incomplete = count(np.isnan(n) | np.isnan(l34)) > 0
    with np.errstate(all="ignore"):
        pct = 100.0 * l34_sum / np.where(n_sum > 0, n_sum, np.nan)
        vss_g38 = wv_sum / np.where(w_sum > 0, w_sum, np.nan)
    return pd.DataFrame({
        "district_code": np.array([g[0] for g in groups], dtype=object),
        "subject": np.array([g[1] for g in groups], dtype=object),
        "n_g38": np.where(n_missing, np.nan, n_sum),
        "pct_l34_g38": np.where(incomplete, np.nan, pct),
        "vss_g38": vss_g38,
    })


def _grades_3_8_summary_groupby(by_grade: pd.DataFrame) -> pd.DataFrame:
    """:func:`grades_3_8_summary` with pandas groupby (for sums that are not exact in every order)."""
    g = by_grade[by_grade["grade"].isin(GRADES_3_8)].copy()
    has_vss = g["avg_vss"].notna() & g["n_scored"].notna()
    g["_w"] = g["n_scored"].where(has_vss)
    g["_wv"] = (g["avg_vss"] * g["n_scored"]).where(has_vss)
    g["_n_missing"] = g["n_scored"].isna()
    g["_incomplete"] = g["n_scored"].isna() | g["l34_n"].isna()
    grouped = g.groupby(["district_code", "subject"], sort=True)
    out = grouped.agg(
        n=("n_scored", "sum"),
        l34=("l34_n", "sum"),
        w=("_w", lambda s: s.sum(min_count=1)),
        wv=("_wv", lambda s: s.sum(min_count=1)),
        n_missing=("_n_missing", "any"),
        incomplete=("_incomplete", "any"),
    ).reset_index()
    out["n_g38"] = out["n"].where(~out["n_missing"])
    out["pct_l34_g38"] = (100.0 * out["l34"] / out["n"].where(out["n"] > 0)).where(~out["incomplete"])
    out["vss_g38"] = out["wv"] / out["w"].where(out["w"] > 0)
    return out[["district_code", "subject", "n_g38", "pct_l34_g38", "vss_g38"]].astype(
        {"n_g38": "float64", "pct_l34_g38": "float64", "vss_g38": "float64"}
    )


def _g38_wide(by_grade: pd.DataFrame, year: int) -> pd.DataFrame:
    summary = grades_3_8_summary(by_grade)
    measures = ["vss_g38", "pct_l34_g38", "n_g38"]
    return _pivot_subjects(summary["district_code"].tolist(), summary["subject"].tolist(),
                           {m: summary[m].to_numpy(dtype=np.float64) for m in measures}, year)


#: District measure columns in output order.
DISTRICT_COLUMNS = [
    f"sbac_{s}_{m}"
    for m in ("pct_l34", "n_scored", "participation", "vss_g38", "pct_l34_g38", "n_g38")
    for s in ("ela", "math")
]

#: State measure columns (all grades combined only: there is no state by-grade file).
STATE_MEASURES = [f"sbac_{s}_{m}" for m in ("pct_l34", "n_scored", "participation") for s in ("ela", "math")]

_SOURCE = ("sbac: CT-Data-Collaborative/smarter-balanced-by-all-students raw EdSight exports (2015-2019); "
           "edbot317-source/public-CT-ed-data sbac/raw/all_students (2022-2025)")

_SUBJECT_NAME = {"ela": "ELA", "math": "math"}


def column_specs() -> list[ColumnSpec]:
    """Data dictionary entries for :data:`DISTRICT_COLUMNS`."""
    specs = []
    for s in ("ela", "math"):
        name = _SUBJECT_NAME[s]
        specs += [
            ColumnSpec(f"sbac_{s}_pct_l34", "number", "percent",
                       f"SBAC {name}: % of scored tests at level 3 or 4 (met or exceeded), all tested "
                       "grades combined (2015 includes grade 11)", _SOURCE + ", all-grades-combined"),
            ColumnSpec(f"sbac_{s}_n_scored", "number", "students",
                       f"SBAC {name}: number of students with scored tests, all tested grades combined",
                       _SOURCE + ", all-grades-combined"),
            ColumnSpec(f"sbac_{s}_participation", "number", "percent",
                       f"SBAC {name}: participation rate (tested / enrolled in tested grades)",
                       _SOURCE + ", all-grades-combined"),
            ColumnSpec(f"sbac_{s}_vss_g38", "number", "scale score points",
                       f"SBAC {name}: average vertical scale score over grades 3-8, weighted by scored "
                       "tests over the grades whose average is published (2015-2019; the 2022-2025 exports "
                       "publish no scale score)", _SOURCE + ", all-grades"),
            ColumnSpec(f"sbac_{s}_pct_l34_g38", "number", "percent",
                       f"SBAC {name}: % at level 3 or 4 over grades 3-8 (level 3&4 counts / scored tests); "
                       "empty if any grade's count is suppressed; 2022-2025 from the all-grades-combined "
                       "export, which covers grades 3-8 only", _SOURCE + ", all-grades"),
            ColumnSpec(f"sbac_{s}_n_g38", "number", "students",
                       f"SBAC {name}: students with scored tests in grades 3-8; empty if any grade's number "
                       "is suppressed; 2022-2025 from the all-grades-combined export",
                       _SOURCE + ", all-grades"),
        ]
    order = {c: i for i, c in enumerate(DISTRICT_COLUMNS)}
    return sorted(specs, key=lambda c: order[c.name])


def _kind(path: str) -> str:
    # Check the longest ending first: "_combined_ct.csv" also ends in ".csv" like the others.
    for kind in (KIND_STATE, KIND_COMBINED, KIND_GRADE):
        if path.endswith(kind):
            return kind
    if _EDBOT_NAME.search(path):
        return KIND_EDBOT
    raise RawDataError(path, f"not an SBAC file kind: expected a name ending in {KIND_STATE}, "
                       f"{KIND_COMBINED} or {KIND_GRADE}, or sbac-YYYY-YY.csv")


def _g38_from_combined(combined: pd.DataFrame, year: int) -> pd.DataFrame:
    """Grades 3-8 columns from an all-grades-combined table that covers grades 3-8 only (2022 on)."""
    n = combined["n_scored"].to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        pct = 100.0 * combined["l34_n"].to_numpy(dtype=np.float64) / np.where(n > 0, n, np.nan)
    return _pivot_subjects(combined["district_code"].tolist(), combined["subject"].tolist(),
                           {"vss_g38": np.full(len(n), np.nan), "pct_l34_g38": pct, "n_g38": n}, year)


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every SBAC file in the registry.

    Returns
    -------
    SourceOutput
        ``district``: one row per district x year with :data:`DISTRICT_COLUMNS`; ``state``: ``year`` and
        :data:`STATE_MEASURES`; ``extra["sbac_by_grade"]``: district x year x grade x subject with
        ``n_scored``, ``pct_l34``, ``avg_scale_score``.
    """
    reports: list[SourceReport] = []
    combined: list[pd.DataFrame] = []
    g38: list[pd.DataFrame] = []
    by_grade: list[pd.DataFrame] = []
    state: list[pd.DataFrame] = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        path = registry.verified_path(entry)
        year = year_from_path(entry.path)
        kind = _kind(entry.path)
        if kind == KIND_STATE:
            state.append(_wide(read_state_file(path, entry.path, crosswalk, report), year))
        elif kind == KIND_COMBINED:
            combined.append(_wide(read_combined_file(path, entry.path, crosswalk, report), year))
        elif kind == KIND_EDBOT:
            table = read_combined_file(path, entry.path, crosswalk, report)
            combined.append(_wide(table, year))
            g38.append(_g38_from_combined(table, year))
        else:
            grades = read_grade_file(path, entry.path, crosswalk, report)
            g38.append(_g38_wide(grades, year))
            long = grades.rename(columns={"l34_pct": "pct_l34", "avg_vss": "avg_scale_score"})
            by_grade.append(long.assign(year=np.int64(year))[BY_GRADE_COLUMNS])
        reports.append(report)

    key = ["district_code", "year"]
    left = pd.concat(combined, ignore_index=True) if combined else pd.DataFrame(columns=key)
    right = pd.concat(g38, ignore_index=True) if g38 else pd.DataFrame(columns=key)
    # Outer: a district in only one of the two files keeps its row with the other file's columns empty.
    district = left.merge(right, on=key, how="outer")
    for col in DISTRICT_COLUMNS:
        if col not in district.columns:
            district[col] = np.nan
    district = district[[*key, *DISTRICT_COLUMNS]].astype({c: "float64" for c in DISTRICT_COLUMNS})
    district["year"] = district["year"].astype("int64")
    district = district.sort_values(key, ignore_index=True)
    check_unique(district, key, "sbac (all files)")

    state_df = pd.concat(state, ignore_index=True) if state else pd.DataFrame(columns=["year"])
    for col in STATE_MEASURES:
        if col not in state_df.columns:
            state_df[col] = np.nan
    state_df = state_df[["year", *STATE_MEASURES]].astype({c: "float64" for c in STATE_MEASURES})
    state_df["year"] = state_df["year"].astype("int64")
    state_df = state_df.sort_values("year", ignore_index=True)
    check_unique(state_df, ["year"], "sbac (state files)")

    grades_df = (
        pd.concat(by_grade, ignore_index=True) if by_grade else pd.DataFrame(columns=BY_GRADE_COLUMNS)
    )
    grades_df = grades_df.sort_values(["district_code", "year", "grade", "subject"], ignore_index=True)
    return SourceOutput(
        family=FAMILY,
        district=district,
        state=state_df,
        extra={"sbac_by_grade": grades_df},
        reports=reports,
        columns=column_specs(),
    )

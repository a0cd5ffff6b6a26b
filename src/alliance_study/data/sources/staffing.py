"""Staffing: full-time-equivalent (FTE) staff by assignment category.

Reads the EdSight "FTE Staffing Report" exports in ``CT-Data-Collaborative/edsight-data/data/
staffing-levels-district/staffing-levels__YYYY-YY_all_all-categories.csv`` (2001-02 to 2015-16, spring
years 2002-2016), and the state files ``..._ct.csv`` where registered (11 of the 15 years).

Layout: a title line ("FTE Staffing Report for 2002-03"), a blank line, the header ``"District",
"Assignment Category","Educator Type","FTE Count"``, then one block per district: the district name on
the block's first row only, empty on the rest (forward-filled here, within the block; a blank line ends a
block), ``="..."`` Excel text protection, and a trailing blank line. Files carry names only: they are
mapped to codes through the crosswalk. Entities with no CSDE district code are dropped by name
(:data:`NO_CODE_ENTITIES`).

The figures come from two CSDE collections, which shape what a missing row means:

* certified staff (teachers, administrators, counselors, instructional specialists, library
  specialists): only positive FTEs are listed (no zero ever appears), so a category missing from a block
  that has certified rows is 0; a block with no certified row at all (every block in 2001-02, Elm City
  Montessori 2015) did not report them: NaN;
* non-certified staff (paraprofessionals, library support, nurses): listed as a group of four rows,
  zeros included; a block without any of them did not report (1 to 15 entities a year, among them
  Norwalk 2010, 2012, 2013 and Branford 2016), so those categories are NaN, not 0.

"Other staff providing non-instructional services/support" mixes both ("Certified/Non-Certified"): it is
NaN unless the block has both parts. The 2001-02 file has only the non-certified report, so every certified
category, ``fte_other_support`` and ``fte_total`` are NaN in 2002. ``fte_total`` is the sum of all twelve
categories and NaN when any is NaN.
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
    normalize_label,
    read_export,
    unquote_excel,
)
from alliance_study.data.sources.directory import Crosswalk, name_key
from alliance_study.data.sources.keys import STATE_CODE, spring_year, year_from_path
from alliance_study.data.sources.numbers import to_number
from alliance_study.errors import RawDataError

FAMILY = "staffing"

_FILE_NAME = re.compile(r"^staffing-levels__\d{4}-\d{2}_all_all-categories(?P<ct>_ct)?\.csv$")

#: First words of the title line; the rest is the school year, which must match the file name.
TITLE_PREFIX = "FTE Staffing Report for"

#: Raw column label -> canonical name.
COLUMN_MAP: dict[str, str] = {
    "District": "district_name",
    "Assignment Category": "category_label",
    "Educator Type": "educator_type",
    "FTE Count": "fte",
}

CERTIFIED = "Certified"
NON_CERTIFIED = "Non-Certified"
MIXED = "Certified/Non-Certified"

#: Assignment category (whitespace-normalized; EdSight strips the commas, leaving double spaces) ->
#: (category key, the only educator type it comes with). The same twelve labels are used in every year
#: 2002-2016; 2001-02 has only the five non-certified/mixed ones.
CATEGORIES: dict[str, tuple[str, str]] = {
    "General Education - Teachers and Instructors": ("gen_ed_teachers", CERTIFIED),
    "Special Education - Teachers and Instructors": ("sped_teachers", CERTIFIED),
    "Instructional Specialists Who Support Teachers": ("instr_specialists", CERTIFIED),
    "Administrators Coordinators and Department Chairs - School Level": ("admin_school", CERTIFIED),
    "Administrators Coordinators and Department Chairs - District Central Office": (
        "admin_central", CERTIFIED
    ),
    "Counselors Social Workers and School Psychologists": ("counselors", CERTIFIED),
    "Library/Media - Specialists (Certified)": ("library_cert", CERTIFIED),
    "Library/Media - Support Staff": ("library_support", NON_CERTIFIED),
    "School Nurses": ("nurses", NON_CERTIFIED),
    "General Education - Paraprofessional Instructional Assistants": ("paras_gen", NON_CERTIFIED),
    "Special Education - Paraprofessional Instructional Assistants": ("paras_sped", NON_CERTIFIED),
    "Other Staff Providing Non-Instructional Services/Support": ("other_support", MIXED),
}

#: Category keys by educator type, in output order.
CERTIFIED_KEYS = [k for k, t in CATEGORIES.values() if t == CERTIFIED]
NON_CERTIFIED_KEYS = [k for k, t in CATEGORIES.values() if t == NON_CERTIFIED]
MIXED_KEYS = [k for k, t in CATEGORIES.values() if t == MIXED]

#: Output measure columns of the district table.
MEASURES = ["fte_total", *[f"fte_{k}" for k in CERTIFIED_KEYS + NON_CERTIFIED_KEYS + MIXED_KEYS]]

#: Entities in the staffing files with no CSDE district code (not in the Education Directory, the
#: historical list, or any other registered file with a code), dropped with this reason. Checked by hand:
#: two others are real districts under another name and are aliases in directory.NAME_ALIASES
#: ("Highville Mustard Seed Charter School District" -> Highville Charter School District 2860013;
#: "Department of Rehabilitation Services" -> Department of Aging and Disability Services 3510015).
NO_CODE_ENTITIES: dict[str, str] = {
    "Cross Cultural Academy District": "entity without a CSDE district code: Cross Cultural Academy District "
    "(2006-07 only; also in the 2006-07 expenditure files, never with a code)",
    "Project Oceanology": "not a district: Project Oceanology (marine-science education center, Groton)",
    "Shared Services": "not a district: Shared Services (pooled staff, no CSDE district code)",
}

#: EdSight suppression tokens. None occur in the staffing files; an empty FTE cell is an error.
SUPPRESSION = frozenset({"*", "N/A"})

BLANK_REASON = "blank line"
STATE_ROW_REASON = "state total row (reported in the state table)"


def is_state_file(display: str) -> bool:
    """True for a ``..._ct.csv`` (state total) file; raise on a name that is not a staffing export."""
    match = _FILE_NAME.match(Path(display).name)
    if not match:
        raise RawDataError(
            display, "not a staffing export name (staffing-levels__YYYY-YY_all_all-categories[_ct].csv)"
        )
    return match.group("ct") is not None


#: :func:`~.directory.name_key`, memoized: the same few hundred names recur in every file.
_name_key = functools.lru_cache(maxsize=4096)(name_key)


def _unquoted(cells: list[str]) -> list[str]:
    """:func:`unquote_excel` of every cell (each distinct value is cleaned once)."""
    clean = {v: unquote_excel(v) for v in dict.fromkeys(cells)}
    return [clean[v] for v in cells]


def read_staffing_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one staffing export into a long table.

    Parameters
    ----------
    path
        The CSV file.
    display
        Registry path (errors, year, and whether this is a ``_ct`` state file).
    crosswalk
        Maps district names to codes ("State of Connecticut" -> ``0000000``).
    report
        Row accounting for this file.

    Returns
    -------
    districts, state
        Long tables ``district_code``, ``year``, ``category`` (key of :data:`CATEGORIES`),
        ``educator_type``, ``fte``, ``_line``; state rows (code ``0000000``) in the second. In a
        ``_ct`` file the state rows are counted as kept, elsewhere as dropped (moved to the state table).

    Raises
    ------
    RawDataError
        On a title/year mismatch, unknown or missing columns, a row without a district name that does
        not continue a block, an unknown category, an educator type that does not match its category, a
        non-numeric or negative FTE, an unknown district name, or a category repeated for a district.
    """
    districts, state = _read_rows(path, display, crosswalk, report)
    return _long_frame(districts), _long_frame(state)


#: One long-table row: district code, year, category key, educator type, FTE, line in the file.
_Row = tuple[str, int, str, str, float, int]


def _read_rows(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport
) -> tuple[list[_Row], list[_Row]]:
    """:func:`read_staffing_file` as lists of rows (district rows, state rows), each sorted by code and
    category."""
    state_file = is_state_file(display)
    year = year_from_path(display)
    table = read_export(path, display, header_first=("District",))
    if not table.title or not table.title[0].startswith(TITLE_PREFIX):
        raise RawDataError(display, f"title {table.title[:1]} does not start with {TITLE_PREFIX!r}", row=1)
    if spring_year(table.title[0], display, line=1) != year:
        raise RawDataError(display, f"title {table.title[0]!r} does not match the file name's year", row=1)
    header_line = table.header_line
    columns = mapped_columns(table, COLUMN_MAP, display, list(COLUMN_MAP.values()), header_line)
    # Work on plain Python lists (per-cell work through pandas' Arrow-backed strings is slow); the few
    # distinct labels and names are cleaned once each.
    all_names = _unquoted(columns["district_name"])
    all_cats = _unquoted(columns["category_label"])
    all_kinds = _unquoted(columns["educator_type"])
    all_fte = columns["fte"]
    report.rows_read += len(table.rows)

    names: list[str] = []
    cats: list[str] = []
    kinds: list[str] = []
    fte_cells: list[str] = []
    lines: list[int] = []
    current: str | None = None
    n_blank = 0
    for name, cat, kind, fte, line in zip(all_names, all_cats, all_kinds, all_fte, table.lines, strict=True):
        if not (name or cat or kind or str(fte).strip()):
            current = None  # a blank line ends the block
            n_blank += 1
            continue
        if name:
            current = name
        elif current is None:
            raise RawDataError(
                display, "row has no district name and does not continue a district block",
                row=int(line), column="District",
            )
        names.append(current)
        cats.append(cat)
        kinds.append(kind)
        fte_cells.append(fte)
        lines.append(line)
    report.drop(BLANK_REASON, n_blank)
    if not names:
        raise RawDataError(
            display, "no data rows after the header (truncated file?)", row=header_line, column="District"
        )

    norm = {normalize_label(k): v for k, v in CATEGORIES.items()}
    specs = {label: norm.get(normalize_label(label)) for label in dict.fromkeys(cats)}
    keys: list[str] = []
    for label, kind, line in zip(cats, kinds, lines, strict=True):
        spec = specs[label]
        if spec is None:
            raise RawDataError(
                display, f"unknown assignment category {label!r}; known: {sorted(CATEGORIES)}",
                row=int(line), column="Assignment Category",
            )
        if kind != spec[1]:
            raise RawDataError(
                display, f"educator type {kind!r} for {label!r}, expected {spec[1]!r}",
                row=int(line), column="Educator Type",
            )
        keys.append(spec[0])
    numbers = pd.DataFrame({"fte": pd.Series(fte_cells, dtype=object), "_line": lines})
    ftes = to_number(numbers, "fte", display, report, lo=0, tokens=SUPPRESSION, label="FTE Count").tolist()
    check_export_end(table, path, display, "FTE Count")

    # Drop reasons and codes, computed once per distinct name.
    no_code = {_name_key(n): reason for n, reason in NO_CODE_ENTITIES.items()}
    name_keys = {n: _name_key(n) for n in dict.fromkeys(names)}
    reason_of = {n: no_code.get(k) for n, k in name_keys.items()}
    dropped = [reason_of[n] for n in names if reason_of[n] is not None]
    for reason in sorted(set(dropped)):
        report.drop(reason, dropped.count(reason))
    code_of = {n: crosswalk.names.get(k) for n, k in name_keys.items()}
    rows: list[_Row] = []
    for name, key, kind, fte, line in zip(names, keys, kinds, ftes, lines, strict=True):
        if reason_of[name] is not None:
            continue
        code = code_of[name]
        if code is None:
            crosswalk.code_for_name(name, display, int(line), "District")  # raises the standard error
        rows.append((code, year, key, kind, fte, line))
    if len({(r[0], r[2]) for r in rows}) < len(rows):
        check_unique(_long_frame(rows), ["district_code", "category"], display)  # raises

    if state_file:
        for code, _, _, _, _, line in rows:
            if code != STATE_CODE:
                raise RawDataError(
                    display, f"district {code} in a state (_ct) file", row=int(line), column="District"
                )
    state = [r for r in rows if r[0] == STATE_CODE]
    districts = [r for r in rows if r[0] != STATE_CODE]
    if state_file:
        report.rows_kept += len(state)
    else:
        report.drop(STATE_ROW_REASON, len(state))
        report.rows_kept += len(districts)
    report.check()
    # Sorted by district code, year and category: unique (checked above), so later fields never decide.
    return sorted(districts), sorted(state)


def _long_frame(rows: list[_Row], line: bool = True) -> pd.DataFrame:
    """Long table of rows: ``district_code``, ``year``, ``category``, ``educator_type``, ``fte`` and, if
    ``line``, ``_line``."""
    codes, years, keys, kinds, ftes, lines = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 6
    frame = pd.DataFrame({
        "district_code": pd.Series(codes, dtype="str"),
        "year": np.asarray(years, dtype="int64"),
        "category": pd.Series(keys, dtype="str"),
        "educator_type": pd.Series(kinds, dtype="str"),
        "fte": np.asarray(ftes, dtype="float64"),
    })
    if line:
        frame["_line"] = np.asarray(lines, dtype="int64")
    return frame


def staffing_wide(long: pd.DataFrame) -> pd.DataFrame:
    """One row per district-year with :data:`MEASURES`, applying the missing-row rules of the module.

    Parameters
    ----------
    long
        Output of :func:`read_staffing_file` (any number of files).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year`` and :data:`MEASURES` (float64), sorted by code and year.
    """
    keys = ["district_code", "year"]
    if long.empty:
        return pd.DataFrame(columns=keys + MEASURES).astype({"year": "int64"})
    # Categories are unique per district-year (checked on read); unstack keeps only observed district-years.
    wide = long.set_index([*keys, "category"])["fte"].unstack("category")
    wide = wide.reindex(columns=CERTIFIED_KEYS + NON_CERTIFIED_KEYS + MIXED_KEYS)
    # Whether each district-year has any certified / non-certified row (cythonized, not per group).
    kind = long["educator_type"]
    flags = pd.DataFrame(
        {"has_cert": kind.eq(CERTIFIED), "has_noncert": kind.eq(NON_CERTIFIED), **{k: long[k] for k in keys}}
    )
    parts = flags.groupby(keys)[["has_cert", "has_noncert"]].any().reindex(wide.index)
    has_cert = parts["has_cert"].astype(bool)
    has_noncert = parts["has_noncert"].astype(bool)
    both = has_cert & has_noncert
    for cols, present in ((CERTIFIED_KEYS, has_cert), (NON_CERTIFIED_KEYS, has_noncert), (MIXED_KEYS, both)):
        for c in cols:
            wide[c] = wide[c].fillna(0.0).where(present)
    wide = wide.rename(columns={c: f"fte_{c}" for c in wide.columns})
    wide["fte_total"] = wide[[c for c in MEASURES if c != "fte_total"]].sum(axis=1, skipna=False)
    out = wide.reset_index()[keys + MEASURES]
    out.columns.name = None
    out = out.astype({"year": "int64", **dict.fromkeys(MEASURES, "float64")})
    return out.sort_values(keys, ignore_index=True)


_SRC = "EdSight FTE Staffing Report (CT-Data-Collaborative/edsight-data, staffing-levels-district)"

#: Data dictionary of the district table.
COLUMNS: list[ColumnSpec] = [
    ColumnSpec("fte_total", "number", "FTE",
               "All staff FTE (sum of the twelve categories); NaN when a certified or non-certified report "
               "is missing (all of 2002)", _SRC),
    ColumnSpec("fte_gen_ed_teachers", "number", "FTE", "General education teachers and instructors", _SRC),
    ColumnSpec("fte_sped_teachers", "number", "FTE", "Special education teachers and instructors", _SRC),
    ColumnSpec("fte_instr_specialists", "number", "FTE", "Instructional specialists who support teachers",
               _SRC),
    ColumnSpec("fte_admin_school", "number", "FTE",
               "Administrators, coordinators and department chairs, school level", _SRC),
    ColumnSpec("fte_admin_central", "number", "FTE",
               "Administrators, coordinators and department chairs, district central office", _SRC),
    ColumnSpec("fte_counselors", "number", "FTE", "Counselors, social workers and school psychologists",
               _SRC),
    ColumnSpec("fte_library_cert", "number", "FTE", "Library/media specialists (certified)", _SRC),
    ColumnSpec("fte_library_support", "number", "FTE", "Library/media support staff (non-certified)", _SRC),
    ColumnSpec("fte_nurses", "number", "FTE", "School nurses (non-certified)", _SRC),
    ColumnSpec("fte_paras_gen", "number", "FTE",
               "General education paraprofessional instructional assistants", _SRC),
    ColumnSpec("fte_paras_sped", "number", "FTE",
               "Special education paraprofessional instructional assistants", _SRC),
    ColumnSpec("fte_other_support", "number", "FTE",
               "Other staff providing non-instructional services/support (certified and non-certified); "
               "NaN unless both reports are present", _SRC),
]


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read every staffing export.

    Returns
    -------
    SourceOutput
        ``district``: ``district_code``, ``year`` and :data:`MEASURES`, 2002-2016. ``state``: the same
        from the ``_ct`` files (years without one are absent). ``extra["staffing_long"]``:
        ``district_code``, ``year``, ``category``, ``educator_type``, ``fte`` as read (district rows).
    """
    reports: list[SourceReport] = []
    districts: list[_Row] = []
    states: list[_Row] = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        d, s = _read_rows(registry.verified_path(entry), entry.path, crosswalk, report)
        districts.extend(d)
        states.extend(s)
        reports.append(report)
    long = _long_frame(districts, line=False)
    state_long = _long_frame(states, line=False)
    check_unique(state_long, ["year", "category"], "staffing (state files)")
    district = staffing_wide(long)
    check_unique(district, ["district_code", "year"], "staffing (assembled)")
    state = staffing_wide(state_long).drop(columns="district_code")
    long = long.sort_values(["district_code", "year", "category"], ignore_index=True)
    return SourceOutput(
        FAMILY, district=district, state=state, extra={"staffing_long": long}, reports=reports,
        columns=list(COLUMNS),
    )

"""District expenditures by function, total and per pupil, 2005-06 to 2014-15 (EdSight).

Sources (registry family ``expenditures``), CT-Data-Collaborative/edsight-data raw EdSight exports:

- ``annual-expenditures__YYYY-YY.csv``: total expenditures by function (nominal dollars), one row per
  district. Two title lines (``"Overall Expenditures, 2012-13"``, ``"All Districts"``), a blank line, a
  group-header row of ``"_"`` cells, the header (first cell ``District``), the data and a trailing blank
  line. Names only, no codes; most names are Excel-protected (``="Andover School District"``).
- ``per-pupil-expenditures__YYYY-YY.csv``: the same layout, per pupil; the first header cell is ``Type``
  and there is no "Students Tuitioned Out" column.
- ``annual-expenditures__YYYY-YY_ct.csv``: the state total in LONG form (``District, Type, Total,
  State % of Total``: one row per function, the district cell filled on the first row only).
- ``per-pupil-expenditures__YYYY-YY_ct.csv``: the state per-pupil row, same layout as the district file.

Quirks handled explicitly:

- :data:`NAME_REPAIRS`: ``="New Beginnings Inc., Family Academy District"`` is Excel-protected but not
  CSV-quoted, so the comma in the name splits it into two cells and the row has one cell too many. The
  exact broken text is replaced by a quoted name before the CSV is parsed (line numbers unchanged).
- Label drift: the district files say "Improvement of Instruction and Educational Media Services" and
  "Plant Operation and Maintenance"; the per-pupil and state files say "Instruction and Educational Media
  Services" and "Plant Operation and Management" (per-pupil). Both spellings are in the column maps.
- ``N/A`` means not available (charters have no tuition-out line; some have no transportation); it
  becomes NaN and is counted per column.
- :data:`UNCODED_DISTRICTS`: closed charter schools that the crosswalk does not know are dropped with a
  counted reason.
- Hartford School District is missing from both 2014-15 files (it is in the earlier years). It is not
  filled in; Hartford has no expenditure row for 2015.

Checks: in the annual files the functions must add up to "Total Expenditures" (they do exactly in every
file; the tolerance is :data:`SUM_TOLERANCE_USD` and :data:`SUM_TOLERANCE_SHARE`). The per-pupil
components are NOT additive: EdSight divides the functions and the total by different pupil counts (the
total is net current expenditure per pupil, whose pupil count includes students tuitioned out), so the
per-pupil total differs from the sum of its components by up to a few thousand dollars in small towns
that tuition out their high-school students. The gaps of every file are reported in
``extra["expenditure_checks"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_export_end, check_unique
from alliance_study.data.sources.common import (
    ColumnSpec,
    RawTable,
    SourceOutput,
    SourceReport,
    decode,
    kept_labels,
    parse_export,
    read_export,
    unquote_excel,
)
from alliance_study.data.sources.directory import Crosswalk, name_key
from alliance_study.data.sources.keys import STATE_CODE, spring_year, year_from_path
from alliance_study.data.sources.numbers import EDSIGHT_TOKENS, exact_sums, to_number, to_numbers
from alliance_study.errors import RawDataError

FAMILY = "expenditures"

#: Function labels shared by the annual district file (wide) and the annual state file (long, in the
#: ``Type`` column) -> canonical name.
ANNUAL_FUNCTIONS: dict[str, str] = {
    "Instructional Staff and Services": "exp_instr_staff",
    "Instructional Supplies and Equipment": "exp_instr_supplies",
    "Improvement of Instruction and Educational Media Services": "exp_improvement_instr",
    "Instruction and Educational Media Services": "exp_improvement_instr",
    "Student Support Services": "exp_student_support",
    "Administration and Support Services": "exp_admin",
    "Plant Operation and Maintenance": "exp_plant",
    "Plant Operation and Management": "exp_plant",
    "Transportation": "exp_transport",
    "Students Tuitioned Out": "exp_tuition_out",
    "Other": "exp_other",
    "Total Expenditures": "exp_total",
}

#: Annual district file: raw label -> canonical name.
ANNUAL_COLUMN_MAP: dict[str, str | None] = {"District": "district_name", **ANNUAL_FUNCTIONS}

#: Per-pupil files (district and state): raw label -> canonical name. The first header cell is "Type".
PER_PUPIL_COLUMN_MAP: dict[str, str | None] = {
    "Type": "district_name",
    "Instructional Staff and Services": "ppe_instr_staff",
    "Instructional Supplies and Equipment": "ppe_instr_supplies",
    "Improvement of Instruction and Educational Media Services": "ppe_improvement_instr",
    "Instruction and Educational Media Services": "ppe_improvement_instr",
    "Student Support Services": "ppe_student_support",
    "Administration and Support Services": "ppe_admin",
    "Plant Operation and Maintenance": "ppe_plant",
    "Plant Operation and Management": "ppe_plant",
    "Transportation": "ppe_transport",
    "Other": "ppe_other",
    "Total Expenditures": "ppe_total",
}

#: Annual state file (long): raw label -> canonical name.
STATE_LONG_COLUMN_MAP: dict[str, str | None] = {
    "District": "district_name",
    "Type": "function",
    "Total": "amount",
    "State % of Total": "share",
}

EXP_COMPONENTS = ["exp_instr_staff", "exp_instr_supplies", "exp_improvement_instr", "exp_student_support",
                  "exp_admin", "exp_plant", "exp_transport", "exp_tuition_out", "exp_other"]
PPE_COMPONENTS = ["ppe_instr_staff", "ppe_instr_supplies", "ppe_improvement_instr", "ppe_student_support",
                  "ppe_admin", "ppe_plant", "ppe_transport", "ppe_other"]
EXP_MEASURES = ["exp_total", *EXP_COMPONENTS]
PPE_MEASURES = ["ppe_total", *PPE_COMPONENTS]
MEASURES = EXP_MEASURES + PPE_MEASURES

#: Known broken cells, as raw text -> repaired text. The Excel text-protection ``="..."`` is not CSV
#: quoting, so a comma inside the name splits the cell (seen in every year, both file kinds).
NAME_REPAIRS: dict[str, str] = {
    '="New Beginnings Inc., Family Academy District"': '"New Beginnings Inc., Family Academy District"',
}

#: Closed charter schools whose codes are not in the crosswalk: Cross Cultural Academy (2006-07 files only;
#: CSDE number 284 in the grant-payment history). Dropped with :data:`UNCODED_REASON` unless the
#: crosswalk learns the name. (Highville Mustard Seed Charter School, in the 2005-06 and 2006-07 files, is
#: mapped by a NAME_ALIASES entry to Highville Charter School, 2860013.)
UNCODED_DISTRICTS: frozenset[str] = frozenset({"Cross Cultural Academy District"})

UNCODED_REASON = "closed charter school with no district code in the crosswalk (UNCODED_DISTRICTS)"
BLANK_REASON = "blank line"


#: Components must add up to the total, except for rounding: a gap raises only when it exceeds BOTH this
#: many dollars and this share of the total (the published files add up exactly).
SUM_TOLERANCE_USD = 1000.0
SUM_TOLERANCE_SHARE = 0.01

#: "State % of Total" is published to one decimal: allowed gap to 100 * amount / total, in points.
SHARE_TOLERANCE = 0.051

#: First title line of each file kind (checked, with the school year in it).
TITLES = {"annual": "Overall Expenditures", "per_pupil": "Per Pupil Expenditures"}

SOURCE = "CSDE EdSight expenditures by function: CT-Data-Collaborative/edsight-data (2005-06 to 2014-15)"

_EXP_DESC = {
    "exp_total": "Total expenditures (sum of the functions below)",
    "exp_instr_staff": "Instructional staff and services",
    "exp_instr_supplies": "Instructional supplies and equipment",
    "exp_improvement_instr": "Improvement of instruction and educational media services",
    "exp_student_support": "Student support services",
    "exp_admin": "Administration and support services",
    "exp_plant": "Plant operation and maintenance",
    "exp_transport": "Transportation",
    "exp_tuition_out": "Tuition paid for students tuitioned out (N/A for charters)",
    "exp_other": "Other expenditures",
}
_PPE_DESC = {
    "ppe_total": "Total expenditure per pupil (net current expenditure per pupil; its pupil count differs "
                 "from the components', so the components do not add up to it)",
    "ppe_instr_staff": "Instructional staff and services per pupil",
    "ppe_instr_supplies": "Instructional supplies and equipment per pupil",
    "ppe_improvement_instr": "Improvement of instruction and educational media services per pupil",
    "ppe_student_support": "Student support services per pupil",
    "ppe_admin": "Administration and support services per pupil",
    "ppe_plant": "Plant operation and maintenance per pupil",
    "ppe_transport": "Transportation per pupil",
    "ppe_other": "Other expenditures per pupil",
}
_NOTE = " Hartford is missing in 2014-15 (not in the EdSight export)."

COLUMNS = [
    *(ColumnSpec(c, "number", "USD (nominal)", _EXP_DESC[c] + "." + _NOTE, SOURCE) for c in EXP_MEASURES),
    *(ColumnSpec(c, "number", "USD (nominal) per pupil", _PPE_DESC[c] + "." + _NOTE, SOURCE)
      for c in PPE_MEASURES),
]


def file_kind(display: str) -> tuple[str, bool]:
    """``("annual" | "per_pupil", is_state_file)`` from a registry path; raise on anything else."""
    name = Path(display).name
    is_state = name.endswith("_ct.csv")
    if name.startswith("annual-expenditures__"):
        return "annual", is_state
    if name.startswith("per-pupil-expenditures__"):
        return "per_pupil", is_state
    raise RawDataError(display, "not an annual-expenditures__ or per-pupil-expenditures__ file")


def _read_repaired(path: Path, display: str, header_first: tuple[str, ...]) -> RawTable:
    """``read_export`` after replacing the :data:`NAME_REPAIRS` texts (which keeps line numbers)."""
    text = decode(path, display)
    repaired = text
    for broken, fixed in NAME_REPAIRS.items():
        repaired = repaired.replace(broken, fixed)
    if repaired != text and repaired.startswith("\ufeff"):
        # The repaired text used to be written out and read back as UTF-8-sig, dropping a leading BOM.
        repaired = repaired[1:]
    return parse_export(repaired, display, header_first=header_first)


def _check_title(table: RawTable, kind: str, year: int, display: str) -> None:
    """The first title line names the file kind and the same school year as the file name."""
    title = table.title[0] if table.title else ""
    if not title.startswith(TITLES[kind]):
        raise RawDataError(display, f"title {title!r} does not start with {TITLES[kind]!r}", row=1)
    if spring_year(title, display, line=1) != year:
        raise RawDataError(display, f"title {title!r} is not the school year of the file name ({year})",
                           row=1)


def _check_sum(df: pd.DataFrame, total: str, components: list[str], display: str, label: str) -> None:
    """Raise if the components (N/A as 0) miss the total by more than the tolerances."""
    parts = df[components].fillna(0).sum(axis=1)
    gap = df[total] - parts
    bad = (gap.abs() > SUM_TOLERANCE_USD) & (gap.abs() > SUM_TOLERANCE_SHARE * df[total].abs())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RawDataError(display, f"functions add up to {parts.iloc[i]:.0f}, not the total "
                           f"{df[total].iloc[i]:.0f}", row=int(df["_line"].iloc[i]), column=label)


def _kept_columns(table: RawTable, column_map: dict[str, str | None], display: str,
                  header_line: int) -> dict[str, str]:
    """Raw label -> name of the columns :func:`apply_column_map` keeps; where it would raise, it is called.

    ``_line`` is left out; other ``_`` columns pass through under their label.
    """
    required = sorted({v for v in column_map.values() if v})
    return kept_labels(table, column_map, display, required, header_line)


def _filled_rows(table: RawTable, keep: dict[str, str], report: SourceReport, display: str,
                 header_line: int) -> list[int]:
    """Indices of the rows with a non-empty kept cell; the others are dropped as blank lines."""
    report.rows_read += len(table.rows)
    positions = [table.columns.index(c) for c in keep]
    filled = [i for i, row in enumerate(table.rows) if any(row[j] for j in positions)]
    report.drop(BLANK_REASON, len(table.rows) - len(filled))
    if not filled:
        raise RawDataError(display, "no data rows after the header (truncated file?)", row=header_line + 1)
    return filled


def _codes_for_names(crosswalk: Crosswalk, names: list[str], lines: list[int], display: str,
                     column: str) -> list[str]:
    """:meth:`Crosswalk.codes_for_names` over plain lists, each distinct name looked up once."""
    found: dict[str, str] = {}
    codes = []
    for name, line in zip(names, lines, strict=True):
        code = found.get(name)
        if code is None:
            code = crosswalk.names.get(name_key(name))
            if code is None:
                crosswalk.code_for_name(name, display, int(line), column)  # raises naming the row
            code = found[name] = str(code)
        codes.append(code)
    return codes


def _cells_frame(table: RawTable, rows: list[int], columns: dict[str, int], lines: list[int]) -> pd.DataFrame:
    """Object columns ``name -> cells of the selected rows`` with ``_line``, for :func:`to_number`."""
    data = {name: np.array([table.rows[i][j] for i in rows], dtype=object) for name, j in columns.items()}
    data["_line"] = np.array(lines, dtype=object)
    return pd.DataFrame(data, dtype=object)


def _sum_gap_suspect(total: np.ndarray, parts: np.ndarray, scale: np.ndarray) -> bool:
    """True if :func:`_check_sum` might raise: the tolerances, loosened by far more than rounding."""
    if np.isinf(scale).any():
        return True
    gap = np.abs(total - parts)
    slack = 1e-9 * (scale + 1.0)
    over_usd = gap > SUM_TOLERANCE_USD - slack
    return bool((over_usd & (gap > SUM_TOLERANCE_SHARE * np.abs(total) - slack)).any())


def read_expenditure_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport, year: int | None = None
) -> pd.DataFrame:
    """Read one wide expenditure export (annual or per-pupil, district or state file).

    Parameters
    ----------
    path
        File to read.
    display
        Registry path: gives the file kind (annual / per-pupil), and the year unless ``year`` is given.
    crosswalk
        District crosswalk, for the names.
    report
        Row accounting: blank lines and :data:`UNCODED_DISTRICTS` rows are dropped with a reason;
        ``N/A`` cells are counted per column.
    year
        Spring year; defaults to the school year in ``display``.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year`` and the :data:`EXP_MEASURES` or :data:`PPE_MEASURES`, sorted by code;
        the state row (if any) has code ``0000000``.

    Raises
    ------
    RawDataError
        On an unknown, renamed or missing column, a title that names another kind or year, an unknown
        district name, a duplicate district, a non-numeric or negative amount, a blank cell in a data
        row (cut row), annual functions that do not add up to the total, or a file cut mid-row.
    """
    kind, _ = file_kind(display)
    year = year_from_path(display) if year is None else year
    column_map = ANNUAL_COLUMN_MAP if kind == "annual" else PER_PUPIL_COLUMN_MAP
    first_label = "District" if kind == "annual" else "Type"
    table = _read_repaired(path, display, (first_label,))
    _check_title(table, kind, year, display)
    header_line = table.header_line
    keep = _kept_columns(table, column_map, display, header_line)
    filled = _filled_rows(table, keep, report, display, header_line)
    position = {name: table.columns.index(raw) for raw, name in keep.items()}

    names = [unquote_excel(table.rows[i][position["district_name"]]) for i in filled]
    uncoded = [n in UNCODED_DISTRICTS and name_key(n) not in crosswalk.names for n in names]
    report.drop(UNCODED_REASON, sum(uncoded))
    rows = [i for i, u in zip(filled, uncoded, strict=True) if not u]
    names = [n for n, u in zip(names, uncoded, strict=True) if not u]
    lines = [table.lines[i] for i in rows]

    codes = _codes_for_names(crosswalk, names, lines, display, first_label)
    if len(set(codes)) != len(codes):
        check_unique(pd.DataFrame({"_line": lines, "district_code": codes}), ["district_code"], display)
    labels = {v: k for k, v in column_map.items() if v and k in table.columns}
    measures = EXP_MEASURES if kind == "annual" else PPE_MEASURES
    raw = _cells_frame(table, rows, {m: position[m] for m in measures}, lines)
    # Parse in file order, so that a row cut short is reported at its first missing cell.
    in_file_order = sorted(measures, key=lambda c: table.columns.index(labels[c]))
    parsed = to_numbers(raw, in_file_order, display, report, lo=0, tokens=EDSIGHT_TOKENS,
                        labels=[labels[c] for c in in_file_order])
    values = {col: parsed[:, k] for k, col in enumerate(in_file_order)}
    if kind == "annual":
        parts = np.zeros(len(rows))
        scale = np.abs(values["exp_total"])
        for col in EXP_COMPONENTS:
            v = np.where(np.isnan(values[col]), 0.0, values[col])
            parts = parts + v
            scale = scale + np.abs(v)
        if _sum_gap_suspect(values["exp_total"], parts, scale):
            # Decide (and word the error) on a frame built as it always was.
            check = pd.DataFrame({"_line": np.array(lines, dtype=np.int64)})
            check["district_code"] = np.array(codes, dtype=object)
            for col, v in values.items():
                check[col] = v
            _check_sum(check, "exp_total", EXP_COMPONENTS, display, labels["exp_total"])
    check_export_end(table, path, display)
    report.rows_kept += len(rows)
    report.check()
    order = sorted(range(len(codes)), key=codes.__getitem__)
    out = {"district_code": np.array([codes[i] for i in order], dtype=object),
           "year": np.full(len(order), year, dtype=np.int64)}
    for col in measures:
        out[col] = values[col][order]
    return pd.DataFrame(out)


def read_state_long_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport, year: int | None = None
) -> pd.DataFrame:
    """Read an annual state file (long: one row per function) and return one state row.

    Parameters
    ----------
    path, display, crosswalk, report, year
        As in :func:`read_expenditure_file`.

    Returns
    -------
    pandas.DataFrame
        One row: ``district_code`` ``0000000``, ``year`` and the :data:`EXP_MEASURES`.

    Raises
    ------
    RawDataError
        On an unknown column or function label, a missing or repeated function, a district other than the
        state, a non-numeric or negative amount, a share outside [0, 100] or inconsistent with the
        amounts, functions that do not add up to the total, or a file cut mid-row.
    """
    year = year_from_path(display) if year is None else year
    table = read_export(path, display, header_first=("District",))
    _check_title(table, "annual", year, display)
    header_line = table.header_line
    keep = _kept_columns(table, STATE_LONG_COLUMN_MAP, display, header_line)
    filled = _filled_rows(table, keep, report, display, header_line)
    position = {name: table.columns.index(raw) for raw, name in keep.items()}
    lines = [table.lines[i] for i in filled]
    # The district cell is filled on the first row only; it must name the state.
    names: list[str] = []
    last = ""
    for i in filled:
        name = unquote_excel(table.rows[i][position["district_name"]])
        last = name or last
        names.append(last)
    codes = _codes_for_names(crosswalk, names, lines, display, "District")
    for name, code, line in zip(names, codes, lines, strict=True):
        if code != STATE_CODE:
            raise RawDataError(display, f"{name!r} is not the state", row=int(line), column="District")
    functions = [unquote_excel(table.rows[i][position["function"]]) for i in filled]
    for function, line in zip(functions, lines, strict=True):
        if function not in ANNUAL_FUNCTIONS:
            raise RawDataError(display, f"unknown function {function!r}; known: "
                               f"{sorted(ANNUAL_FUNCTIONS)}", row=int(line), column="Type")
    measures = [ANNUAL_FUNCTIONS[f] for f in functions]
    if len(set(measures)) != len(measures):
        check_unique(pd.DataFrame({"_line": lines, "measure": measures}), ["measure"], display)
    missing = [m for m in EXP_MEASURES if m not in set(measures)]
    if missing:
        raise RawDataError(display, f"missing function(s) {missing}", row=int(lines[-1]), column="Type")
    raw = _cells_frame(table, filled, {"amount": position["amount"], "share": position["share"]}, lines)
    amount = to_number(raw, "amount", display, report, lo=0, tokens=EDSIGHT_TOKENS, label="Total").to_numpy()
    share = to_number(raw, "share", display, report, lo=0, hi=100, tokens=EDSIGHT_TOKENS,
                      label="State % of Total").to_numpy()
    i_total = measures.index("exp_total")
    total = amount[i_total]
    with np.errstate(all="ignore"):
        off = np.abs(share - 100 * amount / total) > SHARE_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise RawDataError(display, f"share {share[i]} disagrees with the amounts "
                           f"({100 * amount[i] / total:.2f}%)", row=int(lines[i]),
                           column="State % of Total")
    by_measure = dict(zip(measures, amount.tolist(), strict=True))
    values = np.array([by_measure[m] for m in EXP_MEASURES], dtype=np.float64)
    components = np.where(np.isnan(values[1:]), 0.0, values[1:])
    parts = np.zeros(1)
    for v in components:
        parts = parts + v
    if _sum_gap_suspect(values[:1], parts, np.abs(values[:1]) + np.abs(components).sum()):
        # Decide (and word the error) on the one-row frame built as it always was.
        long = pd.DataFrame({"_line": np.array(lines, dtype=np.int64),
                             "measure": np.array(measures, dtype=object)})
        long["amount"] = amount
        wide = long.set_index("measure")["amount"].reindex(EXP_MEASURES).to_frame().T.reset_index(drop=True)
        wide["_line"] = int(lines[i_total])
        _check_sum(wide, "exp_total", EXP_COMPONENTS, display, "Total")
    check_export_end(table, path, display)
    report.rows_kept += len(filled)
    report.check()
    wide = pd.DataFrame({"district_code": [STATE_CODE], "year": np.array([year], dtype=np.int64),
                         **{m: values[k:k + 1] for k, m in enumerate(EXP_MEASURES)}})
    wide.columns.name = "measure"
    return wide


def _nan_skipping(values: np.ndarray, reduce) -> float:
    """``reduce`` over the non-NaN values (NaN if there are none), as pandas' skipna reductions."""
    kept = values[~np.isnan(values)]
    return float(reduce(kept)) if kept.size else float("nan")


def sum_checks(frame: pd.DataFrame, kind: str, display: str) -> dict:
    """Gap between the total and the sum of the components in one file, for the checks table."""
    total, components = ("exp_total", EXP_COMPONENTS) if kind == "annual" else ("ppe_total", PPE_COMPONENTS)
    totals = frame[total].to_numpy(dtype=np.float64)
    parts = [frame[c].to_numpy(dtype=np.float64) for c in components]
    if not exact_sums(totals, *parts):
        return _sum_checks_pandas(frame, kind, display)
    summed = np.zeros(len(frame))
    for v in parts:
        summed = summed + np.where(np.isnan(v), 0.0, v)
    gap = totals - summed
    abs_gap = np.abs(gap)
    with np.errstate(all="ignore"):
        share = abs_gap / np.where(totals > 0, totals, np.nan)
    i = int(abs_gap.argmax())
    return {
        "file": display,
        "year": int(frame["year"].iloc[0]),
        "kind": kind,
        "rows": len(frame),
        "additive": kind == "annual",
        "max_abs_gap": _nan_skipping(abs_gap, np.max),
        "max_share_gap": _nan_skipping(share, np.max),
        "median_gap": _nan_skipping(gap, np.nanmedian),
        "max_gap_district": str(frame["district_code"].iloc[i]),
    }


def _sum_checks_pandas(frame: pd.DataFrame, kind: str, display: str) -> dict:
    """:func:`sum_checks` in pandas (for amounts whose sums depend on the order of addition)."""
    total, components = ("exp_total", EXP_COMPONENTS) if kind == "annual" else ("ppe_total", PPE_COMPONENTS)
    gap = frame[total] - frame[components].fillna(0).sum(axis=1)
    share = gap.abs() / frame[total].where(frame[total] > 0)
    i = int(gap.abs().to_numpy().argmax())
    return {
        "file": display,
        "year": int(frame["year"].iloc[0]),
        "kind": kind,
        "rows": len(frame),
        "additive": kind == "annual",
        "max_abs_gap": float(gap.abs().max()),
        "max_share_gap": float(share.max()),
        "median_gap": float(gap.median()),
        "max_gap_district": str(frame["district_code"].iloc[i]),
    }


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read all expenditure files: district table, state table and the sum-check table.

    Returns
    -------
    SourceOutput
        ``district``: ``district_code``, ``year`` and the :data:`MEASURES` (annual and per-pupil files of
        a year joined; a district in only one of them has NaN in the other's columns); ``state``: the
        same measures from the ``_ct`` files; ``extra["expenditure_checks"]``: per file, the gap between
        the total and the sum of the functions.
    """
    reports = []
    district_parts: dict[str, list[pd.DataFrame]] = {"annual": [], "per_pupil": []}
    state_parts: dict[str, list[pd.DataFrame]] = {"annual": [], "per_pupil": []}
    checks = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        path = registry.verified_path(entry)
        kind, is_state = file_kind(entry.path)
        if is_state and kind == "annual":
            frame = read_state_long_file(path, entry.path, crosswalk, report)
        else:
            frame = read_expenditure_file(path, entry.path, crosswalk, report)
        reports.append(report)
        checks.append(sum_checks(frame, kind, entry.path))
        state_rows = frame["district_code"].to_numpy(dtype=object) == STATE_CODE
        if is_state and not state_rows.all():
            raise RawDataError(entry.path, "state file holds district rows")
        if state_rows.all():
            state_parts[kind].append(frame)
            district_parts[kind].append(frame.iloc[:0])
        elif not state_rows.any():
            state_parts[kind].append(frame.iloc[:0])
            district_parts[kind].append(frame)
        else:
            state_parts[kind].append(frame[state_rows])
            district_parts[kind].append(frame[~state_rows])
    if not reports:
        raise RawDataError("registry", f"no files registered for family {FAMILY!r}")

    def join(parts: dict[str, list[pd.DataFrame]], what: str) -> pd.DataFrame:
        frames = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame(columns=["district_code", "year"])
                  for k, v in parts.items()}
        for k, f in frames.items():
            check_unique(f, ["district_code", "year"], f"expenditures ({k} {what})")
        out = frames["annual"].merge(frames["per_pupil"], on=["district_code", "year"], how="outer")
        out["year"] = out["year"].astype("int64")
        out["district_code"] = out["district_code"].astype(str)
        out[MEASURES] = out[MEASURES].astype("float64")
        out = out.sort_values(["district_code", "year"], ignore_index=True)
        return out[["district_code", "year", *MEASURES]]

    district = join(district_parts, "district files")
    state = join(state_parts, "state files").drop(columns="district_code")
    check_table = pd.DataFrame(checks).sort_values(["kind", "year", "file"], ignore_index=True)
    return SourceOutput(FAMILY, district=district, state=state, extra={"expenditure_checks": check_table},
                        reports=reports, columns=list(COLUMNS))

"""CSDE grant payments by grantee and grant, FY1990-FY2014 (ECS, Priority School Districts, ARRA...).

Source (registry family ``histpay``): alspur/firsttermschlfinance ``data/histpay.csv``, the state's
historical grant-payment table, wide: one row per grantee x grant (``town, name, drg, grant_name,
grant_type``) and one column per fiscal year ``pay1990`` .. ``pay2014`` (nominal dollars, payments net
of recoveries, so a few cells are negative). Quirks: a leading space in the first header label
(``' town'``), a trailing empty column on every line, and space-padded grantee names.

Year: the pay year is the state fiscal year, which is the spring year (``pay2013`` = FY2013 = 2012-13).

Grantees. The ``town`` column is a grantee number, not always a town:

- 1-169 are towns; a town is mapped to its local district (town code + ``0011``). Towns whose pupils all
  attend regional districts have no local district in the crosswalk; their rows are dropped from the
  district table with :data:`NO_LOCAL_DISTRICT`.
- Other numbers are organizations, mapped by the explicit table :data:`GRANTEE_DISTRICTS` (regional
  districts 2xx -> ``2xx0012``, RESCs -> ``2xx0014``, charter schools -> ``2xx0013``, the technical high
  school system, the state-agency districts, Goodwin College's magnet schools and the endowed
  academies), whose grantee names are checked so that a renumbering raises. Highville Charter School
  was paid as 277 (FY1999-2007) and 286 (FY2008-2014); both map to 2860013, as its old name does in
  ``NAME_ALIASES``.
- :data:`CLOSED_CHARTER_GRANTEES` are charter schools that closed before the 2022-23 directory; they are
  mapped to ``<number>0013`` if the crosswalk knows that code and dropped otherwise
  (:data:`CLOSED_CHARTER`).
- :data:`NON_DISTRICT_GRANTEES` are not school districts (programs, agencies, the "Towns Not Included"
  aggregate); they are dropped (:data:`NON_DISTRICT`).
- Any other number raises.

Every row, dropped or not, stays in ``extra["histpay_long"]`` (non-zero payments only).

Grants. :data:`GRANT_CATEGORIES` maps the grants used in the panel to a category; all other grants are
kept only in the long table. The district table has one row per district and fiscal year in which the
grantee received any payment (of any grant); a category with no payment that year is 0.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_unique
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

FAMILY = "histpay"

#: Fiscal years with a ``payYYYY`` column in the raw file.
PAY_YEARS = list(range(1990, 2015))

#: Raw label (whitespace-stripped by ``read_export``: ``' town'`` -> ``town``) -> canonical name.
COLUMN_MAP: dict[str, str | None] = {
    "town": "grantee",
    "name": "grantee_name",
    "drg": "drg",
    "grant_name": "grant_name",
    "grant_type": "grant_type",
    **{f"pay{y}": f"pay{y}" for y in PAY_YEARS},
}

#: Values of ``grant_type`` in the raw file.
GRANT_TYPES = frozenset({"State", "Federal"})

#: Raw grant name (stripped) -> category, for the grants that enter the district table.
#: ``ECS/Alliance Dist Grants`` is ECS including its Alliance portion (FY2013 on). The two ARRA State
#: Fiscal Stabilization Fund lines replaced part of ECS in FY2010-FY2011, so they are summed with ECS in
#: ``pay_ecs_plus_arra``. ``Priority School Districts`` has a single spelling in the file; related
#: programs paid as their own lines (Extended School Hours, School Accountability-Summer Schl, Early
#: Reading Success) are not included.
GRANT_CATEGORIES: dict[str, str] = {
    "ECS/Alliance Dist Grants": "ecs",
    "Priority School Districts": "priority_school_districts",
    "Commissioner's Network": "commissioners_network",
    "ARRA Stabilization-Ed Grants": "arra_stabilization",
    "ARRA Stabilization-Gov Serv": "arra_stabilization",
    "Education Jobs Fund": "education_jobs",
}

#: Categories in output order; the district column is ``pay_<category>``.
CATEGORIES = ["ecs", "priority_school_districts", "commissioners_network", "arra_stabilization",
              "education_jobs"]

#: Organization grantees -> (district code, grantee name as in the file). Names were read from the
#: raw file; codes from the crosswalk (CSDE organization number = grantee number, except the technical
#: high schools, the state-agency districts and Goodwin, noted inline).
GRANTEE_DISTRICTS: dict[int, tuple[str, str]] = {
    201: ("2010012", "Region # 1"),
    204: ("2040012", "Region # 4"),
    205: ("2050012", "Region # 5"),
    206: ("2060012", "Region # 6"),
    207: ("2070012", "Region # 7"),
    208: ("2080012", "Region # 8"),
    209: ("2090012", "Region # 9"),
    210: ("2100012", "Region # 10"),
    211: ("2110012", "Region # 11"),
    212: ("2120012", "Region # 12"),
    213: ("2130012", "Region # 13"),
    214: ("2140012", "Region # 14"),
    215: ("2150012", "Region # 15"),
    216: ("2160012", "Region # 16"),
    217: ("2170012", "Region # 17"),
    218: ("2180012", "Region # 18"),
    219: ("2190012", "Region # 19"),
    241: ("2410014", "C R E C"),
    242: ("2420014", "Education Connection"),  # now EdAdvance
    243: ("2430014", "C E S"),
    244: ("2440014", "A C E S"),
    245: ("2450014", "Project Learn"),  # LEARN
    253: ("2530014", "E A S T C O N N"),
    261: ("2610013", "Jumoke Academy"),
    263: ("2630013", "Odyssey Comm. School"),
    264: ("2640013", "Integrated Day"),
    265: ("2650013", "Inter. Sch. Art/Comm"),
    268: ("2680013", "Common Ground H.S."),
    269: ("2690013", "The Bridge Academy"),
    270: ("2700013", "Side By Side Com Sch"),
    272: ("2720013", "Explorations"),
    # Highville Mustard Seed Charter School (FY1999-2007), renumbered 286 from FY2008: the same school, as
    # in NAME_ALIASES ("Highville Mustard Seed Charter School District" -> 2860013). No year overlaps.
    277: ("2860013", "Highville School"),
    278: ("2780013", "Trailblazers"),
    279: ("2790013", "Amistad Academy"),
    280: ("2800013", "New Beginnings"),
    281: ("2810013", "Elm City Achievemnt First"),  # Elm City College Preparatory School (FY2005-09)
    282: ("2820013", "Stamford Academy"),
    283: ("2830013", "Park City Prep"),
    285: ("2850013", "AF Bridgeport"),
    286: ("2860013", "Highville"),
    287: ("2870013", "Asylum Hill"),
    288: ("2880013", "AF Hartford"),
    289: ("2890013", "Elm City College"),
    290: ("2900013", "Brass City Charter"),
    291: ("2910013", "Elm City Montessori"),
    # The technical high school system (EdSight code 9000016).
    301: ("9000016", "Voc. Tech. Schools"),
    # State-agency districts: Department of Correction = Unified School District #1; Department of
    # Children and Families = Unified School District #2; Mental Health (and Addiction Services).
    336: ("3360015", "Dept Of Corrections"),
    337: ("3370015", "DMH"),
    347: ("3470015", "Dept of Children & Family"),
    # Goodwin College's magnet schools, the "other" entity Goodwin University Educational Services.
    542: ("2310018", "Goodwin College"),
    901: ("9010022", "Norwich Free Acdmy"),
    902: ("9020022", "Gilbert School"),
    903: ("9030022", "Woodstock Academy"),
}

#: Charter schools that closed before the 2022-23 directory: grantee number -> name in the file. Their
#: CSDE code would be ``<number>0013``; used when the crosswalk knows it, else the rows are dropped.
CLOSED_CHARTER_GRANTEES: dict[int, str] = {
    262: "Sports Science Acad.",
    266: "Coventry Science Ctr",
    267: "Village Academy",
    271: "Ancestors Com Chtr.",
    273: "Brooklawn Academy",
    274: "Charter Oak Prep",
    275: "How & Why Things Wrk",
    276: "Breakthrough School",
    284: "Cross-Cultural Acad",
}

#: Grantees that are not school districts: number -> name in the file. 349 was the Department of Mental
#: Retardation's Unified School District #3 (payments FY1990-96); its number now belongs to the Office of
#: Early Childhood in the directory, so it is not mapped.
NON_DISTRICT_GRANTEES: dict[int, str] = {
    223: "Shared Services",
    224: "East of the River Coop",
    246: "Oceanology",
    305: "Am School F/T Deaf",
    349: "Unified Sch Dist #3",
    648: "CT Science Center",
    689: "Beacon Preservation",
    808: "CRT",
    810: "ABCD Inc",
    998: "Towns Not Included",
}

NO_LOCAL_DISTRICT = (
    "town has no local school district (all grades in a regional district); payments kept in "
    "extra['histpay_long']"
)
CLOSED_CHARTER = (
    "closed charter school with no district code in the crosswalk; kept in extra['histpay_long']"
)
NON_DISTRICT = (
    "grantee is not a school district (program, agency or aggregate); kept in extra['histpay_long']"
)

#: Town grantee numbers.
TOWN_RANGE = (1, 169)

MEASURES = [f"pay_{c}" for c in CATEGORIES] + ["pay_ecs_plus_arra"]

#: Unit of the payment columns: net payments can be negative (recoveries), so not plain "USD".
UNIT = "net USD (nominal)"

COLUMNS = [
    ColumnSpec("pay_ecs", "number", UNIT, "ECS grant paid to the grantee in the fiscal year, including "
               "the Alliance portion from FY2013 (FY1990-2014; towns only, 0 for other grantees)", FAMILY),
    ColumnSpec("pay_priority_school_districts", "number", UNIT, "Priority School Districts grant paid "
               "(FY1990-2014)", FAMILY),
    ColumnSpec("pay_commissioners_network", "number", UNIT, "Commissioner's Network grant paid "
               "(FY2013-2014)", FAMILY),
    ColumnSpec("pay_arra_stabilization", "number", UNIT, "ARRA State Fiscal Stabilization Fund paid "
               "(Education Grants + Government Services lines; FY2010-2012)", FAMILY),
    ColumnSpec("pay_education_jobs", "number", UNIT, "Federal Education Jobs Fund paid (FY2011-2013)",
               FAMILY),
    ColumnSpec("pay_ecs_plus_arra", "number", UNIT, "pay_ecs + pay_arra_stabilization: state aid "
               "comparable across FY2010-11, when federal stabilization money replaced part of ECS", FAMILY),
]


def _map_grantees(grantees: pd.DataFrame, crosswalk: Crosswalk, display: str) -> pd.DataFrame:
    """District code (or NA) and drop reason (or NA) for each distinct grantee number.

    ``grantees`` has ``grantee``, ``grantee_name`` and ``_line`` (first line of that grantee).
    """
    codes: list[str | None] = []
    reasons: list[str | None] = []
    for number, name, line in zip(grantees["grantee"], grantees["grantee_name"], grantees["_line"],
                                  strict=True):
        number = int(number)
        expected = None
        code: str | None = None
        reason: str | None = None
        if TOWN_RANGE[0] <= number <= TOWN_RANGE[1]:
            local = town_district_code(number)
            code, reason = (local, None) if local in crosswalk.codes else (None, NO_LOCAL_DISTRICT)
        elif number in GRANTEE_DISTRICTS:
            code, expected = GRANTEE_DISTRICTS[number]
            if code not in crosswalk.codes:
                raise RawDataError(display, f"grantee {number} ({name!r}) is mapped to {code}, which is not "
                                   "in the crosswalk", row=int(line), column="town")
        elif number in CLOSED_CHARTER_GRANTEES:
            expected = CLOSED_CHARTER_GRANTEES[number]
            candidate = f"{number:03d}0013"
            code, reason = (candidate, None) if candidate in crosswalk.codes else (None, CLOSED_CHARTER)
        elif number in NON_DISTRICT_GRANTEES:
            expected = NON_DISTRICT_GRANTEES[number]
            reason = NON_DISTRICT
        else:
            raise RawDataError(display, f"unknown grantee number {number} ({name!r}): add it to "
                               "GRANTEE_DISTRICTS, CLOSED_CHARTER_GRANTEES or NON_DISTRICT_GRANTEES",
                               row=int(line), column="town")
        if expected is not None and name != expected:
            raise RawDataError(display, f"grantee {number} is named {name!r}, expected {expected!r} "
                               "(renumbered grantees?)", row=int(line), column="name")
        codes.append(code)
        reasons.append(reason)
    out = grantees[["grantee"]].copy()
    out["district_code"] = pd.array(codes, dtype="string")
    out["drop_reason"] = pd.array(reasons, dtype="string")
    return out


def read_histpay_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read, clean and validate the wide grant-payment file and return it long.

    Parameters
    ----------
    path
        The raw CSV.
    display
        Name for error messages (the registry path).
    crosswalk
        District crosswalk (towns' local districts and organization codes must be in it).
    report
        Row accounting per raw (grantee x grant) row: kept when the grantee maps to a district, else
        dropped with :data:`NO_LOCAL_DISTRICT`, :data:`CLOSED_CHARTER` or :data:`NON_DISTRICT`.

    Returns
    -------
    pandas.DataFrame
        Long table of the non-zero payments of every row: ``grantee``, ``grantee_name``, ``drg``,
        ``district_code`` (NA for dropped grantees), ``grant_name``, ``grant_type``, ``category`` (NA for
        grants outside :data:`GRANT_CATEGORIES`), ``year``, ``amount``; sorted.

    Raises
    ------
    RawDataError
        On a missing, renamed or new column, a non-numeric payment, an unknown grantee number, a grantee
        name that does not match the mapping, an unknown grant type, a blank grant name, or a duplicate
        grantee x grant row.
    """
    table = read_export(path, display, header_first=("town",), max_title_lines=0)
    required = list(COLUMN_MAP.values())
    labels = [c for c in table.columns if c != "_line"]
    keep = {c: (c if c.startswith("_") else COLUMN_MAP[c]) for c in labels
            if c.startswith("_") or COLUMN_MAP.get(c)}
    kept_names = list(keep.values())
    if (any(not c.startswith("_") and c not in COLUMN_MAP for c in labels)
            or len(set(kept_names)) != len(kept_names) or any(c not in kept_names for c in required)):
        # apply_column_map raises naming the column (its checks depend on the labels only).
        frame = table.frame()
        apply_column_map(frame.drop(columns="_line"), COLUMN_MAP, display, required=required, header_line=1)
    raw_label = {name: raw for raw, name in keep.items()}
    lines = table.lines
    report.rows_read += len(table.rows)
    if not table.rows:
        raise RawDataError(display, "no data rows after the header (truncated file?)", row=2)
    frame = table.frame()

    grantee_value = to_number(frame, raw_label["grantee"], display, report, lo=1, tokens=frozenset(),
                              label="town", whole=True)
    # pandas' cast (not numpy's): an infinite number raises rather than wrapping around.
    grantee = grantee_value.astype("int64").to_numpy()
    # read_export strips every cell (with the whitespace set that str.strip in pandas also uses).
    text = {col: frame[raw_label[col]].tolist()
            for col in ("grantee_name", "drg", "grant_name", "grant_type")}
    for col, label in (("grantee_name", "name"), ("grant_name", "grant_name")):
        if "" in text[col]:
            i = text[col].index("")
            raise RawDataError(display, f"blank {label}", row=int(lines[i]), column=label)
    if not GRANT_TYPES.issuperset(text["grant_type"]):
        for i, kind in enumerate(text["grant_type"]):
            if kind not in GRANT_TYPES:
                raise RawDataError(display, f"unknown grant_type {kind!r} (expected "
                                   f"{sorted(GRANT_TYPES)})", row=int(lines[i]), column="grant_type")
    grantees = grantee.tolist()
    keys = list(zip(grantees, text["grant_name"], text["grant_type"], strict=True))
    if len(set(keys)) != len(keys):
        # Keyed by the file's own labels, so the error names the column as the file does.
        check_unique(pd.DataFrame({"_line": np.array(lines, dtype=np.int64), "town": grantee, **text}),
                     ["town", "grant_name", "grant_type"], display)
    named = Counter(number for number, _ in dict.fromkeys(zip(grantees, text["grantee_name"], strict=True)))
    renamed = sorted(number for number, k in named.items() if k > 1)
    if renamed:
        i = len(grantees) - 1 - grantees[::-1].index(renamed[0])
        raise RawDataError(display, f"grantee {renamed[0]} has more than one name", row=int(lines[i]),
                           column="name")
    # Payments are net of recoveries: negative cells are real adjustments, so no lower bound.
    amounts = np.column_stack([
        to_number(frame, raw_label[f"pay{y}"], display, report, tokens=frozenset(),
                  label=f"pay{y}").to_numpy()
        for y in PAY_YEARS
    ])

    if not path.read_bytes().endswith(b"\n"):
        # The file ends with a line break; without one the last value may be cut mid-number.
        raise RawDataError(display, "file ends without a line break: the last row looks cut off",
                           row=int(lines[-1]), column=table.columns[-1])
    _check_shape(grantees, text["grantee_name"], lines, display, crosswalk)
    # The first row of each grantee, in order (later rows overwrite with earlier indices going backwards).
    firsts = sorted(dict(zip(reversed(grantees), range(len(grantees) - 1, -1, -1), strict=True)).values())
    mapping = _map_grantees(pd.DataFrame({"grantee": grantee[firsts],
                                          "grantee_name": [text["grantee_name"][i] for i in firsts],
                                          "_line": np.array([lines[i] for i in firsts], dtype=np.int64)}),
                            crosswalk, display)
    code_of = dict(zip(mapping["grantee"].tolist(),
                       mapping["district_code"].to_numpy(dtype=object, na_value=None).tolist(), strict=True))
    reason_of = dict(zip(mapping["grantee"].tolist(),
                         mapping["drop_reason"].to_numpy(dtype=object, na_value=None).tolist(), strict=True))
    reasons = [reason_of[number] for number in grantees]
    report.rows_kept += reasons.count(None)
    dropped = Counter(r for r in reasons if r is not None)
    for reason in sorted(dropped):
        report.drop(str(reason), dropped[reason])
    report.check()

    # Long table of the non-zero payments, sorted by grantee, grant, grant type and year: the rows sorted
    # by their (unique) grantee x grant x type (names through their ranks), then each row's years.
    name_rank = {name: k for k, name in enumerate(sorted(set(text["grant_name"])))}
    type_rank = {kind: k for k, kind in enumerate(sorted(set(text["grant_type"])))}
    order = np.lexsort((np.fromiter(map(type_rank.__getitem__, text["grant_type"]), np.intp, len(keys)),
                        np.fromiter(map(name_rank.__getitem__, text["grant_name"]), np.intp, len(keys)),
                        grantee))
    nonzero = amounts[order] != 0
    row, col = np.nonzero(nonzero)
    src = order[row]

    def pick(values: list, dtype=None):
        return _text_column(values, src, _TEXT_DTYPE if dtype is None else dtype)

    return pd.DataFrame({
        "grantee": grantee[src],
        "grantee_name": pick(text["grantee_name"]),
        "drg": pick(text["drg"]),
        "district_code": pick([code_of[number] for number in grantees], pd.StringDtype()),
        "grant_name": pick(text["grant_name"]),
        "grant_type": pick(text["grant_type"]),
        "category": pick([GRANT_CATEGORIES.get(n) for n in text["grant_name"]], pd.StringDtype()),
        "year": np.array(PAY_YEARS, dtype=np.int64)[col],
        "amount": amounts[src, col],
    })


#: The dtype pandas infers for a column of Python strings ("str", Arrow-backed, from pandas 3).
_TEXT_DTYPE = pd.Series(["text"]).dtype


def _text_column(values: list, rows: np.ndarray, dtype):
    """``values[rows]`` (strings or None) as a column of ``dtype``, taken through Arrow when it stores them.

    ``dtype`` is :data:`_TEXT_DTYPE` (what a column of strings is inferred as) or ``pd.StringDtype()``.
    """
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pd.array(pa.array(values, type=pa.string()).take(pa.array(rows)), dtype=dtype)
    picked = np.array(values, dtype=object)[rows]
    return picked if dtype == _TEXT_DTYPE else pd.array(picked, dtype=dtype)


def district_table(long: pd.DataFrame) -> pd.DataFrame:
    """Payments by district and fiscal year for the :data:`GRANT_CATEGORIES`.

    A district-year is present when the grantee received any payment that year (of any grant, in the
    long table); a category without a payment that year is 0.
    """
    # Only the columns used below: selecting rows of the text columns too costs more than the rest.
    needed = long[["district_code", "year", "category", "amount"]]
    mapped = needed[needed["district_code"].notna()]
    keys = mapped[["district_code", "year"]].drop_duplicates()
    sums = (mapped[mapped["category"].notna()]
            .pivot_table(index=["district_code", "year"], columns="category", values="amount", aggfunc="sum")
            .reindex(columns=CATEGORIES))
    sums.columns = [f"pay_{c}" for c in sums.columns]
    out = keys.merge(sums.reset_index(), on=["district_code", "year"], how="left")
    cols = [f"pay_{c}" for c in CATEGORIES]
    out[cols] = out[cols].fillna(0.0).astype("float64")
    out["pay_ecs_plus_arra"] = out["pay_ecs"] + out["pay_arra_stabilization"]
    out["district_code"] = out["district_code"].astype(str)
    out["year"] = out["year"].astype("int64")
    return out.sort_values(["district_code", "year"], ignore_index=True)[["district_code", "year", *MEASURES]]


def state_table(long: pd.DataFrame) -> pd.DataFrame:
    """Payments of the :data:`GRANT_CATEGORIES` to all grantees (districts or not), by fiscal year."""
    needed = long[["year", "category", "amount"]]
    cat = needed[needed["category"].notna()]
    out = (cat.pivot_table(index="year", columns="category", values="amount", aggfunc="sum")
           .reindex(index=PAY_YEARS, columns=CATEGORIES).fillna(0.0))
    out.columns = [f"pay_{c}" for c in out.columns]
    out["pay_ecs_plus_arra"] = out["pay_ecs"] + out["pay_arra_stabilization"]
    out = out.rename_axis("year").reset_index()
    out["year"] = out["year"].astype("int64")
    return out


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read the grant-payment history and build the district, state and long tables.

    Returns
    -------
    SourceOutput
        ``district``: ``district_code``, ``year`` (FY1990-2014) and :data:`MEASURES`; ``state``: the same
        measures summed over all grantees; ``extra["histpay_long"]``: every non-zero payment.
    """
    reports = []
    frames = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_histpay_file(registry.verified_path(entry), entry.path, crosswalk, report))
        reports.append(report)
    if not frames:
        raise RawDataError("registry", f"no files registered for family {FAMILY!r}")
    if len(frames) == 1:
        # One file: its rows are unique on grantee x grant x type and each row's years are distinct, and
        # read_histpay_file returns them sorted.
        long = frames[0]
    else:
        long = pd.concat(frames, ignore_index=True)
        check_unique(long, ["grantee", "grant_name", "grant_type", "year"], "histpay (all files)")
        long = long.sort_values(["grantee", "grant_name", "grant_type", "year"], ignore_index=True)
    district = district_table(long)
    check_unique(district, ["district_code", "year"], "histpay (district table)")
    return SourceOutput(FAMILY, district=district, state=state_table(long), extra={"histpay_long": long},
                        reports=reports, columns=list(COLUMNS))


#: The file lists grantees by number: towns 1-169 (every town receives grants every year), then other
#: grantees, and closes with grantee 998 ("Towns Not Included"), as alspur/firsttermschlfinance has it.
#: (Unit tests of excerpts set these to an empty range and None.)
TOWN_GRANTEES: range = range(1, 170)
LAST_GRANTEE: int | None = 998


def _check_shape(grantees: list[int], names: list[str], lines: list[int], display: str,
                 crosswalk: Crosswalk) -> None:
    """Raise if the file is not whole (a town missing, or not closing with grantee 998) or a town's
    number and name disagree."""
    if LAST_GRANTEE is not None and grantees[-1] != LAST_GRANTEE:
        raise RawDataError(display, f"the file ends with grantee {grantees[-1]}, not the closing block of "
                           f"grantee {LAST_GRANTEE}: the file looks cut short", row=int(lines[-1]),
                           column="town")
    absent = sorted(set(TOWN_GRANTEES) - set(grantees))
    if absent:
        raise RawDataError(display, f"no rows for town(s) {absent[:5]} ({len(absent)} missing; every town "
                           "receives grants): rows lost?", row=int(lines[-1]), column="town")
    towns = [i for i, g in enumerate(grantees) if g in TOWN_GRANTEES]
    firsts = list({(grantees[i], names[i]): i for i in reversed(towns)}.values())
    crosswalk.check_town_names([grantees[i] for i in firsts], [names[i] for i in firsts],
                               [lines[i] for i in firsts], display, "name")

"""Education Cost Sharing (ECS) entitlement by town and fiscal year, with its Alliance portion.

Source (registry family ``ecs``): edbot317-source/public-CT-ed-data
``town_year_ecs_entitlement.csv``, a verified transcription of the state's ECS grant tables as plain
CSV: ``town_code,district_code,town,fiscal_year,entitlement,alliance_portion,
education_diversity_portion,non_alliance_portion``, one row per town (1-169) and fiscal year FY2012-2024,
nominal dollars. ``district_code`` in that file is the town number again (checked, then ignored).

ECS is paid to the 169 TOWNS, not to districts. Each town is mapped to its local district
(:func:`~alliance_study.data.sources.keys.town_district_code`, town code + ``0011``). Towns whose pupils all
attend a regional district have no local district (for example Durham and Middlefield, Region 13); their
rows are left out of the district table, counted as dropped with :data:`NO_LOCAL_DISTRICT`, and kept in
the town table ``extra["ecs_town"]`` (all 169 towns x years). State totals by year are the sums over all
169 towns.

Conventions:

- Fiscal year = spring year (FY2013 = 2012-13 -> ``year`` 2013).
- FY2012 has no Alliance split (the Alliance District program began in FY2013), so its split cells are
  blank: ``alliance_dollars`` is set to 0 and ``ecs_non_alliance`` to the whole entitlement for FY2012.
- The Education Diversity portion exists from FY2024; blank cells before FY2024 are set to 0.
- Every row must satisfy ``entitlement == alliance + non_alliance + education_diversity`` exactly, except
  the listed :data:`KNOWN_SPLIT_DISCREPANCIES`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_unique, check_year_coverage
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

FAMILY = "ecs"

#: Raw label -> canonical name. ``district_code`` in the raw file repeats the town number (checked).
COLUMN_MAP: dict[str, str | None] = {
    "town_code": "town_code",
    "district_code": "raw_district_code",
    "town": "town",
    "fiscal_year": "year",
    "entitlement": "ecs_entitlement",
    "alliance_portion": "alliance_dollars",
    "education_diversity_portion": "ecs_education_diversity",
    "non_alliance_portion": "ecs_non_alliance",
}

#: Canonical name -> raw label, so that errors and the report name the column as it is in the file.
RAW_LABEL: dict[str, str] = {v: k for k, v in COLUMN_MAP.items() if v}

#: Money columns, in output order.
MONEY = ["ecs_entitlement", "alliance_dollars", "ecs_non_alliance", "ecs_education_diversity"]

#: First fiscal year of the Alliance District program (CGS 10-262u; first grants FY2013). Earlier rows
#: have blank Alliance / non-Alliance cells, which mean "no split yet", not "unknown".
ALLIANCE_FIRST_FY = 2013

#: Town codes every fiscal year of the file lists (all 169 Connecticut towns). (Unit tests of excerpts
#: set it to an empty range.)
EVERY_TOWN: range = range(1, 170)

#: First fiscal year with an Education Diversity portion in the file (FY2024); blank before.
EDUCATION_DIVERSITY_FIRST_FY = 2024

#: Rows where the transcribed split does not add up to the entitlement, with the exact accepted gap
#: ``entitlement - (alliance + non_alliance + education_diversity)`` in dollars. Washington (town 150)
#: FY2016: entitlement 221,936, non-Alliance portion 221,935 (a $1 rounding difference in the source
#: table). Any other mismatch raises.
KNOWN_SPLIT_DISCREPANCIES: dict[tuple[int, int], int] = {(150, 2016): 1}

#: Drop reason for towns without a local school district of their own.
NO_LOCAL_DISTRICT = (
    "town has no local school district (all grades in a regional district); ECS kept in extra['ecs_town']"
)

#: Plausible fiscal years (the file covers FY2012-2024); outside this a cell is a typo.
FY_RANGE = (1990, 2100)

COLUMNS = [
    ColumnSpec("town_code", "integer", "", "Town code 1-169 of the town paying into this local district",
               FAMILY),
    ColumnSpec("ecs_entitlement", "number", "USD (nominal)", "ECS grant entitlement of the town "
               "(FY2012-2024), including the Alliance portion", FAMILY),
    ColumnSpec("alliance_dollars", "number", "USD (nominal)", "Alliance District portion of the town's "
               "ECS entitlement (conditional on an approved plan); 0 in FY2012, before the program, and "
               "for non-Alliance towns", FAMILY),
    ColumnSpec("ecs_non_alliance", "number", "USD (nominal)", "ECS entitlement other than the Alliance and "
               "Education Diversity portions (the whole entitlement in FY2012)", FAMILY),
    ColumnSpec("ecs_education_diversity", "number", "USD (nominal)", "Education Diversity portion of the "
               "ECS entitlement (FY2024 on; 0 before)", FAMILY),
]


def _int_column(df: pd.DataFrame, column: str, display: str, report: SourceReport,
                lo: float, hi: float) -> pd.Series:
    """Parse a required whole-number column (no blanks) within [lo, hi]."""
    label = RAW_LABEL[column]
    values = to_number(df, column, display, report, lo=lo, hi=hi, tokens=frozenset(), label=label)
    frac = values != np.floor(values)
    if frac.any():
        i = int(np.flatnonzero(frac.to_numpy())[0])
        raise RawDataError(display, f"not a whole number: {values.iloc[i]}", row=int(df["_line"].iloc[i]),
                           column=label)
    return values.astype("int64")


def _require_blank_only_before(df: pd.DataFrame, column: str, first_fy: int, display: str) -> None:
    """Raise if a money cell is blank in a year where the component exists."""
    bad = df[column].isna() & (df["year"] >= first_fy)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        year = int(df["year"].iloc[i])
        raise RawDataError(display, f"blank value in FY{year} (required from FY{first_fy})",
                           row=int(df["_line"].iloc[i]), column=RAW_LABEL[column])


def read_ecs_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read, clean and validate the town x fiscal-year ECS entitlement file.

    Parameters
    ----------
    path
        The raw CSV.
    display
        Name for error messages (the registry path).
    crosswalk
        District crosswalk; a town's local district is kept only if its code is in ``crosswalk.codes``.
    report
        Row accounting: rows of towns without a local district are counted as dropped
        (:data:`NO_LOCAL_DISTRICT`); blank split cells are counted as unavailable per column.

    Returns
    -------
    pandas.DataFrame
        One row per town and year (all towns): ``town_code``, ``town``, ``year``, ``district_code``
        (the local district, or NA when the town has none) and the :data:`MONEY` columns, sorted by
        ``town_code, year``.

    Raises
    ------
    RawDataError
        On a missing or renamed column, a non-numeric or negative amount, a town code outside 1-169, a
        ``district_code`` that differs from the town code, a blank component in a year where it exists,
        a split that does not add up, a town with two names, or a duplicate town-year.
    """
    table = read_export(path, display, header_first=("town_code",), max_title_lines=0)
    frame = table.frame()
    # apply_column_map looks "_line" up in the map too, so the line numbers travel beside it.
    raw = apply_column_map(frame.drop(columns="_line"), COLUMN_MAP, display,
                           required=[c for c in COLUMN_MAP.values() if c], header_line=1)
    raw["_line"] = frame["_line"].to_numpy()
    report.rows_read += len(raw)
    if raw.empty:
        raise RawDataError(display, "no data rows after the header (truncated file?)", row=2)
    df = pd.DataFrame({"_line": raw["_line"].to_numpy()})
    df["town_code"] = _int_column(raw, "town_code", display, report, 1, 169).to_numpy()
    raw_district = _int_column(raw, "raw_district_code", display, report, 0, 999).to_numpy()
    mismatch = raw_district != df["town_code"].to_numpy()
    if mismatch.any():
        i = int(np.flatnonzero(mismatch)[0])
        raise RawDataError(display, f"district_code {raw_district[i]} differs from town_code "
                           f"{df['town_code'].iloc[i]} (the file repeats the town number there)",
                           row=int(df["_line"].iloc[i]), column="district_code")
    df["town"] = raw["town"].astype(str).str.strip().to_numpy()
    blank_town = df["town"] == ""
    if blank_town.any():
        i = int(np.flatnonzero(blank_town.to_numpy())[0])
        raise RawDataError(display, "blank town name", row=int(df["_line"].iloc[i]), column="town")
    df["year"] = _int_column(raw, "year", display, report, *FY_RANGE).to_numpy()
    for col in MONEY:
        # Blank = component not in effect that year (checked below); amounts are non-negative dollars.
        df[col] = to_number(raw, col, display, report, lo=0, tokens=frozenset({""}),
                            label=RAW_LABEL[col]).to_numpy()
    check_unique(df, ["town_code", "year"], display)
    names = df.groupby("town_code")["town"].nunique()
    if (names > 1).any():
        code = int(names[names > 1].index[0])
        i = int(np.flatnonzero((df["town_code"] == code).to_numpy())[-1])
        raise RawDataError(display, f"town {code} has more than one name: "
                           f"{sorted(df.loc[df['town_code'] == code, 'town'].unique())}",
                           row=int(df["_line"].iloc[i]), column="town")

    bad_total = df["ecs_entitlement"].isna()
    if bad_total.any():
        i = int(np.flatnonzero(bad_total.to_numpy())[0])
        raise RawDataError(display, "blank entitlement", row=int(df["_line"].iloc[i]), column="entitlement")
    _require_blank_only_before(df, "alliance_dollars", ALLIANCE_FIRST_FY, display)
    _require_blank_only_before(df, "ecs_non_alliance", ALLIANCE_FIRST_FY, display)
    _require_blank_only_before(df, "ecs_education_diversity", EDUCATION_DIVERSITY_FIRST_FY, display)
    # Before the program the whole entitlement is non-Alliance money; before FY2024 there is no
    # Education Diversity portion. Both blanks are structural zeros, not missing data.
    df["alliance_dollars"] = df["alliance_dollars"].fillna(0.0)
    df["ecs_non_alliance"] = df["ecs_non_alliance"].fillna(df["ecs_entitlement"] - df["alliance_dollars"])
    df["ecs_education_diversity"] = df["ecs_education_diversity"].fillna(0.0)

    parts = df["alliance_dollars"] + df["ecs_non_alliance"] + df["ecs_education_diversity"]
    gap = df["ecs_entitlement"] - parts
    keys = zip(df["town_code"], df["year"], strict=True)
    allowed = pd.Series([KNOWN_SPLIT_DISCREPANCIES.get(k, 0) for k in keys], index=df.index, dtype="float64")
    bad = gap != allowed
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        r = df.iloc[i]
        raise RawDataError(
            display,
            f"town {r['town_code']} FY{r['year']}: entitlement {r['ecs_entitlement']:.0f} != alliance "
            f"{r['alliance_dollars']:.0f} + non-alliance {r['ecs_non_alliance']:.0f} + education diversity "
            f"{r['ecs_education_diversity']:.0f} (gap {gap.iloc[i]:.0f}, accepted {allowed.iloc[i]:.0f})",
            row=int(r["_line"]), column="entitlement",
        )

    if not path.read_bytes().endswith(b"\n"):
        # The file ends with a line break; without one the last value may be cut mid-number.
        raise RawDataError(display, "file ends without a line break: the last row looks cut off",
                           row=int(df["_line"].iloc[-1]), column=table.columns[-1])
    # Every town has exactly one row in every fiscal year the file covers, under its own name.
    check_year_coverage(df["year"].to_numpy(), df["_line"].to_numpy(), display, RAW_LABEL["year"],
                        entities=df["town_code"].tolist(), every_year=EVERY_TOWN)
    crosswalk.check_town_names(df["town_code"].tolist(), df["town"].tolist(), df["_line"].tolist(), display,
                               "town")
    local = df["town_code"].map(town_district_code)
    has_local = local.isin(crosswalk.codes)
    df["district_code"] = local.where(has_local).astype("string")
    report.rows_kept += int(has_local.sum())
    report.drop(NO_LOCAL_DISTRICT, int((~has_local).sum()))
    report.check()
    out = df[["town_code", "town", "year", "district_code", *MONEY]].copy()
    out["town_code"] = out["town_code"].astype("Int64")
    return out.sort_values(["town_code", "year"], ignore_index=True)


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read the ECS entitlement file(s) and build the district, state and town tables.

    Returns
    -------
    SourceOutput
        ``district``: ``district_code``, ``year``, ``town_code`` and the :data:`MONEY` columns for
        towns with a local district; ``state``: sums over all 169 towns by ``year`` (same money
        columns); ``extra["ecs_town"]``: every town and year.
    """
    reports = []
    frames = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_ecs_file(registry.verified_path(entry), entry.path, crosswalk, report))
        reports.append(report)
    if not frames:
        raise RawDataError("registry", f"no files registered for family {FAMILY!r}")
    town = pd.concat(frames, ignore_index=True)
    check_unique(town, ["town_code", "year"], "ecs (all files)")
    town = town.sort_values(["town_code", "year"], ignore_index=True)

    district = town[town["district_code"].notna()].copy()
    district["district_code"] = district["district_code"].astype(str)
    district["year"] = district["year"].astype("int64")
    district = district[["district_code", "year", "town_code", *MONEY]]
    district = district.sort_values(["district_code", "year"], ignore_index=True)
    check_unique(district, ["district_code", "year"], "ecs (district table)")

    state = town.groupby("year", as_index=False)[MONEY].sum()
    state["year"] = state["year"].astype("int64")
    return SourceOutput(FAMILY, district=district, state=state, extra={"ecs_town": town}, reports=reports,
                        columns=list(COLUMNS))

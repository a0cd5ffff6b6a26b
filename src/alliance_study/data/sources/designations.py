"""Alliance District designations (and the Opportunity District subset) by town.

Reads ``reference/alliance_designations.csv``: the 36 Alliance Districts with their town code, the first
fiscal year each was designated and the cohort note, with sources. Unlike the other families this table is
**not** district-year: it has one row per designated district and no ``year`` column. The panel builder
turns it into a district-year treatment indicator (designated from ``alliance_cohort`` on). Designation is
not money: some designees received no Alliance dollars in their first years (Enfield FY2023, Thompson
FY2018-19; shared/data/README.md), so Alliance dollars come from the ECS family, not from here.

The Opportunity Districts (the ten lowest-performing Alliance Districts) are not in a raw file; they are
listed in :data:`OPPORTUNITY_DISTRICTS` with their source, and :func:`opportunity_flags` expands them into a
district-year flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_unique
from alliance_study.data.sources.common import (
    ColumnSpec,
    SourceOutput,
    SourceReport,
    read_csv_header,
    read_strict_csv,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import town_district_code
from alliance_study.data.sources.numbers import ascii_int
from alliance_study.errors import RawDataError

FAMILY = "designations"

#: Raw column label -> canonical name. ``district`` (the town name) is read only to cross-check the town
#: code against the crosswalk's town of that district.
COLUMN_MAP: dict[str, str] = {
    "district": "district_name",
    "town_code": "town_code",
    "first_fiscal_year_designated": "alliance_cohort",
    "cohort": "designation_note",
    "source": "designation_source",
}

#: Expected number of districts per first fiscal year of designation (shared/data/README.md and
#: reference/STUDY_FACTS.md: 30 in FY2013, 33 from FY2018, 36 from FY2023, C.G.S. §10-262u(b)).
EXPECTED_COHORTS: dict[int, int] = {2013: 30, 2018: 3, 2023: 3}

#: Total rows the designation file must have (30 + 3 + 3).
EXPECTED_ROWS = sum(EXPECTED_COHORTS.values())

#: Town codes of the ten Opportunity Districts: Bridgeport, East Hartford, Hartford, Meriden, New Britain,
#: New Haven, New London, Norwich, Waterbury, Windham. Source: shared/data/README.md, from the state budget
#: office's ECS spreadsheets, which list them for FY2020-FY2023; STUDY_FACTS.md: "the ten lowest-performing,
#: a subset of the Alliance Districts, given intensive support under the state's ESSA plan (approved
#: 4 August 2017)". Town codes as in reference/alliance_designations.csv.
OPPORTUNITY_DISTRICTS: tuple[int, ...] = (15, 43, 64, 80, 89, 93, 95, 104, 151, 163)

#: First (spring / fiscal) year of the Opportunity District flag. The ESSA plan that created the category
#: was approved on 4 August 2017, so its first school year is 2017-18 = FY2018. The membership above is
#: documented for FY2020-23 only (:data:`OPPORTUNITY_LIST_YEARS`); FY2018-19 assume the same ten districts.
OPPORTUNITY_FIRST_YEAR = 2018

#: Fiscal years for which the ten-district list is documented in a public source (README.md).
OPPORTUNITY_LIST_YEARS: tuple[int, int] = (2020, 2023)


def read_designations_file(
    path: Path, display: str, crosswalk: Crosswalk, report: SourceReport
) -> pd.DataFrame:
    """Read and validate the Alliance designation table.

    Parameters
    ----------
    path
        The CSV file.
    display
        File name for error messages (the registry path).
    crosswalk
        District crosswalk; every designated town's local district must be in it, and its town must
        match the ``district`` name.
    report
        Row accounting for this file.

    Returns
    -------
    pandas.DataFrame
        One row per designated district: ``district_code`` (town code + ``0011``), ``alliance_cohort``
        (first fiscal year designated, int64), ``designation_note``, ``designation_source``; sorted by
        ``district_code``.

    Raises
    ------
    RawDataError
        On a missing or unknown column, a non-integer or out-of-range town code or year, a cohort year not
        in :data:`EXPECTED_COHORTS`, a repeated town, a town not in the crosswalk or whose name differs,
        or cohort sizes other than 30/3/3.
    """
    return read_strict_csv(path, display, lambda reader: _read_rows(reader, display, crosswalk, report))


def _read_rows(reader, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Body of :func:`read_designations_file` (``reader`` is a strict ``csv.reader``)."""
    labels = read_csv_header(reader, display, COLUMN_MAP)
    records: list[dict[str, object]] = []
    for record in reader:
        line = reader.line_num
        report.rows_read += 1
        if not any(c.strip() for c in record):
            report.drop("blank line")
            continue
        if len(record) != len(labels):
            raise RawDataError(
                display, f"{len(record)} cells but the header has {len(labels)} (truncated or extra cells)",
                row=line,
            )
        row = {COLUMN_MAP[h]: c.strip() for h, c in zip(labels, record, strict=True)}
        row["_line"] = line
        records.append(row)
    df = pd.DataFrame(records, columns=[*COLUMN_MAP.values(), "_line"])
    if df.empty:
        raise RawDataError(display, "no data rows", row=2)
    df["town_code"] = [
        _int_cell(v, display, line, "town_code") for v, line in zip(df["town_code"], df["_line"], strict=True)
    ]
    df["alliance_cohort"] = [
        _int_cell(v, display, line, "first_fiscal_year_designated")
        for v, line in zip(df["alliance_cohort"], df["_line"], strict=True)
    ]
    codes = []
    for town, line in zip(df["town_code"], df["_line"], strict=True):
        try:
            codes.append(town_district_code(town))
        except ValueError as exc:
            raise RawDataError(display, str(exc), row=int(line), column="town_code") from exc
    df["district_code"] = codes
    for cohort, line in zip(df["alliance_cohort"], df["_line"], strict=True):
        if cohort not in EXPECTED_COHORTS:
            raise RawDataError(
                display, f"first fiscal year designated {cohort} is not one of {sorted(EXPECTED_COHORTS)}",
                row=int(line), column="first_fiscal_year_designated",
            )
    check_unique(df, ["town_code"], display)
    names = crosswalk.districts.set_index("district_code")["district_name"]
    for code, name, line in zip(df["district_code"], df["district_name"], df["_line"], strict=True):
        crosswalk.check_code(code, display, int(line), "town_code")
        # A typo in a town code would still hit a real district; its name ("Killingly School District";
        # the directory's Town column is the mailing town, e.g. Danielson) catches it.
        expected = f"{name} School District".lower()
        if str(names.get(code, "")).strip().lower() != expected:
            raise RawDataError(
                display, f"town code of {name!r} points at district {code} ({names.get(code)!r})",
                row=int(line), column="town_code",
            )
    counts = df["alliance_cohort"].value_counts().to_dict()
    if counts != EXPECTED_COHORTS or len(df) != EXPECTED_ROWS:
        raise RawDataError(
            display, f"designations per cohort {dict(sorted(counts.items()))}, expected {EXPECTED_COHORTS}",
            column="first_fiscal_year_designated",
        )
    report.rows_kept += len(df)
    report.check()
    out = df[["district_code", "alliance_cohort", "designation_note", "designation_source"]].copy()
    out["alliance_cohort"] = out["alliance_cohort"].astype("int64")
    return out.sort_values("district_code", ignore_index=True)


def _int_cell(value: object, display: str, line: int, column: str) -> int:
    """Parse an integer cell; raise naming file, line and column otherwise."""
    return ascii_int(str(value).strip(), display, int(line), column)


def opportunity_flags(years: Iterable[int], district_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """District-year Opportunity District flag.

    Parameters
    ----------
    years
        Spring (fiscal) years to cover.
    district_codes
        Districts to cover; defaults to the ten Opportunity Districts' local district codes. Other codes
        get ``False`` in every year.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year`` (int64), ``opportunity_district`` (bool: one of
        :data:`OPPORTUNITY_DISTRICTS` and ``year >= OPPORTUNITY_FIRST_YEAR``), sorted by code and year.
    """
    members = {town_district_code(t) for t in OPPORTUNITY_DISTRICTS}
    codes = sorted(set(district_codes) if district_codes is not None else members)
    years = sorted({int(y) for y in years})
    rows = [(c, y, c in members and y >= OPPORTUNITY_FIRST_YEAR) for c in codes for y in years]
    out = pd.DataFrame(rows, columns=["district_code", "year", "opportunity_district"])
    return out.astype({"year": "int64", "opportunity_district": "bool"})


#: Data dictionary of the designation table (not district-year; see the module docstring).
COLUMNS: list[ColumnSpec] = [
    ColumnSpec(
        "alliance_cohort", "integer", "fiscal year",
        "First fiscal (spring) year the district was designated an Alliance District (2013, 2018 or 2023)",
        "reference/alliance_designations.csv",
    ),
    ColumnSpec(
        "designation_note", "string", "text", "Cohort description (e.g. 'original 30 (FY2013; ...)')",
        "reference/alliance_designations.csv",
    ),
    ColumnSpec(
        "designation_source", "string", "text", "Where the designation is documented (URLs)",
        "reference/alliance_designations.csv",
    ),
]


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read the designation table.

    Returns
    -------
    SourceOutput
        ``district`` is one row per designated district (``district_code``, ``alliance_cohort``,
        ``designation_note``, ``designation_source``) with **no** ``year`` column; ``state`` is None.
    """
    entries = registry.files(FAMILY)
    if len(entries) != 1:
        raise RawDataError("registry", f"expected one '{FAMILY}' file, found {len(entries)}")
    entry = entries[0]
    report = SourceReport(FAMILY, entry.path)
    table = read_designations_file(registry.verified_path(entry), entry.path, crosswalk, report)
    # The Opportunity Districts are a subset of the original Alliance Districts (STUDY_FACTS.md).
    original = set(table.loc[table["alliance_cohort"] == min(EXPECTED_COHORTS), "district_code"])
    outside = sorted({town_district_code(t) for t in OPPORTUNITY_DISTRICTS} - original)
    if outside:
        raise RawDataError(entry.path, f"Opportunity Districts {outside} are not FY2013 Alliance Districts")
    return SourceOutput(FAMILY, district=table, state=None, reports=[report], columns=list(COLUMNS))

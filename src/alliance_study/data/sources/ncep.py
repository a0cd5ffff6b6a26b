"""Net current expenditures (NCE), average daily membership (ADM) and NCE per pupil, by town and region.

Source (registry family ``ncep``): edbot317-source/public-CT-ed-data ``data/district_year_ncep/
district_year_ncep.csv``, a verified transcription of the CSDE ECS grant-computation PDFs
(``ncep_YYYY-YY.pdf``, FY2008-FY2024) and the basic-contribution workbook (FY2025). One plain CSV with the
header ``district_code,district,fiscal_year,adm,nce,ncep,source``; no rows for FY2015 and FY2021.

These are the ECS grant's own figures, computed for the town that pays for its resident pupils: NCE
counts what the town spends on them (including tuition and regional-district assessments) and ADM counts
them. Quirks handled explicitly:

- ``district_code`` is the TOWN code 1-169, not the 7-digit CSDE code: a town row maps to the town's
  local district (town code + ``0011``), which must be in the crosswalk.
- From FY2016, regional districts are listed as ``District No. N`` with codes 201-220; they map to the
  regional district ``2NN0012`` (201 -> 2010012), which must be in the crosswalk, and the name must say the
  same number.
- The towns wholly served by a K-12 regional district (:data:`K12_REGIONAL_TOWNS`) have no district of
  their own: their town rows (FY2008-FY2014, before their region is listed) are counted as dropped
  (:data:`DROP_REGION_TOWN`) and kept, like every row, in the ``ncep_town`` side table. Any other row
  whose code does not map raises with file, row and column.
- Member towns of 7-12 or 9-12 regional districts (Andover in Region 8, for example) keep their own row;
  it counts all their resident pupils, including those in the regional district, so from FY2016 those
  pupils are counted both in the town's row and in the region's row (as in the source).

Checks: ADM is positive, NCE and NCEP are non-negative, and NCEP equals NCE / ADM within
:data:`NCEP_TOLERANCE_REL` (or :data:`NCEP_TOLERANCE_ABS` dollars: FY2008-FY2017 NCEP is published in
whole dollars). A duplicate town-year raises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import (
    check_complete,
    check_unique,
    check_year_coverage,
    refuse_first,
)
from alliance_study.data.sources.common import (
    ColumnSpec,
    SourceOutput,
    SourceReport,
    read_csv_header,
    read_strict_csv,
)
from alliance_study.data.sources.directory import Crosswalk, name_key
from alliance_study.data.sources.keys import town_district_code
from alliance_study.data.sources.numbers import to_number
from alliance_study.errors import RawDataError

FAMILY = "ncep"

#: Fiscal years inside the file's span without rows (no FY2015 or FY2021 computation PDF was transcribed).
NCEP_GAPS = (2015, 2021)

#: Raw label -> canonical name (every label of the file; ``source`` names the PDF or workbook a row was
#: transcribed from and goes to the side table only).
COLUMN_MAP: dict[str, str] = {
    "district_code": "town_or_region",
    "district": "name",
    "fiscal_year": "year",
    "adm": "adm",
    "nce": "nce",
    "ncep": "nce_per_pupil",
    "source": "source",
}

#: First regional-district code in the file: ``District No. N`` has code 200 + N (201-220).
REGION_OFFSET = 200

#: Highest regional district number in Connecticut (Regional School District 20, formed in 2024).
MAX_REGION = 20

#: Towns wholly served by a K-12 regional district, with no local district of their own (the towns 1-169
#: without a town district in the 2022-23 Education Directory; CSDE regional school district membership):
#: town code -> (town name as in the file, regional district code).
K12_REGIONAL_TOWNS: dict[int, tuple[str, str]] = {
    6: ("Beacon Falls", "2160012"),
    115: ("Prospect", "2160012"),  # Region 16
    10: ("Bethlehem", "2140012"),
    168: ("Woodbury", "2140012"),  # Region 14
    16: ("Bridgewater", "2120012"),
    120: ("Roxbury", "2120012"),
    150: ("Washington", "2120012"),  # 12
    20: ("Burlington", "2100012"),
    66: ("Harwinton", "2100012"),  # Region 10
    38: ("Durham", "2130012"),
    82: ("Middlefield", "2130012"),  # Region 13
    55: ("Goshen", "2060012"),
    87: ("Morris", "2060012"),
    149: ("Warren", "2060012"),  # Region 6 (20)
    61: ("Haddam", "2170012"),
    70: ("Killingworth", "2170012"),  # Region 17
    75: ("Lyme", "2180012"),
    105: ("Old Lyme", "2180012"),  # Region 18
    81: ("Middlebury", "2150012"),
    130: ("Southbury", "2150012"),  # Region 15
}

#: NCEP must equal NCE / ADM within this relative gap (the source check found at most 0.005%) ...
NCEP_TOLERANCE_REL = 5e-5
#: ... or within this many dollars (NCEP published in whole dollars in the FY2008-FY2017 PDFs).
NCEP_TOLERANCE_ABS = 0.51

#: Plausible fiscal years (the file covers FY2008-FY2025).
YEAR_RANGE = (2000, 2100)

DROP_REGION_TOWN = (
    "town wholly served by a K-12 regional district (no district of its own; kept in ncep_town)"
)

SOURCE = (
    "CSDE ECS grant computations (NCE, ADM, NCEP by town; regional districts from FY2016): "
    "edbot317-source/public-CT-ed-data district_year_ncep (transcribed)"
)

_CONCEPT = (
    " ECS grant figure by town of residence: includes tuition paid and regional-district assessments "
    "for the town's pupils; from FY2016 regional districts have rows of their own. No FY2015, FY2021."
)

COLUMNS = [
    ColumnSpec(
        "adm",
        "number",
        "students",
        "Average daily membership (resident pupils, ECS definition)." + _CONCEPT,
        SOURCE,
    ),
    ColumnSpec(
        "nce", "number", "USD (nominal)", "Net current expenditures (ECS definition)." + _CONCEPT, SOURCE
    ),
    ColumnSpec(
        "nce_per_pupil",
        "number",
        "USD (nominal) per pupil",
        "Net current expenditures per pupil (NCE / ADM, as published)." + _CONCEPT,
        SOURCE,
    ),
]

#: Columns of the ``ncep_town`` side table (every row of the file, mapped or not).
TOWN_TABLE_COLUMNS = [
    "town_or_region",
    "name",
    "year",
    "adm",
    "nce",
    "nce_per_pupil",
    "source",
    "district_code",
]


def _map_codes(df: pd.DataFrame, crosswalk: Crosswalk, display: str) -> list[str | None]:
    """District code of every row (None for a K-12 regional member town); raise on anything unmapped."""
    out: list[str | None] = []
    names = dict(zip(crosswalk.districts["district_code"], crosswalk.districts["district_name"], strict=True))
    for raw, name, line in zip(df["town_or_region"], df["name"], df["_line"], strict=True):
        line = int(line)
        try:
            number = int(raw)
        except ValueError:
            raise RawDataError(
                display, f"not a town or region code: {raw!r}", row=line, column="district_code"
            ) from None
        if 1 <= number <= 169:
            code = town_district_code(number)
            if code in crosswalk.codes:
                expected = names[code]
                if name_key(f"{name} School District") != name_key(expected):
                    raise RawDataError(
                        display,
                        f"town {number} is {expected!r} in the crosswalk, not {name!r}",
                        row=line,
                        column="district",
                    )
                out.append(code)
            elif number in K12_REGIONAL_TOWNS:
                town, _region = K12_REGIONAL_TOWNS[number]
                if name != town:
                    raise RawDataError(
                        display, f"town {number} is {town!r}, not {name!r}", row=line, column="district"
                    )
                out.append(None)
            else:
                raise RawDataError(
                    display,
                    f"town {number} ({name!r}) has no district in the crosswalk and is "
                    "not a K-12 regional member town",
                    row=line,
                    column="district_code",
                )
        elif REGION_OFFSET < number <= REGION_OFFSET + MAX_REGION:
            region = number - REGION_OFFSET
            if name != f"District No. {region}":
                raise RawDataError(
                    display,
                    f"code {number} is District No. {region}, not {name!r}",
                    row=line,
                    column="district",
                )
            out.append(crosswalk.check_code(f"{number:03d}0012", display, line, "district_code"))
        else:
            raise RawDataError(
                display,
                f"code {number} is neither a town (1-169) nor a regional district "
                f"({REGION_OFFSET + 1}-{REGION_OFFSET + MAX_REGION})",
                row=line,
                column="district_code",
            )
    return out


def read_ncep_file(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read the NCEP file: every row, with its district code (None for K-12 regional member towns).

    Returns
    -------
    pandas.DataFrame
        :data:`TOWN_TABLE_COLUMNS`, one row per raw row, sorted by year and town or region code. The rows
        with a district code are kept in the report, the others counted as dropped.

    Raises
    ------
    RawDataError
        On an unknown, renamed or missing column, a non-numeric value, ADM that is not positive, a negative
        NCE or NCEP, NCEP that disagrees with NCE / ADM, an unmapped code, a name that disagrees with the
        code, a duplicate town-year, or a file cut mid-row.
    """

    def body(reader) -> tuple[list[str], list[list[str]]]:
        labels = read_csv_header(reader, display, COLUMN_MAP)
        return labels, [row for row in reader]

    labels, rows = read_strict_csv(path, display, body)
    width = len(labels)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise RawDataError(
                display,
                f"{len(row)} cells but the header has {width}",
                row=i + 2,
                column=labels[min(len(row), width) - 1] if row else labels[0],
            )
    check_complete(path, display, len(rows) + 1, labels[-1])
    df = pd.DataFrame(rows, columns=[COLUMN_MAP[c] for c in labels], dtype=object)
    df["_line"] = np.arange(2, len(df) + 2)
    report.rows_read += len(df)
    if df.empty:
        raise RawDataError(display, "no data rows after the header", row=1)
    raw_label = {v: k for k, v in COLUMN_MAP.items()}
    year = to_number(
        df,
        "year",
        display,
        report,
        lo=YEAR_RANGE[0],
        hi=YEAR_RANGE[1],
        tokens=frozenset(),
        label=raw_label["year"],
    )
    refuse_first(df, year != np.round(year), display, "fiscal_year",
                 lambda i: f"fiscal year {year.iloc[i]} is not whole")
    values = {
        c: to_number(df, c, display, report, lo=0.0, tokens=frozenset(), label=raw_label[c])
        for c in ("adm", "nce", "nce_per_pupil")
    }
    refuse_first(df, values["adm"] <= 0, display, "adm",
                 lambda i: f"ADM {values['adm'].iloc[i]:g} is not positive")
    implied = values["nce"] / values["adm"]
    gap = (values["nce_per_pupil"] - implied).abs()
    off = (gap > NCEP_TOLERANCE_ABS) & (gap > NCEP_TOLERANCE_REL * implied)
    refuse_first(df, off, display, "ncep",
                 lambda i: f"NCEP {values['nce_per_pupil'].iloc[i]:g} disagrees with NCE / ADM = "
                           f"{implied.iloc[i]:.2f}")
    codes = _map_codes(df, crosswalk, display)
    out = pd.DataFrame(
        {
            "town_or_region": df["town_or_region"].astype("int64"),
            "name": df["name"].astype(str),
            "year": year.astype("int64"),
            **{c: v.astype("float64") for c, v in values.items()},
            "source": df["source"].astype(str),
            "district_code": pd.array(codes, dtype="string"),
            "_line": df["_line"],
        }
    )
    check_unique(out, ["town_or_region", "year"], display)
    check_year_coverage(out["year"].to_numpy(), out["_line"].to_numpy(), display, raw_label["year"],
                        entities=out["town_or_region"].tolist(), known_gaps=NCEP_GAPS, min_share=0.9)
    mapped = out["district_code"].notna()
    check_unique(out[mapped], ["district_code", "year"], display)
    report.drop(DROP_REGION_TOWN, int((~mapped).sum()))
    report.rows_kept += int(mapped.sum())
    report.check()
    return out.drop(columns="_line").sort_values(["year", "town_or_region"], ignore_index=True)


def load(registry: Registry, crosswalk: Crosswalk) -> SourceOutput:
    """Read the NCEP file(s) in the registry.

    Returns
    -------
    SourceOutput
        ``district``: ``district_code``, ``year``, ``adm``, ``nce``, ``nce_per_pupil`` for the mapped rows;
        ``extra["ncep_town"]``: every raw row (:data:`TOWN_TABLE_COLUMNS`).
    """
    frames, reports = [], []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_ncep_file(registry.verified_path(entry), entry.path, crosswalk, report))
        reports.append(report)
    if not frames:
        raise RawDataError("registry", f"no files registered for family {FAMILY!r}")
    town = pd.concat(frames, ignore_index=True).sort_values(["year", "town_or_region"], ignore_index=True)
    check_unique(town, ["town_or_region", "year"], f"{FAMILY} (all files)")
    district = town[town["district_code"].notna()]
    district = pd.DataFrame(
        {
            "district_code": district["district_code"].astype(str).to_numpy(dtype=object),
            "year": district["year"].to_numpy(),
            "adm": district["adm"].to_numpy(),
            "nce": district["nce"].to_numpy(),
            "nce_per_pupil": district["nce_per_pupil"].to_numpy(),
        }
    ).sort_values(["district_code", "year"], ignore_index=True)
    check_unique(district, ["district_code", "year"], f"{FAMILY} (all files)")
    return SourceOutput(
        FAMILY,
        district=district,
        state=None,
        extra={"ncep_town": town[TOWN_TABLE_COLUMNS]},
        reports=reports,
        columns=list(COLUMNS),
    )

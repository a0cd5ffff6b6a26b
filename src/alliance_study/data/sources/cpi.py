"""CPI-U annual averages and the deflator to 2025 dollars.

Source (registry family ``cpi``): edbot317-source/public-CT-ed-data ``data/cpi_u_deflator/cpi_u_deflator.csv``
(FRED series CPIAUCSL, annual averages), transcribed. Header ``year,observation_date,cpi_u,deflator``; one
row per calendar year 2006-2025; ``deflator = cpi_u(2025) / cpi_u(year)``.

The index is by calendar year. The project applies calendar year ``y`` to fiscal year ``y`` (FY2013 =
July 2012-June 2013, whose midpoint is January 2013): ``dollars_2025 = nominal * deflator[year]``.

Checks: years are consecutive and unique, ``observation_date`` is January 1 of the year, the index is
positive, and the deflator equals ``cpi_u(base) / cpi_u(year)`` within :data:`DEFLATOR_TOLERANCE` with
the base year's deflator equal to 1. The table goes to ``state_year.csv`` (one row per year) and the
``cpi`` side table; it adds no district columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.checks import check_complete, refuse_first
from alliance_study.data.sources.common import SourceOutput, SourceReport, read_csv_header, read_strict_csv
from alliance_study.data.sources.numbers import to_number
from alliance_study.errors import RawDataError

FAMILY = "cpi"

#: Raw label -> canonical name.
COLUMN_MAP: dict[str, str] = {
    "year": "year",
    "observation_date": "observation_date",
    "cpi_u": "cpi_u",
    "deflator": "deflator_2025",
}

#: The deflator's base year (its deflator is 1): the latest year of the money data.
BASE_YEAR = 2025

#: Largest allowed gap between the published deflator and cpi_u(base) / cpi_u(year) (the source check
#: found agreement to 1e-12).
DEFLATOR_TOLERANCE = 1e-9

#: Columns of the output table.
TABLE_COLUMNS = ["year", "cpi_u", "deflator_2025"]


def read_cpi_file(path: Path, display: str, report: SourceReport) -> pd.DataFrame:
    """Read the CPI-U file.

    Returns
    -------
    pandas.DataFrame
        ``year`` (int64), ``cpi_u``, ``deflator_2025`` (float64), sorted by year.

    Raises
    ------
    RawDataError
        On an unknown or missing column, a non-numeric or non-positive value, a date that is not January 1
        of its year, a gap or repeat in the years, no row for :data:`BASE_YEAR`, a deflator that disagrees
        with the index, or a file cut mid-row.
    """

    def body(reader) -> tuple[list[str], list[list[str]]]:
        return read_csv_header(reader, display, COLUMN_MAP), list(reader)

    labels, rows = read_strict_csv(path, display, body)
    for i, row in enumerate(rows):
        if len(row) != len(labels):
            raise RawDataError(display, f"{len(row)} cells but the header has {len(labels)}", row=i + 2)
    check_complete(path, display, len(rows) + 1, labels[-1])
    df = pd.DataFrame(rows, columns=[COLUMN_MAP[c] for c in labels], dtype=object)
    df["_line"] = np.arange(2, len(df) + 2)
    report.rows_read += len(df)
    if df.empty:
        raise RawDataError(display, "no data rows after the header", row=1)
    none = frozenset()
    year = to_number(df, "year", display, report, lo=1900, hi=2100, tokens=none)
    cpi = to_number(df, "cpi_u", display, report, lo=0.0, tokens=none)
    deflator = to_number(df, "deflator_2025", display, report, lo=0.0, tokens=none, label="deflator")
    for series, column in ((cpi, "cpi_u"), (deflator, "deflator")):
        refuse_first(df, series <= 0, display, column, lambda i, c=column: f"{c} must be positive")
    expected_dates = year.astype("int64").astype(str) + "-01-01"
    refuse_first(df, df["observation_date"].str.strip() != expected_dates, display, "observation_date",
                 lambda i: f"observation_date {df['observation_date'].iloc[i]!r} is not January 1 of "
                           f"{int(year.iloc[i])}")
    refuse_first(df, year.diff().fillna(1) != 1, display, "year",
                 lambda i: f"year {int(year.iloc[i])} does not follow {int(year.iloc[i - 1])}")
    base = year == BASE_YEAR
    if not base.any():
        raise RawDataError(display, f"no row for the base year {BASE_YEAR}", column="year")
    implied = float(cpi[base].iloc[0]) / cpi
    refuse_first(df, (implied - deflator).abs() > DEFLATOR_TOLERANCE, display, "deflator",
                 lambda i: f"deflator {deflator.iloc[i]!r} disagrees with cpi_u({BASE_YEAR}) / cpi_u = "
                           f"{implied.iloc[i]!r}")
    report.rows_kept += len(df)
    report.check()
    return pd.DataFrame(
        {
            "year": year.astype("int64"),
            "cpi_u": cpi.astype("float64"),
            "deflator_2025": deflator.astype("float64"),
        }
    )


def load(registry: Registry, crosswalk: object = None) -> SourceOutput:
    """Read the CPI-U file: no district rows; ``state`` and ``extra["cpi"]`` hold the yearly table."""
    frames, reports = [], []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_cpi_file(registry.verified_path(entry), entry.path, report))
        reports.append(report)
    if len(frames) != 1:
        raise RawDataError("registry", f"expected one file for family {FAMILY!r}, found {len(frames)}")
    table = frames[0][TABLE_COLUMNS]
    empty = pd.DataFrame({"district_code": pd.Series(dtype=object), "year": pd.Series(dtype="int64")})
    return SourceOutput(
        FAMILY, district=empty, state=table.copy(), extra={"cpi": table.copy()}, reports=reports, columns=[]
    )

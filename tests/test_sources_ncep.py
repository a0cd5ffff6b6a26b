"""NCEP reader: fixtures shaped like the real file, every quirk, bad input, and the real file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import assert_raw_error, fixture_registry

from alliance_study.data.sources import ncep
from alliance_study.data.sources.common import SourceReport

NAME = "district_year_ncep.csv"
HEADER = "district_code,district,fiscal_year,adm,nce,ncep,source\n"
# Real layout: town rows by TOWN code; a K-12 regional member town (Bridgewater, 16) before FY2016; from
# FY2016 "District No. N" rows with codes 201-220; whole-dollar NCEP in early years.
ROWS = (
    "1,Andover,2008,642.14,7139312.0,11118.0,ncep_2007-08.pdf\n"
    "15,Bridgeport,2008,12023.0,262128482.0,21801.84,ncep_2007-08.pdf\n"
    "16,Bridgewater,2008,250.42,4350437.0,17373.0,ncep_2007-08.pdf\n"
    "15,Bridgeport,2016,20590.0,455215870.0,22108.58,ncep_2015-16.pdf\n"
    "212,District No. 12,2016,677.12,19773046.0,29202.0,ncep_2015-16.pdf\n"
    "220,District No. 20,2025,1400.63,39929818.0,28508.47,csde_basiccon_excel.xls\n"
)



@pytest.fixture(autouse=True)
def _excerpts(monkeypatch):
    """The fixtures are excerpts: the whole-file year coverage is the corruption suite's to test."""
    monkeypatch.setattr(ncep, 'check_year_coverage', lambda *args, **kwargs: None)

def _read(write_raw, crosswalk, text):
    path = write_raw(NAME, text)
    report = SourceReport("ncep", NAME)
    return ncep.read_ncep_file(path, NAME, crosswalk, report), report


def _raises(write_raw, crosswalk, text, row, column, match):
    return assert_raw_error(lambda: _read(write_raw, crosswalk, text), NAME, row, column, match)


def test_town_and_region_rows_map_to_district_codes(write_raw, crosswalk):
    town, report = _read(write_raw, crosswalk, HEADER + ROWS)
    mapped = town.set_index(["town_or_region", "year"])["district_code"]
    assert mapped.loc[(1, 2008)] == "0010011"
    assert mapped.loc[(15, 2016)] == "0150011"
    assert mapped.loc[(212, 2016)] == "2120012"
    assert mapped.loc[(220, 2025)] == "2200012"  # Region 20, formed after the 2022-23 directory
    assert pd.isna(mapped.loc[(16, 2008)])  # Bridgewater: no district of its own (Region 12)
    assert report.rows_read == 6 and report.rows_kept == 5
    assert report.dropped == {ncep.DROP_REGION_TOWN: 1}
    assert list(town.columns) == ncep.TOWN_TABLE_COLUMNS


def test_load_returns_district_table_and_side_table(tmp_path, crosswalk):
    reg = fixture_registry(tmp_path, "ncep", {NAME: HEADER + ROWS})
    out = ncep.load(reg, crosswalk)
    d = out.district
    assert list(d.columns) == ["district_code", "year", "adm", "nce", "nce_per_pupil"]
    assert d[["district_code", "year"]].values.tolist() == [
        ["0010011", 2008],
        ["0150011", 2008],
        ["0150011", 2016],
        ["2120012", 2016],
        ["2200012", 2025],
    ]
    assert d["nce_per_pupil"].iloc[1] == 21801.84
    assert len(out.extra["ncep_town"]) == 6
    assert {c.name for c in out.columns} == {"adm", "nce", "nce_per_pupil"}


@pytest.mark.parametrize(
    "text, row, column, match",
    [
        # renamed and missing columns
        (HEADER.replace("ncep,", "nce_pp,") + ROWS, 1, "nce_pp", "unexpected column"),
        (
            HEADER.replace(",source", "")
            + ROWS.replace(",ncep_2007-08.pdf", "")
            .replace(",ncep_2015-16.pdf", "")
            .replace(",csde_basiccon_excel.xls", ""),
            1,
            "source",
            "missing column",
        ),
        # negative and zero ADM
        (HEADER + ROWS.replace("642.14", "-642.14"), 2, "adm", "below the allowed 0"),
        (HEADER + ROWS.replace("642.14,7139312.0,11118.0", "0,0,0"), 2, "adm", "not positive"),
        # non-numeric amount
        (HEADER + ROWS.replace("262128482.0", "262128482x"), 3, "nce", "not a number"),
        # NCEP that is not NCE / ADM
        (HEADER + ROWS.replace("21801.84", "21901.84"), 3, "ncep", "disagrees with NCE / ADM"),
        # unknown town and region codes, a code that is neither
        (
            HEADER + ROWS.replace("212,District No. 12", "203,District No. 3"),
            6,
            "district_code",
            "unknown district",
        ),
        (HEADER + ROWS.replace("1,Andover", "170,Andover"), 2, "district_code", "neither a town"),
        (HEADER + ROWS.replace("1,Andover", "x1,Andover"), 2, "district_code", "not a town or region code"),
        # name that disagrees with the code (a shifted row)
        (HEADER + ROWS.replace("1,Andover", "1,Ansonia"), 2, "district", "not 'Ansonia'"),
        (
            HEADER + ROWS.replace("212,District No. 12", "212,District No. 13"),
            6,
            "district",
            "District No. 12",
        ),
        (HEADER + ROWS.replace("16,Bridgewater", "16,Brookfield"), 4, "district", "Bridgewater"),
        # duplicate town-year
        (HEADER + ROWS + "1,Andover,2008,642.14,7139312.0,11118.0,x.pdf\n", 8, "town_or_region", "duplicate"),
    ],
)
def test_bad_input_names_file_row_column(write_raw, crosswalk, text, row, column, match):
    _raises(write_raw, crosswalk, text, row, column, match)


def test_truncated_file_raises(write_raw, crosswalk):
    text = HEADER + ROWS
    assert_raw_error(lambda: _read(write_raw, crosswalk, text[:-30]), NAME, None, None, "cut off|cells")


# --- real data -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return ncep.load(registry, crosswalk)


@pytest.mark.realdata
def test_real_ncep_is_nce_over_adm_on_every_row(real):
    t = real.extra["ncep_town"]
    implied = t["nce"] / t["adm"]
    gap = (t["nce_per_pupil"] - implied).abs()
    # Within rounding: whole dollars in the early PDFs, or 0.005% of the value.
    assert ((gap <= 0.51) | (gap <= 5e-5 * implied)).all()
    assert len(t) == 2675


@pytest.mark.realdata
def test_real_counts_per_year_are_raw_rows_minus_counted_drops(real):
    raw = real.extra["ncep_town"].groupby("year").size()
    assert raw.to_dict() == {
        **{y: 169 for y in range(2008, 2015)},
        **{y: 166 for y in (2016, 2017, 2018, 2019, 2020, 2022, 2023)},
        2024: 165,
        2025: 165,
    }
    kept = real.district.groupby("year").size()
    dropped = real.extra["ncep_town"]["district_code"].isna().groupby(real.extra["ncep_town"]["year"]).sum()
    assert (kept == raw - dropped).all()
    # The 20 K-12 regional member towns drop out before FY2016 and are absent after.
    assert dropped.loc[2008] == 20 and dropped.loc[2016:].sum() == 0
    r = real.reports[0]
    assert r.rows_read == 2675 and r.rows_kept == len(real.district)
    assert r.dropped == {ncep.DROP_REGION_TOWN: 140}


@pytest.mark.realdata
def test_real_k12_member_towns_are_the_towns_without_a_district(real, crosswalk):
    with_district = set(crosswalk.districts["town_code"].dropna().astype(int))
    assert set(range(1, 170)) - with_district == set(ncep.K12_REGIONAL_TOWNS)
    # Each one's region is listed from FY2016.
    regions = set(real.district.loc[real.district["year"] == 2016, "district_code"])
    assert {r for _, r in ncep.K12_REGIONAL_TOWNS.values()} <= regions | {"2200012"}


@pytest.mark.realdata
def test_real_spot_values(real):
    d = real.district.set_index(["district_code", "year"])
    # district_year_ncep.csv: "64,Hartford,2013,17929.0,388298796.0,21658.02,ncep_2012-13.pdf"
    assert d.loc[("0640011", 2013)].tolist() == [17929.0, 388298796.0, 21658.02]
    # "201,District No. 1,2016,420.0,10560186.0,25143.0,ncep_2015-16.pdf"
    assert d.loc[("2010012", 2016)].tolist() == [420.0, 10560186.0, 25143.0]
    years = sorted(real.district["year"].unique())
    assert 2015 not in years and 2021 not in years and years[-1] == 2025
    assert real.district["adm"].gt(0).all() and np.isfinite(real.district["nce"]).all()

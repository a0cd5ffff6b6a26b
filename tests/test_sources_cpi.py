"""CPI-U reader: a fixture shaped like the real file, bad input, and the real file."""

from __future__ import annotations

import pytest
from _helpers import assert_raw_error, fixture_registry

from alliance_study.data.sources import cpi
from alliance_study.data.sources.common import SourceReport

NAME = "cpi_u_deflator.csv"
TEXT = (
    "year,observation_date,cpi_u,deflator\n"
    "2023,2023-01-01,304.703,1.056642041594602\n"
    "2024,2024-01-01,313.698,1.026343808376209\n"
    "2025,2025-01-01,321.962,1.0\n"
)


def _read(write_raw, text):
    path = write_raw(NAME, text)
    return cpi.read_cpi_file(path, NAME, SourceReport("cpi", NAME))


def test_layout(write_raw):
    df = _read(write_raw, TEXT)
    assert df["year"].tolist() == [2023, 2024, 2025]
    assert df["deflator_2025"].tolist()[-1] == 1.0
    assert df["cpi_u"].tolist()[0] == 304.703


def test_load_has_no_district_rows(tmp_path):
    out = cpi.load(fixture_registry(tmp_path, "cpi", {NAME: TEXT}))
    assert out.district.empty and list(out.district.columns) == ["district_code", "year"]
    assert list(out.state.columns) == cpi.TABLE_COLUMNS and len(out.extra["cpi"]) == 3


@pytest.mark.parametrize(
    "text, row, column, match",
    [
        (TEXT.replace("deflator", "deflator_2025"), 1, "deflator_2025", "unexpected column"),
        (TEXT.replace("313.698", "313.69x"), 3, "cpi_u", "not a number"),
        (TEXT.replace("1.026343808376209", "1.03"), 3, "deflator", "disagrees"),
        (TEXT.replace("2024,2024-01-01", "2024,2024-07-01"), 3, "observation_date", "January 1"),
        (TEXT.replace("2024,2024-01-01", "2022,2022-01-01"), 3, "year", "does not follow"),
        (TEXT.replace("2025,2025-01-01,321.962,1.0\n", ""), None, "year", "no row for the base year"),
    ],
)
def test_bad_input(write_raw, text, row, column, match):
    assert_raw_error(lambda: _read(write_raw, text), NAME, row, column, match)


@pytest.mark.realdata
def test_real_file(registry):
    out = cpi.load(registry)
    t = out.extra["cpi"].set_index("year")
    assert list(t.index) == list(range(2006, 2026))
    assert t.loc[2013, "deflator_2025"] == pytest.approx(321.962 / 232.952, rel=1e-12)
    falls = t["deflator_2025"].diff().dropna() < 0  # prices rose every year but 2009 (January index)
    assert falls.drop(2009).all() and not falls.loc[2009]
    assert out.reports[0].rows_read == out.reports[0].rows_kept == 20

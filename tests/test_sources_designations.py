"""Alliance designations and Opportunity District flags: the real table, fixtures and bad input."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from _helpers import assert_raw_error

from alliance_study.data.sources import designations
from alliance_study.data.sources.common import SourceReport
from alliance_study.data.sources.keys import town_district_code

FILE = "alliance_designations.csv"


@pytest.fixture(scope="module")
def real_text(registry) -> str:
    entry = registry.files("designations")[0]
    return registry.verified_path(entry).read_text(encoding="utf-8")


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _edit(text: str, line: int, column: str, value: str) -> str:
    """Set one cell (1-based file line, header label) of the designation CSV."""
    rows = _rows(text)
    rows[line - 1][rows[0].index(column)] = value
    return _text(rows)


def _read(path: Path, crosswalk):
    report = SourceReport("designations", path.name)
    return designations.read_designations_file(path, path.name, crosswalk, report), report


def _raises(path: Path, crosswalk, row, column, match):
    return assert_raw_error(lambda: _read(path, crosswalk), path.name, row, column, match)


# --- the real table ----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_designations(registry, crosswalk):
    out = designations.load(registry, crosswalk)
    d = out.district
    assert list(d.columns) == ["district_code", "alliance_cohort", "designation_note", "designation_source"]
    assert "year" not in d.columns  # one row per district, not district-year
    assert len(d) == 36 and d["district_code"].is_unique
    assert d["alliance_cohort"].dtype == np.int64
    assert d["alliance_cohort"].value_counts().to_dict() == {2013: 30, 2018: 3, 2023: 3}
    assert set(d["district_code"]) <= crosswalk.codes
    assert d["district_code"].str.endswith("0011").all()
    x = d.set_index("district_code")["alliance_cohort"]
    assert (x["0640011"], x["0150011"]) == (2013, 2013)  # Hartford, Bridgeport
    assert sorted(x[x == 2018].index) == ["0590011", "1410011", "1430011"]  # Groton, Thompson, Torrington
    assert sorted(x[x == 2023].index) == ["0490011", "1090011", "1380011"]  # Enfield, Plainfield, Stratford
    r = out.reports[0]
    assert (r.rows_read, r.rows_kept, sum(r.dropped.values())) == (36, 36, 0)
    assert d.equals(d.sort_values("district_code", ignore_index=True))


@pytest.mark.realdata
def test_real_opportunity_districts_are_original_alliance(registry, crosswalk):
    d = designations.load(registry, crosswalk).district.set_index("district_code")["alliance_cohort"]
    codes = [town_district_code(t) for t in designations.OPPORTUNITY_DISTRICTS]
    assert len(set(codes)) == 10
    assert all(d[c] == 2013 for c in codes)
    names = crosswalk.districts.set_index("district_code").loc[codes, "district_name"]
    assert sorted(n.removesuffix(" School District") for n in names) == [
        "Bridgeport", "East Hartford", "Hartford", "Meriden", "New Britain", "New Haven", "New London",
        "Norwich", "Waterbury", "Windham"]


def test_opportunity_flags():
    flags = designations.opportunity_flags([2019, 2017, 2018])
    assert list(flags.columns) == ["district_code", "year", "opportunity_district"]
    assert len(flags) == 30 and flags["year"].dtype == np.int64
    assert flags["opportunity_district"].dtype == bool
    by_year = flags.groupby("year")["opportunity_district"].sum().to_dict()
    assert by_year == {2017: 0, 2018: 10, 2019: 10}  # designated from FY2018 (ESSA plan, August 2017)
    assert designations.OPPORTUNITY_FIRST_YEAR == 2018
    other = designations.opportunity_flags([2020], district_codes=["0640011", "0010011"])
    assert other.set_index("district_code")["opportunity_district"].to_dict() == {
        "0010011": False, "0640011": True}


# --- bad input (fixtures built from the real file with one cell changed) ----------------------------


@pytest.mark.realdata
def test_bad_cohort_year(write_raw, crosswalk, real_text):
    text = _edit(real_text, 5, "first_fiscal_year_designated", "2019")
    _raises(write_raw(FILE, text), crosswalk, 5, "first_fiscal_year_designated", "2019 is not one of")


@pytest.mark.realdata
def test_non_integer_year(write_raw, crosswalk, real_text):
    text = _edit(real_text, 7, "first_fiscal_year_designated", "FY2013")
    _raises(write_raw(FILE, text), crosswalk, 7, "first_fiscal_year_designated", "not an integer")


@pytest.mark.realdata
def test_unknown_town(write_raw, crosswalk, real_text):
    text = _edit(real_text, 3, "town_code", "170")
    _raises(write_raw(FILE, text), crosswalk, 3, "town_code", "outside 1-169")


@pytest.mark.realdata
def test_town_code_of_another_town(write_raw, crosswalk, real_text):
    text = _edit(real_text, 12, "town_code", "65")  # Hartford's row with Hartland's code
    _raises(write_raw(FILE, text), crosswalk, 12, "town_code", "'Hartford'.*Hartland")


@pytest.mark.realdata
def test_duplicate_town(write_raw, crosswalk, real_text):
    rows = _rows(real_text)
    rows.append(rows[12])
    _raises(write_raw(FILE, _text(rows)), crosswalk, 38, "town_code", "duplicate row")


@pytest.mark.realdata
def test_wrong_cohort_counts(write_raw, crosswalk, real_text):
    rows = _rows(real_text)
    del rows[-1]  # drop Stratford: 35 rows, 2 in FY2023
    _raises(write_raw(FILE, _text(rows)), crosswalk, None, "first_fiscal_year_designated",
            "expected {2013: 30, 2018: 3, 2023: 3}")


@pytest.mark.realdata
def test_renamed_column(write_raw, crosswalk, real_text):
    text = real_text.replace("first_fiscal_year_designated", "first_year", 1)
    _raises(write_raw(FILE, text), crosswalk, 1, "first_year", "unexpected column")


@pytest.mark.realdata
def test_missing_column(write_raw, crosswalk, real_text):
    rows = [r[:3] + r[4:] for r in _rows(real_text)]  # without "cohort"
    _raises(write_raw(FILE, _text(rows)), crosswalk, 1, "cohort", "missing column")


@pytest.mark.realdata
def test_file_cut_mid_row(write_raw, crosswalk, real_text):
    text = real_text[: real_text.index("\nHartford,64,") + len("\nHartford,64,")]
    _raises(write_raw(FILE, text), crosswalk, 12, None, "3 cells but the header has 5")


@pytest.mark.realdata
def test_file_cut_inside_quoted_cell(write_raw, crosswalk, real_text):
    text = real_text[: real_text.index("\nHartford,64,") + 40]
    _raises(write_raw(FILE, text), crosswalk, 12, None, "malformed CSV")


def test_header_only(write_raw, crosswalk):
    _raises(write_raw(FILE, "district,town_code,first_fiscal_year_designated,cohort,source\n"), crosswalk,
            2, None, "no data rows")


@pytest.mark.realdata
def test_latin1_file(write_raw, crosswalk, real_text):
    text = real_text.replace("Windham,163", "Windhäm,163")
    line = real_text[: real_text.index("Windham,163")].count("\n") + 1
    _raises(write_raw(FILE, text, encoding="latin-1"), crosswalk, line, None, "not valid UTF-8")

"""Suspension-rate reader: fixture files shaped like the real exports, bad input, and the real files."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_raw_error, check_counts_per_year, check_row_accounting

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import suspensions
from alliance_study.data.sources.common import SourceReport

DISTRICT_FILE = "suspension-rates__2012-13_.csv"
STATE_FILE = "suspension-rates__2012-13__ct.csv"

# Real layout: no title lines; the header is line 1, then the data and a trailing blank line.
HEAD = '"District","District Code","Count","%"\r\n'
ROWS = (
    '"Andover School District","=""0010011""","N/A","N/A"\r\n'
    '"Bridgeport School District","=""0150011""",3456,16.7\r\n'
    '"Hartford School District","=""0640011""",3781,17.2\r\n'
    '"New Hartford School District","=""0920011""","*","*"\r\n'
    "\r\n"
)
STATE_TEXT = '"District","Organization Code","Count","%"\r\n"State","=""0000000""",43248,7.8\r\n\r\n'


def _read(path, crosswalk):
    report = SourceReport("suspensions", path.name)
    return suspensions.read_suspension_file(path, path.name, crosswalk, report), report


def _raises(path, crosswalk, row, column, match):
    return assert_raw_error(lambda: _read(path, crosswalk), path.name, row, column, match)


# --- fixture files -----------------------------------------------------------------------------------


def test_district_file(write_raw, crosswalk):
    df, report = _read(write_raw(DISTRICT_FILE, HEAD + ROWS), crosswalk)
    assert list(df.columns) == ["district_code", "year", "suspension_count", "suspension_rate"]
    assert list(df["district_code"]) == ["0010011", "0150011", "0640011", "0920011"]
    assert (df["year"] == 2013).all() and df["year"].dtype == np.int64
    assert df[["suspension_count", "suspension_rate"]].iloc[1:3].to_numpy().tolist() == [
        [3456.0, 16.7], [3781.0, 17.2]]
    assert df.iloc[[0, 3]][["suspension_count", "suspension_rate"]].isna().all().all()
    assert (report.rows_read, report.rows_kept, dict(report.dropped)) == (5, 4, {"blank line": 1})
    assert report.suppressed == {"Count": 2, "%": 2}


def test_state_file(write_raw, crosswalk):
    df, report = _read(write_raw(STATE_FILE, STATE_TEXT), crosswalk)
    assert df.to_dict("records") == [
        {"district_code": "0000000", "year": 2013, "suspension_count": 43248.0, "suspension_rate": 7.8}]
    assert (report.rows_read, report.rows_kept) == (2, 1)


def test_load_splits_state(tmp_path, crosswalk):
    raw = tmp_path / "raw"
    raw.mkdir()
    entries = []
    for name, text in ((DISTRICT_FILE, HEAD + ROWS), (STATE_FILE, STATE_TEXT)):
        (raw / name).write_text(text, encoding="utf-8", newline="")
        entries.append(RegistryEntry(name, "suspensions", sha256_file(raw / name), 0, "", "", "yes", "", ""))
    out = suspensions.load(Registry(entries=entries, raw_dir=raw), crosswalk)
    assert out.state.to_dict("records") == [
        {"year": 2013, "suspension_count": 43248.0, "suspension_rate": 7.8}]
    assert len(out.district) == 4 and "0000000" not in set(out.district["district_code"])
    assert [c.name for c in out.columns] == ["suspension_count", "suspension_rate"]
    assert all("COVID-19" in c.description for c in out.columns)


# --- bad input ---------------------------------------------------------------------------------------


def test_renamed_column(write_raw, crosswalk):
    _raises(write_raw(DISTRICT_FILE, HEAD.replace('"%"', '"Rate"') + ROWS), crosswalk, 1, "Rate",
            "unexpected column")


def test_missing_column(write_raw, crosswalk):
    text = '"District","District Code","%"\r\n"Bridgeport School District","=""0150011""",16.7\r\n\r\n'
    _raises(write_raw(DISTRICT_FILE, text), crosswalk, 1, "suspension_count", "missing column")


def test_state_file_with_district_code_label(write_raw, crosswalk):
    text = STATE_TEXT.replace("Organization Code", "District Code")
    _raises(write_raw(STATE_FILE, text), crosswalk, 1, "Organization Code", "labelled 'Organization Code'")


def test_extra_cell(write_raw, crosswalk):
    rows = ROWS.replace("3456,16.7", "3456,16,7")  # a decimal comma splits the rate in two
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 3, None, "5 cells but the header has 4")


def test_non_numeric_rate(write_raw, crosswalk):
    rows = ROWS.replace("3456,16.7", "3456,16.7%")
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 3, "%", "not a number: '16.7%'")


def test_rate_above_100(write_raw, crosswalk):
    rows = ROWS.replace("3781,17.2", "3781,172")
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 4, "%", "above the allowed 100")


def test_negative_count(write_raw, crosswalk):
    rows = ROWS.replace("3781,17.2", "-3781,17.2")
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 4, "Count", "below the allowed 0")


def test_fractional_count(write_raw, crosswalk):
    rows = ROWS.replace("3781,17.2", "3781.25,17.2")
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 4, "Count", "not a whole number")


def test_zero_rate_with_positive_count(write_raw, crosswalk):
    rows = ROWS.replace("3781,17.2", "3781,0.0")
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 4, "Count", "disagree about zero")


def test_duplicate_district(write_raw, crosswalk):
    rows = ROWS[:-2] + '"Bridgeport School District","=""0150011""",3456,16.7\r\n\r\n'
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 6, "district_code", "duplicate row")


def test_unknown_district_code(write_raw, crosswalk):
    rows = ROWS.replace('""0640011""', '""6660011""')
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 4, "District Code", "unknown district code")


def test_bad_code_suffix(write_raw, crosswalk):
    rows = ROWS.replace('""0640011""', '""0640099""')
    _raises(write_raw(DISTRICT_FILE, HEAD + rows), crosswalk, 4, "District Code", "unknown entity suffix")


def test_district_row_in_state_file(write_raw, crosswalk):
    text = STATE_TEXT[:-2] + '"Bridgeport School District","=""0150011""",3456,16.7\r\n\r\n'
    _raises(write_raw(STATE_FILE, text), crosswalk, 3, "Organization Code", "state-total file has a district")


def test_header_only_file(write_raw, crosswalk):
    _raises(write_raw(DISTRICT_FILE, HEAD), crosswalk, 1, "District", "no data rows")


def test_file_cut_mid_row(write_raw, crosswalk):
    text = HEAD + ROWS[: ROWS.index("3781,17.2") + 6]  # Hartford's row ends "3781,1"
    _raises(write_raw(DISTRICT_FILE, text), crosswalk, 4, "%", "cut off")


def test_latin1_file(write_raw, crosswalk):
    rows = ROWS.replace("Hartford School", "Hártford School")
    _raises(write_raw(DISTRICT_FILE, HEAD + rows, encoding="latin-1"), crosswalk, 4, None, "not valid UTF-8")


def test_utf16_file(write_raw, crosswalk):
    _raises(write_raw(DISTRICT_FILE, HEAD + ROWS, encoding="utf-16"), crosswalk, 1, None, "not valid UTF-8")


# --- real data ---------------------------------------------------------------------------------------

#: District rows per spring year: the data lines after the header in each raw file.
REAL_COUNTS = {2010: 197, 2011: 197, 2012: 196, 2013: 196, 2014: 197, 2015: 201, 2016: 203, 2017: 203,
               2018: 203, 2019: 202, 2020: 201}


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return suspensions.load(registry, crosswalk)


@pytest.mark.realdata
def test_real_row_accounting(real):
    check_row_accounting(real, 22, {"blank line"})


@pytest.mark.realdata
def test_real_district_counts_per_year(real, registry):
    check_counts_per_year(real, registry, REAL_COUNTS)


@pytest.mark.realdata
def test_real_schema_and_spot_values(real):
    d = real.district
    assert list(d.columns) == ["district_code", "year", "suspension_count", "suspension_rate"]
    assert d["year"].dtype == np.int64
    assert d["suspension_count"].dtype == np.float64 and d["suspension_rate"].dtype == np.float64
    assert d["district_code"].str.fullmatch(r"\d{7}").all()
    assert d.equals(d.sort_values(["district_code", "year"], ignore_index=True))
    # Count and rate are suppressed together in every real row.
    assert (d["suspension_count"].isna() == d["suspension_rate"].isna()).all()
    x = d.set_index(["district_code", "year"])
    # Checked by hand in the raw files.
    assert x.loc[("0150011", 2013)].tolist() == [3456.0, 16.7]  # Bridgeport 2012-13
    assert x.loc[("0640011", 2013)].tolist() == [3781.0, 17.2]  # Hartford 2012-13
    assert x.loc[("0150011", 2020)].tolist() == [2004.0, 9.4]  # Bridgeport 2019-20
    assert x.loc[("0640011", 2020)].tolist() == [2051.0, 10.3]  # Hartford 2019-20
    assert x.loc[("0010011", 2010)].isna().all()  # Andover 2009-10: N/A


@pytest.mark.realdata
def test_real_state_totals(real):
    s = real.state.set_index("year")
    assert list(s.index) == list(range(2010, 2021))
    assert s.loc[2010].tolist() == [50738.0, 8.9]
    assert s.loc[2020].tolist() == [26751.0, 4.9]


@pytest.mark.realdata
def test_real_statewide_rate_implied_by_district_counts(real):
    d = real.district.dropna(subset=["suspension_count", "suspension_rate"])
    d = d.assign(enrolled=d["suspension_count"] / d["suspension_rate"] * 100)
    sums = d.groupby("year")[["suspension_count", "enrolled"]].sum()
    implied = 100 * sums["suspension_count"] / sums["enrolled"]
    state = real.state.set_index("year")["suspension_rate"]
    gaps = (implied - state.loc[implied.index]).abs()
    assert len(gaps) == 11
    assert (gaps < 1.0).all(), gaps.to_dict()  # found: 0.09 (2016) to 0.23 (2013)
    # The pandemic year is visibly lower than the year before, in both the state file and the districts.
    assert state.loc[2020] < state.loc[2019] - 1 and implied.loc[2020] < implied.loc[2019] - 1

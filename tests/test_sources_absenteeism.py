"""Chronic-absenteeism reader: fixture files shaped like the real exports, bad input, and the real files."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_raw_error, check_counts_per_year, check_row_accounting

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import absenteeism
from alliance_study.data.sources.common import SourceReport

OLD_FILE = "chronic-absenteeism__2013-14_all-students.csv"
NEW_FILE = "chronic-absenteeism__2018-19_all-students.csv"
OLD_STATE_FILE = "chronic-absenteeism__2013-14_all-students_ct.csv"
NEW_STATE_FILE = "chronic-absenteeism__2018-19_all-students_ct.csv"

# Up to 2017-18: two title lines, a blank line, the header (line 4), data, a blank line.
OLD_HEAD = (
    '"Chronic Absenteeism, 2013-14"\r\n'
    '"All Districts, All Students"\r\n'
    "\r\n"
    '"District","District Code","% Chronically Absent"\r\n'
)
OLD_ROWS = (
    '"Bridgeport School District","=""0150011""",21.2\r\n'
    '"Hartford School District","=""0640011""",26.6\r\n'
    '"Trailblazers Academy District","=""2780013""",0.0\r\n'
    '"Union School District","=""1450011""","*"\r\n'
    "\r\n"
)
# From 2018-19: a group header over the count and the percent; the header is on line 5.
NEW_HEAD = (
    '"Chronic Absenteeism, 2018-19"\r\n'
    '"All Districts, All Students"\r\n'
    "\r\n"
    '"",,"Chronically Absent",\r\n'
    '"District","District Code","Student Count","%"\r\n'
)
NEW_ROWS = (
    '"Andover School District","=""0010011""","*","*"\r\n'
    '"Bridgeport School District","=""0150011""",3689,18.8\r\n'
    '"Hartford School District","=""0640011""",4597,25.4\r\n'
    "\r\n"
)
OLD_STATE = (
    '"Chronic Absenteeism, 2013-14"\r\n'
    '"State of Connecticut, All Students"\r\n'
    "\r\n"
    '"Organization","% Chronically Absent"\r\n'
    '"State of Connecticut",10.8\r\n'
    "\r\n"
)
NEW_STATE = (
    '"Chronic Absenteeism, 2018-19"\r\n'
    '"State of Connecticut, All Students"\r\n'
    "\r\n"
    '"","Chronically Absent",\r\n'
    '"Organization","Student Count","%"\r\n'
    '"State of Connecticut",53191,10.4\r\n'
    "\r\n"
)


def _read(path, crosswalk):
    report = SourceReport("absenteeism", path.name)
    return absenteeism.read_absenteeism_file(path, path.name, crosswalk, report), report


def _raises(path, crosswalk, row, column, match):
    return assert_raw_error(lambda: _read(path, crosswalk), path.name, row, column, match)


# --- fixture files -----------------------------------------------------------------------------------


def test_old_layout(write_raw, crosswalk):
    df, report = _read(write_raw(OLD_FILE, OLD_HEAD + OLD_ROWS), crosswalk)
    assert list(df.columns) == ["district_code", "year", "chronic_absent_rate", "chronic_absent_count"]
    assert list(df["district_code"]) == ["0150011", "0640011", "1450011", "2780013"]
    assert (df["year"] == 2014).all() and df["year"].dtype == np.int64
    assert df["chronic_absent_rate"].tolist()[:2] == [21.2, 26.6]
    assert np.isnan(df["chronic_absent_rate"].iloc[2]) and df["chronic_absent_rate"].iloc[3] == 0.0
    assert df["chronic_absent_count"].isna().all() and df["chronic_absent_count"].dtype == np.float64
    assert (report.rows_read, report.rows_kept, dict(report.dropped)) == (5, 4, {"blank line": 1})
    assert report.suppressed == {"% Chronically Absent": 1}


def test_new_layout_with_count(write_raw, crosswalk):
    df, report = _read(write_raw(NEW_FILE, NEW_HEAD + NEW_ROWS), crosswalk)
    assert list(df["district_code"]) == ["0010011", "0150011", "0640011"]
    assert (df["year"] == 2019).all()
    assert df[["chronic_absent_rate", "chronic_absent_count"]].iloc[1:].to_numpy().tolist() == [
        [18.8, 3689.0], [25.4, 4597.0]]
    assert df.iloc[0][["chronic_absent_rate", "chronic_absent_count"]].isna().all()
    assert report.suppressed == {"Chronically Absent | %": 1, "Chronically Absent | Student Count": 1}


def test_state_files(write_raw, crosswalk):
    old, _ = _read(write_raw(OLD_STATE_FILE, OLD_STATE), crosswalk)
    new, report = _read(write_raw(NEW_STATE_FILE, NEW_STATE), crosswalk)
    assert old[["district_code", "year", "chronic_absent_rate"]].to_dict("records") == [
        {"district_code": "0000000", "year": 2014, "chronic_absent_rate": 10.8}]
    assert np.isnan(old["chronic_absent_count"].iloc[0])
    assert new.to_dict("records") == [
        {"district_code": "0000000", "year": 2019, "chronic_absent_rate": 10.4,
         "chronic_absent_count": 53191.0}]
    assert (report.rows_read, report.rows_kept) == (2, 1)


def test_load_splits_state(tmp_path, crosswalk):
    raw = tmp_path / "raw"
    entries = []
    for name, text in ((OLD_FILE, OLD_HEAD + OLD_ROWS), (OLD_STATE_FILE, OLD_STATE),
                       (NEW_FILE, NEW_HEAD + NEW_ROWS), (NEW_STATE_FILE, NEW_STATE)):
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(text, encoding="utf-8", newline="")
        entries.append(RegistryEntry(name, "absenteeism", sha256_file(raw / name), 0, "", "", "yes", "", ""))
    out = absenteeism.load(Registry(entries=entries, raw_dir=raw), crosswalk)
    assert list(out.state["year"]) == [2014, 2019]
    assert out.state["chronic_absent_rate"].tolist() == [10.8, 10.4]
    assert out.district.groupby("year").size().to_dict() == {2014: 4, 2019: 3}
    assert [c.name for c in out.columns] == ["chronic_absent_rate", "chronic_absent_count"]
    assert "COVID-19" in out.columns[0].description


# --- bad input ---------------------------------------------------------------------------------------


def test_renamed_column(write_raw, crosswalk):
    head = OLD_HEAD.replace("% Chronically Absent", "% Chronic Absence")
    _raises(write_raw(OLD_FILE, head + OLD_ROWS), crosswalk, 4, "% Chronic Absence", "unexpected column")


def test_missing_count_column_from_2019(write_raw, crosswalk):
    # A 2018-19 file in the old one-measure layout has lost its count column.
    text = OLD_HEAD.replace("2013-14", "2018-19") + OLD_ROWS
    _raises(write_raw(NEW_FILE, text), crosswalk, 4, "chronic_absent_count", "missing column")


def test_missing_code_column(write_raw, crosswalk):
    text = OLD_HEAD.replace('"District Code",', "") + '"Bridgeport School District",21.2\r\n\r\n'
    _raises(write_raw(OLD_FILE, text), crosswalk, 4, "district_code", "missing column")


def test_non_numeric_rate(write_raw, crosswalk):
    rows = OLD_ROWS.replace("26.6", "n.a.")
    _raises(write_raw(OLD_FILE, OLD_HEAD + rows), crosswalk, 6, "% Chronically Absent", "not a number")


def test_rate_above_100(write_raw, crosswalk):
    rows = NEW_ROWS.replace("4597,25.4", "4597,125.4")
    _raises(write_raw(NEW_FILE, NEW_HEAD + rows), crosswalk, 8, "Chronically Absent | %",
            "above the allowed 100")


def test_negative_count(write_raw, crosswalk):
    rows = NEW_ROWS.replace("3689,18.8", "-3689,18.8")
    _raises(write_raw(NEW_FILE, NEW_HEAD + rows), crosswalk, 7, "Chronically Absent | Student Count",
            "below the allowed 0")


def test_fractional_count(write_raw, crosswalk):
    rows = NEW_ROWS.replace("3689,18.8", "3689.5,18.8")
    _raises(write_raw(NEW_FILE, NEW_HEAD + rows), crosswalk, 7, "Chronically Absent | Student Count",
            "not a whole number")


def test_zero_count_with_positive_rate(write_raw, crosswalk):
    rows = NEW_ROWS.replace("3689,18.8", "0,18.8")
    _raises(write_raw(NEW_FILE, NEW_HEAD + rows), crosswalk, 7, "Chronically Absent | Student Count",
            "disagree about zero")


def test_duplicate_district(write_raw, crosswalk):
    rows = OLD_ROWS[:-2] + '"Bridgeport School District","=""0150011""",21.2\r\n\r\n'
    _raises(write_raw(OLD_FILE, OLD_HEAD + rows), crosswalk, 9, "district_code", "duplicate row")


def test_unknown_district_code(write_raw, crosswalk):
    rows = OLD_ROWS.replace('""0640011""', '""9990011""')
    _raises(write_raw(OLD_FILE, OLD_HEAD + rows), crosswalk, 6, "District Code", "unknown district code")


def test_unknown_state_name(write_raw, crosswalk):
    text = OLD_STATE.replace('"State of Connecticut",10.8', '"State of Confusion",10.8')
    _raises(write_raw(OLD_STATE_FILE, text), crosswalk, 5, "Organization", "unknown district name")


def test_district_row_in_state_file(write_raw, crosswalk):
    text = OLD_STATE[:-2] + '"Bridgeport School District",21.2\r\n\r\n'
    _raises(write_raw(OLD_STATE_FILE, text), crosswalk, 6, "Organization",
            "state-total file has a district row")


def test_header_only_file(write_raw, crosswalk):
    _raises(write_raw(NEW_FILE, NEW_HEAD), crosswalk, 5, "District", "no data rows")


def test_file_cut_mid_row(write_raw, crosswalk):
    # Cut inside the last percent: "25.4" became "2", a valid number, so only the missing line end shows it.
    text = NEW_HEAD + NEW_ROWS[: NEW_ROWS.index("25.4") + 1]
    _raises(write_raw(NEW_FILE, text), crosswalk, 8, "Chronically Absent | %", "cut off")


def test_latin1_file(write_raw, crosswalk):
    rows = OLD_ROWS.replace("Hartford School District", "Hartförd School District")
    _raises(write_raw(OLD_FILE, OLD_HEAD + rows, encoding="latin-1"), crosswalk, 6, None, "not valid UTF-8")


def test_utf16_file(write_raw, crosswalk):
    _raises(write_raw(OLD_FILE, OLD_HEAD + OLD_ROWS, encoding="utf-16"), crosswalk, 1, None,
            "not valid UTF-8")


def test_title_year_disagrees_with_file_name(write_raw, crosswalk):
    text = OLD_HEAD.replace("2013-14", "2014-15") + OLD_ROWS
    _raises(write_raw(OLD_FILE, text), crosswalk, 1, None, "title says 2015, file name says 2014")


# --- real data ---------------------------------------------------------------------------------------

#: District rows per spring year: the data lines after the header in each raw file.
REAL_COUNTS = {2012: 196, 2013: 196, 2014: 197, 2015: 201, 2016: 203, 2017: 203, 2018: 203, 2019: 202,
               2020: 201}


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return absenteeism.load(registry, crosswalk)


@pytest.mark.realdata
def test_real_row_accounting(real):
    check_row_accounting(real, 18, {"blank line"})


@pytest.mark.realdata
def test_real_district_counts_per_year(real, registry):
    check_counts_per_year(real, registry, REAL_COUNTS)


@pytest.mark.realdata
def test_real_schema_and_spot_values(real):
    d = real.district
    assert list(d.columns) == ["district_code", "year", "chronic_absent_rate", "chronic_absent_count"]
    assert d["year"].dtype == np.int64
    assert d["chronic_absent_rate"].dtype == np.float64 and d["chronic_absent_count"].dtype == np.float64
    assert d["district_code"].str.fullmatch(r"\d{7}").all()
    assert d.equals(d.sort_values(["district_code", "year"], ignore_index=True))
    assert d.loc[d["year"] < 2019, "chronic_absent_count"].isna().all()
    assert d.loc[d["year"] >= 2019, "chronic_absent_count"].notna().sum() > 350
    x = d.set_index(["district_code", "year"])
    # Checked by hand in the raw files.
    assert x.loc[("0150011", 2014), "chronic_absent_rate"] == 21.2  # Bridgeport 2013-14
    assert x.loc[("0640011", 2014), "chronic_absent_rate"] == 26.6  # Hartford 2013-14
    assert x.loc[("0150011", 2019)].tolist() == [18.8, 3689.0]  # Bridgeport 2018-19
    assert x.loc[("0640011", 2019)].tolist() == [25.4, 4597.0]  # Hartford 2018-19
    assert x.loc[("0290011", 2020)].tolist() == [0.0, 0.0]  # Colebrook 2019-20: a true zero


@pytest.mark.realdata
def test_real_state_totals(real):
    s = real.state.set_index("year")
    assert list(s.index) == list(range(2012, 2021))
    assert s.loc[2012, "chronic_absent_rate"] == 11.1
    assert s.loc[2019].tolist() == [10.4, 53191.0]
    assert s.loc[2020].tolist() == [12.2, 62190.0]
    assert s.loc[:2018, "chronic_absent_count"].isna().all()


@pytest.mark.realdata
def test_real_statewide_rate_implied_by_district_counts(real):
    d = real.district.dropna(subset=["chronic_absent_count", "chronic_absent_rate"])
    d = d[d["chronic_absent_rate"] > 0]  # a zero rate implies no enrolment figure
    d = d.assign(enrolled=d["chronic_absent_count"] / d["chronic_absent_rate"] * 100)
    sums = d.groupby("year")[["chronic_absent_count", "enrolled"]].sum()
    implied = 100 * sums["chronic_absent_count"] / sums["enrolled"]
    state = real.state.set_index("year")["chronic_absent_rate"]
    gaps = (implied - state.loc[implied.index]).abs()
    assert list(gaps.index) == [2019, 2020]
    assert (gaps < 1.0).all(), gaps.to_dict()  # found: 0.04 (2019), 0.09 (2020)
    # Implied statewide enrolment is about half a million students both years.
    assert sums["enrolled"].between(480_000, 540_000).all()


@pytest.mark.realdata
def test_real_median_rate_is_sane(real):
    medians = real.district.groupby("year")["chronic_absent_rate"].median()
    assert len(medians) == 9
    assert medians.between(5, 15).all(), medians.to_dict()  # found: 6.3 (2016) to 9.1 (2020)

"""Enrollment reader: fixture files shaped like the real EdSight exports, bad input, and the real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import assert_raw_error, fixture_registry

from alliance_study.data.registry import Registry
from alliance_study.data.sources import enrollment
from alliance_study.data.sources.common import SourceReport
from alliance_study.data.sources.keys import town_district_code, year_from_path
from alliance_study.errors import RawDataError

A_DIR = "CT-Data-Collaborative/edsight-data/data/enrollment-district/"
B_DIR = "CT-Data-Collaborative/educational-need/raw/"
LUNCH_FILE = "enrollment__2012-13_lunch.csv"

# Three title lines, a blank line, the group header (line 5), the header (line 6), data from line 7.
LUNCH_HEAD = (
    '"Student Counts by District and Free/Reduced Lunch Eligibility"\r\n'
    '"All Districts"\r\n'
    '"2012-13"\r\n'
    "\r\n"
    '"",,"Free/Reduced Lunch Eligibility",,,\r\n'
    '"District","District Code","Free","Non-Subsidized","Reduced","Total"\r\n'
)
LUNCH_ROWS = (
    '"Andover School District","=""0010011""","*",333,"*",347\r\n'  # line 7: Free + Reduced = 14
    '"Bridgeport School District","=""0150011""",20146,"*","*",20338\r\n'  # 8: real 2012-13 row
    '"Hartford School District","=""0640011""",18371,3159,435,21965\r\n'  # 9: real 2012-13 row
    '"Union School District","=""1450011""","*","*",0,"*"\r\n'  # 10: Total suppressed too
    '"Total","=""""",175767,350453,28584,554804\r\n'  # 11: the real state row
    "\r\n"  # 12
)
LUNCH = LUNCH_HEAD + LUNCH_ROWS

ELL_FILE = "enrollment__2012-13_ell.csv"
ELL = (
    '"Student Counts by District and English Learner Status"\r\n'
    '"All Districts"\r\n'
    '"2012-13"\r\n'
    "\r\n"
    '"",,"English Learner Status",,\r\n'
    '"District","District Code","No","Yes","Total"\r\n'
    '"Hartford School District","=""0640011""",18187,3778,21965\r\n'
    '"New Hartford School District","=""0920011""","*","*",567\r\n'
    '"Total","=""""",523645,31159,554804\r\n'
    "\r\n"
)

ALL_FILE = "enrollment__2012-13_all-students.csv"
ALL = (
    '"Student Counts by District and Year"\r\n'
    '"All Districts"\r\n'
    '"2012-13"\r\n'
    "\r\n"
    '"District","District Code","Count"\r\n'
    '"Hartford School District","=""0640011""",21965\r\n'
    '"New Hartford School District","=""0920011""",567\r\n'
    '"Total","=""""",554804\r\n'
    "\r\n"
)

RACE_FILE = "enrollment__2012-13_race.csv"
RACE = (
    '"Student Counts by District and Race"\r\n'
    '"All Districts"\r\n'
    '"2012-13"\r\n'
    "\r\n"
    '"",,"Race",,,,,,,\r\n'
    '"District","District Code","American Indian or Alaska Native","Asian","Black or African American",'
    '"Hispanic/Latino of any race","Native Hawaiian or Other Pacific Islander","Two or More Races","White",'
    '"Total"\r\n'
    '"Hartford School District","=""0640011""",79,634,6994,11015,23,803,2417,21965\r\n'
    # Andover 2011-12: three suppressed cells hiding 13 students of 314 (4%): too wide for a share.
    '"New Hartford School District","=""0920011""",0,"*","*","*",0,9,292,314\r\n'
    '"Total","=""""",1661,25292,72004,113808,443,12014,329582,554804\r\n'
    "\r\n"
)

OLD_RACE_FILE = "enrollment__2009-10_race.csv"
OLD_RACE = (
    '"Student Counts by District and Race"\r\n'
    '"All Districts"\r\n'
    '"2009-10"\r\n'
    "\r\n"
    '"",,"Race",,,,,,\r\n'
    '"District","District Code","American Indian","Asian","Black, not of Hispanic Origin","Hispanic/Latino",'
    '"Not Reported","White, not of Hispanic Origin","Total"\r\n'
    # Hartford 2009-10: American Indian and Not Reported suppressed; together 43 (both "other").
    '"Hartford School District","=""0640011""","*",406,8237,11294,"*",1572,21552\r\n'
    '"Total","=""""",2181,24671,79139,100342,21,361438,567792\r\n'
    "\r\n"
)


def _read(path: Path, crosswalk, display: str | None = None):
    report = SourceReport("enrollment", display or path.name)
    districts, state = enrollment.read_enrollment_file(path, display or path.name, crosswalk, report)
    return districts, state, report


def _raises(path: Path, crosswalk, row, column, match):
    return assert_raw_error(lambda: _read(path, crosswalk), path.name, row, column, match)


def _registry(tmp_path: Path, files: dict[str, str]) -> Registry:
    return fixture_registry(tmp_path, "enrollment", files)


# --- fixture files -----------------------------------------------------------------------------------


def test_lunch_file(write_raw, crosswalk):
    d, s, report = _read(write_raw(LUNCH_FILE, LUNCH), crosswalk)
    assert list(d.columns) == ["district_code", "year", "_line", "lunch_free", "lunch_non_subsidized",
                               "lunch_reduced", "lunch_total"]
    assert list(d["district_code"]) == ["0010011", "0150011", "0640011", "1450011"]
    assert d["year"].dtype == np.int64 and (d["year"] == 2013).all()
    assert d.iloc[2, 3:].tolist() == [18371.0, 3159.0, 435.0, 21965.0]
    assert np.isnan(d.iloc[0]["lunch_free"]) and d.iloc[0]["lunch_non_subsidized"] == 333.0
    assert s[["district_code", "lunch_total"]].to_dict("records") == [
        {"district_code": "0000000", "lunch_total": 554804.0}]
    assert (report.rows_read, report.rows_kept) == (6, 4)
    assert dict(report.dropped) == {enrollment.BLANK_REASON: 1, enrollment.STATE_ROW_REASON: 1}
    assert report.suppressed == {
        "Free/Reduced Lunch Eligibility | Free": 2, "Free/Reduced Lunch Eligibility | Non-Subsidized": 2,
        "Free/Reduced Lunch Eligibility | Reduced": 2, "Free/Reduced Lunch Eligibility | Total": 1}


def test_measures_from_one_year(tmp_path, crosswalk):
    """A year with lunch, EL, all-students and race files: every measure computed by hand."""
    reg = _registry(tmp_path, {A_DIR + LUNCH_FILE: LUNCH, A_DIR + ELL_FILE: ELL, A_DIR + ALL_FILE: ALL,
                               A_DIR + RACE_FILE: RACE})
    out = enrollment.load(reg, crosswalk)
    d = out.district.set_index(["district_code", "year"])
    assert list(out.district.columns) == ["district_code", "year", *enrollment.MEASURES]
    hartford = d.loc[("0640011", 2013)]
    assert hartford["enrollment"] == 21965  # from the all-students file
    assert hartford["frl_count"] == 18371 + 435
    assert hartford["frl_share"] == pytest.approx(100 * 18806 / 21965)
    assert hartford["el_count"] == 3778 and hartford["el_share"] == pytest.approx(100 * 3778 / 21965)
    assert np.isnan(hartford["sped_count"])  # no special-education file in this fixture
    assert hartford["share_black"] == pytest.approx(100 * 6994 / 21965)
    assert hartford["share_hispanic"] == pytest.approx(100 * 11015 / 21965)
    assert hartford["share_white"] == pytest.approx(100 * 2417 / 21965)
    assert hartford["share_asian"] == pytest.approx(100 * 634 / 21965)
    assert hartford["share_other"] == pytest.approx(100 * (79 + 23 + 803) / 21965)
    # Andover: Free and Reduced suppressed, but Total - Non-Subsidized gives them exactly.
    andover = d.loc[("0010011", 2013)]
    assert andover["frl_count"] == 14 and andover["frl_share"] == pytest.approx(100 * 14 / 347)
    assert np.isnan(andover["enrollment"])  # not in the all-students fixture
    # Bridgeport: Reduced and Non-Subsidized hide 192 of 20338 (0.9% < 2%): the midpoint 20146 + 96.
    assert d.loc[("0150011", 2013), "frl_count"] == 20242
    # Union: the Total is suppressed as well: no count.
    assert np.isnan(d.loc[("1450011", 2013), "frl_count"])
    # New Hartford: EL Yes and No both suppressed: anything from 0 to 567.
    nh = d.loc[("0920011", 2013)]
    assert np.isnan(nh["el_count"]) and np.isnan(nh["el_share"])
    # Race: 13 of 314 suppressed (4.1% > 2%): black, hispanic, asian NaN; white and other are exact.
    assert np.isnan(nh["share_black"]) and np.isnan(nh["share_asian"]) and np.isnan(nh["share_hispanic"])
    assert nh["share_white"] == pytest.approx(100 * 292 / 314)
    assert nh["share_other"] == pytest.approx(100 * 9 / 314)
    b = out.extra["suppression_bounds"].set_index(["district_code", "measure"])
    assert b.loc[("0150011", "frl_count"), ["lo", "hi", "value"]].tolist() == [20146, 20338, 20242]
    assert b.loc[("0920011", "el_count"), ["lo", "hi"]].tolist() == [0, 567]
    assert ("0010011", "frl_count") not in b.index  # exact, so not listed
    s = out.state.set_index("year")
    assert s.loc[2013, "enrollment"] == 554804 and s.loc[2013, "frl_count"] == 175767 + 28584


def test_old_race_layout(tmp_path, crosswalk):
    reg = _registry(tmp_path, {A_DIR + OLD_RACE_FILE: OLD_RACE})
    out = enrollment.load(reg, crosswalk)
    row = out.district.set_index("district_code").loc["0640011"]
    # The suppressed American Indian and Not Reported cells are both "other": 21552 minus the rest = 43.
    assert row["share_other"] == pytest.approx(100 * 43 / 21552)
    assert row["share_black"] == pytest.approx(100 * 8237 / 21552)
    assert np.isnan(row["enrollment"])  # 2010 has no lunch or all-students file in this fixture


def test_superseded_file_agrees_and_is_counted(tmp_path, crosswalk):
    b_lunch = LUNCH.replace('"Andover School District","=""0010011"""', '"Andover School District","="""""')
    reg = _registry(tmp_path, {A_DIR + LUNCH_FILE: LUNCH, B_DIR + LUNCH_FILE: b_lunch})
    out = enrollment.load(reg, crosswalk)
    reports = {r.file: r for r in out.reports}
    a = reports[A_DIR + LUNCH_FILE]
    assert a.rows_kept == 0 and a.dropped[enrollment.SUPERSEDED_REASON] == 4
    assert reports[B_DIR + LUNCH_FILE].rows_kept == 4  # Andover's empty code mapped by name
    check = out.extra["overlap_check"].iloc[0]
    assert (check["cells"], check["equal"], check["suppression_differences"]) == (20, 20, 0)
    # Without an all-students file, enrollment is the lunch export's Total.
    assert out.district.set_index("district_code").loc["0640011", "enrollment"] == 21965


def test_superseded_file_suppression_difference_is_allowed(tmp_path, crosswalk):
    b_lunch = LUNCH.replace("18371,3159,435", '18371,3159,"*"')
    reg = _registry(tmp_path, {A_DIR + LUNCH_FILE: LUNCH, B_DIR + LUNCH_FILE: b_lunch})
    check = enrollment.load(reg, crosswalk).extra["overlap_check"].iloc[0]
    assert (check["equal"], check["suppression_differences"]) == (19, 1)


def test_superseded_file_disagreeing_raises(tmp_path, crosswalk):
    b_lunch = LUNCH.replace("18371,3159,435,21965", "18372,3158,435,21965")
    reg = _registry(tmp_path, {A_DIR + LUNCH_FILE: LUNCH, B_DIR + LUNCH_FILE: b_lunch})
    with pytest.raises(RawDataError) as info:
        enrollment.load(reg, crosswalk)
    msg = str(info.value)
    assert A_DIR + LUNCH_FILE in msg and "row 9" in msg and "column 'lunch_free'" in msg
    assert "18371 here but 18372" in msg


def test_all_students_count_must_match_lunch_total(tmp_path, crosswalk):
    bad_all = ALL.replace(",21965", ",21966")
    reg = _registry(tmp_path, {A_DIR + LUNCH_FILE: LUNCH, A_DIR + ALL_FILE: bad_all})
    with pytest.raises(RawDataError, match=r"row 6, column 'Count'.*21966 differs"):
        enrollment.load(reg, crosswalk)


def test_bounded_count_rules():
    df = pd.DataFrame({"a": [5.0, np.nan, np.nan, np.nan], "b": [5.0, 3.0, np.nan, np.nan],
                       "t": [10.0, 10.0, 10.0, np.nan]})
    value, lo, hi = enrollment.bounded_count(df, ["a"], ["a", "b"], "t")
    assert lo.tolist()[:3] == [5.0, 7.0, 0.0] and hi.tolist()[:3] == [5.0, 7.0, 10.0]
    assert value.tolist()[:2] == [5.0, 7.0] and np.isnan(value.iloc[2]) and np.isnan(value.iloc[3])


# --- bad input ---------------------------------------------------------------------------------------


def test_renamed_column(write_raw, crosswalk):
    text = LUNCH.replace('"Reduced","Total"', '"Reduced Price","Total"')
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 6, "Free/Reduced Lunch Eligibility | Reduced Price",
            "unexpected column")


def test_missing_column(write_raw, crosswalk):
    text = ELL.replace('"",,"English Learner Status",,', '"",,"English Learner Status",')
    text = text.replace('"No","Yes","Total"', '"Yes","Total"')
    text = text.replace("18187,3778", "3778").replace('"*","*",567', '"*",567').replace("523645,", "")
    _raises(write_raw(ELL_FILE, text), crosswalk, 6, "ell_no", "missing column")


def test_missing_race_column(write_raw, crosswalk):
    text = RACE.replace('"Two or More Races",', '"Two or Mor Races",')
    _raises(write_raw(RACE_FILE, text), crosswalk, 6, "Race | Two or Mor Races", "unexpected column")


def test_non_numeric_count(write_raw, crosswalk):
    text = LUNCH.replace("18371,3159", "18371,n.a.")
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 9, "Free/Reduced Lunch Eligibility | Non-Subsidized",
            "not a number")


def test_negative_count(write_raw, crosswalk):
    text = LUNCH.replace(",333,", ",-333,")
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 7, "Free/Reduced Lunch Eligibility | Non-Subsidized",
            "below the allowed 0")


def test_components_above_total(write_raw, crosswalk):
    # A count cannot exceed its Total (the analogue of a rate above 100 in a counts-only file).
    text = LUNCH.replace("18371,3159,435,21965", "18371,3159,435,21000")
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 9, "Free/Reduced Lunch Eligibility | Total",
            "add up to 21965")


def test_suppressed_components_above_total(write_raw, crosswalk):
    text = LUNCH.replace('20146,"*","*",20338', '20146,"*","*",20000')
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 8, "Free/Reduced Lunch Eligibility | Total", "add up")


def test_duplicate_district(write_raw, crosswalk):
    text = LUNCH.replace('"Total",', '"Hartford School District","=""0640011""",1,1,1,3\r\n"Total",')
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 11, "district_code", "duplicate row")


def test_unknown_district_code(write_raw, crosswalk):
    text = LUNCH.replace('""0640011""', '""9990011""')
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 9, "District Code", "unknown district code")


def test_unknown_name_with_empty_code(write_raw, crosswalk):
    text = LUNCH.replace('"Hartford School District","=""0640011"""', '"Hartferd School District","="""""')
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 9, "District", "unknown district name")


def test_header_only_file(write_raw, crosswalk):
    _raises(write_raw(LUNCH_FILE, LUNCH_HEAD), crosswalk, 6, "District", "no data rows")


def test_file_cut_mid_row(write_raw, crosswalk):
    text = LUNCH_HEAD + LUNCH_ROWS[: LUNCH_ROWS.index("3159") + 4]
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 9, "Free/Reduced Lunch Eligibility | Reduced",
            "not a number: ''")


def test_file_cut_before_total_row(write_raw, crosswalk):
    text = LUNCH_HEAD + LUNCH_ROWS[: LUNCH_ROWS.index('"Total"')]
    _raises(write_raw(LUNCH_FILE, text), crosswalk, 10, "District", "no 'Total' row")


def test_latin1_file(write_raw, crosswalk):
    text = LUNCH.replace("Hartford School District", "Hartförd School District")
    _raises(write_raw(LUNCH_FILE, text, encoding="latin-1"), crosswalk, 9, None, "not valid UTF-8")


def test_utf16_file(write_raw, crosswalk):
    _raises(write_raw(LUNCH_FILE, LUNCH, encoding="utf-16"), crosswalk, 1, None, "not valid UTF-8")


def test_title_of_another_kind(write_raw, crosswalk):
    _raises(write_raw(ELL_FILE, LUNCH), crosswalk, 1, None, "is not 'Student Counts by District and English")


def test_title_year_disagrees_with_file_name(write_raw, crosswalk):
    _raises(write_raw(LUNCH_FILE, LUNCH.replace('"2012-13"', '"2013-14"')), crosswalk, 1, None,
            "title says spring year 2014, file name says 2013")


# --- real data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return enrollment.load(registry, crosswalk)


def _raw_data_lines(path: Path) -> int:
    """Non-blank lines after the header, minus the state Total row, counted without the reader."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('"District"'))
    rows = [line for line in lines[header + 1:] if line.strip()]
    return len(rows) - sum(1 for line in rows if line.startswith('"Total","=""""",'))


@pytest.mark.realdata
def test_real_row_accounting(real):
    assert len(real.reports) == 83
    superseded = 0
    for r in real.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values()), r.file
        assert r.dropped[enrollment.BLANK_REASON] == 1 and r.dropped[enrollment.STATE_ROW_REASON] == 1, r.file
        if enrollment.SUPERSEDED_REASON in r.dropped:
            superseded += 1
            assert r.file.startswith(enrollment.EDSIGHT_PREFIX) and r.rows_kept == 0
    assert superseded == 18  # lunch, EL and special education, 2012-2017


@pytest.mark.realdata
def test_real_overlap_agrees_in_every_cell(real):
    check = real.extra["overlap_check"]
    assert len(check) == 18 and sorted(set(check["year"])) == list(range(2012, 2018))
    assert (check["equal"] == check["cells"]).all()
    assert check["suppression_differences"].sum() == 0
    assert check["cells"].sum() == 12_020  # district and state rows x count columns


@pytest.mark.realdata
def test_real_district_counts_per_year(real, registry):
    by_year = real.district.groupby("year").size().to_dict()
    assert by_year == {2008: 195, 2009: 197, 2010: 197, 2011: 197, 2012: 196, 2013: 196, 2014: 197,
                       2015: 201, 2016: 203, 2017: 203, 2018: 203, 2019: 202, 2020: 201, 2021: 200, 2022: 201}
    reports = {r.file: r for r in real.reports}
    for entry in registry.files("enrollment"):
        r = reports[entry.path]
        kept = r.rows_read - sum(r.dropped.values())
        raw_rows = _raw_data_lines(registry.verified_path(entry))
        if enrollment.SUPERSEDED_REASON in r.dropped:
            assert r.dropped[enrollment.SUPERSEDED_REASON] == raw_rows, entry.path
            continue
        assert by_year[year_from_path(entry.path)] == raw_rows == kept, entry.path


@pytest.mark.realdata
def test_real_schema_and_spot_values(real):
    d = real.district
    assert list(d.columns) == ["district_code", "year", *enrollment.MEASURES]
    assert d["year"].dtype == np.int64
    assert all(d[c].dtype == np.float64 for c in enrollment.MEASURES)
    assert d["district_code"].str.fullmatch(r"\d{7}").all()
    assert d.equals(d.sort_values(["district_code", "year"], ignore_index=True))
    x = d.set_index(["district_code", "year"])
    # Checked by hand in the raw files.
    h13 = x.loc[("0640011", 2013)]  # Hartford 2012-13: all-students, educational-need, race files
    assert h13["enrollment"] == 21965 and h13["frl_count"] == 18371 + 435
    assert (h13["el_count"], h13["sped_count"]) == (3778, 3488)
    assert h13["share_black"] == pytest.approx(100 * 6994 / 21965)
    b20 = x.loc[("0150011", 2020)]  # Bridgeport 2019-20: educational-need only
    assert b20["enrollment"] == 20311 and b20["frl_count"] == 12853 + 1677
    assert (b20["el_count"], b20["sped_count"]) == (4121, 3797)
    assert np.isnan(b20["share_black"])  # no race file after 2017
    assert x.loc[("0150011", 2013), "frl_count"] == 20242  # 20146 + half of 192 suppressed
    assert x.loc[("0640011", 2010), "share_other"] == pytest.approx(100 * 43 / 21552)
    assert x.loc[("0010011", 2008), "frl_count"] == 347 - 333  # Andover 2007-08
    assert x.loc[("0640011", 2008), "enrollment"] == 22679
    s = real.state.set_index("year")
    assert s.loc[2013, "enrollment"] == 554804 and s.loc[2022, "enrollment"] == 513615
    assert s.loc[2008, "frl_count"] == 136712 + 28336


@pytest.mark.realdata
def test_real_shares_are_percentages(real):
    d = real.district
    for c in ("frl_share", "el_share", "sped_share", "share_black", "share_hispanic", "share_white",
              "share_asian", "share_other"):
        assert d[c].dropna().between(0, 100).all(), c
    race = d[["share_black", "share_hispanic", "share_white", "share_asian", "share_other"]].dropna()
    assert len(race) > 1000
    # Each share is within 1 point of the truth, so five of them add up to 100 within 5 points.
    assert (race.sum(axis=1) - 100).abs().max() < 5
    assert d.loc[d["year"] > 2017, "share_white"].isna().all()


@pytest.mark.realdata
def test_real_alliance_districts_have_more_frl(real, registry):
    entry = registry.files("designations")[0]
    ref = pd.read_csv(registry.verified_path(entry))
    alliance = {town_district_code(t) for t in ref.loc[ref["first_fiscal_year_designated"] == 2013,
                                                       "town_code"]}
    assert len(alliance) == 30
    d = real.district[real.district["district_code"].str.endswith("0011")]
    is_alliance = d["district_code"].isin(alliance)
    medians = d.groupby([d["year"], is_alliance])["frl_share"].median().unstack()
    assert list(medians.index) == list(range(2008, 2023))
    assert (medians[True] > medians[False] + 20).all(), medians  # found: gaps of 28 to 38 points

"""Staffing reader: fixture files shaped like the real FTE exports, bad input, and the real files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _helpers import assert_raw_error, fixture_registry

from alliance_study.data.registry import Registry
from alliance_study.data.sources import staffing
from alliance_study.data.sources.common import SourceReport
from alliance_study.data.sources.directory import name_key
from alliance_study.data.sources.keys import year_from_path

FILE = "staffing-levels__2002-03_all_all-categories.csv"
STATE_FILE = "staffing-levels__2002-03_all_all-categories_ct.csv"
OLD_FILE = "staffing-levels__2001-02_all_all-categories.csv"
DIR = "CT-Data-Collaborative/edsight-data/data/staffing-levels-district/"

# A title line, a blank line, the header on line 3, data from line 4.
HEAD = (
    '"FTE Staffing Report for 2002-03"\r\n'
    "\r\n"
    '"District","Assignment Category","Educator Type","FTE Count"\r\n'
)
ROWS = (
    # Lines 4-12: Hartford, both reports; no instructional specialist, central office or library
    # specialist rows (certified rows are listed only when positive, so those are 0).
    '"Hartford School District","Administrators  Coordinators and Department Chairs - School Level",'
    '"Certified",86.2\r\n'
    ',="Counselors  Social Workers  and School Psychologists",="Certified",142.5\r\n'
    ',="General Education - Teachers and Instructors",="Certified",1469.6\r\n'
    ',="General Education - Paraprofessional Instructional Assistants",="Non-Certified",206.0\r\n'
    ',="Library/Media - Support Staff",="Non-Certified",6.0\r\n'
    ',="School Nurses",="Non-Certified",135.0\r\n'
    ',="Special Education - Teachers and Instructors",="Certified",282.9\r\n'
    ',="Special Education - Paraprofessional Instructional Assistants",="Non-Certified",225.0\r\n'
    ',="Other Staff Providing Non-Instructional Services/Support",="Certified/Non-Certified",1472.0\r\n'
    # Lines 13-14: Hebron, certified report only (as in 2002-2005): non-certified categories unknown.
    '="Hebron School District",="General Education - Teachers and Instructors",="Certified",80.0\r\n'
    ',="Other Staff Providing Non-Instructional Services/Support",="Certified/Non-Certified",5.0\r\n'
    # Lines 15-16: not a district.
    '="Project Oceanology",="General Education - Teachers and Instructors",="Certified",2.0\r\n'
    ',="Instructional Specialists Who Support Teachers",="Certified",1.0\r\n'
    # Lines 17-21: Highville under its first name (an alias of 2860013); no "Other" row: 0.
    '="Highville Mustard Seed Charter School District",="General Education - Teachers and Instructors",'
    '="Certified",18.0\r\n'
    ',="General Education - Paraprofessional Instructional Assistants",="Non-Certified",1.0\r\n'
    ',="Library/Media - Support Staff",="Non-Certified",0.0\r\n'
    ',="School Nurses",="Non-Certified",0.0\r\n'
    ',="Special Education - Paraprofessional Instructional Assistants",="Non-Certified",0.0\r\n'
    "\r\n"  # line 22
)
TEXT = HEAD + ROWS

STATE = (
    HEAD
    + '"State of Connecticut","Administrators  Coordinators and Department Chairs - District Central Office",'
    '"Certified",922.6\r\n'
    ',="Administrators  Coordinators and Department Chairs - School Level",="Certified",2100.5\r\n'
    ',="Counselors  Social Workers  and School Psychologists",="Certified",2854.4\r\n'
    ',="General Education - Teachers and Instructors",="Certified",36168.3\r\n'
    ',="General Education - Paraprofessional Instructional Assistants",="Non-Certified",4420.0\r\n'
    ',="Instructional Specialists Who Support Teachers",="Certified",1275.5\r\n'
    ',="Library/Media - Specialists (Certified)",="Certified",781.1\r\n'
    ',="Library/Media - Support Staff",="Non-Certified",790.8\r\n'
    ',="School Nurses",="Non-Certified",1183.6\r\n'
    ',="Special Education - Teachers and Instructors",="Certified",5366.5\r\n'
    ',="Special Education - Paraprofessional Instructional Assistants",="Non-Certified",6673.4\r\n'
    ',="Other Staff Providing Non-Instructional Services/Support",="Certified/Non-Certified",22188.8\r\n'
    "\r\n"
)

OLD = (
    '"FTE Staffing Report for 2001-02"\r\n'
    "\r\n"
    '"District","Assignment Category","Educator Type","FTE Count"\r\n'
    '"Hartford School District","General Education - Paraprofessional Instructional Assistants",'
    '"Non-Certified",492.5\r\n'
    ',="Library/Media - Support Staff",="Non-Certified",16.0\r\n'
    ',="School Nurses",="Non-Certified",38.0\r\n'
    ',="Special Education - Paraprofessional Instructional Assistants",="Non-Certified",166.0\r\n'
    ',="Other Staff Providing Non-Instructional Services/Support",="Certified/Non-Certified",798.5\r\n'
    "\r\n"
)


def _read(path: Path, crosswalk):
    report = SourceReport("staffing", path.name)
    districts, state = staffing.read_staffing_file(path, path.name, crosswalk, report)
    return districts, state, report


def _raises(path: Path, crosswalk, row, column, match):
    return assert_raw_error(lambda: _read(path, crosswalk), path.name, row, column, match)


def _registry(tmp_path: Path, files: dict[str, str]) -> Registry:
    return fixture_registry(tmp_path, "staffing", files)


# --- fixture files -----------------------------------------------------------------------------------


def test_long_table_and_accounting(write_raw, crosswalk):
    d, s, report = _read(write_raw(FILE, TEXT), crosswalk)
    assert list(d.columns) == ["district_code", "year", "category", "educator_type", "fte", "_line"]
    assert sorted(set(d["district_code"])) == ["0640011", "0670011", "2860013"]
    assert d["year"].dtype == np.int64 and (d["year"] == 2003).all()
    h = d[d["district_code"] == "0640011"].set_index("category")["fte"]
    assert h["gen_ed_teachers"] == 1469.6 and h["other_support"] == 1472.0 and len(h) == 9
    assert s.empty
    assert (report.rows_read, report.rows_kept) == (19, 16)
    oceanology = staffing.NO_CODE_ENTITIES["Project Oceanology"]
    assert dict(report.dropped) == {staffing.BLANK_REASON: 1, oceanology: 2}


def test_wide_table_missing_row_rules(tmp_path, crosswalk):
    out = staffing.load(_registry(tmp_path, {DIR + FILE: TEXT, DIR + STATE_FILE: STATE}), crosswalk)
    assert list(out.district.columns) == ["district_code", "year", *staffing.MEASURES]
    x = out.district.set_index("district_code")
    hartford = x.loc["0640011"]
    assert hartford["fte_instr_specialists"] == 0 and hartford["fte_admin_central"] == 0
    assert hartford["fte_library_cert"] == 0 and hartford["fte_library_support"] == 6.0
    assert hartford["fte_total"] == pytest.approx(86.2 + 142.5 + 1469.6 + 206 + 6 + 135 + 282.9 + 225 + 1472)
    hebron = x.loc["0670011"]
    assert hebron["fte_gen_ed_teachers"] == 80 and hebron["fte_counselors"] == 0
    assert np.isnan(hebron[["fte_nurses", "fte_paras_gen", "fte_paras_sped", "fte_library_support"]]).all()
    assert np.isnan(hebron["fte_other_support"]) and np.isnan(hebron["fte_total"])
    highville = x.loc["2860013"]
    assert highville["fte_other_support"] == 0 and highville["fte_total"] == 19.0
    s = out.state.set_index("year")
    assert s.loc[2003, "fte_total"] == pytest.approx(84725.5)
    assert s.loc[2003, "fte_gen_ed_teachers"] == 36168.3
    long = out.extra["staffing_long"]
    assert list(long.columns) == ["district_code", "year", "category", "educator_type", "fte"]
    assert len(long) == 16


def test_2001_02_has_no_certified_report(tmp_path, crosswalk):
    out = staffing.load(_registry(tmp_path, {DIR + OLD_FILE: OLD}), crosswalk)
    row = out.district.set_index("district_code").loc["0640011"]
    assert row["fte_paras_gen"] == 492.5 and row["fte_nurses"] == 38.0
    assert np.isnan(row[[f"fte_{k}" for k in staffing.CERTIFIED_KEYS]]).all()
    assert np.isnan(row["fte_other_support"]) and np.isnan(row["fte_total"])
    assert out.state.empty


def test_state_file_rows_are_kept(write_raw, crosswalk):
    d, s, report = _read(write_raw(STATE_FILE, STATE), crosswalk)
    assert d.empty and len(s) == 12 and (s["district_code"] == "0000000").all()
    assert (report.rows_read, report.rows_kept) == (13, 12)


# --- bad input ---------------------------------------------------------------------------------------


def test_renamed_column(write_raw, crosswalk):
    text = TEXT.replace('"FTE Count"', '"FTE"')
    _raises(write_raw(FILE, text), crosswalk, 3, "FTE", "unexpected column")


def test_missing_column(write_raw, crosswalk):
    head = HEAD.replace('"Educator Type",', "")
    rows = '"Hartford School District","School Nurses",135.0\r\n'
    _raises(write_raw(FILE, head + rows), crosswalk, 3, "educator_type", "missing column")


def test_non_numeric_fte(write_raw, crosswalk):
    text = TEXT.replace(',="Certified",142.5', ',="Certified",n.a.')
    _raises(write_raw(FILE, text), crosswalk, 5, "FTE Count", "not a number")


def test_negative_fte(write_raw, crosswalk):
    text = TEXT.replace(',="Certified",142.5', ',="Certified",-142.5')
    _raises(write_raw(FILE, text), crosswalk, 5, "FTE Count", "below the allowed 0")


def test_unknown_category(write_raw, crosswalk):
    text = TEXT.replace("School Nurses", "School Nurses and Aides", 1)
    _raises(write_raw(FILE, text), crosswalk, 9, "Assignment Category", "unknown assignment category")


def test_educator_type_mismatch(write_raw, crosswalk):
    text = TEXT.replace('="School Nurses",="Non-Certified",135.0', '="School Nurses",="Certified",135.0')
    _raises(write_raw(FILE, text), crosswalk, 9, "Educator Type", "expected 'Non-Certified'")


def test_first_row_without_name(write_raw, crosswalk):
    text = HEAD + ROWS.replace('"Hartford School District",', ",", 1)
    _raises(write_raw(FILE, text), crosswalk, 4, "District", "does not continue a district block")


def test_row_without_name_after_blank_line(write_raw, crosswalk):
    rows = ROWS.replace('="Hebron School District"', '\r\n', 1)  # a blank line, then a nameless row
    _raises(write_raw(FILE, HEAD + rows), crosswalk, 14, "District", "does not continue a district block")


def test_duplicate_district(write_raw, crosswalk):
    rows = ROWS[:-2] + '="Hartford School District",="School Nurses",="Non-Certified",1.0\r\n\r\n'
    _raises(write_raw(FILE, HEAD + rows), crosswalk, 22, "district_code", "duplicate row")


def test_unknown_district_name(write_raw, crosswalk):
    text = TEXT.replace("Hebron School District", "Hebrun School District")
    _raises(write_raw(FILE, text), crosswalk, 13, "District", "unknown district name")


def test_district_in_state_file(write_raw, crosswalk):
    text = STATE.replace("State of Connecticut", "Hartford School District")
    _raises(write_raw(STATE_FILE, text), crosswalk, 4, "District", "in a state")


def test_header_only_file(write_raw, crosswalk):
    _raises(write_raw(FILE, HEAD), crosswalk, 3, "District", "no data rows")


def test_file_cut_mid_row(write_raw, crosswalk):
    text = HEAD + ROWS[: ROWS.index('="Non-Certified",135.0') + len('="Non-Certified"') + 1]
    _raises(write_raw(FILE, text), crosswalk, 9, "FTE Count", "not a number: ''")


def test_latin1_file(write_raw, crosswalk):
    text = TEXT.replace("Hebron School District", "Hébron School District")
    _raises(write_raw(FILE, text, encoding="latin-1"), crosswalk, 13, None, "not valid UTF-8")


def test_utf16_file(write_raw, crosswalk):
    _raises(write_raw(FILE, TEXT, encoding="utf-16"), crosswalk, 1, None, "not valid UTF-8")


def test_title_year_disagrees_with_file_name(write_raw, crosswalk):
    _raises(write_raw(FILE, TEXT.replace("2002-03", "2003-04", 1)), crosswalk, 1, None, "does not match")


# --- real data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return staffing.load(registry, crosswalk)


def _raw_blocks(path: Path) -> int:
    """District blocks after the header (rows whose first cell is a name), without the reader."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('"District"'))
    no_code = {name_key(n) for n in staffing.NO_CODE_ENTITIES}
    names = [re.match(r'^(?:=)?"([^"]*)"', line) for line in lines[header + 1:] if line.strip()]
    return sum(1 for m in names if m and m.group(1) and name_key(m.group(1)) not in no_code)


@pytest.mark.realdata
def test_real_row_accounting(real):
    assert len(real.reports) == 26
    allowed = {staffing.BLANK_REASON, *staffing.NO_CODE_ENTITIES.values()}
    dropped_entities = 0
    for r in real.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values()), r.file
        assert set(r.dropped) <= allowed, r.file
        assert r.dropped[staffing.BLANK_REASON] == 1, r.file
        dropped_entities += sum(r.dropped.values()) - 1
    assert dropped_entities == 38  # Project Oceanology 21, Shared Services 15, Cross Cultural Academy 2
    kept = sum(r.rows_kept for r in real.reports if not r.file.endswith("_ct.csv"))
    assert kept == len(real.extra["staffing_long"])


@pytest.mark.realdata
def test_real_district_counts_per_year(real, registry):
    by_year = real.district.groupby("year").size().to_dict()
    assert by_year == {2002: 190, 2003: 191, 2004: 191, 2005: 193, 2006: 193, 2007: 194, 2008: 197,
                       2009: 199, 2010: 199, 2011: 197, 2012: 199, 2013: 198, 2014: 199, 2015: 202, 2016: 204}
    for entry in registry.files("staffing"):
        if not entry.path.endswith("_ct.csv"):
            blocks = _raw_blocks(registry.verified_path(entry))
            assert by_year[year_from_path(entry.path)] == blocks, entry.path


@pytest.mark.realdata
def test_real_schema_and_spot_values(real):
    d = real.district
    assert list(d.columns) == ["district_code", "year", *staffing.MEASURES]
    assert d["year"].dtype == np.int64 and all(d[c].dtype == np.float64 for c in staffing.MEASURES)
    assert d.equals(d.sort_values(["district_code", "year"], ignore_index=True))
    x = d.set_index(["district_code", "year"])
    # Bridgeport 2015-16, all twelve categories, summed by hand from the raw file.
    assert x.loc[("0150011", 2016), "fte_total"] == pytest.approx(3157.9)
    assert x.loc[("0150011", 2016), "fte_gen_ed_teachers"] == 1175.1
    assert x.loc[("0640011", 2003), "fte_gen_ed_teachers"] == 1469.6  # Hartford 2002-03
    assert x.loc[("0640011", 2002), "fte_paras_gen"] == 492.5  # Hartford 2001-02
    # Norwalk 2009-10: certified rows only.
    norwalk = x.loc[("1030011", 2010)]
    assert norwalk["fte_gen_ed_teachers"] == 711.8 and np.isnan(norwalk["fte_nurses"])
    assert np.isnan(norwalk["fte_total"])
    # 2001-02: non-certified report only.
    assert d.loc[d["year"] == 2002, "fte_gen_ed_teachers"].isna().all()
    assert d.loc[d["year"] == 2002, "fte_paras_gen"].notna().all()
    # Aliases: Highville under both names 2002-2016; the Department of Rehabilitation Services.
    assert sorted(d.loc[d["district_code"] == "2860013", "year"]) == list(range(2002, 2017))
    assert sorted(d.loc[d["district_code"] == "3510015", "year"]) == [2015, 2016]


@pytest.mark.realdata
def test_real_state_total_matches_district_sum(real):
    state = real.state.set_index("year")["fte_total"]
    assert list(state.index) == [2003, 2004, 2005, 2007, 2008, 2010, 2011, 2012, 2013, 2014, 2016]
    sums = real.extra["staffing_long"].groupby("year")["fte"].sum()
    gap = (sums.loc[state.index] - state).abs() / state
    assert (gap < 0.01).all(), gap.to_dict()
    assert gap.max() < 0.0002  # found: at most 0.018% (2016), rounding of the district figures

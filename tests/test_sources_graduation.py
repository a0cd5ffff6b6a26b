"""Graduation reader: fixture files shaped like the real exports, bad input, and the real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import assert_raw_error, check_counts_per_year, check_row_accounting

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import graduation
from alliance_study.data.sources.common import SourceReport
from alliance_study.errors import RawDataError

NAMES_FILE = "four-year-graduation-rates__2012-13_all-students_grad.csv"
CODED_FILE = "four-year-graduation-rates__2016-17_all-students_grad.csv"
STATE_FILE = "four-year-graduation-rates__2012-13_all-students_grad_ct.csv"
TRANSCRIBED_FILE = "grad-2019-20.csv"

# Real layout: two title lines, a blank line, the group header, the header (line 5), data, a blank line.
NAMES_HEAD = (
    '"Four-Year Graduation Rates, 2012-13"\r\n'
    '"All Districts, All Students"\r\n'
    "\r\n"
    '"",,"Graduates",\r\n'
    '"District","Four-Year Cohort Count","Graduation Count","Graduation Rate"\r\n'
)
NAMES_ROWS = (
    '"Bridgeport School District",1229,827,67.3\r\n'
    '"Lisbon School District",6,"*","*"\r\n'
    '"Norwich Free Academy District",615,499,81.1\r\n'
    "\r\n"
)
CODED_HEAD = (
    '"Four-Year Graduation Rates, 2016-17"\r\n'
    '"All Districts, All Students"\r\n'
    "\r\n"
    '"",,,"Graduates",\r\n'
    '"District","District Code","Four-Year Cohort Count","Graduation Count","Graduation Rate"\r\n'
)
CODED_ROWS = (
    '"Hartford School District","=""0640011""",1316,931,70.7\r\n'
    '"Highville Charter School District","=""2860013""",13,10,"*"\r\n'
    '"The Gilbert School District","=""9020022""",108,98,90.7\r\n'
    "\r\n"
)
STATE_TEXT = (
    '"Four-Year Graduation Rates, 2012-13"\r\n'
    '"State of Connecticut, All Students"\r\n'
    "\r\n"
    '"",,"Graduates",\r\n'
    '"District","Four-Year Cohort Count","Graduation Count","Graduation Rate"\r\n'
    '"State of Connecticut",43496,37190,85.5\r\n'
    "\r\n"
)
TRANSCRIBED_TEXT = (
    "District,fiscal_year,cohort_count,graduation_count,graduation_rate\n"
    "Bridgeport School District,2020,1365.0,1010.0,74.0\n"
    "Jumoke Academy District,2020,,,\n"
    "Unified School District #2,2020,19.0,,\n"
    "Winchester School District,2020,,,\n"
)


def _read(path, crosswalk, display=None):
    report = SourceReport("graduation", display or path.name)
    df = graduation.read_grad_file(path, display or path.name, crosswalk, report)
    return df, report


def _raises(path, crosswalk, row, column, match):
    return assert_raw_error(lambda: _read(path, crosswalk), path.name, row, column, match)


# --- fixture files -----------------------------------------------------------------------------------


def test_names_only_layout(write_raw, crosswalk):
    df, report = _read(write_raw(NAMES_FILE, NAMES_HEAD + NAMES_ROWS), crosswalk)
    assert list(df.columns) == ["district_code", "year", "grad_cohort", "grad_count", "grad_rate"]
    assert list(df["district_code"]) == ["0150011", "0730011", "9010022"]
    assert (df["year"] == 2013).all() and df["year"].dtype == np.int64
    bpt = df.iloc[0]
    assert (bpt["grad_cohort"], bpt["grad_count"], bpt["grad_rate"]) == (1229.0, 827.0, 67.3)
    lisbon = df.iloc[1]
    assert lisbon["grad_cohort"] == 6.0 and np.isnan(lisbon["grad_count"]) and np.isnan(lisbon["grad_rate"])
    # Norwich's graduates stay under Norwich Free Academy's code.
    assert df.iloc[2]["grad_count"] == 499.0
    assert (report.rows_read, report.rows_kept) == (4, 3)
    assert report.dropped == {"blank line": 1}
    assert report.suppressed == {"Graduates | Graduation Count": 1, "Graduates | Graduation Rate": 1}


def test_coded_layout(write_raw, crosswalk):
    df, report = _read(write_raw(CODED_FILE, CODED_HEAD + CODED_ROWS), crosswalk)
    assert list(df["district_code"]) == ["0640011", "2860013", "9020022"]
    assert (df["year"] == 2017).all()
    hfd = df.set_index("district_code").loc["0640011"]
    assert (hfd["grad_cohort"], hfd["grad_count"], hfd["grad_rate"]) == (1316.0, 931.0, 70.7)
    high = df.set_index("district_code").loc["2860013"]
    assert high["grad_count"] == 10.0 and np.isnan(high["grad_rate"])
    assert report.rows_kept == 3 and report.dropped == {"blank line": 1}


def test_state_file(write_raw, crosswalk):
    df, report = _read(write_raw(STATE_FILE, STATE_TEXT), crosswalk)
    assert df.to_dict("records") == [
        {"district_code": "0000000", "year": 2013, "grad_cohort": 43496.0, "grad_count": 37190.0,
         "grad_rate": 85.5}
    ]
    assert report.rows_read == 2 and report.rows_kept == 1


def test_transcribed_layout(write_raw, crosswalk):
    df, report = _read(write_raw(TRANSCRIBED_FILE, TRANSCRIBED_TEXT), crosswalk)
    assert list(df["district_code"]) == ["0150011", "1620011", "2610013", "3470015"]
    assert (df["year"] == 2020).all()
    assert df.iloc[0][["grad_cohort", "grad_count", "grad_rate"]].tolist() == [1365.0, 1010.0, 74.0]
    usd2 = df.set_index("district_code").loc["3470015"]
    assert usd2["grad_cohort"] == 19.0 and np.isnan(usd2["grad_count"])
    assert report.rows_read == report.rows_kept == 4
    assert report.suppressed == {"cohort_count": 2, "graduation_count": 3, "graduation_rate": 3}


def _mini_registry(tmp_path, files: dict[str, str]) -> Registry:
    raw = tmp_path / "raw"
    entries = []
    for rel, text in files.items():
        dest = raw / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(text.encode("utf-8"))
        entries.append(RegistryEntry(rel, "graduation", sha256_file(dest), len(text), "", "", "yes", "", ""))
    return Registry(entries=entries, raw_dir=raw)


def test_load_splits_state_rows_and_keeps_academies(tmp_path, crosswalk):
    transcribed = TRANSCRIBED_TEXT + "State of Connecticut,2020,41433.0,36853.0,88.9\n"
    reg = _mini_registry(tmp_path, {
        "a/" + NAMES_FILE: NAMES_HEAD + NAMES_ROWS,
        "a/" + STATE_FILE: STATE_TEXT,
        "a/" + CODED_FILE: CODED_HEAD + CODED_ROWS,
        "b/" + TRANSCRIBED_FILE: transcribed,
    })
    out = graduation.load(reg, crosswalk)
    assert out.family == "graduation"
    assert [c.name for c in out.columns] == ["grad_cohort", "grad_count", "grad_rate"]
    assert out.state.to_dict("records") == [
        {"year": 2013, "grad_cohort": 43496.0, "grad_count": 37190.0, "grad_rate": 85.5},
        {"year": 2020, "grad_cohort": 41433.0, "grad_count": 36853.0, "grad_rate": 88.9},
    ]
    d = out.district
    assert "0000000" not in set(d["district_code"])
    assert len(d) == 3 + 3 + 4
    assert list(d.columns) == ["district_code", "year", "grad_cohort", "grad_count", "grad_rate"]
    assert d.equals(d.sort_values(["district_code", "year"], ignore_index=True))
    assert d.set_index(["district_code", "year"]).loc[("9010022", 2013), "grad_count"] == 499.0
    assert d.set_index(["district_code", "year"]).loc[("9020022", 2017), "grad_count"] == 98.0
    assert [r.rows_read - r.rows_kept for r in out.reports] == [1, 1, 1, 0]


def test_load_rejects_two_files_for_one_year(tmp_path, crosswalk):
    reg = _mini_registry(tmp_path, {"a/" + NAMES_FILE: NAMES_HEAD + NAMES_ROWS,
                                    "b/" + NAMES_FILE: NAMES_HEAD + NAMES_ROWS})
    with pytest.raises(RawDataError, match="duplicate row"):
        graduation.load(reg, crosswalk)


# --- bad input ---------------------------------------------------------------------------------------


def test_renamed_column(write_raw, crosswalk):
    head = NAMES_HEAD.replace('"Graduation Count"', '"Graduates Count"')
    _raises(write_raw(NAMES_FILE, head + NAMES_ROWS), crosswalk, 5, "Graduates | Graduates Count",
            "unexpected column")


def test_missing_column(write_raw, crosswalk):
    text = (NAMES_HEAD.replace(',"Graduation Rate"', "").replace('"Graduates",', '"Graduates"')
            + '"Bridgeport School District",1229,827\r\n\r\n')
    _raises(write_raw(NAMES_FILE, text), crosswalk, 5, "grad_rate", r"missing column")


def test_missing_code_column_from_2016(write_raw, crosswalk):
    text = NAMES_HEAD.replace("2012-13", "2016-17") + NAMES_ROWS
    _raises(write_raw(CODED_FILE, text), crosswalk, 5, "District Code", "missing column 'District Code'")


def test_non_numeric_rate(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("827,67.3", "827,sixty")
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 6, "Graduates | Graduation Rate",
            "not a number: 'sixty'")


def test_rate_above_100(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("615,499,81.1", "615,499,181.1")
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 8, "Graduates | Graduation Rate",
            "above the allowed 100")


def test_negative_count(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("1229,827", "-1229,827")
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 6, "Four-Year Cohort Count",
            "below the allowed 0")


def test_rate_disagrees_with_counts(write_raw, crosswalk):
    # 827 / 1229 = 67.29%; 67.5 is 0.21 points off, more than the tolerance.
    rows = NAMES_ROWS.replace("827,67.3", "827,67.5")
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 6, "Graduates | Graduation Rate",
            "disagrees with 100 \\* graduates / cohort = 67.29")


def test_rate_within_tolerance_is_accepted(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("827,67.3", "827,67.4")  # 0.11 points off: rounding, accepted
    df, _ = _read(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk)
    assert df.iloc[0]["grad_rate"] == 67.4


def test_graduates_above_cohort(write_raw, crosswalk):
    rows = NAMES_ROWS.replace('6,"*","*"', '6,7,"*"')
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 7, "Graduates | Graduation Count",
            "graduates 7 exceed the cohort 6")


def test_fractional_count(write_raw, crosswalk):
    text = TRANSCRIBED_TEXT.replace("1365.0,1010.0", "1365.5,1010.0")
    _raises(write_raw(TRANSCRIBED_FILE, text), crosswalk, 2, "cohort_count", "not a whole number")


def test_duplicate_district(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("\r\n\r\n", '\r\n"Bridgeport School District",1229,827,67.3\r\n\r\n')
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 9, "district_code", "duplicate row")


def test_unknown_district_name(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("Lisbon School District", "Atlantis School District")
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 7, "District", "unknown district name")


def test_unknown_district_code(write_raw, crosswalk):
    rows = CODED_ROWS.replace('""0640011""', '""9990011""')
    _raises(write_raw(CODED_FILE, CODED_HEAD + rows), crosswalk, 6, "District Code", "unknown district code")


def test_header_only_file(write_raw, crosswalk):
    _raises(write_raw(NAMES_FILE, NAMES_HEAD), crosswalk, 5, "District", "no data rows")


def test_file_cut_mid_row(write_raw, crosswalk):
    text = NAMES_HEAD + '"Bridgeport School District",1229,827,67.3\r\n"Lisbon School District",6,"*'
    _raises(write_raw(NAMES_FILE, text), crosswalk, 7, "Graduates | Graduation Rate", "cut off")


def test_empty_cell_in_export_is_not_suppression(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("615,499,81.1", "615,499,")
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows), crosswalk, 8, "Graduates | Graduation Rate",
            "not a number: ''")


def test_latin1_file(write_raw, crosswalk):
    rows = NAMES_ROWS.replace("Lisbon School District", "Lisbón School District")
    err = _raises(write_raw(NAMES_FILE, NAMES_HEAD + rows, encoding="latin-1"), crosswalk, 7, None,
                  "not valid UTF-8")
    assert err.row == 7


def test_utf16_file(write_raw, crosswalk):
    _raises(write_raw(NAMES_FILE, NAMES_HEAD + NAMES_ROWS, encoding="utf-16"), crosswalk, 1, None,
            "not valid UTF-8")


def test_title_year_disagrees_with_file_name(write_raw, crosswalk):
    text = NAMES_HEAD.replace("2012-13", "2013-14") + NAMES_ROWS
    _raises(write_raw(NAMES_FILE, text), crosswalk, 1, None, "title says 2014, file name says 2013")


def test_fiscal_year_disagrees_with_file_name(write_raw, crosswalk):
    text = TRANSCRIBED_TEXT.replace("Jumoke Academy District,2020", "Jumoke Academy District,2021")
    _raises(write_raw(TRANSCRIBED_FILE, text), crosswalk, 3, "fiscal_year", "fiscal_year 2021")


def test_district_row_in_state_file(write_raw, crosswalk):
    text = STATE_TEXT[:-2] + '"Bridgeport School District",1229,827,67.3\r\n\r\n'
    _raises(write_raw(STATE_FILE, text), crosswalk, 7, "District", "state-total file has a district row")


# --- real data ---------------------------------------------------------------------------------------

#: District rows per spring year, counted by hand in the raw files (data lines after the header).
REAL_COUNTS = {2011: 135, 2012: 136, 2013: 137, 2014: 137, 2015: 136, 2016: 141, 2017: 142, 2018: 142,
               2019: 141, 2020: 141, 2021: 141, 2022: 142, 2023: 142, 2024: 139, 2025: 140}


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return graduation.load(registry, crosswalk)


@pytest.mark.realdata
def test_real_row_accounting(real):
    check_row_accounting(real, 24, {"blank line", graduation.DROP_NOTES})
    notes = {r.file.rsplit("/", 1)[-1] for r in real.reports if r.dropped.get(graduation.DROP_NOTES)}
    assert notes == {"grad-2020-21.csv", "grad-2021-22.csv", "grad-2024-25.csv"}


@pytest.mark.realdata
def test_real_district_counts_per_year(real, registry):
    # Raw data lines minus the Notes rows (counted here by their opening text, not by the reader).
    check_counts_per_year(real, registry, REAL_COUNTS, ('"District"', "District,"),
                          not_data=('"' + graduation.NOTES_TITLE,))


@pytest.mark.realdata
def test_real_schema(real):
    d = real.district
    assert list(d.columns) == ["district_code", "year", "grad_cohort", "grad_count", "grad_rate"]
    assert d["year"].dtype == np.int64
    assert all(d[c].dtype == np.float64 for c in ("grad_cohort", "grad_count", "grad_rate"))
    assert d["district_code"].str.fullmatch(r"\d{7}").all()
    assert not d.duplicated(["district_code", "year"]).any()
    assert d.equals(d.sort_values(["district_code", "year"], ignore_index=True))
    assert d["grad_rate"].dropna().between(0, 100).all()
    both = d.dropna(subset=["grad_count", "grad_cohort"])
    assert (both["grad_count"] <= both["grad_cohort"]).all()


@pytest.mark.realdata
def test_real_spot_values(real):
    d = real.district.set_index(["district_code", "year"])
    # Checked by hand in the raw files.
    assert d.loc[("0150011", 2013)].tolist() == [1229.0, 827.0, 67.3]  # Bridgeport 2012-13 (names only)
    assert d.loc[("0640011", 2018)].tolist() == [1316.0, 931.0, 70.7]  # Hartford 2017-18 (coded)
    assert d.loc[("0150011", 2023)].tolist() == [1365.0, 1010.0, 74.0]  # Bridgeport 2022-23 (transcribed)
    assert d.loc[("0640011", 2023)].tolist() == [1194.0, 936.0, 78.4]  # Hartford 2022-23
    assert d.loc[("9010022", 2013)].tolist() == [615.0, 499.0, 81.1]  # Norwich Free Academy
    lisbon = d.loc[("0730011", 2013)]
    assert lisbon["grad_cohort"] == 6.0 and lisbon[["grad_count", "grad_rate"]].isna().all()


@pytest.mark.realdata
def test_real_norwich_and_winchester_under_academies(real):
    d = real.district
    years = sorted(d["year"].unique())
    for academy in ("9010022", "9020022"):  # Norwich Free Academy, The Gilbert School: every year
        assert sorted(d.loc[d["district_code"] == academy, "year"]) == years
    assert d.loc[d["district_code"] == "1620011"].empty  # Winchester: no high school, no rows
    # Norwich's own district shows only a tiny cohort in 2011 and 2012 (not its high-school graduates).
    norwich = d.loc[d["district_code"] == "1040011"]
    assert sorted(norwich["year"]) == [2011, 2012]
    assert (norwich["grad_cohort"] < 100).all()


@pytest.mark.realdata
def test_real_state_totals(real):
    s = real.state
    assert list(s["year"]) == list(range(2011, 2020))
    assert s.loc[s["year"] == 2011, ["grad_cohort", "grad_count", "grad_rate"]].iloc[0].tolist() == [
        45221.0, 37416.0, 82.7]
    assert s.loc[s["year"] == 2019, "grad_rate"].iloc[0] == 88.5


@pytest.mark.realdata
def test_real_statewide_rate_recomputed_from_districts(real):
    d = real.district.dropna(subset=["grad_cohort", "grad_count"])
    sums = d.groupby("year")[["grad_count", "grad_cohort"]].sum()
    recomputed = 100 * sums["grad_count"] / sums["grad_cohort"]
    state = real.state.set_index("year")["grad_rate"]
    gaps = (recomputed.loc[state.index] - state).abs()
    assert len(gaps) == 9
    assert (gaps < 1.5).all(), gaps.to_dict()
    # Recomputed rates (rounded) as found when the reader was written: gaps 0.04-0.74 points.
    assert gaps.max() < 0.8, gaps.to_dict()
    assert pd.Series(recomputed).loc[2020:].between(85, 92).all()


# --- the trailing Notes row (grad-2020-21, 2021-22, 2024-25) -------------------------------------------

NOTES_ROW = (
    '"Four-Year Graduation Rates, 2020-21 All Districts, All Students Export .csv file Notes:Four-Year '
    'Graduation Rate is ... Bridgeport School District 1365 1010 74.0 * The data are suppressed to ensure '
    'confidentiality.",2021,,,\n'
)
NOTES_BODY = (
    "District,fiscal_year,cohort_count,graduation_count,graduation_rate\n"
    "Bridgeport School District,2021,1365.0,1010.0,74.0\n"
    "Jumoke Academy District,2021,,,\n"
)


def test_trailing_notes_row_dropped_and_counted(write_raw, crosswalk):
    df, report = _read(write_raw("grad-2020-21.csv", NOTES_BODY + NOTES_ROW), crosswalk)
    assert df["district_code"].tolist() == ["0150011", "2610013"]
    assert report.rows_read == 3 and report.rows_kept == 2
    assert report.dropped == {graduation.DROP_NOTES: 1}


def test_notes_row_not_last_raises(write_raw, crosswalk):
    text = NOTES_BODY.splitlines(keepends=True)
    path = write_raw("grad-2020-21.csv", text[0] + NOTES_ROW + "".join(text[1:]))
    _raises(path, crosswalk, 2, "District", "notes row is not the last row")


def test_notes_like_row_with_numbers_is_not_skipped(write_raw, crosswalk):
    # A row whose name merely starts like the title but carries numbers is data: an unknown district.
    bad = NOTES_ROW.replace(",2021,,,", ",2021,10,9,90.0")
    _raises(write_raw("grad-2020-21.csv", NOTES_BODY + bad), crosswalk, 4, "District",
            "unknown district name")

"""Revenue reader: fixtures shaped like both export layouts, every quirk, bad input, and the real files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import assert_raw_error, fixture_registry

from alliance_study.data.sources import revenue
from alliance_study.data.sources.common import SourceReport

SHARE_FILE = "revenue-sources__2012-13_excluding-school-construction.csv"
AMOUNT_FILE = "revenue-2022-23.csv"

# 2006-2015 layout: two title lines, a blank line, a "_" group row, the header, names (most ="Name"), a
# trailing blank line; the New Beginnings row broken by an unquoted comma; a closed charter without a code.
SHARE_TEXT = (
    '"Percentage of Revenue by Source (Excluding School Construction), 2012-13"\n'
    '"All Districts"\n'
    "\n"
    '"","_","_","_","_"\n'
    '"District","Local","State","Federal","Tuition & Other"\n'
    '"Achievement First Hartford Academy Inc. District",0.0,82.1,7.7,10.1\n'
    '="Andover School District",64.0,33.7,2.3,0.0\n'
    '="New Beginnings Inc., Family Academy District",0.0,83.2,10.1,6.7\n'
    '="Cross Cultural Academy District",0.0,90.0,10.0,0.0\n'
    '="Bridgeport School District",24.9,66.4,8.1,0.6\n'
    "\n"
)

# 2018-2025 layout: group row and header (no title), amounts and percents; two blank lines; the all-N/A
# including-school-construction table with its own title, "All Districts", blank, group row and header.
AMOUNT_HEAD = (
    '"","Local",,"State",,"Federal",,"Tuition & Other",,"Total",\n'
    '"District","Amount","Percent","Amount","Percent","Amount","Percent","Amount","Percent","Amount","Percent"\n'
)
AMOUNT_ROWS = (
    '="Andover School District",1980144,43.2,2197423,48.0,175931,3.8,227564,5.0,4581062,100.0\n'
    '="Colebrook School District",1587442,64.9,715123,29.2,84552,3.5,58392,2.4,2445413,100.0\n'
    '="Connecticut Technical Education and Career System",0,0.0,0,0.0,0,0.0,0,0.0,0,100.0\n'
    '"Hartford School District",100000000,25.0,280000000,70.0,16000000,4.0,4000001,1.0,400000000,100.0\n'
)
INCLUDING = (
    "\n\n"
    '"Percentage of Revenue by Source (Including School Construction), 2022-23"\n'
    '"All Districts"\n'
    "\n"
    '"","_","_","_","_"\n'
    '"District","Local","State","Federal","Tuition & Other"\n'
    '"Andover School District",N/A,N/A,N/A,N/A\n'
    '"Colebrook School District",N/A,N/A,N/A,N/A\n'
)
AMOUNT_TEXT = AMOUNT_HEAD + AMOUNT_ROWS + INCLUDING



@pytest.fixture(autouse=True)
def _excerpts(monkeypatch):
    """The fixtures are excerpts: the whole second table is the corruption suite's to test."""
    monkeypatch.setattr(revenue, '_check_second_table', lambda *args, **kwargs: None)

def _read_shares(write_raw, crosswalk, text):
    path = write_raw(SHARE_FILE, text)
    report, checks = SourceReport("revenue", SHARE_FILE), []
    return revenue.read_share_file(path, SHARE_FILE, crosswalk, report, checks), report, checks


def _read_amounts(write_raw, crosswalk, text):
    path = write_raw(AMOUNT_FILE, text)
    report, checks = SourceReport("revenue", AMOUNT_FILE), []
    return revenue.read_amount_file(path, AMOUNT_FILE, crosswalk, report, checks), report, checks


def test_share_file_layout_and_quirks(write_raw, crosswalk):
    df, report, checks = _read_shares(write_raw, crosswalk, SHARE_TEXT)
    assert df["district_code"].tolist() == ["2880013", "0010011", "2800013", "0150011"]
    assert (df["year"] == 2013).all()
    assert df.loc[
        1, ["rev_local_pct", "rev_state_pct", "rev_federal_pct", "rev_tuition_other_pct"]
    ].tolist() == [64.0, 33.7, 2.3, 0.0]
    assert report.rows_read == 6 and report.rows_kept == 4
    assert report.dropped == {revenue.DROP_BLANK: 1, revenue.UNCODED_REASON: 1}
    assert checks == [] and report.flagged == []


def test_share_sums_off_are_kept_and_flagged(write_raw, crosswalk):
    text = SHARE_TEXT.replace("24.9,66.4,8.1,0.6", "24.9,66.4,8.1,1.3")
    df, report, checks = _read_shares(write_raw, crosswalk, text)
    assert len(df) == 4
    assert len(checks) == 1 and checks[0]["district_code"] == "0150011"
    assert checks[0]["gap"] == pytest.approx(0.7)
    assert report.flagged[0]["line"] == 10


def test_negative_share_is_set_empty_and_flagged(write_raw, crosswalk):
    df, _report, checks = _read_shares(
        write_raw, crosswalk, SHARE_TEXT.replace("64.0,33.7,2.3,0.0", "64.0,33.7,12.3,-10.0")
    )
    assert np.isnan(df.loc[1, "rev_tuition_other_pct"]) and df.loc[1, "rev_federal_pct"] == 12.3
    assert [c["check"] for c in checks] == ["negative share (Tuition & Other): set empty"]


def test_amount_file_layout_gaps_and_not_reported_rows(write_raw, crosswalk):
    df, report, checks = _read_amounts(write_raw, crosswalk, AMOUNT_TEXT)
    d = df.set_index("district_code")
    assert d.loc["0010011", "rev_total"] == 4581062 and d.loc["0010011", "rev_local_pct"] == 43.2
    # Colebrook 2022-23: the parts add to 2,445,509, Total says 2,445,413 (as in the source): kept, flagged.
    assert d.loc["0290011", "rev_total"] == 2445413
    # The technical high school system's all-zero row: not reported, so empty.
    assert d.loc["9000016", ["rev_local", "rev_total", "rev_local_pct"]].isna().all()
    # Hartford: the parts are one dollar over Total, within EdSight's rounding: not flagged.
    assert {c["district_code"]: c["gap"] for c in checks} == {"0290011": 96.0, "9000016": 0.0}
    assert report.rows_read == 13 and report.rows_kept == 4
    assert report.dropped == {
        revenue.DROP_BLANK: 3,
        revenue.DROP_INCLUDING_TITLE: 4,
        revenue.DROP_INCLUDING_ROW: 2,
    }
    assert [f["line"] for f in report.flagged] == [4, 5]


def test_load_dispatches_both_layouts(tmp_path, crosswalk):
    reg = fixture_registry(tmp_path, "revenue", {SHARE_FILE: SHARE_TEXT, AMOUNT_FILE: AMOUNT_TEXT})
    out = revenue.load(reg, crosswalk)
    assert sorted(out.district["year"].unique()) == [2013, 2023]
    assert list(out.district.columns) == ["district_code", "year", *[c.name for c in revenue.COLUMNS]]
    assert out.district.loc[out.district["year"] == 2013, "rev_local"].isna().all()
    assert len(out.extra["revenue_checks"]) == 2
    assert list(out.extra["revenue_checks"].columns) == revenue.CHECK_COLUMNS


@pytest.mark.parametrize(
    "text, row, column, match",
    [
        # renamed and missing columns
        (
            AMOUNT_TEXT.replace('"Tuition & Other",,"Total"', '"Tuition and Other",,"Total"'),
            2,
            "Tuition and Other | Amount",
            "unexpected column",
        ),
        (AMOUNT_TEXT.replace(',"Total",\n', ",,\n", 1), 2, None, "repeated column labels"),
        # unknown district name
        (
            AMOUNT_TEXT.replace("Andover School District", "Atlantis School District", 1),
            3,
            "District",
            "unknown district name",
        ),
        # non-numeric, negative and fractional amounts
        (AMOUNT_TEXT.replace("1980144", "1980l44"), 3, "Local | Amount", "not a number"),
        (AMOUNT_TEXT.replace("175931", "-175931"), 3, "Federal | Amount", "below the allowed 0"),
        (AMOUNT_TEXT.replace("175931", "175931.5"), 3, "Federal | Amount", "not a whole number"),
        # a percent that disagrees with its amount
        (AMOUNT_TEXT.replace("43.2", "34.2"), 3, "Local | Percent", "disagrees with 100"),
        # the all-N/A table with a value in it
        (
            AMOUNT_TEXT.replace('"Colebrook School District",N/A', '"Colebrook School District",12.5'),
            15,
            "Local",
            "expects it all N/A",
        ),
        # something unexpected after the amounts table
        (
            AMOUNT_TEXT.replace('"Percentage of Revenue by Source (Including', '"Totals (Including', 1),
            9,
            "District",
            "unexpected line",
        ),
        # duplicate district
        (
            AMOUNT_HEAD + AMOUNT_ROWS + AMOUNT_ROWS.splitlines(keepends=True)[0] + INCLUDING,
            7,
            "district_code",
            "duplicate",
        ),
    ],
)
def test_amount_bad_input_names_file_row_column(write_raw, crosswalk, text, row, column, match):
    assert_raw_error(lambda: _read_amounts(write_raw, crosswalk, text), AMOUNT_FILE, row, column, match)


@pytest.mark.parametrize(
    "text, row, column, match",
    [
        (SHARE_TEXT.replace('"Federal"', '"Fed"'), 5, "Fed", "unexpected column"),
        (
            "".join(
                re.sub(r",[^,\n]*\n$", "\n", line) if i >= 3 else line
                for i, line in enumerate(SHARE_TEXT.splitlines(keepends=True))
            ),
            5,
            "rev_tuition_other_pct",
            "missing column",
        ),
        (SHARE_TEXT.replace("64.0,33.7", "64.0,abc"), 7, "State", "not a number"),
        (SHARE_TEXT.replace("Andover School", "Andover Schools"), 7, "District", "unknown district name"),
        (
            SHARE_TEXT.replace(
                "(Excluding School Construction), 2012-13", "(Excluding School Construction), 2013-14"
            ),
            1,
            None,
            "another year",
        ),
    ],
)
def test_share_bad_input_names_file_row_column(write_raw, crosswalk, text, row, column, match):
    assert_raw_error(lambda: _read_shares(write_raw, crosswalk, text), SHARE_FILE, row, column, match)


# --- real data -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return revenue.load(registry, crosswalk)


@pytest.mark.realdata
def test_real_amounts_add_up_except_the_listed_rows(real):
    d = real.district.dropna(subset=["rev_total"])
    gap = d[revenue.AMOUNTS].sum(axis=1) - d["rev_total"]
    off = d.loc[gap.abs() > revenue.AMOUNT_TOLERANCE, ["district_code", "year"]]
    listed = real.extra["revenue_checks"]
    listed = listed[listed["check"] == "amounts add to Total"]
    assert sorted(map(tuple, off.values.tolist())) == sorted(
        map(tuple, listed[["district_code", "year"]].values.tolist())
    )
    # The three rows the source notes name: Colebrook 2022-23, North Branford 2022-23 and 2023-24.
    keys = zip(listed["district_code"], listed["year"], strict=True)
    assert dict(zip(keys, listed["gap"], strict=True)) == {
        ("0290011", 2023): 96.0,
        ("0990011", 2023): 40532.0,
        ("0990011", 2024): 43674.0,
    }
    # The technical high school system's all-zero rows (2018-2022) are listed and empty.
    zeros = real.extra["revenue_checks"]
    zeros = zeros[zeros["check"].str.startswith("all amounts 0")]
    assert sorted(zeros["year"]) == [2018, 2019, 2020, 2021, 2022]
    assert set(zeros["district_code"]) == {"9000016"}


@pytest.mark.realdata
def test_real_shares_add_to_100_within_rounding(real):
    d = real.district.dropna(subset=revenue.SHARES)
    assert ((d[revenue.SHARES].sum(axis=1) - 100).abs() <= revenue.SHARE_SUM_TOLERANCE).all()


@pytest.mark.realdata
def test_real_counts_per_year_are_raw_rows_minus_counted_drops(real):
    by_year = real.district.groupby("year").size().to_dict()
    assert by_year == {
        2006: 180,
        2007: 181,
        2008: 182,
        2009: 184,
        2010: 184,
        2011: 184,
        2012: 183,
        2013: 183,
        2014: 183,
        2015: 185,
        2018: 197,
        2019: 196,
        2020: 195,
        2021: 194,
        2022: 195,
        2023: 195,
        2024: 195,
        2025: 194,
    }
    for r in real.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values()), r.file
        year = int(r.file.rsplit("__", 1)[-1][:4] if "__" in r.file else r.file.rsplit("-", 2)[-2]) + 1
        assert by_year[year] == r.rows_read - sum(r.dropped.values())


@pytest.mark.realdata
def test_real_spot_values(real):
    d = real.district.set_index(["district_code", "year"])
    # revenue-2024-25.csv: ="Windham School District",27363874,34.9,41202850,52.6,7877656,10.1,1858324,2.4,
    # 78302705,100.0
    w = d.loc[("1630011", 2025)]
    assert w[["rev_local", "rev_state", "rev_federal", "rev_tuition_other", "rev_total"]].tolist() == [
        27363874,
        41202850,
        7877656,
        1858324,
        78302705,
    ]
    # revenue-sources__2012-13_excluding: ="Andover School District",64.0,33.7,2.3,0.0
    assert d.loc[("0010011", 2013), "rev_local_pct"] == 64.0
    assert ("2200012", 2025) in d.index  # Regional School District 20

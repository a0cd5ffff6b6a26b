"""CSDE grant payments (histpay): fixture tests, bad input, and checks against the real file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources import ecs, histpay
from alliance_study.data.sources.common import SourceReport
from alliance_study.errors import RawDataError

YEARS = list(range(1990, 2015))
HEADER = " town,name,drg,grant_name,grant_type," + ",".join(f"pay{y}" for y in YEARS) + ",\n"
REAL_PATH = "alspur/firsttermschlfinance/data/histpay.csv"



@pytest.fixture(autouse=True)
def _excerpts(monkeypatch):
    """The fixtures are excerpts of the file: not every town, and no closing grantee 998 block."""
    monkeypatch.setattr(histpay, "TOWN_GRANTEES", range(0))
    monkeypatch.setattr(histpay, "LAST_GRANTEE", None)

def row(town: int, name: str, drg: str, grant: str, kind: str, pays: dict[int, float]) -> str:
    """One raw line: padded name, four-decimal amounts for every year, trailing empty column."""
    cells = [f"{pays.get(y, 0):.4f}" for y in YEARS]
    return f"{town},{name:<25},{drg},{grant},{kind}," + ",".join(cells) + ",\n"


ROWS = [
    row(14, "Branford", "D", "Education Jobs Fund", "Federal", {2011: 1000, 2013: -7565.51}),
    row(15, "Bridgeport", "I", "ARRA Stabilization-Ed Grants", "Federal", {2010: 15099659, 2011: 23424927}),
    row(15, "Bridgeport", "I", "ARRA Stabilization-Gov Serv", "Federal", {2010: 8325268}),
    row(15, "Bridgeport", "I", "ECS/Alliance Dist Grants", "State",
        {2010: 140910939, 2011: 140893720, 2012: 164094811}),
    row(15, "Bridgeport", "I", "Priority School Districts", "State", {2012: 6774336}),
    row(15, "Bridgeport", "I", "Title I Improving Basic Programs", "Federal", {2012: 100}),
    row(38, "Durham", "C", "ECS/Alliance Dist Grants", "State", {2012: 3954812}),
    row(213, "Region # 13", "C", "ARRA Stabilization-Ed Grants", "Federal", {2010: 500}),
    row(284, "Cross-Cultural Acad", "", "Charter Schools", "State", {2007: 1000}),
    row(998, "Towns Not Included", "", "Priority School Districts", "State", {2012: 50}),
]
GOOD = HEADER + "".join(ROWS)


def read(path, crosswalk, display="histpay.csv"):
    report = SourceReport(histpay.FAMILY, display)
    return histpay.read_histpay_file(path, display, crosswalk, report), report


def fixture_registry(path, tmp_path) -> Registry:
    rel = path.relative_to(tmp_path).as_posix()
    entry = RegistryEntry(rel, histpay.FAMILY, sha256_file(path), path.stat().st_size, "", "", "yes", "", "")
    return Registry(entries=[entry], raw_dir=tmp_path)


# --- fixture ----------------------------------------------------------------------------------------


def test_fixture_accounting_and_long(write_raw, crosswalk):
    long, report = read(write_raw("h.csv", GOOD), crosswalk)
    assert report.rows_read == 10
    assert report.rows_kept == 7
    assert report.dropped == {
        histpay.NO_LOCAL_DISTRICT: 1, histpay.CLOSED_CHARTER: 1, histpay.NON_DISTRICT: 1}
    # Non-zero payments only: 2 + 2 + 1 + 3 + 1 + 1 + 1 + 1 + 1 + 1.
    assert len(long) == 14
    dur = long[long["grantee"] == 38]
    assert dur["district_code"].isna().all() and dur["amount"].tolist() == [3954812.0]
    assert long.loc[long["grant_name"] == "Title I Improving Basic Programs", "category"].isna().all()
    assert long["grantee_name"].str.endswith(" ").sum() == 0


def test_fixture_load(write_raw, tmp_path, crosswalk):
    out = histpay.load(fixture_registry(write_raw("raw/h.csv", GOOD), tmp_path), crosswalk)
    d = out.district
    assert list(d.columns) == ["district_code", "year", *histpay.MEASURES]
    assert d[["district_code", "year"]].values.tolist() == [
        ["0140011", 2011], ["0140011", 2013],
        ["0150011", 2010], ["0150011", 2011], ["0150011", 2012],
        ["2130012", 2010]]
    d = d.set_index(["district_code", "year"])
    assert d.loc[("0150011", 2010), "pay_arra_stabilization"] == 15099659 + 8325268
    assert d.loc[("0150011", 2010), "pay_ecs_plus_arra"] == 140910939 + 15099659 + 8325268
    assert d.loc[("0150011", 2011), "pay_ecs_plus_arra"] == 140893720 + 23424927
    assert d.loc[("0150011", 2012), "pay_priority_school_districts"] == 6774336
    assert d.loc[("0150011", 2012), "pay_commissioners_network"] == 0
    assert d.loc[("0140011", 2013), "pay_education_jobs"] == pytest.approx(-7565.51)
    assert d.loc[("2130012", 2010), "pay_ecs"] == 0
    st = out.state.set_index("year")
    assert st.index.tolist() == YEARS
    assert st.loc[2012, "pay_priority_school_districts"] == 6774336 + 50  # all grantees
    assert st.loc[2012, "pay_ecs"] == 164094811 + 3954812  # Durham included
    assert [c.name for c in out.columns] == histpay.MEASURES


# --- bad input --------------------------------------------------------------------------------------


def _bad(write_raw, crosswalk, text, encoding="utf-8"):
    with pytest.raises(RawDataError) as info:
        read(write_raw("bad.csv", text, encoding), crosswalk, display="bad.csv")
    assert "bad.csv" in str(info.value)
    return info.value


def test_renamed_column(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("pay2014", "pay2O14", 1))
    assert (err.row, err.column) == (1, "pay2O14")


def test_missing_column(write_raw, crosswalk):
    text = HEADER.replace(",grant_type,", ",") + "".join(
        r.replace(",Federal,", ",").replace(",State,", ",") for r in ROWS)
    err = _bad(write_raw, crosswalk, text)
    assert (err.row, err.column) == (1, "grant_type")


def test_non_numeric_payment(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("6774336.0000", "6774336.OO"))
    assert (err.row, err.column) == (6, "pay2012")


def test_duplicate_grantee_grant(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD + ROWS[4])
    assert (err.row, err.column) == (12, "town")
    assert "duplicate" in str(err)


def test_unknown_grantee(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD + row(500, "Somewhere Else", "", "Other State Grants", "State", {}))
    assert (err.row, err.column) == (12, "town")
    assert "unknown grantee number 500" in str(err)


def test_renamed_grantee(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("Region # 13", "Region # 14"))
    assert (err.row, err.column) == (9, "name")


def test_unknown_grant_type(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace(",Federal,", ",Fed,", 1))
    assert (err.row, err.column) == (2, "grant_type")


def test_header_only(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, HEADER)
    assert err.row == 2


def test_cut_mid_row(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD[: GOOD.rindex("50.0000")])
    assert err.row == 11 and err.column == "pay2012"


def test_cut_mid_number(write_raw, crosswalk):
    # The last cell "0.0000," loses its end: every cell still parses, but the line break is gone.
    err = _bad(write_raw, crosswalk, GOOD[:-5])
    assert err.row == 11 and "line break" in str(err)


def test_not_utf8(write_raw, crosswalk):
    err = _bad(write_raw, crosswalk, GOOD.replace("Durham", "Dürham"), encoding="latin-1")
    assert err.row == 8 and "UTF-8" in str(err)


# --- the real file ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(registry, crosswalk):
    return histpay.load(registry, crosswalk)


@pytest.fixture(scope="module")
def raw_wide(registry):
    path = registry.verified_path(registry.entry(REAL_PATH))
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["grantee"] = df[" town"].astype(int)
    return df


@pytest.mark.realdata
def test_real_accounting(real, crosswalk, raw_wide):
    (report,) = real.reports
    assert report.rows_read == 9138 == len(raw_wide)
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert report.dropped == {histpay.NON_DISTRICT: 105, histpay.NO_LOCAL_DISTRICT: 44,
                              histpay.CLOSED_CHARTER: 30}
    # Per year: one district row per mapped grantee with any non-zero payment, counted independently.
    dropped = set(histpay.NON_DISTRICT_GRANTEES) | set(histpay.CLOSED_CHARTER_GRANTEES)
    dropped |= {t for t in range(1, 170) if f"{t:03d}0011" not in crosswalk.codes}
    mapped = raw_wide[~raw_wide["grantee"].isin(dropped)].copy()
    # Two grantee numbers (277, 286) are one district; count districts, not numbers.
    mapped["code"] = [histpay.GRANTEE_DISTRICTS[g][0] if g in histpay.GRANTEE_DISTRICTS else g
                      for g in mapped["grantee"]]
    counts = real.district.groupby("year").size()
    for y in YEARS:
        paid = mapped.loc[mapped[f"pay{y}"].astype(float) != 0, "code"].nunique()
        assert counts[y] == paid, y
    assert counts[1990] == 178 and counts[2014] == 197


@pytest.mark.realdata
def test_real_bridgeport(real):
    d = real.district.set_index(["district_code", "year"])
    # Raw lines 571, 572, 630, 645, 624, 579 (grantee 15).
    assert d.loc[("0150011", 2010), "pay_arra_stabilization"] == 15099659 + 8325268
    assert d.loc[("0150011", 2011), "pay_arra_stabilization"] == 23424927
    assert d.loc[("0150011", 2011), "pay_ecs"] == 140893720
    assert d.loc[("0150011", 2014), "pay_ecs"] == 173455445
    assert d.loc[("0150011", 2013), "pay_priority_school_districts"] == 6707914
    assert d.loc[("0150011", 2014), "pay_commissioners_network"] == 2289999
    assert d.loc[("0150011", 2012), "pay_education_jobs"] == 7217410
    assert d.loc[("0150011", 2011), "pay_ecs_plus_arra"] == 164318647


@pytest.mark.realdata
def test_real_ecs_payments_match_entitlements(real, registry, crosswalk):
    ent = ecs.load(registry, crosswalk).district.set_index(["district_code", "year"])
    pay = real.district.set_index(["district_code", "year"])
    both = ent.join(pay, how="inner")
    assert sorted(set(both.index.get_level_values("year"))) == [2012, 2013, 2014]
    ratio = both["pay_ecs"] / both["ecs_entitlement"]
    for year, r in ratio.groupby(level="year"):
        assert len(r) == 149
        assert abs(r.median() - 1) < 0.001, year
        assert (abs(r - 1) < 0.01).mean() > 0.75, year


@pytest.mark.realdata
def test_real_arra_fills_the_fy2011_ecs_dip(real):
    towns = real.district[real.district["district_code"].str.endswith("0011")]
    wide = towns.pivot(index="district_code", columns="year")
    dip = wide[("pay_ecs", 2011)] / wide[("pay_ecs", 2012)]
    filled = wide[("pay_ecs_plus_arra", 2011)] / wide[("pay_ecs", 2012)]
    assert dip.median() < 0.9  # ECS alone fell about 14% for the median town
    assert abs(filled.median() - 1) < 0.01
    assert (abs(filled - 1) < 0.03).mean() > 0.9
    # State-wide: ECS + ARRA in FY2010 and FY2011 stays within 1% of FY2009 ECS.
    st = real.state.set_index("year")
    for y in (2010, 2011):
        assert abs(st.loc[y, "pay_ecs_plus_arra"] / st.loc[2009, "pay_ecs"] - 1) < 0.01


@pytest.mark.realdata
def test_real_long_table(real, raw_wide):
    long = real.extra["histpay_long"]
    values = raw_wide[[f"pay{y}" for y in YEARS]].astype(float).to_numpy()
    assert len(long) == int(np.count_nonzero(values))
    assert long["amount"].sum() == pytest.approx(values.sum(), rel=1e-12)
    durham = long[(long["grantee"] == 38) & (long["category"] == "ecs")]
    assert durham["district_code"].isna().all() and len(durham) == 25
    assert set(long["category"].dropna()) == set(histpay.CATEGORIES)

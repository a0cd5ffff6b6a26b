"""The district-year panel on the real data: published facts, designations, row accounting, determinism."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from alliance_study.data.panel import build_panel, write_outputs
from alliance_study.data.sources.keys import STATE_CODE

#: Published facts (shared/data/README.md and reference/STUDY_FACTS.md): the announced $39.5M for FY2013,
#: about $132.9M in FY2015, and Bridgeport's FY2015 Alliance grant.
FY2013_ALLIANCE_TOTAL = 39_499_998
FY2015_ALLIANCE_TOTAL_APPROX = 132.9e6
BRIDGEPORT = "0150011"
BRIDGEPORT_FY2015 = 14_704_804


@pytest.fixture(scope="module")
def build(registry):
    return build_panel(registry)


@pytest.fixture(scope="module")
def panel(build):
    return build.panel


def test_alliance_dollars_match_published_totals(panel):
    by_year = panel.groupby("year")["alliance_dollars"].sum()
    assert by_year[2013] == FY2013_ALLIANCE_TOTAL
    assert abs(by_year[2015] - FY2015_ALLIANCE_TOTAL_APPROX) < 0.1e6
    bpt = panel.set_index(["district_code", "year"]).loc[(BRIDGEPORT, 2015), "alliance_dollars"]
    assert bpt == BRIDGEPORT_FY2015
    # No Alliance money before the program.
    assert by_year[2012] == 0


def test_all_36_designated_districts_with_their_cohorts(panel, registry):
    ref = pd.read_csv(registry.verified_path(registry.entry("reference/alliance_designations.csv")))
    pairs = zip(ref["town_code"], ref["first_fiscal_year_designated"], strict=True)
    expected = {f"{int(t):03d}0011": int(y) for t, y in pairs}
    got = panel.dropna(subset=["alliance_cohort"]).groupby("district_code")["alliance_cohort"].first()
    assert {k: int(v) for k, v in got.items()} == expected
    assert sorted(pd.Series(list(expected.values())).value_counts().items()) == [(2013, 30), (2018, 3),
                                                                                   (2023, 3)]
    # Every designated district is in the panel in every outcome year from 2010 to 2019.
    for code in expected:
        years = set(panel.loc[panel["district_code"] == code, "year"])
        assert set(range(2010, 2020)) <= years, code


def test_designation_and_money_are_separate(panel):
    """Designation is a fact of the year, money another: some designees got $0 (Thompson FY2018-19)."""
    p = panel.set_index(["district_code", "year"])
    assert p.loc[("0150011", 2012), "alliance_designated"] == 0
    assert p.loc[("0150011", 2013), "alliance_designated"] == 1
    thompson = p.loc[("1410011", 2018)]
    assert thompson["alliance_designated"] == 1
    assert thompson["alliance_dollars"] == 0
    # Every district with Alliance money in a year is designated that year.
    paid = panel[panel["alliance_dollars"] > 0]
    assert (paid["alliance_designated"] == 1).all()
    assert panel["alliance_designated"].isin([0, 1]).all()
    per_pupil = panel.dropna(subset=["alliance_dollars_per_pupil"])
    assert (per_pupil["alliance_dollars_per_pupil"] >= 0).all()
    hartford_2015 = p.loc[("0640011", 2015)]
    assert hartford_2015["alliance_dollars_per_pupil"] == pytest.approx(
        hartford_2015["alliance_dollars"] / hartford_2015["enrollment"])


def test_panel_key_types_and_entity_types(panel):
    assert not panel.duplicated(["district_code", "year"]).any()
    assert panel["district_code"].str.fullmatch(r"\d{7}").all()
    assert STATE_CODE not in set(panel["district_code"])
    assert str(panel["year"].dtype) == "int64"
    types = set(panel["entity_type"])
    assert {"town_district", "regional_district", "charter"} <= types
    towns = panel[panel["entity_type"] == "town_district"]
    assert (towns["town_code"] == towns["district_code"].str[:3].astype(int)).all()
    assert panel.loc[panel["entity_type"] != "town_district", "town_code"].isna().all()


OUTCOME_FAMILIES = {
    "graduation": "grad_rate",
    "absenteeism": "chronic_absent_rate",
    "suspensions": "suspension_rate",
}


@pytest.mark.parametrize("family", sorted(OUTCOME_FAMILIES))
def test_outcome_rows_reach_the_panel(build, registry, crosswalk, family):
    """Every district-year a reader kept is a panel row with its value, year by year.

    That the readers keep exactly the raw rows minus the counted drops is tested per family
    (``check_counts_per_year`` in tests/test_sources_<family>.py); this closes the chain at the panel.
    """
    from alliance_study.data.panel import SOURCE_MODULES

    module = next(m for m in SOURCE_MODULES if m.FAMILY == family)
    out = module.load(registry, crosswalk)
    kept_by_year = out.district.groupby("year").size()
    in_panel = build.panel.merge(out.district, on=["district_code", "year"], suffixes=("", "_source"))
    pd.testing.assert_series_equal(in_panel.groupby("year").size(), kept_by_year, check_names=False)
    column = OUTCOME_FAMILIES[family]
    pd.testing.assert_series_equal(in_panel[column], in_panel[f"{column}_source"], check_names=False)
    reports = [r for r in build.reports if r.family == family]
    assert sum(r.rows_kept for r in reports if "_ct" not in r.file) == len(out.district)


def test_statewide_rates_recomputed_from_district_counts(build):
    panel, state = build.panel, build.state.set_index("year")
    counted = panel.dropna(subset=["grad_count", "grad_cohort"])
    grad = counted.groupby("year")[["grad_count", "grad_cohort"]].sum()
    recomputed = 100 * grad["grad_count"] / grad["grad_cohort"]
    years = [y for y in range(2011, 2020) if y in state.index and pd.notna(state.loc[y, "grad_rate"])]
    assert len(years) == 9
    for y in years:
        assert abs(recomputed[y] - state.loc[y, "grad_rate"]) < 1.5, y
    absent = panel.dropna(subset=["chronic_absent_count", "chronic_absent_rate"])
    absent = absent[absent["chronic_absent_rate"] > 0]
    enrolled = absent["chronic_absent_count"] / (absent["chronic_absent_rate"] / 100)
    for y in (2019, 2020):
        mask = absent["year"] == y
        rate = 100 * absent.loc[mask, "chronic_absent_count"].sum() / enrolled[mask].sum()
        assert abs(rate - state.loc[y, "chronic_absent_rate"]) < 1.0, y


def test_build_report_accounts_for_every_file(build, registry):
    files = {r.file for r in build.reports}
    assert files == {e.path for e in registry.entries if e.family != "plans"}
    for r in build.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values()), r.file
        for reason in r.dropped:
            assert reason.strip(), f"{r.file}: a drop without a reason"


def test_outputs_are_deterministic(build, registry, tmp_path):
    first = write_outputs(build, tmp_path / "a")
    again = write_outputs(build_panel(registry), tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in again]
    for a, b in zip(first, again, strict=True):
        digest_a, digest_b = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b))
        assert digest_a == digest_b, a.name
    names = {p.name for p in first}
    assert {"district_year.parquet", "district_year.csv", "datapackage.json", "build_report.csv",
            "build_report.json", "state_year.csv"} <= names


def test_datapackage_documents_every_column(build, tmp_path):
    write_outputs(build, tmp_path)
    pkg = json.loads((tmp_path / "datapackage.json").read_text())
    fields = pkg["resources"][0]["schema"]["fields"]
    assert [f["name"] for f in fields] == list(build.panel.columns) or \
        sorted(f["name"] for f in fields) == sorted(build.panel.columns)
    for f in fields:
        assert f["type"] in {"string", "integer", "number", "boolean"}, f
        assert f["description"] and f["source"], f["name"]
    years = {f["name"]: f["years"] for f in fields}
    assert years["alliance_dollars"].startswith("2012") or "2012" in years["alliance_dollars"]
    assert years["sbac_ela_pct_l34"] == "2015-2019, 2022-2025"
    # The families added later (issue 11) reach the latest year.
    assert years["nce_per_pupil"] == "2008-2014, 2016-2020, 2022-2025"
    assert years["rev_local"] == "2018-2025" and years["rev_local_pct"] == "2006-2015, 2018-2025"
    assert years["grad_rate"] == "2011-2025"
    assert all(s["sha256"] and s["license"] for s in pkg["sources"])
    csv_back = pd.read_csv(tmp_path / "district_year.csv", dtype={"district_code": str})
    assert csv_back.shape == build.panel.shape

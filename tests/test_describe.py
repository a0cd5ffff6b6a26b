"""Descriptive summaries on small hand-computed panels (no real data needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _panels import small_panel

from alliance_study.analysis import describe, groups

NAN = np.nan


def make_panel() -> pd.DataFrame:
    """The six-entity panel of tests/_panels.py (A cohort 2013, B cohort 2018, C, D, R, X never)."""
    return small_panel()


def codes(panel: pd.DataFrame, mask: pd.Series) -> set[str]:
    return set(panel.loc[mask, "district_code"])


def value(trends: pd.DataFrame, group: str, measure: str, year: int) -> float:
    row = trends.loc[(trends["group"] == group) & (trends["measure"] == measure) & (trends["year"] == year)]
    assert len(row) == 1, row
    return float(row["value"].iloc[0])


# --- groups -----------------------------------------------------------------------------------------------

def test_alliance_mask_all_and_by_cohort():
    panel = make_panel()
    assert codes(panel, groups.alliance_mask(panel)) == {"0010011", "0020011"}
    assert codes(panel, groups.alliance_mask(panel, [2013])) == {"0010011"}
    assert codes(panel, groups.alliance_mask(panel, [2023])) == set()
    # The group is fixed over time: both years of a designated district, before and after designation.
    assert groups.alliance_mask(panel).sum() == 4


def test_comparison_masks_exclude_every_designated_district():
    panel = make_panel()
    assert codes(panel, groups.comparison_mask(panel, "other_town_districts")) == {"0030011", "0040011"}
    assert codes(panel, groups.comparison_mask(panel, "non_alliance_town_and_regional")) == {
        "0030011", "0040011", "0050012"}
    assert codes(panel, groups.comparison_mask(panel, "all_other_districts")) == {
        "0030011", "0040011", "0050012", "0060013"}
    for name in groups.COMPARISONS:
        assert not (groups.comparison_mask(panel, name) & groups.alliance_mask(panel)).any()
    with pytest.raises(ValueError, match="unknown comparison"):
        groups.comparison_mask(panel, "neighbours")


def test_group_trends_unweighted_means_and_counts():
    panel = make_panel()
    t = describe.group_trends(panel, ["m"])
    assert list(t.columns) == ["year", "group", "measure", "value", "n_districts"]
    assert value(t, "Alliance", "m", 2012) == pytest.approx(20.0)  # (10 + 30) / 2
    assert value(t, "Alliance", "m", 2013) == pytest.approx(20.0)  # B missing: A only
    assert value(t, "Comparison", "m", 2012) == pytest.approx(60.0)  # (50 + 70) / 2
    assert value(t, "Comparison", "m", 2013) == pytest.approx(70.0)
    n = t.set_index(["group", "year"])["n_districts"]
    assert n[("Alliance", 2012)] == 2
    assert n[("Alliance", 2013)] == 1
    assert set(t["group"]) == {"Alliance", "Comparison"}  # no state table given


def test_group_trends_enrollment_weighted():
    panel = make_panel()
    t = describe.group_trends(panel, ["m"], weight="enrollment")
    assert value(t, "Alliance", "m", 2012) == pytest.approx((10 * 100 + 30 * 300) / 400)
    assert value(t, "Comparison", "m", 2012) == pytest.approx((50 * 100 + 70 * 300) / 400)
    assert value(t, "Comparison", "m", 2013) == pytest.approx((60 * 100 + 80 * 300) / 400)


def test_group_trends_other_comparisons_cohorts_and_years():
    panel = make_panel()
    t = describe.group_trends(panel, ["m"], comparison="non_alliance_town_and_regional",
                              alliance_cohorts=[2013], start_year=2013, end_year=2013)
    assert sorted(t["year"].unique()) == [2013]
    assert value(t, "Comparison", "m", 2013) == pytest.approx((60 + 80 + 100) / 3)
    assert value(t, "Alliance", "m", 2013) == pytest.approx(20.0)
    t = describe.group_trends(panel, ["m"], comparison="all_other_districts", end_year=2012)
    assert value(t, "Comparison", "m", 2012) == pytest.approx((50 + 70 + 90 + 1000) / 4)


def test_group_trends_all_missing_year_is_kept_as_nan_with_zero_districts():
    panel = make_panel()
    panel["sparse"] = np.where(panel["year"] == 2012, 5.0, np.nan)
    t = describe.group_trends(panel, ["sparse"])
    row = t.loc[(t["group"] == "Alliance") & (t["year"] == 2013)]
    assert len(row) == 1
    assert math.isnan(row["value"].iloc[0])
    assert row["n_districts"].iloc[0] == 0
    assert value(t, "Alliance", "sparse", 2012) == pytest.approx(5.0)


def test_group_trends_adds_state_only_for_measures_it_has():
    panel = make_panel()
    panel["other"] = 1.0
    state = pd.DataFrame({"year": [2012, 2013], "m": [55.0, 65.0]})
    t = describe.group_trends(panel, ["m", "other"], state=state)
    assert value(t, "State", "m", 2013) == pytest.approx(65.0)
    assert t.loc[t["group"] == "State", "n_districts"].isna().all()
    assert not ((t["group"] == "State") & (t["measure"] == "other")).any()


def test_group_trends_rejects_unknown_measure():
    with pytest.raises(KeyError, match="nope"):
        describe.group_trends(make_panel(), ["nope"])


def test_state_rates_keeps_rates_and_drops_totals():
    state = pd.DataFrame(columns=["year", "grad_rate", "enrollment", "frl_share", "frl_count", "ppe_total",
                                  "exp_total", "share_black", "sbac_ela_pct_l34", "sbac_ela_participation"])
    assert list(describe.state_rates(state).columns) == ["year", "grad_rate", "frl_share", "ppe_total",
                                                         "share_black", "sbac_ela_pct_l34",
                                                         "sbac_ela_participation"]


def test_gap_summary_first_and_last_common_year():
    panel = make_panel()
    t = describe.group_trends(panel, ["m"])
    g = describe.gap_summary(t).set_index("measure").loc["m"]
    assert (g["start_year"], g["end_year"]) == (2012, 2013)
    assert g["start_gap"] == pytest.approx(20.0 - 60.0)
    assert g["end_gap"] == pytest.approx(20.0 - 70.0)
    # A measure the groups never share is left out rather than reported as a gap of NaN.
    panel["only_alliance"] = np.where(groups.alliance_mask(panel), 1.0, np.nan)
    t = describe.group_trends(panel, ["m", "only_alliance"])
    assert list(describe.gap_summary(t)["measure"]) == ["m"]


def test_last_year_with_data_respects_end_year_and_mask():
    panel = make_panel()
    assert describe.last_year_with_data(panel, "m") == 2013
    assert describe.last_year_with_data(panel, "m", end_year=2012) == 2012
    b_only = panel["district_code"].eq("0020011")
    assert describe.last_year_with_data(panel, "m", mask=b_only) == 2012
    assert describe.last_year_with_data(panel, "m", end_year=2000) is None


# --- coverage ---------------------------------------------------------------------------------------------

def test_coverage_shares_with_a_fixed_denominator():
    panel = make_panel()
    cov = describe.coverage(panel, ["m", "enrollment"])
    # Five town and regional districts; in 2013 B has no value of m.
    assert cov.loc["m", 2012] == pytest.approx(1.0)
    assert cov.loc["m", 2013] == pytest.approx(4 / 5)
    assert cov.loc["enrollment", 2013] == pytest.approx(1.0)
    # Removing B's 2013 row altogether must not raise coverage: the denominator stays at five.
    dropped = panel.loc[~((panel["district_code"] == "0020011") & (panel["year"] == 2013))]
    assert describe.coverage(dropped, ["enrollment"]).loc["enrollment", 2013] == pytest.approx(4 / 5)
    # The charter is outside the default entity types.
    assert describe.coverage(panel, ["m"], entity_types=["charter"]).loc["m", 2013] == pytest.approx(1.0)


def test_coverage_by_source_any_measure_of_the_family():
    panel = make_panel()
    panel["grad_rate"] = np.where(panel["district_code"] == "0010011", 90.0, np.nan)
    panel["grad_count"] = np.where(panel["district_code"] == "0030011", 40.0, np.nan)
    cov = describe.coverage_by_source(panel, {"grad_rate": "graduation", "grad_count": "graduation",
                                              "enrollment": "enrollment"})
    assert cov.loc["graduation", 2012] == pytest.approx(2 / 5)
    assert cov.loc["enrollment", 2013] == pytest.approx(1.0)
    assert describe.measure_family("grad_rate") == "graduation"
    assert describe.measure_family("ppe_total") == "expenditures"
    assert describe.measure_family("district_name") is None


# --- standardized scores ----------------------------------------------------------------------------------

def test_standardize_within_year_hand_computed():
    panel = make_panel()
    z = groups.standardize_within_year(panel, "m")
    sd_2012 = math.sqrt((40**2 + 20**2 + 0 + 20**2 + 40**2) / 4)  # reference values 10, 30, 50, 70, 90
    a_2012 = z[(panel["district_code"] == "0010011") & (panel["year"] == 2012)].iloc[0]
    assert a_2012 == pytest.approx((10 - 50) / sd_2012)
    # The charter is scored against the reference but is not part of it.
    x_2012 = z[(panel["district_code"] == "0060013") & (panel["year"] == 2012)].iloc[0]
    assert x_2012 == pytest.approx((1000 - 50) / sd_2012)
    ref = groups.district_mask(panel)
    for _, block in z[ref].groupby(panel.loc[ref, "year"]):
        block = block.dropna()
        assert block.mean() == pytest.approx(0.0, abs=1e-12)
        assert block.std() == pytest.approx(1.0)
    assert np.isnan(z[(panel["district_code"] == "0020011") & (panel["year"] == 2013)].iloc[0])


def test_standardize_within_year_custom_reference_and_degenerate_years():
    panel = make_panel()
    towns = panel["entity_type"].eq("town_district")
    z = groups.standardize_within_year(panel, "m", reference_mask=towns)
    for _, block in z[towns].groupby(panel.loc[towns, "year"]):
        assert block.dropna().mean() == pytest.approx(0.0, abs=1e-12)
        assert block.dropna().std() == pytest.approx(1.0)
    # A year with a single reference value (or none) has no SD: every score is missing, not infinite.
    panel["single"] = np.where((panel["district_code"] == "0010011") & (panel["year"] == 2013), 3.0, np.nan)
    assert groups.standardize_within_year(panel, "single").isna().all()


def test_standardize_within_year_by_extra_groups():
    long = pd.DataFrame({"year": [2015] * 4, "grade": [3, 3, 4, 4], "entity_type": "town_district",
                         "score": [1.0, 3.0, 100.0, 300.0]})
    z = groups.standardize_within_year(long, "score", by=["grade"])
    expected = [-1 / math.sqrt(2), 1 / math.sqrt(2)] * 2
    assert z.tolist() == pytest.approx(expected)


def achievement_panel() -> pd.DataFrame:
    """Four towns: CMT in 2011, nothing in 2014, SBAC in 2015 (one district has only math)."""
    rows = []
    for i, code in enumerate(["0010011", "0020011", "0030011", "0040011"]):
        rows.append({"district_code": code, "entity_type": "town_district", "year": 2011,
                     "cmt_math_scale": 200.0 + 10 * i, "cmt_reading_scale": 210.0 + 12 * i ** 2})
        rows.append({"district_code": code, "entity_type": "town_district", "year": 2014})
        rows.append({"district_code": code, "entity_type": "town_district", "year": 2015,
                     "sbac_math_vss_g38": 2400.0 + 30 * i,
                     "sbac_ela_vss_g38": np.nan if i == 3 else 2450.0 - 5 * i})
    return pd.DataFrame(rows)


def test_achievement_index_is_a_z_score_each_test_year():
    panel = achievement_panel()
    index = groups.achievement_index(panel)
    for year in (2011, 2015):
        block = index[panel["year"] == year]
        assert block.notna().all()  # the district with one component still gets a score
        assert block.mean() == pytest.approx(0.0, abs=1e-12)
        assert block.std() == pytest.approx(1.0)
    assert index[panel["year"] == 2014].isna().all()
    # Higher scores on both components rank higher.
    cmt = index[panel["year"] == 2011].to_numpy()
    assert list(np.argsort(cmt)) == [0, 1, 2, 3]
    regime = groups.achievement_regime(panel)
    assert regime[panel["year"] == 2011].eq("CMT").all()
    assert regime[panel["year"] == 2015].eq("SBAC").all()
    assert regime[panel["year"] == 2014].isna().all()


def test_achievement_index_averages_components_before_restandardizing():
    panel = achievement_panel()
    z_math = groups.standardize_within_year(panel, "cmt_math_scale")
    z_read = groups.standardize_within_year(panel, "cmt_reading_scale")
    mean = ((z_math + z_read) / 2)[panel["year"] == 2011]
    expected = (mean - mean.mean()) / mean.std()
    index = groups.achievement_index(panel)[panel["year"] == 2011]
    assert index.tolist() == pytest.approx(expected.tolist())


def test_achievement_index_without_components_is_missing():
    panel = pd.DataFrame({"district_code": ["0010011"], "entity_type": ["town_district"], "year": [2011]})
    assert groups.achievement_index(panel).isna().all()


# --- one district -----------------------------------------------------------------------------------------

def test_district_profile_groups():
    panel = make_panel()
    p = describe.district_profile(panel, "0010011", ["m"])
    assert value(p, "District", "m", 2012) == 10.0
    assert value(p, "Other Alliance districts", "m", 2012) == 30.0  # B only, A excluded
    assert value(p, "Comparison", "m", 2013) == pytest.approx(70.0)
    assert set(p["group"]) == {"District", "Other Alliance districts", "Comparison"}
    # A comparison district is never compared with itself.
    p = describe.district_profile(panel, "0030011", ["m"])
    assert value(p, "Comparison", "m", 2012) == 70.0
    # papermill -p turns codes into integers; they are restored.
    p = describe.district_profile(panel, 10011, ["m"], state=pd.DataFrame({"year": [2012], "m": [1.0]}))
    assert value(p, "District", "m", 2012) == 10.0
    assert value(p, "State", "m", 2012) == 1.0
    with pytest.raises(KeyError):
        describe.district_profile(panel, "0990011", ["m"])


def test_data_availability_flags_measures_without_data():
    panel = make_panel()
    panel["empty"] = np.nan
    p = describe.district_profile(panel, "0020011", ["m", "empty"])
    avail = describe.data_availability(p).set_index("measure")
    assert avail.loc["m", "n_years"] == 1
    assert avail.loc["m", "first_year"] == 2012
    assert avail.loc["empty", "n_years"] == 0
    assert pd.isna(avail.loc["empty", "last_year"])


def test_normalize_district_code():
    assert groups.normalize_district_code(640011) == "0640011"
    assert groups.normalize_district_code("0640011") == "0640011"
    with pytest.raises(ValueError):
        groups.normalize_district_code("Hartford")
    with pytest.raises(ValueError):
        groups.normalize_district_code("12345678")


def test_per_100_students():
    panel = pd.DataFrame({"fte_total": [10.0, 5.0, 1.0], "enrollment": [200.0, 0.0, np.nan]})
    out = describe.per_100_students(panel, ["fte_total"])
    assert out["fte_total_per_100"].iloc[0] == pytest.approx(5.0)
    assert out["fte_total_per_100"].iloc[1:].isna().all()


# --- money and membership ---------------------------------------------------------------------------------

def test_designation_counts():
    designations = pd.DataFrame({"district_code": ["a", "b", "c", "d"], "alliance_cohort": [2013, 2013, 2018,
                                                                                            2023]})
    out = describe.designation_counts(designations)
    assert out.to_dict("list") == {"cohort": [2013, 2018, 2023], "added": [2, 1, 1], "total": [2, 3, 4]}


def test_alliance_funding_totals_and_per_pupil():
    panel = make_panel()
    f = describe.alliance_funding(panel).set_index("year")
    assert f.loc[2012, "n_designated"] == 0
    assert f.loc[2013, "n_designated"] == 1  # only A is designated in 2013
    assert f.loc[2013, "n_recipients"] == 1
    assert f.loc[2013, "alliance_dollars"] == 1000.0
    assert f.loc[2013, "dollars_per_pupil"] == pytest.approx(1000.0 / 100.0)
    assert np.isnan(f.loc[2012, "dollars_per_pupil"])  # no designated district yet
    panel.loc[panel["year"] == 2013, "alliance_dollars"] = np.nan
    assert np.isnan(describe.alliance_funding(panel).set_index("year").loc[2013, "alliance_dollars"])


def test_enrollment_share_uses_state_total_when_given():
    panel = make_panel()
    share = describe.enrollment_share(panel).set_index("year")
    assert share.loc[2013, "share"] == pytest.approx(100 * 100 / 1050)
    state = pd.DataFrame({"year": [2013], "enrollment": [2000.0]})
    share = describe.enrollment_share(panel, state).set_index("year")
    assert share.loc[2013, "share"] == pytest.approx(5.0)

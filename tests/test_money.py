"""Money analysis: the per-pupil panel by hand, simulated pass-through and crowd-out with interval coverage,
the verdict rule, doses, and checks on the real panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis import money
from alliance_study.simulate import money_panel as simulate_money

CPI = pd.DataFrame(
    {
        "year": [2012, 2013, 2018, 2025],
        "cpi_u": [200.0, 250.0, 250.0, 500.0],
        "deflator_2025": [2.5, 2.0, 2.0, 1.0],
    }
)


def _panel_rows():
    base = {
        "entity_type": "town_district",
        "ppe_total": np.nan,
        "ecs_entitlement": np.nan,
        "alliance_dollars": np.nan,
        "nce_per_pupil": np.nan,
        "adm": np.nan,
        "alliance_cohort": pd.NA,
        **{f"rev_{s}": np.nan for s in (*money.REVENUE_SOURCES, "total")},
        **{f"rev_{s}_pct": np.nan for s in money.REVENUE_SOURCES},
    }
    rows = [
        # An Alliance district: FY2012 (no Alliance dollars yet), FY2013 (shares), FY2018 (amounts).
        {
            **base,
            "district_code": "0150011",
            "district_name": "Bridgeport",
            "year": 2012,
            "alliance_cohort": 2013,
            "nce_per_pupil": 10000.0,
            "adm": 100.0,
            "ecs_entitlement": 500000.0,
            "alliance_dollars": 0.0,
            "rev_local_pct": 30.0,
            "rev_state_pct": 60.0,
            "rev_federal_pct": 10.0,
            "rev_tuition_other_pct": 0.0,
        },
        {
            **base,
            "district_code": "0150011",
            "district_name": "Bridgeport",
            "year": 2013,
            "alliance_cohort": 2013,
            "nce_per_pupil": 11000.0,
            "adm": 100.0,
            "ecs_entitlement": 600000.0,
            "alliance_dollars": 100000.0,
            "rev_local_pct": 30.0,
            "rev_state_pct": 60.0,
            "rev_federal_pct": 10.0,
            "rev_tuition_other_pct": 0.0,
        },
        {
            **base,
            "district_code": "0150011",
            "district_name": "Bridgeport",
            "year": 2018,
            "alliance_cohort": 2013,
            "nce_per_pupil": 12000.0,
            "adm": 200.0,
            "ecs_entitlement": 1000000.0,
            "alliance_dollars": 200000.0,
            "rev_local": 800000.0,
            "rev_state": 1400000.0,
            "rev_federal": 200000.0,
            "rev_tuition_other": 0.0,
            "rev_total": 2400000.0,
            "rev_local_pct": 33.3,
            "rev_state_pct": 58.3,
            "rev_federal_pct": 8.3,
            "rev_tuition_other_pct": 0.0,
        },
        # A never-designated district with EdSight spending only (FY2012: no NCEP row here).
        {
            **base,
            "district_code": "0570011",
            "district_name": "Greenwich",
            "year": 2012,
            "ppe_total": 20000.0,
            "adm": 50.0,
            "rev_local_pct": 90.0,
            "rev_state_pct": 10.0,
            "rev_federal_pct": 0.0,
            "rev_tuition_other_pct": 0.0,
        },
        # Left out: a shared-region member town and a regional district.
        {
            **base,
            "district_code": "0010011",
            "district_name": "Andover",
            "year": 2012,
            "nce_per_pupil": 1.0,
            "adm": 1.0,
        },
        {
            **base,
            "district_code": "2080012",
            "district_name": "Region 8",
            "year": 2012,
            "entity_type": "regional_district",
            "nce_per_pupil": 1.0,
            "adm": 1.0,
        },
    ]
    return pd.DataFrame(rows)


def test_money_panel_by_hand():
    m = money.money_panel(_panel_rows(), CPI).set_index(["district_code", "year"])
    assert set(m.index.get_level_values(0)) == {"0150011", "0570011"}
    b12, b13, b18 = m.loc[("0150011", 2012)], m.loc[("0150011", 2013)], m.loc[("0150011", 2018)]
    assert b12["alliance_pp"] == 0.0 and b13["alliance_pp"] == 1000.0 and b18["alliance_pp"] == 1000.0
    assert b13["ecs_pp"] == 6000.0 and b13["other_ecs_pp"] == 5000.0
    # Shares years: share x spending; amounts years: amount / ADM.
    assert b13["local_pp"] == pytest.approx(0.30 * 11000) and b13["revenue_basis"] == "shares x spending"
    assert b18["local_pp"] == 4000.0 and b18["revenue_pp"] == 12000.0 and b18["revenue_basis"] == "amounts"
    assert b13["revenue_pp"] == pytest.approx(11000.0)
    # 2025 dollars.
    assert b13["spending_pp_real"] == 22000.0 and b12["alliance_pp_real"] == 0.0
    assert b13["group"] == money.COHORT_LABELS[2013]
    g = m.loc[("0570011", 2012)]
    assert (
        g["spending_pp"] == 20000.0 and g["spending_basis"] == "EdSight" and g["group"] == money.OTHER_GROUP
    )
    assert b12["spending_basis"] == "NCEP"


def test_group_series_is_pupil_weighted():
    m = money.money_panel(_panel_rows(), CPI)
    s = money.group_series(m, ["spending_pp"], real=False).set_index(["group", "year"])
    assert s.loc[(money.COHORT_LABELS[2013], 2013), "value"] == 11000.0
    two = m.assign(group="all")
    s = money.group_series(two, ["spending_pp"], real=False).set_index(["group", "year"])
    # FY2012: (10000 * 100 + 20000 * 50) / 150
    assert s.loc[("all", 2012), "value"] == pytest.approx(2_000_000 / 150)
    assert s.loc[("all", 2012), "n_districts"] == 2


def test_rolling_dose_by_hand():
    frame = pd.DataFrame(
        {"district_code": ["a"] * 6, "year": range(2010, 2016), "v": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]}
    )
    dose = money.rolling_dose(frame, "v")
    # 2013: mean of 2010-2013 with 2012 missing = (1 + 2 + 4) / 3; 2012: only 2 values in 2009-2012 -> NaN.
    assert dose.tolist()[3] == pytest.approx(7 / 3) and np.isnan(dose.iloc[2])
    lead = money.rolling_dose(frame, "v", lead=4)
    assert lead.iloc[0] == pytest.approx((2 + 4 + 5) / 3)  # 2011-2014 for 2010


def test_benchmark_conversion():
    # 0.03 grade levels per $1,000 of 2025 dollars, 1/3 SD per grade level, $1 of 2018 = $1.2822 of 2025.
    assert money.per_benchmark_dollars(0.03, 1 / 3, 1.2822) == pytest.approx(0.03 / 3 * 1.2822)


@pytest.mark.parametrize(
    "low, high, verdict",
    [
        (-0.9, -0.1, "supported"),
        (-0.2, 0.5, "rejected"),
        (-0.6, 0.3, "inconclusive"),
        (-0.25, 0.1, "inconclusive"),
    ],
)
def test_crowd_out_verdict_rule(low, high, verdict):
    e = money.Estimate("x", "y", "z", (low + high) / 2, 0.1, low, high, 0.5, 0.28, 10, 5, "")
    assert money.crowd_out_verdict(e) == verdict


# --- simulated truth -----------------------------------------------------------------------------------


def test_simulated_pass_through_and_crowd_out_are_recovered():
    sim = simulate_money(n_units=150, seed=11)
    pt = money.pass_through(sim)
    assert abs(pt.estimate - 0.6) < 3 * pt.se and pt.se < 0.1
    co = money.crowd_out(sim, start=2008)
    assert abs(co.alliance.estimate + 0.3) < 3 * co.alliance.se
    assert abs(co.other_aid_others.estimate + 0.1) < 3 * co.other_aid_others.se
    assert abs(co.other_aid_alliance.estimate + 0.1) < 3 * co.other_aid_alliance.se
    # A crowd-out of -0.3 with this precision is "supported"; none at all is "rejected".
    assert money.crowd_out_verdict(co.alliance) == "supported"
    none = money.crowd_out(simulate_money(n_units=150, crowd_out=0.0, seed=12), start=2008)
    assert money.crowd_out_verdict(none.alliance) == "rejected"


def test_interval_coverage_near_95_percent():
    hits = {"pass_through": 0, "crowd_out": 0}
    n_sim = 300
    for seed in range(n_sim):
        sim = simulate_money(n_units=60, years=range(2009, 2021), n_alliance=20, seed=1000 + seed)
        pt = money.pass_through(sim)
        co = money.crowd_out(sim, start=2009).alliance
        hits["pass_through"] += pt.ci_low <= 0.6 <= pt.ci_high
        hits["crowd_out"] += co.ci_low <= -0.3 <= co.ci_high
    for name, h in hits.items():
        # 95% nominal; with 300 draws the binomial SE is 1.3 points.
        assert 0.92 <= h / n_sim <= 0.98, (name, h / n_sim)


def test_simulated_dose_response_with_a_strong_instrument():
    rng = np.random.default_rng(3)
    n, years = 100, list(range(2008, 2025))
    frame = pd.DataFrame(
        {
            "district_code": np.repeat([f"{i:03d}0011" for i in range(n)], len(years)),
            "year": np.tile(years, n),
        }
    )
    treated = (frame["district_code"].str[:3].astype(int) < 30).to_numpy()
    alliance = np.where(treated & (frame["year"] >= 2013), 1000 + 150 * (frame["year"] - 2013), 0.0)
    unit = rng.normal(0, 1, n)[frame["district_code"].str[:3].astype(int)]
    spend = 15000 + 2000 * unit + 0.8 * alliance + rng.normal(0, 300, len(frame))
    frame["spending_pp_real"] = spend
    frame["alliance_pp_real"] = alliance
    frame["ecs_pp_real"] = 3000 + alliance + rng.normal(0, 100, len(frame))
    frame["spending_basis"] = "NCEP"
    doses = money.dose_frame(
        frame, frame.assign(outcome=0.0)[["district_code", "year", "outcome"]], outcome="outcome"
    )
    k = doses["spending_k"]
    doses["outcome"] = 0.05 * k + unit[: len(doses)] * 0.1 + rng.normal(0, 0.02, len(doses))
    r = money.dose_response(doses, "outcome")
    assert r.strong_instrument and r.first_stage_f > 100
    assert abs(r.iv_spending.estimate - 0.05) < 3 * r.iv_spending.se
    assert abs(r.first_stage.estimate - 0.8) < 0.1
    assert abs(r.lead.estimate) < 3 * r.lead.se + 0.01


# --- the real panel --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_money(real_build):
    build, _ = real_build
    return money.money_panel(build.panel, build.extras["cpi"]), build.panel


@pytest.mark.realdata
def test_real_sample_holds_every_alliance_district(real_money):
    m, panel = real_money
    designated = set(panel.loc[panel["alliance_cohort"].notna(), "district_code"])
    assert len(designated) == 36 and designated <= set(m["district_code"])
    assert m.groupby("group")["district_code"].nunique().to_dict() == {
        money.COHORT_LABELS[2013]: 30,
        money.COHORT_LABELS[2018]: 3,
        money.COHORT_LABELS[2023]: 3,
        money.OTHER_GROUP: 86,
    }


@pytest.mark.realdata
def test_real_shared_region_towns_are_the_towns_whose_revenue_is_far_below_nce(real_money):
    _, panel = real_money
    t = panel[(panel["entity_type"] == "town_district") & panel["year"].between(2018, 2025)]
    ratio = (t["rev_total"] / t["nce"]).groupby(t["district_code"]).median()
    assert set(ratio[ratio < 0.9].index) == set(money.SHARED_REGION_TOWNS)
    assert ratio.drop(list(money.SHARED_REGION_TOWNS)).between(0.95, 1.3).all()


@pytest.mark.realdata
def test_real_estimates_are_finite_and_sane(real_money):
    m, panel = real_money
    for kw in ({}, {"unit_trends": True}):
        pt = money.pass_through(m, **kw)
        assert np.isfinite([pt.estimate, pt.se]).all() and pt.n_clusters == 122
        co = money.crowd_out(m, **kw)
        assert money.crowd_out_verdict(co.alliance) in {"supported", "rejected", "inconclusive"}
    table, pre = money.spending_event_study(m)
    assert table.loc[table["event"] == -1, "estimate"].iloc[0] == 0 and 0 <= pre["p"] <= 1
    r = money.dose_response(money.dose_frame(m, panel))
    assert r.first_stage_f > 0 and r.ols_spending.n_clusters > 100

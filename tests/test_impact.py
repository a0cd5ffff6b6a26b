"""Tests of the impact evaluation (alliance_study.analysis.impact) against simulated truth and
hand-computed cases.

Tolerances are stated in each test. Simulated panels come from ``simulate.staggered_panel`` with fixed
seeds, so every test is deterministic.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alliance_study import simulate
from alliance_study.analysis import impact
from alliance_study.analysis.impact import event_inference as inference_ei
from alliance_study.analysis.impact import honest, inference, regression
from alliance_study.analysis.impact import results as impact_results
from alliance_study.analysis.impact import sample as impact_sample


def _sample(**kwargs) -> pd.DataFrame:
    return impact.prepare_sample(simulate.staggered_panel(**kwargs))


def _panelols_t(sample: pd.DataFrame, outcome: str, covariates=()) -> tuple[float, float]:
    did = impact.twfe_did(sample, outcome, covariates)
    return did.estimate, did.estimate / did.se


def _labels(sample: pd.DataFrame) -> tuple[np.ndarray, list[float]]:
    first = sample.groupby("district_code")["cohort"].first().astype("Float64")
    values = first.to_numpy(dtype=float, na_value=np.nan)
    cohorts = sorted({float(c) for c in values[np.isfinite(values)]})
    labels = np.zeros(len(values), dtype=np.int64)
    for k, g in enumerate(cohorts):
        labels[values == g] = k + 1
    return labels, cohorts


def _relabel(sample: pd.DataFrame, labels: np.ndarray, cohorts: list[float]) -> pd.DataFrame:
    codes = np.unique(sample["district_code"])
    new = {c: (pd.NA if lab == 0 else int(cohorts[lab - 1])) for c, lab in zip(codes, labels, strict=True)}
    out = sample.drop(columns=["treated", "post", "event_time"]).assign(
        cohort=sample["district_code"].map(new).astype("Int64"))
    return impact.prepare_sample(out)


# --- hand-checked formulas --------------------------------------------------------------------------------

def test_mde_is_2_8_standard_errors():
    # 1.959964 + 0.841621 = 2.801585 (normal quantiles for a two-sided 5% test with 80% power).
    assert impact.mde(0.1) == pytest.approx(0.2801585, abs=1e-6)
    assert impact.Z_MDE == pytest.approx(2.801585, abs=1e-6)
    # With 29 degrees of freedom: t(0.975, 29) = 2.045230, t(0.8, 29) = 0.854192.
    assert impact.mde(1.0, df=29) == pytest.approx(2.045230 + 0.854192, abs=1e-5)
    assert math.isnan(impact.mde(float("nan")))


def test_projector_equals_dummy_regression():
    s = _sample(n_units=25, years=range(2009, 2016), cohorts={2013: 8}, missing_rate=0.15, seed=3)
    proj, _ = inference.projector(s, ["x1"], [])
    units, _ = impact_sample.integer_codes(s["district_code"])
    years, _ = impact_sample.integer_codes(s["year"])
    z = np.column_stack([np.eye(units.max() + 1)[units], np.eye(years.max() + 1)[years],
                         regression.covariate_design(s, ["x1"], []).to_numpy()])
    v = s["y"].to_numpy()
    expected = v - z @ np.linalg.lstsq(z, v, rcond=None)[0]
    np.testing.assert_allclose(proj.residualize(v), expected, atol=1e-10)


def test_relative_magnitudes_is_the_honest_conditional_set():
    # Pre: -3 -> 0.10, -2 -> 0.05, -1 -> 0 (reference); post: 0 -> 0.30, 1 -> 0.40; SE 0.01 each, independent.
    events = [-3, -2, 0, 1]
    est = np.array([0.10, 0.05, 0.30, 0.40])
    table, vc = impact_results.event_table(events, est, np.eye(4) * 1e-4, dict.fromkeys(events, 10), -1, 99,
                                           0.05)
    study = impact.EventStudy("twfe", "y", table, vc, -1, 100, 10, 99)
    sens = impact.relative_magnitudes(study, mbar=(0, 1))
    # Largest change between consecutive pre-period years: max(|0.05 - 0.10|, |0 - 0.05|) = 0.05.
    assert sens.max_pre_violation == pytest.approx(0.05)
    assert sens.estimate == pytest.approx(0.35)
    assert sens.se == pytest.approx(math.sqrt(2e-4) / 2)
    # Mbar = 0 (no change after the reference): the usual normal interval of the post average.
    row = sens.table.set_index("mbar").loc[0.0]
    assert row["lower"] == pytest.approx(0.35 - 1.959964 * sens.se, abs=1e-4)
    # Mbar = 1: post changes up to 0.05 a year allow a bias of 0.05 * mean(1, 2) = 0.075 (identified set
    # 0.275 to 0.425), and the set must hold it; the breakdown is where zero enters.
    row = sens.table.set_index("mbar").loc[1.0]
    assert row["lower"] < 0.275 and row["upper"] > 0.425
    vec = honest.event_vector(study)
    assert not honest.rm_test(vec, 0.0, sens.breakdown * 0.95)
    assert honest.rm_test(vec, 0.0, sens.breakdown * 1.05)


def test_pretrend_test_hand_computed():
    events = [-3, -2, 0]
    table, vc = impact_results.event_table(events, np.array([0.2, -0.1, 0.5]), np.diag([0.01, 0.04, 0.01]),
                                    {-3: 10, -2: 10, 0: 10}, -1, 50, 0.05)
    study = impact.EventStudy("twfe", "y", table, vc, -1, 51, 10, 50)
    # Wald = 0.2^2/0.01 + 0.1^2/0.04 = 4.25, F = 2.125 on (2, 50).
    out = impact.pretrend_test(study)
    assert out["f_stat"] == pytest.approx(2.125)
    assert out["p_value"] == pytest.approx(stats.f.sf(2.125, 2, 50))
    # Leads on fewer than min_treated districts are left out.
    assert impact.pretrend_test(study, min_treated=11)["df1"] == 0


def test_callaway_santanna_hand_computed():
    # Two cohorts (2 and 3) and two never-treated units over years 1-3; balanced.
    rows = [("a", 2, [1.0, 3.0, 4.0]), ("b", 2, [2.0, 5.0, 5.0]), ("c", 3, [0.0, 1.0, 4.0]),
            ("d", None, [1.0, 2.0, 3.0]), ("e", None, [0.0, 0.0, 2.0])]
    frame = pd.DataFrame([{"district_code": u, "year": t + 1, "cohort": g, "y": y[t]}
                          for u, g, y in rows for t in range(3)])
    frame["cohort"] = frame["cohort"].astype("Int64")
    cs = impact.callaway_santanna(impact.prepare_sample(frame), "y")
    gt = cs.extra["group_time"].set_index(["cohort", "year"])["att"]
    # ATT(2, 2): treated change (2 + 3)/2 = 2.5; control change (1 + 0)/2 = 0.5 -> 2.0.
    assert gt[(2, 2)] == pytest.approx(2.0)
    # ATT(2, 3): base year 1; treated (3 + 3)/2 = 3; control (2 + 2)/2 = 2 -> 1.0.
    assert gt[(2, 3)] == pytest.approx(1.0)
    # ATT(3, 3): base year 2; treated 3; control (1 + 2)/2 = 1.5 -> 1.5. ATT(3, 1): (0 - 1) - (-0.5) = -0.5.
    assert gt[(3, 3)] == pytest.approx(1.5)
    assert gt[(3, 1)] == pytest.approx(-0.5)
    table = cs.table.set_index("event_time")["estimate"]
    # Event time 0 averages ATT(2, 2) (2 districts) and ATT(3, 3) (1 district): (2*2 + 1.5)/3.
    assert table[0] == pytest.approx((2 * 2.0 + 1.5) / 3)
    assert table[1] == pytest.approx(1.0)


# --- the fast paths reproduce PanelOLS exactly ------------------------------------------------------------

@pytest.mark.parametrize("kwargs, covariates", [
    ({"cohorts": {2013: 20}}, ()),
    ({"cohorts": {2012: 15, 2015: 5}, "missing_years": (2014,), "missing_rate": 0.1}, ("x1",)),
])
def test_fast_randomization_coefficients_equal_panelols(kwargs, covariates):
    s = _sample(n_units=60, years=range(2009, 2018), seed=11, **kwargs)
    labels, cohorts = _labels(s)
    rng = np.random.default_rng(0)
    perms = np.vstack([labels] + [rng.permutation(labels) for _ in range(3)])
    fast = impact.permutation_coefficients(s, "y", perms, cohorts, covariates)
    fast_t = impact.permutation_t_statistics(s, "y", perms, cohorts, covariates)
    for k in range(len(perms)):
        b, t = _panelols_t(_relabel(s, perms[k], cohorts), "y", covariates)
        assert fast[k] == pytest.approx(b, rel=1e-9, abs=1e-12)
        assert fast_t[k] == pytest.approx(t, rel=1e-8)
    ri = impact.randomization_inference(s, "y", n_permutations=50, covariates=covariates, seed=1,
                                        studentized=True)
    assert ri.estimate == pytest.approx(fast[0], rel=1e-12)


def test_sun_abraham_equals_callaway_santanna_and_pyfixest_on_a_balanced_panel():
    s = _sample(n_units=80, years=range(2009, 2018), cohorts={2012: 20, 2015: 10}, dynamic_slope=0.05,
                cohort_effects={2015: 0.2}, seed=4)
    cs = impact.callaway_santanna(s, "y")
    sa = impact.sun_abraham(s, "y")
    both = impact.compare_event_studies([cs, sa], baseline="callaway_santanna")
    np.testing.assert_allclose(both["sun_abraham"], both["callaway_santanna"], atol=1e-10)
    pf = pytest.importorskip("pyfixest")
    frame = s.assign(g=s["cohort"].fillna(0).astype(int), unit=s["district_code"].astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = pf.event_study(frame, yname="y", idname="unit", tname="year", gname="g",
                             estimator="saturated").aggregate()
    theirs = agg["Estimate"].astype(float)
    theirs.index = theirs.index.astype(float).astype(int)
    mine = sa.table.set_index("event_time")["estimate"].reindex(theirs.index)
    np.testing.assert_allclose(mine.to_numpy(), theirs.to_numpy(), atol=1e-8)


# --- estimators recover known effects ---------------------------------------------------------------------

def test_estimators_recover_a_constant_effect():
    # Six panels like the 2013 design (25 of 120 districts treated, chosen among low performers, no data
    # in 2014), effect 0.2, AR(0.5) noise. Tolerance: the mean over seeds within 0.03 of the truth (the
    # standard error of that mean is about 0.01 for the static estimate, 0.015 for the event-time ones).
    errors = {"did": [], "twfe": [], "cs": [], "sa": []}
    for seed in range(6):
        s = _sample(n_units=120, cohorts={2013: 25}, effect=0.2, ar=0.5, noise_sd=0.1,
                    missing_years=(2014,), select_on_level=1.0, seed=seed)
        errors["did"].append(impact.twfe_did(s, "y").estimate - 0.2)
        errors["twfe"].append(impact.twfe_event_study(s, "y").post_average()["estimate"] - 0.2)
        errors["cs"].append(impact.callaway_santanna(s, "y").post_average()["estimate"] - 0.2)
        errors["sa"].append(impact.sun_abraham(s, "y").post_average()["estimate"] - 0.2)
    for name, err in errors.items():
        assert abs(np.mean(err)) < 0.03, name


def test_robust_estimator_recovers_heterogeneous_staggered_effects_where_twfe_is_biased():
    # Effects grow 0.1 a year and the later cohort's are 0.3 higher; already-treated districts then act as
    # controls in static TWFE, which understates the average effect on treated district-years.
    twfe_err, cs_err, cs_event_err = [], [], []
    for seed in range(5):
        s = _sample(n_units=100, years=range(2008, 2020), cohorts={2011: 40, 2015: 40}, effect=0.0,
                    dynamic_slope=0.1, cohort_effects={2015: 0.3}, noise_sd=0.2, seed=seed)
        truth = s.loc[s["post"] == 1, "tau"].mean()
        twfe_err.append(impact.twfe_did(s, "y").estimate - truth)
        cs = impact.callaway_santanna(s, "y")
        cs_err.append(cs.post_average(weighting="treated")["estimate"] - truth)
        by_event = s.loc[s["post"] == 1].groupby("event_time")["tau"].mean()
        est = cs.table.set_index("event_time")["estimate"].reindex(by_event.index)
        cs_event_err.append((est - by_event).to_numpy())
    # Robust: mean error within 0.04 and every event time's mean error within 0.08.
    assert abs(np.mean(cs_err)) < 0.04
    assert np.max(np.abs(np.mean(cs_event_err, axis=0))) < 0.08
    # TWFE: biased down by more than 0.12 (the truth is about 0.44).
    assert np.mean(twfe_err) < -0.12


def test_pretrend_test_detects_a_violation_and_placebo_years_catch_it():
    s = _sample(effect=0.0, pre_trend=0.1, noise_sd=0.2, missing_years=(2014,), seed=5)
    study = impact.twfe_event_study(s, "y")
    assert impact.pretrend_test(study)["p_value"] < 0.01
    placebo = impact.placebo_years(s, "y", shifts=(2,))
    assert placebo.loc[0, "p_value"] < 0.05
    # Without a violation the placebo estimate is small.
    clean = _sample(effect=0.3, seed=6)
    placebo = impact.placebo_years(clean, "y", shifts=(1, 2))
    assert (placebo["estimate"].abs() < 3 * placebo["se"]).all()
    assert placebo["fake_years"].tolist() == ["2012", "2011"]


# --- inference: size and coverage ---------------------------------------------------------------------------

def _redraw(sample: pd.DataFrame, rng: np.random.Generator, effect: float, ar: float = 0.5,
            noise_sd: float = 0.3) -> pd.DataFrame:
    """New outcomes on a fixed design: district and year effects, AR(1) noise within district, effect."""
    units, _ = impact_sample.integer_codes(sample["district_code"])
    years, _ = impact_sample.integer_codes(sample["year"])
    n_u, n_t = units.max() + 1, years.max() + 1
    eps = np.empty((n_u, n_t))
    eps[:, 0] = rng.normal(0, noise_sd, n_u)
    for j in range(1, n_t):
        eps[:, j] = ar * eps[:, j - 1] + rng.normal(0, noise_sd * math.sqrt(1 - ar**2), n_u)
    y = rng.normal(size=n_u)[units] + rng.normal(0, 0.2, n_t)[years] + eps[units, years] \
        + effect * sample["post"].to_numpy()
    return sample.assign(y=y)


def test_randomization_inference_p_values_are_uniform_under_no_effect():
    # 200 panels with no effect (50 districts, 12 treated, AR(0.3) noise); 499 permutations each.
    # Tolerance: rejection at 5% between 2% and 9% (the binomial 99% range for 200 draws at 5% is about
    # 1.5%-9.5%), and a KS test of uniformity at the 1% level.
    design = _sample(n_units=50, years=range(2009, 2017), cohorts={2013: 12}, seed=0)
    rng = np.random.default_rng(2024)
    pvals = np.array([impact.randomization_inference(_redraw(design, rng, 0.0, ar=0.3), "y",
                                                     n_permutations=499, seed=k).p_value for k in range(200)])
    assert 0.02 <= np.mean(pvals <= 0.05) <= 0.09
    assert stats.kstest(pvals, "uniform").pvalue > 0.01


def test_cluster_robust_intervals_cover_the_truth():
    # 200 panels, effect 0.25, AR(0.5) noise, 60 districts (15 treated). Tolerance: coverage of the 95%
    # interval (t with G - 1 df) between 91% and 98.5% (about +-2.5 binomial standard errors). The fits use
    # fwl_did, which equals PanelOLS's estimate and standard error (checked here on the first panel).
    design = _sample(n_units=60, years=range(2009, 2017), cohorts={2013: 15}, seed=0)
    rng = np.random.default_rng(7)
    q = stats.t.ppf(0.975, 59)
    covered = []
    for k in range(200):
        s = _redraw(design, rng, 0.25)
        b, se = impact.fwl_did(s, "y")
        if k == 0:
            did = impact.twfe_did(s, "y")
            assert (b, se) == pytest.approx((did.estimate, did.se), rel=1e-9)
        covered.append(b - q * se <= 0.25 <= b + q * se)
    assert 0.91 <= np.mean(covered) <= 0.985


def test_wild_bootstrap_matches_brute_force_enumeration():
    # Eight districts (3 treated) and five years: all 2^8 = 256 Rademacher sign vectors are enumerated. The
    # brute force refits OLS with dummies for every sign vector and computes the CR1 t by hand.
    s = _sample(n_units=8, years=range(2011, 2016), cohorts={2013: 3}, effect=0.3, seed=2)
    res = impact.wild_cluster_bootstrap(s, "y", n_boot=999, weights="rademacher")
    assert res.enumerated and len(res.t_draws) == 256
    b, t = _panelols_t(s, "y")
    assert res.estimate == pytest.approx(b, rel=1e-10)
    assert res.t_stat == pytest.approx(t, rel=1e-9)

    units, _ = impact_sample.integer_codes(s["district_code"])
    years, _ = impact_sample.integer_codes(s["year"])
    fe = np.column_stack([np.eye(8)[units], np.eye(5)[years][:, 1:]])
    d = s["post"].to_numpy(dtype=float)
    y = s["y"].to_numpy()
    restricted_fit = fe @ np.linalg.lstsq(fe, y, rcond=None)[0]
    u = y - restricted_fit
    x = np.column_stack([d, fe])
    n, g = len(y), 8
    xtx_inv = np.linalg.pinv(x.T @ x)
    v_all, _ = inference._bootstrap_weights("rademacher", g, 999, np.random.default_rng(0))
    t_brute = []
    for v in v_all.T:
        y_star = restricted_fit + v[units] * u
        coef = xtx_inv @ x.T @ y_star
        e = y_star - x @ coef
        scores = np.array([x[units == k].T @ e[units == k] for k in range(g)])
        vcov = xtx_inv @ (scores.T @ scores) @ xtx_inv * g / (g - 1) * (n - 1) / n
        t_brute.append(coef[0] / math.sqrt(vcov[0, 0]))
    np.testing.assert_allclose(res.t_draws, t_brute, rtol=1e-8)
    assert res.p_value == pytest.approx(np.mean(np.abs(t_brute) >= abs(t) - 1e-12))


def test_wild_bootstrap_p_values_are_reasonable():
    # A large effect is detected; under no effect the rejection rate at 5% over 100 panels lies in 1%-11%.
    s = _sample(n_units=40, cohorts={2013: 8}, effect=1.0, seed=9)
    assert impact.wild_cluster_bootstrap(s, "y", n_boot=999, seed=1).p_value < 0.01
    pvals = []
    for seed in range(100):
        s = _sample(n_units=40, years=range(2010, 2017), cohorts={2013: 8}, effect=0.0, ar=0.3,
                    seed=500 + seed)
        pvals.append(impact.wild_cluster_bootstrap(s, "y", n_boot=399, weights="webb", seed=seed).p_value)
    assert 0.01 <= np.mean(np.array(pvals) <= 0.05) <= 0.11


# --- dose-response and the real panel -----------------------------------------------------------------------

def _money_panel(beta: float, seed: int = 0) -> pd.DataFrame:
    """A panel shaped like the real one: 60 town districts, 20 designated in 2013 with growing dollars."""
    rng = np.random.default_rng(seed)
    years = np.arange(2009, 2020)
    rows = []
    for i in range(60):
        treated = i < 20
        level = rng.normal()
        scale = rng.uniform(0.5, 2.0)
        for y in years:
            per_pupil = (scale * 400 * min(y - 2012, 4) if treated and y >= 2013 else 0.0) if y >= 2012 \
                else np.nan
            rows.append({"district_code": f"{i + 1:05d}11", "year": int(y), "entity_type": "town_district",
                         "alliance_cohort": 2013 if treated else pd.NA,
                         "alliance_dollars_per_pupil": per_pupil, "enrollment": 3000.0, "level": level})
    panel = pd.DataFrame(rows)
    panel["alliance_cohort"] = panel["alliance_cohort"].astype("Int64")
    dose = impact.alliance_dose(panel)
    panel["seda_gcs_eb"] = panel["level"] + 0.05 * (panel["year"] - 2009) + beta * dose.fillna(0) \
        + rng.normal(0, 0.1, len(panel))
    return panel


def test_alliance_dose_is_a_four_year_average_in_thousands():
    panel = _money_panel(0.0)
    one = panel.loc[panel["district_code"] == "0000111"].set_index("year")
    dose = impact.alliance_dose(panel).loc[one.index.map(lambda y: panel.index[
        (panel["district_code"] == "0000111") & (panel["year"] == y)][0])]
    pp = one["alliance_dollars_per_pupil"].fillna(0.0)
    # 2016: mean of 2013-2016 per-pupil dollars / 1000; 2010: years before the program count as 0.
    assert dose.to_numpy()[list(one.index).index(2016)] == pytest.approx(pp.loc[2013:2016].mean() / 1000)
    assert dose.to_numpy()[list(one.index).index(2010)] == 0.0


def test_dose_response_recovers_the_slope_and_converts_to_sd():
    panel = _money_panel(beta=0.3, seed=1)
    res = impact.dose_response(panel, "seda_gcs_eb", impact.Design("d", baseline_years=(2009, 2011)))
    assert res.estimate == pytest.approx(0.3, abs=0.05)
    assert res.estimate_sd == pytest.approx(res.estimate * impact.SD_PER_GRADE_LEVEL)
    assert res.benchmark == impact.JACKSON_MACKEVICIUS_SD_PER_1000 == 0.0316


@pytest.fixture(scope="module")
def real_panel(real_panel):
    """The session's real panel (tests/conftest.py) with the analysis columns."""
    return impact.add_analysis_columns(real_panel.copy())


def test_samples_of_the_real_panel(real_panel):
    main = impact.build_sample(real_panel, "seda_gcs_eb", impact.Design("main"))
    treated = main.loc[main["treated"] == 1, "district_code"].unique()
    controls = main.loc[main["treated"] == 0, "district_code"].unique()
    assert len(treated) == 30 and set(main["cohort"].dropna().unique()) == {2013}
    assert not set(treated) & set(controls)
    ever = set(real_panel.loc[real_panel["alliance_cohort"].notna(), "district_code"])
    assert not set(controls) & ever
    near = impact.build_sample(real_panel, "seda_gcs_eb", impact.Design("nm", comparison="near_miss",
                                                                          near_miss_n=25))
    assert near.loc[near["treated"] == 0, "district_code"].nunique() == 25
    # The near-miss districts are the lowest never-designated ones at baseline.
    base = impact.baseline_values(real_panel, ["seda_gcs_eb"], (2009, 2012))["seda_gcs_eb"]
    chosen = base.loc[near.loc[near["treated"] == 0, "district_code"].unique()]
    others = base.loc[list(set(controls) - set(chosen.index))].dropna()
    assert chosen.max() <= others.min()
    # Absenteeism starts in 2012: one pre-period year, which is the reference, so no pre-trend test.
    absent = impact.build_sample(real_panel, "chronic_absent_rate", impact.Design("main"))
    study = impact.twfe_event_study(absent, "chronic_absent_rate")
    assert study.reference == -1 and math.isnan(impact.pretrend_test(study)["p_value"])


# --- the headline: the event study's post-period average and its few-cluster inference ----------------------

def test_event_study_wild_bootstrap_tests_the_post_average():
    # Unbalanced, two cohorts and a covariate: the reparametrized one-regressor bootstrap reproduces the
    # event study's post average and its cluster-robust t exactly (rel 1e-9).
    s = _sample(n_units=50, years=range(2009, 2018), cohorts={2013: 12, 2015: 6}, effect=0.3,
                missing_rate=0.1, missing_years=(2014,), seed=8)
    for covariates in ((), ("x1",)):
        tw = impact.twfe_event_study(s, "y", covariates)
        post = tw.post_average()
        res = impact.event_study_wild_bootstrap(s, "y", tw, n_boot=199, covariates=covariates, seed=0)
        assert res.estimate == pytest.approx(post["estimate"], rel=1e-9)
        assert res.t_stat == pytest.approx(post["estimate"] / post["se"], rel=1e-9)
    # Size under no effect: rejection at 5% over 80 panels within 0-12.5%.
    pvals = []
    for seed in range(80):
        s0 = _sample(n_units=40, years=range(2010, 2017), cohorts={2013: 8}, effect=0.0, ar=0.3,
                     seed=700 + seed)
        tw = impact.twfe_event_study(s0, "y")
        pvals.append(impact.event_study_wild_bootstrap(s0, "y", tw, n_boot=199, seed=seed).p_value)
    assert np.mean(np.array(pvals) <= 0.05) <= 0.125


def test_cs_permutation_statistics_equal_callaway_santanna_refits():
    # Every permutation's closed-form CS post average and t equal callaway_santanna on the relabeled sample.
    s = _sample(n_units=45, years=range(2009, 2018), cohorts={2012: 10, 2015: 5}, effect=0.2,
                missing_rate=0.1, seed=12)
    labels, cohorts = _labels(s)
    rng = np.random.default_rng(1)
    perms = np.vstack([labels] + [rng.permutation(labels) for _ in range(4)])
    est, ts = inference_ei.cs_permutation_statistics(s, "y", perms, cohorts)
    for k in range(len(perms)):
        post = impact.callaway_santanna(_relabel(s, perms[k], cohorts), "y").post_average()
        assert est[k] == pytest.approx(post["estimate"], rel=1e-10, abs=1e-12)
        assert ts[k] == pytest.approx(post["estimate"] / post["se"], rel=1e-9)


def test_cs_randomization_inference_is_uniform_under_no_effect():
    # 150 panels with no effect; 199 permutations each. Rejection at 5% between 1% and 10%, KS at 1%.
    design = _sample(n_units=40, years=range(2009, 2017), cohorts={2013: 10}, seed=0)
    rng = np.random.default_rng(99)
    res = [impact.cs_randomization_inference(_redraw(design, rng, 0.0, ar=0.3), "y", 199, seed=k)
           for k in range(150)]
    for p in (np.array([r.p_value for r in res]), np.array([r.p_value_t for r in res])):
        assert 0.01 <= np.mean(p <= 0.05) <= 0.10
        assert stats.kstest(p, "uniform").pvalue > 0.01


def test_trend_adjusted_hand_computed():
    # Pre: -3 -> -0.2, -2 -> -0.1, -1 reference (0): a line of slope 0.1 through all three points, so the
    # adjustment removes 0.1 * (e + 1) from each post estimate. Post: 0 -> 0.5, 1 -> 0.7.
    events = [-3, -2, 0, 1]
    est = np.array([-0.2, -0.1, 0.5, 0.7])
    v = np.diag([0.01, 0.02, 0.03, 0.04])
    table, vc = impact_results.event_table(events, est, v, dict.fromkeys(events, 10), -1, 49, 0.05)
    study = impact.EventStudy("twfe", "y", table, vc, -1, 50, 10, 49)
    adj = impact.trend_adjusted(study)
    assert adj.slope == pytest.approx(0.1)
    assert adj.estimate == pytest.approx(((0.5 - 0.1) + (0.7 - 0.2)) / 2)
    # c'b with c over (-3, -2, 0, 1): the line at e is a combination of b_-3 and b_-2 (fit of three points).
    z = np.array([[1, -3], [1, -2], [1, -1]], dtype=float)
    fit = np.linalg.pinv(z)
    c = np.zeros(4)
    c[2:] = 0.5
    for e in (0, 1):
        w = np.array([1.0, e]) @ fit
        c[0] -= w[0] / 2
        c[1] -= w[1] / 2
    assert adj.se == pytest.approx(math.sqrt(c @ v @ c))
    # Leaving out the last lead: the line through (-3, -0.2) and the reference has slope 0.1 too.
    assert impact.trend_adjusted(study, exclude=[-2]).slope == pytest.approx(0.1)
    assert impact.pretrend_test(study, exclude=[-2])["df1"] == 1


def test_trend_adjusted_recovers_the_effect_under_a_linear_pre_trend():
    # A linear pre-trend of 0.05 a year in the treated districts' untreated outcome biases the plain post
    # average; the trend-adjusted one recovers the effect 0.3 (mean error within 0.03 over 60 panels) and its
    # 95% interval covers it in 88%-99% of them (about +-2.5 binomial SE around 95% for 60 draws).
    errors, covered, plain = [], [], []
    for seed in range(60):
        s = _sample(n_units=60, years=range(2008, 2018), cohorts={2013: 15}, effect=0.3, pre_trend=0.05,
                    noise_sd=0.2, seed=300 + seed)
        tw = impact.twfe_event_study(s, "y")
        adj = impact.trend_adjusted(tw)
        errors.append(adj.estimate - 0.3)
        covered.append(adj.ci_low <= 0.3 <= adj.ci_high)
        plain.append(tw.post_average()["estimate"] - 0.3)
    assert abs(np.mean(errors)) < 0.03
    assert np.mean(plain) > 0.1
    assert 0.88 <= np.mean(covered) <= 0.99


# --- pinned distributions and constants ------------------------------------------------------------------

def test_webb_and_rademacher_weights_are_pinned():
    # Webb (2023): six points +-sqrt(3/2), +-1, +-sqrt(1/2), equally likely: mean 0, variance 1, E v^4 = 7/6.
    pts = inference.WEBB_POINTS
    np.testing.assert_allclose(np.sort(pts), [-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0,
                                              math.sqrt(1.5)], rtol=0, atol=1e-15)
    assert pts.mean() == pytest.approx(0.0, abs=1e-15)
    assert (pts ** 2).mean() == pytest.approx(1.0, abs=1e-15)
    assert (pts ** 4).mean() == pytest.approx(7 / 6, abs=1e-14)
    draws, enumerated = inference._bootstrap_weights("webb", 50, 4000, np.random.default_rng(0))
    assert not enumerated and draws.shape == (50, 4000)
    values, counts = np.unique(draws, return_counts=True)
    np.testing.assert_allclose(values, np.sort(pts))
    # Each point with probability 1/6: 200,000 draws, 5 binomial SE is about 0.004.
    np.testing.assert_allclose(counts / draws.size, 1 / 6, atol=0.005)
    assert draws.var() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(inference.RADEMACHER_POINTS, [-1.0, 1.0])
    rad, enumerated = inference._bootstrap_weights("rademacher", 40, 1000, np.random.default_rng(0))
    assert not enumerated and set(np.unique(rad)) == {-1.0, 1.0}
    assert abs(rad.mean()) < 0.01
    full, enumerated = inference._bootstrap_weights("rademacher", 4, 999, np.random.default_rng(0))
    assert enumerated and full.shape == (4, 16) and len({tuple(c) for c in full.T}) == 16
    with pytest.raises(ValueError):
        inference._bootstrap_weights("mammen", 4, 10, np.random.default_rng(0))


def test_constants_are_pinned():
    # 80% power, two-sided 5%: 1.959964 + 0.841621; the benchmark and the grade-level conversion are cited.
    assert impact.Z_MDE == pytest.approx(stats.norm.ppf(0.975) + stats.norm.ppf(0.8), abs=1e-12)
    assert impact.JACKSON_MACKEVICIUS_SD_PER_1000 == 0.0316
    assert impact.SD_PER_GRADE_LEVEL == pytest.approx(1 / 3)

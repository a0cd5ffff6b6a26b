"""Tests of the impact robustness modules (issue 15): the one-coefficient post average (weighted, by group),
multiple testing (Holm, Romano-Wolf), power, functional form, heterogeneity, leave-one-out and the bundled
programs. Simulated panels with known effects, hand-computed cases and pyfixest as an oracle. Every
simulation has a fixed seed; tolerances are stated (about +-2.5 binomial standard errors for rates).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alliance_study import simulate
from alliance_study.analysis import impact
from alliance_study.analysis.impact import (
    bundled,
    forms,
    heterogeneity,
    influence,
    multiple,
    postavg,
    power,
)
from alliance_study.analysis.impact import sample as impact_sample


def _design(n_units=40, treated=10, years=range(2009, 2017), seed=0, **kwargs) -> pd.DataFrame:
    return impact.prepare_sample(simulate.staggered_panel(n_units=n_units, years=years,
                                                          cohorts={2013: treated}, seed=seed, **kwargs))


def _outcomes(sample: pd.DataFrame, rng: np.random.Generator, effects: dict[str, np.ndarray | float],
              ar: float = 0.4, noise_sd: float = 0.3, common: float = 0.6) -> pd.DataFrame:
    """New outcomes on a fixed design: district and year effects, AR(1) noise within district with a
    component shared by all outcomes (correlation ``common``), plus ``effect * post`` (an effect may be an
    array, one value per row)."""
    units, _ = impact_sample.integer_codes(sample["district_code"])
    years, _ = impact_sample.integer_codes(sample["year"])
    n_u, n_t = units.max() + 1, years.max() + 1

    def noise() -> np.ndarray:
        eps = np.empty((n_u, n_t))
        eps[:, 0] = rng.normal(0, noise_sd, n_u)
        for j in range(1, n_t):
            eps[:, j] = ar * eps[:, j - 1] + rng.normal(0, noise_sd * math.sqrt(1 - ar**2), n_u)
        return eps[units, years]

    shared = noise()
    post = sample["post"].to_numpy(dtype=float)
    out = sample.copy()
    for name, effect in effects.items():
        eps = math.sqrt(common) * shared + math.sqrt(1 - common) * noise()
        out[name] = (rng.normal(size=n_u)[units] + rng.normal(0, 0.2, n_t)[years] + eps
                     + np.asarray(effect, dtype=float) * post)
    return out


# --- the post average as one coefficient --------------------------------------------------------------------

def test_post_average_fit_equals_panelols_event_study():
    # Unbalanced, two cohorts, with and without a covariate: estimate and SE equal PanelOLS's (rel 1e-9).
    s = impact.prepare_sample(simulate.staggered_panel(n_units=50, years=range(2009, 2018),
                                                       cohorts={2013: 12, 2015: 6}, effect=0.3,
                                                       missing_rate=0.1, missing_years=(2014,), seed=8))
    for covariates in ((), ("x1",)):
        post = impact.twfe_event_study(s, "y", covariates).post_average()
        fit = postavg.post_average_fit(s, "y", covariates)
        for key in ("estimate", "se", "p_value", "mde"):
            assert fit[key] == pytest.approx(post[key], rel=1e-9)
    # One group of every treated district is the same fit; with two groups the F test equals the t test.
    groups = {c: "a" if i % 2 else "b" for i, c in enumerate(sorted(s.loc[s["treated"] == 1,
                                                                          "district_code"].unique()))}
    one = postavg.group_post_averages(s, "y", {c: "all" for c in groups})
    assert one["estimate"].iloc[0] == pytest.approx(postavg.post_average_fit(s, "y")["estimate"], rel=1e-9)
    two = postavg.group_post_averages(s, "y", groups)
    diff = postavg.group_differences(two)
    assert diff["difference"] == pytest.approx(two["estimate"].iloc[1] - two["estimate"].iloc[0])
    assert diff["wald_p"] == pytest.approx(diff["p_value"], rel=1e-9)
    assert two["n_treated"].tolist() == [9, 9]


def _pyfixest_post_average(s: pd.DataFrame, weights: dict[str, float]) -> tuple[float, float]:
    pf = pytest.importorskip("pyfixest")
    ref = impact.default_reference(s)
    events = sorted(int(e) for e in s["event_time"].dropna().unique() if int(e) != ref)
    frame = pd.DataFrame({"y": s["y"], "unit": s["district_code"], "year": s["year"],
                          "w": s["district_code"].map(weights).astype(float)})
    names = []
    for e in events:
        name = f"ev_{'m' if e < 0 else 'p'}{abs(e)}"
        frame[name] = (s["event_time"] == e).fillna(False).astype(float).to_numpy()
        names.append(name)
    fit = pf.feols(f"y ~ {' + '.join(names)} | unit + year", data=frame, weights="w",
                   vcov={"CRV1": "unit"}, ssc=pf.ssc(k_adj=False, G_adj=True))
    coef = fit.coef()
    post = [n for n, e in zip(names, events, strict=True) if e >= 0]
    c = np.array([1.0 / len(post) if n in post else 0.0 for n in coef.index])
    return float(c @ coef.to_numpy()), float(np.sqrt(c @ fit._vcov @ c))


def test_weighted_post_average_equals_pyfixest():
    # Oracle: pyfixest's weighted TWFE event study (district and year effects, CRV1 by district). Estimates
    # agree to 1e-8; pyfixest's SE (G/(G-1) only) times sqrt((N-1)/N), the package's factor, to 1e-6.
    s = impact.prepare_sample(simulate.staggered_panel(n_units=45, years=range(2009, 2018),
                                                       cohorts={2013: 12}, effect=0.3, missing_rate=0.1,
                                                       seed=5))
    rng = np.random.default_rng(3)
    weights = {c: float(rng.uniform(100, 5000)) for c in s["district_code"].unique()}
    est, se = _pyfixest_post_average(s, weights)
    fit = postavg.post_average_fit(s, "y", weights=weights)
    n = len(s)
    assert fit["estimate"] == pytest.approx(est, abs=1e-8)
    assert fit["se"] == pytest.approx(se * math.sqrt((n - 1) / n), rel=1e-6)
    # Equal weights are the unweighted fit.
    flat = postavg.post_average_fit(s, "y", weights={c: 7.0 for c in weights})
    assert flat["estimate"] == pytest.approx(postavg.post_average_fit(s, "y")["estimate"], rel=1e-10)
    with pytest.raises(ValueError, match="no positive weight"):
        postavg.post_average_fit(s, "y", weights={c: 1.0 for c in list(weights)[1:]})


def test_weighted_estimate_recovers_the_student_weighted_effect_with_95pct_coverage():
    # Effects grow with district size (0.1 to 0.7); the weighted estimate targets the size-weighted mean of
    # the treated districts' effects, the unweighted one the plain mean. 200 panels of 60 districts (15
    # treated): coverage of the weighted 95% interval within 91-98.5%, and the unweighted estimate's mean is
    # off the weighted truth by more than 0.05 (so the test can tell the two apart).
    s = _design(n_units=60, treated=15, seed=11)
    codes = np.unique(s["district_code"])
    rng = np.random.default_rng(21)
    size = dict(zip(codes, rng.lognormal(7, 1, len(codes)), strict=True))
    treated = sorted(s.loc[s["treated"] == 1, "district_code"].unique())
    rank = pd.Series(size).loc[treated].rank().to_numpy()
    unit_effect = dict(zip(treated, 0.1 + 0.6 * (rank - 1) / (len(treated) - 1), strict=True))
    row_effect = s["district_code"].map(unit_effect).fillna(0.0).to_numpy()
    w_t = np.array([size[c] for c in treated])
    truth = float(np.sum(w_t * np.array([unit_effect[c] for c in treated])) / w_t.sum())
    covered, plain = [], []
    for _ in range(200):
        panel = _outcomes(s, rng, {"y": row_effect})
        fit = postavg.post_average_fit(panel, "y", weights=size)
        covered.append(fit["ci_low"] <= truth <= fit["ci_high"])
        plain.append(postavg.post_average_fit(panel, "y")["estimate"])
    assert 0.91 <= np.mean(covered) <= 0.985
    assert abs(np.mean(plain) - truth) > 0.05


def test_group_effects_and_their_difference_cover_the_truth():
    # Two groups of treated districts with effects 0.1 and 0.5: each group's 95% interval and the interval of
    # the difference cover the truth in 91-98.5% of 200 panels.
    s = _design(n_units=60, treated=16, seed=12)
    treated = sorted(s.loc[s["treated"] == 1, "district_code"].unique())
    groups = {c: "a" if i < 8 else "b" for i, c in enumerate(treated)}
    effect = s["district_code"].map({c: 0.1 if g == "a" else 0.5 for c, g in groups.items()}).fillna(0.0)
    rng = np.random.default_rng(5)
    hits = {"a": [], "b": [], "diff": []}
    for _ in range(200):
        table = heterogeneity.subgroup_effects(_outcomes(s, rng, {"y": effect.to_numpy()}), "y", groups)
        rows = table.set_index("group")
        hits["a"].append(rows.loc["a", "ci_low"] <= 0.1 <= rows.loc["a", "ci_high"])
        hits["b"].append(rows.loc["b", "ci_low"] <= 0.5 <= rows.loc["b", "ci_high"])
        d = table.attrs["difference"]
        hits["diff"].append(d["ci_low"] <= 0.4 <= d["ci_high"])
    for key, values in hits.items():
        assert 0.91 <= np.mean(values) <= 0.985, key


def test_opportunity_groups_and_dose_terciles():
    panel = pd.DataFrame({"district_code": ["a", "a", "b", "b", "c", "c"], "year": [2017, 2018] * 3,
                          "opportunity_district": [0, 1, 0, 0, 0, 0],
                          "alliance_dollars_per_pupil": [100.0, 300.0, 50.0, 50.0, 0.0, 0.0]})
    assert heterogeneity.opportunity_groups(panel, ["a", "b"]) == {"a": "2 Opportunity",
                                                                   "b": "1 other Alliance"}
    # c has no dollars and no tercile; b (50) is low, a (200) the top of two.
    terciles = heterogeneity.dose_terciles(panel, ["a", "b", "c"], (2017, 2018))
    assert terciles == {"b": "1 low", "a": "2 middle"}
    means = heterogeneity.dose_means(panel, {"a": "x", "b": "y"}, (2017, 2018))
    assert means.to_dict() == {"x": 200.0, "y": 50.0}


# --- multiple testing -------------------------------------------------------------------------------------

def test_holm_hand_computed():
    # m = 5 with one missing (4 tests): sorted 0.001, 0.01, 0.02, 0.3 -> x4, x3, x2, x1 = 0.004, 0.03, 0.04,
    # 0.3; monotone; the missing p-value stays missing.
    got = multiple.holm([0.02, np.nan, 0.001, 0.3, 0.01])
    assert np.allclose(got, [0.04, np.nan, 0.004, 0.3, 0.03], equal_nan=True)
    # Monotonicity: 0.01 x 3 = 0.03 < 0.02 x 4 = 0.08 -> the smaller keeps 0.08's order: [0.08, 0.08].
    assert multiple.holm([0.02, 0.026]).tolist() == pytest.approx([0.04, 0.04])
    assert multiple.holm([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_romano_wolf_hand_computed_and_singleton_equals_the_bootstrap():
    # Three hypotheses, five draws. |t| order: h1 (3.0), h2 (2.0), h0 (1.0).
    draws = np.array([[0.5, 3.5, 0.1], [1.5, 0.2, 2.5], [0.1, 0.1, 0.1], [2.0, 1.0, 1.0], [0.3, 2.9, 0.4]])
    # h1: max over all columns per draw = 3.5, 2.5, 0.1, 2.0, 2.9 -> >= 3.0 in 1 of 5 = 0.2.
    # h2: max over columns 0, 2 = 0.5, 2.5, 0.1, 2.0, 0.4 -> >= 2.0 in 2 of 5 = 0.4.
    # h0: column 0 = 0.5, 1.5, 0.1, 2.0, 0.3 -> >= 1.0 in 2 of 5 = 0.4 (monotone: max(0.4, 0.4)).
    assert multiple.romano_wolf([1.0, -3.0, 2.0], draws).tolist() == pytest.approx([0.4, 0.2, 0.4])
    # One hypothesis: the ordinary bootstrap p-value of event_study_wild_bootstrap given the same draws.
    s = _outcomes(_design(seed=3), np.random.default_rng(0), {"y": 0.1})
    fam = multiple.bootstrap_family({("main", "y"): s}, n_boot=499, seed=4)
    tw = impact.twfe_event_study(s, "y")
    v = multiple.shared_draws(s["district_code"].unique(), 499, "webb", 4)
    single = impact.event_study_wild_bootstrap(s, "y", tw, n_boot=499, cluster_draws=v)
    adjusted = fam.adjusted()
    assert adjusted["p_wild"].iloc[0] == pytest.approx(single.p_value)
    assert adjusted["p_romano_wolf"].iloc[0] == pytest.approx(single.p_value)
    assert fam.table["estimate"].iloc[0] == pytest.approx(tw.post_average()["estimate"], rel=1e-9)


def test_romano_wolf_controls_the_familywise_error_and_rejects_a_large_effect():
    # Four correlated outcomes on 40 districts (10 treated), 120 panels, 199 shared Webb draws each.
    # No effects: Romano-Wolf rejects any of the four in 1-11% of panels (nominal 5%), fewer than the
    # unadjusted tests do. A planted effect of 0.6 (about 5 SE) on one outcome: Romano-Wolf rejects it in at
    # least 95% of panels while rejecting any of the three true nulls in at most 11%.
    s = _design(seed=9)
    rng = np.random.default_rng(17)
    names = ["y1", "y2", "y3", "y4"]
    any_rw, any_raw, hit, false_rw = [], [], [], []
    for k in range(120):
        null = _outcomes(s, rng, dict.fromkeys(names, 0.0))
        fam = multiple.bootstrap_family({("d", n): null for n in names}, n_boot=199, seed=k).adjusted()
        any_rw.append(fam["reject_romano_wolf"].any())
        any_raw.append(fam["reject_unadjusted"].any())
        planted = _outcomes(s, rng, {"y1": 0.6, "y2": 0.0, "y3": 0.0, "y4": 0.0})
        fam = multiple.bootstrap_family({("d", n): planted for n in names}, n_boot=199, seed=k).adjusted()
        hit.append(bool(fam["reject_romano_wolf"].iloc[0]))
        false_rw.append(fam["reject_romano_wolf"].iloc[1:].any())
        assert (fam["p_romano_wolf"] >= fam["p_wild"] - 1e-12).all()
    assert 0.01 <= np.mean(any_rw) <= 0.11
    assert np.mean(any_raw) > np.mean(any_rw)
    assert np.mean(hit) >= 0.95
    assert np.mean(false_rw) <= 0.11


# --- power --------------------------------------------------------------------------------------------------

def test_power_formula_hand_computed():
    assert float(power.power(0.0, 1.0)) == pytest.approx(0.05, abs=1e-12)
    assert float(power.power(0.0, 2.0, df=9)) == pytest.approx(0.05, abs=1e-12)
    # At the MDE of results.mde the power is 80% plus the far tail, normal and t alike.
    for df in (None, 29):
        m = impact.mde(0.5, df=df)
        dist = stats.norm if df is None else stats.t(df)
        far = dist.cdf(-m / 0.5 - dist.ppf(0.975))
        assert float(power.power(m, 0.5, df)) == pytest.approx(0.8 + far, abs=1e-9)
    curve = power.power_curve(0.5, 29)
    assert curve["power"].is_monotonic_increasing and curve["effect"].iloc[0] == 0.0
    table = power.power_table({"y": {"se": 0.5, "df": 29}}, {"y": impact.mde(0.5, df=29)})
    assert table["power_at_reference"].iloc[0] == pytest.approx(0.8, abs=1e-3)
    assert table["mde_90"].iloc[0] > table["mde"].iloc[0]


def test_planting_the_mde_gives_80pct_power():
    # 60 districts (15 treated), AR(0.4) noise: the MDE from the mean SE of 100 null panels, then 300 panels
    # with that effect planted: rejection at 5% (cluster-robust t, G - 1 df) in 72-88% of them.
    s = _design(n_units=60, treated=15, seed=14)
    rng = np.random.default_rng(8)
    ses = [postavg.post_average_fit(_outcomes(s, rng, {"y": 0.0}), "y")["se"] for _ in range(100)]
    effect = impact.mde(float(np.mean(ses)), df=59)
    rejected = [postavg.post_average_fit(_outcomes(s, rng, {"y": effect}), "y")["p_value"] <= 0.05
                for _ in range(300)]
    assert 0.72 <= np.mean(rejected) <= 0.88


# --- functional form ----------------------------------------------------------------------------------------

def test_functional_form_rules_hand_computed():
    rate = pd.Series([0.0, 100.0, 80.0, 100.0, np.nan])
    count = pd.Series([0.0, 50.0, 40.0, np.nan, np.nan])
    total = pd.Series([10.0, 50.0, 50.0, np.nan, np.nan])
    got = forms.empirical_logit(rate, count, total)
    # log(0.5 / 10.5), log(50.5 / 0.5), log(40.5 / 10.5); 100% without counts: missing.
    expected = [math.log(0.5 / 10.5), math.log(101.0), math.log(40.5 / 10.5)]
    assert got.iloc[:3].tolist() == pytest.approx(expected)
    assert got.iloc[3:].isna().all()
    assert forms.empirical_logit(pd.Series([80.0])).iloc[0] == pytest.approx(math.log(4.0))
    assert forms.log_rate(pd.Series([0.0, 1.0, 3.0])).tolist() == pytest.approx([math.log(0.5), 0.0,
                                                                                  math.log(3.0)])
    with pytest.raises(ValueError):
        forms.log_rate(pd.Series([-1.0, 2.0]))
    panel = pd.DataFrame({"grad_rate": [100.0, 90.0], "grad_count": [20.0, 18.0], "grad_cohort": [20.0, 20.0],
                          "suspension_rate": [0.0, 4.0]})
    out = forms.add_functional_forms(panel)
    assert out.attrs["forms_adjusted"] == {"grad_rate": 1, "suspension_rate": 1}
    assert out["suspension_rate_log"].tolist() == pytest.approx([math.log(2.0), math.log(4.0)])
    assert forms.logodds_to_points(0.1, 80.0) == pytest.approx(1.6)


def test_log_odds_estimate_recovers_a_planted_log_odds_effect():
    # Graduates drawn binomially (cohorts of 150) with log-odds = district + year effects + 0.3 x post; the
    # TWFE post average of the empirical logit covers 0.3 in 91-98.5% of 200 panels.
    s = _design(n_units=60, treated=15, seed=15)
    units, _ = impact_sample.integer_codes(s["district_code"])
    years, _ = impact_sample.integer_codes(s["year"])
    rng = np.random.default_rng(2)
    covered = []
    for _ in range(200):
        logit = (1.6 + rng.normal(0, 0.5, units.max() + 1)[units] + rng.normal(0, 0.1, years.max() + 1)[years]
                 + rng.normal(0, 0.1, len(s)) + 0.3 * s["post"].to_numpy())
        cohort = np.full(len(s), 150.0)
        grads = rng.binomial(150, 1 / (1 + np.exp(-logit))).astype(float)
        panel = s.assign(grad_rate=100 * grads / cohort, grad_count=grads, grad_cohort=cohort,
                         suspension_rate=1.0)
        panel = forms.add_functional_forms(panel)
        fit = postavg.post_average_fit(panel, "grad_rate_logodds")
        covered.append(fit["ci_low"] <= 0.3 <= fit["ci_high"])
    assert 0.91 <= np.mean(covered) <= 0.985


# --- leave one out ------------------------------------------------------------------------------------------

def test_leave_one_out_finds_a_planted_outlier():
    # Treated districts have effect 0.2 except one with 3.0: it is the most influential, dropping it brings
    # the estimate within three of its standard errors of 0.2, and every leave-one-out fit equals PanelOLS
    # on the reduced sample.
    s = _design(n_units=40, treated=10, seed=16)
    treated = sorted(s.loc[s["treated"] == 1, "district_code"].unique())
    outlier = treated[3]
    effect = np.where(s["district_code"] == outlier, 3.0, 0.2)
    panel = _outcomes(s, np.random.default_rng(1), {"y": effect}, noise_sd=0.1)
    table = influence.leave_one_out(panel, "y")
    summary = influence.influence_summary(table)
    assert summary["most_influential"] == outlier
    assert abs(table["estimate"].iloc[0] - 0.2) < 3 * table["se"].iloc[0]
    assert summary["low"] <= summary["full"] <= summary["high"]
    assert summary["max_shift"] == pytest.approx(table["estimate"].iloc[0] - summary["full"])
    reduced = panel.loc[panel["district_code"] != treated[0]].reset_index(drop=True)
    row = table.set_index("district_code").loc[treated[0]]
    assert row["estimate"] == pytest.approx(impact.twfe_event_study(reduced, "y").post_average()["estimate"],
                                            rel=1e-9)
    assert len(table) == len(treated)


# --- bundled programs ---------------------------------------------------------------------------------------

def test_program_exposure_counts_payments_by_group():
    from _panels import small_panel

    panel = small_panel().assign(pay_priority_school_districts=[0, 5, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0],
                                 pay_commissioners_network=0.0)
    panel.loc[panel["district_code"] == "0010011", "opportunity_district"] = 1
    got = bundled.program_exposure(panel, years=(2013, 2013)).set_index("key")
    # Designated (cohort 2013): 0010011. Comparison towns never designated: 0030011, 0040011 (0040011 paid).
    assert got.loc["psd", ["n_designated", "n_comparison"]].tolist() == [1, 1]
    assert got.loc["network", ["n_designated", "n_comparison"]].tolist() == [0, 0]
    assert got.loc["opportunity", ["n_designated", "n_comparison"]].tolist() == [1, 0]
    assert got.loc["pa15_96", ["n_designated", "n_comparison"]].tolist() == [1, 2]
    table = bundled.programs_table()
    assert set(table["key"]) == {"psd", "network", "opportunity", "pa15_96"}
    assert table["source"].str.len().min() > 10

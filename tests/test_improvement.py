"""Tests of alliance_study.analysis.improvement: hand-computed cases, simulated truth, determinism.

Simulated truth (alliance_study.simulate.improvement_panel):

- *Coverage*: continuous true gains (``gain_sd=0.3``) and transient shocks (``shock_sd=0.1``), achievement
  only: the 90% rank intervals cover the true ranks in 0.85-0.97 of cases over 8 seeds (observed 0.91);
  counting sampling noise only (``transient=False``) they cover < 0.82 (observed 0.75), so the check can fail.
- *Missing indicators*: 8 of 30 Alliance districts without graduation, no improvers: scored at the prior mean
  they hold their chance share of the top eight and their mean P(top 8) is near chance; averaged over the
  indicators present they are over-represented (observed 34% of top-eight places against 27%).
- *Persistence*: with no improvers, consecutive windows' top eights overlap no more than chance.

- *Recovery*: 160 districts of realistic Connecticut sizes (``size_scale=1``, only sampling noise), 30
  Alliance Districts selected on low observed achievement, 8 of them true improvers gaining 0.25 SD of latent
  quality over 2013-2016. Over 10 seeds the adjusted (EB) top eight must hold on average >= 75% of the true
  improvers (observed about 90% with Alliance peers, 88% with similar peers) and the true improvers' mean
  P(top 8) must be >= 0.5 (chance: 8/30).
- *Mean reversion alone*: no improvers, small noisy districts (``size_scale=0.15``: median enrollment about
  375). Over 12 seeds the adjusted P(top 8) of every district stays <= 0.75 in >= 90% of seeds (observed:
  all), while the naive ranking names a district with P(top 8) > 0.75 in >= 2/3 of seeds (observed 11 of
  12), so the check can fail; with Alliance peers the naive improvement correlates with the baseline
  (mean < -0.15, observed -0.25) and the EB-adjusted one does not (|mean| < 0.1, observed 0.03).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis import improvement as im

# --- hand-computed small cases ------------------------------------------------------------------------------


def test_relative_to_peers_by_hand():
    change = pd.Series({"a": 1.0, "b": 2.0, "c": 4.0, "d": np.nan})
    peers = {"a": ["b", "c"], "b": ["a", "c", "d"], "c": ["a", "b", "c"], "d": ["a"]}
    out = im.relative_to_peers(change, peers)
    assert out["a"] == pytest.approx(1 - 3.0)
    assert out["b"] == pytest.approx(2 - 2.5)  # d has no change and is skipped
    assert out["c"] == pytest.approx(4 - 1.5)  # itself is ignored
    assert np.isnan(out["d"])


def test_eb_shrink_formula_by_hand():
    mean, var = im.eb_shrink(3.0, 1.0, 1.0, 3.0)  # reliability 3 / (3 + 1) = 0.75
    assert float(mean) == pytest.approx(1 + 0.75 * 2)
    assert float(var) == pytest.approx(0.75)
    mean, var = im.eb_shrink(np.array([5.0, 5.0]), np.array([0.0, 1e9]), 2.0, 1.0)
    assert mean[0] == pytest.approx(5.0)  # no noise: no shrinkage
    assert mean[1] == pytest.approx(2.0, abs=1e-6)  # all noise: the prediction
    mean, var = im.eb_shrink(4.0, 2.0, 1.0, 0.0)  # no signal: everything shrinks to the prediction
    assert float(mean) == 1.0 and float(var) == 0.0


def test_signal_variance_by_hand_and_unbiased():
    # (sum e^2 - sum v (1 - h)) / (n - p) = (10 - 4 * 0.5 * 0.5) / 2
    e = np.array([1.0, -1.0, 2.0, -2.0])
    assert im.signal_variance(e, np.full(4, 0.5), np.full(4, 0.5), 2) == pytest.approx(4.5)
    assert im.signal_variance(np.zeros(4), np.ones(4), np.zeros(4), 2) == 0.0  # floored at 0
    # Unbiased (before flooring) for OLS residuals with heteroskedastic known noise: average of many draws.
    rng = np.random.default_rng(1)
    n, tau2 = 40, 0.3
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    v = rng.uniform(0.05, 1.0, n)
    h = np.einsum("ij,jk,ik->i", x, np.linalg.inv(x.T @ x), x)
    m = np.eye(n) - x @ np.linalg.inv(x.T @ x) @ x.T
    y = rng.normal(0, np.sqrt(tau2), (4000, n)) + rng.normal(size=(4000, n)) * np.sqrt(v)
    resid = y @ m.T
    raw = ((resid**2).sum(axis=1) - (v * (1 - h)).sum()) / (n - 2)
    assert raw.mean() == pytest.approx(tau2, rel=0.05)


def test_composite_weighting_by_hand():
    scores = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [3.0, np.nan, np.nan], "c": [0.0, 1.0, 4.0]})
    out = im.composite_scores(scores, {"a": 2.0, "b": 1.0}, min_indicators=2)  # c weighs 1
    assert out.iloc[0] == pytest.approx((2 * 1 + 3 + 0) / 4)
    assert out.iloc[1] == pytest.approx((2 * 2 + 1) / 3)  # over the indicators present
    assert np.isnan(out.iloc[2])  # only one indicator: below the minimum
    assert im.composite_scores(scores, None, 1).iloc[2] == pytest.approx(4.0)


def test_binomial_variance_by_hand():
    # x = 50 of n = 100 -> p = 50.5 / 101 = 0.5 -> 100^2 * 0.25 / 100
    assert im.binomial_variance(np.array([50.0]), np.array([100.0]))[0] == pytest.approx(25.0)
    # A 0% rate still has a positive variance; missing or zero n gives NaN.
    assert im.binomial_variance(np.array([0.0]), np.array([150.0]))[0] > 0
    assert np.isnan(im.binomial_variance(np.array([10.0]), np.array([0.0]))[0])


def test_top_overlap_by_hand():
    assert im.top_overlap(["a", "b", "c"], ["b", "c", "d"]) == (2, pytest.approx(0.5))


def test_noise_constant_recovers_known_value():
    rng = np.random.default_rng(3)
    n_d, years, c = 300, np.arange(2006, 2012), 9.0
    n = rng.integers(50, 2000, n_d)
    true = rng.normal(0, 1, n_d)[:, None] + rng.normal(0, 0.05, (n_d, len(years)))
    y = true + rng.normal(size=(n_d, len(years))) * np.sqrt(c / n)[:, None]
    frame = pd.DataFrame({"district_code": np.repeat(np.arange(n_d), len(years)).astype(str),
                          "year": np.tile(years, n_d), "y": y.ravel(), "n": np.repeat(n, len(years))})
    assert im.noise_constant(frame, "y", "n") == pytest.approx(c, rel=0.15)


# --- a tiny panel checked against the formulas --------------------------------------------------------------

def _tiny_panel() -> pd.DataFrame:
    """Four Alliance districts, graduation only: baseline 2011-2013, end 2016."""
    rows = []
    grad = {"0000111": [80, 82, 84, 90], "0000211": [70, 70, 70, 71], "0000311": [90, 91, 92, 92],
            "0000411": [60, 64, 62, 72]}
    for code, values in grad.items():
        for year, value in zip((2011, 2012, 2013, 2016), values, strict=True):
            rows.append({"district_code": code, "year": year, "district_name": f"D{code}",
                         "entity_type": "town_district", "alliance_cohort": 2013, "grad_rate": float(value),
                         "grad_cohort": 400.0, "frl_share": 50.0})
    frame = pd.DataFrame(rows)
    frame["alliance_cohort"] = frame["alliance_cohort"].astype("Int64")
    return frame


def test_change_relative_to_alliance_peers_by_hand():
    spec = im.ImprovementSpec(indicators=("graduation",), min_indicators=1, transient=False)
    res = im.estimate_improvement(_tiny_panel(), spec)
    rows = res.by_indicator.set_index("district_code")
    change = {"0000111": 90 - 82, "0000211": 71 - 70, "0000311": 92 - 91, "0000411": 72 - 62}
    for code, value in change.items():
        assert rows.loc[code, "change"] == pytest.approx(value)
        others = [v for c, v in change.items() if c != code]
        assert rows.loc[code, "naive"] == pytest.approx(value - np.mean(others))
    # Step (a): the residual of naive on the baseline across the pool, computed with numpy.
    x = np.column_stack([np.ones(4), rows["baseline"].to_numpy()])
    beta = np.linalg.lstsq(x, rows["naive"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(rows["rtm"], rows["naive"] - x @ beta, atol=1e-8)
    # Step (b): eb = B * rtm with B = tau2 / (tau2 + var).
    tau2 = float(res.indicators["tau2"].iloc[0])
    np.testing.assert_allclose(rows["eb"], tau2 / (tau2 + rows["var"]) * rows["rtm"], atol=1e-10)
    # The variance of the naive change: own change plus the peer mean's (binomial, n = 400).
    v = {c: im.binomial_variance(np.array([90.0, 71.0, 92.0, 72.0]), np.full(4, 400.0))[i]
         + im.binomial_variance(np.array(g[:3], dtype=float), np.full(3, 400.0)).sum() / 9
         for i, (c, g) in enumerate({"0000111": [80, 82, 84], "0000211": [70, 70, 70],
                                     "0000311": [90, 91, 92], "0000411": [60, 64, 62]}.items())}
    for code in change:
        own = v[code]
        peer = sum(v[c] for c in change if c != code) / 9
        assert rows.loc[code, "var"] == pytest.approx(own + peer)


def test_lower_is_better_counts_a_fall_as_improvement():
    panel = _tiny_panel().rename(columns={"grad_rate": "suspension_rate"}).assign(enrollment=1000.0)
    spec = im.ImprovementSpec(indicators=("suspensions",), min_indicators=1)
    rows = im.estimate_improvement(panel, spec).by_indicator.set_index("district_code")
    assert rows.loc["0000111", "change"] == pytest.approx(-(90 - 82))


# --- simulated panels ---------------------------------------------------------------------------------------

def _naive_and_eb_corr(res: im.ImprovementResult) -> tuple[float, float, float]:
    bi = res.by_indicator.loc[res.by_indicator["target"]].copy()
    bi["sb"] = bi["baseline"] * bi["indicator"].map(lambda i: im.INDICATORS[i].sign)
    # An estimate with no spread (every EB estimate shrunk to 0) is uncorrelated with anything: count 0.
    corr = {k: float(np.mean([g[k].corr(g["sb"]) if g[k].std() > 0 else 0.0
                              for _, g in bi.groupby("indicator")]))
            for k in ("naive", "rtm", "eb")}
    return corr["naive"], corr["rtm"], corr["eb"]


def test_resolve_years_follows_the_data():
    panel, _ = simulate.improvement_panel(seed=0)
    panel = im.prepare_panel(panel)
    assert im.resolve_years(panel, "achievement", 2013, 2016) == ((2011, 2012, 2013), (2016,))
    assert im.resolve_years(panel, "absenteeism", 2013, 2016) == ((2012, 2013), (2016,))
    assert im.resolve_years(panel, "achievement", 2013, 2014) == ((2011, 2012, 2013), ())  # no 2014 tests
    two_end_years = im.resolve_years(panel, "achievement", 2013, 2016, end_span=2)
    assert two_end_years == ((2011, 2012, 2013), (2015, 2016))
    # A series that stops before the window (CMT in the panel: 2006-2011) uses its last years.
    cmt = panel.assign(seda_gcs_ol=panel["seda_gcs_ol"].where(panel["year"] <= 2011))
    assert im.resolve_years(cmt, "achievement", 2013, 2016)[0] == (2009, 2010, 2011)


@pytest.mark.parametrize("peer_group", ["alliance", "similar"])
def test_recovers_true_improvers(peer_group):
    hits, p_true = [], []
    for seed in range(10):
        panel, truth = simulate.improvement_panel(improvement=0.25, size_scale=1.0, seed=100 + seed)
        spec = im.ImprovementSpec(peer_group=peer_group)
        res = im.estimate_improvement(panel, spec)
        boot = im.bootstrap_improvement(panel, spec, n_boot=300, seed=seed, result=res)
        true = set(truth.loc[truth["true_improver"], "district_code"])
        hits.append(len(set(res.top()) & true) / len(true))
        p_true.append(boot.table.loc[boot.table["district_code"].isin(true), "p_top"].mean())
    assert np.mean(hits) >= 0.75
    assert np.mean(p_true) >= 0.5


@pytest.mark.parametrize("peer_group", ["alliance", "similar"])
def test_mean_reversion_alone_makes_no_improvers(peer_group):
    max_adj, max_naive, corr = [], [], []
    for seed in range(12):
        panel, truth = simulate.improvement_panel(improvement=0.0, size_scale=0.15, seed=100 + seed)
        assert not truth["true_improver"].any()
        spec = im.ImprovementSpec(peer_group=peer_group)
        res = im.estimate_improvement(panel, spec)
        boot = im.bootstrap_improvement(panel, spec, n_boot=300, seed=seed, result=res)
        max_adj.append(boot.table["p_top"].max())
        max_naive.append(boot.table["p_top_naive"].max())
        assert boot.table["p_top"].sum() == pytest.approx(8.0)  # probabilities of a top eight sum to 8
        corr.append(_naive_and_eb_corr(res))
    assert np.mean(np.array(max_adj) > 0.75) <= 0.10
    assert np.mean(np.array(max_naive) > 0.75) >= 2 / 3  # the naive reading is fooled: the check can fail
    if peer_group == "alliance":
        naive, rtm, eb = np.array(corr).T
        assert naive.mean() < -0.15
        assert np.abs(rtm).max() < 1e-8  # OLS residuals are orthogonal to the baseline over the pool
        assert abs(eb.mean()) < 0.1


def test_transient_shocks_are_a_stated_limit():
    # Real but one-year shocks at the end year look like improvement to a single-window design; averaging
    # two end years (end_span=2) reduces the confidence put in them. Documented, not hidden.
    maxp = {1: [], 2: []}
    for seed in range(6):
        panel, _ = simulate.improvement_panel(improvement=0.0, shock_sd=0.15, seed=200 + seed)
        for span in (1, 2):
            spec = im.ImprovementSpec(end_span=span)
            boot = im.bootstrap_improvement(panel, spec, n_boot=300, seed=seed)
            maxp[span].append(boot.table["p_top"].max())
    assert np.mean(maxp[2]) < np.mean(maxp[1])


# --- bootstrap mechanics ------------------------------------------------------------------------------------

def test_bootstrap_is_deterministic_given_the_seed():
    panel, _ = simulate.improvement_panel(improvement=0.2, seed=5)
    spec = im.ImprovementSpec()
    a = im.bootstrap_improvement(panel, spec, n_boot=200, seed=11).table
    b = im.bootstrap_improvement(panel, spec, n_boot=200, seed=11).table
    pd.testing.assert_frame_equal(a, b)
    c = im.bootstrap_improvement(panel, spec, n_boot=200, seed=12).table
    assert not np.allclose(a.set_index("district_code")["score_lo"],
                           c.set_index("district_code")["score_lo"].reindex(a["district_code"]))


def test_bootstrap_without_any_uncertainty_reproduces_the_point_ranking():
    panel, _ = simulate.improvement_panel(improvement=0.3, seed=6)
    spec = im.ImprovementSpec()
    res = im.estimate_improvement(panel, spec)
    boot = im.bootstrap_improvement(panel, spec, n_boot=20, seed=0, result=res, resample_districts=False,
                                    measurement_draws=False)
    top = set(boot.table.loc[boot.table["p_top"] == 1.0, "district_code"])
    assert top == set(res.top())
    assert boot.expected_true_in_top == pytest.approx(8.0)


def test_indicator_without_data_in_the_window_drops_out():
    # No tests in 2014: achievement has no end value, the other indicators still rank every district.
    panel, _ = simulate.improvement_panel(seed=9)
    spec = im.ImprovementSpec(end_year=2014)
    res = im.estimate_improvement(panel, spec)
    assert res.indicators.set_index("indicator").loc["achievement", "end_years"] == "none"
    assert res.in_window() == ["graduation", "absenteeism", "suspensions"]
    assert (res.composite["n_indicators"] == 3).all()
    assert (res.composite["missing_indicators"] == "").all()  # out of the window is not "missing"
    boot = im.bootstrap_improvement(panel, spec, n_boot=100, seed=0, result=res)
    assert boot.table["p_top"].sum() == pytest.approx(8.0)


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown indicators"):
        im.ImprovementSpec(indicators=("reading",))
    with pytest.raises(ValueError, match="peer group"):
        im.ImprovementSpec(peer_group="neighbours")
    with pytest.raises(ValueError, match="end_year"):
        im.ImprovementSpec(start_year=2016, end_year=2013)
    with pytest.raises(ValueError, match="covariates"):
        im.ImprovementSpec(covariates=("enrollment",))
    with pytest.raises(ValueError, match="missing rule"):
        im.ImprovementSpec(missing="ignore")


def test_sensitivity_table_reports_overlap_with_main():
    panel, _ = simulate.improvement_panel(improvement=0.3, seed=7)
    spec = im.ImprovementSpec()
    table, counts = im.sensitivity_table(panel, spec, {"main": {}, "naive": {"estimate": "naive"},
                                                       "only achievement": {"indicators": ("achievement",),
                                                                            "min_indicators": 1}})
    main = table.set_index("variant").loc["main"]
    assert main["overlap"] == 8 and main["jaccard"] == 1.0
    assert table["chance_overlap"].iloc[0] == pytest.approx(8 * 8 / 30)
    naive_top = im.estimate_improvement(panel, dataclasses.replace(spec, estimate="naive")).top()
    assert table.set_index("variant").loc["naive", "top"] == naive_top
    assert counts["n_top"].is_monotonic_decreasing
    assert counts.loc[counts["in_main"], "n_top"].min() >= 1
    assert set(table["variant"]) == {"main", "naive", "only achievement"}
    assert len(im.default_variants(spec)) > 10


# --- the real panel, when it has been built -----------------------------------------------------------------

@pytest.mark.realdata
def test_real_panel_main_specification_runs_fast(real_build):
    import time

    from alliance_study.data import load

    panel = im.prepare_panel(load.load_panel(real_build[1]))
    spec = im.ImprovementSpec()
    res = im.estimate_improvement(panel, spec)
    assert len(res.composite) == 30  # the FY2013 cohort
    years = res.indicators.set_index("indicator")[["baseline_years", "end_years"]]
    assert years.loc["achievement"].tolist() == ["2011-2013", "2016"]
    assert years.loc["absenteeism"].tolist() == ["2012-2013", "2016"]
    # One shrinkage step: the SEDA input is the unshrunk OLS series.
    assert im.INDICATORS["achievement"].column == "seda_gcs_ol"
    start = time.perf_counter()
    boot = im.bootstrap_improvement(panel, spec, n_boot=2000, seed=0, result=res)
    assert time.perf_counter() - start <= 5.0
    assert boot.table["p_top"].sum() == pytest.approx(8.0)


# --- issue 12: one shrinkage step, missing indicators, the draws, persistence -------------------------------

def test_transient_variance_by_hand_and_unbiased():
    # Five districts, three consecutive years: ten pairs. Common change per pair of years removed first.
    y = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0], [0.0, 2.0, 0.0], [2.0, 2.0, 3.0]])
    v = np.full(y.shape, 0.1)
    d = np.diff(y, axis=1)
    dev = d - d.mean(axis=0)
    expected = (np.sum(dev**2) * 5 / 4 - 10 * 0.2) / (2 * 10)
    assert im.transient_variance(y, v, np.array([2011, 2012, 2013])) == pytest.approx(expected)
    # Non-consecutive years (a gap) give no pair; fewer than ten pairs give 0.
    assert im.transient_variance(y, v, np.array([2011, 2013, 2015])) == 0.0
    # Unbiased for known heteroskedastic sampling noise plus transient shocks of variance 0.04.
    rng = np.random.default_rng(4)
    n_d, years = 400, np.arange(2009, 2016)
    var = rng.uniform(0.01, 0.2, (n_d, 1)) * np.ones(len(years))
    vals = (rng.normal(0, 1, (n_d, 1)) + rng.normal(0, 0.2, (n_d, len(years)))
            + rng.normal(size=(n_d, len(years))) * np.sqrt(var) + rng.normal(0, 0.3, len(years)))
    assert im.transient_variance(vals, var, years) == pytest.approx(0.04, rel=0.15)


def _tiny_seda_panel() -> pd.DataFrame:
    """Five Alliance districts, SEDA achievement only (OLS means and SEs), baseline 2011-2013, end 2016; the
    EB columns hold values that must never be read."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(5):
        code = f"00{k + 1}0011"
        for j, year in enumerate((2011, 2012, 2013, 2016)):
            rows.append({"district_code": code, "year": year, "district_name": f"D{k}",
                         "entity_type": "town_district", "alliance_cohort": 2013,
                         "seda_gcs_ol": 4.0 + 0.3 * k + 0.1 * j * (k % 3) + 0.05 * rng.normal(),
                         "seda_gcs_ol_se": 0.05 + 0.02 * k + 0.01 * j,
                         "seda_gcs_eb": 99.0, "seda_gcs_eb_se": 0.001})
    frame = pd.DataFrame(rows)
    frame["alliance_cohort"] = frame["alliance_cohort"].astype("Int64")
    return frame


def test_single_shrinkage_step_by_hand_from_seda_ols():
    panel = _tiny_seda_panel()
    spec = im.ImprovementSpec(indicators=("achievement",), min_indicators=1, transient=False)
    res = im.estimate_improvement(panel, spec)
    rows = res.by_indicator.set_index("district_code").sort_index()
    wide = panel.pivot(index="district_code", columns="year", values="seda_gcs_ol").sort_index()
    se = panel.pivot(index="district_code", columns="year", values="seda_gcs_ol_se").sort_index()
    base, end = wide[[2011, 2012, 2013]].mean(axis=1), wide[2016]
    v_own = se[2016] ** 2 + (se[[2011, 2012, 2013]] ** 2).sum(axis=1) / 9  # variance of the 3-year mean
    change = end - base
    n = len(change)
    naive = change - (change.sum() - change) / (n - 1)
    v = v_own + (v_own.sum() - v_own) / (n - 1) ** 2
    np.testing.assert_allclose(rows["naive"], naive, atol=1e-12)
    np.testing.assert_allclose(rows["var"], v, atol=1e-12)
    x = np.column_stack([np.ones(n), base.to_numpy()])
    beta = np.linalg.lstsq(x, naive.to_numpy(), rcond=None)[0]
    resid = naive.to_numpy() - x @ beta
    h = np.einsum("ij,jk,ik->i", x, np.linalg.inv(x.T @ x), x)
    tau2 = max(0.0, (np.sum(resid**2) - np.sum(v.to_numpy() * (1 - h))) / (n - 2))
    assert float(res.indicators["tau2"].iloc[0]) == pytest.approx(tau2, abs=1e-9)
    # Shrunk once: eb = B * rtm with B = tau2 / (tau2 + v), v the sampling variance of the OLS means.
    np.testing.assert_allclose(rows["eb"], tau2 / (tau2 + v.to_numpy()) * resid, atol=1e-9)
    # The EB columns are never read: scrambling them changes nothing.
    again = im.estimate_improvement(panel.assign(seda_gcs_eb=-5.0, seda_gcs_eb_se=3.0), spec)
    pd.testing.assert_frame_equal(again.by_indicator, res.by_indicator)


def test_simulated_seda_eb_series_is_shrunk_and_not_the_input():
    panel, _ = simulate.improvement_panel(seed=3)
    has = panel["seda_gcs_ol"].notna()
    assert (panel.loc[has, "seda_gcs_eb_se"] < panel.loc[has, "seda_gcs_ol_se"]).all()
    by_year = panel.loc[has].groupby("year")
    assert (by_year["seda_gcs_eb"].std() < by_year["seda_gcs_ol"].std()).all()
    spec = im.ImprovementSpec(indicators=("achievement",), min_indicators=1)
    twice = im.estimate_improvement(panel, dataclasses.replace(spec, indicators=("achievement_eb",)))
    once = im.estimate_improvement(panel, spec)
    # The double-shrunk input understates the noise: higher reliability than the single step.
    assert twice.indicators["mean_reliability"].iloc[0] > once.indicators["mean_reliability"].iloc[0]


def test_rank_intervals_cover_the_true_ranks_near_nominal():
    cover, sampling_only = [], []
    for seed in range(8):
        panel, truth = simulate.improvement_panel(improvement=0.0, gain_sd=0.3, shock_sd=0.1, seed=300 + seed)
        gain = truth.set_index("district_code")["true_gain"]
        for transient, out in ((True, cover), (False, sampling_only)):
            spec = im.ImprovementSpec(indicators=("achievement",), min_indicators=1, transient=transient)
            boot = im.bootstrap_improvement(panel, spec, n_boot=300, seed=seed)
            out.append(im.interval_coverage(boot.table, gain))
    assert 0.85 <= np.mean(cover) <= 0.97
    assert np.mean(sampling_only) < 0.82  # transient noise ignored: intervals too short


def test_missing_indicator_favours_no_district():
    share, p_missing = {"prior": [], "available": []}, {"prior": [], "available": []}
    for seed in range(16):
        panel, _ = simulate.improvement_panel(improvement=0.0, shock_sd=0.05, n_missing_graduation=8,
                                              seed=500 + seed)
        panel = im.prepare_panel(panel)
        for rule in share:
            spec = im.ImprovementSpec(missing=rule)
            res = im.estimate_improvement(panel, spec)
            missing = res.composite.set_index("district_code")["missing_indicators"] == "graduation"
            assert missing.sum() == 8
            share[rule].append(missing[res.top()].mean())
            if rule == "prior":
                boot = im.bootstrap_improvement(panel, spec, n_boot=200, seed=seed, result=res)
                p_missing[rule].append(boot.p_top()[missing[missing].index].mean())
    chance = 8 / 30
    assert abs(np.mean(share["prior"]) - chance) <= 0.05
    assert abs(np.mean(p_missing["prior"]) - chance) <= 0.04
    assert np.mean(share["available"]) > np.mean(share["prior"]) + 0.03  # the former rule favours them


def test_missing_indicator_effect_table():
    panel, _ = simulate.improvement_panel(improvement=0.3, n_missing_graduation=3, seed=21)
    panel = im.prepare_panel(panel)
    res = im.estimate_improvement(panel)
    boot = im.bootstrap_improvement(panel, n_boot=100, seed=0, result=res)
    table = im.missing_indicator_effect(panel, res, boot)
    assert len(table) == 30 and (table["missing_indicators"] == "graduation").sum() == 3
    full = table.loc[table["missing_indicators"] == ""]
    assert {"rank", "rank_available", "p_top", "p_top_available"} <= set(table.columns)
    # Districts with every indicator have the same composite either way (ranks move only by the others).
    a = res.composite.set_index("district_code")["eb"]
    b = im.estimate_improvement(panel, dataclasses.replace(res.spec, missing="available")).composite
    b = b.set_index("district_code")["eb"]
    np.testing.assert_allclose(a[full["district_code"]], b[full["district_code"]])


@pytest.mark.parametrize("peer_group,affine", [("alliance", True), ("similar", False)])
def test_relative_to_alliance_peers_is_a_rescaled_raw_change(peer_group, affine):
    panel, _ = simulate.improvement_panel(seed=12)
    res = im.estimate_improvement(panel, im.ImprovementSpec(peer_group=peer_group))
    for _, g in res.by_indicator.loc[res.by_indicator["target"]].groupby("indicator"):
        is_affine, slope = im.peer_relative_is_affine(g["change"], g["naive"])
        assert is_affine == affine
        if affine:
            n = int(g["naive"].notna().sum())
            assert slope == pytest.approx(n / (n - 1))


def test_windows_follow_the_data_across_the_pandemic():
    panel, _ = simulate.improvement_panel(years=tuple(range(2008, 2026)), seed=13)
    spec = im.ImprovementSpec()
    windows = im.as_windows(spec, [[2016, 2019], [2019, 2025, 2]])
    assert [w.label for w in windows] == ["2013-2016", "2016-2019", "2019-2025"]
    wres = im.run_windows(panel, spec, windows, n_boot=100, seed=0)
    last = wres.results["2019-2025"].indicators.set_index("indicator")
    assert last.loc["achievement", "end_years"] == "2024-2025"
    assert last.loc["graduation", "end_years"] == "2024"
    assert last.loc["achievement", "baseline_years"] == "2017-2019"  # 2020-2021 never count
    assert wres.results["2019-2025"].in_window() == ["achievement", "graduation"]
    table = wres.p_top()
    assert list(table.columns) == ["district_code", "district_name", "2013-2016", "2016-2019", "2019-2025"]
    for label in ("2013-2016", "2016-2019", "2019-2025"):
        assert table[label].sum() == pytest.approx(8.0)
    one = wres.district(table["district_code"].iloc[0])
    assert list(one["window"]) == ["2013-2016", "2016-2019", "2019-2025"]


def test_mean_reversion_alone_makes_no_persistent_improvers():
    overlap, both, rho = [], [], []
    spec = im.ImprovementSpec()
    windows = im.as_windows(spec, [[2016, 2019]])
    for seed in range(8):
        panel, _ = simulate.improvement_panel(improvement=0.0, size_scale=0.3, shock_sd=0.1,
                                              years=tuple(range(2008, 2020)), seed=700 + seed)
        wres = im.run_windows(panel, spec, windows, n_boot=200, seed=seed)
        stats = im.persistence(wres, n_boot=200, seed=seed).iloc[0]
        overlap.append(stats["overlap"])
        rho.append(stats["spearman"])
        p = wres.p_top().set_index("district_code")
        both.append(float((p["2013-2016"] * p["2016-2019"]).max()))
    chance = 8 * 8 / 30
    assert np.mean(overlap) <= chance + 0.5
    # NaN when every estimate is shrunk to 0 (no spread: nothing to correlate, no persistence either).
    assert np.nanmean(rho) < 0.1
    assert np.mean(np.array(both) > 0.5) <= 0.125  # no district confidently top-eight in both windows


def test_noise_persistence_returns_every_pair():
    panel, _ = simulate.improvement_panel(years=tuple(range(2008, 2026)), seed=14)
    spec = im.ImprovementSpec()
    windows = im.as_windows(spec, [[2016, 2019], [2019, 2025, 2]])
    noise = im.noise_persistence(panel, spec, windows, n_panels=2, seed=0, n_districts=80)
    assert len(noise) == 2 * 3
    assert set(zip(noise["first"], noise["second"], strict=True)) == {
        ("2013-2016", "2016-2019"), ("2016-2019", "2019-2025"), ("2013-2016", "2019-2025")}
    wres = im.run_windows(panel, spec, windows, n_boot=50, seed=0)
    out = im.compare_with_noise(im.persistence(wres, n_boot=50), noise)
    assert out["p_noise_overlap"].between(0, 1).all()

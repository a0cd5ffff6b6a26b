"""Within (two-way fixed effects) estimators: hand-computed cases, linearmodels as oracle, simulated truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis import within
from alliance_study.simulate import staggered_panel


def _frame(y, x, years=(2011, 2012, 2013)):
    rows = []
    for i, (ys, xs) in enumerate(zip(y, x, strict=True)):
        for t, yv, xv in zip(years, ys, xs, strict=True):
            rows.append({"district_code": f"{i + 1:03d}0011", "year": t, "y": yv, "x": xv})
    return pd.DataFrame(rows)


def test_two_district_case_by_hand():
    # x~ = x - row mean - column mean + grand mean = [[-.5, 0, .5], [.5, 0, -.5]];
    # y~ = [[-7/6, 1/3, 5/6], [7/6, -1/3, -5/6]]; b = sum(x~ y~) / sum(x~^2) = 2.0 / 1.0 = 2.
    fit = within.within_ols(_frame([[1, 4, 5], [2, 2, 2]], [[0, 1, 2], [0, 0, 0]]), "y", ["x"])
    assert fit.params["x"] == pytest.approx(2.0, abs=1e-12)
    assert fit.nobs == 6 and fit.n_clusters == 2
    # Residuals by hand: y~ - 2 x~ = [[-1/6, 1/3, -1/6], [1/6, -1/3, 1/6]].
    assert fit.resid == pytest.approx([-1 / 6, 1 / 3, -1 / 6, 1 / 6, -1 / 3, 1 / 6], abs=1e-12)


def test_two_by_two_is_difference_in_differences():
    fit = within.within_ols(_frame([[10, 12], [5, 11]], [[0, 1], [0, 3]], years=(2012, 2013)), "y", ["x"])
    # ((12 - 10) - (11 - 5)) / ((1 - 0) - (3 - 0)) = 2
    assert fit.params["x"] == pytest.approx(2.0, abs=1e-12)
    assert np.abs(fit.resid).max() < 1e-12


def _unbalanced(seed=1, n=40, t=8):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "district_code": np.repeat([f"{i:07d}" for i in range(n)], t),
            "year": np.tile(np.arange(2010, 2010 + t), n),
        }
    )
    d = d.sample(frac=0.85, random_state=seed).reset_index(drop=True)
    a = rng.normal(size=n)[d["district_code"].astype(int)]
    d["z"] = rng.normal(size=len(d)) + 0.3 * a
    d["w"] = rng.normal(size=len(d))
    d["x"] = 0.8 * d["z"] + 0.5 * a + rng.normal(size=len(d))
    d["y"] = 0.6 * d["x"] + 0.2 * d["w"] + a + 0.1 * d["year"] + rng.normal(size=len(d))
    return d


def test_matches_linearmodels_panelols_on_an_unbalanced_panel():
    from linearmodels import PanelOLS

    d = _unbalanced()
    fit = within.within_ols(d, "y", ["x", "w"])
    idx = d.set_index(["district_code", "year"])
    res = PanelOLS(idx["y"], idx[["x", "w"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered",
        cluster_entity=True,
        group_debias=True,
        debiased=False,
        auto_df=False,
        count_effects=False,
    )
    assert fit.params.to_numpy() == pytest.approx(res.params.to_numpy(), rel=1e-8)
    assert fit.se.to_numpy() == pytest.approx(res.std_errors.to_numpy(), rel=1e-8)


def test_iv_matches_linearmodels_iv2sls_on_demeaned_data():
    from linearmodels.iv import IV2SLS

    d = _unbalanced(seed=2)
    iv = within.within_iv(d, "y", "x", ["z"], ["w"])
    u, t = within.codes(d["district_code"]), within.codes(d["year"])
    dd = pd.DataFrame(within.demean(d[["y", "x", "z", "w"]].to_numpy(), u, t), columns=["y", "x", "z", "w"])
    res = IV2SLS(dd["y"], dd[["w"]], dd[["x"]], dd[["z"]]).fit(
        cov_type="clustered", clusters=pd.Series(u), debiased=False
    )
    assert iv.second.params.to_numpy() == pytest.approx(res.params[["x", "w"]].to_numpy(), rel=1e-8)
    g, n = iv.second.n_clusters, iv.second.nobs
    factor = np.sqrt(g / (g - 1) * (n - 1) / n)  # linearmodels' IV2SLS applies no small-sample factor
    assert iv.second.se.to_numpy() == pytest.approx(res.std_errors[["x", "w"]].to_numpy() * factor, rel=1e-8)
    # One instrument: the first-stage F is its squared t statistic.
    assert iv.first_stage_f == pytest.approx((iv.first.params["z"] / iv.first.se["z"]) ** 2, rel=1e-10)


def test_unit_trends_match_explicit_dummies():
    d = _unbalanced(seed=3, n=12, t=7)
    fit = within.within_ols(d, "y", ["x", "w"], unit_trends=True)
    unit = pd.get_dummies(d["district_code"], dtype=float)
    trend = unit.mul(d["year"] - d["year"].mean(), axis=0).add_prefix("trend_")
    year = pd.get_dummies(d["year"], dtype=float).iloc[:, 1:]
    design = pd.concat([d[["x", "w"]], unit, trend, year], axis=1).to_numpy()
    beta = np.linalg.lstsq(design, d["y"].to_numpy(), rcond=None)[0]
    assert fit.params.to_numpy() == pytest.approx(beta[:2], rel=1e-7)


def test_wald_of_one_coefficient_is_its_squared_t():
    fit = within.within_ols(_unbalanced(seed=4), "y", ["x", "w"])
    f, p = fit.wald(["x"], [0.6])
    assert f == pytest.approx(((fit.params["x"] - 0.6) / fit.se["x"]) ** 2)
    assert 0 < p <= 1


def test_event_study_recovers_a_known_effect_and_flags_pre_trends():
    flat = staggered_panel(
        n_units=120, years=range(2008, 2020), cohorts={2013: 40}, effect=0.5, noise_sd=0.2, seed=5
    )
    table, fit = within.event_study(flat, "y", "cohort", (-4, 5))
    post = table.loc[table["event"] >= 0, "estimate"]
    pre = table.loc[table["event"] < -1, "estimate"]
    assert (post - 0.5).abs().max() < 0.15 and pre.abs().max() < 0.15
    assert table.loc[table["event"] == -1, "estimate"].iloc[0] == 0.0
    assert within.pre_trend_test(table, fit)[1] > 0.01
    trending = staggered_panel(
        n_units=120,
        years=range(2008, 2020),
        cohorts={2013: 40},
        effect=0.5,
        noise_sd=0.2,
        pre_trend=0.15,
        seed=5,
    )
    table, fit = within.event_study(trending, "y", "cohort", (-4, 5))
    assert within.pre_trend_test(table, fit)[1] < 0.001


def test_collinear_regressor_raises():
    d = _unbalanced(seed=6)
    d["const_by_unit"] = d["district_code"].astype(int).astype(float)
    with pytest.raises(ValueError, match="collinear"):
        within.within_ols(d, "y", ["x", "const_by_unit"])

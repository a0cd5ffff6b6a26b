"""Comparisons with common support: propensity scores, trimming, and weighted and doubly robust DiD.

Designated districts are much poorer than the never-designated ones (baseline free/reduced-lunch share
29-99% against 0-31%), so a regression on baseline covariates compares them with districts that do not
exist and its estimates are extrapolation. The estimators here compare only where the two groups overlap:

- :func:`propensity_scores`: a logit of designation on baseline covariates (lightly ridge-penalized, so a
  covariate that separates the groups gives scores near 0 and 1 rather than a failed fit);
- :func:`overlap_region`: the Crump, Hotz, Imbens and Mitnik (2009) rule, keep districts with scores in
  ``[alpha, 1 - alpha]``, and :func:`overlap_table` to state the overlap;
- :func:`overlap_did`: on the districts kept, the unweighted DiD, the inverse-probability-weighted DiD
  (Abadie 2005) and the doubly robust DiD (Sant'Anna and Zhao 2020: outcome regression on the controls plus
  odds weights), each a Callaway-Sant'Anna group-time ATT of one cohort against never-treated districts,
  averaged over the post-period years, with a district bootstrap that re-estimates the scores and the
  outcome regression in every draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

#: Crump, Hotz, Imbens and Mitnik (2009, Biometrika 96(1)) rule of thumb: keep units whose propensity score
#: lies in [0.1, 0.9]; the optimal threshold they derive is close to 0.1 in most applications.
CRUMP_ALPHA = 0.1

#: Ridge penalty (on standardized covariates) of the propensity logit: small enough not to move scores
#: where the groups overlap, large enough to keep a separating covariate's coefficient finite.
PS_RIDGE = 0.1

#: Estimators of :func:`overlap_did`.
ESTIMATORS: dict[str, str] = {
    "did": "unweighted DiD on the overlap region",
    "ipw": "inverse-probability-weighted DiD (Abadie 2005) on the overlap region",
    "dr": "doubly robust Callaway-Sant'Anna (Sant'Anna-Zhao) on the overlap region",
}


def propensity_scores(units: pd.DataFrame, covariates: Sequence[str], treated: str = "treated",
                      ridge: float = PS_RIDGE) -> pd.Series:
    """Logit propensity scores of ``treated`` on ``covariates`` (one row per district).

    Covariates are standardized; the fit maximizes the log likelihood less ``ridge / 2`` times the squared
    slopes (Newton steps), so it exists even when a covariate separates the groups perfectly.

    Examples
    --------
    >>> units = pd.DataFrame({"treated": [0, 0, 1, 0, 1, 1], "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    >>> ps = propensity_scores(units, ["x"])
    >>> bool(ps.is_monotonic_increasing), bool(ps.between(0, 1).all())
    (True, True)
    """
    x = units[list(covariates)].to_numpy(dtype=float)
    y = units[treated].to_numpy(dtype=float)
    scale = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    design = np.column_stack([np.ones(len(z)), z])
    penalty = np.full(design.shape[1], ridge)
    penalty[0] = 0.0
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        grad = design.T @ (y - p) - penalty * beta
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hess + 1e-10 * np.eye(len(beta)), grad)
        beta += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return pd.Series(1.0 / (1.0 + np.exp(-design @ beta)), index=units.index, name="pscore")


def overlap_region(pscore: pd.Series, alpha: float = CRUMP_ALPHA) -> pd.Series:
    """Boolean: scores inside ``[alpha, 1 - alpha]`` (Crump et al. 2009).

    Examples
    --------
    >>> overlap_region(pd.Series([0.05, 0.1, 0.5, 0.95])).tolist()
    [False, True, True, False]
    """
    return pscore.between(alpha, 1 - alpha)


def overlap_table(units: pd.DataFrame, pscore: pd.Series, treated: str = "treated",
                  alpha: float = CRUMP_ALPHA) -> pd.DataFrame:
    """The propensity-score distribution by group and how many districts are in the overlap region.

    Returns
    -------
    pandas.DataFrame
        Index ``treated``/``comparison``; columns ``n, min, p10, p50, p90, max, n_overlap``.
    """
    rows = {}
    for label, flag in (("treated", 1), ("comparison", 0)):
        s = pscore.loc[units[treated] == flag]
        q = s.quantile([0.1, 0.5, 0.9]).to_numpy() if len(s) else np.full(3, np.nan)
        rows[label] = {"n": len(s), "min": s.min(), "p10": q[0], "p50": q[1], "p90": q[2], "max": s.max(),
                       "n_overlap": int(overlap_region(s, alpha).sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class OverlapEstimate:
    """One overlap-region estimate: the post-period average ATT with a district-bootstrap interval.

    ``ci_low``/``ci_high`` are percentile intervals; ``se`` is the bootstrap standard deviation and
    ``p_value`` the normal-approximation p-value of ``estimate / se``.
    """

    estimator: str
    outcome: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n_treated: int
    n_control: int
    n_boot: int
    by_year: dict[int, float] = field(default_factory=dict)


def unit_covariates(sample: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """One row per district of a sample: ``treated``, ``cohort`` and the baseline covariates."""
    return sample.groupby("district_code")[["treated", *covariates]].first()


def _att_years(wide: np.ndarray, years: np.ndarray, treated: np.ndarray, x: np.ndarray | None,
               base: int, post: Sequence[int], estimator: str, ridge: float) -> dict[int, float]:
    """ATT of each post year against ``base`` (districts observed in both), by ``estimator``."""
    jb = int(np.flatnonzero(years == base)[0])
    ps = None
    if estimator in ("ipw", "dr"):
        units = pd.DataFrame(x).assign(treated=treated)
        ps = propensity_scores(units, list(range(x.shape[1])), ridge=ridge).to_numpy()
        ps = np.clip(ps, 1e-6, 1 - 1e-6)
    out = {}
    for t in post:
        jt = int(np.flatnonzero(years == t)[0])
        dy = wide[:, jt] - wide[:, jb]
        ok = np.isfinite(dy)
        tr, co = ok & (treated == 1), ok & (treated == 0)
        if tr.sum() == 0 or co.sum() < 2:
            continue
        if estimator == "did":
            out[int(t)] = float(dy[tr].mean() - dy[co].mean())
            continue
        odds = ps[co] / (1 - ps[co])
        if estimator == "ipw":
            out[int(t)] = float(dy[tr].mean() - np.average(dy[co], weights=odds))
            continue
        design = np.column_stack([np.ones(len(dy)), x])
        beta, *_ = np.linalg.lstsq(design[co], dy[co], rcond=None)
        resid = dy - design @ beta
        out[int(t)] = float(resid[tr].mean() - np.average(resid[co], weights=odds))
    return out


def overlap_did(sample: pd.DataFrame, outcome: str, covariates: Sequence[str], estimator: str = "dr",
                n_boot: int = 499, seed: int | np.random.Generator = 0, alpha: float = 0.05,
                ridge: float = PS_RIDGE) -> OverlapEstimate:
    """Post-period average ATT of one cohort against never-treated districts, by ``estimator``.

    For each post year ``t``, ``ATT(t)`` compares the change from the base year ``b`` (the cohort's last
    pre-period year with data) of the treated districts with that of the controls: plainly (``did``),
    with the controls reweighted by their propensity odds ``p / (1 - p)`` (``ipw``), or with the controls'
    regression of the change on the covariates subtracted first and then odds-reweighted (``dr``:
    consistent if either the score or the outcome regression is right). The estimate is the mean of
    ``ATT(t)`` over post years. Pass the overlap region's districts only (:func:`overlap_region`).

    The interval resamples districts with replacement within the treated and the control group (so both
    counts stay fixed) and re-estimates everything, scores included, ``n_boot`` times.

    Parameters
    ----------
    sample
        One cohort and never-treated districts (:func:`~alliance_study.analysis.impact.build_sample`):
        ``district_code, year, cohort, treated``, the outcome and the covariates (time-invariant).
    outcome
        Outcome column.
    covariates
        Baseline covariate columns.
    estimator
        ``did``, ``ipw`` or ``dr`` (:data:`ESTIMATORS`).
    n_boot, seed, alpha
        Bootstrap draws, seed and interval level.
    ridge
        Penalty of the propensity logit (:func:`propensity_scores`).

    Examples
    --------
    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import impact
    >>> sim = impact.prepare_sample(simulate.staggered_panel(n_units=60, years=range(2009, 2017),
    ...                             cohorts={2013: 20}, effect=0.5, noise_sd=0.1, seed=3))
    >>> sim["x"] = sim.groupby("district_code")["baseline"].transform("first")
    >>> est = overlap_did(sim, "y", ["x"], "dr", n_boot=99)
    >>> round(est.estimate, 1), bool(est.ci_low < 0.5 < est.ci_high)
    (0.5, True)
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, not {estimator!r}")
    cohorts = sample["cohort"].dropna().unique()
    if len(cohorts) != 1:
        raise ValueError(f"overlap_did takes one treated cohort, got {sorted(map(int, cohorts))}")
    g = int(cohorts[0])
    wide = sample.pivot(index="district_code", columns="year", values=outcome)
    units = unit_covariates(sample, covariates).reindex(wide.index)
    years = np.asarray(wide.columns, dtype=int)
    values = wide.to_numpy(dtype=float)
    treated = units["treated"].to_numpy(dtype=int)
    x = units[list(covariates)].to_numpy(dtype=float) if covariates else np.zeros((len(units), 0))
    observed = years[np.isfinite(values[treated == 1]).any(axis=0)]
    pre = observed[observed < g]
    if len(pre) == 0:
        raise ValueError("the cohort has no pre-period year with data")
    base = int(pre.max())
    post = [int(t) for t in observed if t >= g]
    if estimator != "did" and x.shape[1] == 0:
        raise ValueError(f"{estimator} needs covariates")
    by_year = _att_years(values, years, treated, x, base, post, estimator, ridge)
    if not by_year:
        raise ValueError("no post-period year could be estimated")
    estimate = float(np.mean(list(by_year.values())))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    idx_t, idx_c = np.flatnonzero(treated == 1), np.flatnonzero(treated == 0)
    draws = np.full(n_boot, np.nan)
    for b in range(n_boot):
        pick = np.concatenate([rng.choice(idx_t, len(idx_t)), rng.choice(idx_c, len(idx_c))])
        att = _att_years(values[pick], years, treated[pick], x[pick], base, post, estimator, ridge)
        if att:
            draws[b] = np.mean(list(att.values()))
    draws = draws[np.isfinite(draws)]
    se = float(draws.std(ddof=1)) if len(draws) > 1 else float("nan")
    lo, hi = (np.quantile(draws, [alpha / 2, 1 - alpha / 2]) if len(draws) else (np.nan, np.nan))
    p = float(2 * stats.norm.sf(abs(estimate / se))) if se > 0 else float("nan")
    return OverlapEstimate(estimator, outcome, estimate, se, float(lo), float(hi), p, len(idx_t), len(idx_c),
                           len(draws), by_year)

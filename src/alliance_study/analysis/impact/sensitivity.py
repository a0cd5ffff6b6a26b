"""Pre-trend tests, the relative-magnitudes sensitivity (Rambachan-Roth, with the ARP conditional test of
:mod:`.honest`), placebo designation years and placebo outcomes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from alliance_study.analysis.impact.designs import PLACEBO_OUTCOMES, Design
from alliance_study.analysis.impact.inference import randomization_inference
from alliance_study.analysis.impact.results import EventStudy, mde, t_pvalue
from alliance_study.analysis.impact.sample import build_sample, cohort_array, prepare_sample
from alliance_study.analysis.impact.twfe import twfe_did


def pretrend_test(study: EventStudy, min_treated: int = 1, exclude: Sequence[int] = ()) -> dict[str, float]:
    """Joint Wald test that every pre-period event-time estimate is zero.

    ``F = b' V^-1 b / k`` with ``k`` pre-period estimates, referred to ``F(k, G - 1)``. Estimates resting
    on fewer than ``min_treated`` treated districts are left out: a cluster-robust variance from two or
    three treated districts is far too small, and one such lead would decide the test. Event times in
    ``exclude`` are left out too (e.g. the lead just before the reference year, to see whether one low year
    before designation, an Ashenfelter dip, drives the rejection).

    Returns
    -------
    dict
        ``f_stat``, ``df1`` (number of pre-period estimates), ``df2``, ``p_value`` (NaN when there is no
        pre-period estimate besides the reference, e.g. absenteeism, which starts in 2012).
    """
    pre = [e for e in study.pre_events(min_treated) if e not in set(exclude)]
    if not pre:
        return {"f_stat": float("nan"), "df1": 0, "df2": study.df, "p_value": float("nan")}
    b = study.table.set_index("event_time").loc[pre, "estimate"].to_numpy(dtype=float)
    v = study.vcov.loc[pre, pre].to_numpy(dtype=float)
    wald = float(b @ np.linalg.pinv(v) @ b)
    k = len(pre)
    return {"f_stat": wald / k, "df1": k, "df2": study.df,
            "p_value": float(stats.f.sf(wald / k, k, study.df))}


@dataclass
class Sensitivity:
    """Relative-magnitudes sensitivity of the post-period average effect (Rambachan and Roth's ``Delta^RM``).

    Attributes
    ----------
    table
        ``mbar, lower, upper``: the robust confidence set (ARP conditional test) for each ``mbar``.
    breakdown
        Smallest ``mbar`` at which the robust set includes zero (0 if it does under parallel trends; inf if
        not even at ``Mbar = 10``; NaN without any pre-period estimate besides the reference).
    max_pre_violation
        Largest change between consecutive pre-period estimates (the reference counts as 0), for reading
        ``mbar`` in outcome units.
    estimate, se
        Post-period average effect and its standard error.
    """

    table: pd.DataFrame
    breakdown: float
    max_pre_violation: float
    estimate: float
    se: float


def relative_magnitudes(study: EventStudy, mbar: Sequence[float] = (0, 0.25, 0.5, 0.75, 1, 1.5, 2),
                        alpha: float = 0.05, min_treated: int = 1) -> Sensitivity:
    """How large a violation of parallel trends would overturn the post-period average effect?

    Rambachan and Roth's (2023) relative-magnitudes restriction: after the reference period, the trend
    difference may change from one year to the next by at most ``mbar`` times the largest such change
    between consecutive pre-period years. For each ``mbar`` the confidence set is the inverted conditional
    test of Andrews, Roth and Pakes (:func:`~alliance_study.analysis.impact.honest.rm_confidence_set`, where
    the method and its checks against an independent implementation are described); the breakdown value is
    the smallest ``mbar`` at which the set includes zero. Normal critical values, as in Rambachan and Roth.
    Pre-period estimates resting on fewer than ``min_treated`` treated districts are ignored (and so is any
    lead beyond a gap; :func:`~alliance_study.analysis.impact.honest.event_vector`).

    Examples
    --------
    >>> import numpy as np
    >>> from alliance_study.analysis.impact import results
    >>> events = [-3, -2, 0, 1]
    >>> table, vc = results.event_table(events, np.array([0.10, 0.05, 0.30, 0.40]), np.eye(4) * 1e-4,
    ...                                 dict.fromkeys(events, 10), -1, 99, 0.05)
    >>> study = EventStudy("twfe", "y", table, vc, -1, 100, 10, 99)
    >>> sens = relative_magnitudes(study, mbar=(0, 1))
    >>> round(sens.max_pre_violation, 2), bool(0 < sens.breakdown < 10)
    (0.05, True)
    """
    from alliance_study.analysis.impact import honest

    vec = honest.event_vector(study, min_treated)
    avg = study.post_average(alpha)
    theta, se = avg["estimate"], avg["se"]
    if vec.n_pre == 0 or not vec.post.any():
        rows = [{"mbar": float(m), "lower": float("nan"), "upper": float("nan")} for m in mbar]
        return Sensitivity(pd.DataFrame(rows), float("nan"), float("nan"), theta, se)
    l_post = honest.target_weights(vec)
    rows = []
    for m in mbar:
        ci = honest.rm_confidence_set(vec, float(m), l_post, alpha)
        rows.append({"mbar": float(m), "lower": ci.lower, "upper": ci.upper})
    delta = float(np.abs(np.diff(np.r_[vec.beta[vec.pre], 0.0])).max())
    return Sensitivity(pd.DataFrame(rows), honest.breakdown(vec, "relative_magnitudes", l_post, alpha), delta,
                       theta, se)


@dataclass
class TrendAdjusted:
    """The post-period average after removing a linear pre-trend extended into the post period.

    Attributes
    ----------
    estimate, se, p_value, ci_low, ci_high, mde
        The adjusted post-period average (equal weights over post event times) and its inference.
    slope
        Fitted pre-period trend per year (outcome units).
    n_pre
        Pre-period estimates the line is fitted to (besides the reference period).
    """

    estimate: float
    se: float
    p_value: float
    ci_low: float
    ci_high: float
    mde: float
    slope: float
    n_pre: int


def trend_adjusted(study: EventStudy, min_treated: int = 1, alpha: float = 0.05,
                   exclude: Sequence[int] = ()) -> TrendAdjusted:
    """The post-period average net of the pre-period trend extended linearly (a trend-adjusted event study).

    A line ``a + s * e`` is fitted by least squares to the pre-period estimates (event times ``e < 0``
    resting on at least ``min_treated`` treated districts, less ``exclude``) and the reference period (an
    estimate of exactly 0); each post-period estimate minus the line at its event time is averaged with equal
    weights. The result is a fixed linear combination ``c'b`` of the event-time estimates, so its standard
    error is ``sqrt(c'Vc)`` from the estimator's cluster-robust covariance, with ``G - 1`` degrees of freedom.
    With a single pre-period estimate the line passes through it and the reference, so the adjustment
    extrapolates one difference: honest about how little the pre-period says, hence wide.

    Returns NaNs (``n_pre`` 0) without any pre-period estimate besides the reference.
    """
    pre = [e for e in study.pre_events(min_treated) if e not in set(exclude)]
    post = [int(e) for e in study.vcov.index if e >= 0]
    if not pre or not post:
        nan = float("nan")
        return TrendAdjusted(nan, nan, nan, nan, nan, nan, nan, len(pre))
    events = [int(e) for e in study.vcov.index]
    pos = {e: k for k, e in enumerate(events)}
    points = sorted([*pre, study.reference])
    # Least-squares line through (e, b_e) with b_ref = 0: coefficients are linear in the estimates.
    z = np.column_stack([np.ones(len(points)), np.asarray(points, dtype=float)])
    fit = np.linalg.pinv(z)  # 2 x points: (a, s) = fit @ b_points
    c = np.zeros(len(events))
    for e in post:
        c[pos[e]] += 1.0 / len(post)
        line = np.array([1.0, float(e)]) @ fit  # weight of each point's estimate in the line at e
        for p, w in zip(points, line, strict=True):
            if p != study.reference:
                c[pos[p]] -= w / len(post)
    slope_c = np.zeros(len(events))
    for p, w in zip(points, fit[1], strict=True):
        if p != study.reference:
            slope_c[pos[p]] = w
    est = study.table.set_index("event_time").loc[events, "estimate"].to_numpy(dtype=float)
    v = study.vcov.loc[events, events].to_numpy(dtype=float)
    theta = float(c @ est)
    se = float(math.sqrt(max(c @ v @ c, 0.0)))
    q = stats.t.ppf(1 - alpha / 2, study.df)
    return TrendAdjusted(theta, se, t_pvalue(theta, se, study.df), float(theta - q * se),
                         float(theta + q * se),
                         mde(se, df=study.df), float(slope_c @ est), len(pre))


def placebo_years(sample: pd.DataFrame, outcome: str, shifts: Sequence[int] = (1, 2),
                  covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Fake designation years inside the pre-period: the static TWFE estimate should be near zero.

    For each shift ``s``, only years before each district's real cohort are kept (all years before the
    earliest cohort for controls) and every cohort is moved ``s`` years earlier.

    Returns
    -------
    pandas.DataFrame
        ``shift, fake_years, estimate, se, p_value, mde, n_years``; a shift without at least one year on
        each side of the fake date has missing values.
    """
    first = int(sample["cohort"].dropna().min()) if sample["cohort"].notna().any() else None
    rows = []
    for s in shifts:
        base = {"shift": int(s), "fake_years": "", "estimate": np.nan, "se": np.nan, "p_value": np.nan,
                "mde": np.nan, "n_years": 0}
        if first is None:
            rows.append(base)
            continue
        cohort = cohort_array(sample)
        limit = np.where(np.isnan(cohort), first, cohort)
        pre = sample.loc[sample["year"].to_numpy() < limit].copy()
        pre["cohort"] = (pre["cohort"].astype("Float64") - s).astype("Int64")
        pre = prepare_sample(pre.drop(columns=["treated", "post", "event_time"]))
        fake = sorted(pre["cohort"].dropna().unique().tolist())
        ok = pre.loc[pre["treated"] == 1]
        if ok.empty or not ((ok["post"] == 1).any() and (ok["post"] == 0).any()):
            rows.append({**base, "fake_years": ", ".join(str(int(f)) for f in fake)})
            continue
        # Cohorts left with only fake-post or only fake-pre years identify nothing; drop them.
        keep_cohorts = [g for g in fake if ((pre["cohort"] == g) & (pre["post"] == 1)).any()
                        and ((pre["cohort"] == g) & (pre["post"] == 0)).any()]
        pre = pre.loc[pre["cohort"].isna() | pre["cohort"].isin(keep_cohorts)]
        did = twfe_did(pre, outcome, covariates)
        rows.append({"shift": int(s), "fake_years": ", ".join(str(int(f)) for f in keep_cohorts),
                     "estimate": did.estimate, "se": did.se, "p_value": did.p_value, "mde": did.mde,
                     "n_years": int(pre["year"].nunique())})
    return pd.DataFrame(rows)


def placebo_outcomes(panel: pd.DataFrame, design: Design, outcomes: Sequence[str] = tuple(PLACEBO_OUTCOMES),
                     n_permutations: int = 2_000, seed: int = 0, start_year: int | None = None,
                     end_year: int | None = None) -> pd.DataFrame:
    """Static TWFE estimates for outcomes the program should not move, with RI p-values and MDEs.

    Run without covariates (the placebo outcomes are the covariates).

    Returns
    -------
    pandas.DataFrame
        ``outcome, estimate, se, p_cluster, p_ri, mde, n_treated, n_control``.
    """
    plain = dataclasses.replace(design, covariates=())
    rows = []
    for k, outcome in enumerate(outcomes):
        sample = build_sample(panel, outcome, plain, start_year, end_year)
        did = twfe_did(sample, outcome)
        ri = randomization_inference(sample, outcome, n_permutations, seed=seed + k)
        rows.append({"outcome": outcome, "estimate": did.estimate, "se": did.se, "p_cluster": did.p_value,
                     "p_ri": ri.p_value, "mde": did.mde, "n_treated": did.n_treated,
                     "n_control": did.n_clusters - did.n_treated})
    return pd.DataFrame(rows)

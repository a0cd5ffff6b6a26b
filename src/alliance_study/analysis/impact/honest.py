"""Honest difference-in-differences (Rambachan and Roth 2023) and simultaneous (sup-t) event-study bands.

Rambachan and Roth write the event-study coefficients as ``beta = tau + delta``: the effect ``tau`` (zero
before designation) plus the difference in trends ``delta`` (zero in the reference period). Parallel trends
says ``delta_post = 0``; instead they bound ``delta`` by a set ``Delta`` and give confidence sets for a target
``theta = l' tau_post`` that are valid for any ``delta`` in it. Two sets are implemented here, from the
paper's definitions (A. Rambachan and J. Roth, "A More Credible Approach to Parallel Trends", Review of
Economic Studies 90(5), 2023: 2555-2591):

- **Smoothness**, ``Delta^SD(M)``: every second difference
  ``(delta_{t+1} - delta_t) - (delta_t - delta_{t-1})`` is at most ``M`` in absolute value, so the trend
  difference may bend by at most ``M`` a year. ``M = 0`` allows any linear trend (it is the linear-trend
  extrapolation). Inference: the fixed-length confidence interval (FLCI) of Armstrong and Kolesar, which
  Rambachan and Roth recommend for this set (near-optimal length; :func:`flci`).
- **Relative magnitudes**, ``Delta^RM(Mbar)``: every year-to-year change of ``delta`` after the reference
  period is at most ``Mbar`` times the largest year-to-year change before it. Inference: the conditional
  test of Andrews, Roth and Pakes (ARP; "Inference for Linear Conditional Moment Inequalities", Review of
  Economic Studies 90(6), 2023) inverted over ``theta``, on each of the polyhedra whose union is
  ``Delta^RM`` (which pre-period change is the largest, and its sign), the confidence set being the union
  (:func:`rm_confidence_set`). Rambachan and Roth's default is the conditional-least-favourable hybrid;
  its least-favourable critical value needs a simulated linear programme per draw for every polyhedron and
  ``Mbar`` (thousands of LPs per interval), which is too slow for a chapter built on every change, so the
  plain conditional test (the hybrid with ``kappa = 0``; also uniformly valid) is used. It can be less
  powerful than the hybrid when the binding moments are nearly degenerate, i.e. its intervals err wide.
  The truncation interval of the conditional test comes from the optimal basis of the LP (closed form);
  when the LP is degenerate it is found by two linear-fractional programmes (Charnes-Cooper), so the test
  is exact either way.

Both are checked against an independent implementation (``moderndid``; tests/test_impact_honest.py).

The **breakdown value** is the smallest ``M`` (or ``Mbar``) at which the confidence set includes zero
(:func:`breakdown`): zero if the estimate is not significant even under parallel trends.

**Simultaneous bands** (:func:`sup_t_band`): Montiel Olea and Plagborg-Moller's sup-t band, ``b_e +- c se_e``
with ``c`` the ``1 - alpha`` quantile of ``max_e |T_e|`` for ``T`` multivariate t (the estimates' correlation,
``G - 1`` degrees of freedom, as the pointwise intervals) by simulation; it covers the whole path of true
coefficients with probability ``1 - alpha`` (J. L. Montiel Olea and M. Plagborg-Moller, "Simultaneous
Confidence Bands: Theory, Implementation, and an Application to SVARs", Journal of Applied Econometrics
34(1), 2019: 1-17).

Event times map to Rambachan and Roth's periods as ``t = event_time - reference``. The pre-period is the
block of consecutive years just before the reference with estimates on at least ``min_treated`` treated
districts (a lead beyond a gap is left out: the restrictions speak of consecutive years); post-period years
without an estimate (the 2014 and 2020 test gaps) stay in the restrictions as unobserved years.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtr

from alliance_study.analysis.impact.results import EventStudy

#: Restriction names: smoothness (``Delta^SD(M)``) and relative magnitudes (``Delta^RM(Mbar)``).
RESTRICTIONS: tuple[str, ...] = ("smoothness", "relative_magnitudes")

# Normal quantiles of the usual levels, cached: the FLCI's optimiser evaluates the folded-normal quantile
# thousands of times.
_ALPHAS = (0.01, 0.05, 0.1)
_Z = {a: float(stats.norm.isf(a)) for q in _ALPHAS for a in (q, q / 2)}
_SQRT_2PI = math.sqrt(2 * math.pi)

# Numerical tolerance for "binding" constraints and positive dual weights in the ARP linear programme.
_TOL = 1e-9


@dataclass(frozen=True)
class EventVector:
    """The event-study coefficients in Rambachan and Roth's layout.

    Attributes
    ----------
    periods
        ``t = event_time - reference`` of each coefficient, ascending: negative (pre) then positive (post).
    beta, sigma
        Coefficients and their covariance, in the order of ``periods``.
    events
        The event times (``periods + reference``).
    """

    periods: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray
    events: np.ndarray

    @property
    def pre(self) -> np.ndarray:
        return self.periods < 0

    @property
    def post(self) -> np.ndarray:
        return self.periods > 0

    @property
    def n_pre(self) -> int:
        return int(self.pre.sum())


def event_vector(study: EventStudy, min_treated: int = 1) -> EventVector:
    """The coefficients and covariance of ``study`` for the honest analysis (see the module notes).

    Pre-period: consecutive event times ``reference - 1, reference - 2, ...`` with estimates on at least
    ``min_treated`` treated districts; post-period: every event time ``>= 0`` (as the headline post average).
    """
    ref = int(study.reference)
    usable = set(study.pre_events(min_treated))
    pre = []
    e = ref - 1
    while e in usable:
        pre.append(e)
        e -= 1
    post = [int(e) for e in study.vcov.index if e >= 0]
    events = sorted(pre) + sorted(post)
    beta = study.table.set_index("event_time").loc[events, "estimate"].to_numpy(dtype=float)
    sigma = study.vcov.loc[events, events].to_numpy(dtype=float)
    ev = np.asarray(events, dtype=int)
    return EventVector(ev - ref, beta, sigma, ev)


def from_arrays(beta: Sequence[float], sigma: np.ndarray, n_pre: int) -> EventVector:
    """An :class:`EventVector` of ``n_pre`` consecutive pre-periods then consecutive post-periods (the layout
    of Rambachan and Roth's software), e.g. for a published example.

    Examples
    --------
    >>> v = from_arrays([0.1, 0.0, 0.5, 0.6], np.eye(4) * 0.01, n_pre=2)
    >>> v.periods.tolist()
    [-2, -1, 1, 2]
    """
    beta = np.asarray(beta, dtype=float)
    n_post = len(beta) - n_pre
    periods = np.r_[np.arange(-n_pre, 0), np.arange(1, n_post + 1)]
    return EventVector(periods, beta, np.asarray(sigma, dtype=float), periods.copy())


def target_weights(vec: EventVector, target: str | int = "average") -> np.ndarray:
    """Weights ``l`` over the post-period coefficients: ``"average"`` (equal weights, the headline post
    average) or one post period ``t`` (an integer, Rambachan and Roth's period,
    ``event_time - reference``)."""
    post = vec.periods[vec.post]
    if target == "average":
        return np.full(len(post), 1.0 / len(post))
    hit = post == int(target)
    if not hit.any():
        raise ValueError(f"period {target} is not a post-period of the event study")
    return hit.astype(float)


# --------------------------------------------------------------------------------------------------------
# Smoothness: the fixed-length confidence interval.


def folded_normal_quantile(bias: float, alpha: float = 0.05) -> float:
    """``cv_alpha(b)``: the ``1 - alpha`` quantile of ``|N(b, 1)|``.

    Examples
    --------
    >>> round(folded_normal_quantile(0.0), 4)  # the two-sided normal critical value
    1.96
    """
    b = abs(float(bias))
    # Solve Phi(c - b) - Phi(-c - b) = 1 - alpha by Newton's method from above (the function is concave in c
    # there, so the iterates decrease monotonically to the root).
    c = max(_Z[alpha / 2], b + _Z[alpha]) if alpha in _ALPHAS else max(stats.norm.isf(alpha / 2),
                                                                          b + stats.norm.isf(alpha))
    for _ in range(100):
        g = ndtr(c - b) - ndtr(-c - b) - (1 - alpha)
        step = g / ((math.exp(-0.5 * (c - b) ** 2) + math.exp(-0.5 * (c + b) ** 2)) / _SQRT_2PI)
        c -= step
        if abs(step) < 1e-12:
            break
    return float(c)


def _second_difference_basis(vec: EventVector) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid of all periods from the first to the last (0 excluded), which of them are observed, and ``H``
    with ``delta = s * t + H a`` (``a`` the second differences at the interior grid points, ``s`` the slope
    ``delta_1 - delta_0``; ``delta_0 = 0``)."""
    t_min, t_max = int(vec.periods.min()), int(vec.periods.max())
    grid = np.array([t for t in range(t_min, t_max + 1) if t != 0])
    interior = np.arange(t_min + 1, t_max)  # second differences centred here (0 included)
    h = np.zeros((len(grid), len(interior)))
    for i, t in enumerate(grid):
        for k, j in enumerate(interior):
            if t > 0 and 1 <= j <= t - 1:
                h[i, k] = t - j
            elif t < 0 and t + 1 <= j <= 0:
                h[i, k] = j - t
    return grid, np.isin(grid, vec.periods), h


@dataclass(frozen=True)
class Interval:
    """A confidence interval: ``lower``, ``upper`` (and the centre and half-length of an FLCI)."""

    lower: float
    upper: float

    def contains(self, value: float) -> bool:
        return bool(self.lower <= value <= self.upper)


def flci(vec: EventVector, m: float, l_post: np.ndarray | None = None, alpha: float = 0.05) -> Interval:
    """Fixed-length confidence interval for ``theta = l' tau_post`` under ``Delta^SD(M)``.

    The interval is ``v'beta_hat +- sigma_v cv_alpha(bias(v) / sigma_v)`` for an affine estimator
    ``v'beta_hat`` whose post weights are ``l`` (so that ``tau`` cancels) and whose pre weights are chosen to
    minimise the half-length. ``bias(v)`` is the worst case of ``v'delta`` over ``Delta^SD(M)``: writing
    ``delta`` through its slope and second differences, it is finite only if ``v`` is blind to linear trends
    (``sum_t v_t t = 0``) and then equals ``M ||H'v||_1``. The half-length is convex in the pre weights (a
    perspective of the convex ``cv_alpha``), so the minimisation is a small smooth convex programme (SLSQP on
    an epigraph form).

    Returns an infinite interval without a pre-period (a linear trend cannot be pinned down).

    Examples
    --------
    With one pre-period and ``M = 0`` the estimator extrapolates the line through the lead and the
    reference year: ``b_1 + b_{-1}``, with standard error ``sqrt(2) * 0.1`` here.

    >>> v = from_arrays([0.2, 1.0], np.eye(2) * 0.01, n_pre=1)
    >>> ci = flci(v, 0.0)
    >>> round(ci.lower, 3), round(ci.upper, 3)
    (0.923, 1.477)
    """
    l_post = target_weights(vec) if l_post is None else np.asarray(l_post, dtype=float)
    if vec.n_pre == 0:
        return Interval(-math.inf, math.inf)
    grid, _, h = _second_difference_basis(vec)
    pos = {int(t): i for i, t in enumerate(grid)}
    pre_idx = [pos[int(t)] for t in vec.periods[vec.pre]]
    post_idx = [pos[int(t)] for t in vec.periods[vec.post]]
    pre_t = vec.periods[vec.pre].astype(float)
    post_t = vec.periods[vec.post].astype(float)
    sig = vec.sigma

    def full(v_pre: np.ndarray) -> np.ndarray:
        v = np.zeros(len(grid))
        v[pre_idx] = v_pre
        v[post_idx] = l_post
        return v

    # v_pre = x0 + N z satisfies the linear-trend condition pre_t'v_pre = -post_t'l for every z.
    rhs = -float(post_t @ l_post)
    x0 = pre_t * rhs / float(pre_t @ pre_t)
    null = np.linalg.svd(pre_t[None, :])[2][1:].T  # n_pre x (n_pre - 1)

    def parts(z: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        v_pre = x0 + null @ z
        v_obs = np.r_[v_pre, l_post]
        sd = math.sqrt(max(float(v_obs @ sig @ v_obs), 1e-300))
        return v_pre, sd, h.T @ full(v_pre)

    k = null.shape[1]
    z_best = np.zeros(k)
    if k:
        def objective(x: np.ndarray) -> float:
            _, sd, _ = parts(x[:k])
            return sd * folded_normal_quantile(m * float(x[k:].sum()) / sd, alpha)

        def slack(x: np.ndarray) -> np.ndarray:
            _, _, c = parts(x[:k])
            return np.r_[x[k:] - c, x[k:] + c]

        u0 = np.abs(parts(np.zeros(k))[2]) + 1e-6
        res = optimize.minimize(objective, np.r_[np.zeros(k), u0], method="SLSQP",
                                constraints=[{"type": "ineq", "fun": slack}],
                                options={"maxiter": 500, "ftol": 1e-12})
        z_best = res.x[:k]
    v_pre, sd, c = parts(z_best)
    half = sd * folded_normal_quantile(m * float(np.abs(c).sum()) / sd, alpha)
    centre = float(v_pre @ vec.beta[vec.pre] + l_post @ vec.beta[vec.post])
    return Interval(centre - half, centre + half)


# --------------------------------------------------------------------------------------------------------
# Relative magnitudes: the ARP conditional test on each polyhedron of Delta^RM, inverted over theta.


def _rm_polyhedra(vec: EventVector, mbar: float) -> list[np.ndarray]:
    """``A`` (rows x grid) of each polyhedron ``{delta: A delta <= 0}`` whose union is ``Delta^RM(Mbar)``.

    Grid: every period from the first pre-period to the last post-period, 0 excluded (``delta_0 = 0``). For
    pre-period change ``s`` and sign ``+-``: that change ``D_s = delta_{s+1} - delta_s`` has the given sign
    and is the largest in absolute value before the reference, and every change after it is at most
    ``Mbar |D_s|``.
    The rows returned are the latter (``|D_q| <= Mbar * sign * D_s`` for each post change ``q``); the rows
    that involve pre-period years only (sign and maximality of ``D_s``) are not tested (see below).
    """
    t_min, t_max = int(vec.periods.min()), int(vec.periods.max())
    grid = [t for t in range(t_min, t_max + 1) if t != 0]
    pos = {t: i for i, t in enumerate(grid)}

    def diff(r: int) -> np.ndarray:  # delta_{r+1} - delta_r as a row over the grid
        row = np.zeros(len(grid))
        if r + 1 != 0:
            row[pos[r + 1]] += 1.0
        if r != 0:
            row[pos[r]] -= 1.0
        return row

    pre_changes = list(range(t_min, 0))
    post_changes = list(range(0, t_max))
    out = []
    for s in pre_changes:
        for sign in (1.0, -1.0):
            ds = sign * diff(s)  # |D_s| on this polyhedron
            rows = [r for q in post_changes for r in (diff(q) - mbar * ds, -diff(q) - mbar * ds)]
            a = np.array(rows)
            # Only the moments that involve a post-period year are tested (Rambachan and Roth's software does
            # the same by default): the others do not involve theta, and fewer moments keep the test valid
            # while stopping the pre-period data alone from rejecting a polyhedron for every theta.
            post_cols = [pos[t] for t in grid if t > 0]
            out.append(a[np.abs(a[:, post_cols]).sum(axis=1) > _TOL])
    return out


@dataclass(frozen=True)
class _Moments:
    """``Y(theta) = y0 - y1 * theta`` must satisfy ``Y - X gamma <= 0`` for some nuisance ``gamma``.

    ``keep`` marks the moments with sampling noise (the ones tested) and ``lp`` solves the statistic's LP.
    """

    y0: np.ndarray
    y1: np.ndarray
    x: np.ndarray
    cov: np.ndarray
    sd: np.ndarray
    keep: np.ndarray
    lp: _StatisticLP


def _moments(vec: EventVector, a: np.ndarray, l_post: np.ndarray) -> _Moments:
    t_min, t_max = int(vec.periods.min()), int(vec.periods.max())
    grid = [t for t in range(t_min, t_max + 1) if t != 0]
    pos = {t: i for i, t in enumerate(grid)}
    obs_cols = [pos[int(t)] for t in vec.periods]
    unobs_cols = [i for i, t in enumerate(grid) if t not in set(vec.periods.tolist())]
    a_obs = a[:, obs_cols]
    a_post = a_obs[:, vec.post]
    # tau_post = l theta / (l'l) + N g, with N spanning the complement of l.
    null = np.linalg.svd(l_post[None, :])[2][1:].T
    y0 = a_obs @ vec.beta
    y1 = a_post @ l_post / float(l_post @ l_post)
    x = np.column_stack([a_post @ null, -a[:, unobs_cols]]) if unobs_cols else a_post @ null
    cov = a_obs @ vec.sigma @ a_obs.T
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    x = np.atleast_2d(x).reshape(len(y0), -1)
    # Rows without noise restrict only the unobserved years (with Mbar = 0 across a gap in the data: the
    # trend difference must stay flat through it); they stay in the LP as hard constraints on the nuisance
    # (their scale is 0). Rows that restrict nothing at all are dropped.
    keep = (sd > _TOL) | (np.abs(x).sum(axis=1) > _TOL)
    return _Moments(y0, y1, x, cov, sd, keep, _StatisticLP(sd[keep], x[keep]))


def _highs_min(cost: np.ndarray, a_eq: np.ndarray, b_eq: np.ndarray) -> float | None:
    """``min cost'w`` s.t. ``a_eq w = b_eq``, ``w >= 0`` with HiGHS: the optimum, ``-inf`` if unbounded,
    None if infeasible."""
    import highspy

    h = _quiet_highs()
    rows, cols = a_eq.shape
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = cols, rows
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.zeros(cols)
    lp.col_upper_ = np.full(cols, highspy.kHighsInf)
    lp.row_lower_ = lp.row_upper_ = np.asarray(b_eq, dtype=float)
    nz = a_eq != 0
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[0, np.cumsum(nz.sum(axis=0))].astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate([np.flatnonzero(nz[:, j]) for j in range(cols)]).astype(np.int32)
    lp.a_matrix_.value_ = a_eq.T[nz.T]
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return float(h.getInfo().objective_function_value)
    if status == highspy.HighsModelStatus.kUnbounded:
        return -math.inf
    return None


def _truncation_by_lp(y: np.ndarray, w: np.ndarray, xmat: np.ndarray, lam: np.ndarray, cvec: np.ndarray
                      ) -> tuple[float, float]:
    """``[V^lo, V^up]`` by two linear-fractional programmes over the dual polytope (Charnes-Cooper)."""
    s = y - cvec * float(lam @ y)
    ls = float(lam @ s)
    eq = np.vstack([xmat.T, (w - cvec)[None, :]]) if xmat.size else (w - cvec)[None, :]
    rhs = np.r_[np.zeros(xmat.shape[1]), 1.0]
    lo = _highs_min(-(s - ls * w), eq, rhs)
    v_lo = -math.inf if lo is None else -lo
    eq[-1] = cvec - w
    up = _highs_min(ls * w - s, eq, rhs)
    v_up = math.inf if up is None else up
    return v_lo, v_up


def _quiet_highs():
    """A HiGHS instance with logging off; the licence banner its first construction writes to the process's
    standard output (below Python, so it would land in a notebook's output) goes to /dev/null."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


class _StatisticLP:
    """The ARP statistic ``eta(Y) = min { eta : Y - X g <= eta * sd }`` for many ``Y`` with the same ``X``.

    One HiGHS model is built and only the right-hand side changes between solves (a warm-started dual
    simplex), which makes a test inversion's hundreds of solves cheap.
    """

    def __init__(self, w: np.ndarray, xmat: np.ndarray) -> None:
        import highspy

        k, p = xmat.shape
        self.k = k
        self.inf = highspy.kHighsInf
        self.h = _quiet_highs()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = p + 1, k
        lp.col_cost_ = np.r_[1.0, np.zeros(p)]
        lp.col_lower_ = np.full(p + 1, -self.inf)
        lp.col_upper_ = np.full(p + 1, self.inf)
        lp.row_lower_ = np.full(k, -self.inf)
        lp.row_upper_ = np.zeros(k)
        dense = np.column_stack([-w, -xmat])
        nz = dense != 0
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.r_[0, np.cumsum(nz.sum(axis=0))].astype(np.int32)
        lp.a_matrix_.index_ = np.concatenate([np.flatnonzero(nz[:, j])
                                              for j in range(p + 1)]).astype(np.int32)
        lp.a_matrix_.value_ = dense.T[nz.T]
        self.h.passModel(lp)
        self.rows = np.arange(k, dtype=np.int32)
        self.unbounded = {highspy.HighsModelStatus.kUnbounded,
                          highspy.HighsModelStatus.kUnboundedOrInfeasible}
        self.optimal = highspy.HighsModelStatus.kOptimal

    def solve(self, y: np.ndarray) -> tuple[str, float, np.ndarray, np.ndarray]:
        """Status ("optimal", "unbounded" or "failed"), ``eta``, the dual weights (>= 0) and the slacks."""
        self.h.changeRowsBounds(self.k, self.rows, np.full(self.k, -self.inf), -y)
        self.h.run()
        status = self.h.getModelStatus()
        if status in self.unbounded:
            return "unbounded", -math.inf, np.zeros(self.k), np.zeros(self.k)
        if status != self.optimal:
            return "failed", math.nan, np.zeros(self.k), np.zeros(self.k)
        sol = self.h.getSolution()
        lam = -np.asarray(sol.row_dual, dtype=float)
        slack = -y - np.asarray(sol.row_value, dtype=float)
        return "optimal", float(self.h.getInfo().objective_function_value), lam, slack


def _conditional_pvalue(mom: _Moments, theta: float) -> float:
    """p-value of the ARP conditional test of ``theta`` (truncated-normal tail of the LP statistic)."""
    y = mom.y0 - mom.y1 * theta
    keep = mom.keep
    y, xmat, w, cov = y[keep], mom.x[keep], mom.sd[keep], mom.cov[np.ix_(keep, keep)]
    k, p = xmat.shape
    status, eta, lam, slack = mom.lp.solve(y)
    if status == "unbounded":  # the moments hold with room to spare
        return 1.0
    if status != "optimal":
        return float("nan")
    lam = np.where(lam > _TOL, lam, 0.0)
    lam = lam / float(lam @ w)
    var = float(lam @ cov @ lam)
    if var <= 0:
        return 1.0 if eta <= 0 else 0.0
    cvec = cov @ lam / var
    # Truncation interval of lam'Y given S = Y - c lam'Y and the optimal vertex: from the optimal basis
    # when the LP is non-degenerate (the range of t over which the basis stays primal feasible), else by LP.
    wmat = np.column_stack([w, xmat])
    binding = np.flatnonzero(np.abs(slack) <= 1e-8 * max(1.0, np.abs(y).max()))
    v_lo, v_up = -math.inf, math.inf
    closed = len(binding) == p + 1 and np.linalg.matrix_rank(wmat[binding]) == p + 1
    if closed:
        s = y - cvec * eta
        inv = np.linalg.inv(wmat[binding])
        # Along Y(t) = S + c t the basic solution is inv @ Y_B(t); non-basic slacks must stay >= 0.
        free = np.setdiff1d(np.arange(k), binding)
        base = s[free] - wmat[free] @ (inv @ s[binding])
        slope = cvec[free] - wmat[free] @ (inv @ cvec[binding])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = -base / slope
        if (slope < -_TOL).any():
            v_lo = float(ratio[slope < -_TOL].max())
        if (slope > _TOL).any():
            v_up = float(ratio[slope > _TOL].min())
        closed = v_lo <= eta + 1e-7 <= v_up + 2e-7
    if not closed:
        v_lo, v_up = _truncation_by_lp(y, w, xmat, lam, cvec)
    sd = math.sqrt(var)
    lo, hi, at = v_lo / sd, v_up / sd, min(max(eta / sd, v_lo / sd), v_up / sd)
    # P(Z > at | lo <= Z <= hi) for standard normal Z, in the tail that keeps precision.
    if at > 0:
        num = ndtr(-at) - ndtr(-hi)
        den = ndtr(-lo) - ndtr(-hi)
    else:
        num = ndtr(hi) - ndtr(at)
        den = ndtr(hi) - ndtr(lo)
    if den <= 0:
        return 0.0 if at > 0 else 1.0
    return float(min(max(num / den, 0.0), 1.0))


def rm_test(vec: EventVector, theta: float, mbar: float, l_post: np.ndarray | None = None,
            alpha: float = 0.05) -> bool:
    """Whether ``theta`` is in the conditional confidence set under ``Delta^RM(Mbar)`` (accepted by the
    ARP conditional test on at least one of the polyhedra whose union is ``Delta^RM``)."""
    l_post = target_weights(vec) if l_post is None else np.asarray(l_post, dtype=float)
    return any(_conditional_pvalue(_moments(vec, a, l_post), theta) > alpha for a in _rm_polyhedra(vec, mbar))


def rm_confidence_set(vec: EventVector, mbar: float, l_post: np.ndarray | None = None, alpha: float = 0.05,
                      n_grid: int = 15, tol: float | None = None) -> Interval:
    """Conditional confidence set for ``theta = l' tau_post`` under ``Delta^RM(Mbar)`` (its hull).

    Each polyhedron's set is found by test inversion: a grid of ``n_grid`` values of ``theta`` over a range
    wide enough to hold the set (widened until its ends are rejected), then each end refined by bisection to
    ``tol`` (default 1e-3 of the target's standard error), so the ends do not sit on a grid. The union
    is reported by its lowest and highest accepted value, as Rambachan and Roth's software does.
    Returns an infinite interval without a pre-period (the restriction scales by a pre-period change).

    Examples
    --------
    With ``Mbar = 0`` (no change after the reference) the set is close to the usual interval:

    >>> v = from_arrays([0.05, 1.0], np.eye(2) * 0.01, n_pre=1)
    >>> ci = rm_confidence_set(v, 0.0)
    >>> bool(0.75 < ci.lower < 0.85 and 1.15 < ci.upper < 1.25)
    True
    """
    l_post = target_weights(vec) if l_post is None else np.asarray(l_post, dtype=float)
    if vec.n_pre == 0:
        return Interval(-math.inf, math.inf)
    post_sd = math.sqrt(float(l_post @ vec.sigma[np.ix_(vec.post, vec.post)] @ l_post))
    tol = 1e-3 * post_sd if tol is None else tol
    centre = float(l_post @ vec.beta[vec.post])
    pre_sd = np.sqrt(np.diag(vec.sigma)[vec.pre])
    scale = np.abs(np.diff(np.r_[vec.beta[vec.pre], 0.0])).max() + 3 * pre_sd.max()
    horizon = float(np.abs(l_post) @ vec.periods[vec.post])
    half = 4 * post_sd + 2 * mbar * scale * horizon
    moments = [_moments(vec, a, l_post) for a in _rm_polyhedra(vec, mbar)]

    order = list(range(len(moments)))

    def accepted(theta: float) -> bool:
        # The polyhedron that accepted last is tried first: neighbouring values are usually accepted by it.
        for i in order:
            if _conditional_pvalue(moments[i], theta) > alpha:
                order.remove(i)
                order.insert(0, i)
                return True
        return False

    grid, ok = np.array([centre]), np.array([False])
    for _ in range(8):
        grid = np.linspace(centre - half, centre + half, n_grid)
        ok = np.array([accepted(t) for t in grid])
        if not ok.any():  # a narrow set between grid points: look once more on a finer grid
            grid = np.linspace(centre - half, centre + half, 8 * n_grid)
            ok = np.array([accepted(t) for t in grid])
        if not (ok[0] or ok[-1]):
            break
        half *= 2
    if not ok.any():
        return Interval(math.nan, math.nan)
    idx = np.flatnonzero(ok)
    step = grid[1] - grid[0]

    def refine(inside: float, outside: float) -> float:
        while abs(outside - inside) > tol:
            mid = 0.5 * (inside + outside)
            if accepted(mid):
                inside = mid
            else:
                outside = mid
        return inside

    return Interval(refine(grid[idx[0]], grid[idx[0]] - step), refine(grid[idx[-1]], grid[idx[-1]] + step))


# --------------------------------------------------------------------------------------------------------
# Sensitivity over a grid, breakdown values.


def _includes_zero(vec: EventVector, restriction: str, m: float, l_post: np.ndarray, alpha: float) -> bool:
    if restriction == "smoothness":
        return flci(vec, m, l_post, alpha).contains(0.0)
    return rm_test(vec, 0.0, m, l_post, alpha)


def breakdown(vec: EventVector, restriction: str, l_post: np.ndarray | None = None, alpha: float = 0.05,
              upper: float | None = None, tol: float = 1e-3) -> float:
    """Smallest ``M`` (smoothness) or ``Mbar`` (relative magnitudes) at which the confidence set includes
    zero: 0 if it does under parallel trends (``Mbar = 0``; for smoothness ``M = 0``, a linear trend),
    ``inf`` if not even at ``upper``, NaN without a pre-period.

    Found by bisection to ``tol`` (relative to ``upper`` for smoothness), on the test of zero alone (no
    interval is built). The sets grow with ``M``; the conditional test's is monotone up to its
    conditioning, so bisection finds the crossing. ``upper`` defaults to 10 for ``Mbar`` and, for ``M``, to
    the largest absolute coefficient (a bend of that size a year swamps any effect).

    Examples
    --------
    >>> v = from_arrays([0.0, 0.01, 1.0, 1.0], np.eye(4) * 0.01, n_pre=2)
    >>> b = breakdown(v, "smoothness")
    >>> bool(0 < b < 1), flci(v, b * 0.9).contains(0.0), flci(v, b * 1.1).contains(0.0)
    (True, False, True)
    """
    if restriction not in RESTRICTIONS:
        raise ValueError(f"restriction must be one of {RESTRICTIONS}")
    l_post = target_weights(vec) if l_post is None else np.asarray(l_post, dtype=float)
    if vec.n_pre == 0:
        return math.nan
    if upper is None:
        upper = 10.0 if restriction == "relative_magnitudes" else float(np.abs(vec.beta).max())
    if _includes_zero(vec, restriction, 0.0, l_post, alpha):
        return 0.0
    if not _includes_zero(vec, restriction, upper, l_post, alpha):
        return math.inf
    lo, hi = 0.0, upper
    step = tol * (upper if restriction == "smoothness" else 1.0)
    while hi - lo > step:
        mid = 0.5 * (lo + hi)
        if _includes_zero(vec, restriction, mid, l_post, alpha):
            hi = mid
        else:
            lo = mid
    return hi


def honest_intervals(vec: EventVector, restriction: str, grid: Sequence[float], target: str | int = "average",
                     alpha: float = 0.05) -> pd.DataFrame:
    """Robust confidence sets for one target over a grid of ``M`` (or ``Mbar``).

    Returns
    -------
    pandas.DataFrame
        ``restriction, m, target, lower, upper``, one row per grid value.
    """
    if restriction not in RESTRICTIONS:
        raise ValueError(f"restriction must be one of {RESTRICTIONS}")
    l_post = target_weights(vec, target)
    rows = []
    for m in grid:
        ci = (flci(vec, float(m), l_post, alpha) if restriction == "smoothness"
              else rm_confidence_set(vec, float(m), l_post, alpha))
        rows.append({"restriction": restriction, "m": float(m), "target": str(target), "lower": ci.lower,
                     "upper": ci.upper})
    return pd.DataFrame(rows)


@dataclass
class HonestResult:
    """Rambachan-Roth sensitivity of one event study.

    Attributes
    ----------
    outcome, estimator
        From the event study.
    estimate, se
        Post-period average (equal weights) and its standard error (the headline).
    intervals
        ``restriction, m, target, lower, upper`` (:func:`honest_intervals`) for the post average
        (``target`` "average") and, if asked, each post period (``target`` its event time).
    breakdown_sd, breakdown_rm
        Breakdown values of the post average (:func:`breakdown`).
    n_pre
        Pre-period coefficients used.
    """

    outcome: str
    estimator: str
    estimate: float
    se: float
    intervals: pd.DataFrame
    breakdown_sd: float
    breakdown_rm: float
    n_pre: int


def honest_sensitivity(study: EventStudy, m_grid: Sequence[float], mbar_grid: Sequence[float],
                       min_treated: int = 1, alpha: float = 0.05, per_period: bool = False) -> HonestResult:
    """Both restrictions over their grids for the post average (and each post period if ``per_period``),
    and both breakdown values: the entry point for an event study.

    Parameters
    ----------
    study
        Any event study (:func:`~alliance_study.analysis.impact.twfe_event_study`,
        :func:`~alliance_study.analysis.impact.callaway_santanna`).
    m_grid, mbar_grid
        Values of ``M`` (outcome units per year per year) and ``Mbar``.
    min_treated
        Pre-period estimates on fewer treated districts are left out (:func:`event_vector`).
    alpha
        1 - coverage.
    per_period
        Also the intervals of each post-period coefficient (smoothness for the whole grid, relative
        magnitudes at each ``Mbar`` as well; slower).

    Examples
    --------
    A simulated panel with a true effect of 0.5 and parallel trends: the post average is significant under
    parallel trends, so both breakdown values are positive.

    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import impact
    >>> sim = impact.prepare_sample(simulate.staggered_panel(n_units=60, years=range(2009, 2017),
    ...                             cohorts={2013: 20}, effect=0.5, noise_sd=0.2, seed=3))
    >>> res = honest_sensitivity(impact.callaway_santanna(sim, "y"), [0, 0.05], [0, 1])
    >>> res.n_pre, bool(res.breakdown_sd > 0 and res.breakdown_rm > 0)
    (3, True)
    >>> sorted(res.intervals["restriction"].unique())
    ['relative_magnitudes', 'smoothness']
    """
    vec = event_vector(study, min_treated)
    avg = target_weights(vec)
    est = float(avg @ vec.beta[vec.post])
    se = math.sqrt(float(avg @ vec.sigma[np.ix_(vec.post, vec.post)] @ avg))
    targets: list[str | int] = ["average"]
    if per_period:
        targets += [int(t) for t in vec.periods[vec.post]]
    parts = []
    for target in targets:
        for restriction, grid in (("smoothness", m_grid), ("relative_magnitudes", mbar_grid)):
            if vec.n_pre == 0:
                continue
            part = honest_intervals(vec, restriction, grid, target, alpha)
            if target != "average":
                part["target"] = str(int(target) + int(vec.events[0] - vec.periods[0]))
            parts.append(part)
    columns = ["restriction", "m", "target", "lower", "upper"]
    intervals = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return HonestResult(study.outcome, study.estimator, est, se, intervals[columns],
                        breakdown(vec, "smoothness", avg, alpha), breakdown(vec, "relative_magnitudes", avg,
                                                                             alpha), vec.n_pre)


# --------------------------------------------------------------------------------------------------------
# Simultaneous bands.


def sup_t_critical_value(corr: np.ndarray, df: int | None, alpha: float = 0.05, n_draws: int = 20_000,
                         seed: int | np.random.Generator = 0) -> float:
    """The ``1 - alpha`` quantile of ``max_k |T_k|`` for ``T`` with correlation ``corr`` (multivariate t with
    ``df`` degrees of freedom; normal if ``df`` is None), by ``n_draws`` simulated draws.

    Examples
    --------
    One coefficient: the pointwise critical value.

    >>> round(sup_t_critical_value(np.eye(1), None, n_draws=200_000), 2)
    1.96
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = corr.shape[0]
    vals, vecs = np.linalg.eigh(corr)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    z = rng.standard_normal((n_draws, k)) @ root.T
    if df is not None:
        z = z / np.sqrt(rng.chisquare(df, size=(n_draws, 1)) / df)
    return float(np.quantile(np.abs(z).max(axis=1), 1 - alpha))


def sup_t_band(study: EventStudy, alpha: float = 0.05, min_treated: int = 1, n_draws: int = 20_000,
               seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """Pointwise and simultaneous (sup-t) 95% bands of an event study's coefficients.

    Only the event times with estimates on at least ``min_treated`` treated districts are banded (and the
    band is simultaneous over exactly those); the reference year has no band.

    Returns
    -------
    pandas.DataFrame
        ``event_time, estimate, se, ci_low, ci_high`` (pointwise t intervals), ``band_low, band_high``
        (sup-t) and ``critical_value`` (the sup-t multiplier, the same on every row).

    Examples
    --------
    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import impact
    >>> sim = impact.prepare_sample(simulate.staggered_panel(n_units=60, years=range(2009, 2017),
    ...                             cohorts={2013: 20}, seed=3))
    >>> band = sup_t_band(impact.callaway_santanna(sim, "y"))
    >>> bool(((band["band_high"] - band["band_low"]) > (band["ci_high"] - band["ci_low"])).all())
    True
    """
    table = study.table.set_index("event_time")
    events = [int(e) for e in study.vcov.index if int(table.loc[e, "n_treated"]) >= min_treated]
    v = study.vcov.loc[events, events].to_numpy(dtype=float)
    se = np.sqrt(np.clip(np.diag(v), 0, None))
    corr = v / np.outer(se, se)
    crit = sup_t_critical_value(corr, study.df, alpha, n_draws, seed)
    est = table.loc[events, "estimate"].to_numpy(dtype=float)
    q = stats.t.ppf(1 - alpha / 2, study.df)
    return pd.DataFrame({"event_time": events, "estimate": est, "se": se, "ci_low": est - q * se,
                         "ci_high": est + q * se, "band_low": est - crit * se, "band_high": est + crit * se,
                         "critical_value": crit})

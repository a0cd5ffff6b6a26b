"""Two-way fixed-effects (within) estimators with district-clustered errors: OLS, 2SLS, and Wald tests.

A small, dependency-free implementation for the money chapter, where many regressions (and, in the
tests, thousands of simulated ones) are run: unit and year effects are swept out by alternating
projections (exact in one pass for a balanced panel), then OLS or two-stage least squares is run on the
demeaned data. Standard errors are cluster-robust with the factor ``G / (G - 1) * (N - 1) / N`` (no
``(N - 1) / (N - K)`` factor), which is what :class:`linearmodels.PanelOLS` reports with
``cov_type="clustered", cluster_entity=True, group_debias=True, debiased=False`` (checked in the tests);
intervals and p-values use a t distribution with ``G - 1`` degrees of freedom.

Pure functions on arrays and DataFrames; no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Convergence tolerance of the alternating projections (largest change of a demeaned value).
DEMEAN_TOL = 1e-10
#: Most sweeps of the alternating projections (an unbalanced panel converges in a few dozen).
DEMEAN_MAX_ITER = 1000

#: z-quantile sum for 80% power at a two-sided 5% test: the minimum detectable effect is 2.8 x SE.
Z_MDE = float(stats.norm.ppf(0.975) + stats.norm.ppf(0.8))


def codes(values: Sequence | pd.Series | np.ndarray) -> np.ndarray:
    """Integer codes 0..k-1 of a label array (for units, years and clusters)."""
    return pd.factorize(pd.Series(np.asarray(values)), sort=True)[0]


def _unit_trend_fit(x: np.ndarray, unit: np.ndarray, trend: np.ndarray, n_u: int) -> np.ndarray:
    """Fitted values of each column on a unit-specific intercept and slope in ``trend``."""
    n = np.bincount(unit, minlength=n_u).astype(float)
    s1 = np.bincount(unit, weights=trend, minlength=n_u)
    s2 = np.bincount(unit, weights=trend * trend, minlength=n_u)
    det = n * s2 - s1 * s1
    ok = det > 1e-9 * np.maximum(n * s2, 1.0)
    fitted = np.empty_like(x)
    for j in range(x.shape[1]):
        sx = np.bincount(unit, weights=x[:, j], minlength=n_u)
        stx = np.bincount(unit, weights=trend * x[:, j], minlength=n_u)
        slope = np.where(ok, (n * stx - s1 * sx) / np.where(ok, det, 1.0), 0.0)
        intercept = (sx - slope * s1) / np.maximum(n, 1.0)
        fitted[:, j] = intercept[unit] + slope[unit] * trend
    return fitted


def demean(
    values: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    tol: float = DEMEAN_TOL,
    max_iter: int = DEMEAN_MAX_ITER,
    trend: np.ndarray | None = None,
) -> np.ndarray:
    """Sweep unit and time means out of the columns of ``values`` (two-way within transformation).

    Parameters
    ----------
    values
        ``n x k`` array (or a vector).
    unit, time
        Integer codes (:func:`codes`) of each row's unit and period.
    trend
        If given (e.g. the year), unit-specific linear trends in it are swept out too (each unit's own
        intercept and slope instead of its mean).

    Returns
    -------
    numpy.ndarray
        The residuals of projecting each column on unit (and unit-trend) and time dummies (same shape).
    """
    x = np.asarray(values, dtype=float)
    vector = x.ndim == 1
    x = x.reshape(len(x), -1).copy()
    n_u, n_t = int(unit.max()) + 1, int(time.max()) + 1
    count_u = np.bincount(unit, minlength=n_u).astype(float)
    count_t = np.bincount(time, minlength=n_t).astype(float)
    centred = None if trend is None else np.asarray(trend, dtype=float) - float(np.mean(trend))
    for _ in range(max_iter):
        change = 0.0
        for group, count, n in ((unit, count_u, n_u), (time, count_t, n_t)):
            if group is unit and centred is not None:
                fitted = _unit_trend_fit(x, unit, centred, n_u)
                x -= fitted
                change = max(change, float(np.abs(fitted).max()) if fitted.size else 0.0)
                continue
            means = (
                np.stack(
                    [np.bincount(group, weights=x[:, j], minlength=n) for j in range(x.shape[1])], axis=1
                )
                / count[:, None]
            )
            x -= means[group]
            change = max(change, float(np.abs(means).max()) if means.size else 0.0)
        if change < tol:
            break
    return x[:, 0] if vector else x


@dataclass
class WithinFit:
    """A within (two-way fixed effects) regression.

    Attributes
    ----------
    params
        Coefficients by regressor name.
    vcov
        Cluster-robust covariance matrix (names on both axes).
    nobs, n_clusters
        Observations and clusters (districts).
    resid
        Residuals of the demeaned regression (aligned with the input rows).
    """

    params: pd.Series
    vcov: pd.DataFrame
    nobs: int
    n_clusters: int
    resid: np.ndarray

    @property
    def se(self) -> pd.Series:
        """Cluster-robust standard errors."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index)

    @property
    def df(self) -> int:
        """Degrees of freedom of the t distribution: clusters minus one."""
        return self.n_clusters - 1

    def ci(self, name: str, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided ``1 - alpha`` interval for one coefficient (t with ``G - 1`` df)."""
        q = stats.t.ppf(1 - alpha / 2, self.df)
        b, s = float(self.params[name]), float(self.se[name])
        return b - q * s, b + q * s

    def p_value(self, name: str) -> float:
        """Two-sided p-value of ``coefficient = 0``."""
        t = float(self.params[name]) / float(self.se[name])
        return float(2 * stats.t.sf(abs(t), self.df))

    def mde(self, name: str) -> float:
        """Minimum detectable effect (80% power, 5% two-sided): 2.8 x SE."""
        return Z_MDE * float(self.se[name])

    def wald(self, names: Sequence[str], value: Sequence[float] | None = None) -> tuple[float, float]:
        """F statistic and p-value of the joint hypothesis ``params[names] = value`` (0 by default).

        ``F = d' V^-1 d / q`` with ``F(q, G - 1)`` reference distribution.
        """
        names = list(names)
        d = self.params[names].to_numpy() - (np.zeros(len(names)) if value is None else np.asarray(value))
        v = self.vcov.loc[names, names].to_numpy()
        f = float(d @ np.linalg.pinv(v) @ d) / len(names)
        return f, float(stats.f.sf(f, len(names), self.df))


def _cluster_vcov(
    scores_x: np.ndarray, resid: np.ndarray, bread: np.ndarray, cluster: np.ndarray
) -> np.ndarray:
    """Cluster sandwich ``c * B (sum_g s_g s_g') B`` with ``s_g = X_g' u_g`` and ``c = G/(G-1) * (N-1)/N``."""
    n_g = int(cluster.max()) + 1
    n = len(resid)
    scores = np.stack(
        [
            np.bincount(cluster, weights=scores_x[:, j] * resid, minlength=n_g)
            for j in range(scores_x.shape[1])
        ],
        axis=1,
    )
    meat = scores.T @ scores
    return n_g / (n_g - 1) * (n - 1) / n * bread @ meat @ bread


def _prepare(
    frame: pd.DataFrame, columns: Sequence[str], unit: str, time: str, cluster: str | None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Rows complete in ``columns``, with unit, time and cluster codes."""
    data = frame.dropna(subset=list(columns)).reset_index(drop=True)
    if data.empty:
        raise ValueError("no complete rows for the regression")
    u, t = codes(data[unit]), codes(data[time])
    g = codes(data[cluster or unit])
    return data, u, t, g


def within_ols(
    frame: pd.DataFrame,
    y: str,
    x: Sequence[str],
    unit: str = "district_code",
    time: str = "year",
    cluster: str | None = None,
    unit_trends: bool = False,
) -> WithinFit:
    """OLS of ``y`` on ``x`` with unit and time fixed effects, clustered by ``cluster`` (default: unit).

    Rows with a missing ``y`` or ``x`` are left out. Regressors that the effects absorb raise (a singular
    matrix) rather than being dropped silently. ``unit_trends`` adds a linear trend in ``time`` per unit.
    """
    x = list(x)
    data, u, t, g = _prepare(frame, [y, *x], unit, time, cluster)
    trend = data[time].to_numpy(float) if unit_trends else None
    yd = demean(data[y].to_numpy(float), u, t, trend=trend)
    xd = demean(data[x].to_numpy(float), u, t, trend=trend)
    xtx = xd.T @ xd
    if np.linalg.matrix_rank(xtx) < len(x):
        raise ValueError(f"regressors {x} are collinear with the fixed effects")
    bread = np.linalg.inv(xtx)
    beta = bread @ xd.T @ yd
    resid = yd - xd @ beta
    vcov = _cluster_vcov(xd, resid, bread, g)
    return WithinFit(
        pd.Series(beta, index=x), pd.DataFrame(vcov, index=x, columns=x), len(data), int(g.max()) + 1, resid
    )


@dataclass
class IVFit:
    """Two-stage least squares with two-way fixed effects.

    Attributes
    ----------
    second
        The structural equation (coefficients on the endogenous regressor and the controls).
    first
        The first stage of the endogenous regressor on the instruments and controls.
    first_stage_f
        Cluster-robust F statistic of the excluded instruments in the first stage (the t statistic squared
        with one instrument); below :data:`WEAK_IV_F` the instrument is called weak.
    """

    second: WithinFit
    first: WithinFit
    first_stage_f: float
    first_stage_p: float


#: Rule of thumb for a strong instrument: first-stage F of at least 10 (Staiger and Stock 1997; with a
#: cluster-robust F, a conservative reading of Olea and Pflueger's effective-F threshold for one instrument).
WEAK_IV_F = 10.0


def within_iv(
    frame: pd.DataFrame,
    y: str,
    endog: str,
    instruments: Sequence[str],
    controls: Sequence[str] = (),
    unit: str = "district_code",
    time: str = "year",
    cluster: str | None = None,
    unit_trends: bool = False,
) -> IVFit:
    """2SLS of ``y`` on ``endog`` (instrumented by ``instruments``) and ``controls``, with unit and time
    effects and clustered errors.

    The structural residuals use the actual (not fitted) endogenous regressor; the covariance is the
    CR1 sandwich of the second stage on the fitted regressors.
    """
    instruments, controls = list(instruments), list(controls)
    data, u, t, g = _prepare(frame, [y, endog, *instruments, *controls], unit, time, cluster)
    first = within_ols(data, endog, [*instruments, *controls], unit, time, cluster, unit_trends)
    f, p = first.wald(instruments)
    trend = data[time].to_numpy(float) if unit_trends else None
    yd = demean(data[y].to_numpy(float), u, t, trend=trend)
    xd = demean(data[[endog, *controls]].to_numpy(float), u, t, trend=trend)
    zd = demean(data[[*instruments, *controls]].to_numpy(float), u, t, trend=trend)
    proj = zd @ np.linalg.solve(zd.T @ zd, zd.T @ xd)  # fitted values of every regressor
    bread = np.linalg.inv(proj.T @ xd)
    beta = bread @ proj.T @ yd
    resid = yd - xd @ beta
    bread_sym = np.linalg.inv(proj.T @ proj)
    vcov = _cluster_vcov(proj, resid, bread_sym, g)
    names = [endog, *controls]
    second = WithinFit(
        pd.Series(beta, index=names),
        pd.DataFrame(vcov, index=names, columns=names),
        len(data),
        int(g.max()) + 1,
        resid,
    )
    return IVFit(second, first, f, p)


def event_study(
    frame: pd.DataFrame,
    y: str,
    cohort: str,
    window: tuple[int, int],
    reference: int = -1,
    unit: str = "district_code",
    time: str = "year",
    cluster: str | None = None,
) -> tuple[pd.DataFrame, WithinFit]:
    """Event study: ``y`` on event-time dummies of treated units (binned at the window's ends), two-way
    effects, clustered errors; never-treated units (missing ``cohort``) are the comparison.

    Returns
    -------
    table, fit
        ``event, estimate, se, ci_low, ci_high, n_treated`` (the reference event at 0 with no SE), and
        the regression.
    """
    data = frame.dropna(subset=[y]).reset_index(drop=True)
    rel = (data[time] - data[cohort]).clip(window[0], window[1])
    events = [e for e in range(window[0], window[1] + 1) if e != reference]
    names = [f"event_{e}".replace("-", "m") for e in events]
    dummies = pd.DataFrame(
        {n: (rel == e).fillna(False).astype(float) for n, e in zip(names, events, strict=True)}
    )
    present = [n for n in names if dummies[n].sum() > 0]
    data = pd.concat([data, dummies[present]], axis=1)
    fit = within_ols(data, y, present, unit, time, cluster)
    rows = []
    q = stats.t.ppf(0.975, fit.df)
    for e, n in zip(events, names, strict=True):
        if n not in present:
            continue
        b, s = float(fit.params[n]), float(fit.se[n])
        rows.append(
            {
                "event": e,
                "estimate": b,
                "se": s,
                "ci_low": b - q * s,
                "ci_high": b + q * s,
                "n_treated": int(dummies[n].sum()),
            }
        )
    rows.append(
        {
            "event": reference,
            "estimate": 0.0,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n_treated": int((rel == reference).sum()),
        }
    )
    return pd.DataFrame(rows).sort_values("event", ignore_index=True), fit


def pre_trend_test(table: pd.DataFrame, fit: WithinFit) -> tuple[float, float, int]:
    """Joint F test that every pre-period event coefficient (event < -1) is zero: ``(F, p, q)``."""
    pre = [f"event_{e}".replace("-", "m") for e in table["event"] if e < -1]
    pre = [n for n in pre if n in fit.params.index]
    if not pre:
        return float("nan"), float("nan"), 0
    f, p = fit.wald(pre)
    return f, p, len(pre)

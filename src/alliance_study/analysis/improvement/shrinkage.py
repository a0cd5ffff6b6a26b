"""The estimator of one indicator: peer-relative change, regression on the baseline, one shrinkage step.

Hand-checkable building blocks (:func:`relative_to_peers`, :func:`signal_variance`, :func:`eb_shrink`,
:func:`composite_scores`, :func:`top_overlap`, :func:`peer_relative_is_affine`) and the batched estimator
that runs every step for ``B`` district resamples at once as ``(B, districts)`` arrays.

One shrinkage step: the input values are unshrunk (SEDA's OLS means for achievement), the noise of a change
is ``v = v_end + v_base`` (sampling variances of the period means) ``+ s2 / k_end + s2 / k_base``
(transient year-to-year movement, :func:`~alliance_study.analysis.improvement.indicators.transient_variance`),
and the residual of the regression on the baseline is shrunk once by ``B = tau2 / (tau2 + v)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis.groups import alliance_mask, district_mask
from alliance_study.analysis.improvement.indicators import (
    INDICATORS,
    ImprovementSpec,
    Indicator,
    transient_variance,
    window_years,
)

# --- small building blocks (hand-checkable) -----------------------------------------------------------------

def relative_to_peers(change: pd.Series, peers: Mapping[str, Sequence[str]]) -> pd.Series:
    """A district's change minus the mean change of its peers (those with a change).

    Parameters
    ----------
    change
        Change per district (index ``district_code``), sign-aligned.
    peers
        District -> its peers (itself is ignored if listed).

    Returns
    -------
    pandas.Series
        Indexed like ``peers``; NaN when the district or all its peers lack a change.
    """
    out = {}
    for code, group in peers.items():
        vals = change.reindex([p for p in group if p != code]).dropna()
        out[code] = change.get(code, np.nan) - vals.mean() if len(vals) else np.nan
    return pd.Series(out, dtype=float)


def signal_variance(residuals: np.ndarray, variances: np.ndarray, leverage: np.ndarray, n_params: int,
                    weights: np.ndarray | None = None) -> float:
    """Method-of-moments variance of true effects around a regression line.

    For OLS residuals ``e = M y`` with ``y = X b + u + noise``, ``var(u) = tau2`` and noise variances ``v``,
    ``E[sum e^2] = tau2 (n - p) + sum v (1 - h)``, so
    ``tau2 = max(0, (sum e^2 - sum v (1 - h)) / (n - p))``. ``weights`` are frequency weights (bootstrap
    counts): a district drawn twice counts twice.
    """
    w = np.ones_like(residuals, dtype=float) if weights is None else np.asarray(weights, dtype=float)
    num = np.sum(w * residuals**2) - np.sum(w * variances * (1.0 - leverage))
    return float(max(num / (np.sum(w) - n_params), 0.0))


def eb_shrink(estimate: np.ndarray | float, variance: np.ndarray | float, prediction: np.ndarray | float,
              tau2: float) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes posterior of a true value from a noisy estimate.

    ``posterior mean = prediction + B (estimate - prediction)``, ``posterior variance = B * variance`` with
    reliability ``B = tau2 / (tau2 + variance)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(posterior_mean, posterior_variance)``.
    """
    est, var, pred = (np.asarray(a, dtype=float) for a in (estimate, variance, prediction))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(tau2 + var > 0, tau2 / (tau2 + var), 0.0)
    return pred + rel * (est - pred), rel * var


def composite_scores(scores: pd.DataFrame, weights: Mapping[str, float] | None = None,
                     min_indicators: int = 1) -> pd.Series:
    """Weighted mean of standardized indicator scores over the indicators each district has.

    Parameters
    ----------
    scores
        One column per indicator (already standardized), one row per district; NaN = missing.
    weights
        Weight per column (missing columns weigh 1).
    min_indicators
        Rows with fewer non-missing scores get NaN.
    """
    w = np.array([float((weights or {}).get(c, 1.0)) for c in scores.columns])
    x = scores.to_numpy(float)
    have = ~np.isnan(x)
    num = np.nansum(np.where(have, x * w, 0.0), axis=1)
    den = (have * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((have.sum(axis=1) >= min_indicators) & (den > 0), num / den, np.nan)
    return pd.Series(out, index=scores.index, name="composite")


def top_overlap(first: Iterable[str], second: Iterable[str]) -> tuple[int, float]:
    """Size of the intersection of two sets of districts and their Jaccard index."""
    a, b = set(first), set(second)
    union = a | b
    return len(a & b), (len(a & b) / len(union) if union else float("nan"))


def peer_relative_is_affine(change: np.ndarray, naive: np.ndarray, tol: float = 1e-9) -> tuple[bool, float]:
    """Whether "change minus the mean change of the other districts" is an affine map of the change.

    With every other ranked district as a peer (``alliance`` peers), ``naive_i = c_i - (S - c_i) / (n - 1)
    = c_i n / (n - 1) - S / (n - 1)`` with ``S`` the sum of changes: the same slope ``n / (n - 1)`` and shift
    for every district, so ranking on it is ranking on the raw change. Checked by fitting the line.

    Returns
    -------
    tuple
        ``(is_affine, slope)``; ``(False, nan)`` with fewer than three districts.
    """
    c, y = np.asarray(change, float), np.asarray(naive, float)
    ok = ~np.isnan(c) & ~np.isnan(y)
    if ok.sum() < 3 or np.ptp(c[ok]) == 0:
        return False, float("nan")
    slope, shift = np.polyfit(c[ok], y[ok], 1)
    resid = y[ok] - (slope * c[ok] + shift)
    return bool(np.max(np.abs(resid)) <= tol * max(1.0, float(np.max(np.abs(y[ok]))))), float(slope)


# --- arrays for one indicator -------------------------------------------------------------------------------

@dataclass
class _Arrays:
    """Year-level values of one indicator for the district universe (rows aligned with ``codes``)."""

    indicator: Indicator
    baseline_years: tuple[int, ...]
    end_years: tuple[int, ...]
    yb: np.ndarray  # (D, kb) baseline-year values, NaN missing
    vb: np.ndarray  # (D, kb) their sampling variances
    ye: np.ndarray  # (D, ke)
    ve: np.ndarray  # (D, ke)
    frl: np.ndarray  # (D,) baseline poverty
    peers: np.ndarray  # (D, D) 1 where column district is a peer of row district
    pop_mean: float = float("nan")  # mean of the (sign-aligned) baseline over all town/regional districts
    pop_signal_var: float = float("nan")  # its variance net of sampling variance (true baseline spread)
    transient_var: float = 0.0  # s2: transient year-to-year variance (0 when spec.transient is False)


class _Grid:
    """Dense (district x year) arrays of panel columns for the town and regional districts, so that the
    per-indicator matrices are array slices rather than pandas pivots (a district-year panel has one row
    per district and year)."""

    def __init__(self, panel: pd.DataFrame) -> None:
        rows = panel.loc[district_mask(panel)]
        self.codes = pd.Index(sorted(set(rows["district_code"])))
        self.years = np.array(sorted(set(int(y) for y in rows["year"])), dtype=int)
        self._rows = rows
        self._i = self.codes.get_indexer(rows["district_code"])
        self._j = np.searchsorted(self.years, rows["year"].to_numpy(int))
        self._cache: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        if name not in self._cache:
            out = np.full((len(self.codes), len(self.years)), np.nan)
            if name in self._rows.columns:
                out[self._i, self._j] = pd.to_numeric(self._rows[name], errors="coerce").to_numpy(float)
            self._cache[name] = out
        return self._cache[name]

    def indicator_years(self, ind: Indicator) -> list[int]:
        """Years in which some district has the indicator, without its excluded years."""
        has = ~np.all(np.isnan(self.column(ind.column)), axis=0)
        return sorted(set(int(y) for y in self.years[has]) - set(ind.exclude_years))

    def get(self, name: str, codes: pd.Index, years: Sequence[int]) -> np.ndarray:
        """Values of ``name`` for ``codes`` (rows) and ``years`` (columns); NaN where absent."""
        full = self.column(name)
        ri = self.codes.get_indexer(codes)
        cj = np.searchsorted(self.years, np.asarray(years, dtype=int)) if len(years) else np.zeros(0, int)
        out = np.full((len(codes), len(years)), np.nan)
        okr = ri >= 0
        okc = (cj < len(self.years)) & (self.years[np.minimum(cj, len(self.years) - 1)] == np.asarray(years))
        if okr.any() and okc.any():
            out[np.ix_(okr, okc)] = full[np.ix_(ri[okr], cj[okc])]
        return out


#: Weight added to every year and every peer so that a resample that drew none of a district's years (or
#: peers) falls back to their plain mean instead of dividing by zero; negligible otherwise.
_EPS = 1e-6


def _period(y: np.ndarray, v: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``y`` over the period's years with year weights ``w`` (B, k), and its sampling variance.

    Returns arrays of shape (B, D) (B = 1 when ``w`` is None), NaN for districts without any year. Years a
    district lacks are skipped; when a resample drew only such years the district's plain mean is used.
    A value without a variance (e.g. a missing cohort size) is used with variance 0, not dropped.
    """
    d, k = y.shape
    if k == 0:
        return np.full((1, d), np.nan), np.full((1, d), np.nan)
    m = ~np.isnan(y)
    y0 = np.where(m, y, 0.0)
    v0 = np.where(m & ~np.isnan(v), v, 0.0)
    w = np.ones((1, k)) if w is None else w + _EPS
    den = w @ m.T
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w @ y0.T) / den
        var = ((w * w) @ v0.T) / (den * den)
    return mean, var


def _universe(panel: pd.DataFrame, spec: ImprovementSpec) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """District codes of the universe, with target and pool masks.

    ``alliance``: universe = pool = targets = the Alliance Districts of the cohorts (town and regional).
    ``similar``: universe = pool = every town and regional district; targets = the Alliance Districts.
    """
    districts = district_mask(panel)
    target_rows = districts & alliance_mask(panel, list(spec.alliance_cohorts))
    targets = set(panel.loc[target_rows, "district_code"])
    if spec.peer_group == "alliance":
        codes = pd.Index(sorted(targets))
    else:
        codes = pd.Index(sorted(set(panel.loc[districts, "district_code"])))
    is_target = codes.isin(list(targets))
    return codes, is_target, np.ones(len(codes), dtype=bool)


def _nearest_peers(baseline: np.ndarray, frl: np.ndarray, avail: np.ndarray, k: int) -> np.ndarray:
    """0/1 matrix: for each district, its ``k`` nearest available districts in standardized
    (baseline, frl) space, itself excluded. Districts without a poverty value are matched on baseline."""
    d = len(baseline)
    peers = np.zeros((d, d))
    ok = avail & ~np.isnan(baseline)
    if ok.sum() < 2:
        return peers
    zb = (baseline - np.nanmean(baseline[ok])) / (np.nanstd(baseline[ok], ddof=1) or 1.0)
    fok = ok & ~np.isnan(frl)
    zf = (frl - np.nanmean(frl[fok])) / (np.nanstd(frl[fok], ddof=1) or 1.0) if fok.sum() > 1 else 0 * frl
    zf = np.where(np.isnan(zf), 0.0, zf)
    dist = (zb[:, None] - zb[None, :]) ** 2 + (zf[:, None] - zf[None, :]) ** 2
    dist[:, ~ok] = np.inf
    np.fill_diagonal(dist, np.inf)
    kk = min(k, int(ok.sum()) - 1)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :kk]
    rows = np.repeat(np.arange(d), kk)
    peers[rows, nearest.ravel()] = 1.0
    peers[np.isnan(baseline)] = 0.0
    return peers


def _indicator_arrays(panel: pd.DataFrame, spec: ImprovementSpec, codes: pd.Index, name: str,
                      grid: _Grid | None = None) -> _Arrays:
    ind = INDICATORS[name]
    grid = grid or _Grid(panel)
    has_years = grid.indicator_years(ind)
    base_years, end_years = window_years(has_years, spec.start_year, spec.end_year, spec.baseline_span,
                                         spec.end_span)
    yb = grid.get(ind.column, codes, base_years)
    vb = grid.get(ind.variance_column, codes, base_years)
    ye = grid.get(ind.column, codes, end_years)
    ve = grid.get(ind.variance_column, codes, end_years)
    # Baseline poverty: mean frl_share over the baseline span ending at start_year.
    frl_years = list(range(spec.start_year - spec.baseline_span + 1, spec.start_year + 1))
    frl = _nanmean_quiet(grid.get("frl_share", codes, frl_years), axis=1)
    base, _ = _period(yb, vb)
    end, _ = _period(ye, ve)
    avail = ~np.isnan(base[0]) & ~np.isnan(end[0])
    # The population prior of true baselines, for the expected reversion: all town and regional districts,
    # whatever the peer group. Alliance Districts were selected on observed scores, and the expected
    # reversion given an observed score must use the distribution they were selected from.
    pop_b, pop_v = _period(grid.get(ind.column, grid.codes, base_years),
                           grid.get(ind.variance_column, grid.codes, base_years))
    pop_sb = ind.sign * pop_b[0]
    have = ~np.isnan(pop_sb)
    pop_mean = float(np.mean(pop_sb[have])) if have.sum() > 1 else float("nan")
    pop_signal = (float(max(np.var(pop_sb[have], ddof=1) - np.mean(pop_v[0][have]), 0.0))
                  if have.sum() > 1 else float("nan"))
    if spec.peer_group == "alliance":
        peers = np.ones((len(codes), len(codes))) - np.eye(len(codes))
    else:
        peers = _nearest_peers(base[0], frl, avail, spec.k_neighbors)
    # Transient movement, from every town and regional district's consecutive years up to the window's end
    # (a later year cannot inform an earlier window's ranking).
    s2 = 0.0
    if spec.transient:
        all_years = [y for y in has_years if y <= spec.end_year]
        s2 = transient_variance(grid.get(ind.column, grid.codes, all_years),
                                grid.get(ind.variance_column, grid.codes, all_years), np.array(all_years))
    return _Arrays(ind, base_years, end_years, yb, vb, ye, ve, frl, peers, pop_mean, pop_signal, s2)


def _nanmean_quiet(x: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        n = (~np.isnan(x)).sum(axis=axis)
        return np.where(n > 0, np.nansum(x, axis=axis) / np.maximum(n, 1), np.nan)


# --- the batched estimator ----------------------------------------------------------------------------------

def _estimate_batch(arr: _Arrays, spec: ImprovementSpec, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every step for one indicator, for B resamples at once; arrays of shape (B, D).

    ``counts`` (B, D) are district frequency weights (bootstrap counts; ones for the point estimate).
    Written for speed: the masks do not depend on the resample, so missing values are zero-filled once and
    every step is a matrix product or an element-wise operation on (B, D) arrays.
    """
    sign = arr.indicator.sign
    base, vbase = _period(arr.yb, arr.vb)
    end, vend = _period(arr.ye, arr.ve)
    # Transient movement averages down over the years of each period: s2 / k.
    kb = np.maximum((~np.isnan(arr.yb)).sum(axis=1), 1)
    ke = np.maximum((~np.isnan(arr.ye)).sum(axis=1), 1)
    vbase = vbase + arr.transient_var / kb
    vend = vend + arr.transient_var / ke
    avail = ~np.isnan(base[0]) & ~np.isnan(end[0])  # (D,), the same in every resample
    base = np.where(avail, base, 0.0)
    change = np.where(avail, sign * (end - base), 0.0)
    var = np.where(avail, vend + vbase, 0.0)
    n_b = counts.shape[0]
    if base.shape[0] != n_b:
        base = np.broadcast_to(base, (n_b, base.shape[1]))
    change = np.broadcast_to(change, base.shape)
    var = np.broadcast_to(var, base.shape)

    # Peer means with the resampled peers' frequency weights (plus _EPS, so a resample that drew none of a
    # district's peers falls back to their plain mean).
    w = (counts + _EPS) * avail
    pt = arr.peers.T
    den = w @ pt
    has_peer = den[0] > 0 if n_b else np.zeros(len(avail), dtype=bool)
    ok = avail & has_peer
    den = np.where(ok, den, 1.0)
    ww = w * w

    def relative(values: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        peer_mean = ((w * values) @ pt) / den
        return values - peer_mean, variances + ((ww * variances) @ pt) / (den * den), peer_mean

    naive, v_naive, peer_mean = relative(change, var)
    wr = counts * ok
    n_eff = wr.sum(axis=1)
    sb = sign * base

    # Step (a), part 1: the reversion each district's own baseline noise predicts. With true baselines
    # spread S around a mean m over all districts and a baseline sampling variance v_b, a district observed
    # at sb is expected to move back by -(v_b / (S + v_b)) (sb - m): much for a small, noisy district,
    # little for a large one. A single pooled slope cannot do this when noise differs by district.
    if spec.reversion and np.isfinite(arr.pop_signal_var):
        with np.errstate(invalid="ignore", divide="ignore"):
            lam = np.where(arr.pop_signal_var + vbase > 0, vbase / (arr.pop_signal_var + vbase), 0.0)
        lam = np.where(avail, lam, 0.0)
        expected = np.where(ok, -lam * (sb - arr.pop_mean), 0.0)
        # Given the observed baseline, its noise has variance v_b S / (S + v_b).
        var_c = np.where(ok, var - lam * vbase, 0.0)
        adj_rel, v, _ = relative(change - expected, var_c)
    else:
        expected = np.zeros_like(change)
        adj_rel, v = naive, v_naive

    # Step (a), part 2: weighted OLS of the relative change on the (sign-aligned) baseline, and optionally
    # poverty, across the pool: whatever systematic relation to the baseline remains (e.g. reversion of
    # real but transient shocks, which sampling variances do not describe).
    cols = [np.ones_like(base)] + ([sb] if "baseline" in spec.covariates else [])
    if "frl_share" in spec.covariates:
        fill = np.nanmean(arr.frl) if np.isfinite(arr.frl).any() else 0.0
        cols.append(np.broadcast_to(np.where(np.isnan(arr.frl), fill, arr.frl), base.shape))
    x = np.stack(cols, axis=-1) * ok[None, :, None]
    p = x.shape[-1]
    xw = x * wr[..., None]
    xtx = np.matmul(xw.transpose(0, 2, 1), x) + 1e-10 * np.eye(p)
    xty = np.matmul(xw.transpose(0, 2, 1), adj_rel[..., None])[..., 0]
    xtx_inv = np.linalg.inv(xtx)
    beta = np.matmul(xtx_inv, xty[..., None])[..., 0]
    pred = np.matmul(x, beta[..., None])[..., 0]
    resid = (adj_rel - pred) * ok
    lev = (np.matmul(x, xtx_inv) * x).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = ((wr * resid * resid).sum(axis=1) - (wr * v * (1.0 - lev)).sum(axis=1)) / (n_eff - p)
    tau2 = np.where(n_eff > p, np.maximum(tau2, 0.0), 0.0)

    # Step (b): shrink each residual toward the regression prediction.
    t = tau2[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        reliability = np.where(t + v > 0, t / (t + v), 0.0)
    return {"baseline": base, "change": change, "var_change": var, "peer_change": peer_mean, "naive": naive,
            "var_naive": v_naive, "expected_reversion": expected, "var": v, "prediction": pred, "rtm": resid,
            "reliability": reliability, "eb": reliability * resid, "post_var": reliability * v, "tau2": tau2,
            "slope": beta[:, 1] if "baseline" in spec.covariates else np.full(n_b, np.nan), "ok": ok}


def _wsd(x: np.ndarray, w: np.ndarray) -> float:
    ok = ~np.isnan(x) & (w > 0)
    if ok.sum() < 2:
        return float("nan")
    m = np.average(x[ok], weights=w[ok])
    return float(np.sqrt(np.average((x[ok] - m) ** 2, weights=w[ok]) * ok.sum() / (ok.sum() - 1)))

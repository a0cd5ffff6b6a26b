"""Which Alliance Districts improved more than their peers, and how sure can we be (issue 4).

The 2017 Neag study reports that eight Alliance Districts "were showing more improvement than their peers on
our selected indicators" over the first plan years (2012-13 to 2015-16) without naming the indicators, the
method or the districts. This module rebuilds that step in the open. For each indicator:

1. **Change over the window.** A district's *baseline* is the mean of its values in the baseline years (the
   latest ``baseline_span`` years with data at or before ``start_year``: SEDA 2011-2013, absenteeism
   2012-2013, the CMT index 2009-2011), its *end* the mean over the years with data among the ``end_span``
   years ending at ``end_year``. ``change = sign * (end - baseline)`` with ``sign = +1``
   when higher is better and ``-1`` otherwise, so a positive change is always an improvement (a fall in
   chronic absenteeism or suspensions counts as improvement).
2. **Relative to peers (naive improvement).** ``naive = change - mean change of the district's peers``.
   Peer groups (:data:`PEER_GROUPS`): ``alliance`` -- the other Alliance Districts of the chosen cohorts;
   ``similar`` -- the ``k_neighbors`` town or regional districts closest to the district in baseline level
   of that indicator and baseline poverty (``frl_share``), both standardized over the pool (Euclidean
   distance); peers may include other Alliance Districts, since similar districts usually are.
3. **Regression to the mean, step (a).** Districts picked for low scores rise by chance, so ``naive`` is
   regressed on the (sign-aligned) baseline, and optionally baseline poverty, across the *peer pool* (the
   Alliance Districts for ``alliance``; every town and regional district for ``similar``); the residual
   ``rtm`` is the improvement beyond what the baseline predicts. Optionally (``reversion=True``) each
   district's own expected reversion given the noise of its baseline is subtracted first.
4. **Regression to the mean, step (b): empirical Bayes.** Each change has a sampling variance ``v`` (binomial
   ``p(1-p)/n`` for rates, with the cohort or enrollment as ``n``; SEDA's standard errors; for scale-score
   indices ``c / N tested`` with ``c`` estimated from year-to-year changes, :func:`noise_constant`). The
   variance of true improvements around the regression line is estimated by the method of moments,
   ``tau2 = max(0, (sum e^2 - sum v (1 - h)) / (n - p))`` (``h`` the leverages, :func:`signal_variance`),
   and each residual is shrunk: ``eb = B * rtm`` with ``B = tau2 / (tau2 + v)`` (:func:`eb_shrink`). A small
   district's large swing is pulled most of the way back to the prediction.
5. **Composite.** Each indicator's estimate is divided by the pool standard deviation of its ``rtm``
   residuals (of ``naive`` for the naive composite), so a noisy indicator whose estimates are shrunk to zero
   adds little spread; the composite is the weighted mean over the indicators a district has, missing when
   fewer than ``min_indicators`` are present.
6. **Uncertainty** (:func:`bootstrap_improvement`). Each draw resamples the peer-pool districts (which moves
   peer means, the regression line and ``tau2``), resamples the baseline (and end) years of each indicator,
   and draws every district's true improvement from its posterior ``N(eb, B v)`` (the measurement-error
   draw); the share of draws in which a district ranks in the top ``top_n`` is its probability of being in
   the top eight. All draws are computed at once as ``(n_boot, districts)`` arrays.

Choices and limits (tested in ``tests/test_improvement.py`` on simulated panels,
:func:`alliance_study.simulate.improvement_panel`):

- With realistic district sizes and eight true improvers gaining 0.25 SD, the adjusted top eight holds about
  90% of them on average; with mean reversion alone (no improvers, small noisy districts) no district's
  P(top 8) exceeds 0.75 in at least nine seeds of ten, while the naive reading names confident "improvers".
- The regression removes *any* linear relation of change to baseline, including real catch-up by districts
  that started behind; ``reversion=True, covariates=()`` removes only the reversion sampling noise predicts.
- With ``similar`` peers the regression is fit over all districts, so the ranked Alliance Districts' residuals
  are not forced to be uncorrelated with their baseline.
- Real but transient shocks in the end year (not sampling noise) look like improvement to a one-window
  design; ``end_span > 1`` averages them down.
- The naive probabilities draw ``N(naive, v)``: what one would conclude ignoring reversion and shrinkage.

Pure functions, no file I/O. Outcome columns are named as in the panel; ``district_code`` and ``year`` as
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis.groups import achievement_index, alliance_mask, district_mask

#: Peer groups and what they hold.
PEER_GROUPS: dict[str, str] = {
    "alliance": "the other Alliance Districts of the chosen cohorts",
    "similar": "the k town or regional districts nearest in baseline level and baseline poverty (frl_share)",
}

#: Estimates a ranking can be based on.
ESTIMATES: dict[str, str] = {
    "naive": "change minus peer-mean change",
    "rtm": "naive, net of the regression on the baseline across the peer pool",
    "eb": "rtm shrunk by empirical Bayes (reliability tau2 / (tau2 + v))",
}


@dataclass(frozen=True)
class Indicator:
    """An outcome used to judge improvement.

    Attributes
    ----------
    name
        Short key (``achievement``, ``graduation``, ...).
    column
        Panel column with the value (after :func:`prepare_panel`).
    label
        Label for tables and figures.
    higher_is_better
        False for rates whose fall is an improvement (absenteeism, suspensions).
    variance
        How the sampling variance of a district-year value is obtained: ``binomial`` (percent rate with
        ``n_column`` as n), ``se`` (square of ``se_column``) or ``noise_constant`` (``c / n_column`` with
        ``c`` from :func:`noise_constant`).
    n_column, se_column
        Columns used by ``variance``.
    exclude_years
        Years never used (2020 absenteeism and suspensions: reported, but distorted by the pandemic).
    """

    name: str
    column: str
    label: str
    higher_is_better: bool
    variance: str
    n_column: str | None = None
    se_column: str | None = None
    exclude_years: tuple[int, ...] = ()

    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 otherwise."""
        return 1.0 if self.higher_is_better else -1.0

    @property
    def variance_column(self) -> str:
        """Column :func:`prepare_panel` fills with the sampling variance of each district-year value."""
        return f"{self.name}_sampling_var"


#: The indicators known to the module. ``achievement`` is SEDA's grade-level scale (one scale across the
#: CMT -> SBAC change, with standard errors); ``achievement_index`` is the within-year z-score of the CMT and
#: SBAC district means (:func:`alliance_study.analysis.groups.achievement_index`), whose panel years are
#: 2006-2011
#: and 2015-2019 only.
INDICATORS: dict[str, Indicator] = {
    "achievement": Indicator("achievement", "seda_gcs_eb", "Achievement (SEDA, grade levels)", True, "se",
                             se_column="seda_gcs_eb_se"),
    "achievement_index": Indicator("achievement_index", "achievement_index",
                                   "Achievement index (CMT/SBAC, z)", True, "noise_constant",
                                   n_column="achievement_n"),
    "graduation": Indicator("graduation", "grad_rate", "Four-year graduation rate (%)", True, "binomial",
                            n_column="grad_cohort"),
    "absenteeism": Indicator("absenteeism", "chronic_absent_rate", "Chronic absenteeism (%)", False,
                             "binomial", n_column="enrollment", exclude_years=(2020,)),
    "suspensions": Indicator("suspensions", "suspension_rate", "Suspension rate (%)", False, "binomial",
                             n_column="enrollment", exclude_years=(2020,)),
}

DEFAULT_INDICATORS: tuple[str, ...] = ("achievement", "graduation", "absenteeism", "suspensions")


@dataclass(frozen=True)
class ImprovementSpec:
    """One specification of the improvement ranking.

    Attributes
    ----------
    indicators
        Keys of :data:`INDICATORS`.
    weights
        Composite weight per indicator (missing keys weigh 1); None = equal weights.
    start_year, end_year
        The window: baseline years end at ``start_year``, end years at ``end_year`` (spring years).
    baseline_span, end_span
        Number of years averaged for the baseline and for the end value.
    peer_group
        ``alliance`` or ``similar`` (:data:`PEER_GROUPS`).
    k_neighbors
        Peers per district for ``similar``.
    alliance_cohorts
        Cohorts (first designated fiscal year) whose districts are ranked; 2013 = the first 30.
    covariates
        Regressors of step (a) besides the intercept: ``baseline`` and/or ``frl_share``. An empty tuple
        keeps only the intercept (with ``reversion=True``: remove only the reversion that sampling noise
        predicts, and keep any real catch-up of low-baseline districts as improvement).
    min_indicators
        A district needs at least this many indicators for a composite.
    top_n
        Size of the top group (eight, as in the Neag study).
    estimate
        Which estimate ranks districts in point rankings: ``naive``, ``rtm`` or ``eb`` (:data:`ESTIMATES`).
    reversion
        Before the regression, subtract each district's expected reversion given the reliability of its own
        baseline (``-v_b / (S + v_b) * (baseline - mean)`` with ``S`` the spread of true baselines over all
        town and regional districts): a per-district correction for small, noisy districts that a single
        pooled slope cannot make. Off by default (the pooled regression alone); a sensitivity variant.
    """

    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    weights: Mapping[str, float] | None = None
    start_year: int = 2013
    end_year: int = 2016
    baseline_span: int = 3
    end_span: int = 1
    peer_group: str = "alliance"
    k_neighbors: int = 10
    alliance_cohorts: tuple[int, ...] = (2013,)
    covariates: tuple[str, ...] = ("baseline",)
    min_indicators: int = 2
    top_n: int = 8
    estimate: str = "eb"
    reversion: bool = False

    def __post_init__(self) -> None:
        unknown = [i for i in self.indicators if i not in INDICATORS]
        if unknown:
            raise ValueError(f"unknown indicators {unknown}; expected some of {sorted(INDICATORS)}")
        if self.peer_group not in PEER_GROUPS:
            raise ValueError(f"unknown peer group {self.peer_group!r}; expected one of {sorted(PEER_GROUPS)}")
        if self.estimate not in ESTIMATES:
            raise ValueError(f"unknown estimate {self.estimate!r}; expected one of {sorted(ESTIMATES)}")
        if set(self.covariates) - {"baseline", "frl_share"}:
            raise ValueError("covariates may be 'baseline' and 'frl_share'")
        if self.end_year <= self.start_year:
            raise ValueError("end_year must be after start_year")

    def weight(self, indicator: str) -> float:
        """Composite weight of ``indicator``."""
        return float((self.weights or {}).get(indicator, 1.0))


# --- sampling variances -------------------------------------------------------------------------------------

def binomial_variance(rate: pd.Series | np.ndarray, n: pd.Series | np.ndarray) -> np.ndarray:
    """Sampling variance of a percent rate from ``n`` students: ``100^2 p(1-p)/n``.

    ``p`` is smoothed to ``(x + 1/2) / (n + 1)`` with ``x = n * rate / 100`` so a rate of 0 or 100 in a
    small district still gets a positive variance (a 0% suspension rate among 150 students is not known
    exactly). NaN where the rate or ``n`` is missing or ``n`` is not positive.
    """
    rate = np.asarray(rate, dtype=float)
    n = np.asarray(n, dtype=float)
    n = np.where(n > 0, n, np.nan)
    p = (n * rate / 100.0 + 0.5) / (n + 1.0)
    return 1e4 * p * (1.0 - p) / n


def noise_constant(frame: pd.DataFrame, column: str, n_column: str) -> float:
    """Estimate ``c`` in ``var(sampling error of a district mean) = c / N`` from year-to-year changes.

    For consecutive years of the same district, ``E[(y_t - y_{t-1})^2] = 2 s2 + c (1/N_t + 1/N_{t-1})``
    where ``s2`` is true year-to-year movement; the slope of squared changes on ``1/N_t + 1/N_{t-1}``
    (iterated weighted least squares) estimates ``c`` (for a z-score, the squared ratio of the student-level
    to the district-level standard deviation). Used for scale-score indices, whose student-level SD the
    panel does not carry.

    Parameters
    ----------
    frame
        District-year rows (``district_code``, ``year``, ``column``, ``n_column``).
    column, n_column
        The value and the number tested.

    Returns
    -------
    float
        The slope, floored at 0; NaN with fewer than 10 pairs of consecutive years.
    """
    f = frame[["district_code", "year", column, n_column]].dropna().sort_values(["district_code", "year"])
    f = f.loc[f[n_column] > 0]
    grouped = f.groupby("district_code")
    consecutive = grouped["year"].diff().eq(1)
    dy2 = grouped[column].diff().pow(2)
    inv = 1.0 / f[n_column] + 1.0 / grouped[n_column].shift()
    ok = consecutive & dy2.notna() & inv.notna()
    if ok.sum() < 10:
        return float("nan")
    design = np.column_stack([np.ones(int(ok.sum())), inv[ok].to_numpy(float)])
    y = dy2[ok].to_numpy(float)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    # Squared changes are scaled chi-square variables whose spread grows with their mean, so two rounds of
    # weighted least squares (weights 1 / fitted^2) halve the standard error of the plain OLS slope.
    for _ in range(2):
        root_w = 1.0 / np.maximum(design @ coef, 1e-12 + 1e-6 * y.mean())
        coef = np.linalg.lstsq(design * root_w[:, None], y * root_w, rcond=None)[0]
    return float(max(coef[1], 0.0))


def _year_blocks(years: Iterable[int]) -> list[list[int]]:
    """Runs of consecutive years (the test regimes are separated by years without data)."""
    blocks: list[list[int]] = []
    for y in sorted(set(years)):
        if blocks and y == blocks[-1][-1] + 1:
            blocks[-1].append(y)
        else:
            blocks.append([y])
    return blocks


def prepare_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Add the derived indicator columns and a sampling-variance column per indicator.

    Adds ``achievement_index`` (:func:`alliance_study.analysis.groups.achievement_index`),
    ``achievement_n`` (mean
    number tested over its components) and, for every indicator in :data:`INDICATORS` whose columns exist,
    ``<name>_sampling_var``. For ``achievement_index`` the noise constant is estimated separately within each
    run of consecutive years with data (CMT years and SBAC years), over town and regional districts.

    Returns
    -------
    pandas.DataFrame
        A copy of ``panel`` with the new columns.
    """
    out = panel.copy()
    if "achievement_index" not in out.columns:
        out["achievement_index"] = achievement_index(out)
    n_cols = [c for c in ("cmt_math_n", "cmt_reading_n", "sbac_math_n_g38", "sbac_ela_n_g38") if c in out]
    if n_cols and "achievement_n" not in out.columns:
        # Mean over components of the number tested (math and reading are mostly the same students).
        out["achievement_n"] = out[n_cols].mean(axis=1, skipna=True)
    districts = district_mask(out)
    for ind in INDICATORS.values():
        if ind.column not in out.columns:
            continue
        if ind.variance == "se" and ind.se_column in out.columns:
            out[ind.variance_column] = out[ind.se_column].astype(float) ** 2
        elif ind.variance == "binomial" and ind.n_column in out.columns:
            out[ind.variance_column] = binomial_variance(out[ind.column], out[ind.n_column])
        elif ind.variance == "noise_constant" and ind.n_column in out.columns:
            var = pd.Series(np.nan, index=out.index)
            has = out[ind.column].notna() & districts
            for block in _year_blocks(out.loc[has, "year"]):
                rows = out["year"].isin(block)
                c = noise_constant(out.loc[rows & districts], ind.column, ind.n_column)
                var.loc[rows] = c / out.loc[rows, ind.n_column].where(out.loc[rows, ind.n_column] > 0)
            out[ind.variance_column] = var
    return out


# --- years --------------------------------------------------------------------------------------------------

def resolve_years(panel: pd.DataFrame, indicator: Indicator | str, start_year: int, end_year: int,
                  baseline_span: int = 3, end_span: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Baseline and end years of one indicator for a window, given the years the panel has data.

    Baseline: the latest ``baseline_span`` years with data at or before ``start_year`` (SEDA 2011-2013;
    chronic absenteeism, reported from 2012, 2012-2013; the CMT achievement index, whose last panel year
    is 2011, 2009-2011). End: the years with data in ``[end_year - end_span + 1, end_year]`` (none if the
    indicator has no data there, e.g. tests in 2014 or 2020). Years in ``exclude_years`` never count.

    Returns
    -------
    tuple
        ``(baseline_years, end_years)``, each sorted; empty when unavailable.
    """
    ind = INDICATORS[indicator] if isinstance(indicator, str) else indicator
    if ind.column not in panel.columns:
        return (), ()
    has = panel.loc[district_mask(panel) & panel[ind.column].notna(), "year"]
    years = sorted(set(int(y) for y in has) - set(ind.exclude_years))
    base = [y for y in years if y <= start_year][-baseline_span:]
    end = [y for y in years if end_year - end_span < y <= end_year and y > start_year]
    return tuple(base), tuple(end)


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
    base_years, end_years = resolve_years(panel, ind, spec.start_year, spec.end_year, spec.baseline_span,
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
    return _Arrays(ind, base_years, end_years, yb, vb, ye, ve, frl, peers, pop_mean, pop_signal)


def _nanmean_quiet(x: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        n = (~np.isnan(x)).sum(axis=axis)
        return np.where(n > 0, np.nansum(x, axis=axis) / np.maximum(n, 1), np.nan)


# --- the batched estimator ----------------------------------------------------------------------------------

def _estimate_batch(arr: _Arrays, spec: ImprovementSpec, counts: np.ndarray, wb: np.ndarray | None,
                    we: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every step for one indicator, for B resamples at once; arrays of shape (B, D).

    ``counts`` (B, D) are district frequency weights (bootstrap counts; ones for the point estimate),
    ``wb``/``we`` (B, k) year weights (None = each year once). Written for speed: the masks do not depend
    on the resample, so missing values are zero-filled once and every step is a matrix product or an
    element-wise operation on (B, D) arrays.
    """
    sign = arr.indicator.sign
    base, vbase = _period(arr.yb, arr.vb, wb)
    end, vend = _period(arr.ye, arr.ve, we)
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


# --- results ------------------------------------------------------------------------------------------------

@dataclass
class ImprovementResult:
    """Point estimates of one specification.

    Attributes
    ----------
    spec
        The specification.
    by_indicator
        Long table, one row per district of the universe and indicator: ``district_code, district_name,
        indicator, target, baseline, end, change, peer_change, naive, var, expected_reversion, prediction,
        rtm, reliability, eb, post_sd`` (``end`` is ``baseline + sign * change``; ``var`` is the sampling
        variance of the adjusted relative change).
    indicators
        One row per indicator: baseline and end years, districts in the pool and ranked, slope of naive
        change on the baseline, ``tau2``, mean sampling variance and reliability of the ranked districts,
        and the standardization scales.
    composite
        One row per ranked (target) district: ``district_code, district_name, n_indicators``, the three
        composites ``naive, rtm, eb``, their ranks (1 = most improved) and ``top_<estimate>`` flags.
    """

    spec: ImprovementSpec
    by_indicator: pd.DataFrame
    indicators: pd.DataFrame
    composite: pd.DataFrame
    _arrays: dict[str, _Arrays] = field(repr=False, default_factory=dict)
    _codes: pd.Index = field(repr=False, default_factory=lambda: pd.Index([]))
    _is_target: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=bool))
    _scales: dict[str, tuple[float, float]] = field(repr=False, default_factory=dict)

    def top(self, estimate: str | None = None) -> list[str]:
        """District codes of the top ``top_n`` by ``estimate`` (the spec's estimate by default)."""
        est = estimate or self.spec.estimate
        ranked = self.composite.dropna(subset=[est]).sort_values(f"rank_{est}")
        return ranked["district_code"].head(self.spec.top_n).tolist()


def _names(panel: pd.DataFrame) -> pd.Series:
    if "district_name" not in panel.columns:
        return pd.Series(dtype=object)
    named = panel.dropna(subset=["district_name"]).sort_values("year")
    return named.groupby("district_code")["district_name"].last()


def _rank_desc(values: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Ranks (1 = largest) along the last axis; NaN values rank last; exact ties broken by ``tiebreak``
    (larger first)."""
    x = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((-tiebreak, -x), axis=-1)
    ranks = np.empty(x.shape, dtype=float)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(1, x.shape[-1] + 1, dtype=float), x.shape),
                      axis=-1)
    return ranks


def estimate_improvement(panel: pd.DataFrame, spec: ImprovementSpec | None = None) -> ImprovementResult:
    """Point estimates of improvement relative to peers, naive and adjusted, per indicator and composite.

    Parameters
    ----------
    panel
        District-year panel; :func:`prepare_panel` is applied if its variance columns are missing.
    spec
        The specification (defaults: :class:`ImprovementSpec`).

    Returns
    -------
    ImprovementResult
    """
    spec = spec or ImprovementSpec()
    if any(INDICATORS[i].variance_column not in panel.columns for i in spec.indicators):
        panel = prepare_panel(panel)
    codes, is_target, _ = _universe(panel, spec)
    grid = _Grid(panel)
    names = _names(panel).reindex(codes)
    ones = np.ones((1, len(codes)))
    long_parts, ind_rows = [], []
    std_naive, std_rtm, std_eb = {}, {}, {}
    arrays: dict[str, _Arrays] = {}
    scales: dict[str, tuple[float, float]] = {}
    for name in spec.indicators:
        arr = _indicator_arrays(panel, spec, codes, name, grid)
        arrays[name] = arr
        res = _estimate_batch(arr, spec, ones, None, None)
        ok = res["ok"]
        one = {k: np.where(ok, v[0], np.nan) for k, v in res.items() if v.ndim == 2}
        one["ok"] = ok
        pool_w = np.ones(len(codes))
        scale_naive = _wsd(one["naive"], pool_w)
        scale_rtm = _wsd(one["rtm"], pool_w)
        scales[name] = (scale_naive, scale_rtm)
        end = one["baseline"] + arr.indicator.sign * one["change"]
        # Districts with a baseline but no end value (or the reverse) still show the value they have.
        base_only, _ = _period(arr.yb, arr.vb)
        one["baseline"] = base_only[0]
        long_parts.append(pd.DataFrame({
            "district_code": codes, "district_name": names.to_numpy(), "indicator": name,
            "target": is_target, "baseline": one["baseline"], "end": end, "change": one["change"],
            "peer_change": one["peer_change"], "naive": one["naive"],
            "var": one["var"], "expected_reversion": one["expected_reversion"],
            "prediction": one["prediction"],
            "rtm": one["rtm"], "reliability": one["reliability"], "eb": one["eb"],
            "post_sd": np.sqrt(one["post_var"]),
        }))
        tgt = is_target & one["ok"]
        ind_rows.append({
            "indicator": name, "label": arr.indicator.label,
            "direction": "higher is better" if arr.indicator.higher_is_better else "lower is better",
            "baseline_years": _span(arr.baseline_years), "end_years": _span(arr.end_years),
            "n_pool": int(one["ok"].sum()), "n_ranked": int(tgt.sum()),
            "slope_on_baseline": float(res["slope"][0]), "tau2": float(res["tau2"][0]),
            "mean_sampling_var": float(np.nanmean(one["var"][tgt])) if tgt.any() else np.nan,
            "mean_reliability": float(np.nanmean(one["reliability"][tgt])) if tgt.any() else np.nan,
            "sd_naive": scale_naive, "sd_rtm": scale_rtm,
        })
        std_naive[name] = one["naive"] / scale_naive
        std_rtm[name] = one["rtm"] / scale_rtm
        std_eb[name] = one["eb"] / scale_rtm
    weights = {i: spec.weight(i) for i in spec.indicators}
    comp = pd.DataFrame({"district_code": codes, "district_name": names.to_numpy()})
    for est, std in (("naive", std_naive), ("rtm", std_rtm), ("eb", std_eb)):
        comp[est] = composite_scores(pd.DataFrame(std, index=codes), weights, spec.min_indicators).to_numpy()
    comp["n_indicators"] = pd.DataFrame(std_naive, index=codes).notna().sum(axis=1).to_numpy()
    comp = comp.loc[is_target].reset_index(drop=True)
    for est in ESTIMATES:
        # Ties (e.g. every estimate shrunk to exactly 0) are broken by the RTM residual.
        ranks = _rank_desc(comp[est].to_numpy(float), comp["rtm"].fillna(-np.inf).to_numpy(float))
        comp[f"rank_{est}"] = np.where(comp[est].notna(), ranks, np.nan)
        comp[f"top_{est}"] = comp[f"rank_{est}"] <= spec.top_n
    comp = comp.sort_values([f"rank_{spec.estimate}", "district_code"]).reset_index(drop=True)
    return ImprovementResult(spec, pd.concat(long_parts, ignore_index=True), pd.DataFrame(ind_rows), comp,
                             arrays, codes, is_target, scales)


def _span(years: Sequence[int]) -> str:
    if not years:
        return "none"
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


# --- uncertainty --------------------------------------------------------------------------------------------

@dataclass
class BootstrapResult:
    """Uncertainty of the ranking of one specification.

    Attributes
    ----------
    table
        One row per ranked district: ``district_code, district_name``, point composites and ranks (from
        :class:`ImprovementResult`), ``p_top`` (share of draws in the top ``top_n``, adjusted = EB with
        posterior draws), ``p_top_naive`` (naive composite with sampling-error draws), ``p_top_mc_se`` (Monte
        Carlo standard error of ``p_top``), ``rank_median, rank_lo, rank_hi`` (5th-95th percentile of the
        adjusted rank), ``score_lo, score_hi`` (5th-95th percentile of the adjusted composite); sorted by
        ``p_top``.
    n_boot, seed
        Draws and seed.
    expected_true_in_top
        Sum of ``p_top`` over the point-estimate top group: the expected number of the named districts that
        are in the top group in a draw (``top_n`` if the ranking were certain; ``top_n**2 / n`` by chance).
    """

    table: pd.DataFrame
    n_boot: int
    seed: int
    expected_true_in_top: float


def bootstrap_improvement(panel: pd.DataFrame, spec: ImprovementSpec | None = None, n_boot: int = 2000,
                          seed: int = 0, result: ImprovementResult | None = None,
                          resample_districts: bool = True, resample_years: bool = True,
                          measurement_draws: bool = True) -> BootstrapResult:
    """Probability of each ranked district being in the top ``top_n``, by bootstrap and measurement draws.

    Each draw (all computed together as ``(n_boot, districts)`` arrays):

    1. resamples the peer-pool districts with replacement (multinomial counts shared by all indicators),
       which moves peer means, the baseline regression and ``tau2``; the ranked districts' own data stay;
    2. resamples, per indicator, the baseline years and the end years with replacement (when a period has
       more than one year);
    3. draws every district's true adjusted improvement from its EB posterior ``N(eb, B v)`` (naive: from
       ``N(naive, v)``), standardizes with the point-estimate scales, forms the composite and ranks.

    Parameters
    ----------
    panel
        District-year panel.
    spec
        Specification (default :class:`ImprovementSpec`).
    n_boot
        Number of draws.
    seed
        Seed of the ``numpy.random.Generator``; results are identical for identical seeds.
    result
        Point estimates already computed for ``spec`` (recomputed if None).
    resample_districts, resample_years, measurement_draws
        Switch each source of uncertainty off (for diagnostics).

    Returns
    -------
    BootstrapResult
    """
    spec = spec or ImprovementSpec()
    if result is None:
        result = estimate_improvement(panel, spec)
    rng = np.random.default_rng(seed)
    codes, is_target = result._codes, result._is_target
    d = len(codes)
    counts = (rng.multinomial(d, np.full(d, 1.0 / d), size=n_boot).astype(float) if resample_districts
              else np.ones((n_boot, d)))
    # The ranked districts keep their own data whatever the resample; the counts only weigh them as peers
    # and in the pool-level regression and variance estimates.
    weights = {i: spec.weight(i) for i in spec.indicators}
    n_t = int(is_target.sum())
    num_adj = np.zeros((n_boot, n_t))
    num_naive = np.zeros((n_boot, n_t))
    den = np.zeros(n_t)
    n_have = np.zeros(n_t)
    for name in spec.indicators:
        arr = result._arrays[name]
        kb, ke = arr.yb.shape[1], arr.ye.shape[1]
        wb = (rng.multinomial(kb, np.full(kb, 1.0 / kb), size=n_boot).astype(float)
              if resample_years and kb > 1 else None)
        we = (rng.multinomial(ke, np.full(ke, 1.0 / ke), size=n_boot).astype(float)
              if resample_years and ke > 1 else None)
        res = _estimate_batch(arr, spec, counts, wb, we)
        # Only the ranked districts need draws; the pool served the peer means, the regression and tau2.
        ok = res["ok"][is_target]
        scale_naive, scale_rtm = result._scales[name]
        if not (np.isfinite(scale_naive) and np.isfinite(scale_rtm) and scale_naive > 0 and scale_rtm > 0):
            continue  # no spread or no data in this window (e.g. tests in 2014): the indicator drops out
        w = weights[name]
        adj = res["eb"][:, is_target]
        naive = res["naive"][:, is_target]
        if measurement_draws:
            adj = adj + np.sqrt(res["post_var"][:, is_target]) * rng.standard_normal((n_boot, n_t))
            naive = naive + np.sqrt(res["var_naive"][:, is_target]) * rng.standard_normal((n_boot, n_t))
        num_adj += (w / scale_rtm * ok) * adj
        num_naive += (w / scale_naive * ok) * naive
        den += w * ok
        n_have += ok
    keep = (n_have >= spec.min_indicators) & (den > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        comp_adj = np.where(keep, num_adj / den, np.nan)
        comp_naive = np.where(keep, num_naive / den, np.nan)
    # Random tie-breaks: when every estimate is shrunk to exactly 0 the top group is a lottery, not a list.
    tie = rng.uniform(size=comp_adj.shape)
    rank_adj = _rank_desc(comp_adj, tie)
    rank_naive = _rank_desc(comp_naive, tie)
    n_rankable = np.sum(~np.isnan(comp_adj), axis=1, keepdims=True)
    top_n = np.minimum(spec.top_n, n_rankable)
    in_top = (rank_adj <= top_n) & ~np.isnan(comp_adj)
    in_top_naive = (rank_naive <= top_n) & ~np.isnan(comp_naive)
    target_codes = codes[is_target]
    p_top = in_top.mean(axis=0)
    with np.errstate(invalid="ignore"):
        ranks_valid = np.where(np.isnan(comp_adj), np.nan, rank_adj)
    table = pd.DataFrame({
        "district_code": target_codes,
        "p_top": p_top,
        "p_top_mc_se": np.sqrt(p_top * (1 - p_top) / n_boot),
        "p_top_naive": in_top_naive.mean(axis=0),
        "rank_median": np.nanmedian(ranks_valid, axis=0) if np.isfinite(ranks_valid).any() else np.nan,
        "rank_lo": np.nanpercentile(ranks_valid, 5, axis=0) if np.isfinite(ranks_valid).any() else np.nan,
        "rank_hi": np.nanpercentile(ranks_valid, 95, axis=0) if np.isfinite(ranks_valid).any() else np.nan,
        "score_lo": np.nanpercentile(comp_adj, 5, axis=0) if np.isfinite(comp_adj).any() else np.nan,
        "score_hi": np.nanpercentile(comp_adj, 95, axis=0) if np.isfinite(comp_adj).any() else np.nan,
    })
    table = result.composite.merge(table, on="district_code", how="left")
    table = table.sort_values(["p_top", f"rank_{spec.estimate}"], ascending=[False, True])
    table = table.reset_index(drop=True)
    named = set(result.top())
    expected = float(table.loc[table["district_code"].isin(named), "p_top"].sum())
    return BootstrapResult(table, n_boot, seed, expected)


# --- sensitivity --------------------------------------------------------------------------------------------

#: Names of two variants of :func:`default_variants` that :func:`chapter_facts` compares.
NOISE_ONLY_VARIANT = "noise reversion only (no baseline regression)"
NAIVE_VARIANT = "naive (no adjustment)"


def default_variants(spec: ImprovementSpec | None = None) -> dict[str, dict[str, Any]]:
    """Specifications for the sensitivity table, as changes to the main ``spec``.

    Indicator sets (each indicator alone, without suspensions, the CMT/SBAC index instead of SEDA),
    windows (one year shorter or longer, three years later, a 2012 start), the other peer group, an
    adjustment for poverty, double weight on achievement, no shrinkage, and no adjustment at all.
    """
    spec = spec or ImprovementSpec()
    inds = tuple(spec.indicators)
    swapped = tuple("achievement_index" if i == "achievement" else i for i in inds)
    other_peer = "similar" if spec.peer_group == "alliance" else "alliance"
    variants: dict[str, dict[str, Any]] = {"main": {}}
    for ind in inds:
        variants[f"only {ind}"] = {"indicators": (ind,), "min_indicators": 1}
    variants.update({
        "without suspensions": {"indicators": tuple(i for i in inds if i != "suspensions")},
        "CMT/SBAC index for achievement": {"indicators": swapped},
        f"window {spec.start_year}-{spec.end_year - 1}": {"end_year": spec.end_year - 1},
        f"window {spec.start_year}-{spec.end_year + 1}": {"end_year": spec.end_year + 1},
        f"window {spec.start_year}-{spec.end_year + 3}": {"end_year": spec.end_year + 3},
        f"window {spec.start_year - 1}-{spec.end_year}": {"start_year": spec.start_year - 1},
        f"peers: {other_peer}": {"peer_group": other_peer},
        "adjust for poverty too": {"covariates": ("baseline", "frl_share")},
        f"{inds[0]} weighted double": {"weights": {**dict(spec.weights or {}),
                                                   inds[0]: 2.0 * spec.weight(inds[0])}},
        "expected reversion per district": {"reversion": not spec.reversion},
        NOISE_ONLY_VARIANT: {"reversion": True, "covariates": ()},
        "no shrinkage (regression only)": {"estimate": "rtm"},
        NAIVE_VARIANT: {"estimate": "naive"},
    })
    return variants


def sensitivity_table(panel: pd.DataFrame, spec: ImprovementSpec | None = None,
                      variants: Mapping[str, Mapping[str, Any]] | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How the top group moves with the indicator set, window, peers, weights and adjustment.

    Parameters
    ----------
    panel
        District-year panel.
    spec
        The main specification.
    variants
        Name -> changes to ``spec`` (:func:`dataclasses.replace` keywords); default :func:`default_variants`.
        A variant named ``main`` with no changes is the reference.

    Returns
    -------
    tuple of pandas.DataFrame
        ``table``: one row per variant -- ``variant, n_ranked, top`` (codes, best first), ``overlap`` with
        the main top group, ``jaccard``, ``chance_overlap`` (expected overlap of a random top group of the
        same size). ``counts``: one row per ranked district of the main spec -- ``district_code,
        district_name, n_top`` (variants in which it is in the top group), ``share_top``, ``in_main``.
    """
    spec = spec or ImprovementSpec()
    variants = variants if variants is not None else default_variants(spec)
    prepared = prepare_panel(panel)
    main = estimate_improvement(prepared, spec)
    main_top = main.top()
    rows, tops = [], {}
    for name, changes in variants.items():
        vspec = replace(spec, **dict(changes))
        res = main if not changes else estimate_improvement(prepared, vspec)
        top = res.top()
        tops[name] = top
        n_ranked = int(res.composite[vspec.estimate].notna().sum())
        overlap, jac = top_overlap(top, main_top)
        rows.append({"variant": name, "n_ranked": n_ranked, "top": top, "overlap": overlap, "jaccard": jac,
                     "chance_overlap": len(top) * len(main_top) / n_ranked if n_ranked else np.nan})
    table = pd.DataFrame(rows)
    counts = main.composite[["district_code", "district_name"]].copy()
    counts["n_top"] = [sum(code in t for t in tops.values()) for code in counts["district_code"]]
    counts["share_top"] = counts["n_top"] / len(tops)
    counts["in_main"] = counts["district_code"].isin(main_top)
    counts = counts.sort_values(["n_top", "district_code"], ascending=[False, True]).reset_index(drop=True)
    return table, counts


def ranking_table(result: ImprovementResult, boot: BootstrapResult | None = None) -> pd.DataFrame:
    """Naive vs adjusted rankings of the ranked districts, for display (best adjusted first).

    Columns: ``District``, ``Indicators``, naive / regression-adjusted / EB composites and ranks, and, with
    ``boot``, ``P(top)`` adjusted and naive and the 90% rank interval.
    """
    comp = result.composite
    out = pd.DataFrame({
        "District": comp["district_name"].fillna(comp["district_code"]).map(short_name),
        "Indicators": comp["n_indicators"],
        "Naive": comp["naive"], "Naive rank": comp["rank_naive"].astype("Int64"),
        "Regression-adjusted": comp["rtm"], "Regression rank": comp["rank_rtm"].astype("Int64"),
        "EB-adjusted": comp["eb"], "EB rank": comp["rank_eb"].astype("Int64"),
    })
    if boot is not None:
        b = boot.table.set_index("district_code").reindex(comp["district_code"])
        out["P(top) adjusted"] = b["p_top"].to_numpy()
        out["P(top) naive"] = b["p_top_naive"].to_numpy()
        out["Rank 90% interval"] = [f"{lo:.0f}-{hi:.0f}" if np.isfinite(lo) else ""
                                    for lo, hi in zip(b["rank_lo"], b["rank_hi"], strict=True)]
    return out


def short_name(name: object) -> str:
    """A district's name without "School District" (``Hartford School District`` -> ``Hartford``)."""
    return str(name).replace(" School District", "").strip()


def name_list(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``; ``none`` for an empty list."""
    names = list(names)
    if not names:
        return "none"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def chapter_facts(result: ImprovementResult, boot: BootstrapResult, sensitivity: pd.DataFrame,
                  counts: pd.DataFrame, stable_share: float = 0.75) -> dict[str, Any]:
    """Numbers and name lists the improvement chapter's prose quotes (all computed here, none typed).

    Parameters
    ----------
    result, boot
        Point estimates and bootstrap of the main specification.
    sensitivity, counts
        Output of :func:`sensitivity_table` (its ``main`` row is the reference).
    stable_share
        Share of specifications a district must be in the top group of to count as stable.

    Returns
    -------
    dict
        Keys: ``n_ranked, top_n, top_names`` (best first), ``top_with_p`` (names with P(top)),
        ``naive_top_names``, ``overlap_naive``, ``dropped_names`` (naive top, not adjusted),
        ``added_names``, ``n_p90, p90_names`` (P(top) >= 0.90), ``n_p50, p50_names`` (> 0.50),
        ``expected_in_top``, ``chance_in_top`` (``top_n**2 / n_ranked``), ``n_variants`` (excluding
        ``main``), ``mean_overlap, mean_jaccard, min_overlap, min_overlap_variant, chance_overlap``,
        ``fallers, risers`` (three largest moves from the naive to the adjusted rank, as "name (naive to
        adjusted)"), ``n_ever_top, n_stable, stable_names``, ``noise_only_overlap_naive`` and
        ``noise_only_overlap_main`` (when those variants are in ``sensitivity``); per indicator
        ``<name>_slope``, ``<name>_reliability``, ``<name>_signal_sd``, ``<name>_noise_sd``.
    """
    spec = result.spec
    comp = result.composite.set_index("district_code")
    names = comp["district_name"].fillna(pd.Series(comp.index, index=comp.index)).map(short_name)
    n_ranked = int(comp[spec.estimate].notna().sum())
    top, naive_top = result.top(), result.top("naive")
    # Thresholds apply to the probabilities as printed (two decimals), so a list never omits a "0.90".
    p_raw = boot.table.set_index("district_code")["p_top"]
    p = p_raw.map(lambda v: float(f"{v:.2f}"))
    others = sensitivity.loc[sensitivity["variant"] != "main"]
    worst = others.loc[others["overlap"].idxmin()] if len(others) else None
    stable = counts.loc[counts["share_top"] >= stable_share, "district_code"]
    facts: dict[str, Any] = {
        "n_ranked": n_ranked,
        "top_n": spec.top_n,
        "top_names": name_list([names[c] for c in top]),
        "top_with_p": name_list([f"{names[c]} ({p_raw[c]:.2f})" for c in top]),
        "naive_top_names": name_list([names[c] for c in naive_top]),
        "overlap_naive": len(set(top) & set(naive_top)),
        "dropped_names": name_list([names[c] for c in naive_top if c not in top]),
        "added_names": name_list([names[c] for c in top if c not in naive_top]),
        "n_p90": int((p >= 0.9).sum()),
        "p90_names": name_list([names[c] for c in p.index[p >= 0.9]]),
        "n_p50": int((p > 0.5).sum()),
        "p50_names": name_list([names[c] for c in p.index[p > 0.5]]),
        "expected_in_top": boot.expected_true_in_top,
        "chance_in_top": spec.top_n**2 / n_ranked if n_ranked else float("nan"),
        "n_variants": len(others),
        "mean_overlap": float(others["overlap"].mean()) if len(others) else float("nan"),
        "mean_jaccard": float(others["jaccard"].mean()) if len(others) else float("nan"),
        "min_overlap": int(worst["overlap"]) if worst is not None else 0,
        "min_overlap_variant": str(worst["variant"]) if worst is not None else "none",
        "chance_overlap": float(sensitivity["chance_overlap"].iloc[0]),
        "fallers": name_list([f"{names[c]} ({comp.loc[c, 'rank_naive']:.0f} to {comp.loc[c, 'rank_eb']:.0f})"
                              for c in (comp["rank_eb"] - comp["rank_naive"]).nlargest(3).index]),
        "risers": name_list([f"{names[c]} ({comp.loc[c, 'rank_naive']:.0f} to {comp.loc[c, 'rank_eb']:.0f})"
                             for c in (comp["rank_naive"] - comp["rank_eb"]).nlargest(3).index]),
        "n_ever_top": int((counts["n_top"] > 0).sum()),
        "n_stable": len(stable),
        "stable_names": name_list([names[c] for c in stable]),
    }
    tops = dict(zip(sensitivity["variant"], sensitivity["top"], strict=True))
    if NOISE_ONLY_VARIANT in tops and NAIVE_VARIANT in tops:
        facts["noise_only_overlap_naive"] = len(set(tops[NOISE_ONLY_VARIANT]) & set(tops[NAIVE_VARIANT]))
        facts["noise_only_overlap_main"] = len(set(tops[NOISE_ONLY_VARIANT]) & set(top))
    for row in result.indicators.itertuples():
        facts[f"{row.indicator}_slope"] = row.slope_on_baseline
        facts[f"{row.indicator}_reliability"] = row.mean_reliability
        facts[f"{row.indicator}_signal_sd"] = float(np.sqrt(row.tau2))
        facts[f"{row.indicator}_noise_sd"] = float(np.sqrt(row.mean_sampling_var))
    return facts


def indicator_table(result: ImprovementResult) -> pd.DataFrame:
    """The indicators of a specification, for display: years used, districts, reversion and reliability."""
    ind = result.indicators
    return pd.DataFrame({
        "Indicator": ind["label"],
        "Improvement is": ind["direction"].str.replace(" is better", ""),
        "Baseline years": ind["baseline_years"],
        "End years": ind["end_years"],
        "Districts in pool": ind["n_pool"],
        "Ranked": ind["n_ranked"],
        "Slope on baseline": ind["slope_on_baseline"],
        "Signal SD": np.sqrt(ind["tau2"]),
        "Noise SD (mean)": np.sqrt(ind["mean_sampling_var"]),
        "Reliability (mean)": ind["mean_reliability"],
    })


def sensitivity_display(sensitivity: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """The sensitivity table for display: variant, districts ranked, top group (short names), overlap."""
    return pd.DataFrame({
        "Specification": sensitivity["variant"],
        "Ranked": sensitivity["n_ranked"],
        "Top group (best first)": [", ".join(short_name(names.get(c, c)) for c in top)
                                   for top in sensitivity["top"]],
        "Overlap with main": sensitivity["overlap"],
        "Jaccard": sensitivity["jaccard"],
    })


def top_membership(sensitivity: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """0/1 matrix: rows = ranked districts (most often in the top group first), columns = specifications."""
    out = pd.DataFrame(0, index=counts["district_code"], columns=sensitivity["variant"].tolist())
    for variant, top in zip(sensitivity["variant"], sensitivity["top"], strict=True):
        out.loc[out.index.isin(top), variant] = 1
    return out


"""Indicators, the specification of a ranking, sampling and transient variances, and the years of a window.

Every indicator's district-year value carries two kinds of noise the ranking must not mistake for change:

- **sampling noise**, known per district-year: binomial ``p(1-p)/n`` for rates, SEDA's *unshrunk* (OLS)
  standard errors for achievement, ``c / N tested`` for the CMT/SBAC index (:func:`noise_constant`);
- **transient year-to-year movement** that is real but does not last (a good cohort, a change of
  recording): estimated once per indicator over every town and regional district from consecutive-year
  changes net of sampling noise (:func:`transient_variance`). A period mean over ``k`` years carries
  ``s2 / k`` of it, so a single end year carries the full ``s2``.

SEDA publishes empirical-Bayes (EB) district means, already shrunk toward a prediction, and their posterior
SEs. The ranking shrinks once, itself, so it reads SEDA's OLS means and sampling SEs (``seda_gcs_ol``,
``seda_gcs_ol_se``); the EB series stays in the panel for description (indicator ``achievement_eb``
reproduces the former double-shrunk input as a sensitivity variant).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis.groups import achievement_index, district_mask

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

#: How a district without an indicator that the window has is scored.
MISSING_RULES: dict[str, str] = {
    "prior": "the missing indicator is scored at its prior mean (0, the regression prediction) with its "
             "prior variance tau2 in the draws, so a district is not ranked on fewer, noisier indicators",
    "available": "the composite averages the indicators the district has (the rule before issue 12)",
}

#: Spring years 2020 and 2021 (school years 2019-20 and 2020-21): tests cancelled or thinly taken, and
#: rates distorted by remote schooling. As in the impact chapter (whose main window ends in 2019 and whose
#: extended window uses only the outcomes with post-pandemic data), no baseline or end value comes from
#: them; a window across the break compares 2017-2019 with 2024-2025.
PANDEMIC_YEARS: tuple[int, ...] = (2020, 2021)


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
        Years never used (:data:`PANDEMIC_YEARS`).
    """

    name: str
    column: str
    label: str
    higher_is_better: bool
    variance: str
    n_column: str | None = None
    se_column: str | None = None
    exclude_years: tuple[int, ...] = PANDEMIC_YEARS

    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 otherwise."""
        return 1.0 if self.higher_is_better else -1.0

    @property
    def variance_column(self) -> str:
        """Column :func:`prepare_panel` fills with the sampling variance of each district-year value."""
        return f"{self.name}_sampling_var"


#: The indicators known to the module. ``achievement`` is SEDA's grade-level scale (one scale across the
#: CMT -> SBAC change), unshrunk, with sampling SEs; ``achievement_eb`` the same with SEDA's EB means and
#: posterior SEs (shrunk already: a sensitivity variant only); ``achievement_index`` the within-year
#: z-score of the CMT and SBAC district means (:func:`alliance_study.analysis.groups.achievement_index`).
INDICATORS: dict[str, Indicator] = {
    "achievement": Indicator("achievement", "seda_gcs_ol", "Achievement (SEDA, grade levels)", True, "se",
                             se_column="seda_gcs_ol_se"),
    "achievement_eb": Indicator("achievement_eb", "seda_gcs_eb", "Achievement (SEDA EB means, shrunk)", True,
                                "se", se_column="seda_gcs_eb_se"),
    "achievement_index": Indicator("achievement_index", "achievement_index",
                                   "Achievement index (CMT/SBAC, z)", True, "noise_constant",
                                   n_column="achievement_n"),
    "graduation": Indicator("graduation", "grad_rate", "Four-year graduation rate (%)", True, "binomial",
                            n_column="grad_cohort"),
    "absenteeism": Indicator("absenteeism", "chronic_absent_rate", "Chronic absenteeism (%)", False,
                             "binomial", n_column="enrollment"),
    "suspensions": Indicator("suspensions", "suspension_rate", "Suspension rate (%)", False, "binomial",
                             n_column="enrollment"),
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
        Regressors of step (a) besides the intercept: ``baseline`` and/or ``frl_share``.
    min_indicators
        A district needs at least this many indicators of its own for a composite.
    top_n
        Size of the top group (eight, as in the Neag study).
    estimate
        Which estimate ranks districts in point rankings: ``naive``, ``rtm`` or ``eb`` (:data:`ESTIMATES`).
    reversion
        Before the regression, subtract each district's expected reversion given the reliability of its own
        baseline (a sensitivity variant).
    missing
        How a district lacking an indicator the window has is scored (:data:`MISSING_RULES`).
    transient
        Count transient year-to-year movement (:func:`transient_variance`) as noise of the baseline and end
        values, in the shrinkage and in the draws. False: sampling noise only.
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
    missing: str = "prior"
    transient: bool = True

    def __post_init__(self) -> None:
        unknown = [i for i in self.indicators if i not in INDICATORS]
        if unknown:
            raise ValueError(f"unknown indicators {unknown}; expected some of {sorted(INDICATORS)}")
        if self.peer_group not in PEER_GROUPS:
            raise ValueError(f"unknown peer group {self.peer_group!r}; expected one of {sorted(PEER_GROUPS)}")
        if self.estimate not in ESTIMATES:
            raise ValueError(f"unknown estimate {self.estimate!r}; expected one of {sorted(ESTIMATES)}")
        if self.missing not in MISSING_RULES:
            raise ValueError(f"unknown missing rule {self.missing!r}; expected one of "
                             f"{sorted(MISSING_RULES)}")
        if set(self.covariates) - {"baseline", "frl_share"}:
            raise ValueError("covariates may be 'baseline' and 'frl_share'")
        if self.end_year <= self.start_year:
            raise ValueError("end_year must be after start_year")

    def weight(self, indicator: str) -> float:
        """Composite weight of ``indicator``."""
        return float((self.weights or {}).get(indicator, 1.0))


# --- sampling and transient variances -----------------------------------------------------------------------

def binomial_variance(rate: pd.Series | np.ndarray, n: pd.Series | np.ndarray) -> np.ndarray:
    """Sampling variance of a percent rate from ``n`` students: ``100^2 p(1-p)/n``.

    ``p`` is smoothed to ``(x + 1/2) / (n + 1)`` with ``x = n * rate / 100`` so a rate of 0 or 100 in a
    small district still gets a positive variance. NaN where the rate or ``n`` is missing or not positive.
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
    (iterated weighted least squares) estimates ``c``. Used for scale-score indices, whose student-level SD
    the panel does not carry. Returns the slope floored at 0; NaN with fewer than 10 pairs.
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


def transient_variance(values: np.ndarray, variances: np.ndarray, years: np.ndarray) -> float:
    """Variance of transient (one-year) movement of an indicator, net of sampling noise.

    For a district whose value is ``y_t = mu + trend + e_t + u_t`` with independent transient shocks ``e_t``
    (variance ``s2``) and sampling errors ``u_t`` (known variance ``v_t``), the change between consecutive
    years, net of the common change of that year (the mean over districts), has expectation
    ``E[d^2] = 2 s2 + v_t + v_{t-1}``. So ``s2 = max(0, mean(d^2 - v_t - v_{t-1}) / 2)``.

    Parameters
    ----------
    values, variances
        (districts, years) arrays; NaN where absent.
    years
        The spring years of the columns (pairs are taken only between consecutive calendar years).

    Returns
    -------
    float
        ``s2`` (0 if no pair of consecutive years exists).
    """
    years = np.asarray(years, dtype=int)
    if values.shape[1] < 2:
        return 0.0
    consecutive = np.diff(years) == 1
    d = np.diff(values, axis=1)[:, consecutive]
    v = (variances[:, 1:] + variances[:, :-1])[:, consecutive]
    ok = ~np.isnan(d) & ~np.isnan(v)
    if ok.sum() < 10:
        return 0.0
    with np.errstate(invalid="ignore"):
        common = np.nanmean(np.where(ok, d, np.nan), axis=0)
    dev = np.where(ok, d - common, 0.0)
    n_per = ok.sum(axis=0)
    # The deviation from an estimated year mean has expectation (1 - 1/n) of the raw one.
    scale = np.where(n_per > 1, n_per / np.maximum(n_per - 1, 1), 0.0)
    num = np.sum(dev**2 * scale) - np.sum(np.where(ok, v, 0.0))
    return float(max(num / (2.0 * ok.sum()), 0.0))


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
    ``achievement_n`` (mean number tested over its components) and, for every indicator in
    :data:`INDICATORS` whose columns exist, ``<name>_sampling_var``. For ``achievement_index`` the noise
    constant is estimated separately within each run of consecutive years with data (CMT and SBAC years),
    over town and regional districts.

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


def indicator_years(panel: pd.DataFrame, indicator: Indicator | str) -> list[int]:
    """Years in which town or regional districts have the indicator, without its excluded years."""
    ind = INDICATORS[indicator] if isinstance(indicator, str) else indicator
    if ind.column not in panel.columns:
        return []
    has = panel.loc[district_mask(panel) & panel[ind.column].notna(), "year"]
    return sorted(set(int(y) for y in has) - set(ind.exclude_years))


def resolve_years(panel: pd.DataFrame, indicator: Indicator | str, start_year: int, end_year: int,
                  baseline_span: int = 3, end_span: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Baseline and end years of one indicator for a window, given the years the panel has data.

    Baseline: the latest ``baseline_span`` years with data at or before ``start_year`` (SEDA 2011-2013;
    chronic absenteeism, reported from 2012, 2012-2013). End: the years with data in
    ``[end_year - end_span + 1, end_year]`` (none if the indicator has no data there, e.g. tests in 2014).
    Years in ``exclude_years`` (:data:`PANDEMIC_YEARS`) never count.

    Returns
    -------
    tuple
        ``(baseline_years, end_years)``, each sorted; empty when unavailable.
    """
    return window_years(indicator_years(panel, indicator), start_year, end_year, baseline_span, end_span)


def window_years(years: Iterable[int], start_year: int, end_year: int, baseline_span: int = 3,
                 end_span: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """:func:`resolve_years` given the sorted years with data (excluded years already removed)."""
    years = sorted(years)
    base = [y for y in years if y <= start_year][-baseline_span:]
    end = [y for y in years if end_year - end_span < y <= end_year and y > start_year]
    return tuple(base), tuple(end)

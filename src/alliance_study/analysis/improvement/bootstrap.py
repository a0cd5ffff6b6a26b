"""Uncertainty of a ranking: what is uncertain, and one draw of each source, never two of the same.

The stated uncertainty is that of each district's *persistent* improvement (its true change net of the
peers and of the baseline), given the data. Three sources, each drawn once per draw:

1. **The peer pool** (parameter uncertainty): the pool districts are resampled with replacement, which
   moves peer means, the regression on the baseline and ``tau2``; the ranked districts keep their own data.
2. **Sampling noise of every baseline and end value**, and **transient year-to-year movement** (a good or
   bad year that does not last, in the end year as much as in the baseline years): both are in ``v``, the
   noise of each change, so each district's true adjusted improvement is drawn from its EB posterior
   ``N(eb, B v)``. A missing indicator (``missing="prior"``) is drawn from its prior ``N(0, tau2)``.

The former scheme also resampled the baseline years (never the single end year, the largest source of
spread) on top of the posterior draw, so the baseline's sampling noise was drawn twice and the end year's
transient movement never. Here the end year's transient movement enters through ``s2 / k_end`` in ``v``
(with one end year: all of ``s2``), and no year is resampled. ``tests/test_improvement.py`` checks the
coverage of the 90% rank intervals on simulated panels with transient shocks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance_study.analysis.improvement.estimate import ImprovementResult, _rank_desc, estimate_improvement
from alliance_study.analysis.improvement.indicators import ImprovementSpec
from alliance_study.analysis.improvement.shrinkage import _estimate_batch

#: Percentiles of the rank and score intervals (a 90% interval).
INTERVAL = (5.0, 95.0)


@dataclass
class BootstrapResult:
    """Uncertainty of the ranking of one specification.

    Attributes
    ----------
    table
        One row per ranked district: the point composites and ranks (from :class:`ImprovementResult`),
        ``p_top`` (share of draws in the top ``top_n``, adjusted), ``p_top_naive`` (naive composite with
        sampling-error draws), ``p_top_mc_se`` (Monte Carlo standard error of ``p_top``), ``rank_median,
        rank_lo, rank_hi`` (90% interval of the adjusted rank), ``score_lo, score_hi``; sorted by ``p_top``.
    n_boot, seed
        Draws and seed.
    expected_true_in_top
        Sum of ``p_top`` over the point-estimate top group: the expected number of the named districts that
        are in the top group in a draw (``top_n`` if the ranking were certain; ``top_n**2 / n`` by chance).
    draws
        (n_boot, ranked districts) adjusted composite draws, columns in the order of ``codes``.
    codes
        District codes of the columns of ``draws``.
    """

    table: pd.DataFrame
    n_boot: int
    seed: int
    expected_true_in_top: float
    draws: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    codes: list[str] = field(repr=False, default_factory=list)

    def p_top(self) -> pd.Series:
        """P(top ``top_n``) by district code."""
        return self.table.set_index("district_code")["p_top"]


def bootstrap_improvement(panel: pd.DataFrame, spec: ImprovementSpec | None = None, n_boot: int = 2000,
                          seed: int = 0, result: ImprovementResult | None = None,
                          resample_districts: bool = True, measurement_draws: bool = True) -> BootstrapResult:
    """Probability of each ranked district being in the top ``top_n``, by bootstrap and posterior draws.

    All draws are computed together as ``(n_boot, districts)`` arrays (see the module docstring for what
    each draw holds).

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
    resample_districts, measurement_draws
        Switch each source of uncertainty off (for diagnostics).

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import improvement
    >>> panel, _ = simulate.improvement_panel(seed=2)
    >>> boot = improvement.bootstrap_improvement(panel, n_boot=200, seed=0)
    >>> round(float(boot.table["p_top"].sum()), 6)  # probabilities of a top eight sum to eight
    8.0
    """
    spec = spec or ImprovementSpec()
    if result is None:
        result = estimate_improvement(panel, spec)
    rng = np.random.default_rng(seed)
    codes, is_target = result._codes, result._is_target
    d = len(codes)
    counts = (rng.multinomial(d, np.full(d, 1.0 / d), size=n_boot).astype(float) if resample_districts
              else np.ones((n_boot, d)))
    n_t = int(is_target.sum())
    num_adj = np.zeros((n_boot, n_t))
    num_naive = np.zeros((n_boot, n_t))
    den = np.zeros(n_t)
    n_have = np.zeros(n_t)
    for name in result.in_window():
        res = _estimate_batch(result._arrays[name], spec, counts)
        ok = res["ok"][is_target]
        scale_naive, scale_rtm = result._scales[name]
        w = spec.weight(name)
        adj = np.where(ok, res["eb"][:, is_target], 0.0)
        naive = np.where(ok, res["naive"][:, is_target], 0.0)
        if measurement_draws:
            z = rng.standard_normal((n_boot, n_t))
            # Own data: the EB posterior; missing (scored at the prior mean): the prior N(0, tau2).
            sd = np.where(ok, np.sqrt(res["post_var"][:, is_target]), np.sqrt(res["tau2"])[:, None])
            adj = adj + sd * z * (ok | (spec.missing == "prior"))
            naive = naive + np.sqrt(res["var_naive"][:, is_target]) * rng.standard_normal((n_boot, n_t)) * ok
        num_adj += (w / scale_rtm) * adj
        num_naive += (w / scale_naive) * naive
        den += w * (ok if spec.missing == "available" else np.ones(n_t, dtype=bool))
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
    ranks_valid = np.where(np.isnan(comp_adj), np.nan, rank_adj)
    finite = bool(np.isfinite(ranks_valid).any())
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # A district without a composite (too few indicators of its own) has NaN in every draw.
        warnings.simplefilter("ignore", RuntimeWarning)
        table = pd.DataFrame({
            "district_code": target_codes,
            "p_top": p_top,
            "p_top_mc_se": np.sqrt(p_top * (1 - p_top) / n_boot),
            "p_top_naive": in_top_naive.mean(axis=0),
            "rank_median": np.nanmedian(ranks_valid, axis=0) if finite else np.nan,
            "rank_lo": np.nanpercentile(ranks_valid, INTERVAL[0], axis=0) if finite else np.nan,
            "rank_hi": np.nanpercentile(ranks_valid, INTERVAL[1], axis=0) if finite else np.nan,
            "score_lo": np.nanpercentile(comp_adj, INTERVAL[0], axis=0) if finite else np.nan,
            "score_hi": np.nanpercentile(comp_adj, INTERVAL[1], axis=0) if finite else np.nan,
        })
    table = result.composite.merge(table, on="district_code", how="left")
    table = table.sort_values(["p_top", f"rank_{spec.estimate}"], ascending=[False, True])
    table = table.reset_index(drop=True)
    named = set(result.top())
    expected = float(table.loc[table["district_code"].isin(named), "p_top"].sum())
    return BootstrapResult(table, n_boot, seed, expected, comp_adj, list(target_codes))


def true_ranks(values: pd.Series) -> pd.Series:
    """Ranks (1 = largest) of true values; ties share their lowest rank."""
    return values.rank(ascending=False, method="min")


def interval_coverage(table: pd.DataFrame, truth: pd.Series) -> float:
    """Share of districts whose true rank lies in their rank interval ``[rank_lo, rank_hi]``.

    Parameters
    ----------
    table
        :attr:`BootstrapResult.table` (``district_code, rank_lo, rank_hi``).
    truth
        True improvement by district code (for the ranked districts); ranked here with :func:`true_ranks`.
    """
    t = table.set_index("district_code")[["rank_lo", "rank_hi"]].dropna()
    ranks = true_ranks(truth.reindex(t.index))
    return float(((ranks >= t["rank_lo"]) & (ranks <= t["rank_hi"])).mean())

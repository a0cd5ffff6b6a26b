"""Which Alliance Districts improved more than their peers, how sure we can be, and whether it lasted.

The 2017 Neag study reports that eight Alliance Districts "were showing more improvement than their peers on
our selected indicators" over the first plan years (2012-13 to 2015-16) without naming the indicators, the
method or the districts. This package rebuilds that step in the open and follows the districts over two
later windows. For each indicator (:mod:`.indicators`):

1. **Change over the window.** ``change = sign * (end - baseline)``: the baseline is the mean over the latest
   ``baseline_span`` years with data at or before ``start_year``, the end the mean over the years with data
   among the last ``end_span`` years up to ``end_year``; the pandemic years 2020-2021 never count. A positive
   change is always an improvement (a fall in chronic absenteeism counts as one).
2. **Relative to peers (naive).** ``naive = change - mean change of the peers``: ``alliance`` (the other
   Alliance Districts) or ``similar`` (the k nearest town or regional districts in baseline level and
   poverty). With ``alliance`` peers this is the raw change shifted and rescaled (slope ``n / (n - 1)``,
   :func:`peer_relative_is_affine`): the naive ranking *is* the ranking of raw change.
3. **Regression to the mean.** ``naive`` is regressed on the sign-aligned baseline (optionally poverty)
   across the peer pool; the residual ``rtm`` is the improvement beyond what the baseline predicts.
4. **One shrinkage step** (:mod:`.shrinkage`). The inputs are unshrunk: SEDA's OLS means and sampling SEs
   (SEDA's EB means are already shrunk; shrinking them again was issue 12's first fault). The noise of a
   change ``v`` is the sampling variance of the baseline and end means plus transient year-to-year movement
   ``s2 / k`` per period (:func:`transient_variance`); ``tau2`` by the method of moments; ``eb = B * rtm``
   with ``B = tau2 / (tau2 + v)``.
5. **Composite** (:mod:`.estimate`). Each indicator's estimate is divided by the pool SD of its ``rtm``
   residuals; a district without an indicator the window has is scored at the prior mean 0 (``missing =
   "prior"``), so it is not ranked on fewer, noisier indicators; the composite is the weighted mean.
6. **Uncertainty** (:mod:`.bootstrap`). Each draw resamples the peer pool and draws every district's true
   improvement from its posterior ``N(eb, B v)`` (missing indicators from ``N(0, tau2)``); no year is
   resampled, since sampling noise and transient movement (of the end year too) are already in ``v``.
7. **Sensitivity** (:mod:`.sensitivity`) and **windows and persistence** (:mod:`.windows`).

Simulated-truth tests in ``tests/test_improvement.py`` (:func:`alliance_study.simulate.improvement_panel`):
true improvers recovered, 90% rank intervals covering the true ranks near nominally, no district favoured by
a missing indicator, and mean reversion alone producing no persistent "improvers".

Pure functions, no file I/O, no prose (the chapter module :mod:`alliance_study.chapters.improvement` formats).
"""

from alliance_study.analysis.improvement.bootstrap import (
    BootstrapResult,
    bootstrap_improvement,
    interval_coverage,
    true_ranks,
)
from alliance_study.analysis.improvement.estimate import ImprovementResult, estimate_improvement
from alliance_study.analysis.improvement.indicators import (
    DEFAULT_INDICATORS,
    ESTIMATES,
    INDICATORS,
    MISSING_RULES,
    PANDEMIC_YEARS,
    PEER_GROUPS,
    ImprovementSpec,
    Indicator,
    binomial_variance,
    noise_constant,
    prepare_panel,
    resolve_years,
    transient_variance,
)
from alliance_study.analysis.improvement.sensitivity import (
    BEFORE_VARIANT,
    NAIVE_VARIANT,
    NOISE_ONLY_VARIANT,
    before_corrections,
    correction_effect,
    default_variants,
    missing_indicator_effect,
    sensitivity_table,
)
from alliance_study.analysis.improvement.shrinkage import (
    composite_scores,
    eb_shrink,
    peer_relative_is_affine,
    relative_to_peers,
    signal_variance,
    top_overlap,
)
from alliance_study.analysis.improvement.windows import (
    Window,
    WindowsResult,
    as_windows,
    compare_with_noise,
    noise_persistence,
    noise_summary,
    pair_statistics,
    persistence,
    run_windows,
    window_p_top,
)

__all__ = [
    "BEFORE_VARIANT", "DEFAULT_INDICATORS", "ESTIMATES", "INDICATORS", "MISSING_RULES", "NAIVE_VARIANT",
    "NOISE_ONLY_VARIANT", "PANDEMIC_YEARS", "PEER_GROUPS", "BootstrapResult", "ImprovementResult",
    "ImprovementSpec", "Indicator", "Window", "WindowsResult", "as_windows", "before_corrections",
    "binomial_variance", "bootstrap_improvement", "compare_with_noise", "composite_scores",
    "correction_effect", "default_variants", "eb_shrink", "estimate_improvement", "interval_coverage",
    "missing_indicator_effect", "noise_constant", "noise_persistence", "noise_summary", "pair_statistics",
    "peer_relative_is_affine", "persistence", "prepare_panel", "relative_to_peers", "resolve_years",
    "run_windows", "sensitivity_table", "signal_variance", "top_overlap", "transient_variance", "true_ranks",
    "window_p_top",
]

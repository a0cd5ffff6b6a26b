"""Impact evaluation: did Alliance designation and Alliance dollars change student outcomes?

Event-study difference-in-differences of the Alliance cohorts (2013 mainly; 2018 and 2023 where the data
allow) against districts never designated, with inference built for a small number of treated clusters.
Pure functions: DataFrames in, numbers and result objects out; no file I/O and no prose (the chapter's
tables, sentences and figures are in :mod:`alliance_study.chapters.impact`).

One module per concern, behind this thin API (the way pyfixest keeps one file per estimator):

- :mod:`.designs`: outcomes, comparison groups, :class:`Design` and the chapter's :func:`standard_designs`.
- :mod:`.sample`: :func:`build_sample` (a design's estimation sample from the panel), :func:`prepare_sample`
  (any frame with ``district_code, year, cohort``, e.g. simulated) and the reference period.
- :mod:`.results`: :class:`EventStudy`, :class:`DidEstimate`, :func:`mde`.
- Estimators, one file each: :mod:`.twfe` (:func:`twfe_event_study`, :func:`twfe_did`; PanelOLS, the
  baseline), :mod:`.callaway_santanna` (group-time ATTs against never- or not-yet-treated districts, robust to
  effects that differ by cohort and over time) and :mod:`.sun_abraham` (interaction-weighted). Pick one by
  name with :func:`event_study`.
- :mod:`.inference`: randomization inference re-assigning designation among eligible districts (fast: the
  fixed effects are projected out once, Frisch-Waugh-Lovell, and every permutation's coefficient is a matrix
  product) and the restricted wild cluster bootstrap.
- :mod:`.event_inference`: the wild bootstrap and randomization tests of the headline, the event study's
  post-period average (TWFE and Callaway-Sant'Anna), rather than the static coefficient.
- :mod:`.sensitivity`: joint pre-trend test, linear-trend-adjusted post averages, the relative-magnitudes
  sensitivity of the headline (:func:`relative_magnitudes`), placebo designation years and placebo outcomes.
- :mod:`.honest`: Rambachan and Roth's honest confidence sets (smoothness: fixed-length intervals; relative
  magnitudes: the conditional test of Andrews, Roth and Pakes), breakdown values, and sup-t simultaneous
  bands for event studies (:func:`honest_sensitivity`, :func:`sup_t_band`).
- :mod:`.dose`: the effect of Alliance dollars per pupil beside the Jackson-Mackevicius benchmark.
- :mod:`.study`: :func:`analyze`, every estimator and test on one outcome and design.
- :mod:`.dpi`: the 2011 District Performance Index rebuilt from the CMT/CAPT results, its ranking, how it
  reproduces the designation list, and the near-miss group on it (import the module).
- :mod:`.overlap`: propensity scores, the overlap region, and the trimmed, weighted and doubly robust DiD
  on it (import the module).
- :mod:`.synthetic`: synthetic control and synthetic difference-in-differences for one district at a time
  (the largest districts), with placebo-in-space inference (import the module).

Vocabulary
----------
``district_code`` (7-digit string), ``year`` (spring year), ``cohort`` (first treated year; missing for
never-treated districts) and ``outcome`` (the *name* of a panel column, passed as an argument).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from alliance_study.analysis.impact.callaway_santanna import callaway_santanna
from alliance_study.analysis.impact.designs import (
    BASELINE_SUFFIX,
    COMPARISON_GROUPS,
    COVARIATES,
    OUTCOMES,
    PLACEBO_OUTCOMES,
    Design,
    add_analysis_columns,
    baseline_values,
    near_miss_codes,
    near_miss_design,
    standard_designs,
)
from alliance_study.analysis.impact.dose import (
    JACKSON_MACKEVICIUS_SD_PER_1000,
    SD_PER_GRADE_LEVEL,
    DoseResponse,
    alliance_dose,
    benchmark_effect,
    dose_response,
)
from alliance_study.analysis.impact.event_inference import (
    cs_permutation_statistics,
    cs_randomization_inference,
    event_study_wild_bootstrap,
)
from alliance_study.analysis.impact.honest import HonestResult, honest_sensitivity, sup_t_band
from alliance_study.analysis.impact.inference import (
    RADEMACHER_POINTS,
    WEBB_POINTS,
    BootstrapResult,
    FixedEffectsProjector,
    RandomizationResult,
    fwl_did,
    lowest_baseline_codes,
    permutation_coefficients,
    permutation_t_statistics,
    randomization_inference,
    wild_cluster_bootstrap,
)
from alliance_study.analysis.impact.results import (
    Z_MDE,
    DidEstimate,
    EventStudy,
    compare_event_studies,
    mde,
)
from alliance_study.analysis.impact.sample import build_sample, default_reference, prepare_sample
from alliance_study.analysis.impact.sensitivity import (
    Sensitivity,
    TrendAdjusted,
    placebo_outcomes,
    placebo_years,
    pretrend_test,
    relative_magnitudes,
    trend_adjusted,
)
from alliance_study.analysis.impact.study import (
    DesignResult,
    analyze,
    analyze_designs,
    analyze_sample,
    results_table,
)
from alliance_study.analysis.impact.sun_abraham import sun_abraham
from alliance_study.analysis.impact.twfe import twfe_did, twfe_event_study

#: The event-study estimators by name (the ``estimator`` of their :class:`EventStudy`).
ESTIMATORS: dict[str, Callable[..., EventStudy]] = {
    "twfe": twfe_event_study,
    "callaway_santanna": callaway_santanna,
    "sun_abraham": sun_abraham,
}


def event_study(sample: pd.DataFrame, outcome: str, estimator: str = "callaway_santanna", **options
                ) -> EventStudy:
    """Event-time estimates of ``outcome`` on ``sample`` by the named estimator (:data:`ESTIMATORS`).

    ``options`` go to the estimator (``covariates``, ``alpha``; ``control`` for Callaway-Sant'Anna).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {sorted(ESTIMATORS)}")
    return ESTIMATORS[estimator](sample, outcome, **options)


__all__ = [
    "BASELINE_SUFFIX",
    "COMPARISON_GROUPS",
    "COVARIATES",
    "ESTIMATORS",
    "JACKSON_MACKEVICIUS_SD_PER_1000",
    "OUTCOMES",
    "PLACEBO_OUTCOMES",
    "RADEMACHER_POINTS",
    "SD_PER_GRADE_LEVEL",
    "WEBB_POINTS",
    "Z_MDE",
    "BootstrapResult",
    "Design",
    "DesignResult",
    "DidEstimate",
    "DoseResponse",
    "EventStudy",
    "FixedEffectsProjector",
    "HonestResult",
    "RandomizationResult",
    "Sensitivity",
    "TrendAdjusted",
    "add_analysis_columns",
    "alliance_dose",
    "analyze",
    "analyze_designs",
    "analyze_sample",
    "baseline_values",
    "benchmark_effect",
    "build_sample",
    "callaway_santanna",
    "compare_event_studies",
    "cs_permutation_statistics",
    "cs_randomization_inference",
    "default_reference",
    "dose_response",
    "event_study",
    "event_study_wild_bootstrap",
    "fwl_did",
    "honest_sensitivity",
    "lowest_baseline_codes",
    "mde",
    "near_miss_codes",
    "near_miss_design",
    "permutation_coefficients",
    "permutation_t_statistics",
    "placebo_outcomes",
    "placebo_years",
    "prepare_sample",
    "pretrend_test",
    "randomization_inference",
    "relative_magnitudes",
    "results_table",
    "standard_designs",
    "sun_abraham",
    "sup_t_band",
    "trend_adjusted",
    "twfe_did",
    "twfe_event_study",
    "wild_cluster_bootstrap",
]

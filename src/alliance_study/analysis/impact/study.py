"""One outcome and design, every estimator and test: :func:`analyze` and its result object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.callaway_santanna import callaway_santanna
from alliance_study.analysis.impact.designs import Design
from alliance_study.analysis.impact.event_inference import (
    cs_randomization_inference,
    event_study_wild_bootstrap,
)
from alliance_study.analysis.impact.inference import (
    BootstrapResult,
    RandomizationResult,
    lowest_baseline_codes,
    randomization_inference,
    wild_cluster_bootstrap,
)
from alliance_study.analysis.impact.results import DidEstimate, EventStudy
from alliance_study.analysis.impact.sample import build_sample
from alliance_study.analysis.impact.sensitivity import (
    Sensitivity,
    TrendAdjusted,
    pretrend_test,
    relative_magnitudes,
    trend_adjusted,
)
from alliance_study.analysis.impact.sun_abraham import sun_abraham
from alliance_study.analysis.impact.twfe import twfe_did, twfe_event_study
from alliance_study.data.sources.keys import year_span


@dataclass
class DesignResult:
    """Everything estimated for one outcome and design.

    The headline is the TWFE event study's post-period average (``twfe.post_average()``, equal weights over
    post event times, against the reference year only) beside Callaway-Sant'Anna's; ``wcb_es`` and
    ``ri_cs``/``ri_cs_low`` are their wild-bootstrap and randomization tests (the latter only without
    covariates), ``trend``/``trend_cs`` the same averages net of an extended linear pre-trend,
    ``pretrend_dip``/``trend_dip`` the pre-trend test and trend adjustment leaving out the last lead (an
    Ashenfelter dip). ``did``, ``ri``, ``ri_low`` and ``wcb`` belong to the static coefficient, which also
    averages the post period against every pre-period year.
    """

    design: Design
    outcome: str
    sample: pd.DataFrame
    did: DidEstimate
    twfe: EventStudy
    cs: EventStudy
    sa: EventStudy | None
    ri: RandomizationResult
    ri_low: RandomizationResult | None
    wcb: BootstrapResult
    pretrend: dict[str, float]
    pretrend_cs: dict[str, float]
    sensitivity: Sensitivity
    wcb_es: BootstrapResult | None = None
    ri_cs: RandomizationResult | None = None
    ri_cs_low: RandomizationResult | None = None
    trend: TrendAdjusted | None = None
    trend_cs: TrendAdjusted | None = None
    pretrend_dip: dict[str, float] | None = None
    trend_dip: TrendAdjusted | None = None

    def summary(self) -> dict[str, Any]:
        """One row of the estimates table (headline: the event study's post-period average)."""
        cs_post = self.cs.post_average()
        tw_post = self.twfe.post_average()
        years = sorted(self.sample["year"].unique().tolist())
        nan = float("nan")
        treated = self.sample.loc[self.sample["treated"] == 1]
        n_treated_post = int(treated.loc[treated["post"] == 1, "district_code"].nunique())
        rm_at_1 = self.sensitivity.table.loc[np.isclose(self.sensitivity.table["mbar"], 1.0)]
        trend = self.trend or _no_trend()
        trend_cs = self.trend_cs or _no_trend()
        trend_dip = self.trend_dip or _no_trend()
        return {
            "design": self.design.name, "outcome": self.outcome,
            "n_treated": n_treated_post, "n_treated_all": self.did.n_treated,
            "n_control": self.did.n_clusters - self.did.n_treated,
            "years": year_span(years), "n_obs": self.did.n_obs,
            "estimate": tw_post["estimate"], "se": tw_post["se"], "ci_low": tw_post["ci_low"],
            "ci_high": tw_post["ci_high"], "p_cluster": tw_post["p_value"], "mde": tw_post["mde"],
            "p_wild": self.wcb_es.p_value if self.wcb_es else nan,
            "p_ri": self.ri_cs.p_value if self.ri_cs else nan,
            "p_ri_t": self.ri_cs.p_value_t if self.ri_cs else nan,
            "p_ri_low": self.ri_cs_low.p_value if self.ri_cs_low else nan,
            "p_ri_low_t": self.ri_cs_low.p_value_t if self.ri_cs_low else nan,
            "n_ri_low_pool": self.ri_cs_low.n_eligible if self.ri_cs_low else 0,
            "mde_ri": self.ri_cs.mde if self.ri_cs else nan,
            "n_ri_pool": self.ri_cs.n_eligible if self.ri_cs else self.ri.n_eligible,
            "static_estimate": self.did.estimate, "static_se": self.did.se, "static_p": self.did.p_value,
            "static_p_wild": self.wcb.p_value, "static_p_ri": self.ri.p_value,
            "static_p_ri_t": self.ri.p_value_t,
            "static_p_ri_low": self.ri_low.p_value if self.ri_low else nan,
            "static_p_ri_low_t": self.ri_low.p_value_t if self.ri_low else nan, "static_mde": self.did.mde,
            "cs_post": cs_post["estimate"], "cs_post_se": cs_post["se"], "cs_p": cs_post["p_value"],
            "cs_mde": cs_post["mde"],
            "trend_estimate": trend.estimate, "trend_se": trend.se, "trend_p": trend.p_value,
            "trend_slope": trend.slope, "cs_trend_estimate": trend_cs.estimate, "cs_trend_se": trend_cs.se,
            "cs_trend_p": trend_cs.p_value,
            "pretrend_p": self.pretrend["p_value"], "pretrend_p_cs": self.pretrend_cs["p_value"],
            "n_pre": self.pretrend["df1"],
            "pretrend_p_dip": (self.pretrend_dip or {}).get("p_value", nan),
            "trend_dip_estimate": trend_dip.estimate, "trend_dip_se": trend_dip.se,
            "trend_dip_p": trend_dip.p_value,
            "rm_breakdown": self.sensitivity.breakdown,
            "rm_ci_low": float(rm_at_1["lower"].iloc[0]) if len(rm_at_1) else nan,
            "rm_ci_high": float(rm_at_1["upper"].iloc[0]) if len(rm_at_1) else nan,
        }


def _no_trend() -> TrendAdjusted:
    nan = float("nan")
    return TrendAdjusted(nan, nan, nan, nan, nan, nan, nan, 0)


def analyze(panel: pd.DataFrame, outcome: str, design: Design, n_permutations: int = 10_000,
            n_boot: int = 9_999, weights: str = "webb", seed: int = 0, start_year: int | None = None,
            end_year: int | None = None, exclude_years: Sequence[int] = (),
            sun_abraham_too: bool | None = None, mbar: Sequence[float] = (0, 0.25, 0.5, 0.75, 1, 1.5, 2),
            min_treated_pre: int = 5) -> DesignResult:
    """Run every estimator and test of the impact package on one outcome and design: the main entry point.

    Builds the design's sample from the panel (:func:`~alliance_study.analysis.impact.sample.build_sample`)
    and fits the TWFE event study and static coefficient, Callaway-Sant'Anna (and Sun-Abraham with several
    cohorts), randomization inference (over the whole sample and, if the design says so, over the treated and
    lowest-baseline districts), the wild cluster bootstrap, the pre-trend tests and the relative-magnitudes
    sensitivity (:func:`analyze_sample`).

    Parameters
    ----------
    panel
        District-year panel with ``district_code, year, entity_type, alliance_cohort``, the outcome and the
        design's baseline measure and covariates.
    outcome
        Outcome column.
    design
        Treated cohorts, comparison group, covariates and the randomization pool (:class:`Design`).
    n_permutations, n_boot
        Permutations (randomization inference) and bootstrap draws.
    weights
        Wild bootstrap weights.
    seed
        Seed for the permutations and the bootstrap.
    start_year, end_year, exclude_years
        Years used.
    sun_abraham_too
        Also fit :func:`sun_abraham` (None: only with more than one cohort; with one cohort and never-treated
        controls it coincides with Callaway-Sant'Anna up to the unbalanced rows).
    mbar
        Grid of the relative-magnitudes sensitivity.
    min_treated_pre
        Pre-period estimates on fewer treated districts are left out of the pre-trend test and the
        sensitivity (they matter only for the 2018 and 2023 cohorts, three districts each).

    Returns
    -------
    DesignResult
        Every estimate; :meth:`DesignResult.summary` is one row of the estimates table.

    Examples
    --------
    A simulated panel of 40 town districts, 10 of them designated in 2013 with a true effect of 0.5:

    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import impact
    >>> sim = simulate.staggered_panel(n_units=40, years=range(2009, 2017), cohorts={2013: 10}, effect=0.5,
    ...                                noise_sd=0.1, seed=1)
    >>> panel = sim.rename(columns={"cohort": "alliance_cohort"}).assign(entity_type="town_district")
    >>> design = impact.Design("main", cohorts=(2013,), baseline_measure="baseline")
    >>> result = impact.analyze(panel, "y", design, n_permutations=199, n_boot=199, seed=0)
    >>> result.did.n_treated, result.did.n_clusters
    (10, 40)
    >>> round(result.did.estimate, 1), round(result.cs.post_average()["estimate"], 1)
    (0.5, 0.5)
    >>> bool(result.did.p_value < 0.01 and result.ri.p_value < 0.05)
    True
    """
    sample = build_sample(panel, outcome, design, start_year, end_year, exclude_years)
    return analyze_sample(sample, outcome, design, n_permutations, n_boot, weights, seed, sun_abraham_too,
                          mbar, min_treated_pre)


def analyze_sample(sample: pd.DataFrame, outcome: str, design: Design, n_permutations: int = 10_000,
                   n_boot: int = 9_999, weights: str = "webb", seed: int = 0,
                   sun_abraham_too: bool | None = None,
                   mbar: Sequence[float] = (0, 0.25, 0.5, 0.75, 1, 1.5, 2), min_treated_pre: int = 5
                   ) -> DesignResult:
    """:func:`analyze` on a sample already built (:func:`build_sample` or :func:`prepare_sample`).

    One generator seeded with ``seed`` draws, in this order, the permutations of the whole pool, those of
    the lowest-baseline pool (if ``design.ri_lowest_k``) and the bootstrap weights.
    """
    covs = sample.attrs.get("covariates", [])
    rng = np.random.default_rng(seed)
    twfe = twfe_event_study(sample, outcome, covs)
    cs = callaway_santanna(sample, outcome, covs)
    if sun_abraham_too is None:
        sun_abraham_too = sample["cohort"].nunique() > 1
    sa = sun_abraham(sample, outcome, covs) if sun_abraham_too else None
    did = twfe_did(sample, outcome, covs)
    ri = randomization_inference(sample, outcome, n_permutations, None, covs, seed=rng, studentized=True)
    ri_low, eligible = None, None
    if design.ri_lowest_k:
        eligible = lowest_baseline_codes(sample, design.ri_lowest_k)
        ri_low = randomization_inference(sample, outcome, n_permutations, eligible, covs, seed=rng,
                                         studentized=True)
    wcb = wild_cluster_bootstrap(sample, outcome, n_boot, weights, covs, seed=rng)
    # Draws for the headline's tests come after the static coefficient's, so those are unchanged.
    wcb_es = event_study_wild_bootstrap(sample, outcome, twfe, n_boot, weights, covs, seed=rng)
    ri_cs = ri_cs_low = None
    if not covs:
        ri_cs = cs_randomization_inference(sample, outcome, n_permutations, None, seed=rng)
        if design.ri_lowest_k:
            ri_cs_low = cs_randomization_inference(sample, outcome, n_permutations, eligible, seed=rng)
    pre = twfe.pre_events(min_treated_pre)
    dip = [max(pre)] if pre else []
    return DesignResult(design, outcome, sample, did, twfe, cs, sa, ri, ri_low, wcb,
                        pretrend_test(twfe, min_treated_pre), pretrend_test(cs, min_treated_pre),
                        relative_magnitudes(twfe, mbar, min_treated=min_treated_pre), wcb_es, ri_cs,
                        ri_cs_low,
                        trend_adjusted(twfe, min_treated_pre), trend_adjusted(cs, min_treated_pre),
                        pretrend_test(twfe, min_treated_pre, exclude=dip),
                        trend_adjusted(twfe, min_treated_pre, exclude=dip))


def analyze_designs(panel: pd.DataFrame, designs: Mapping[str, Design], outcomes: Sequence[str],
                    seed: int = 0, seed_offset: int = 0, **options: Any
                    ) -> dict[tuple[str, str], DesignResult]:
    """:func:`analyze` for every design and outcome, keyed ``(design name, outcome)``.

    The ``k``-th design's ``j``-th outcome is seeded ``seed + seed_offset + 100 * k + j``, so every result
    has its own reproducible draws and adding an outcome leaves the others unchanged. ``options`` go to
    :func:`analyze` (years, draws, sensitivity grid).
    """
    return {(name, outcome): analyze(panel, outcome, design, seed=seed + seed_offset + 100 * k + j, **options)
            for k, (name, design) in enumerate(designs.items()) for j, outcome in enumerate(outcomes)}


def results_table(results: Sequence[DesignResult]) -> pd.DataFrame:
    """The estimates table: one row per outcome and design (see :meth:`DesignResult.summary`)."""
    return pd.DataFrame([r.summary() for r in results])

"""One outcome and design, every estimator and test: :func:`analyze` and its result object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.callaway_santanna import callaway_santanna
from alliance_study.analysis.impact.designs import Design
from alliance_study.analysis.impact.inference import (
    BootstrapResult,
    RandomizationResult,
    lowest_baseline_codes,
    randomization_inference,
    wild_cluster_bootstrap,
)
from alliance_study.analysis.impact.results import DidEstimate, EventStudy
from alliance_study.analysis.impact.sample import build_sample
from alliance_study.analysis.impact.sensitivity import Sensitivity, pretrend_test, relative_magnitudes
from alliance_study.analysis.impact.sun_abraham import sun_abraham
from alliance_study.analysis.impact.twfe import twfe_did, twfe_event_study
from alliance_study.data.sources.common import year_span


@dataclass
class DesignResult:
    """Everything estimated for one outcome and design."""

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

    def summary(self) -> dict[str, Any]:
        """One row of the estimates table."""
        cs_post = self.cs.post_average()
        tw_post = self.twfe.post_average()
        years = sorted(self.sample["year"].unique().tolist())
        return {
            "design": self.design.name, "outcome": self.outcome,
            "n_treated": self.did.n_treated, "n_control": self.did.n_clusters - self.did.n_treated,
            "years": year_span(years), "n_obs": self.did.n_obs,
            "estimate": self.did.estimate, "se": self.did.se, "ci_low": self.did.ci_low,
            "ci_high": self.did.ci_high, "p_cluster": self.did.p_value, "p_wild": self.wcb.p_value,
            "p_ri": self.ri.p_value, "p_ri_t": self.ri.p_value_t,
            "p_ri_low": self.ri_low.p_value if self.ri_low else float("nan"),
            "p_ri_low_t": self.ri_low.p_value_t if self.ri_low else float("nan"),
            "n_ri_low_pool": self.ri_low.n_eligible if self.ri_low else 0,
            "mde": self.did.mde, "mde_ri": self.ri.mde,
            "twfe_es_post": tw_post["estimate"], "twfe_es_post_se": tw_post["se"],
            "cs_post": cs_post["estimate"], "cs_post_se": cs_post["se"], "cs_p": cs_post["p_value"],
            "cs_mde": cs_post["mde"], "pretrend_p": self.pretrend["p_value"],
            "pretrend_p_cs": self.pretrend_cs["p_value"], "n_pre": self.pretrend["df1"],
            "rm_breakdown": self.sensitivity.breakdown, "n_ri_pool": self.ri.n_eligible,
        }


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
    ri_low = None
    if design.ri_lowest_k:
        eligible = lowest_baseline_codes(sample, design.ri_lowest_k)
        ri_low = randomization_inference(sample, outcome, n_permutations, eligible, covs, seed=rng,
                                         studentized=True)
    wcb = wild_cluster_bootstrap(sample, outcome, n_boot, weights, covs, seed=rng)
    return DesignResult(design, outcome, sample, did, twfe, cs, sa, ri, ri_low, wcb,
                        pretrend_test(twfe, min_treated_pre), pretrend_test(cs, min_treated_pre),
                        relative_magnitudes(twfe, mbar, min_treated=min_treated_pre))


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

"""The impact chapter (notebooks/08_estimate_impact.ipynb): results -> glued facts, tables, figures, verdicts.

The notebook estimates with :mod:`alliance_study.analysis.impact` and calls one function here per section.
Facts are returned as ``name -> text`` dictionaries (unit-tested without papermill) and glued with
:func:`glue_facts`; tables are formatted DataFrames (:mod:`.tables`), figures matplotlib figures
(:mod:`.figures`) and every verdict sentence comes from a rule in :mod:`.prose`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from alliance_study import simulate
from alliance_study.analysis import impact
from alliance_study.analysis.impact import DesignResult, DoseResponse
from alliance_study.chapters import display
from alliance_study.chapters.impact.designs import dpi_near_miss
from alliance_study.chapters.impact.figures import (
    ESTIMATOR_STYLE,
    plot_event_grid,
    plot_event_studies,
    plot_randomization,
    plot_sensitivity,
    plot_simulated,
)
from alliance_study.chapters.impact.prose import (
    BOOTSTRAP_WEIGHT_NAMES,
    breakdown_text,
    dropped_cohorts_text,
    evidence_judgement,
    format_p,
    n_pre_text,
    number,
    outcome_digits,
    power_statement,
    pretrend_verdict,
    prose_values,
    robustness_text,
    significant_designs_text,
    verdict,
)
from alliance_study.chapters.impact.tables import (
    OUTCOME_SHORT,
    comparison_display,
    design_table,
    dose_table,
    estimates_display,
    estimator_comparison,
    placebo_outcomes_table,
    placebo_years_table,
    sensitivity_table,
    static_display,
    years_display,
    years_table,
)

#: How the robustness sentence names each design other than ``main``.
DESIGN_PHRASES: dict[str, str] = {"near_miss": "against the near-miss group",
                                  "covariates": "with baseline covariates", "staggered": "with all cohorts"}

#: The simulated staggered panel of the chapter's method note (:func:`simulated_example`): effects growing
#: 0.1 a year and 0.3 larger for the later cohort, where static TWFE goes wrong.
SIMULATED_EXAMPLE: dict[str, Any] = {"n_units": 100, "years": range(2008, 2020),
                                     "cohorts": {2011: 40, 2015: 40}, "effect": 0.0, "dynamic_slope": 0.1,
                                     "cohort_effects": {2015: 0.3}, "noise_sd": 0.2}


def glue_facts(facts: Mapping[str, str]) -> None:
    """Glue every ``name -> text`` fact for the chapter's prose."""
    for name, text in facts.items():
        display.glue(name, text)


def by_outcome(results: Mapping[tuple[str, str], DesignResult], design: str) -> dict[str, DesignResult]:
    """The results of one design, keyed by outcome (in the order estimated)."""
    return {o: r for (d, o), r in results.items() if d == design}


def estimates_table(results: Mapping[tuple[str, str], DesignResult],
                    extended: Mapping[tuple[str, str], DesignResult]) -> pd.DataFrame:
    """The numeric estimates table (:func:`alliance_study.analysis.impact.results_table`) of every design,
    followed by the post-pandemic rows of the main design with design name ``extended``."""
    table = impact.results_table(list(results.values()))
    extended_table = impact.results_table(list(extended.values())).assign(design="extended")
    return pd.concat([table, extended_table], ignore_index=True)


#: Keys of :func:`prose_values` glued for designs other than the main one (the prose cites only these).
BRIEF_KEYS: tuple[str, ...] = ("estimate", "se", "mde", "p_cluster", "verdict")


def estimate_facts(table: pd.DataFrame, full: Sequence[str] = ("main",),
                   brief_keys: Sequence[str] = BRIEF_KEYS) -> dict[str, str]:
    """``<design>_<outcome>_<key>`` for the rows of :func:`estimates_table`: every key of
    :func:`prose_values` for the designs in ``full``, ``brief_keys`` for the others (each glued value is an
    output of the notebook cell, and hundreds of unused ones slow its execution)."""
    facts = {}
    for _, row in table.iterrows():
        values = prose_values(row)
        keys = values if row["design"] in set(full) else brief_keys
        facts.update({f"{row['design']}_{row['outcome']}_{key}": values[key] for key in keys})
    return facts


def design_facts(results: Mapping[tuple[str, str], DesignResult], panel: pd.DataFrame, *, near_miss_n: int,
                 ri_lowest_k: int, n_permutations: int, n_boot: int, bootstrap_weights: str,
                 main_end_year: int, end_year: int, baseline_years: Sequence[int], min_treated_pre: int,
                 placebo_shifts: Sequence[int]) -> dict[str, str]:
    """Facts about the designs, samples and settings that the chapter's prose cites.

    Needs the ``main`` design's results (SEDA and graduation among them) and the ``staggered`` design's SEDA
    result; ``panel`` gives the sizes of the later cohorts.
    """
    main = by_outcome(results, "main")
    first = min(main["seda_gcs_eb"].design.cohorts)
    stag_seda = results[("staggered", "seda_gcs_eb")]
    grad = main["grad_rate"].twfe
    grad_pre = grad.pre_events()
    lead = grad.table.set_index("event_time")
    cohort_sizes = panel.loc[panel["alliance_cohort"].notna()].groupby("alliance_cohort")["district_code"] \
        .nunique()
    facts = {
        "near_miss_n": str(near_miss_n), "ri_lowest_k": str(ri_lowest_k), "n_perm": f"{n_permutations:,}",
        "n_boot": f"{n_boot:,}", "bootstrap_weights": BOOTSTRAP_WEIGHT_NAMES[bootstrap_weights],
        "main_end_year": str(main_end_year), "end_year": str(end_year),
        "baseline_span": f"{baseline_years[0]}-{baseline_years[1]}",
        "n_2013": str(main["seda_gcs_eb"].did.n_treated),
        "n_late": str(stag_seda.did.n_treated - main["seda_gcs_eb"].did.n_treated),
        "late_dropped": dropped_cohorts_text(stag_seda.sample.attrs.get("dropped_cohorts", [])),
        "grad_lead": number(float(lead.loc[grad_pre[0], "estimate"]) if grad_pre else float("nan"), ".2f"),
        "grad_first_year": str(int(main["grad_rate"].sample["year"].min())),
        "grad_lead_year": str(first + grad_pre[0]) if grad_pre else "none",
        "mde_factor": f"{impact.Z_MDE:.1f}", "min_treated_pre": str(min_treated_pre),
        "n_2018": str(int(cohort_sizes.get(2018, 0))), "n_2023": str(int(cohort_sizes.get(2023, 0))),
        "placebo_span": f"{min(placebo_shifts)}-{max(placebo_shifts)}",
        "sd_per_grade_level": f"{impact.SD_PER_GRADE_LEVEL:.2f}",
    }
    for o, r in main.items():
        facts[f"{o}_ref_year"] = str(first + r.twfe.reference)
        facts[f"{o}_n_pre"] = str(len(r.twfe.pre_events()))
        facts[f"{o}_n_pre_text"] = n_pre_text(len(r.twfe.pre_events()))
    return facts


def judgement_facts(table: pd.DataFrame, designs: Sequence[str], outcomes: Sequence[str],
                    phrases: Mapping[str, str] = DESIGN_PHRASES,
                    extrapolated: Sequence[str] = ("covariates",)) -> dict[str, str]:
    """Per outcome: how the estimate moves across designs, the breakdown sentence, the overall judgement and
    the largest of the main design's three p-values (``<outcome>_robustness``, ``_breakdown_text``,
    ``_judgement``, ``_max_p``). Designs in ``extrapolated`` (the covariates design: baseline poverty
    separates designated and comparison districts completely, so its estimates extrapolate) are described
    but not counted against the estimate."""
    indexed = table.set_index(["design", "outcome"])
    facts = {}
    for o in outcomes:
        rows = {name: indexed.loc[(name, o)].to_dict() | {"outcome": o} for name in designs}
        facts[f"{o}_robustness"] = robustness_text(rows, phrases)
        facts[f"{o}_breakdown_text"] = breakdown_text(rows["main"]["rm_breakdown"])
        facts[f"{o}_judgement"] = evidence_judgement(rows, extrapolated=extrapolated, labels=phrases)
        facts[f"{o}_max_p"] = format_p(max(rows["main"][k] for k in ("p_cluster", "p_wild", "p_ri")))
    return facts


def simulated_example(seed: int, spec: Mapping[str, Any] = SIMULATED_EXAMPLE) -> tuple[dict[str, str], Any]:
    """The method note's simulated staggered panel: facts (truth, TWFE, Callaway-Sant'Anna) and the figure."""
    sim = impact.prepare_sample(simulate.staggered_panel(**spec, seed=seed))
    later = max(spec["cohorts"])
    twfe = impact.twfe_event_study(sim, "y")
    cs = impact.callaway_santanna(sim, "y")
    facts = {
        "sim_design": f"{spec['n_units']} districts; cohorts of "
                      + " and ".join(f"{n} in {g}" for g, n in spec["cohorts"].items())
                      + f"; effects growing {spec['dynamic_slope']} a year, {spec['cohort_effects'][later]} "
                        "larger for the later cohort",
        "sim_truth": number(sim.loc[sim["post"] == 1, "tau"].mean(), ".2f"),
        "sim_twfe": number(impact.twfe_did(sim, "y").estimate, ".2f"),
        "sim_cs": number(cs.post_average(weighting="treated")["estimate"], ".2f"),
    }
    return facts, plot_simulated(sim, [twfe, cs])


def staggered_facts(compare: pd.DataFrame) -> dict[str, str]:
    """Where TWFE and Callaway-Sant'Anna differ most (:func:`estimator_comparison` of one result)."""
    k = compare["diff_callaway_santanna"].abs().idxmax()
    return {"stag_max_diff": number(abs(compare.loc[k, "diff_callaway_santanna"]), ".3f"),
            "stag_max_diff_event": str(int(compare.loc[k, "event_time"])),
            "stag_max_diff_se": number(compare.loc[k, "twfe_se"], ".3f")}


def placebo_facts(placebo: pd.DataFrame) -> dict[str, str]:
    """``placebo_<outcome>_estimate`` and ``_p`` of the placebo-outcome table."""
    facts = {}
    for _, p in placebo.iterrows():
        facts[f"placebo_{p['outcome']}_estimate"] = f"{p['estimate']:.3f}"
        facts[f"placebo_{p['outcome']}_p"] = format_p(p["p_cluster"])
    return facts


def dose_facts(doses: Mapping[str, DoseResponse], benchmark_sd: float, main_seda_mde: float, dose_years: int,
               benchmark_post_years: Sequence[int]) -> dict[str, str]:
    """The dose-response and benchmark arithmetic the chapter states.

    Parameters
    ----------
    doses
        Outcome -> dose-response estimate (SEDA and graduation among them).
    benchmark_sd
        Effect the Jackson-Mackevicius benchmark implies for the designated districts' dollars
        (:func:`alliance_study.analysis.impact.benchmark_effect`), in SD.
    main_seda_mde
        The main design's minimum detectable SEDA effect (grade levels).
    dose_years, benchmark_post_years
        The dose's averaging window and the years the benchmark effect is computed over.
    """
    jm = impact.JACKSON_MACKEVICIUS_SD_PER_1000
    seda, grad = doses["seda_gcs_eb"], doses["grad_rate"]
    implied_gl = benchmark_sd / impact.SD_PER_GRADE_LEVEL
    ratio = main_seda_mde / implied_gl
    return {
        "dose_years": str(dose_years), "jm_benchmark": f"{jm:.4f}",
        "dose_seda_sd": number(seda.estimate_sd, ".3f"),
        "dose_seda_ci_sd": f"{seda.ci_low_sd:.3f} to {seda.ci_high_sd:.3f}",
        "dose_seda_mde_sd": number(seda.mde_sd, ".3f"),
        "dose_mde_ratio": number(seda.mde_sd / jm, ".1f"),
        "dose_grad_estimate": number(grad.estimate, ".1f"), "dose_grad_p": format_p(grad.p_value),
        "benchmark_span": f"{benchmark_post_years[0]} and {benchmark_post_years[1]}",
        "mean_dose_dollars": number(benchmark_sd / jm * 1000, ",.0f"),
        "jm_implied_sd": number(benchmark_sd, ".3f"), "jm_implied_gl": number(implied_gl, ".3f"),
        "jm_mde_ratio": number(ratio, ".1f"), "power_statement": power_statement(ratio),
    }


def placebo_year_facts(placebos: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """``<outcome>_placebo<shift>_estimate`` and ``_p`` for every placebo designation year (all shifts, so
    the prose can report each, not only the quiet ones)."""
    facts = {}
    for o, placebo in placebos.items():
        d = outcome_digits(o)
        for _, p in placebo.iterrows():
            facts[f"{o}_placebo{int(p['shift'])}_estimate"] = number(p["estimate"], f",.{d}f")
            facts[f"{o}_placebo{int(p['shift'])}_p"] = format_p(p["p_value"]) or "not estimable"
    return facts


def overlap_facts(result: DesignResult, covariate: str = "frl_share_base") -> dict[str, str]:
    """The range of one baseline covariate among treated and comparison districts of a design's sample
    (``overlap_treated``, ``overlap_control``, ``overlap_n_common``: districts inside both ranges)."""
    units = result.sample.groupby("district_code")[[covariate, "treated"]].first()
    tr, co = units.loc[units["treated"] == 1, covariate], units.loc[units["treated"] == 0, covariate]
    lo, hi = max(tr.min(), co.min()), min(tr.max(), co.max())
    common = int(units[covariate].between(lo, hi).sum()) if lo <= hi else 0
    return {"overlap_treated": f"{tr.min():.0f}-{tr.max():.0f}%",
            "overlap_control": f"{co.min():.0f}-{co.max():.0f}%", "overlap_n_common": str(common)}


__all__ = [
    "BRIEF_KEYS",
    "DESIGN_PHRASES",
    "ESTIMATOR_STYLE",
    "OUTCOME_SHORT",
    "SIMULATED_EXAMPLE",
    "breakdown_text",
    "by_outcome",
    "comparison_display",
    "design_facts",
    "design_table",
    "dose_facts",
    "dose_table",
    "dpi_near_miss",
    "estimate_facts",
    "estimates_display",
    "estimates_table",
    "estimator_comparison",
    "evidence_judgement",
    "format_p",
    "glue_facts",
    "judgement_facts",
    "n_pre_text",
    "number",
    "outcome_digits",
    "overlap_facts",
    "placebo_facts",
    "placebo_outcomes_table",
    "placebo_year_facts",
    "placebo_years_table",
    "plot_event_grid",
    "plot_event_studies",
    "plot_randomization",
    "plot_sensitivity",
    "plot_simulated",
    "power_statement",
    "pretrend_verdict",
    "prose_values",
    "robustness_text",
    "sensitivity_table",
    "significant_designs_text",
    "simulated_example",
    "staggered_facts",
    "static_display",
    "verdict",
    "years_display",
    "years_table",
]

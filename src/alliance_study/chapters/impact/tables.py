"""Display tables of the impact chapter: result objects in, formatted DataFrames out (glued as Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact import (
    COMPARISON_GROUPS,
    Design,
    DesignResult,
    DoseResponse,
    compare_event_studies,
)
from alliance_study.chapters.impact.prose import _fmt, _fmt_p, format_p, outcome_digits
from alliance_study.chapters.labels import covariate_label, design_label
from alliance_study.data.sources.keys import year_span

#: Short outcome labels for tables and figures.
OUTCOME_SHORT: dict[str, str] = {
    "seda_gcs_eb": "SEDA (grade levels)",
    "achievement_index": "Achievement index (z)",
    "grad_rate": "Graduation rate (pp)",
    "chronic_absent_rate": "Chronic absenteeism (pp)",
    "suspension_rate": "Suspension rate (pp)",
    "frl_share": "Free/reduced meals (pp)",
    "el_share": "English learners (pp)",
    "log_enrollment": "Log enrollment",
}


def design_table(designs: Mapping[str, Design]) -> pd.DataFrame:
    """One row per design: name, treated cohorts, comparison group, covariates, randomization pools."""
    rows = []
    for d in designs.values():
        comparison = COMPARISON_GROUPS[d.comparison]
        if d.comparison == "near_miss":
            comparison = f"the {d.near_miss_n} " + comparison[4:]
        elif d.comparison == "near_miss_dpi":
            comparison = f"the {d.near_miss_n} {comparison}"
        pools = "all districts of the sample"
        if d.ri_lowest_k:
            pools += f"; the {d.ri_lowest_k} lowest at baseline (designated districts always included)"
        rows.append({"design": design_label(d.name), "treated cohorts": ", ".join(str(c) for c in d.cohorts),
                     "comparison": comparison,
                     "covariates (baseline means x year)":
                         ", ".join(map(covariate_label, d.covariates)) or "none",
                     "randomization pool": pools})
    return pd.DataFrame(rows)


def years_table(results: Sequence[DesignResult]) -> pd.DataFrame:
    """For each outcome of the results: years with data before and after designation and the reference year.

    Years are those of the first treated cohort (2013 in the chapter's designs).
    """
    rows = []
    for r in results:
        s = r.sample
        first = int(s["cohort"].dropna().min())
        years = sorted(s["year"].unique().tolist())
        rows.append({"outcome": r.outcome,
                     "pre-period years": year_span([y for y in years if y < first]),
                     "post-period years": year_span([y for y in years if y >= first]),
                     "reference year": first + r.twfe.reference,
                     "pre-period estimates": len(r.twfe.pre_events())})
    return pd.DataFrame(rows)


def estimates_display(table: pd.DataFrame) -> pd.DataFrame:
    """The estimates table (:func:`results_table`) formatted for the book: the event study's post-period
    average (TWFE) with its MDE and few-cluster p-values, Callaway-Sant'Anna's beside it with the
    studentized randomization p-value, and the linear-trend-adjusted average. Treated districts are those
    with data after designation."""
    rows = []
    for _, r in table.iterrows():
        d = outcome_digits(r["outcome"])
        rows.append({
            "design": design_label(r["design"]), "outcome": OUTCOME_SHORT.get(r["outcome"], r["outcome"]),
            "treated / control": f"{int(r['n_treated'])} / {int(r['n_control'])}",
            "post average (TWFE)": _fmt(r["estimate"], d), "SE": _fmt(r["se"], d), "MDE": _fmt(r["mde"], d),
            "p cluster": _fmt_p(r["p_cluster"]), "p wild": _fmt_p(r["p_wild"]),
            "CS": _fmt(r["cs_post"], d), "CS SE": _fmt(r["cs_post_se"], d), "CS p RI-t": _fmt_p(r["p_ri_t"]),
            "trend-adjusted": _fmt(r["trend_estimate"], d), "trend-adj. SE": _fmt(r["trend_se"], d),
            "pre-trend p": _fmt_p(r["pretrend_p"]),
        })
    return pd.DataFrame(rows)


def static_display(table: pd.DataFrame) -> pd.DataFrame:
    """The static TWFE coefficient (post period against every pre-period year) with its inference, including
    the coefficient-based randomization p-values, which misstate the spread when the treated districts
    differ from the pool (kept out of the main table)."""
    rows = []
    for _, r in table.iterrows():
        d = outcome_digits(r["outcome"])
        rows.append({
            "design": design_label(r["design"]), "outcome": OUTCOME_SHORT.get(r["outcome"], r["outcome"]),
            "static TWFE": _fmt(r["static_estimate"], d), "SE": _fmt(r["static_se"], d),
            "p cluster": _fmt_p(r["static_p"]), "p wild": _fmt_p(r["static_p_wild"]),
            "p RI": _fmt_p(r["static_p_ri"]), "p RI-t": _fmt_p(r["static_p_ri_t"]),
            "CS p RI": _fmt_p(r["p_ri"]),
            "post average (TWFE)": _fmt(r["estimate"], d),
        })
    return pd.DataFrame(rows)


def sensitivity_table(results: Sequence[DesignResult], mbar: float = 1.0) -> pd.DataFrame:
    """Pre-trend tests and the relative-magnitudes sensitivity, one row per result.

    Columns: pre-period estimates used, joint pre-trend p-value (TWFE and Callaway-Sant'Anna), largest
    change between consecutive pre-period years, post-period average (equal weights over event times), the
    Rambachan-Roth robust confidence set at ``mbar`` and the breakdown value (smallest ``mbar`` whose set
    includes zero).
    """
    rows = []
    for r in results:
        sens = r.sensitivity
        d = outcome_digits(r.outcome)
        at = sens.table.loc[np.isclose(sens.table["mbar"], mbar)]
        lo = float(at["lower"].iloc[0]) if len(at) else float("nan")
        hi = float(at["upper"].iloc[0]) if len(at) else float("nan")
        rows.append({
            "design": design_label(r.design.name), "outcome": OUTCOME_SHORT.get(r.outcome, r.outcome),
            "pre-period estimates": int(r.pretrend["df1"]),
            "pre-trend p (TWFE)": _fmt_p(r.pretrend["p_value"]),
            "pre-trend p (CS)": _fmt_p(r.pretrend_cs["p_value"]),
            "largest pre change": _fmt(sens.max_pre_violation, d),
            "post average": _fmt(sens.estimate, d),
            f"robust CI, M = {mbar:g}": "" if not np.isfinite(lo) else f"[{lo:,.{d}f}, {hi:,.{d}f}]",
            "breakdown M": ("above 10" if sens.breakdown == float("inf") else _fmt(sens.breakdown, 2)),
        })
    return pd.DataFrame(rows)


def dose_table(doses: Sequence[DoseResponse]) -> pd.DataFrame:
    """Dose-response estimates per $1,000 per pupil with MDEs and, where convertible, in SD units beside
    the Jackson-Mackevicius benchmark."""
    rows = []
    for r in doses:
        d = outcome_digits(r.outcome)
        rows.append({
            "outcome": OUTCOME_SHORT.get(r.outcome, r.outcome),
            "effect per $1,000": _fmt(r.estimate, d), "SE": _fmt(r.se, d), "p": _fmt_p(r.p_value),
            "MDE": _fmt(r.mde, d),
            "effect in SD": _fmt(r.estimate_sd, 3),
            "95% CI in SD": ("" if not np.isfinite(r.estimate_sd)
                             else f"[{r.ci_low_sd:.3f}, {r.ci_high_sd:.3f}]"),
            "MDE in SD": _fmt(r.mde_sd, 3),
            "benchmark (SD)": _fmt(r.benchmark, 4) if np.isfinite(r.estimate_sd) else "",
            "districts": r.n_clusters,
        })
    return pd.DataFrame(rows)


def years_display(results: Sequence[DesignResult]) -> pd.DataFrame:
    """:func:`years_table` with short outcome labels, as the chapter shows it."""
    return years_table(results).assign(outcome=lambda t: t["outcome"].map(OUTCOME_SHORT))


def placebo_years_table(placebos: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Placebo designation years (:func:`alliance_study.analysis.impact.placebo_years`), one row per outcome
    and shift; a shift without data on both sides of the fake date reads "not estimable"."""
    rows = []
    for o, placebo in placebos.items():
        d = outcome_digits(o)
        for _, p in placebo.iterrows():
            rows.append({"outcome": OUTCOME_SHORT[o], "shift (years)": int(p["shift"]),
                         "fake designation": (p["fake_years"] if np.isfinite(p["estimate"])
                                              else "not estimable"),
                         "estimate": "" if not np.isfinite(p["estimate"]) else f"{p['estimate']:.{d}f}",
                         "SE": "" if not np.isfinite(p["se"]) else f"{p['se']:.{d}f}",
                         "p": format_p(p["p_value"]),
                         "MDE": "" if not np.isfinite(p["mde"]) else f"{p['mde']:.{d}f}"})
    return pd.DataFrame(rows)


def placebo_outcomes_table(placebo: pd.DataFrame) -> pd.DataFrame:
    """Placebo outcomes (:func:`alliance_study.analysis.impact.placebo_outcomes`) for the book."""
    return pd.DataFrame({
        "outcome": placebo["outcome"].map(OUTCOME_SHORT),
        "estimate": placebo["estimate"].map(lambda v: f"{v:.3f}"),
        "SE": placebo["se"].map(lambda v: f"{v:.3f}"),
        "p cluster": placebo["p_cluster"].map(format_p),
        "p RI": placebo["p_ri"].map(format_p),
        "MDE": placebo["mde"].map(lambda v: f"{v:.3f}"),
        "treated / control": [f"{a} / {b}" for a, b in zip(placebo["n_treated"], placebo["n_control"],
                                                            strict=True)],
    })


def estimator_comparison(result: DesignResult, min_treated: int) -> pd.DataFrame:
    """TWFE, Callaway-Sant'Anna and Sun-Abraham event-time estimates of one result side by side, with the
    difference CS - TWFE (numbers; event times on fewer than ``min_treated`` treated districts left out)."""
    compare = compare_event_studies([s for s in (result.twfe, result.cs, result.sa) if s is not None])
    counts = result.twfe.table.set_index("event_time")["n_treated"]
    return compare.loc[compare["event_time"].map(counts) >= min_treated]


def comparison_display(compare: pd.DataFrame) -> pd.DataFrame:
    """:func:`estimator_comparison` as the chapter shows it (rounded to 3 decimals, short headers)."""
    shown = compare[["event_time", "twfe", "twfe_se", "callaway_santanna", "callaway_santanna_se",
                     "sun_abraham", "sun_abraham_se", "diff_callaway_santanna"]].rename(columns={
        "event_time": "event time", "twfe": "TWFE", "twfe_se": "SE", "callaway_santanna": "CS",
        "callaway_santanna_se": "SE ", "sun_abraham": "SA", "sun_abraham_se": "SE  ",
        "diff_callaway_santanna": "CS - TWFE"})
    return shown.round(3)

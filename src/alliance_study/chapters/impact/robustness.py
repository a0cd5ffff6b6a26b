"""The robustness page (notebooks/15_test_robustness.ipynb): multiple testing, power, functional form, student
weights, heterogeneity, bundled programs, SEDA's unshrunk estimates and leave-one-district-out.

Every estimate is the main chapter's headline, the TWFE event study's post-period average
(:func:`~alliance_study.analysis.impact.postavg.post_average_fit`); the estimators are in
:mod:`alliance_study.analysis.impact` (``multiple``, ``power``, ``forms``, ``postavg``, ``heterogeneity``,
``bundled``, ``influence``). Each function here is one section of the page: results -> a display table, glued
facts and verdict sentences from rules tested for given numbers (tests/test_impact_robustness_chapter.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis import impact
from alliance_study.analysis.impact import bundled, forms, heterogeneity, influence, multiple, postavg, power
from alliance_study.chapters import display
from alliance_study.chapters.impact.prose import format_p, number, outcome_digits
from alliance_study.chapters.impact.tables import OUTCOME_SHORT
from alliance_study.chapters.labels import design_label

#: Labels of the transformed and alternative outcomes (beside :data:`OUTCOME_SHORT`).
EXTRA_SHORT: dict[str, str] = {
    "grad_rate_logodds": "Graduation (log-odds)",
    "suspension_rate_log": "Suspensions (log)",
    "seda_gcs_ol": "SEDA, unshrunk OLS (grade levels)",
}

#: Significance level of every verdict on the page.
ALPHA = 0.05


def short(outcome: str) -> str:
    """Table label of an outcome."""
    return EXTRA_SHORT.get(outcome, OUTCOME_SHORT.get(outcome, outcome))


def _p(value: float) -> str:
    return format_p(value) or "not estimable"


def p_phrase(value: float) -> str:
    """``p = 0.012`` or ``p < 0.001``."""
    text = format_p(value)
    return "p not estimable" if not text else (f"p {text[0]} {text[1:]}" if text[0] == "<" else f"p = {text}")


def _num(value: float, outcome: str) -> str:
    return number(value, f",.{outcome_digits(outcome)}f")


def samples(panel: pd.DataFrame, outcomes: Sequence[str], design: impact.Design, start_year: int,
            end_year: int) -> dict[str, pd.DataFrame]:
    """Outcome -> the design's estimation sample (:func:`~alliance_study.analysis.impact.build_sample`)."""
    return {o: impact.build_sample(panel, o, design, start_year, end_year) for o in outcomes}


# --- multiple testing ------------------------------------------------------------------------------------

def multiple_testing(panel: pd.DataFrame, designs: Mapping[str, impact.Design], outcomes: Sequence[str],
                     start_year: int, end_year: int, n_boot: int, seed: int) -> pd.DataFrame:
    """Holm and Romano-Wolf adjusted p-values of every design x outcome headline
    (:meth:`~alliance_study.analysis.impact.multiple.BootstrapFamily.adjusted`)."""
    family = {(name, o): impact.build_sample(panel, o, design, start_year, end_year)
              for name, design in designs.items() for o in outcomes}
    return multiple.bootstrap_family(family, n_boot, "webb", seed).adjusted(ALPHA)


def multiple_display(table: pd.DataFrame) -> pd.DataFrame:
    """The adjusted p-values as a display table."""
    return pd.DataFrame({
        "Design": table["design"].map(design_label), "Outcome": table["outcome"].map(short),
        "Estimate": [_num(e, o) for e, o in zip(table["estimate"], table["outcome"], strict=True)],
        "t": table["t_stat"].map(lambda t: number(t, ".2f")),
        "p (wild bootstrap)": table["p_wild"].map(_p), "p (Holm)": table["p_holm"].map(_p),
        "p (Romano-Wolf)": table["p_romano_wolf"].map(_p),
    })


def multiple_testing_text(n_tests: int, n_raw: int, n_holm: int, n_rw: int, survivors: Sequence[str]) -> str:
    """What the corrections leave standing, from the counts of rejections at 5%."""
    if n_raw == 0:
        return f"None of the {n_tests} tests rejects at 5% even before any correction."
    head = (f"Of the {n_tests} tests, {n_raw} reject at 5% one at a time; {n_holm} still do after Holm's "
            f"correction and {n_rw} after Romano and Wolf's")
    if n_rw == 0:
        return head + ", so no result survives a familywise correction."
    if n_rw == n_raw:
        return head + ": every rejection survives (" + ", ".join(survivors) + ")."
    return head + ". The survivors: " + ", ".join(survivors) + "."


def multiple_facts(table: pd.DataFrame) -> dict[str, str]:
    """``rb_n_tests``, ``rb_n_raw``, ``rb_n_holm``, ``rb_n_rw``, ``rb_multiple_text`` and
    ``rb_rw_<design>_<outcome>`` / ``rb_holm_<design>_<outcome>`` for every test."""
    surv = table.loc[table["reject_romano_wolf"]]
    survivors = [f"{short(o).split(' (')[0].lower()} in the {d.replace('_', '-')} design"
                 for d, o in zip(surv["design"], surv["outcome"], strict=True)]
    facts = {"rb_n_tests": str(len(table)), "rb_n_raw": str(int(table["reject_unadjusted"].sum())),
             "rb_n_holm": str(int(table["reject_holm"].sum())),
             "rb_n_rw": str(int(table["reject_romano_wolf"].sum())),
             "rb_multiple_text": multiple_testing_text(len(table), int(table["reject_unadjusted"].sum()),
                                                       int(table["reject_holm"].sum()),
                                                       int(table["reject_romano_wolf"].sum()), survivors)}
    for _, r in table.iterrows():
        facts[f"rb_rw_{r['design']}_{r['outcome']}"] = _p(r["p_romano_wolf"])
        facts[f"rb_holm_{r['design']}_{r['outcome']}"] = _p(r["p_holm"])
    return facts


# --- power --------------------------------------------------------------------------------------------------

def power_analysis(samples_: Mapping[str, pd.DataFrame], reference_effects: Mapping[str, float]
                   ) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Per outcome the headline fit and :func:`~alliance_study.analysis.impact.power.power_table`."""
    fits = {o: postavg.post_average_fit(s, o) for o, s in samples_.items()}
    return power.power_table(fits, reference_effects, ALPHA), fits


def power_display(table: pd.DataFrame, fits: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """The power table with the estimate beside the MDEs, outcomes labelled."""
    rows = []
    for _, r in table.iterrows():
        o = r["outcome"]
        rows.append({"Outcome": short(o), "Estimate": _num(fits[o]["estimate"], o), "SE": _num(r["se"], o),
                     "MDE (80% power)": _num(r["mde"], o), "MDE (90% power)": _num(r["mde_90"], o),
                     "Reference effect": _num(r["reference_effect"], o) if np.isfinite(r["reference_effect"])
                     else "", "Power at reference": (f"{100 * r['power_at_reference']:.0f}%"
                                                     if np.isfinite(r["power_at_reference"]) else "")})
    return pd.DataFrame(rows)


def power_text(power_at_reference: float) -> str:
    """What the power against a reference effect means for a null result."""
    if not np.isfinite(power_at_reference):
        return "no reference effect is available"
    pct = f"{100 * power_at_reference:.0f}%"
    if power_at_reference >= 0.8:
        return (f"the design would detect an effect of that size {pct} of the time, so a null result is "
                "informative")
    if power_at_reference >= 0.5:
        return f"the design would detect an effect of that size only {pct} of the time"
    return (f"the design would detect an effect of that size only {pct} of the time, so a null result says "
            "little about effects of that size")


def plot_power(fits: Mapping[str, Mapping[str, float]], ncols: int = 3):
    """Power curves of the headline, one panel per outcome, with the MDE and the estimate marked."""
    fig, axes = display.facet_axes(len(fits), ncols, 3.1, 2.5)
    for ax, (o, fit) in zip(axes.flat, fits.items(), strict=False):
        curve = power.power_curve(fit["se"], int(fit["df"]), alpha=ALPHA)
        ax.plot(curve["effect"], curve["power"], color=display.PALETTE["alliance"], label="power")
        m = impact.mde(fit["se"], df=int(fit["df"]))
        ax.axvline(m, color="grey", ls="--", lw=1, label="MDE (80%)")
        ax.axvline(abs(fit["estimate"]), color=display.PALETTE["comparison"], ls=":", lw=1.5,
                   label="|estimate|")
        ax.axhline(0.8, color="grey", lw=0.5)
        ax.set_title(short(o))
        ax.set_ylim(0, 1)
        ax.set_xlabel("true effect")
        ax.set_ylabel("power")
    return display.finish_facets(fig, axes, len(fits), legend_space=0.1)


# --- functional form ---------------------------------------------------------------------------------------

def functional_form(panel: pd.DataFrame, design: impact.Design, start_year: int, end_year: int
                    ) -> pd.DataFrame:
    """Levels beside the transformed outcomes (:data:`~alliance_study.analysis.impact.forms.FORMS`).

    Returns
    -------
    pandas.DataFrame
        ``outcome, form, estimate, se, p_value, in_points`` (the transformed effect converted back to
        percentage points at the treated districts' pre-period mean: ``100 p (1 - p) b`` for log-odds,
        ``mean (exp(b) - 1)`` for logs).
    """
    rows = []
    for level, (column, unit) in forms.FORMS.items():
        for col, form in ((level, "levels (pp)"), (column, unit)):
            s = impact.build_sample(panel, col, design, start_year, end_year)
            fit = postavg.post_average_fit(s, col)
            mean = _pre_mean(panel, s, level)
            control_mean = _pre_mean(panel, s, level, treated=0)
            if col == level:
                points = fit["estimate"]
            elif unit == "log-odds":
                points = forms.logodds_to_points(fit["estimate"], mean)
            else:
                points = mean * (np.exp(fit["estimate"]) - 1)
            rows.append({"outcome": level, "form": form, "estimate": fit["estimate"], "se": fit["se"],
                         "p_value": fit["p_value"], "in_points": points, "pre_mean": mean,
                         "control_pre_mean": control_mean})
    return pd.DataFrame(rows)


def _pre_mean(panel: pd.DataFrame, sample: pd.DataFrame, column: str, treated: int = 1) -> float:
    """Mean of ``column`` over the treated (or, ``treated=0``, comparison) districts' district-years of
    ``sample`` before the first cohort's designation."""
    first = int(sample["cohort"].dropna().min())
    keys = sample.loc[(sample["treated"] == treated) & (sample["year"] < first), ["district_code", "year"]]
    return float(keys.merge(panel[["district_code", "year", column]], on=["district_code", "year"])[column]
                 .mean())


def functional_form_display(table: pd.DataFrame) -> pd.DataFrame:
    """The functional-form table for display."""
    return pd.DataFrame({
        "Outcome": table["outcome"].map(short), "Scale": table["form"],
        "Estimate": table["estimate"].map(lambda v: number(v, ",.3f")),
        "SE": table["se"].map(lambda v: number(v, ",.3f")), "p": table["p_value"].map(_p),
        "In points at the pre-period mean": table["in_points"].map(lambda v: number(v, ",.2f")),
    })


def form_text(p_levels: float, p_transformed: float, same_sign: bool, scale: str) -> str:
    """Whether an effect holds on both scales, from the two p-values (5%) and whether the signs agree."""
    sig_l, sig_t = p_levels < ALPHA, p_transformed < ALPHA
    if sig_l and sig_t and same_sign:
        return f"holds in {scale} as in points"
    if sig_l and sig_t:
        return f"changes sign in {scale}: the conclusion depends on the scale"
    if sig_l:
        return (f"is not distinguishable from zero in {scale} ({p_phrase(p_transformed)}): it rests on "
                "measuring change in points")
    if sig_t:
        return f"is distinguishable from zero in {scale} ({p_phrase(p_transformed)}) but not in points"
    return "is distinguishable from zero on neither scale"


def form_facts(table: pd.DataFrame) -> dict[str, str]:
    """``rb_form_<outcome>_text`` and the transformed estimate, its p and its size in points."""
    facts = {}
    for o, block in table.groupby("outcome", sort=False):
        lev, tr = block.iloc[0], block.iloc[1]
        facts[f"rb_form_{o}_text"] = form_text(lev["p_value"], tr["p_value"],
                                              np.sign(lev["estimate"]) == np.sign(tr["estimate"]), tr["form"])
        facts[f"rb_form_{o}_estimate"] = number(tr["estimate"], ",.3f")
        facts[f"rb_form_{o}_p"] = _p(tr["p_value"])
        facts[f"rb_form_{o}_points"] = number(tr["in_points"], ",.2f")
        facts[f"rb_form_{o}_pre_mean"] = number(tr["pre_mean"], ",.1f")
        facts[f"rb_form_{o}_control_pre_mean"] = number(tr["control_pre_mean"], ",.1f")
    return facts


# --- student weights ---------------------------------------------------------------------------------------

def weighted_estimates(samples_: Mapping[str, pd.DataFrame], weights: Mapping[str, float]) -> pd.DataFrame:
    """District-weighted and student-weighted (baseline enrollment) headlines per outcome.

    Districts without a baseline enrollment are left out of both fits, so the two differ only in weights.
    """
    rows = []
    for o, s in samples_.items():
        s = s.loc[s["district_code"].isin(list(dict(weights)))].reset_index(drop=True)
        plain, weighted = postavg.post_average_fit(s, o), postavg.post_average_fit(s, o, weights=weights)
        rows.append({"outcome": o, "estimate": plain["estimate"], "se": plain["se"],
                     "p_value": plain["p_value"], "w_estimate": weighted["estimate"], "w_se": weighted["se"],
                     "w_p_value": weighted["p_value"], "n_clusters": plain["n_clusters"]})
    return pd.DataFrame(rows)


def weighted_display(table: pd.DataFrame) -> pd.DataFrame:
    """The weighted-estimates table for display."""
    def fmt(col: str) -> list[str]:
        return [_num(v, o) for v, o in zip(table[col], table["outcome"], strict=True)]

    return pd.DataFrame({"Outcome": table["outcome"].map(short), "Per district": fmt("estimate"),
                         "SE": fmt("se"), "p": table["p_value"].map(_p), "Per student": fmt("w_estimate"),
                         "SE (students)": fmt("w_se"), "p (students)": table["w_p_value"].map(_p)})


def weights_text(estimate: float, w_estimate: float, p_value: float, w_p_value: float, se: float) -> str:
    """How weighting by students changes an estimate: the verdict and whether it moves by over one SE."""
    moved = abs(w_estimate - estimate) > se
    same = (p_value < ALPHA) == (w_p_value < ALPHA)
    size = "more" if moved else "less"
    head = f"weighting by students moves the estimate by {size} than one standard error"
    if same:
        verdict = "significant" if p_value < ALPHA else "not significant"
        return f"{head}, and it remains {verdict}"
    now = "significant" if w_p_value < ALPHA else "not significant"
    return f"{head}, and it becomes {now} ({p_phrase(w_p_value)})"


def weights_facts(table: pd.DataFrame) -> dict[str, str]:
    """``rb_w_<outcome>_estimate``, ``_p`` and ``_text``."""
    facts = {}
    for _, r in table.iterrows():
        o = r["outcome"]
        facts[f"rb_w_{o}_estimate"] = _num(r["w_estimate"], o)
        facts[f"rb_w_{o}_p"] = _p(r["w_p_value"])
        facts[f"rb_w_{o}_text"] = weights_text(r["estimate"], r["w_estimate"], r["p_value"], r["w_p_value"],
                                               r["se"])
    return facts


# --- heterogeneity -----------------------------------------------------------------------------------------

def heterogeneity_tables(panel: pd.DataFrame, samples_: Mapping[str, pd.DataFrame],
                         dose_years: tuple[int, int]) -> pd.DataFrame:
    """Group post averages by Opportunity District status and by dose tercile for every outcome, with each
    split's test of equal effects (``difference``, ``p_difference``: last group minus first; ``p_equal``:
    the F test)."""
    parts = []
    for o, s in samples_.items():
        codes = s.loc[s["treated"] == 1, "district_code"].unique()
        splits = {"Opportunity District": heterogeneity.opportunity_groups(panel, codes),
                  "dose tercile": heterogeneity.dose_terciles(panel, codes, dose_years)}
        for split, groups in splits.items():
            t = heterogeneity.subgroup_effects(s, o, groups, alpha=ALPHA)
            d = t.attrs["difference"]
            t = t.assign(split=split, difference=d["difference"], p_difference=d["p_value"],
                         p_equal=d["wald_p"])
            t.attrs = {}  # the covariance frames in attrs would make concat compare them
            parts.append(t)
    return pd.concat(parts, ignore_index=True)


def heterogeneity_display(table: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome and group."""
    return pd.DataFrame({
        "Outcome": table["outcome"].map(short), "Split": table["split"], "Group": table["group"].str[2:],
        "Districts": table["n_treated"],
        "Estimate": [_num(v, o) for v, o in zip(table["estimate"], table["outcome"], strict=True)],
        "SE": [_num(v, o) for v, o in zip(table["se"], table["outcome"], strict=True)],
        "p": table["p_value"].map(_p), "p (equal effects)": table["p_equal"].map(_p),
    })


def heterogeneity_text(split: str, groups: Sequence[str], estimates: Sequence[str], p_equal: float) -> str:
    """A split's verdict: whether the groups' effects differ (F test at 5%) and, if so, every group's
    estimate (already formatted), in the groups' order."""
    if not np.isfinite(p_equal):
        return f"by {split}: not estimable"
    if p_equal >= ALPHA:
        return f"no detectable difference by {split} ({p_phrase(p_equal)})"
    pairs = [f"{e} for {g}" for g, e in zip(groups, estimates, strict=True)]
    listed = display.name_list(pairs)
    return f"the effects differ by {split} ({p_phrase(p_equal)}): {listed}"


#: How the page names the groups of each split, in the groups' order.
GROUP_NAMES: dict[str, tuple[str, ...]] = {
    "Opportunity District": ("the other Alliance Districts", "the Opportunity Districts"),
    "dose tercile": ("the lowest tercile", "the middle tercile", "the highest tercile"),
}


def heterogeneity_facts(table: pd.DataFrame) -> dict[str, str]:
    """``rb_het_<outcome>_<opportunity|dose>_text`` and each group's estimate (``rb_het_<outcome>_<key>_<k>``,
    ``k`` the group's order)."""
    facts = {}
    keys = {"Opportunity District": "opportunity", "dose tercile": "dose"}
    for (o, split), block in table.groupby(["outcome", "split"], sort=False):
        key = keys[split]
        estimates = [_num(v, o) for v in block["estimate"]]
        names = GROUP_NAMES[split][:len(block)]
        facts[f"rb_het_{o}_{key}_text"] = heterogeneity_text(split, names, estimates,
                                                             float(block["p_equal"].iloc[0]))
        for k, text in enumerate(estimates, start=1):
            facts[f"rb_het_{o}_{key}_{k}"] = text
    return facts


# --- bundled programs ---------------------------------------------------------------------------------------

def bundled_display(exposure: pd.DataFrame) -> pd.DataFrame:
    """The programs bundled with designation, their reach among designated and comparison districts, and
    sources."""
    programs = bundled.programs_table().set_index("key")
    ex = exposure.set_index("key")

    def reach(n: float, total: float) -> str:
        return "" if pd.isna(n) else f"{int(n)} of {int(total)}"

    return pd.DataFrame({
        "Program": programs["program"], "From (spring year)": programs["start"].astype(int),
        "What": programs["what"], "Outcomes aimed at": programs["outcomes"],
        "Designated districts": [reach(ex.loc[k, "n_designated"], ex.loc[k, "n_designated_total"])
                                 for k in programs.index],
        "Comparison districts": [reach(ex.loc[k, "n_comparison"], ex.loc[k, "n_comparison_total"])
                                 for k in programs.index],
        "Source": programs["source"],
    }).reset_index(drop=True)


def bundled_text(outcome: str, programs: Sequence[Mapping[str, object]], window: tuple[int, int],
                 exposure: Mapping[str, tuple[int, int]], designation_year: int = 2013) -> str:
    """Which bundled programs the estimate of ``outcome`` cannot be separated from, and why.

    A program counts if it aims at the outcome (or at ``all``) and is in force within ``window`` (inclusive
    spring years). ``exposure`` maps a program's key to (designated, comparison) districts reached. A program
    that started with or after designation and reached more designated than comparison districts is
    confounded with designation; one paid before designation is absorbed by the district effects unless it
    changed at designation; a statewide law reaches both groups and moves the estimate only if it bound
    harder on one.
    """
    relevant = [p for p in programs if (outcome in p["outcomes"] or "all" in p["outcomes"])
                and int(p["start"]) <= window[1]]

    def reach(p: Mapping[str, object]) -> tuple[int, int]:
        return exposure.get(str(p["key"]), (0, 0))

    targeted = [p for p in relevant if p["scope"] != "statewide" and reach(p)[0] > reach(p)[1]]
    new = [p for p in targeted if int(p["start"]) >= designation_year]
    old = [p for p in targeted if int(p["start"]) < designation_year]
    statewide = [p for p in relevant if p["scope"] == "statewide"]
    parts = []
    if new:
        names = [f"{p['program']} (from {p['start']}, {reach(p)[0]} designated districts)" for p in new]
        parts.append("the estimate is the effect of designation together with " + " and ".join(names)
                     + ", which reached designated districts and not their comparisons")
    if old:
        names = [f"{p['program']} ({reach(p)[0]} designated districts)" for p in old]
        parts.append(" and ".join(names) + " predate designation, so the district effects absorb them unless "
                     "they changed with it")
    if statewide:
        names = [f"{p['program']} (from {p['start']})" for p in statewide]
        parts.append(" and ".join(names) + " applied to every district, so it moves the estimate only where "
                     "it bound harder in the designated districts, whose rates started higher")
    if not parts:
        return "No other program in the sourced list overlaps with designation for this outcome."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def bundled_facts(exposure: pd.DataFrame, outcomes: Sequence[str], window: tuple[int, int]) -> dict[str, str]:
    """``rb_bundled_<outcome>`` for each outcome, from :func:`bundled_text`."""
    ex = {r["key"]: (int(r["n_designated"]) if pd.notna(r["n_designated"]) else 0,
                     int(r["n_comparison"]) if pd.notna(r["n_comparison"]) else 0)
          for _, r in exposure.iterrows()}
    return {f"rb_bundled_{o}": bundled_text(o, bundled.BUNDLED_PROGRAMS, window, ex) for o in outcomes}


# --- SEDA OLS and leave one out -----------------------------------------------------------------------------

def seda_ols_text(eb: Mapping[str, float], ol: Mapping[str, float]) -> str:
    """Whether SEDA's unshrunk (OLS) estimates change the SEDA verdict."""
    same = (eb["p_value"] < ALPHA) == (ol["p_value"] < ALPHA)
    verdict = "significant" if ol["p_value"] < ALPHA else "not significant"
    if same:
        return f"the same verdict ({verdict})"
    return f"a different verdict: {verdict} with the unshrunk estimates ({p_phrase(ol['p_value'])})"


def loo_table(samples_: Mapping[str, pd.DataFrame], names: Mapping[str, str]) -> pd.DataFrame:
    """:func:`~alliance_study.analysis.impact.influence.influence_summary` per outcome, with the most
    influential district's name."""
    rows = []
    for o, s in samples_.items():
        summary = influence.influence_summary(influence.leave_one_out(s, o), ALPHA)
        rows.append({"outcome": o, **summary, "name": names.get(summary["most_influential"],
                                                                summary["most_influential"])})
    return pd.DataFrame(rows)


def loo_display(table: pd.DataFrame) -> pd.DataFrame:
    """The leave-one-out summary for display."""
    def fmt(col: str) -> list[str]:
        return [_num(v, o) for v, o in zip(table[col], table["outcome"], strict=True)]

    return pd.DataFrame({"Outcome": table["outcome"].map(short), "All districts": fmt("full"),
                         "Lowest": fmt("low"), "Highest": fmt("high"),
                         "Most influential": table["name"].str.replace(" School District", "", regex=False),
                         "Its shift": fmt("max_shift"), "Sign changes": table["n_sign_changes"],
                         "Significance changes": table["n_significance_changes"]})


def loo_text(n_sign_changes: int, n_significance_changes: int, n_districts: int, name: str) -> str:
    """A leave-one-out verdict: does any single district carry the result?"""
    if n_sign_changes == 0 and n_significance_changes == 0:
        return f"no single district carries it: dropping any one of the {n_districts} leaves sign and verdict"
    parts = []
    if n_sign_changes:
        verb = "changes" if n_sign_changes == 1 else "change"
        parts.append(f"{n_sign_changes} of the {n_districts} leave-one-out estimates {verb} sign")
    if n_significance_changes:
        verb = "changes" if n_significance_changes == 1 else "change"
        parts.append(f"{n_significance_changes} {verb} the verdict at 5%")
    return "it is fragile: " + " and ".join(parts) + f" (most influential: {name})"


def loo_facts(table: pd.DataFrame, n_districts: Mapping[str, int]) -> dict[str, str]:
    """``rb_loo_<outcome>_low``, ``_high``, ``_name``, ``_text``."""
    facts = {}
    for _, r in table.iterrows():
        o = r["outcome"]
        name = str(r["name"]).replace(" School District", "")
        facts[f"rb_loo_{o}_low"] = _num(r["low"], o)
        facts[f"rb_loo_{o}_high"] = _num(r["high"], o)
        facts[f"rb_loo_{o}_name"] = name
        facts[f"rb_loo_{o}_text"] = loo_text(int(r["n_sign_changes"]), int(r["n_significance_changes"]),
                                             int(n_districts[o]), name)
    return facts


def power_facts(table: pd.DataFrame, fits: Mapping[str, Mapping[str, float]],
                reference_outcome: str = "seda_gcs_eb") -> dict[str, str]:
    """``rb_power_<outcome>_mde`` (80%) for every outcome, and for ``reference_outcome`` the reference
    effect, the power against it and :func:`power_text`."""
    facts = {f"rb_power_{r['outcome']}_mde": _num(r["mde"], r["outcome"]) for _, r in table.iterrows()}
    ref = table.set_index("outcome").loc[reference_outcome]
    facts.update({"rb_power_reference": _num(ref["reference_effect"], reference_outcome),
                  "rb_power_at_reference": number(100 * ref["power_at_reference"], ".0f"),
                  "rb_power_text": power_text(float(ref["power_at_reference"]))})
    return facts


def seda_ols_facts(eb: Mapping[str, float], ol: Mapping[str, float]) -> dict[str, str]:
    """The SEDA headline with empirical-Bayes and with unshrunk (OLS) district means, and
    :func:`seda_ols_text`."""
    return {"rb_seda_eb": _num(eb["estimate"], "seda_gcs_eb"), "rb_seda_eb_p": _p(eb["p_value"]),
            "rb_seda_ol": _num(ol["estimate"], "seda_gcs_eb"), "rb_seda_ol_se": _num(ol["se"], "seda_gcs_eb"),
            "rb_seda_ol_p": _p(ol["p_value"]), "rb_seda_ol_text": seda_ols_text(eb, ol)}

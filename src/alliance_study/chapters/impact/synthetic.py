"""The synthetic-comparison page (notebooks/14_compare_synthetic.ipynb): the largest districts one at a time.

Estimates come from :mod:`alliance_study.analysis.impact.synthetic`; this module turns them into glued facts,
display tables, figures and verdict sentences. Every verdict comes from a rule here with unit tests
(tests/test_chapter_synthetic.py). District names are read from the panel, never typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis.impact import synthetic as syn
from alliance_study.analysis.impact.designs import add_analysis_columns, baseline_values
from alliance_study.chapters import display
from alliance_study.chapters.impact.prose import format_p, outcome_digits
from alliance_study.chapters.impact.tables import OUTCOME_SHORT

#: Units of each outcome's effects in prose.
OUTCOME_UNITS: dict[str, str] = {
    "seda_gcs_eb": "grade levels",
    "achievement_index": "district-level standard deviations",
    "grad_rate": "percentage points",
    "chronic_absent_rate": "percentage points",
    "suspension_rate": "percentage points",
}

#: Outcome names in prose (lower case, inside sentences).
OUTCOME_NAMES: dict[str, str] = {
    "seda_gcs_eb": "SEDA achievement",
    "achievement_index": "the achievement index",
    "grad_rate": "graduation",
    "chronic_absent_rate": "chronic absenteeism",
    "suspension_rate": "suspensions",
}

#: Method names in tables.
METHOD_SHORT: dict[str, str] = {"sc": "synthetic control", "sdid": "synthetic DiD"}

#: A pre-period fit is "poor" when its RMSPE exceeds this share of the spread (standard deviation) of the
#: donors' pre-period means. A judgement call of this chapter, not a published threshold: a synthetic path
#: off by a quarter of the whole cross-district spread before designation cannot date a change of the same
#: size after it (Abadie, Diamond and Hainmueller 2010 drop placebos whose pre-period fit is much worse than
#: the treated unit's for the same reason).
POOR_FIT_SHARE = 0.25

#: Level of the placebo tests in verdicts.
ALPHA = 0.05

#: Suffix of district names in the panel, dropped in prose and tables.
_NAME_SUFFIX = " School District"


# --- analysis bundle --------------------------------------------------------------------------------------


@dataclass
class SyntheticAnalysis:
    """Everything the page shows: results with the chosen donor pool and with every never-designated town.

    Attributes
    ----------
    results, table
        Results keyed by ``(district_code, outcome)`` and their
        :func:`~alliance_study.analysis.impact.synthetic.summary_table`, for the main donor pool (the poorest
        never-designated town districts).
    all_results, all_table
        The same with every never-designated town district as a donor.
    districts
        The treated districts, largest first; ``names`` maps every code shown to its short name.
    donors
        The main donor pool.
    context
        Baseline means (``donor_measure``, ``enrollment`` and the outcomes) of the districts (``group``
        ``district``), the donors (``donor``) and the other never-designated town districts (``other``).
    """

    results: dict[tuple[str, str], syn.SyntheticResult]
    table: pd.DataFrame
    all_results: dict[tuple[str, str], syn.SyntheticResult]
    all_table: pd.DataFrame
    districts: list[str]
    names: dict[str, str]
    donors: list[str]
    context: pd.DataFrame
    settings: dict[str, Any]


def short_name(name: Any, code: str) -> str:
    """A district's name without "School District" (the code when the panel has no name)."""
    if not isinstance(name, str) or not name.strip():
        return code
    return name[: -len(_NAME_SUFFIX)] if name.endswith(_NAME_SUFFIX) else name


def district_names(panel: pd.DataFrame, codes: Sequence[str]) -> dict[str, str]:
    """Short names of ``codes`` from the panel's ``district_name`` (latest year with a name)."""
    rows = panel.loc[panel["district_code"].isin(list(codes))].sort_values("year")
    latest = rows.dropna(subset=["district_name"]).groupby("district_code")["district_name"].last()
    return {c: short_name(latest.get(c), c) for c in codes}


def analyze(
    panel: pd.DataFrame,
    outcomes: Sequence[str],
    n_districts: int = 4,
    cohort: int = 2013,
    donor_n: int = 40,
    donor_measure: str = "frl_share",
    baseline_years: tuple[int, int] = (2009, 2012),
    end_year: int | None = None,
    min_pre_years: int = syn.MIN_PRE_YEARS,
    enrollment_year: int = 2012,
    start_year: int | None = None,
) -> SyntheticAnalysis:
    """Synthetic control and synthetic DiD of the ``n_districts`` largest districts of ``cohort``.

    The main donor pool is the ``donor_n`` never-designated town districts with the highest baseline
    ``donor_measure`` (the poorest, by default); the second run uses every never-designated town district.
    """
    frame = add_analysis_columns(panel)
    donors = syn.donor_pool(frame, "other_town_districts", donor_measure, donor_n, baseline_years)
    everyone = syn.donor_pool(frame, "other_town_districts")
    options = {
        "n_districts": n_districts,
        "cohort": cohort,
        "start_year": start_year,
        "end_year": end_year,
        "min_pre_years": min_pre_years,
        "enrollment_year": enrollment_year,
    }
    results = syn.analyze_largest(frame, outcomes, donors=donors, **options)
    all_results = syn.analyze_largest(frame, outcomes, donors=everyone, **options)
    districts = syn.largest_districts(frame, n_districts, cohort, enrollment_year)
    table, all_table = syn.summary_table(results), syn.summary_table(all_results)
    shown = set(districts) | set(table["top_donor"].dropna()) | set(donors)
    for res in results.values():
        for fit in res.fits.values():
            shown |= set(fit.weights.index)
    context_cols = [c for c in (donor_measure, "enrollment", *outcomes) if c in frame.columns]
    base = baseline_values(frame, context_cols, baseline_years)
    others = [c for c in everyone if c not in set(donors)]
    context = base.reindex([*districts, *donors, *others])
    context["group"] = ["district"] * len(districts) + ["donor"] * len(donors) + ["other"] * len(others)
    return SyntheticAnalysis(
        results=results,
        table=table,
        all_results=all_results,
        all_table=all_table,
        districts=districts,
        names=district_names(frame, sorted(shown)),
        donors=donors,
        context=context,
        settings={
            "n_districts": n_districts,
            "cohort": cohort,
            "donor_n": donor_n,
            "donor_measure": donor_measure,
            "baseline_years": tuple(baseline_years),
            "end_year": end_year,
            "min_pre_years": min_pre_years,
            "n_all_donors": len(everyone),
        },
    )


# --- verdict rules ----------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, int | float | np.floating) and bool(np.isfinite(value))


def fit_quality(pre_rmspe: float, donor_sd: float, share: float = POOR_FIT_SHARE) -> str:
    """``good`` when the pre-period RMSPE is at most ``share`` x the donors' spread, else ``poor``
    (``unknown`` when either number is missing)."""
    if not (_finite(pre_rmspe) and _finite(donor_sd)) or donor_sd <= 0:
        return "unknown"
    return "good" if pre_rmspe <= share * donor_sd else "poor"


def row_verdict(row: Mapping[str, Any], alpha: float = ALPHA) -> str:
    """Short verdict of one estimate (a :func:`summary_table` row) for the table.

    Rules, in order: not estimated; a poor pre-period fit makes no claim whatever the p-value; a placebo
    p-value of ``alpha`` or more is "not distinguishable from placebos"; otherwise the sign is stated.
    """
    if row.get("skipped") or not _finite(row.get("estimate")):
        return "not estimated"
    if fit_quality(row["pre_rmspe"], row["donor_sd"]) != "good":
        return "no claim: poor pre-period fit"
    p = row["p_placebo"]
    if not _finite(p) or p >= alpha:
        return "not distinguishable from placebos"
    return "higher than placebos" if row["estimate"] > 0 else "lower than placebos"


def _names(items: Sequence[str]) -> str:
    return display.name_list(items, empty="")


def _fmt(value: float, digits: int) -> str:
    return display.format_number(value, f",.{digits}f")


def outcome_judgement(
    table: pd.DataFrame, outcome: str, names: Mapping[str, str], method: str = "sdid", alpha: float = ALPHA
) -> str:
    """One or two sentences on one outcome and method across the districts (rules of :func:`row_verdict`).

    States the range of estimates, which districts (if any) have a poor pre-period fit, and which (if any)
    differ from the placebo distribution at ``alpha``; otherwise that none does, with the p-value range.
    """
    rows = table.loc[(table["outcome"] == outcome) & (table["method"] == method)]
    label = OUTCOME_NAMES.get(outcome, outcome)
    if rows.empty:
        return f"For {label} there is no {METHOD_SHORT.get(method, method)} estimate."
    d, unit = outcome_digits(outcome), OUTCOME_UNITS.get(outcome, "units")
    verdicts = {r["district_code"]: row_verdict(r, alpha) for _, r in rows.iterrows()}
    est = rows["estimate"]
    text = (
        f"For {label}, the {METHOD_SHORT.get(method, method)} estimates range from {_fmt(est.min(), d)} to "
        f"{_fmt(est.max(), d)} {unit}"
    )
    poor = [names.get(c, c) for c, v in verdicts.items() if v.startswith("no claim")]
    sig = rows.loc[
        rows["district_code"].map(
            lambda c: verdicts[c].endswith("than placebos") and not verdicts[c].startswith("not")
        )
    ]
    if poor:
        text += (
            f"; the synthetic path misses the pre-designation outcomes of {_names(poor)} by more than "
            f"{POOR_FIT_SHARE:.0%} of the spread among donors, so no effect is claimed there"
        )
    if sig.empty:
        rest = rows.loc[~rows["district_code"].map(lambda c: verdicts[c].startswith("no claim"))]
        if rest.empty:
            return text + "."
        lo, hi = rest["p_placebo"].min(), rest["p_placebo"].max()
        p_text = f"p = {format_p(lo)}" if lo == hi else f"placebo p from {format_p(lo)} to {format_p(hi)}"
        subject = (
            "none is"
            if len(rest) > 1
            else f"that for {names.get(rest['district_code'].iloc[0], rest['district_code'].iloc[0])} is not"
        )
        return text + (
            f"; {subject} distinguishable from the effects the same method finds for never-designated "
            f"districts, where there was no program ({p_text})."
        )
    parts = [
        f"{names.get(r['district_code'], r['district_code'])} ({_fmt(r['estimate'], d)}, placebo p = "
        f"{format_p(r['p_placebo'])})"
        for _, r in sig.iterrows()
    ]
    return text + (
        f"; {_names(parts)} {'lies' if len(parts) == 1 else 'lie'} outside the placebo "
        f"distribution at the {alpha:.0%} level."
    )


def multiple_testing_text(table: pd.DataFrame, method: str = "sdid", alpha: float = ALPHA) -> str:
    """How many of the method's comparisons pass ``alpha`` against how many would by chance alone."""
    rows = table.loc[(table["method"] == method)]
    passing = [
        r
        for _, r in rows.iterrows()
        if row_verdict(r, alpha).endswith("than placebos") and not row_verdict(r, alpha).startswith("not")
    ]
    n = len(rows)
    expected = n * alpha
    return (
        f"{len(passing)} of the {n} {METHOD_SHORT.get(method, method)} comparisons "
        f"{'passes' if len(passing) == 1 else 'pass'} the {alpha:.0%} placebo test, where chance alone "
        f"would give about {expected:.2f}"
    )


def sc_fit_text(table: pd.DataFrame, names: Mapping[str, str]) -> str:
    """What classic synthetic control's pre-period fit says, from the fit rule (:func:`fit_quality`)."""
    rows = table.loc[table["method"] == "sc"]
    if rows.empty:
        return "Classic synthetic control was not estimated."
    quality = [fit_quality(r["pre_rmspe"], r["donor_sd"]) for _, r in rows.iterrows()]
    n_poor = sum(q == "poor" for q in quality)
    ratio = rows["pre_rmspe"] / rows["donor_sd"]
    spread = f"{ratio.min():.1f} to {ratio.max():.1f} times the spread among donors"
    if n_poor == len(rows):
        text = (
            f"Classic synthetic control fits none of the {len(rows)} district-outcome pairs: its "
            f"pre-period errors are {spread}"
        )
        if (rows["pre_position"] == "below").all():
            top = rows["top_weight"].min()
            share = "all of its weight" if top >= 0.995 else f"at least {top:.0%} of its weight"
            nearest = ", the lowest-scoring donor," if rows["top_is_nearest"].all() else ""
            text += (
                f". Every one of these districts scored below every donor before designation, so no "
                f"weighted average of donors can reach it: the method puts {share} on a single "
                f"district{nearest} and its post-period gaps measure how far the city sits below it, "
                f"not an effect of the program"
            )
        return text
    if n_poor == 0:
        return (
            f"Classic synthetic control fits all {len(rows)} district-outcome pairs (pre-period errors "
            f"{spread})"
        )
    bad = _names(
        sorted({names.get(c, c) for c, q in zip(rows["district_code"], quality, strict=True) if q == "poor"})
    )
    return (
        f"Classic synthetic control fits {len(rows) - n_poor} of the {len(rows)} district-outcome pairs; "
        f"the fit is poor for {bad} (pre-period errors {spread})"
    )


def skipped_text(table: pd.DataFrame, min_pre_years: int) -> str:
    """The outcomes left out for too few pre-period years, with their counts."""
    rows = table.loc[table["skipped"].astype(bool)].drop_duplicates("outcome")
    if rows.empty:
        return f"Every outcome has at least {min_pre_years} pre-period years"
    parts = [
        f"{OUTCOME_NAMES.get(r['outcome'], r['outcome'])} ({int(r['n_pre'])})" for _, r in rows.iterrows()
    ]
    text = (
        f"{_names(parts)} {'has' if len(parts) == 1 else 'have'} fewer than {min_pre_years} years before "
        f"designation (counts in brackets) and {'is' if len(parts) == 1 else 'are'} not estimated"
    )
    return text[0].upper() + text[1:]


def robustness_text(main: pd.DataFrame, everyone: pd.DataFrame, n_all: int, method: str = "sdid") -> str:
    """How far the estimates move with every never-designated town district as a donor."""
    keys = ["district_code", "outcome", "method"]
    both = main.loc[main["method"] == method, [*keys, "estimate"]].merge(
        everyone.loc[everyone["method"] == method, [*keys, "estimate", "p_placebo"]],
        on=keys,
        suffixes=("", "_all"),
    )
    if both.empty:
        return "The comparison with every never-designated town district as a donor was not estimated"
    diff = (both["estimate_all"] - both["estimate"]).abs()
    same_sign = int((np.sign(both["estimate_all"]) == np.sign(both["estimate"])).sum())
    n_sig = int((both["p_placebo"] < ALPHA).sum())
    return (
        f"With all {n_all} never-designated town districts as donors, the {METHOD_SHORT[method]} estimates "
        f"move by at most {diff.max():.2f} (in the outcomes' units), {same_sign} of {len(both)} keep their "
        f"sign, and {n_sig} of {len(both)} {'passes' if n_sig == 1 else 'pass'} the "
        f"{ALPHA:.0%} placebo test"
    )


def level_text(context: pd.DataFrame, outcome: str = "seda_gcs_eb") -> str:
    """Where the districts' baseline level of ``outcome`` lies against the never-designated town districts."""
    dist = context.loc[context["group"] == "district", outcome].dropna()
    never = context.loc[context["group"] != "district", outcome].dropna()
    if dist.empty or never.empty:
        return "not available"
    d, unit = outcome_digits(outcome), OUTCOME_UNITS.get(outcome, "units")
    span = f"{_fmt(dist.min(), d)} to {_fmt(dist.max(), d)} {unit} before designation"
    if dist.max() < never.min():
        return f"{span}, every one below the lowest never-designated town district ({_fmt(never.min(), d)})"
    below = int((never < dist.max()).sum())
    noun = "district scored" if below == 1 else "districts scored"
    return f"{span}; {below} never-designated town {noun} lower"


def contrast_text(context: pd.DataFrame, measure: str = "frl_share") -> str:
    """Whether any never-designated town district is as large or as poor (``measure``) as the districts."""
    dist, never = context.loc[context["group"] == "district"], context.loc[context["group"] != "district"]
    larger = int((never["enrollment"] >= dist["enrollment"].min()).sum())
    poorer = int((never[measure] >= dist[measure].min()).sum())
    if larger == 0 and poorer == 0:
        return "Every never-designated town district is smaller and less poor than each of them"
    return (
        f"{larger} never-designated town {'district is' if larger == 1 else 'districts are'} as large as the "
        f"smallest of them and {poorer} as poor as the least poor"
    )


def se_text(table: pd.DataFrame) -> str:
    """The placebo standard errors of synthetic DiD per outcome, and whether they differ between districts."""
    rows = table.loc[table["method"] == "sdid"]
    if rows.empty:
        return "There is no synthetic DiD estimate"
    parts, same = [], True
    for outcome, block in rows.groupby("outcome", sort=False):
        d, unit = outcome_digits(outcome), OUTCOME_UNITS.get(outcome, "units")
        lo, hi = block["se"].min(), block["se"].max()
        same &= bool(np.isclose(lo, hi))
        value = _fmt(lo, d) if np.isclose(lo, hi) else f"{_fmt(lo, d)} to {_fmt(hi, d)}"
        parts.append(f"{value} {unit} for {OUTCOME_NAMES.get(outcome, outcome)}")
    text = f"The placebo standard error is {_names(parts)}"
    if same:
        text += ", the same for every district because it is computed from the donors alone"
    return text


def weights_text(table: pd.DataFrame) -> str:
    """How widely synthetic DiD spreads its weights (donors over 1%, the largest single weight)."""
    rows = table.loc[table["method"] == "sdid"]
    if rows.empty:
        return "not available"
    lo, hi = int(rows["n_weighted"].min()), int(rows["n_weighted"].max())
    return (
        f"between {lo} and {hi} donors carry more than 1% of the weight in each comparison, and no donor "
        f"more than {rows['top_weight'].max():.0%}"
    )


# --- facts, tables, figures -------------------------------------------------------------------------------


def facts(analysis: SyntheticAnalysis) -> dict[str, str]:
    """The page's glued values, keyed ``syn_*`` (districts as ``syn_d1`` ... by size, largest first)."""
    a, table = analysis, analysis.table
    names = [a.names[c] for c in a.districts]
    s = a.settings
    ctx = a.context
    measure = s["donor_measure"]
    dist, don = ctx.loc[ctx["group"] == "district"], ctx.loc[ctx["group"] == "donor"]
    never = ctx.loc[ctx["group"] != "district"]
    out: dict[str, str] = {
        "syn_districts": _names(names),
        "syn_n_districts": str(len(names)),
        "syn_n_donors": str(len(a.donors)),
        "syn_min_p": f"1/{len(a.donors) + 1} = {format_p(1 / (len(a.donors) + 1))}",
        "syn_n_all_donors": str(s["n_all_donors"]),
        "syn_baseline_span": f"{s['baseline_years'][0]}-{s['baseline_years'][1]}",
        "syn_min_pre_years": str(s["min_pre_years"]),
        "syn_cohort": str(s["cohort"]),
        "syn_end_year": str(s["end_year"]) if s["end_year"] is not None else "the last year",
        "syn_city_frl": f"{dist[measure].min():.0f}-{dist[measure].max():.0f}%",
        "syn_donor_frl": f"{don[measure].min():.0f}-{don[measure].max():.0f}%",
        "syn_city_enrollment": f"{dist['enrollment'].min():,.0f}-{dist['enrollment'].max():,.0f}",
        "syn_never_enrollment_max": f"{never['enrollment'].max():,.0f}",
        "syn_never_frl_max": f"{never[measure].max():.0f}%",
        "syn_sc_fit": sc_fit_text(table, a.names),
        "syn_skipped": skipped_text(table, s["min_pre_years"]),
        "syn_multiple": multiple_testing_text(table),
        "syn_robustness": robustness_text(table, a.all_table, s["n_all_donors"]),
        "syn_poor_fit_share": f"{POOR_FIT_SHARE:.0%}",
    }
    if "seda_gcs_eb" in ctx.columns:
        out["syn_city_seda"] = level_text(ctx, "seda_gcs_eb")
    out["syn_contrast"] = contrast_text(ctx, measure)
    out["syn_se_text"] = se_text(table)
    out["syn_weights_text"] = weights_text(table)
    for i, code in enumerate(a.districts, start=1):
        out[f"syn_d{i}"] = a.names[code]
    for outcome in table.loc[table["method"] != "", "outcome"].unique():
        out[f"syn_{outcome}_judgement"] = outcome_judgement(table, outcome, a.names)
        out[f"syn_{outcome}_sc_judgement"] = outcome_judgement(table, outcome, a.names, "sc")
        sdid = table.loc[(table["outcome"] == outcome) & (table["method"] == "sdid")]
        if not sdid.empty:
            out[f"syn_{outcome}_se"] = _fmt(sdid["se"].iloc[0], outcome_digits(outcome))
            out[f"syn_{outcome}_n_pre"] = str(int(sdid["n_pre"].iloc[0]))
    return out


def summary_display(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """The estimates table for the page: one row per district, outcome and method (skipped rows left out)."""
    rows = []
    for _, r in table.loc[table["method"] != ""].iterrows():
        d = outcome_digits(r["outcome"])
        interval = f"{_fmt(r['ci_low'], d)} to {_fmt(r['ci_high'], d)}" if _finite(r["ci_low"]) else ""
        rows.append(
            {
                "District": names.get(r["district_code"], r["district_code"]),
                "Outcome": OUTCOME_SHORT.get(r["outcome"], r["outcome"]),
                "Method": METHOD_SHORT[r["method"]],
                "Effect": _fmt(r["estimate"], d),
                "95% interval (placebo SE)": interval,
                "Placebo p": format_p(r["p_placebo"]),
                "Pre-period RMSPE": _fmt(r["pre_rmspe"], d),
                "Fit": fit_quality(r["pre_rmspe"], r["donor_sd"]),
                "Donors with weight": str(int(r["n_weighted"])),
                "Verdict": row_verdict(r),
            }
        )
    return pd.DataFrame(rows)


def weights_display(
    results: Mapping[tuple[str, str], syn.SyntheticResult],
    names: Mapping[str, str],
    outcome: str,
    method: str = "sdid",
    top: int = 5,
) -> pd.DataFrame:
    """The ``top`` donors of each district for one outcome and method, with their weights (in %)."""
    rows = []
    for (code, out), res in results.items():
        if out != outcome or method not in res.fits:
            continue
        w = res.fits[method].weights.sort_values(ascending=False, kind="stable").head(top)
        rows.append(
            {
                "District": names.get(code, code),
                "Top donors (weight %)": "; ".join(
                    f"{names.get(c, c)} {100 * v:.0f}" for c, v in w.items() if v > 0.005
                ),
                f"Weight of top {top}": f"{100 * w.sum():.0f}%",
            }
        )
    return pd.DataFrame(rows)


def plot_paths(analysis: SyntheticAnalysis, outcomes: Sequence[str] | None = None):
    """Each district (rows) and outcome (columns): the district, its synthetic control and its synthetic DiD
    comparison (shifted by the fitted level difference) by year."""
    results = analysis.results
    estimated = [
        o
        for o in (outcomes or analysis.table["outcome"].unique())
        if any(not r.skipped for (c, oo), r in results.items() if oo == o)
    ]
    ncols = max(1, len(estimated))
    fig, axes = display.facet_axes(len(analysis.districts) * ncols, ncols, 4.6, 2.5, extra_height=0.7)
    for i, code in enumerate(analysis.districts):
        for j, outcome in enumerate(estimated):
            ax = axes[i, j]
            res = results[(code, outcome)]
            path = res.fits["sdid"].path
            ax.plot(
                path["year"],
                path["treated"],
                "o-",
                color=display.PALETTE["alliance"],
                markersize=3,
                label="district",
            )
            ax.plot(
                path["year"],
                res.fits["sc"].path["synthetic"],
                "--",
                color=display.PALETTE["other"],
                label="synthetic control",
            )
            ax.plot(
                path["year"],
                path["synthetic"],
                "-",
                color=display.PALETTE["comparison"],
                label="synthetic DiD (level-shifted)",
            )
            ax.axvline(res.first_post_year - 0.5, color="#777777", linestyle=":", linewidth=0.8)
            ax.set_title(f"{analysis.names[code]}: {OUTCOME_SHORT.get(outcome, outcome)}")
            ax.xaxis.get_major_locator().set_params(integer=True)
    return display.finish_facets(fig, axes, len(analysis.districts) * ncols, legend_space=0.05)


def plot_placebos(analysis: SyntheticAnalysis, method: str = "sdid"):
    """Per outcome: the donors' placebo effects (histogram) and each district's effect (labelled lines)."""
    table = analysis.table
    estimated = [o for o in table.loc[table["method"] == method, "outcome"].unique()]
    fig, axes = display.facet_axes(max(1, len(estimated)), max(1, len(estimated)), 4.6, 3.2, extra_height=0.2)
    for ax, outcome in zip(axes.flat, estimated, strict=False):
        first = analysis.results[(analysis.districts[0], outcome)]
        ax.hist(first.inference[method].placebos["estimate"], bins=15, color=display.PALETTE["other"])
        top = ax.get_ylim()[1]
        for k, code in enumerate(analysis.districts):
            est = analysis.results[(code, outcome)].fits[method].estimate
            ax.axvline(est, color=display.PALETTE["alliance"], linewidth=1.2)
            ax.text(
                est,
                top * (0.92 - 0.12 * k),
                f" {analysis.names[code]}",
                color=display.PALETTE["alliance"],
                fontsize=10,
                va="top",
            )
        ax.set_title(OUTCOME_SHORT.get(outcome, outcome))
        ax.set_xlabel("effect")
        ax.set_ylabel("donors")
    return display.finish_facets(fig, axes, len(estimated), legend=False)

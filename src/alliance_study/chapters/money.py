"""Chapter "Where did the money go?": results -> glued facts, tables, figures and verdict prose.

The notebook ``notebooks/09_trace_money.ipynb`` calls :func:`compute` once, then :func:`glue_facts`,
the table functions and the figure functions. Every sentence that states a finding comes from a rule here
(:func:`pass_through_sentence`, :func:`crowd_out_sentence`, :func:`dose_sentence`), each unit-tested.
The district profiles call :func:`district_money_figure` and :func:`district_money_table`.

The preferred specification adds a linear trend per district: the event study shows the designated
districts' spending per pupil already falling behind the other districts' before FY2013, so the plain
two-way fixed-effects comparison mistakes that decline for a response to the money. Both are reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis import money
from alliance_study.analysis.money import CrowdOut, DoseResult, Estimate

#: Jackson and Mackevicius (2024, AEJ: Applied 16(1)): test scores rise about 0.0316 SD per $1,000 per pupil
#: (2018 dollars) sustained for four years (shared/data/reference/STUDY_FACTS.md).
JACKSON_MACKEVICIUS_SD_PER_1000 = 0.0316
#: Student standard deviations per SEDA grade level (about a third: NAEP grade 4-8 gains of 43-46 points
#: over four grades against SDs of 30-38 points); the impact chapter uses the same approximation.
SD_PER_GRADE_LEVEL = 1.0 / 3.0
#: The benchmark's dollars.
BENCHMARK_DOLLAR_YEAR = 2018

#: Specifications, by key: label shown in tables and prose.
SPECS: dict[str, str] = {
    "trends": "district and year effects plus a linear trend per district (preferred)",
    "twfe": "district and year effects only",
}

#: Colours of the groups in the figures.
GROUP_COLORS = {
    money.COHORT_LABELS[2013]: "#b2182b",
    money.COHORT_LABELS[2018]: "#ef8a62",
    money.COHORT_LABELS[2023]: "#fddbc7",
    money.OTHER_GROUP: "#2166ac",
}


@dataclass
class MoneyResults:
    """Everything the chapter shows, computed once."""

    money: pd.DataFrame
    series: pd.DataFrame
    changes: pd.DataFrame
    pass_through: dict[str, Estimate]
    event: pd.DataFrame
    pretrend: dict[str, float]
    crowd_out: dict[str, CrowdOut]
    dose: dict[str, DoseResult]
    revenue_checks: pd.DataFrame
    deflator_2018: float
    names: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def compute(
    panel: pd.DataFrame,
    cpi: pd.DataFrame,
    revenue_checks: pd.DataFrame | None = None,
    start_year: int = 2006,
    end_year: int = 2025,
    change_start: int = 2012,
    change_end: int = 2024,
    event_window: tuple[int, int] = (-5, 10),
    outcome: str = "seda_gcs_eb",
) -> MoneyResults:
    """Run every analysis of the chapter on the panel (years ``start_year``-``end_year``)."""
    frame = panel.loc[panel["year"].between(start_year, end_year)]
    m = money.money_panel(frame, cpi)
    series = pd.concat(
        [
            money.group_series(m, real=True).assign(dollars="2025"),
            money.group_series(m, real=False).assign(dollars="nominal"),
        ],
        ignore_index=True,
    )
    changes = money.change_table(m, change_start, change_end)
    last = min(end_year, 2024)  # the ECS file (Alliance dollars) ends in FY2024
    pt = {
        "twfe": money.pass_through(m, end=last),
        "trends": money.pass_through(m, end=last, unit_trends=True),
        "trends_other_ecs": money.pass_through(
            m, start=2012, end=last, control_other_ecs=True, unit_trends=True
        ),
    }
    event, pre = money.spending_event_study(m, window=event_window)
    co = {
        "trends": money.crowd_out(m, end=last, unit_trends=True),
        "twfe": money.crowd_out(m, end=last),
        "trends_amounts": money.crowd_out(m, end=last, amounts_only=True, unit_trends=True),
        "twfe_amounts": money.crowd_out(m, end=last, amounts_only=True),
    }
    doses = money.dose_frame(m, frame, outcome)
    dose = {
        "trends": money.dose_response(doses, outcome, unit_trends=True),
        "twfe": money.dose_response(doses, outcome),
    }
    deflator = cpi.set_index("year")["deflator_2025"]
    checks = revenue_checks if revenue_checks is not None else pd.DataFrame()
    names = dict(zip(panel["district_code"], panel["district_name"], strict=True))
    return MoneyResults(
        m,
        series,
        changes,
        pt,
        event,
        pre,
        co,
        dose,
        checks,
        float(deflator.get(BENCHMARK_DOLLAR_YEAR, np.nan)),
        names,
        {
            "start_year": start_year,
            "end_year": end_year,
            "change_start": change_start,
            "change_end": change_end,
            "outcome": outcome,
        },
    )


# --- verdict rules ---------------------------------------------------------------------------------------


def _interval(e: Estimate, digits: int = 2, unit: str = "") -> str:
    return f"{e.estimate:.{digits}f}{unit} (95% interval {e.ci_low:.{digits}f} to {e.ci_high:.{digits}f})"


def pass_through_class(e: Estimate) -> str:
    """How much of each Alliance dollar reached spending, classed by the estimate's 95% interval.

    Above 1 ("more than dollar for dollar"), containing 1 but not 0 ("consistent with the whole grant"),
    between 0 and 1 ("partial"), containing 0 ("not distinguishable from none"), below 0 ("negative").
    """
    lo, hi = e.ci_low, e.ci_high
    if lo > 1:
        return "more than dollar for dollar: spending rose by more than the Alliance grant"
    if lo > 0 and hi >= 1:
        return "consistent with the whole grant reaching spending"
    if lo > 0:
        return "partial: part of each Alliance dollar did not show up as spending"
    if hi >= 0:
        return "not distinguishable from no pass-through at all"
    return "negative: spending fell as Alliance dollars rose"


def intervals_disagree(a: Estimate, b: Estimate) -> bool:
    """True when the two 95% intervals do not overlap."""
    return a.ci_high < b.ci_low or a.ci_low > b.ci_high


def pass_through_sentence(preferred: Estimate, plain: Estimate) -> str:
    """What the pass-through estimates say, by rule.

    The preferred estimate is classed by :func:`pass_through_class`. If the plain two-way estimate's
    interval does not overlap the preferred one, the sentence says the answer depends on the trend.
    """
    text = (
        f"Each additional Alliance dollar per pupil went with {_interval(preferred)} dollars of additional "
        f"net current expenditure per pupil, {pass_through_class(preferred)}."
    )
    if intervals_disagree(plain, preferred):
        text += (
            f" Without district trends the estimate is {_interval(plain)}: the answer depends on "
            "how the designated districts' earlier decline is carried forward."
        )
    return text


def crowd_out_sentence(
    preferred: Estimate, others: Mapping[str, Estimate], rule_out: float = money.RULE_OUT_CROWD_OUT
) -> str:
    """The verdict on "reductions in local funding", by the rule of
    :func:`~alliance_study.analysis.money.crowd_out_verdict`.

    ``others`` are the same coefficient under other specifications (label -> estimate); when any reaches a
    different verdict, the sentence names it.
    """
    verdict = money.crowd_out_verdict(preferred, rule_out)
    cents = f"{100 * rule_out:.0f} cents"
    head = f"Local revenue per pupil moved by {_interval(preferred)} dollars per Alliance dollar."
    if verdict == "supported":
        body = " The data support the account: local revenue fell as Alliance dollars rose."
    elif verdict == "rejected":
        body = (
            f" The data reject the account: the interval rules out local cuts of more than {cents} per "
            "Alliance dollar."
        )
    else:
        body = (
            f" The data cannot settle the account: the interval includes both no cut and cuts of more "
            f"than {cents} per Alliance dollar."
        )
    power = (
        f" With this design a local response of {preferred.mde:.2f} dollars per Alliance dollar would be "
        "detected with 80% power (the minimum detectable effect)."
    )
    differ = [
        f"{label} ({money.crowd_out_verdict(e, rule_out)}: {_interval(e)})"
        for label, e in others.items()
        if money.crowd_out_verdict(e, rule_out) != verdict
    ]
    tail = (
        (" Other specifications disagree: " + "; ".join(differ) + ".")
        if differ
        else (" The other specifications reach the same verdict.")
    )
    return head + body + power + tail


def instrument_usable(result: DoseResult) -> tuple[bool, str]:
    """Whether the Alliance-dollar instrument may be used, and why not when it may not.

    Usable when the first-stage F reaches 10, Alliance dollars raise spending (a positive first stage: the
    instrument works through spending, not through whatever else moved with designation), and future
    spending does not predict today's outcome (lead p-value at least 0.05).
    """
    if result.first_stage_f < money.within.WEAK_IV_F:
        return False, f"the first stage is weak (F = {result.first_stage_f:.1f}, below 10)"
    if result.first_stage.estimate <= 0:
        return False, (
            f"the first stage has the wrong sign (spending moved {result.first_stage.estimate:.2f} "
            "dollars per Alliance dollar), so the instrument picks up the districts' trends"
        )
    if result.lead.p_value < 0.05:
        return False, f"future spending predicts today's scores (p = {result.lead.p_value:.3f})"
    return True, ""


def benchmark_effect(e: Estimate, deflator_2018: float) -> tuple[float, float, float]:
    """An effect per $1,000 (2025 dollars, SEDA grade levels) in SD per $1,000 of 2018 dollars, with CI."""
    f = SD_PER_GRADE_LEVEL
    return tuple(money.per_benchmark_dollars(v, f, deflator_2018) for v in (e.estimate, e.ci_low, e.ci_high))


def dose_sentence(result: DoseResult, deflator_2018: float) -> str:
    """The dose-response finding against the Jackson-Mackevicius benchmark, by rule."""
    usable, why = instrument_usable(result)
    e = result.iv_spending if usable else result.ols_spending
    how = "instrumented by Alliance dollars" if usable else f"by OLS (the instrument is not used: {why})"
    b, lo, hi = benchmark_effect(e, deflator_2018)
    jm = JACKSON_MACKEVICIUS_SD_PER_1000
    if lo > jm:
        cmp = "larger than"
    elif hi < jm:
        cmp = "smaller than"
    else:
        cmp = "consistent with"
    zero = "and distinguishable from zero" if lo > 0 or hi < 0 else "and not distinguishable from zero"
    return (
        f"Estimated {how}, $1,000 more per pupil in spending over four years went with {b:.3f} SD in "
        f"test scores (95% interval {lo:.3f} to {hi:.3f}, in 2018 dollars), {cmp} the Jackson-Mackevicius "
        f"benchmark of {jm} SD {zero}."
    )


def pretrend_sentence(pretrend: Mapping[str, float]) -> str:
    """Whether the event study's pre-designation coefficients are jointly zero (5% test)."""
    if pretrend["p"] < 0.05:
        return (
            f"Before designation the designated districts' spending was already moving relative to the "
            f"others (joint test of the {int(pretrend['q'])} earlier years: p = {pretrend['p']:.4f}), so "
            "the plain comparison is not credible without district trends."
        )
    return (
        f"Before designation the two groups' spending moved in parallel (joint test of the "
        f"{int(pretrend['q'])} earlier years: p = {pretrend['p']:.2f})."
    )


# --- facts, tables, figures ------------------------------------------------------------------------------


def _dollars(value: float | None) -> str:
    """``$1,234`` or ``-$1,234``; "not available" for a missing value."""
    if value is None or not np.isfinite(value):
        return "not available"
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def crowd_out_others(r: MoneyResults) -> dict[str, Estimate]:
    """The crowd-out coefficient under the specifications other than the preferred one, by label."""
    return {
        "without district trends": r.crowd_out["twfe"].alliance,
        "amounts years only, with trends": r.crowd_out["trends_amounts"].alliance,
        "amounts years only, without trends": r.crowd_out["twfe_amounts"].alliance,
    }


def facts(r: MoneyResults) -> dict[str, str]:
    """Every number and sentence the chapter's prose shows, formatted (name -> text)."""
    ch = r.changes.set_index(["group", "measure"])
    a13, oth = money.COHORT_LABELS[2013], money.OTHER_GROUP
    out: dict[str, str] = {
        "n_districts": str(r.money["district_code"].nunique()),
        "n_alliance": str(r.money.loc[r.money["cohort"].notna(), "district_code"].nunique()),
        "n_shared_region": str(len(money.SHARED_REGION_TOWNS)),
        "change_start": str(r.params["change_start"]),
        "change_end": str(r.params["change_end"]),
        "n_revenue_flagged": str(
            int((r.revenue_checks.get("check", pd.Series(dtype=str)) == "amounts add to Total").sum())
        ),
        "pretrend_sentence": pretrend_sentence(r.pretrend),
        "pass_through_sentence": pass_through_sentence(r.pass_through["trends"], r.pass_through["twfe"]),
        "crowd_out_sentence": crowd_out_sentence(r.crowd_out["trends"].alliance, crowd_out_others(r)),
        "crowd_out_verdict": money.crowd_out_verdict(r.crowd_out["trends"].alliance),
        "dose_sentence": dose_sentence(r.dose["trends"], r.deflator_2018),
        "dose_sentence_twfe": dose_sentence(r.dose["twfe"], r.deflator_2018),
        "first_stage_f": f"{r.dose['trends'].first_stage_f:.1f}",
        "first_stage_f_twfe": f"{r.dose['twfe'].first_stage_f:.1f}",
        "benchmark": f"{JACKSON_MACKEVICIUS_SD_PER_1000}",
        "deflator_2018": f"{r.deflator_2018:.3f}",
        "rule_out_cents": f"{100 * money.RULE_OUT_CROWD_OUT:.0f}",
    }
    for key, e in r.pass_through.items():
        out[f"pt_{key}"] = f"{e.estimate:.2f}"
        out[f"pt_{key}_ci"] = f"{e.ci_low:.2f} to {e.ci_high:.2f}"
    for key, c in r.crowd_out.items():
        out[f"co_{key}"] = f"{c.alliance.estimate:.2f}"
        out[f"co_{key}_ci"] = f"{c.alliance.ci_low:.2f} to {c.alliance.ci_high:.2f}"
        out[f"co_{key}_mde"] = f"{c.alliance.mde:.2f}"
    for measure in ("spending_pp", "alliance_pp", "local_pp", "state_pp"):
        for label, group in (("a13", a13), ("other", oth)):
            for col in ("start", "end", "change"):
                value = (
                    ch["change"].get((group, measure)) if col == "change" else ch[col].get((group, measure))
                )
                out[f"{measure}_{label}_{col}"] = _dollars(value)
    return out


def glue_facts(r: MoneyResults) -> dict[str, str]:
    """Glue every fact of :func:`facts` (returns them)."""
    from alliance_study.chapters import display

    shown = facts(r)
    for name, text in shown.items():
        display.glue(name, text)
    return shown


def estimates_table(r: MoneyResults) -> pd.DataFrame:
    """Pass-through and crowd-out estimates under each specification, for display."""
    rows = []
    for key, e in r.pass_through.items():
        rows.append(("Pass-through: spending per Alliance dollar", key, e))
    for key, c in r.crowd_out.items():
        rows.append(("Crowd-out: local revenue per Alliance dollar (Alliance districts)", key, c.alliance))
        rows.append(("Local revenue per other ECS dollar (Alliance districts)", key, c.other_aid_alliance))
        rows.append(("Local revenue per ECS dollar (other districts)", key, c.other_aid_others))
    labels = {
        "twfe": "district and year effects",
        "trends": "with district trends",
        "trends_other_ecs": "with district trends, other ECS aid held fixed",
        "trends_amounts": "with district trends, amounts years only",
        "twfe_amounts": "district and year effects, amounts years only",
    }
    return pd.DataFrame(
        [
            {
                "Quantity": q,
                "Specification": labels[k],
                "Estimate": f"{e.estimate:.2f}",
                "95% interval": f"{e.ci_low:.2f} to {e.ci_high:.2f}",
                "MDE": f"{e.mde:.2f}",
                "Years": e.years,
                "Districts": e.n_clusters,
            }
            for q, k, e in rows
        ]
    )


def dose_table(r: MoneyResults) -> pd.DataFrame:
    """Dose-response estimates (grade levels and SD per $1,000), both specifications."""
    rows = []
    for key, d in r.dose.items():
        for e in (d.ols_spending, d.ols_state_aid, d.iv_spending, d.lead):
            b, lo, hi = benchmark_effect(e, r.deflator_2018)
            rows.append(
                {
                    "Specification": SPECS[key].split(" (")[0],
                    "Estimate": e.name,
                    "Grade levels per $1,000": f"{e.estimate:.3f}",
                    "95% interval": f"{e.ci_low:.3f} to {e.ci_high:.3f}",
                    "SD per $1,000 (2018 $)": f"{b:.3f}",
                    "SD interval": f"{lo:.3f} to {hi:.3f}",
                    "Years": e.years,
                }
            )
        rows.append(
            {
                "Specification": SPECS[key].split(" (")[0],
                "Estimate": "first-stage F",
                "Grade levels per $1,000": f"{d.first_stage_f:.1f}",
                "95% interval": f"first stage {d.first_stage.estimate:.2f}",
                "SD per $1,000 (2018 $)": "",
                "SD interval": "",
                "Years": d.first_stage.years,
            }
        )
    return pd.DataFrame(rows)


def flagged_revenue_table(r: MoneyResults) -> pd.DataFrame:
    """The revenue rows kept although their amounts do not add up (from the build's ``revenue_checks``)."""
    c = r.revenue_checks
    if c.empty:
        return pd.DataFrame(columns=["District", "Fiscal year", "Check", "Parts", "Total", "Gap"])
    return pd.DataFrame(
        {
            "District": c["district_code"].map(r.names).fillna(c["district_code"]),
            "Fiscal year": c["year"],
            "Check": c["check"],
            "Parts": c["parts"].map(lambda v: f"{v:,.1f}"),
            "Total": c["total"].map(lambda v: f"{v:,.1f}"),
            "Gap": c["gap"].map(lambda v: f"{v:,.1f}"),
        }
    )


def _mark_years(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axvline(money.DESIGNATION_YEAR - 0.5, color="#444444", linestyle="--", linewidth=0.9)
    ax.axvline(money.BREAK_YEAR, color="#999999", linestyle=":", linewidth=0.9)


def series_figure(
    r: MoneyResults,
    measures: tuple[str, ...] = (
        "spending_pp",
        "alliance_pp",
        "local_pp",
        "state_pp",
        "federal_pp",
        "revenue_pp",
    ),
    dollars: str = "2025",
):
    """Per-pupil money by group and year (pupil-weighted), one panel per measure; FY2013 and FY2021 marked."""
    import matplotlib.pyplot as plt

    s = r.series.loc[r.series["dollars"] == dollars]
    # House style: at most 9.5 in wide and no text under 10 pt (display.MIN_FONT_PT), so two columns.
    ncols = 2
    nrows = int(np.ceil(len(measures) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(9.5, 3.0 * nrows + 0.8), squeeze=False)
    for ax, m in zip(axes.ravel(), measures, strict=False):
        for group, color in GROUP_COLORS.items():
            part = s[(s["measure"] == m) & (s["group"] == group)].sort_values("year")
            ax.plot(part["year"], part["value"], marker="o", markersize=2.5, color=color, label=group)
        _mark_years(ax)
        ax.set_title(money.MEASURES[m], fontsize=11)
        ax.set_ylabel("nominal dollars" if dollars == "nominal" else "2025 dollars", fontsize=10)
    for ax in axes.ravel()[len(measures) :]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def event_figure(r: MoneyResults):
    """Event study of spending per pupil around designation (FY2013 cohort vs never designated)."""
    import matplotlib.pyplot as plt

    t = r.event
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.errorbar(
        t["event"],
        t["estimate"],
        yerr=[t["estimate"] - t["ci_low"], t["ci_high"] - t["estimate"]],
        fmt="o",
        color=GROUP_COLORS[money.COHORT_LABELS[2013]],
        capsize=3,
    )
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.axvline(-0.5, color="#444444", linestyle="--", linewidth=0.9)
    ax.set_xlabel("years since designation (0 = FY2013; the last point pools later years)")
    ax.set_ylabel("2025 dollars per pupil, relative to FY2012")
    fig.tight_layout()
    return fig


# --- the district profile --------------------------------------------------------------------------------

PROFILE_MEASURES = ("spending_pp", "alliance_pp", "local_pp", "state_pp")


def district_money_table(money_panel: pd.DataFrame, district_code: str, real: bool = True) -> pd.DataFrame:
    """One district's spending and revenue per pupil next to its Alliance dollars, by fiscal year."""
    d = money_panel.loc[money_panel["district_code"] == district_code].sort_values("year")
    suffix = "_real" if real else ""
    out = pd.DataFrame({"Fiscal year": d["year"].to_numpy()})
    for m in PROFILE_MEASURES:
        out[money.MEASURES[m]] = [("" if pd.isna(v) else f"{v:,.0f}") for v in d[f"{m}{suffix}"]]
    return out


def district_money_figure(money_panel: pd.DataFrame, district_code: str, real: bool = True):
    """One district's spending, Alliance dollars, local and state revenue per pupil over time."""
    import matplotlib.pyplot as plt

    d = money_panel.loc[money_panel["district_code"] == district_code].sort_values("year")
    suffix = "_real" if real else ""
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = {
        "spending_pp": "#333333",
        "alliance_pp": "#b2182b",
        "local_pp": "#2166ac",
        "state_pp": "#1b7837",
    }
    for m in PROFILE_MEASURES:
        ax.plot(
            d["year"], d[f"{m}{suffix}"], marker="o", markersize=2.5, color=colors[m], label=money.MEASURES[m]
        )
    _mark_years(ax)
    ax.set_ylabel("2025 dollars per pupil" if real else "dollars per pupil")
    ax.legend(fontsize=10)
    fig.tight_layout()
    return fig


def profile_money_figure(panel: pd.DataFrame, cpi: pd.DataFrame, district_code: str, real: bool = True):
    """The profile page's money lines: :func:`district_money_figure` on the district's money panel."""
    one = panel.loc[panel["district_code"] == str(district_code)]
    return district_money_figure(money.money_panel(one, cpi), str(district_code), real=real)

"""The plan report: a district's plan file(s) -> practice metrics, the district's record, verdict prose.

``alliance-study plan-report`` executes the report notebook (``alliance_study/book/plan_report.ipynb``),
which calls :func:`build_report` once and then one ``show_*`` function per section. Each section glues its
numbers (myst-nb ``glue``, stored in the executed notebook) and displays the same numbers as prose, a table
or a figure, so the standalone HTML page reads like a chapter. Prose comes from the rule functions
(:func:`persistence_sentence`, :func:`coupling_sentence`, ...), which are unit-tested on given numbers.

Nothing here touches the disk: the notebook reads the files and passes frames in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from alliance_study.analysis.plans import metrics, planfile, reliability
from alliance_study.analysis.plans.codebook import Codebook
from alliance_study.chapters import display

#: Panel measures shown next to the plan, with their labels (outcomes, spending, Alliance money).
DISTRICT_MEASURES: dict[str, str] = {
    "seda_gcs_eb": "Achievement, grades 3-8 (SEDA, grade levels vs national)",
    "grad_rate": "Four-year graduation rate (%)",
    "chronic_absent_rate": "Chronic absenteeism (%)",
    "ppe_total": "Spending per pupil ($)",
    "alliance_dollars_per_pupil": "Alliance dollars per pupil ($)",
}

#: Metrics compared with the public-record districts: column -> label.
PRACTICE_METRICS: dict[str, str] = {
    "n_plan_years": "Plan years",
    "mean_per_year": "Interventions per year",
    "n_distinct": "Distinct interventions",
    "carryover": "Carryover",
    "jaccard": "Jaccard",
    "coupling_rate": "Coupling rate",
    "dual_monitoring_rate": "Dual-monitoring rate",
    "smart_goal_rate": "Measurable-target rate",
}

#: Fewest units a rate must rest on before the report states it without a warning (a rate of 1 of 2 is
#: noise; five is a conventional minimum for reporting a share).
MIN_UNITS = 5


@dataclass
class PlanReport:
    """Everything one report shows (built by :func:`build_report`)."""

    district_code: str
    district_name: str
    files: list[str]
    plans: dict[str, pd.DataFrame]
    records: pd.DataFrame
    coded: pd.DataFrame
    district: pd.Series
    yearly: pd.DataFrame
    core: pd.DataFrame
    outcomes: pd.DataFrame
    rank: dict[str, object]
    comparison: pd.DataFrame
    reliability: pd.DataFrame | None
    suggestions: pd.DataFrame
    suggestion_summary: planfile.SuggestionSummary
    notes: list[str] = field(default_factory=list)

    @property
    def coders(self) -> list[str]:
        return sorted(self.records["coder"].unique())


def _district_outcomes(panel: pd.DataFrame, district_code: str) -> pd.DataFrame:
    rows = panel.loc[panel["district_code"] == district_code, ["year", *DISTRICT_MEASURES]]
    return rows.sort_values("year").reset_index(drop=True)


def improvement_rank(ranking: pd.DataFrame | None, district_code: str) -> dict[str, object]:
    """The district's row of an improvement composite table (``district_code``, ``rank_eb``, ``eb``), or
    ``{"ranked": False}`` when it is not among the ranked districts (or no table was given)."""
    if ranking is None or district_code not in set(ranking["district_code"]):
        return {"ranked": False, "n_ranked": 0 if ranking is None else len(ranking)}
    row = ranking.loc[ranking["district_code"] == district_code].iloc[0]
    return {"ranked": True, "rank": int(row["rank_eb"]), "n_ranked": len(ranking), "score": float(row["eb"])}


def build_report(
    plans: Mapping[str, pd.DataFrame],
    codebook: Codebook,
    panel: pd.DataFrame,
    public_records: pd.DataFrame,
    ranking: pd.DataFrame | None = None,
) -> PlanReport:
    """Validate the plan files, compute the metrics and gather the district's record.

    Parameters
    ----------
    plans
        File name -> plan frame as read (:func:`alliance_study.analysis.plans.io.read_plan_frame`). Two
        files of the same plan (two coders) give the reliability table; a file whose ``coder`` cells are
        blank is coded by its file stem when there are several files.
    codebook
        The codebook.
    panel
        The district-year panel (outcomes, spending, Alliance money).
    public_records
        The public plan facts' coding records
        (:func:`alliance_study.analysis.plans.public.code_public_facts`).
    ranking
        The improvement composite table (``district_code``, ``rank_eb``, ``eb``), or None.

    Raises
    ------
    PlanFileError
        From validation, naming the file, row and column; or when the files describe different districts.
    """
    known = set(panel["district_code"])
    validated: dict[str, pd.DataFrame] = {}
    for name, frame in plans.items():
        plan = planfile.validate_plan(frame, codebook, known, display=name)
        if len(plans) > 1 and set(plan["coder"]) == {planfile.DEFAULT_CODER}:
            plan["coder"] = name.rsplit(".", 1)[0]
        validated[name] = plan
    districts = {p["district_code"].iloc[0] for p in validated.values()}
    if len(districts) > 1:
        raise planfile.PlanFileError(
            ", ".join(validated), f"the files describe different districts: {sorted(districts)}"
        )
    code = districts.pop()
    everything = pd.concat(validated.values(), ignore_index=True)
    records = planfile.to_records(everything, codebook, source=", ".join(validated))
    coded = metrics.consensus(records) if records["coder"].nunique() > 1 else records
    district = metrics.district_metrics(coded).iloc[0]
    names = panel.loc[panel["district_code"] == code].dropna(subset=["district_name"])
    name = str(names.sort_values("year")["district_name"].iloc[-1]) if len(names) else code
    public = metrics.district_metrics(public_records)
    public = public.loc[public["district_code"] != code]
    this = metrics.district_metrics(coded).assign(district_name=f"{name} (this plan)")
    comparison = pd.concat([this, public], ignore_index=True)
    rel = reliability.reliability_table(records) if records["coder"].nunique() > 1 else None
    suggestions = pd.concat(
        [planfile.suggest_for_plan(p, codebook) for p in validated.values()], ignore_index=True
    )
    first = next(iter(validated.values()))
    notes = []
    years = sorted(coded["plan_year_start"].unique())
    gaps = [planfile.plan_year_label(y) for y in range(years[0], years[-1] + 1) if y not in years]
    if gaps:
        notes.append(f"no strategies recorded for {', '.join(gaps)}: persistence skips the gap")
    return PlanReport(
        district_code=code,
        district_name=name,
        files=list(validated),
        plans=validated,
        records=records,
        coded=coded,
        district=district,
        yearly=metrics.yearly_metrics(coded),
        core=metrics.core_interventions(coded),
        outcomes=_district_outcomes(panel, code),
        rank=improvement_rank(ranking, code),
        comparison=comparison,
        reliability=rel,
        suggestions=suggestions,
        suggestion_summary=planfile.summarize_suggestions(
            first, suggestions.loc[suggestions["row"].isin(first["row"])] if len(suggestions) else suggestions
        ),
        notes=notes,
    )


# --- prose rules ------------------------------------------------------------------------------------------


def _share(value: float) -> str:
    return f"{value:.0%}"


def persistence_sentence(carryover: float, n_pairs: int, n_core: int, n_distinct: int) -> str:
    """Verdict on persistence of the core across years."""
    if n_pairs == 0 or (isinstance(carryover, float) and math.isnan(carryover)):
        return (
            "Persistence cannot be measured: the plan has no two adjacent plan years with strategies. "
            "Add next year's plan to the same file to see what carries over."
        )
    level = "most" if carryover >= 0.67 else "about half" if carryover >= 0.4 else "a minority"
    core = (
        f"{n_core} of its {n_distinct} distinct interventions form a core kept in most plan years"
        if n_core
        else f"none of its {n_distinct} distinct interventions appears in most plan years"
    )
    return (
        f"On average {_share(carryover)} of one year's interventions carried over to the next "
        f"({level}), over {n_pairs} pair{'s' if n_pairs != 1 else ''} of adjacent plan years; {core}."
    )


def rate_sentence(what: str, rate: float, n: int, absent: str) -> str:
    """Verdict on a rate resting on ``n`` units: not measurable (n = 0), stated with a warning (n below
    :data:`MIN_UNITS`), or stated."""
    if n == 0 or (isinstance(rate, float) and math.isnan(rate)):
        return f"The {what} cannot be computed: {absent}."
    warn = f" That rests on only {n} strategies: read it as an anecdote, not a rate." if n < MIN_UNITS else ""
    return f"The {what} is {_share(rate)} ({round(rate * n)} of {n} strategies).{warn}"


def coupling_sentence(rate: float, n: int) -> str:
    """Verdict on coupling with capacity building."""
    return rate_sentence(
        "coupling rate (strategies paired with a capacity-building activity, among those "
        "that are not themselves capacity building)",
        rate,
        n,
        "every strategy is itself capacity building or its coupling is not stated",
    )


def monitoring_sentence(rate: float, n: int) -> str:
    """Verdict on dual monitoring (implementation and outcome measures)."""
    return rate_sentence(
        "dual-monitoring rate (strategies with both an implementation and a student-outcome measure)",
        rate,
        n,
        "no strategy states whether it has the measures",
    )


def rank_sentence(rank: Mapping[str, object], name: str) -> str:
    """Where the district stands in the book's improvement ranking."""
    if not rank.get("ranked"):
        return (
            f"{name} is not among the districts the book ranks by improvement (the first Alliance cohort "
            "with enough outcome data), so no rank is shown."
        )
    return (
        f"In the book's improvement ranking (empirical-Bayes composite, 1 = most improved relative to "
        f"peers) {name} ranks {rank['rank']} of {rank['n_ranked']}."
    )


def comparison_sentence(comparison: pd.DataFrame, column: str, label: str) -> str:
    """How the plan's value of one metric compares with the public-record districts'."""
    this = comparison.iloc[0][column]
    others = comparison.iloc[1:][column].dropna()
    if pd.isna(this) or others.empty:
        return f"{label}: no comparison (missing for this plan or for every public-record district)."
    above = int((others < this).sum())
    return (
        f"{label}: {this:.2f} for this plan, above {above} of the {len(others)} public-record districts "
        f"with a value (their range {others.min():.2f}-{others.max():.2f})."
    )


def reliability_sentence(overall: pd.Series) -> str:
    """Verdict on two coders' agreement, against Krippendorff's thresholds."""
    alpha = overall["alpha"]
    if pd.isna(alpha):
        return "Agreement cannot be computed: the coders share no plan year."
    verdict = (
        "reliable enough to draw conclusions"
        if alpha >= reliability.ALPHA_RELIABLE
        else "enough only for tentative conclusions"
        if alpha >= reliability.ALPHA_TENTATIVE
        else "too low: discuss the disagreements before using the codes"
    )
    return (
        f"Over all codes, Cohen's kappa is {overall['kappa']:.2f} and Krippendorff's alpha "
        f"{alpha:.2f}: {verdict} (Krippendorff asks for alpha of at least "
        f"{reliability.ALPHA_RELIABLE:.3f}, {reliability.ALPHA_TENTATIVE:.3f} for tentative conclusions)."
    )


def suggestion_sentence(summary: planfile.SuggestionSummary) -> str:
    """What the team did with the assisted-coding suggestions."""
    if summary.n_suggested == 0:
        return "The keyword coder found no codebook keyword in the strategies' text, so it suggested nothing."
    reviewed = summary.n_accepted + summary.n_rejected
    verdicts = (
        f"The team accepted {summary.n_accepted} and rejected {summary.n_rejected} of the suggestions "
        f"it reviewed"
        if reviewed
        else "The team has not yet recorded a verdict on any suggestion (column accepted)"
    )
    return (
        f"The keyword coder suggested codes for {summary.n_suggested} of {summary.n_rows} strategies; for "
        f"{summary.n_agree} the team's code is among the suggestions. {verdicts}."
    )


# --- sections (called from the report notebook) -----------------------------------------------------------


def _say(text: str) -> None:
    from IPython.display import Markdown
    from IPython.display import display as show

    show(Markdown(text))


def _table(frame: pd.DataFrame, float_format: str = ",.2f") -> None:
    _say(display.markdown_table(frame, float_format=float_format))


def show_summary(report: PlanReport) -> None:
    """Title facts: district, files, plan years, strategies."""
    d = report.district
    display.glue("district_name", report.district_name)
    display.glue("n_plan_years", int(d["n_plan_years"]))
    display.glue("n_strategies", int(sum(len(p) for p in report.plans.values())))
    _say(
        f"# Plan report: {report.district_name} ({report.district_code})\n\n"
        f"Files: {', '.join(report.files)}; coders: {', '.join(report.coders)}. The plan has "
        f"{int(d['n_plan_years'])} plan years ({d['plan_years']}) and {int(d['n_interventions'])} "
        f"intervention-years after strategies sharing a code were merged."
        + "".join(f"\n\nNote: {n}." for n in report.notes)
    )


def show_metrics(report: PlanReport) -> None:
    """The four practices: persistence, focus, coupling, dual monitoring; table and figure by year."""
    d = report.district
    n_core = int(report.core["core"].sum())
    for name in ("carryover", "jaccard", "coupling_rate", "dual_monitoring_rate", "mean_per_year"):
        display.glue_number(name, d[name], ".2f")
    display.glue("n_core", n_core)
    _say(
        "## The plan's practices\n\n"
        + " ".join(
            [
                persistence_sentence(d["carryover"], int(d["n_pairs"]), n_core, int(d["n_distinct"])),
                f"Focus: {d['mean_per_year']:.1f} interventions per plan year, "
                f"{int(d['n_distinct'])} distinct over all "
                "years (fewer is more focused).",
                coupling_sentence(d["coupling_rate"], int(d["n_coupling"])),
                monitoring_sentence(d["dual_monitoring_rate"], int(d["n_monitoring"])),
            ]
        )
    )
    table = report.yearly.rename(
        columns={
            "plan_year": "Plan year",
            "n_interventions": "Interventions",
            "carryover": "Carryover",
            "jaccard": "Jaccard",
            "n_core": "Core",
            "coupling_rate": "Coupling",
            "dual_monitoring_rate": "Dual monitoring",
            "smart_goal_rate": "Measurable target",
        }
    )
    _table(
        table[
            [
                "Plan year",
                "Interventions",
                "Core",
                "Carryover",
                "Jaccard",
                "Coupling",
                "Dual monitoring",
                "Measurable target",
            ]
        ]
    )
    from IPython.display import display as show

    fig = metrics_figure(report.yearly)
    show(fig)
    import matplotlib.pyplot as plt

    plt.close(fig)


def metrics_figure(yearly: pd.DataFrame):
    """Interventions per year (bars) and the carryover, coupling and dual-monitoring rates (lines)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.bar(yearly["plan_year"], yearly["n_interventions"], color=display.PALETTE["district"], label="all")
    left.bar(yearly["plan_year"], yearly["n_core"], color=display.PALETTE["alliance"], label="core")
    left.set_title("Interventions per plan year")
    left.legend()
    for column, label, color in (
        ("carryover", "carryover", display.PALETTE["alliance"]),
        ("coupling_rate", "coupling", display.PALETTE["comparison"]),
        ("dual_monitoring_rate", "dual monitoring", display.PALETTE["state"]),
    ):
        right.plot(yearly["plan_year"], yearly[column], marker="o", label=label, color=color)
    right.set_ylim(-0.05, 1.05)
    right.set_title("Rates by plan year (gaps: not measurable)")
    right.legend()
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def show_district(report: PlanReport) -> None:
    """The district's own outcomes, spending and improvement rank from the panel, plan years marked."""
    display.glue("improvement_rank", report.rank.get("rank", "not ranked"))
    outcomes = report.outcomes
    latest = []
    for column, label in DISTRICT_MEASURES.items():
        values = outcomes.dropna(subset=[column])
        if len(values):
            last = values.iloc[-1]
            latest.append(f"{label}: {last[column]:,.2f} in {int(last['year'])}")
    _say(
        "## The district's record\n\n"
        + rank_sentence(report.rank, report.district_name)
        + " Latest values: "
        + ("; ".join(latest) if latest else "none in the panel")
        + "."
    )
    import matplotlib.pyplot as plt
    from IPython.display import display as show

    fig = district_figure(outcomes, report.yearly["plan_year_start"].tolist())
    show(fig)
    plt.close(fig)


def district_figure(outcomes: pd.DataFrame, plan_starts: list[int]):
    """One small panel per measure over the years; the plan's years (spring years) shaded."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    measures = [c for c in DISTRICT_MEASURES if outcomes[c].notna().any()] or list(DISTRICT_MEASURES)[:1]
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 3.2), squeeze=False)
    for ax, column in zip(axes[0], measures, strict=True):
        for start in plan_starts:
            ax.axvspan(start + 0.5, start + 1.5, color=display.PALETTE["other"], alpha=0.3, lw=0)
        ax.plot(outcomes["year"], outcomes[column], marker=".", color=display.PALETTE["district"])
        ax.set_title(DISTRICT_MEASURES[column], fontsize=9, wrap=True)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    fig.tight_layout()
    return fig


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The plan and the public-record districts, one row each, metric labels as columns."""
    out = comparison[["district_name", *PRACTICE_METRICS]].rename(
        columns={"district_name": "District", **PRACTICE_METRICS}
    )
    return out


def show_comparison(report: PlanReport) -> None:
    """The plan's practices next to the public-record districts'."""
    cmp = report.comparison
    display.glue("n_public_districts", len(cmp) - 1)
    _say(
        "## Compared with the public-record districts\n\nThe public record holds plan facts for "
        f"{len(cmp) - 1} other districts, most for one or two plan years and with monitoring rarely "
        "stated, so "
        "the comparison places the plan among few, thinly covered districts. "
        + " ".join(
            comparison_sentence(cmp, c, PRACTICE_METRICS[c])
            for c in ("carryover", "coupling_rate", "dual_monitoring_rate")
        )
    )
    _table(comparison_table(cmp))


def show_strategies(report: PlanReport) -> None:
    """Every strategy with its code, measures, targets, coupled activity and what happened."""
    plan = pd.concat(report.plans.values(), ignore_index=True)
    _say("## The strategies\n\nEvery strategy as the file records it (row = the file's row).")
    _table(
        plan[
            [
                "row",
                "coder",
                "plan_year",
                "intervention",
                "strategy",
                "implementation_measure",
                "implementation_target",
                "outcome_measure",
                "outcome_target",
                "capacity_building",
                "what_happened",
            ]
        ].rename(columns={"row": "Row", "plan_year": "Plan year"})
    )


def show_reliability(report: PlanReport) -> None:
    """Cohen's kappa and Krippendorff's alpha when two coders' files of the plan were given."""
    if report.reliability is None:
        _say(
            "## Agreement between coders\n\nOne coder: give a second coder's file of the same plan "
            "(`alliance-study plan-report a.csv b.csv`) to see Cohen's kappa and Krippendorff's alpha."
        )
        return
    overall = report.reliability.set_index("code").loc["overall"]
    display.glue_number("kappa", overall["kappa"], ".2f")
    display.glue_number("alpha", overall["alpha"], ".2f")
    _say("## Agreement between coders\n\n" + reliability_sentence(overall))
    _table(
        report.reliability.rename(
            columns={
                "code": "Code",
                "n_units": "Plan years",
                "n_coded": "Coded by either",
                "agreement": "Agreement",
                "kappa": "Cohen's kappa",
                "alpha": "Krippendorff's alpha",
            }
        )
    )


def show_suggestions(report: PlanReport) -> None:
    """Assisted-coding suggestions with their matched sentence, and which the team accepted."""
    summary = report.suggestion_summary
    display.glue("n_accepted", summary.n_accepted)
    display.glue("n_rejected", summary.n_rejected)
    _say(
        "## Assisted coding\n\n" + suggestion_sentence(summary) + " A suggestion is a starting point: "
        "write it in suggested_code, and yes or no in accepted, and the next report records the verdict "
        "(`alliance-study plan-report --suggest` fills suggested_code and suggestion_sentence for you)."
    )
    if len(report.suggestions):
        _table(
            report.suggestions[
                ["row", "plan_year", "sentence", "code", "keywords", "team_code", "accepted"]
            ].rename(columns={"row": "Row", "plan_year": "Plan year"})
        )

"""The "Using the planning tool" chapter: the template, a worked example from the public record, the report,
how to read each metric, and what the metrics can and cannot say given the coverage.

The chapter shows the report's content with the same functions the report notebook calls
(:mod:`alliance_study.chapters.plan_report`), so the book and ``alliance-study plan-report`` cannot drift
apart. Sections are :class:`~alliance_study.chapters.coding_guide.Section` objects glued with
:func:`~alliance_study.chapters.coding_guide.glue_section`.
"""

from __future__ import annotations

import pandas as pd

from alliance_study.analysis.plans import metrics, planfile
from alliance_study.analysis.plans.codebook import Codebook
from alliance_study.chapters import plan_report
from alliance_study.chapters.coding_guide import Section

#: How to read each metric and what it cannot say: metric column -> (label, reading, limits).
METRIC_GUIDE: dict[str, tuple[str, str, str]] = {
    "carryover": (
        "Carryover (persistence)",
        "Share of one plan year's interventions still in the next year's plan, averaged over adjacent years; "
        "high values mean the plan builds on a consistent core.",
        "Needs two adjacent plan years; says nothing about whether the kept interventions work, and a plan "
        "that renames a strategy under another code looks like a change.",
    ),
    "n_distinct": (
        "Distinct interventions (focus)",
        "How many different codebook interventions the plan used over all years; fewer means more focused.",
        "Depends on how finely strategies are coded; a plan file that records fewer strategies than the plan "
        "holds looks more focused than it is.",
    ),
    "coupling_rate": (
        "Coupling rate",
        "Share of strategies (not themselves capacity building) paired with a capacity-building activity.",
        "Counts that an activity is named, not its size or quality; undefined when every strategy is itself "
        "capacity building or coupling is not stated.",
    ),
    "dual_monitoring_rate": (
        "Dual-monitoring rate",
        "Share of strategies with both an implementation measure and a student-outcome measure.",
        "Counts measures that are named, not whether anyone looked at them; 'not stated' strategies are left "
        "out, so the rate can rest on few strategies.",
    ),
    "smart_goal_rate": (
        "Measurable-target rate",
        "Share of strategies whose student-outcome measure has a target.",
        "A target is not a S.M.A.R.T. goal by itself (specific, attainable, time-bound are not checked).",
    ),
}

#: Broken copies of the example that the chapter shows failing: label -> (column, value) set on one row.
BROKEN_CELLS: dict[str, tuple[str, str]] = {
    "unknown code": ("intervention", "reading_coaches"),
    "missing year": ("plan_year", ""),
    "target without measure": ("outcome_target", "80% at benchmark"),
}


def template_section(book: Codebook, district_code: str, district_name: str, years: list[str]) -> Section:
    """The template the CLI writes for the example district: its columns and its first rows."""
    template = planfile.plan_template(book, district_code, district_name, years)
    columns = pd.DataFrame(
        {
            "Column": list(planfile.PLAN_COLUMNS),
            "Required": ["yes" if c in planfile.REQUIRED_PLAN_COLUMNS else "" for c in planfile.PLAN_COLUMNS],
            "Content": [planfile.PLAN_COLUMN_DESCRIPTIONS[c] for c in planfile.PLAN_COLUMNS],
        }
    )
    head = template[["district_code", "plan_year", "domain", "strategy", "intervention"]].head(6)
    return Section(
        facts={
            "template_rows": len(template),
            "template_columns": len(planfile.PLAN_COLUMNS),
            "template_first": years[0],
            "template_last": years[-1],
            "not_stated": planfile.NOT_STATED,
        },
        tables={
            "tbl_plan_columns": columns,
            "tbl_template_head": head.rename(
                columns={
                    "district_code": "District",
                    "plan_year": "Plan year",
                    "domain": "Domain",
                    "strategy": "Strategy",
                    "intervention": "Intervention",
                }
            ),
        },
    )


def example_section(plan: pd.DataFrame) -> Section:
    """The worked example's plan file as a table."""
    shown = plan[
        [
            "plan_year",
            "strategy",
            "intervention",
            "capacity_building",
            "implementation_measure",
            "outcome_measure",
        ]
    ]
    return Section(
        facts={"example_strategies": len(plan), "example_years": plan["plan_year"].nunique()},
        tables={
            "tbl_example_plan": shown.rename(
                columns={
                    "plan_year": "Plan year",
                    "strategy": "Strategy",
                    "intervention": "Intervention",
                    "capacity_building": "Capacity building",
                    "implementation_measure": "Implementation measure",
                    "outcome_measure": "Outcome measure",
                }
            )
        },
    )


def broken_copy(plan: pd.DataFrame) -> pd.DataFrame:
    """The example with one error of each kind of :data:`BROKEN_CELLS` and a duplicated strategy."""
    broken = plan.copy().reset_index(drop=True)
    for i, (column, value) in enumerate(BROKEN_CELLS.values(), start=1):
        broken.loc[i, column] = value
    duplicate = broken.iloc[[len(broken) - 1]]
    return pd.concat([broken, duplicate], ignore_index=True)


def errors_section(plan: pd.DataFrame, book: Codebook) -> Section:
    """What validation says about a broken copy of the example: the first error and the full list."""
    problems = planfile.find_plan_problems(broken_copy(plan), book)
    try:
        planfile.validate_plan(broken_copy(plan), book, display="norwich_plan.csv")
    except planfile.PlanFileError as error:
        message = str(error)
    else:  # pragma: no cover - the copy is broken on purpose
        raise AssertionError("the broken copy validated")
    table = pd.DataFrame([{"Row": p.row, "Column": p.column, "Message": p.message} for p in problems])
    return Section(
        facts={"plan_error": message, "n_plan_problems": len(problems)}, tables={"tbl_plan_problems": table}
    )


def report_section(report: plan_report.PlanReport) -> Section:
    """The report's numbers and its verdict sentences for the example."""
    d = report.district
    n_core = int(report.core["core"].sum())
    yearly = report.yearly[
        [
            "plan_year",
            "n_interventions",
            "n_core",
            "carryover",
            "jaccard",
            "coupling_rate",
            "dual_monitoring_rate",
        ]
    ]
    return Section(
        facts={
            "example_district": report.district_name,
            "example_n_pairs": int(d["n_pairs"]),
            "example_n_core": n_core,
            "example_n_distinct": int(d["n_distinct"]),
            "example_persistence": plan_report.persistence_sentence(
                d["carryover"], int(d["n_pairs"]), n_core, int(d["n_distinct"])
            ),
            "example_coupling": plan_report.coupling_sentence(d["coupling_rate"], int(d["n_coupling"])),
            "example_monitoring": plan_report.monitoring_sentence(
                d["dual_monitoring_rate"], int(d["n_monitoring"])
            ),
            "example_rank": plan_report.rank_sentence(report.rank, report.district_name),
        },
        numbers={"example_carryover": (d["carryover"], ".2f"), "example_jaccard": (d["jaccard"], ".2f")},
        tables={
            "tbl_example_yearly": yearly.rename(
                columns={
                    "plan_year": "Plan year",
                    "n_interventions": "Interventions",
                    "n_core": "Core",
                    "carryover": "Carryover",
                    "jaccard": "Jaccard",
                    "coupling_rate": "Coupling",
                    "dual_monitoring_rate": "Dual monitoring",
                }
            ),
            "tbl_example_comparison": plan_report.comparison_table(report.comparison),
        },
    )


def metric_guide(district: pd.Series) -> pd.DataFrame:
    """One row per metric: the example's value, how to read it, what it cannot say."""
    rows = []
    for column, (label, reading, limits) in METRIC_GUIDE.items():
        value = district[column]
        shown = (
            "not measurable"
            if pd.isna(value)
            else (f"{value:.0f}" if column == "n_distinct" else f"{value:.2f}")
        )
        rows.append(
            {"Metric": label, "Example": shown, "How to read it": reading, "What it cannot say": limits}
        )
    return pd.DataFrame(rows)


def coverage_statement(
    n_districts: int, n_with_pairs: int, n_with_coupling: int, n_with_monitoring: int
) -> str:
    """What the public record lets the metrics say (a rule on the coverage counts)."""
    persistence = (
        "no district"
        if n_with_pairs == 0
        else "one district"
        if n_with_pairs == 1
        else f"{n_with_pairs} districts"
    )
    parts = [
        f"Of the {n_districts} districts in the public record, {persistence} has two adjacent plan years, "
        "so persistence can be measured there and nowhere else."
    ]
    if n_with_monitoring == 0:
        parts.append(
            "No district's readable record states both monitoring measures of any intervention, so "
            "dual monitoring cannot be compared across districts at all."
        )
    else:
        parts.append(f"Dual monitoring is measurable for {n_with_monitoring} districts.")
    parts.append(
        f"Coupling is measurable for {n_with_coupling} district{'' if n_with_coupling == 1 else 's'}. "
        "The metrics therefore describe a district's "
        "own plan over time, which is what the tool is for; they cannot rank districts or test the "
        "Neag study's finding until districts record several years of plans in this form."
    )
    return " ".join(parts)


def coverage_section(public_records: pd.DataFrame) -> Section:
    """How much of the planning practice the public record lets the metrics measure."""
    table = metrics.district_metrics(public_records)
    counts = {
        "n_districts": len(table),
        "n_with_pairs": int((table["n_pairs"] > 0).sum()),
        "n_with_coupling": int((table["n_coupling"] > 0).sum()),
        "n_with_monitoring": int((table["n_monitoring"] > 0).sum()),
    }
    return Section(
        facts={
            **{f"coverage_{k}": v for k, v in counts.items()},
            "coverage_statement": coverage_statement(**counts),
        }
    )

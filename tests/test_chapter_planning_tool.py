"""The planning-tool chapter module: template and example tables, the broken copy, metric guide, coverage."""

from __future__ import annotations

import pandas as pd
import pytest

from alliance_study.analysis.plans import codebook, planfile
from alliance_study.chapters import planning_tool

BOOK = codebook.load_codebook()


def small_plan() -> pd.DataFrame:
    rows = []
    for year, text, code in [
        ("2020-21", "Coaches", "instructional_coaching"),
        ("2020-21", "Reading", "k3_reading"),
        ("2021-22", "Coaches again", "instructional_coaching"),
        ("2021-22", "Summer", "extended_learning_time"),
        ("2021-22", "Family nights", "family_engagement"),
    ]:
        row = dict.fromkeys(planfile.PLAN_COLUMNS, "")
        row.update(district_code="0640011", plan_year=year, strategy=text, intervention=code)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(planfile.PLAN_COLUMNS), dtype=object)


def test_template_section_lists_every_column():
    section = planning_tool.template_section(BOOK, "0640011", "Hartford", ["2020-21", "2021-22"])
    assert section.facts["template_rows"] == 8 and section.facts["template_columns"] == len(
        planfile.PLAN_COLUMNS
    )
    assert section.tables["tbl_plan_columns"]["Column"].tolist() == list(planfile.PLAN_COLUMNS)
    required = section.tables["tbl_plan_columns"].set_index("Column")["Required"]
    assert sorted(required[required == "yes"].index) == sorted(planfile.REQUIRED_PLAN_COLUMNS)


def test_errors_section_shows_one_error_of_each_kind():
    section = planning_tool.errors_section(small_plan(), BOOK)
    table = section.tables["tbl_plan_problems"]
    assert table["Column"].tolist() == ["intervention", "plan_year", "outcome_target", "strategy"]
    assert table["Row"].tolist() == [3, 4, 5, 7]
    assert "duplicate strategy" in table["Message"].iloc[-1]
    assert section.facts["plan_error"].startswith("file norwich_plan.csv, row 3, column 'intervention'")


def test_metric_guide_values_and_unmeasurable():
    district = pd.Series(
        {
            "carryover": 0.5,
            "n_distinct": 3,
            "coupling_rate": float("nan"),
            "dual_monitoring_rate": 0.25,
            "smart_goal_rate": 1.0,
        }
    )
    guide = planning_tool.metric_guide(district).set_index("Metric")["Example"]
    assert guide["Carryover (persistence)"] == "0.50" and guide["Distinct interventions (focus)"] == "3"
    assert guide["Coupling rate"] == "not measurable"


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (
            (7, 1, 1, 0),
            [
                "one district has two adjacent",
                "cannot be compared across districts",
                "Coupling is measurable for 1 district.",
            ],
        ),
        (
            (7, 0, 3, 2),
            [
                "no district has two adjacent",
                "Dual monitoring is measurable for 2 districts",
                "measurable for 3 districts.",
            ],
        ),
    ],
)
def test_coverage_statement(counts, expected):
    text = planning_tool.coverage_statement(*counts)
    for part in expected:
        assert part in text

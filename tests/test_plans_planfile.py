"""The planning tool's plan file: template, round trip, every validation error, hand-computed metrics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alliance_study.analysis.plans import codebook, io, metrics, planfile

BOOK = codebook.load_codebook()
DISTRICT = "0640011"


def strategy(plan_year: str, text: str, code: str, **cells: str) -> dict[str, str]:
    row = dict.fromkeys(planfile.PLAN_COLUMNS, "")
    row.update(
        district_code=DISTRICT,
        district_name="Hartford",
        plan_year=plan_year,
        strategy=text,
        intervention=code,
        codebook_version=BOOK.version,
    )
    row.update(cells)
    return row


def frame(*rows: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(planfile.PLAN_COLUMNS), dtype=object)


#: A small plan whose metrics are computed by hand in the tests below.
HAND_PLAN = frame(
    strategy(
        "2020-21",
        "Reading coaches in K-3",
        "k3_reading",
        implementation_measure="coach logs",
        implementation_target="weekly",
        outcome_measure="DIBELS",
        outcome_target="70% at benchmark",
        capacity_building="coach training",
    ),
    strategy("2020-21", "Summer school", "extended_learning_time", outcome_measure="attendance"),
    strategy("2020-21", "Family nights", "family_engagement", capacity_building="staff PD on outreach"),
    strategy(
        "2021-22",
        "Reading coaches, year 2",
        "k3_reading",
        implementation_measure="logs",
        outcome_measure="DIBELS",
        outcome_target="75%",
        capacity_building="coach training",
    ),
    strategy("2021-22", "Summer and after school", "extended_learning_time"),
    strategy("2021-22", "Coaching cycles", "instructional_coaching"),
    strategy(
        "2022-23",
        "Reading coaches, year 3",
        "k3_reading",
        implementation_measure="not stated",
        outcome_measure="not stated",
    ),
)


def test_plan_years_and_template_rows():
    assert planfile.plan_years(2013, 2016) == ["2012-13", "2013-14", "2014-15", "2015-16"]
    with pytest.raises(ValueError, match="first Alliance District plan year is 2012-13"):
        planfile.plan_years(2012, 2014)
    template = planfile.plan_template(BOOK, DISTRICT, "Hartford", planfile.plan_years(2013, 2025))
    per_year = template.groupby("plan_year")["domain"].apply(list)
    assert per_year["2012-13"] == [""]  # no template sections in the first plan year
    assert per_year["2013-14"] == BOOK.domains_for("2013-14")  # the four 2013 priorities
    assert per_year["2024-25"] == ["talent", "academics", "culture_climate", "operations"]
    assert len(template) == 1 + 4 * 12
    assert planfile.is_placeholder(template).all()


def test_template_round_trip_csv_and_xlsx(tmp_path):
    template = planfile.plan_template(BOOK, DISTRICT, "Hartford", planfile.plan_years(2021, 2023))
    written = io.write_plan_template(
        tmp_path / "plan.csv", template, planfile.codebook_sheet(BOOK), xlsx=True
    )
    assert sorted(p.name for p in written) == ["plan.csv", "plan.xlsx", "plan_codebook.csv"]
    for name in ("plan.csv", "plan.xlsx"):
        back = io.read_plan_frame(tmp_path / name)
        assert back.drop(columns="_line").equals(template), name
        assert back["_line"].tolist() == list(range(2, len(template) + 2))
    codes = pd.read_csv(tmp_path / "plan_codebook.csv", dtype=str)
    assert set(BOOK.ids("intervention")) <= set(codes["id"])


def test_fill_append_a_year_and_report_metrics(tmp_path):
    """Write the template, fill it from the fixture, append next year's rows under the same header, read."""
    template = planfile.plan_template(BOOK, DISTRICT, "Hartford", planfile.plan_years(2021, 2022))
    io.write_plan_template(tmp_path / "plan.csv", template, planfile.codebook_sheet(BOOK), xlsx=False)
    first = HAND_PLAN.loc[HAND_PLAN["plan_year"] != "2022-23"]
    filled = pd.concat([io.read_plan_frame(tmp_path / "plan.csv").drop(columns="_line"), first])
    io.write_plan_frame(tmp_path / "plan.csv", filled)
    with open(tmp_path / "plan.csv", "a", encoding="utf-8") as handle:  # next year: append, never reformat
        HAND_PLAN.loc[HAND_PLAN["plan_year"] == "2022-23"].to_csv(handle, header=False, index=False)
    plan = planfile.validate_plan(io.read_plan_frame(tmp_path / "plan.csv"), BOOK, {DISTRICT})
    assert len(plan) == len(HAND_PLAN) and sorted(plan["plan_year"].unique()) == [
        "2020-21",
        "2021-22",
        "2022-23",
    ]
    assert plan["row"].min() == len(template) + 2  # placeholders skipped, rows keep their file lines
    table = metrics.district_metrics(planfile.to_records(plan, BOOK))
    assert table.loc[0, "n_plan_years"] == 3


def test_attributes_follow_the_documented_rules():
    attrs = planfile.strategy_attributes(planfile.validate_plan(HAND_PLAN, BOOK), BOOK)
    plan = planfile.validate_plan(HAND_PLAN, BOOK)
    by_text = dict(zip(plan["strategy"], attrs.to_dict("records"), strict=True))
    assert by_text["Reading coaches in K-3"] == {
        "coupled_capacity_building": "yes",
        "implementation_measure": "yes",
        "outcome_measure": "yes",
        "smart_goal": "yes",
    }
    assert by_text["Summer school"] == {
        "coupled_capacity_building": "no",
        "implementation_measure": "no",
        "outcome_measure": "yes",
        "smart_goal": "no",
    }
    assert by_text["Coaching cycles"]["coupled_capacity_building"] == "intrinsic"
    assert by_text["Reading coaches, year 3"] == {
        "coupled_capacity_building": "no",
        "implementation_measure": "",
        "outcome_measure": "",
        "smart_goal": "",
    }


def test_metrics_on_the_hand_computed_plan():
    coded = planfile.to_records(planfile.validate_plan(HAND_PLAN, BOOK), BOOK)
    row = metrics.district_metrics(coded).iloc[0]
    # Sets: 2020 {k3, elt, fam}; 2021 {k3, elt, coach}; 2022 {k3}.
    # Carryover 2/3 then 1/3 -> 0.5; Jaccard 2/4 then 1/3 -> 5/12.
    assert row["carryover"] == pytest.approx(0.5)
    assert row["jaccard"] == pytest.approx(5 / 12)
    assert (row["n_distinct"], row["n_interventions"], row["n_pairs"]) == (4, 7, 2)
    # Coupling among yes/no (coaching is intrinsic): k3 yes, elt no, fam yes, k3 yes, elt no, k3 no -> 3/6.
    assert (row["coupling_rate"], row["n_coupling"]) == (pytest.approx(0.5), 6)
    # Dual monitoring, status known: 2020 k3 yes, elt no, fam no; 2021 k3 yes, elt no, coach no;
    # 2022 k3 both "not stated" -> unknown, left out. 2 of 6.
    assert (row["dual_monitoring_rate"], row["n_monitoring"]) == (pytest.approx(2 / 6), 6)
    # Measurable target: k3 2020 yes, elt no, fam no, k3 2021 yes, elt no, coach no -> 2 of 6.
    assert (row["smart_goal_rate"], row["n_smart"]) == (pytest.approx(2 / 6), 6)
    yearly = metrics.yearly_metrics(coded).set_index("plan_year")
    assert math.isnan(yearly.loc["2020-21", "carryover"])
    assert yearly.loc["2021-22", "carryover"] == pytest.approx(2 / 3)
    assert yearly.loc["2022-23", "jaccard"] == pytest.approx(1 / 3)
    core = metrics.core_interventions(coded).set_index("intervention")
    # k3 in 3 of 3 years, elt in 2 of 3 (> half): core; family and coaching in 1: not.
    assert core["core"].to_dict() == {
        "k3_reading": True,
        "extended_learning_time": True,
        "family_engagement": False,
        "instructional_coaching": False,
    }
    assert yearly["n_core"].tolist() == [2, 2, 1]


def test_strategies_sharing_a_code_merge_with_the_strongest_attribute():
    plan = frame(
        strategy("2020-21", "Coaches A", "k3_reading"),
        strategy("2020-21", "Coaches B", "k3_reading", capacity_building="training"),
    )
    records = planfile.to_records(planfile.validate_plan(plan, BOOK), BOOK)
    assert len(records) == 1
    assert records.loc[0, "coupled_capacity_building"] == "yes"
    assert records.loc[0, "evidence_quote"] == "Coaches A | Coaches B"


def problem(plan: pd.DataFrame, **kwargs) -> planfile.PlanFileError:
    with pytest.raises(planfile.PlanFileError) as info:
        planfile.validate_plan(plan, BOOK, display="my_plan.csv", **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("cells", "column", "text"),
    [
        ({"intervention": "k3_reeding"}, "intervention", "unknown intervention code 'k3_reeding'; allowed: "),
        ({"intervention": ""}, "intervention", "missing intervention: write one codebook intervention id"),
        ({"plan_year": ""}, "plan_year", "missing plan year"),
        ({"plan_year": "2020-2021"}, "plan_year", "expected YYYY-YY"),
        ({"plan_year": "2010-11"}, "plan_year", "before the first Alliance plan year 2012-13"),
        ({"domain": "talents"}, "domain", "unknown domain code 'talents'; allowed: talent, academics"),
        ({"plan_year": "2013-14", "domain": "talent"}, "domain", "not a section of the 2013-14 template"),
        ({"implementation_target": "90%"}, "implementation_target", "target without measure"),
        (
            {"outcome_measure": "not stated", "outcome_target": "80%"},
            "outcome_target",
            "target without measure",
        ),
        ({"intervention": "other"}, "notes", "intervention 'other' needs a description in notes"),
        ({"district_code": "640011"}, "district_code", "not a 7-digit district code"),
        ({"accepted": "maybe"}, "accepted", "accepted must be yes, no or blank"),
        ({"accepted": "yes"}, "accepted", "suggested_code is blank"),
        (
            {"accepted": "yes", "suggested_code": "k3_reading", "intervention": "family_engagement"},
            "accepted",
            "is not the suggested code 'k3_reading'",
        ),
        ({"suggested_code": "coaches"}, "suggested_code", "unknown suggested code 'coaches'"),
        ({"codebook_version": "0.9.0"}, "codebook_version", "a new major version"),
        ({"strategy": ""}, "strategy", "missing strategy"),
    ],
)
def test_each_malformed_cell_names_row_column_and_what_is_allowed(cells, column, text):
    row = strategy("2020-21", "Reading blocks", "k3_reading")
    row.update(cells)
    error = problem(frame(strategy("2020-21", "Hire coaches", "instructional_coaching"), row))
    assert (error.row, error.column) == (3, column)
    assert text in error.message
    assert "my_plan.csv" in str(error) and "row 3" in str(error)


def test_duplicate_strategy_names_both_rows():
    plan = frame(
        strategy("2020-21", "Hire coaches", "instructional_coaching"),
        strategy("2020-21", "hire  Coaches", "k3_reading"),
    )
    error = problem(plan)
    assert (error.row, error.column) == (3, "strategy")
    assert "duplicate strategy" in error.message and "first at row 2" in error.message
    # The same strategy in another plan year, or by another coder, is no duplicate.
    ok = frame(
        strategy("2020-21", "Hire coaches", "instructional_coaching"),
        strategy("2021-22", "Hire coaches", "instructional_coaching"),
        strategy("2020-21", "Hire coaches", "instructional_coaching", coder="B"),
    )
    assert len(planfile.validate_plan(ok, BOOK)) == 3


def test_file_level_problems():
    error = problem(
        frame(
            strategy("2020-21", "A", "k3_reading"),
            strategy("2020-21", "B", "k3_reading", district_code="0150011"),
        )
    )
    assert error.column == "district_code" and "one district's plan" in error.message
    error = problem(frame(strategy("2020-21", "A", "k3_reading")), districts={"0150011"})
    assert "unknown district 0640011" in error.message
    error = problem(frame(strategy("2020-21", "A", "k3_reading")).assign(budget="1"))
    assert (error.row, error.column) == (1, "budget") and "unknown column" in error.message
    error = problem(frame(strategy("2020-21", "A", "k3_reading")).drop(columns="plan_year"))
    assert (error.row, error.column) == (1, "plan_year") and "missing required column" in error.message
    template = planfile.plan_template(BOOK, DISTRICT, "Hartford", ["2020-21"])
    assert "no strategies" in problem(template).message
    error = problem(frame(strategy("2020-21", "A", "k3_reeding"), strategy("2020-21", "B", "x")))
    assert len(error.problems) == 2 and "and 1 more problem" in error.message


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("district_code,plan_year\n0640011,2020-21,extra\n", encoding="utf-8")
    with pytest.raises(planfile.PlanFileError, match="3 cells but the header has 2") as info:
        io.read_plan_frame(bad)
    assert info.value.row == 2
    latin = tmp_path / "latin.csv"
    latin.write_bytes("district_code\nÉcole\n".encode("latin-1"))
    with pytest.raises(planfile.PlanFileError, match="not valid UTF-8"):
        io.read_plan_frame(latin)
    with pytest.raises(planfile.PlanFileError, match=r"\.csv or \.xlsx"):
        io.read_plan_frame(tmp_path / "plan.txt")
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Sheet1"
    book.save(tmp_path / "wrong.xlsx")
    with pytest.raises(planfile.PlanFileError, match="no sheet named 'plan'"):
        io.read_plan_frame(tmp_path / "wrong.xlsx")


def test_suggestions_are_offered_and_verdicts_counted():
    plan = frame(
        strategy("2020-21", "Hire literacy coaches to model lessons.", "instructional_coaching"),
        strategy("2020-21", "Redo the bus routes.", "other", notes="transport"),
    )
    filled = planfile.with_suggestions(plan, BOOK)
    assert filled.loc[0, "suggested_code"] == "instructional_coaching"
    assert filled.loc[0, "suggestion_sentence"] == "Hire literacy coaches to model lessons."
    assert filled.loc[1, "suggested_code"] == ""  # no keyword: nothing offered
    filled.loc[0, "accepted"] = "yes"
    validated = planfile.validate_plan(filled, BOOK)
    suggestions = planfile.suggest_for_plan(validated, BOOK)
    assert set(suggestions.loc[suggestions["row"] == 2, "code"]) >= {"instructional_coaching"}
    summary = planfile.summarize_suggestions(validated, suggestions)
    assert (summary.n_rows, summary.n_suggested, summary.n_accepted, summary.n_rejected) == (2, 1, 1, 0)
    assert summary.n_agree == 1 and summary.acceptance_rate == 1.0

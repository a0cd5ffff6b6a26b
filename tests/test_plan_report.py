"""The plan report: verdict rules, the report built from frames, the notebook executed into standalone HTML
that passes the book's browser check, and the plan-template / plan-report commands."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from _notebooks import error_outputs, glued_values
from typer.testing import CliRunner

from alliance_study.analysis.plans import codebook, io, metrics, planfile, public, reliability
from alliance_study.book import plan_report as runner
from alliance_study.book.browser_check import DEFAULT_CHROMIUM
from alliance_study.chapters import plan_report
from alliance_study.cli import app
from alliance_study.data.sources import plans as plan_source

BOOK = codebook.load_codebook()
NORWICH = "1040011"


# --- verdict rules on given numbers -------------------------------------------------------------------------


def test_persistence_sentence():
    assert "cannot be measured" in plan_report.persistence_sentence(float("nan"), 0, 0, 3)
    text = plan_report.persistence_sentence(0.75, 2, 2, 5)
    assert text.startswith("On average 75% of one year's interventions carried over to the next (most)")
    assert "over 2 pairs" in text and "2 of its 5 distinct interventions form a core" in text
    assert "(a minority)" in plan_report.persistence_sentence(0.2, 1, 0, 4)
    assert "none of its 4 distinct" in plan_report.persistence_sentence(0.2, 1, 0, 4)


def test_rate_sentences_warn_on_few_units_and_refuse_none():
    assert "cannot be computed" in plan_report.coupling_sentence(float("nan"), 0)
    few = plan_report.monitoring_sentence(0.5, 2)
    assert "is 50% (1 of 2 strategies)" in few and "anecdote" in few
    assert "anecdote" not in plan_report.monitoring_sentence(0.4, plan_report.MIN_UNITS)


def test_reliability_and_rank_sentences():
    good = pd.Series({"kappa": 0.9, "alpha": 0.85})
    assert "reliable enough" in plan_report.reliability_sentence(good)
    assert "tentative" in plan_report.reliability_sentence(pd.Series({"kappa": 0.7, "alpha": 0.7}))
    assert "too low" in plan_report.reliability_sentence(pd.Series({"kappa": 0.2, "alpha": 0.1}))
    assert "not among the districts" in plan_report.rank_sentence({"ranked": False}, "X")
    assert "ranks 3 of 30" in plan_report.rank_sentence({"ranked": True, "rank": 3, "n_ranked": 30}, "X")


def test_comparison_sentence_counts_districts_below():
    cmp = pd.DataFrame({"carryover": [0.5, 0.2, 0.6, float("nan")]})
    assert "above 1 of the 2 public-record districts" in plan_report.comparison_sentence(
        cmp, "carryover", "C"
    )
    assert "no comparison" in plan_report.comparison_sentence(cmp.iloc[[0, 3]], "carryover", "C")


# --- the report built from frames ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_coding(registry):
    return public.code_public_facts(plan_source.load(registry).district, BOOK)


@pytest.fixture(scope="module")
def panel(real_build):
    return real_build[0].panel


def one_year(coder: str, codes: list[str]) -> pd.DataFrame:
    rows = []
    for i, code in enumerate(codes):
        row = dict.fromkeys(planfile.PLAN_COLUMNS, "")
        row.update(
            district_code=NORWICH,
            plan_year="2024-25",
            strategy=f"strategy {i}: {code}",
            intervention=code,
            coder=coder,
            outcome_measure="SBAC",
            outcome_target="+5 points",
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(planfile.PLAN_COLUMNS), dtype=object)


def test_two_coders_give_kappa_and_alpha(panel, public_coding):
    a = one_year("A", ["k3_reading", "instructional_coaching", "family_engagement"])
    b = one_year("B", ["k3_reading", "instructional_coaching", "wraparound_services"])
    report = plan_report.build_report({"a.csv": a, "b.csv": b}, BOOK, panel, public_coding.records)
    assert report.coders == ["A", "B"]
    expected = reliability.reliability_table(
        planfile.to_records(
            pd.concat([planfile.validate_plan(a, BOOK), planfile.validate_plan(b, BOOK)]), BOOK
        )
    )
    pd.testing.assert_frame_equal(report.reliability, expected)
    # Consensus keeps the two codes both coders gave.
    assert sorted(report.coded["intervention"]) == ["instructional_coaching", "k3_reading"]
    assert report.rank == {"ranked": False, "n_ranked": 0}  # no ranking table given
    table = pd.DataFrame({"district_code": ["0640011", NORWICH], "rank_eb": [2, 1], "eb": [0.1, 0.3]})
    assert plan_report.improvement_rank(table, NORWICH) == {
        "ranked": True,
        "rank": 1,
        "n_ranked": 2,
        "score": 0.3,
    }


def test_example_metrics_match_the_public_coding(panel, public_coding):
    """The Norwich worked example, routed through a plan file, keeps the public coding's persistence."""
    plan = public.as_plan_file(public_coding, NORWICH, BOOK)
    report = plan_report.build_report({"norwich.csv": plan}, BOOK, panel, public_coding.records)
    direct = metrics.district_metrics(
        public_coding.records.loc[public_coding.records["district_code"] == NORWICH]
    )
    for column in ("n_plan_years", "n_interventions", "n_distinct", "n_pairs", "carryover", "jaccard"):
        assert report.district[column] == pytest.approx(direct.iloc[0][column]), column
    assert report.comparison.iloc[0]["district_name"].endswith("(this plan)")
    assert NORWICH not in set(report.comparison.iloc[1:]["district_code"])
    assert report.outcomes["year"].is_monotonic_increasing and len(report.outcomes) > 10


def test_files_of_different_districts_are_refused(panel, public_coding):
    other = one_year("B", ["k3_reading"]).assign(district_code="0640011")
    with pytest.raises(planfile.PlanFileError, match="different districts"):
        plan_report.build_report(
            {"a.csv": one_year("A", ["k3_reading"]), "b.csv": other}, BOOK, panel, public_coding.records
        )


# --- the notebook, its HTML and the commands ----------------------------------------------------------------


@pytest.fixture(scope="module")
def reports(real_build, public_coding, tmp_path_factory):
    """Execute the report on the Norwich example (through the CLI) and on a minimal one-year plan by two
    coders (through the library)."""
    out = tmp_path_factory.mktemp("plan-report")
    data_dir = real_build[1]
    example = io.write_plan_frame(out / "norwich.csv", public.as_plan_file(public_coding, NORWICH, BOOK))
    result = CliRunner().invoke(
        app, ["plan-report", str(example), "--out", str(out / "example.html"), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    a = io.write_plan_frame(out / "coder_a.csv", one_year("A", ["k3_reading", "family_engagement"]))
    b = io.write_plan_frame(out / "coder_b.csv", one_year("B", ["k3_reading"]))
    minimal = runner.make_report([a, b], out / "minimal.html", data_dir=data_dir)
    return {"example": out / "example", "minimal": minimal.html.with_suffix("")}


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["example", "minimal"])
def test_report_executes_and_glues(reports, name):
    notebook = reports[name].with_suffix(".ipynb")
    assert error_outputs(notebook) == []
    values = glued_values(notebook)
    html = reports[name].with_suffix(".html").read_text(encoding="utf-8")
    assert values["district_name"] in html and "Run record" in html
    assert "cdnjs" not in html and "<script src=" not in html
    if name == "example":
        assert values["n_plan_years"] == 4 and values["carryover"] == "0.37"
    else:
        assert values["n_plan_years"] == 1 and values["carryover"] == "not available"
        assert "Cohen&#39;s kappa" in html or "Cohen's kappa" in html
        assert not math.isnan(float(values["kappa"]))


@pytest.mark.realdata
@pytest.mark.skipif(
    not DEFAULT_CHROMIUM.exists(), reason="Chromium not installed (tools/install_chromium.sh)"
)
@pytest.mark.parametrize("name", ["example", "minimal"])
def test_report_html_passes_the_browser_check(reports, name):
    check = runner.check_report(reports[name].with_suffix(".html"))
    assert check.ok, [str(p) for p in check.failures]
    assert check.images >= 2


def test_plan_template_command(tmp_path, real_build):
    data = ["--data-dir", str(real_build[1])]
    result = CliRunner().invoke(
        app,
        [
            "plan-template",
            "--district",
            "0640011",
            "--years",
            "2013-2025",
            "--out",
            str(tmp_path / "hartford.csv"),
            *data,
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in tmp_path.iterdir()} == {"hartford.csv", "hartford.xlsx", "hartford_codebook.csv"}
    frame = io.read_plan_frame(tmp_path / "hartford.xlsx")
    assert set(frame["plan_year"]) == set(planfile.plan_years(2013, 2025))
    bad = CliRunner().invoke(app, ["plan-template", "--district", "9999999", "--years", "2013-2015", *data])
    assert bad.exit_code == 1 and "unknown district '9999999'" in bad.output
    empty = CliRunner().invoke(app, ["plan-report", str(tmp_path / "hartford.csv"), *data])
    assert empty.exit_code == 1 and "no strategies" in empty.output


def test_suggest_command_writes_suggestions(tmp_path):
    plan = one_year("A", ["instructional_coaching"])
    plan.loc[0, "strategy"] = "Hire literacy coaches to model lessons."
    path = io.write_plan_frame(tmp_path / "plan.csv", plan)
    result = CliRunner().invoke(app, ["plan-report", str(path), "--suggest"])
    assert result.exit_code == 0, result.output
    back = io.read_plan_frame(tmp_path / "plan_suggested.csv")
    assert back.loc[0, "suggested_code"] == "instructional_coaching"

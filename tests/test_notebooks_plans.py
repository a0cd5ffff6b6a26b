"""The plan and focus chapters run on the real build and glue the numbers the library computes.

Executes notebooks/05_code_plans, 06_guide_plan_coding and 07_measure_focus with papermill against a panel
built from the real raw files into a temporary directory, then checks glued values against direct library
calls and the published facts of the plan-facts file.
"""

from __future__ import annotations

import pytest
from _notebooks import (
    NOTEBOOK_DIR,
    Job,
    error_outputs,
    execute,
    glued,
    glued_values,
    referenced_glue,
    stray_outputs,
)

from alliance_study.analysis import focus, groups

pytestmark = pytest.mark.realdata

CHAPTERS = {
    "plans": "05_code_plans.ipynb",
    "coding_guide": "06_guide_plan_coding.ipynb",
    "focus": "07_measure_focus.ipynb",
    "planning_tool": "11_use_planning_tool.ipynb",
}


@pytest.fixture(scope="module")
def executed(real_build, tmp_path_factory):
    data_dir = real_build[1]
    out = tmp_path_factory.mktemp("executed")
    jobs = {
        name: Job(NOTEBOOK_DIR / source, out / f"{name}.ipynb", {"data_dir": str(data_dir)})
        for name, source in CHAPTERS.items()
    }
    execute(jobs.values())
    return {name: job.output for name, job in jobs.items()}, real_build[0]


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_chapter_runs_clean(executed, name):
    path = executed[0][name]
    missing = referenced_glue(path) - set(glued(path))
    assert not missing, f"{name}: glue names never glued: {sorted(missing)}"
    assert error_outputs(path) == [] and stray_outputs(path) == []


def test_plans_chapter_numbers(executed):
    g = glued_values(executed[0]["plans"])
    # reference/plan_codes_found.csv: 33 facts on 7 districts, 11 district-plan years (one unreadable).
    assert (g["n_fact_rows"], g["n_fact_districts"], g["n_district_plan_years"]) == (33, 7, 11)
    assert (g["n_plan_document_facts"], g["n_press_facts"], g["n_news_facts"]) == (11, 5, 17)
    assert (g["n_records"], g["n_empty_plan_years"], g["n_template_years"]) == (42, 1, 5)
    assert (g["n_pairs"], g["pair_districts"]) == (3, "Norwich")
    assert "cannot support inference" in g["link_statement"]
    assert "image/png" in glued(executed[0]["plans"])["fig_codes"]


def test_coding_guide_numbers(executed):
    g = glued_values(executed[0]["coding_guide"])
    assert (g["n_statute"], g["n_checklist"], g["n_attributes"]) == (9, 6, 4)
    assert g["kripp_computed"] == g["kripp_published"] == "0.743"
    assert (g["heldout_tp"], g["heldout_fp"], g["heldout_hand"]) == (7, 1, 8)
    assert g["error_message"].startswith("file codes.csv, row 3, column 'evidence_quote'")
    # The keyword coder on every public quote: counts add up, rates match the glued counts.
    assert g["n_quotes"] == g["n_quotes_correct"] + g["n_quotes_wrong"] == 33
    assert g["assist_precision"] == f"{g['assist_tp'] / g['n_suggested_codes']:.2f}"
    assert g["assist_recall"] == f"{g['assist_tp'] / g['n_hand_codes']:.2f}"


def test_planning_tool_numbers(executed, registry):
    from alliance_study.analysis.plans import codebook, metrics, public
    from alliance_study.data.sources import plans as plan_source

    g = glued_values(executed[0]["planning_tool"])
    coding = public.code_public_facts(plan_source.load(registry).district, codebook.load_codebook())
    norwich = metrics.district_metrics(coding.records.loc[coding.records["district_name"] == "Norwich"])
    assert g["example_carryover"] == f"{norwich['carryover'].iloc[0]:.2f}"
    assert g["example_n_pairs"] == norwich["n_pairs"].iloc[0] == 3
    assert g["n_plan_problems"] == 4 and g["plan_error"].startswith("file norwich_plan.csv, row 3")
    assert g["coverage_n_with_pairs"] == 1 and "one district has two adjacent" in g["coverage_statement"]
    for fig in ("fig_example_metrics", "fig_example_district"):
        assert "image/png" in glued(executed[0]["planning_tool"])[fig]


def test_focus_chapter_numbers(executed):
    paths, build = executed
    g = glued_values(paths["focus"])
    panel = build.panel
    panel = panel.loc[groups.district_mask(panel) & panel["year"].between(2006, 2016)]
    table = focus.district_focus(panel, pre_years=range(2008, 2013), post_years=range(2013, 2017))
    gt = focus.compare_groups(table, panel, n_permutations=10).table.set_index("measure")
    assert (g["n_alliance"], g["last_exp_year"], g["last_fte_year"]) == (30, 2015, 2016)
    assert g["spending_stability_alliance_pre"] == f"{gt.loc['spending_stability', 'alliance_pre']:.3f}"
    assert g["support_per_100_comparison_post"] == f"{gt.loc['support_per_100', 'comparison_post']:.2f}"
    for fig in ("fig_focus_trends", "fig_mix_shift", "fig_focus_improvement"):
        assert "image/png" in glued(paths["focus"])[fig]

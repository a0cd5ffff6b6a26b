"""The plans chapter module: the public record's facts, tables and code chart; the link facts and table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis.plans import codebook
from alliance_study.analysis.plans.link import LinkResult
from alliance_study.chapters import plans


@pytest.fixture(scope="module")
def record(registry):
    """The real public plan facts (reference/plan_codes_found.csv) coded with the project's codebook."""
    from alliance_study.data.sources import plans as plan_source

    facts = plan_source.load(registry).district
    return plans.code_record(facts.loc[facts["year"].between(2013, 2018)].reset_index(drop=True),
                             codebook.load_codebook())


def test_record_facts_match_the_published_plan_facts(record):
    f = plans.record_facts(record)
    # reference/plan_codes_found.csv: 33 facts on 7 districts, 11 district-plan years (one unreadable).
    assert (f["n_fact_rows"], f["n_fact_districts"], f["n_district_plan_years"]) == (33, 7, 11)
    assert (f["n_plan_document_facts"], f["n_press_facts"], f["n_news_facts"]) == (11, 5, 17)
    assert (f["n_records"], f["n_empty_plan_years"]) == (42, 1)
    assert f["n_fact_rows"] == f["n_plan_document_facts"] + f["n_press_facts"] + f["n_news_facts"]
    m = plans.metric_facts(record)
    assert (m["n_pairs"], m["pair_districts"]) == (3, "Norwich")
    assert m["carryover_pct"] == format(100 * record.pairs["carryover"].mean(), ".0f")


def test_tables_have_display_columns(record):
    assert list(plans.coverage_table(record).columns) == ["District", "Plan year", "Facts", "Codes",
                                                         "Intervention codes", "Source", "Status"]
    assert "District" in plans.metrics_table(record).columns
    assert "district_code" not in plans.metrics_table(record).columns
    history = codebook.template_history()
    assert plans.template_facts(history)["n_template_years"] == len(history) == 5
    assert list(plans.template_table(history).columns) == ["Plan year", "Form", "What the state asked for",
                                                          "How the plan was organised"]


def test_codes_figure_one_dot_per_record(record):
    fig = plans.codes_figure(record)
    (ax,) = fig.axes
    assert len(ax.lines) == len(record.coded)
    plan_years = record.coded[["district_name", "plan_year"]].drop_duplicates()
    assert len(ax.get_xticklabels()) == len(plan_years)
    assert len(ax.get_yticklabels()) == record.coded["intervention"].nunique()
    plt.close(fig)


def test_attribute_facts_count_stated_values(record):
    f = plans.attribute_facts(record)
    att = record.attributes.set_index("attribute")
    assert f["n_coupling_stated"] == att.loc["coupled_capacity_building", ["yes", "no", "intrinsic"]].sum()
    assert 0 <= f["n_coupling_intrinsic"] <= f["n_coupling_stated"] <= len(record.coded)
    assert f["n_smart_stated"] == att.loc["smart_goal", ["yes", "no", "intrinsic"]].sum()


def test_metric_facts_without_pairs_read_not_available():
    empty = plans.PublicRecord(
        coding=None, coded=pd.DataFrame(), book=codebook.load_codebook(), attributes=pd.DataFrame(),
        district_table=pd.DataFrame({"district_name": ["A"], "n_pairs": [0], "coupling_rate": [np.nan],
                                     "dual_monitoring_rate": [0.5]}),
        pairs=pd.DataFrame(columns=["carryover", "jaccard"]))
    f = plans.metric_facts(empty)
    assert (f["n_pairs"], f["pair_districts"]) == (0, "no district")
    assert f["carryover_pct"] == f["jaccard"] == "not available"
    assert (f["n_coupling_districts"], f["n_dual_districts"]) == (0, 1)


def test_link_facts_and_table():
    table = pd.DataFrame({"measure": ["carryover"], "n": [3], "n_improvers": [1], "n_others": [2],
                          "spearman": [0.5], "mean_improvers": [0.4], "mean_others": [0.3],
                          "difference": [0.1], "p_spearman": [np.nan], "p_difference": [np.nan]})
    linked = LinkResult(table, 3, 3, 2, 4, False, "Three districts cannot support inference.")
    assert plans.link_facts(linked, 2013, 2016, "eb") == {
        "improvement_window": "2013-2016", "improvement_estimate_name": "eb",
        "link_statement": "Three districts cannot support inference."}
    assert list(plans.link_table(linked).columns) == list(plans.LINK_COLUMNS.values())
    with pytest.raises(KeyError, match="without a display name"):
        plans.link_table(LinkResult(table.assign(extra=1), 3, 3, 2, 4, False, ""))

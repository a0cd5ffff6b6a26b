"""The focus chapter module on a small panel with known mixes: facts, sentences, tables and figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _panels import axes_texts, legend_texts

from alliance_study.analysis import focus
from alliance_study.analysis.plans.link import LinkResult
from alliance_study.chapters import focus as chapter

ALLIANCE = [f"00{i}0011" for i in range(1, 5)]
OTHERS = [f"00{i}0011" for i in range(5, 9)]


def focus_panel() -> pd.DataFrame:
    """Eight town districts, 2010-2014. Every mix is constant, except that the Alliance districts (cohort
    2013) move a tenth of their budget from the first function to the second in 2013; they also add one
    instructional specialist per 100 students from 2013."""
    rows = []
    for code in ALLIANCE + OTHERS:
        alliance = code in ALLIANCE
        for year in range(2010, 2015):
            moved = 0.1 if alliance and year >= 2013 else 0.0
            spend = {c: 1.0 for c in focus.SPENDING_FUNCTIONS}
            spend[focus.SPENDING_FUNCTIONS[0]] = 2.0 - 10 * moved  # of a total of 10
            spend[focus.SPENDING_FUNCTIONS[1]] = 1.0 + 10 * moved
            staff = {c: 5.0 for c in focus.STAFF_CATEGORIES}
            staff[focus.SUPPORT_STAFF] = 10.0 + (10.0 if alliance and year >= 2013 else 0.0)
            rows.append({"district_code": code, "year": year, "entity_type": "town_district",
                         "alliance_cohort": 2013 if alliance else pd.NA, "enrollment": 1000.0,
                         "exp_total": 10.0, "fte_total": 1.0, **spend, **staff})
    panel = pd.DataFrame(rows)
    panel["alliance_cohort"] = panel["alliance_cohort"].astype("Int64")
    return panel


@pytest.fixture(scope="module")
def result():
    return chapter.measure(focus_panel(), 2010, 2014, pre_years=[2011, 2012], post_years=[2013, 2014],
                           comparison="other_town_districts", alliance_cohorts=[2013], n_permutations=200,
                           seed=1)


def test_group_facts_hand_computed(result):
    f = chapter.group_facts(result)
    assert (f["n_alliance"], f["n_comparison"]) == (4, 4)
    assert (f["pre_span"], f["post_span"]) == ("2011-2012", "2013-2014")
    assert (f["last_exp_year"], f["last_fte_year"]) == (2014, 2014)
    # Stability is 1 except the Alliance districts' 2013 move of a tenth: post mean (0.9 + 1) / 2 = 0.95.
    assert (f["spending_stability_alliance_pre"], f["spending_stability_alliance_post"]) == ("1.000", "0.950")
    assert (f["spending_stability_alliance_change"], f["spending_stability_did"]) == ("-0.050", "-0.050")
    assert f["spending_stability_comparison_change"] == "+0.000"
    # Support staff: 1 per 100 students before, 2 after in the Alliance districts.
    assert (f["support_per_100_alliance_pre"], f["support_per_100_alliance_post"]) == ("1.00", "2.00")
    assert f["support_per_100_did"] == "+1.00"
    # Four districts per group, all Alliance changes larger than all others: p = 1 / C(8, 4) -> small.
    assert float(f["support_per_100_p"]) < 0.1


def test_method_facts_worked_example():
    f = chapter.method_facts()
    assert (f["example_moved"], f["stability_example"]) == ("a tenth", "0.90")
    assert f["n_functions"] == len(focus.SPENDING_FUNCTIONS)


def test_group_table_formats_by_measure(result):
    table = chapter.group_table(result)
    assert list(table.columns) == list(chapter.GROUP_COLUMNS.values())
    by_measure = table.set_index("Measure")
    assert by_measure.loc[focus.FOCUS_MEASURES["spending_stability"], "Alliance post"] == "0.950"
    assert by_measure.loc[focus.FOCUS_MEASURES["support_per_100"], "Alliance post"] == "2.00"


def link(table: pd.DataFrame) -> LinkResult:
    return LinkResult(table, 30, 30, None, None, True, "Thirty districts.")


def test_link_facts_name_the_strongest_correlation_and_smallest_p():
    table = pd.DataFrame({"measure": ["a_post", "a_change", "b_post"], "spearman": [0.2, -0.6, np.nan],
                          "p_spearman": [0.4, 0.02, np.nan], "p_difference": [0.3, 0.5, 0.01]})
    f = chapter.link_facts(link(table), 10000, 2013, 2016)
    assert (f["top_rho"], f["top_measure"], f["top_p"]) == ("-0.60", "a_change", "0.02")
    assert (f["min_p"], f["min_p_what"]) == ("0.010", "improvers minus others in b_post")
    assert (f["n_permutations_text"], f["improvement_window"]) == ("10,000", "2013-2016")
    assert f["n_measures_tested"] == 3


def test_link_facts_without_correlations():
    table = pd.DataFrame({"measure": ["a_post"], "spearman": [np.nan], "p_spearman": [np.nan],
                          "p_difference": [np.nan]})
    f = chapter.link_facts(link(table), 2000, 2013, 2016)
    assert (f["top_rho"], f["top_measure"], f["top_p"]) == ("not available", "no measure", "not available")
    assert (f["min_p"], f["min_p_what"]) == ("not available", "none computed")


def test_mix_shift_hand_computed(result):
    shift = chapter.mix_shift(result, focus.SPENDING_FUNCTIONS)
    first, second = focus.SPENDING_FUNCTIONS[:2]
    # Alliance: the first function holds 20% of the budget before and 10% after.
    assert shift.loc[first, "Alliance"] == pytest.approx(-10.0)
    assert shift.loc[second, "Alliance"] == pytest.approx(10.0)
    assert shift["Comparison"].abs().max() == pytest.approx(0.0)


def test_figures(result):
    fig = chapter.trends_figure(result)
    assert axes_texts(fig) == list(focus.FOCUS_MEASURES.values())
    assert legend_texts(fig) == ["Alliance Districts (FY2013 cohort)", "Other town districts"]
    assert all(any(line.get_xdata()[0] == 2012.5 for line in ax.lines) for ax in fig.axes if ax.get_visible())
    plt.close(fig)
    fig = chapter.mix_shift_figure(result)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 2 * len(focus.SPENDING_FUNCTIONS)
    plt.close(fig)
    scores = pd.DataFrame({"district_code": ALLIANCE, "score": [1.0, 2.0, 3.0, 4.0],
                           "improver": [False, False, True, True]})
    fig = chapter.improvement_figure(result, scores)
    assert len(fig.axes) == 3
    assert [c.get_offsets().shape[0] for c in fig.axes[0].collections] == [2, 2]
    assert fig.axes[0].get_ylabel() == "improvement composite"
    plt.close(fig)

"""The trends chapter module: group comparison facts, the gap table and the figures on a small panel."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _panels import axes_texts, legend_texts, small_panel

from alliance_study.chapters import trends


def panel() -> pd.DataFrame:
    """The small panel with a graduation rate (A: 70 -> 75, C: 90, D: 94) and spending in dollars."""
    p = small_panel()
    grad = {("0010011", 2012): 70.0, ("0010011", 2013): 75.0, ("0030011", 2012): 90.0,
            ("0030011", 2013): 90.0, ("0040011", 2012): 94.0, ("0040011", 2013): 96.0}
    p["grad_rate"] = [grad.get((c, y), np.nan) for c, y in zip(p["district_code"], p["year"], strict=True)]
    p["ppe_total"] = 10000.0 + 1000 * (p["year"] - 2012)
    p["cmt_math_scale"] = np.where(p["year"] == 2012, 250.0 + p.index, np.nan)
    p["sbac_math_vss_g38"] = np.where(p["year"] == 2013, 2500.0 + p.index, np.nan)
    return p


def state() -> pd.DataFrame:
    return pd.DataFrame({"year": [2012, 2013], "grad_rate": [85.0, 86.0], "enrollment": [5e5, 5e5]})


@pytest.fixture
def result():
    return trends.compare(panel(), state(), ["grad_rate", "achievement_index"], ["ppe_total"],
                          comparison="other_town_districts", alliance_cohorts=[2013], start_year=2012,
                          end_year=2013)


def test_compare_groups_and_facts(result):
    f = trends.facts(result)
    assert (f["n_alliance"], f["n_comparison"]) == (1, 2)
    assert f["comparison_label"] == "town (local) districts never designated an Alliance District"
    assert f["alliance_group"] == "districts first designated in FY2013"
    assert f["weighting"] == "unweighted (every district counts once)"
    # Graduation: A 70 vs mean(90, 94) = 92 in 2012 (gap 22, shown without sign); 75 vs 93 in 2013.
    assert (f["grad_rate_start_year"], f["grad_rate_start_first"], f["grad_rate_start_second"]) == (
        "2012", "70.0", "92.0")
    assert (f["grad_rate_start_gap"], f["grad_rate_end_gap"]) == ("22.0", "18.0")
    # Dollars are whole numbers with separators.
    assert (f["ppe_total_start_first"], f["ppe_total_end_second"]) == ("10,000", "11,000")
    assert f["latest_grad_year"] == 2013
    assert (f["cmt_years"], f["sbac_years"]) == ("2012", "2013")


def test_measure_without_common_years_reads_not_available():
    p = panel().assign(m=lambda t: t["m"].where(t["alliance_cohort"].isna()))
    result = trends.compare(p, state(), ["m"], [], comparison="other_town_districts", alliance_cohorts=[2013],
                            start_year=2012, end_year=2013)
    f = trends.facts(result)
    assert f["m_start_first"] == f["m_end_gap"] == f["m_start_year"] == "not available"


def test_weighting_text():
    assert trends.weighting_text("enrollment") == "weighted by enrollment"


def test_gap_table_columns(result):
    table = trends.gap_table(result)
    assert list(table.columns) == ["Measure", "First year", "Alliance", "Comparison", "Last year",
                                   "Alliance ", "Comparison "]
    assert table["Measure"].tolist() == ["Four-year graduation rate (%)", "Achievement index (z, grades 3-8)",
                                         "Expenditure per pupil ($)"]
    assert table.iloc[0]["Alliance"] == "70.00" and table.iloc[2]["Comparison "] == "11,000.00"


def test_figures(result):
    fig = trends.outcome_figure(result)
    assert axes_texts(fig) == ["Four-year graduation rate (%)", "Achievement index (z, grades 3-8)"]
    assert legend_texts(fig) == ["Alliance Districts (FY2013 cohort)", "Other town districts", "State"]
    # The achievement panel (test based) carries the regime marks only where they fall in the range.
    grad_ax = fig.axes[0]
    assert len(grad_ax.lines) == 3  # Alliance, comparison, state
    plt.close(fig)
    fig = trends.context_figure(result)
    assert axes_texts(fig) == ["Expenditure per pupil ($)"]
    assert "State" not in legend_texts(fig)  # the state table has no spending column
    plt.close(fig)
    fig = trends.graduation_figure(result)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Alliance Districts (FY2013 cohort)", "Other town districts", "State"]
    plt.close(fig)

"""The program chapter module: facts, tables, the CCER verdict and the money figure for given numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _panels import small_panel

from alliance_study.analysis import describe
from alliance_study.chapters import program


def funding() -> pd.DataFrame:
    """Alliance money by year: nothing in 2012, then 40, 80, 120, 200 ($ million) for 2013-2016."""
    return pd.DataFrame({
        "year": [2012, 2013, 2014, 2015, 2016, 2017],
        "n_designated": [0, 30, 30, 30, 30, 30],
        "n_recipients": [0, 30, 30, 29, 30, 30],
        "alliance_dollars": [0.0, 40e6, 80e6, 120e6, 200e6, np.nan],
        "enrollment_designated": [np.nan, 4e5, 4e5, 4e5, np.nan, np.nan],
        "dollars_per_pupil": [np.nan, 100.0, 200.0, 300.0, np.nan, np.nan],
        "n_per_pupil": [0, 30, 30, 29, 0, 0],
    })


@pytest.mark.parametrize(("before", "through", "claim", "start"), [
    (400e6, 550e6, 500e6, "lies between the two"),
    (400e6, 500e6, 500e6, "lies between the two"),  # equal to the sum through the year: still between
    (300e6, 400e6, 500e6, "is more than"),
    (500e6, 600e6, 500e6, "is less than"),  # already reached before the claim's last year
])
def test_ccer_verdict(before, through, claim, start):
    assert program.ccer_verdict(before, through, claim).startswith(start)


def test_funding_span_ignores_years_without_money_and_after_the_end():
    assert program.funding_span(funding(), end_year=2025) == (2013, 2016)
    assert program.funding_span(funding(), end_year=2014) == (2013, 2014)


def test_money_facts_hand_computed():
    f = program.money_facts(funding(), [2013, 2016], end_year=2025)
    assert f["first_fy"] == 2013 and f["latest_fy"] == 2016
    assert f["fy2013_total"] == "$40,000,000"
    assert (f["fy2014_total"], f["fy2015_total"], f["fy2015_growth_pct"]) == ("$80.0 million",
                                                                            "$120 million", "50")
    assert (f["window_start"], f["window_end"], f["window_end_prev"]) == (2013, 2016, 2015)
    assert (f["cum_before_window_end"], f["cum_through_window_end"]) == ("$240 million", "$440 million")
    # The CCER figure is $500 million: more than 2013-2016 add up to.
    assert f["ccer_claim"] == "$500 million"
    assert f["ccer_verdict"] == "is more than the panel's entitlements add up to"
    assert (f["latest_total"], f["latest_recipients"], f["latest_designated"]) == ("$200 million", 30, 30)
    assert f["cum_all"] == "$440 million"
    assert (f["pp_first"], f["pp_last"], f["pp_last_year"], f["pp_n"]) == ("$100", "$300", 2015, 29)
    assert f["pp_definition"] == describe.PER_PUPIL_DEFINITION
    assert f["announced_fy2013"] == "$39.5 million" and f["reported_fy2015"] == "$133 million"


def test_membership_facts():
    panel = small_panel()
    designations = pd.DataFrame({"district_code": ["a", "b", "c", "d", "e", "f"],
                                 "alliance_cohort": [2013, 2013, 2018, 2023, 2023, 2023]})
    panel.loc[panel["district_code"] == "0010011", "opportunity_district"] = 1
    f = program.membership_facts(panel, describe.designation_counts(designations),
                                 describe.enrollment_share(panel))
    assert (f["n_cohort_2013"], f["n_added_2018"], f["n_total_2018"]) == (2, 1, 3)
    assert (f["n_added_2023"], f["n_total_2023"], f["n_opportunity"]) == (3, 6, 1)
    # 2013: A (100 students) of 1,050 in all entities -> 10%.
    assert (f["share_students_last_year"], f["share_students_last"]) == (2013, "10")


def test_alliance_districts_table_and_never_funded():
    panel = small_panel()
    table = program.alliance_districts_table(panel, 2013, 2013)
    assert list(table.columns) == ["District", "Code", "First designated (FY)", "Opportunity District",
                                   "Alliance dollars FY2013-FY2013 ($M)"]
    assert table["District"].tolist() == ["District 0010011", "District 0020011"]
    assert table["Alliance dollars FY2013-FY2013 ($M)"].tolist() == ["0.0", "0.0"]
    assert program.never_funded_facts(panel) == {"n_never_funded": 1,
                                                 "never_funded_names": "District 0020011"}
    paid = panel.assign(alliance_dollars=panel["alliance_dollars"].fillna(0) + 1)
    assert program.never_funded_facts(paid)["never_funded_names"] == "none"


def test_funding_table_columns_and_blank_per_pupil():
    table = program.funding_table(funding(), 2013)
    assert list(table.columns) == ["Fiscal year", "Designated", "Receiving Alliance dollars",
                                   "Alliance dollars ($M)", "Per pupil ($)"]
    assert table["Fiscal year"].tolist() == [2013, 2014, 2015, 2016]
    assert table["Per pupil ($)"].tolist() == ["100", "200", "300", ""]


def test_dollars_figure():
    fig = program.dollars_figure(funding(), 2013)
    ax1, ax2 = fig.axes
    assert len(ax1.patches) == 4  # one bar per year with money from 2013
    assert [p.get_height() for p in ax1.patches] == [40, 80, 120, 200]
    assert "$ million" in ax1.get_title() and "per student" in ax2.get_title()
    assert len(ax2.lines[0].get_xdata()) == 3
    plt.close(fig)

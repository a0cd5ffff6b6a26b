"""District profiles: the sentence rules for given numbers, the page facts, figures and staffing table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _panels import axes_texts, legend_texts, small_panel

from alliance_study.chapters import profile


def paid_facts(**changes):
    facts = {"first_paid_year": 2013, "dollars_years": (2012, 2024), "dollars_total": 123_456_789.0,
             "dollars_last": 20_500_000.0, "per_pupil_last": 1234.4, "per_pupil_last_year": 2022}
    facts.update(changes)
    return facts


# --- sentences for given numbers ------------------------------------------------------------------------

def test_money_text_paid_with_per_pupil():
    assert profile.money_text(paid_facts(), "0640011") == (
        "Its Alliance portion of the ECS grant was first above zero in FY2013 and adds up to $123 million "
        "over FY2013-FY2024; in FY2024 it was $20.5 million ($1,234 per pupil in FY2022, the last year with "
        "enrollment data).")


def test_money_text_paid_without_enrollment():
    text = profile.money_text(paid_facts(per_pupil_last=None, per_pupil_last_year=None), "0640011")
    assert text.endswith("in FY2024 it was $20.5 million.")


def test_money_text_never_paid_and_published_note():
    text = profile.money_text(paid_facts(first_paid_year=None, dollars_years=(2012, 2024)), "1410011")
    assert text.startswith("The ECS file shows no Alliance portion for it in any year from FY2012 to FY2024: "
                           "designation and money are separate facts. The Hartford Courant reported")


def test_money_text_without_ecs_rows():
    text = profile.money_text(paid_facts(first_paid_year=None, dollars_years=None), "0000011")
    assert text == "The ECS file has no entitlement rows for it, so its Alliance dollars are unknown."


def test_designation_sentences():
    assert profile.cohort_text(2013) == "first designated for FY2013"
    assert profile.cohort_text(None) == "never designated"
    assert profile.opportunity_text([2018, 2019, 2020, 2023]) == (
        "an Opportunity District in FY2018-2020, 2023")
    assert profile.opportunity_text([]) == "not an Opportunity District"
    assert profile.enrollment_text(17930.4, 2022) == "It enrolled 17,930 students in 2022"
    assert profile.enrollment_text(None, None) == "Its enrollment is not in the data"


def test_missing_note():
    assert profile.missing_note([], "0640011", True) == (
        "Every outcome has at least one year of data for this district.")
    assert profile.missing_note(["SBAC ELA", "SEDA"], "0640011", True) == (
        "No data for this district: SBAC ELA; SEDA.")
    norwich = profile.missing_note(["Four-year graduation rate (%)"], "1040011", True)
    assert norwich.endswith("its graduates are reported under Norwich Free Academy.")
    assert "Norwich Free Academy" not in profile.missing_note([], "1040011", shows_graduation=False)


# --- facts of a district ---------------------------------------------------------------------------------

def test_district_facts():
    panel = small_panel()
    facts = profile.district_facts(panel, "0010011")
    assert facts["short_name"] == "District 0010011"
    assert facts["cohort"] == 2013
    assert facts["first_paid_year"] == 2013
    assert facts["dollars_total"] == 1000.0
    assert facts["per_pupil_last"] == pytest.approx(10.0)
    unpaid = profile.district_facts(panel, "0020011")
    assert unpaid["first_paid_year"] is None
    assert unpaid["dollars_years"] == (2012, 2013)
    assert profile.district_facts(panel, "0050012")["dollars_years"] is None
    with pytest.raises(KeyError):
        profile.district_facts(panel, "0010011", start_year=2020)


# --- the page --------------------------------------------------------------------------------------------

def page_panel() -> pd.DataFrame:
    p = small_panel()
    p["grad_rate"] = np.where(p["district_code"] == "0010011", np.nan, 90.0)
    p["fte_total"] = p["enrollment"] / 10
    p["ppe_total"] = 15000.0
    return p


def state() -> pd.DataFrame:
    return pd.DataFrame({"year": [2012, 2013], "grad_rate": [88.0, 89.0], "enrollment": [1000.0, 1000.0],
                         "fte_total": [100.0, 110.0]})


@pytest.fixture
def page():
    return profile.build(page_panel(), state(), 10011, ["m", "grad_rate"], ["fte_total"], ["enrollment"],
                         comparison="other_town_districts", start_year=2012, end_year=2013)


def test_page_facts(page):
    f = profile.facts(page)
    assert f["district_title"] == "District 0010011 (0010011)"
    assert f["district_code"] == "0010011"
    assert f["missing_note"] == "No data for this district: Four-year graduation rate (%)."
    assert f["money_text"].startswith("Its Alliance portion of the ECS grant was first above zero in FY2013")
    assert f["enrollment_text"] == "It enrolled 100 students in 2013"
    assert (f["staffing_last_year"], f["spending_last_year"]) == (2013, 2013)


def test_page_figures(page):
    fig = profile.outcomes_figure(page)
    assert axes_texts(fig) == ["m", "Four-year graduation rate (%)"]
    grad = fig.axes[1]
    assert [t.get_text() for t in grad.texts] == ["no data"]  # the district has no graduation rate
    assert legend_texts(fig) == ["District 0010011", "Other Alliance Districts", "Other town districts"]
    plt.close(fig)
    fig = profile.money_figure(page)
    bars, per_pupil = fig.axes
    assert [p.get_height() for p in bars.patches] == [0.0, 0.001]
    assert [t.get_text() for t in per_pupil.get_legend().get_texts()] == [
        "District 0010011", "Other Alliance Districts"]
    plt.close(fig)
    fig = profile.context_figure(page)
    assert axes_texts(fig) == ["Enrollment (students)", "All staff FTE per 100 students"]
    plt.close(fig)


def test_money_figure_without_money_says_so():
    page = profile.build(page_panel(), state(), "0020011", ["m"], ["fte_total"], ["enrollment"],
                         comparison="other_town_districts", start_year=2012, end_year=2013)
    fig = profile.money_figure(page)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no Alliance dollars in the ECS file"]
    assert len(fig.axes[0].patches) == 0
    plt.close(fig)


def test_staffing_table(page):
    table = profile.staffing_table(page)
    assert table.index.name == "Staff per 100 students"
    assert list(table.index) == ["All staff FTE per 100 students"]
    assert list(table.columns) == ["Year", "District 0010011", "Other Alliance Districts",
                                   "Other town districts", "State"]
    assert table.iloc[0].tolist() == ["2013", pytest.approx(10.0), pytest.approx(10.0), pytest.approx(10.0),
                                      pytest.approx(11.0)]

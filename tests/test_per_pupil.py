"""One definition of Alliance dollars per pupil (issue 13): pooled over the districts designated that year,
computed once (describe.alliance_dollars_per_pupil) and stated alike by the program and trends chapters, the
findings page and the district profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis import describe
from alliance_study.chapters import findings, profile, program, trends

A, B, C, D = "0010011", "0020011", "0030011", "0040011"


def panel() -> pd.DataFrame:
    """Four towns over 2012-2016; no enrollment file for 2016.

    A (cohort 2013, 100 students) and B (cohort 2013, 400 students) are paid from 2013, C (cohort 2015,
    500 students) from 2015; D is never designated. In 2015: A $60,000, B $100,000, C $150,000, so the
    pooled figure is 310,000 / 1,000 = $310, while the mean of the first cohort's ratios is
    (600 + 250) / 2 = $425 and the first cohort pooled is 160,000 / 500 = $320.
    """
    dollars = {A: [0, 20e3, 40e3, 60e3, 80e3], B: [0, 40e3, 60e3, 100e3, 120e3], C: [0, 0, 0, 150e3, 200e3],
               D: [0.0] * 5}
    enrollment = {A: 100.0, B: 400.0, C: 500.0, D: 300.0}
    cohort = {A: 2013, B: 2013, C: 2015, D: None}
    rows = []
    for code in (A, B, C, D):
        for i, year in enumerate(range(2012, 2017)):
            rows.append({"district_code": code, "district_name": f"Town {code} School District",
                         "entity_type": "town_district", "year": year, "alliance_cohort": cohort[code],
                         "alliance_dollars": float(dollars[code][i]),
                         "enrollment": enrollment[code] if year < 2016 else np.nan,
                         "grad_rate": 80.0, "ppe_total": 15000.0, "opportunity_district": 0})
    frame = pd.DataFrame(rows)
    frame["alliance_cohort"] = frame["alliance_cohort"].astype("Int64")
    frame["alliance_designated"] = (frame["year"] >= frame["alliance_cohort"]).fillna(False).astype("int8")
    frame["alliance_dollars_per_pupil"] = frame["alliance_dollars"] / frame["enrollment"]
    return frame


def test_pooled_over_the_districts_designated_that_year():
    out = describe.alliance_dollars_per_pupil(panel()).set_index("year")
    assert out.loc[2015, "dollars_per_pupil"] == pytest.approx(310.0)
    assert out.loc[2015, "n_districts"] == 3 and out.loc[2014, "n_districts"] == 2  # C not yet designated
    assert out.loc[2013, "dollars_per_pupil"] == pytest.approx(60e3 / 500)
    assert 2012 not in out.index and 2016 not in out.index  # nobody designated; no enrollment file


def test_by_district_is_each_districts_own_ratio_and_matches_the_panel_column():
    p = panel()
    own = describe.alliance_dollars_per_pupil(p, by=("district_code", "year"))
    merged = own.merge(p, on=["district_code", "year"])
    assert np.allclose(merged["dollars_per_pupil"], merged["alliance_dollars_per_pupil"])
    assert set(own["district_code"]) == {A, B, C}  # D is never designated


def test_alliance_funding_uses_the_definition():
    funding = describe.alliance_funding(panel()).set_index("year")
    assert funding.loc[2015, "dollars_per_pupil"] == pytest.approx(310.0)
    assert funding.loc[2015, "n_per_pupil"] == 3
    assert np.isnan(funding.loc[2016, "dollars_per_pupil"]) and funding.loc[2016, "n_per_pupil"] == 0


def test_program_and_trends_chapters_state_the_same_figure_for_the_same_year():
    p = panel()
    prog = program.money_facts(describe.alliance_funding(p), [2013, 2016], end_year=2016)
    state = pd.DataFrame({"year": range(2012, 2017), "grad_rate": 85.0})
    result = trends.compare(p, state, ["grad_rate"], ["ppe_total"], comparison="other_town_districts",
                            alliance_cohorts=[2013], start_year=2012, end_year=2016)
    trend = trends.facts(result)
    assert (prog["pp_last"], prog["pp_last_year"], prog["pp_n"]) == ("$310", 2015, 3)
    assert (trend["per_pupil"], trend["per_pupil_year"], trend["per_pupil_n"]) == ("$310", "2015", "3")
    assert prog["pp_definition"] == trend["per_pupil_definition"] == describe.PER_PUPIL_DEFINITION
    # Neither chapter's group (the FY2013 cohort: mean of ratios $425, pooled $320) leaks into the figure.
    cohort = p.loc[(p["year"] == 2015) & (p["alliance_cohort"] == 2013)]
    assert cohort["alliance_dollars_per_pupil"].mean() == pytest.approx(425.0)


def test_trends_chapter_refuses_a_mean_of_per_pupil_ratios():
    state = pd.DataFrame({"year": [2012], "grad_rate": [85.0]})
    with pytest.raises(ValueError, match="alliance_dollars_per_pupil is not averaged"):
        trends.compare(panel(), state, ["grad_rate"], ["alliance_dollars_per_pupil"],
                       comparison="other_town_districts", alliance_cohorts=[2013], start_year=2012,
                       end_year=2016)


def test_profile_and_profiles_index_use_the_definition():
    p = panel()
    facts = profile.district_facts(p, A)
    assert (facts["per_pupil_last"], facts["per_pupil_last_year"]) == (pytest.approx(600.0), 2015)
    table = findings.profiles_table(p).set_index("District")
    assert table.loc[f"Town {A}", "Alliance dollars per pupil (FY2015)"] == "$600"
    assert table.loc[f"Town {C}", "Alliance dollars per pupil (FY2015)"] == "$300"
    # A district paid only in years without enrollment data says so instead of "none paid".
    late = p.assign(alliance_designated=np.where((p["district_code"] == C) & (p["year"] < 2016), 0,
                                                 p["alliance_designated"]))
    late.loc[(late["district_code"] == C) & (late["year"] < 2016), "alliance_dollars"] = 0.0
    table = findings.profiles_table(late).set_index("District")
    assert table.loc[f"Town {C}"].filter(like="Alliance dollars per pupil").iloc[0] == "no enrollment data"

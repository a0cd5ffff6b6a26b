"""The bounding-trends page's chapter module (alliance_study.chapters.impact.sensitivity): rules, tables and
figures."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.chapters.impact import sensitivity as chapter


def test_rm_verdict_rules():
    assert chapter.rm_verdict(float("nan")).startswith("not bounded")
    assert chapter.rm_verdict(0.0).startswith("not distinguishable from zero")
    assert chapter.rm_verdict(0.26) == ("fragile: a post-designation drift 0.26 times the largest pre-period "
                                        "one would explain it")
    assert chapter.rm_verdict(1.0).startswith("robust to post-designation drifts up to 1.00 times")
    assert chapter.rm_verdict(math.inf).startswith("robust: it survives post-designation drifts even ten")


def test_sd_verdict_rules():
    assert chapter.sd_verdict(float("nan"), 1.0, 2).startswith("not bounded")
    assert chapter.sd_verdict(0.0, 1.0, 2).startswith("not distinguishable from zero once a linear trend")
    assert chapter.sd_verdict(0.05, 0.5, 3) == ("it survives bends of the trend difference up to 0.050 a "
                                                "year per year (0.10 standard errors)")


def test_band_verdict_counts_post_years_only():
    band = pd.DataFrame({"event_time": [-3, -2, 0, 1, 2], "band_low": [0.1, -1, -0.5, -0.4, -0.3],
                         "band_high": [1, 1, 1, 1, 1], "ci_low": [0.2, -1, 0.1, 0.2, -0.1],
                         "ci_high": [1, 1, 1, 1, 1]})
    # A pre-period year excluding zero is not counted; no post year's band excludes zero.
    assert chapter.band_verdict(band) == ("the simultaneous band includes zero in every post-designation "
                                          "year (the pointwise intervals exclude it in 2 of 3)")


@pytest.fixture(scope="module")
def results():
    sim = simulate.staggered_panel(n_units=60, years=range(2008, 2017), cohorts={2013: 20}, effect=0.5,
                                   noise_sd=0.2, seed=5)
    # The main design's baseline measure (SEDA) only ranks districts for other designs: any column will do.
    panel = sim.rename(columns={"cohort": "alliance_cohort"}).assign(entity_type="town_district",
                                                                     seda_gcs_eb=sim["baseline"])
    return chapter.estimate(panel, ["y"], end_year=2016, start_year=2008, m_fractions=[0, 0.1],
                            mbar_grid=[0, 1], min_treated=5, seed=1, n_draws=2_000)


def test_estimate_tables_facts_and_figures(results):
    r = results["y"]
    assert r.honest.n_pre == 4 and r.first_year == 2013
    # The truth (0.5) lies inside every robust set of the post average.
    avg = r.honest.intervals.loc[r.honest.intervals["target"] == "average"]
    assert ((avg["lower"] <= 0.5) & (avg["upper"] >= 0.5)).all()
    # Smoothness per post year too: one row per post event time and M.
    per = r.honest.intervals.loc[r.honest.intervals["target"] != "average"]
    assert sorted(per["target"].unique(), key=int) == ["0", "1", "2", "3"] and len(per) == 8
    summary = chapter.summary_table(results)
    assert list(summary.columns)[:3] == ["Outcome", "Post average", "SE"]
    assert len(chapter.intervals_table(results)) == 4
    facts = chapter.facts(results)
    assert facts["y_rm_verdict"] == chapter.rm_verdict(r.honest.breakdown_rm)
    assert facts["n_outcomes_robust"] == str(int(r.honest.breakdown_rm >= 1))
    assert chapter.plot_intervals(results).axes and chapter.plot_bands(results).axes

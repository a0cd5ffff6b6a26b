"""Cases the sampled mutation run (benchmarks/bench_mutation.py) found untested: a changed comparison in
the synthetic-control period split, the honest analysis's lead threshold, relative magnitudes with a single
pre-period year (graduation's case), and the comparison group of town and regional districts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _panels import small_panel

from alliance_study.analysis import impact
from alliance_study.analysis.impact import honest, results, sensitivity, synthetic


def _one_lead_study() -> results.EventStudy:
    # One lead (-2) on a single treated district, the reference -1, two post years; df 50.
    events = [-2, 0, 1]
    table, vcov = results.event_table(events, np.array([0.3, 1.0, 1.2]), np.eye(3) * 0.01,
                                      {-2: 1, -1: 5, 0: 5, 1: 5}, -1, 50, 0.05)
    return results.EventStudy("twfe", "y", table, vcov, -1, 51, 5, 50)


def test_synthetic_split_puts_the_first_post_year_in_the_post_period() -> None:
    wide = pd.DataFrame([[1.0] * 6], columns=range(2010, 2016))
    pre, post = synthetic._split(wide, 2013)
    assert pre.tolist() == [True, True, True, False, False, False]
    assert post.tolist() == [False, False, False, True, True, True]
    with pytest.raises(ValueError, match="need years before and from 2016"):
        synthetic._split(wide, 2016)


def test_event_vector_keeps_a_lead_on_one_treated_district_by_default() -> None:
    study = _one_lead_study()
    vec = honest.event_vector(study)
    assert vec.n_pre == 1 and vec.periods.tolist() == [-1, 1, 2] and vec.events.tolist() == [-2, 0, 1]
    assert honest.event_vector(study, min_treated=2).n_pre == 0


def test_relative_magnitudes_with_a_single_pre_period_year() -> None:
    # The only pre-period change is the lead's 0.3 against the reference's 0: the bound scales by it.
    sens = sensitivity.relative_magnitudes(_one_lead_study(), mbar=(0, 1))
    assert sens.max_pre_violation == pytest.approx(0.3)
    assert sens.table[["lower", "upper"]].notna().all().all()
    low0, high0 = sens.table.loc[0, ["lower", "upper"]]
    low1, high1 = sens.table.loc[1, ["lower", "upper"]]
    assert low1 < low0 < 1.1 < high0 < high1  # wider as the bound grows, around the post average 1.1
    assert 1.0 < sens.breakdown < 2.0  # the set at M-bar = 1 excludes zero; a finite larger bound admits it
    # Without the lead (two treated districts required) nothing scales the bound.
    undefined = sensitivity.relative_magnitudes(_one_lead_study(), mbar=(0, 1), min_treated=2)
    assert undefined.table[["lower", "upper"]].isna().all().all() and np.isnan(undefined.breakdown)


def test_town_and_regional_comparison_includes_regional_districts() -> None:
    panel = small_panel().assign(seda_gcs_eb=lambda p: p["m"])
    codes = {}
    for comparison in ("never_town", "never_town_regional"):
        # near_miss_n=1: were the comparison misread as the near-miss rule, it would keep one district.
        design = impact.Design("d", cohorts=(2013,), comparison=comparison, near_miss_n=1,
                               baseline_years=(2012, 2012))
        codes[comparison] = sorted(impact.build_sample(panel, "m", design)["district_code"].unique())
    # Town districts never designated (C, D) with the 2013 cohort (A); B (cohort 2018) and the charter never.
    assert codes["never_town"] == ["0010011", "0030011", "0040011"]
    assert codes["never_town_regional"] == ["0010011", "0030011", "0040011", "0050012"]

"""Fiscal and staffing focus measures on hand-computed small panels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis import focus


def _mix_panel() -> pd.DataFrame:
    rows = [
        ("0640011", 2010, 60.0, 40.0),
        ("0640011", 2011, 50.0, 50.0),
        ("0640011", 2012, 50.0, np.nan),
        ("0640011", 2013, 30.0, 10.0),
        ("0640011", 2014, 75.0, 25.0),
        ("0010011", 2010, 10.0, 0.0),
        ("0010011", 2011, 0.0, 10.0),
        ("0010011", 2012, 0.0, 0.0),
    ]
    return pd.DataFrame(rows, columns=["district_code", "year", "x", "y"])


def test_mix_shares_and_stability_by_hand():
    shares = focus.mix_shares(_mix_panel(), ["x", "y"])
    assert shares["x"].iloc[:2].tolist() == [0.6, 0.5]
    assert shares.iloc[[2, 7]][["x", "y"]].isna().all().all()  # a missing category; a zero total
    out = focus.mix_stability(_mix_panel(), ["x", "y"])
    got = {(d, y): (s, j) for d, y, s, j in out.itertuples(index=False)}
    # 2010 -> 2011: shares (.6, .4) -> (.5, .5): L1 0.2, stability 0.9, Jaccard (.5 + .4) / (.6 + .5).
    assert got[("0640011", 2011)] == (pytest.approx(0.9), pytest.approx(0.9 / 1.1))
    # 2012 has no complete mix, so neither 2012 nor 2013 has a pair; 2013 -> 2014 keeps (.75, .25): 1.
    assert ("0640011", 2012) not in got and ("0640011", 2013) not in got
    assert got[("0640011", 2014)] == (pytest.approx(1.0), pytest.approx(1.0))
    # Complete turnover: (1, 0) -> (0, 1) is stability 0.
    assert got[("0010011", 2011)] == (pytest.approx(0.0), pytest.approx(0.0))
    assert len(got) == 3


def _full_panel(n_alliance: int = 3, n_other: int = 3, shift: float = 1.0) -> pd.DataFrame:
    """Districts with all spending and staff categories; Alliance districts move spending between two
    functions every post year, the others never; instructional specialists rise by 1 FTE a year for all."""
    rows = []
    for i in range(n_alliance + n_other):
        alliance = i < n_alliance
        for year in range(2007, 2017):
            row = {
                "district_code": f"{i + 1:03d}0011",
                "year": year,
                "entity_type": "town_district",
                "alliance_cohort": 2013 if alliance else np.nan,
                "enrollment": 1000.0,
            }
            for k, col in enumerate(focus.SPENDING_FUNCTIONS):
                row[col] = 100.0 + k
            if alliance and year >= 2013 and year % 2:
                row["exp_instr_staff"] += 100 * shift
                row["exp_plant"] -= 50 * shift
            for k, col in enumerate(focus.STAFF_CATEGORIES):
                row[col] = 10.0 + k
            row["fte_instr_specialists"] = float(year - 2000)
            rows.append(row)
    panel = pd.DataFrame(rows)
    panel["alliance_cohort"] = panel["alliance_cohort"].astype("Int64")
    return panel


def _stability_by_sum_of_minima(before: pd.Series, after: pd.Series) -> float:
    """The overlap identity: 1 - half the L1 distance equals the sum of the smaller shares."""
    return float(np.minimum(before / before.sum(), after / after.sum()).sum())


def test_district_focus_and_group_comparison_by_hand():
    panel = _full_panel()
    table = focus.district_focus(panel, pre_years=range(2008, 2013), post_years=range(2013, 2016))
    a = table.set_index("district_code").loc["0010011"]
    b = table.set_index("district_code").loc["0040011"]
    spend = list(focus.SPENDING_FUNCTIONS)
    base = panel.loc[(panel.district_code == "0010011") & (panel.year == 2012), spend].iloc[0]
    moved = panel.loc[(panel.district_code == "0010011") & (panel.year == 2013), spend].iloc[0]
    s = _stability_by_sum_of_minima(base, moved)
    # Post years 2013, 2014, 2015 each change the mix by the same amount; pre years never do.
    assert a["spending_stability_pre"] == pytest.approx(1.0) and a["spending_stability_n_pre"] == 5
    assert a["spending_stability_post"] == pytest.approx(s) and a["spending_stability_n_post"] == 3
    assert a["spending_stability_change"] == pytest.approx(s - 1)
    assert b["spending_stability_change"] == pytest.approx(0.0)
    # Staff mix: only instructional specialists grow, the same in every district.
    staff = list(focus.STAFF_CATEGORIES)
    y12 = panel.loc[(panel.district_code == "0040011") & (panel.year == 2012), staff].iloc[0]
    y13 = panel.loc[(panel.district_code == "0040011") & (panel.year == 2013), staff].iloc[0]
    assert 0.99 < _stability_by_sum_of_minima(y12, y13) < 1
    # Specialists per 100 students: (year - 2000) / 10; pre mean over 2008-2012 = 1.0, post 2013-2015 = 1.4.
    assert a["support_per_100_pre"] == pytest.approx(1.0) and a["support_per_100_post"] == pytest.approx(1.4)
    comparison = focus.compare_groups(table, panel, n_permutations=2000, seed=0).table.set_index("measure")
    row = comparison.loc["spending_stability"]
    assert row["difference_in_change"] == pytest.approx(s - 1)
    assert (row["n_alliance"], row["n_comparison"]) == (3, 3)
    # Complete separation of 3 vs 3: 2 of the 20 splits are as extreme, p ~ 0.1.
    assert row["p_value"] == pytest.approx(0.1, abs=0.03)
    assert comparison.loc["support_per_100", "difference_in_change"] == pytest.approx(0.0)


def test_missing_enrollment_and_relate_focus():
    panel = _full_panel(n_alliance=12, n_other=0)
    panel.loc[panel.year == 2014, "enrollment"] = 0.0
    per100 = focus.support_per_100(panel)
    assert per100.loc[panel.year.to_numpy() == 2014, "support_per_100"].isna().all()
    table = focus.district_focus(panel, pre_years=range(2008, 2013), post_years=range(2013, 2016))
    assert (table["support_per_100_n_post"] == 2).all()
    improvement = pd.DataFrame({"district_code": table["district_code"], "score": np.arange(12.0)})
    result = focus.relate_focus(table, improvement, columns=["spending_stability_change"], n_permutations=200)
    assert result.n_linked == 12 and math.isnan(result.table.loc[0, "spearman"])  # no variation
    shares = focus.mean_shares(panel, focus.SPENDING_FUNCTIONS, panel["year"] == 2010, [2010])
    assert shares.sum() == pytest.approx(1.0)

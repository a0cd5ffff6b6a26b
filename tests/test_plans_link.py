"""Linking practices to improvement: rank correlation, improvers vs others, coverage statement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis.plans import link, metrics


def test_rankdata_and_spearman_match_hand_values():
    assert link.rankdata(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert link.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert link.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # x = 1..5, y = 2 1 4 3 5: d = (-1, 1, -1, 1, 0), rho = 1 - 6 * 4 / (5 * 24) = 0.8.
    assert link.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert math.isnan(link.spearman([1, 1, 1], [1, 2, 3])) and math.isnan(link.spearman([1, 2], [1, 2]))
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 40), rng.normal(size=40)
    assert link.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)


def test_few_districts_cannot_support_inference():
    recs, _ = simulate.plan_records(n_districts=4, plan_years=("2014-15", "2015-16"), seed=0)
    table = metrics.district_metrics(recs)
    improvement = pd.DataFrame({"district_code": table["district_code"], "score": [0.1, 0.5, -0.2, 0.3]})
    result = link.link_practices(table, improvement)
    assert not result.supports_inference
    assert (result.n_districts, result.n_linked, result.n_district_plan_years, result.n_plan_years) == (
        4,
        4,
        8,
        2,
    )
    assert (
        "4 district(s)" in result.statement
        and "8 district-plan year(s) in 2 distinct plan year(s)" in result.statement
    )
    assert "cannot support inference" in result.statement
    row = result.table.set_index("measure").loc["coupling_rate"]
    # Default improvers: above the median score (0.2): districts 2 and 4.
    assert (row["n_improvers"], row["n_others"]) == (2, 2)
    assert row["difference"] == pytest.approx(
        table["coupling_rate"].iloc[[1, 3]].mean() - table["coupling_rate"].iloc[[0, 2]].mean()
    )


def test_known_association_is_found_with_enough_districts():
    # 30 districts whose coupling rate rises with a known score; carryover unrelated (all 0.75).
    coupling = np.linspace(0.0, 1.0, 30)
    recs, truth = simulate.plan_records(
        n_districts=30, core_size=4, replaced_per_year=1, coupling_rate=coupling, seed=4
    )
    table = metrics.district_metrics(recs)
    improvement = pd.DataFrame(
        {"district_code": truth["district_code"], "score": coupling + 0.01, "improver": np.arange(30) >= 22}
    )
    result = link.associate(
        table, improvement, columns=["coupling_rate", "carryover"], n_permutations=500, seed=1
    )
    assert result.supports_inference
    rows = result.table.set_index("measure")
    assert rows.loc["coupling_rate", "spearman"] > 0.99
    assert rows.loc["coupling_rate", "p_spearman"] < 0.01 and rows.loc["coupling_rate", "p_difference"] < 0.01
    assert rows.loc["coupling_rate", "n_improvers"] == 8
    assert math.isnan(rows.loc["carryover", "spearman"])  # constant measure: undefined, not zero
    again = link.associate(table, improvement, columns=["coupling_rate"], n_permutations=500, seed=1)
    assert again.table.loc[0, "p_spearman"] == rows.loc["coupling_rate", "p_spearman"]


def test_bad_improvement_tables_are_refused():
    table = pd.DataFrame({"district_code": ["a"], "carryover": [0.5]})
    with pytest.raises(ValueError, match="score"):
        link.associate(table, pd.DataFrame({"district_code": ["a"]}))
    with pytest.raises(ValueError, match="several rows"):
        link.associate(table, pd.DataFrame({"district_code": ["a", "a"], "score": [1, 2]}))

"""Planning-practice metrics: simulated plans with known persistence and coupling, hand-computed cases,
and the consensus rule for double-coded plans."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis.plans import codebook, metrics, records


@pytest.fixture(scope="module")
def book():
    return codebook.load_codebook()


def test_simulated_plans_give_the_known_metrics(book):
    # Six districts from a fixed core (r = 0) to full turnover (r = c), with different coupling and dual
    # rates.
    sizes, drops = [3, 4, 5, 6, 4, 2], [0, 1, 2, 3, 4, 1]
    coupling, dual = [0.0, 0.25, 0.5, 0.75, 1.0, 0.4], [1.0, 0.5, 0.3, 0.1, 0.0, 0.6]
    recs, truth = simulate.plan_records(
        core_size=sizes, replaced_per_year=drops, coupling_rate=coupling, dual_rate=dual, seed=11
    )
    table = metrics.district_metrics(records.validate_records(recs, book)).set_index("district_code")
    truth = truth.set_index("district_code")
    for column in ("carryover", "jaccard", "n_distinct", "coupling_rate", "dual_monitoring_rate"):
        assert table[column].to_numpy() == pytest.approx(truth[column].to_numpy(), abs=1e-12), column
    assert (table["n_plan_years"] == 5).all() and (table["n_pairs"] == 4).all()
    # c = 5, r = 2: carryover 3/5, Jaccard 3/7, 13 distinct interventions.
    row = table.iloc[2]
    assert (row["carryover"], row["jaccard"], row["n_distinct"]) == (
        pytest.approx(0.6),
        pytest.approx(3 / 7),
        13,
    )


def test_metrics_are_invariant_to_the_seed(book):
    # Which codes are drawn changes with the seed; the metrics must not.
    a = metrics.district_metrics(simulate.plan_records(seed=1)[0])
    b = metrics.district_metrics(simulate.plan_records(seed=2)[0])
    cols = ["carryover", "jaccard", "n_distinct", "coupling_rate", "dual_monitoring_rate"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def _rec(district, year, code, coupled="", impl="", outcome="", smart="", coder="A"):
    return {
        "district_code": district,
        "plan_year": year,
        "intervention": code,
        "coder": coder,
        "coupled_capacity_building": coupled,
        "implementation_measure": impl,
        "outcome_measure": outcome,
        "smart_goal": smart,
        "evidence_quote": "q",
        "source_page": "2",
    }


def test_hand_computed_district(book):
    rows = [
        _rec("0640011", "2012-13", "k3_reading", "yes", "yes", "yes", "yes"),
        _rec("0640011", "2012-13", "extended_learning_time", "no", "yes", "", ""),
        _rec("0640011", "2012-13", "professional_development", "intrinsic", "no", "", "no"),
        _rec("0640011", "2013-14", "k3_reading", "yes", "yes", "no"),
        _rec("0640011", "2013-14", "instructional_coaching", "intrinsic", "", ""),
        _rec(
            "0640011",
            "2013-14",
            "other",
            "",
            "",
            "",
            "",
        ),
        # 2014-15 missing: 2015-16 pairs with nothing before it.
        _rec("0640011", "2015-16", "k3_reading", "", "yes", "yes"),
    ]
    frame = pd.DataFrame(rows).assign(notes="unnamed program")
    table = metrics.district_metrics(records.validate_records(frame, book)).iloc[0]
    # One adjacent pair (2012-13 -> 2013-14): {k3, elt, pd} -> {k3, coaching} ("other" left out):
    # carryover 1/3, Jaccard 1/4.
    assert table["n_pairs"] == 1
    assert table["carryover"] == pytest.approx(1 / 3)
    assert table["jaccard"] == pytest.approx(1 / 4)
    # Focus: 5 distinct codes (other counted once) over 3 plan years, 7 intervention-years.
    assert (table["n_distinct"], table["n_plan_years"], table["n_interventions"]) == (5, 3, 7)
    # Coupling: yes, no, yes coded (intrinsic and blank left out) -> 2/3 on 3.
    assert (table["coupling_rate"], table["n_coupling"]) == (pytest.approx(2 / 3), 3)
    # Dual monitoring: known for rows 1 (yes/yes), 3 (no), 4 (yes/no), 7 (yes/yes); row 2 (yes/blank)
    # unknown -> 2/4.
    assert (table["dual_monitoring_rate"], table["n_monitoring"]) == (pytest.approx(0.5), 4)
    assert (table["smart_goal_rate"], table["n_smart"]) == (pytest.approx(0.5), 2)


def test_rates_without_coded_attributes_are_missing_not_zero(book):
    frame = pd.DataFrame([_rec("0640011", "2012-13", "k3_reading")])
    table = metrics.district_metrics(records.validate_records(frame, book)).iloc[0]
    assert math.isnan(table["coupling_rate"]) and table["n_coupling"] == 0
    assert math.isnan(table["dual_monitoring_rate"]) and math.isnan(table["carryover"])


def test_consensus_rules(book):
    rows = [
        _rec("0640011", "2013-14", "k3_reading", "yes", coder="A"),
        _rec("0640011", "2013-14", "k3_reading", "no", coder="B"),
        _rec("0640011", "2013-14", "extended_learning_time", "yes", coder="A"),
        _rec("0640011", "2013-14", "tiered_interventions", "yes", coder="A"),
        _rec("0640011", "2013-14", "tiered_interventions", "yes", coder="B"),
        _rec("0640011", "2013-14", "tiered_interventions", "", coder="C"),
    ]
    recs = records.validate_records(pd.DataFrame(rows), book)
    # Three coders of the district-plan year: tiered 3/3, k3 2/3, extended 1/3.
    majority = metrics.consensus(recs).set_index("intervention")
    assert sorted(majority.index) == ["k3_reading", "tiered_interventions"]
    assert majority.loc["k3_reading", "coupled_capacity_building"] == ""  # yes vs no: a tie
    assert bool(majority.loc["k3_reading", "coupled_capacity_building_disputed"])
    assert majority.loc["tiered_interventions", "coupled_capacity_building"] == "yes"  # blank does not vote
    assert sorted(metrics.consensus(recs, rule="any")["intervention"]) == [
        "extended_learning_time",
        "k3_reading",
        "tiered_interventions",
    ]
    assert metrics.consensus(recs, rule="all")["intervention"].tolist() == ["tiered_interventions"]
    # An adjudicated coding replaces the others for that district-plan year.
    adjudicated = pd.DataFrame(
        [*rows, _rec("0640011", "2013-14", "extended_learning_time", "no", coder=metrics.ADJUDICATOR)]
    )
    final = metrics.consensus(records.validate_records(adjudicated, book))
    assert final["intervention"].tolist() == ["extended_learning_time"]
    assert final["coupled_capacity_building"].tolist() == ["no"]
    with pytest.raises(ValueError, match="consensus rule"):
        metrics.consensus(recs, rule="most")
    with pytest.raises(ValueError, match="consensus"):
        metrics.district_metrics(recs)


def test_two_coders_majority_is_the_intersection(book):
    recs, _ = simulate.plan_records(n_districts=3, coders=("A", "B"), omit_rate=0.3, add_rate=0.5, seed=5)
    recs = records.validate_records(recs, book)
    both = metrics.consensus(recs)
    a = set(
        zip(
            recs.loc[recs.coder == "A", "district_code"],
            recs.loc[recs.coder == "A", "plan_year"],
            recs.loc[recs.coder == "A", "intervention"],
            strict=True,
        )
    )
    b = set(
        zip(
            recs.loc[recs.coder == "B", "district_code"],
            recs.loc[recs.coder == "B", "plan_year"],
            recs.loc[recs.coder == "B", "intervention"],
            strict=True,
        )
    )
    got = set(zip(both["district_code"], both["plan_year"], both["intervention"], strict=True))
    # Where both coders coded the district-plan year, consensus is the intersection; where only one did
    # (the other's records were all omitted), that coder alone decides.
    units_b = {k[:2] for k in b}
    assert {k for k in got if k[:2] in units_b} == a & b
    assert {k for k in got if k[:2] not in units_b} == {k for k in a if k[:2] not in units_b}
    assert len(a ^ b) > 0


def test_persistence_pairs_table(book):
    recs, _ = simulate.plan_records(n_districts=1, core_size=4, replaced_per_year=1, seed=0)
    pairs = metrics.persistence_pairs(records.validate_records(recs, book))
    assert pairs["from_year"].tolist() == ["2012-13", "2013-14", "2014-15", "2015-16"]
    assert (pairs["n_common"] == 3).all() and pairs["carryover"].tolist() == [0.75] * 4

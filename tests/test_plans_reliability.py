"""Cohen's kappa and Krippendorff's alpha against hand-computed cases and published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis.plans import codebook, records, reliability
from alliance_study.analysis.plans.reliability import cohen_kappa, krippendorff_alpha, percent_agreement

N = None


def test_kappa_textbook_two_by_two():
    # 50 items: yes-yes 20, yes-no 5, no-yes 10, no-no 15: p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5 -> 0.4.
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_and_alpha_hand_computed_three_units():
    # A = a a b, B = a b b. kappa: p_o = 2/3, p_e = 2/3*1/3 + 1/3*2/3 = 4/9 -> (2/9)/(5/9) = 0.4.
    # alpha: o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n = 6, n_a = n_b = 3 -> 1 - 5 * 2 / (36 - 18) = 4/9.
    a, b = ["a", "a", "b"], ["a", "b", "b"]
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert krippendorff_alpha([a, b]) == pytest.approx(4 / 9)
    assert percent_agreement([a, b]) == pytest.approx(2 / 3)


def test_krippendorff_binary_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", two observers, ten units:
    # alpha = 0.095.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha([a, b]) == pytest.approx(0.095, abs=5e-4)
    # Cohen's kappa of the same data by hand: p_o = 0.6, p_e = 0.2*0.4 + 0.8*0.6 = 0.56 -> 0.04 / 0.44.
    assert cohen_kappa(a, b) == pytest.approx(0.04 / 0.44)


def test_krippendorff_nominal_example_with_missing_values():
    # Krippendorff (2011), four observers, twelve units, missing data: nominal alpha = 0.743.
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    ]
    assert krippendorff_alpha(data) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(reliability.KRIPPENDORFF_EXAMPLE) == pytest.approx(
        reliability.KRIPPENDORFF_EXAMPLE_ALPHA, abs=5e-4
    )
    # NaN and blank strings are missing too.
    as_text = [["" if v is None else str(v) for v in row] for row in data]
    assert krippendorff_alpha(as_text) == pytest.approx(krippendorff_alpha(data))
    as_float = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    assert krippendorff_alpha(as_float) == pytest.approx(krippendorff_alpha(data))


def test_perfect_agreement_and_undefined_cases():
    assert cohen_kappa([1, 0, 1], [1, 0, 1]) == pytest.approx(1.0)
    assert krippendorff_alpha([[1, 0, 1], [1, 0, 1]]) == pytest.approx(1.0)
    # One category throughout: chance agreement is 1, both statistics are undefined (NaN), not 1 or 0.
    assert math.isnan(cohen_kappa([0, 0, 0], [0, 0, 0]))
    assert math.isnan(krippendorff_alpha([[0, 0, 0], [0, 0, 0]]))
    # No pairable unit.
    assert math.isnan(krippendorff_alpha([[1, N], [N, 1]]))
    assert math.isnan(cohen_kappa([N, 1], [1, N]))
    with pytest.raises(ValueError):
        cohen_kappa([1, 2], [1])


def _double_coded() -> pd.DataFrame:
    """Two coders, three district-plan years, hand-checked presence table below."""
    rows = []

    def add(district, year, code, coder, coupled=""):
        rows.append(
            {
                "district_code": district,
                "plan_year": year,
                "intervention": code,
                "coder": coder,
                "evidence_quote": "q",
                "source_page": "1",
                "coupled_capacity_building": coupled,
            }
        )

    # Unit 1: both code k3_reading; only A codes extended_learning_time.
    add("0640011", "2013-14", "k3_reading", "A", "yes")
    add("0640011", "2013-14", "k3_reading", "B", "yes")
    add("0640011", "2013-14", "extended_learning_time", "A", "no")
    # Unit 2: both code k3_reading and extended_learning_time.
    add("0640011", "2014-15", "k3_reading", "A", "no")
    add("0640011", "2014-15", "k3_reading", "B", "yes")
    add("0640011", "2014-15", "extended_learning_time", "A", "")
    add("0640011", "2014-15", "extended_learning_time", "B", "no")
    # Unit 3: both code extended_learning_time only.
    add("1040011", "2013-14", "extended_learning_time", "A", "yes")
    add("1040011", "2013-14", "extended_learning_time", "B", "yes")
    # Coded by A only: not a reliability unit.
    add("1040011", "2014-15", "k3_reading", "A")
    return records.validate_records(pd.DataFrame(rows), codebook.load_codebook())


def test_reliability_table_per_code_and_overall():
    table = reliability.reliability_table(_double_coded()).set_index("code")
    # k3_reading: A = 1 1 0, B = 1 1 0 -> perfect agreement.
    assert table.loc["k3_reading", "n_units"] == 3
    assert table.loc["k3_reading", "kappa"] == pytest.approx(1.0)
    assert table.loc["k3_reading", "alpha"] == pytest.approx(1.0)
    # extended_learning_time: A = 1 1 1, B = 0 1 1: p_o = 2/3, p_e = 1*(2/3) + 0*(1/3) = 2/3 -> kappa 0;
    # alpha: o_11 = 4, o_10 = o_01 = 1, n = 6, n_1 = 5, n_0 = 1 -> 1 - 5 * 2 / (36 - 26) = 0.
    assert table.loc["extended_learning_time", "kappa"] == pytest.approx(0.0)
    assert table.loc["extended_learning_time", "alpha"] == pytest.approx(0.0)
    assert table.loc["extended_learning_time", "agreement"] == pytest.approx(2 / 3)
    # Overall pools the six (unit, code) pairs: A = 1 1 1 1 0 1, B = 1 0 1 1 0 1 (k3, elt per unit).
    a = [1, 1, 1, 1, 0, 1]
    b = [1, 0, 1, 1, 0, 1]
    assert table.loc["overall", "n_units"] == 6
    assert table.loc["overall", "kappa"] == pytest.approx(cohen_kappa(a, b))
    assert table.loc["overall", "alpha"] == pytest.approx(krippendorff_alpha([a, b]))


def test_attribute_reliability_treats_blank_as_missing():
    table = reliability.attribute_reliability(_double_coded()).set_index("attribute")
    # Shared interventions: (u1, k3) yes/yes, (u2, k3) no/yes, (u2, elt) blank/no, (u3, elt) yes/yes.
    assert table.loc["coupled_capacity_building", "n_units"] == 4
    assert table.loc["coupled_capacity_building", "n_pairable"] == 3
    a, b = ["yes", "no", "yes"], ["yes", "yes", "yes"]
    assert table.loc["coupled_capacity_building", "kappa"] == pytest.approx(cohen_kappa(a, b))
    assert table.loc["coupled_capacity_building", "alpha"] == pytest.approx(krippendorff_alpha([a, b]))


def test_disagreements_lists_the_adjudication_worklist():
    worklist = reliability.disagreements(_double_coded())
    assert worklist[["plan_year", "code", "coded_by", "not_coded_by"]].values.tolist() == [
        ["2013-14", "extended_learning_time", "A", "B"]
    ]


def test_simulated_disagreement_lowers_reliability():
    clean, _ = simulate.plan_records(coders=("A", "B"), seed=3)
    noisy, _ = simulate.plan_records(coders=("A", "B"), omit_rate=0.3, add_rate=0.5, seed=3)
    perfect = reliability.reliability_table(clean).set_index("code").loc["overall"]
    assert perfect["kappa"] == pytest.approx(1.0) and perfect["alpha"] == pytest.approx(1.0)
    worse = reliability.reliability_table(noisy).set_index("code").loc["overall"]
    assert worse["alpha"] < 0.9 and worse["kappa"] < 0.9

"""Pages that read cleanly: cell display tags, number formats, run records and the findings rules."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alliance_study.analysis import describe
from alliance_study.book import cells, record
from alliance_study.chapters import display, findings


def _code(source: str, tags=(), outputs=()) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}, "outputs": list(outputs)}


GLUE_ONLY = {"output_type": "display_data", "metadata": {},
             "data": {"application/papermill.record/text/plain": "30"}}
FIGURE = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBOR", "text/plain": "<F>"}}


@pytest.mark.parametrize(("cell", "tag"), [
    (_code("x = 1", ["injected-parameters"]), "remove-cell"),
    (_code("data_dir = None", ["parameters"]), "hide-cell"),
    (_code("import pandas as pd\nfrom a import b\npanel = load()"), "hide-cell"),
    (_code("display.glue('n', 30)", outputs=[GLUE_ONLY]), "remove-cell"),
    (_code("n = 3"), "remove-cell"),
    (_code("fig, ax = plt.subplots()", outputs=[FIGURE]), "hide-input"),
    (_code("print(3)", outputs=[{"output_type": "stream", "name": "stdout", "text": "3"}]), "hide-input"),
    (_code("record.run_record({})", outputs=[{"output_type": "execute_result", "metadata": {},
                                               "data": {"text/html": "<table>"}}]), "hide-input"),
    (_code("fig", ["hide-output"], outputs=[FIGURE]), None),  # the author's tag wins
    (_code("%matplotlib inline"), "remove-cell"),
    ({"cell_type": "markdown", "source": "# T", "metadata": {}}, None),
])
def test_reading_tags(cell, tag):
    assert cells.reading_tag(cell) == tag


def test_tag_for_reading_adds_one_tag_and_keeps_existing_ones():
    nb = {"cells": [_code("x = 1", ["parameters"]), _code("y", ["hide-input"]), _code("z = 2")]}
    assert cells.tag_for_reading(nb) == 2
    assert [c["metadata"]["tags"] for c in nb["cells"]] == [["parameters", "hide-cell"], ["hide-input"],
                                                            ["remove-cell"]]


@pytest.mark.parametrize(("value", "text"), [
    (2_187_345_678, "$2.19 billion"), (39_499_998, "$39.5 million"), (132_900_000, "$133 million"),
    (347_300_000, "$347 million"), (999_990_000, "$1.00 billion"), (1_290.4, "$1,290"), (183.2, "$183"),
    (-2_500_000, "-$2.50 million"), (float("nan"), "not available"),
])
def test_format_money(value, text):
    assert display.format_money(value) == text


def test_per_pupil_and_year_columns():
    assert display.format_per_pupil(1181.49) == "$1,181"
    assert display.format_per_pupil(math.nan) == "not available"
    table = pd.DataFrame({"Cohort": [2013], "First designated (FY)": [2018], "Enrollment": [20145],
                          "Spring year": [2016]})
    row = display.markdown_table(table).splitlines()[-1]
    assert row == "| 2013 | 2018 | 20,145 | 2016 |"


def test_run_record_shows_full_values_without_an_index(tmp_path):
    file = tmp_path / "input.csv"
    file.write_text("a,b\n1,2\n")
    long_value = ["achievement", "graduation", "absenteeism", "suspensions", "a long parameter value " * 4]
    rec = record.run_record({"indicators": long_value}, [file])
    html = rec._repr_html_()
    assert 'class="run-record"' in html and "<th>kind</th><th>name</th><th>value</th>" in html
    from alliance_study.data.registry import sha256_file

    digest = sha256_file(file)
    assert f"<code>{digest}</code>" in html and len(digest) == 64
    assert "a long parameter value " * 4 in html.replace("&quot;", '"')
    assert "<th></th>" not in html and "...</code>" not in html  # no index column, nothing cut
    assert list(rec.frame.columns) == ["kind", "name", "value"] and len(rec) == len(rec.frame)


# --- the findings rules ------------------------------------------------------------------------------------

def test_money_facts_from_a_hand_made_table():
    funding = pd.DataFrame({"year": [2012, 2013, 2014, 2015, 2016],
                            "alliance_dollars": [0.0, 39.5e6, 87.4e6, 132.9e6, math.nan],
                            "dollars_per_pupil": [math.nan, 183.4, 401.2, 612.6, math.nan]})
    f = findings.money_facts(funding)
    assert f == {"money_total": "$260 million", "money_first_fy": "2013", "money_last_fy": "2015",
                 "money_first": "$39.5 million", "money_last": "$133 million", "money_n_years": "3",
                 "pp_year": "2015", "pp_last": "$613", "money_trend": "rose",
                 "pp_definition": describe.PER_PUPIL_DEFINITION}
    flat = funding.assign(alliance_dollars=[0.0, 40e6, 41e6, 40.5e6, math.nan])
    assert findings.money_facts(flat)["money_trend"] == "stayed level"
    with pytest.raises(ValueError, match="no year with Alliance dollars"):
        findings.money_facts(funding.assign(alliance_dollars=0.0))


def test_improvement_facts_thresholds_and_sentence():
    names = {c: c.upper() for c in "abcdefghij"}
    p = {"a": 0.995, "b": 0.896, "c": 0.6, "d": 0.5, "e": 0.2, "f": 0.1, "g": 0.91, "h": 0.0, "i": 0.0,
         "j": math.nan}
    f = findings.improvement_facts(p, names, top=["a", "b", "c"], expected_in_top=2.4, top_n=3)
    # 0.896 prints as 0.90 and counts as sure (as printed); g is sure although outside the point top group.
    assert (f["n_sure"], f["sure_names"]) == (3, "A, B and G")
    assert f["n_likely"] == 4 and f["n_ranked"] == 9 and f["top_names"] == "A, B and C"
    assert f["certainty"].startswith("All 3 are in the top group in at least 90% of the draws")
    none = findings.improvement_facts({"a": 0.4, "b": 0.3}, names, ["a"], 0.4, 1)
    assert none["certainty"].startswith("No district") and none["sure_names"] == "none"
    some = findings.improvement_facts({"a": 0.95, "b": 0.3}, names, ["a", "b"], 1.2, 2)
    assert some["certainty"].startswith("Only 1 of the 2")


def test_trends_prose_follows_the_gaps():
    from alliance_study.chapters import trends

    gaps = pd.DataFrame({"start_gap": [-0.80, -2.13, 1.0], "end_gap": [-0.82, -2.67, 1.3]},
                        index=["index", "seda", "other"])
    different = trends.agreement_phrase(gaps, "seda", "index")
    assert different.startswith("tell a different story (the gap widened")
    assert trends.agreement_phrase(gaps, "seda", "other") == "tell the same story"  # both widened
    assert trends.gap_direction(-2.0, -2.1) == "held" and trends.gap_direction(2.0, 1.5) == "narrowed"


# --- the money finding: pass-through and crowd-out, from the money chapter's estimates ---------------------

def _est(b: float, lo: float, hi: float):
    from alliance_study.analysis.money import Estimate

    return Estimate("x", "y", "z", b, 0.1, lo, hi, 0.05, 0.3, 100, 30, "2012-2024")


@pytest.mark.parametrize(("preferred", "plain", "phrase", "fragile"), [
    ((1.41, 0.73, 2.09), (-1.78, -2.65, -0.90), "consistent with the whole grant reaching spending", True),
    ((1.6, 1.2, 2.0), (1.5, 1.1, 1.9), "more than dollar for dollar", False),
    ((0.5, 0.2, 0.8), (0.6, 0.1, 1.1), "partial", False),
    ((0.1, -0.4, 0.6), (0.0, -0.5, 0.5), "not distinguishable from no pass-through", False),
    ((-0.8, -1.2, -0.4), (0.5, 0.1, 0.9), "negative", True),
])
def test_pass_through_finding_rule(preferred, plain, phrase, fragile):
    text = findings.pass_through_finding(_est(*preferred), _est(*plain))
    lo, hi = preferred[1:]
    assert f"(95% interval {lo:.2f} to {hi:.2f})" in text and phrase in text
    assert ("the answer rests on how" in text) is fragile
    assert ("The estimate without the trends agrees" in text) is not fragile


@pytest.mark.parametrize(("preferred", "head"), [
    ((1.07, 0.24, 1.89), "Local revenue per pupil did not fall as Alliance dollars rose"),  # rejected
    ((-0.6, -1.0, -0.2), "Local revenue per pupil fell as Alliance dollars rose"),  # supported
    ((-0.1, -0.5, 0.3), "Whether local revenue fell as Alliance dollars rose cannot be settled"),
])
def test_crowd_out_finding_verdicts(preferred, head):
    text = findings.crowd_out_finding(_est(*preferred), {"a": _est(*preferred)})
    assert text.startswith(head) and "(95% interval" in text
    assert text.endswith("The other specification reaches the same verdict.")


def test_crowd_out_finding_names_the_specifications_that_disagree():
    rejected = _est(1.07, 0.24, 1.89)
    others = {"without district trends": _est(-0.92, -1.48, -0.37),
              "amounts years only, with trends": _est(0.59, -0.33, 1.52),
              "amounts years only, without trends": _est(0.9, 0.1, 1.7)}
    text = findings.crowd_out_finding(rejected, others)
    assert "2 of the 3 other specifications (without district trends: supported; amounts years only, with " \
           "trends: inconclusive) reach a different verdict" in text
    all_differ = findings.crowd_out_finding(rejected, dict(list(others.items())[:2]))
    assert "All 2 other specifications (" in all_differ
    # The money chapter's own rule decides the verdict: the same interval gets the same verdict there.
    from alliance_study.analysis.money import crowd_out_verdict

    assert crowd_out_verdict(rejected) == "rejected"


def test_money_use_facts_read_the_preferred_specifications():
    from types import SimpleNamespace

    co = {key: SimpleNamespace(alliance=_est(b, b - 0.5, b + 0.5))
          for key, b in (("trends", 1.0), ("twfe", -1.0), ("trends_amounts", 0.0), ("twfe_amounts", -0.2))}
    results = SimpleNamespace(pass_through={"trends": _est(1.4, 0.7, 2.1), "twfe": _est(-1.8, -2.6, -0.9)},
                              crowd_out=co)
    facts = findings.money_use_facts(results)
    assert set(facts) == {"money_pass_through", "money_crowd_out"}
    assert "went with 1.40 (95% interval 0.70 to 2.10)" in facts["money_pass_through"]
    assert facts["money_crowd_out"].startswith("Local revenue per pupil did not fall")
    assert "moved by 1.00 (95% interval 0.50 to 1.50)" in facts["money_crowd_out"]
    assert "All 3 other specifications" in facts["money_crowd_out"]

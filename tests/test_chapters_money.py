"""Chapter module "Where did the money go?": verdict rules, facts, tables, figures (no papermill)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from alliance_study.analysis import money
from alliance_study.analysis.money import DoseResult, Estimate
from alliance_study.chapters import money as chapter
from alliance_study.data import paths


def est(b, lo, hi, p=0.5, mde=0.3, name="x"):
    return Estimate(name, "y", "x", b, (hi - lo) / 3.92, lo, hi, p, mde, 100, 50, "2012-2024")


@pytest.mark.parametrize(
    "lo, hi, phrase",
    [
        (1.1, 1.9, "more than dollar for dollar"),
        (0.6, 1.4, "consistent with the whole grant"),
        (0.2, 0.7, "partial"),
        (-0.3, 0.5, "not distinguishable from no pass-through"),
        (-1.0, -0.2, "negative"),
    ],
)
def test_pass_through_sentence_classes(lo, hi, phrase):
    text = chapter.pass_through_sentence(est((lo + hi) / 2, lo, hi), est((lo + hi) / 2, lo, hi))
    assert phrase in text and "depends on" not in text


def test_pass_through_sentence_flags_disagreeing_specifications():
    text = chapter.pass_through_sentence(est(1.4, 0.7, 2.1), est(-1.8, -2.7, -0.9))
    assert "depends on" in text and "-1.80" in text


def test_crowd_out_sentence_follows_the_rule_and_names_disagreements():
    supported = chapter.crowd_out_sentence(est(-0.6, -0.9, -0.3, mde=0.4), {})
    assert "support the account" in supported and "0.40" in supported
    rejected = chapter.crowd_out_sentence(est(0.2, -0.1, 0.5), {"other": est(-0.6, -0.9, -0.3)})
    assert "reject the account" in rejected and "25 cents" in rejected
    assert "other (supported" in rejected
    same = chapter.crowd_out_sentence(est(0.2, -0.1, 0.5), {"other": est(0.1, -0.2, 0.4)})
    assert "same verdict" in same
    undecided = chapter.crowd_out_sentence(est(-0.1, -0.6, 0.4), {})
    assert "cannot settle" in undecided


def _dose(f, first, lead_p):
    e = est(0.03, 0.01, 0.05)
    return DoseResult(
        "seda_gcs_eb",
        e,
        e,
        est(0.09, 0.03, 0.15),
        est(first, first - 0.2, first + 0.2),
        f,
        f >= 10,
        est(0.0, -0.1, 0.1, p=lead_p),
    )


def test_instrument_rules_and_dose_sentence():
    assert chapter.instrument_usable(_dose(25.0, 0.8, 0.5)) == (True, "")
    assert "weak" in chapter.instrument_usable(_dose(6.0, 0.8, 0.5))[1]
    assert "wrong sign" in chapter.instrument_usable(_dose(25.0, -0.8, 0.5))[1]
    assert "future spending" in chapter.instrument_usable(_dose(25.0, 0.8, 0.01))[1]
    # Usable: the 2SLS estimate 0.09 grade levels -> 0.09 / 3 * 1.28 = 0.0384 SD (interval 0.0128-0.064):
    # consistent with 0.0316.
    text = chapter.dose_sentence(_dose(25.0, 0.8, 0.5), 1.28)
    assert "instrumented" in text and "0.038" in text and "consistent with" in text
    # Not usable: OLS 0.03 -> 0.0128 SD (0.0043-0.0213): smaller than the benchmark, not zero.
    text = chapter.dose_sentence(_dose(6.0, 0.8, 0.5), 1.28)
    assert "by OLS" in text and "smaller than" in text and "distinguishable from zero" in text


def test_pretrend_sentence():
    assert "already moving" in chapter.pretrend_sentence({"f": 5.0, "p": 0.001, "q": 4})
    assert "parallel" in chapter.pretrend_sentence({"f": 0.5, "p": 0.7, "q": 4})


def test_dollar_formatting():
    assert chapter._dollars(-1419.4) == "-$1,419" and chapter._dollars(2655.0) == "$2,655"
    assert chapter._dollars(np.nan) == "not available"


def test_district_profile_table_and_figure():
    m = pd.DataFrame(
        {
            "district_code": ["0640011"] * 3,
            "year": [2012, 2013, 2014],
            **{f"{k}_real": [1000.0, np.nan, 3000.0] for k in chapter.PROFILE_MEASURES},
        }
    )
    t = chapter.district_money_table(m, "0640011")
    assert t["Fiscal year"].tolist() == [2012, 2013, 2014]
    assert t[money.MEASURES["spending_pp"]].tolist() == ["1,000", "", "3,000"]
    fig = chapter.district_money_figure(m, "0640011")
    assert len(fig.axes[0].get_legend_handles_labels()[0]) == len(chapter.PROFILE_MEASURES)


# --- the real data ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(real_build):
    build, _ = real_build
    return chapter.compute(build.panel, build.extras["cpi"], build.extras["revenue_checks"])


@pytest.mark.realdata
def test_every_glued_name_in_the_notebook_is_produced(results):
    nb = json.loads((paths.PROJECT_ROOT / "notebooks" / "09_trace_money.ipynb").read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    used = set(re.findall(r"\{glue:text\}`([^`]+)`", markdown))
    used |= set(re.findall(r"\{glue:(?:figure|md)\} (\S+)", markdown))
    produced = set(chapter.facts(results)) | set(re.findall(r'glue_(?:figure|table)\("([^"]+)"', code))
    assert used and used <= produced, sorted(used - produced)
    assert "nan" not in " ".join(chapter.facts(results).values())


@pytest.mark.realdata
def test_tables_and_figures_on_real_data(results):
    assert len(chapter.estimates_table(results)) == 3 + 3 * 4
    assert {"first-stage F"} <= set(chapter.dose_table(results)["Estimate"])
    flagged = chapter.flagged_revenue_table(results)
    assert {"Colebrook School District", "North Branford School District"} <= set(flagged["District"])
    fig = chapter.series_figure(results)
    assert sum(ax.get_visible() for ax in fig.axes) == 6
    assert chapter.facts(results)["n_alliance"] == "36"


@pytest.mark.realdata
def test_profile_money_figure_for_every_alliance_district(real_build):
    import matplotlib.pyplot as plt

    build, _ = real_build
    panel, cpi = build.panel, build.extras["cpi"]
    for code in sorted(panel.loc[panel["alliance_cohort"].notna(), "district_code"].unique()):
        fig = chapter.profile_money_figure(panel, cpi, code)
        handles, _ = fig.axes[0].get_legend_handles_labels()
        assert len(handles) == len(chapter.PROFILE_MEASURES), code
        assert any(len(line.get_xdata()) > 10 for line in fig.axes[0].lines), code
        plt.close(fig)

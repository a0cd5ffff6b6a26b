"""The synthetic-comparison page's chapter module (chapters/impact/synthetic.py): verdict rules for given
numbers, facts and tables on a simulated panel with a planted effect, and the notebook on the real build."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest
from _notebooks import NOTEBOOK_DIR, Job, error_outputs, execute, glued_values, referenced_glue, stray_outputs

from alliance_study import simulate
from alliance_study.book.runner import declared_parameters
from alliance_study.chapters.impact import synthetic as chapter

NAN = float("nan")


def _row(**kw):
    base = {
        "district_code": "A",
        "outcome": "seda_gcs_eb",
        "method": "sdid",
        "estimate": -0.3,
        "se": 0.3,
        "ci_low": -0.9,
        "ci_high": 0.3,
        "p_ratio": 0.4,
        "p_effect": 0.4,
        "p_placebo": 0.4,
        "pre_rmspe": 0.02,
        "post_rmspe": 0.3,
        "donor_sd": 0.5,
        "n_pre": 4,
        "n_weighted": 20,
        "top_weight": 0.1,
        "top_donor": "X",
        "pre_position": "below",
        "top_is_nearest": False,
        "skipped": "",
    }
    base.update(kw)
    return base


# --- rules ----------------------------------------------------------------------------------------------


def test_fit_quality_rule():
    assert chapter.fit_quality(0.1, 1.0) == "good"
    assert chapter.fit_quality(0.25, 1.0) == "good"  # at the threshold
    assert chapter.fit_quality(0.26, 1.0) == "poor"
    assert chapter.fit_quality(NAN, 1.0) == "unknown" and chapter.fit_quality(0.1, 0.0) == "unknown"


def test_row_verdict_rules():
    assert chapter.row_verdict(_row(skipped="2 pre-period years")) == "not estimated"
    assert chapter.row_verdict(_row(estimate=NAN)) == "not estimated"
    # A poor fit makes no claim even with the smallest p-value.
    assert chapter.row_verdict(_row(pre_rmspe=1.5, p_placebo=0.01)) == "no claim: poor pre-period fit"
    assert chapter.row_verdict(_row(p_placebo=0.2)) == "not distinguishable from placebos"
    assert chapter.row_verdict(_row(p_placebo=0.05)) == "not distinguishable from placebos"  # not below 5%
    assert chapter.row_verdict(_row(p_placebo=0.02, estimate=-0.5)) == "lower than placebos"
    assert chapter.row_verdict(_row(p_placebo=0.02, estimate=0.5)) == "higher than placebos"


def test_outcome_judgement_cases():
    names = {"A": "Alpha", "B": "Beta"}
    none = pd.DataFrame(
        [_row(estimate=-0.4, p_placebo=0.3), _row(district_code="B", estimate=-0.1, p_placebo=0.6)]
    )
    text = chapter.outcome_judgement(none, "seda_gcs_eb", names)
    assert text.startswith("For SEDA achievement, the synthetic DiD estimates range from -0.400 to -0.100")
    assert "none is distinguishable" in text and "placebo p from 0.300 to 0.600" in text
    one = pd.DataFrame([_row(estimate=-0.8, p_placebo=0.02), _row(district_code="B", p_placebo=0.6)])
    text = chapter.outcome_judgement(one, "seda_gcs_eb", names)
    assert "Alpha (-0.800, placebo p = 0.020) lies outside the placebo distribution at the 5% level" in text
    assert "none" not in text
    poor = pd.DataFrame([_row(pre_rmspe=2.0, p_placebo=0.01), _row(district_code="B", p_placebo=0.6)])
    text = chapter.outcome_judgement(poor, "seda_gcs_eb", names)
    assert "misses the pre-designation outcomes of Alpha" in text and "no effect is claimed there" in text
    assert "; that for Beta is not distinguishable" in text and "(p = 0.600)" in text  # Beta alone is left
    assert "no synthetic DiD estimate" in chapter.outcome_judgement(none, "grad_rate", names)


def test_multiple_testing_and_skipped_texts():
    table = pd.DataFrame(
        [
            _row(p_placebo=0.01),
            _row(district_code="B"),
            _row(district_code="C"),
            _row(method="sc", pre_rmspe=2.0, p_placebo=0.01),
        ]
    )
    assert chapter.multiple_testing_text(table) == (
        "1 of the 3 synthetic DiD comparisons passes the 5% placebo "
        "test, where chance alone would give about 0.15"
    )
    skipped = pd.DataFrame(
        [
            _row(),
            _row(outcome="grad_rate", method="", skipped="x", n_pre=2),
            _row(district_code="B", outcome="grad_rate", method="", skipped="x", n_pre=2),
        ]
    )
    assert chapter.skipped_text(skipped, 4) == (
        "Graduation (2) has fewer than 4 years before designation (counts in brackets) and is not estimated"
    )
    assert chapter.skipped_text(pd.DataFrame([_row()]), 4) == "Every outcome has at least 4 pre-period years"


def test_sc_fit_text_rules():
    names = {"A": "Alpha", "B": "Beta"}
    below = pd.DataFrame(
        [
            _row(method="sc", pre_rmspe=1.5, donor_sd=0.5, top_weight=1.0, top_is_nearest=True),
            _row(
                district_code="B",
                method="sc",
                pre_rmspe=2.0,
                donor_sd=0.5,
                top_weight=1.0,
                top_is_nearest=True,
            ),
        ]
    )
    text = chapter.sc_fit_text(below, names)
    assert text.startswith("Classic synthetic control fits none of the 2 district-outcome pairs")
    assert "3.0 to 4.0 times the spread" in text and "all of its weight" in text and "lowest-scoring" in text
    inside = below.assign(pre_position="inside")
    assert "below every donor" not in chapter.sc_fit_text(inside, names)
    mixed = below.assign(pre_rmspe=[0.05, 2.0])
    assert chapter.sc_fit_text(mixed, names).startswith("Classic synthetic control fits 1 of the 2")
    assert "poor for Beta" in chapter.sc_fit_text(mixed, names)
    good = below.assign(pre_rmspe=[0.05, 0.1])
    assert chapter.sc_fit_text(good, names).startswith("Classic synthetic control fits all 2")


def test_level_contrast_and_weight_texts():
    ctx = pd.DataFrame(
        {
            "seda_gcs_eb": [3.5, 4.0, 5.4, 6.0],
            "enrollment": [20000, 18000, 9000, 500],
            "frl_share": [90.0, 75.0, 38.0, 10.0],
            "group": ["district", "district", "donor", "other"],
        }
    )
    assert chapter.level_text(ctx) == (
        "3.500 to 4.000 grade levels before designation, every one below the "
        "lowest never-designated town district (5.400)"
    )
    assert chapter.contrast_text(ctx).startswith("Every never-designated town district is smaller")
    overlap = ctx.assign(seda_gcs_eb=[3.5, 5.5, 5.4, 6.0], enrollment=[20000, 18000, 19000, 500])
    assert chapter.level_text(overlap).endswith("1 never-designated town district scored lower")
    assert chapter.contrast_text(overlap).startswith("1 never-designated town district is as large")
    table = pd.DataFrame([_row(n_weighted=12, top_weight=0.2), _row(n_weighted=30, top_weight=0.05)])
    assert chapter.weights_text(table) == (
        "between 12 and 30 donors carry more than 1% of the weight in each "
        "comparison, and no donor more than 20%"
    )


# --- the page on a simulated panel --------------------------------------------------------------------------


def _sim_panel() -> pd.DataFrame:
    """Two large, poor treated districts (the first with a planted SEDA effect of 2) and 24 donors."""
    sim = simulate.factor_panel(
        n_units=26,
        n_treated=2,
        years=range(2006, 2020),
        effect=0.0,
        treated_shift=-3.0,
        loading_sd=0.1,
        noise_sd=0.05,
        seed=4,
    )
    codes = sorted(sim["district_code"].unique())
    big = sim["district_code"] == codes[0]
    sim["seda_gcs_eb"] = sim["y"] + np.where(big & (sim["year"] >= 2013), 2.0, 0.0)
    sim["achievement_index"] = sim["y0"] * 0.5
    sim["grad_rate"] = np.where(sim["year"] >= 2011, 80 + sim["y0"], np.nan)
    rank = sim["district_code"].map({c: i for i, c in enumerate(codes)})
    return sim.assign(
        alliance_cohort=sim["cohort"],
        entity_type="town_district",
        enrollment=np.where(rank < 2, 20000.0 - 1000 * rank, 1000.0 + rank),
        frl_share=np.where(rank < 2, 90.0, 40.0 - rank),
        district_name=sim["district_code"].map(lambda c: f"Town{c[3]}{c[4]} School District"),
    )


@pytest.fixture(scope="module")
def analysis():
    return chapter.analyze(
        _sim_panel(),
        ["seda_gcs_eb", "achievement_index", "grad_rate"],
        n_districts=2,
        donor_n=20,
        end_year=2019,
    )


def test_analysis_recovers_the_planted_effect_and_names_districts(analysis):
    table = analysis.table
    big = table.loc[(table["outcome"] == "seda_gcs_eb") & (table["method"] == "sdid")].iloc[0]
    assert big["estimate"] == pytest.approx(2.0, abs=0.2)
    assert big["p_placebo"] == pytest.approx(1 / 21)
    assert chapter.row_verdict(big) == "higher than placebos"
    assert analysis.names[analysis.districts[0]] == "Town01"
    assert len(analysis.donors) == 20 and analysis.settings["n_all_donors"] == 24
    facts = chapter.facts(analysis)
    assert facts["syn_d1"] == "Town01" and facts["syn_districts"] == "Town01 and Town02"
    assert facts["syn_skipped"].startswith("Graduation (2)")  # 2011 and 2012
    assert (
        "Town01 (" in facts["syn_seda_gcs_eb_judgement"]
        and "lies outside the placebo" in facts["syn_seda_gcs_eb_judgement"]
    )
    assert facts["syn_n_donors"] == "20" and facts["syn_n_all_donors"] == "24"
    assert facts["syn_min_p"] == "1/21 = 0.048"


def test_tables_and_figures(analysis):
    shown = chapter.summary_display(analysis.table, analysis.names)
    assert list(shown.columns) == [
        "District",
        "Outcome",
        "Method",
        "Effect",
        "95% interval (placebo SE)",
        "Placebo p",
        "Pre-period RMSPE",
        "Fit",
        "Donors with weight",
        "Verdict",
    ]
    assert len(shown) == 2 * 2 * 2 and set(shown["District"]) == {"Town01", "Town02"}
    assert (shown.loc[shown["Method"] == "synthetic control", "95% interval (placebo SE)"] == "").all()
    weights = chapter.weights_display(analysis.results, analysis.names, "seda_gcs_eb")
    assert weights["District"].tolist() == ["Town01", "Town02"]
    assert all(cell.startswith("Town") for cell in weights["Top donors (weight %)"])
    fig = chapter.plot_paths(analysis)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == [
        "Town01: SEDA (grade levels)",
        "Town01: Achievement index (z)",
        "Town02: SEDA (grade levels)",
        "Town02: Achievement index (z)",
    ]
    fig2 = chapter.plot_placebos(analysis)
    assert [ax.get_title() for ax in fig2.axes if ax.get_visible()] == [
        "SEDA (grade levels)",
        "Achievement index (z)",
    ]
    import matplotlib.pyplot as plt

    plt.close("all")


# --- the notebook on the real build ---------------------------------------------------------------------

SOURCE = NOTEBOOK_DIR / "14_compare_synthetic.ipynb"


def test_source_skeleton():
    nb = nbformat.read(SOURCE, as_version=4)
    assert nb.cells[0].source.startswith("# ") and "What this page answers" in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "record.run_record(" in code[-1].source
    params = declared_parameters(SOURCE)
    assert params["data_dir"] is None and params["main_end_year"] == 2019


@pytest.mark.realdata
def test_notebook_runs_and_glues_the_library_values(real_build, tmp_path):
    build, data_dir = real_build
    out = tmp_path / "impact_synthetic.ipynb"
    execute([Job(SOURCE, out, {"data_dir": str(data_dir)})])
    values = glued_values(out)
    assert not referenced_glue(out) - set(values)
    assert error_outputs(out) == [] and stray_outputs(out) == []
    params = declared_parameters(SOURCE)
    facts = chapter.facts(
        chapter.analyze(
            build.panel,
            params["outcomes"],
            params["n_districts"],
            params["cohort"],
            params["donor_n"],
            params["donor_measure"],
            tuple(params["baseline_years"]),
            params["main_end_year"],
            params["min_pre_years"],
            params["enrollment_year"],
            params["start_year"],
        )
    )
    for name in (
        "syn_districts",
        "syn_sc_fit",
        "syn_seda_gcs_eb_judgement",
        "syn_achievement_index_judgement",
        "syn_multiple",
        "syn_robustness",
        "syn_skipped",
    ):
        assert str(values[name]).strip("'\"") == facts[name], name
    # Names come from the panel: the four largest FY2013 districts by 2012 enrollment.
    assert facts["syn_districts"] == "Hartford, New Haven, Bridgeport and Waterbury"

"""Tests of the robustness page's chapter module (alliance_study.chapters.impact.robustness): every verdict
rule for given numbers, the display tables, and one pass of the section functions on a simulated panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis import impact
from alliance_study.analysis.impact import bundled
from alliance_study.chapters.impact import robustness as page


def test_p_phrase_and_multiple_testing_text():
    assert page.p_phrase(0.0004) == "p < 0.001"
    assert page.p_phrase(0.0123) == "p = 0.012"
    assert page.p_phrase(float("nan")) == "p not estimable"
    assert page.multiple_testing_text(15, 0, 0, 0, []) == \
        "None of the 15 tests rejects at 5% even before any correction."
    assert page.multiple_testing_text(15, 3, 1, 0, []).endswith(
        "so no result survives a familywise correction.")
    assert page.multiple_testing_text(15, 2, 2, 2, ["a", "b"]).endswith("every rejection survives (a, b).")
    text = page.multiple_testing_text(15, 6, 5, 4, ["a", "b"])
    assert text.startswith("Of the 15 tests, 6 reject at 5% one at a time; 5 still do after Holm's")
    assert text.endswith("4 after Romano and Wolf's. The survivors: a, b.")


def test_multiple_facts_counts_rejections():
    table = pd.DataFrame({"design": ["main", "main"], "outcome": ["grad_rate", "seda_gcs_eb"],
                          "p_holm": [0.01, 0.5], "p_romano_wolf": [0.008, 0.4],
                          "reject_unadjusted": [True, True], "reject_holm": [True, False],
                          "reject_romano_wolf": [True, False]})
    facts = page.multiple_facts(table)
    assert (facts["rb_n_raw"], facts["rb_n_holm"], facts["rb_n_rw"]) == ("2", "1", "1")
    assert facts["rb_rw_main_grad_rate"] == "0.008" and facts["rb_holm_main_seda_gcs_eb"] == "0.500"
    assert "graduation rate in the main design" in facts["rb_multiple_text"]


def test_power_text_thresholds():
    assert page.power_text(0.85).endswith("so a null result is informative")
    assert page.power_text(0.6) == "the design would detect an effect of that size only 60% of the time"
    assert page.power_text(0.12).endswith("so a null result says little about effects of that size")
    assert page.power_text(float("nan")) == "no reference effect is available"


def test_form_text_cases():
    assert page.form_text(0.001, 0.01, True, "log-odds") == "holds in log-odds as in points"
    assert page.form_text(0.001, 0.01, False, "logs").startswith("changes sign in logs")
    assert page.form_text(0.001, 0.075, True, "log points") == \
        "is not distinguishable from zero in log points (p = 0.075): it rests on measuring change in points"
    assert page.form_text(0.2, 0.01, True, "logs").startswith("is distinguishable from zero in logs")
    assert page.form_text(0.2, 0.3, True, "logs") == "is distinguishable from zero on neither scale"


def test_weights_text_cases():
    # Moved by 1.5 SE, both significant.
    assert page.weights_text(1.0, 1.3, 0.01, 0.001, 0.2) == \
        "weighting by students moves the estimate by more than one standard error, and it remains significant"
    assert page.weights_text(0.0, 0.1, 0.5, 0.6, 0.2).endswith("less than one standard error, and it remains "
                                                               "not significant")
    assert page.weights_text(0.1, 0.5, 0.2, 0.01, 0.2).endswith("and it becomes significant (p = 0.010)")


def test_heterogeneity_text_cases():
    assert page.heterogeneity_text("dose tercile", ["low", "high"], ["1.0", "2.0"], 0.3) == \
        "no detectable difference by dose tercile (p = 0.300)"
    got = page.heterogeneity_text("Opportunity District", ["others", "the ODs"], ["2.44", "7.21"], 0.0001)
    assert got == \
        "the effects differ by Opportunity District (p < 0.001): 2.44 for others and 7.21 for the ODs"
    assert page.heterogeneity_text("dose tercile", ["a", "b", "c"], ["1", "-2", "3"], 0.01) == \
        "the effects differ by dose tercile (p = 0.010): 1 for a, -2 for b and 3 for c"
    assert page.heterogeneity_text("x", ["a"], ["1"], float("nan")) == "by x: not estimable"


def test_bundled_text_rules():
    programs = bundled.BUNDLED_PROGRAMS
    exposure = {"psd": (15, 0), "network": (8, 0), "opportunity": (10, 0), "pa15_96": (30, 113)}
    grad = page.bundled_text("grad_rate", programs, (2013, 2019), exposure)
    assert grad.startswith("The estimate is the effect of designation together with Commissioner's Network "
                           "(from 2013, 8 designated districts) and Opportunity District support (from 2018, "
                           "10 designated districts)")
    assert "Priority School District grants (15 designated districts) predate designation" in grad
    assert "Public Act 15-96" not in grad
    susp = page.bundled_text("suspension_rate", programs, (2013, 2019), exposure)
    assert "Public Act 15-96 (early-grade suspensions) (from 2016) applied to every district" in susp
    # A window ending before the Opportunity Districts and the law: neither is named.
    early = page.bundled_text("suspension_rate", programs, (2013, 2015), exposure)
    assert "Opportunity" not in early and "15-96" not in early
    # A program that reached comparison districts as much as designated ones is not confounded.
    none = page.bundled_text("seda_gcs_eb", programs[:1], (2013, 2019), {"psd": (3, 3)})
    assert none == "No other program in the sourced list overlaps with designation for this outcome."


def test_seda_ols_and_loo_text():
    assert page.seda_ols_text({"p_value": 0.5}, {"p_value": 0.7}) == "the same verdict (not significant)"
    assert page.seda_ols_text({"p_value": 0.5}, {"p_value": 0.01}) == \
        "a different verdict: significant with the unshrunk estimates (p = 0.010)"
    assert page.loo_text(0, 0, 30, "Hartford") == \
        "no single district carries it: dropping any one of the 30 leaves sign and verdict"
    assert page.loo_text(3, 1, 30, "New London") == (
        "it is fragile: 3 of the 30 leave-one-out estimates change sign and 1 changes the verdict at 5% "
        "(most influential: New London)")


def _sim_panel() -> pd.DataFrame:
    sim = simulate.staggered_panel(n_units=40, years=range(2009, 2020), cohorts={2013: 12}, effect=2.0,
                                   noise_sd=1.0, seed=4)
    rng = np.random.default_rng(0)
    codes = sorted(sim["district_code"].unique())
    opportunity = set(sim.loc[sim["cohort"].notna(), "district_code"].unique()[:4])
    panel = sim.rename(columns={"cohort": "alliance_cohort"}).assign(
        entity_type="town_district", grad_rate=lambda d: 85 + d["y"], suspension_rate=lambda d: 6 + d["y"],
        opportunity_district=lambda d: d["district_code"].isin(opportunity).astype(int),
        enrollment=lambda d: d["district_code"].map(dict(zip(codes, rng.uniform(500, 9000, len(codes)),
                                                             strict=True))))
    panel["grad_count"] = (panel["grad_rate"] * 2).round()
    panel["grad_cohort"] = 200.0
    panel["alliance_dollars_per_pupil"] = np.where(panel["alliance_cohort"].notna() & (panel["year"] >= 2013),
                                                   panel["enrollment"] / 10, 0.0)
    return panel


def test_sections_run_on_a_simulated_panel():
    from alliance_study.analysis.impact import forms

    panel = forms.add_functional_forms(_sim_panel())
    design = impact.Design("main", baseline_measure="baseline")
    main = page.samples(panel, ["grad_rate", "suspension_rate"], design, 2009, 2019)
    mt = page.multiple_testing(panel, {"main": design}, ["grad_rate", "suspension_rate"], 2009, 2019, 99, 1)
    assert list(page.multiple_display(mt).columns) == [
        "Design", "Outcome", "Estimate", "t", "p (wild bootstrap)", "p (Holm)", "p (Romano-Wolf)"]
    table, fits = page.power_analysis(main, {"grad_rate": 1.0})
    facts = page.power_facts(table, fits, "grad_rate")
    assert set(facts) >= {"rb_power_grad_rate_mde", "rb_power_text", "rb_power_at_reference"}
    assert len(page.power_display(table, fits)) == 2
    form = page.functional_form(panel, design, 2009, 2019)
    assert form["form"].tolist() == ["levels (pp)", "log-odds", "levels (pp)", "log points"]
    assert form.loc[0, "in_points"] == pytest.approx(form.loc[0, "estimate"])
    assert set(page.form_facts(form)) >= {"rb_form_grad_rate_text", "rb_form_suspension_rate_points"}
    weights = panel.groupby("district_code")["enrollment"].mean()
    weighted = page.weighted_estimates(main, weights)
    assert weighted["w_estimate"].notna().all() and len(page.weighted_display(weighted)) == 2
    het = page.heterogeneity_tables(panel, main, (2013, 2019))
    assert set(het["split"]) == {"Opportunity District", "dose tercile"}
    assert het.loc[het["split"] == "Opportunity District", "n_treated"].tolist()[:2] == [8, 4]
    assert "rb_het_grad_rate_dose_3" in page.heterogeneity_facts(het)
    names = {c: f"{c} School District" for c in panel["district_code"].unique()}
    loo = page.loo_table(main, names)
    assert loo["name"].str.endswith("School District").all()
    shown = page.loo_display(loo)
    assert not shown["Most influential"].str.contains("School District").any()
    assert set(page.loo_facts(loo, {"grad_rate": 12, "suspension_rate": 12})) >= {"rb_loo_grad_rate_text"}
    fig = page.plot_power(fits)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Graduation rate (pp)",
                                                                        "Suspension rate (pp)"]


def test_bundled_display_lists_every_program_with_its_source():
    exposure = pd.DataFrame({"key": ["psd", "network", "opportunity", "pa15_96"],
                             "program": ["a", "b", "c", "d"], "n_designated": [15, 8, 10, 30],
                             "n_comparison": [0, 0, 0, 113], "n_designated_total": 30,
                             "n_comparison_total": 113})
    shown = page.bundled_display(exposure)
    assert shown["Designated districts"].tolist() == ["15 of 30", "8 of 30", "10 of 30", "30 of 30"]
    assert shown["Source"].str.len().min() > 10
    facts = page.bundled_facts(exposure, ["grad_rate"], (2013, 2019))
    assert facts["rb_bundled_grad_rate"].startswith("The estimate is the effect of designation")

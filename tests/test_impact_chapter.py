"""The impact chapter module (alliance_study.chapters.impact) without papermill: verdict sentences for given
numbers, table columns, glued facts and figures, on hand-made numbers and small simulated panels."""

from __future__ import annotations

import doctest
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis import impact
from alliance_study.analysis.impact import study
from alliance_study.chapters import impact as chapter

matplotlib.use("Agg")


def test_the_main_entry_point_examples_run():
    # The numpydoc Examples of impact.analyze (a simulated panel with a known effect) run as a doctest.
    result = doctest.testmod(study, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# --- prose rules ------------------------------------------------------------------------------------------

def test_prose_rules_follow_the_numbers():
    base = {"outcome": "grad_rate", "estimate": 4.0, "se": 1.0, "p_cluster": 0.001, "rm_breakdown": 0.5,
            "pretrend_p": 0.3}
    rows = {"main": base, "near_miss": {**base, "estimate": 2.0}, "covariates": {**base, "estimate": -1.0},
            "staggered": {**base, "estimate": 4.3}}
    labels = {"near_miss": "against the near-miss group", "covariates": "with covariates",
              "staggered": "with all cohorts"}
    text = chapter.robustness_text(rows, labels)
    assert text == ("shrinks to 2.00 against the near-miss group; changes sign (-1.00) with covariates; "
                    "is similar (4.30) with all cohorts")
    assert chapter.evidence_judgement(rows).startswith("Taken together")
    robust = {k: {**v, "estimate": 4.0, "rm_breakdown": 2.0} for k, v in rows.items()}
    assert chapter.evidence_judgement(robust).startswith("The estimate holds up")
    assert chapter.evidence_judgement({"main": {**base, "p_cluster": 0.4}}).startswith("The data show no")
    # A pre-trend rejection alone makes the evidence fragile.
    pretrend = {k: {**v, "pretrend_p": 0.01} for k, v in robust.items()}
    assert chapter.evidence_judgement(pretrend).startswith("Taken together")
    assert "0.50 times" in chapter.breakdown_text(0.5)
    assert "survives" in chapter.breakdown_text(1.5)
    assert chapter.breakdown_text(0.0).startswith("the estimate does not exclude zero")
    assert chapter.breakdown_text(float("nan")).startswith("the sensitivity to diverging trends cannot")
    assert chapter.breakdown_text(float("inf")).startswith("it survives post-designation drifts even ten")
    assert chapter.verdict(0.01).startswith("distinguishable") and chapter.verdict(0.2).startswith("not")
    assert chapter.verdict(float("nan")) == "not estimable"
    assert chapter.format_p(0.0004) == "<0.001" and chapter.format_p(0.0123) == "0.012"
    assert chapter.format_p(float("nan")) == ""


def test_robustness_text_tolerance_is_a_quarter_of_the_estimate_or_half_its_se():
    base = {"outcome": "seda_gcs_eb", "estimate": 0.100, "se": 0.1}
    # Half the SE (0.05) is larger than a quarter of the estimate (0.025): 0.14 is "similar", 0.16 grows.
    assert chapter.robustness_text({"main": base, "a": {**base, "estimate": 0.14}}, {"a": "in A"}) \
        == "is similar (0.140) in A"
    assert chapter.robustness_text({"main": base, "a": {**base, "estimate": 0.16}}, {"a": "in A"}) \
        == "grows to 0.160 in A"
    assert chapter.robustness_text({"main": base, "a": {**base, "estimate": float("nan")}}, {"a": "in A"}) \
        == "cannot be estimated in A"


def test_small_sentences():
    assert chapter.n_pre_text(0) == "no pre-period estimate"
    assert chapter.n_pre_text(1) == "a single pre-period estimate"
    assert chapter.n_pre_text(5) == "5 pre-period estimates"
    assert chapter.prose.dropped_cohorts_text([]) == ""
    assert chapter.prose.dropped_cohorts_text([2023]) == \
        " (the FY2023 cohort has no data after designation in the main window)"
    assert chapter.power_statement(2.4).startswith("an effect of the benchmark size would most likely")
    assert chapter.power_statement(0.8).startswith("an effect of the benchmark size would probably")
    assert chapter.number(float("nan"), ".2f") == "not available"
    assert chapter.number(1234.5, ",.0f") == "1,234"  # banker's rounding of .5 by format: 1,234
    assert chapter.pretrend_verdict(0.01).startswith("jointly distinguishable")
    assert chapter.pretrend_verdict(0.2) == "jointly not distinguishable from zero"
    assert chapter.pretrend_verdict(float("nan")).startswith("cannot be tested")


def test_prose_values_of_one_row():
    row = {"outcome": "grad_rate", "estimate": -4.5823, "se": 1.5, "ci_low": -7.6, "ci_high": -1.55,
           "mde": 4.3, "mde_ri": 5.0, "p_cluster": 0.004, "p_wild": 0.02, "p_ri": 0.0004, "p_ri_t": 0.03,
           "cs_post": -4.0, "cs_post_se": 1.4, "pretrend_p": float("nan"), "rm_breakdown": float("nan"),
           "n_treated": 28, "n_control": 100}
    v = chapter.prose_values(row)
    assert v["estimate"] == "-4.58" and v["abs_estimate"] == "4.58" and v["ci"] == "-7.60 to -1.55"
    assert v["p_ri"] == "<0.001" and v["p_ri_low"] == "not computed"
    assert v["pretrend_p"] == "not testable" and v["breakdown"] == "not applicable"
    assert v["direction"] == "lower" and v["verdict"].startswith("distinguishable")
    assert v["mde_ratio"] == "0.9" and v["n_treated"] == "28"
    # Scores get three decimals.
    assert chapter.prose_values({**row, "outcome": "seda_gcs_eb"})["estimate"] == "-4.582"


# --- facts, tables and figures from simulated results ------------------------------------------------------

@pytest.fixture(scope="module")
def simulated():
    """Two designs (2013 cohort; 2013 and 2018 cohorts) on a simulated panel with SEDA-like and
    graduation-like outcomes, with few draws."""
    sim = simulate.staggered_panel(n_units=50, years=range(2009, 2020), cohorts={2013: 12, 2018: 4},
                                   effect=0.3, noise_sd=0.2, seed=3)
    panel = sim.rename(columns={"cohort": "alliance_cohort"}).assign(
        entity_type="town_district", seda_gcs_eb=sim["y"], grad_rate=80 + 5 * sim["y"])
    panel.loc[panel["year"] < 2011, "grad_rate"] = np.nan
    designs = {"main": impact.Design("main", (2013,), ri_lowest_k=20, baseline_measure="baseline"),
               "staggered": impact.Design("staggered", (2013, 2018), baseline_measure="baseline")}
    results = impact.analyze_designs(panel, designs, ["seda_gcs_eb", "grad_rate"], seed=1, n_permutations=99,
                                     n_boot=99, end_year=2019, min_treated_pre=3)
    extended = impact.analyze_designs(panel, {"main": designs["main"]}, ["seda_gcs_eb"], seed=1,
                                      seed_offset=900, n_permutations=99, n_boot=99)
    return panel, designs, results, extended


def test_analyze_designs_seeds_each_result(simulated):
    panel, designs, results, _ = simulated
    assert list(results) == [("main", "seda_gcs_eb"), ("main", "grad_rate"), ("staggered", "seda_gcs_eb"),
                             ("staggered", "grad_rate")]
    # The staggered design's graduation result (k = 1, j = 1) is seeded seed + 100 + 1.
    again = impact.analyze(panel, "grad_rate", designs["staggered"], n_permutations=99, n_boot=99, seed=102,
                           end_year=2019, min_treated_pre=3)
    np.testing.assert_array_equal(again.ri.draws, results[("staggered", "grad_rate")].ri.draws)


def test_estimate_and_judgement_facts(simulated):
    _, designs, results, extended = simulated
    table = chapter.estimates_table(results, extended)
    assert table["design"].tolist() == ["main", "main", "staggered", "staggered", "extended"]
    facts = chapter.estimate_facts(table)
    main_seda = results[("main", "seda_gcs_eb")]
    assert facts["main_seda_gcs_eb_estimate"] == f"{main_seda.twfe.post_average()['estimate']:,.3f}"
    assert facts["main_seda_gcs_eb_static_estimate"] == f"{main_seda.did.estimate:,.3f}"
    assert facts["extended_seda_gcs_eb_p_cluster"] == chapter.format_p(
        extended[("main", "seda_gcs_eb")].did.p_value)
    assert len(facts) == 2 * len(chapter.prose_values(table.iloc[0])) + 3 * len(chapter.BRIEF_KEYS)
    assert "staggered_grad_rate_estimate" in facts and "staggered_grad_rate_breakdown" not in facts
    judged = chapter.judgement_facts(table, list(designs), ["seda_gcs_eb", "grad_rate"])
    assert set(judged) == {f"{o}_{k}" for o in ("seda_gcs_eb", "grad_rate")
                           for k in ("robustness", "breakdown_text", "judgement", "max_p")}
    assert "with all cohorts" in judged["seda_gcs_eb_robustness"]
    row = table.iloc[0]
    assert judged["seda_gcs_eb_max_p"] == chapter.format_p(max(row["p_cluster"], row["p_wild"], row["p_ri"]))


def test_design_facts(simulated):
    panel, _, results, _ = simulated
    facts = chapter.design_facts(results, panel, near_miss_n=30, ri_lowest_k=20, n_permutations=10_000,
                                 n_boot=9_999, bootstrap_weights="webb", main_end_year=2019, end_year=2025,
                                 baseline_years=[2009, 2012], min_treated_pre=3, placebo_shifts=[1, 2, 3])
    assert facts["n_perm"] == "10,000" and facts["n_boot"] == "9,999"
    assert facts["bootstrap_weights"] == "Webb's six-point" and facts["baseline_span"] == "2009-2012"
    assert facts["n_2013"] == "12" and facts["n_late"] == "4" and facts["n_2018"] == "4"
    assert facts["n_2023"] == "0" and facts["late_dropped"] == "" and facts["placebo_span"] == "1-3"
    # Graduation starts in 2011: the reference year is 2012 and the single lead is 2011.
    assert facts["grad_first_year"] == "2011" and facts["grad_rate_ref_year"] == "2012"
    assert facts["grad_lead_year"] == "2011"
    assert facts["grad_rate_n_pre_text"] == "a single pre-period estimate"
    lead = results[("main", "grad_rate")].twfe.table.set_index("event_time").loc[-2, "estimate"]
    assert facts["grad_lead"] == f"{lead:.2f}"
    assert facts["seda_gcs_eb_n_pre"] == "3" and facts["mde_factor"] == "2.8"


def test_dose_facts_arithmetic():
    def dose(outcome, estimate, sd_factor):
        return impact.DoseResponse(outcome, estimate, 0.1, 0.04, estimate - 0.2, estimate + 0.2, 0.28,
                                   sd_factor, estimate * sd_factor, (estimate - 0.2) * sd_factor,
                                   (estimate + 0.2) * sd_factor, 0.28 * sd_factor, 0.0316, 1.2, 500, 120)
    doses = {"seda_gcs_eb": dose("seda_gcs_eb", 0.06, 1 / 3), "grad_rate": dose("grad_rate", 1.04, math.nan)}
    # Benchmark effect 0.0316 SD = $1,000 per pupil; the main design's SEDA MDE is 0.3 grade levels.
    facts = chapter.dose_facts(doses, 0.0316, 0.3, 4, [2015, 2019])
    assert facts["mean_dose_dollars"] == "1,000" and facts["jm_implied_sd"] == "0.032"
    assert facts["jm_implied_gl"] == "0.095"  # 0.0316 * 3
    assert facts["jm_mde_ratio"] == "3.2"  # 0.3 / 0.0948
    assert facts["power_statement"].startswith("an effect of the benchmark size would most likely")
    assert facts["dose_seda_sd"] == "0.020" and facts["dose_seda_ci_sd"] == "-0.047 to 0.087"
    assert facts["dose_mde_ratio"] == "3.0" and facts["dose_grad_estimate"] == "1.0"
    assert facts["dose_grad_p"] == "0.040" and facts["benchmark_span"] == "2015 and 2019"


def test_staggered_facts_pick_the_largest_difference():
    compare = pd.DataFrame({"event_time": [-2, 0, 1], "twfe_se": [0.1, 0.2, 0.3],
                            "diff_callaway_santanna": [0.05, -0.25, 0.1]})
    assert chapter.staggered_facts(compare) == {"stag_max_diff": "0.250", "stag_max_diff_event": "0",
                                                "stag_max_diff_se": "0.200"}


def test_tables_have_the_chapter_columns(simulated):
    _, _, results, extended = simulated
    shown = chapter.estimates_display(chapter.estimates_table(results, extended))
    assert list(shown.columns) == ["design", "outcome", "treated / control", "post average (TWFE)", "SE",
                                   "MDE", "p cluster", "p wild", "CS", "CS SE", "CS p RI-t", "trend-adjusted",
                                   "trend-adj. SE", "pre-trend p"]
    assert shown.loc[0, "outcome"] == "SEDA (grade levels)" and shown.loc[0, "treated / control"] == "12 / 34"
    standard = chapter.design_table(impact.standard_designs())
    assert standard["design"].tolist() == ["main", "near-miss", "covariates", "staggered"]
    assert standard.loc[0, "randomization pool"] == \
        "all districts of the sample; the 60 lowest at baseline (designated districts always included)"
    sens = chapter.sensitivity_table(list(results.values()))
    assert "robust CI, M = 1" in sens.columns and len(sens) == 4
    years = chapter.years_display(list(chapter.by_outcome(results, "main").values()))
    assert years.loc[0, "pre-period years"] == "2009-2012" and years.loc[1, "reference year"] == 2012
    compare = chapter.estimator_comparison(results[("staggered", "seda_gcs_eb")], 3)
    shown = chapter.comparison_display(compare)
    assert list(shown.columns) == ["event time", "TWFE", "SE", "CS", "SE ", "SA", "SE  ", "CS - TWFE"]
    placebos = {"seda_gcs_eb": impact.placebo_years(results[("main", "seda_gcs_eb")].sample, "seda_gcs_eb",
                                                     (1, 4))}
    ptable = chapter.placebo_years_table(placebos)
    assert ptable["fake designation"].tolist() == ["2012", "not estimable"]


def test_figures(simulated):
    import matplotlib.pyplot as plt

    _, _, results, _ = simulated
    main = chapter.by_outcome(results, "main")
    fig = chapter.plot_event_grid(list(main.values()), estimators=("twfe", "callaway_santanna"))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 and visible[0].get_title() == "SEDA (grade levels)"
    assert len(visible[0].containers) == 2  # one errorbar series per estimator
    plt.close(fig)
    fig = chapter.plot_sensitivity(main)
    assert sum(ax.get_visible() for ax in fig.axes) == 2
    plt.close(fig)
    fig = chapter.plot_randomization(main["seda_gcs_eb"].ri, "effect")
    assert fig.axes[0].get_xlabel() == "effect" and len(fig.axes[0].patches) == 60
    plt.close(fig)
    facts, fig = chapter.simulated_example(seed=1)
    assert float(facts["sim_cs"]) == pytest.approx(float(facts["sim_truth"]), abs=0.1)
    assert float(facts["sim_twfe"]) < float(facts["sim_truth"]) - 0.1
    plt.close(fig)


def test_judgement_counts_the_trend_adjusted_estimate_and_not_extrapolated_designs():
    base = {"outcome": "grad_rate", "estimate": 4.0, "se": 1.0, "p_cluster": 0.001, "rm_breakdown": 2.0,
            "pretrend_p": 0.3, "trend_estimate": 3.5, "trend_p": 0.01}
    rows = {"main": base, "covariates": {**base, "estimate": -1.0}}
    # The covariates design has no common support: its sign change is not held against the estimate ...
    assert chapter.evidence_judgement(rows, extrapolated=["covariates"]).startswith("The estimate holds up")
    # ... unless it is treated as a real comparison.
    assert chapter.evidence_judgement(rows).startswith("Taken together")
    # A trend-adjusted estimate that is not distinguishable from zero, or has the other sign, is fragile.
    only = {"main": {**base, "trend_p": 0.4}}
    assert chapter.evidence_judgement(only).startswith("Taken together")
    flipped = {"main": {**base, "trend_estimate": -1.0, "trend_p": 0.01}}
    assert chapter.evidence_judgement(flipped).startswith("Taken together")
    # Without a pre-period (trend_p NaN) the rule does not apply.
    none = {"main": {**base, "trend_estimate": float("nan"), "trend_p": float("nan")}}
    assert chapter.evidence_judgement(none).startswith("The estimate holds up")


def test_headline_values_and_static_table(simulated):
    _, _, results, extended = simulated
    table = chapter.estimates_table(results, extended)
    r = results[("main", "grad_rate")]
    row = table.iloc[1]
    post = r.twfe.post_average()
    # The headline is the event study's post average; the breakdown and robust interval are computed on it.
    assert row["estimate"] == pytest.approx(post["estimate"]) and row["se"] == pytest.approx(post["se"])
    assert r.sensitivity.estimate == pytest.approx(row["estimate"])
    assert row["static_estimate"] == pytest.approx(r.did.estimate)
    assert row["p_ri_t"] == r.ri_cs.p_value_t and row["p_wild"] == r.wcb_es.p_value
    # Treated districts counted are those with post-period data.
    assert row["n_treated"] == r.sample.loc[r.sample["post"] == 1, "district_code"].nunique()
    values = chapter.prose_values(row)
    assert values["trend_estimate"] == f"{row['trend_estimate']:,.2f}"
    assert values["rm_ci"] == f"{row['rm_ci_low']:,.2f} to {row['rm_ci_high']:,.2f}"
    static = chapter.static_display(table)
    assert list(static.columns) == ["design", "outcome", "static TWFE", "SE", "p cluster", "p wild", "p RI",
                                    "p RI-t", "CS p RI", "post average (TWFE)"]
    shown = chapter.estimates_display(table)
    assert "p RI" not in shown.columns and "CS p RI-t" in shown.columns and "trend-adjusted" in shown.columns


def test_placebo_year_and_overlap_facts(simulated):
    _, _, results, _ = simulated
    placebos = {"seda_gcs_eb": impact.placebo_years(results[("main", "seda_gcs_eb")].sample, "seda_gcs_eb",
                                                     (1, 4))}
    facts = chapter.placebo_year_facts(placebos)
    p1 = placebos["seda_gcs_eb"].iloc[0]
    assert facts["seda_gcs_eb_placebo1_estimate"] == f"{p1['estimate']:,.3f}"
    assert facts["seda_gcs_eb_placebo4_estimate"] == "not available"
    assert facts["seda_gcs_eb_placebo4_p"] == "not estimable"
    frame = pd.DataFrame({"district_code": list("abcdef"), "year": 2013, "treated": [1, 1, 1, 0, 0, 0],
                          "frl_share_base": [29.0, 60.0, 99.0, 0.0, 20.0, 31.0]})
    fake = impact.DesignResult(None, "y", frame, *([None] * 10))
    assert chapter.overlap_facts(fake) == {"overlap_treated": "29-99%", "overlap_control": "0-31%",
                                           "overlap_n_common": "2"}


def test_judgement_names_every_significant_design_and_ignores_extrapolated_ones():
    base = {"outcome": "achievement_index", "estimate": 0.05, "se": 0.1, "p_cluster": 0.6,
            "rm_breakdown": 2.0, "pretrend_p": 0.3}
    rows = {"main": base, "near_miss": {**base, "estimate": 0.02, "p_cluster": 0.8},
            "covariates": {**base, "estimate": -0.31, "p_cluster": 0.012},
            "staggered": {**base, "estimate": 0.2, "p_cluster": 0.0004}}
    labels = {"covariates": "with baseline covariates", "staggered": "with all cohorts"}
    text = chapter.evidence_judgement(rows, extrapolated=["covariates"], labels=labels)
    assert text.startswith("The data show no detectable effect")
    assert ("The estimate is distinguishable from zero (-0.310, p = 0.012) with baseline covariates, a "
            "comparison without common support whose estimate is an extrapolation; and (0.200, p < 0.001) "
            "with all cohorts.") in text
    assert "near-miss" not in text
    # Nothing significant elsewhere: no second sentence.
    quiet = {k: {**v, "p_cluster": 0.5} for k, v in rows.items()}
    assert chapter.significant_designs_text(quiet, labels) == ""
    # A significant extrapolated design neither rescues nor sinks a robust main estimate ...
    strong = {"outcome": "grad_rate", "estimate": 4.0, "se": 1.0, "p_cluster": 0.001, "rm_breakdown": 2.0,
              "pretrend_p": 0.3}
    against = {"main": strong, "covariates": {**strong, "estimate": -3.0, "p_cluster": 0.01}}
    judged = chapter.evidence_judgement(against, extrapolated=["covariates"])
    assert judged.startswith("The estimate holds up")
    # ... and a design without a label is named by its key.
    assert "in the covariates design" in chapter.evidence_judgement(against, extrapolated=["covariates"])

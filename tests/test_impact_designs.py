"""The DPI reconstruction (hand-computed districts, Hartford's published values) and the overlap designs
(propensity scores, trimming, IPW and doubly robust DiD recovering a planted effect with ~95% coverage)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis import impact
from alliance_study.analysis.impact import dpi, overlap


def _rows(**columns) -> pd.DataFrame:
    base = {"year": 2011, "test": "CMT", "subject": "math"}
    return pd.DataFrame({**base, **columns})


# --- DPI -------------------------------------------------------------------------------------------------

def test_level_index_hand_cases():
    # Everyone at Goal: 100; everyone Proficient: 67; everyone Basic: 33; everyone Below Basic: 0.
    assert dpi.level_index(100.0, 100.0, 0.0) == pytest.approx(100.0)
    assert dpi.level_index(0.0, 100.0, 0.0) == pytest.approx(67.0)
    assert dpi.level_index(0.0, 0.0, 1.0) == pytest.approx(33.0)
    assert dpi.level_index(0.0, 0.0, 0.0) == pytest.approx(0.0)
    # 25% Goal or above, 25% Proficient, 30% Basic, 20% Below Basic: 25 + 0.67*25 + 0.33*30 = 51.65.
    assert dpi.level_index(25.0, 50.0, 30 / 50) == pytest.approx(51.65)


def test_district_dpi_weights_students_and_filters():
    rows = pd.concat([
        # District A: 200 students at 25.0/50.0 (index 51.65 with Basic 30 of 50), 50 at 100/100 (100).
        _rows(district_code="A", n_tested=[200, 50], pct_goal=[25.0, 100.0], pct_prof=[50.0, 100.0],
              subject=["math", "reading"]),
        # A row of another test, another subject and a suppressed row: left out or dropped.
        _rows(district_code="A", n_tested=[999], pct_goal=[0.0], pct_prof=[0.0], test="CAPT"),
        _rows(district_code="A", n_tested=[999], pct_goal=[0.0], pct_prof=[0.0], subject="art"),
        _rows(district_code="A", n_tested=[999], pct_goal=[np.nan], pct_prof=[0.0]),
        # District B in two years.
        _rows(district_code="B", n_tested=[10], pct_goal=[0.0], pct_prof=[0.0]),
        _rows(district_code="B", n_tested=[10], pct_goal=[0.0], pct_prof=[100.0], year=2010),
    ], ignore_index=True)
    out = dpi.district_dpi(rows, basic_share=0.6, tests=("CMT",)).set_index(["district_code", "year"])
    assert out.loc[("A", 2011), "dpi"] == pytest.approx((200 * 51.65 + 50 * 100.0) / 250)
    assert out.loc[("A", 2011), "n_tested"] == 250
    assert out.loc[("B", 2011), "dpi"] == pytest.approx(0.33 * 0.6 * 100)
    assert out.loc[("B", 2010), "dpi"] == pytest.approx(67.0)
    both = dpi.district_dpi(rows, basic_share=0.6).set_index(["district_code", "year"])
    assert both.loc[("A", 2011), "n_tested"] == 250 + 999


def test_district_dpi_names_missing_column():
    with pytest.raises(KeyError, match="pct_prof"):
        dpi.district_dpi(_rows(district_code="A", n_tested=[1], pct_goal=[1.0]))


def test_ranking_overlap_and_near_miss_hand_case():
    frame = pd.DataFrame({"district_code": list("abcdefg"), "year": 2011,
                          "dpi": [50.0, 40.0, 60.0, 45.0, 70.0, 65.0, 55.0]})
    ranking = dpi.dpi_ranking(frame, list("abcdef"))  # g is not eligible
    assert ranking["district_code"].tolist() == list("bdacfe")
    o = dpi.designation_overlap(ranking, ["b", "a", "f"], n=3)
    assert (o.n_overlap, o.designees_outside, o.others_inside) == (2, {"f": 5}, {"d": 2})
    # Ranks 4-6 are c, f, e; f was designated (and e later): only c is a never-designated near miss.
    assert dpi.near_miss_by_dpi(ranking, ["b", "a", "f", "e"], ranks=(4, 6)) == ["c"]


def test_hartford_published_dpi(real_build):
    """The rebuilt CMT index of Hartford within 2.5 points of the published one (2010 and 2011).

    The tolerance covers what the files lack: grades 4-7 (the CMT file has grades 3 and 8, 5 and 8 in
    science), suppressed schools, and the Basic share, imputed at :data:`dpi.BASIC_SHARE`.
    """
    by_grade = pd.read_parquet(real_build[1] / "cmt_capt_by_grade.parquet")
    rebuilt = dpi.district_dpi(by_grade, tests=("CMT",)).set_index(["district_code", "year"])["dpi"]
    for year in (2010, 2011):
        assert rebuilt[(dpi.HARTFORD, year)] == pytest.approx(dpi.HARTFORD_CMT_DPI[year], abs=2.5)
    # The bounds bracket the published values.
    low = dpi.district_dpi(by_grade, basic_share=0.0, tests=("CMT",)).set_index(["district_code", "year"])
    high = dpi.district_dpi(by_grade, basic_share=1.0, tests=("CMT",)).set_index(["district_code", "year"])
    for year in (2010, 2011):
        assert low.loc[(dpi.HARTFORD, year), "dpi"] < dpi.HARTFORD_CMT_DPI[year] \
            < high.loc[(dpi.HARTFORD, year), "dpi"]


def test_real_ranking_reproduces_most_designees(real_build, real_panel):
    by_grade = pd.read_parquet(real_build[1] / "cmt_capt_by_grade.parquet")
    year = real_panel.loc[real_panel["year"] == dpi.DESIGNATION_DPI_YEAR]
    eligible = year.loc[year["entity_type"] == "town_district", "district_code"]
    designated = year.loc[year["alliance_cohort"] == 2013, "district_code"]
    ranking = dpi.dpi_ranking(dpi.district_dpi(by_grade), eligible)
    o = dpi.designation_overlap(ranking, designated)
    # The crude proxy put 27 of 30 among the lowest 30; the rebuilt index must do at least as well.
    assert o.n_overlap >= 27
    assert len(o.designees_outside) == 30 - o.n_overlap == len(o.others_inside)


# --- overlap ---------------------------------------------------------------------------------------------

def test_propensity_scores_separation_gives_extreme_but_finite_scores():
    units = pd.DataFrame({"treated": [0] * 10 + [1] * 10, "x": np.r_[np.arange(10.0), np.arange(10.0) + 20]})
    ps = overlap.propensity_scores(units, ["x"])
    assert ps.between(0, 1).all() and np.isfinite(ps).all()
    assert ps.iloc[:10].max() < overlap.CRUMP_ALPHA and ps.iloc[10:].min() > 1 - overlap.CRUMP_ALPHA
    table = overlap.overlap_table(units, ps)
    assert table["n_overlap"].tolist() == [0, 0]
    assert table.loc["treated", "n"] == 10


def test_propensity_scores_match_unpenalized_logit_where_groups_overlap():
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    t = (rng.random(400) < 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(int)
    units = pd.DataFrame({"treated": t, "x": x})
    ps = overlap.propensity_scores(units, ["x"], ridge=0.0)
    # First-order conditions of the maximum-likelihood logit: residuals orthogonal to 1 and x.
    resid = t - ps.to_numpy()
    assert abs(resid.sum()) < 1e-6 and abs(resid @ x) < 1e-6
    assert np.max(np.abs(overlap.propensity_scores(units, ["x"]) - ps)) < 0.01


def _selection_sample(seed: int) -> pd.DataFrame:
    sim = simulate.covariate_selection_panel(n_units=120, effect=0.3, select_on_x=1.0, trend_on_x=0.15,
                                             seed=seed)
    return impact.prepare_sample(sim)


@pytest.mark.parametrize("estimator", ["ipw", "dr"])
def test_overlap_estimators_recover_effect_with_coverage(estimator):
    """Designation and trends both depend on x: the weighted estimators recover the planted 0.3 with
    intervals covering it about 95% of the time, while the plain DiD is biased (so the test can fail)."""
    truth, reps = 0.3, 60
    rng = np.random.default_rng(11)
    estimates, covered, naive = [], [], []
    for r in range(reps):
        sample = _selection_sample(1000 + r)
        est = overlap.overlap_did(sample, "y", ["x"], estimator, n_boot=99, seed=rng)
        estimates.append(est.estimate)
        covered.append(est.ci_low <= truth <= est.ci_high)
        naive.append(overlap.overlap_did(sample, "y", ["x"], "did", n_boot=0).estimate)
    estimates = np.array(estimates)
    assert abs(estimates.mean() - truth) < 3 * estimates.std(ddof=1) / np.sqrt(reps)
    assert 0.85 <= np.mean(covered) <= 1.0
    # Plain DiD: treated districts have higher x and steeper trends; bias about 0.15 * 2.5 * E[x gap].
    assert np.mean(naive) - truth > 0.1


def test_overlap_did_equals_callaway_santanna_without_covariates():
    sim = impact.prepare_sample(simulate.staggered_panel(n_units=50, years=range(2009, 2017),
                                                         cohorts={2013: 15}, effect=0.4, seed=2))
    est = overlap.overlap_did(sim, "y", [], "did", n_boot=0)
    cs = impact.callaway_santanna(sim, "y").post_average()
    assert est.estimate == pytest.approx(cs["estimate"], abs=1e-10)


def test_overlap_did_refuses_several_cohorts_and_missing_covariates():
    sim = impact.prepare_sample(simulate.staggered_panel(n_units=40, cohorts={2012: 5, 2014: 5}, seed=1))
    with pytest.raises(ValueError, match="one treated cohort"):
        overlap.overlap_did(sim, "y", [], "did", n_boot=0)
    one = impact.prepare_sample(simulate.staggered_panel(n_units=40, cohorts={2013: 5}, seed=1))
    with pytest.raises(ValueError, match="needs covariates"):
        overlap.overlap_did(one, "y", [], "dr", n_boot=0)
    with pytest.raises(ValueError, match="estimator must be"):
        overlap.overlap_did(one, "y", [], "psm", n_boot=0)


# --- the designs page (chapters.impact.designs) -----------------------------------------------------------

def test_few_districts_and_overlap_verdicts_follow_the_counts():
    from alliance_study.chapters.impact import designs as page

    assert page.few_districts_text(30, 7).startswith("With only 7 comparison districts")
    assert page.few_districts_text(4, 30).startswith("With only 4 designated districts")
    assert page.few_districts_text(30, 40).startswith("With 30 designated and 40 comparison")
    table = pd.DataFrame({"n": [30, 100], "n_overlap": [0, 6]}, index=["treated", "comparison"])
    assert page.overlap_text(table).startswith("No district pair shares common support")
    table["n_overlap"] = [12, 40]
    assert page.overlap_text(table).startswith("12 of the 30 designated and 40 of the 100")
    table["n_overlap"] = [4, 40]
    assert page.overlap_text(table).startswith("Only 4 of the 30 designated")


def test_significant_text_names_every_significant_row():
    from alliance_study.chapters.impact import designs as page

    table = pd.DataFrame({"outcome": ["seda_gcs_eb", "grad_rate", "suspension_rate"],
                          "estimate": [-0.2, 2.5, 1.0], "p": [0.0004, 0.03, 0.2]})
    text = page.significant_text(table, "p", "cluster-robust")
    assert text == ("Cluster-robust p-values below 0.05: SEDA (grade levels) -0.200 (p < 0.001); "
                    "Graduation rate (pp) 2.50 (p = 0.030).")
    quiet = page.significant_text(table.assign(p=0.5), "p", "bootstrap")
    assert quiet == "No bootstrap p-value is below 0.05."


def test_balance_table_hand_case():
    from alliance_study.chapters.impact import designs as page

    panel = pd.DataFrame({"district_code": ["a", "a", "b", "b", "c"], "year": [2009, 2010, 2009, 2010, 2009],
                          "seda_gcs_eb": [4.0, 5.0, 6.0, np.nan, 7.0],
                          "frl_share": [50.0, 60.0, 20.0, 30.0, 10.0]})
    index = pd.DataFrame({"district_code": ["a", "b"], "year": 2011, "dpi": [60.0, 80.0]})
    out = page.balance_table(panel, {"one": ["a"], "two": ["b", "c"]}, index, (2009, 2010)).set_index("group")
    assert out.loc["one", "SEDA (grade levels)"] == 4.5 and out.loc["one", "FRL share (%)"] == 55.0
    # b's SEDA mean is 6 (the missing year is skipped), c's 7; b's FRL 25, c's 10; only b has an index.
    assert out.loc["two", "SEDA (grade levels)"] == 6.5 and out.loc["two", "FRL share (%)"] == 17.5
    assert out.loc["two", "rebuilt DPI"] == 80.0 and out.loc["two", "districts"] == 2


def test_designs_page_executes_on_the_real_build(real_build, tmp_path):
    """The page runs on the real build; its DPI and overlap facts match the analysis functions."""
    from _notebooks import NOTEBOOK_DIR, Job, error_outputs, execute, glued, glued_values, referenced_glue

    job = Job(NOTEBOOK_DIR / "12_check_designs.ipynb", tmp_path / "designs.ipynb",
              {"data_dir": str(real_build[1]), "overlap_draws": 49, "n_permutations": 999})
    execute([job])
    assert error_outputs(job.output) == []
    assert not set(referenced_glue(job.output)) - set(glued(job.output))
    g = glued_values(job.output)
    assert int(g["dpi_n_overlap"]) >= 27 and g["dpi_year"] == "2011"
    assert abs(float(g["hartford_dpi_2011"]) - dpi.HARTFORD_CMT_DPI[2011]) <= 2.5
    assert int(g["near_miss_dpi_n"]) == len(g["near_miss_dpi_names"].split(", "))
    # The overlap region is small: the verdict says so.
    assert g["overlap_text"].startswith(("Only", "No district"))


@pytest.mark.parametrize("seed", [5, 6])
def test_overlap_estimators_match_moderndid(seed):
    """Two periods: the unpenalized doubly robust and weighted estimates equal moderndid's drdid_panel
    (Sant'Anna-Zhao, logit MLE + OLS) and std_ipw_did_panel (normalized Abadie weights), an independent
    implementation; the district bootstrap's standard error is near drdid's influence-function one."""
    moderndid = pytest.importorskip("moderndid")
    sim = impact.prepare_sample(simulate.covariate_selection_panel(n_units=200, years=(2012, 2013),
                                                                   seed=seed))
    wide = sim.pivot(index="district_code", columns="year", values="y")
    units = sim.groupby("district_code")[["treated", "x"]].first().reindex(wide.index)
    x = np.column_stack([np.ones(len(units)), units["x"]])
    y1, y0, d = wide[2013].to_numpy(), wide[2012].to_numpy(), units["treated"].to_numpy()
    dr = moderndid.drdid_panel(y1, y0, d, x)
    ipw = moderndid.std_ipw_did_panel(y1, y0, d, x)
    mine_dr = overlap.overlap_did(sim, "y", ["x"], "dr", n_boot=299, seed=1, ridge=0.0)
    mine_ipw = overlap.overlap_did(sim, "y", ["x"], "ipw", n_boot=0, ridge=0.0)
    assert mine_dr.estimate == pytest.approx(dr.att, abs=1e-8)
    assert mine_ipw.estimate == pytest.approx(ipw.att, abs=1e-8)
    assert mine_dr.se == pytest.approx(dr.se, rel=0.25)

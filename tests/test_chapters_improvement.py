"""Tests of alliance_study.chapters.improvement without papermill: verdict rules for given numbers, the facts
the prose quotes, table columns, figures and the profile's P(top 8) per window."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from alliance_study import simulate
from alliance_study.analysis import improvement as im
from alliance_study.chapters import improvement as chapter

NAMES = {"a": "Ansonia", "b": "Bristol", "c": "Cromwell", "d": "Derby", "e": "Enfield"}


@pytest.fixture(scope="module")
def panel():
    frame, _ = simulate.improvement_panel(improvement=0.4, n_missing_graduation=2,
                                          years=tuple(range(2008, 2026)), seed=31)
    return frame


@pytest.fixture(scope="module")
def results(panel):
    return chapter.run_chapter(
        panel, indicators=list(im.DEFAULT_INDICATORS), weights=None, window_start=2013, window_end=2016,
        baseline_span=3, end_span=1, peer_group="alliance", k_neighbors=10, alliance_cohorts=[2013],
        min_indicators=2, top_n=8, n_boot=100, seed=1, later_windows=[[2016, 2019], [2019, 2025, 2]],
        n_noise_panels=2)


def test_name_helpers():
    assert chapter.short_name("Hartford School District") == "Hartford"
    assert chapter.name_list([]) == "none"
    assert chapter.name_list(["a"]) == "a"
    assert chapter.name_list(["a", "b", "c"]) == "a, b and c"


def test_correction_verdict_rule():
    assert chapter.correction_verdict(["a", "b"], ["b", "a"], NAMES) == (
        "The corrections leave the membership of the top group unchanged.")
    assert chapter.correction_verdict(["a", "b", "c"], ["b", "c", "d"], NAMES) == (
        "The corrections change the top group: Ansonia leaves it and Derby enters it.")
    assert chapter.correction_verdict(["a", "b", "c"], ["c", "d", "e"], NAMES) == (
        "The corrections change the top group: Ansonia and Bristol leave it and Derby and Enfield enter it.")


def test_missing_verdict_rule():
    base = pd.DataFrame({"district_code": ["a", "b", "c"],
                         "missing_indicators": ["graduation", "", "graduation"],
                         "in_top": [False, True, True], "in_top_available": [True, True, True]})
    assert chapter.missing_verdict(base, NAMES) == (
        "Scoring the missing indicator at its prior mean, Ansonia drops out of the top group.")
    same = base.assign(in_top=[True, True, True])
    assert chapter.missing_verdict(same, NAMES) == (
        "For Ansonia and Cromwell, the rule moves ranks but not membership of the top group.")
    none = base.assign(missing_indicators="")
    assert chapter.missing_verdict(none, NAMES).startswith("Every ranked district has every indicator")


@pytest.mark.parametrize("p_rho,p_ov,expected", [
    (0.01, 0.01, "both the rank correlation and the overlap of the top groups exceed what noise gives"),
    (0.01, 0.30, "the rank correlation exceeds what noise gives, but the overlap of the top groups does not"),
    (0.30, 0.01, "the overlap of the top groups exceeds what noise gives, but the rank correlation does not"),
    (0.30, 0.30, "neither the rank correlation nor the overlap of the top groups exceeds what noise gives"),
    (0.05, 0.05, "neither"),  # the level is strict
])
def test_persistence_verdict_rule(p_rho, p_ov, expected):
    row = {"first": "2013-2016", "second": "2016-2019", "spearman": 0.3, "p_noise_spearman": p_rho,
           "p_noise_overlap": p_ov}
    sentence = chapter.persistence_verdict(row)
    assert sentence.startswith("From 2013-2016 to 2016-2019, ")
    assert expected in sentence


def test_persistence_verdict_without_spread_is_not_persistence():
    row = {"first": "x", "second": "y", "spearman": float("nan"), "p_noise_spearman": 0.0,
           "p_noise_overlap": 0.5}
    assert "neither" in chapter.persistence_verdict(row)


def test_peer_relative_sentence_follows_the_estimates(results):
    assert "shifted by a constant and multiplied by n/(n-1)" in chapter.peer_relative_sentence(results.result)
    panel, _ = simulate.improvement_panel(seed=32)
    similar = im.estimate_improvement(panel, im.ImprovementSpec(peer_group="similar"))
    assert "is not a rescaled raw change" in chapter.peer_relative_sentence(similar)


def test_chapter_facts_quote_the_results(results):
    facts = chapter.chapter_facts(results)
    assert all(isinstance(v, str) for v in facts.values())
    top = results.result.top()
    assert facts["top_names"] == chapter.name_list([results.names[c] for c in top])
    assert facts["n_ranked"] == "30" and facts["top_n_word"] == "eight"
    assert facts["expected_in_top"] == f"{results.boot.expected_true_in_top:.1f}"
    assert facts["window1_label"] == "2016-2019" and facts["window2_label"] == "2019-2025"
    assert facts["window2_indicators"] == "achievement and graduation"
    assert facts["missing_names"].count("(no graduation)") == 2
    before = results.sensitivity.set_index("variant").loc[im.BEFORE_VARIANT, "top"]
    assert facts["correction_verdict"] == chapter.correction_verdict(before, top, results.names)
    assert facts["persistence_verdicts"].count("From ") == 3
    assert "nan" not in " ".join(facts.values())


def test_tables_have_their_columns(results):
    ranking = chapter.ranking_table(results.result, results.boot)
    assert {"Naive rank", "EB rank", "P(top) adjusted", "Rank 90% interval"} <= set(ranking.columns)
    assert len(ranking) == 30
    assert "Transient SD" in chapter.indicator_table(results.result).columns
    missing = chapter.comparison_table(results.missing, "available", "indicators present", only_missing=True)
    assert list(missing.columns) == ["District", "Missing", "Rank", "Rank (indicators present)", "P(top)",
                                     "P(top) (indicators present)"]
    assert len(missing) == 2
    windows = chapter.windows_table(results.windows, results.names)
    assert list(windows.columns) == ["District", "P(top) 2013-2016", "P(top) 2016-2019", "P(top) 2019-2025"]
    assert windows["P(top) 2013-2016"].is_monotonic_decreasing
    persistence = chapter.persistence_table(results.persistence)
    assert list(persistence["Windows"]) == ["2013-2016 to 2016-2019", "2016-2019 to 2019-2025",
                                            "2013-2016 to 2019-2025"]
    sens = chapter.sensitivity_display(results.sensitivity, results.names)
    assert sens.loc[0, "Specification"] == "main" and sens.loc[0, "Overlap with main"] == 8
    membership = chapter.top_membership(results.sensitivity, results.counts)
    assert (membership["main"].sum(), membership.shape[1]) == (8, len(results.sensitivity))


def test_figures_draw(results):
    import matplotlib.pyplot as plt

    for fig in (chapter.ptop_figure(results.result, results.boot),
                chapter.sensitivity_figure(results.sensitivity, results.counts, results.names),
                chapter.windows_figure(results.windows, results.names)):
        assert fig.axes and all(ax.has_data() for ax in fig.axes)
        plt.close(fig)


def test_profile_table_and_sentence(results):
    code = results.result.top()[0]
    table, sentence = chapter.profile_table(results.windows.district(code))
    assert list(table["Window"]) == ["2013-2016", "2016-2019", "2019-2025"]
    assert list(table.columns) == ["Window", "Indicators", "Rank among ranked (90% interval)", "P(top 8)"]
    p = results.windows.p_top().set_index("district_code").loc[code]
    likely = [w for w in ("2013-2016", "2016-2019", "2019-2025") if p[w] > 0.5]
    if likely:
        assert sentence == ("The district is more likely than not among the top 8 improvers in "
                            f"{chapter.name_list(likely)}.")
    rows = pd.DataFrame({"window": ["w1"], "indicators": ["a"], "rank": [np.nan], "rank_lo": [np.nan],
                         "rank_hi": [np.nan], "p_top": [np.nan], "in_top": [False], "n_ranked": [30]})
    table, sentence = chapter.profile_table(rows)
    assert table.iloc[0, 2] == "not ranked"
    assert sentence == ("The district is not ranked in any window: the ranking covers the Alliance Districts "
                        "first designated in FY2013 with at least two indicators of their own.")
    rows = rows.assign(rank=[12.0], rank_lo=[5.0], rank_hi=[20.0], p_top=[0.2])
    table, sentence = chapter.profile_table(rows)
    assert table.iloc[0, 2] == "12 of 30 (5-20)"
    assert sentence == "In no window is the district more likely than not among the top 8 improvers."


def test_profile_windows_match_the_chapter(panel, results):
    """With the shared seed and n_boot, a profile shows exactly the chapter's P(top 8) per window."""
    p = results.windows.p_top().set_index("district_code")
    for code in (results.result.top()[0], results.result.composite["district_code"].iloc[-1]):
        table, sentence = chapter.profile_windows(panel, code, n_boot=100, seed=1)
        assert len(table) == 3 and sentence.endswith(".")
        np.testing.assert_allclose(table["P(top 8)"].to_numpy(float),
                                   p.loc[code, ["2013-2016", "2016-2019", "2019-2025"]].to_numpy(float))
    outside = panel.loc[panel["alliance_cohort"].isna(), "district_code"].iloc[0]
    table, sentence = chapter.profile_windows(panel, outside, n_boot=100, seed=1)
    assert (table["Rank among ranked (90% interval)"] == "not ranked").all()
    assert sentence.startswith("The district is not ranked in any window")


def test_glue_profile_glues_the_table_and_sentence(panel, monkeypatch):
    glued = {}
    monkeypatch.setattr(chapter.display, "glue", lambda name, value, fmt=None: glued.setdefault(name, value))
    monkeypatch.setattr(chapter.display, "glue_table", lambda name, table, index=False: glued.setdefault(
        name, table))
    outside = panel.loc[panel["alliance_cohort"].isna(), "district_code"].iloc[0]
    chapter.glue_profile(panel, outside, 2013, 2016, [[2016, 2019], [2019, 2025, 2]], n_boot=50, seed=0)
    assert set(glued) == {"tbl_profile_improvement", "profile_improvement_text"}
    assert len(glued["tbl_profile_improvement"]) == 3


# --- stable improvers: the sentences count what Table "tbl-improvement-sensitivity" prints ----------------

def test_robust_sentences_count_what_the_sensitivity_table_shows(results):
    """Count top-group memberships from the displayed table's text, independently of the chapter's counts."""
    facts = chapter.chapter_facts(results)
    shown = chapter.sensitivity_display(results.sensitivity, results.names)
    cells = [cell.split(", ") for cell in shown["Top group (best first)"]]
    seen: dict[str, int] = {}
    for names in cells:
        for name in names:
            seen[name] = seen.get(name, 0) + 1
    n_rows = len(shown)
    stable = {name for name, k in seen.items() if k >= chapter.STABLE_SHARE * n_rows}
    assert facts["n_specs"] == str(n_rows)
    assert facts["n_ever_top"] == str(len(seen))
    assert facts["n_stable"] == str(len(stable))
    listed = set() if facts["stable_names"] == "none" else set(
        facts["stable_names"].replace(" and ", ", ").split(", "))
    assert listed == stable
    assert facts["robust_sentence"] == chapter.robust_sentence(
        len(seen), len(results.counts), [n for n in facts["stable_names"].replace(" and ", ", ").split(", ")
                                         if n in stable], n_rows, "eight")
    assert all(name in facts["robust_verdict"] for name in stable)
    # The membership figure is drawn from the same counts: each row sums to the district's count.
    membership = chapter.top_membership(results.sensitivity, results.counts)
    by_name = {results.names[c]: int(k) for c, k in membership.sum(axis=1).items() if k}
    assert by_name == seen


def test_top_counts_add_districts_only_a_variant_ranks():
    table = pd.DataFrame({"variant": ["main", "v1", "v2", "v3"],
                          "top": [["a", "b"], ["a", "c"], ["a", "b"], ["x", "b"]]})
    out = chapter.top_counts(table, ["a", "b", "c", "d"])
    assert out.to_dict("list") == {"district_code": ["a", "b", "c", "x", "d"], "n_top": [3, 3, 1, 1, 0],
                                   "share_top": [0.75, 0.75, 0.25, 0.25, 0.0]}
    facts = chapter.robust_facts(table, ["a", "b", "c", "d"], NAMES, "two")
    assert (facts["n_ever_top"], facts["n_stable"]) == ("4", "2")
    assert facts["stable_names"] == "Ansonia and Bristol"
    assert facts["robust_sentence"] == ("In all, 4 of the 5 districts make some top two, and 2 make it in at "
                                        "least 75% of the 4 specifications: Ansonia and Bristol.")


@pytest.mark.parametrize(("stable", "start"), [
    ([], "No district is in the top group in 75% of the specifications, so membership of a top eight"),
    (["Putnam"], "Putnam is in the top group in at least 75% of the specifications and so looks like an "
                 "improver"),
    (["Putnam", "Windham"], "Putnam and Windham are in the top group in at least 75% of the specifications "
                            "and so look like improvers"),
])
def test_robust_verdict_rule(stable, start):
    verdict = chapter.robust_verdict(stable, "eight")
    assert verdict.startswith(start)
    assert verdict.endswith("depends on choices the study did not report")
    assert chapter.robust_sentence(3, 30, stable, 22, "eight").endswith(
        "none makes it in at least 75% of the 22 specifications." if not stable else
        f"{len(stable)} make{'s' if len(stable) == 1 else ''} it in at least 75% of the 22 specifications: "
        f"{chapter.name_list(stable)}.")

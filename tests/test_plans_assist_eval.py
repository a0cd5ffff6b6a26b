"""The keyword coder validated on the public quotes: exact intervals, counts, confusions, misses."""

from __future__ import annotations

import pandas as pd
import pytest

from alliance_study.analysis.plans import assist, assist_eval, codebook, public
from alliance_study.chapters import coding_guide
from alliance_study.data.sources import plans as plan_source

BOOK = codebook.load_codebook()


@pytest.mark.parametrize(("x", "n"), [(0, 10), (1, 10), (5, 10), (9, 10), (10, 10), (34, 38), (0, 1), (3, 4)])
def test_clopper_pearson_matches_statsmodels(x, n):
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = assist_eval.clopper_pearson(x, n)
    expected = proportion_confint(x, n, alpha=0.05, method="beta")
    assert (lo, hi) == pytest.approx(expected, abs=1e-10)


def test_clopper_pearson_closed_forms_and_edges():
    n = 12
    assert assist_eval.clopper_pearson(0, n)[1] == pytest.approx(1 - 0.025 ** (1 / n))
    assert assist_eval.clopper_pearson(n, n)[0] == pytest.approx(0.025 ** (1 / n))
    assert all(v != v for v in assist_eval.clopper_pearson(0, 0))
    with pytest.raises(ValueError):
        assist_eval.clopper_pearson(3, 2)


def facts(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"district_name": "D", "plan_year": "2015-16", "evidence_quote": q, "codes": c} for q, c in rows]
    )


def test_scores_confusions_and_wrong_quotes_on_a_hand_made_set():
    result = assist_eval.validate_keyword_coder(
        facts(
            ("Hire two literacy coaches to model lessons", "instructional_coaching"),  # + staffing (hire)
            ("Counseling for students and families", "wraparound_services"),  # missed, families -> family
            ("Align the math curriculum with the Common Core", "standards_curriculum"),  # exact
            ("none readable", ""),  # nothing to find, nothing suggested
        ),
        BOOK,
    )
    units = result.units.set_index("unit")
    assert units.loc[1, "extra"] == ("staffing_class_size",) and units.loc[1, "missed"] == ()
    assert units.loc[2, "missed"] == ("wraparound_services",)
    assert units.loc[3, "correct"] and units.loc[4, "correct"]
    overall = result.by_domain.set_index("domain").loc["overall"]
    assert (overall["tp"], overall["fp"], overall["fn"]) == (2, 2, 1)
    assert overall["precision"] == 0.5 and overall["recall"] == pytest.approx(2 / 3)
    assert (overall["recall_lo"], overall["recall_hi"]) == pytest.approx(assist_eval.clopper_pearson(2, 3))
    # Per domain counts add up to the overall ones.
    per = result.by_domain.loc[result.by_domain["domain"] != "overall", ["tp", "fp", "fn"]].sum()
    assert per.tolist() == [2, 2, 1]
    conf = {(r.hand, r.suggested): r.n for r in result.confusion.itertuples()}
    assert conf[("wraparound_services", "family_engagement")] == 1  # missed code read as another
    assert conf[(assist_eval.NONE, "staffing_class_size")] == 1  # extra with no missed code beside it
    assert conf[("instructional_coaching", "instructional_coaching")] == 1
    assert result.wrong["unit"].tolist() == [1, 2]


def test_on_the_public_quotes_counts_agree_with_precision_recall(registry):
    coding = public.code_public_facts(plan_source.load(registry).district, BOOK)
    result = assist_eval.validate_keyword_coder(coding.facts, BOOK)
    assert len(result.units) == len(coding.facts)
    # Independent path: the assist module's own scorer, one document per quote.
    suggested = pd.concat(
        [
            assist.suggest_codes(q, BOOK).assign(unit=i)
            for i, q in enumerate(coding.facts["evidence_quote"], 1)
        ]
    )
    hand = pd.DataFrame(
        [(i, c) for i, codes in enumerate(coding.facts["codes"], 1) for c in str(codes).split(", ") if c],
        columns=["unit", "intervention"],
    )
    oracle = assist.precision_recall(suggested, hand, by=["unit"]).set_index("code").loc["overall"]
    ours = result.by_domain.set_index("domain").loc["overall"]
    assert (ours["tp"], ours["fp"], ours["fn"]) == (oracle["tp"], oracle["fp"], oracle["fn"])
    assert ours["precision"] == pytest.approx(oracle["precision"])
    section = coding_guide.validation_section(result, BOOK)
    assert section.facts["n_quotes"] == len(coding.facts)
    assert set(section.tables) == {"tbl_assist_domains", "tbl_assist_confusion", "tbl_assist_wrong"}
    assert len(section.tables["tbl_assist_wrong"]) == section.facts["n_quotes_wrong"]


def test_validation_verdict_rules():
    verdict = coding_guide.validation_verdict
    assert "mostly right, but it misses many" in verdict(pd.Series({"recall": 0.7, "precision": 0.9}))
    assert "suggests many wrong ones, so every" in verdict(pd.Series({"recall": 0.9, "precision": 0.5}))
    assert "both misses" in verdict(pd.Series({"recall": 0.5, "precision": 0.5}))
    assert "finds most hand codes and most" in verdict(pd.Series({"recall": 0.9, "precision": 0.9}))
    assert "too few" in verdict(pd.Series({"recall": float("nan"), "precision": 0.9}))


def test_coding_guide_sections_keep_the_published_values():
    """The refactor into chapter functions reproduces the values the chapter glued before it."""
    facts = coding_guide.codebook_section(BOOK).facts
    assert (facts["n_interventions"], facts["n_statute"], facts["n_checklist"], facts["n_added"]) == (
        22,
        9,
        6,
        6,
    )
    sheet = coding_guide.sheet_section(BOOK, 2013, 2017)
    assert sheet.facts["n_columns"] == 15
    assert sheet.tables["tbl_sections"]["Plan year"].tolist() == [
        "2012-13",
        "2013-14",
        "2014-15",
        "2015-16",
        "2016-17",
    ]
    assert len(sheet.tables["tbl_problems"]) == 3

"""How well the keyword coder finds the hand codes: every public evidence quote, scored with exact intervals.

The unit is one fact row of ``reference/plan_codes_found.csv`` (:mod:`alliance_study.data.sources.plans`):
its verbatim evidence quote is the text the keyword coder reads (:func:`~alliance_study.analysis.plans.
assist.suggest_codes`), and the codes the project assigned to the fact by hand
(:data:`~alliance_study.analysis.plans.public.PUBLIC_FACT_CODES`) are the truth. A (quote, code) pair is a
true positive when both suggested and hand-coded, a false positive when only suggested, a false negative
when only hand-coded. A fact without a readable intervention (no hand code) still counts: whatever is
suggested for it is a false positive.

Precision and recall are reported overall and per domain, the domain being the code's usual Turnaround
Framework domain (codebook ``default_domain``; the facts themselves mostly have none), each with an exact
Clopper-Pearson binomial interval. Caveat stated wherever these numbers are shown: the codebook's keywords
were written with the public facts at hand, so this is an in-sample check of the dictionary, not a held-out
accuracy.

No learned component (TF-IDF with a linear classifier) is fitted: with 33 quotes from 7 districts and about
30 codes, most codes occur in one to three quotes, so a leave-one-district-out classifier would be trained
on a handful of examples per code and its score would say more about the split than about the method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis.plans.assist import suggest_codes
from alliance_study.analysis.plans.codebook import Codebook

#: Confidence level of the Clopper-Pearson intervals.
CONFIDENCE = 0.95

#: Label of "no code" in the confusion table (a missed code with nothing suggested instead, or an extra
#: suggestion with no missed hand code beside it).
NONE = "(none)"


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) binomial interval for ``successes`` of ``trials``.

    Lower bound ``Beta(a/2; x, n - x + 1)`` (0 when x = 0), upper ``Beta(1 - a/2; x + 1, n - x)`` (1 when
    x = n), with a = 1 - confidence. NaNs when there are no trials.

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 10)
    >>> round(lo, 4), round(hi, 4)  # upper = 1 - 0.025 ** (1 / 10)
    (0.0, 0.3085)
    """
    from scipy.stats import beta

    if trials == 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} outside 0..{trials}")
    alpha = 1 - confidence
    lo = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return lo, hi


@dataclass
class AssistValidation:
    """The keyword coder scored on every public quote.

    Attributes
    ----------
    units
        One row per quote: ``unit`` (1-based, file order), ``district_name``, ``plan_year``,
        ``evidence_quote``, ``hand`` and ``suggested`` (sorted code tuples), ``missed``, ``extra``,
        ``correct`` (no miss and no extra).
    pairs
        One row per (quote, code) pair suggested or hand-coded: ``unit``, ``code``, ``domain`` (usual
        domain), ``suggested``, ``hand``.
    by_domain
        Per domain, then ``overall``: ``tp``, ``fp``, ``fn``, ``precision`` with ``precision_lo`` /
        ``precision_hi``, ``recall`` with ``recall_lo`` / ``recall_hi``.
    confusion
        Hand code x suggested code counts (module docstring of :func:`confusion_table`).
    """

    units: pd.DataFrame
    pairs: pd.DataFrame
    by_domain: pd.DataFrame
    confusion: pd.DataFrame

    @property
    def wrong(self) -> pd.DataFrame:
        """The quotes with a missed or an extra code."""
        return self.units.loc[~self.units["correct"]].reset_index(drop=True)


def usual_domain(codebook: Codebook) -> dict[str, str]:
    """Intervention code -> its usual domain id (``unassigned`` when the codebook gives none)."""
    return {
        c.id: (c.extra.get("default_domain") or "unassigned")
        for c in codebook.codes
        if c.kind == "intervention"
    }


def score_units(facts: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Suggested and hand codes of every fact's quote (``facts`` as in
    :attr:`~alliance_study.analysis.plans.public.PublicCoding.facts`: ``codes`` is the comma-joined hand
    coding)."""
    rows = []
    for i, fact in enumerate(facts.itertuples(index=False), start=1):
        hand = tuple(sorted(c for c in str(fact.codes).split(", ") if c))
        found = suggest_codes(str(fact.evidence_quote), codebook)
        suggested = tuple(sorted(set(found["code"])))
        missed = tuple(c for c in hand if c not in suggested)
        extra = tuple(c for c in suggested if c not in hand)
        rows.append(
            {
                "unit": i,
                "district_name": fact.district_name,
                "plan_year": fact.plan_year,
                "evidence_quote": fact.evidence_quote,
                "hand": hand,
                "suggested": suggested,
                "missed": missed,
                "extra": extra,
                "correct": not missed and not extra,
            }
        )
    return pd.DataFrame(rows)


def _pairs(units: pd.DataFrame, domains: dict[str, str]) -> pd.DataFrame:
    rows = []
    for unit in units.itertuples(index=False):
        for code in sorted(set(unit.hand) | set(unit.suggested)):
            rows.append(
                {
                    "unit": unit.unit,
                    "code": code,
                    "domain": domains.get(code, "unassigned"),
                    "suggested": code in unit.suggested,
                    "hand": code in unit.hand,
                }
            )
    return pd.DataFrame(rows, columns=["unit", "code", "domain", "suggested", "hand"])


def rates_by(pairs: pd.DataFrame, by: str = "domain", confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Precision and recall with Clopper-Pearson intervals per value of ``by``, then ``overall``."""
    rows = []
    groups = [(key, block) for key, block in pairs.groupby(by, sort=True)] + [("overall", pairs)]
    for key, block in groups:
        tp = int((block["suggested"] & block["hand"]).sum())
        fp = int((block["suggested"] & ~block["hand"]).sum())
        fn = int((~block["suggested"] & block["hand"]).sum())
        p_lo, p_hi = clopper_pearson(tp, tp + fp, confidence)
        r_lo, r_hi = clopper_pearson(tp, tp + fn, confidence)
        rows.append(
            {
                by: key,
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": tp / (tp + fp) if tp + fp else np.nan,
                "precision_lo": p_lo,
                "precision_hi": p_hi,
                "recall": tp / (tp + fn) if tp + fn else np.nan,
                "recall_lo": r_lo,
                "recall_hi": r_hi,
            }
        )
    return pd.DataFrame(rows)


def confusion_table(units: pd.DataFrame) -> pd.DataFrame:
    """Counts of (hand code, suggested code) over the quotes.

    Per quote: a hand code that was suggested counts on the diagonal; a missed hand code is paired with each
    extra suggestion of the same quote (the coder read the passage as that code instead), or with
    :data:`NONE` when there is none; an extra suggestion with no missed code beside it is paired with
    :data:`NONE` as the hand code. Returns a long table ``hand``, ``suggested``, ``n`` (largest first).
    """
    counts: dict[tuple[str, str], int] = {}

    def add(hand: str, suggested: str) -> None:
        counts[(hand, suggested)] = counts.get((hand, suggested), 0) + 1

    for unit in units.itertuples(index=False):
        for code in unit.hand:
            if code in unit.suggested:
                add(code, code)
        for code in unit.missed:
            for other in unit.extra or (NONE,):
                add(code, other)
        if not unit.missed:
            for other in unit.extra:
                add(NONE, other)
    out = pd.DataFrame([(h, s, n) for (h, s), n in counts.items()], columns=["hand", "suggested", "n"])
    return out.sort_values(["n", "hand", "suggested"], ascending=[False, True, True], ignore_index=True)


def validate_keyword_coder(
    facts: pd.DataFrame, codebook: Codebook, confidence: float = CONFIDENCE
) -> AssistValidation:
    """Run the keyword coder on every public quote and score it against the hand codes.

    Parameters
    ----------
    facts
        The coded fact rows (:attr:`~alliance_study.analysis.plans.public.PublicCoding.facts`).
    codebook
        The codebook whose keywords the coder uses.
    confidence
        Level of the Clopper-Pearson intervals.
    """
    units = score_units(facts, codebook)
    pairs = _pairs(units, usual_domain(codebook))
    return AssistValidation(
        units=units,
        pairs=pairs,
        by_domain=rates_by(pairs, "domain", confidence),
        confusion=confusion_table(units),
    )

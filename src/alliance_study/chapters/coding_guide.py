"""The coding-guide chapter ("How to code your district's plans"): glued facts, tables and verdict prose.

Each ``*_section`` function takes the library's results and returns a :class:`Section`: the values the page
glues (``facts``: shown as is; ``numbers``: value and format, shown through
:func:`~alliance_study.chapters.display.glue_number`) and its tables (DataFrames with display column names).
:func:`glue_section` glues one. Nothing here touches the disk; the notebook reads the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alliance_study.analysis.plans import assist, assist_eval, codebook, metrics, records, reliability
from alliance_study.analysis.plans.codebook import Codebook
from alliance_study.chapters import display

#: Recall or precision below this is called "misses much" / "suggests much that is wrong" in the verdict
#: (a coder reviewing suggestions must then still read the whole plan; a convention of this guide).
ADEQUATE_RATE = 0.8


@dataclass
class Section:
    """What one section of the chapter glues."""

    facts: dict[str, Any] = field(default_factory=dict)
    numbers: dict[str, tuple[Any, str]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def glue_section(section: Section) -> None:
    """Glue every fact, number and table of a section."""
    for name, value in section.facts.items():
        display.glue(name, value)
    for name, (value, fmt) in section.numbers.items():
        display.glue_number(name, value, fmt)
    for name, table in section.tables.items():
        display.glue_table(name, table)


def codebook_section(book: Codebook) -> Section:
    """The codebook: counts of codes by source and kind, and one table per kind."""
    table = book.table()
    sources = {c.id: c.extra.get("source", "") for c in book.codes if c.kind == "intervention"}
    section = Section(
        facts={
            "codebook_version": book.version,
            "n_interventions": len(book.ids("intervention")),
            "n_statute": sum(v == "statute" for v in sources.values()),
            "n_checklist": sum(v == "talent_checklist" for v in sources.values()),
            "n_added": sum(v == "public_facts" for v in sources.values()),
            "n_domains": len(book.ids("domain")),
            "n_attributes": len(book.ids("attribute")),
        }
    )
    for kind, name in (
        ("intervention", "tbl_interventions"),
        ("domain", "tbl_domains"),
        ("attribute", "tbl_attributes"),
    ):
        part = table.loc[table["kind"] == kind]
        section.tables[name] = pd.DataFrame(
            {
                "Code": part["id"],
                "Label": part["label"] + " (" + part["details"] + ")",
                "Definition and example": part["definition"] + " Example: " + part["example"],
                "Include / exclude": "Include: " + part["include"] + " Exclude: " + part["exclude"],
                "Keywords": part["keywords"],
            }
        )
    return section


def sheet_section(book: Codebook, start_year: int, end_year: int) -> Section:
    """The coding sheet: rules, columns, valid template sections by plan year, and a sheet that fails."""
    columns = pd.DataFrame(
        {
            "Column": list(records.RECORD_COLUMNS),
            "Required": ["yes" if c in records.REQUIRED_COLUMNS else "" for c in records.RECORD_COLUMNS],
            "Content": [records.COLUMN_DESCRIPTIONS[c] for c in records.RECORD_COLUMNS],
        }
    )
    labels = {c.id: c.label for c in book.codes}
    history = codebook.template_history()
    history = history.loc[
        history["plan_year"].map(codebook.plan_year_start).between(start_year - 1, end_year - 1)
    ]
    sections = pd.DataFrame(
        {
            "Plan year": history["plan_year"],
            "Valid template sections": [
                ", ".join(labels[d] for d in book.domains_for(y)) or "none" for y in history["plan_year"]
            ],
        }
    )
    error = failing_sheet_error(book)
    return Section(
        facts={
            "general_rules": " ".join(f"({i}) {rule}" for i, rule in enumerate(book.general_rules, start=1)),
            "n_columns": len(columns),
            "error_message": str(error),
        },
        tables={
            "tbl_columns": columns,
            "tbl_sections": sections,
            "tbl_problems": records.problems_frame(error.problems),
        },
    )


def failing_sheet_error(book: Codebook) -> records.CodingRecordError:
    """The error of the guide's example sheet: its second record has a misspelt code, a plan year written
    the long way and no evidence quote."""
    sheet = records.template(book, example=True)
    bad = pd.concat(
        [sheet, sheet.assign(plan_year="2013-2014", intervention="k3_reeding", evidence_quote="")],
        ignore_index=True,
    )
    try:
        records.validate_records(bad, book, display="codes.csv")
    except records.CodingRecordError as error:
        return error
    raise AssertionError("the example sheet was expected to fail validation")  # pragma: no cover


def _score_columns(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.rename(
        columns={
            "code": "Code",
            "tp": "Found",
            "fp": "Extra",
            "fn": "Missed",
            "precision": "Precision",
            "recall": "Recall",
            "f1": "F1",
        }
    )


def example_section(public_records: pd.DataFrame, book: Codebook, district: str, plan_year: str) -> Section:
    """Assisted coding of one district-plan year of the public record, and of the held-out test excerpt."""
    code = public_records.loc[public_records["district_name"] == district, "district_code"].iloc[0]
    hand = public_records.loc[
        (public_records["district_code"] == code) & (public_records["plan_year"] == plan_year)
    ]
    excerpt = assist.excerpt_from_records(hand)
    suggestions = assist.suggest_codes(excerpt, book)
    scores = assist.precision_recall(suggestions, hand)
    overall = scores.set_index("code").loc["overall"]
    heldout = assist.precision_recall(
        assist.suggest_codes(assist.EXAMPLE_PLAN, book), assist.EXAMPLE_HAND_CODES
    )
    held = heldout.set_index("code").loc["overall"]
    return Section(
        facts={
            "example_title": f"{district}'s {plan_year} plan",
            "n_example_sentences": len(assist.sentences_frame(excerpt)),
            "example_tp": int(overall["tp"]),
            "example_fp": int(overall["fp"]),
            "example_hand": int(overall["tp"] + overall["fn"]),
            "heldout_tp": int(held["tp"]),
            "heldout_fp": int(held["fp"]),
            "heldout_hand": int(held["tp"] + held["fn"]),
        },
        numbers={
            "example_recall": (overall["recall"], ".2f"),
            "example_precision": (overall["precision"], ".2f"),
            "heldout_recall": (held["recall"], ".2f"),
            "heldout_precision": (held["precision"], ".2f"),
        },
        tables={
            "tbl_suggestions": suggestions[["sentence_no", "sentence", "code", "keywords"]].rename(
                columns={
                    "sentence_no": "Sentence",
                    "sentence": "Text",
                    "code": "Suggested code",
                    "keywords": "Matched",
                }
            ),
            "tbl_scores": _score_columns(scores),
        },
    )


def embedding_section(status: assist.EmbeddingStatus) -> Section:
    """Whether the optional embedding suggester ran in this build."""
    return Section(
        facts={"embedding_status": "available" if status.available else f"not available ({status.reason})"}
    )


def _interval(value: float, lo: float, hi: float) -> str:
    return "not available" if pd.isna(value) else f"{value:.2f} ({lo:.2f}-{hi:.2f})"


def validation_verdict(overall: pd.Series) -> str:
    """Verdict on the keyword coder from its overall precision and recall (in-sample, see the caveat)."""
    recall, precision = overall["recall"], overall["precision"]
    if pd.isna(recall) or pd.isna(precision):
        return "There are too few hand codes to judge the keyword coder."
    misses = recall < ADEQUATE_RATE
    wrong = precision < ADEQUATE_RATE
    if misses and wrong:
        judgement = "it both misses many hand codes and suggests many wrong ones"
    elif misses:
        judgement = ("what it suggests is mostly right, but it misses many hand codes, so a coder must still "
                     "read every passage")
    elif wrong:
        judgement = (
            "it finds most hand codes but suggests many wrong ones, so every suggestion needs checking"
        )
    else:
        judgement = "it finds most hand codes and most of its suggestions are right"
    return (
        f"On the public quotes {judgement}. Even the upper ends of the intervals are an optimistic guide: "
        "the keywords were written with these quotes at hand."
    )


def validation_section(result: assist_eval.AssistValidation, book: Codebook) -> Section:
    """The keyword coder on every public quote: rates by domain with exact intervals, confusions, misses."""
    labels = {c.id: c.label for c in book.codes}
    labels["unassigned"] = "No usual domain"
    table = result.by_domain
    overall = table.set_index("domain").loc["overall"]
    shown = pd.DataFrame(
        {
            "Usual domain": table["domain"].map(lambda d: labels.get(d, d)),
            "Found": table["tp"],
            "Extra": table["fp"],
            "Missed": table["fn"],
            "Precision (95% CI)": [
                _interval(*r)
                for r in table[["precision", "precision_lo", "precision_hi"]].itertuples(index=False)
            ],
            "Recall (95% CI)": [
                _interval(*r) for r in table[["recall", "recall_lo", "recall_hi"]].itertuples(index=False)
            ],
        }
    )
    confusion = result.confusion.loc[result.confusion["hand"] != result.confusion["suggested"]]
    wrong = result.wrong
    return Section(
        facts={
            "n_quotes": len(result.units),
            "n_quotes_correct": int(result.units["correct"].sum()),
            "n_quotes_wrong": len(wrong),
            "n_hand_codes": int(overall["tp"] + overall["fn"]),
            "n_suggested_codes": int(overall["tp"] + overall["fp"]),
            "assist_tp": int(overall["tp"]),
            "assist_ci_level": f"{assist_eval.CONFIDENCE:.0%}",
            "assist_precision_ci": f"{overall['precision_lo']:.2f}-{overall['precision_hi']:.2f}",
            "assist_recall_ci": f"{overall['recall_lo']:.2f}-{overall['recall_hi']:.2f}",
            "assist_verdict": validation_verdict(overall),
        },
        numbers={
            "assist_precision": (overall["precision"], ".2f"),
            "assist_recall": (overall["recall"], ".2f"),
        },
        tables={
            "tbl_assist_domains": shown,
            "tbl_assist_confusion": confusion.rename(
                columns={"hand": "Hand code", "suggested": "Suggested", "n": "Quotes"}
            ),
            "tbl_assist_wrong": pd.DataFrame(
                {
                    "District": wrong["district_name"],
                    "Plan year": wrong["plan_year"],
                    "Quote": wrong["evidence_quote"],
                    "Hand codes": wrong["hand"].map(", ".join),
                    "Missed": wrong["missed"].map(", ".join),
                    "Extra": wrong["extra"].map(", ".join),
                }
            ),
        },
    )


def reliability_section(simulated: pd.DataFrame, n_districts: int) -> Section:
    """The reliability workflow on simulated double-coded plans."""
    rel = reliability.reliability_table(simulated)
    overall = rel.set_index("code").loc["overall"]
    worklist = reliability.disagreements(simulated)
    return Section(
        facts={
            "n_reliability_plans": len(reliability.double_coded_units(simulated)),
            "reliability_districts_text": f"{n_districts} simulated districts",
            "alpha_reliable": f"{reliability.ALPHA_RELIABLE:.3f}",
            "alpha_tentative": f"{reliability.ALPHA_TENTATIVE:.3f}",
            "kripp_published": f"{reliability.KRIPPENDORFF_EXAMPLE_ALPHA:.3f}",
            "kripp_computed": f"{reliability.krippendorff_alpha(reliability.KRIPPENDORFF_EXAMPLE):.3f}",
            "n_disagreements": len(worklist),
            "n_consensus": len(metrics.consensus(simulated)),
            "n_union": len(metrics.consensus(simulated, rule="any")),
        },
        numbers={
            "agreement_overall": (overall["agreement"], ".2f"),
            "kappa_overall": (overall["kappa"], ".2f"),
            "alpha_overall": (overall["alpha"], ".2f"),
        },
        tables={
            "tbl_reliability": rel.rename(
                columns={
                    "code": "Code",
                    "n_units": "Plans",
                    "n_coded": "Coded by either",
                    "agreement": "Agreement",
                    "kappa": "Cohen's kappa",
                    "alpha": "Krippendorff's alpha",
                }
            ),
            "tbl_disagreements": worklist.rename(
                columns={
                    "district_code": "District",
                    "plan_year": "Plan year",
                    "code": "Code",
                    "coded_by": "Coded by",
                    "not_coded_by": "Not coded by",
                }
            ),
        },
    )

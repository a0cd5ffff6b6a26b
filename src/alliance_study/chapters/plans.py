"""The plans chapter (``notebooks/05_code_plans.ipynb``): the public record of the plans, coded.

:func:`code_record` codes the public plan facts with the codebook and computes the planning-practice
measures once (:mod:`alliance_study.analysis.plans`); the functions below turn the result into the page's
glued facts, display tables and the code-by-plan figure. :data:`LINK_COLUMNS` names the columns of an
association table (:class:`~alliance_study.analysis.plans.link.LinkResult`), shared with the focus chapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from alliance_study.analysis.plans import codebook, metrics, public
from alliance_study.analysis.plans.codebook import Codebook
from alliance_study.analysis.plans.link import LinkResult
from alliance_study.chapters import display

#: Display names of :func:`alliance_study.analysis.plans.codebook.template_history`.
TEMPLATE_COLUMNS: dict[str, str] = {
    "plan_year": "Plan year", "form": "Form", "asked_for": "What the state asked for",
    "organised_by": "How the plan was organised"}

#: Display names of the coverage table of :class:`~alliance_study.analysis.plans.public.PublicCoding`
#: (``district_code`` is not shown).
COVERAGE_COLUMNS: dict[str, str] = {
    "district_name": "District", "plan_year": "Plan year", "n_facts": "Facts", "n_codes": "Codes",
    "codes": "Intervention codes", "source_kinds": "Source", "status": "Status"}

#: Display names of :func:`alliance_study.analysis.plans.metrics.district_metrics` (``district_code`` is
#: not shown).
METRIC_COLUMNS: dict[str, str] = {
    "district_name": "District", "n_plan_years": "Plan years", "plan_years": "Which",
    "n_interventions": "Intervention-years", "n_distinct": "Distinct", "mean_per_year": "Per year",
    "n_pairs": "Adjacent pairs", "carryover": "Carryover", "jaccard": "Jaccard",
    "coupling_rate": "Coupling rate", "n_coupling": "n (coupling)",
    "dual_monitoring_rate": "Dual monitoring", "n_monitoring": "n (monitoring)",
    "smart_goal_rate": "S.M.A.R.T. rate", "n_smart": "n (S.M.A.R.T.)"}

#: Display names of an association table (:class:`~alliance_study.analysis.plans.link.LinkResult`).
LINK_COLUMNS: dict[str, str] = {
    "measure": "Measure", "n": "Districts", "n_improvers": "Improvers", "n_others": "Others",
    "spearman": "Spearman", "mean_improvers": "Mean (improvers)", "mean_others": "Mean (others)",
    "difference": "Difference", "p_spearman": "p (Spearman)", "p_difference": "p (difference)"}

#: Source kinds of the public facts (:data:`alliance_study.analysis.plans.public.SOURCE_KINDS`) counted in
#: the prose.
PLAN_DOCUMENT, PRESS_RELEASE, NEWS = "plan document (copy)", "district press release", "news"


@dataclass
class PublicRecord:
    """The public plan facts coded, with the planning-practice measures computed on them.

    Attributes
    ----------
    coding
        :class:`~alliance_study.analysis.plans.public.PublicCoding` (records, coverage, facts).
    coded
        Consensus records (:func:`~alliance_study.analysis.plans.metrics.consensus`).
    district_table
        :func:`~alliance_study.analysis.plans.metrics.district_metrics`.
    pairs
        :func:`~alliance_study.analysis.plans.metrics.persistence_pairs`.
    attributes
        :func:`~alliance_study.analysis.plans.metrics.attribute_coverage`.
    book
        The codebook used.
    """

    coding: public.PublicCoding
    coded: pd.DataFrame
    district_table: pd.DataFrame
    pairs: pd.DataFrame
    attributes: pd.DataFrame
    book: Codebook


def code_record(facts: pd.DataFrame, book: Codebook, consensus_rule: str = "majority") -> PublicRecord:
    """Code the public plan facts (one row per fact, ``year`` the plan's spring year) and measure them."""
    coding = public.code_public_facts(facts, book)
    coded = metrics.consensus(coding.records, rule=consensus_rule)
    return PublicRecord(coding=coding, coded=coded, district_table=metrics.district_metrics(coded),
                        pairs=metrics.persistence_pairs(coded), attributes=metrics.attribute_coverage(coded),
                        book=book)


# --- the templates --------------------------------------------------------------------------------------

def template_facts(history: pd.DataFrame) -> dict[str, Any]:
    """Glued facts of the template history: number of plan years, first and last."""
    return {"n_template_years": len(history), "first_template": history["plan_year"].iloc[0],
            "last_template": history["plan_year"].iloc[-1]}


def template_table(history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The plan templates by plan year with display column names (Table "tbl-templates")."""
    history = codebook.template_history() if history is None else history
    return display.rename_for_display(history, TEMPLATE_COLUMNS)


# --- what is public -------------------------------------------------------------------------------------

def record_facts(record: PublicRecord) -> dict[str, Any]:
    """Glued facts of "What is public": facts, districts, district-plan years, sources, records, codes."""
    facts, coverage, coded = record.coding.facts, record.coding.coverage, record.coded
    kinds = facts["source_kind"].value_counts()
    documents = facts.loc[facts["source_kind"] == PLAN_DOCUMENT]
    return {
        "n_fact_rows": len(facts),
        "n_fact_districts": int(facts["district_code"].nunique()),
        "n_district_plan_years": len(coverage),
        "first_fact_year": coverage["plan_year"].min(),
        "last_fact_year": coverage["plan_year"].max(),
        "n_plan_document_facts": int(kinds.get(PLAN_DOCUMENT, 0)),
        "n_press_facts": int(kinds.get(PRESS_RELEASE, 0)),
        "n_news_facts": int(kinds.get(NEWS, 0)),
        "plan_document_sources": ", ".join(
            (documents["district_name"] + " " + documents["plan_year"]).drop_duplicates().sort_values())
        or "none",
        "n_records": len(coded),
        "n_codes_used": int(coded["intervention"].nunique()),
        "n_empty_plan_years": int((coverage["status"] != "coded").sum()),
    }


def coverage_table(record: PublicRecord) -> pd.DataFrame:
    """Every district-plan year with a readable fact, its codes and source (Table "tbl-coverage")."""
    return display.rename_for_display(record.coding.coverage.drop(columns="district_code"), COVERAGE_COLUMNS)


def codes_figure(record: PublicRecord):
    """Dot chart: intervention codes (rows, codebook order) by district-plan year (columns)."""
    import matplotlib.pyplot as plt

    coded, book = record.coded, record.book
    labels = {c.id: c.label for c in book.codes}
    column = coded["district_name"] + " " + coded["plan_year"]
    columns = (coded.assign(col=column).sort_values(["district_name", "plan_year"])["col"]
               .drop_duplicates().tolist())
    rows = sorted(coded["intervention"].unique(), key=lambda c: book.ids("intervention").index(c))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.8))
    for x, col in enumerate(columns):
        for code_id in coded.loc[column == col, "intervention"]:
            ax.plot(x, rows.index(code_id), "o", color=display.PALETTE["alliance"], markersize=7)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [labels[r] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.6, len(columns) - 0.4)
    fig.tight_layout()
    return fig


def attribute_facts(record: PublicRecord) -> dict[str, Any]:
    """How many records state each attribute the Neag study emphasised (yes, no or intrinsic)."""
    att = record.attributes.set_index("attribute")
    stated = att["yes"] + att["no"] + att["intrinsic"]
    return {
        "n_coupling_stated": int(stated["coupled_capacity_building"]),
        "n_coupling_intrinsic": int(att.loc["coupled_capacity_building", "intrinsic"]),
        "n_impl_stated": int(stated["implementation_measure"]),
        "n_outcome_stated": int(stated["outcome_measure"]),
        "n_smart_stated": int(stated["smart_goal"]),
    }


def records_table(record: PublicRecord) -> pd.DataFrame:
    """The coded records with their evidence (Table "tbl-records")."""
    return public.display_records(record.coded, record.book)


# --- planning-practice measures -------------------------------------------------------------------------

def district_list(names: list[str]) -> str:
    """Names joined with commas, or "no district".

    Examples
    --------
    >>> district_list(["Norwich", "Hartford"]), district_list([])
    ('Norwich, Hartford', 'no district')
    """
    return ", ".join(names) if names else "no district"


def metric_facts(record: PublicRecord) -> dict[str, Any]:
    """Glued facts of the practice measures: adjacent pairs, their districts, carryover and Jaccard means,
    and how many districts have a coupling and a dual-monitoring rate."""
    table, pairs = record.district_table, record.pairs
    return {
        "codebook_version": record.book.version,
        "n_pairs": len(pairs),
        "pair_districts": district_list(table.loc[table["n_pairs"] > 0, "district_name"].tolist()),
        "carryover_pct": display.format_number(100 * pairs["carryover"].mean() if len(pairs) else None,
                                               ".0f"),
        "jaccard": display.format_number(pairs["jaccard"].mean() if len(pairs) else None, ".2f"),
        "n_coupling_districts": int(table["coupling_rate"].notna().sum()),
        "n_dual_districts": int(table["dual_monitoring_rate"].notna().sum()),
    }


def metrics_table(record: PublicRecord) -> pd.DataFrame:
    """Planning-practice measures per district (Table "tbl-metrics")."""
    return display.rename_for_display(record.district_table.drop(columns=["district_code"]), METRIC_COLUMNS)


# --- practices and improvement --------------------------------------------------------------------------

def link_facts(linked: LinkResult, window_start: int, window_end: int, estimate: str) -> dict[str, Any]:
    """Glued facts of the link to improvement: the window, the estimate and the coverage statement."""
    return {"improvement_window": f"{window_start}-{window_end}", "improvement_estimate_name": estimate,
            "link_statement": linked.statement}


def link_table(linked: LinkResult) -> pd.DataFrame:
    """An association table (:class:`~alliance_study.analysis.plans.link.LinkResult`) for display."""
    return display.rename_for_display(linked.table, LINK_COLUMNS)

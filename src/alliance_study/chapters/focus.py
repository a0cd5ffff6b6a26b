"""The focus chapter (``notebooks/07_measure_focus.ipynb``): spending and staffing stability, support staff.

:func:`measure` computes the focus measures (:mod:`alliance_study.analysis.focus`) for the districts, their
pre/post summaries, the Alliance-comparison test and the yearly group means once; the functions below turn
them (and the link to improvement, :func:`~alliance_study.analysis.focus.relate_focus`) into the page's
glued facts, tables and figures, including the sentences on the strongest association.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis import describe, focus, groups
from alliance_study.analysis.plans.link import LinkResult
from alliance_study.chapters import display, labels
from alliance_study.chapters.plans import LINK_COLUMNS
from alliance_study.data.sources.keys import year_span

#: Display names of :class:`~alliance_study.analysis.focus.GroupComparison` tables (``measure`` not shown).
GROUP_COLUMNS: dict[str, str] = {
    "label": "Measure", "alliance_pre": "Alliance pre", "alliance_post": "Alliance post",
    "alliance_change": "Alliance change", "comparison_pre": "Comparison pre",
    "comparison_post": "Comparison post", "comparison_change": "Comparison change",
    "difference_in_change": "Difference in change", "p_value": "p (permutation)",
    "n_alliance": "Alliance districts", "n_comparison": "Comparison districts"}

#: Value columns of the group table shown with the measure's own precision (:func:`measure_format`).
VALUE_COLUMNS = ("alliance_pre", "alliance_post", "alliance_change", "comparison_pre", "comparison_post",
                 "comparison_change", "difference_in_change")

#: The worked example of the stability measure in the prose: a district moving a tenth of its budget
#: between two functions (shares 0.5/0.5 -> 0.6/0.4) has stability 0.90.
EXAMPLE_MOVED = "a tenth"
EXAMPLE_SHARES = ({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4})


def measure_format(measure: str) -> str:
    """Number format of a focus measure: stability values differ in the third decimal, so three decimals.

    Examples
    --------
    >>> measure_format("spending_stability"), measure_format("support_per_100")
    ('.3f', '.2f')
    """
    return ".3f" if "stability" in measure else ".2f"


@dataclass
class FocusResult:
    """The focus measures of the districts over the chapter's years and the Alliance-comparison contrast.

    Attributes
    ----------
    panel
        Town and regional districts in the years used.
    yearly
        :func:`~alliance_study.analysis.focus.focus_panel` (one row per district and year).
    by_district
        :func:`~alliance_study.analysis.focus.district_focus` (pre, post and change per district).
    comparison
        :class:`~alliance_study.analysis.focus.GroupComparison`.
    trends
        Yearly group means of the focus measures
        (:func:`~alliance_study.analysis.describe.group_trends`).
    years, pre_years, post_years
        Years used; years averaged before and during the program.
    labels
        Legend label per group.
    alliance_cohorts, comparison_group
        The group definitions.
    """

    panel: pd.DataFrame
    yearly: pd.DataFrame
    by_district: pd.DataFrame
    comparison: focus.GroupComparison
    trends: pd.DataFrame
    years: tuple[int, int]
    pre_years: list[int]
    post_years: list[int]
    labels: dict[str, str]
    alliance_cohorts: list[int]
    comparison_group: str


def measure(full: pd.DataFrame, start_year: int, end_year: int, pre_years: Sequence[int],
            post_years: Sequence[int], comparison: str, alliance_cohorts: Sequence[int], n_permutations: int,
            seed: int) -> FocusResult:
    """Focus measures of the town and regional districts over ``start_year``-``end_year``, compared.

    Parameters
    ----------
    full
        District-year panel (every entity and year; restricted here).
    start_year, end_year
        Years used.
    pre_years, post_years
        Years averaged before and during the program.
    comparison
        Comparison group (:data:`alliance_study.analysis.groups.COMPARISONS`).
    alliance_cohorts
        Cohorts forming the Alliance group.
    n_permutations, seed
        Permutation draws of the group test and their seed.
    """
    panel = full.loc[groups.district_mask(full) & full["year"].between(start_year, end_year)]
    yearly = focus.focus_panel(panel)
    by_district = focus.district_focus(yearly, pre_years=pre_years, post_years=post_years)
    compared = focus.compare_groups(by_district, panel, comparison=comparison,
                                    alliance_cohorts=alliance_cohorts, n_permutations=n_permutations,
                                    seed=seed)
    trends = describe.group_trends(yearly, list(focus.FOCUS_MEASURES), comparison=comparison,
                                   alliance_cohorts=alliance_cohorts, start_year=start_year,
                                   end_year=end_year)
    return FocusResult(panel=panel, yearly=yearly, by_district=by_district, comparison=compared,
                       trends=trends, years=(start_year, end_year), pre_years=list(pre_years),
                       post_years=list(post_years),
                       labels=labels.group_labels(alliance_cohorts, comparison, state=False),
                       alliance_cohorts=list(alliance_cohorts), comparison_group=comparison)


# --- facts ----------------------------------------------------------------------------------------------

def group_facts(result: FocusResult) -> dict[str, Any]:
    """Glued facts of the group comparison: data years, group sizes, periods, every measure's values."""
    table = result.comparison.table.set_index("measure")
    out: dict[str, Any] = {
        "last_exp_year": describe.last_year_with_data(result.panel, "exp_total"),
        "last_fte_year": describe.last_year_with_data(result.panel, "fte_total"),
        "n_alliance": int(table["n_alliance"].max()),
        "n_comparison": int(table["n_comparison"].max()),
        "comparison_label": groups.COMPARISONS[result.comparison_group],
        "pre_span": year_span(result.pre_years),
        "post_span": year_span(result.post_years),
    }
    for name in focus.FOCUS_MEASURES:
        fmt = measure_format(name)
        row = table.loc[name]
        for field in ("alliance_pre", "alliance_post", "comparison_pre", "comparison_post"):
            out[f"{name}_{field}"] = display.format_number(row[field], fmt)
        out[f"{name}_did"] = display.format_number(row["difference_in_change"], "+" + fmt)
        out[f"{name}_p"] = display.format_number(row["p_value"], ".2f")
        for group in ("alliance", "comparison"):
            out[f"{name}_{group}_change"] = display.format_number(row[f"{group}_change"], "+" + fmt)
    return out


def method_facts() -> dict[str, Any]:
    """Glued facts of "How the measures work": numbers of functions and categories, the worked example."""
    before, after = EXAMPLE_SHARES
    example = pd.DataFrame({"district_code": ["x", "x"], "year": [1, 2],
                            "a": [before["a"], after["a"]], "b": [before["b"], after["b"]]})
    return {
        "n_functions": len(focus.SPENDING_FUNCTIONS),
        "n_categories": len(focus.STAFF_CATEGORIES),
        "example_moved": EXAMPLE_MOVED,
        "stability_example": display.format_number(
            focus.mix_stability(example, ["a", "b"])["stability"].iloc[0], ".2f"),
    }


def strongest_correlation(table: pd.DataFrame) -> pd.Series | None:
    """The row of an association table with the largest absolute Spearman correlation (None if none)."""
    rel = table.dropna(subset=["spearman"])
    return rel.loc[rel["spearman"].abs().idxmax()] if len(rel) else None


def smallest_p(table: pd.DataFrame) -> tuple[float, str] | None:
    """The smallest p-value of an association table and what it tests, as the prose names it.

    Examples
    --------
    >>> t = pd.DataFrame({"measure": ["a", "b"], "p_spearman": [0.5, 0.04], "p_difference": [0.2, None]})
    >>> smallest_p(t)
    (0.04, 'rank correlation with b')
    >>> smallest_p(t.assign(p_spearman=None, p_difference=None)) is None
    True
    """
    pvals = table.melt(id_vars="measure", value_vars=["p_spearman", "p_difference"]).dropna(subset=["value"])
    if not len(pvals):
        return None
    best = pvals.loc[pvals["value"].astype(float).idxmin()]
    what = "rank correlation with " if best["variable"] == "p_spearman" else "improvers minus others in "
    return float(best["value"]), what + best["measure"]


def link_facts(related: LinkResult, n_permutations: int, window_start: int,
               window_end: int) -> dict[str, Any]:
    """Glued facts of "Focus and improvement": the statement, the strongest correlation, the smallest p."""
    top = strongest_correlation(related.table)
    best = smallest_p(related.table)
    return {
        "n_permutations_text": f"{n_permutations:,d}",
        "improvement_window": f"{window_start}-{window_end}",
        "link_statement": related.statement,
        "top_rho": display.format_number(None if top is None else top["spearman"], ".2f"),
        "top_measure": "no measure" if top is None else top["measure"],
        "top_p": display.format_number(None if top is None else top["p_spearman"], ".2f"),
        "n_measures_tested": len(related.table),
        "min_p": display.format_number(None if best is None else best[0], ".3f"),
        "min_p_what": "none computed" if best is None else best[1],
    }


# --- tables ---------------------------------------------------------------------------------------------

def group_table(result: FocusResult) -> pd.DataFrame:
    """The group comparison for display, values with their measure's precision (Table "tbl-focus-groups")."""
    shown = result.comparison.table.copy()
    for column in VALUE_COLUMNS:
        shown[column] = [display.format_number(v, measure_format(m), missing="")
                         for v, m in zip(shown[column], shown["measure"], strict=True)]
    return display.rename_for_display(shown.drop(columns="measure"), GROUP_COLUMNS)


def link_table(related: LinkResult) -> pd.DataFrame:
    """The focus measures against improvement for display (Table "tbl-focus-link")."""
    return display.rename_for_display(related.table, LINK_COLUMNS)


# --- figures --------------------------------------------------------------------------------------------

def trends_figure(result: FocusResult):
    """The focus measures by year, Alliance and comparison means, with the program's start marked."""
    fig = display.trend_grid(result.trends, list(focus.FOCUS_MEASURES), titles=focus.FOCUS_MEASURES, ncols=3,
                             years=result.years, groups=[describe.ALLIANCE, describe.COMPARISON],
                             labels=result.labels, panel_height=3.0)
    for ax in fig.axes:
        if ax.get_visible():
            ax.axvline(focus.FIRST_ALLIANCE_YEAR - 0.5, color="#777777", linestyle="--", linewidth=0.8,
                       zorder=0)
    return fig


def mix_shift(result: FocusResult, columns: Sequence[str]) -> pd.DataFrame:
    """Change (percentage points, post minus pre) of each category's mean share, Alliance and comparison."""
    masks = {describe.ALLIANCE: groups.alliance_mask(result.panel, result.alliance_cohorts),
             describe.COMPARISON: groups.comparison_mask(result.panel, result.comparison_group)}
    return pd.DataFrame({
        name: 100 * (focus.mean_shares(result.panel, columns, mask, result.post_years)
                     - focus.mean_shares(result.panel, columns, mask, result.pre_years))
        for name, mask in masks.items()})


def mix_shift_figure(result: FocusResult):
    """Bars of :func:`mix_shift` for the spending functions (left) and staff categories (right)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, columns, title in ((axes[0], focus.SPENDING_FUNCTIONS, "Spending share, post minus pre (points)"),
                               (axes[1], focus.STAFF_CATEGORIES, "Staff share, post minus pre (points)")):
        shift = mix_shift(result, columns)
        y = np.arange(len(columns))
        ax.barh(y - 0.2, shift[describe.ALLIANCE], height=0.4, color=display.PALETTE["alliance"],
                label=result.labels[describe.ALLIANCE])
        ax.barh(y + 0.2, shift[describe.COMPARISON], height=0.4, color=display.PALETTE["comparison"],
                label=result.labels[describe.COMPARISON])
        ax.set_yticks(y, [c.split("_", 1)[1].replace("_", " ") for c in columns], fontsize=8)
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def improvement_figure(result: FocusResult, scores: pd.DataFrame):
    """Change in each focus measure against the improvement composite, improvers highlighted.

    ``scores`` is an improvement table (``district_code``, ``score``, ``improver``;
    :func:`~alliance_study.analysis.plans.link.improvement_from_composite`).
    """
    import matplotlib.pyplot as plt

    merged = result.by_district.merge(scores, on="district_code")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, name in zip(axes, focus.FOCUS_MEASURES, strict=True):
        column = f"{name}_change"
        for flag, color, label in ((False, display.PALETTE["other"], "others"),
                                   (True, display.PALETTE["alliance"], "top-ranked improvers")):
            part = merged.loc[merged.get("improver", False) == flag]
            ax.scatter(part[column], part["score"], color=color, s=22, label=label)
        ax.set_xlabel(f"change in {focus.FOCUS_MEASURES[name].lower()}", fontsize=8)
        ax.set_ylabel("improvement composite", fontsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig

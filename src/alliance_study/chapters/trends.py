"""The trends chapter (``notebooks/03_compare_trends.ipynb``): Alliance and comparison districts over time.

:func:`compare` computes the yearly group means (:func:`~alliance_study.analysis.describe.group_trends`) and
the first/last-year gaps once; :func:`facts`, :func:`gap_table` and the figure functions turn the result
into what the page shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alliance_study.analysis import describe, groups
from alliance_study.chapters import display, labels
from alliance_study.data.sources.keys import year_span

#: Number format of each measure in the prose (dollars and counts whole, indices to 0.01); others ".1f".
MEASURE_FORMATS: dict[str, str] = {
    "ppe_total": ",.0f", "enrollment": ",.0f",
    "achievement_index": ".2f", "seda_grade_levels": ".2f",
}
DEFAULT_FORMAT = ".1f"

#: Values glued for every measure: ``<measure>_<field>`` (gaps as absolute values: the prose says which
#: group is ahead).
VALUE_FIELDS = ("start_first", "start_second", "start_gap", "end_first", "end_second", "end_gap")
YEAR_FIELDS = ("start_year", "end_year")

#: Groups drawn in the chapter's figures, in legend order.
SHOWN_GROUPS = [describe.ALLIANCE, describe.COMPARISON, describe.STATE]

#: Measures this chapter does not average over districts: Alliance dollars per pupil has one definition in
#: the book (:func:`~alliance_study.analysis.describe.alliance_dollars_per_pupil`, pooled over the districts
#: designated each year), which a mean of district ratios would contradict (issue 13: $1,181 here against
#: $1,290 in the program chapter for FY2022); the comparison districts have none anyway.
NOT_AVERAGED = ("alliance_dollars_per_pupil",)


@dataclass
class TrendComparison:
    """Yearly means of the Alliance and comparison groups (and the state), with what the page states.

    Attributes
    ----------
    trends
        Long table of :func:`~alliance_study.analysis.describe.group_trends`.
    gaps
        :func:`~alliance_study.analysis.describe.gap_summary` indexed by measure, one row per measure of
        ``outcomes + context`` (NaN where the groups never both have a value).
    outcomes, context
        The measures of the outcome and the context figures.
    labels, titles
        Legend label per group; figure title per measure.
    years
        First and last year shown.
    n_alliance, n_comparison
        Districts in each group over the years shown.
    alliance_cohorts, comparison, weight
        The group definitions and the weighting.
    latest_grad_year
        Last year with a graduation rate.
    regime_years
        Years of each test regime (``CMT``, ``SBAC``) in the range, as text ("none" if none).
    per_pupil
        :func:`~alliance_study.analysis.describe.alliance_dollars_per_pupil` by year over the range.
    """

    trends: pd.DataFrame
    gaps: pd.DataFrame
    outcomes: list[str]
    context: list[str]
    labels: dict[str, str]
    titles: dict[str, str]
    years: tuple[int, int]
    n_alliance: int
    n_comparison: int
    alliance_cohorts: list[int]
    comparison: str
    weight: str | None
    latest_grad_year: int | None
    regime_years: dict[str, str]
    per_pupil: pd.DataFrame


def compare(panel: pd.DataFrame, state: pd.DataFrame, outcomes: Sequence[str], context: Sequence[str],
            comparison: str, alliance_cohorts: Sequence[int], start_year: int, end_year: int,
            weight: str | None = None) -> TrendComparison:
    """Group means of ``outcomes`` and ``context`` measures over ``start_year``-``end_year``.

    Parameters
    ----------
    panel
        District-year panel; the achievement index (:func:`~alliance_study.analysis.groups.achievement_index`)
        is added here.
    state
        State table (``state_year``); only its rates and shares are used
        (:func:`~alliance_study.analysis.describe.state_rates`).
    outcomes, context
        Measures of the two figures.
    comparison
        Comparison group (:data:`alliance_study.analysis.groups.COMPARISONS`).
    alliance_cohorts
        Cohorts forming the Alliance group, followed in every year.
    start_year, end_year
        Years shown.
    weight
        None for unweighted means of districts, or a column to weight by (``"enrollment"``).

    Raises
    ------
    ValueError
        If a measure of :data:`NOT_AVERAGED` is asked for.
    """
    averaged = [m for m in (*outcomes, *context) if m in NOT_AVERAGED]
    if averaged:
        raise ValueError(f"{', '.join(averaged)} is not averaged over districts: the book states it once, "
                         "pooled over the designated districts (describe.alliance_dollars_per_pupil)")
    panel = panel.assign(achievement_index=groups.achievement_index(panel))
    measures = list(outcomes) + list(context)
    trends = describe.group_trends(panel, measures, comparison=comparison, weight=weight,
                                   start_year=start_year, end_year=end_year,
                                   alliance_cohorts=alliance_cohorts, state=describe.state_rates(state))
    gaps = describe.gap_summary(trends).set_index("measure").reindex(measures)
    in_range = panel["year"].between(start_year, end_year)
    regime = groups.achievement_regime(panel).where(in_range)
    return TrendComparison(
        trends=trends, gaps=gaps, outcomes=list(outcomes), context=list(context),
        labels=labels.group_labels(alliance_cohorts, comparison), titles=labels.measure_titles(measures),
        years=(start_year, end_year),
        n_alliance=int(panel.loc[in_range & groups.alliance_mask(panel, alliance_cohorts),
                                 "district_code"].nunique()),
        n_comparison=int(panel.loc[in_range & groups.comparison_mask(panel, comparison),
                                   "district_code"].nunique()),
        alliance_cohorts=list(alliance_cohorts), comparison=comparison, weight=weight,
        latest_grad_year=describe.last_year_with_data(panel, "grad_rate", end_year=end_year),
        regime_years={name: year_span(panel.loc[regime == name, "year"]) or "none"
                      for name in ("CMT", "SBAC")},
        per_pupil=describe.alliance_dollars_per_pupil(panel, start_year, end_year),
    )


def weighting_text(weight: str | None) -> str:
    """How group means are formed, for the sentence "Group values are means over districts, ...".

    Examples
    --------
    >>> weighting_text(None)
    'unweighted (every district counts once)'
    >>> weighting_text("enrollment")
    'weighted by enrollment'
    """
    return "weighted by " + weight if weight else "unweighted (every district counts once)"


def _shown(row: pd.Series, field: str) -> Any:
    return abs(row[field]) if field.endswith("gap") else row[field]


def measure_facts(gaps: pd.DataFrame, measure: str) -> dict[str, str]:
    """``<measure>_<field>`` texts of one measure's gap row ("not available" where missing)."""
    row = gaps.loc[measure]
    fmt = MEASURE_FORMATS.get(measure, DEFAULT_FORMAT)
    out = {f"{measure}_{field}": display.format_number(_shown(row, field),
                                                       fmt) for field in VALUE_FIELDS}
    out.update({f"{measure}_{field}": display.format_number(row[field], ".0f") for field in YEAR_FIELDS})
    return out


#: A gap whose size changes by less than this share of its first-year size "held"; beyond it, it "widened"
#: or "narrowed" (issue 13: the SEDA gap went from 2.13 to 2.67 grade levels, +25%, while the index gap was
#: flat, and the chapter still said the two "tell the same story").
GAP_CHANGE_TOLERANCE = 0.10


def gap_direction(start_gap: float, end_gap: float, tol: float = GAP_CHANGE_TOLERANCE) -> str:
    """``widened``, ``narrowed`` or ``held``: how the size of a gap changed from its first to its last year.

    Examples
    --------
    >>> gap_direction(-2.13, -2.67), gap_direction(-0.80, -0.82), gap_direction(1.0, 0.5)
    ('widened', 'held', 'narrowed')
    """
    first, last = abs(start_gap), abs(end_gap)
    if first == 0 or pd.isna(first) or pd.isna(last):
        return "held" if first == last else "widened" if last > first else "narrowed"
    change = (last - first) / first
    return "held" if abs(change) < tol else "widened" if change > 0 else "narrowed"


def agreement_phrase(gaps: pd.DataFrame, measure: str, reference: str) -> str:
    """Whether ``measure``'s gap moved as ``reference``'s did, as the verb phrase the prose uses.

    ``"tell the same story"`` when both gaps widened, both narrowed or both held; otherwise
    ``"tell a different story (the gap <direction> while the <reference> gap <direction>)"``.

    Examples
    --------
    >>> g = pd.DataFrame({"start_gap": [-0.8, -2.13], "end_gap": [-0.82, -2.67]}, index=["index", "seda"])
    >>> agreement_phrase(g, "seda", "index")
    'tell a different story (the gap widened while the index gap held)'
    """
    own = gap_direction(gaps.loc[measure, "start_gap"], gaps.loc[measure, "end_gap"])
    ref = gap_direction(gaps.loc[reference, "start_gap"], gaps.loc[reference, "end_gap"])
    if own == ref:
        return "tell the same story"
    return f"tell a different story (the gap {own} while the {reference.replace('_', ' ')} gap {ref})"


def facts(result: TrendComparison) -> dict[str, Any]:
    """Every glued fact of the chapter: group sizes and definitions, each measure's gaps, test years."""
    out: dict[str, Any] = {
        "n_alliance": result.n_alliance,
        "n_comparison": result.n_comparison,
        "comparison_label": groups.COMPARISONS[result.comparison],
        "weighting": weighting_text(result.weight),
    }
    for measure in result.outcomes + result.context:
        out.update(measure_facts(result.gaps, measure))
    if {"seda_grade_levels", "achievement_index"} <= set(result.gaps.index):
        out["seda_agreement"] = agreement_phrase(result.gaps.rename(index={"achievement_index": "index"}),
                                                 "seda_grade_levels", "index")
    out.update(per_pupil_facts(result.per_pupil))
    out["latest_grad_year"] = result.latest_grad_year
    out["alliance_group"] = "districts first designated in " + " or ".join(
        f"FY{c}" for c in result.alliance_cohorts)
    out.update({f"{name.lower()}_years": text for name, text in result.regime_years.items()})
    return out


def per_pupil_facts(per_pupil: pd.DataFrame) -> dict[str, str]:
    """The latest year's Alliance dollars per pupil, as the program chapter states it.

    Parameters
    ----------
    per_pupil
        :func:`~alliance_study.analysis.describe.alliance_dollars_per_pupil` by year.

    Returns
    -------
    dict
        ``per_pupil_year``, ``per_pupil`` (whole dollars), ``per_pupil_n`` (districts counted) and
        ``per_pupil_definition``; "not available" (and "no year") without any year.

    Examples
    --------
    >>> t = pd.DataFrame({"year": [2021, 2022], "n_districts": [33, 33],
    ...                   "dollars_per_pupil": [1102.1, 1289.5]})
    >>> per_pupil_facts(t)["per_pupil"], per_pupil_facts(t)["per_pupil_year"]
    ('$1,290', '2022')
    """
    rows = per_pupil.dropna(subset=["dollars_per_pupil"]).sort_values("year")
    last = rows.iloc[-1] if len(rows) else None
    return {
        "per_pupil_year": str(int(last["year"])) if last is not None else "no year",
        "per_pupil": display.format_per_pupil(float(last["dollars_per_pupil"])) if last is not None
        else "not available",
        "per_pupil_n": str(int(last["n_districts"])) if last is not None else "0",
        "per_pupil_definition": describe.PER_PUPIL_DEFINITION,
    }


def _cell(fmt: str):
    return lambda v: "" if pd.isna(v) else format(v, fmt)


def gap_table(result: TrendComparison) -> pd.DataFrame:
    """Display table: each measure in the first and last year both groups have data (Table "tbl-gaps")."""
    gaps = result.gaps.reset_index()
    return pd.DataFrame({
        "Measure": gaps["measure"].map(result.titles),
        "First year": gaps["start_year"].map(_cell(".0f")),
        "Alliance": gaps["start_first"].map(_cell(",.2f")),
        "Comparison": gaps["start_second"].map(_cell(",.2f")),
        "Last year": gaps["end_year"].map(_cell(".0f")),
        "Alliance ": gaps["end_first"].map(_cell(",.2f")),
        "Comparison ": gaps["end_second"].map(_cell(",.2f")),
    })


def outcome_figure(result: TrendComparison):
    """Small multiples of the outcomes (test-regime breaks on the test-based ones), shared legend."""
    return display.trend_grid(result.trends, result.outcomes, titles=result.titles, ncols=2,
                              regime_measures=labels.TEST_MEASURES, years=result.years, groups=SHOWN_GROUPS,
                              labels=result.labels)


def context_figure(result: TrendComparison):
    """Small multiples of the context measures (money, enrollment, students), shared legend."""
    return display.trend_grid(result.trends, result.context, titles=result.titles, ncols=2,
                              years=result.years, groups=SHOWN_GROUPS, labels=result.labels)


def graduation_figure(result: TrendComparison, measure: str = "grad_rate"):
    """One measure (the graduation rate) on its own axes with its legend."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    display.plot_trend(ax, result.trends, measure, title=labels.MEASURE_LABELS[measure], groups=SHOWN_GROUPS,
                       labels=result.labels, years=result.years)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig

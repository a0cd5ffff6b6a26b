"""Figures of the impact chapter: event studies, the randomization distribution, the sensitivity bands.

Each function returns a matplotlib figure (not shown); the notebook glues it with
:func:`alliance_study.chapters.display.glue_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact import DesignResult, EventStudy, RandomizationResult
from alliance_study.chapters import display
from alliance_study.chapters.impact.tables import OUTCOME_SHORT

#: Colours and offsets of the estimators in event-study figures.
ESTIMATOR_STYLE: dict[str, tuple[str, float, str]] = {
    "twfe": ("#636363", -0.15, "TWFE (PanelOLS)"),
    "callaway_santanna": ("#b2182b", 0.0, "Callaway-Sant'Anna"),
    "sun_abraham": ("#2166ac", 0.15, "Sun-Abraham"),
}


def plot_event_studies(ax, studies: Sequence[EventStudy], title: str | None = None,
                       cohort_year: int | None = None) -> None:
    """Event-time estimates with 95% intervals, one colour per estimator, side by side on ``ax``.

    ``cohort_year`` (e.g. 2013) adds a secondary x-axis label of calendar years for a single cohort.
    """
    for s in studies:
        color, offset, label = ESTIMATOR_STYLE.get(s.estimator, ("#999999", 0.0, s.estimator))
        t = s.table
        ax.errorbar(t["event_time"] + offset, t["estimate"],
                    yerr=[t["estimate"] - t["ci_low"], t["ci_high"] - t["estimate"]],
                    fmt="o", color=color, markersize=3.5, capsize=2, linewidth=1, label=label)
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.axvline(-0.5, color="#777777", linestyle="--", linewidth=0.8)
    ax.set_xlabel("years since designation" + (f" (0 = {cohort_year})" if cohort_year else ""))
    if title:
        ax.set_title(title, fontsize=10)


def plot_event_grid(results: Sequence[DesignResult], ncols: int = 2, estimators: Sequence[str] = (
        "twfe", "callaway_santanna", "sun_abraham"), min_treated: int = 1, panel_height: float = 2.9):
    """Small multiples: one event-study panel per result (outcome), estimators side by side.

    Event times resting on fewer than ``min_treated`` treated districts are not drawn (late cohorts' long
    leads). Returns the figure (not shown).
    """
    fig, axes = display.facet_axes(len(results), ncols, panel_width=4.6, panel_height=panel_height)
    for ax, r in zip(axes.flat, results, strict=False):
        studies = [st for st in (r.twfe, r.cs, r.sa) if st is not None and st.estimator in estimators]
        trimmed = []
        for st in studies:
            keep = st.table["n_treated"] >= min_treated
            trimmed.append(EventStudy(st.estimator, st.outcome, st.table.loc[keep], st.vcov, st.reference,
                                      st.n_clusters, st.n_treated_clusters, st.df))
        first = int(r.sample["cohort"].dropna().min())
        plot_event_studies(ax, trimmed, title=OUTCOME_SHORT.get(r.outcome, r.outcome),
                           cohort_year=first if r.sample["cohort"].nunique() == 1 else None)
    return display.finish_facets(fig, axes, len(results), max_legend_columns=None, legend_space=0.05)


def plot_randomization(ri: RandomizationResult, xlabel: str):
    """Histogram of the coefficients under random re-assignments, with the actual estimate marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.hist(ri.draws, bins=60, color=display.PALETTE["other"])
    ax.axvline(ri.estimate, color=display.PALETTE["alliance"], linewidth=2, label="actual designation")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("permutations")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_sensitivity(results: Mapping[str, DesignResult], ncols: int = 3):
    """One panel per outcome: the post-period average (line) and its relative-magnitudes robust interval
    (band) as the allowed post-designation drift M grows; "no pre-period to scale by" where none exists."""
    import matplotlib.pyplot as plt

    outcomes = list(results)
    fig, axes = plt.subplots(-(-len(outcomes) // ncols), ncols, figsize=(3.6 * ncols, 5.6), squeeze=False)
    for ax, o in zip(axes.flat, outcomes, strict=False):
        sens = results[o].sensitivity
        ax.set_title(OUTCOME_SHORT[o], fontsize=9)
        if not np.isfinite(sens.max_pre_violation):
            ax.text(0.5, 0.5, "no pre-period\nto scale by", transform=ax.transAxes, ha="center", va="center",
                    color="#777777")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        t = sens.table
        ax.fill_between(t["mbar"], t["lower"], t["upper"], color=display.PALETTE["alliance"], alpha=0.25)
        ax.plot(t["mbar"], [sens.estimate] * len(t), color=display.PALETTE["alliance"])
        ax.axhline(0, color="#333333", linewidth=0.8)
        ax.set_xlabel("M")
    return display.finish_facets(fig, axes, len(outcomes), legend=False)


def plot_simulated(sample: pd.DataFrame, studies: Sequence[EventStudy]):
    """Event studies of a simulated panel beside the true effect by event time (dotted)."""
    import matplotlib.pyplot as plt

    truth_by_event = sample.loc[sample["treated"] == 1].groupby("event_time")["tau"].mean()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    plot_event_studies(ax, studies)
    ax.plot(truth_by_event.index, truth_by_event.to_numpy(), color="black", linestyle=":",
            label="true effect")
    ax.legend()
    fig.tight_layout()
    return fig

"""The bounding-trends page (notebooks/13_bound_trends.ipynb): Rambachan-Roth intervals and sup-t bands.

The notebook fits the main design's TWFE event study per outcome and calls one function here per section:
:func:`estimate` (every outcome's honest intervals, breakdown values and sup-t band), :func:`summary_table`,
:func:`intervals_table`, :func:`plot_intervals`, :func:`plot_bands` and :func:`facts` (glued numbers and the
verdict sentences, each from a rule unit-tested in tests/test_impact_sensitivity_chapter.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis import impact
from alliance_study.analysis.impact import honest
from alliance_study.chapters import display
from alliance_study.chapters.impact.figures import plot_event_studies
from alliance_study.chapters.impact.prose import outcome_digits
from alliance_study.chapters.impact.tables import OUTCOME_SHORT

#: The page's restrictions in words (table and figure labels).
RESTRICTION_NAMES: dict[str, str] = {"smoothness": "Smoothness (M)",
                                     "relative_magnitudes": "Relative magnitudes (M-bar)"}


@dataclass
class OutcomeSensitivity:
    """One outcome's event study, its honest intervals
    (:func:`~alliance_study.analysis.impact.honest_sensitivity`) and its sup-t band
    (:func:`~alliance_study.analysis.impact.sup_t_band`)."""

    study: impact.EventStudy
    honest: impact.HonestResult
    band: pd.DataFrame
    first_year: int


def m_grid_for(study: impact.EventStudy, fractions: Sequence[float]) -> list[float]:
    """Values of the smoothness bound ``M`` for one outcome: ``fractions`` of the post average's standard
    error (``M`` is in outcome units per year per year, so a common grid must be scaled per outcome)."""
    se = float(study.post_average()["se"])
    return [float(f) * se for f in fractions]


def estimate(panel: pd.DataFrame, outcomes: Sequence[str], *, end_year: int, start_year: int, m_fractions:
             Sequence[float], mbar_grid: Sequence[float], min_treated: int, seed: int, n_draws: int = 20_000
             ) -> dict[str, OutcomeSensitivity]:
    """Per outcome: the main design's TWFE event study (designated FY2013 vs never designated, years
    ``start_year``-``end_year``), both restrictions for the post average (smoothness also per post year),
    both breakdown values and the sup-t band (``n_draws`` simulated draws seeded with ``seed``)."""
    design = impact.Design("main")
    out = {}
    for k, o in enumerate(outcomes):
        sample = impact.build_sample(panel, o, design, start_year, end_year)
        study = impact.twfe_event_study(sample, o)
        res = impact.honest_sensitivity(study, m_grid_for(study, m_fractions), mbar_grid,
                                        min_treated=min_treated, per_period=False)
        per = _per_period_smoothness(study, m_grid_for(study, m_fractions), min_treated)
        res.intervals = pd.concat([res.intervals, per], ignore_index=True)
        band = impact.sup_t_band(study, min_treated=min_treated, n_draws=n_draws, seed=seed + k)
        out[o] = OutcomeSensitivity(study, res, band, int(sample["cohort"].dropna().min()))
    return out


def _per_period_smoothness(study: impact.EventStudy, m_grid: Sequence[float], min_treated: int
                           ) -> pd.DataFrame:
    vec = honest.event_vector(study, min_treated)
    if vec.n_pre == 0:
        return pd.DataFrame(columns=["restriction", "m", "target", "lower", "upper"])
    ref = int(vec.events[0] - vec.periods[0])
    parts = [honest.honest_intervals(vec, "smoothness", m_grid, int(t)).assign(target=str(int(t) + ref))
             for t in vec.periods[vec.post]]
    return pd.concat(parts, ignore_index=True)


# --- verdict rules ---

def rm_verdict(breakdown: float) -> str:
    """The relative-magnitudes breakdown value in words.

    Examples
    --------
    >>> rm_verdict(0.0)
    'not distinguishable from zero even if trends were exactly parallel'
    >>> rm_verdict(0.4)
    'fragile: a post-designation drift 0.40 times the largest pre-period one would explain it'
    """
    if breakdown is None or math.isnan(breakdown):
        return "not bounded: there is no pre-period estimate besides the reference year to scale a drift by"
    if breakdown == 0:
        return "not distinguishable from zero even if trends were exactly parallel"
    if math.isinf(breakdown):
        return "robust: it survives post-designation drifts even ten times the largest pre-period one"
    if breakdown < 1:
        return (f"fragile: a post-designation drift {breakdown:.2f} times the largest pre-period one would "
                "explain it")
    return f"robust to post-designation drifts up to {breakdown:.2f} times the largest pre-period one"


def sd_verdict(breakdown: float, se: float, digits: int) -> str:
    """The smoothness breakdown value (outcome units per year per year) in words, with its size relative to
    the post average's standard error.

    Examples
    --------
    >>> sd_verdict(0.0, 1.0, 2)
    'not distinguishable from zero once a linear trend in the difference is allowed (M = 0)'
    >>> sd_verdict(0.5, 1.0, 2)
    'it survives bends of the trend difference up to 0.50 a year per year (0.50 standard errors)'
    """
    if breakdown is None or math.isnan(breakdown):
        return "not bounded: there is no pre-period estimate besides the reference year"
    if breakdown == 0:
        return "not distinguishable from zero once a linear trend in the difference is allowed (M = 0)"
    if math.isinf(breakdown):
        return "it survives any bend of the trend difference up to the size of the estimates themselves"
    return (f"it survives bends of the trend difference up to {breakdown:.{digits}f} a year per year "
            f"({breakdown / se:.2f} standard errors)")


def band_verdict(band: pd.DataFrame) -> str:
    """What the sup-t band says about the post-designation years.

    Examples
    --------
    >>> band = pd.DataFrame({"event_time": [-2, 0, 1], "band_low": [-1, 0.5, -0.2], "band_high": [1, 2, 3],
    ...                      "ci_low": [-1, 0.6, 0.1], "ci_high": [1, 2, 3]})
    >>> band_verdict(band)
    'the simultaneous band excludes zero in 1 of 2 post-designation years (the pointwise intervals in 2)'
    """
    post = band.loc[band["event_time"] >= 0]
    sim = int(((post["band_low"] > 0) | (post["band_high"] < 0)).sum())
    point = int(((post["ci_low"] > 0) | (post["ci_high"] < 0)).sum())
    if sim == 0:
        return ("the simultaneous band includes zero in every post-designation year (the pointwise "
                f"intervals exclude it in {point} of {len(post)})")
    return (f"the simultaneous band excludes zero in {sim} of {len(post)} post-designation years "
            f"(the pointwise intervals in {point})")


# --- tables, figures, facts ---

def _fmt(value: float, digits: int) -> str:
    if value is None or math.isnan(value):
        return ""
    return "above 10" if math.isinf(value) else f"{value:,.{digits}f}"


def summary_table(results: Mapping[str, OutcomeSensitivity], mbar: float = 1.0) -> pd.DataFrame:
    """One row per outcome: post average, its SE, pre-period years used, the robust set at ``mbar``, both
    breakdown values and the sup-t multiplier."""
    rows = []
    for o, r in results.items():
        d = outcome_digits(o)
        h = r.honest
        rm = h.intervals.loc[(h.intervals["restriction"] == "relative_magnitudes") & (h.intervals["target"] ==
                                                                                       "average")]
        at = rm.loc[np.isclose(rm["m"], mbar)]
        ci = f"[{at['lower'].iloc[0]:,.{d}f}, {at['upper'].iloc[0]:,.{d}f}]" if len(at) else ""
        rows.append({"Outcome": OUTCOME_SHORT.get(o, o), "Post average": _fmt(h.estimate, d),
                     "SE": _fmt(h.se, d), "Pre-period years": h.n_pre, f"Robust set, M-bar = {mbar:g}": ci,
                     "Breakdown M-bar": _fmt(h.breakdown_rm, 2), "Breakdown M": _fmt(h.breakdown_sd, d + 1),
                     "Sup-t multiplier": _fmt(float(r.band["critical_value"].iloc[0]), 2)})
    return pd.DataFrame(rows)


def intervals_table(results: Mapping[str, OutcomeSensitivity]) -> pd.DataFrame:
    """The post average's robust sets over both grids, one row per outcome, restriction and bound."""
    rows = []
    for o, r in results.items():
        d = outcome_digits(o)
        t = r.honest.intervals.loc[r.honest.intervals["target"] == "average"]
        for _, row in t.iterrows():
            rows.append({"Outcome": OUTCOME_SHORT.get(o, o),
                         "Restriction": RESTRICTION_NAMES[row["restriction"]],
                         "Bound": _fmt(row["m"], d + 1 if row["restriction"] == "smoothness" else 2),
                         "95% robust set": f"[{row['lower']:,.{d}f}, {row['upper']:,.{d}f}]"})
    return pd.DataFrame(rows)


def plot_intervals(results: Mapping[str, OutcomeSensitivity]):
    """Rows: the two restrictions; columns: outcomes with a pre-period. Each panel: the post average (line)
    and its robust 95% set (band) as the bound grows, zero marked."""
    import matplotlib.pyplot as plt

    shown = [o for o, r in results.items() if r.honest.n_pre > 0]
    fig, axes = plt.subplots(2, len(shown), figsize=(min(9.5, 2.4 * len(shown) + 0.6), 5.4), squeeze=False)
    for j, o in enumerate(shown):
        h = results[o].honest
        for i, restriction in enumerate(("smoothness", "relative_magnitudes")):
            ax = axes[i, j]
            t = h.intervals.loc[(h.intervals["restriction"] == restriction)
                                & (h.intervals["target"] == "average")]
            ax.fill_between(t["m"], t["lower"], t["upper"], color=display.PALETTE["alliance"], alpha=0.25)
            ax.plot(t["m"], [h.estimate] * len(t), color=display.PALETTE["alliance"])
            ax.axhline(0, color="#333333", linewidth=0.8)
            ax.set_xlabel("M" if restriction == "smoothness" else "M-bar")
            if i == 0:
                ax.set_title(OUTCOME_SHORT.get(o, o), fontsize=10)
    fig.tight_layout()
    return fig


def plot_bands(results: Mapping[str, OutcomeSensitivity], ncols: int = 2):
    """Event studies (TWFE, main design) with pointwise 95% intervals (bars) and the sup-t 95% band
    (shaded)."""
    fig, axes = display.facet_axes(len(results), ncols, panel_width=4.6, panel_height=2.9)
    for ax, (o, r) in zip(axes.flat, results.items(), strict=False):
        b = r.band
        ax.fill_between(b["event_time"], b["band_low"], b["band_high"], color=display.PALETTE["comparison"],
                        alpha=0.18, label="sup-t band (simultaneous)", step=None)
        keep = r.study.table["event_time"].isin(b["event_time"]) | (r.study.table["event_time"] ==
                                                                      r.study.reference)
        trimmed = impact.EventStudy(r.study.estimator, o, r.study.table.loc[keep], r.study.vcov,
                                    r.study.reference, r.study.n_clusters, r.study.n_treated_clusters,
                                    r.study.df)
        plot_event_studies(ax, [trimmed], title=OUTCOME_SHORT.get(o, o), cohort_year=r.first_year)
    return display.finish_facets(fig, axes, len(results), legend_space=0.07)


def facts(results: Mapping[str, OutcomeSensitivity], mbar: float = 1.0) -> dict[str, str]:
    """Glued numbers and sentences per outcome: ``<o>_estimate``, ``_bd_rm``, ``_bd_sd``, ``_rm_ci``
    (at ``mbar``), ``_rm_verdict``, ``_sd_verdict``, ``_band_verdict``, ``_crit``; and ``n_outcomes_robust``
    (outcomes whose relative-magnitudes breakdown is at least 1)."""
    out = {}
    robust = 0
    for o, r in results.items():
        d = outcome_digits(o)
        h = r.honest
        rm = h.intervals.loc[(h.intervals["restriction"] == "relative_magnitudes") & (h.intervals["target"] ==
                                                                                       "average")]
        at = rm.loc[np.isclose(rm["m"], mbar)]
        out[f"{o}_estimate"] = _fmt(h.estimate, d)
        out[f"{o}_bd_rm"] = _fmt(h.breakdown_rm, 2) or "not defined"
        out[f"{o}_bd_sd"] = _fmt(h.breakdown_sd, d + 1) or "not defined"
        out[f"{o}_rm_ci"] = (f"{at['lower'].iloc[0]:,.{d}f} to {at['upper'].iloc[0]:,.{d}f}" if len(at)
                             else "not defined")
        out[f"{o}_rm_verdict"] = rm_verdict(h.breakdown_rm)
        out[f"{o}_sd_verdict"] = sd_verdict(h.breakdown_sd, h.se, d + 1)
        out[f"{o}_band_verdict"] = band_verdict(r.band)
        out[f"{o}_crit"] = f"{float(r.band['critical_value'].iloc[0]):.2f}"
        robust += int(h.breakdown_rm >= 1)  # NaN (no pre-period) compares False
    out["n_outcomes_robust"] = str(robust)
    return out

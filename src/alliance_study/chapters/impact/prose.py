"""Verdict sentences and formatted numbers of the impact chapter, each from a fixed, unit-tested rule.

Every function takes numbers (or an estimates-table row, :func:`alliance_study.analysis.impact.results_table`)
and returns text; nothing here estimates anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Names of the wild bootstrap weight distributions in prose.
BOOTSTRAP_WEIGHT_NAMES: dict[str, str] = {"webb": "Webb's six-point", "rademacher": "Rademacher"}


def _fmt(value: float, digits: int) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def _fmt_p(value: float) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def outcome_digits(outcome: str) -> int:
    """Decimals to show for an outcome's effects (3 for scores, 2 for percentage points and logs)."""
    return 3 if outcome in ("seda_gcs_eb", "achievement_index") else 2


def prose_values(row: Mapping[str, Any]) -> dict[str, str]:
    """Formatted numbers of one estimates-table row (:func:`results_table`) for glue in prose.

    Keys: ``estimate``, ``abs_estimate``, ``se``, ``ci``, ``mde``, ``mde_ri``, ``p_cluster``, ``p_wild``,
    ``p_ri``, ``p_ri_t``, ``p_ri_low``, ``cs_post``, ``cs_post_se``, ``pretrend_p``, ``breakdown``,
    ``n_treated``, ``n_control``, ``verdict`` (from the cluster-robust p-value), ``direction``
    ("higher"/"lower"), ``pretrend_verdict`` and ``mde_ratio`` (MDE / |estimate|); the headline is the
    event study's post-period average. Also ``cs_p``, ``static_estimate`` (the static TWFE coefficient),
    ``trend_estimate``, ``trend_se``, ``trend_p``, ``trend_verdict`` (the post average net of the extended
    linear pre-trend), ``pretrend_p_dip``, ``trend_dip_estimate``, ``trend_dip_se`` (leaving out the last
    lead) and ``rm_ci`` (the relative-magnitudes robust interval at M = 1, around the same headline).
    """
    d = outcome_digits(str(row["outcome"]))
    est = float(row["estimate"])
    breakdown = float(row["rm_breakdown"])
    nan = float("nan")
    return {
        "estimate": _fmt(est, d), "abs_estimate": _fmt(abs(est), d), "se": _fmt(row["se"], d),
        "ci": f"{_fmt(row['ci_low'], d)} to {_fmt(row['ci_high'], d)}",
        "mde": _fmt(row["mde"], d), "mde_ri": _fmt(row["mde_ri"], d),
        "p_cluster": format_p(row["p_cluster"]), "p_wild": format_p(row["p_wild"]),
        "p_ri": format_p(row["p_ri"]), "p_ri_t": format_p(row["p_ri_t"]),
        "p_ri_low": format_p(row.get("p_ri_low", float("nan"))) or "not computed",
        "cs_post": _fmt(row["cs_post"], d), "cs_post_se": _fmt(row["cs_post_se"], d),
        "pretrend_p": format_p(row["pretrend_p"]) or "not testable",
        "breakdown": ("not applicable" if not np.isfinite(breakdown) else _fmt(breakdown, 2)),
        "n_treated": str(int(row["n_treated"])), "n_control": str(int(row["n_control"])),
        "verdict": verdict(row["p_cluster"]), "direction": "higher" if est >= 0 else "lower",
        "pretrend_verdict": pretrend_verdict(row["pretrend_p"]),
        "mde_ratio": _fmt(float(row["mde"]) / abs(est), 1) if est else "",
        "cs_p": format_p(row.get("cs_p", nan)), "static_estimate": _fmt(row.get("static_estimate", nan), d),
        "trend_estimate": _fmt(row.get("trend_estimate", nan), d) or "not estimable",
        "trend_se": _fmt(row.get("trend_se", nan), d), "trend_p": format_p(row.get("trend_p", nan)),
        "trend_verdict": verdict(row.get("trend_p", nan)),
        "pretrend_p_dip": format_p(row.get("pretrend_p_dip", nan)) or "not testable",
        "trend_dip_estimate": _fmt(row.get("trend_dip_estimate", nan), d) or "not estimable",
        "trend_dip_se": _fmt(row.get("trend_dip_se", nan), d),
        "rm_ci": (f"{_fmt(row['rm_ci_low'], d)} to {_fmt(row['rm_ci_high'], d)}"
                  if np.isfinite(row.get("rm_ci_low", nan)) else "not available"),
    }


def pretrend_verdict(p_value: float, alpha: float = 0.05) -> str:
    """Words for a joint pre-trend test in prose."""
    if p_value is None or not np.isfinite(p_value):
        return "cannot be tested (the reference year is the only pre-period year)"
    if p_value < alpha:
        return ("jointly distinguishable from zero, a warning that the groups were not on parallel paths "
                "before designation")
    return "jointly not distinguishable from zero"


def robustness_text(rows: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str], base: str = "main"
                    ) -> str:
    """How an outcome's estimate changes across designs, in words (for prose that must follow the data).

    Parameters
    ----------
    rows
        Design name -> estimates-table row (:func:`results_table`) of one outcome.
    labels
        Design name -> short description ("against the near-miss group").
    base
        The design the others are compared with.

    Returns
    -------
    str
        e.g. ``"shrinks to 3.31 against the near-miss group; changes sign (-1.55) with baseline covariates"``.
    """
    b = float(rows[base]["estimate"])
    se = float(rows[base].get("se", float("nan")))
    # "Similar" within a quarter of the estimate or half its standard error, whichever is larger, so that
    # small, noisy estimates are not said to "grow" or "shrink" by amounts well inside their error.
    tolerance = max(0.25 * abs(b), 0.5 * se if np.isfinite(se) else 0.0)
    parts = []
    for name, label in labels.items():
        if name not in rows:
            continue
        o = float(rows[name]["estimate"])
        text = _fmt(o, outcome_digits(str(rows[name]["outcome"])))
        if not np.isfinite(o):
            parts.append(f"cannot be estimated {label}")
        elif abs(o - b) <= tolerance:
            parts.append(f"is similar ({text}) {label}")
        elif np.sign(o) != np.sign(b):
            parts.append(f"changes sign ({text}) {label}")
        elif abs(o) < abs(b):
            parts.append(f"shrinks to {text} {label}")
        else:
            parts.append(f"grows to {text} {label}")
    return "; ".join(parts)


def breakdown_text(breakdown: float) -> str:
    """The relative-magnitudes breakdown value (Rambachan-Roth, :mod:`alliance_study.analysis.impact.honest`)
    in words."""
    if breakdown is None or math.isnan(breakdown):
        return "the sensitivity to diverging trends cannot be assessed (no pre-period estimate to scale by)"
    if breakdown == 0:
        return "the estimate does not exclude zero even if trends were exactly parallel"
    if not np.isfinite(breakdown):
        return "it survives post-designation drifts even ten times the largest pre-period drift"
    if breakdown < 1:
        return (f"a post-designation drift {breakdown:.2f} times the largest drift seen before designation "
                "would explain it")
    return f"it survives post-designation drifts up to {breakdown:.2f} times the largest pre-period drift"


def evidence_judgement(rows: Mapping[str, Mapping[str, Any]], base: str = "main", alpha: float = 0.05,
                       extrapolated: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> str:
    """A judgement of an outcome's evidence across designs, following fixed rules.

    Not distinguishable from zero in the base design: "no detectable effect". Otherwise fragile if the sign
    changes in any other design, the breakdown value is below 1, the pre-trend test rejects, or the
    linear-trend-adjusted estimate (``trend_p``, where it exists) is not distinguishable from zero or has the
    other sign; robust if none of these. Designs in ``extrapolated`` (no common support with the treated
    districts) count neither for nor against the estimate. Every other design whose estimate is
    distinguishable from zero is then named (:func:`significant_designs_text`), extrapolated ones included
    and marked as such, so no significant result goes unmentioned.
    """
    r = rows[base]
    tail = significant_designs_text(rows, labels or {}, base, alpha, extrapolated)
    tail = f" {tail}" if tail else ""
    if not np.isfinite(r["p_cluster"]) or r["p_cluster"] >= alpha:
        return ("The data show no detectable effect, which with this design is not evidence of no effect."
                + tail)
    b = float(r["estimate"])
    sign_change = any(np.sign(float(o["estimate"])) != np.sign(b) for k, o in rows.items()
                      if k != base and k not in set(extrapolated))
    trend_p = float(r.get("trend_p", float("nan")))
    trend_fails = np.isfinite(trend_p) and (
        trend_p >= alpha or np.sign(float(r["trend_estimate"])) != np.sign(b))
    fragile = sign_change or trend_fails or (np.isfinite(r["rm_breakdown"]) and r["rm_breakdown"] < 1) or (
        np.isfinite(r["pretrend_p"]) and r["pretrend_p"] < alpha)
    if fragile:
        return ("Taken together, these checks do not support reading the estimate as an effect of the "
                "program." + tail)
    return ("The estimate holds up against these checks, although designation was not random and they cannot "
            "rule out every alternative." + tail)


def significant_designs_text(rows: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str],
                             base: str = "main", alpha: float = 0.05,
                             extrapolated: Sequence[str] = ()) -> str:
    """The designs other than ``base`` whose estimate is distinguishable from zero, in one sentence.

    Parameters
    ----------
    rows
        Design name -> estimates-table row (``estimate``, ``p_cluster``, ``outcome``).
    labels
        Design name -> phrase ("against the near-miss group"); the name itself where missing.
    base, alpha
        The design judged, and the significance level.
    extrapolated
        Designs without common support: named with a warning that their estimate is extrapolation.

    Returns
    -------
    str
        Empty if there are none, e.g. ``"The estimate is distinguishable from zero (-0.31, p = 0.012) with
        baseline covariates, a comparison without common support whose estimate is an extrapolation."``
    """
    parts = []
    for name, row in rows.items():
        p = float(row.get("p_cluster", float("nan")))
        if name == base or not np.isfinite(p) or p >= alpha:
            continue
        shown = _fmt_p(p)
        shown = shown.replace("<", "p < ") if shown.startswith("<") else f"p = {shown}"
        text = (f"({_fmt(float(row['estimate']), outcome_digits(str(row.get('outcome', ''))))}, {shown}) "
                f"{labels.get(name, f'in the {name} design')}")
        if name in set(extrapolated):
            text += ", a comparison without common support whose estimate is an extrapolation"
        parts.append(text)
    if not parts:
        return ""
    return "The estimate is distinguishable from zero " + "; and ".join(parts) + "."


def format_p(value: float) -> str:
    """A p-value as text: three decimals, ``<0.001`` below that, empty when missing."""
    return _fmt_p(value)


def verdict(p_value: float, alpha: float = 0.05) -> str:
    """Words for a p-value in prose: distinguishable from zero at ``alpha`` or not (or not estimable)."""
    if p_value is None or not np.isfinite(p_value):
        return "not estimable"
    pct = f"{100 * alpha:g}%"
    return (f"distinguishable from zero at the {pct} level" if p_value < alpha
            else f"not distinguishable from zero at the {pct} level")


def number(value: Any, fmt: str, missing: str = "not available") -> str:
    """A number formatted with ``fmt``, or ``missing`` when it is NaN or None (as ``display.glue_number``)."""
    bad = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    return missing if bad else format(value, fmt)


def n_pre_text(n_pre: int) -> str:
    """How many pre-period estimates an outcome has, in words ("a single pre-period estimate")."""
    return {0: "no pre-period estimate", 1: "a single pre-period estimate"}.get(n_pre,
                                                                              f"{n_pre} pre-period estimates")


def dropped_cohorts_text(dropped: Sequence[int]) -> str:
    """A parenthetical naming cohorts left out for lack of post-designation data ("" when none)."""
    if not dropped:
        return ""
    return " (" + " and ".join(f"the FY{g} cohort" for g in dropped) + \
        " has no data after designation in the main window)"


def power_statement(mde_to_benchmark: float) -> str:
    """What a design's power means for an effect of the benchmark size, from MDE / benchmark effect."""
    if mde_to_benchmark > 1:
        return ("an effect of the benchmark size would most likely have gone undetected, so "
                "'no detectable effect' is not evidence of no effect")
    return "an effect of the benchmark size would probably have been detected"

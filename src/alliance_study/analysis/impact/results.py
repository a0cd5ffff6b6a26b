"""Result objects shared by the estimators: event studies, a single DiD coefficient, detectable effects.

Standard errors use the cluster-robust sandwich with the factor ``G/(G-1) * (N-1)/N`` (linearmodels'
``group_debias``; absorbed effects are nested in the clusters and not counted), and t-based p-values and
intervals with ``G - 1`` degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: z-quantile sum for 80% power at a two-sided 5% test: the "2.8 x SE" rule.

Z_MDE = float(stats.norm.ppf(0.975) + stats.norm.ppf(0.8))


def mde(se: float, alpha: float = 0.05, power: float = 0.8, df: int | None = None) -> float:
    """Minimum detectable effect of a two-sided test: ``(q(1 - alpha/2) + q(power)) * se``.

    With the normal quantiles (``df`` None) this is the familiar 2.8 x SE for 80% power at 5%; with
    ``df`` it uses Student's t (appropriate with few clusters).
    """
    if se is None or not np.isfinite(se):
        return float("nan")
    if df is None:
        factor = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    else:
        factor = stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)
    return float(factor * se)


def t_pvalue(estimate: float, se: float, df: int) -> float:
    if not (np.isfinite(estimate) and np.isfinite(se)) or se <= 0:
        return float("nan")
    return float(2 * stats.t.sf(abs(estimate / se), df))


@dataclass
class EventStudy:
    """Event-time estimates of one estimator.

    Attributes
    ----------
    estimator
        ``twfe``, ``callaway_santanna`` or ``sun_abraham``.
    outcome
        Outcome column.
    table
        ``event_time, estimate, se, ci_low, ci_high, p_value, n_treated``; the reference period is a row
        with estimate 0 and missing standard error.
    vcov
        Covariance of the non-reference estimates (index and columns: event times).
    reference
        Reference (base) event time.
    n_clusters, n_treated_clusters
        Districts in the sample, and treated districts.
    df
        Degrees of freedom for t-based inference (``n_clusters - 1``).
    extra
        Estimator-specific detail (e.g. the group-time ATTs).
    """

    estimator: str
    outcome: str
    table: pd.DataFrame
    vcov: pd.DataFrame
    reference: int
    n_clusters: int
    n_treated_clusters: int
    df: int
    extra: dict[str, Any] = field(default_factory=dict)

    def post_average(self, alpha: float = 0.05, weighting: str = "equal") -> dict[str, float]:
        """Average of the post-period (``event_time >= 0``) estimates, with its SE, p-value and MDE.

        ``weighting="equal"`` gives every post event time the same weight (the event-study summary);
        ``"treated"`` weights them by treated districts observed, which makes it the average effect over
        treated district-years (Callaway and Sant'Anna's "simple" aggregation).
        """
        post = [e for e in self.vcov.index if e >= 0]
        if weighting == "equal":
            w = None
        elif weighting == "treated":
            counts = self.table.set_index("event_time")["n_treated"]
            w = np.array([counts.get(e, 0) for e in post], dtype=float)
        else:
            raise ValueError("weighting must be 'equal' or 'treated'")
        return linear_combination(self, post, alpha, w)

    def pre_events(self, min_treated: int = 1) -> list[int]:
        """Pre-period event times (other than the reference) with an estimate resting on at least
        ``min_treated`` treated districts."""
        counts = self.table.set_index("event_time")["n_treated"]
        return [int(e) for e in self.vcov.index
                if e < 0 and e != self.reference and counts.get(e, 0) >= min_treated]


def linear_combination(study: EventStudy, events: Sequence[int], alpha: float,
                        weights: np.ndarray | None = None) -> dict[str, float]:
    if not events:
        return {"estimate": float("nan"), "se": float("nan"), "p_value": float("nan"),
                "ci_low": float("nan"), "ci_high": float("nan"), "mde": float("nan")}
    est = study.table.set_index("event_time").loc[list(events), "estimate"].to_numpy(dtype=float)
    w = np.full(len(events), 1.0 / len(events)) if weights is None else weights / weights.sum()
    v = study.vcov.loc[list(events), list(events)].to_numpy(dtype=float)
    theta = float(w @ est)
    se = float(math.sqrt(max(w @ v @ w, 0.0)))
    q = stats.t.ppf(1 - alpha / 2, study.df)
    return {"estimate": theta, "se": se, "p_value": t_pvalue(theta, se, study.df), "ci_low": theta - q * se,
            "ci_high": theta + q * se, "mde": mde(se, df=study.df)}


def event_table(events: Sequence[int], est: np.ndarray, vcov: np.ndarray, n_treated: Mapping[int, int],
                 reference: int, df: int, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    q = stats.t.ppf(1 - alpha / 2, df)
    table = pd.DataFrame({"event_time": list(events), "estimate": est, "se": se,
                          "ci_low": est - q * se, "ci_high": est + q * se,
                          "p_value": [t_pvalue(b, s, df) for b, s in zip(est, se, strict=True)]})
    if reference not in set(events):
        ref_row = pd.DataFrame({"event_time": [reference], "estimate": [0.0], "se": [np.nan],
                                "ci_low": [np.nan], "ci_high": [np.nan], "p_value": [np.nan]})
        table = pd.concat([table, ref_row], ignore_index=True)
    table["n_treated"] = table["event_time"].map(lambda e: int(n_treated.get(int(e), 0))).astype("int64")
    table = table.sort_values("event_time").reset_index(drop=True)
    table["event_time"] = table["event_time"].astype("int64")
    vc = pd.DataFrame(vcov, index=list(events), columns=list(events))
    return table, vc


@dataclass
class DidEstimate:
    """A single difference-in-differences coefficient (the post-period average effect) and its inference."""

    outcome: str
    estimate: float
    se: float
    p_value: float
    ci_low: float
    ci_high: float
    n_obs: int
    n_clusters: int
    n_treated: int
    df: int
    mde: float


def compare_event_studies(studies: Sequence[EventStudy], baseline: str = "twfe") -> pd.DataFrame:
    """Side-by-side event-time estimates of several estimators, and where they differ.

    Returns
    -------
    pandas.DataFrame
        One row per event time: ``<estimator>`` and ``<estimator>_se`` for each study, and for each robust
        estimator ``diff_<estimator>`` (robust minus ``baseline``) and ``diff_<estimator>_in_se`` (that
        difference in units of the robust estimator's standard error). Differences beyond about one
        standard error flag event times where heterogeneous effects across cohorts or over time move the
        TWFE estimate.
    """
    parts = []
    for s in studies:
        t = s.table.set_index("event_time")[["estimate", "se"]]
        parts.append(t.rename(columns={"estimate": s.estimator, "se": f"{s.estimator}_se"}))
    out = pd.concat(parts, axis=1).sort_index()
    names = [s.estimator for s in studies]
    if baseline in names:
        for name in names:
            if name == baseline:
                continue
            out[f"diff_{name}"] = out[name] - out[baseline]
            out[f"diff_{name}_in_se"] = out[f"diff_{name}"] / out[f"{name}_se"]
    return out.rename_axis("event_time").reset_index()

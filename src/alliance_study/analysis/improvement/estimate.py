"""Point estimates of one specification: every indicator, then the composite and the ranks.

A district lacking an indicator that the window has (Norwich and Winchester have no high school of their
own, so no graduation rate) is scored, under the default ``missing="prior"``, at that indicator's prior
mean: 0, the regression prediction, the value every adjusted estimate is shrunk toward. The composite then
divides by the weights of all the window's indicators, so a district is not ranked on fewer, noisier
indicators (an average of three standardized scores spreads more than an average of four, and so lands in
the top group more often by chance). In the draws the missing indicator is drawn from its prior
``N(0, tau2)`` (:mod:`~alliance_study.analysis.improvement.bootstrap`). ``missing="available"`` averages
the indicators a district has (the rule before issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance_study.analysis.improvement.indicators import (
    ESTIMATES,
    INDICATORS,
    ImprovementSpec,
    prepare_panel,
)
from alliance_study.analysis.improvement.shrinkage import (
    _Arrays,
    _estimate_batch,
    _Grid,
    _indicator_arrays,
    _period,
    _universe,
    _wsd,
    composite_scores,
)


@dataclass
class ImprovementResult:
    """Point estimates of one specification.

    Attributes
    ----------
    spec
        The specification.
    by_indicator
        Long table, one row per district of the universe and indicator: ``district_code, district_name,
        indicator, target, baseline, end, change, peer_change, naive, var, expected_reversion, prediction,
        rtm, reliability, eb, post_sd, imputed`` (``imputed``: a ranked district without the indicator,
        scored at the prior mean).
    indicators
        One row per indicator: baseline and end years, districts in the pool and ranked, slope of naive
        change on the baseline, ``tau2``, ``transient_var``, mean sampling variance and reliability of the
        ranked districts, the standardization scales and whether the window has the indicator (``in_window``).
    composite
        One row per ranked (target) district: ``district_code, district_name, n_indicators`` (its own),
        ``missing_indicators`` (names, comma-separated), the three composites ``naive, rtm, eb``, their
        ranks (1 = most improved) and ``top_<estimate>`` flags.
    """

    spec: ImprovementSpec
    by_indicator: pd.DataFrame
    indicators: pd.DataFrame
    composite: pd.DataFrame
    _arrays: dict[str, _Arrays] = field(repr=False, default_factory=dict)
    _codes: pd.Index = field(repr=False, default_factory=lambda: pd.Index([]))
    _is_target: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=bool))
    _scales: dict[str, tuple[float, float]] = field(repr=False, default_factory=dict)

    def top(self, estimate: str | None = None) -> list[str]:
        """District codes of the top ``top_n`` by ``estimate`` (the spec's estimate by default)."""
        est = estimate or self.spec.estimate
        ranked = self.composite.dropna(subset=[est]).sort_values(f"rank_{est}")
        return ranked["district_code"].head(self.spec.top_n).tolist()

    def in_window(self) -> list[str]:
        """Indicators the window has (with spread among the ranked districts); the others drop out."""
        ind = self.indicators
        return ind.loc[ind["in_window"], "indicator"].tolist()


def _names(panel: pd.DataFrame) -> pd.Series:
    if "district_name" not in panel.columns:
        return pd.Series(dtype=object)
    named = panel.dropna(subset=["district_name"]).sort_values("year")
    return named.groupby("district_code")["district_name"].last()


def _rank_desc(values: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Ranks (1 = largest) along the last axis; NaN values rank last; exact ties broken by ``tiebreak``
    (larger first)."""
    x = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((-tiebreak, -x), axis=-1)
    ranks = np.empty(x.shape, dtype=float)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(1, x.shape[-1] + 1, dtype=float), x.shape),
                      axis=-1)
    return ranks


def _span(years: Sequence[int]) -> str:
    if not years:
        return "none"
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def usable_scale(scales: tuple[float, float]) -> bool:
    """An indicator enters the composite only with a positive, finite spread of both estimates."""
    return all(np.isfinite(s) and s > 0 for s in scales)


def estimate_improvement(panel: pd.DataFrame, spec: ImprovementSpec | None = None) -> ImprovementResult:
    """Point estimates of improvement relative to peers, naive and adjusted, per indicator and composite.

    Parameters
    ----------
    panel
        District-year panel; :func:`~alliance_study.analysis.improvement.indicators.prepare_panel` is
        applied if its variance columns are missing.
    spec
        The specification (defaults: :class:`ImprovementSpec`).

    Returns
    -------
    ImprovementResult

    Examples
    --------
    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import improvement
    >>> panel, truth = simulate.improvement_panel(improvement=0.5, seed=1)
    >>> result = improvement.estimate_improvement(panel)
    >>> len(result.composite), len(result.top())
    (30, 8)
    """
    spec = spec or ImprovementSpec()
    if any(INDICATORS[i].variance_column not in panel.columns for i in spec.indicators):
        panel = prepare_panel(panel)
    codes, is_target, _ = _universe(panel, spec)
    grid = _Grid(panel)
    names = _names(panel).reindex(codes)
    ones = np.ones((1, len(codes)))
    long_parts, ind_rows = [], []
    std: dict[str, dict[str, np.ndarray]] = {"naive": {}, "rtm": {}, "eb": {}}
    own: dict[str, np.ndarray] = {}
    arrays: dict[str, _Arrays] = {}
    scales: dict[str, tuple[float, float]] = {}
    for name in spec.indicators:
        arr = _indicator_arrays(panel, spec, codes, name, grid)
        arrays[name] = arr
        res = _estimate_batch(arr, spec, ones)
        ok = res["ok"]
        one = {k: np.where(ok, v[0], np.nan) for k, v in res.items() if v.ndim == 2}
        pool_w = np.ones(len(codes))
        scale_naive, scale_rtm = _wsd(one["naive"], pool_w), _wsd(one["rtm"], pool_w)
        scales[name] = (scale_naive, scale_rtm)
        tgt = is_target & ok
        in_window = usable_scale(scales[name]) and int(tgt.sum()) >= 2
        end = one["baseline"] + arr.indicator.sign * one["change"]
        # Districts with a baseline but no end value (or the reverse) still show the value they have.
        base_only, _ = _period(arr.yb, arr.vb)
        imputed = is_target & ~ok & in_window & (spec.missing == "prior")
        long_parts.append(pd.DataFrame({
            "district_code": codes, "district_name": names.to_numpy(), "indicator": name,
            "target": is_target, "baseline": base_only[0], "end": end, "change": one["change"],
            "peer_change": one["peer_change"], "naive": one["naive"],
            "var": one["var"], "expected_reversion": one["expected_reversion"],
            "prediction": one["prediction"],
            "rtm": one["rtm"], "reliability": one["reliability"], "eb": one["eb"],
            "post_sd": np.sqrt(one["post_var"]), "imputed": imputed,
        }))
        ind_rows.append({
            "indicator": name, "label": arr.indicator.label,
            "direction": "higher is better" if arr.indicator.higher_is_better else "lower is better",
            "baseline_years": _span(arr.baseline_years), "end_years": _span(arr.end_years),
            "n_pool": int(ok.sum()), "n_ranked": int(tgt.sum()),
            "slope_on_baseline": float(res["slope"][0]), "tau2": float(res["tau2"][0]),
            "transient_var": arr.transient_var,
            "mean_sampling_var": float(np.nanmean(one["var"][tgt])) if tgt.any() else np.nan,
            "mean_reliability": float(np.nanmean(one["reliability"][tgt])) if tgt.any() else np.nan,
            "sd_naive": scale_naive, "sd_rtm": scale_rtm, "in_window": in_window,
        })
        if not in_window:
            continue  # no data or no spread in this window (e.g. tests in 2014): the indicator drops out
        own[name] = ok
        fill = 0.0 if spec.missing == "prior" else np.nan
        for est, value, scale in (("naive", one["naive"], scale_naive), ("rtm", one["rtm"], scale_rtm),
                                  ("eb", one["eb"], scale_rtm)):
            std[est][name] = np.where(ok, value / scale, fill)
    weights = {i: spec.weight(i) for i in own}
    comp = pd.DataFrame({"district_code": codes, "district_name": names.to_numpy()})
    n_own = np.sum([own[i] for i in own], axis=0) if own else np.zeros(len(codes), dtype=int)
    for est in ESTIMATES:
        values = composite_scores(pd.DataFrame(std[est], index=codes), weights, 1).to_numpy()
        comp[est] = np.where(n_own >= spec.min_indicators, values, np.nan)
    comp["n_indicators"] = np.asarray(n_own, dtype=int)
    comp["missing_indicators"] = [", ".join(i for i in own if not own[i][k]) for k in range(len(codes))]
    comp = comp.loc[is_target].reset_index(drop=True)
    for est in ESTIMATES:
        # Ties (e.g. every estimate shrunk to exactly 0) are broken by the RTM residual.
        ranks = _rank_desc(comp[est].to_numpy(float), comp["rtm"].fillna(-np.inf).to_numpy(float))
        comp[f"rank_{est}"] = np.where(comp[est].notna(), ranks, np.nan)
        comp[f"top_{est}"] = comp[f"rank_{est}"] <= spec.top_n
    comp = comp.sort_values([f"rank_{spec.estimate}", "district_code"]).reset_index(drop=True)
    return ImprovementResult(spec, pd.concat(long_parts, ignore_index=True), pd.DataFrame(ind_rows), comp,
                             arrays, codes, is_target, scales)

"""Improvement over several windows, and whether the improvers kept improving (persistence).

The Neag window (2013-2016) is followed by 2016-2019 and by a window across the pandemic, 2019-2025: as in
the impact chapter, 2020 and 2021 are never baseline or end years
(:data:`~alliance_study.analysis.improvement.indicators.PANDEMIC_YEARS`), only the indicators with
post-pandemic data enter (SEDA achievement, graduation; others drop out when the panel has no end value),
and the end value averages the last ``end_span`` years (2024-2025: graduation ends in 2024).

Persistence between two windows: the Spearman correlation of the adjusted composites of the districts ranked
in both, with a 90% interval from resampling districts; how many of one window's top group are in the next
window's (observed, and expected from the two windows' P(top) as ``sum p_a p_b``); and the same statistics on
simulated panels where nothing persists (no true improvers; selection on noisy scores, sampling noise and
transient shocks as in the data), which is what pure noise gives (:func:`noise_persistence`). Consecutive
windows share a year (2016 ends one and starts the next), so noise alone makes the correlation negative.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from alliance_study.analysis.groups import district_mask
from alliance_study.analysis.improvement.bootstrap import BootstrapResult, bootstrap_improvement
from alliance_study.analysis.improvement.estimate import ImprovementResult, estimate_improvement
from alliance_study.analysis.improvement.indicators import (
    INDICATORS,
    ImprovementSpec,
    indicator_years,
    prepare_panel,
)

#: Percentiles of the intervals reported (90%).
INTERVAL = (5.0, 95.0)


@dataclass(frozen=True)
class Window:
    """A window: baseline years end at ``start``, end years are the last ``end_span`` up to ``end``."""

    start: int
    end: int
    end_span: int = 1

    @property
    def label(self) -> str:
        return f"{self.start}-{self.end}"


def as_windows(spec: ImprovementSpec, later: Sequence[Sequence[int]]) -> list[Window]:
    """The main window of ``spec`` followed by ``later`` windows given as ``[start, end]`` or
    ``[start, end, end_span]``."""
    out = [Window(spec.start_year, spec.end_year, spec.end_span)]
    for w in later:
        out.append(Window(int(w[0]), int(w[1]), int(w[2]) if len(w) > 2 else 1))
    return out


@dataclass
class WindowsResult:
    """Point estimates and draws of one specification in each window (keys: window labels, in order)."""

    windows: list[Window]
    results: dict[str, ImprovementResult]
    boots: dict[str, BootstrapResult]

    def p_top(self) -> pd.DataFrame:
        """District x window table of P(top): ``district_code, district_name`` and one column per window."""
        first = self.results[self.windows[0].label].composite[["district_code", "district_name"]]
        out = first.set_index("district_code")
        for w in self.windows:
            out[w.label] = self.boots[w.label].p_top().reindex(out.index)
        return out.reset_index()

    def district(self, code: str) -> pd.DataFrame:
        """One district's window rows: ``window, indicators, rank, rank_lo, rank_hi, p_top, in_top``."""
        rows = []
        for w in self.windows:
            res, boot = self.results[w.label], self.boots[w.label]
            t = boot.table.set_index("district_code")
            has = code in t.index and np.isfinite(t.loc[code, "p_top"])
            est = res.spec.estimate
            rows.append({
                "window": w.label, "indicators": ", ".join(res.in_window()),
                "rank": t.loc[code, f"rank_{est}"] if has else np.nan,
                "rank_lo": t.loc[code, "rank_lo"] if has else np.nan,
                "rank_hi": t.loc[code, "rank_hi"] if has else np.nan,
                "p_top": t.loc[code, "p_top"] if has else np.nan,
                "in_top": code in res.top(), "n_ranked": int(res.composite[est].notna().sum()),
            })
        return pd.DataFrame(rows)

    def districts(self, codes: Sequence[str]) -> pd.DataFrame:
        """:meth:`district` for each of ``codes``, stacked: ``district_code`` followed by its columns."""
        frames = [self.district(code) for code in codes]
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "district_code", np.repeat(np.asarray(codes, dtype=object), [len(f) for f in frames]))
        return out


def run_windows(panel: pd.DataFrame, spec: ImprovementSpec, windows: Sequence[Window], n_boot: int,
                seed: int) -> WindowsResult:
    """Estimate and bootstrap ``spec`` in each window (seed ``seed + k`` for the k-th window)."""
    prepared = prepare_panel(panel)
    results, boots = {}, {}
    for k, w in enumerate(windows):
        wspec = replace(spec, start_year=w.start, end_year=w.end, end_span=w.end_span)
        res = estimate_improvement(prepared, wspec)
        results[w.label] = res
        boots[w.label] = bootstrap_improvement(prepared, wspec, n_boot=n_boot, seed=seed + k, result=res)
    return WindowsResult(list(windows), results, boots)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def pair_statistics(first: ImprovementResult, second: ImprovementResult) -> tuple[float, int, int]:
    """Spearman correlation of the adjusted composites of the districts ranked in both windows, the number
    of the first window's top group in the second's, and the number of districts ranked in both."""
    est = first.spec.estimate
    a = first.composite.set_index("district_code")[est].dropna()
    b = second.composite.set_index("district_code")[est].dropna()
    common = a.index.intersection(b.index)
    rho = _spearman(a[common].to_numpy(), b[common].to_numpy()) if len(common) > 2 else float("nan")
    return rho, len(set(first.top()) & set(second.top())), len(common)


def persistence(wres: WindowsResult, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Persistence between consecutive windows (and the first and last, with three or more windows).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``first, second, n_common, spearman, spearman_lo, spearman_hi`` (90% interval from
        resampling the districts ranked in both), ``top_n, overlap`` (of the first window's top group, how
        many are in the second's), ``share_stay`` (``overlap / top_n``), ``expected_overlap`` (``sum p_a
        p_b`` over districts, from the two windows' draws), ``chance_overlap`` (``top_n**2 / n_common``).
    """
    labels = [w.label for w in wres.windows]
    pairs = list(itertools.pairwise(labels))
    if len(labels) > 2:
        pairs.append((labels[0], labels[-1]))
    rng = np.random.default_rng(seed)
    rows = []
    for a, b in pairs:
        ra, rb = wres.results[a], wres.results[b]
        rho, overlap, n_common = pair_statistics(ra, rb)
        est = ra.spec.estimate
        ca = ra.composite.set_index("district_code")[est].dropna()
        cb = rb.composite.set_index("district_code")[est].dropna()
        common = ca.index.intersection(cb.index)
        xa, xb = ca[common].to_numpy(), cb[common].to_numpy()
        boot_rho = []
        if len(common) > 2:
            idx = rng.integers(0, len(common), size=(n_boot, len(common)))
            # Spearman of a resample: rank within the resample (ties from repeats get average ranks).
            ranks_a = pd.DataFrame(xa[idx]).rank(axis=1).to_numpy()
            ranks_b = pd.DataFrame(xb[idx]).rank(axis=1).to_numpy()
            da = ranks_a - ranks_a.mean(axis=1, keepdims=True)
            db = ranks_b - ranks_b.mean(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                boot_rho = (da * db).sum(1) / np.sqrt((da**2).sum(1) * (db**2).sum(1))
        pa = wres.boots[a].p_top().reindex(common).fillna(0.0)
        pb = wres.boots[b].p_top().reindex(common).fillna(0.0)
        top_n = ra.spec.top_n
        finite = np.isfinite(boot_rho) if len(boot_rho) else np.zeros(0, dtype=bool)
        lo, hi = (np.percentile(np.asarray(boot_rho)[finite], INTERVAL) if finite.any() else (np.nan, np.nan))
        rows.append({
            "first": a, "second": b, "n_common": n_common, "spearman": rho,
            "spearman_lo": float(lo), "spearman_hi": float(hi),
            "top_n": top_n, "overlap": overlap, "share_stay": overlap / top_n,
            "expected_overlap": float((pa * pb).sum()),
            "chance_overlap": top_n**2 / n_common if n_common else np.nan,
        })
    return pd.DataFrame(rows)


def noise_persistence(panel: pd.DataFrame, spec: ImprovementSpec, windows: Sequence[Window],
                      n_panels: int = 100, seed: int = 0, shock_sd: float | None = None,
                      n_districts: int | None = None) -> pd.DataFrame:
    """The persistence statistics of :func:`persistence` on simulated panels where nothing persists.

    Each panel (:func:`alliance_study.simulate.improvement_panel`, ``improvement=0``) has the real panel's
    years per indicator, as many town and regional districts, districts of realistic sizes, selection of the
    Alliance cohort on low noisy achievement, and transient shocks with SD ``shock_sd`` (in SDs of latent
    quality; by default calibrated so that achievement's transient variance matches the real panel's over
    the first window: ``sqrt(s2) / 0.9``, 0.9 grade levels per SD in the simulation).

    Returns
    -------
    pandas.DataFrame
        One row per panel and window pair: ``panel, first, second, spearman, overlap, n_common``.
    """
    from alliance_study import simulate  # analysis -> simulate only for this null distribution

    prepared = prepare_panel(panel)
    if shock_sd is None:
        w0 = windows[0]
        res = estimate_improvement(prepared, replace(spec, start_year=w0.start, end_year=w0.end,
                                                     end_span=w0.end_span))
        ind = res.indicators.set_index("indicator")
        s2 = float(ind.loc["achievement", "transient_var"]) if "achievement" in ind.index else 0.0
        shock_sd = float(np.sqrt(max(s2, 0.0)) / simulate.ACHIEVEMENT_SLOPE)
    if n_districts is None:
        n_districts = int(prepared.loc[district_mask(prepared), "district_code"].nunique())
    years_by_column = {INDICATORS[name].column: tuple(indicator_years(prepared, name))
                       for name in spec.indicators}
    last = max(w.end for w in windows)
    rng = np.random.default_rng(seed)
    labels = [w.label for w in windows]
    pairs = list(zip(range(len(windows) - 1), range(1, len(windows)), strict=True))
    if len(windows) > 2:
        pairs.append((0, len(windows) - 1))
    rows = []
    for k in range(n_panels):
        sim, _ = simulate.improvement_panel(n_districts=n_districts, improvement=0.0, shock_sd=shock_sd,
                                            years=tuple(range(2008, last + 1)), seed=rng,
                                            indicator_years=years_by_column)
        sim = prepare_panel(sim)
        res = [estimate_improvement(sim, replace(spec, start_year=w.start, end_year=w.end,
                                                 end_span=w.end_span)) for w in windows]
        for i, j in pairs:
            rho, overlap, n_common = pair_statistics(res[i], res[j])
            rows.append({"panel": k, "first": labels[i], "second": labels[j], "spearman": rho,
                         "overlap": overlap, "n_common": n_common})
    return pd.DataFrame(rows)


def noise_summary(noise: pd.DataFrame) -> pd.DataFrame:
    """Mean and 90% range of the pure-noise statistics per window pair."""
    g = noise.groupby(["first", "second"], sort=False)
    out = g.agg(noise_spearman=("spearman", "mean"), noise_overlap=("overlap", "mean"))
    out["noise_spearman_lo"] = g["spearman"].quantile(INTERVAL[0] / 100)
    out["noise_spearman_hi"] = g["spearman"].quantile(INTERVAL[1] / 100)
    out["noise_overlap_hi"] = g["overlap"].quantile(INTERVAL[1] / 100)
    return out.reset_index()


def compare_with_noise(observed: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """:func:`persistence` rows joined with :func:`noise_summary`, plus ``p_noise_spearman`` and
    ``p_noise_overlap``: the share of pure-noise panels at least as persistent as the data (one-sided)."""
    summary = noise_summary(noise)
    out = observed.merge(summary, on=["first", "second"], how="left")
    p_rho, p_ov = [], []
    for row in out.itertuples():
        part = noise.loc[(noise["first"] == row.first) & (noise["second"] == row.second)]
        p_rho.append(float((part["spearman"] >= row.spearman).mean()) if len(part) else np.nan)
        p_ov.append(float((part["overlap"] >= row.overlap).mean()) if len(part) else np.nan)
    out["p_noise_spearman"] = p_rho
    out["p_noise_overlap"] = p_ov
    return out


def window_p_top(wres: WindowsResult) -> pd.DataFrame:
    """Long table ``district_code, window, p_top, rank, in_top`` over the windows."""
    rows = []
    for w in wres.windows:
        t = wres.boots[w.label].table
        est = wres.results[w.label].spec.estimate
        top = set(wres.results[w.label].top())
        for r in t.itertuples():
            rows.append({"district_code": r.district_code, "window": w.label, "p_top": r.p_top,
                         "rank": getattr(r, f"rank_{est}"), "in_top": r.district_code in top})
    return pd.DataFrame(rows)

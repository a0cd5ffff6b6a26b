"""Linking planning practices (or any district measure) to improvement, on whatever coverage exists.

:func:`associate` relates district-level measures to an improvement table (``district_code``, ``score``,
optionally ``improver``) and always states how many districts (and, for plan metrics, plan years) the
association rests on. Below :data:`MIN_DISTRICTS_FOR_INFERENCE` districts with both a measure and a score,
or with fewer than :data:`MIN_PER_GROUP` improvers or others, it reports the numbers as description only,
without p-values, and says that they cannot support inference: with 3-6 coded districts (all the public plan
facts allow) a rank correlation can take only a handful of values and one district moves it anywhere.

Statistics per measure: Spearman's rank correlation with the score (average ranks for ties), the mean of
the measure among improvers and among the others and their difference, and, when inference is supported, a
two-sided permutation p-value for each (``n_permutations`` draws from an explicit seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Fewest districts with both a measure and a score for which p-values are reported.
MIN_DISTRICTS_FOR_INFERENCE = 10

#: Fewest improvers and fewest others for a difference in means to be tested.
MIN_PER_GROUP = 3

#: Measures of :func:`alliance_study.analysis.plans.metrics.district_metrics` related to improvement by
#: default.
PRACTICE_MEASURES: tuple[str, ...] = (
    "carryover",
    "jaccard",
    "n_distinct",
    "mean_per_year",
    "coupling_rate",
    "dual_monitoring_rate",
    "smart_goal_rate",
)


@dataclass
class LinkResult:
    """Association of district measures with improvement.

    Attributes
    ----------
    table
        One row per measure: ``measure``, ``n`` (districts with both), ``n_improvers``, ``n_others``,
        ``spearman``, ``mean_improvers``, ``mean_others``, ``difference``, ``p_spearman``,
        ``p_difference`` (NaN unless inference is supported).
    n_districts
        Districts with a measure (the metrics table's rows).
    n_linked
        Districts with a measure and an improvement score.
    n_plan_years
        Distinct plan years coded (NaN-free count) when the table has ``plan_years``; else None.
    n_district_plan_years
        Coded district-plan years (sum of ``n_plan_years``) when available; else None.
    supports_inference
        Whether p-values were computed.
    statement
        One sentence on coverage and what the numbers can support, for the book.
    """

    table: pd.DataFrame
    n_districts: int
    n_linked: int
    n_plan_years: int | None
    n_district_plan_years: int | None
    supports_inference: bool
    statement: str


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of average ranks); NaN if either is constant or
    fewer than 3 pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _default_improvers(scores: pd.Series) -> pd.Series:
    """Improvers when the improvement table has no ``improver`` column: score above the median."""
    return scores > scores.median()


def associate(
    measures: pd.DataFrame,
    improvement: pd.DataFrame,
    columns: Sequence[str] | None = None,
    n_permutations: int = 2000,
    seed: int = 0,
    min_districts: int = MIN_DISTRICTS_FOR_INFERENCE,
) -> LinkResult:
    """Relate district measures to an improvement score.

    Parameters
    ----------
    measures
        One row per district: ``district_code`` and the measure columns (e.g.
        :func:`alliance_study.analysis.plans.metrics.district_metrics`, or the focus measures). A
        ``n_plan_years``
        column, when present, is used to state plan-year coverage.
    improvement
        ``district_code``, ``score`` (higher = more improvement), optional boolean ``improver``. Without
        ``improver``, improvers are the linked districts scoring above their median.
    columns
        Measures to relate (default: :data:`PRACTICE_MEASURES` present in ``measures``, else every numeric
        column but counts).
    n_permutations, seed
        Permutation draws for the p-values, from ``numpy.random.default_rng(seed)``.
    min_districts
        Fewest linked districts for p-values (default :data:`MIN_DISTRICTS_FOR_INFERENCE`).

    Returns
    -------
    LinkResult
    """
    if "district_code" not in measures.columns or not {"district_code", "score"} <= set(improvement.columns):
        raise ValueError("measures need district_code; improvement needs district_code and score")
    if improvement["district_code"].duplicated().any():
        raise ValueError("improvement has several rows for one district")
    if columns is None:
        columns = [c for c in PRACTICE_MEASURES if c in measures.columns] or [
            c for c in measures.select_dtypes("number").columns if not c.startswith("n_")
        ]
    keep = ["district_code", "score"] + (["improver"] if "improver" in improvement.columns else [])
    linked = measures.merge(improvement[keep], on="district_code", how="inner")
    linked = linked.loc[linked["score"].notna()]
    if "improver" in linked.columns:
        improver = linked["improver"].fillna(False).astype(bool)
    else:
        improver = _default_improvers(linked["score"])
    rng = np.random.default_rng(seed)
    rows = []
    any_inference = False
    for column in columns:
        ok = linked[column].notna()
        x = linked.loc[ok, column].to_numpy(dtype=float)
        s = linked.loc[ok, "score"].to_numpy(dtype=float)
        g = improver.loc[ok].to_numpy(dtype=bool)
        n, n_imp = len(x), int(g.sum())
        rho = spearman(x, s)
        mean_imp = float(x[g].mean()) if n_imp else np.nan
        mean_oth = float(x[~g].mean()) if n - n_imp else np.nan
        diff = mean_imp - mean_oth
        p_rho = p_diff = np.nan
        if n >= min_districts and not np.isnan(rho):
            any_inference = True
            # Permuting the scores permutes their ranks: rank once, then correlate the ranks of x with each
            # permutation of the ranks of s (all permutations at once).
            rx, rs = rankdata(x), rankdata(s)
            order = np.argsort(rng.random((n_permutations, n)), axis=1)
            perm_rs = rs[order]
            cx = (rx - rx.mean()) / rx.std()
            cs = (perm_rs - rs.mean()) / rs.std()
            perm = (cs * cx).mean(axis=1)
            p_rho = float((np.sum(np.abs(perm) >= abs(rho) - 1e-12) + 1) / (n_permutations + 1))
            if n_imp >= MIN_PER_GROUP and n - n_imp >= MIN_PER_GROUP:
                # The same permutations of the group labels: mean of x among the permuted improvers minus
                # the mean among the rest.
                inside = (g[order] * x).sum(axis=1)
                diffs = inside / n_imp - (x.sum() - inside) / (n - n_imp)
                p_diff = float((np.sum(np.abs(diffs) >= abs(diff) - 1e-12) + 1) / (n_permutations + 1))
        rows.append(
            {
                "measure": column,
                "n": n,
                "n_improvers": n_imp,
                "n_others": n - n_imp,
                "spearman": rho,
                "mean_improvers": mean_imp,
                "mean_others": mean_oth,
                "difference": diff,
                "p_spearman": p_rho,
                "p_difference": p_diff,
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "measure",
            "n",
            "n_improvers",
            "n_others",
            "spearman",
            "mean_improvers",
            "mean_others",
            "difference",
            "p_spearman",
            "p_difference",
        ],
    )
    n_years = n_dpy = None
    if "plan_years" in measures.columns:
        years = {y.strip() for ys in measures["plan_years"].dropna() for y in str(ys).split(",") if y.strip()}
        n_years = len(years)
    if "n_plan_years" in measures.columns:
        n_dpy = int(measures["n_plan_years"].sum())
    n_linked = int(linked["district_code"].nunique())
    coverage = f"{len(measures)} district(s) have measures and {n_linked} also have an improvement score"
    if n_dpy is not None:
        coverage += f"; {n_dpy} district-plan year(s) in {n_years} distinct plan year(s) are coded"
    if any_inference:
        statement = (
            f"{coverage}. Permutation p-values are reported; with this few districts they are "
            "imprecise and the association is not causal."
        )
    else:
        statement = (
            f"{coverage}. With fewer than {min_districts} districts with both, these numbers cannot "
            "support inference: they describe these districts only, and no p-value is reported."
        )
    return LinkResult(
        table=table,
        n_districts=len(measures),
        n_linked=n_linked,
        n_plan_years=n_years,
        n_district_plan_years=n_dpy,
        supports_inference=any_inference,
        statement=statement,
    )


def link_practices(
    metrics: pd.DataFrame,
    improvement: pd.DataFrame,
    columns: Sequence[str] | None = None,
    n_permutations: int = 2000,
    seed: int = 0,
) -> LinkResult:
    """:func:`associate` for planning-practice metrics (:func:`~.metrics.district_metrics`).

    The statement names the coded districts and plan years; with 3-6 coded districts it says the data cannot
    support inference.
    """
    return associate(
        metrics,
        improvement,
        columns=columns or [c for c in PRACTICE_MEASURES if c in metrics],
        n_permutations=n_permutations,
        seed=seed,
    )


def improvement_from_composite(
    composite: pd.DataFrame, estimate: str = "eb", top_column: str | None = None
) -> pd.DataFrame:
    """An improvement table for :func:`associate` from an improvement ranking's composite table.

    Parameters
    ----------
    composite
        One row per district with ``district_code``, the estimate column and a ``top_<estimate>`` flag
        (as ``alliance_study.analysis.improvement.ImprovementResult.composite``).
    estimate
        Column used as the score (``eb``, ``rtm`` or ``naive``).
    top_column
        Column flagging the improvers; ``top_<estimate>`` by default (no flag column: improvers are derived
        in :func:`associate`).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``score`` and, when available, ``improver``; districts without a score dropped.
    """
    top_column = top_column or f"top_{estimate}"
    out = pd.DataFrame({"district_code": composite["district_code"], "score": composite[estimate]})
    if top_column in composite.columns:
        out["improver"] = composite[top_column].fillna(False).astype(bool)
    return out.dropna(subset=["score"]).reset_index(drop=True)

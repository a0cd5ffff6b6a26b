"""How the top group moves with the choices the Neag study did not report, and what each correction does.

:func:`default_variants` lists the specifications of the sensitivity table; :func:`sensitivity_table` runs
them; :func:`missing_indicator_effect` shows what scoring a missing indicator at its prior mean changes,
district by district; :func:`correction_effect` compares the corrected ranking with the one before
issue 12 (SEDA's EB means shrunk a second time, the composite averaged over the indicators present, and no
transient noise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from alliance_study.analysis.improvement.bootstrap import BootstrapResult, bootstrap_improvement
from alliance_study.analysis.improvement.estimate import ImprovementResult, estimate_improvement
from alliance_study.analysis.improvement.indicators import ImprovementSpec, prepare_panel
from alliance_study.analysis.improvement.shrinkage import top_overlap

#: Names of variants of :func:`default_variants` that the chapter compares.
NOISE_ONLY_VARIANT = "noise reversion only (no baseline regression)"
NAIVE_VARIANT = "naive (no adjustment)"
BEFORE_VARIANT = "before the corrections (EB inputs, indicators present, sampling noise only)"


def before_corrections(spec: ImprovementSpec) -> dict[str, Any]:
    """Changes to ``spec`` that reproduce the ranking before issue 12's corrections."""
    inds = tuple("achievement_eb" if i == "achievement" else i for i in spec.indicators)
    return {"indicators": inds, "missing": "available", "transient": False,
            "weights": {("achievement_eb" if k == "achievement" else k): v
                        for k, v in (spec.weights or {}).items()} or None}


def default_variants(spec: ImprovementSpec | None = None) -> dict[str, dict[str, Any]]:
    """Specifications for the sensitivity table, as changes to the main ``spec``.

    Indicator sets (each indicator alone, without suspensions, the CMT/SBAC index instead of SEDA, SEDA's
    already-shrunk EB means), windows (one year shorter or longer, three years later, a 2012 start), the
    other peer group, an adjustment for poverty, double weight on the first indicator, the rule for missing
    indicators, sampling noise only, no shrinkage, no adjustment at all, and everything as before the
    corrections.
    """
    spec = spec or ImprovementSpec()
    inds = tuple(spec.indicators)
    swapped = tuple("achievement_index" if i == "achievement" else i for i in inds)
    eb_inputs = tuple("achievement_eb" if i == "achievement" else i for i in inds)
    other_peer = "similar" if spec.peer_group == "alliance" else "alliance"
    variants: dict[str, dict[str, Any]] = {"main": {}}
    for ind in inds:
        variants[f"only {ind}"] = {"indicators": (ind,), "min_indicators": 1}
    variants.update({
        "without suspensions": {"indicators": tuple(i for i in inds if i != "suspensions")},
        "CMT/SBAC index for achievement": {"indicators": swapped},
        "SEDA EB means for achievement (shrunk twice)": {"indicators": eb_inputs},
        f"window {spec.start_year}-{spec.end_year - 1}": {"end_year": spec.end_year - 1},
        f"window {spec.start_year}-{spec.end_year + 1}": {"end_year": spec.end_year + 1},
        f"window {spec.start_year}-{spec.end_year + 3}": {"end_year": spec.end_year + 3},
        f"window {spec.start_year - 1}-{spec.end_year}": {"start_year": spec.start_year - 1},
        f"peers: {other_peer}": {"peer_group": other_peer},
        "adjust for poverty too": {"covariates": ("baseline", "frl_share")},
        f"{inds[0]} weighted double": {"weights": {**dict(spec.weights or {}),
                                                   inds[0]: 2.0 * spec.weight(inds[0])}},
        "missing indicators: average of those present": {"missing": "available"},
        "sampling noise only (no transient noise)": {"transient": False},
        "expected reversion per district": {"reversion": not spec.reversion},
        NOISE_ONLY_VARIANT: {"reversion": True, "covariates": ()},
        "no shrinkage (regression only)": {"estimate": "rtm"},
        NAIVE_VARIANT: {"estimate": "naive"},
        BEFORE_VARIANT: before_corrections(spec),
    })
    return variants


def sensitivity_table(panel: pd.DataFrame, spec: ImprovementSpec | None = None,
                      variants: Mapping[str, Mapping[str, Any]] | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How the top group moves with the indicator set, window, peers, weights and adjustment.

    Parameters
    ----------
    panel
        District-year panel.
    spec
        The main specification.
    variants
        Name -> changes to ``spec`` (:func:`dataclasses.replace` keywords); default :func:`default_variants`.
        A variant named ``main`` with no changes is the reference.

    Returns
    -------
    tuple of pandas.DataFrame
        ``table``: one row per variant -- ``variant, n_ranked, top`` (codes, best first), ``overlap`` with
        the main top group, ``jaccard``, ``chance_overlap``. ``counts``: one row per ranked district of the
        main spec -- ``district_code, district_name, n_top`` (variants in which it is in the top group),
        ``share_top``, ``in_main``.
    """
    spec = spec or ImprovementSpec()
    variants = variants if variants is not None else default_variants(spec)
    prepared = prepare_panel(panel)
    main = estimate_improvement(prepared, spec)
    main_top = main.top()
    rows, tops = [], {}
    for name, changes in variants.items():
        vspec = replace(spec, **dict(changes))
        res = main if not changes else estimate_improvement(prepared, vspec)
        top = res.top()
        tops[name] = top
        n_ranked = int(res.composite[vspec.estimate].notna().sum())
        overlap, jac = top_overlap(top, main_top)
        rows.append({"variant": name, "n_ranked": n_ranked, "top": top, "overlap": overlap, "jaccard": jac,
                     "chance_overlap": len(top) * len(main_top) / n_ranked if n_ranked else np.nan})
    table = pd.DataFrame(rows)
    counts = main.composite[["district_code", "district_name"]].copy()
    counts["n_top"] = [sum(code in t for t in tops.values()) for code in counts["district_code"]]
    counts["share_top"] = counts["n_top"] / len(tops)
    counts["in_main"] = counts["district_code"].isin(main_top)
    counts = counts.sort_values(["n_top", "district_code"], ascending=[False, True]).reset_index(drop=True)
    return table, counts


def _compare(result: ImprovementResult, boot: BootstrapResult, other: ImprovementResult,
             other_boot: BootstrapResult, suffix: str) -> pd.DataFrame:
    est = result.spec.estimate
    a = boot.table.set_index("district_code")
    b = other_boot.table.set_index("district_code").reindex(a.index)
    return pd.DataFrame({
        "district_code": a.index, "district_name": a["district_name"].to_numpy(),
        "n_indicators": a["n_indicators"].to_numpy(),
        "missing_indicators": a["missing_indicators"].to_numpy(),
        "rank": a[f"rank_{est}"].to_numpy(), f"rank_{suffix}": b[f"rank_{est}"].to_numpy(),
        "p_top": a["p_top"].to_numpy(), f"p_top_{suffix}": b["p_top"].to_numpy(),
        "in_top": a.index.isin(result.top()), f"in_top_{suffix}": a.index.isin(other.top()),
    }).sort_values("rank").reset_index(drop=True)


def missing_indicator_effect(panel: pd.DataFrame, result: ImprovementResult, boot: BootstrapResult
                             ) -> pd.DataFrame:
    """Rank and P(top) of every ranked district with the missing indicator at its prior mean (``result``)
    and averaged over the indicators present (``missing="available"``, same draws settings and seed).

    Returns
    -------
    pandas.DataFrame
        ``district_code, district_name, n_indicators, missing_indicators, rank, rank_available, p_top,
        p_top_available, in_top, in_top_available``, best first.
    """
    other_spec = replace(result.spec, missing="available")
    other = estimate_improvement(panel, other_spec)
    other_boot = bootstrap_improvement(panel, other_spec, n_boot=boot.n_boot, seed=boot.seed, result=other)
    return _compare(result, boot, other, other_boot, "available")


def correction_effect(panel: pd.DataFrame, result: ImprovementResult, boot: BootstrapResult) -> pd.DataFrame:
    """Rank and P(top) of every ranked district under the corrected ranking and as before issue 12
    (:func:`before_corrections`; its draws still use the corrected scheme, so P(top) differs only by the
    inputs). Columns as :func:`missing_indicator_effect` with suffix ``before``."""
    other_spec = replace(result.spec, **before_corrections(result.spec))
    other = estimate_improvement(panel, other_spec)
    other_boot = bootstrap_improvement(panel, other_spec, n_boot=boot.n_boot, seed=boot.seed, result=other)
    return _compare(result, boot, other, other_boot, "before")

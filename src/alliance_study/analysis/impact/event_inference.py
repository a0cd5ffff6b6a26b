"""Inference for the headline number, the event study's post-period average (not the static coefficient).

The static TWFE coefficient averages the post period against *all* pre-period years, so a lead before the
reference year leaks into it; the chapter's headline is therefore the equal-weighted average of the
post-period event-study estimates (TWFE) beside Callaway-Sant'Anna's. This module gives both the few-cluster
inference the static coefficient has:

- :func:`event_study_wild_bootstrap`: the restricted wild cluster bootstrap-t of the TWFE post average,
  by reparametrizing the event study so that the average is one coefficient (the other event-time dummies
  and the fixed effects are projected off, then :func:`~.inference.wild_bootstrap_core`).
- :func:`cs_randomization_inference`: randomization inference on the Callaway-Sant'Anna post average and
  its t statistic, every permutation scored in closed form (:func:`cs_permutation_statistics`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.inference import (
    BootstrapResult,
    RandomizationResult,
    assignment_pool,
    permuted_assignments,
    randomization_result,
    wild_bootstrap_core,
)
from alliance_study.analysis.impact.postavg import post_average_problem
from alliance_study.analysis.impact.results import EventStudy


def event_study_wild_bootstrap(sample: pd.DataFrame, outcome: str, study: EventStudy, n_boot: int = 9_999,
                               weights: str = "webb", covariates: Sequence[str] = (), null: float = 0.0,
                               seed: int | np.random.Generator = 0,
                               cluster_draws: pd.DataFrame | None = None) -> BootstrapResult:
    """WCR bootstrap-t of the TWFE event study's post-period average (equal weights over post event times).

    The average is the coefficient of one regressor once the other event-time columns, the fixed effects
    and the covariates are projected off (:func:`~.postavg.post_average_problem`), so the one-regressor
    bootstrap applies unchanged. Its estimate and t statistic equal ``study.post_average()`` (the
    cluster-robust variance is invariant to the reparametrization; tested).

    Parameters
    ----------
    sample, outcome
        The sample and outcome of ``study``.
    study
        A TWFE event study of them (:func:`~alliance_study.analysis.impact.twfe_event_study`).
    n_boot, weights, null, seed
        As in :func:`~alliance_study.analysis.impact.wild_cluster_bootstrap`.
    covariates
        The baseline covariates the event study was fitted with.
    cluster_draws
        Bootstrap weights to use instead of drawing them: index ``district_code`` (every district of the
        sample), one column per draw. Tests of several outcomes or designs that share them have jointly
        distributed bootstrap statistics (Romano-Wolf, :mod:`.multiple`).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    events = [int(e) for e in study.vcov.index]
    proj, x, y = post_average_problem(sample, outcome, covariates, events)
    draws = None
    if cluster_draws is not None:
        draws = cluster_draws.reindex(np.unique(sample["district_code"].to_numpy())).to_numpy(dtype=float)
    return wild_bootstrap_core(proj, x, y, n_boot, weights, null, rng, draws)


def cs_permutation_statistics(sample: pd.DataFrame, outcome: str, assignments: np.ndarray,
                              cohorts: Sequence[float], chunk: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    """The Callaway-Sant'Anna post-period average (equal weights over post event times) and its t statistic
    for many assignments of cohorts to districts, without covariates and with never-treated controls.

    Reproduces :func:`~alliance_study.analysis.impact.callaway_santanna` for every row of ``assignments``
    (codes as in :func:`permutation_coefficients`): for each cohort and year the treated and control means
    of the change from the cohort's base year are masked sums (matrix products over all permutations at
    once), and the influence functions, hence the clustered standard error, follow in closed form.

    Returns
    -------
    tuple of numpy.ndarray
        Estimates and t statistics, one per row of ``assignments``.
    """
    wide = sample.pivot(index="district_code", columns="year", values=outcome)
    years = np.asarray(wide.columns, dtype=int)
    values = wide.to_numpy(dtype=float)
    n = values.shape[0]
    observed = [int(y) for y in years[np.isfinite(values).any(axis=0)]]
    cells: list[tuple[int, int, int, np.ndarray]] = []  # cohort code, event time, year index, change
    for k, g in enumerate(cohorts):
        pre = [y for y in observed if y < g]
        if not pre:
            continue
        jb = int(np.searchsorted(years, max(pre)))
        for jt, t in enumerate(years):
            if jt != jb:
                cells.append((k + 1, int(t) - int(g), jt, values[:, jt] - values[:, jb]))
    events = sorted({e for _, e, _, _ in cells})
    post = [e for e in events if e >= 0]
    est_out = np.empty(assignments.shape[0])
    t_out = np.empty(assignments.shape[0])
    for start in range(0, assignments.shape[0], chunk):
        block = assignments[start:start + chunk]
        p = block.shape[0]
        num = {e: np.zeros(p) for e in post}
        den = {e: np.zeros(p) for e in post}
        psi = {e: np.zeros((p, n)) for e in post}
        for code, e, _, dy in cells:
            if e < 0:
                continue
            ok = np.isfinite(dy)
            dy0 = np.where(ok, dy, 0.0)
            tr = ((block == code) & ok).astype(float)
            co = ((block == 0) & ok).astype(float)
            n_t, n_c = tr.sum(axis=1), co.sum(axis=1)
            valid = (n_t > 0) & (n_c > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_t = np.where(valid, tr @ dy0 / n_t, 0.0)
                mean_c = np.where(valid, co @ dy0 / n_c, 0.0)
                cell_psi = (tr * (dy0[None, :] - mean_t[:, None]) / np.where(valid, n_t, 1.0)[:, None]
                            - co * (dy0[None, :] - mean_c[:, None]) / np.where(valid, n_c, 1.0)[:, None])
            w = np.where(valid, n_t, 0.0)
            num[e] += w * (mean_t - mean_c)
            den[e] += w
            psi[e] += w[:, None] * cell_psi
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.mean([num[e] / den[e] for e in post], axis=0)
            infl = np.mean([psi[e] / den[e][:, None] for e in post], axis=0)
            se = np.sqrt(np.einsum("pn,pn->p", infl, infl) * n / max(n - 1, 1))
            est_out[start:start + p] = est
            t_out[start:start + p] = est / se
    return est_out, t_out


def cs_randomization_inference(sample: pd.DataFrame, outcome: str, n_permutations: int = 10_000,
                               eligible: Sequence[str] | None = None,
                               seed: int | np.random.Generator = 0) -> RandomizationResult:
    """Randomization inference for the Callaway-Sant'Anna post-period average (never-treated controls, no
    covariates): cohort labels re-assigned among eligible districts as in :func:`randomization_inference`,
    each permutation scored by :func:`cs_permutation_statistics`; both the coefficient and the studentized
    (t) p-values are returned."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    labels, cohorts, pool = assignment_pool(sample, eligible)
    perms = permuted_assignments(labels, pool, n_permutations, rng)
    est, ts = cs_permutation_statistics(sample, outcome, perms, cohorts)
    return randomization_result(est, ts, pool, labels)

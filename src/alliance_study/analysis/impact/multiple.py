"""Multiple testing across outcomes and designs: Holm's adjusted p-values and the Romano-Wolf stepdown.

The chapter tests five outcomes in several designs; with ten or twenty tests at 5% one or more "significant"
results are likely by chance alone. Two corrections control the familywise error rate (the chance of any
false rejection):

- :func:`holm`: Holm's (1979) stepdown on the p-values, valid under any dependence, conservative when the
  tests are correlated (as tests of one program on related outcomes are).
- :func:`romano_wolf`: the Romano-Wolf (2005; 2016) stepdown on the joint resampling distribution of the
  t statistics, which uses their correlation and so is less conservative. The joint distribution comes from
  the restricted wild cluster bootstrap of each test's headline (the TWFE event study's post-period
  average; :func:`bootstrap_family`) with *the same* bootstrap weight for a district in every test, so the
  draws keep the dependence across outcomes and designs (a district in several samples moves together).

J. P. Romano and M. Wolf, "Stepwise multiple testing as formalized data snooping", Econometrica 73(4),
2005: 1237-1282; "Efficient computation of adjusted p-values for resampling-based stepdown multiple
testing", Statistics & Probability Letters 113, 2016: 38-40. S. Holm, "A simple sequentially rejective
multiple test procedure", Scandinavian Journal of Statistics 6(2), 1979: 65-70.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.inference import _bootstrap_weights, wild_bootstrap_core
from alliance_study.analysis.impact.postavg import post_average_problem


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's stepdown adjusted p-values (missing p-values stay missing and do not count as tests).

    The ``k``-th smallest of ``m`` p-values is multiplied by ``m - k + 1``; adjusted values are made
    non-decreasing in that order and capped at 1. Rejecting where the adjusted p-value is at most ``alpha``
    controls the familywise error rate at ``alpha``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def romano_wolf(t_stats: Sequence[float], null_draws: np.ndarray) -> np.ndarray:
    """Romano-Wolf stepdown adjusted p-values from observed statistics and their joint null draws.

    Hypotheses are taken in decreasing order of ``|t|``. The ``j``-th one's p-value is the share of draws in
    which the largest ``|t*|`` over the hypotheses not yet rejected (itself and every smaller one) is at least
    its ``|t|``; the adjusted values are then made non-decreasing in that order (Romano and Wolf 2016,
    algorithm 2). With one hypothesis this is the ordinary bootstrap p-value ``mean(|t*| >= |t|)``, the
    convention of :func:`~alliance_study.analysis.impact.wild_cluster_bootstrap`.

    Parameters
    ----------
    t_stats
        Observed statistics, one per hypothesis (missing ones get a missing p-value).
    null_draws
        Draws x hypotheses: the statistics under the null, drawn jointly (same resampling for every
        hypothesis in a row). Missing draws count as never exceeding.

    Examples
    --------
    With draws that are the same for both hypotheses the adjustment does nothing for the larger statistic
    and lifts the smaller one to at least the larger one's p-value:

    >>> import numpy as np
    >>> draws = np.column_stack([np.arange(1.0, 11.0), np.arange(1.0, 11.0)])
    >>> romano_wolf([9.5, 3.5], draws).tolist()
    [0.1, 0.7]
    """
    t = np.abs(np.asarray(t_stats, dtype=float))
    draws = np.abs(np.asarray(null_draws, dtype=float))
    if draws.ndim != 2 or draws.shape[1] != len(t):
        raise ValueError("null_draws must be draws x hypotheses, one column per statistic")
    draws = np.where(np.isfinite(draws), draws, -np.inf)
    out = np.full(len(t), np.nan)
    ok = np.flatnonzero(np.isfinite(t))
    order = ok[np.argsort(-t[ok], kind="stable")]
    running = 0.0
    for j, h in enumerate(order):
        # The maximum over the hypotheses still in play: h and every one with a smaller |t|.
        max_rest = draws[:, order[j:]].max(axis=1)
        running = max(running, float(np.mean(max_rest >= t[h] - 1e-12)))
        out[h] = running
    return out


@dataclass
class BootstrapFamily:
    """Jointly drawn wild bootstrap tests of several headlines (outcomes x designs).

    Attributes
    ----------
    table
        One row per test: ``design, outcome, estimate, t_stat, p_wild`` (the single test's bootstrap p).
    t_draws
        Draws x tests: the bootstrap t statistics, drawn with the same weight for a district in every test.
    """

    table: pd.DataFrame
    t_draws: np.ndarray

    def adjusted(self, alpha: float = 0.05) -> pd.DataFrame:
        """The table with ``p_holm`` (Holm on the bootstrap p-values), ``p_romano_wolf`` and, for each,
        whether the test rejects at ``alpha`` after adjustment."""
        out = self.table.copy()
        out["p_holm"] = holm(out["p_wild"].to_numpy())
        out["p_romano_wolf"] = romano_wolf(out["t_stat"].to_numpy(), self.t_draws)
        out["reject_unadjusted"] = out["p_wild"] <= alpha
        out["reject_holm"] = out["p_holm"] <= alpha
        out["reject_romano_wolf"] = out["p_romano_wolf"] <= alpha
        return out


def shared_draws(codes: Sequence[str], n_boot: int, weights: str = "webb",
                 seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """Bootstrap weights, one row per district code (sorted), one column per draw (Webb or Rademacher;
    never enumerated, so every test sees the same number of draws)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    codes = sorted(set(codes))
    kind = "webb" if weights == "webb" else "rademacher"
    if kind == "rademacher":
        v = rng.choice(np.array([-1.0, 1.0]), size=(len(codes), n_boot))
    else:
        v, _ = _bootstrap_weights(kind, len(codes), n_boot, rng)
    return pd.DataFrame(v, index=pd.Index(codes, name="district_code"))


def bootstrap_family(samples: Mapping[tuple[str, str], pd.DataFrame], n_boot: int = 9_999,
                     weights: str = "webb", seed: int | np.random.Generator = 0,
                     covariates: Mapping[tuple[str, str], Sequence[str]] | None = None) -> BootstrapFamily:
    """Restricted wild cluster bootstrap of every sample's TWFE post-period average with shared draws.

    Parameters
    ----------
    samples
        ``(design, outcome)`` -> estimation sample (the outcome is the key's second element).
    n_boot, weights, seed
        Number of draws, their distribution (``webb`` or ``rademacher``) and the seed.
    covariates
        Baseline covariates per key (each sample's ``attrs["covariates"]`` if None).

    Returns
    -------
    BootstrapFamily
        Observed statistics, single-test p-values and the joint draws;
        :meth:`BootstrapFamily.adjusted` adds the Holm and Romano-Wolf p-values.
    """
    codes = sorted({c for s in samples.values() for c in s["district_code"].unique()})
    v = shared_draws(codes, n_boot, weights, seed)
    rows, draws = [], []
    for (design, outcome), sample in samples.items():
        covs = (covariates or {}).get((design, outcome), sample.attrs.get("covariates", []))
        proj, x, y = post_average_problem(sample, outcome, covs)
        own = v.reindex(np.unique(sample["district_code"].to_numpy())).to_numpy()
        res = wild_bootstrap_core(proj, x, y, n_boot, weights, 0.0, np.random.default_rng(0), own)
        rows.append({"design": design, "outcome": outcome, "estimate": res.estimate, "t_stat": res.t_stat,
                     "p_wild": res.p_value})
        draws.append(res.t_draws)
    return BootstrapFamily(pd.DataFrame(rows), np.column_stack(draws))

"""Inference for few treated clusters: fast randomization inference and the wild cluster bootstrap.

Both rest on one Frisch-Waugh-Lovell step (:class:`FixedEffectsProjector`): the district and year effects
(and controls) are projected out once, after which every permutation's coefficient (and cluster-robust t)
and every bootstrap draw's t statistic is a matrix product, without refitting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.regression import covariate_design
from alliance_study.analysis.impact.results import Z_MDE
from alliance_study.analysis.impact.sample import integer_codes

#: Webb's (2023) six-point wild bootstrap distribution, each point with probability 1/6: mean 0, variance 1
#: (and fourth moment 7/6), more distinct bootstrap draws than Rademacher's two points with few clusters.
#: M. D. Webb, "Reworking wild bootstrap-based inference for clustered errors", Canadian Journal of
#: Economics 56(3), 2023: 839-858.
WEBB_POINTS: np.ndarray = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0,
                                    math.sqrt(1.5)])

#: Rademacher's two-point distribution (+-1, probability 1/2 each): mean 0, variance 1.
RADEMACHER_POINTS: np.ndarray = np.array([-1.0, 1.0])


class FixedEffectsProjector:
    """Projection off district and year effects (and optional controls) on one sample: the FWL step.

    ``residualize(v)`` returns ``M v``, the residual of ``v`` on district dummies, year dummies and the
    controls. District effects are removed exactly by demeaning within district; the year dummies and
    controls, demeaned the same way, are then projected off through an orthonormal basis (SVD, so the
    collinearity of the two sets of dummies needs no special care). Because the within-district
    demeaning and the projection on the demeaned columns together span exactly the dummies and controls,
    the result is exact for unbalanced panels, and building it costs one small SVD
    (rows x (years + controls)).

    Parameters
    ----------
    units, years
        Integer codes of district and year, one per row.
    controls
        Extra columns (rows x k) to project off, or None.
    """

    def __init__(self, units: np.ndarray, years: np.ndarray, controls: np.ndarray | None = None) -> None:
        from scipy import sparse

        n = len(units)
        n_u, n_t = int(units.max()) + 1, int(years.max()) + 1
        self.units, self.years, self.n_units = units, years, n_u
        counts = np.bincount(units, minlength=n_u).astype(float)
        # Row-stochastic averaging operator: (avg @ v)[r] is the mean of v over row r's district.
        self._members = sparse.csr_matrix((np.ones(n), (units, np.arange(n))), shape=(n_u, n))
        self._inv_counts = 1.0 / counts
        z = np.zeros((n, n_t))
        z[np.arange(n), years] = 1.0
        if controls is not None and controls.size:
            z = np.column_stack([z, controls])
        zw = self._demean(z)
        u, s, _ = np.linalg.svd(zw, full_matrices=False)
        keep = s > (s[0] if s.size else 0.0) * 1e-10
        self.basis = u[:, keep]
        self._rank = int(n_u + keep.sum())

    def _demean(self, v: np.ndarray) -> np.ndarray:
        means = self._members @ v
        means = means * (self._inv_counts if means.ndim == 1 else self._inv_counts[:, None])
        return v - means[self.units]

    @property
    def rank(self) -> int:
        """Number of columns projected off (district + year effects + controls, net of collinearity)."""
        return self._rank

    def residualize(self, v: np.ndarray) -> np.ndarray:
        """``M v`` for a vector or a matrix of columns."""
        w = self._demean(np.asarray(v, dtype=float))
        return w - self.basis @ (self.basis.T @ w)


def projector(sample: pd.DataFrame, covariates: Sequence[str], time_varying: Sequence[str]
               ) -> tuple[FixedEffectsProjector, np.ndarray]:
    units, codes = integer_codes(sample["district_code"])
    years, _ = integer_codes(sample["year"])
    controls = covariate_design(sample, covariates, time_varying).to_numpy(dtype=float)
    return FixedEffectsProjector(units, years, controls if controls.size else None), codes


def _assignment_columns(sample: pd.DataFrame, proj: FixedEffectsProjector, cohorts: Sequence[float]
                        ) -> dict[float, np.ndarray]:
    """For each cohort g: ``M D_g`` (rows x districts), where column i of ``D_g`` is district i's post
    indicator if it were in cohort g. A permuted treatment regressor is a sum of such columns."""
    year = sample["year"].to_numpy()
    out = {}
    n = len(sample)
    for g in cohorts:
        d = np.zeros((n, proj.n_units))
        d[np.arange(n), proj.units] = (year >= g).astype(float)
        out[g] = proj.residualize(d)
    return out


def permutation_coefficients(sample: pd.DataFrame, outcome: str, assignments: np.ndarray,
                             cohorts: Sequence[float], covariates: Sequence[str] = (),
                             time_varying: Sequence[str] = ()) -> np.ndarray:
    """The static TWFE coefficient for many assignments of cohorts to districts, without refitting.

    By Frisch-Waugh-Lovell the coefficient on the post indicator ``D`` is ``(MD)'(My) / (MD)'(MD)``. A
    permuted ``D`` is ``sum_g D_g a_g`` (``a_g`` the 0/1 vector of districts assigned cohort ``g``), so
    ``MD = sum_g R_g a_g`` with ``R_g = M D_g`` computed once. Numerators are ``A_g (R_g' My)`` and
    denominators ``sum_{g,h} diag(A_g R_g'R_h A_h')``: matrix products over all permutations at once.

    Parameters
    ----------
    sample
        Estimation sample.
    outcome
        Outcome column.
    assignments
        Integer array (permutations x districts, districts in sorted ``district_code`` order): 0 for
        never treated, ``k`` for the ``k``-th entry of ``cohorts``.
    cohorts
        Cohort years, in code order.
    covariates, time_varying
        Controls, as in :func:`twfe_did`.

    Returns
    -------
    numpy.ndarray
        One coefficient per row of ``assignments``.
    """
    proj, _ = projector(sample, covariates, time_varying)
    y_t = proj.residualize(sample[outcome].to_numpy(dtype=float))
    r = _assignment_columns(sample, proj, cohorts)
    a = {g: r[g].T @ y_t for g in cohorts}
    num = np.zeros(assignments.shape[0])
    den = np.zeros(assignments.shape[0])
    masks = {g: (assignments == k + 1).astype(float) for k, g in enumerate(cohorts)}
    for g in cohorts:
        num += masks[g] @ a[g]
        for h in cohorts:
            gram = r[g].T @ r[h]
            den += np.einsum("pi,pi->p", masks[g] @ gram, masks[h])
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def permutation_t_statistics(sample: pd.DataFrame, outcome: str, assignments: np.ndarray,
                             cohorts: Sequence[float], covariates: Sequence[str] = (),
                             time_varying: Sequence[str] = (), chunk: int = 2_000) -> np.ndarray:
    """Cluster-robust t statistics of the static TWFE coefficient for many assignments, without refitting.

    The studentized companion of :func:`permutation_coefficients`. For a block of permutations the
    residualized regressors ``MD = sum_g R_g a_g`` are formed at once (a sparse assignment matrix times
    ``R_g'``); each permutation's cluster scores are then ``sum_{r in g} (MD)_r (My)_r - b (MD)_r^2``,
    summed by district with a sparse indicator. The variance uses the same small-sample factor as
    :func:`twfe_did`, so the statistic for the actual assignment equals PanelOLS's t.

    Studentizing matters when treated districts differ from the pool (in size, covariates or
    variance): the coefficient's permutation distribution then misstates its sampling variance, while the
    t statistic stays close to pivotal (MacKinnon and Webb 2020; Young 2019).
    """
    from scipy import sparse

    proj, _ = projector(sample, covariates, time_varying)
    y_t = proj.residualize(sample[outcome].to_numpy(dtype=float))
    r = _assignment_columns(sample, proj, cohorts)
    n = len(sample)
    n_cl = proj.n_units
    scale = n_cl / (n_cl - 1) * (n - 1) / n
    members = sparse.csr_matrix((np.ones(n), (proj.units, np.arange(n))), shape=(n_cl, n))
    out = np.empty(assignments.shape[0])
    for start in range(0, assignments.shape[0], chunk):
        block = assignments[start:start + chunk]
        xt = np.zeros((block.shape[0], n))
        for k, g in enumerate(cohorts):
            a = sparse.csr_matrix(block == k + 1, dtype=float)
            xt += a @ r[g].T
        xx = np.einsum("pr,pr->p", xt, xt)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = (xt @ y_t) / xx
            scores = (members @ (xt * y_t).T) - (members @ (xt * xt).T) * beta
            se = np.sqrt(scale * np.einsum("gp,gp->p", scores, scores)) / xx
            out[start:start + block.shape[0]] = beta / se
    return out


@dataclass
class RandomizationResult:
    """Randomization inference for the static TWFE coefficient.

    Attributes
    ----------
    estimate
        Coefficient with the actual assignment (equals :func:`twfe_did`'s).
    p_value
        Two-sided: ``(1 + #{|b_perm| >= |b|}) / (1 + n_permutations)``.
    draws
        Coefficients under the permuted assignments.
    n_eligible, n_treated
        Districts in the re-assignment pool, and treated districts.
    mde
        Minimum detectable effect from the permutation distribution: ``2.8 x SD(draws)``.
    t_stat, p_value_t, t_draws
        The studentized version (cluster-robust t; :func:`permutation_t_statistics`), when computed.
    """

    estimate: float
    p_value: float
    draws: np.ndarray
    n_eligible: int
    n_treated: int
    mde: float
    t_stat: float = float("nan")
    p_value_t: float = float("nan")
    t_draws: np.ndarray | None = None


def lowest_baseline_codes(sample: pd.DataFrame, k: int, baseline: Mapping[str, float] | None = None
                          ) -> list[str]:
    """Treated districts plus the ``k`` lowest-baseline districts of the sample (eligibility pool)."""
    baseline = baseline if baseline is not None else sample.attrs.get("baseline", {})
    base = pd.Series(baseline, dtype=float).dropna()
    base = base.loc[base.index.isin(sample["district_code"].unique())]
    lowest = base.sort_values(kind="stable").index[:k].tolist()
    treated = sample.loc[sample["treated"] == 1, "district_code"].unique().tolist()
    return sorted(set(lowest) | set(treated))


def randomization_inference(sample: pd.DataFrame, outcome: str, n_permutations: int = 10_000,
                            eligible: Sequence[str] | None = None, covariates: Sequence[str] = (),
                            time_varying: Sequence[str] = (), seed: int | np.random.Generator = 0,
                            studentized: bool = False) -> RandomizationResult:
    """Randomization inference: re-assign designation (cohort labels) among eligible districts.

    Each permutation shuffles the cohort labels (treated cohorts and "never") among the eligible districts,
    keeping the number of districts in every cohort; districts outside the pool stay controls. The
    coefficient for every permutation comes from :func:`permutation_coefficients` (no refitting).

    The test is exact for the sharp null of no effect anywhere if designation were as good as random within
    the pool. Alliance designation was not random (the lowest performers were chosen), so restricting the
    pool to the lowest-baseline districts (:func:`lowest_baseline_codes`) makes the assumption more
    plausible.

    Parameters
    ----------
    sample
        Estimation sample.
    outcome
        Outcome column.
    n_permutations
        Number of random permutations.
    eligible
        District codes of the pool (every district of the sample if None); treated districts are always
        included.
    covariates, time_varying
        Controls, as in :func:`twfe_did`.
    seed
        Seed or generator.
    studentized
        Also compute the permutation distribution of the cluster-robust t statistic
        (:func:`permutation_t_statistics`) and its p-value.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    labels, cohorts, pool = assignment_pool(sample, eligible)
    perms = permuted_assignments(labels, pool, n_permutations, rng)
    betas = permutation_coefficients(sample, outcome, perms, cohorts, covariates, time_varying)
    ts = (permutation_t_statistics(sample, outcome, perms, cohorts, covariates, time_varying) if studentized
          else None)
    return randomization_result(betas, ts, pool, labels)


def assignment_pool(sample: pd.DataFrame, eligible: Sequence[str] | None
                    ) -> tuple[np.ndarray, list[float], np.ndarray]:
    """Cohort codes of the sample's districts (sorted ``district_code``; 0 never treated, ``k`` the ``k``-th
    cohort), the cohorts, and the re-assignment pool (eligible districts plus every treated one)."""
    codes = np.unique(sample["district_code"].to_numpy())
    unit_cohort = sample.groupby("district_code")["cohort"].first().astype("Float64").reindex(codes) \
        .to_numpy(dtype=float, na_value=np.nan)
    cohorts = sorted({float(c) for c in unit_cohort[np.isfinite(unit_cohort)]})
    labels = np.zeros(len(codes), dtype=np.int64)
    for k, g in enumerate(cohorts):
        labels[unit_cohort == g] = k + 1
    pool = np.ones(len(codes), dtype=bool) if eligible is None else np.isin(codes, list(eligible))
    pool |= labels > 0
    return labels, cohorts, pool


def permuted_assignments(labels: np.ndarray, pool: np.ndarray, n_permutations: int,
                         rng: np.random.Generator) -> np.ndarray:
    """The actual assignment (first row) and ``n_permutations`` shuffles of the labels within the pool."""
    idx = np.flatnonzero(pool)
    perms = np.tile(labels, (n_permutations + 1, 1))
    perms[1:, idx] = rng.permuted(np.tile(labels[idx], (n_permutations, 1)), axis=1)
    return perms


def _two_sided_p(stats_: np.ndarray) -> float:
    observed, draws = float(stats_[0]), stats_[1:]
    # A small tolerance so that permutations equal to the observed assignment count as "as extreme".
    extreme = np.abs(draws) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    return float((1 + extreme.sum()) / (1 + len(draws)))


def randomization_result(estimates: np.ndarray, t_stats: np.ndarray | None, pool: np.ndarray,
                         labels: np.ndarray) -> RandomizationResult:
    """A :class:`RandomizationResult` from the statistics of the actual assignment (first) and the
    permutations: ``p = (1 + #{|b_perm| >= |b|}) / (1 + n_permutations)``, likewise for ``t``."""
    draws = estimates[1:]
    result = RandomizationResult(float(estimates[0]), _two_sided_p(estimates), draws, int(pool.sum()),
                                 int((labels > 0).sum()), float(Z_MDE * np.std(draws, ddof=1)))
    if t_stats is not None:
        result.t_stat, result.t_draws = float(t_stats[0]), t_stats[1:]
        result.p_value_t = _two_sided_p(t_stats)
    return result


# --- wild cluster bootstrap ---------------------------------------------------------------------------------

@dataclass
class BootstrapResult:
    """Restricted wild cluster bootstrap test of the static TWFE coefficient.

    Attributes
    ----------
    estimate, t_stat
        Coefficient and its cluster-robust t statistic (against ``null``).
    p_value
        Two-sided: share of bootstrap ``|t*| >= |t|``.
    t_draws
        Bootstrap t statistics.
    weights
        ``rademacher`` or ``webb``.
    enumerated
        True if every Rademacher sign vector was used (few clusters).
    """

    estimate: float
    t_stat: float
    p_value: float
    t_draws: np.ndarray
    weights: str
    enumerated: bool
    null: float = 0.0


def _bootstrap_weights(kind: str, n_clusters: int, n_boot: int, rng: np.random.Generator
                       ) -> tuple[np.ndarray, bool]:
    if kind == "rademacher":
        if 2 ** n_clusters <= n_boot:
            grid = ((np.arange(2 ** n_clusters)[:, None] >> np.arange(n_clusters)) & 1).T
            return (2.0 * grid - 1.0), True
        return rng.choice(RADEMACHER_POINTS, size=(n_clusters, n_boot)), False
    if kind == "webb":
        return rng.choice(WEBB_POINTS, size=(n_clusters, n_boot)), False
    raise ValueError("weights must be 'rademacher' or 'webb'")


def _fwl_coefficient(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, n_clusters: int
                     ) -> tuple[float, float]:
    """Coefficient and cluster-robust SE (factor ``G/(G-1) (N-1)/N``) of residualized ``y`` on ``x``."""
    n = len(y)
    xx = float(x @ x)
    beta = float(x @ y) / xx
    score = np.bincount(clusters, weights=x * (y - x * beta), minlength=n_clusters)
    scale = n_clusters / (n_clusters - 1) * (n - 1) / n
    return beta, math.sqrt(scale * float(score @ score)) / xx


def fwl_did(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
            time_varying: Sequence[str] = ()) -> tuple[float, float]:
    """The static TWFE coefficient and its cluster-robust SE by Frisch-Waugh-Lovell, without PanelOLS.

    Equal to :func:`twfe_did`'s estimate and standard error (tested); a fraction of the cost, for
    simulation studies that need thousands of fits.
    """
    proj, _ = projector(sample, covariates, time_varying)
    x = proj.residualize(sample["post"].to_numpy(dtype=float))
    y = proj.residualize(sample[outcome].to_numpy(dtype=float))
    return _fwl_coefficient(x, y, proj.units, proj.n_units)


def wild_cluster_bootstrap(sample: pd.DataFrame, outcome: str, n_boot: int = 9_999, weights: str = "webb",
                           covariates: Sequence[str] = (), time_varying: Sequence[str] = (),
                           null: float = 0.0, seed: int | np.random.Generator = 0) -> BootstrapResult:
    """Wild cluster restricted (WCR) bootstrap-t of the static TWFE coefficient, clusters = districts.

    The null ``b = null`` is imposed: bootstrap outcomes are the restricted fit plus the restricted
    residuals of each district multiplied by one draw ``v_g`` (Rademacher or Webb). For each draw the
    coefficient and its cluster-robust t are recomputed in closed form (after the FWL projection the
    cluster scores are linear in ``v``: ``s*_g = sum_h C_gh v_h - x_g'x_g (b* - null)``), so thousands of
    draws cost a few matrix products (the algorithm of Roodman, MacKinnon, Nielsen and Webb's boottest).
    With Rademacher weights and at most ``log2(n_boot)`` clusters every sign vector is enumerated.

    Parameters
    ----------
    sample
        Estimation sample.
    outcome
        Outcome column.
    n_boot
        Number of bootstrap draws.
    weights
        ``webb`` or ``rademacher``.
    covariates, time_varying
        Controls, as in :func:`twfe_did`.
    null
        Value of the coefficient under the null.
    seed
        Seed or generator.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    proj, _ = projector(sample, covariates, time_varying)
    return wild_bootstrap_core(proj, sample["post"].to_numpy(dtype=float),
                               sample[outcome].to_numpy(dtype=float), n_boot, weights, null, rng)


def wild_bootstrap_core(proj: FixedEffectsProjector, regressor: np.ndarray, outcome: np.ndarray, n_boot: int,
                        weights: str, null: float, rng: np.random.Generator,
                        draws: np.ndarray | None = None) -> BootstrapResult:
    """The WCR bootstrap-t of the coefficient on ``regressor`` once ``proj`` has projected off the fixed
    effects and every other regressor (see :func:`wild_cluster_bootstrap`).

    ``draws`` (clusters x draws, clusters in ``proj``'s order) are used instead of drawing ``weights``, so
    that several tests can share the same draws (Romano-Wolf; :mod:`.multiple`)."""
    cl = proj.units
    n_cl = proj.n_units
    n = len(outcome)
    x = proj.residualize(regressor)
    y = proj.residualize(outcome)
    xx = float(x @ x)
    beta, se = _fwl_coefficient(x, y, cl, n_cl)
    scale = n_cl / (n_cl - 1) * (n - 1) / n
    t_obs = (beta - null) / se
    restricted = y - x * null
    # C[g, h] = x_g' (M u^(h))_g, u^(h) the restricted residuals of cluster h (zero elsewhere).
    u_h = np.zeros((n, n_cl))
    u_h[np.arange(n), cl] = restricted
    mu = proj.residualize(u_h)
    c = np.zeros((n_cl, n_cl))
    np.add.at(c, cl, x[:, None] * mu)
    b_h = np.bincount(cl, weights=x * restricted, minlength=n_cl)
    xx_g = np.bincount(cl, weights=x * x, minlength=n_cl)
    v, enumerated = (draws, False) if draws is not None else _bootstrap_weights(weights, n_cl, n_boot, rng)
    db = (b_h @ v) / xx
    s = c @ v - xx_g[:, None] * db[None, :]
    se_b = np.sqrt(scale * np.einsum("gb,gb->b", s, s)) / xx
    with np.errstate(invalid="ignore", divide="ignore"):
        t_b = db / se_b
    p = float(np.mean(np.abs(t_b) >= abs(t_obs) - 1e-12))
    return BootstrapResult(beta, float(t_obs), p, t_b, weights, enumerated, null)

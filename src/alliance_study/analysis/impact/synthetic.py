"""Synthetic control and synthetic difference-in-differences for one treated district at a time.

For the largest Alliance Districts a single, well-chosen comparison is more informative than an average over
thirty districts of very different size. Two estimators, both on a balanced district x year matrix of one
outcome:

- **Synthetic control** (Abadie, Diamond and Hainmueller 2010), fitted on the pre-period outcomes only:
  donor weights ``w >= 0`` summing to one minimise ``sum_t (y_t - sum_j w_j Y_jt)^2`` over the years before
  designation; the effect in a post year is the gap ``y_t - sum_j w_j Y_jt``, and the estimate is the
  average post-period gap. A treated district whose pre-period outcomes lie outside the range the donors
  span cannot be matched: the pre-period RMSPE then says so.
- **Synthetic difference-in-differences** (Arkhangelsky, Athey, Hirshberg, Imbens and Wager 2021, Algorithm
  1): unit weights with an intercept and a ridge penalty ``zeta^2 T_pre ||w||^2`` with
  ``zeta = (N_tr T_post)^(1/4) sigma`` (``sigma``: standard deviation of the donors' first differences over
  the pre-period), time weights with an intercept over the pre-period years, and
  ``tau = (ybar_post - lambda' y_pre) - sum_j w_j (Ybar_j,post - lambda' Y_j,pre)``. The intercept lets
  the treated district sit at a different level from every donor; only its path must be matched.

Inference, for both: placebo-in-space (each donor in turn is the treated district, the other donors its
pool; Abadie et al. 2010): the rank of the treated district's ratio of post- to pre-period RMSPE among all
units, and the rank of its absolute effect. For synthetic DiD also the placebo variance of the paper
(Algorithm 4) with one treated unit: the variance of the donors' placebo estimates, enumerated over every
donor rather than drawn at random, and a normal interval from it.

The weight problems are small simplex-constrained least squares; they are solved exactly
(:func:`simplex_least_squares`: a non-negative least squares with a heavily weighted sum-to-one row, then the
KKT system on the support it finds), so a district's placebo loop over a hundred donors takes a fraction of
a second. Pure functions: DataFrames in, result objects out; no file I/O and no prose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from alliance_study.analysis import groups
from alliance_study.analysis.impact.designs import OUTCOMES, add_analysis_columns, baseline_values

#: Fewest pre-period years for a synthetic comparison. With three or fewer, a convex combination of a
#: hundred donors can match almost any path inside their range, so the pre-period fit says nothing about the
#: post-period counterfactual (Abadie, Diamond and Hainmueller 2015 and Abadie 2021 ask for a long
#: pre-period; four is this chapter's floor, not a published number).
MIN_PRE_YEARS = 4

#: Time-weight ridge of synthetic DiD relative to the noise level: the synthdid reference implementation's
#: ``eta.lambda = 1e-6`` (a negligible penalty that makes the time weights unique).
TIME_RIDGE_ETA = 1e-6

#: Methods by key, as named in tables.
METHODS: dict[str, str] = {"sc": "synthetic control", "sdid": "synthetic difference-in-differences"}

#: The placebo p-value each method's verdict uses. Synthetic control: the rank of the post/pre RMSPE ratio
#: (Abadie et al. 2010), which discounts donors the method cannot fit. Synthetic DiD: the rank of the absolute
#: effect, since with an intercept and four to six pre-period years its pre-period fit is nearly exact for
#: every unit and the ratio divides by a near-zero pre-period RMSPE (the paper's own inference is the placebo
#: variance, whose interval is reported beside it).
PLACEBO_P: dict[str, str] = {"sc": "p_ratio", "sdid": "p_effect"}

#: Weight of the sum-to-one row in the penalized NNLS, relative to the scale of the design matrix (the
#: constraint is then met to about 1e-10 before the KKT step makes it exact).
_SUM_ROW_SCALE = 1e5


# --- the weight problem -----------------------------------------------------------------------------------


def simplex_least_squares(
    a: np.ndarray, b: np.ndarray, ridge: float = 0.0, intercept: bool = False, tol: float = 1e-9
) -> tuple[np.ndarray, float]:
    """Weights on the unit simplex minimising ``||w0 + a w - b||^2 + ridge ||w||^2``.

    Parameters
    ----------
    a
        ``rows x k`` matrix (one column per candidate: a donor, or a pre-period year).
    b
        Target, length ``rows``.
    ridge
        Penalty on the squared weights (0: none).
    intercept
        Fit a free constant ``w0`` (the columns and the target are centred, which profiles it out).
    tol
        Tolerance of the optimality check; a support failing it falls back to the penalized solution.

    Returns
    -------
    tuple
        ``(w, w0)``: weights (``>= 0``, summing to one) and the intercept (0 without one).

    Examples
    --------
    A target that is 0.3 x the first column plus 0.7 x the third:

    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [3.0, 1.0, 0.0], [1.0, 2.0, 1.0]])
    >>> w, _ = simplex_least_squares(a, a @ np.array([0.3, 0.0, 0.7]))
    >>> np.round(w, 6).tolist()
    [0.3, 0.0, 0.7]
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    k = a.shape[1]
    if k == 1:
        w = np.ones(1)
        return w, float(np.mean(b - a[:, 0])) if intercept else 0.0
    if intercept:
        a_c, b_c = a - a.mean(axis=0), b - b.mean()
    else:
        a_c, b_c = a, b
    if ridge > 0 and k > a_c.shape[0]:
        w = _ridge_newton(a_c, b_c, ridge)
        if w is not None:
            return w, (float(np.mean(b - a @ w)) if intercept else 0.0)
    if ridge > 0:
        a_aug = np.vstack([a_c, np.sqrt(ridge) * np.eye(k)])
        b_aug = np.concatenate([b_c, np.zeros(k)])
    else:
        a_aug, b_aug = a_c, b_c
    scale = _SUM_ROW_SCALE * max(1.0, float(np.abs(a_aug).max()), float(np.abs(b_aug).max()))
    w_pen, _ = optimize.nnls(
        np.vstack([a_aug, np.full((1, k), scale)]), np.append(b_aug, scale), maxiter=50 * k
    )
    w_pen = np.clip(w_pen, 0.0, None)
    w_pen = w_pen / w_pen.sum()
    w = _kkt_polish(a_aug, b_aug, w_pen, tol)
    w0 = float(np.mean(b - a @ w)) if intercept else 0.0
    return w, w0


def _simplex_threshold(v: np.ndarray) -> float:
    """``nu`` with ``sum(max(v - nu, 0)) = 1``: the threshold of the Euclidean projection onto the simplex."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    idx = np.arange(1, len(u) + 1)
    rho = int(np.nonzero(u - cumulative / idx > 0)[0][-1])
    return float(cumulative[rho] / (rho + 1))


def _ridge_newton(
    a: np.ndarray, b: np.ndarray, ridge: float, max_iter: int = 200, tol: float = 1e-10
) -> np.ndarray | None:
    """The ridge-penalized simplex problem solved through its dual, a smooth problem in ``rows`` unknowns.

    The dual of ``min ||b - a w||^2 / 2 + ridge ||w||^2 / 2`` over the simplex is the strongly concave
    ``max_y b'y - y'y / 2 - f*(a'y)``, where ``f*(u) = u'w - ridge w'w / 2`` at ``w = P(u / ridge)`` (``P``:
    Euclidean projection onto the simplex). Damped Newton on ``y`` (each step a ``rows x rows`` solve, so a
    hundred donors cost no more than ten) ends at ``y = b - a w``: the residual of the minimiser ``w``. None
    if it does not converge (the caller falls back to the NNLS route).
    """
    rows = a.shape[0]
    scale = max(1.0, float(np.abs(b).max()))

    def dual(y: np.ndarray) -> tuple[float, np.ndarray]:
        u = a.T @ y
        w = np.maximum(u / ridge - _simplex_threshold(u / ridge), 0.0)
        return float(b @ y - y @ y / 2 - (u @ w - ridge * (w @ w) / 2)), w

    y = b - a.mean(axis=1)
    value, w = dual(y)
    for _ in range(max_iter):
        grad = b - y - a @ w
        if float(np.abs(grad).max()) < tol * scale:
            return w / w.sum()
        support = w > 0
        a_s = a[:, support]
        c = a_s.sum(axis=1)
        hess = np.eye(rows) + (a_s @ a_s.T - np.outer(c, c) / support.sum()) / ridge
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        size, slope = 1.0, float(grad @ step)
        while True:  # Armijo backtracking on the dual objective
            new_value, new_w = dual(y + size * step)
            if new_value >= value + 1e-4 * size * slope or size < 1e-12:
                break
            size /= 2
        y, value, w = y + size * step, new_value, new_w
    return None


def _kkt_polish(a: np.ndarray, b: np.ndarray, w_start: np.ndarray, tol: float) -> np.ndarray:
    """The exact minimiser on the support of ``w_start`` if it is optimal (KKT), else ``w_start``."""
    support = np.flatnonzero(w_start > 1e-10)
    for _ in range(5):
        s = len(support)
        a_s = a[:, support]
        kkt = np.zeros((s + 1, s + 1))
        kkt[:s, :s] = a_s.T @ a_s
        kkt[:s, s] = kkt[s, :s] = 1.0
        rhs = np.append(a_s.T @ b, 1.0)
        try:
            sol = np.linalg.solve(kkt, rhs)
        except np.linalg.LinAlgError:  # a support with collinear columns: keep the penalized solution
            return w_start
        if (sol[:s] < -tol).any():
            return w_start
        w = np.zeros(a.shape[1])
        w[support] = np.clip(sol[:s], 0.0, None)
        w /= w.sum()
        grad = a.T @ (a @ w - b)
        # Optimal when no weight outside the support would lower the objective: grad_j >= grad on support.
        level = float(np.mean(grad[support]))
        gap = level - grad
        gap[support] = 0.0
        worst = int(np.argmax(gap))
        if gap[worst] <= tol * max(1.0, float(np.abs(grad).max())):
            return w
        support = np.sort(np.append(support, worst))
    return w_start


def objective(
    a: np.ndarray, b: np.ndarray, w: np.ndarray, ridge: float = 0.0, intercept: bool = False
) -> float:
    """Value of the :func:`simplex_least_squares` objective at ``w`` (with the best intercept)."""
    resid = b - a @ w
    if intercept:
        resid = resid - resid.mean()
    return float(resid @ resid + ridge * w @ w)


# --- data -------------------------------------------------------------------------------------------------


def outcome_matrix(
    panel: pd.DataFrame,
    outcome: str,
    treated: str,
    donors: Sequence[str],
    start_year: int | None = None,
    end_year: int | None = None,
) -> pd.DataFrame:
    """A balanced district x year matrix of ``outcome``: the treated district first, then the donors.

    The years are those in which the treated district has the outcome (within the year range); donors
    missing the outcome in any of them are dropped (nothing is imputed). ``attrs["dropped_donors"]`` lists
    them.

    Returns
    -------
    pandas.DataFrame
        Index ``district_code`` (treated first), one column per year.
    """
    rows = panel.loc[panel["district_code"].isin([treated, *donors]) & panel[outcome].notna()]
    if start_year is not None:
        rows = rows.loc[rows["year"] >= start_year]
    if end_year is not None:
        rows = rows.loc[rows["year"] <= end_year]
    wide = rows.pivot_table(index="district_code", columns="year", values=outcome, aggfunc="first")
    if treated not in wide.index:
        raise ValueError(f"district {treated} has no {outcome} in the years asked for")
    years = wide.columns[wide.loc[treated].notna().to_numpy()]
    wide = wide[years]
    donor_rows = wide.drop(index=treated).reindex([d for d in donors if d != treated])
    complete = donor_rows.notna().all(axis=1)
    out = pd.concat([wide.loc[[treated]], donor_rows.loc[complete]])
    out.index.name, out.columns.name = "district_code", "year"
    out.attrs["dropped_donors"] = donor_rows.index[~complete].astype(str).tolist()
    return out.astype(float)


# --- one fit ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticFit:
    """One synthetic comparison of a treated district (or the mean of several) with its donors.

    Attributes
    ----------
    method
        ``sc`` or ``sdid`` (:data:`METHODS`).
    estimate
        Average post-period effect (the SDID ``tau``; for synthetic control the mean post-period gap).
    weights
        Donor weights (index ``district_code``; non-negative, summing to one).
    time_weights
        Pre-period year weights (SDID; for synthetic control every post-period gap counts against a zero
        pre-period baseline, so this is empty).
    intercept
        Level shift between the treated district and its synthetic comparison (SDID; 0 for synthetic
        control).
    path
        ``year, treated, synthetic, gap, post``: the treated outcome, the synthetic comparison (for SDID
        shifted by the time-weighted pre-period difference, so post-period gaps average to the estimate) and
        their difference.
    pre_rmspe, post_rmspe
        Root mean squared gap before and after designation (for SDID around the fitted intercept).
    zeta
        Ridge scale of the unit weights (SDID; 0 for synthetic control).
    """

    method: str
    estimate: float
    weights: pd.Series
    time_weights: pd.Series
    intercept: float
    path: pd.DataFrame
    pre_rmspe: float
    post_rmspe: float
    zeta: float = 0.0

    @property
    def rmspe_ratio(self) -> float:
        """Post- over pre-period RMSPE (Abadie et al. 2010's placebo statistic)."""
        return float(self.post_rmspe / self.pre_rmspe) if self.pre_rmspe > 0 else float("inf")


def _split(wide: pd.DataFrame, first_post_year: int) -> tuple[np.ndarray, np.ndarray]:
    years = np.asarray(wide.columns, dtype=int)
    pre, post = years < first_post_year, years >= first_post_year
    if not pre.any() or not post.any():
        raise ValueError(f"need years before and from {first_post_year}; have {years.tolist()}")
    return pre, post


def _sc_arrays(
    y: np.ndarray, donors: np.ndarray, pre: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, float, float]:
    w, _ = simplex_least_squares(donors[:, pre].T, y[pre])
    gap = y - w @ donors
    return (
        float(gap[~pre].mean()),
        w,
        gap,
        float(np.sqrt(np.mean(gap[pre] ** 2))),
        float(np.sqrt(np.mean(gap[~pre] ** 2))),
    )


def noise_level(donors: np.ndarray, pre: np.ndarray) -> float:
    """Standard deviation of the donors' year-to-year changes over the pre-period (SDID's ``sigma``)."""
    diffs = np.diff(donors[:, pre], axis=1)
    return float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0


def _sdid_arrays(
    y: np.ndarray, donors: np.ndarray, pre: np.ndarray, n_treated: int = 1
) -> tuple[float, np.ndarray, np.ndarray, float, np.ndarray, float, float, float]:
    t_pre, t_post = int(pre.sum()), int((~pre).sum())
    sigma = noise_level(donors, pre)
    zeta = (n_treated * t_post) ** 0.25 * sigma
    omega, omega0 = simplex_least_squares(donors[:, pre].T, y[pre], ridge=zeta**2 * t_pre, intercept=True)
    n_donors = donors.shape[0]
    lam, _ = simplex_least_squares(
        donors[:, pre],
        donors[:, ~pre].mean(axis=1),
        ridge=(TIME_RIDGE_ETA * sigma) ** 2 * n_donors,
        intercept=True,
    )
    delta_treated = y[~pre].mean() - lam @ y[pre]
    delta_donors = donors[:, ~pre].mean(axis=1) - donors[:, pre] @ lam
    tau = float(delta_treated - omega @ delta_donors)
    synthetic = omega @ donors
    shift = float(lam @ (y[pre] - synthetic[pre]))
    gap = y - synthetic - shift
    fit_gap = y[pre] - synthetic[pre] - omega0
    return (
        tau,
        omega,
        lam,
        shift,
        gap,
        float(np.sqrt(np.mean(fit_gap**2))),
        float(np.sqrt(np.mean(gap[~pre] ** 2))),
        zeta,
    )


def _fit(wide: pd.DataFrame, first_post_year: int, method: str) -> SyntheticFit:
    pre, _ = _split(wide, first_post_year)
    values = wide.to_numpy(dtype=float)
    y, donors = values[0], values[1:]
    donor_codes = wide.index[1:]
    years = np.asarray(wide.columns, dtype=int)
    if method == "sc":
        est, w, gap, pre_rmspe, post_rmspe = _sc_arrays(y, donors, pre)
        lam, shift, zeta = pd.Series(dtype=float), 0.0, 0.0
    elif method == "sdid":
        est, w, lam_v, shift, gap, pre_rmspe, post_rmspe, zeta = _sdid_arrays(y, donors, pre)
        lam = pd.Series(lam_v, index=pd.Index(years[pre], name="year"), name="time_weight")
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    path = pd.DataFrame(
        {"year": years, "treated": y, "synthetic": y - gap, "gap": gap, "post": (~pre).astype("int64")}
    )
    return SyntheticFit(
        method=method,
        estimate=est,
        weights=pd.Series(w, index=pd.Index(donor_codes, name="district_code"), name="weight"),
        time_weights=lam,
        intercept=shift,
        path=path,
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        zeta=zeta,
    )


def synthetic_control(wide: pd.DataFrame, first_post_year: int) -> SyntheticFit:
    """Classic synthetic control of the first row of ``wide`` from the other rows (pre-period outcomes).

    Parameters
    ----------
    wide
        Balanced district x year matrix (:func:`outcome_matrix`): the treated district first.
    first_post_year
        First year of the post period (the cohort).

    Examples
    --------
    A district that is exactly 0.25 A + 0.75 B before 2013, plus 1.0 afterwards:

    >>> import pandas as pd
    >>> years = [2009, 2010, 2011, 2012, 2013, 2014]
    >>> donors = pd.DataFrame([[1, 2, 3, 4, 5, 6], [3, 3, 2, 2, 1, 1], [9, 0, 9, 0, 9, 0]],
    ...                       index=["A", "B", "C"], columns=years, dtype=float)
    >>> treated = 0.25 * donors.loc["A"] + 0.75 * donors.loc["B"] + (donors.columns >= 2013)
    >>> fit = synthetic_control(pd.concat([treated.to_frame("T").T, donors]), 2013)
    >>> round(fit.estimate, 6), fit.weights.round(6).to_dict()
    (1.0, {'A': 0.25, 'B': 0.75, 'C': 0.0})
    """
    return _fit(wide, first_post_year, "sc")


def synthetic_did(wide: pd.DataFrame, first_post_year: int) -> SyntheticFit:
    """Synthetic difference-in-differences (Arkhangelsky et al. 2021) of the first row of ``wide``.

    Unit weights with an intercept and ridge penalty, time weights with an intercept, and the weighted
    double difference; see the module docstring.

    Examples
    --------
    A district 2 units below a donor average and 0.5 higher after 2013 (donors parallel):

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> years = list(range(2008, 2016))
    >>> trend = np.linspace(0, 1, len(years))
    >>> donors = pd.DataFrame(trend + rng.normal(0, 1, (20, 1)) + rng.normal(0, 0.01, (20, len(years))),
    ...                       columns=years)
    >>> treated = donors.mean() - 2 + 0.5 * (donors.columns >= 2013)
    >>> fit = synthetic_did(pd.concat([treated.to_frame("T").T, donors]), 2013)
    >>> round(fit.estimate, 1)
    0.5
    """
    return _fit(wide, first_post_year, "sdid")


# --- placebo inference ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceboInference:
    """Placebo-in-space inference for one fit.

    Attributes
    ----------
    placebos
        One row per donor as the placebo treated district: ``district_code, estimate, pre_rmspe,
        post_rmspe, ratio``.
    p_ratio
        Share of units (the treated district included) whose post/pre RMSPE ratio is at least the treated
        district's: ``(1 + #{placebo ratio >= ratio}) / (J + 1)`` (Abadie et al. 2010).
    p_effect
        The same rank p-value for the absolute estimate.
    se, ci_low, ci_high
        Placebo standard error (Arkhangelsky et al. 2021, Algorithm 4, with the single treated unit placed on
        every donor in turn) and the normal interval around the estimate.
    """

    placebos: pd.DataFrame
    p_ratio: float
    p_effect: float
    se: float
    ci_low: float
    ci_high: float


def placebo_in_space(
    wide: pd.DataFrame,
    first_post_year: int,
    method: str,
    fit: SyntheticFit | None = None,
    alpha: float = 0.05,
) -> PlaceboInference:
    """Each donor in turn as the treated district, the other donors as its pool (the treated district is
    left out of every placebo pool).

    Parameters
    ----------
    wide
        Balanced matrix, treated district first (:func:`outcome_matrix`).
    first_post_year
        First post-period year.
    method
        ``sc`` or ``sdid``.
    fit
        The treated district's fit (computed if None).
    alpha
        Level of the placebo-variance interval.
    """
    if fit is None:
        fit = _fit(wide, first_post_year, method)
    pre, _ = _split(wide, first_post_year)
    donors = wide.to_numpy(dtype=float)[1:]
    n = donors.shape[0]
    rows = []
    for j in range(n):
        others = np.delete(donors, j, axis=0)
        if method == "sc":
            est, _, _, pre_r, post_r = _sc_arrays(donors[j], others, pre)
        else:
            est, _, _, _, _, pre_r, post_r, _ = _sdid_arrays(donors[j], others, pre)
        rows.append((est, pre_r, post_r))
    arr = np.array(rows, dtype=float).reshape(-1, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(arr[:, 1] > 0, arr[:, 2] / arr[:, 1], np.inf)
    placebos = pd.DataFrame(
        {
            "district_code": wide.index[1:].astype(str),
            "estimate": arr[:, 0],
            "pre_rmspe": arr[:, 1],
            "post_rmspe": arr[:, 2],
            "ratio": ratio,
        }
    )
    p_ratio = rank_p_value(fit.rmspe_ratio, ratio)
    p_effect = rank_p_value(abs(fit.estimate), np.abs(arr[:, 0]))
    se = float(np.sqrt(np.mean((arr[:, 0] - arr[:, 0].mean()) ** 2))) if n > 1 else float("nan")
    z = float(stats.norm.ppf(1 - alpha / 2))
    return PlaceboInference(
        placebos=placebos,
        p_ratio=p_ratio,
        p_effect=p_effect,
        se=se,
        ci_low=fit.estimate - z * se,
        ci_high=fit.estimate + z * se,
    )


def rank_p_value(statistic: float, placebo_statistics: np.ndarray) -> float:
    """``(1 + #{placebo >= statistic}) / (1 + #placebos)``: the treated unit's rank among all units."""
    placebo_statistics = np.asarray(placebo_statistics, dtype=float)
    if not np.isfinite(statistic) and statistic != np.inf:
        return float("nan")
    return float((1 + np.sum(placebo_statistics >= statistic - 1e-12)) / (1 + len(placebo_statistics)))


# --- the study: the largest districts, their donors, every outcome ----------------------------------------


def largest_districts(panel: pd.DataFrame, n: int = 4, cohort: int = 2013, year: int = 2012) -> list[str]:
    """Codes of the ``n`` largest districts of an Alliance cohort by enrollment in ``year`` (largest first).

    Examples
    --------
    >>> import pandas as pd
    >>> panel = pd.DataFrame({"district_code": ["a", "b", "c"], "year": 2012, "enrollment": [5, 9, 7],
    ...                       "alliance_cohort": pd.array([2013, 2013, None], dtype="Int64")})
    >>> largest_districts(panel, 2)
    ['b', 'a']
    """
    rows = panel.loc[groups.alliance_mask(panel, [cohort]) & panel["year"].eq(year)]
    order = rows.sort_values(["enrollment", "district_code"], ascending=[False, True], kind="stable")
    return order["district_code"].astype(str).head(n).tolist()


def donor_pool(
    panel: pd.DataFrame,
    comparison: str = "other_town_districts",
    closest_on: str | None = None,
    n: int | None = None,
    baseline_years: tuple[int, int] = (2009, 2012),
) -> list[str]:
    """Never-designated districts to build synthetic comparisons from.

    Parameters
    ----------
    panel
        District-year panel.
    comparison
        A comparison group of :data:`alliance_study.analysis.groups.COMPARISONS` (every one excludes every
        district ever designated, of any cohort).
    closest_on, n
        Keep only the ``n`` districts with the highest baseline mean of ``closest_on`` (e.g. ``frl_share``:
        the poorest never-designated districts, the nearest to the cities in who their students are). All of
        the group if None.
    baseline_years
        Inclusive years of the baseline mean.
    """
    mask = groups.comparison_mask(panel, comparison)
    codes = sorted(panel.loc[mask, "district_code"].astype(str).unique())
    if closest_on is None or n is None:
        return codes
    base = baseline_values(panel.loc[mask], [closest_on], baseline_years)[closest_on].dropna()
    base.index = base.index.astype(str)
    return base.sort_values(ascending=False, kind="stable").index[:n].tolist()


@dataclass(frozen=True)
class SyntheticResult:
    """Synthetic control and synthetic DiD of one district and outcome, with placebo inference.

    ``skipped`` is a reason (and every other field empty) when the outcome has too few pre-period years or
    donors. ``donor_sd`` is the standard deviation of the donors' pre-period means; ``pre_position`` says
    where the district's pre-period mean lies against the donors' (``below`` every donor, ``above`` every
    donor, or ``inside`` their range), and ``lowest_donor``/``highest_donor`` name the donors at the ends.
    """

    district_code: str
    outcome: str
    first_post_year: int
    years: tuple[int, ...] = ()
    n_pre: int = 0
    n_donors: int = 0
    donor_sd: float = float("nan")
    pre_position: str = ""
    lowest_donor: str = ""
    highest_donor: str = ""
    fits: dict[str, SyntheticFit] = field(default_factory=dict)
    inference: dict[str, PlaceboInference] = field(default_factory=dict)
    skipped: str = ""


def synthetic_study(
    panel: pd.DataFrame,
    outcome: str,
    district: str,
    donors: Sequence[str],
    first_post_year: int = 2013,
    start_year: int | None = None,
    end_year: int | None = None,
    min_pre_years: int = MIN_PRE_YEARS,
    methods: Sequence[str] = ("sc", "sdid"),
    alpha: float = 0.05,
) -> SyntheticResult:
    """Synthetic control and synthetic DiD of ``district`` on ``outcome`` from ``donors``, with placebos.

    Parameters
    ----------
    panel
        District-year panel (or any frame with ``district_code, year`` and the outcome).
    outcome
        Outcome column.
    district
        The treated district.
    donors
        Candidate donors (:func:`donor_pool`); those missing a year of the treated district's are dropped.
    first_post_year
        First treated year (the cohort).
    start_year, end_year
        Inclusive year range.
    min_pre_years
        Fewest pre-period years; with fewer the result is skipped, with the reason.
    methods
        Which estimators to run.
    alpha
        Level of the SDID placebo-variance interval.

    Examples
    --------
    Twenty donors, a treated district 2 below all of them that gains 0.5 from 2013:

    >>> from alliance_study import simulate
    >>> sim = simulate.factor_panel(n_units=21, effect=0.5, treated_shift=-2.0, loading_sd=0.1, noise_sd=0.05,
    ...                             seed=3)
    >>> donors = sorted(set(sim["district_code"]) - {"0000111"})
    >>> result = synthetic_study(sim, "y", "0000111", donors, 2013)
    >>> result.n_pre, result.n_donors, round(result.fits["sdid"].estimate, 1)
    (6, 20, 0.5)
    >>> result.inference["sdid"].p_effect  # no donor's placebo effect is as large: the smallest p, 1/21
    0.047619047619047616
    """
    skip = SyntheticResult(district_code=district, outcome=outcome, first_post_year=first_post_year)
    try:
        wide = outcome_matrix(panel, outcome, district, donors, start_year, end_year)
    except ValueError:
        return _replace(skip, skipped="no data for the district")
    years = np.asarray(wide.columns, dtype=int)
    n_pre = int((years < first_post_year).sum())
    if n_pre < min_pre_years:
        return _replace(
            skip,
            years=tuple(int(y) for y in years),
            n_pre=n_pre,
            skipped=f"{n_pre} pre-period years (fewer than {min_pre_years})",
        )
    if not (years >= first_post_year).any():
        return _replace(skip, years=tuple(int(y) for y in years), n_pre=n_pre, skipped="no post-period years")
    if len(wide) < 3:
        return _replace(skip, years=tuple(int(y) for y in years), n_pre=n_pre, skipped="fewer than 2 donors")
    fits, inference = {}, {}
    for method in methods:
        fits[method] = _fit(wide, first_post_year, method)
        inference[method] = placebo_in_space(wide, first_post_year, method, fits[method], alpha)
    pre_values = wide.iloc[1:, years < first_post_year].mean(axis=1)
    own = float(wide.iloc[0, years < first_post_year].mean())
    position = "below" if own < pre_values.min() else "above" if own > pre_values.max() else "inside"
    return SyntheticResult(
        district_code=district,
        outcome=outcome,
        first_post_year=first_post_year,
        years=tuple(int(y) for y in years),
        n_pre=n_pre,
        n_donors=len(wide) - 1,
        donor_sd=float(pre_values.std(ddof=1)),
        pre_position=position,
        lowest_donor=str(pre_values.idxmin()),
        highest_donor=str(pre_values.idxmax()),
        fits=fits,
        inference=inference,
    )


def _replace(result: SyntheticResult, **changes) -> SyntheticResult:
    from dataclasses import replace

    return replace(result, **changes)


def analyze_largest(
    panel: pd.DataFrame,
    outcomes: Sequence[str] = tuple(OUTCOMES),
    n_districts: int = 4,
    cohort: int = 2013,
    donors: Sequence[str] | None = None,
    start_year: int | None = None,
    end_year: int | None = None,
    min_pre_years: int = MIN_PRE_YEARS,
    enrollment_year: int = 2012,
) -> dict[tuple[str, str], SyntheticResult]:
    """:func:`synthetic_study` of each outcome for the ``n_districts`` largest districts of ``cohort``.

    ``donors`` defaults to every never-designated town district (:func:`donor_pool`). Returns results keyed
    by ``(district_code, outcome)``, skipped outcomes included (with their reason).
    """
    frame = panel if all(o in panel.columns for o in outcomes) else add_analysis_columns(panel)
    pool = list(donors) if donors is not None else donor_pool(frame)
    out = {}
    for code in largest_districts(frame, n_districts, cohort, enrollment_year):
        for outcome in outcomes:
            out[(code, outcome)] = synthetic_study(
                frame, outcome, code, pool, cohort, start_year, end_year, min_pre_years
            )
    return out


def summary_table(results: dict[tuple[str, str], SyntheticResult]) -> pd.DataFrame:
    """One row per district, outcome and method: the estimate, fit and placebo inference.

    Returns
    -------
    pandas.DataFrame
        ``district_code, outcome, method, estimate, se, ci_low, ci_high, p_ratio, p_effect, p_placebo`` (the
        one of the two the method's verdict uses, :data:`PLACEBO_P`), ``p_se`` (SDID: normal p-value from the
        placebo standard error), ``pre_rmspe,
        post_rmspe, donor_sd, pre_rmspe_rank, n_pre, n_post, n_donors, top_donor, top_weight, n_weighted,
        pre_position, top_is_nearest`` (``pre_rmspe_rank``: share of placebo fits with a smaller pre-period
        RMSPE than the district's; ``n_weighted``: donors with weight above 1%; ``top_is_nearest``: the
        largest weight is on the lowest donor of a district below them all, or the highest of one above
        them all), and ``skipped`` (the reason, for outcomes not
        estimated; their other columns are missing).
    """
    rows = []
    for (code, outcome), res in results.items():
        if res.skipped:
            rows.append(
                {
                    "district_code": code,
                    "outcome": outcome,
                    "method": "",
                    "skipped": res.skipped,
                    "n_pre": res.n_pre,
                }
            )
            continue
        for method, fit in res.fits.items():
            inf = res.inference[method]
            top = fit.weights.sort_values(ascending=False, kind="stable")
            rows.append(
                {
                    "district_code": code,
                    "outcome": outcome,
                    "method": method,
                    "estimate": fit.estimate,
                    "se": inf.se if method == "sdid" else float("nan"),
                    "ci_low": inf.ci_low if method == "sdid" else float("nan"),
                    "ci_high": inf.ci_high if method == "sdid" else float("nan"),
                    "p_ratio": inf.p_ratio,
                    "p_effect": inf.p_effect,
                    "p_placebo": inf.p_ratio if PLACEBO_P[method] == "p_ratio" else inf.p_effect,
                    "p_se": (
                        float(2 * stats.norm.sf(abs(fit.estimate) / inf.se))
                        if method == "sdid" and inf.se > 0
                        else float("nan")
                    ),
                    "pre_rmspe": fit.pre_rmspe,
                    "post_rmspe": fit.post_rmspe,
                    "donor_sd": res.donor_sd,
                    "pre_rmspe_rank": float(np.mean(inf.placebos["pre_rmspe"] < fit.pre_rmspe)),
                    "n_pre": res.n_pre,
                    "n_post": len(res.years) - res.n_pre,
                    "n_donors": res.n_donors,
                    "top_donor": str(top.index[0]),
                    "top_weight": float(top.iloc[0]),
                    "n_weighted": int((fit.weights > 0.01).sum()),
                    "pre_position": res.pre_position,
                    "top_is_nearest": str(top.index[0])
                    == (res.lowest_donor if res.pre_position == "below" else res.highest_donor),
                    "skipped": "",
                }
            )
    return pd.DataFrame(rows)

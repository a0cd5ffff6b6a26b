"""The TWFE event study's post-period average as one regression coefficient: fast, optionally weighted fits.

The chapter's headline is the equal-weighted average of the post-period TWFE event-study estimates. With
``theta = w * sum_{e >= 0} b_e`` (``w`` = 1 / number of post event times) and ``j`` the first post event
time, the event study's fit ``sum_e D_e b_e`` equals
``(D_j / w) theta + sum_{post e != j} (D_e - D_j) b_e + sum_{pre e} D_e b_e``, so the average is the
coefficient on ``D_j / w`` once the other columns, the fixed effects and the covariates are projected off
(Frisch-Waugh-Lovell). :func:`post_average_problem` builds that one-regressor problem; the wild bootstrap
(:func:`~alliance_study.analysis.impact.event_study_wild_bootstrap`), the student-weighted estimates, the
leave-one-district-out estimates and the Romano-Wolf family all start from it, so none refits PanelOLS.

Weights. With a weight per district (e.g. baseline enrollment, the same in every year) weighted least
squares is ordinary least squares on rows multiplied by ``sqrt(weight)``. The district dummies times a
district-constant factor span the same space as the dummies, so the within-district demeaning of
:class:`~alliance_study.analysis.impact.inference.FixedEffectsProjector` still removes them exactly; the
year dummies are scaled and enter as controls. The cluster-robust variance of the transformed problem is
the weighted sandwich, as in PanelOLS or pyfixest with weights (tested against pyfixest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from alliance_study.analysis.impact.inference import FixedEffectsProjector
from alliance_study.analysis.impact.regression import covariate_design
from alliance_study.analysis.impact.results import mde, t_pvalue
from alliance_study.analysis.impact.sample import default_reference, integer_codes


def post_average_problem(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                         events: Sequence[int] | None = None, weights: Mapping[str, float] | None = None
                         ) -> tuple[FixedEffectsProjector, np.ndarray, np.ndarray]:
    """The post-period average of the TWFE event study as the coefficient of one regressor (FWL).

    Parameters
    ----------
    sample
        Estimation sample (:func:`~alliance_study.analysis.impact.build_sample`).
    outcome
        Outcome column.
    covariates
        Baseline covariate columns (entered x year, as in the event study).
    events
        Estimated event times (the reference left out); every observed event time but
        :func:`~alliance_study.analysis.impact.default_reference` if None.
    weights
        District code -> weight (e.g. baseline enrollment); unweighted if None. Every district of the sample
        needs a positive weight.

    Returns
    -------
    tuple
        The projector (district effects, year effects, covariates and the nuisance event-time columns), the
        regressor whose coefficient is the post average, and the outcome (both scaled by ``sqrt(weight)``
        when weighted; pass them to :meth:`FixedEffectsProjector.residualize`).
    """
    proj, x, y, _ = grouped_problem(sample, outcome, covariates, events, weights, None)
    return proj, x[:, 0], y


def grouped_problem(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                    events: Sequence[int] | None = None, weights: Mapping[str, float] | None = None,
                    groups: Mapping[str, str] | None = None
                    ) -> tuple[FixedEffectsProjector, np.ndarray, np.ndarray, list[str]]:
    """:func:`post_average_problem` with one post average per group of treated districts.

    ``groups`` maps treated district codes to a label (every treated district needs one); each group gets
    its own event-time dummies (against the common reference) and its post average is the coefficient of
    its column of the returned regressor matrix. None: one group of all treated districts.

    Returns
    -------
    tuple
        Projector, regressors (rows x groups), outcome and the group labels (column order).
    """
    # A shallow copy without attrs: pandas deep-copies attrs (a sample's baseline dictionary) on every
    # column access, which would dominate the cost of the many fits of leave-one-out and the bootstrap family.
    sample = sample.copy(deep=False)
    sample.attrs = {}
    reference = default_reference(sample)
    et = sample["event_time"].to_numpy(dtype=float, na_value=np.nan)
    if events is None:
        events = sorted(int(e) for e in np.unique(et[np.isfinite(et)]) if int(e) != reference)
    events = [int(e) for e in events]
    treated = sample["treated"].to_numpy() == 1
    if groups is None:
        member = {"all": treated}
    else:
        label = sample["district_code"].map(dict(groups)).to_numpy(dtype=object)
        unlabeled = treated & pd.isna(label)
        if unlabeled.any():
            missing = sorted(set(sample["district_code"].to_numpy()[unlabeled]))
            raise ValueError(f"treated districts without a group: {missing[:5]}")
        member = {str(g): treated & (label == g) for g in sorted(set(label[treated]))}
    columns, nuisance = [], []
    for g, rows in member.items():
        seen = {int(e) for e in np.unique(et[rows & np.isfinite(et)])}
        own = [e for e in events if e in seen]
        post = [e for e in own if e >= 0]
        if not post:
            raise ValueError(f"group {g!r} has no post-period observation")
        dummies = {e: ((et == e) & rows).astype(float) for e in own}
        j = post[0]
        columns.append(dummies[j] * len(post))
        nuisance += [dummies[e] - dummies[j] if e in post else dummies[e] for e in own if e != j]
    controls = covariate_design(sample, covariates, ()).to_numpy(dtype=float)
    controls = np.column_stack([controls, *nuisance]) if nuisance else controls
    units, codes = integer_codes(sample["district_code"])
    years, _ = integer_codes(sample["year"])
    x = np.column_stack(columns)
    y = sample[outcome].to_numpy(dtype=float)
    if weights is not None:
        unit_w = pd.Series(weights, dtype=float).reindex(codes).to_numpy()
        bad = ~(np.isfinite(unit_w) & (unit_w > 0))
        if bad.any():
            raise ValueError(f"no positive weight for districts {list(codes[bad][:5])}")
        root = np.sqrt(unit_w[units])
        year_dummies = np.zeros((len(years), int(years.max()) + 1))
        year_dummies[np.arange(len(years)), years] = 1.0
        controls = np.column_stack([year_dummies, controls]) * root[:, None]
        x, y = x * root[:, None], y * root
        # One "year" code: the plain year dummies are replaced by the scaled ones among the controls.
        years = np.zeros_like(years)
    proj = FixedEffectsProjector(units, years, controls if controls.size else None)
    return proj, x, y, list(member)


def cluster_fit(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, n_clusters: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and cluster-robust covariance (factor ``G/(G-1) (N-1)/N``, as in
    :func:`~.inference.fwl_did`) of residualized ``y`` on the residualized columns of ``x``."""
    n = len(y)
    a_inv = np.linalg.inv(x.T @ x)
    beta = a_inv @ (x.T @ y)
    resid = y - x @ beta
    scores = np.zeros((n_clusters, x.shape[1]))
    np.add.at(scores, clusters, x * resid[:, None])
    scale = n_clusters / (n_clusters - 1) * (n - 1) / n
    return beta, scale * a_inv @ (scores.T @ scores) @ a_inv


def post_average_fit(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                     events: Sequence[int] | None = None, weights: Mapping[str, float] | None = None,
                     alpha: float = 0.05) -> dict[str, float]:
    """The TWFE event study's post-period average with its cluster-robust SE, p-value, interval and MDE.

    Equals ``twfe_event_study(...).post_average()`` unweighted (tested), without PanelOLS; with ``weights``
    it is the weighted (e.g. student-weighted) event study's post average. Inference: t with ``G - 1``
    degrees of freedom, as everywhere in the package.

    Examples
    --------
    >>> from alliance_study import simulate
    >>> from alliance_study.analysis import impact
    >>> s = impact.prepare_sample(simulate.staggered_panel(n_units=40, years=range(2009, 2017),
    ...                                                    cohorts={2013: 10}, effect=0.5, noise_sd=0.1,
    ...                                                    seed=3))
    >>> fit = post_average_fit(s, "y")
    >>> round(fit["estimate"], 2), fit["n_clusters"], bool(fit["ci_low"] < 0.5 < fit["ci_high"])
    (0.51, 40, True)
    """
    return group_post_averages(sample, outcome, None, covariates, events, weights, alpha).iloc[0].to_dict()


def group_post_averages(sample: pd.DataFrame, outcome: str, groups: Mapping[str, str] | None = None,
                        covariates: Sequence[str] = (), events: Sequence[int] | None = None,
                        weights: Mapping[str, float] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Post-period averages of the TWFE event study, one per group of treated districts, from one regression.

    Every group is compared with the same comparison districts (and the same district and year effects);
    the groups' averages come from one fit, so their covariance, hence the tests of
    :func:`group_differences`, is available (``attrs["vcov"]``).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group, estimate, se, p_value, ci_low, ci_high, mde, df, n_clusters,
        n_treated``.
    """
    proj, x, y, labels = grouped_problem(sample, outcome, covariates, events, weights, groups)
    beta, vcov = cluster_fit(proj.residualize(x), proj.residualize(y), proj.units, proj.n_units)
    df = proj.n_units - 1
    q = stats.t.ppf(1 - alpha / 2, df)
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    treated = pd.Series(sample.loc[sample["treated"] == 1, "district_code"].unique())
    counts = (treated.map(dict(groups)).value_counts() if groups is not None
              else pd.Series({"all": len(treated)}))
    out = pd.DataFrame({
        "group": labels, "estimate": beta, "se": se,
        "p_value": [t_pvalue(b, s, df) for b, s in zip(beta, se, strict=True)],
        "ci_low": beta - q * se, "ci_high": beta + q * se, "mde": [mde(s, df=df) for s in se],
        "df": df, "n_clusters": proj.n_units, "n_treated": [int(counts.get(g, 0)) for g in labels],
    })
    out.attrs["vcov"] = pd.DataFrame(vcov, index=labels, columns=labels)
    return out


def group_differences(table: pd.DataFrame, alpha: float = 0.05) -> dict[str, float]:
    """Tests of equal effects across the groups of :func:`group_post_averages`.

    Returns
    -------
    dict
        ``difference`` (last group minus first, in label order), its ``se``, ``p_value``, ``ci_low`` and
        ``ci_high`` (t, ``df``), and ``wald_p``: the F test that all groups' averages are equal
        (``k - 1`` and ``df`` degrees of freedom).
    """
    vcov = table.attrs["vcov"].to_numpy(dtype=float)
    beta = table["estimate"].to_numpy(dtype=float)
    df = int(table["df"].iloc[0])
    k = len(beta)
    c = np.zeros(k)
    c[0], c[-1] = -1.0, 1.0
    diff = float(c @ beta)
    se = float(np.sqrt(max(c @ vcov @ c, 0.0)))
    q = stats.t.ppf(1 - alpha / 2, df)
    contrasts = np.column_stack([-np.ones(k - 1), np.eye(k - 1)])  # each later group minus the first
    d = contrasts @ beta
    wald = float(d @ np.linalg.solve(contrasts @ vcov @ contrasts.T, d)) / (k - 1)
    return {"difference": diff, "se": se, "p_value": t_pvalue(diff, se, df), "ci_low": diff - q * se,
            "ci_high": diff + q * se, "wald_p": float(stats.f.sf(wald, k - 1, df))}


def baseline_weights(panel: pd.DataFrame, column: str = "enrollment", years: tuple[int, int] = (2009, 2012)
                     ) -> pd.Series:
    """Each district's mean ``column`` over the inclusive baseline ``years`` (the student weight).

    Returns
    -------
    pandas.Series
        Index ``district_code``; districts without a positive value are left out.
    """
    rows = panel.loc[panel["year"].between(*years)]
    w = rows.groupby("district_code")[column].mean()
    return w.loc[w > 0]

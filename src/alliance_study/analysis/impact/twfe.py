"""Two-way fixed effects (district and year) event study and static difference-in-differences (PanelOLS)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy import stats

from alliance_study.analysis.impact.regression import covariate_design, fit_panelols
from alliance_study.analysis.impact.results import DidEstimate, EventStudy, event_table, mde, t_pvalue
from alliance_study.analysis.impact.sample import default_reference, treated_counts


def twfe_event_study(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                     time_varying: Sequence[str] = (), reference: int | None = None,
                     alpha: float = 0.05) -> EventStudy:
    """Two-way fixed effects event study (PanelOLS, district and year effects, clustered by district).

    ``y = a_i + g_t + sum_{e != ref} b_e 1[year - cohort = e] + controls + u``, with one dummy per observed
    event time (no binning) pooled over cohorts. With one cohort and never-treated controls each ``b_e`` is
    a clean difference-in-differences against the reference period; with staggered cohorts and effects that
    differ by cohort, the ``b_e`` mix cohorts with weights that can be negative (Sun and Abraham 2021),
    which :func:`callaway_santanna` avoids.

    Parameters
    ----------
    sample
        Output of :func:`build_sample` or :func:`prepare_sample`.
    outcome
        Outcome column.
    covariates
        Baseline (time-invariant) covariate columns, entered x year dummies.
    time_varying
        Time-varying covariate columns, entered linearly.
    reference
        Reference event time (:func:`default_reference` if None).
    alpha
        For the confidence intervals.
    """
    reference = default_reference(sample) if reference is None else reference
    et = sample["event_time"]
    events = sorted(int(e) for e in et.dropna().unique() if int(e) != reference)
    dummies = pd.DataFrame({f"ev_{e}": (et == e).fillna(False).astype(float).to_numpy() for e in events},
                           index=sample.index)
    regressors = pd.concat([dummies, covariate_design(sample, covariates, time_varying)], axis=1)
    res = fit_panelols(sample, outcome, regressors)
    names = [f"ev_{e}" for e in events if f"ev_{e}" in res.params.index]
    kept = [int(n[3:]) for n in names]
    est = res.params[names].to_numpy(dtype=float)
    vcov = res.cov.loc[names, names].to_numpy(dtype=float)
    g = sample["district_code"].nunique()
    table, vc = event_table(kept, est, vcov, treated_counts(sample), reference, g - 1, alpha)
    return EventStudy("twfe", outcome, table, vc, reference, g,
                      int(sample.loc[sample["treated"] == 1, "district_code"].nunique()), g - 1,
                      {"nobs": int(res.nobs)})


def twfe_did(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
             time_varying: Sequence[str] = (), alpha: float = 0.05) -> DidEstimate:
    """Static TWFE difference-in-differences: ``y = a_i + g_t + b * post + controls + u`` (PanelOLS).

    ``b`` is the post-period average effect (weighted by the observations in each post year). With one
    cohort and never-treated controls it is a clean comparison; with staggered cohorts it can be biased
    when effects change over time (it then uses already-treated districts as controls).
    """
    regressors = pd.concat([sample[["post"]].astype(float),
                            covariate_design(sample, covariates, time_varying)], axis=1)
    res = fit_panelols(sample, outcome, regressors)
    g = sample["district_code"].nunique()
    b, se = float(res.params["post"]), float(res.std_errors["post"])
    q = stats.t.ppf(1 - alpha / 2, g - 1)
    return DidEstimate(outcome, b, se, t_pvalue(b, se, g - 1), b - q * se, b + q * se, int(res.nobs), g,
                       int(sample.loc[sample["treated"] == 1, "district_code"].nunique()), g - 1,
                       mde(se, df=g - 1))

"""Impact evaluation: did Alliance designation and Alliance dollars change student outcomes?

Event-study difference-in-differences of the Alliance cohorts (2013 mainly; 2018 and 2023 where the data
allow) against districts never designated, with inference built for a small number of treated clusters.
Pure functions: DataFrames in, DataFrames or small result objects out; no file I/O.

Vocabulary
----------
``district_code`` (7-digit string), ``year`` (spring year), ``cohort`` (first treated year; missing for
never-treated districts) and ``outcome`` (the *name* of a panel column, passed as an argument). A *sample*
(:func:`build_sample`) is a long frame with those columns plus ``treated`` (ever), ``post`` (treated and
``year >= cohort``) and ``event_time`` (``year - cohort``), and baseline covariate columns.

Estimators
----------
- :func:`twfe_event_study` and :func:`twfe_did`: two-way fixed effects (district and year) with
  linearmodels ``PanelOLS``, standard errors clustered by district. The baseline.
- :func:`callaway_santanna`: group-time ATTs against never-treated (or not-yet-treated) districts with a
  universal base period, aggregated to event time; analytic influence-function standard errors clustered
  by district. Robust to effects that differ by cohort and over time.
- :func:`sun_abraham`: the interaction-weighted estimator (cohort x event-time dummies in one PanelOLS fit,
  averaged with cohort shares). A second robust estimator, on the same footing as TWFE.

Inference for few treated clusters
----------------------------------
Cluster-robust t with ``G - 1`` degrees of freedom; a restricted (null-imposed) wild cluster bootstrap
(:func:`wild_cluster_bootstrap`); randomization inference that re-assigns designation among eligible
districts (:func:`randomization_inference`, fast: the fixed effects are projected out once, Frisch-Waugh-
Lovell, and every permutation's coefficient is a matrix product); a joint pre-trend test
(:func:`pretrend_test`); a relative-magnitudes sensitivity in the spirit of Rambachan and Roth
(:func:`relative_magnitudes`); placebo years and placebo outcomes; and the minimum detectable effect
(:func:`mde`) beside every estimate.

Standard errors use the cluster-robust sandwich with the factor ``G/(G-1) * (N-1)/N`` (linearmodels'
``group_debias``; absorbed effects are nested in the clusters and not counted), and t-based p-values and
intervals with ``G - 1`` degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from alliance_study.analysis import groups
from alliance_study.data.sources.common import year_span

# --- constants --------------------------------------------------------------------------------------------

#: Effect of $1,000 more per pupil, sustained for four years, on test scores in student-level standard
#: deviations: the pooled estimate of C. Kirabo Jackson and Claire L. Mackevicius (2024), "What Impacts Can
#: We Expect from School Spending Policy? Evidence from Evaluations in the United States", American
#: Economic Journal: Applied Economics 16(1): 412-446 (2018 dollars; earlier working-paper versions report
#: 0.0352). The dose-response estimates are compared with it.
JACKSON_MACKEVICIUS_SD_PER_1000: float = 0.0316

#: Approximate student-level standard deviations per SEDA grade level. SEDA's grade (cohort) scale is
#: linked to NAEP so that one unit is the national average difference between adjacent grades; NAEP's
#: grade 4 to grade 8 gains (about 43-46 points over four grades with standard deviations of about 30-38
#: points, math and reading) put that at roughly a third of a standard deviation. Used only to put SEDA
#: estimates on the Jackson-Mackevicius scale; the conversion is approximate and stated wherever used.
SD_PER_GRADE_LEVEL: float = 1.0 / 3.0

#: Outcomes of the evaluation and their units (effects are differences in these units).
OUTCOMES: dict[str, str] = {
    "seda_gcs_eb": "SEDA achievement, grades 3-8 (grade levels)",
    "achievement_index": "Achievement index (within-year z-score over districts)",
    "grad_rate": "Four-year graduation rate (percentage points)",
    "chronic_absent_rate": "Chronic absenteeism (percentage points)",
    "suspension_rate": "Suspension rate (percentage points)",
}

#: Short outcome labels for figures.
OUTCOME_SHORT: dict[str, str] = {
    "seda_gcs_eb": "SEDA (grade levels)",
    "achievement_index": "Achievement index (z)",
    "grad_rate": "Graduation rate (pp)",
    "chronic_absent_rate": "Chronic absenteeism (pp)",
    "suspension_rate": "Suspension rate (pp)",
    "frl_share": "Free/reduced meals (pp)",
    "el_share": "English learners (pp)",
    "log_enrollment": "Log enrollment",
}

#: Outcomes the program should not move (or not much): placebo outcomes.
PLACEBO_OUTCOMES: dict[str, str] = {
    "frl_share": "Free/reduced-price meals (percentage points)",
    "el_share": "English learners (percentage points)",
    "log_enrollment": "Log enrollment",
}

#: Covariates (poverty, English learners, size); used at their baseline (pre-period) means.
COVARIATES: tuple[str, ...] = ("frl_share", "el_share", "log_enrollment")

#: Suffix of baseline covariate columns in a sample.
BASELINE_SUFFIX = "_base"

#: Comparison groups of a design. All exclude every district ever designated.
COMPARISON_GROUPS: dict[str, str] = {
    "never_town": "town districts never designated",
    "never_town_regional": "town and regional districts never designated",
    "near_miss": "the lowest-performing never-designated town and regional districts at baseline",
}

#: z-quantile sum for 80% power at a two-sided 5% test: the "2.8 x SE" rule.
Z_MDE = float(stats.norm.ppf(0.975) + stats.norm.ppf(0.8))


# --- data preparation -------------------------------------------------------------------------------------

def add_analysis_columns(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with the derived columns the evaluation uses.

    Adds ``achievement_index`` (:func:`alliance_study.analysis.groups.achievement_index`: CMT and SBAC scores
    standardized within year over town and regional districts, so the 2013-2015 test change is not counted
    as change) and ``log_enrollment``. Existing columns of those names are kept.
    """
    out = panel.copy()
    if "achievement_index" not in out.columns:
        out["achievement_index"] = groups.achievement_index(out)
    if "log_enrollment" not in out.columns:
        enrollment = out["enrollment"].astype(float)
        out["log_enrollment"] = np.log(enrollment.where(enrollment > 0))
    return out


def baseline_values(panel: pd.DataFrame, columns: Sequence[str], years: tuple[int, int]) -> pd.DataFrame:
    """Each district's mean of ``columns`` over the inclusive ``years`` (NaN where it has no value).

    Returns
    -------
    pandas.DataFrame
        Index ``district_code``, one column per requested column.
    """
    rows = panel.loc[panel["year"].between(*years)]
    return rows.groupby("district_code")[list(columns)].mean()


def near_miss_codes(panel: pd.DataFrame, n: int, measure: str = "seda_gcs_eb",
                    years: tuple[int, int] = (2009, 2012)) -> list[str]:
    """The ``n`` never-designated town and regional districts lowest on ``measure`` at baseline.

    The Alliance Districts were the lowest performers on the state's 2011 accountability index; the
    districts just above them are the closest counterfactual the data offer (a "near-miss" group).

    Parameters
    ----------
    panel
        District-year panel (with ``measure``; see :func:`add_analysis_columns`).
    n
        Number of districts.
    measure
        Baseline performance measure (lower = worse).
    years
        Inclusive baseline years.
    """
    never = groups.comparison_mask(panel, "non_alliance_town_and_regional")
    base = baseline_values(panel.loc[never], [measure], years)[measure].dropna()
    return base.sort_values(kind="stable").index[:n].astype(str).tolist()


@dataclass(frozen=True)
class Design:
    """A comparison: which cohorts are treated, against whom, with which covariates.

    Attributes
    ----------
    name
        Short key (used in tables and glue names).
    cohorts
        Treated cohorts (first designated fiscal year).
    comparison
        ``never_town``, ``never_town_regional`` or ``near_miss`` (:data:`COMPARISON_GROUPS`).
    near_miss_n
        Size of the near-miss group.
    covariates
        Covariates entered at their baseline means (x year effects in TWFE; regression adjustment in
        Callaway-Sant'Anna).
    baseline_measure, baseline_years
        Measure and years defining baseline performance (near-miss group, eligibility for randomization
        inference) and the baseline covariate means.
    ri_lowest_k
        Randomization inference is run twice: re-assigning designation among all districts of the
        sample, and (if set) among the treated districts and the ``k`` lowest-baseline districts.
    label
        Description for tables.
    """

    name: str
    cohorts: tuple[int, ...] = (2013,)
    comparison: str = "never_town"
    near_miss_n: int = 30
    covariates: tuple[str, ...] = ()
    baseline_measure: str = "seda_gcs_eb"
    baseline_years: tuple[int, int] = (2009, 2012)
    ri_lowest_k: int | None = None
    label: str = ""


def build_sample(panel: pd.DataFrame, outcome: str, design: Design, start_year: int | None = None,
                 end_year: int | None = None, exclude_years: Sequence[int] = ()) -> pd.DataFrame:
    """The estimation sample of one outcome and design: treated cohorts plus the comparison group.

    Districts of cohorts not in the design are left out (they are treated at some point, so they are
    never clean controls). District-years without the outcome are dropped (the panel may be unbalanced).
    A cohort without at least one year of the outcome before and one from its first year on is dropped.
    With covariates, districts without a baseline value of every covariate are dropped.

    Parameters
    ----------
    panel
        District-year panel (derived columns are added with :func:`add_analysis_columns` if missing).
    outcome
        Outcome column.
    design
        The comparison (:class:`Design`).
    start_year, end_year
        Inclusive year range.
    exclude_years
        Years to leave out (e.g. 2020 for absenteeism distorted by the pandemic).

    Returns
    -------
    pandas.DataFrame
        ``district_code, year, cohort, treated, post, event_time, <outcome>`` and ``<covariate>_base``
        columns, sorted by district and year. ``attrs`` records ``outcome``, ``design``, ``covariates``
        (baseline column names), ``dropped_cohorts``, ``n_dropped_for_covariates`` and ``baseline``
        (district -> baseline measure).
    """
    needed = [outcome, design.baseline_measure, *design.covariates]
    frame = panel if all(c in panel.columns for c in needed) else add_analysis_columns(panel)
    if outcome not in frame.columns:
        raise KeyError(f"outcome {outcome!r} is not a panel column")
    if design.comparison not in COMPARISON_GROUPS:
        raise ValueError(f"unknown comparison {design.comparison!r}; "
                         f"expected one of {sorted(COMPARISON_GROUPS)}")
    treated_mask = groups.alliance_mask(frame, design.cohorts)
    if design.comparison == "never_town":
        control_mask = groups.comparison_mask(frame, "other_town_districts")
    elif design.comparison == "never_town_regional":
        control_mask = groups.comparison_mask(frame, "non_alliance_town_and_regional")
    else:
        codes = near_miss_codes(frame, design.near_miss_n, design.baseline_measure, design.baseline_years)
        control_mask = frame["district_code"].isin(codes)
    keep = (treated_mask | control_mask) & frame[outcome].notna()
    if start_year is not None:
        keep &= frame["year"] >= start_year
    if end_year is not None:
        keep &= frame["year"] <= end_year
    keep &= ~frame["year"].isin(list(exclude_years))
    sample = pd.DataFrame({
        "district_code": frame.loc[keep, "district_code"].astype(str),
        "year": frame.loc[keep, "year"].astype("int64"),
        "cohort": frame.loc[keep, "alliance_cohort"].astype("Int64").where(treated_mask[keep]),
        outcome: frame.loc[keep, outcome].astype(float),
    })
    # A cohort identifies nothing without data on both sides of its first year.
    dropped = []
    for g in sorted(sample["cohort"].dropna().unique().tolist()):
        years = sample.loc[sample["cohort"] == g, "year"]
        if not ((years < g).any() and (years >= g).any()):
            dropped.append(int(g))
    if dropped:
        sample = sample.loc[~sample["cohort"].isin(dropped).fillna(False).astype(bool)]
    base = baseline_values(frame, [design.baseline_measure, *design.covariates], design.baseline_years)
    cov_names = [f"{c}{BASELINE_SUFFIX}" for c in design.covariates]
    n_dropped = 0
    if design.covariates:
        covs = base[list(design.covariates)].rename(columns=dict(zip(design.covariates, cov_names,
                                                                     strict=True)))
        sample = sample.join(covs, on="district_code")
        missing = sample[cov_names].isna().any(axis=1)
        n_dropped = int(sample.loc[missing, "district_code"].nunique())
        sample = sample.loc[~missing]
    sample = _finish_sample(sample)
    sample.attrs.update({
        "outcome": outcome, "design": design.name, "covariates": cov_names, "dropped_cohorts": dropped,
        "n_dropped_for_covariates": n_dropped,
        "baseline": base[design.baseline_measure].reindex(sample["district_code"].unique()).to_dict(),
    })
    return sample


def _finish_sample(sample: pd.DataFrame) -> pd.DataFrame:
    """Add ``treated``, ``post`` and ``event_time`` from ``cohort`` and sort (shared with simulated data)."""
    out = sample.sort_values(["district_code", "year"]).reset_index(drop=True)
    cohort = out["cohort"].astype("Float64")
    out["treated"] = cohort.notna().astype("int64")
    event = out["year"].astype("Float64") - cohort
    out["event_time"] = event.astype("Int64")
    out["post"] = (event >= 0).fillna(False).astype("int64")
    return out


def prepare_sample(frame: pd.DataFrame) -> pd.DataFrame:
    """A sample from any frame with ``district_code, year, cohort`` (e.g. a simulated panel).

    Adds ``treated``, ``post`` and ``event_time`` and sorts by district and year.
    """
    out = frame.copy()
    out["district_code"] = out["district_code"].astype(str)
    out["cohort"] = out["cohort"].astype("Int64")
    return _finish_sample(out)


# --- small helpers ----------------------------------------------------------------------------------------

def mde(se: float, alpha: float = 0.05, power: float = 0.8, df: int | None = None) -> float:
    """Minimum detectable effect of a two-sided test: ``(q(1 - alpha/2) + q(power)) * se``.

    With the normal quantiles (``df`` None) this is the familiar 2.8 x SE for 80% power at 5%; with
    ``df`` it uses Student's t (appropriate with few clusters).
    """
    if se is None or not np.isfinite(se):
        return float("nan")
    if df is None:
        factor = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    else:
        factor = stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)
    return float(factor * se)


def _t_p(estimate: float, se: float, df: int) -> float:
    if not (np.isfinite(estimate) and np.isfinite(se)) or se <= 0:
        return float("nan")
    return float(2 * stats.t.sf(abs(estimate / se), df))


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and sorted unique values."""
    uniques, codes = np.unique(values.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), uniques


def _cohort_array(sample: pd.DataFrame) -> np.ndarray:
    return sample["cohort"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _covariate_design(sample: pd.DataFrame, covariates: Sequence[str], time_varying: Sequence[str]
                      ) -> pd.DataFrame:
    """Control columns for TWFE: baseline covariates x year dummies (first year left out) and
    time-varying covariates as they are.

    A time-invariant covariate is absorbed by the district effects; interacting it with the year lets
    districts with different baselines follow different year-to-year paths (conditional parallel trends).
    """
    cols: dict[str, np.ndarray] = {}
    years = sorted(sample["year"].unique().tolist())
    for cov in covariates:
        x = sample[cov].to_numpy(dtype=float)
        x = x - np.nanmean(x)
        for y in years[1:]:
            cols[f"{cov}_x{y}"] = x * (sample["year"].to_numpy() == y)
    for cov in time_varying:
        cols[cov] = sample[cov].to_numpy(dtype=float)
    return pd.DataFrame(cols, index=sample.index)


def _fit_panelols(sample: pd.DataFrame, outcome: str, regressors: pd.DataFrame):
    """PanelOLS with district and year effects, clustered by district (see the module notes)."""
    from linearmodels import PanelOLS

    index = pd.MultiIndex.from_arrays([sample["district_code"].to_numpy(), sample["year"].to_numpy()],
                                      names=["district_code", "year"])
    y = pd.Series(sample[outcome].to_numpy(dtype=float), index=index, name=outcome)
    x = regressors.set_axis(index)
    model = PanelOLS(y, x, entity_effects=True, time_effects=True, drop_absorbed=True, check_rank=False)
    return model.fit(cov_type="clustered", cluster_entity=True, group_debias=True, debiased=False,
                     auto_df=False, count_effects=False)


# --- result objects ---------------------------------------------------------------------------------------

@dataclass
class EventStudy:
    """Event-time estimates of one estimator.

    Attributes
    ----------
    estimator
        ``twfe``, ``callaway_santanna`` or ``sun_abraham``.
    outcome
        Outcome column.
    table
        ``event_time, estimate, se, ci_low, ci_high, p_value, n_treated``; the reference period is a row
        with estimate 0 and missing standard error.
    vcov
        Covariance of the non-reference estimates (index and columns: event times).
    reference
        Reference (base) event time.
    n_clusters, n_treated_clusters
        Districts in the sample, and treated districts.
    df
        Degrees of freedom for t-based inference (``n_clusters - 1``).
    extra
        Estimator-specific detail (e.g. the group-time ATTs).
    """

    estimator: str
    outcome: str
    table: pd.DataFrame
    vcov: pd.DataFrame
    reference: int
    n_clusters: int
    n_treated_clusters: int
    df: int
    extra: dict[str, Any] = field(default_factory=dict)

    def post_average(self, alpha: float = 0.05, weighting: str = "equal") -> dict[str, float]:
        """Average of the post-period (``event_time >= 0``) estimates, with its SE, p-value and MDE.

        ``weighting="equal"`` gives every post event time the same weight (the event-study summary);
        ``"treated"`` weights them by treated districts observed, which makes it the average effect over
        treated district-years (Callaway and Sant'Anna's "simple" aggregation).
        """
        post = [e for e in self.vcov.index if e >= 0]
        if weighting == "equal":
            w = None
        elif weighting == "treated":
            counts = self.table.set_index("event_time")["n_treated"]
            w = np.array([counts.get(e, 0) for e in post], dtype=float)
        else:
            raise ValueError("weighting must be 'equal' or 'treated'")
        return _linear_combination(self, post, alpha, w)

    def pre_events(self, min_treated: int = 1) -> list[int]:
        """Pre-period event times (other than the reference) with an estimate resting on at least
        ``min_treated`` treated districts."""
        counts = self.table.set_index("event_time")["n_treated"]
        return [int(e) for e in self.vcov.index
                if e < 0 and e != self.reference and counts.get(e, 0) >= min_treated]


def _linear_combination(study: EventStudy, events: Sequence[int], alpha: float,
                        weights: np.ndarray | None = None) -> dict[str, float]:
    if not events:
        return {"estimate": float("nan"), "se": float("nan"), "p_value": float("nan"),
                "ci_low": float("nan"), "ci_high": float("nan"), "mde": float("nan")}
    est = study.table.set_index("event_time").loc[list(events), "estimate"].to_numpy(dtype=float)
    w = np.full(len(events), 1.0 / len(events)) if weights is None else weights / weights.sum()
    v = study.vcov.loc[list(events), list(events)].to_numpy(dtype=float)
    theta = float(w @ est)
    se = float(math.sqrt(max(w @ v @ w, 0.0)))
    q = stats.t.ppf(1 - alpha / 2, study.df)
    return {"estimate": theta, "se": se, "p_value": _t_p(theta, se, study.df), "ci_low": theta - q * se,
            "ci_high": theta + q * se, "mde": mde(se, df=study.df)}


def _event_table(events: Sequence[int], est: np.ndarray, vcov: np.ndarray, n_treated: Mapping[int, int],
                 reference: int, df: int, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    q = stats.t.ppf(1 - alpha / 2, df)
    table = pd.DataFrame({"event_time": list(events), "estimate": est, "se": se,
                          "ci_low": est - q * se, "ci_high": est + q * se,
                          "p_value": [_t_p(b, s, df) for b, s in zip(est, se, strict=True)]})
    if reference not in set(events):
        ref_row = pd.DataFrame({"event_time": [reference], "estimate": [0.0], "se": [np.nan],
                                "ci_low": [np.nan], "ci_high": [np.nan], "p_value": [np.nan]})
        table = pd.concat([table, ref_row], ignore_index=True)
    table["n_treated"] = table["event_time"].map(lambda e: int(n_treated.get(int(e), 0))).astype("int64")
    table = table.sort_values("event_time").reset_index(drop=True)
    table["event_time"] = table["event_time"].astype("int64")
    vc = pd.DataFrame(vcov, index=list(events), columns=list(events))
    return table, vc


def _treated_counts(sample: pd.DataFrame) -> dict[int, int]:
    rows = sample.loc[sample["treated"] == 1]
    return {int(e): int(n) for e, n in rows.groupby("event_time")["district_code"].nunique().items()}


def default_reference(sample: pd.DataFrame) -> int:
    """Reference event time: the latest pre-period event time observed for every cohort of the sample
    (falls back to the latest observed for any cohort).

    With the 2014 and 2020 gaps and tests that end in 2011 (CMT), the year before designation is not
    always observed; e.g. the achievement index of the 2013 cohort has its last pre-period in 2011 (-2).
    """
    rows = sample.loc[(sample["treated"] == 1) & (sample["event_time"] < 0)]
    if rows.empty:
        raise ValueError("no pre-period observations of treated districts")
    by_cohort = [set(block["event_time"].astype(int)) for _, block in rows.groupby("cohort")]
    common = set.intersection(*by_cohort)
    return int(max(common)) if common else int(rows["event_time"].max())


# --- TWFE ---------------------------------------------------------------------------------------------------

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
    regressors = pd.concat([dummies, _covariate_design(sample, covariates, time_varying)], axis=1)
    res = _fit_panelols(sample, outcome, regressors)
    names = [f"ev_{e}" for e in events if f"ev_{e}" in res.params.index]
    kept = [int(n[3:]) for n in names]
    est = res.params[names].to_numpy(dtype=float)
    vcov = res.cov.loc[names, names].to_numpy(dtype=float)
    g = sample["district_code"].nunique()
    table, vc = _event_table(kept, est, vcov, _treated_counts(sample), reference, g - 1, alpha)
    return EventStudy("twfe", outcome, table, vc, reference, g,
                      int(sample.loc[sample["treated"] == 1, "district_code"].nunique()), g - 1,
                      {"nobs": int(res.nobs)})


@dataclass
class DidEstimate:
    """A single difference-in-differences coefficient (the post-period average effect) and its inference."""

    outcome: str
    estimate: float
    se: float
    p_value: float
    ci_low: float
    ci_high: float
    n_obs: int
    n_clusters: int
    n_treated: int
    df: int
    mde: float


def twfe_did(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
             time_varying: Sequence[str] = (), alpha: float = 0.05) -> DidEstimate:
    """Static TWFE difference-in-differences: ``y = a_i + g_t + b * post + controls + u`` (PanelOLS).

    ``b`` is the post-period average effect (weighted by the observations in each post year). With one
    cohort and never-treated controls it is a clean comparison; with staggered cohorts it can be biased
    when effects change over time (it then uses already-treated districts as controls).
    """
    regressors = pd.concat([sample[["post"]].astype(float),
                            _covariate_design(sample, covariates, time_varying)], axis=1)
    res = _fit_panelols(sample, outcome, regressors)
    g = sample["district_code"].nunique()
    b, se = float(res.params["post"]), float(res.std_errors["post"])
    q = stats.t.ppf(1 - alpha / 2, g - 1)
    return DidEstimate(outcome, b, se, _t_p(b, se, g - 1), b - q * se, b + q * se, int(res.nobs), g,
                       int(sample.loc[sample["treated"] == 1, "district_code"].nunique()), g - 1,
                       mde(se, df=g - 1))


# --- Callaway-Sant'Anna -------------------------------------------------------------------------------------

def _unit_frame(sample: pd.DataFrame, outcome: str) -> tuple[pd.DataFrame, pd.Index]:
    wide = sample.pivot(index="district_code", columns="year", values=outcome)
    return wide, wide.index


def callaway_santanna(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                      control: str = "never", alpha: float = 0.05) -> EventStudy:
    """Callaway and Sant'Anna (2021) group-time ATTs, aggregated to event time.

    For cohort ``g`` with base year ``b`` (its latest year before ``g`` with outcome data; a universal
    base, so pre-period estimates are comparable with an event study) and each other year ``t``:
    ``ATT(g, t) = mean over g of (Y_t - Y_b) - counterfactual``, where the counterfactual is the controls'
    mean change, or with covariates the controls' regression of the change on baseline covariates
    evaluated at the cohort's covariates (outcome regression). Event-time effects average ``ATT(g, g+e)``
    over cohorts with weights proportional to their treated districts. Standard errors come from the
    influence functions, summed within district (so they are clustered by district), scaled by G/(G-1).

    Parameters
    ----------
    sample
        Output of :func:`build_sample` or :func:`prepare_sample`.
    outcome
        Outcome column.
    covariates
        Baseline (time-invariant) covariate columns for the outcome regression.
    control
        ``never`` (never-treated districts) or ``notyet`` (also districts not yet treated at ``t``).
    alpha
        For the confidence intervals.

    Returns
    -------
    EventStudy
        ``extra["group_time"]`` holds the ``cohort, year, event_time, att, se, n_treated, n_control``
        table.
    """
    if control not in ("never", "notyet"):
        raise ValueError("control must be 'never' or 'notyet'")
    wide, units = _unit_frame(sample, outcome)
    unit_cohort = sample.groupby("district_code")["cohort"].first().astype("Float64") \
        .reindex(units).to_numpy(dtype=float, na_value=np.nan)
    xcov = None
    if covariates:
        xcov = sample.groupby("district_code")[list(covariates)].first().reindex(units).to_numpy(dtype=float)
    years = np.asarray(wide.columns, dtype=int)
    values = wide.to_numpy(dtype=float)
    n = len(units)
    observed_years = {int(y) for y in years[np.isfinite(values).any(axis=0)]}
    rows, infl = [], {}
    for g in sorted({int(c) for c in unit_cohort[np.isfinite(unit_cohort)]}):
        pre = [y for y in observed_years if y < g]
        if not pre:
            continue
        base = max(pre)
        jb = int(np.searchsorted(years, base))
        is_g = unit_cohort == g
        for jt, t in enumerate(years):
            if t == base:
                continue
            if control == "never":
                is_c = np.isnan(unit_cohort)
            else:
                is_c = (np.isnan(unit_cohort) | (unit_cohort > max(t, base))) & ~is_g
            dy = values[:, jt] - values[:, jb]
            ok = np.isfinite(dy)
            tr, co = is_g & ok, is_c & ok
            if xcov is not None:
                ok_x = np.isfinite(xcov).all(axis=1)
                tr, co = tr & ok_x, co & ok_x
            n_t, n_c = int(tr.sum()), int(co.sum())
            if n_t == 0 or n_c == 0:
                continue
            x = np.ones((n, 1)) if xcov is None else np.column_stack([np.ones(n), xcov])
            xc, xt = x[co], x[tr]
            if n_c <= xc.shape[1]:
                continue
            xtx_inv = np.linalg.pinv(xc.T @ xc)
            beta = xtx_inv @ xc.T @ dy[co]
            resid_t = dy[tr] - xt @ beta
            att = float(resid_t.mean())
            psi = np.zeros(n)
            psi[tr] = (resid_t - att) / n_t
            # Estimation error of the controls' regression, evaluated at the cohort's mean covariates.
            psi[co] = -(xt.mean(axis=0) @ xtx_inv @ xc.T) * (dy[co] - xc @ beta)
            infl[(g, int(t))] = psi
            rows.append({"cohort": g, "year": int(t), "event_time": int(t) - g, "att": att,
                         "se": float(np.sqrt(psi @ psi * n / max(n - 1, 1))), "n_treated": n_t,
                         "n_control": n_c, "base_year": base})
    gt = pd.DataFrame(rows, columns=["cohort", "year", "event_time", "att", "se", "n_treated", "n_control",
                                     "base_year"])
    if gt.empty:
        raise ValueError("no group-time effect could be estimated")
    base_events = {int(g): int(b) - int(g) for g, b in gt.groupby("cohort")["base_year"].first().items()}
    weight_by_cohort = gt.groupby("cohort")["n_treated"].max()
    reference = base_events[int(weight_by_cohort.idxmax())]
    events = sorted(gt["event_time"].unique().tolist())
    est, psis, n_tr = [], [], {}
    for e in events:
        block = gt.loc[gt["event_time"] == e]
        w = block["n_treated"].to_numpy(dtype=float)
        w = w / w.sum()
        est.append(float(w @ block["att"].to_numpy()))
        psis.append(sum(wk * infl[(int(g), int(t))] for wk, g, t in
                        zip(w, block["cohort"], block["year"], strict=True)))
        n_tr[int(e)] = int(block["n_treated"].sum())
    psi_mat = np.column_stack(psis)
    vcov = psi_mat.T @ psi_mat * n / max(n - 1, 1)
    if reference not in n_tr:
        # Only when no cohort has an estimate there; otherwise the row is a real estimate of the cohorts
        # whose base year it is not, and its count must say how many districts it rests on.
        n_tr[reference] = int(sample.loc[sample["event_time"] == reference, "district_code"].nunique())
    table, vc = _event_table(events, np.asarray(est), vcov, n_tr, reference, n - 1, alpha)
    return EventStudy("callaway_santanna", outcome, table, vc, reference, n,
                      int(np.isfinite(unit_cohort).sum()), n - 1,
                      {"group_time": gt, "control": control, "influence": psi_mat})


# --- Sun-Abraham --------------------------------------------------------------------------------------------

def sun_abraham(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                alpha: float = 0.05) -> EventStudy:
    """Sun and Abraham (2021) interaction-weighted event study, in one PanelOLS fit.

    Cohort x event-time dummies (each cohort's own base period left out; never-treated districts are
    the controls) are estimated jointly with district and year effects; event-time effects average them
    with weights equal to each cohort's share of the treated districts observed at that event time.
    Standard errors follow from the clustered covariance of the interaction coefficients (weights held
    fixed). In a balanced panel without covariates it equals :func:`callaway_santanna` with never-treated
    controls.

    pyfixest's ``event_study(estimator="saturated")`` implements the same idea but, in version 0.60,
    mislabels cohorts when years are missing (2014, 2020), so it is not used on the real panel.
    """
    cohort = _cohort_array(sample)
    et = sample["event_time"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    cols: dict[str, np.ndarray] = {}
    cells: list[tuple[int, int]] = []
    for g in sorted({int(c) for c in cohort[np.isfinite(cohort)]}):
        in_g = cohort == g
        pre = et[in_g & (et < 0)]
        if pre.size == 0:
            continue
        base = int(pre.max())
        for e in sorted({int(v) for v in et[in_g]}):
            if e == base:
                continue
            cols[f"sa_{g}_{e}"] = (in_g & (et == e)).astype(float)
            cells.append((g, e))
    regressors = pd.concat([pd.DataFrame(cols, index=sample.index),
                            _covariate_design(sample, covariates, ())], axis=1)
    res = _fit_panelols(sample, outcome, regressors)
    names = [f"sa_{g}_{e}" for g, e in cells]
    present = [n for n in names if n in res.params.index]
    cells = [c for c, n in zip(cells, names, strict=True) if n in present]
    beta = res.params[present].to_numpy(dtype=float)
    v = res.cov.loc[present, present].to_numpy(dtype=float)
    counts = sample.loc[sample["treated"] == 1].groupby(["cohort", "event_time"])["district_code"].nunique()
    events = sorted({e for _, e in cells})
    w = np.zeros((len(events), len(cells)))
    for k, (g, e) in enumerate(cells):
        w[events.index(e), k] = counts.get((g, e), 0)
    w = w / w.sum(axis=1, keepdims=True)
    est, vcov = w @ beta, w @ v @ w.T
    reference = default_reference(sample)
    # Treated districts behind each event-time estimate: those of the cohorts with a cell there.
    n_tr = {e: int(sum(counts.get((g, ee), 0) for g, ee in cells if ee == e)) for e in events}
    if reference not in n_tr:
        n_tr[reference] = _treated_counts(sample).get(reference, 0)
    g_total = sample["district_code"].nunique()
    table, vc = _event_table(events, est, vcov, n_tr, reference, g_total - 1, alpha)
    cell_table = pd.DataFrame({"cohort": [c for c, _ in cells], "event_time": [e for _, e in cells],
                               "estimate": beta, "se": np.sqrt(np.diag(v))})
    return EventStudy("sun_abraham", outcome, table, vc, reference, g_total,
                      int(sample.loc[sample["treated"] == 1, "district_code"].nunique()), g_total - 1,
                      {"cells": cell_table})


def compare_event_studies(studies: Sequence[EventStudy], baseline: str = "twfe") -> pd.DataFrame:
    """Side-by-side event-time estimates of several estimators, and where they differ.

    Returns
    -------
    pandas.DataFrame
        One row per event time: ``<estimator>`` and ``<estimator>_se`` for each study, and for each robust
        estimator ``diff_<estimator>`` (robust minus ``baseline``) and ``diff_<estimator>_in_se`` (that
        difference in units of the robust estimator's standard error). Differences beyond about one
        standard error flag event times where heterogeneous effects across cohorts or over time move the
        TWFE estimate.
    """
    parts = []
    for s in studies:
        t = s.table.set_index("event_time")[["estimate", "se"]]
        parts.append(t.rename(columns={"estimate": s.estimator, "se": f"{s.estimator}_se"}))
    out = pd.concat(parts, axis=1).sort_index()
    names = [s.estimator for s in studies]
    if baseline in names:
        for name in names:
            if name == baseline:
                continue
            out[f"diff_{name}"] = out[name] - out[baseline]
            out[f"diff_{name}_in_se"] = out[f"diff_{name}"] / out[f"{name}_se"]
    return out.rename_axis("event_time").reset_index()


# --- pre-trends and sensitivity ---------------------------------------------------------------------------

def pretrend_test(study: EventStudy, min_treated: int = 1) -> dict[str, float]:
    """Joint Wald test that every pre-period event-time estimate is zero.

    ``F = b' V^-1 b / k`` with ``k`` pre-period estimates, referred to ``F(k, G - 1)``. Estimates resting
    on fewer than ``min_treated`` treated districts are left out: a cluster-robust variance from two or
    three treated districts is far too small, and one such lead would decide the test.

    Returns
    -------
    dict
        ``f_stat``, ``df1`` (number of pre-period estimates), ``df2``, ``p_value`` (NaN when there is no
        pre-period estimate besides the reference, e.g. absenteeism, which starts in 2012).
    """
    pre = study.pre_events(min_treated)
    if not pre:
        return {"f_stat": float("nan"), "df1": 0, "df2": study.df, "p_value": float("nan")}
    b = study.table.set_index("event_time").loc[pre, "estimate"].to_numpy(dtype=float)
    v = study.vcov.loc[pre, pre].to_numpy(dtype=float)
    wald = float(b @ np.linalg.pinv(v) @ b)
    k = len(pre)
    return {"f_stat": wald / k, "df1": k, "df2": study.df,
            "p_value": float(stats.f.sf(wald / k, k, study.df))}


@dataclass
class Sensitivity:
    """Relative-magnitudes sensitivity of the post-period average effect.

    Attributes
    ----------
    table
        ``mbar, bias_bound, lower, upper``: the robust confidence interval for each ``mbar``.
    breakdown
        Largest ``mbar`` at which the robust interval excludes zero (0 if the estimate is not significant
        even under parallel trends; inf if the pre-period shows no variation at all; NaN without any
        pre-period estimate besides the reference).
    max_pre_violation
        Largest change per year between adjacent pre-period estimates (the reference counts as 0).
    estimate, se
        Post-period average effect and its standard error.
    """

    table: pd.DataFrame
    breakdown: float
    max_pre_violation: float
    estimate: float
    se: float


def relative_magnitudes(study: EventStudy, mbar: Sequence[float] = (0, 0.25, 0.5, 0.75, 1, 1.5, 2),
                        alpha: float = 0.05, min_treated: int = 1) -> Sensitivity:
    """How large a violation of parallel trends would overturn the post-period average effect?

    In the spirit of the relative-magnitudes restriction of Rambachan and Roth (2023): after the reference
    period, the trend difference may change by at most ``mbar`` times the largest change per year seen
    between adjacent pre-period estimates. Over ``e - ref`` years the bias of the event-time-``e`` estimate
    is then at most ``mbar * max_pre * (e - ref)``, and the bias of the post-period average at most
    ``mbar * max_pre * mean(e - ref)``. The robust interval widens the usual t interval by that bound; the
    breakdown value is the largest ``mbar`` at which it still excludes zero.

    This is a plug-in version: it treats the estimated pre-period changes as the true ones and does not
    reproduce Rambachan and Roth's conditional or hybrid inference, so it is a guide, not a test.
    Pre-period estimates resting on fewer than ``min_treated`` treated districts are ignored.
    """
    ref = study.reference
    table = study.table.set_index("event_time")
    pre = sorted([*study.pre_events(min_treated), ref])
    post = [e for e in study.vcov.index if e >= 0]
    avg = study.post_average(alpha)
    theta, se = avg["estimate"], avg["se"]
    q = stats.t.ppf(1 - alpha / 2, study.df)
    if len(pre) < 2 or not post:
        delta = float("nan")
    else:
        vals = [0.0 if e == ref else float(table.loc[e, "estimate"]) for e in pre]
        delta = max(abs(vals[k + 1] - vals[k]) / (pre[k + 1] - pre[k]) for k in range(len(pre) - 1))
    horizon = float(np.mean([e - ref for e in post])) if post else float("nan")
    rows = []
    for m in mbar:
        bound = m * delta * horizon
        rows.append({"mbar": float(m), "bias_bound": bound, "lower": theta - bound - q * se,
                     "upper": theta + bound + q * se})
    if not np.isfinite(delta):
        breakdown = float("nan")
    elif abs(theta) <= q * se:
        breakdown = 0.0
    elif delta == 0:
        breakdown = float("inf")
    else:
        breakdown = (abs(theta) - q * se) / (delta * horizon)
    return Sensitivity(pd.DataFrame(rows), float(breakdown), delta, theta, se)


# --- fast inference: the fixed-effects projection ---------------------------------------------------------

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


def _projector(sample: pd.DataFrame, covariates: Sequence[str], time_varying: Sequence[str]
               ) -> tuple[FixedEffectsProjector, np.ndarray]:
    units, codes = _codes(sample["district_code"])
    years, _ = _codes(sample["year"])
    controls = _covariate_design(sample, covariates, time_varying).to_numpy(dtype=float)
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
    proj, _ = _projector(sample, covariates, time_varying)
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

    proj, _ = _projector(sample, covariates, time_varying)
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
        Two-sided: ``(1 + #{|b_perm| >= |b|}) / (1 + n_perm)``.
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


def randomization_inference(sample: pd.DataFrame, outcome: str, n_perm: int = 10_000,
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
    n_perm
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
    codes = np.unique(sample["district_code"].to_numpy())
    unit_cohort = sample.groupby("district_code")["cohort"].first().astype("Float64").reindex(codes) \
        .to_numpy(dtype=float, na_value=np.nan)
    cohorts = sorted({float(c) for c in unit_cohort[np.isfinite(unit_cohort)]})
    labels = np.zeros(len(codes), dtype=np.int64)
    for k, g in enumerate(cohorts):
        labels[unit_cohort == g] = k + 1
    pool = np.ones(len(codes), dtype=bool) if eligible is None else np.isin(codes, list(eligible))
    pool |= labels > 0
    idx = np.flatnonzero(pool)
    perms = np.tile(labels, (n_perm + 1, 1))
    perms[1:, idx] = rng.permuted(np.tile(labels[idx], (n_perm, 1)), axis=1)
    betas = permutation_coefficients(sample, outcome, perms, cohorts, covariates, time_varying)
    observed, draws = float(betas[0]), betas[1:]
    # A small tolerance so that permutations equal to the observed assignment count as "as extreme".
    extreme = np.abs(draws) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    p = float((1 + extreme.sum()) / (1 + n_perm))
    result = RandomizationResult(observed, p, draws, int(pool.sum()), int((labels > 0).sum()),
                                 float(Z_MDE * np.std(draws, ddof=1)))
    if studentized:
        ts = permutation_t_statistics(sample, outcome, perms, cohorts, covariates, time_varying)
        t_obs, t_draws = float(ts[0]), ts[1:]
        extreme_t = np.abs(t_draws) >= abs(t_obs) - 1e-12 * max(1.0, abs(t_obs))
        result.t_stat, result.t_draws = t_obs, t_draws
        result.p_value_t = float((1 + extreme_t.sum()) / (1 + n_perm))
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
        return rng.choice(np.array([-1.0, 1.0]), size=(n_clusters, n_boot)), False
    if kind == "webb":
        # Webb (2023) six-point distribution: mean 0, variance 1, more distinct draws with few clusters.
        points = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
        return rng.choice(points, size=(n_clusters, n_boot)), False
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
    proj, _ = _projector(sample, covariates, time_varying)
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
    proj, _ = _projector(sample, covariates, time_varying)
    cl = proj.units
    n_cl = proj.n_units
    n = len(sample)
    x = proj.residualize(sample["post"].to_numpy(dtype=float))
    y = proj.residualize(sample[outcome].to_numpy(dtype=float))
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
    v, enumerated = _bootstrap_weights(weights, n_cl, n_boot, rng)
    db = (b_h @ v) / xx
    s = c @ v - xx_g[:, None] * db[None, :]
    se_b = np.sqrt(scale * np.einsum("gb,gb->b", s, s)) / xx
    with np.errstate(invalid="ignore", divide="ignore"):
        t_b = db / se_b
    p = float(np.mean(np.abs(t_b) >= abs(t_obs) - 1e-12))
    return BootstrapResult(beta, float(t_obs), p, t_b, weights, enumerated, null)


# --- placebos ---------------------------------------------------------------------------------------------

def placebo_years(sample: pd.DataFrame, outcome: str, shifts: Sequence[int] = (1, 2),
                  covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Fake designation years inside the pre-period: the static TWFE estimate should be near zero.

    For each shift ``s``, only years before each district's real cohort are kept (all years before the
    earliest cohort for controls) and every cohort is moved ``s`` years earlier.

    Returns
    -------
    pandas.DataFrame
        ``shift, fake_years, estimate, se, p_value, mde, n_years``; a shift without at least one year on
        each side of the fake date has missing values.
    """
    first = int(sample["cohort"].dropna().min()) if sample["cohort"].notna().any() else None
    rows = []
    for s in shifts:
        base = {"shift": int(s), "fake_years": "", "estimate": np.nan, "se": np.nan, "p_value": np.nan,
                "mde": np.nan, "n_years": 0}
        if first is None:
            rows.append(base)
            continue
        cohort = _cohort_array(sample)
        limit = np.where(np.isnan(cohort), first, cohort)
        pre = sample.loc[sample["year"].to_numpy() < limit].copy()
        pre["cohort"] = (pre["cohort"].astype("Float64") - s).astype("Int64")
        pre = prepare_sample(pre.drop(columns=["treated", "post", "event_time"]))
        fake = sorted(pre["cohort"].dropna().unique().tolist())
        ok = pre.loc[pre["treated"] == 1]
        if ok.empty or not ((ok["post"] == 1).any() and (ok["post"] == 0).any()):
            rows.append({**base, "fake_years": ", ".join(str(int(f)) for f in fake)})
            continue
        # Cohorts left with only fake-post or only fake-pre years identify nothing; drop them.
        keep_cohorts = [g for g in fake if ((pre["cohort"] == g) & (pre["post"] == 1)).any()
                        and ((pre["cohort"] == g) & (pre["post"] == 0)).any()]
        pre = pre.loc[pre["cohort"].isna() | pre["cohort"].isin(keep_cohorts)]
        did = twfe_did(pre, outcome, covariates)
        rows.append({"shift": int(s), "fake_years": ", ".join(str(int(f)) for f in keep_cohorts),
                     "estimate": did.estimate, "se": did.se, "p_value": did.p_value, "mde": did.mde,
                     "n_years": int(pre["year"].nunique())})
    return pd.DataFrame(rows)


# --- dose-response ----------------------------------------------------------------------------------------

def alliance_dose(panel: pd.DataFrame, years: int = 4, lag: int = 0, first_year: int = 2012,
                  last_year: int | None = None) -> pd.Series:
    """Average Alliance dollars per pupil, in thousands, over the ``years`` years ending ``lag`` years
    before each year (``lag=0``: this year and the three before it, for ``years=4``).

    Before FY2012 the program did not exist, so the dose is 0 there; within the ECS years a missing value
    (e.g. after the last year with enrollment) leaves the dose missing.

    Returns
    -------
    pandas.Series
        ``alliance_k_per_pupil`` aligned with ``panel``.
    """
    wide = panel.pivot_table(index="district_code", columns="year", values="alliance_dollars_per_pupil",
                             aggfunc="first", dropna=False)
    all_years = list(range(int(panel["year"].min()) - years - lag, int(panel["year"].max()) + 1))
    wide = wide.reindex(columns=all_years)
    early = [y for y in all_years if y < first_year]
    wide[early] = wide[early].fillna(0.0)
    if last_year is not None:
        late = [y for y in all_years if y > last_year]
        wide[late] = np.nan
    rolled = wide.T.rolling(years, min_periods=years).mean().shift(lag).T / 1000.0
    long = rolled.stack(future_stack=True).rename("alliance_k_per_pupil")
    keys = pd.MultiIndex.from_arrays([panel["district_code"], panel["year"]])
    return pd.Series(long.reindex(keys).to_numpy(), index=panel.index, name="alliance_k_per_pupil")


@dataclass
class DoseResponse:
    """Effect per $1,000 of Alliance money per pupil (continuous treatment, district and year effects).

    Attributes
    ----------
    outcome
        Outcome column.
    estimate, se, p_value, ci_low, ci_high, mde
        Per $1,000 per pupil (averaged over ``years`` years), in the outcome's units.
    sd_factor
        Multiplier to student-level standard deviations (``SD_PER_GRADE_LEVEL`` for SEDA), or NaN.
    estimate_sd, ci_low_sd, ci_high_sd, mde_sd
        The same in standard deviations, where ``sd_factor`` is known.
    benchmark
        Jackson-Mackevicius effect per $1,000 over four years (SD).
    mean_dose
        Mean dose of treated district-years with a positive dose ($1,000s).
    n_obs, n_clusters
        Observations and districts.
    """

    outcome: str
    estimate: float
    se: float
    p_value: float
    ci_low: float
    ci_high: float
    mde: float
    sd_factor: float
    estimate_sd: float
    ci_low_sd: float
    ci_high_sd: float
    mde_sd: float
    benchmark: float
    mean_dose: float
    n_obs: int
    n_clusters: int


def dose_response(panel: pd.DataFrame, outcome: str, design: Design, years: int = 4, lag: int = 0,
                  sd_factor: float | None = None, start_year: int | None = None,
                  end_year: int | None = None, alpha: float = 0.05) -> DoseResponse:
    """Effect of Alliance dollars per pupil: ``y = a_i + g_t + b * dose + u`` (PanelOLS, clustered).

    ``dose`` is :func:`alliance_dose` (thousands of dollars per pupil, averaged over ``years`` years) so
    ``b`` is comparable with Jackson and Mackevicius's $1,000 per pupil sustained for four years. Dollars
    are nominal (the benchmark is in 2018 dollars; prices rose about 10% from 2013 to 2018 and 15% from 2018
    to 2022). Identification comes from differences in dollars per pupil across districts and over time,
    which follow the ECS formula's need measures, so the estimate inherits the caveats of the designation
    design.

    Parameters
    ----------
    panel
        District-year panel.
    outcome
        Outcome column.
    design
        Treated cohorts and comparison group (:class:`Design`).
    years, lag
        Averaging window and lag of the dose.
    sd_factor
        Student-level SD per outcome unit (:data:`SD_PER_GRADE_LEVEL` for SEDA by default; NaN otherwise).
    start_year, end_year
        Inclusive year range.
    alpha
        For the confidence interval.
    """
    frame = add_analysis_columns(panel)
    frame = frame.assign(alliance_k_per_pupil=alliance_dose(frame, years, lag))
    sample = build_sample(frame, outcome, design, start_year, end_year)
    covs = sample.attrs.get("covariates", [])
    sample = sample.merge(frame[["district_code", "year", "alliance_k_per_pupil"]],
                          on=["district_code", "year"], how="left")
    # Never-designated districts receive no Alliance money; their dose is 0 even where it is missing.
    sample.loc[sample["treated"] == 0, "alliance_k_per_pupil"] = 0.0
    sample = sample.loc[sample["alliance_k_per_pupil"].notna()].reset_index(drop=True)
    regressors = pd.concat([sample[["alliance_k_per_pupil"]],
                            _covariate_design(sample, covs, ())], axis=1)
    res = _fit_panelols(sample, outcome, regressors)
    g = sample["district_code"].nunique()
    b, se = float(res.params["alliance_k_per_pupil"]), float(res.std_errors["alliance_k_per_pupil"])
    q = stats.t.ppf(1 - alpha / 2, g - 1)
    if sd_factor is None:
        sd_factor = SD_PER_GRADE_LEVEL if outcome.startswith("seda_") else float("nan")
    dose = sample.loc[(sample["treated"] == 1) & (sample["alliance_k_per_pupil"] > 0), "alliance_k_per_pupil"]
    m = mde(se, df=g - 1)
    return DoseResponse(outcome, b, se, _t_p(b, se, g - 1), b - q * se, b + q * se, m, sd_factor,
                        b * sd_factor, (b - q * se) * sd_factor, (b + q * se) * sd_factor, m * sd_factor,
                        JACKSON_MACKEVICIUS_SD_PER_1000, float(dose.mean()) if len(dose) else float("nan"),
                        int(res.nobs), g)


def benchmark_effect(panel: pd.DataFrame, design: Design, post_years: tuple[int, int],
                     years: int = 4) -> float:
    """The effect the Jackson-Mackevicius benchmark implies for the designated districts (in SD).

    The treated districts' mean dose (:func:`alliance_dose`, $1,000s per pupil over ``years`` years) in
    ``post_years`` times :data:`JACKSON_MACKEVICIUS_SD_PER_1000`: what a spending effect of the usual size
    would add to their test scores, to set beside each design's minimum detectable effect.
    """
    frame = panel.assign(alliance_k_per_pupil=alliance_dose(panel, years))
    rows = groups.alliance_mask(frame, design.cohorts) & frame["year"].between(*post_years)
    return float(frame.loc[rows, "alliance_k_per_pupil"].mean() * JACKSON_MACKEVICIUS_SD_PER_1000)


# --- putting a design together ----------------------------------------------------------------------------

@dataclass
class DesignResult:
    """Everything estimated for one outcome and design."""

    design: Design
    outcome: str
    sample: pd.DataFrame
    did: DidEstimate
    twfe: EventStudy
    cs: EventStudy
    sa: EventStudy | None
    ri: RandomizationResult
    ri_low: RandomizationResult | None
    wcb: BootstrapResult
    pretrend: dict[str, float]
    pretrend_cs: dict[str, float]
    sensitivity: Sensitivity

    def summary(self) -> dict[str, Any]:
        """One row of the estimates table."""
        cs_post = self.cs.post_average()
        tw_post = self.twfe.post_average()
        years = sorted(self.sample["year"].unique().tolist())
        return {
            "design": self.design.name, "outcome": self.outcome,
            "n_treated": self.did.n_treated, "n_control": self.did.n_clusters - self.did.n_treated,
            "years": year_span(years), "n_obs": self.did.n_obs,
            "estimate": self.did.estimate, "se": self.did.se, "ci_low": self.did.ci_low,
            "ci_high": self.did.ci_high, "p_cluster": self.did.p_value, "p_wild": self.wcb.p_value,
            "p_ri": self.ri.p_value, "p_ri_t": self.ri.p_value_t,
            "p_ri_low": self.ri_low.p_value if self.ri_low else float("nan"),
            "p_ri_low_t": self.ri_low.p_value_t if self.ri_low else float("nan"),
            "n_ri_low_pool": self.ri_low.n_eligible if self.ri_low else 0,
            "mde": self.did.mde, "mde_ri": self.ri.mde,
            "twfe_es_post": tw_post["estimate"], "twfe_es_post_se": tw_post["se"],
            "cs_post": cs_post["estimate"], "cs_post_se": cs_post["se"], "cs_p": cs_post["p_value"],
            "cs_mde": cs_post["mde"], "pretrend_p": self.pretrend["p_value"],
            "pretrend_p_cs": self.pretrend_cs["p_value"], "n_pre": self.pretrend["df1"],
            "rm_breakdown": self.sensitivity.breakdown, "n_ri_pool": self.ri.n_eligible,
        }


def analyze(panel: pd.DataFrame, outcome: str, design: Design, n_perm: int = 10_000, n_boot: int = 9_999,
            weights: str = "webb", seed: int = 0, start_year: int | None = None, end_year: int | None = None,
            exclude_years: Sequence[int] = (), sun_abraham_too: bool | None = None,
            mbar: Sequence[float] = (0, 0.25, 0.5, 0.75, 1, 1.5, 2), min_treated_pre: int = 5
            ) -> DesignResult:
    """Run every estimator and test of this module on one outcome and design.

    Parameters
    ----------
    panel
        District-year panel.
    outcome
        Outcome column.
    design
        Treated cohorts, comparison group, covariates and the randomization pool (:class:`Design`).
    n_perm, n_boot
        Permutations (randomization inference) and bootstrap draws.
    weights
        Wild bootstrap weights.
    seed
        Seed for the permutations and the bootstrap.
    start_year, end_year, exclude_years
        Years used.
    sun_abraham_too
        Also fit :func:`sun_abraham` (None: only with more than one cohort; with one cohort and never-treated
        controls it coincides with Callaway-Sant'Anna up to the unbalanced rows).
    mbar
        Grid of the relative-magnitudes sensitivity.
    min_treated_pre
        Pre-period estimates on fewer treated districts are left out of the pre-trend test and the
        sensitivity (they matter only for the 2018 and 2023 cohorts, three districts each).
    """
    sample = build_sample(panel, outcome, design, start_year, end_year, exclude_years)
    covs = sample.attrs["covariates"]
    rng = np.random.default_rng(seed)
    twfe = twfe_event_study(sample, outcome, covs)
    cs = callaway_santanna(sample, outcome, covs)
    if sun_abraham_too is None:
        sun_abraham_too = sample["cohort"].nunique() > 1
    sa = sun_abraham(sample, outcome, covs) if sun_abraham_too else None
    did = twfe_did(sample, outcome, covs)
    ri = randomization_inference(sample, outcome, n_perm, None, covs, seed=rng, studentized=True)
    ri_low = None
    if design.ri_lowest_k:
        eligible = lowest_baseline_codes(sample, design.ri_lowest_k)
        ri_low = randomization_inference(sample, outcome, n_perm, eligible, covs, seed=rng, studentized=True)
    wcb = wild_cluster_bootstrap(sample, outcome, n_boot, weights, covs, seed=rng)
    return DesignResult(design, outcome, sample, did, twfe, cs, sa, ri, ri_low, wcb,
                        pretrend_test(twfe, min_treated_pre), pretrend_test(cs, min_treated_pre),
                        relative_magnitudes(twfe, mbar, min_treated=min_treated_pre))


def results_table(results: Sequence[DesignResult]) -> pd.DataFrame:
    """The estimates table: one row per outcome and design (see :meth:`DesignResult.summary`)."""
    return pd.DataFrame([r.summary() for r in results])


def placebo_outcomes(panel: pd.DataFrame, design: Design, outcomes: Sequence[str] = tuple(PLACEBO_OUTCOMES),
                     n_perm: int = 2_000, seed: int = 0, start_year: int | None = None,
                     end_year: int | None = None) -> pd.DataFrame:
    """Static TWFE estimates for outcomes the program should not move, with RI p-values and MDEs.

    Run without covariates (the placebo outcomes are the covariates).

    Returns
    -------
    pandas.DataFrame
        ``outcome, estimate, se, p_cluster, p_ri, mde, n_treated, n_control``.
    """
    plain = Design(design.name, design.cohorts, design.comparison, design.near_miss_n, (),
                   design.baseline_measure, design.baseline_years, design.ri_lowest_k, design.label)
    rows = []
    for k, outcome in enumerate(outcomes):
        sample = build_sample(panel, outcome, plain, start_year, end_year)
        did = twfe_did(sample, outcome)
        ri = randomization_inference(sample, outcome, n_perm, seed=seed + k)
        rows.append({"outcome": outcome, "estimate": did.estimate, "se": did.se, "p_cluster": did.p_value,
                     "p_ri": ri.p_value, "mde": did.mde, "n_treated": did.n_treated,
                     "n_control": did.n_clusters - did.n_treated})
    return pd.DataFrame(rows)


# --- tables for the chapter ---------------------------------------------------------------------------------

def standard_designs(near_miss_n: int = 30, covariates: Sequence[str] = COVARIATES,
                     ri_lowest_k: int | None = 60, baseline_measure: str = "seda_gcs_eb",
                     baseline_years: tuple[int, int] = (2009, 2012)) -> dict[str, Design]:
    """The chapter's four designs, keyed by name.

    - ``main``: the 2013 cohort against never-designated town districts (randomization inference also
      within the 2013 cohort plus the ``ri_lowest_k`` lowest-baseline districts);
    - ``near_miss``: the 2013 cohort against the ``near_miss_n`` lowest-performing never-designated town
      and regional districts at baseline;
    - ``covariates``: the 2013 cohort against never-designated town and regional districts, with baseline
      poverty, English-learner share and log enrollment (x year effects);
    - ``staggered``: all cohorts (2013, 2018, 2023) against never-designated town districts.
    """
    common = {"baseline_measure": baseline_measure, "baseline_years": tuple(baseline_years)}
    return {
        "main": Design("main", (2013,), "never_town", near_miss_n, (), ri_lowest_k=ri_lowest_k,
                       label="2013 cohort vs. never-designated town districts", **common),
        "near_miss": Design("near_miss", (2013,), "near_miss", near_miss_n, (),
                            label=f"2013 cohort vs. the {near_miss_n} lowest never-designated districts",
                            **common),
        "covariates": Design("covariates", (2013,), "never_town_regional", near_miss_n, tuple(covariates),
                             label="2013 cohort vs. never-designated town and regional districts, "
                                   "baseline covariates x year", **common),
        "staggered": Design("staggered", (2013, 2018, 2023), "never_town", near_miss_n, (),
                            label="2013, 2018 and 2023 cohorts vs. never-designated town districts",
                            **common),
    }


def design_table(designs: Mapping[str, Design]) -> pd.DataFrame:
    """One row per design: name, treated cohorts, comparison group, covariates, randomization pools."""
    rows = []
    for d in designs.values():
        comparison = COMPARISON_GROUPS[d.comparison]
        if d.comparison == "near_miss":
            comparison = f"the {d.near_miss_n} " + comparison[4:]
        pools = "all districts of the sample"
        if d.ri_lowest_k:
            pools += f"; treated + the {d.ri_lowest_k} lowest at baseline"
        rows.append({"design": d.name, "treated cohorts": ", ".join(str(c) for c in d.cohorts),
                     "comparison": comparison,
                     "covariates (baseline means x year)": ", ".join(d.covariates) or "none",
                     "randomization pool": pools})
    return pd.DataFrame(rows)


def years_table(results: Sequence[DesignResult]) -> pd.DataFrame:
    """For each outcome of the results: years with data before and after designation and the reference year.

    Years are those of the first treated cohort (2013 in the chapter's designs).
    """
    rows = []
    for r in results:
        s = r.sample
        first = int(s["cohort"].dropna().min())
        years = sorted(s["year"].unique().tolist())
        rows.append({"outcome": r.outcome,
                     "pre-period years": year_span([y for y in years if y < first]),
                     "post-period years": year_span([y for y in years if y >= first]),
                     "reference year": first + r.twfe.reference,
                     "pre-period estimates": len(r.twfe.pre_events())})
    return pd.DataFrame(rows)


def _fmt(value: float, digits: int) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def _fmt_p(value: float) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def outcome_digits(outcome: str) -> int:
    """Decimals to show for an outcome's effects (3 for scores, 2 for percentage points and logs)."""
    return 3 if outcome in ("seda_gcs_eb", "achievement_index") else 2


def estimates_display(table: pd.DataFrame) -> pd.DataFrame:
    """The estimates table (:func:`results_table`) formatted for the book: MDE beside every estimate."""
    rows = []
    for _, r in table.iterrows():
        d = outcome_digits(r["outcome"])
        rows.append({
            "design": r["design"], "outcome": OUTCOME_SHORT.get(r["outcome"], r["outcome"]),
            "treated / control": f"{int(r['n_treated'])} / {int(r['n_control'])}",
            "estimate (TWFE)": _fmt(r["estimate"], d), "SE": _fmt(r["se"], d),
            "MDE": _fmt(r["mde"], d),
            "p cluster": _fmt_p(r["p_cluster"]), "p wild": _fmt_p(r["p_wild"]), "p RI": _fmt_p(r["p_ri"]),
            "p RI-t": _fmt_p(r["p_ri_t"]),
            "CS estimate": _fmt(r["cs_post"], d), "CS SE": _fmt(r["cs_post_se"], d),
            "pre-trend p": _fmt_p(r["pretrend_p"]),
        })
    return pd.DataFrame(rows)


def sensitivity_table(results: Sequence[DesignResult], mbar: float = 1.0) -> pd.DataFrame:
    """Pre-trend tests and the relative-magnitudes sensitivity, one row per result.

    Columns: pre-period estimates used, joint pre-trend p-value (TWFE and Callaway-Sant'Anna), largest
    pre-period change per year, post-period average (equal weights over event times), the robust interval
    at ``mbar`` and the breakdown value.
    """
    rows = []
    for r in results:
        sens = r.sensitivity
        d = outcome_digits(r.outcome)
        at = sens.table.loc[np.isclose(sens.table["mbar"], mbar)]
        lo = float(at["lower"].iloc[0]) if len(at) else float("nan")
        hi = float(at["upper"].iloc[0]) if len(at) else float("nan")
        rows.append({
            "design": r.design.name, "outcome": OUTCOME_SHORT.get(r.outcome, r.outcome),
            "pre-period estimates": int(r.pretrend["df1"]),
            "pre-trend p (TWFE)": _fmt_p(r.pretrend["p_value"]),
            "pre-trend p (CS)": _fmt_p(r.pretrend_cs["p_value"]),
            "largest pre change per year": _fmt(sens.max_pre_violation, d),
            "post average": _fmt(sens.estimate, d),
            f"robust CI, M = {mbar:g}": "" if not np.isfinite(lo) else f"[{lo:,.{d}f}, {hi:,.{d}f}]",
            "breakdown M": ("no pre-period variation" if sens.breakdown == float("inf")
                            else _fmt(sens.breakdown, 2)),
        })
    return pd.DataFrame(rows)


def dose_table(doses: Sequence[DoseResponse]) -> pd.DataFrame:
    """Dose-response estimates per $1,000 per pupil with MDEs and, where convertible, in SD units beside
    the Jackson-Mackevicius benchmark."""
    rows = []
    for r in doses:
        d = outcome_digits(r.outcome)
        rows.append({
            "outcome": OUTCOME_SHORT.get(r.outcome, r.outcome),
            "effect per $1,000": _fmt(r.estimate, d), "SE": _fmt(r.se, d), "p": _fmt_p(r.p_value),
            "MDE": _fmt(r.mde, d),
            "effect in SD": _fmt(r.estimate_sd, 3),
            "95% CI in SD": ("" if not np.isfinite(r.estimate_sd)
                             else f"[{r.ci_low_sd:.3f}, {r.ci_high_sd:.3f}]"),
            "MDE in SD": _fmt(r.mde_sd, 3),
            "benchmark (SD)": _fmt(r.benchmark, 4) if np.isfinite(r.estimate_sd) else "",
            "districts": r.n_clusters,
        })
    return pd.DataFrame(rows)


def prose_values(row: Mapping[str, Any]) -> dict[str, str]:
    """Formatted numbers of one estimates-table row (:func:`results_table`) for glue in prose.

    Keys: ``estimate``, ``abs_estimate``, ``se``, ``ci``, ``mde``, ``mde_ri``, ``p_cluster``, ``p_wild``,
    ``p_ri``, ``p_ri_t``, ``p_ri_low``, ``cs_post``, ``cs_post_se``, ``pretrend_p``, ``breakdown``,
    ``n_treated``, ``n_control``, ``verdict`` (from the cluster-robust p-value), ``direction``
    ("higher"/"lower"), ``pretrend_verdict`` and ``mde_ratio`` (MDE / |estimate|).
    """
    d = outcome_digits(str(row["outcome"]))
    est = float(row["estimate"])
    breakdown = float(row["rm_breakdown"])
    return {
        "estimate": _fmt(est, d), "abs_estimate": _fmt(abs(est), d), "se": _fmt(row["se"], d),
        "ci": f"{_fmt(row['ci_low'], d)} to {_fmt(row['ci_high'], d)}",
        "mde": _fmt(row["mde"], d), "mde_ri": _fmt(row["mde_ri"], d),
        "p_cluster": format_p(row["p_cluster"]), "p_wild": format_p(row["p_wild"]),
        "p_ri": format_p(row["p_ri"]), "p_ri_t": format_p(row["p_ri_t"]),
        "p_ri_low": format_p(row.get("p_ri_low", float("nan"))) or "not computed",
        "cs_post": _fmt(row["cs_post"], d), "cs_post_se": _fmt(row["cs_post_se"], d),
        "pretrend_p": format_p(row["pretrend_p"]) or "not testable",
        "breakdown": ("not applicable" if not np.isfinite(breakdown) else _fmt(breakdown, 2)),
        "n_treated": str(int(row["n_treated"])), "n_control": str(int(row["n_control"])),
        "verdict": verdict(row["p_cluster"]), "direction": "higher" if est >= 0 else "lower",
        "pretrend_verdict": pretrend_verdict(row["pretrend_p"]),
        "mde_ratio": _fmt(float(row["mde"]) / abs(est), 1) if est else "",
    }


def pretrend_verdict(p_value: float, alpha: float = 0.05) -> str:
    """Words for a joint pre-trend test in prose."""
    if p_value is None or not np.isfinite(p_value):
        return "cannot be tested (the reference year is the only pre-period year)"
    if p_value < alpha:
        return ("jointly distinguishable from zero, a warning that the groups were not on parallel paths "
                "before designation")
    return "jointly not distinguishable from zero"


def robustness_text(rows: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str], base: str = "main"
                    ) -> str:
    """How an outcome's estimate changes across designs, in words (for prose that must follow the data).

    Parameters
    ----------
    rows
        Design name -> estimates-table row (:func:`results_table`) of one outcome.
    labels
        Design name -> short description ("against the near-miss group").
    base
        The design the others are compared with.

    Returns
    -------
    str
        e.g. ``"shrinks to 3.31 against the near-miss group; changes sign (-1.55) with baseline covariates"``.
    """
    b = float(rows[base]["estimate"])
    se = float(rows[base].get("se", float("nan")))
    # "Similar" within a quarter of the estimate or half its standard error, whichever is larger, so that
    # small, noisy estimates are not said to "grow" or "shrink" by amounts well inside their error.
    tolerance = max(0.25 * abs(b), 0.5 * se if np.isfinite(se) else 0.0)
    parts = []
    for name, label in labels.items():
        if name not in rows:
            continue
        o = float(rows[name]["estimate"])
        text = _fmt(o, outcome_digits(str(rows[name]["outcome"])))
        if not np.isfinite(o):
            parts.append(f"cannot be estimated {label}")
        elif abs(o - b) <= tolerance:
            parts.append(f"is similar ({text}) {label}")
        elif np.sign(o) != np.sign(b):
            parts.append(f"changes sign ({text}) {label}")
        elif abs(o) < abs(b):
            parts.append(f"shrinks to {text} {label}")
        else:
            parts.append(f"grows to {text} {label}")
    return "; ".join(parts)


def breakdown_text(breakdown: float) -> str:
    """The relative-magnitudes breakdown value in words."""
    if breakdown is None or math.isnan(breakdown):
        return "the sensitivity to diverging trends cannot be assessed (no pre-period estimate to scale by)"
    if breakdown == 0:
        return "the estimate does not exclude zero even if trends were exactly parallel"
    if not np.isfinite(breakdown):
        return "the pre-period estimates show no drift to scale by"
    if breakdown < 1:
        return (f"a post-designation drift {breakdown:.2f} times the largest drift seen before designation "
                "would explain it")
    return f"it survives post-designation drifts up to {breakdown:.2f} times the largest pre-period drift"


def evidence_judgement(rows: Mapping[str, Mapping[str, Any]], base: str = "main", alpha: float = 0.05) -> str:
    """A one-sentence judgement of an outcome's evidence across designs, following fixed rules.

    Not distinguishable from zero in the base design: "no detectable effect". Otherwise fragile if the sign
    changes in any other design, the breakdown value is below 1, or the pre-trend test rejects; robust if
    none of these.
    """
    r = rows[base]
    if not np.isfinite(r["p_cluster"]) or r["p_cluster"] >= alpha:
        return "The data show no detectable effect, which with this design is not evidence of no effect."
    b = float(r["estimate"])
    sign_change = any(np.sign(float(o["estimate"])) != np.sign(b) for k, o in rows.items() if k != base)
    fragile = sign_change or (np.isfinite(r["rm_breakdown"]) and r["rm_breakdown"] < 1) or (
        np.isfinite(r["pretrend_p"]) and r["pretrend_p"] < alpha)
    if fragile:
        return "Taken together, these checks do not support reading the estimate as an effect of the program."
    return ("The estimate holds up against these checks, although designation was not random and they cannot "
            "rule out every alternative.")


def format_p(value: float) -> str:
    """A p-value as text: three decimals, ``<0.001`` below that, empty when missing."""
    return _fmt_p(value)


def verdict(p_value: float, alpha: float = 0.05) -> str:
    """Words for a p-value in prose: distinguishable from zero at ``alpha`` or not (or not estimable)."""
    if p_value is None or not np.isfinite(p_value):
        return "not estimable"
    pct = f"{100 * alpha:g}%"
    return (f"distinguishable from zero at the {pct} level" if p_value < alpha
            else f"not distinguishable from zero at the {pct} level")


# --- figures ------------------------------------------------------------------------------------------------

#: Colours and offsets of the estimators in event-study figures.
ESTIMATOR_STYLE: dict[str, tuple[str, float, str]] = {
    "twfe": ("#636363", -0.15, "TWFE (PanelOLS)"),
    "callaway_santanna": ("#b2182b", 0.0, "Callaway-Sant'Anna"),
    "sun_abraham": ("#2166ac", 0.15, "Sun-Abraham"),
}


def plot_event_studies(ax, studies: Sequence[EventStudy], title: str | None = None,
                       cohort_year: int | None = None) -> None:
    """Event-time estimates with 95% intervals, one colour per estimator, side by side on ``ax``.

    ``cohort_year`` (e.g. 2013) adds a secondary x-axis label of calendar years for a single cohort.
    """
    for s in studies:
        color, offset, label = ESTIMATOR_STYLE.get(s.estimator, ("#999999", 0.0, s.estimator))
        t = s.table
        ax.errorbar(t["event_time"] + offset, t["estimate"],
                    yerr=[t["estimate"] - t["ci_low"], t["ci_high"] - t["estimate"]],
                    fmt="o", color=color, markersize=3.5, capsize=2, linewidth=1, label=label)
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.axvline(-0.5, color="#777777", linestyle="--", linewidth=0.8)
    ax.set_xlabel("years since designation" + (f" (0 = {cohort_year})" if cohort_year else ""))
    if title:
        ax.set_title(title, fontsize=10)


def plot_event_grid(results: Sequence[DesignResult], ncols: int = 2, estimators: Sequence[str] = (
        "twfe", "callaway_santanna", "sun_abraham"), min_treated: int = 1, panel_height: float = 2.9):
    """Small multiples: one event-study panel per result (outcome), estimators side by side.

    Event times resting on fewer than ``min_treated`` treated districts are not drawn (late cohorts' long
    leads). Returns the figure (not shown).
    """
    import matplotlib.pyplot as plt

    nrows = max(1, -(-len(results) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, panel_height * nrows + 0.6), squeeze=False)
    for ax, r in zip(axes.flat, results, strict=False):
        studies = [st for st in (r.twfe, r.cs, r.sa) if st is not None and st.estimator in estimators]
        trimmed = []
        for st in studies:
            keep = st.table["n_treated"] >= min_treated
            trimmed.append(EventStudy(st.estimator, st.outcome, st.table.loc[keep], st.vcov, st.reference,
                                      st.n_clusters, st.n_treated_clusters, st.df))
        first = int(r.sample["cohort"].dropna().min())
        plot_event_studies(ax, trimmed, title=OUTCOME_SHORT.get(r.outcome, r.outcome),
                           cohort_year=first if r.sample["cohort"].nunique() == 1 else None)
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
                   bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.05 if handles else 0, 1, 1))
    return fig

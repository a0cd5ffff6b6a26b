"""Dose-response: the effect of Alliance dollars per pupil, beside the Jackson-Mackevicius benchmark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from alliance_study.analysis import groups
from alliance_study.analysis.impact.designs import Design, add_analysis_columns
from alliance_study.analysis.impact.regression import covariate_design, fit_panelols
from alliance_study.analysis.impact.results import mde, t_pvalue
from alliance_study.analysis.impact.sample import build_sample

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
                            covariate_design(sample, covs, ())], axis=1)
    res = fit_panelols(sample, outcome, regressors)
    g = sample["district_code"].nunique()
    b, se = float(res.params["alliance_k_per_pupil"]), float(res.std_errors["alliance_k_per_pupil"])
    q = stats.t.ppf(1 - alpha / 2, g - 1)
    if sd_factor is None:
        sd_factor = SD_PER_GRADE_LEVEL if outcome.startswith("seda_") else float("nan")
    dose = sample.loc[(sample["treated"] == 1) & (sample["alliance_k_per_pupil"] > 0), "alliance_k_per_pupil"]
    m = mde(se, df=g - 1)
    return DoseResponse(outcome, b, se, t_pvalue(b, se, g - 1), b - q * se, b + q * se, m, sd_factor,
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

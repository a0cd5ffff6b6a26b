"""Designs of the impact evaluation: outcomes, comparison groups, baseline covariates, the chapter's designs.

A :class:`Design` says which cohorts are treated, against which never-designated districts, with which
baseline covariates, and how the randomization pool is drawn. :func:`standard_designs` is the chapter's set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis import groups

#: Outcomes of the evaluation and their units (effects are differences in these units).

OUTCOMES: dict[str, str] = {
    "seda_gcs_eb": "SEDA achievement, grades 3-8 (grade levels)",
    "achievement_index": "Achievement index (within-year z-score over districts)",
    "grad_rate": "Four-year graduation rate (percentage points)",
    "chronic_absent_rate": "Chronic absenteeism (percentage points)",
    "suspension_rate": "Suspension rate (percentage points)",
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
    "near_miss_dpi": "never-designated town districts ranked just above the cut-off on the rebuilt 2011 "
                     "District Performance Index",
}

#: z-quantile sum for 80% power at a two-sided 5% test: the "2.8 x SE" rule.


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
    near_miss_codes
        The districts of the ``near_miss_dpi`` comparison (:func:`alliance_study.analysis.impact.dpi.
        near_miss_by_dpi`); ignored by the other comparisons.
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
    near_miss_codes: tuple[str, ...] = ()


def standard_designs(near_miss_n: int = 30, covariates: Sequence[str] = COVARIATES,
                     ri_lowest_k: int | None = 60, baseline_measure: str = "seda_gcs_eb",
                     baseline_years: tuple[int, int] = (2009, 2012),
                     near_miss_codes: Sequence[str] = ()) -> dict[str, Design]:
    """The chapter's four designs, keyed by name.

    - ``main``: the 2013 cohort against never-designated town districts (randomization inference also
      within the 2013 cohort plus the ``ri_lowest_k`` lowest-baseline districts);
    - ``near_miss``: the 2013 cohort against ``near_miss_codes`` if given (the never-designated districts
      ranked just above the cut-off on the rebuilt 2011 DPI, :mod:`alliance_study.analysis.impact.dpi`),
      otherwise the ``near_miss_n`` lowest-performing never-designated town and regional districts on the
      baseline measure;
    - ``covariates``: the 2013 cohort against never-designated town and regional districts, with baseline
      poverty, English-learner share and log enrollment (x year effects);
    - ``staggered``: all cohorts (2013, 2018, 2023) against never-designated town districts.
    """
    common = {"baseline_measure": baseline_measure, "baseline_years": tuple(baseline_years)}
    return {
        "main": Design("main", (2013,), "never_town", near_miss_n, (), ri_lowest_k=ri_lowest_k,
                       label="2013 cohort vs. never-designated town districts", **common),
        "near_miss": near_miss_design(near_miss_n, tuple(near_miss_codes), **common),
        "covariates": Design("covariates", (2013,), "never_town_regional", near_miss_n, tuple(covariates),
                             label="2013 cohort vs. never-designated town and regional districts, "
                                   "baseline covariates x year", **common),
        "staggered": Design("staggered", (2013, 2018, 2023), "never_town", near_miss_n, (),
                            label="2013, 2018 and 2023 cohorts vs. never-designated town districts",
                            **common),
    }


def near_miss_design(near_miss_n: int = 30, near_miss_codes: Sequence[str] = (), name: str = "near_miss",
                     **options) -> Design:
    """The 2013 cohort against a near-miss group: the listed districts (``near_miss_dpi``) if any, otherwise
    the ``near_miss_n`` lowest never-designated districts on the baseline measure (``near_miss``)."""
    if near_miss_codes:
        codes = tuple(str(c) for c in near_miss_codes)
        return Design(name, (2013,), "near_miss_dpi", len(codes), (), near_miss_codes=codes,
                      label=f"2013 cohort vs. the {len(codes)} never-designated districts ranked just above "
                            "the cut-off on the 2011 DPI", **options)
    return Design(name, (2013,), "near_miss", near_miss_n, (),
                  label=f"2013 cohort vs. the {near_miss_n} lowest never-designated districts", **options)

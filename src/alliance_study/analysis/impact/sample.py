"""Estimation samples: a design's treated cohorts and comparison districts, one outcome, the years used.

A *sample* is a long frame with ``district_code, year, cohort`` (first treated year; missing for
never-treated districts), the outcome, ``treated`` (ever), ``post`` (treated and ``year >= cohort``),
``event_time`` (``year - cohort``) and baseline covariate columns.

Unbalanced panels: district-years without the outcome are dropped, never imputed. Every estimator works on
the unbalanced sample: TWFE and Sun-Abraham through the fixed-effects regression, Callaway-Sant'Anna by
comparing each district-year with the district's own base year (a district missing either year does not
enter that group-time comparison), and the fast inference through an exact projection for unbalanced
panels (:class:`~alliance_study.analysis.impact.inference.FixedEffectsProjector`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis import groups
from alliance_study.analysis.impact.designs import (
    BASELINE_SUFFIX,
    COMPARISON_GROUPS,
    Design,
    add_analysis_columns,
    baseline_values,
    near_miss_codes,
)


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
    elif design.comparison == "near_miss_dpi":
        # Listed districts, but never one designated in any cohort (a later cohort is no clean control).
        listed = frame["district_code"].isin(list(design.near_miss_codes))
        control_mask = listed & ~groups.alliance_mask(frame)
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
    sample = finish_sample(sample)
    sample.attrs.update({
        "outcome": outcome, "design": design.name, "covariates": cov_names, "dropped_cohorts": dropped,
        "n_dropped_for_covariates": n_dropped,
        "baseline": base[design.baseline_measure].reindex(sample["district_code"].unique()).to_dict(),
    })
    return sample


def finish_sample(sample: pd.DataFrame) -> pd.DataFrame:
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
    return finish_sample(out)


def integer_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and sorted unique values."""
    uniques, codes = np.unique(values.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), uniques


def cohort_array(sample: pd.DataFrame) -> np.ndarray:
    return sample["cohort"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def treated_counts(sample: pd.DataFrame) -> dict[int, int]:
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

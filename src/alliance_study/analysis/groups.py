"""Who is in which group: Alliance and comparison masks, districts, and scores standardized within year.

Every analysis module takes its group definitions from here, so "Alliance", "comparison" and "district"
mean the same rows in the trends, the ranking, the impact designs and the money chapter.
Pure functions on the district-year panel; no file I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: Entity types that make up "districts" for standardization and coverage.
DISTRICT_TYPES: tuple[str, ...] = ("town_district", "regional_district")

#: Named comparison groups and what each holds (every one excludes districts ever designated).
COMPARISONS: dict[str, str] = {
    "other_town_districts": "town (local) districts never designated an Alliance District",
    "non_alliance_town_and_regional": "town and regional districts never designated an Alliance District",
    "all_other_districts": "every other entity in the panel never designated (town and regional districts, "
                           "charters, RESCs, technical high schools, endowed academies, state agencies)",
}

#: Components of the achievement index by test regime: math and reading/ELA district means, grades 3-8
#: (CMT: grades 3 and 8 pooled, the grades in the school-level files; SBAC: grades 3-8 weighted by tests).
ACHIEVEMENT_COMPONENTS: dict[str, tuple[str, ...]] = {
    "CMT": ("cmt_math_scale", "cmt_reading_scale"),
    "SBAC": ("sbac_math_vss_g38", "sbac_ela_vss_g38"),
}


# --- groups -----------------------------------------------------------------------------------------------

def alliance_mask(panel: pd.DataFrame, cohorts: Sequence[int] | None = None) -> pd.Series:
    """Rows of districts ever designated an Alliance District (in every year, before and after).

    Parameters
    ----------
    panel
        District-year panel with ``alliance_cohort``.
    cohorts
        Keep only these cohorts (first designated fiscal year, e.g. ``[2013]``); all cohorts if None.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``panel``.
    """
    cohort = panel["alliance_cohort"]
    mask = cohort.notna()
    if cohorts is not None:
        mask &= cohort.isin(list(cohorts))
    return mask.fillna(False).astype(bool)


def comparison_mask(panel: pd.DataFrame, comparison: str) -> pd.Series:
    """Rows of a named comparison group (see :data:`COMPARISONS`); never includes a designated district.

    Parameters
    ----------
    panel
        District-year panel with ``entity_type`` and ``alliance_cohort``.
    comparison
        ``other_town_districts``, ``non_alliance_town_and_regional`` or ``all_other_districts``.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    never = ~alliance_mask(panel)
    if comparison == "other_town_districts":
        return never & panel["entity_type"].eq("town_district").fillna(False).astype(bool)
    if comparison == "non_alliance_town_and_regional":
        return never & panel["entity_type"].isin(DISTRICT_TYPES).fillna(False).astype(bool)
    if comparison == "all_other_districts":
        return never
    raise ValueError(f"unknown comparison group {comparison!r}; expected one of {sorted(COMPARISONS)}")


def normalize_district_code(code: str | int) -> str:
    """A district code as the panel spells it: a 7-digit string.

    Command-line tools (papermill's ``-p``) turn ``0640011`` into the integer 640011; this restores it.

    Raises
    ------
    ValueError
        If the code is not made of at most 7 digits.
    """
    text = str(code).strip()
    if not text.isdigit() or len(text) > 7:
        raise ValueError(f"not a district code: {code!r}")
    return text.zfill(7)


def district_mask(panel: pd.DataFrame) -> pd.Series:
    """Rows of town and regional districts (:data:`DISTRICT_TYPES`)."""
    return panel["entity_type"].isin(DISTRICT_TYPES).fillna(False).astype(bool)


# --- standardized scores ----------------------------------------------------------------------------------

def standardize_within_year(
    panel: pd.DataFrame,
    column: str,
    by: Sequence[str] | None = None,
    reference_mask: pd.Series | None = None,
) -> pd.Series:
    """z-scores of ``column`` within each year: mean 0 and SD 1 over the reference districts.

    Scores from different tests (CMT before 2014, SBAC from 2015) then share one axis: a district's
    position relative to the other districts that year. A change in a district's z-score is a change in
    its rank-like position, not in the test scale, so the test change itself is not counted as change.

    Parameters
    ----------
    panel
        District-year panel.
    column
        Column to standardize.
    by
        Extra grouping columns besides ``year`` (e.g. ``["grade"]`` for a long table).
    reference_mask
        Rows that define the mean and SD (town and regional districts by default). Every row, reference
        or not, is scored against that reference.

    Returns
    -------
    pandas.Series
        ``(x - mean) / sd`` with the unweighted mean and sample SD (``ddof=1``) of the reference rows of
        the same year; NaN where ``x`` is missing or the year has fewer than two reference values.
    """
    keys = ["year", *(by or [])]
    ref = reference_mask if reference_mask is not None else district_mask(panel)
    ref = ref.reindex(panel.index).fillna(False).astype(bool)
    values = panel[column].astype(float)
    ref_rows = panel.loc[ref, keys].assign(_x=values[ref])
    stats = ref_rows.groupby(keys)["_x"].agg(["mean", "std"])
    stats["std"] = stats["std"].where(stats["std"] > 0)
    joined = panel[keys].join(stats, on=keys)
    z = (values - joined["mean"]) / joined["std"]
    return z.rename(f"{column}_z")


def achievement_index(panel: pd.DataFrame, reference_mask: pd.Series | None = None,
                      components: Mapping[str, Sequence[str]] = ACHIEVEMENT_COMPONENTS) -> pd.Series:
    """One standardized achievement score per district and year, across the CMT -> SBAC change.

    Each component column (CMT math and reading scale scores; SBAC math and ELA mean vertical scale score,
    grades 3-8) is standardized within year (:func:`standardize_within_year`). A district-year's index is
    the mean of its available component z-scores (one is enough when the other is suppressed),
    standardized again within year, so it is itself a z-score: mean 0 and SD 1 over the reference
    districts every year with test data. Years without tests (2014, 2020 and every year outside the
    component files) are NaN.

    Parameters
    ----------
    panel
        District-year panel with the component columns (missing columns are skipped).
    reference_mask
        Reference rows (town and regional districts by default).
    components
        Test regime -> component columns.

    Returns
    -------
    pandas.Series
        ``achievement_index`` aligned with ``panel``.
    """
    zs = [standardize_within_year(panel, col, reference_mask=reference_mask)
          for cols in components.values() for col in cols if col in panel.columns]
    if not zs:
        return pd.Series(np.nan, index=panel.index, name="achievement_index")
    mean_z = pd.concat(zs, axis=1).mean(axis=1, skipna=True)
    frame = panel[["year", "entity_type"]].assign(_mean_z=mean_z)
    index = standardize_within_year(frame, "_mean_z", reference_mask=reference_mask)
    return index.rename("achievement_index")


def achievement_regime(panel: pd.DataFrame,
                       components: Mapping[str, Sequence[str]] = ACHIEVEMENT_COMPONENTS) -> pd.Series:
    """Which test an achievement value comes from (``CMT``, ``SBAC``, or missing), by row."""
    out = pd.Series(pd.NA, index=panel.index, dtype="string")
    for regime, cols in components.items():
        present = [c for c in cols if c in panel.columns]
        if present:
            out = out.mask(panel[present].notna().any(axis=1) & out.isna(), regime)
    return out

"""Descriptive summaries of the district-year panel: groups, trends, coverage, standardized scores.

Pure functions: DataFrames in, DataFrames (or Series) out, no file I/O and no prose. The chapter modules
(:mod:`alliance_study.chapters`) turn these summaries into what a page shows: labels, display tables, facts,
sentences and figures.

Vocabulary
----------
- *Districts* are town (local) and regional school districts (:data:`DISTRICT_TYPES`): the entities the
  Alliance statute can designate and the reference population for standardized scores and coverage.
- The *Alliance* group is fixed over time: every district ever designated (optionally only some cohorts),
  in every year, so a trend line follows the same districts before and after designation.
- A *comparison* group is named (:data:`COMPARISONS`); all of them exclude every district ever designated,
  including later cohorts, so no Alliance District is ever on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.groups import (
    DISTRICT_TYPES,
    alliance_mask,
    comparison_mask,
    normalize_district_code,
)

#: Group labels used in the long tables.
ALLIANCE, COMPARISON, STATE = "Alliance", "Comparison", "State"
DISTRICT, OTHER_ALLIANCE = "District", "Other Alliance districts"


#: Source family of each measure column, by name prefix (first match wins).
MEASURE_FAMILY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("sbac_", "sbac"), ("cmt_", "cmt_capt"), ("capt_", "cmt_capt"), ("seda_", "seda"),
    ("grad_", "graduation"), ("chronic_", "absenteeism"), ("suspension_", "suspensions"),
    ("enrollment", "enrollment"), ("frl_", "enrollment"), ("el_", "enrollment"), ("sped_", "enrollment"),
    ("share_", "enrollment"), ("fte_", "staffing"), ("exp_", "expenditures"), ("ppe_", "expenditures"),
    ("ecs_", "ecs"), ("alliance_dollars", "ecs"), ("pay_", "histpay"),
)

#: Panel columns that identify rows or describe treatment (not measures).
NON_MEASURES = frozenset({"district_code", "year", "district_name", "entity_type", "town_code",
                          "in_directory", "alliance_cohort", "alliance_designated", "opportunity_district",
                          "seda_id"})


# --- trends -----------------------------------------------------------------------------------------------

def _years(panel: pd.DataFrame, start_year: int | None, end_year: int | None) -> pd.Series:
    years = panel["year"]
    keep = pd.Series(True, index=panel.index)
    if start_year is not None:
        keep &= years >= start_year
    if end_year is not None:
        keep &= years <= end_year
    return keep


def _group_means(frame: pd.DataFrame, measure: str, weight: str | None, years: Sequence[int]) -> pd.DataFrame:
    """Mean of ``measure`` by year over the rows of ``frame`` (weighted by ``weight`` if given).

    Every year in ``years`` appears; a year without data has value NaN and ``n_districts`` 0.
    """
    ok = frame[measure].notna()
    if weight is not None:
        # A district enters a weighted mean only with a positive weight; the others are not counted.
        ok &= frame[weight].notna() & (frame[weight] > 0)
    sub = frame.loc[ok]
    grouped = sub.groupby("year")
    n = grouped[measure].size()
    if weight is None:
        value = grouped[measure].mean()
    else:
        value = (sub[measure] * sub[weight]).groupby(sub["year"]).sum() / grouped[weight].sum()
    out = pd.DataFrame({"value": value, "n_districts": n}).reindex(list(years))
    out["n_districts"] = out["n_districts"].fillna(0).astype("int64")
    return out.rename_axis("year").reset_index()


def group_trends(
    panel: pd.DataFrame,
    measures: Sequence[str],
    comparison: str = "other_town_districts",
    weight: str | None = None,
    start_year: int | None = None,
    end_year: int | None = None,
    alliance_cohorts: Sequence[int] | None = None,
    state: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Yearly means of measures for the Alliance group, a comparison group and (where given) the state.

    Parameters
    ----------
    panel
        District-year panel.
    measures
        Columns to summarize.
    comparison
        Name of the comparison group (:func:`comparison_mask`).
    weight
        Column to weight by (e.g. ``"enrollment"``); unweighted means of districts if None.
    start_year, end_year
        Inclusive year range (spring years); the whole panel if None.
    alliance_cohorts
        Cohorts making up the Alliance group (all designated districts if None).
    state
        Optional state table (``year`` plus measure columns, e.g. ``state_year.csv``); its values are added
        as group ``State`` for the measures it holds. Pass only columns comparable with district means
        (rates and shares, see :func:`state_rates`), not totals.

    Returns
    -------
    pandas.DataFrame
        Long table ``year, group, measure, value, n_districts``: one row per measure, group and year in the
        range (value NaN and ``n_districts`` 0 where a group has no data that year; ``n_districts`` is
        missing for the state).
    """
    keep = _years(panel, start_year, end_year)
    frame = panel.loc[keep]
    years = sorted(frame["year"].unique().tolist())
    groups = {ALLIANCE: alliance_mask(frame, alliance_cohorts),
              COMPARISON: comparison_mask(frame, comparison)}
    parts = []
    for measure in measures:
        if measure not in frame.columns:
            raise KeyError(f"measure {measure!r} is not a panel column")
        for label, mask in groups.items():
            part = _group_means(frame.loc[mask], measure, weight, years)
            parts.append(part.assign(group=label, measure=measure))
        if state is not None and measure in state.columns:
            st = state.loc[state["year"].isin(years), ["year", measure]]
            if st[measure].notna().any():
                st = st.set_index("year")[measure].reindex(years)
                parts.append(pd.DataFrame({"year": years, "value": st.to_numpy(dtype=float),
                                           "n_districts": pd.NA, "group": STATE, "measure": measure}))
    columns = ["year", "group", "measure", "value", "n_districts"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    out["year"] = out["year"].astype("int64")
    out["value"] = out["value"].astype("float64")
    out["n_districts"] = out["n_districts"].astype("Int64")
    return out


def state_rates(state: pd.DataFrame) -> pd.DataFrame:
    """Columns of the state table that are comparable with district means: rates, shares, per-pupil values.

    State totals (enrollment, counts, dollars) are sums over the state and would be misread next to a mean
    of districts, so they are dropped.
    """
    pattern = re.compile(r"(_rate$|_share$|^share_|_pct_|participation$|^ppe_)")
    keep = ["year", *[c for c in state.columns if c != "year" and pattern.search(c)]]
    return state[keep]


def gap_summary(trends: pd.DataFrame, first: str = ALLIANCE, second: str = COMPARISON) -> pd.DataFrame:
    """First and last year in which both groups have a value, with each group's value and the gap.

    Parameters
    ----------
    trends
        Output of :func:`group_trends`.
    first, second
        Group labels; ``gap = first - second``.

    Returns
    -------
    pandas.DataFrame
        One row per measure: ``measure, start_year, start_first, start_second, start_gap, end_year,
        end_first, end_second, end_gap`` (``first``/``second`` are the two groups' values). Measures on
        which the groups never both have a value are omitted.
    """
    wide = trends.pivot_table(index=["measure", "year"], columns="group", values="value", dropna=False)
    rows = []
    for measure, block in wide.groupby(level="measure", sort=False):
        if first not in block.columns or second not in block.columns:
            continue
        both = block[[first, second]].dropna()
        if both.empty:
            continue
        both = both.droplevel("measure")
        y0, y1 = int(both.index.min()), int(both.index.max())
        rows.append({
            "measure": measure,
            "start_year": y0, "start_first": both.loc[y0, first], "start_second": both.loc[y0, second],
            "start_gap": both.loc[y0, first] - both.loc[y0, second],
            "end_year": y1, "end_first": both.loc[y1, first], "end_second": both.loc[y1, second],
            "end_gap": both.loc[y1, first] - both.loc[y1, second],
        })
    order = list(dict.fromkeys(trends["measure"]))
    out = pd.DataFrame(rows, columns=["measure", "start_year", "start_first", "start_second", "start_gap",
                                      "end_year", "end_first", "end_second", "end_gap"])
    return out.sort_values("measure", key=lambda s: s.map(order.index)).reset_index(drop=True)


def last_year_with_data(panel: pd.DataFrame, column: str, end_year: int | None = None,
                        mask: pd.Series | None = None) -> int | None:
    """The latest year (at most ``end_year``) in which any row (of ``mask``) has a value of ``column``."""
    ok = panel[column].notna()
    if mask is not None:
        ok &= mask
    if end_year is not None:
        ok &= panel["year"] <= end_year
    years = panel.loc[ok, "year"]
    return int(years.max()) if len(years) else None


# --- coverage ---------------------------------------------------------------------------------------------

def measure_columns(panel: pd.DataFrame) -> list[str]:
    """Numeric measure columns of the panel, in panel order (identifiers and treatment excluded)."""
    return [c for c in panel.columns if c not in NON_MEASURES and pd.api.types.is_numeric_dtype(panel[c])]


def coverage(panel: pd.DataFrame, measures: Sequence[str] | None = None,
             entity_types: Sequence[str] = DISTRICT_TYPES) -> pd.DataFrame:
    """Share (0-1) of districts with a non-missing value, by measure and year.

    The denominator is fixed: every district of ``entity_types`` that appears in the panel in any year. A
    year in which some districts have no row at all therefore shows as incomplete rather than complete.

    Parameters
    ----------
    panel
        District-year panel.
    measures
        Columns to report (all measure columns if None).
    entity_types
        Entity types counted (town and regional districts by default).

    Returns
    -------
    pandas.DataFrame
        Index ``measure`` (in the order given), columns the panel's years, values in [0, 1].
    """
    measures = list(measures) if measures is not None else measure_columns(panel)
    frame = panel.loc[panel["entity_type"].isin(list(entity_types))]
    n = frame["district_code"].nunique()
    years = sorted(panel["year"].unique().tolist())
    if n == 0:
        return pd.DataFrame(np.nan, index=pd.Index(measures, name="measure"), columns=years)
    counts = frame[measures].notna().groupby(frame["year"]).sum().reindex(years, fill_value=0)
    out = (counts / n).T
    out.index.name = "measure"
    out.columns.name = "year"
    return out.astype(float)


def measure_family(column: str) -> str | None:
    """Source family of a measure column (:data:`MEASURE_FAMILY_PREFIXES`), or None."""
    for prefix, family in MEASURE_FAMILY_PREFIXES:
        if column.startswith(prefix):
            return family
    return None


def coverage_by_source(panel: pd.DataFrame, families: Mapping[str, str] | None = None,
                       entity_types: Sequence[str] = DISTRICT_TYPES) -> pd.DataFrame:
    """Share (0-1) of districts with any measure of a source family, by family and year.

    Parameters
    ----------
    panel
        District-year panel.
    families
        Measure column -> family; derived from column names (:func:`measure_family`) if None.
    entity_types
        Entity types counted.
    """
    if families is None:
        families = {c: f for c in measure_columns(panel) if (f := measure_family(c)) is not None}
    frame = panel.loc[panel["entity_type"].isin(list(entity_types))]
    n = frame["district_code"].nunique()
    years = sorted(panel["year"].unique().tolist())
    order = list(dict.fromkeys(families.values()))
    rows = {}
    for family in order:
        cols = [c for c, f in families.items() if f == family]
        present = frame[cols].notna().any(axis=1)
        rows[family] = present.groupby(frame["year"]).sum().reindex(years, fill_value=0) / max(n, 1)
    out = pd.DataFrame(rows).T
    out.index.name = "family"
    out.columns.name = "year"
    return out.astype(float)


# --- one district -----------------------------------------------------------------------------------------

def district_profile(
    panel: pd.DataFrame,
    district_code: str | int,
    measures: Sequence[str],
    comparison: str = "other_town_districts",
    state: pd.DataFrame | None = None,
    start_year: int | None = None,
    end_year: int | None = None,
) -> pd.DataFrame:
    """One district against the other Alliance districts, a comparison group and the state, by year.

    Parameters
    ----------
    panel
        District-year panel.
    district_code
        7-digit code of the district.
    measures
        Columns to report.
    comparison
        Comparison group name (:func:`comparison_mask`); the district itself is never in it.
    state
        Optional state table of comparable columns (:func:`state_rates`).
    start_year, end_year
        Inclusive year range.

    Returns
    -------
    pandas.DataFrame
        Long table ``year, group, measure, value, n_districts`` with groups ``District`` (the district's
        own value; ``n_districts`` 1 or 0), ``Other Alliance districts`` (unweighted mean of every other
        district ever designated), ``Comparison`` and, where available, ``State``.

    Raises
    ------
    KeyError
        If the district is not in the panel.
    """
    district_code = normalize_district_code(district_code)
    if not panel["district_code"].eq(district_code).any():
        raise KeyError(f"district {district_code!r} is not in the panel")
    keep = _years(panel, start_year, end_year)
    frame = panel.loc[keep]
    years = sorted(frame["year"].unique().tolist())
    own = frame["district_code"].eq(district_code)
    groups = {
        DISTRICT: own,
        OTHER_ALLIANCE: alliance_mask(frame) & ~own,
        COMPARISON: comparison_mask(frame, comparison) & ~own,
    }
    parts = []
    for measure in measures:
        for label, mask in groups.items():
            part = _group_means(frame.loc[mask], measure, None, years)
            parts.append(part.assign(group=label, measure=measure))
        if state is not None and measure in state.columns:
            st = state.set_index("year")[measure].reindex(years)
            if st.notna().any():
                parts.append(pd.DataFrame({"year": years, "value": st.to_numpy(dtype=float),
                                           "n_districts": pd.NA, "group": STATE, "measure": measure}))
    out = pd.concat(parts, ignore_index=True)[["year", "group", "measure", "value", "n_districts"]]
    out["value"] = out["value"].astype("float64")
    out["n_districts"] = out["n_districts"].astype("Int64")
    return out


def per_100_students(panel: pd.DataFrame, columns: Sequence[str], enrollment: str = "enrollment"
                     ) -> pd.DataFrame:
    """Staffing (or any count) per 100 students: ``100 * column / enrollment``, as ``<column>_per_100``.

    NaN where the count or enrollment is missing or enrollment is not positive.
    """
    denom = panel[enrollment].where(panel[enrollment] > 0)
    return pd.DataFrame({f"{c}_per_100": 100 * panel[c] / denom for c in columns}, index=panel.index)


def data_availability(profile: pd.DataFrame, group: str = DISTRICT) -> pd.DataFrame:
    """For each measure of a profile: years with a value for ``group`` (first, last, count).

    Measures without any value have ``n_years`` 0 and missing first/last years, which the profile pages
    turn into a "no data" note.
    """
    sub = profile.loc[profile["group"] == group]
    rows = []
    for measure, block in sub.groupby("measure", sort=False):
        ys = block.loc[block["value"].notna(), "year"]
        rows.append({"measure": measure, "n_years": len(ys),
                     "first_year": int(ys.min()) if len(ys) else pd.NA,
                     "last_year": int(ys.max()) if len(ys) else pd.NA})
    out = pd.DataFrame(rows, columns=["measure", "n_years", "first_year", "last_year"])
    out[["first_year", "last_year"]] = out[["first_year", "last_year"]].astype("Int64")
    return out


# --- the program's money and membership -------------------------------------------------------------------

def designation_counts(designations: pd.DataFrame) -> pd.DataFrame:
    """Districts designated by cohort: ``cohort, added, total`` (cumulative), sorted by cohort."""
    added = designations.groupby("alliance_cohort")["district_code"].nunique().sort_index()
    out = pd.DataFrame({"cohort": added.index.astype(int), "added": added.to_numpy(dtype="int64")})
    out["total"] = out["added"].cumsum()
    return out


#: The book's one definition of "Alliance dollars per pupil", in the words every page that states the figure
#: glues (issue 13: the program chapter pooled the designated districts while the trends chapter averaged the
#: first cohort's ratios, $1,290 against $1,181 for FY2022). :func:`alliance_dollars_per_pupil` computes it.
PER_PUPIL_DEFINITION = ("the Alliance dollars paid to the districts designated that year divided by the "
                        "number of students enrolled in them")


def alliance_dollars_per_pupil(panel: pd.DataFrame, start_year: int | None = None,
                               end_year: int | None = None, by: Sequence[str] = ("year",)) -> pd.DataFrame:
    """Alliance dollars per pupil, the book's one definition (:data:`PER_PUPIL_DEFINITION`).

    Pooled, not averaged: the sum of the Alliance dollars of the districts designated in a year divided by
    the sum of their enrollment, over the designated districts that have both numbers. Grouped by
    ``district_code`` and ``year`` it is each designated district's own dollars over its own enrollment.

    Parameters
    ----------
    panel
        District-year panel (``year``, ``alliance_designated``, ``alliance_dollars``, ``enrollment`` and the
        columns of ``by``).
    start_year, end_year
        Inclusive year range.
    by
        Columns to group by; ``("year",)`` for the program-wide figure of each year.

    Returns
    -------
    pandas.DataFrame
        One row per group with a designated district that has both numbers (years without enrollment data
        have no row): the ``by`` columns, ``n_districts``, ``alliance_dollars``, ``enrollment`` and
        ``dollars_per_pupil``.

    Examples
    --------
    >>> p = pd.DataFrame({"district_code": ["a", "b", "c"], "year": 2022, "alliance_designated": [1, 1, 0],
    ...                   "alliance_dollars": [3e6, 1e6, 0.0], "enrollment": [1000.0, 3000.0, 500.0]})
    >>> alliance_dollars_per_pupil(p)[["year", "n_districts", "dollars_per_pupil"]]
       year  n_districts  dollars_per_pupil
    0  2022            2             1000.0
    """
    frame = panel.loc[_years(panel, start_year, end_year)]
    both = (frame["alliance_designated"].eq(1) & frame["alliance_dollars"].notna()
            & frame["enrollment"].notna())
    out = (frame.loc[both].groupby(list(by), sort=True)
           .agg(n_districts=("alliance_dollars", "size"), alliance_dollars=("alliance_dollars", "sum"),
                enrollment=("enrollment", "sum"))
           .reset_index())
    out["n_districts"] = out["n_districts"].astype("int64")
    out["dollars_per_pupil"] = out["alliance_dollars"] / out["enrollment"]
    return out


def alliance_funding(panel: pd.DataFrame, start_year: int | None = None, end_year: int | None = None
                     ) -> pd.DataFrame:
    """Alliance dollars by fiscal year: total, recipients and per pupil of the designated districts.

    Parameters
    ----------
    panel
        District-year panel (``alliance_dollars``, ``alliance_designated``, ``enrollment``).
    start_year, end_year
        Inclusive year range.

    Returns
    -------
    pandas.DataFrame
        One row per year: ``n_designated`` (districts designated that year), ``n_recipients`` (with more
        than $0), ``alliance_dollars`` (sum over all districts; NaN in years the ECS file does not cover),
        ``enrollment_designated``, ``dollars_per_pupil`` (:func:`alliance_dollars_per_pupil`; NaN in years
        without enrollment data) and ``n_per_pupil``, the designated districts it counts (0 in those years).
    """
    frame = panel.loc[_years(panel, start_year, end_year)]
    designated = frame["alliance_designated"].eq(1)
    dollars = frame["alliance_dollars"]
    by_year = frame.groupby("year")
    out = pd.DataFrame({
        "n_designated": designated.groupby(frame["year"]).sum().astype("int64"),
        "n_recipients": (dollars > 0).groupby(frame["year"]).sum().astype("int64"),
        "alliance_dollars": by_year["alliance_dollars"].sum(min_count=1),
        "enrollment_designated": frame["enrollment"].where(designated)
                                 .groupby(frame["year"]).sum(min_count=1),
    })
    per_pupil = alliance_dollars_per_pupil(frame).set_index("year").reindex(out.index)
    out["dollars_per_pupil"] = per_pupil["dollars_per_pupil"]
    out["n_per_pupil"] = per_pupil["n_districts"].fillna(0).astype("int64")
    return out.rename_axis("year").reset_index()


def enrollment_share(panel: pd.DataFrame, state: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share (percent) of the state's students enrolled in districts designated that year.

    The denominator is the state total from ``state`` (``year, enrollment``) where given, otherwise the
    sum over every panel entity. Years without enrollment data are dropped.
    """
    designated = panel["alliance_designated"].eq(1)
    num = panel["enrollment"].where(designated).groupby(panel["year"]).sum(min_count=1)
    total = panel.groupby("year")["enrollment"].sum(min_count=1)
    if state is not None and "enrollment" in state.columns:
        total = state.set_index("year")["enrollment"].reindex(total.index).fillna(total)
    out = pd.DataFrame({"enrollment_designated": num, "enrollment_state": total}).dropna()
    out["share"] = 100 * out["enrollment_designated"] / out["enrollment_state"]
    return out.rename_axis("year").reset_index()

"""Fiscal and human-capital focus, measured from spending by function and staff FTE by category.

The study's seed asks for planning that sustains fiscal and human-capital investments "without shifting
focus each year". Plans are not public in bulk, but two of their footprints are: how a district splits its
spending across functions (``exp_*``, 2006-2015) and its staff across assignment categories (``fte_*``,
2006-2016 in the panel). This module measures

- **mix stability**: for a district and two *adjacent* years t-1 and t with complete data, with ``s`` the
  shares of the categories in their sum, ``stability = 1 - 0.5 * sum_k |s_k(t) - s_k(t-1)|``. It is one minus
  the total-variation distance between the two mixes: 1 when the mix is unchanged, 0 when the two years share
  nothing, and it equals ``sum_k min(s_k(t), s_k(t-1))``, the share of the budget (or staff) that stayed in
  the same function. The weighted Jaccard index ``sum_k min / sum_k max`` is reported alongside; it is a
  monotone function of the same distance (``J = (1 - d) / (1 + d)``). The value is filed under year t.
- **instructional support staff per 100 students**: ``fte_instr_specialists`` (instructional specialists
  who support teachers, the closest public count of coaches) per 100 enrolled students, 2008-2016.

Each is summarised per district over a pre period (years before the first Alliance year, FY2013) and a post
period, and compared between the Alliance Districts and other districts, pre and post. The periods'
stability values compare year t with t-1, so FY2013 (the first Alliance year against FY2012) is a post
year. These are descriptions: the Alliance money itself changed budgets, and a difference between groups is
not an effect of planning.

Pure functions: DataFrames in, DataFrames out, no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis.groups import alliance_mask, comparison_mask
from alliance_study.analysis.plans.link import LinkResult, associate

#: Spending functions whose mix is measured (their sum is ``exp_total``).
SPENDING_FUNCTIONS: tuple[str, ...] = (
    "exp_instr_staff",
    "exp_instr_supplies",
    "exp_improvement_instr",
    "exp_student_support",
    "exp_admin",
    "exp_plant",
    "exp_transport",
    "exp_tuition_out",
    "exp_other",
)

#: Staff assignment categories whose mix is measured (their sum is ``fte_total``). The non-certified
#: categories are missing for a few districts in some years; those district-years have no mix.
STAFF_CATEGORIES: tuple[str, ...] = (
    "fte_gen_ed_teachers",
    "fte_sped_teachers",
    "fte_instr_specialists",
    "fte_admin_school",
    "fte_admin_central",
    "fte_counselors",
    "fte_library_cert",
    "fte_library_support",
    "fte_nurses",
    "fte_paras_gen",
    "fte_paras_sped",
    "fte_other_support",
)

#: Staff category used as the instructional-support (coaching) proxy.
SUPPORT_STAFF = "fte_instr_specialists"

#: First Alliance (fiscal, spring) year.
FIRST_ALLIANCE_YEAR = 2013

#: District-level focus measures produced by :func:`district_focus`, with labels.
FOCUS_MEASURES: dict[str, str] = {
    "spending_stability": "Spending-mix stability (1 - half L1 distance)",
    "staffing_stability": "Staffing-mix stability (1 - half L1 distance)",
    "support_per_100": "Instructional specialists per 100 students",
}


def mix_shares(panel: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Shares of each category in the district-year total of ``columns``.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year`` and one share column per category (same names); a row is NaN where any
        category is missing, a value is negative, or the total is not positive.
    """
    values = panel[list(columns)].astype("float64")
    total = values.sum(axis=1, min_count=len(columns))
    complete = values.notna().all(axis=1) & (values >= 0).all(axis=1) & (total > 0)
    shares = values.div(total.where(complete), axis=0)
    return pd.concat(
        [panel[["district_code", "year"]].reset_index(drop=True), shares.reset_index(drop=True)], axis=1
    )


def mix_stability(panel: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Year-to-year stability of a district's mix across ``columns`` (definition in the module docstring).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``year`` (the later year t), ``stability`` (``1 - 0.5 * L1``), ``jaccard``
        (weighted Jaccard ``sum min / sum max``); only for districts with complete mixes in t-1 and t.
    """
    shares = mix_shares(panel, columns).dropna().sort_values(["district_code", "year"])
    cols = list(columns)
    previous = shares.assign(year=shares["year"] + 1)
    merged = shares.merge(previous, on=["district_code", "year"], suffixes=("", "_prev"))
    now = merged[cols].to_numpy()
    before = merged[[f"{c}_prev" for c in cols]].to_numpy()
    l1 = np.abs(now - before).sum(axis=1)
    jaccard = np.minimum(now, before).sum(axis=1) / np.maximum(now, before).sum(axis=1)
    out = pd.DataFrame(
        {
            "district_code": merged["district_code"].to_numpy(),
            "year": merged["year"].astype("int64").to_numpy(),
            "stability": 1 - 0.5 * l1,
            "jaccard": jaccard,
        }
    )
    return out.sort_values(["district_code", "year"], ignore_index=True)


def support_per_100(panel: pd.DataFrame, column: str = SUPPORT_STAFF) -> pd.DataFrame:
    """Instructional support staff per 100 students: ``district_code``, ``year``, ``support_per_100``."""
    enrollment = panel["enrollment"].where(panel["enrollment"] > 0)
    return pd.DataFrame(
        {
            "district_code": panel["district_code"].to_numpy(),
            "year": panel["year"].astype("int64").to_numpy(),
            "support_per_100": (100 * panel[column] / enrollment).to_numpy(dtype=float),
        }
    )


def focus_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with the yearly focus measures added: ``spending_stability``, ``spending_jaccard``,
    ``staffing_stability``, ``staffing_jaccard``, ``support_per_100`` (NaN where not measurable)."""
    spend = mix_stability(panel, SPENDING_FUNCTIONS).rename(
        columns={"stability": "spending_stability", "jaccard": "spending_jaccard"}
    )
    staff = mix_stability(panel, STAFF_CATEGORIES).rename(
        columns={"stability": "staffing_stability", "jaccard": "staffing_jaccard"}
    )
    support = support_per_100(panel)
    out = panel.drop(
        columns=[
            c
            for c in (
                "spending_stability",
                "spending_jaccard",
                "staffing_stability",
                "staffing_jaccard",
                "support_per_100",
            )
            if c in panel.columns
        ]
    )
    for table in (spend, staff, support):
        out = out.merge(table, on=["district_code", "year"], how="left")
    return out


def district_focus(
    panel: pd.DataFrame,
    pre_years: Sequence[int] = tuple(range(2008, 2013)),
    post_years: Sequence[int] = tuple(range(2013, 2017)),
) -> pd.DataFrame:
    """Focus measures per district: means over the pre and post years, and their change.

    Parameters
    ----------
    panel
        District-year panel (or :func:`focus_panel` output).
    pre_years, post_years
        Spring years averaged for each period (stability values are filed under the later year of each pair;
        years without data simply do not count).

    Returns
    -------
    pandas.DataFrame
        One row per district with any measure: ``district_code`` and, for each of :data:`FOCUS_MEASURES`,
        ``<measure>_pre``, ``<measure>_post``, ``<measure>_change`` (post - pre) and ``<measure>_n_pre``,
        ``<measure>_n_post`` (years averaged).
    """
    frame = panel if "spending_stability" in panel.columns else focus_panel(panel)
    pre, post = frame["year"].isin(list(pre_years)), frame["year"].isin(list(post_years))
    parts = []
    for measure in FOCUS_MEASURES:
        part = pd.DataFrame(
            {
                f"{measure}_pre": frame[measure].where(pre).groupby(frame["district_code"]).mean(),
                f"{measure}_post": frame[measure].where(post).groupby(frame["district_code"]).mean(),
                f"{measure}_n_pre": frame[measure].where(pre).notna().groupby(frame["district_code"]).sum(),
                f"{measure}_n_post": frame[measure].where(post).notna().groupby(frame["district_code"]).sum(),
            }
        )
        part[f"{measure}_change"] = part[f"{measure}_post"] - part[f"{measure}_pre"]
        parts.append(part)
    out = pd.concat(parts, axis=1)
    values = [f"{m}_{s}" for m in FOCUS_MEASURES for s in ("pre", "post")]
    out = out.loc[out[values].notna().any(axis=1)]
    out.index.name = "district_code"
    return out.reset_index()


@dataclass
class GroupComparison:
    """Alliance vs comparison districts on the district focus measures.

    Attributes
    ----------
    table
        One row per measure: ``measure``, ``label``, ``alliance_pre``, ``alliance_post``, ``alliance_change``,
        ``comparison_pre``, ``comparison_post``, ``comparison_change``, ``difference_in_change`` (Alliance
        change - comparison change), ``p_value`` (two-sided permutation test of the difference in change,
        group labels permuted across districts), ``n_alliance``, ``n_comparison`` (districts with a change).
    n_permutations, seed
        Permutation draws and their seed.
    """

    table: pd.DataFrame
    n_permutations: int
    seed: int


def compare_groups(
    focus: pd.DataFrame,
    panel: pd.DataFrame,
    comparison: str = "other_town_districts",
    alliance_cohorts: Sequence[int] | None = (2013,),
    n_permutations: int = 2000,
    seed: int = 0,
) -> GroupComparison:
    """Compare Alliance and comparison districts' focus measures, pre and post (:func:`district_focus`).

    Parameters
    ----------
    focus
        Output of :func:`district_focus`.
    panel
        The panel (for group membership: ``alliance_cohort``, ``entity_type``).
    comparison
        Comparison group (:data:`alliance_study.analysis.groups.COMPARISONS`).
    alliance_cohorts
        Cohorts forming the Alliance group.
    n_permutations, seed
        Permutation test draws, from ``numpy.random.default_rng(seed)``.
    """
    members = panel.drop_duplicates("district_code")
    alliance = set(members.loc[alliance_mask(members, alliance_cohorts).to_numpy(), "district_code"])
    others = set(members.loc[comparison_mask(members, comparison).to_numpy(), "district_code"])
    rng = np.random.default_rng(seed)
    rows = []
    for measure, label in FOCUS_MEASURES.items():
        a = focus.loc[focus["district_code"].isin(alliance)]
        c = focus.loc[focus["district_code"].isin(others)]
        ca = a[f"{measure}_change"].dropna().to_numpy()
        cc = c[f"{measure}_change"].dropna().to_numpy()
        diff = ca.mean() - cc.mean() if len(ca) and len(cc) else np.nan
        p = np.nan
        if len(ca) >= 3 and len(cc) >= 3:
            pooled = np.concatenate([ca, cc])
            draws = np.empty(n_permutations)
            for i in range(n_permutations):
                perm = rng.permutation(pooled)
                draws[i] = perm[: len(ca)].mean() - perm[len(ca) :].mean()
            p = float((np.sum(np.abs(draws) >= abs(diff) - 1e-12) + 1) / (n_permutations + 1))
        rows.append(
            {
                "measure": measure,
                "label": label,
                "alliance_pre": a[f"{measure}_pre"].mean(),
                "alliance_post": a[f"{measure}_post"].mean(),
                "alliance_change": ca.mean() if len(ca) else np.nan,
                "comparison_pre": c[f"{measure}_pre"].mean(),
                "comparison_post": c[f"{measure}_post"].mean(),
                "comparison_change": cc.mean() if len(cc) else np.nan,
                "difference_in_change": diff,
                "p_value": p,
                "n_alliance": len(ca),
                "n_comparison": len(cc),
            }
        )
    return GroupComparison(table=pd.DataFrame(rows), n_permutations=n_permutations, seed=seed)


def mean_shares(
    panel: pd.DataFrame, columns: Sequence[str], mask: pd.Series, years: Sequence[int]
) -> pd.Series:
    """Mean over districts (``mask``) and ``years`` of each category's share: the typical mix of a group."""
    shares = mix_shares(panel.loc[mask & panel["year"].isin(list(years))], columns)
    return shares[list(columns)].mean()


def relate_focus(
    focus: pd.DataFrame,
    improvement: pd.DataFrame,
    columns: Sequence[str] | None = None,
    n_permutations: int = 2000,
    seed: int = 0,
) -> LinkResult:
    """Relate district focus measures to an improvement table (``district_code``, ``score``, ``improver``).

    Uses :func:`alliance_study.analysis.plans.link.associate` (Spearman correlation; improvers vs others;
    permutation
    p-values only with enough districts), by default on the post-period levels and the changes of the focus
    measures.
    """
    columns = (
        list(columns)
        if columns is not None
        else [f"{m}_{s}" for m in FOCUS_MEASURES for s in ("post", "change")]
    )
    return associate(focus, improvement, columns=columns, n_permutations=n_permutations, seed=seed)

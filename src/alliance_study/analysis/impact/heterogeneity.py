"""Heterogeneity: effects by Opportunity District status and by Alliance dollars per pupil (dose tercile).

Each split divides the *treated* districts into groups and estimates every group's post-period average
against the same comparison districts in one regression (:func:`~.postavg.group_post_averages`), so the
difference between groups has a proper standard error (:func:`~.postavg.group_differences`).

Both splits are descriptive, not causal contrasts: the Opportunity Districts are the ten lowest performers
(and from FY2018 received extra support), and dollars per pupil follow the ECS formula's need measures, so
the groups differ in more than the split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.postavg import group_differences, group_post_averages

#: Labels of the dose terciles, lowest dollars per pupil first.
TERCILE_LABELS: tuple[str, str, str] = ("1 low", "2 middle", "3 high")

#: Labels of the Opportunity District split (sorted so that the difference is Opportunity minus other).
OPPORTUNITY_LABELS: tuple[str, str] = ("1 other Alliance", "2 Opportunity")


def opportunity_groups(panel: pd.DataFrame, codes: Sequence[str]) -> dict[str, str]:
    """District -> Opportunity District label for ``codes``: ever flagged ``opportunity_district`` in the
    panel (the flag starts in FY2018; membership is treated as a fixed characteristic of the district)."""
    flag = panel.groupby("district_code")["opportunity_district"].max().reindex(list(codes)).fillna(0)
    return {c: OPPORTUNITY_LABELS[int(f > 0)] for c, f in flag.items()}


def dose_terciles(panel: pd.DataFrame, codes: Sequence[str], years: tuple[int, int]) -> dict[str, str]:
    """District -> dose tercile: mean Alliance dollars per pupil over the inclusive ``years`` among
    ``codes`` (ties broken by district code; districts with no dollars in those years are left out).

    Examples
    --------
    >>> import pandas as pd
    >>> panel = pd.DataFrame({"district_code": list("abcdef"), "year": 2015,
    ...                       "alliance_dollars_per_pupil": [600.0, 100, 500, 200, 400, 300]})
    >>> dose_terciles(panel, list("abcdef"), (2015, 2015))
    {'b': '1 low', 'd': '1 low', 'f': '2 middle', 'e': '2 middle', 'c': '3 high', 'a': '3 high'}
    """
    rows = panel.loc[panel["year"].between(*years) & panel["district_code"].isin(list(codes))]
    dose = rows.groupby("district_code")["alliance_dollars_per_pupil"].mean().dropna()
    dose = dose.loc[dose > 0].sort_index().sort_values(kind="stable")
    rank = np.arange(len(dose))
    tercile = np.minimum(3 * rank // max(len(dose), 1), 2)
    return {c: TERCILE_LABELS[int(t)] for c, t in zip(dose.index, tercile, strict=True)}


def dose_means(panel: pd.DataFrame, groups: dict[str, str], years: tuple[int, int]) -> pd.Series:
    """Mean Alliance dollars per pupil of each group over ``years`` (label -> dollars)."""
    rows = panel.loc[panel["year"].between(*years) & panel["district_code"].isin(list(groups))]
    dose = rows.groupby("district_code")["alliance_dollars_per_pupil"].mean()
    return dose.groupby(dose.index.map(groups)).mean()


def subgroup_effects(sample: pd.DataFrame, outcome: str, groups: dict[str, str],
                     covariates: Sequence[str] = (), alpha: float = 0.05) -> pd.DataFrame:
    """Post-period averages by group of treated districts, and the test that they are equal.

    Treated districts without a group (e.g. no dollars in the dose years) are dropped from the sample.

    Returns
    -------
    pandas.DataFrame
        :func:`~.postavg.group_post_averages`'s table with ``outcome``; ``attrs["difference"]`` holds
        :func:`~.postavg.group_differences` (last group minus first, and the joint F test).
    """
    keep = (sample["treated"] == 0) | sample["district_code"].isin(list(groups))
    sub = sample.loc[keep].reset_index(drop=True)
    table = group_post_averages(sub, outcome, groups, covariates, alpha=alpha)
    diff = group_differences(table, alpha)
    table.insert(0, "outcome", outcome)
    table.attrs["difference"] = diff
    return table

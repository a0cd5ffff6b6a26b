"""Planning-practice metrics per district: persistence, focus, coupling and dual monitoring.

The 2017 Neag/CCER study found that the most improving Alliance Districts (1) built over time on a small,
consistent core of interventions, (2) coupled new initiatives with capacity building and (3) monitored both
implementation and results. These functions turn coded plans into one number per district for each.

Input is a table of validated coding records
(:func:`alliance_study.analysis.plans.records.validate_records`). When
several coders coded the same district and plan year, :func:`consensus` first reduces them to one set of
interventions per district-plan year.

Definitions (all computed on the consensus set of each district and plan year)
-------------------------------------------------------------------------------
- *Persistence*: for every pair of **adjacent** plan years t-1, t that both have coded interventions,
  ``carryover = |A(t-1) & A(t)| / |A(t-1)|`` (share of last year's interventions still in the plan) and
  ``jaccard = |A(t-1) & A(t)| / |A(t-1) | A(t)|``. A district's value is the mean over its pairs. Plan years
  that are not adjacent (a gap) form no pair. The residual code ``other`` is left out of the sets: two
  "other" interventions need not be the same one.
- *Focus*: ``n_distinct`` is the number of distinct intervention codes over all coded plan years (fewer =
  more focused; ``other`` counts once); ``mean_per_year`` the mean number per plan year.
- *Coupling rate*: share of intervention-years coded ``yes`` for ``coupled_capacity_building`` among those
  coded ``yes`` or ``no``. ``intrinsic`` (the intervention is itself capacity building) and blank (not
  stated) are left out of numerator and denominator; ``n_coupling`` is the denominator.
- *Dual-monitoring rate*: share of intervention-years with **both** an implementation and an outcome
  measure. An intervention-year counts in the denominator when its status is known: both attributes coded,
  or either coded ``no`` (then it is not dual). ``n_monitoring`` is the denominator.
- *S.M.A.R.T.-goal rate*: share coded ``yes`` among those coded ``yes`` or ``no``.
A rate whose denominator is 0 is NaN: missing, not zero.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from alliance_study.analysis.plans.codebook import ATTRIBUTES, plan_year_start

#: Coder name whose records, where present for a district-plan year, replace all other coders' records.
ADJUDICATOR = "adjudicated"

#: Consensus rules: share of the coders of a district-plan year who must have coded an intervention.
CONSENSUS_RULES: dict[str, str] = {
    "majority": "more than half of the coders who coded the district-plan year (two coders: both)",
    "any": "at least one coder (the union)",
    "all": "every coder (the intersection)",
}

#: Codes left out of the persistence sets (see the module docstring).
PERSISTENCE_EXCLUDE: tuple[str, ...] = ("other",)

_UNIT = ["district_code", "plan_year"]


def consensus(records: pd.DataFrame, rule: str = "majority", adjudicator: str = ADJUDICATOR) -> pd.DataFrame:
    """Reduce (possibly double-coded) records to one row per district, plan year and intervention.

    Rule (documented in the coding guide):

    1. If a coder named ``adjudicator`` coded a district-plan year, only those records count for it.
    2. Otherwise an intervention is present when the share of that district-plan year's coders who coded it
       meets ``rule`` (:data:`CONSENSUS_RULES`; default: a strict majority, so with two coders both).
    3. Each attribute takes the value a strict majority of the coders who coded the intervention gave, among
       their non-blank values; a tie is left blank and flagged ``<attribute>_disputed``.
    4. The evidence quote, page and URL are the first coder's (coders sorted by name).

    The coders of a district-plan year are those with at least one record for it: a coder who read a plan
    and found nothing codable leaves no trace, so record such a plan with intervention ``other`` and a note.

    Parameters
    ----------
    records
        Validated coding records.
    rule
        ``majority``, ``any`` or ``all``.
    adjudicator
        Coder name of adjudicated records.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``district_name``, ``plan_year``, ``plan_year_start``, ``intervention``,
        ``domain``, the attributes, ``<attribute>_disputed``, ``n_coders`` (coders of the district-plan
        year), ``n_coders_coded`` (coders who coded this intervention), ``coders``, ``evidence_quote``,
        ``source_page``, ``source_url``; sorted by district, plan year and intervention.
    """
    if rule not in CONSENSUS_RULES:
        raise ValueError(f"unknown consensus rule {rule!r}; expected one of {sorted(CONSENSUS_RULES)}")
    recs = records.copy()
    if "plan_year_start" not in recs.columns:
        recs["plan_year_start"] = recs["plan_year"].map(plan_year_start)
    adjudicated = recs.loc[recs["coder"] == adjudicator, _UNIT].drop_duplicates()
    if len(adjudicated):
        flag = recs[_UNIT].merge(adjudicated.assign(_adj=True), on=_UNIT, how="left")["_adj"]
        flag = flag.fillna(False).astype(bool).to_numpy()
        recs = recs.loc[~flag | (recs["coder"] == adjudicator).to_numpy()]
    coders = recs.groupby(_UNIT)["coder"].nunique().rename("n_coders")
    rows = []
    for (code, plan_year, intervention), block in recs.sort_values("coder").groupby(
        ["district_code", "plan_year", "intervention"], sort=True
    ):
        n_plan = int(coders.loc[(code, plan_year)])
        n_code = int(block["coder"].nunique())
        share = n_code / n_plan
        present = {"majority": share > 0.5, "any": n_code >= 1, "all": n_code == n_plan}[rule]
        if not present:
            continue
        first = block.iloc[0]
        row = {
            "district_code": code,
            "district_name": first.get("district_name", ""),
            "plan_year": plan_year,
            "plan_year_start": int(first["plan_year_start"]),
            "intervention": intervention,
            "domain": _majority(block.get("domain", pd.Series(dtype=object)))[0],
            "n_coders": n_plan,
            "n_coders_coded": n_code,
            "coders": ", ".join(block["coder"]),
            "evidence_quote": first["evidence_quote"],
            "source_page": first.get("source_page", ""),
            "source_url": first.get("source_url", ""),
        }
        for attribute in ATTRIBUTES:
            value, disputed = _majority(
                block[attribute] if attribute in block.columns else pd.Series(dtype=object)
            )
            row[attribute] = value
            row[f"{attribute}_disputed"] = disputed
        rows.append(row)
    columns = [
        "district_code",
        "district_name",
        "plan_year",
        "plan_year_start",
        "intervention",
        "domain",
        *ATTRIBUTES,
        *(f"{a}_disputed" for a in ATTRIBUTES),
        "n_coders",
        "n_coders_coded",
        "coders",
        "evidence_quote",
        "source_page",
        "source_url",
    ]
    return pd.DataFrame(rows, columns=columns)


def _majority(values: pd.Series) -> tuple[str, bool]:
    """The strict-majority non-blank value ("" if none) and whether non-blank values tie."""
    vals = [str(v).strip() for v in values if isinstance(v, str) and v.strip()]
    if not vals:
        return "", False
    counts = pd.Series(vals).value_counts()
    if len(counts) == 1 or counts.iloc[0] > counts.iloc[1]:
        return str(counts.index[0]), False
    return "", True


def plan_sets(
    coded: pd.DataFrame, exclude: Iterable[str] = PERSISTENCE_EXCLUDE
) -> dict[str, dict[int, frozenset]]:
    """Intervention sets by district and plan-year start: ``{district_code: {2013: frozenset({...})}}``."""
    exclude = set(exclude)
    out: dict[str, dict[int, frozenset]] = {}
    for (code, start), block in coded.groupby(["district_code", "plan_year_start"], sort=True):
        out.setdefault(str(code), {})[int(start)] = frozenset(set(block["intervention"]) - exclude)
    return out


def persistence_pairs(coded: pd.DataFrame, exclude: Iterable[str] = PERSISTENCE_EXCLUDE) -> pd.DataFrame:
    """One row per district and pair of adjacent coded plan years, with carryover share and Jaccard index.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``from_year``, ``to_year`` (plan-year labels), ``n_from``, ``n_to``, ``n_common``,
        ``carryover`` (``n_common / n_from``), ``jaccard`` (``n_common / |union|``). A pair whose earlier set
        is empty has NaN carryover.
    """
    rows = []
    for code, by_year in plan_sets(coded, exclude).items():
        for start in sorted(by_year):
            if start - 1 not in by_year:
                continue
            before, after = by_year[start - 1], by_year[start]
            common, union = len(before & after), len(before | after)
            rows.append(
                {
                    "district_code": code,
                    "from_year": _label(start - 1),
                    "to_year": _label(start),
                    "n_from": len(before),
                    "n_to": len(after),
                    "n_common": common,
                    "carryover": common / len(before) if before else np.nan,
                    "jaccard": common / union if union else np.nan,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "district_code",
            "from_year",
            "to_year",
            "n_from",
            "n_to",
            "n_common",
            "carryover",
            "jaccard",
        ],
    )


def _label(start: int) -> str:
    return f"{start}-{(start + 1) % 100:02d}"


def _rate(yes: int, n: int) -> float:
    return yes / n if n else np.nan


def district_metrics(coded: pd.DataFrame) -> pd.DataFrame:
    """Planning-practice metrics per district (definitions in the module docstring).

    Parameters
    ----------
    coded
        One row per district, plan year and intervention: the output of :func:`consensus` (or the records of
        a single coder).

    Returns
    -------
    pandas.DataFrame
        One row per district: ``district_code``, ``district_name``, ``n_plan_years``, ``plan_years``,
        ``n_interventions`` (intervention-years), ``n_distinct``, ``mean_per_year``, ``n_pairs``,
        ``carryover``, ``jaccard``, ``coupling_rate``, ``n_coupling``, ``dual_monitoring_rate``,
        ``n_monitoring``, ``smart_goal_rate``, ``n_smart``.
    """
    dupes = coded.duplicated(["district_code", "plan_year", "intervention"])
    if dupes.any():
        raise ValueError(
            "coded has several rows per district, plan year and intervention (several coders?); "
            "reduce them with consensus() first"
        )
    data = coded.copy()
    if "plan_year_start" not in data.columns:
        data["plan_year_start"] = data["plan_year"].map(plan_year_start)
    pairs = persistence_pairs(data)
    rows = []
    for code, block in data.groupby("district_code", sort=True):
        years = sorted(block["plan_year_start"].unique())
        coupled = block["coupled_capacity_building"].fillna("")
        impl = block["implementation_measure"].fillna("")
        outc = block["outcome_measure"].fillna("")
        smart = block["smart_goal"].fillna("")
        known_dual = ((impl != "") & (outc != "")) | (impl == "no") | (outc == "no")
        dual = (impl == "yes") & (outc == "yes")
        p = pairs.loc[pairs["district_code"] == code]
        names = (
            block["district_name"].dropna().astype(str) if "district_name" in block.columns else pd.Series()
        )
        rows.append(
            {
                "district_code": code,
                "district_name": names.iloc[0] if len(names) else "",
                "n_plan_years": len(years),
                "plan_years": ", ".join(_label(y) for y in years),
                "n_interventions": len(block),
                "n_distinct": int(block["intervention"].nunique()),
                "mean_per_year": len(block) / len(years),
                "n_pairs": len(p),
                "carryover": p["carryover"].mean() if len(p) else np.nan,
                "jaccard": p["jaccard"].mean() if len(p) else np.nan,
                "coupling_rate": _rate(int((coupled == "yes").sum()), int(coupled.isin(["yes", "no"]).sum())),
                "n_coupling": int(coupled.isin(["yes", "no"]).sum()),
                "dual_monitoring_rate": _rate(int((dual & known_dual).sum()), int(known_dual.sum())),
                "n_monitoring": int(known_dual.sum()),
                "smart_goal_rate": _rate(int((smart == "yes").sum()), int(smart.isin(["yes", "no"]).sum())),
                "n_smart": int(smart.isin(["yes", "no"]).sum()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "district_code",
            "district_name",
            "n_plan_years",
            "plan_years",
            "n_interventions",
            "n_distinct",
            "mean_per_year",
            "n_pairs",
            "carryover",
            "jaccard",
            "coupling_rate",
            "n_coupling",
            "dual_monitoring_rate",
            "n_monitoring",
            "smart_goal_rate",
            "n_smart",
        ],
    )


def attribute_coverage(coded: pd.DataFrame) -> pd.DataFrame:
    """For each attribute: intervention-years coded yes, no, intrinsic and blank (missing), and the total."""
    rows = []
    for attribute in ATTRIBUTES:
        values = coded[attribute].fillna("").replace({"": "missing"})
        counts = values.value_counts()
        rows.append(
            {
                "attribute": attribute,
                "yes": int(counts.get("yes", 0)),
                "no": int(counts.get("no", 0)),
                "intrinsic": int(counts.get("intrinsic", 0)),
                "missing": int(counts.get("missing", 0)),
                "total": len(values),
            }
        )
    return pd.DataFrame(rows, columns=["attribute", "yes", "no", "intrinsic", "missing", "total"])


def yearly_metrics(coded: pd.DataFrame) -> pd.DataFrame:
    """The practice metrics of each district and plan year (definitions in the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per district and coded plan year: ``district_code``, ``plan_year``, ``plan_year_start``,
        ``n_interventions``, ``carryover`` and ``jaccard`` from the previous plan year (NaN when that year is
        not coded), ``n_core`` and ``core_share`` (interventions of the year that belong to the district's
        core, :func:`core_interventions`), ``coupling_rate``, ``n_coupling``, ``dual_monitoring_rate``,
        ``n_monitoring``, ``smart_goal_rate``, ``n_smart``.
    """
    data = coded.copy()
    if "plan_year_start" not in data.columns:
        data["plan_year_start"] = data["plan_year"].map(plan_year_start)
    pairs = persistence_pairs(data).set_index(["district_code", "to_year"])
    core = core_interventions(data)
    rows = []
    for (code, start), block in data.groupby(["district_code", "plan_year_start"], sort=True):
        label = _label(int(start))
        coupled = block["coupled_capacity_building"].fillna("")
        impl = block["implementation_measure"].fillna("")
        outc = block["outcome_measure"].fillna("")
        smart = block["smart_goal"].fillna("")
        known_dual = ((impl != "") & (outc != "")) | (impl == "no") | (outc == "no")
        dual = (impl == "yes") & (outc == "yes")
        pair = pairs.loc[(code, label)] if (code, label) in pairs.index else None
        core_codes = set(core.loc[(core["district_code"] == code) & core["core"], "intervention"])
        n_core = len(set(block["intervention"]) & core_codes)
        rows.append(
            {
                "district_code": code,
                "plan_year": label,
                "plan_year_start": int(start),
                "n_interventions": len(block),
                "carryover": float(pair["carryover"]) if pair is not None else np.nan,
                "jaccard": float(pair["jaccard"]) if pair is not None else np.nan,
                "n_core": n_core,
                "core_share": n_core / len(block) if len(block) else np.nan,
                "coupling_rate": _rate(int((coupled == "yes").sum()), int(coupled.isin(["yes", "no"]).sum())),
                "n_coupling": int(coupled.isin(["yes", "no"]).sum()),
                "dual_monitoring_rate": _rate(int((dual & known_dual).sum()), int(known_dual.sum())),
                "n_monitoring": int(known_dual.sum()),
                "smart_goal_rate": _rate(int((smart == "yes").sum()), int(smart.isin(["yes", "no"]).sum())),
                "n_smart": int(smart.isin(["yes", "no"]).sum()),
            }
        )
    columns = ["district_code", "plan_year", "plan_year_start", "n_interventions", "carryover", "jaccard",
               "n_core", "core_share", "coupling_rate", "n_coupling", "dual_monitoring_rate", "n_monitoring",
               "smart_goal_rate", "n_smart"]
    return pd.DataFrame(rows, columns=columns)


#: Share of a district's coded plan years an intervention must appear in to belong to its core (the Neag
#: study's "small, consistent core"; the study gives no number, so a strict majority of years is used, and
#: at least two years so one plan has no core).
CORE_MIN_SHARE = 0.5
CORE_MIN_YEARS = 2


def core_interventions(coded: pd.DataFrame, min_share: float = CORE_MIN_SHARE,
                       min_years: int = CORE_MIN_YEARS) -> pd.DataFrame:
    """How many coded plan years each intervention of each district appears in, and whether it is core.

    An intervention is *core* when it appears in more than ``min_share`` of the district's coded plan years
    and in at least ``min_years`` of them; ``other`` is never core (two "other" need not be one thing).

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``intervention``, ``n_years``, ``n_plan_years``, ``share``, ``core``, ``first``
        and ``last`` (plan-year labels); sorted by district, most years first.
    """
    data = coded.copy()
    if "plan_year_start" not in data.columns:
        data["plan_year_start"] = data["plan_year"].map(plan_year_start)
    rows = []
    for code, block in data.groupby("district_code", sort=True):
        n_years = block["plan_year_start"].nunique()
        for intervention, sub in block.groupby("intervention", sort=True):
            years = sorted(sub["plan_year_start"].unique())
            share = len(years) / n_years
            rows.append({
                "district_code": code, "intervention": intervention, "n_years": len(years),
                "n_plan_years": n_years, "share": share,
                "core": bool(share > min_share and len(years) >= min_years
                             and intervention not in PERSISTENCE_EXCLUDE),
                "first": _label(int(years[0])), "last": _label(int(years[-1])),
            })
    out = pd.DataFrame(rows, columns=["district_code", "intervention", "n_years", "n_plan_years", "share",
                                      "core", "first", "last"])
    return out.sort_values(["district_code", "n_years", "intervention"], ascending=[True, False, True],
                           ignore_index=True)

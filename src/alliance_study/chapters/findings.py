"""The findings page: the book's answers in a few sentences, each with its uncertainty and its source.

The page (``notebooks/00_summarize_findings.ipynb`` -> ``book/findings.ipynb``) answers four questions:
where the money went, which districts improved more than their peers and how sure the ranking is, whether
designation changed outcomes, and what the public plans can show. This module turns analysis results into
the glued facts and verdict sentences of the first two; every sentence comes from a rule tested in
``tests/test_findings.py``.

The impact and plan findings quote the impact and plans chapters' own glued results (myst-nb glue across
pages, ``chapters/impact.ipynb::key``): those analyses run 10,000 permutations and 9,999 bootstrap draws per
design and outcome, and recomputing them for a summary would double the book's run time while risking two
versions of one number. The money and improvement findings are recomputed here from the panel with the
same functions and the same shared parameters (``params/main.yml`` ``defaults``) as their chapters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from alliance_study.analysis import describe
from alliance_study.analysis import money as money_analysis
from alliance_study.analysis.money import Estimate

from .display import format_money, format_per_pupil, name_list
from .money import MoneyResults, crowd_out_others, intervals_disagree, pass_through_class

#: A district is "almost surely" in the top group when it is there in at least this share of the bootstrap
#: draws, and "more likely than not" above :data:`LIKELY_SHARE` (the improvement chapter's thresholds).
SURE_SHARE = 0.90
LIKELY_SHARE = 0.50


def money_facts(funding: pd.DataFrame) -> dict[str, str]:
    """Where the money went: total, first and latest year, and dollars per pupil.

    Parameters
    ----------
    funding
        :func:`alliance_study.analysis.describe.alliance_funding`: one row per fiscal ``year`` with
        ``alliance_dollars`` (NaN where the ECS file has no year) and ``dollars_per_pupil``.

    Returns
    -------
    dict
        ``money_total`` (``$2.19 billion``), ``money_first_fy``, ``money_last_fy``, ``money_first``,
        ``money_last`` (amounts in those years), ``money_n_years``, ``pp_year`` (latest year with a per-pupil
        figure), ``pp_last`` (whole dollars), ``pp_definition``
        (:data:`~alliance_study.analysis.describe.PER_PUPIL_DEFINITION`) and ``money_trend`` (a rule:
        "rose", "fell" or "stayed level").

    Examples
    --------
    >>> f = pd.DataFrame({"year": [2012, 2013, 2014], "alliance_dollars": [0.0, 39.5e6, 87.4e6],
    ...                   "dollars_per_pupil": [float("nan"), 183.2, 401.0]})
    >>> money_facts(f)["money_total"], money_facts(f)["money_trend"]
    ('$127 million', 'rose')
    """
    paid = funding.loc[funding["alliance_dollars"].fillna(0) > 0].sort_values("year")
    if paid.empty:
        raise ValueError("no year with Alliance dollars in the funding table")
    first, last = paid.iloc[0], paid.iloc[-1]
    per_pupil = funding.loc[funding["dollars_per_pupil"].notna()].sort_values("year")
    change = float(last["alliance_dollars"]) / float(first["alliance_dollars"]) - 1
    trend = "rose" if change > 0.05 else "fell" if change < -0.05 else "stayed level"
    return {
        "money_total": format_money(float(paid["alliance_dollars"].sum())),
        "money_first_fy": str(int(first["year"])),
        "money_last_fy": str(int(last["year"])),
        "money_first": format_money(float(first["alliance_dollars"])),
        "money_last": format_money(float(last["alliance_dollars"])),
        "money_n_years": str(len(paid)),
        "pp_year": str(int(per_pupil.iloc[-1]["year"])) if len(per_pupil) else "none",
        "pp_last": format_per_pupil(float(per_pupil.iloc[-1]["dollars_per_pupil"])) if len(per_pupil)
        else "not available",
        "pp_definition": describe.PER_PUPIL_DEFINITION,
        "money_trend": trend,
    }


def _ci(e: Estimate) -> str:
    return f"{e.estimate:.2f} (95% interval {e.ci_low:.2f} to {e.ci_high:.2f})"


def pass_through_finding(preferred: Estimate, plain: Estimate) -> str:
    """How much of each Alliance dollar became spending, as the findings page says it (a rule).

    The preferred estimate (district and year effects plus a trend per district) is classed as the money
    chapter classes it (:func:`~alliance_study.chapters.money.pass_through_class`); when the estimate
    without the trends has a 95% interval that does not overlap it, the sentence says the answer rests on the
    trends.

    Examples
    --------
    >>> e = lambda b, lo, hi: Estimate("", "", "", b, 0.0, lo, hi, 0.0, 0.0, 0, 0, "")
    >>> pass_through_finding(e(1.41, 0.73, 2.09), e(-1.78, -2.65, -0.90)).split(". ")[1][:43]
    'Without the trends the estimate is -1.78 (9'
    >>> pass_through_finding(e(0.5, 0.2, 0.8), e(0.6, 0.1, 1.1)).split(". ")[1]
    'The estimate without the trends agrees (0.60 (95% interval 0.10 to 1.10)).'
    """
    head = (f"With a linear trend per district, each additional Alliance dollar per pupil went with "
            f"{_ci(preferred)} dollars of additional spending per pupil, {pass_through_class(preferred)}.")
    if intervals_disagree(preferred, plain):
        return head + (f" Without the trends the estimate is {_ci(plain)}: the answer rests on how the "
                       "designated districts' spending trend before FY2013 is carried forward.")
    return head + f" The estimate without the trends agrees ({_ci(plain)})."


def crowd_out_finding(preferred: Estimate, others: Mapping[str, Estimate],
                      rule_out: float = money_analysis.RULE_OUT_CROWD_OUT) -> str:
    """Whether local funding fell as Alliance dollars rose, as the findings page says it (a rule).

    The verdict is :func:`~alliance_study.analysis.money.crowd_out_verdict` of the preferred estimate (the
    money chapter's rule); the sentence then counts the other specifications (``others``: label -> estimate)
    whose verdict differs and names them with their verdicts.

    Examples
    --------
    >>> e = lambda b, lo, hi: Estimate("", "", "", b, 0.0, lo, hi, 0.0, 0.0, 0, 0, "")
    >>> crowd_out_finding(e(1.07, 0.24, 1.89), {"a": e(-0.9, -1.5, -0.4), "b": e(0.6, -0.3, 1.5)})[:44]
    'Local revenue per pupil did not fall as Alli'
    >>> crowd_out_finding(e(-0.6, -1.0, -0.2), {"a": e(-0.9, -1.5, -0.4)}).split(". ")[-1]
    'The other specification reaches the same verdict.'
    """
    verdict = money_analysis.crowd_out_verdict(preferred, rule_out)
    cents = f"{100 * rule_out:.0f} cents"
    if verdict == "supported":
        head = (f"Local revenue per pupil fell as Alliance dollars rose, by {_ci(preferred)} dollars per "
                "Alliance dollar, as the program's critics said.")
    elif verdict == "rejected":
        head = (f"Local revenue per pupil did not fall as Alliance dollars rose: it moved by "
                f"{_ci(preferred)} dollars per Alliance dollar, which rules out the critics' account of "
                f"local cuts larger than {cents} per dollar.")
    else:
        head = (f"Whether local revenue fell as Alliance dollars rose cannot be settled: the estimate, "
                f"{_ci(preferred)} dollars per Alliance dollar, allows both no cut and cuts of more than "
                f"{cents} per dollar.")
    verdicts = {label: money_analysis.crowd_out_verdict(e, rule_out) for label, e in others.items()}
    differ = [f"{label}: {v}" for label, v in verdicts.items() if v != verdict]
    n = len(others)
    if not differ:
        return head + (" The other specification reaches the same verdict." if n == 1 else
                       f" The other {n} specifications reach the same verdict.")
    share = (("The other specification" if n == 1 else f"All {n} other specifications") if len(differ) == n
             else f"{len(differ)} of the {n} other specifications")
    verb = "reaches" if len(differ) == n == 1 else "reach"
    return head + (f" {share} ({'; '.join(differ)}) {verb} a different verdict, so this answer depends "
                   "on the specification.")


def money_use_facts(results: MoneyResults) -> dict[str, str]:
    """The findings page's two sentences on where the money went, from the money chapter's estimates.

    Returns
    -------
    dict
        ``money_pass_through`` (:func:`pass_through_finding`) and ``money_crowd_out``
        (:func:`crowd_out_finding`, against the money chapter's other specifications).
    """
    return {
        "money_pass_through": pass_through_finding(results.pass_through["trends"],
                                                   results.pass_through["twfe"]),
        "money_crowd_out": crowd_out_finding(results.crowd_out["trends"].alliance, crowd_out_others(results)),
    }


def certainty_sentence(n_sure: int, n_likely: int, top_n: int) -> str:
    """How sure the ranking is, as one sentence (the rule of the improvement finding).

    Examples
    --------
    >>> certainty_sentence(2, 8, 8).split(",")[0]
    'Only 2 of the 8 are in the top group in at least 90% of the draws'
    >>> certainty_sentence(0, 3, 8).split(":")[1]
    ' the data cannot name the improvers with confidence.'
    """
    sure = f"{SURE_SHARE:.0%}"
    if n_sure == 0:
        return (f"No district is in the top group in {sure} of the draws: the data cannot name the improvers "
                "with confidence.")
    if n_sure >= top_n:
        return (f"All {top_n} are in the top group in at least {sure} of the draws: the ranking names them "
                "with confidence.")
    return (f"Only {n_sure} of the {top_n} are in the top group in at least {sure} of the draws, so the list "
            "is an estimate, not a verdict.")


def improvement_facts(p_top: Mapping[str, float], names: Mapping[str, str], top: Sequence[str],
                      expected_in_top: float, top_n: int) -> dict[str, Any]:
    """Which districts improved more than their peers, and how sure the ranking is.

    Parameters
    ----------
    p_top
        District code -> share of bootstrap draws in which the district is in the top group.
    names
        District code -> short name.
    top
        The point-estimate top group, best first.
    expected_in_top
        Expected number of the named districts that are truly in the top group
        (:attr:`alliance_study.analysis.improvement.BootstrapResult.expected_true_in_top`).
    top_n
        Size of the top group.

    Returns
    -------
    dict
        ``top_names``, ``n_ranked``, ``top_n``, ``n_sure``/``sure_names`` (P >= 0.90),
        ``n_likely`` (P > 0.50), ``expected_in_top`` (one decimal) and ``certainty`` (the sentence of
        :func:`certainty_sentence`).
    """
    # Thresholds apply to the probabilities as printed (two decimals), as in the improvement chapter.
    shown = {code: float(f"{p:.2f}") for code, p in p_top.items() if not math.isnan(p)}
    sure = [c for c in top if shown.get(c, 0.0) >= SURE_SHARE] + sorted(
        (c for c, p in shown.items() if p >= SURE_SHARE and c not in top), key=lambda c: -shown[c])
    n_likely = sum(p > LIKELY_SHARE for p in shown.values())
    return {
        "top_names": name_list([names[c] for c in top]),
        "n_ranked": len(shown),
        "top_n": top_n,
        "n_sure": len(sure),
        "sure_names": name_list([names[c] for c in sure]),
        "n_likely": n_likely,
        "expected_in_top": f"{expected_in_top:.1f}",
        "certainty": certainty_sentence(len(sure), n_likely, top_n),
    }


# --- the profiles index -------------------------------------------------------------------------------------

def profiles_table(panel: pd.DataFrame, ranks: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per Alliance District for the profiles index: cohort, enrollment, dollars per pupil, rank.

    Parameters
    ----------
    panel
        District-year panel (``district_code``, ``district_name``, ``year``, ``alliance_cohort``,
        ``alliance_designated``, ``enrollment``, ``alliance_dollars``).
    ranks
        District code -> improvement rank (adjusted, 1 = most improved) for the ranked districts.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``District``, ``Cohort (FY)``, ``Enrollment`` and its ``Enrollment year``,
        ``Alliance dollars per pupil`` (whole dollars, latest fiscal year with a value of
        :func:`~alliance_study.analysis.describe.alliance_dollars_per_pupil` for the district; "none paid"
        or "no enrollment data" without one) and its year, and
        ``Improvement rank`` (``"r of n"``, or "not ranked"), sorted by district name. When every row has
        the same year, the year goes into the header (``Enrollment (2022)``) and its column is dropped.
    """
    ranks = dict(ranks or {})
    n_ranked = sum(not math.isnan(r) for r in ranks.values())
    alliance = panel.loc[panel["alliance_cohort"].notna()].sort_values("year")
    own = describe.alliance_dollars_per_pupil(alliance, by=("district_code", "year"))
    rows = []
    for code, frame in alliance.groupby("district_code", sort=False):
        name = frame["district_name"].dropna()
        enrollment = frame.loc[frame["enrollment"].notna()]
        dollars = own.loc[own["district_code"] == code]
        per_pupil = float(dollars["dollars_per_pupil"].iloc[-1]) if len(dollars) else math.nan
        paid = bool((frame["alliance_dollars"].fillna(0) > 0).any())
        rank = ranks.get(code, math.nan)
        rows.append({
            "district_code": code,
            "District": (name.iloc[-1] if len(name) else code).replace(" School District", "").strip(),
            "Cohort (FY)": int(frame["alliance_cohort"].iloc[0]),
            "Enrollment": round(float(enrollment["enrollment"].iloc[-1])) if len(enrollment) else None,
            "Enrollment year": int(enrollment["year"].iloc[-1]) if len(enrollment) else None,
            "Alliance dollars per pupil": format_per_pupil(per_pupil) if len(dollars)
            else "no enrollment data" if paid else "none paid",
            "Dollars year (FY)": int(dollars["year"].iloc[-1]) if len(dollars) else None,
            "Improvement rank": f"{rank:.0f} of {n_ranked}" if not math.isnan(rank) else "not ranked",
        })
    table = pd.DataFrame(rows).sort_values("District", ignore_index=True)
    # A year shared by every row goes into the column header instead of a column of its own.
    for year_col, col in (("Enrollment year", "Enrollment"),
                          ("Dollars year (FY)", "Alliance dollars per pupil")):
        years = table[year_col].dropna().unique()
        if len(years) == 1:
            label = f"FY{int(years[0])}" if "FY" in year_col else str(int(years[0]))
            table = table.drop(columns=year_col).rename(columns={col: f"{col} ({label})"})
    return table


def profiles_markdown(table: pd.DataFrame, folder: str = "profiles/") -> str:
    """The profiles table as MyST; district names link to their pages (``{doc}`` roles under ``folder``)."""
    from .display import markdown_table

    shown = table.drop(columns=["district_code", "District"])
    body = markdown_table(shown).splitlines()
    pairs = zip(table["District"], table["district_code"], strict=True)
    links = [f"{{doc}}`{name} <{folder}{code}>`" for name, code in pairs]
    lines = ["| District " + body[0], "|---" + body[1]]
    lines += [f"| {link} " + row for link, row in zip(links, body[2:], strict=True)]
    return "\n".join(lines) + "\n"

"""The program chapter (``notebooks/01_introduce_program.ipynb``): who is designated and the money.

Turns the program's summaries (:func:`~alliance_study.analysis.describe.designation_counts`,
:func:`~alliance_study.analysis.describe.enrollment_share`,
:func:`~alliance_study.analysis.describe.alliance_funding`) into the glued facts, tables, figure and the
verdict on the published totals that the chapter shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from alliance_study.analysis import describe
from alliance_study.analysis.groups import alliance_mask
from alliance_study.chapters import display
from alliance_study.data import facts as published_facts

#: Cohorts whose size the prose names: the first cohort (FY2013) and the two statutory enlargements
#: (FY2018, C.G.S. 10-262u(b)(2); FY2023, 10-262u(b)(3)).
FIRST_COHORT, SECOND_COHORT, THIRD_COHORT = 2013, 2018, 2023

#: Fiscal years of the published money figures compared in the prose (``alliance_study.data.facts``): the
#: FY2013 announcement and the FY2015 press report (with FY2014 for its growth).
ANNOUNCED_FY, REPORTED_FY = 2013, 2015


def short_name(name: pd.Series) -> pd.Series:
    """District names without the trailing " School District" (Hartford, not Hartford School District)."""
    return name.str.replace(" School District", "", regex=False)


def funding_span(funding: pd.DataFrame, end_year: int) -> tuple[int, int]:
    """First fiscal year with Alliance dollars above zero, and the last year (<= ``end_year``) with a total.

    ``funding`` is :func:`~alliance_study.analysis.describe.alliance_funding`.
    """
    first = int(funding.loc[funding["alliance_dollars"] > 0, "year"].min())
    last = int(funding.loc[funding["alliance_dollars"].notna() & (funding["year"] <= end_year), "year"].max())
    return first, last


def membership_facts(panel: pd.DataFrame, cohorts: pd.DataFrame, shares: pd.DataFrame) -> dict[str, Any]:
    """Glued facts of "Who is in it": cohort sizes, Opportunity Districts, share of the state's students.

    Parameters
    ----------
    panel
        District-year panel (``opportunity_district``).
    cohorts
        :func:`~alliance_study.analysis.describe.designation_counts` (``cohort, added, total``).
    shares
        :func:`~alliance_study.analysis.describe.enrollment_share` (``year, share``), by year.
    """
    by_cohort = cohorts.set_index("cohort")
    first, last = shares.iloc[0], shares.iloc[-1]
    return {
        "n_cohort_2013": int(by_cohort.loc[FIRST_COHORT, "added"]),
        "n_added_2018": int(by_cohort.loc[SECOND_COHORT, "added"]),
        "n_total_2018": int(by_cohort.loc[SECOND_COHORT, "total"]),
        "n_added_2023": int(by_cohort.loc[THIRD_COHORT, "added"]),
        "n_total_2023": int(by_cohort.loc[THIRD_COHORT, "total"]),
        "n_opportunity": int(panel.loc[panel["opportunity_district"] == 1, "district_code"].nunique()),
        "share_students_first_year": int(first["year"]),
        "share_students_first": format(first["share"], ".0f"),
        "share_students_last_year": int(last["year"]),
        "share_students_last": format(last["share"], ".0f"),
    }


def _per_district(panel: pd.DataFrame) -> pd.DataFrame:
    alliance = panel.loc[alliance_mask(panel)]
    return alliance.groupby("district_code").agg(
        district=("district_name", "first"),
        cohort=("alliance_cohort", "first"),
        opportunity=("opportunity_district", "max"),
        dollars=("alliance_dollars", "sum"),
    )


def alliance_districts_table(panel: pd.DataFrame, first_fy: int, last_fy: int) -> pd.DataFrame:
    """Display table of the Alliance Districts: name, code, first year, Opportunity status, dollars ($M).

    Dollars are summed over the panel's years (pass the panel restricted to the chapter's span); the
    column header names the fiscal years ``first_fy``-``last_fy`` the sum covers.
    """
    per = _per_district(panel)
    return pd.DataFrame({
        "District": short_name(per["district"]),
        "Code": per.index,
        "First designated (FY)": per["cohort"].astype(int),
        "Opportunity District": per["opportunity"].map({1: "yes", 0: ""}),
        f"Alliance dollars FY{first_fy}-FY{last_fy} ($M)": (per["dollars"] / 1e6).map("{:,.1f}".format),
    }).sort_values(["First designated (FY)", "District"])


def never_funded_facts(panel: pd.DataFrame) -> dict[str, Any]:
    """Districts without Alliance dollars ever (``n_never_funded``, ``never_funded_names``)."""
    per = _per_district(panel)
    never = short_name(per.loc[per["dollars"] == 0, "district"])
    return {"n_never_funded": len(never),
            "never_funded_names": ", ".join(sorted(never)) if len(never) else "none"}


def ccer_verdict(before: float, through: float, claim: float) -> str:
    """How a published cumulative total compares with the panel's sums before and through its last year.

    Parameters
    ----------
    before
        Sum of the entitlements of the fiscal years before the claim's last year.
    through
        The same sum including the claim's last year.
    claim
        The published total.

    Returns
    -------
    str
        The end of the sentence "the council's round figure of about $X million ...".

    Examples
    --------
    >>> ccer_verdict(400e6, 550e6, 500e6)
    'lies between the two, consistent with a total counted part-way through that fiscal year'
    >>> ccer_verdict(300e6, 400e6, 500e6)
    "is more than the panel's entitlements add up to"
    """
    if before < claim <= through:
        return "lies between the two, consistent with a total counted part-way through that fiscal year"
    if through < claim:
        return "is more than the panel's entitlements add up to"
    return "is less than the entitlements already granted before that year"


def money_facts(funding: pd.DataFrame, ccer_fiscal_years: Sequence[int], end_year: int) -> dict[str, Any]:
    """Glued facts of "The money": yearly totals against the published figures, cumulative sums, per pupil.

    Parameters
    ----------
    funding
        :func:`~alliance_study.analysis.describe.alliance_funding` of the panel.
    ccer_fiscal_years
        First and last fiscal year counted by the March 2017 CCER claim ("almost half a billion").
    end_year
        Last year of the chapter.
    """
    first_fy, last_fy = funding_span(funding, end_year)
    dollars = funding.set_index("year")["alliance_dollars"]
    ccer = published_facts.published("ccer_cumulative_2017").value
    w0, w1 = ccer_fiscal_years
    before, through = dollars.loc[w0:w1 - 1].sum(), dollars.loc[w0:w1].sum()
    latest = funding.loc[funding["year"] == last_fy].iloc[0]
    per_pupil = funding.dropna(subset=["dollars_per_pupil"]).set_index("year")["dollars_per_pupil"]
    counted = funding.set_index("year")["n_per_pupil"]
    money = display.format_money  # amounts to three significant digits: "$2.19 billion", "$87.4 million"
    return {
        "first_fy": first_fy,
        "fy2013_total": f"${dollars.loc[ANNOUNCED_FY]:,.0f}",  # exact: compared with the announcement
        "announced_fy2013": money(published_facts.published("announced_fy2013").value),
        "fy2014_total": money(dollars.loc[REPORTED_FY - 1]),
        "fy2015_total": money(dollars.loc[REPORTED_FY]),
        "fy2015_growth_pct": format(100 * (dollars.loc[REPORTED_FY] / dollars.loc[REPORTED_FY - 1] - 1),
                                    ".0f"),
        "reported_fy2015": money(published_facts.published("reported_fy2015").value),
        "reported_fy2015_growth": format(published_facts.published("reported_fy2015_growth").value, ".0f"),
        "window_start": w0,
        "window_end": w1,
        "window_end_prev": w1 - 1,
        "cum_before_window_end": money(before),
        "cum_through_window_end": money(through),
        "ccer_claim": money(ccer),
        "ccer_verdict": ccer_verdict(before, through, ccer),
        "latest_fy": last_fy,
        "latest_total": money(latest["alliance_dollars"]),
        "latest_recipients": int(latest["n_recipients"]),
        "latest_designated": int(latest["n_designated"]),
        "cum_all": money(dollars.loc[first_fy:last_fy].sum()),
        "pp_first": display.format_per_pupil(per_pupil.loc[first_fy]),
        "pp_last_year": int(per_pupil.index.max()),
        "pp_last": display.format_per_pupil(per_pupil.iloc[-1]),
        "pp_n": int(counted.loc[per_pupil.index.max()]),
        "pp_definition": describe.PER_PUPIL_DEFINITION,
    }


def funding_table(funding: pd.DataFrame, first_fy: int) -> pd.DataFrame:
    """Display table by fiscal year from ``first_fy``: designated, receiving, total ($M), per pupil ($)."""
    years = funding.loc[(funding["year"] >= first_fy) & funding["alliance_dollars"].notna()]
    return pd.DataFrame({
        "Fiscal year": years["year"].astype(int),
        "Designated": years["n_designated"],
        "Receiving Alliance dollars": years["n_recipients"],
        "Alliance dollars ($M)": (years["alliance_dollars"] / 1e6).map("{:,.1f}".format),
        "Per pupil ($)": years["dollars_per_pupil"].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}"),
    })


def dollars_figure(funding: pd.DataFrame, first_fy: int):
    """Alliance dollars by fiscal year (bars, $ million) and per student enrolled (line), side by side."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    money = funding.loc[funding["year"] >= first_fy].dropna(subset=["alliance_dollars"])
    ax1.bar(money["year"], money["alliance_dollars"] / 1e6, color=display.PALETTE["alliance"])
    ax1.set_title("Alliance dollars, all designated districts ($ million)", fontsize=10)
    ax1.xaxis.get_major_locator().set_params(integer=True)
    per_pupil = funding.dropna(subset=["dollars_per_pupil"])
    ax2.plot(per_pupil["year"], per_pupil["dollars_per_pupil"], color=display.PALETTE["alliance"], marker="o")
    ax2.set_title("Alliance dollars per student enrolled in designated districts ($)", fontsize=10)
    ax2.set_xlim(ax1.get_xlim())
    ax2.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig

"""District profiles (``notebooks/10_profile_district.ipynb``, run once per Alliance District).

:func:`build` computes one district's long table against the other Alliance Districts, the comparison
districts and the state (:func:`~alliance_study.analysis.describe.district_profile`) and its facts; the
sentence rules (:func:`cohort_text`, :func:`opportunity_text`, :func:`money_text`, :func:`missing_note`,
:func:`enrollment_text`) turn the facts into the page's prose, and the figure and table functions draw
what the page shows. Every branch a page can take is a tested rule here, not an ``if`` in the notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alliance_study.analysis import describe, groups
from alliance_study.chapters import display, labels
from alliance_study.data.sources.keys import year_span

#: Published caveats about a district's Alliance money that the ECS file cannot show.
MONEY_NOTES: dict[str, str] = {
    "1410011": "The Hartford Courant reported on 8 July 2019 that Thompson, named an Alliance District the "
               "year before, had received no FY2019 allocation and was finally getting Alliance grant money; "
               "the ECS file shows no Alliance portion in any year, so the panel may understate its Alliance "
               "money.",
    "0490011": "Enfield was designated for FY2023 without an Alliance grant (NewsBreak, 4 June 2022).",
}

#: Towns without a high school of their own: graduates are reported under an endowed academy.
ACADEMY_GRADUATES: dict[str, str] = {
    "1040011": "Norwich Free Academy",
    "1620011": "The Gilbert School",
}

#: Money measures every profile shows.
MONEY_MEASURES = ["alliance_dollars", "alliance_dollars_per_pupil"]

#: Groups drawn on a profile's figures, in legend order.
SHOWN_GROUPS = [describe.DISTRICT, describe.OTHER_ALLIANCE, describe.COMPARISON, describe.STATE]

#: Staffing measures drawn in the context figure (the first ones of the staffing list, per 100 students).
N_STAFF_IN_FIGURE = 2


def _in_years(panel: pd.DataFrame, start_year: int | None, end_year: int | None) -> pd.Series:
    keep = pd.Series(True, index=panel.index)
    if start_year is not None:
        keep &= panel["year"] >= start_year
    if end_year is not None:
        keep &= panel["year"] <= end_year
    return keep


# --- facts --------------------------------------------------------------------------------------------------

def district_facts(panel: pd.DataFrame, district_code: str | int, start_year: int | None = None,
                   end_year: int | None = None) -> dict[str, Any]:
    """Facts about one district for its profile page (None where the data have none).

    Returns
    -------
    dict
        ``name``, ``short_name`` (without "School District"), ``cohort`` (first designated fiscal year),
        ``opportunity_years`` (list), ``dollars_years`` (first and last fiscal year with an ECS row),
        ``first_paid_year`` (first year with Alliance dollars above zero), ``dollars_total`` (sum over the
        years), ``dollars_last`` (latest year's Alliance dollars), ``per_pupil_last`` and
        ``per_pupil_last_year``, ``enrollment_last`` and ``enrollment_last_year``.

    Raises
    ------
    KeyError
        If the district is not in the panel.
    """
    district_code = groups.normalize_district_code(district_code)
    rows = panel.loc[(panel["district_code"] == district_code) & _in_years(panel, start_year, end_year)]
    if rows.empty:
        raise KeyError(f"district {district_code!r} is not in the panel (in the years asked for)")
    rows = rows.sort_values("year")
    names = rows["district_name"].dropna()
    name = str(names.iloc[0]) if len(names) else district_code
    cohort = rows["alliance_cohort"].dropna()
    dollars = rows.set_index("year")["alliance_dollars"].dropna()
    paid = dollars.loc[dollars > 0]
    per_pupil = describe.alliance_dollars_per_pupil(rows).set_index("year")["dollars_per_pupil"]
    enrolled = rows.set_index("year")["enrollment"].dropna()
    return {
        "name": name,
        "short_name": name.replace(" School District", ""),
        "cohort": int(cohort.iloc[0]) if len(cohort) else None,
        "opportunity_years": [int(y) for y in rows.loc[rows["opportunity_district"] == 1, "year"]],
        "dollars_years": (int(dollars.index.min()), int(dollars.index.max())) if len(dollars) else None,
        "first_paid_year": int(paid.index.min()) if len(paid) else None,
        "dollars_total": float(dollars.sum()) if len(dollars) else None,
        "dollars_last": float(dollars.iloc[-1]) if len(dollars) else None,
        "per_pupil_last": float(per_pupil.iloc[-1]) if len(per_pupil) else None,
        "per_pupil_last_year": int(per_pupil.index.max()) if len(per_pupil) else None,
        "enrollment_last": float(enrolled.iloc[-1]) if len(enrolled) else None,
        "enrollment_last_year": int(enrolled.index.max()) if len(enrolled) else None,
    }


# --- sentences ------------------------------------------------------------------------------------------

def cohort_text(cohort: int | None) -> str:
    """"first designated for FY2013", or "never designated".

    Examples
    --------
    >>> cohort_text(2018)
    'first designated for FY2018'
    """
    return f"first designated for FY{cohort}" if cohort else "never designated"


def opportunity_text(opportunity_years: Sequence[int]) -> str:
    """"an Opportunity District in FY2018-2023", or "not an Opportunity District"."""
    return (f"an Opportunity District in FY{year_span(opportunity_years)}" if opportunity_years
            else "not an Opportunity District")


def money_text(facts: Mapping[str, Any], district_code: str) -> str:
    """The profile's sentence on the district's Alliance money (:func:`district_facts`).

    Three cases: money above zero in some year (first year, total, latest year and, with enrollment data,
    per pupil); ECS rows but never an Alliance portion; no ECS rows at all. A published caveat
    (:data:`MONEY_NOTES`) is appended.
    """
    if facts["first_paid_year"] is not None:
        first, last = facts["first_paid_year"], facts["dollars_years"][1]
        text = (f"Its Alliance portion of the ECS grant was first above zero in FY{first} and adds up to "
                f"{display.format_money(facts['dollars_total'])} over FY{first}-FY{last}; in FY{last} it was "
                f"{display.format_money(facts['dollars_last'])}")
        if facts["per_pupil_last"] is not None:
            text += (f" (${facts['per_pupil_last']:,.0f} per pupil in FY{facts['per_pupil_last_year']}, "
                     "the last year with enrollment data)")
        text += "."
    elif facts["dollars_years"] is not None:
        first, last = facts["dollars_years"]
        text = (f"The ECS file shows no Alliance portion for it in any year from FY{first} to FY{last}: "
                "designation and money are separate facts.")
    else:
        text = "The ECS file has no entitlement rows for it, so its Alliance dollars are unknown."
    if district_code in MONEY_NOTES:
        text += " " + MONEY_NOTES[district_code]
    return text


def missing_note(missing: Sequence[str], district_code: str, shows_graduation: bool) -> str:
    """The note under "Outcomes": which outcomes have no data, and where an academy town's graduates are.

    Parameters
    ----------
    missing
        Titles of the outcomes without any value for the district.
    district_code
        The district (:data:`ACADEMY_GRADUATES` adds a sentence for towns without a high school).
    shows_graduation
        Whether the page shows the graduation rate.
    """
    note = ("No data for this district: " + "; ".join(missing) + ".") if missing else \
        "Every outcome has at least one year of data for this district."
    if shows_graduation and district_code in ACADEMY_GRADUATES:
        note += (" The town has no public high school of its own; its graduates are reported under "
                 f"{ACADEMY_GRADUATES[district_code]}.")
    return note


def enrollment_text(enrollment_last: float | None, enrollment_last_year: int | None) -> str:
    """"It enrolled 17,930 students in 2022", or that enrollment is not in the data."""
    if enrollment_last:
        return f"It enrolled {enrollment_last:,.0f} students in {enrollment_last_year}"
    return "Its enrollment is not in the data"


# --- the page -------------------------------------------------------------------------------------------

@dataclass
class DistrictProfile:
    """One district's page: its long table against the groups, its facts, and how to draw them.

    Attributes
    ----------
    district_code
        7-digit code.
    profile
        Long table (``year, group, measure, value, n_districts``) of
        :func:`~alliance_study.analysis.describe.district_profile`.
    facts
        :func:`district_facts`.
    own
        The district's own panel rows in the years shown.
    outcomes, staff_measures, context
        Measures of the outcome figure, the staffing table (``<column>_per_100``) and the context figure.
    titles, labels
        Figure title per measure; legend label per group.
    years
        First and last year shown.
    staffing_last_year, spending_last_year
        Last year with staff counts / spending per pupil in any district (None if none).
    """

    district_code: str
    profile: pd.DataFrame
    facts: dict[str, Any]
    own: pd.DataFrame
    outcomes: list[str]
    staff_measures: list[str]
    context: list[str]
    titles: dict[str, str]
    labels: dict[str, str]
    years: tuple[int, int]
    staffing_last_year: int | None
    spending_last_year: int | None


def build(panel: pd.DataFrame, state: pd.DataFrame, district_code: str | int, outcomes: Sequence[str],
          staffing: Sequence[str], context: Sequence[str], comparison: str, start_year: int,
          end_year: int) -> DistrictProfile:
    """One district's profile over ``start_year``-``end_year``.

    Parameters
    ----------
    panel
        District-year panel (the achievement index and staff per 100 students are added here).
    state
        State table (``state_year``): its rates and staff per 100 students are the state lines.
    district_code
        7-digit code (papermill may pass it as an integer; it is normalized).
    outcomes, staffing, context
        Outcome measures; staff count columns (shown per 100 students); context measures.
    comparison
        Comparison group (:data:`alliance_study.analysis.groups.COMPARISONS`).
    start_year, end_year
        Years shown.
    """
    code = groups.normalize_district_code(district_code)
    panel = panel.assign(achievement_index=groups.achievement_index(panel))
    panel = panel.join(describe.per_100_students(panel, staffing))
    state = describe.state_rates(state).join(describe.per_100_students(state, staffing))
    staff_measures = [f"{c}_per_100" for c in staffing]
    measures = list(outcomes) + staff_measures + list(context) + MONEY_MEASURES
    profile = describe.district_profile(panel, code, measures, comparison=comparison, state=state,
                                        start_year=start_year, end_year=end_year)
    facts = district_facts(panel, code, start_year, end_year)
    return DistrictProfile(
        district_code=code, profile=profile, facts=facts,
        own=panel.loc[(panel["district_code"] == code) & panel["year"].between(start_year, end_year)],
        outcomes=list(outcomes), staff_measures=staff_measures, context=list(context),
        titles=labels.measure_titles(measures),
        labels=dict(labels.profile_labels(facts["short_name"], comparison)), years=(start_year, end_year),
        staffing_last_year=describe.last_year_with_data(panel, "fte_total", end_year),
        spending_last_year=describe.last_year_with_data(panel, "ppe_total", end_year),
    )


def facts(page: DistrictProfile) -> dict[str, Any]:
    """Every glued fact of a profile page: title, names, designation, money, missing data, last years."""
    f = page.facts
    availability = describe.data_availability(page.profile).set_index("measure")
    missing = [page.titles[m] for m in page.outcomes if availability.loc[m, "n_years"] == 0]
    return {
        "district_title": f"{f['short_name']} ({page.district_code})",
        "district_name": f["name"],
        "district_short": f["short_name"],
        "district_code": page.district_code,
        "cohort_text": cohort_text(f["cohort"]),
        "opportunity_text": opportunity_text(f["opportunity_years"]),
        "money_text": money_text(f, page.district_code),
        "missing_note": missing_note(missing, page.district_code, "grad_rate" in page.outcomes),
        "enrollment_text": enrollment_text(f["enrollment_last"], f["enrollment_last_year"]),
        "staffing_last_year": page.staffing_last_year or "n/a",
        "spending_last_year": page.spending_last_year or "n/a",
    }


def outcomes_figure(page: DistrictProfile):
    """Small multiples of the outcomes: the district, the other Alliance Districts, comparison, state."""
    return display.trend_grid(page.profile, page.outcomes, titles=page.titles, ncols=2,
                              regime_measures=labels.TEST_MEASURES, years=page.years, groups=SHOWN_GROUPS,
                              labels=page.labels, required_group=describe.DISTRICT)


def context_figure(page: DistrictProfile):
    """Small multiples of the context measures and the first staffing measures per 100 students."""
    return display.trend_grid(page.profile, page.context + page.staff_measures[:N_STAFF_IN_FIGURE],
                              titles=page.titles, ncols=2, years=page.years, groups=SHOWN_GROUPS,
                              labels=page.labels, required_group=describe.DISTRICT)


def money_figure(page: DistrictProfile):
    """Alliance dollars by fiscal year (bars, or a note when there are none) and per pupil against the
    other Alliance Districts."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    dollars = page.own.set_index("year")["alliance_dollars"].dropna()
    ax1.set_title("Alliance dollars ($ million)", fontsize=10)
    if page.facts["first_paid_year"] is not None:
        ax1.bar(dollars.index, dollars / 1e6, color=display.PALETTE["district"])
        ax1.set_xlim(page.years[0] - 0.5, page.years[1] + 0.5)
        ax1.xaxis.get_major_locator().set_params(integer=True)
    else:
        ax1.text(0.5, 0.5, "no Alliance dollars in the ECS file", transform=ax1.transAxes, ha="center",
                 va="center", color="#777777")
        ax1.set_yticks([])
        ax1.set_xticks([])
    display.plot_trend(ax2, page.profile, "alliance_dollars_per_pupil",
                       title=page.titles["alliance_dollars_per_pupil"],
                       groups=[describe.DISTRICT, describe.OTHER_ALLIANCE], labels=page.labels,
                       years=page.years, required_group=describe.DISTRICT)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(loc="upper left")
    fig.tight_layout()
    return fig


def staffing_table(page: DistrictProfile) -> pd.DataFrame:
    """Staff per 100 students in the district's latest staffing year, with the groups' means that year.

    Indexed by the staffing measure's title (glue it with ``index=True``); columns ``Year`` and one per
    group, named by the page's legend labels.
    """
    long = page.profile
    latest = (long.loc[long["measure"].isin(page.staff_measures) & long["value"].notna()]
              .sort_values("year").groupby(["measure", "group"]).last().reset_index())
    table = latest.pivot(index="measure", columns="group", values="value").reindex(page.staff_measures)
    table = table.reindex(columns=[g for g in SHOWN_GROUPS if g in table.columns])
    table.index = pd.Index([page.titles[m] for m in table.index], name="Staff per 100 students")
    years = latest.loc[latest["group"] == describe.DISTRICT].set_index("measure")["year"].reindex(
        page.staff_measures)
    table.insert(0, "Year", years.map(lambda v: "" if pd.isna(v) else f"{v:.0f}").to_numpy())
    return table.rename(columns=page.labels)

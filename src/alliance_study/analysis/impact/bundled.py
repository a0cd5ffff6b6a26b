"""Programs that came bundled with Alliance designation, with their sources, and who received them.

A difference-in-differences estimate of "designation" is the effect of everything that changed for the
designated districts at the same time. Four programs overlap with the evaluation window. Each entry of
:data:`BUNDLED_PROGRAMS` says when it started, whom it reached, which outcomes it aims at and where the
fact comes from; :func:`program_exposure` counts, from the panel's CSDE grant payments, how many designated
and comparison districts received the two grant programs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from alliance_study.analysis import groups

#: Programs bundled with (or overlapping) designation. ``start``: first fiscal (spring) year; ``scope``:
#: ``designated`` (only designated districts received it), ``subset`` (some designated districts) or
#: ``statewide`` (every district, by law); ``outcomes``: the outcomes it aims at (``all`` for school
#: improvement in general); ``column``: the panel's payment column, where the program paid grants.
BUNDLED_PROGRAMS: tuple[dict[str, object], ...] = (
    {"program": "Priority School District grants", "key": "psd", "start": 2006, "scope": "subset",
     "outcomes": ("all",), "column": "pay_priority_school_districts",
     "what": "a grant that predates the program; from 2013-14 requested in one consolidated application "
             "with the Alliance plan",
     # Payments: panel column pay_priority_school_districts (CSDE grant payments, alspur/firsttermschlfinance
     # histpay.csv, FY1990-FY2014). Consolidation: STUDY_FACTS.md, plan templates 2013-14 (form ED-613a)
     # and 2015-16.
     "source": "CSDE grant payments (histpay, FY2006-FY2014); CSDE form ED-613a (2013-14) and the "
               "2015-16 consolidated application"},
    {"program": "Commissioner's Network", "key": "network", "start": 2013, "scope": "subset",
     "outcomes": ("all",), "column": "pay_commissioners_network",
     "what": "state-directed turnaround of low-performing schools, first paid in FY2013",
     # Payments: panel column pay_commissioners_network (histpay.csv; first payments FY2013).
     "source": "CSDE grant payments (histpay, FY2013-FY2014)"},
    {"program": "Opportunity District support", "key": "opportunity", "start": 2018, "scope": "subset",
     "outcomes": ("all",), "column": None,
     "what": "intensive support for the ten lowest-performing Alliance Districts under the state's ESSA "
             "plan (approved 4 August 2017)",
     # STUDY_FACTS.md ("Opportunity Districts ... given intensive support under the state's ESSA plan");
     # membership: shared/data/README.md (state budget office ECS spreadsheets, FY2020-23).
     "source": "STUDY_FACTS.md; CSDE 'Alliance and Opportunity Districts' page; OPM ECS spreadsheets"},
    {"program": "Public Act 15-96 (early-grade suspensions)", "key": "pa15_96", "start": 2016,
     "scope": "statewide", "outcomes": ("suspension_rate",), "column": None,
     "what": "bars out-of-school suspensions and expulsions in preschool to grade 2 except for violent or "
             "sexual conduct, from 1 July 2015",
     # Connecticut General Assembly, Public Act 15-96 (sSB 1053), effective 1 July 2015 (the 2015-16 school
     # year, spring year 2016); OLR act summary https://www.cga.ct.gov/2015/SUM/2015SUM00096-R02SB-01053-SUM.htm
     # Not in STUDY_FACTS.md: cited from the act summary directly.
     "source": "Public Act 15-96, cga.ct.gov/2015/SUM/2015SUM00096-R02SB-01053-SUM.htm"},
)


def programs_table() -> pd.DataFrame:
    """:data:`BUNDLED_PROGRAMS` as a table (``outcomes`` joined by commas)."""
    rows = [{**p, "outcomes": ", ".join(p["outcomes"])} for p in BUNDLED_PROGRAMS]  # type: ignore[arg-type]
    return pd.DataFrame(rows)


def program_exposure(panel: pd.DataFrame, cohorts: Sequence[int] = (2013,),
                     years: tuple[int, int] = (2013, 2014)) -> pd.DataFrame:
    """Designated and comparison districts with payments of each grant program in ``years``.

    Comparison districts are the never-designated town districts (the main design's). Programs without a
    payment column are counted from the panel where possible (Opportunity Districts: the
    ``opportunity_district`` flag in any year) and left missing otherwise.

    Returns
    -------
    pandas.DataFrame
        ``key, program, n_designated, n_comparison, n_designated_total, n_comparison_total``.
    """
    treated = groups.alliance_mask(panel, cohorts)
    control = groups.comparison_mask(panel, "other_town_districts")
    n_t = int(panel.loc[treated, "district_code"].nunique())
    n_c = int(panel.loc[control, "district_code"].nunique())
    in_years = panel["year"].between(*years)
    rows = []
    for p in BUNDLED_PROGRAMS:
        col = p["column"]
        if col is not None and col in panel.columns:
            got = in_years & (panel[col].fillna(0) > 0)
        elif p["key"] == "opportunity" and "opportunity_district" in panel.columns:
            got = panel["opportunity_district"].fillna(0) > 0
        else:
            got = None
        n_des = int(panel.loc[treated & got, "district_code"].nunique()) if got is not None else None
        n_cmp = int(panel.loc[control & got, "district_code"].nunique()) if got is not None else None
        if p["scope"] == "statewide":
            n_des, n_cmp = n_t, n_c
        rows.append({"key": p["key"], "program": p["program"], "n_designated": n_des, "n_comparison": n_cmp,
                     "n_designated_total": n_t, "n_comparison_total": n_c})
    return pd.DataFrame(rows)

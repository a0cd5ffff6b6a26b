"""Where the Alliance dollars went: spending, revenue by source, local crowd-out and a spending dose.

One vocabulary (every function, the chapter and the tests use these names):

- **per pupil** (``_pp``): dollars divided by ``adm``, the ECS average daily membership of the NCEP file
  (the same pupils the ECS grant, and so the Alliance portion, is computed for);
- ``spending_pp``: net current expenditure per pupil (``nce_per_pupil``, FY2008-2025 but 2015 and 2021);
  FY2006-2007 and FY2015 from EdSight's per-pupil expenditure (``ppe_total``), with ``spending_basis``
  saying which;
- ``alliance_pp``: Alliance dollars per pupil (0 before FY2013: the program did not exist);
  ``ecs_pp``: the whole ECS entitlement per pupil; ``other_ecs_pp = ecs_pp - alliance_pp``;
- ``local_pp``, ``state_pp``, ``federal_pp``, ``tuition_other_pp``, ``revenue_pp``: revenue per pupil by
  source, excluding school construction: published amounts / ADM for FY2018-2025, and for FY2006-2015 the
  published shares times ``spending_pp`` (``revenue_basis`` says which; no revenue data for FY2016-2017);
- ``_real`` suffix: in 2025 dollars (CPI-U, calendar year applied to the fiscal year);
- ``group``: the Alliance cohort (2013, 2018, 2023) or "Other K-12 town districts".

The sample is every town (local) district that serves its own pupils from kindergarten to grade 12,
i.e. not a member town of a 7-12 or 9-12 regional district (:data:`SHARED_REGION_TOWNS`): for those
towns the ECS figures count the pupils the regional district teaches, while the revenue figures are the
town district's alone. All 36 Alliance Districts are in the sample.

Estimators come from :mod:`alliance_study.analysis.within` (two-way fixed effects, district-clustered
errors). Pure functions; no file I/O; no prose (verdict labels only, worded in the chapter module).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance_study.analysis import within

#: Towns whose pupils attend a 7-12 or 9-12 regional district for the upper grades (Regions 1, 4, 5, 7, 8,
#: 9, 11 and 19; CSDE regional school district membership): their NCEP row counts those pupils and their
#: regional assessments, their revenue row does not, so per-pupil revenue would be understated by about
#: half. A real-data test checks that exactly these towns have revenue / NCE well below 1.
SHARED_REGION_TOWNS: dict[str, str] = {
    "0010011": "Andover",
    "0030011": "Ashford",
    "0050011": "Barkhamsted",
    "0080011": "Bethany",
    "0210011": "Canaan",
    "0240011": "Chaplin",
    "0260011": "Chester",
    "0290011": "Colebrook",
    "0310011": "Cornwall",
    "0360011": "Deep River",
    "0460011": "Easton",
    "0500011": "Essex",
    "0630011": "Hampton",
    "0670011": "Hebron",
    "0680011": "Kent",
    "0780011": "Mansfield",
    "0790011": "Marlborough",
    "0920011": "New Hartford",
    "0980011": "Norfolk",
    "1000011": "North Canaan",
    "1070011": "Orange",
    "1170011": "Redding",
    "1220011": "Salisbury",
    "1230011": "Scotland",
    "1250011": "Sharon",
    "1600011": "Willington",
    "1670011": "Woodbridge",
}

#: Group labels: Alliance cohorts by first designated fiscal year, and the comparison group.
COHORT_LABELS: dict[int, str] = {
    2013: "Alliance, designated FY2013",
    2018: "Alliance, designated FY2018",
    2023: "Alliance, designated FY2023",
}
OTHER_GROUP = "Other K-12 town districts"

#: Marked years: the program's first year (FY2013) and the 2020-21 break (FY2021: no NCEP file, school
#: closures, and federal pandemic relief from then on).
DESIGNATION_YEAR = 2013
BREAK_YEAR = 2021

#: First fiscal year with Alliance dollars; before it the program did not exist and ``alliance_pp`` is 0.
PROGRAM_FIRST_YEAR = 2013

#: Revenue sources in the order shown.
REVENUE_SOURCES: tuple[str, ...] = ("local", "state", "federal", "tuition_other")

#: Money measures (per pupil) and their labels.
MEASURES: dict[str, str] = {
    "spending_pp": "Net current expenditure per pupil",
    "alliance_pp": "Alliance dollars per pupil",
    "ecs_pp": "ECS aid per pupil (including Alliance)",
    "other_ecs_pp": "ECS aid per pupil other than Alliance",
    "local_pp": "Local revenue per pupil",
    "state_pp": "State revenue per pupil",
    "federal_pp": "Federal revenue per pupil",
    "tuition_other_pp": "Tuition and other revenue per pupil",
    "revenue_pp": "Revenue per pupil (all sources)",
}

#: A local response per state dollar below -RULE_OUT_CROWD_OUT would mean local funds were cut by more
#: than a quarter of each state dollar: the size at which "reductions in local funding" would matter for
#: what the grant could buy. An interval entirely above it rejects that account.
RULE_OUT_CROWD_OUT = 0.25

#: The dose is averaged over this many years, as Jackson and Mackevicius's benchmark (four years).
DOSE_YEARS = 4
#: At least this many of the four years must have a value (NCEP has no FY2015 or FY2021 file).
DOSE_MIN_YEARS = 3


@dataclass
class Estimate:
    """One coefficient of one regression, with everything the chapter reports.

    ``estimate``, ``se``, ``ci_low``, ``ci_high`` and ``mde`` are in the outcome's units per unit of the
    regressor (dollars per dollar for pass-through and crowd-out).
    """

    name: str
    outcome: str
    regressor: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    mde: float
    n_obs: int
    n_clusters: int
    years: str

    def as_dict(self) -> dict:
        """The fields as a dict (one table row)."""
        return dict(vars(self))


def _estimate(
    name: str,
    fit: within.WithinFit,
    outcome: str,
    regressor: str,
    years: str,
    combo: dict[str, float] | None = None,
) -> Estimate:
    """Read one coefficient (or a linear combination ``combo`` of coefficients) from a fit."""
    if combo is None:
        combo = {regressor: 1.0}
    w = pd.Series(combo).reindex(fit.params.index, fill_value=0.0)
    b = float(w @ fit.params)
    se = float(np.sqrt(w @ fit.vcov @ w))
    q = float(within.stats.t.ppf(0.975, fit.df))
    p = float(2 * within.stats.t.sf(abs(b / se), fit.df)) if se > 0 else float("nan")
    return Estimate(
        name,
        outcome,
        regressor,
        b,
        se,
        b - q * se,
        b + q * se,
        p,
        within.Z_MDE * se,
        fit.nobs,
        fit.n_clusters,
        years,
    )


def _years_text(frame: pd.DataFrame) -> str:
    from alliance_study.data.sources.keys import year_span

    return year_span(frame["year"])


# --- the money panel --------------------------------------------------------------------------------------


def k12_town_mask(panel: pd.DataFrame) -> pd.Series:
    """Town districts that serve their own pupils K-12 (not in :data:`SHARED_REGION_TOWNS`)."""
    return panel["entity_type"].eq("town_district") & ~panel["district_code"].isin(list(SHARED_REGION_TOWNS))


def money_panel(panel: pd.DataFrame, cpi: pd.DataFrame) -> pd.DataFrame:
    """The money measures per pupil for the K-12 town districts, nominal and in 2025 dollars.

    Parameters
    ----------
    panel
        District-year panel (``nce_per_pupil``, ``adm``, ``ppe_total``, ``alliance_dollars``,
        ``ecs_entitlement``, ``rev_*``, ``alliance_cohort``).
    cpi
        ``year, deflator_2025`` (the ``cpi`` side table).

    Returns
    -------
    pandas.DataFrame
        One row per district and year: ``district_code, district_name, year, cohort, group, adm, weight,
        deflator``, the :data:`MEASURES`, their ``_real`` versions, ``spending_basis`` and
        ``revenue_basis``.
    """
    d = panel.loc[k12_town_mask(panel)].reset_index(drop=True)
    adm = d["adm"].astype(float)
    out = pd.DataFrame(
        {
            "district_code": d["district_code"],
            "district_name": d["district_name"],
            "year": d["year"].astype(int),
            "cohort": d["alliance_cohort"].astype("Int64"),
            "adm": adm,
        }
    )
    out["group"] = out["cohort"].map(
        lambda c: COHORT_LABELS.get(int(c), OTHER_GROUP) if pd.notna(c) else OTHER_GROUP
    )
    ncep = d["nce_per_pupil"].astype(float)
    edsight = d["ppe_total"].astype(float) if "ppe_total" in d else pd.Series(np.nan, index=d.index)
    out["spending_pp"] = ncep.fillna(edsight)
    out["spending_basis"] = np.where(ncep.notna(), "NCEP", np.where(edsight.notna(), "EdSight", ""))
    alliance = d["alliance_dollars"].astype(float).where(d["year"] >= PROGRAM_FIRST_YEAR, 0.0)
    alliance = alliance.where(d["year"] < PROGRAM_FIRST_YEAR, d["alliance_dollars"].astype(float))
    out["alliance_pp"] = alliance / adm
    out["ecs_pp"] = d["ecs_entitlement"].astype(float) / adm
    out["other_ecs_pp"] = out["ecs_pp"] - out["alliance_pp"]
    amounts = d["rev_total"].notna()
    for source in (*REVENUE_SOURCES, "total"):
        name = "revenue_pp" if source == "total" else f"{source}_pp"
        from_amounts = d[f"rev_{source}"].astype(float) / adm
        if source == "total":
            share = pd.Series(
                np.where(d[[f"rev_{s}_pct" for s in REVENUE_SOURCES]].notna().any(axis=1), 100.0, np.nan),
                index=d.index,
            )
        else:
            share = d[f"rev_{source}_pct"].astype(float)
        out[name] = from_amounts.where(amounts, share / 100.0 * out["spending_pp"])
    # Weights for group means: ADM, or the district's nearest year's ADM where the year has none (FY2006-2007,
    # FY2015, FY2021: no NCEP file), so those years' dollars still count by the district's size.
    out["weight"] = adm.groupby(out["district_code"]).transform(
        lambda s: s.interpolate(limit_direction="both"))
    out["revenue_basis"] = np.where(
        amounts, "amounts", np.where(out["local_pp"].notna(), "shares x spending", "")
    )
    deflator = out["year"].map(cpi.set_index("year")["deflator_2025"]).astype(float)
    out["deflator"] = deflator
    for m in MEASURES:
        out[f"{m}_real"] = out[m] * deflator
    return out.sort_values(["district_code", "year"], ignore_index=True)


def group_series(money: pd.DataFrame, measures: list[str] | None = None, real: bool = True) -> pd.DataFrame:
    """Pupil-weighted group means by year: total dollars over total pupils of the districts with a value.

    The weights are ``weight`` (ADM, or the district's nearest ADM in years without one).

    Returns
    -------
    pandas.DataFrame
        ``group, year, measure, value, n_districts`` (long).
    """
    measures = list(MEASURES) if measures is None else measures
    rows = []
    for m in measures:
        col = f"{m}_real" if real else m
        ok = money[col].notna() & money["weight"].notna()
        sub = money.loc[ok].assign(_dollars=money.loc[ok, col] * money.loc[ok, "weight"])
        g = sub.groupby(["group", "year"]).agg(
            dollars=("_dollars", "sum"), adm=("weight", "sum"), n_districts=("district_code", "nunique")
        )
        rows.append(
            pd.DataFrame(
                {
                    "group": g.index.get_level_values(0),
                    "year": g.index.get_level_values(1),
                    "measure": m,
                    "value": (g["dollars"] / g["adm"]).to_numpy(),
                    "n_districts": g["n_districts"].to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def change_table(
    money: pd.DataFrame, start: int, end: int, measures: list[str] | None = None
) -> pd.DataFrame:
    """Pupil-weighted group means in 2025 dollars in ``start`` and ``end`` and their change.

    Returns ``group, measure, start, end, change`` (one row per group and measure with both years).
    """
    s = group_series(money, measures, real=True)
    wide = s[s["year"].isin([start, end])].pivot_table(
        index=["group", "measure"], columns="year", values="value"
    )
    wide = wide.dropna().rename(columns={start: "start", end: "end"}).reset_index()
    wide["change"] = wide["end"] - wide["start"]
    return wide[["group", "measure", "start", "end", "change"]]


# --- pass-through and event study -----------------------------------------------------------------------


def pass_through(
    money: pd.DataFrame,
    start: int = 2008,
    end: int = 2024,
    control_other_ecs: bool = False,
    unit_trends: bool = False,
) -> Estimate:
    """Dollars of net current expenditure per pupil per Alliance dollar per pupil (2025 dollars).

    ``spending_pp_real = a_i + g_t + b * alliance_pp_real [+ c * other_ecs_pp_real] + u``, district-
    clustered, on NCEP years (``spending_basis == "NCEP"``) in ``start``-``end``. With
    ``control_other_ecs`` the rest of ECS aid is held fixed (from FY2012, when the ECS file starts); with
    ``unit_trends`` each district has its own linear trend (the designated districts' spending was already
    falling behind before FY2013, see :func:`spending_event_study`).
    """
    sample = money.loc[(money["spending_basis"] == "NCEP") & money["year"].between(start, end)]
    x = ["alliance_pp_real"] + (["other_ecs_pp_real"] if control_other_ecs else [])
    if control_other_ecs:
        sample = sample.dropna(subset=["other_ecs_pp_real"])
    sample = sample.dropna(subset=["spending_pp_real", *x])
    fit = within.within_ols(sample, "spending_pp_real", x, unit_trends=unit_trends)
    name = (
        "pass-through"
        + (", other ECS aid held fixed" if control_other_ecs else "")
        + (", district trends" if unit_trends else "")
    )
    return _estimate(name, fit, "spending_pp_real", "alliance_pp_real", _years_text(sample))


def spending_event_study(
    money: pd.DataFrame,
    cohort: int = 2013,
    window: tuple[int, int] = (-5, 10),
    measure: str = "spending_pp_real",
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Event study of a money measure around designation: one cohort against never-designated districts.

    Returns
    -------
    table, pretrend
        Event-time coefficients (2025 dollars per pupil relative to the year before designation) and
        ``{"f", "p", "q"}`` of the joint test that the pre-designation coefficients are zero.
    """
    keep = money["cohort"].isna() | (money["cohort"] == cohort)
    sample = money.loc[keep & ((money["spending_basis"] == "NCEP") | (measure != "spending_pp_real"))]
    sample = sample.assign(cohort=sample["cohort"].astype(float))
    table, fit = within.event_study(sample, measure, "cohort", window)
    f, p, q = within.pre_trend_test(table, fit)
    return table, {"f": f, "p": p, "q": q}


# --- crowd-out -------------------------------------------------------------------------------------------


@dataclass
class CrowdOut:
    """Local revenue response per state dollar (2025 dollars per pupil), Alliance districts vs others."""

    alliance: Estimate  # per Alliance dollar, Alliance districts
    other_aid_alliance: Estimate  # per other ECS dollar, Alliance districts
    other_aid_others: Estimate  # per other ECS dollar, other districts
    difference: Estimate  # Alliance-dollar response minus the other districts' ECS response


def crowd_out(
    money: pd.DataFrame,
    start: int = 2012,
    end: int = 2024,
    amounts_only: bool = False,
    unit_trends: bool = False,
) -> CrowdOut:
    """Local revenue per pupil on Alliance and other ECS aid per pupil, with district and year effects.

    ``local_pp_real = a_i + g_t + b_A alliance_pp_real + b_O other_ecs_pp_real
    + b_OA other_ecs_pp_real x ever_alliance + u``, clustered by district. ``amounts_only`` keeps the
    FY2018-2025 years with published amounts (no share-based years); ``unit_trends`` adds a linear trend
    per district.
    """
    sample = money.loc[money["year"].between(start, end)]
    if amounts_only:
        sample = sample.loc[sample["revenue_basis"] == "amounts"]
    sample = sample.dropna(subset=["local_pp_real", "alliance_pp_real", "other_ecs_pp_real"])
    ever = sample["cohort"].notna().astype(float)
    sample = sample.assign(other_x_alliance=sample["other_ecs_pp_real"] * ever)
    x = ["alliance_pp_real", "other_ecs_pp_real", "other_x_alliance"]
    fit = within.within_ols(sample, "local_pp_real", x, unit_trends=unit_trends)
    years = _years_text(sample)
    y = "local_pp_real"
    return CrowdOut(
        alliance=_estimate(
            "local response per Alliance dollar (Alliance districts)", fit, y, "alliance_pp_real", years
        ),
        other_aid_alliance=_estimate(
            "local response per other ECS dollar (Alliance districts)",
            fit,
            y,
            "other_ecs_pp_real",
            years,
            {"other_ecs_pp_real": 1.0, "other_x_alliance": 1.0},
        ),
        other_aid_others=_estimate(
            "local response per ECS dollar (other districts)", fit, y, "other_ecs_pp_real", years
        ),
        difference=_estimate(
            "Alliance-dollar response minus other districts' ECS response",
            fit,
            y,
            "alliance_pp_real",
            years,
            {"alliance_pp_real": 1.0, "other_ecs_pp_real": -1.0},
        ),
    )


def crowd_out_verdict(estimate: Estimate, rule_out: float = RULE_OUT_CROWD_OUT) -> str:
    """Whether the data support "reductions in local funding" (a local response per state dollar below 0).

    Returns
    -------
    str
        ``"supported"`` if the whole interval is below 0 (local revenue fell as Alliance dollars rose),
        ``"rejected"`` if the whole interval lies above ``-rule_out`` (cuts larger than ``rule_out`` per
        dollar are ruled out), else ``"inconclusive"``.
    """
    if estimate.ci_high < 0:
        return "supported"
    if estimate.ci_low > -rule_out:
        return "rejected"
    return "inconclusive"


# --- dose-response ---------------------------------------------------------------------------------------


def rolling_dose(
    money: pd.DataFrame, column: str, years: int = DOSE_YEARS, lead: int = 0, min_years: int = DOSE_MIN_YEARS
) -> pd.Series:
    """Each district-year's mean of ``column`` over the ``years`` years ending ``lead`` years after it.

    ``lead=0``: this year and the three before (the exposure of a four-year benchmark); ``lead=4``: the
    four years after this one (a future dose, for the pre-trend check). NaN with fewer than ``min_years``
    values.
    """
    wide = money.pivot_table(
        index="district_code", columns="year", values=column, aggfunc="first", dropna=False
    )
    all_years = list(range(int(money["year"].min()) - years, int(money["year"].max()) + years + 1))
    wide = wide.reindex(columns=all_years)
    rolled = wide.T.rolling(years, min_periods=min_years).mean().shift(-lead).T
    long = rolled.stack(future_stack=True)
    keys = pd.MultiIndex.from_arrays([money["district_code"], money["year"]])
    return pd.Series(long.reindex(keys).to_numpy(), index=money.index, name=f"{column}_avg{years}")


def dose_frame(money: pd.DataFrame, panel: pd.DataFrame, outcome: str = "seda_gcs_eb") -> pd.DataFrame:
    """The money panel with the outcome and four-year doses in $1,000s of 2025 dollars per pupil.

    Adds ``outcome``, ``spending_k`` (NCEP years only), ``state_aid_k`` (ECS aid incl. Alliance),
    ``alliance_k`` (Alliance; 0 before the program) and ``spending_k_lead`` (the next four years'
    spending, for the pre-trend check).
    """
    out = money.merge(panel[["district_code", "year", outcome]], on=["district_code", "year"], how="left")
    ncep_spending = out["spending_pp_real"].where(out["spending_basis"] == "NCEP")
    out = out.assign(
        _spend=ncep_spending / 1000.0,
        _aid=out["ecs_pp_real"] / 1000.0,
        _alliance=out["alliance_pp_real"] / 1000.0,
    )
    out["spending_k"] = rolling_dose(out, "_spend")
    out["state_aid_k"] = rolling_dose(out, "_aid")
    out["alliance_k"] = rolling_dose(out, "_alliance")
    out["spending_k_lead"] = rolling_dose(out, "_spend", lead=DOSE_YEARS)
    return out.drop(columns=["_spend", "_aid", "_alliance"])


@dataclass
class DoseResult:
    """Effect of a four-year dose of $1,000 per pupil (2025 dollars) on an outcome, several ways.

    Attributes
    ----------
    ols_spending, ols_state_aid, iv_spending
        Outcome per $1,000 of spending (OLS), of state aid (OLS, every district's own aid) and of
        spending instrumented by Alliance dollars (2SLS).
    first_stage
        Spending per Alliance dollar in the first stage, with ``first_stage_f`` its cluster-robust F.
    lead
        Coefficient on next four years' spending, holding this period's fixed (a pre-trend check: it
        should be near 0).
    """

    outcome: str
    ols_spending: Estimate
    ols_state_aid: Estimate
    iv_spending: Estimate
    first_stage: Estimate
    first_stage_f: float
    strong_instrument: bool
    lead: Estimate


def dose_response(doses: pd.DataFrame, outcome: str = "seda_gcs_eb", unit_trends: bool = False) -> DoseResult:
    """Dose-response of ``outcome`` on four-year spending and state aid per pupil, every district.

    The instrument for spending is the Alliance dose (formula-driven: Alliance increments follow the ECS
    formula's need measures, not the district's own spending choices); it is used when its first-stage F
    reaches :data:`~alliance_study.analysis.within.WEAK_IV_F` (``strong_instrument``).
    """
    base = doses.dropna(subset=[outcome, "spending_k"])
    years = _years_text(base)
    tr = unit_trends
    ols = within.within_ols(base, outcome, ["spending_k"], unit_trends=tr)
    aid = doses.dropna(subset=[outcome, "state_aid_k"])
    ols_aid = within.within_ols(aid, outcome, ["state_aid_k"], unit_trends=tr)
    iv_sample = base.dropna(subset=["alliance_k"])
    iv = within.within_iv(iv_sample, outcome, "spending_k", ["alliance_k"], unit_trends=tr)
    lead_sample = base.dropna(subset=["spending_k_lead"])
    lead = within.within_ols(lead_sample, outcome, ["spending_k", "spending_k_lead"], unit_trends=tr)
    return DoseResult(
        outcome=outcome,
        ols_spending=_estimate("OLS, spending", ols, outcome, "spending_k", years),
        ols_state_aid=_estimate("OLS, state aid", ols_aid, outcome, "state_aid_k", _years_text(aid)),
        iv_spending=_estimate(
            "2SLS, spending instrumented by Alliance dollars",
            iv.second,
            outcome,
            "spending_k",
            _years_text(iv_sample),
        ),
        first_stage=_estimate(
            "first stage: spending per Alliance dollar",
            iv.first,
            "spending_k",
            "alliance_k",
            _years_text(iv_sample),
        ),
        first_stage_f=iv.first_stage_f,
        strong_instrument=bool(iv.first_stage_f >= within.WEAK_IV_F),
        lead=_estimate(
            "future spending (pre-trend check)", lead, outcome, "spending_k_lead", _years_text(lead_sample)
        ),
    )


def per_benchmark_dollars(estimate_per_1000_2025: float, sd_factor: float, deflator_2018: float) -> float:
    """An effect per $1,000 of 2025 dollars, in SD per $1,000 of 2018 dollars (Jackson-Mackevicius units).

    $1,000 of 2018 dollars is ``1000 * deflator_2018`` 2025 dollars, so the effect scales by
    ``deflator_2018``; ``sd_factor`` converts the outcome's units to student standard deviations.
    """
    return estimate_per_1000_2025 * sd_factor * deflator_2018


def estimates_table(estimates: list[Estimate]) -> pd.DataFrame:
    """Estimates as a table (one row each)."""
    return pd.DataFrame([e.as_dict() for e in estimates])

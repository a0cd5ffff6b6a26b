"""Synthetic district-year panels with known effects, for tests and for the book's method notes.

Every function takes an explicit ``seed`` (or :class:`numpy.random.Generator`) and is deterministic given
it. Panels use the project's vocabulary: ``district_code`` (7-digit string), ``year`` (spring year) and,
where there is a treatment, ``cohort`` (first treated year; missing for never-treated districts).

Several modules add simulators here; each function is self-contained so they can be added independently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

# --- staggered adoption (impact evaluation) ---------------------------------------------------------------

def staggered_panel(
    n_units: int = 160,
    years: Sequence[int] = tuple(range(2009, 2020)),
    cohorts: Mapping[int, int] | None = None,
    effect: float = 0.2,
    dynamic_slope: float = 0.0,
    cohort_effects: Mapping[int, float] | None = None,
    pre_trend: float = 0.0,
    unit_sd: float = 1.0,
    year_sd: float = 0.2,
    noise_sd: float = 0.3,
    ar: float = 0.0,
    select_on_level: float = 0.0,
    missing_years: Sequence[int] = (),
    missing_rate: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """A staggered-adoption district-year panel with a known treatment effect.

    The untreated outcome is ``y0 = unit effect + year effect + pre-trend + noise``; treated districts add
    ``tau = effect + dynamic_slope * (year - cohort) + cohort_effects[cohort]`` from their cohort year on.

    Parameters
    ----------
    n_units
        Number of districts.
    years
        Spring years of the panel.
    cohorts
        First treated year -> number of districts treated then (``{2013: 30}`` if None); the rest are
        never treated.
    effect
        Effect in the first treated year (and every year, with no dynamics or cohort heterogeneity).
    dynamic_slope
        Change of the effect per year since treatment (heterogeneity over event time).
    cohort_effects
        Extra effect by cohort (heterogeneity across cohorts).
    pre_trend
        Linear trend of the treated districts' untreated outcome, per year of ``year - cohort``: a
        violation of parallel trends (0 keeps them parallel).
    unit_sd, year_sd, noise_sd
        Standard deviations of the district effects, year effects and idiosyncratic noise.
    ar
        AR(1) coefficient of the noise within a district (serial correlation, which clustering must handle).
    select_on_level
        0 assigns treatment at random; a positive value makes districts with low unit effects more likely
        to be treated (as Alliance designation picked the lowest performers), via a logistic score with
        this slope. Selection on levels does not bias difference-in-differences; it only mimics the data.
    missing_years
        Years with no outcome at all (like 2014 and 2020 for tests); their rows are dropped.
    missing_rate
        Share of the remaining district-years dropped at random (an unbalanced panel).
    seed
        Seed or generator.

    Returns
    -------
    pandas.DataFrame
        ``district_code, year, cohort`` (Int64, missing if never treated), ``y`` (observed outcome), ``y0``
        (untreated outcome), ``tau`` (true effect; 0 before treatment and for never-treated districts),
        ``x1`` (a time-invariant covariate correlated with the district effect) and ``baseline`` (the
        district's mean ``y0`` over the years before the first cohort).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    cohorts = dict(cohorts) if cohorts is not None else {2013: 30}
    cohort_effects = dict(cohort_effects or {})
    years = np.asarray(list(years), dtype=int)
    n_treated = sum(cohorts.values())
    if n_treated > n_units:
        raise ValueError("more treated districts than districts")
    unit_fe = rng.normal(0.0, unit_sd, n_units)
    year_fe = rng.normal(0.0, year_sd, len(years))
    # Treatment assignment: a random order, or an order that favours low unit effects.
    if select_on_level > 0:
        score = -select_on_level * unit_fe / max(unit_sd, 1e-12) + rng.logistic(size=n_units)
        order = np.argsort(-score)
    else:
        order = rng.permutation(n_units)
    cohort = np.full(n_units, np.nan)
    start = 0
    for g, count in sorted(cohorts.items()):
        cohort[order[start:start + count]] = g
        start += count
    # AR(1) noise within each district, stationary variance noise_sd**2.
    eps = np.empty((n_units, len(years)))
    eps[:, 0] = rng.normal(0.0, noise_sd, n_units)
    innov_sd = noise_sd * np.sqrt(1.0 - ar**2)
    for j in range(1, len(years)):
        eps[:, j] = ar * eps[:, j - 1] + rng.normal(0.0, innov_sd, n_units)
    unit = np.repeat(np.arange(n_units), len(years))
    year = np.tile(years, n_units)
    g = cohort[unit]
    treated = ~np.isnan(g)
    rel = np.where(treated, year - np.nan_to_num(g), 0.0)
    trend = np.where(treated, pre_trend * rel, 0.0)
    y0 = unit_fe[unit] + np.tile(year_fe, n_units) + trend + eps.ravel()
    extra = np.array([cohort_effects.get(int(c), 0.0) if not np.isnan(c) else 0.0 for c in g])
    post = treated & (rel >= 0)
    tau = np.where(post, effect + dynamic_slope * rel + extra, 0.0)
    frame = pd.DataFrame({
        "district_code": [f"{i + 1:05d}11" for i in unit],
        "year": year.astype("int64"),
        "cohort": pd.array(np.where(treated, g, np.nan), dtype="Float64").astype("Int64"),
        "y": y0 + tau,
        "y0": y0,
        "tau": tau,
        "x1": (0.5 * unit_fe + rng.normal(0.0, 1.0, n_units))[unit],
    })
    first = min(cohorts) if cohorts else int(years.max()) + 1
    base = frame.loc[frame["year"] < first].groupby("district_code")["y0"].mean()
    frame["baseline"] = frame["district_code"].map(base).astype(float)
    keep = ~frame["year"].isin(list(missing_years))
    if missing_rate > 0:
        keep &= rng.random(len(frame)) >= missing_rate
    return frame.loc[keep].reset_index(drop=True)


# --- improvement rankings with mean reversion (issue 4) -----------------------------------------------------

#: Years with data per simulated indicator, as in the real panel (no SEDA in 2014 or 2020-2021; graduation
#: 2011-2020 and 2023-2024, absenteeism 2012-2020, suspensions 2010-2020). The default ``years`` of
#: :func:`improvement_panel` (2008-2019) keeps the pre-pandemic ones.
IMPROVEMENT_YEARS: dict[str, tuple[int, ...]] = {
    "seda_gcs_ol": (2009, 2010, 2011, 2012, 2013, 2015, 2016, 2017, 2018, 2019, 2022, 2023, 2024, 2025),
    "grad_rate": (*range(2011, 2021), 2023, 2024),
    "chronic_absent_rate": tuple(range(2012, 2021)),
    "suspension_rate": tuple(range(2010, 2021)),
}

#: Grade levels per SD of latent quality in the simulated SEDA achievement (``6.4 + 0.9 q``).
ACHIEVEMENT_SLOPE = 0.9

#: Companion columns emptied with each simulated indicator in the years it has no data.
_COMPANIONS: dict[str, tuple[str, ...]] = {
    "seda_gcs_ol": ("seda_gcs_ol_se", "seda_gcs_eb", "seda_gcs_eb_se"),
    "grad_rate": ("grad_cohort",),
    "suspension_rate": ("suspension_count",),
}


def improvement_panel(
    n_districts: int = 160,
    n_alliance: int = 30,
    n_improvers: int = 8,
    improvement: float = 0.5,
    size_scale: float = 1.0,
    shock_sd: float = 0.0,
    start_year: int = 2013,
    end_year: int = 2016,
    years: Sequence[int] = tuple(range(2008, 2020)),
    seed: int | np.random.Generator = 0,
    gain_sd: float = 0.0,
    n_missing_graduation: int = 0,
    indicator_years: Mapping[str, Sequence[int]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A district-year panel shaped like the real one, with known true improvers, mean reversion and noise.

    Each district has a size (enrollment, log-normal around 2,500 students), a poverty level (``frl_share``)
    and a latent quality ``q`` (SD about 1, lower where poverty is higher) that sets all four outcomes:
    SEDA-like achievement ``6.4 + 0.9 q`` grade levels, and graduation, chronic absenteeism and suspension
    rates on the logit scale (``2.3 + 0.8 q``, ``-2.5 - 0.5 q``, ``-3.0 - 0.5 q``). Observed values add
    **sampling noise** that the method knows about: SEDA's unshrunk (OLS) mean with standard error
    ``1.8 / sqrt(tested)`` (``tested = 0.45 * enrollment``; ``seda_gcs_ol``, ``seda_gcs_ol_se``) and, as SEDA
    publishes, an empirical-Bayes version shrunk toward the year's mean with reliability ``S / (S + se^2)``
    (``S`` the spread of the OLS means net of noise; ``seda_gcs_eb`` and posterior SE ``seda_gcs_eb_se``),
    rates as binomial draws from the
    reported cohort (enrollment / 13) or enrollment. Optional **transient shocks** (``shock_sd``, in units
    of ``q``, independent across years) are real year-to-year movement the method cannot tell from change.

    **Mean reversion** comes from selection: the ``n_alliance`` districts with the lowest *observed*
    achievement in the two years before ``start_year`` become the Alliance cohort (``alliance_cohort``
    2013), so their baseline is, on average, depressed by noise. **True improvers**: ``n_improvers`` of them,
    at random, gain ``improvement`` in ``q`` (about that many district-level SDs) on every indicator,
    growing linearly from 0 at ``start_year`` to the full gain at ``end_year`` and staying there.

    Parameters
    ----------
    n_districts, n_alliance, n_improvers
        Districts, Alliance districts among them, and true improvers among the Alliance districts.
    improvement
        True gain of the improvers, in SDs of latent quality (0: mean reversion alone).
    size_scale
        Multiplies every district's enrollment: below 1, smaller districts and noisier measures.
    shock_sd
        SD of independent district-year shocks to ``q`` (0: all noise is sampling noise).
    start_year, end_year
        The window over which improvers improve.
    years
        Spring years of the panel (each indicator keeps only its :data:`IMPROVEMENT_YEARS`).
    seed
        Seed or generator.
    gain_sd
        Every Alliance district also gains ``N(0, gain_sd)`` (continuous true improvements, so that true
        ranks exist for coverage checks).
    n_missing_graduation
        This many Alliance districts, at random, have no graduation rate (no high school of their own).
    indicator_years
        Years with data per column, replacing :data:`IMPROVEMENT_YEARS` entries.

    Returns
    -------
    tuple of pandas.DataFrame
        ``panel``: ``district_code, year, district_name, entity_type`` (``town_district``),
        ``alliance_cohort`` (Int64), ``alliance_designated``, ``enrollment``, ``frl_share``, ``seda_gcs_ol``,
        ``seda_gcs_ol_se``, ``seda_gcs_eb``, ``seda_gcs_eb_se``, ``grad_cohort``, ``grad_rate``,
        ``chronic_absent_rate``, ``suspension_rate``,
        ``suspension_count``. ``truth``: one row per district -- ``district_code, alliance, true_improver``
        (a non-zero gain; none when ``improvement`` is 0), ``true_gain, q`` (latent quality at baseline).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    years = np.asarray(sorted(years), dtype=int)
    n_y = len(years)
    enrollment = np.clip(np.exp(rng.normal(np.log(2500.0), 0.9, n_districts)), 150, 25000) * size_scale
    enrollment = np.maximum(np.round(enrollment), 20)
    poverty = rng.normal(0.0, 1.0, n_districts)
    frl = 100.0 / (1.0 + np.exp(-(-1.2 + 1.1 * poverty + rng.normal(0.0, 0.3, n_districts))))
    q0 = -0.8 * poverty + rng.normal(0.0, 0.6, n_districts)
    year_effect = rng.normal(0.0, 0.05, n_y)  # common to all districts; peer comparisons remove it
    shocks = rng.normal(0.0, shock_sd, (n_districts, n_y)) if shock_sd > 0 else np.zeros((n_districts, n_y))
    q = q0[:, None] + year_effect[None, :] + shocks

    def expit(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x))

    tested = np.maximum(np.round(0.45 * enrollment), 10)
    cohort_n = np.maximum(np.round(enrollment / 13.0), 5)
    se = 1.8 / np.sqrt(tested)

    def observe(q_mat: np.ndarray) -> dict[str, np.ndarray]:
        noise = rng.normal(0.0, 1.0, q_mat.shape) * se[:, None]
        out = {"seda_gcs_ol": 6.4 + ACHIEVEMENT_SLOPE * q_mat + noise}
        for col, (a, b), n in (("grad_rate", (2.3, 0.8), cohort_n),
                               ("chronic_absent_rate", (-2.5, -0.5), enrollment),
                               ("suspension_rate", (-3.0, -0.5), enrollment)):
            p = expit(a + b * q_mat)
            counts = rng.binomial(np.broadcast_to(n[:, None], p.shape).astype(np.int64), p)
            out[col] = np.round(100.0 * counts / n[:, None], 1)
            if col == "suspension_rate":
                out["suspension_count"] = counts.astype(float)
        return out

    # Selection on observed, noisy achievement before the program: the lowest n_alliance districts.
    pre = (years >= start_year - 2) & (years < start_year)
    gain = np.zeros(n_districts)
    ramp = np.clip((years - start_year) / max(end_year - start_year, 1), 0.0, 1.0)
    obs_pre = observe(q)  # the noise drawn here is the noise the panel reports for every year
    score = obs_pre["seda_gcs_ol"][:, pre].mean(axis=1)
    alliance = np.zeros(n_districts, dtype=bool)
    alliance[np.argsort(score, kind="stable")[:n_alliance]] = True
    improvers = np.zeros(n_districts, dtype=bool)
    if n_improvers:
        improvers[rng.choice(np.flatnonzero(alliance), size=n_improvers, replace=False)] = True
    gain[improvers] = improvement
    if gain_sd > 0:
        gain[alliance] += rng.normal(0.0, gain_sd, int(alliance.sum()))
    # Post-start years are re-observed with the improvers' gain; earlier years keep the draws used above.
    obs_post = observe(q + gain[:, None] * ramp[None, :])
    post = years > start_year
    obs = {k: np.where(post[None, :], obs_post[k], obs_pre[k]) for k in obs_pre}

    unit = np.repeat(np.arange(n_districts), n_y)
    codes = np.array([f"{i + 1:05d}11" for i in range(n_districts)])
    panel = pd.DataFrame({
        "district_code": codes[unit],
        "year": np.tile(years, n_districts).astype("int64"),
        "district_name": np.char.add("District ", codes[unit]),
        "entity_type": "town_district",
        "alliance_cohort": pd.array(np.where(alliance[unit], 2013, np.nan), dtype="Float64").astype("Int64"),
        "alliance_designated": (alliance[unit] & (np.tile(years, n_districts) >= 2013)).astype("int64"),
        "enrollment": enrollment[unit],
        "frl_share": frl[unit],
        "seda_gcs_ol_se": se[unit],
        "grad_cohort": cohort_n[unit],
    })
    for col, arr in obs.items():
        panel[col] = arr.ravel()
    # SEDA's EB means: each year's OLS means shrunk toward that year's mean by their reliability.
    ol = obs["seda_gcs_ol"]
    signal = np.maximum(ol.var(axis=0, ddof=1) - np.mean(se**2), 1e-6)
    rel = signal[None, :] / (signal[None, :] + (se**2)[:, None])
    panel["seda_gcs_eb"] = (ol.mean(axis=0)[None, :] + rel * (ol - ol.mean(axis=0)[None, :])).ravel()
    panel["seda_gcs_eb_se"] = (np.sqrt(rel) * se[:, None]).ravel()
    if n_missing_graduation:
        no_hs = rng.choice(np.flatnonzero(alliance), size=n_missing_graduation, replace=False)
        rows = np.isin(unit, no_hs)
        panel.loc[rows, ["grad_rate", "grad_cohort"]] = np.nan
    kept_years = {**IMPROVEMENT_YEARS, **{k: tuple(v) for k, v in (indicator_years or {}).items()
                                           if k in IMPROVEMENT_YEARS}}
    for col, kept in kept_years.items():
        drop = ~panel["year"].isin(list(kept))
        panel.loc[drop, [col, *_COMPANIONS.get(col, ())]] = np.nan
    truth = pd.DataFrame({"district_code": codes, "alliance": alliance, "true_improver": gain != 0,
                          "true_gain": gain, "q": q0})
    return panel, truth


# --- coded improvement plans (plan-coding toolkit) ----------------------------------------------------------

def plan_records(
    n_districts: int = 6,
    plan_years: Sequence[str] = ("2012-13", "2013-14", "2014-15", "2015-16", "2016-17"),
    core_size: int | Sequence[int] = 4,
    replaced_per_year: int | Sequence[int] = 1,
    coupling_rate: float | Sequence[float] = 0.5,
    dual_rate: float | Sequence[float] = 0.5,
    codes: Sequence[str] | None = None,
    coders: Sequence[str] = ("A",),
    omit_rate: float = 0.0,
    add_rate: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coding records of simulated plans with known persistence, focus, coupling and dual monitoring.

    District ``i`` starts with ``core_size[i]`` interventions; in each later plan year it drops
    ``replaced_per_year[i]`` of them (chosen at random) and adds as many never used before. So every pair of
    adjacent years keeps ``c - r`` of ``c`` interventions: carryover ``(c - r) / c``, Jaccard
    ``(c - r) / (c + r)``, and ``c + r (T - 1)`` distinct interventions over ``T`` years. Exactly
    ``round(coupling_rate * n)`` of the district's ``n = c T`` intervention-years are coupled with capacity
    building (``yes``, the rest ``no``) and exactly ``round(dual_rate * n)`` have both an implementation and
    an outcome measure (the rest one or neither, all coded), so the true rates are known exactly.

    The first coder's records are the truth. Each further coder copies them, omitting each record with
    probability ``omit_rate`` and adding, per district-plan year, one extra code with probability
    ``add_rate`` (disagreements for reliability and consensus checks).

    Parameters
    ----------
    n_districts, plan_years
        Districts (codes ``00001 11``-style 7-digit strings) and consecutive plan years.
    core_size, replaced_per_year, coupling_rate, dual_rate
        One value for all districts or one per district.
    codes
        Intervention codes to draw from (default: the codebook's, without ``other``).
    coders, omit_rate, add_rate
        Coders and the disagreement of coders after the first.
    seed
        Seed or generator.

    Returns
    -------
    records : pandas.DataFrame
        Coding records (the columns of :data:`alliance_study.analysis.plans.records.RECORD_COLUMNS`).
    truth : pandas.DataFrame
        Per district: ``district_code``, ``carryover``, ``jaccard``, ``n_distinct``, ``coupling_rate``,
        ``dual_monitoring_rate`` (exact values for the first coder's records).

    Raises
    ------
    ValueError
        If a district needs more distinct codes than ``codes`` offers.
    """
    from alliance_study.analysis.plans.codebook import load_codebook
    from alliance_study.analysis.plans.records import RECORD_COLUMNS

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    pool_all = (list(codes) if codes is not None
                else [c for c in load_codebook().ids("intervention") if c != "other"])
    n_years = len(plan_years)

    def per_district(value, name):
        values = [value] * n_districts if np.isscalar(value) else list(value)
        if len(values) != n_districts:
            raise ValueError(f"{name} needs one value or {n_districts}")
        return values

    sizes, drops = per_district(core_size, "core_size"), per_district(replaced_per_year, "replaced_per_year")
    coupling, dual = per_district(coupling_rate, "coupling_rate"), per_district(dual_rate, "dual_rate")
    rows, truth = [], []
    for i in range(n_districts):
        code = f"{i + 1:05d}11"
        c, r = int(sizes[i]), int(drops[i])
        if c + r * (n_years - 1) > len(pool_all) or r > c:
            raise ValueError(f"district {i}: core {c} with {r} replaced per year needs "
                             f"{c + r * (n_years - 1)} codes; {len(pool_all)} available")
        pool = list(rng.permutation(pool_all))
        current, fresh = pool[:c], c
        sets = [list(current)]
        for _ in range(1, n_years):
            dropped = set(rng.choice(sorted(current), size=r, replace=False)) if r else set()
            current = [x for x in current if x not in dropped] + pool[fresh:fresh + r]
            fresh += r
            sets.append(list(current))
        n = c * n_years
        n_yes, n_dual = round(coupling[i] * n), round(dual[i] * n)
        coupled = rng.permutation(["yes"] * n_yes + ["no"] * (n - n_yes))
        monitoring = rng.permutation([("yes", "yes")] * n_dual + [
            (("yes", "no"), ("no", "yes"), ("no", "no"))[k % 3] for k in range(n - n_dual)])
        k = 0
        for plan_year, chosen in zip(plan_years, sets, strict=True):
            for intervention in chosen:
                rows.append({"district_code": code, "district_name": f"District {code}",
                             "plan_year": plan_year, "domain": "", "intervention": intervention,
                             "coder": coders[0], "coupled_capacity_building": coupled[k],
                             "implementation_measure": monitoring[k][0], "outcome_measure": monitoring[k][1],
                             "smart_goal": "yes" if k % 2 else "no",
                             "evidence_quote": f"simulated evidence for {intervention}",
                             "source_page": str(1 + k), "source_url": "", "notes": "",
                             "codebook_version": ""})
                k += 1
        truth.append({"district_code": code, "carryover": (c - r) / c, "jaccard": (c - r) / (c + r),
                      "n_distinct": c + r * (n_years - 1), "coupling_rate": n_yes / n,
                      "dual_monitoring_rate": n_dual / n})
    first = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    frames = [first]
    for coder in coders[1:]:
        keep = rng.random(len(first)) >= omit_rate
        other = first.loc[keep].assign(coder=coder)
        extra = []
        for _, block in first.groupby(["district_code", "plan_year"], sort=True):
            if rng.random() < add_rate:
                unused = sorted(set(pool_all) - set(block["intervention"]))
                row = block.iloc[0].to_dict()
                row.update(intervention=str(rng.choice(unused)), coder=coder,
                           evidence_quote="simulated extra code")
                extra.append(row)
        extra_frame = pd.DataFrame(extra, columns=list(RECORD_COLUMNS))
        frames.append(pd.concat([other, extra_frame], ignore_index=True))
    records = pd.concat(frames, ignore_index=True)
    return records, pd.DataFrame(truth)


# --- money: pass-through and crowd-out ------------------------------------------------------------------

def money_panel(
    n_units: int = 120,
    years: Sequence[int] = tuple(range(2008, 2025)),
    n_alliance: int = 30,
    cohort: int = 2013,
    pass_through: float = 0.6,
    crowd_out: float = -0.3,
    other_aid_effect: float = -0.1,
    noise_sd: float = 300.0,
    ar: float = 0.5,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """A district-year money panel (2025 dollars per pupil) with known pass-through and crowd-out.

    Alliance dollars per pupil start at ``cohort`` for the first ``n_alliance`` districts and grow with
    district-specific slopes; every district's other ECS aid per pupil drifts. Then
    ``spending = unit + year + pass_through * alliance + 0.3 * other_aid + e`` and
    ``local = unit + year + crowd_out * alliance + other_aid_effect * other_aid + e``, with AR(1) errors
    within district (coefficient ``ar``), so clustered standard errors are needed for correct coverage.

    Returns
    -------
    pandas.DataFrame
        The columns :func:`alliance_study.analysis.money.pass_through` and ``crowd_out`` read:
        ``district_code, year, cohort, adm, alliance_pp_real, other_ecs_pp_real, spending_pp_real,
        local_pp_real, spending_basis ("NCEP"), revenue_basis ("amounts")``.
    """
    rng = np.random.default_rng(seed)
    years = list(years)
    n_t = len(years)
    codes = [f"{i + 1:03d}0011" for i in range(n_units)]
    treated = np.arange(n_units) < n_alliance
    t = np.array(years, dtype=float)
    since = np.clip(t - cohort + 1, 0, None)
    slope = rng.uniform(100.0, 400.0, n_units)
    alliance = np.where(treated[:, None], slope[:, None] * np.minimum(since, 6)[None, :]
                        + rng.normal(0, 100, (n_units, n_t)) * (since > 0)[None, :], 0.0)
    alliance = np.clip(alliance, 0.0, None)
    other = (rng.normal(4000, 2000, n_units)[:, None] + np.cumsum(rng.normal(0, 150, (n_units, n_t)), axis=1))

    def errors() -> np.ndarray:
        e = np.empty((n_units, n_t))
        e[:, 0] = rng.normal(0, noise_sd, n_units)
        for j in range(1, n_t):
            e[:, j] = ar * e[:, j - 1] + rng.normal(0, noise_sd * np.sqrt(1 - ar ** 2), n_units)
        return e

    unit = rng.normal(18000, 3000, n_units)[:, None]
    year = np.linspace(0, 2000, n_t)[None, :] + rng.normal(0, 200, n_t)[None, :]
    spending = unit + year + pass_through * alliance + 0.3 * other + errors()
    local = 0.6 * unit + year + crowd_out * alliance + other_aid_effect * other + errors()
    frame = pd.DataFrame({
        "district_code": np.repeat(codes, n_t),
        "year": np.tile(years, n_units),
        "cohort": pd.array(np.repeat(np.where(treated, cohort, -1), n_t), dtype="Int64"),
        "adm": 1000.0,
        "alliance_pp_real": alliance.ravel(),
        "other_ecs_pp_real": other.ravel(),
        "spending_pp_real": spending.ravel(),
        "local_pp_real": local.ravel(),
        "spending_basis": "NCEP",
        "revenue_basis": "amounts",
    })
    frame.loc[frame["cohort"] < 0, "cohort"] = pd.NA
    return frame


# --- selection on an observed covariate (overlap designs, issue 15) ---------------------------------------

def covariate_selection_panel(n_units: int = 120, years: Sequence[int] = tuple(range(2009, 2017)),
                              cohort: int = 2013, effect: float = 0.3, select_on_x: float = 1.0,
                              trend_on_x: float = 0.1, unit_sd: float = 1.0, noise_sd: float = 0.2,
                              seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """A one-cohort panel where designation and the untreated trend both depend on a covariate ``x``.

    ``x ~ N(0, 1)``; each district is designated with probability ``logistic(select_on_x * x)``; the untreated
    outcome is ``unit effect + year effect + trend_on_x * x * (year - cohort) + noise``. So the plain DiD is
    biased (designated districts have higher ``x`` and so steeper trends) while a comparison conditioning on
    ``x`` (weighting, regression, doubly robust) is not, and with a moderate ``select_on_x`` the groups
    overlap.

    Returns
    -------
    pandas.DataFrame
        ``district_code, year, cohort, y, tau, x`` (``x`` time-invariant).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    years = np.asarray(list(years), dtype=int)
    x = rng.normal(0.0, 1.0, n_units)
    treated = rng.random(n_units) < 1.0 / (1.0 + np.exp(-select_on_x * x))
    unit_fe = rng.normal(0.0, unit_sd, n_units)
    year_fe = rng.normal(0.0, 0.2, len(years))
    unit = np.repeat(np.arange(n_units), len(years))
    year = np.tile(years, n_units)
    tau = np.where(treated[unit] & (year >= cohort), effect, 0.0)
    y = (unit_fe[unit] + np.tile(year_fe, n_units) + trend_on_x * x[unit] * (year - cohort)
         + rng.normal(0.0, noise_sd, len(unit)) + tau)
    return pd.DataFrame({
        "district_code": [f"{i + 1:05d}11" for i in unit], "year": year.astype("int64"),
        "cohort": pd.array(np.where(treated[unit], cohort, np.nan), dtype="Float64").astype("Int64"),
        "y": y, "tau": tau, "x": x[unit],
    })


# --- one treated district under a factor model (synthetic control and synthetic DiD) ---------------------

def factor_panel(
    n_units: int = 40,
    years: Sequence[int] = tuple(range(2007, 2019)),
    first_post_year: int = 2013,
    n_treated: int = 1,
    effect: float = 0.0,
    treated_shift: float = 0.0,
    n_factors: int = 2,
    loading_sd: float = 0.5,
    unit_sd: float = 1.0,
    year_sd: float = 0.3,
    noise_sd: float = 0.2,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """A balanced district-year panel with interactive fixed effects and ``n_treated`` treated districts.

    ``y0 = unit effect + year effect + loadings_i' factors_t + noise``; the first ``n_treated`` districts
    (codes ``0000111``, ``0000211``, ...) add ``treated_shift`` in every year (a level no convex combination
    of the others can reach, as for the largest cities) and ``effect`` from ``first_post_year`` on. The
    factors are random walks, so districts drift apart along paths only similar districts share: the setting
    in which synthetic control and synthetic DiD weights help (Arkhangelsky et al. 2021).

    Returns
    -------
    pandas.DataFrame
        ``district_code, year, cohort`` (Int64, missing if never treated), ``y``, ``y0`` and ``tau``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    years = np.asarray(list(years), dtype=int)
    n_years = len(years)
    unit_fe = rng.normal(0.0, unit_sd, n_units)
    year_fe = rng.normal(0.0, year_sd, n_years)
    factors = np.cumsum(rng.normal(0.0, 1.0, (n_years, n_factors)), axis=0)
    loadings = rng.normal(0.0, loading_sd, (n_units, n_factors))
    noise = rng.normal(0.0, noise_sd, (n_units, n_years))
    y0 = unit_fe[:, None] + year_fe[None, :] + loadings @ factors.T + noise
    treated = np.arange(n_units) < n_treated
    y0[treated] += treated_shift
    tau = np.where(treated[:, None] & (years[None, :] >= first_post_year), effect, 0.0)
    cohort = np.where(treated, float(first_post_year), np.nan)
    return pd.DataFrame({
        "district_code": np.repeat([f"{i + 1:05d}11" for i in range(n_units)], n_years),
        "year": np.tile(years, n_units).astype("int64"),
        "cohort": pd.array(np.repeat(cohort, n_years), dtype="Float64").astype("Int64"),
        "y": (y0 + tau).ravel(),
        "y0": y0.ravel(),
        "tau": tau.ravel(),
    })

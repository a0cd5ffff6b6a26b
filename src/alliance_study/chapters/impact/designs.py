"""The designs page (notebooks/12_check_designs.ipynb): the rebuilt 2011 DPI, the near-miss group on it,
and the comparisons with common support. Results -> glued facts, display tables, a figure and verdicts.

The estimators are in :mod:`alliance_study.analysis.impact.dpi` and
:mod:`alliance_study.analysis.impact.overlap`; each function here is one section of the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alliance_study.analysis import impact
from alliance_study.analysis.impact import dpi, overlap
from alliance_study.chapters.impact.prose import format_p, number, outcome_digits
from alliance_study.chapters.impact.tables import OUTCOME_SHORT

#: Fewer comparison (or treated) districts than this is "a handful": with so few, one district's shock moves
#: the comparison mean visibly and the district-clustered standard errors have few degrees of freedom
#: (cluster-robust inference is unreliable below about ten clusters; Cameron and Miller 2015, section VI).
FEW_DISTRICTS = 10

#: Values of the Basic share (:data:`alliance_study.analysis.impact.dpi.BASIC_SHARE`) under which the
#: ranking is recomputed: the bounds (all non-proficient students Below Basic, all Basic) and the CAPT value.
BASIC_SHARE_BOUNDS: tuple[float, ...] = (0.0, dpi.BASIC_SHARE, 1.0)

#: Short names of the overlap estimators (:data:`alliance_study.analysis.impact.overlap.ESTIMATORS`).
ESTIMATOR_SHORT: dict[str, str] = {"did": "unweighted", "ipw": "propensity-weighted", "dr": "doubly robust"}

#: Outcomes of the overlap section: those with an estimate on the main page that a no-overlap design flipped
#: or made significant (SEDA, the achievement index, graduation); three keep the page's bootstrap cheap.
OVERLAP_OUTCOMES: tuple[str, ...] = ("seda_gcs_eb", "achievement_index", "grad_rate")


@dataclass
class DpiRebuild:
    """The rebuilt index and what follows from it.

    Attributes
    ----------
    dpi
        :func:`~alliance_study.analysis.impact.dpi.district_dpi` of every district and year.
    ranking
        The designation year's ranking of town districts, with ``district_name`` and ``alliance_cohort``.
    overlap
        How the 30 lowest reproduce the 2013 cohort.
    near_miss
        Codes of the near-miss group (never-designated, ranks :data:`~alliance_study.analysis.impact.dpi.
        NEAR_MISS_RANKS`).
    bounds
        Basic share -> districts of the 2013 cohort among the 30 lowest.
    year
        Spring year of the index ranked.
    previous
        Districts of the 2013 cohort among the 30 lowest on the previous year's index (a check that the
        reproduction does not hinge on one year).
    """

    dpi: pd.DataFrame
    ranking: pd.DataFrame
    overlap: dpi.Overlap
    near_miss: list[str]
    bounds: dict[float, int]
    year: int
    previous: int = 0


def rebuild_dpi(by_grade: pd.DataFrame, panel: pd.DataFrame, year: int = dpi.DESIGNATION_DPI_YEAR,
                ranks: tuple[int, int] = dpi.NEAR_MISS_RANKS) -> DpiRebuild:
    """Rebuild the DPI, rank the town districts in ``year`` and compare the 30 lowest with the designees.

    Parameters
    ----------
    by_grade
        The ``cmt_capt_by_grade`` table (district x year x test x grade x subject).
    panel
        District-year panel (``entity_type``, ``alliance_cohort``, ``district_name``).
    year, ranks
        Spring year of the index and the near-miss ranks.
    """
    rows = panel.loc[panel["year"] == year]
    eligible = rows.loc[rows["entity_type"] == "town_district", "district_code"]
    designated = rows.loc[rows["alliance_cohort"] == 2013, "district_code"]
    ever = panel.loc[panel["alliance_cohort"].notna(), "district_code"].unique()
    index = dpi.district_dpi(by_grade)
    ranking = dpi.dpi_ranking(index, eligible, year)
    meta = rows.set_index("district_code")[["district_name", "alliance_cohort"]]
    ranking = ranking.join(meta, on="district_code")
    bounds = {}
    for share in BASIC_SHARE_BOUNDS:
        ranked = dpi.dpi_ranking(dpi.district_dpi(by_grade, share), eligible, year)
        bounds[share] = dpi.designation_overlap(ranked, designated).n_overlap
    earlier = panel.loc[panel["year"] == year - 1]
    eligible_before = earlier.loc[earlier["entity_type"] == "town_district", "district_code"]
    ranked_before = dpi.dpi_ranking(index, eligible_before, year - 1)
    previous = dpi.designation_overlap(ranked_before, designated).n_overlap
    return DpiRebuild(index, ranking, dpi.designation_overlap(ranking, designated),
                      dpi.near_miss_by_dpi(ranking, ever, ranks), bounds, year, previous)


def _short(name: str) -> str:
    return str(name).replace(" School District", "")


def dpi_facts(rebuild: DpiRebuild, by_grade: pd.DataFrame) -> dict[str, str]:
    """What the page says about the rebuilt index: overlap with the list, the misses, Hartford, the bounds,
    the near-miss group, and the last year the files allow."""
    r = rebuild.ranking.set_index("district_code")
    o = rebuild.overlap

    def listing(codes: Mapping[str, int | None]) -> str:
        items = [f"{_short(r.loc[c, 'district_name'])} ({'unranked' if k is None else f'rank {k}'})"
                 for c, k in codes.items() if c in r.index or k is None]
        return ", ".join(items) if items else "none"

    later = {c: k for c, k in o.others_inside.items() if pd.notna(r.loc[c, "alliance_cohort"])}
    cmt = dpi.district_dpi(by_grade, tests=("CMT",)).set_index(["district_code", "year"])["dpi"]
    facts = {
        "dpi_year": str(rebuild.year), "dpi_n_ranked": str(len(r)), "dpi_n_overlap": str(o.n_overlap),
        "dpi_n_designated": str(o.n), "dpi_designees_outside": listing(o.designees_outside),
        "dpi_others_inside": listing(o.others_inside),
        "dpi_others_inside_later": str(len(later)),
        "dpi_basic_share": f"{dpi.BASIC_SHARE:.2f}",
        "dpi_overlap_low": str(rebuild.bounds[0.0]), "dpi_overlap_high": str(rebuild.bounds[1.0]),
        "dpi_last_year": str(int(by_grade["year"].max())),
        "dpi_prev_year": str(rebuild.year - 1), "dpi_overlap_prev": str(rebuild.previous),
        "dpi_cutoff": number(float(r.loc[r["rank"] == o.n, "dpi"].iloc[0]), ".1f"),
        "near_miss_ranks": f"{dpi.NEAR_MISS_RANKS[0]}-{dpi.NEAR_MISS_RANKS[1]}",
        "near_miss_dpi_n": str(len(rebuild.near_miss)),
        "near_miss_dpi_names": ", ".join(_short(r.loc[c, "district_name"]) for c in rebuild.near_miss),
        "near_miss_dpi_span": (f"{r.loc[rebuild.near_miss, 'dpi'].min():.1f}-"
                               f"{r.loc[rebuild.near_miss, 'dpi'].max():.1f}")
                              if rebuild.near_miss else "none",
    }
    for y in (2010, 2011):
        facts[f"hartford_dpi_{y}"] = number(float(cmt.get((dpi.HARTFORD, y), np.nan)), ".1f")
        facts[f"hartford_published_{y}"] = f"{dpi.HARTFORD_CMT_DPI[y]:.1f}"
    return facts


def ranking_display(rebuild: DpiRebuild, ranks: tuple[int, int] = (21, 50)) -> pd.DataFrame:
    """The ranking around the cut-off: rank, district, DPI and its role in the designs."""
    r = rebuild.ranking.loc[rebuild.ranking["rank"].between(*ranks)]
    near = set(rebuild.near_miss)

    def role(row: pd.Series) -> str:
        if pd.notna(row["alliance_cohort"]) and row["alliance_cohort"] == 2013:
            return "designated 2012 (FY2013)"
        if pd.notna(row["alliance_cohort"]):
            return f"designated later (FY{int(row['alliance_cohort'])})"
        return "near-miss group" if row["district_code"] in near else "never designated"

    return pd.DataFrame({"rank": r["rank"].to_numpy(), "district": r["district_name"].map(_short).to_numpy(),
                         "rebuilt DPI": r["dpi"].round(1).to_numpy(),
                         "role": [role(row) for _, row in r.iterrows()]})


def balance_table(panel: pd.DataFrame, groups: Mapping[str, Sequence[str]], dpi_index: pd.DataFrame,
                  baseline_years: tuple[int, int], dpi_year: int = dpi.DESIGNATION_DPI_YEAR) -> pd.DataFrame:
    """Baseline means by group: districts, SEDA achievement, free/reduced-lunch share, the rebuilt DPI.

    Parameters
    ----------
    panel
        District-year panel.
    groups
        Label -> district codes.
    dpi_index
        :func:`~alliance_study.analysis.impact.dpi.district_dpi` output.
    baseline_years
        Inclusive years of the SEDA and FRL means.
    """
    base = impact.baseline_values(panel, ["seda_gcs_eb", "frl_share"], baseline_years)
    index = dpi_index.loc[dpi_index["year"] == dpi_year].set_index("district_code")["dpi"]
    rows = []
    for label, codes in groups.items():
        codes = [str(c) for c in codes]
        b = base.reindex(codes)
        rows.append({"group": label, "districts": len(codes),
                     "SEDA (grade levels)": b["seda_gcs_eb"].mean(),
                     "with SEDA": int(b["seda_gcs_eb"].notna().sum()),
                     "FRL share (%)": b["frl_share"].mean(), "rebuilt DPI": index.reindex(codes).mean()})
    out = pd.DataFrame(rows)
    for col, digits in (("SEDA (grade levels)", 2), ("FRL share (%)", 1), ("rebuilt DPI", 1)):
        out[col] = out[col].round(digits)
    return out


def near_miss_estimates(panel: pd.DataFrame, codes: Sequence[str], outcomes: Sequence[str],
                        n_permutations: int, seed: int, end_year: int) -> pd.DataFrame:
    """Callaway-Sant'Anna post averages of the 2013 cohort against the DPI near-miss group, with the
    randomization p-value (designation re-assigned among the sample's districts).

    Returns
    -------
    pandas.DataFrame
        ``outcome, n_treated, n_control, estimate, se, p_cluster, p_ri, mde``.
    """
    design = impact.near_miss_design(near_miss_codes=codes)
    frame = impact.add_analysis_columns(panel)
    rows = []
    for k, outcome in enumerate(outcomes):
        sample = impact.build_sample(frame, outcome, design, end_year=end_year)
        post = impact.callaway_santanna(sample, outcome).post_average()
        ri = impact.cs_randomization_inference(sample, outcome, n_permutations, seed=seed + k)
        units = sample.groupby("district_code")["treated"].first()
        rows.append({"outcome": outcome, "n_treated": int(units.sum()),
                     "n_control": int((units == 0).sum()), "estimate": post["estimate"], "se": post["se"],
                     "p_cluster": post["p_value"], "p_ri": ri.p_value, "mde": post["mde"]})
    return pd.DataFrame(rows)


def few_districts_text(n_treated: int, n_control: int, few: int = FEW_DISTRICTS) -> str:
    """What a comparison of ``n_treated`` designated with ``n_control`` comparison districts can show.

    Examples
    --------
    >>> few_districts_text(30, 7)[:40]
    'With only 7 comparison districts, the de'
    """
    n = min(n_treated, n_control)
    if n < few:
        return (f"With only {n} {'comparison' if n_control <= n_treated else 'designated'} districts, the "
                "design can reveal a large effect but not a modest one, its standard errors rest on too few "
                "districts to be trusted on their own (the randomization p-value is the better guide), and a "
                "shock to any one of those districts moves the comparison; a null result here is not "
                "evidence of no effect, and a significant one is a lead to check, not a finding.")
    return (f"With {n_treated} designated and {n_control} comparison districts, the design has enough "
            "districts for its standard errors, though its power is limited by their number.")


def near_miss_display(table: pd.DataFrame) -> pd.DataFrame:
    """The near-miss estimates for the page (outcome labels, rounded by outcome)."""
    out = table.copy()
    for col in ("estimate", "se", "mde"):
        out[col] = [number(v, f".{outcome_digits(o)}f")
                    for v, o in zip(out[col], out["outcome"], strict=True)]
    for col in ("p_cluster", "p_ri"):
        out[col] = out[col].map(format_p)
    out["outcome"] = out["outcome"].map(OUTCOME_SHORT)
    return out.rename(columns={"n_treated": "designated", "n_control": "near-miss",
                               "p_cluster": "p (cluster)", "p_ri": "p (randomization)", "mde": "MDE"})


@dataclass
class OverlapAnalysis:
    """Propensity scores of the covariates design's districts, the overlap table and the estimates."""

    scores: pd.DataFrame
    table: pd.DataFrame
    estimates: pd.DataFrame
    n_draws: int = 0


def overlap_analysis(panel: pd.DataFrame, n_draws: int, seed: int, end_year: int, n_permutations: int = 0,
                     outcomes: Sequence[str] = OVERLAP_OUTCOMES, alpha: float = overlap.CRUMP_ALPHA
                     ) -> OverlapAnalysis:
    """The covariates design's comparison restricted to its overlap region.

    Designation is modelled on the baseline covariates of the covariates design (free/reduced-lunch share,
    English learners, log enrollment) among the 2013 cohort and never-designated town and regional districts;
    districts with scores outside ``[alpha, 1 - alpha]`` are dropped, and the unweighted, inverse-probability
    weighted and doubly robust DiD (:func:`~alliance_study.analysis.impact.overlap.overlap_did`) are estimated
    on the rest. The overlap table and the figure use the first outcome's sample. With
    ``n_permutations``, the unweighted estimate also gets a randomization p-value (designation re-assigned
    among the overlap region's districts: with a handful of designated districts the bootstrap is rough,
    while the permutation distribution is exact up to its draws).
    """
    design = impact.Design("overlap", (2013,), "never_town_regional", covariates=impact.COVARIATES)
    frame = impact.add_analysis_columns(panel)
    rng = np.random.default_rng(seed)
    rows, scores, table = [], None, None
    for outcome in outcomes:
        sample = impact.build_sample(frame, outcome, design, end_year=end_year)
        covs = sample.attrs["covariates"]
        units = overlap.unit_covariates(sample, covs)
        ps = overlap.propensity_scores(units, covs)
        if scores is None:
            scores = units.assign(pscore=ps)
            table = overlap.overlap_table(units, ps, alpha=alpha)
        inside = ps.index[overlap.overlap_region(ps, alpha)]
        kept = sample.loc[sample["district_code"].isin(inside)]
        p_ri = float("nan")
        if n_permutations:
            p_ri = impact.cs_randomization_inference(kept, outcome, n_permutations, seed=rng).p_value
        for estimator in overlap.ESTIMATORS:
            est = overlap.overlap_did(kept, outcome, covs, estimator, n_boot=n_draws, seed=rng)
            rows.append({"outcome": outcome, "estimator": estimator, "n_treated": est.n_treated,
                         "n_control": est.n_control, "estimate": est.estimate, "se": est.se,
                         "ci_low": est.ci_low, "ci_high": est.ci_high, "p_value": est.p_value,
                         "p_ri": p_ri if estimator == "did" else float("nan")})
    return OverlapAnalysis(scores, table, pd.DataFrame(rows), n_draws)


def overlap_display(table: pd.DataFrame) -> pd.DataFrame:
    """The overlap table for the page."""
    out = table.copy()
    for col in ("min", "p10", "p50", "p90", "max"):
        out[col] = out[col].map(lambda v: f"{v:.3f}")
    out.index = out.index.map({"treated": "designated (FY2013 cohort)", "comparison": "never designated"})
    return out.rename(columns={"n": "districts", "n_overlap": "in overlap region"}).reset_index(names="group")


def overlap_estimates_display(estimates: pd.DataFrame) -> pd.DataFrame:
    """The overlap-region estimates for the page."""
    out = estimates.copy()
    d = [outcome_digits(o) for o in out["outcome"]]
    for col in ("estimate", "se"):
        out[col] = [number(v, f".{k}f") for v, k in zip(out[col], d, strict=True)]
    out["95% interval"] = [f"{number(lo, f'.{k}f')} to {number(hi, f'.{k}f')}"
                           for lo, hi, k in zip(estimates["ci_low"], estimates["ci_high"], d, strict=True)]
    out["p_value"] = out["p_value"].map(format_p)
    out["p_ri"] = out["p_ri"].map(format_p)
    out["estimator"] = out["estimator"].map(overlap.ESTIMATORS)
    out["outcome"] = out["outcome"].map(OUTCOME_SHORT)
    return out.drop(columns=["ci_low", "ci_high"]).rename(
        columns={"n_treated": "designated", "n_control": "comparison", "p_value": "p (bootstrap)",
                 "p_ri": "p (randomization)"})


def overlap_text(table: pd.DataFrame, few: int = FEW_DISTRICTS) -> str:
    """The verdict on common support from the overlap table (:func:`overlap.overlap_table`).

    Examples
    --------
    >>> t = pd.DataFrame({"n": [30, 100], "n_overlap": [4, 6]}, index=["treated", "comparison"])
    >>> overlap_text(t)[:60]
    'Only 4 of the 30 designated and 6 of the 100 comparison dist'
    """
    nt, nc = int(table.loc["treated", "n_overlap"]), int(table.loc["comparison", "n_overlap"])
    counts = (f"{nt} of the {int(table.loc['treated', 'n'])} designated and {nc} of the "
              f"{int(table.loc['comparison', 'n'])} comparison districts")
    if min(nt, nc) == 0:
        return (f"No district pair shares common support ({counts} lie in the overlap region): a comparison "
                "conditioning on these covariates can only extrapolate, and none is reported as evidence.")
    if min(nt, nc) < few:
        return (f"Only {counts} lie in the overlap region. The estimates there are honest comparisons, "
                "but of a handful of districts unlike the typical designee (the least poor designated "
                "districts against the poorest comparison districts), so they speak for those districts "
                "only and detect only large effects.")
    return f"{counts[0].upper()}{counts[1:]} lie in the overlap region, enough for a comparison with support."


def overlap_facts(analysis: OverlapAnalysis) -> dict[str, str]:
    """Counts and the doubly robust estimates the page cites (``overlap_dr_<outcome>_estimate`` / ``_p``)."""
    t = analysis.table
    facts = {"ov_n_treated": str(int(t.loc["treated", "n"])),
             "ov_n_control": str(int(t.loc["comparison", "n"])),
             "ov_in_treated": str(int(t.loc["treated", "n_overlap"])),
             "ov_in_control": str(int(t.loc["comparison", "n_overlap"])),
             "overlap_draws": f"{analysis.n_draws:,}", "ov_alpha": f"{overlap.CRUMP_ALPHA:.1f}",
             "ov_alpha_high": f"{1 - overlap.CRUMP_ALPHA:.1f}",
             "ov_max_control": f"{t.loc['comparison', 'max']:.2f}",
             "ov_min_treated": f"{t.loc['treated', 'min']:.2f}",
             "ov_median_treated": f"{t.loc['treated', 'p50']:.3f}",
             "overlap_text": overlap_text(t),
             "overlap_significant": significant_text(
                 analysis.estimates.assign(label=[f"{OUTCOME_SHORT[o]}, {ESTIMATOR_SHORT[e]}" for o, e in zip(
                     analysis.estimates["outcome"], analysis.estimates["estimator"], strict=True)]),
                 "p_value", "bootstrap")}
    for _, row in analysis.estimates.iterrows():
        key = f"ov_{row['estimator']}_{row['outcome']}"
        facts[f"{key}_estimate"] = number(row["estimate"], f".{outcome_digits(row['outcome'])}f")
        facts[f"{key}_p"] = format_p(row["p_value"])
        facts[f"{key}_p_ri"] = format_p(row["p_ri"])
    return facts


def plot_propensity(scores: pd.DataFrame, alpha: float = overlap.CRUMP_ALPHA) -> plt.Figure:
    """Histogram of the propensity scores by group, with the overlap region shaded."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bins = np.linspace(0, 1, 21)
    for flag, label, color in ((0, "never designated", "#4c72b0"), (1, "designated (FY2013)", "#dd8452")):
        ax.hist(scores.loc[scores["treated"] == flag, "pscore"], bins=bins, alpha=0.7, label=label,
                color=color)
    ax.axvspan(alpha, 1 - alpha, color="grey", alpha=0.15, label="overlap region")
    ax.set_xlabel("propensity score (baseline FRL, English learners, log enrollment)", fontsize=11)
    ax.set_ylabel("districts", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.legend(fontsize=10, frameon=False)
    fig.tight_layout()
    return fig


def balance_facts(balance: pd.DataFrame) -> dict[str, str]:
    """Baseline SEDA and FRL of the first three rows of :func:`balance_table` (designated, DPI near-miss,
    old near-miss): ``bal_{des,near,old}_{seda,frl}``."""
    facts = {}
    for key, (_, row) in zip(("des", "near", "old"), balance.iterrows(), strict=False):
        facts[f"bal_{key}_seda"] = number(row["SEDA (grade levels)"], ".2f")
        facts[f"bal_{key}_frl"] = number(row["FRL share (%)"], ".0f")
    return facts


def significant_text(table: pd.DataFrame, p_column: str, what: str, alpha: float = 0.05,
                     extra: str | None = None) -> str:
    """One sentence naming the rows of ``table`` with ``p_column`` below ``alpha`` (or saying there are none).

    Parameters
    ----------
    table
        Rows with ``outcome``, ``estimate``, ``p_column`` (and ``extra``, a second p-value column, if given).
    p_column, what, alpha
        The p-value judged, how the sentence names it, the level.
    extra
        A second p-value column to quote beside the first (e.g. the randomization p-value).

    Examples
    --------
    >>> t = pd.DataFrame({"outcome": ["grad_rate", "seda_gcs_eb"], "estimate": [2.5, -0.1],
    ...                   "p_cluster": [0.02, 0.4], "p_ri": [0.16, 0.5]})
    >>> significant_text(t, "p_cluster", "cluster-robust", extra="p_ri")
    'Cluster-robust p-values below 0.05: Graduation rate (pp) 2.50 (p = 0.020; p_ri = 0.160).'
    """
    rows = table.loc[table[p_column] < alpha]
    if rows.empty:
        return f"No {what} p-value is below {alpha:g}."
    parts = []
    for _, r in rows.iterrows():
        p = format_p(r[p_column])
        inside = f"p {p.replace('<', '< ')}" if p.startswith("<") else f"p = {p}"
        if extra:
            inside += f"; {extra} = {format_p(r[extra])}"
        name = r["label"] if "label" in r.index else OUTCOME_SHORT.get(r["outcome"], r["outcome"])
        digits = outcome_digits(str(r["outcome"]))
        parts.append(f"{name} {number(r['estimate'], f'.{digits}f')} ({inside})")
    return f"{what[0].upper()}{what[1:]} p-values below {alpha:g}: " + "; ".join(parts) + "."


def near_miss_facts(table: pd.DataFrame, n_permutations: int, main_end_year: int) -> dict[str, str]:
    """The near-miss section's sentences: what so few districts can show and which estimates are
    significant (cluster-robust, with the randomization p-value beside)."""
    n_treated, n_control = int(table["n_treated"].max()), int(table["n_control"].max())
    text = significant_text(table, "p_cluster", "cluster-robust", extra="p_ri")
    return {"near_miss_few_text": few_districts_text(n_treated, n_control),
            "near_miss_significant": text.replace("p_ri", "randomization p"),
            "n_permutations": f"{n_permutations:,}", "main_end_year": str(main_end_year)}


def dpi_near_miss(by_grade: pd.DataFrame, panel: pd.DataFrame) -> list[str]:
    """The near-miss group of the impact chapter: never-designated town districts ranked
    :data:`~alliance_study.analysis.impact.dpi.NEAR_MISS_RANKS` on the rebuilt 2011 DPI
    (:func:`rebuild_dpi`)."""
    return rebuild_dpi(by_grade, panel).near_miss

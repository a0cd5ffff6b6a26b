"""Display labels the chapters share: measure names with units, comparison groups, legend entries.

Labels are presentation, so they live in the chapter layer; the analysis layer names groups and measures by
their keys only (``alliance_study.analysis.describe`` group labels, panel column names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from alliance_study.analysis.describe import ALLIANCE, COMPARISON, DISTRICT, OTHER_ALLIANCE, STATE

#: Short legend labels of the comparison groups (keys of ``alliance_study.analysis.groups.COMPARISONS``).
COMPARISON_LABELS: dict[str, str] = {
    "other_town_districts": "Other town districts",
    "non_alliance_town_and_regional": "Other town and regional districts",
    "all_other_districts": "All other districts",
}

#: Short labels (with units) of panel measures for figures and tables.
MEASURE_LABELS: dict[str, str] = {
    "achievement_index": "Achievement index (z, grades 3-8)",
    "seda_grade_levels": "SEDA achievement (grade levels vs. U.S.)",
    "sbac_ela_pct_l34": "SBAC ELA: % at level 3-4",
    "sbac_math_pct_l34": "SBAC math: % at level 3-4",
    "grad_rate": "Four-year graduation rate (%)",
    "chronic_absent_rate": "Chronic absenteeism (%)",
    "suspension_rate": "Suspension rate (%)",
    "ppe_total": "Expenditure per pupil ($)",
    "frl_share": "Free/reduced-price meals (%)",
    "el_share": "English learners (%)",
    "sped_share": "Special education (%)",
    "share_black": "Black students (%)",
    "share_hispanic": "Hispanic students (%)",
    "enrollment": "Enrollment (students)",
    "alliance_dollars": "Alliance dollars ($)",
    "alliance_dollars_per_pupil": "Alliance dollars per pupil ($)",
    "fte_total_per_100": "All staff FTE per 100 students",
    "fte_gen_ed_teachers_per_100": "General-education teachers per 100 students",
    "fte_sped_teachers_per_100": "Special-education teachers per 100 students",
    "fte_counselors_per_100": "Counselors, social workers, psychologists per 100 students",
    "fte_paras_gen_per_100": "General-education paraprofessionals per 100 students",
}

#: Measures whose values come from state tests; their figures carry the test-regime breaks.
TEST_MEASURES = frozenset({"achievement_index", "seda_grade_levels", "sbac_ela_pct_l34", "sbac_math_pct_l34",
                           "sbac_ela_vss_g38", "sbac_math_vss_g38", "cmt_math_scale", "cmt_reading_scale"})


#: Table labels of the impact designs (keys: ``alliance_study.analysis.impact.Design.name``).
DESIGN_LABELS: dict[str, str] = {
    "main": "main",
    "near_miss": "near-miss",
    "covariates": "covariates",
    "staggered": "staggered",
    # the main design's post-pandemic rows (chapters.impact.estimates_table)
    "extended": "main, extended window",
}

#: Table labels of the impact designs' baseline covariates (keys: ``analysis.impact.designs.COVARIATES``).
COVARIATE_LABELS: dict[str, str] = {
    "frl_share": "free/reduced-price meals",
    "el_share": "English learners",
    "log_enrollment": "log enrollment",
}


def design_label(name: str) -> str:
    """The table label of an impact design; an unlabelled design is an error, not a snake_case cell.

    Examples
    --------
    >>> design_label("near_miss")
    'near-miss'
    """
    try:
        return DESIGN_LABELS[name]
    except KeyError:
        raise KeyError(f"design {name!r} has no display label (labels.DESIGN_LABELS)") from None


def covariate_label(name: str) -> str:
    """The table label of a baseline covariate (raises on one without a label, like :func:`design_label`)."""
    try:
        return COVARIATE_LABELS[name]
    except KeyError:
        raise KeyError(f"covariate {name!r} has no display label (labels.COVARIATE_LABELS)") from None


def measure_titles(measures: Iterable[str]) -> dict[str, str]:
    """Figure title of each measure: its :data:`MEASURE_LABELS` entry, or the column name."""
    return {m: MEASURE_LABELS.get(m, m) for m in measures}


def cohort_list(cohorts: Sequence[int]) -> str:
    """``FY2013, FY2018`` for a list of cohorts (fiscal years of first designation)."""
    return ", ".join(f"FY{c}" for c in cohorts)


def group_labels(alliance_cohorts: Sequence[int], comparison: str, state: bool = True) -> dict[str, str]:
    """Legend labels of the Alliance group (named by its cohorts), the comparison group and the state.

    Examples
    --------
    >>> group_labels([2013], "other_town_districts")["Alliance"]
    'Alliance Districts (FY2013 cohort)'
    """
    labels = {ALLIANCE: f"Alliance Districts ({cohort_list(alliance_cohorts)} cohort)",
              COMPARISON: COMPARISON_LABELS[comparison]}
    if state:
        labels[STATE] = "State"
    return labels


def profile_labels(district_short: str, comparison: str) -> Mapping[str, str]:
    """Legend labels of a district profile: the district, the other Alliance Districts, comparison, state."""
    return {DISTRICT: district_short, OTHER_ALLIANCE: "Other Alliance Districts",
            COMPARISON: COMPARISON_LABELS[comparison], STATE: "State"}

"""The 2011 District Performance Index (DPI) rebuilt from the CMT/CAPT results, and the near-miss group on it.

The Commissioner designated "the thirty districts with the lowest district performance index scores
statewide" (Public Act 12-116, section 34; ``shared/data/reference/STUDY_FACTS.md``). The DPI of that era
gives each tested student 100 points at Advanced or Goal, 67 at Proficient, 33 at Basic and 0 at Below
Basic, and averages over the students tested (CMT grades 3-8 and CAPT grade 10, every subject).

What the project's files hold limits the rebuild, and each function says how:

- The CMT rows give only the shares at or above Goal and at or above Proficient, so the split of the
  students below Proficient between Basic (33 points) and Below Basic (0) is unknown. :func:`level_index`
  takes it as a parameter ``basic_share``; :data:`BASIC_SHARE` is the value the CAPT rows (which publish
  every level) show, and ``basic_share`` 0 and 1 bound the index from below and above.
- The CMT file has grades 3 and 8 (and 5 and 8 in science), not 3-8, and results end in spring 2011: the
  2012 index (spring 2012) cannot be rebuilt from these files.
- Suppressed schools (fewer than 20 tested) are missing from the district aggregates.

So the rebuilt index is an approximation; :func:`designation_overlap` says how closely its 30 lowest
reproduce the official list, and the published Hartford values check the level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Points per student by performance level (DPI rule of the 2012-13 era; STUDY_FACTS.md, "DPI").
LEVEL_POINTS: dict[str, float] = {"goal_or_above": 100.0, "proficient": 67.0, "basic": 33.0,
                                  "below_basic": 0.0}

#: Share of Basic among the students below Proficient, for rows that do not publish it (the CMT). The CAPT
#: rows of capt.csv publish every level: over its 2007-2011 school rows, weighted by number tested, Basic
#: is 0.61 of Basic plus Below Basic (0.58 in math, 0.65 in reading, 0.55 in science, 0.67 in writing;
#: computed once from the raw file's "Standard CAPT Results by Basic / Below Basic" columns). Rankings move
#: little with it (see the bounds 0 and 1 in the chapter).
BASIC_SHARE = 0.61

#: Number of districts designated in 2012: "thirty Alliance Districts" (C.G.S. 10-262u, FY2013-17).
N_DESIGNATED = 30

#: Spring year of the index the 2012 designation used: the latest results in May 2012 were spring 2011
#: (2010-11); the spring 2012 results came out that summer.
DESIGNATION_DPI_YEAR = 2011

#: Ranks (inclusive) of the near-miss group: never-designated districts ranked just above the cut-off.
#: Fifteen ranks, half the number designated: wide enough to hold a handful of never-designated districts
#: once the later cohorts (2018, 2023), which sit right above the cut-off, are left out; narrow enough that
#: their index stays within a few points of the 30th district's, which is what makes them "near".
NEAR_MISS_RANKS: tuple[int, int] = (31, 45)

#: Tested subjects pooled into the index (all four of the era's CMT/CAPT subjects).
SUBJECTS: tuple[str, ...] = ("math", "reading", "writing", "science")

#: Hartford's published CMT DPI by spring year (CSDE report copy; STUDY_FACTS.md, "DPI").
HARTFORD_CMT_DPI: dict[int, float] = {2010: 54.2, 2011: 56.2, 2012: 58.4, 2013: 58.1}

#: Hartford's district code.
HARTFORD = "0640011"


def level_index(pct_goal: np.ndarray | pd.Series | float, pct_prof: np.ndarray | pd.Series | float,
                basic_share: float | np.ndarray | pd.Series = BASIC_SHARE) -> np.ndarray:
    """Performance index of one group of students from the shares at or above Goal and Proficient.

    ``index = 1.00 * goal + 0.67 * (proficient - goal) + 0.33 * basic_share * (100 - proficient)``, shares
    in percent, so the index runs from 0 to 100.

    Parameters
    ----------
    pct_goal, pct_prof
        Percent at or above Goal and at or above Proficient.
    basic_share
        Share of Basic among the students below Proficient (0: all Below Basic, the lower bound; 1: all
        Basic, the upper bound). Where the Basic percent is known, pass ``basic / (100 - pct_prof)``.

    Examples
    --------
    40% at Goal or above, 70% at Proficient or above, 20% Basic (so 2/3 of the 30% below Proficient):

    >>> float(level_index(40.0, 70.0, 2 / 3).round(2))
    66.7
    """
    goal = np.asarray(pct_goal, dtype=float)
    prof = np.asarray(pct_prof, dtype=float)
    share = np.asarray(basic_share, dtype=float)
    return (LEVEL_POINTS["goal_or_above"] * goal + LEVEL_POINTS["proficient"] * (prof - goal)
            + LEVEL_POINTS["basic"] * share * (100.0 - prof)) / 100.0


def district_dpi(results: pd.DataFrame, basic_share: float = BASIC_SHARE,
                 tests: Sequence[str] = ("CMT", "CAPT"), subjects: Sequence[str] = SUBJECTS) -> pd.DataFrame:
    """The DPI of every district and year: the index of each test, grade and subject, averaged with
    number-tested weights (each student-test counts once, as in the DPI).

    Parameters
    ----------
    results
        ``district_code, year, test, subject, n_tested, pct_goal, pct_prof`` (one row per test x grade x
        subject: the ``cmt_capt_by_grade`` table). Rows missing any of these values are left out.
    basic_share
        See :func:`level_index`.
    tests, subjects
        Tests and subjects pooled (``tests=("CMT",)`` for a CMT-only index such as Hartford's published one).

    Returns
    -------
    pandas.DataFrame
        ``district_code, year, dpi, n_tested``, sorted.

    Examples
    --------
    One district, two rows: 100 students with 50% at Goal and 80% Proficient, 300 with 10% and 40%; with
    every non-proficient student at Basic (``basic_share=1``) the indexes are 76.7 and 49.9:

    >>> rows = pd.DataFrame({"district_code": "0010011", "year": 2011, "test": "CMT",
    ...                      "subject": ["math", "reading"], "n_tested": [100, 300],
    ...                      "pct_goal": [50.0, 10.0], "pct_prof": [80.0, 40.0]})
    >>> district_dpi(rows, basic_share=1.0)["dpi"].round(2).tolist()
    [56.6]
    """
    need = ["district_code", "year", "test", "subject", "n_tested", "pct_goal", "pct_prof"]
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise KeyError(f"results lack columns {missing}")
    rows = results.loc[results["test"].isin(list(tests)) & results["subject"].isin(list(subjects))]
    rows = rows.dropna(subset=["n_tested", "pct_goal", "pct_prof"])
    rows = rows.loc[rows["n_tested"] > 0]
    points = level_index(rows["pct_goal"], rows["pct_prof"], basic_share) * rows["n_tested"].to_numpy(float)
    work = pd.DataFrame({"district_code": rows["district_code"].astype(str).to_numpy(),
                         "year": rows["year"].astype("int64").to_numpy(), "points": points,
                         "n_tested": rows["n_tested"].to_numpy(float)})
    sums = work.groupby(["district_code", "year"], sort=True)[["points", "n_tested"]].sum()
    out = pd.DataFrame({"dpi": sums["points"] / sums["n_tested"], "n_tested": sums["n_tested"]})
    return out.reset_index()


def dpi_ranking(dpi: pd.DataFrame, eligible: Iterable[str], year: int = DESIGNATION_DPI_YEAR) -> pd.DataFrame:
    """Eligible districts ranked by their DPI in ``year``, lowest first (rank 1 = lowest index).

    Parameters
    ----------
    dpi
        Output of :func:`district_dpi`.
    eligible
        District codes that can be designated (town districts: the statute names towns).
    year
        Spring year of the index.

    Returns
    -------
    pandas.DataFrame
        ``district_code, dpi, rank``; ties keep code order.

    Examples
    --------
    >>> dpi = pd.DataFrame({"district_code": ["a", "b", "c"], "year": 2011, "dpi": [70.0, 50.0, 60.0]})
    >>> dpi_ranking(dpi, ["a", "b", "c"]).values.tolist()
    [['b', 50.0, 1], ['c', 60.0, 2], ['a', 70.0, 3]]
    """
    codes = {str(c) for c in eligible}
    rows = dpi.loc[(dpi["year"] == year) & dpi["district_code"].astype(str).isin(codes)]
    rows = rows.dropna(subset=["dpi"]).sort_values(["dpi", "district_code"], kind="stable")
    return pd.DataFrame({"district_code": rows["district_code"].astype(str).to_numpy(),
                         "dpi": rows["dpi"].to_numpy(float),
                         "rank": np.arange(1, len(rows) + 1, dtype=np.int64)})


@dataclass(frozen=True)
class Overlap:
    """How the ``n`` lowest of a ranking reproduce a designation list.

    Attributes
    ----------
    n
        Size of the cut (30).
    n_overlap
        Designated districts among the ``n`` lowest.
    designees_outside
        Designated districts ranked above ``n`` (code -> rank; missing rank: not ranked, no index).
    others_inside
        Districts among the ``n`` lowest that were not designated (code -> rank).
    """

    n: int
    n_overlap: int
    designees_outside: dict[str, int | None]
    others_inside: dict[str, int]


def designation_overlap(ranking: pd.DataFrame, designated: Iterable[str], n: int = N_DESIGNATED) -> Overlap:
    """Compare the ``n`` lowest of :func:`dpi_ranking` with the designated districts.

    Examples
    --------
    >>> ranking = pd.DataFrame({"district_code": ["a", "b", "c", "d"], "dpi": [1.0, 2.0, 3.0, 4.0],
    ...                         "rank": [1, 2, 3, 4]})
    >>> o = designation_overlap(ranking, ["a", "c", "z"], n=2)
    >>> o.n_overlap, o.designees_outside, o.others_inside
    (1, {'c': 3, 'z': None}, {'b': 2})
    """
    rank = dict(zip(ranking["district_code"].astype(str), ranking["rank"].astype(int), strict=True))
    chosen = sorted({str(c) for c in designated})
    inside = {c for c, r in rank.items() if r <= n}
    outside = {c: rank.get(c) for c in chosen if c not in inside}
    others = {c: rank[c] for c in sorted(inside, key=rank.__getitem__) if c not in set(chosen)}
    return Overlap(n, len(inside & set(chosen)), outside, others)


def near_miss_by_dpi(ranking: pd.DataFrame, ever_designated: Iterable[str],
                     ranks: tuple[int, int] = NEAR_MISS_RANKS) -> list[str]:
    """Never-designated districts ranked within ``ranks`` (inclusive): the near-miss comparison group.

    Districts designated in any cohort (including 2018 and 2023) are left out: they are treated later and
    so are no clean comparison.

    Examples
    --------
    >>> ranking = pd.DataFrame({"district_code": list("abcdef"), "dpi": range(6), "rank": range(1, 7)})
    >>> near_miss_by_dpi(ranking, ["a", "b", "d"], ranks=(3, 5))
    ['c', 'e']
    """
    ever = {str(c) for c in ever_designated}
    rows = ranking.loc[ranking["rank"].between(*ranks)]
    return [c for c in rows["district_code"].astype(str) if c not in ever]

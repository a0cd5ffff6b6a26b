"""Inter-coder reliability for double-coded plans: Cohen's kappa and Krippendorff's alpha (nominal).

Both statistics are implemented here in numpy and checked against hand-computed cases and Krippendorff's
worked examples (tests/test_plans_reliability.py).

Units
-----
- *Presence of a code*: for every district-plan year coded by two or more coders and every intervention
  code, each coder's value is 1 (coded it) or 0 (did not). Per code, the units are the double-coded
  district-plan years; "overall" pools all (district-plan year, code) units.
- *Attributes*: for every (district, plan year, intervention) that two or more coders coded, each coder's
  attribute value (``yes``/``no``/``intrinsic``); blank is missing, which alpha handles and kappa drops.

Kappa is defined for two coders; with more, :func:`reliability_table` reports the mean of the pairwise
kappas (Light's kappa). A statistic is NaN when it is undefined: no units, or no variation at all (every
value the same, so chance agreement is 1), which is common for rare codes on few plans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from alliance_study.analysis.plans.codebook import ATTRIBUTES

_UNIT = ["district_code", "plan_year"]

#: Krippendorff's worked example with missing data (four observers x twelve units, nominal), from
#: K. Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability" (Annenberg School, U. Pennsylvania);
#: the published nominal alpha is :data:`KRIPPENDORFF_EXAMPLE_ALPHA`. The tests and the coding guide check
#: :func:`krippendorff_alpha` against it.
KRIPPENDORFF_EXAMPLE: tuple[tuple[int | None, ...], ...] = (
    (1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None),
    (1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3),
    (None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None),
    (1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None),
)

#: Published nominal alpha of :data:`KRIPPENDORFF_EXAMPLE` (three decimals).
KRIPPENDORFF_EXAMPLE_ALPHA = 0.743

#: Krippendorff's (2004, *Content Analysis*, 2nd ed., sec. 11.4) guideline: rely on variables with alpha of at
#: least 0.800 and draw only tentative conclusions from those between 0.667 and 0.800.
ALPHA_RELIABLE = 0.800
ALPHA_TENTATIVE = 0.667


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def cohen_kappa(a: Sequence[object], b: Sequence[object]) -> float:
    """Cohen's kappa for two coders' nominal codes of the same units.

    ``kappa = (p_o - p_e) / (1 - p_e)``, with ``p_o`` the share of units on which the coders agree and
    ``p_e = sum_c p_a(c) p_b(c)`` the agreement expected from each coder's own marginal shares. Units
    where either value is missing (None, NaN, blank) are dropped.

    Returns
    -------
    float
        NaN when no unit is left or ``p_e == 1`` (both coders used one and the same category throughout).
    """
    if len(a) != len(b):
        raise ValueError(f"the two coders rated different numbers of units: {len(a)} and {len(b)}")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not _missing(x) and not _missing(y)]
    if not pairs:
        return float("nan")
    cats = sorted({str(v) for p in pairs for v in p})
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for x, y in pairs:
        table[index[str(x)], index[str(y)]] += 1
    n = table.sum()
    p_o = np.trace(table) / n
    p_e = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_o - p_e) / (1 - p_e))


def krippendorff_alpha(data: Sequence[Sequence[object]] | np.ndarray) -> float:
    """Krippendorff's alpha for nominal data, any number of coders, missing values allowed.

    Parameters
    ----------
    data
        Reliability data: one row per coder, one column per unit; None, NaN or blank marks a missing value.

    Returns
    -------
    float
        ``alpha = 1 - D_o / D_e``. With ``n_uc`` the number of values ``c`` in unit ``u`` and ``m_u`` the
        unit's number of values (units with ``m_u < 2`` are not pairable and dropped), the coincidences are
        ``o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1)``, ``n_c = sum_k o_ck``, ``n = sum_c n_c``, and
        for nominal data ``alpha = 1 - (n - 1) (n - sum_c o_cc) / (n^2 - sum_c n_c^2)``. NaN when no unit
        is pairable or there is no variation (``n^2 == sum_c n_c^2``).
    """
    matrix = np.asarray(data, dtype=object)
    if matrix.ndim != 2:
        raise ValueError("reliability data must be a 2-D table: coders x units")
    cats = sorted({str(v) for v in matrix.ravel() if not _missing(v)})
    if not cats:
        return float("nan")
    index = {c: i for i, c in enumerate(cats)}
    counts = np.zeros((matrix.shape[1], len(cats)))
    for (_, u), value in np.ndenumerate(matrix):
        if not _missing(value):
            counts[u, index[str(value)]] += 1
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if not len(m):
        return float("nan")
    # o_ck summed over units: outer products of the count vectors, minus the diagonal self-pairs.
    weights = 1.0 / (m - 1)
    coincidence = (counts * weights[:, None]).T @ counts - np.diag((counts * weights[:, None]).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    expected = n**2 - (n_c**2).sum()
    if np.isclose(expected, 0.0):
        return float("nan")
    return float(1 - (n - 1) * (n - np.trace(coincidence)) / expected)


def percent_agreement(data: Sequence[Sequence[object]] | np.ndarray) -> float:
    """Share of pairable units on which every coder who coded the unit gave the same value."""
    matrix = np.asarray(data, dtype=object)
    agree, total = 0, 0
    for u in range(matrix.shape[1]):
        values = {str(v) for v in matrix[:, u] if not _missing(v)}
        n_values = sum(not _missing(v) for v in matrix[:, u])
        if n_values >= 2:
            total += 1
            agree += len(values) == 1
    return agree / total if total else float("nan")


def double_coded_units(records: pd.DataFrame, coders: Iterable[str] | None = None) -> pd.DataFrame:
    """District-plan years coded by two or more coders (of ``coders``, all if None), with the coder list."""
    recs = records if coders is None else records.loc[records["coder"].isin(list(coders))]
    by_unit = recs.groupby(_UNIT)["coder"].agg(lambda s: tuple(sorted(set(s)))).rename("coders").reset_index()
    return by_unit.loc[by_unit["coders"].map(len) >= 2].reset_index(drop=True)


def presence_data(
    records: pd.DataFrame, codes: Iterable[str] | None = None, coders: Iterable[str] | None = None
) -> pd.DataFrame:
    """Presence (1/0) of each code for each coder on the double-coded district-plan years.

    Returns
    -------
    pandas.DataFrame
        Long table ``district_code, plan_year, code, coder, value``: 1 if the coder coded the intervention
        for that district-plan year, 0 if not. Coders who did not code a district-plan year at all get no
        row for it (missing, not 0).
    """
    units = double_coded_units(records, coders)
    codes = sorted(set(records["intervention"])) if codes is None else list(codes)
    coded = set(
        zip(
            records["district_code"],
            records["plan_year"],
            records["intervention"],
            records["coder"],
            strict=True,
        )
    )
    rows = [
        (d, y, code, coder, int((d, y, code, coder) in coded))
        for d, y, unit_coders in units.itertuples(index=False)
        for code in codes
        for coder in unit_coders
    ]
    return pd.DataFrame(rows, columns=["district_code", "plan_year", "code", "coder", "value"])


def _stats(wide: pd.DataFrame) -> dict[str, float]:
    """Kappa (pairwise mean), alpha and agreement for a units x coders table (NaN = coder absent)."""
    matrix = wide.T.to_numpy(dtype=object)
    kappas = []
    for i, j in combinations(range(matrix.shape[0]), 2):
        k = cohen_kappa(matrix[i], matrix[j])
        both = sum(not _missing(x) and not _missing(y) for x, y in zip(matrix[i], matrix[j], strict=True))
        if both:
            kappas.append(k)
    kappa = float(np.mean(kappas)) if kappas and not np.isnan(kappas).any() else float("nan")
    return {"kappa": kappa, "alpha": krippendorff_alpha(matrix), "agreement": percent_agreement(matrix)}


def reliability_table(
    records: pd.DataFrame, codes: Iterable[str] | None = None, coders: Iterable[str] | None = None
) -> pd.DataFrame:
    """Reliability of intervention codes on double-coded plans: per code and overall.

    Parameters
    ----------
    records
        Validated coding records (several coders).
    codes
        Intervention codes to report (default: every code any coder used).
    coders
        Coders to compare (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per code and a last row ``overall`` (all codes pooled): ``code``, ``n_units`` (double-coded
        district-plan years), ``n_coded`` (units where at least one coder coded it), ``agreement``,
        ``kappa``, ``alpha``.
    """
    long = presence_data(records, codes, coders)
    rows = []
    for code, block in long.groupby("code", sort=False):
        wide = block.pivot(index=["district_code", "plan_year"], columns="coder", values="value")
        rows.append(
            {
                "code": code,
                "n_units": len(wide),
                "n_coded": int((wide.fillna(0) > 0).any(axis=1).sum()),
                **_stats(wide.astype(object).where(wide.notna(), None)),
            }
        )
    if len(long):
        wide = long.pivot(index=["district_code", "plan_year", "code"], columns="coder", values="value")
        rows.append(
            {
                "code": "overall",
                "n_units": len(wide),
                "n_coded": int((wide.fillna(0) > 0).any(axis=1).sum()),
                **_stats(wide.astype(object).where(wide.notna(), None)),
            }
        )
    return pd.DataFrame(rows, columns=["code", "n_units", "n_coded", "agreement", "kappa", "alpha"])


def attribute_reliability(
    records: pd.DataFrame, attributes: Iterable[str] = ATTRIBUTES, coders: Iterable[str] | None = None
) -> pd.DataFrame:
    """Reliability of the attributes on interventions two or more coders coded.

    Returns
    -------
    pandas.DataFrame
        One row per attribute: ``attribute``, ``n_units`` (district, plan year, intervention coded by 2+
        coders), ``n_pairable`` (units with 2+ non-blank values), ``agreement``, ``kappa`` (units where both
        coders of a pair gave a value), ``alpha`` (blank = missing).
    """
    recs = records if coders is None else records.loc[records["coder"].isin(list(coders))]
    key = ["district_code", "plan_year", "intervention"]
    n_coders = recs.groupby(key)["coder"].transform("nunique")
    shared = recs.loc[n_coders >= 2]
    rows = []
    for attribute in attributes:
        values = shared[attribute].map(lambda v: None if _missing(v) else str(v).strip())
        wide = shared.assign(_value=values).pivot(index=key, columns="coder", values="_value")
        wide = wide.astype(object).where(wide.notna(), None)
        pairable = int((wide.notna().sum(axis=1) >= 2).sum())
        stats = _stats(wide) if len(wide) else {"kappa": np.nan, "alpha": np.nan, "agreement": np.nan}
        rows.append({"attribute": attribute, "n_units": len(wide), "n_pairable": pairable, **stats})
    return pd.DataFrame(rows, columns=["attribute", "n_units", "n_pairable", "agreement", "kappa", "alpha"])


def disagreements(records: pd.DataFrame, coders: Iterable[str] | None = None) -> pd.DataFrame:
    """Intervention codes on double-coded plans that not every coder gave: the adjudication worklist.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``plan_year``, ``code``, ``coded_by``, ``not_coded_by``.
    """
    long = presence_data(records, None, coders)
    rows = []
    for (d, y, code), block in long.groupby(["district_code", "plan_year", "code"], sort=True):
        yes = sorted(block.loc[block["value"] == 1, "coder"])
        no = sorted(block.loc[block["value"] == 0, "coder"])
        if yes and no:
            rows.append(
                {
                    "district_code": d,
                    "plan_year": y,
                    "code": code,
                    "coded_by": ", ".join(yes),
                    "not_coded_by": ", ".join(no),
                }
            )
    return pd.DataFrame(rows, columns=["district_code", "plan_year", "code", "coded_by", "not_coded_by"])

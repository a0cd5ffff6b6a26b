"""Sun and Abraham (2021) interaction-weighted event study."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.regression import covariate_design, fit_panelols
from alliance_study.analysis.impact.results import EventStudy, event_table
from alliance_study.analysis.impact.sample import cohort_array, default_reference, treated_counts


def sun_abraham(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                alpha: float = 0.05) -> EventStudy:
    """Sun and Abraham (2021) interaction-weighted event study, in one PanelOLS fit.

    Cohort x event-time dummies (each cohort's own base period left out; never-treated districts are
    the controls) are estimated jointly with district and year effects; event-time effects average them
    with weights equal to each cohort's share of the treated districts observed at that event time.
    Standard errors follow from the clustered covariance of the interaction coefficients (weights held
    fixed). In a balanced panel without covariates it equals :func:`callaway_santanna` with never-treated
    controls.

    pyfixest's ``event_study(estimator="saturated")`` implements the same idea but, in version 0.60,
    mislabels cohorts when years are missing (2014, 2020), so it is not used on the real panel.
    """
    cohort = cohort_array(sample)
    et = sample["event_time"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    cols: dict[str, np.ndarray] = {}
    cells: list[tuple[int, int]] = []
    for g in sorted({int(c) for c in cohort[np.isfinite(cohort)]}):
        in_g = cohort == g
        pre = et[in_g & (et < 0)]
        if pre.size == 0:
            continue
        base = int(pre.max())
        for e in sorted({int(v) for v in et[in_g]}):
            if e == base:
                continue
            cols[f"sa_{g}_{e}"] = (in_g & (et == e)).astype(float)
            cells.append((g, e))
    regressors = pd.concat([pd.DataFrame(cols, index=sample.index),
                            covariate_design(sample, covariates, ())], axis=1)
    res = fit_panelols(sample, outcome, regressors)
    names = [f"sa_{g}_{e}" for g, e in cells]
    present = [n for n in names if n in res.params.index]
    cells = [c for c, n in zip(cells, names, strict=True) if n in present]
    beta = res.params[present].to_numpy(dtype=float)
    v = res.cov.loc[present, present].to_numpy(dtype=float)
    counts = sample.loc[sample["treated"] == 1].groupby(["cohort", "event_time"])["district_code"].nunique()
    events = sorted({e for _, e in cells})
    w = np.zeros((len(events), len(cells)))
    for k, (g, e) in enumerate(cells):
        w[events.index(e), k] = counts.get((g, e), 0)
    w = w / w.sum(axis=1, keepdims=True)
    est, vcov = w @ beta, w @ v @ w.T
    reference = default_reference(sample)
    # Treated districts behind each event-time estimate: those of the cohorts with a cell there.
    n_tr = {e: int(sum(counts.get((g, ee), 0) for g, ee in cells if ee == e)) for e in events}
    if reference not in n_tr:
        n_tr[reference] = treated_counts(sample).get(reference, 0)
    g_total = sample["district_code"].nunique()
    table, vc = event_table(events, est, vcov, n_tr, reference, g_total - 1, alpha)
    cell_table = pd.DataFrame({"cohort": [c for c, _ in cells], "event_time": [e for _, e in cells],
                               "estimate": beta, "se": np.sqrt(np.diag(v))})
    return EventStudy("sun_abraham", outcome, table, vc, reference, g_total,
                      int(sample.loc[sample["treated"] == 1, "district_code"].nunique()), g_total - 1,
                      {"cells": cell_table})

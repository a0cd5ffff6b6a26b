"""Callaway and Sant'Anna (2021) group-time average treatment effects, aggregated to event time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.results import EventStudy, event_table


def _unit_frame(sample: pd.DataFrame, outcome: str) -> tuple[pd.DataFrame, pd.Index]:
    wide = sample.pivot(index="district_code", columns="year", values=outcome)
    return wide, wide.index


def callaway_santanna(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                      control: str = "never", alpha: float = 0.05) -> EventStudy:
    """Callaway and Sant'Anna (2021) group-time ATTs, aggregated to event time.

    For cohort ``g`` with base year ``b`` (its latest year before ``g`` with outcome data; a universal
    base, so pre-period estimates are comparable with an event study) and each other year ``t``:
    ``ATT(g, t) = mean over g of (Y_t - Y_b) - counterfactual``, where the counterfactual is the controls'
    mean change, or with covariates the controls' regression of the change on baseline covariates
    evaluated at the cohort's covariates (outcome regression). Event-time effects average ``ATT(g, g+e)``
    over cohorts with weights proportional to their treated districts. Standard errors come from the
    influence functions, summed within district (so they are clustered by district), scaled by G/(G-1).

    Parameters
    ----------
    sample
        Output of :func:`build_sample` or :func:`prepare_sample`.
    outcome
        Outcome column.
    covariates
        Baseline (time-invariant) covariate columns for the outcome regression.
    control
        ``never`` (never-treated districts) or ``notyet`` (also districts not yet treated at ``t``).
    alpha
        For the confidence intervals.

    Returns
    -------
    EventStudy
        ``extra["group_time"]`` holds the ``cohort, year, event_time, att, se, n_treated, n_control``
        table.
    """
    if control not in ("never", "notyet"):
        raise ValueError("control must be 'never' or 'notyet'")
    wide, units = _unit_frame(sample, outcome)
    unit_cohort = sample.groupby("district_code")["cohort"].first().astype("Float64") \
        .reindex(units).to_numpy(dtype=float, na_value=np.nan)
    xcov = None
    if covariates:
        xcov = sample.groupby("district_code")[list(covariates)].first().reindex(units).to_numpy(dtype=float)
    years = np.asarray(wide.columns, dtype=int)
    values = wide.to_numpy(dtype=float)
    n = len(units)
    observed_years = {int(y) for y in years[np.isfinite(values).any(axis=0)]}
    rows, infl = [], {}
    for g in sorted({int(c) for c in unit_cohort[np.isfinite(unit_cohort)]}):
        pre = [y for y in observed_years if y < g]
        if not pre:
            continue
        base = max(pre)
        jb = int(np.searchsorted(years, base))
        is_g = unit_cohort == g
        for jt, t in enumerate(years):
            if t == base:
                continue
            if control == "never":
                is_c = np.isnan(unit_cohort)
            else:
                is_c = (np.isnan(unit_cohort) | (unit_cohort > max(t, base))) & ~is_g
            dy = values[:, jt] - values[:, jb]
            ok = np.isfinite(dy)
            tr, co = is_g & ok, is_c & ok
            if xcov is not None:
                ok_x = np.isfinite(xcov).all(axis=1)
                tr, co = tr & ok_x, co & ok_x
            n_t, n_c = int(tr.sum()), int(co.sum())
            if n_t == 0 or n_c == 0:
                continue
            x = np.ones((n, 1)) if xcov is None else np.column_stack([np.ones(n), xcov])
            xc, xt = x[co], x[tr]
            if n_c <= xc.shape[1]:
                continue
            xtx_inv = np.linalg.pinv(xc.T @ xc)
            beta = xtx_inv @ xc.T @ dy[co]
            resid_t = dy[tr] - xt @ beta
            att = float(resid_t.mean())
            psi = np.zeros(n)
            psi[tr] = (resid_t - att) / n_t
            # Estimation error of the controls' regression, evaluated at the cohort's mean covariates.
            psi[co] = -(xt.mean(axis=0) @ xtx_inv @ xc.T) * (dy[co] - xc @ beta)
            infl[(g, int(t))] = psi
            rows.append({"cohort": g, "year": int(t), "event_time": int(t) - g, "att": att,
                         "se": float(np.sqrt(psi @ psi * n / max(n - 1, 1))), "n_treated": n_t,
                         "n_control": n_c, "base_year": base})
    gt = pd.DataFrame(rows, columns=["cohort", "year", "event_time", "att", "se", "n_treated", "n_control",
                                     "base_year"])
    if gt.empty:
        raise ValueError("no group-time effect could be estimated")
    base_events = {int(g): int(b) - int(g) for g, b in gt.groupby("cohort")["base_year"].first().items()}
    weight_by_cohort = gt.groupby("cohort")["n_treated"].max()
    reference = base_events[int(weight_by_cohort.idxmax())]
    events = sorted(gt["event_time"].unique().tolist())
    est, psis, n_tr = [], [], {}
    for e in events:
        block = gt.loc[gt["event_time"] == e]
        w = block["n_treated"].to_numpy(dtype=float)
        w = w / w.sum()
        est.append(float(w @ block["att"].to_numpy()))
        psis.append(sum(wk * infl[(int(g), int(t))] for wk, g, t in
                        zip(w, block["cohort"], block["year"], strict=True)))
        n_tr[int(e)] = int(block["n_treated"].sum())
    psi_mat = np.column_stack(psis)
    vcov = psi_mat.T @ psi_mat * n / max(n - 1, 1)
    if reference not in n_tr:
        # Only when no cohort has an estimate there; otherwise the row is a real estimate of the cohorts
        # whose base year it is not, and its count must say how many districts it rests on.
        n_tr[reference] = int(sample.loc[sample["event_time"] == reference, "district_code"].nunique())
    table, vc = event_table(events, np.asarray(est), vcov, n_tr, reference, n - 1, alpha)
    return EventStudy("callaway_santanna", outcome, table, vc, reference, n,
                      int(np.isfinite(unit_cohort).sum()), n - 1,
                      {"group_time": gt, "control": control, "influence": psi_mat})

"""Leave-one-district-out: how much each designated district moves the headline estimate.

With about thirty designated districts of very different sizes and trajectories, one district (Hartford,
say) can carry a result. :func:`leave_one_out` re-estimates the TWFE event study's post-period average
dropping each treated district in turn (each fit is one projection, :func:`~.postavg.post_average_fit`, so
thirty fits cost a fraction of a second); :func:`influence_summary` reports the range and the most
influential district.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance_study.analysis.impact.postavg import post_average_fit


def leave_one_out(sample: pd.DataFrame, outcome: str, covariates: Sequence[str] = (),
                  weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The post-period average dropping each treated district in turn.

    Returns
    -------
    pandas.DataFrame
        One row per treated district: ``district_code, estimate, se, p_value, shift`` (the estimate minus
        the full-sample estimate), sorted by ``|shift|``, largest first; ``attrs["full"]`` is the
        full-sample fit.
    """
    full = post_average_fit(sample, outcome, covariates, weights=weights)
    rows = []
    for code in sorted(sample.loc[sample["treated"] == 1, "district_code"].unique()):
        fit = post_average_fit(sample.loc[sample["district_code"] != code].reset_index(drop=True), outcome,
                               covariates, weights=weights)
        rows.append({"district_code": code, "estimate": fit["estimate"], "se": fit["se"],
                     "p_value": fit["p_value"], "shift": fit["estimate"] - full["estimate"]})
    out = pd.DataFrame(rows)
    out = out.iloc[np.argsort(-out["shift"].abs().to_numpy(), kind="stable")].reset_index(drop=True)
    out.attrs["full"] = full
    return out


def influence_summary(table: pd.DataFrame, alpha: float = 0.05) -> dict[str, float | str | int]:
    """Range of the leave-one-out estimates, the most influential district and how often significance
    changes.

    Returns
    -------
    dict
        ``full`` (full-sample estimate), ``low``, ``high``, ``most_influential`` (district code),
        ``max_shift`` (its estimate minus the full one), ``n_sign_changes`` (leave-one-out estimates of the
        other sign) and ``n_significance_changes`` (fits whose p-value is on the other side of ``alpha``).
    """
    full = table.attrs["full"]
    top = table.iloc[0]
    flips = np.sign(table["estimate"]) != np.sign(full["estimate"])
    sig_full = full["p_value"] <= alpha
    return {"full": float(full["estimate"]), "low": float(table["estimate"].min()),
            "high": float(table["estimate"].max()), "most_influential": str(top["district_code"]),
            "max_shift": float(top["shift"]), "n_sign_changes": int(flips.sum()),
            "n_significance_changes": int(((table["p_value"] <= alpha) != sig_full).sum())}

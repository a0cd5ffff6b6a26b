"""The PanelOLS fit the regression estimators share: district and year effects, clustered by district."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def covariate_design(sample: pd.DataFrame, covariates: Sequence[str], time_varying: Sequence[str]
                      ) -> pd.DataFrame:
    """Control columns for TWFE: baseline covariates x year dummies (first year left out) and
    time-varying covariates as they are.

    A time-invariant covariate is absorbed by the district effects; interacting it with the year lets
    districts with different baselines follow different year-to-year paths (conditional parallel trends).
    """
    cols: dict[str, np.ndarray] = {}
    years = sorted(sample["year"].unique().tolist())
    for cov in covariates:
        x = sample[cov].to_numpy(dtype=float)
        x = x - np.nanmean(x)
        for y in years[1:]:
            cols[f"{cov}_x{y}"] = x * (sample["year"].to_numpy() == y)
    for cov in time_varying:
        cols[cov] = sample[cov].to_numpy(dtype=float)
    return pd.DataFrame(cols, index=sample.index)


def fit_panelols(sample: pd.DataFrame, outcome: str, regressors: pd.DataFrame):
    """PanelOLS with district and year effects, clustered by district (see the module notes)."""
    from linearmodels import PanelOLS

    index = pd.MultiIndex.from_arrays([sample["district_code"].to_numpy(), sample["year"].to_numpy()],
                                      names=["district_code", "year"])
    y = pd.Series(sample[outcome].to_numpy(dtype=float), index=index, name=outcome)
    x = regressors.set_axis(index)
    model = PanelOLS(y, x, entity_effects=True, time_effects=True, drop_absorbed=True, check_rank=False)
    return model.fit(cov_type="clustered", cluster_entity=True, group_debias=True, debiased=False,
                     auto_df=False, count_effects=False)

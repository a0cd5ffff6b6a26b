"""Power: the probability that a design's test rejects at 5%, as a function of the true effect.

For a two-sided t test with standard error ``se`` and ``df`` degrees of freedom, a true effect ``d`` gives
``t = d / se + T`` with ``T`` approximately Student's t, so

``power(d) = F(-q + d / se) + F(-q - d / se)``, ``q = F^{-1}(1 - alpha / 2)``

(``F`` the t distribution function; the normal one when ``df`` is None). This is the formula behind
:func:`~alliance_study.analysis.impact.mde` (``mde = (q + F^{-1}(power)) se`` solves
``power(mde) = power`` up to the far tail), so the curve passes through 80% at the MDE; a simulation test
plants an effect of one MDE and checks the rejection rate. The standard error is the design's own (the
cluster-robust SE of the event study's post average), so the curve is specific to the design's sample
and its inference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from alliance_study.analysis.impact.results import mde


def power(effect: float | Sequence[float] | np.ndarray, se: float, df: int | None = None,
          alpha: float = 0.05) -> np.ndarray:
    """Probability that a two-sided level-``alpha`` t test rejects when the true effect is ``effect``.

    Examples
    --------
    >>> round(float(power(0.0, 1.0)), 3)  # the size
    0.05
    >>> round(float(power(2.801585, 1.0)), 3)  # the normal MDE at 80% power
    0.8
    """
    d = np.asarray(effect, dtype=float) / se
    dist = stats.norm if df is None else stats.t(df)
    q = dist.ppf(1 - alpha / 2)
    return np.asarray(dist.cdf(-q + d) + dist.cdf(-q - d))


def power_curve(se: float, df: int | None = None, effects: Sequence[float] | None = None,
                alpha: float = 0.05, n_points: int = 41) -> pd.DataFrame:
    """The power curve ``effect, power`` (effects from 0 to 2 MDEs by default, ``n_points`` of them)."""
    if effects is None:
        effects = np.linspace(0.0, 2.0 * mde(se, alpha, df=df), n_points)
    effects = np.asarray(effects, dtype=float)
    return pd.DataFrame({"effect": effects, "power": power(effects, se, df, alpha)})


def power_table(fits: Mapping[str, Mapping[str, float]], reference_effects: Mapping[str, float] | None = None,
                alpha: float = 0.05) -> pd.DataFrame:
    """Per outcome: the SE, degrees of freedom, MDE (80% power) and the power against a reference effect.

    Parameters
    ----------
    fits
        Outcome -> a fit with ``se`` and ``df`` (e.g. :func:`~.postavg.post_average_fit`).
    reference_effects
        Outcome -> an effect worth detecting (e.g. what the Jackson-Mackevicius spending benchmark implies);
        ``power_at_reference`` is missing where none is given.

    Returns
    -------
    pandas.DataFrame
        ``outcome, se, df, mde, mde_90, reference_effect, power_at_reference``.
    """
    rows = []
    for outcome, fit in fits.items():
        se, df = float(fit["se"]), int(fit["df"])
        ref = float((reference_effects or {}).get(outcome, np.nan))
        rows.append({"outcome": outcome, "se": se, "df": df, "mde": mde(se, alpha, 0.8, df),
                     "mde_90": mde(se, alpha, 0.9, df), "reference_effect": ref,
                     "power_at_reference": float(power(ref, se, df, alpha)) if np.isfinite(ref) else np.nan})
    return pd.DataFrame(rows)

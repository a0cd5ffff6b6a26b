"""Functional form: graduation in log-odds and suspensions in logs, beside the levels.

A difference-in-differences in percentage points assumes that, without the program, designated and
comparison districts would have moved by the same number of points. Designated districts start far from
the comparison districts (lower graduation, more suspensions; the robustness page states the means), so
"the same number of points" and "the same proportional change" are different assumptions, and an effect
that survives one scale and not the other rests on that choice. The transformed outcomes:

- ``grad_rate_logodds``: the empirical logit of the four-year graduation rate,
  ``log((graduates + 0.5) / (cohort - graduates + 0.5))`` (Cox 1970), finite at 0% and 100% (13 of the
  panel's 2,022 district-years; eleven of them at 100%). Where counts are missing the plain logit of the
  rate is used, and a rate of exactly 0 or 100 without counts is left missing.
- ``suspension_rate_log``: the natural log of the suspension rate (an effect of ``b`` log points is a
  change of about ``100 b`` percent). A rate of 0 is replaced by half the smallest positive rate of the
  column before the log (the panel has none: its smallest rate is 0.5%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Added to the graduate and non-graduate counts in the empirical logit (Cox 1970, *The Analysis of Binary
#: Data*; Haldane's half-count correction), so 0% and 100% rates have a finite log-odds.
LOGIT_CORRECTION = 0.5

#: Outcome -> (transformed column, unit of its effects).
FORMS: dict[str, tuple[str, str]] = {
    "grad_rate": ("grad_rate_logodds", "log-odds"),
    "suspension_rate": ("suspension_rate_log", "log points"),
}


def empirical_logit(rate: pd.Series, count: pd.Series | None = None, total: pd.Series | None = None
                    ) -> pd.Series:
    """Log-odds of a percentage ``rate``: the empirical logit where ``count`` and ``total`` are known.

    Examples
    --------
    >>> import pandas as pd
    >>> empirical_logit(pd.Series([50.0, 100.0]), pd.Series([10.0, 20.0]), pd.Series([20.0, 20.0])
    ...                 ).round(4).tolist()
    [0.0, 3.7136]
    """
    p = rate.astype(float) / 100.0
    plain = np.log(p.where((p > 0) & (p < 1)) / (1 - p.where((p > 0) & (p < 1))))
    if count is None or total is None:
        return plain.rename(None)
    c, n = count.astype(float), total.astype(float)
    counted = np.log((c + LOGIT_CORRECTION) / (n - c + LOGIT_CORRECTION))
    known = c.notna() & n.notna() & (n > 0) & rate.notna()
    return counted.where(known, plain).rename(None)


def log_rate(rate: pd.Series) -> pd.Series:
    """Natural log of a positive rate; zeros become half the smallest positive value first.

    Examples
    --------
    >>> import pandas as pd
    >>> log_rate(pd.Series([0.0, 2.0, 4.0])).round(4).tolist()
    [0.0, 0.6931, 1.3863]
    """
    r = rate.astype(float)
    if (r < 0).any():
        raise ValueError("a rate is negative")
    floor = r.loc[r > 0].min() / 2.0
    return np.log(r.where(r != 0, floor))


def add_functional_forms(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with ``grad_rate_logodds`` and ``suspension_rate_log`` (see the module notes).

    ``attrs["forms_adjusted"]`` counts the rows the 0/100% rules touched: graduation rates at 0 or 100
    (finite through the count correction) and zero suspension rates (raised to the floor).
    """
    out = panel.copy()
    grad = out["grad_rate"]
    out["grad_rate_logodds"] = empirical_logit(grad, out.get("grad_count"), out.get("grad_cohort"))
    out["suspension_rate_log"] = log_rate(out["suspension_rate"])
    out.attrs["forms_adjusted"] = {"grad_rate": int(((grad <= 0) | (grad >= 100)).sum()),
                                   "suspension_rate": int((out["suspension_rate"] == 0).sum())}
    return out


def logodds_to_points(effect: float, base_rate: float) -> float:
    """A log-odds effect in percentage points at ``base_rate`` (percent): ``100 * p (1 - p) * effect``,
    the slope of the logistic curve there (a first-order conversion for small effects)."""
    p = base_rate / 100.0
    return 100.0 * p * (1 - p) * effect

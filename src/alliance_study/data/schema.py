"""Pandera schema for the district-year panel, derived from the data dictionary.

Types come from each column's :class:`~alliance_study.data.sources.common.ColumnSpec`; ranges from its unit:
percentages in [0, 100], counts, dollars and FTEs non-negative, 0/1 flags in {0, 1}. The key
``(district_code, year)`` must be unique.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from alliance_study.data.sources.common import ColumnSpec
from alliance_study.errors import ValidationError

#: Units whose values cannot be negative.
NON_NEGATIVE_UNITS = ("students", "USD", "FTE", "count", "assessments", "graduates")

#: Plausible panel years (2006 is the first CMT year; the upper bound leaves room for new data).
YEAR_RANGE = (1990, 2100)


def _checks(spec: ColumnSpec) -> list[pa.Check]:
    unit = spec.unit.lower()
    if spec.name == "year":
        return [pa.Check.in_range(*YEAR_RANGE)]
    if unit == "percent":
        return [pa.Check.in_range(0, 100)]
    if unit == "0/1":
        return [pa.Check.isin([0, 1])]
    if any(unit.startswith(u.lower()) for u in NON_NEGATIVE_UNITS):
        return [pa.Check.ge(0)]
    return []


def panel_schema(columns: list[ColumnSpec]) -> pa.DataFrameSchema:
    """Build the panel schema from the data dictionary."""
    cols: dict[str, pa.Column] = {}
    for spec in columns:
        checks = _checks(spec)
        if spec.name == "district_code":
            cols[spec.name] = pa.Column(str, [pa.Check.str_matches(r"^\d{7}$")], nullable=False)
        elif spec.name == "year":
            cols[spec.name] = pa.Column("int64", checks, nullable=False)
        elif spec.type == "string":
            cols[spec.name] = pa.Column(nullable=True)
        elif spec.type == "boolean":
            cols[spec.name] = pa.Column(bool, nullable=False)
        elif spec.type == "integer":
            cols[spec.name] = pa.Column(checks=checks, nullable=True)
        else:
            cols[spec.name] = pa.Column(float, checks, nullable=True, coerce=False)
    return pa.DataFrameSchema(cols, unique=["district_code", "year"], strict=True, ordered=False)


def validate_panel(panel: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Validate lazily and raise one :class:`ValidationError` listing the first failures."""
    try:
        return schema.validate(panel, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError) as exc:
        cases = getattr(exc, "failure_cases", None)
        detail = cases.head(10).to_string() if cases is not None else str(exc)
        raise ValidationError(f"panel failed schema validation:\n{detail}") from exc

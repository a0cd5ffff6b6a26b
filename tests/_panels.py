"""Small hand-made panels for the chapter-module tests (no real data needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

NAN = np.nan


def small_panel() -> pd.DataFrame:
    """Six entities over 2012-2013 (the same as tests/test_describe.py's panel).

    A 0010011 (town, cohort 2013, $1,000 in 2013), B 0020011 (town, cohort 2018, never paid), C 0030011 and
    D 0040011 (towns, never designated), R 0050012 (regional, no ECS rows), X 0060013 (charter). ``m`` is a
    measure; B has no value in 2013.
    """
    rows = [
        # code, type, cohort, year, m, enrollment, dollars
        ("0010011", "town_district", 2013, 2012, 10.0, 100.0, 0.0),
        ("0010011", "town_district", 2013, 2013, 20.0, 100.0, 1000.0),
        ("0020011", "town_district", 2018, 2012, 30.0, 300.0, 0.0),
        ("0020011", "town_district", 2018, 2013, NAN, 300.0, 0.0),
        ("0030011", "town_district", None, 2012, 50.0, 100.0, 0.0),
        ("0030011", "town_district", None, 2013, 60.0, 100.0, 0.0),
        ("0040011", "town_district", None, 2012, 70.0, 300.0, 0.0),
        ("0040011", "town_district", None, 2013, 80.0, 300.0, 0.0),
        ("0050012", "regional_district", None, 2012, 90.0, 200.0, NAN),
        ("0050012", "regional_district", None, 2013, 100.0, 200.0, NAN),
        ("0060013", "charter", None, 2012, 1000.0, 50.0, NAN),
        ("0060013", "charter", None, 2013, 1000.0, 50.0, NAN),
    ]
    panel = pd.DataFrame(rows, columns=["district_code", "entity_type", "alliance_cohort", "year", "m",
                                        "enrollment", "alliance_dollars"])
    panel["alliance_cohort"] = panel["alliance_cohort"].astype("Int64")
    panel["alliance_designated"] = (panel["year"] >= panel["alliance_cohort"]).fillna(False).astype("int8")
    panel["district_name"] = panel["district_code"].map(lambda c: f"District {c} School District")
    panel["opportunity_district"] = 0
    panel["alliance_dollars_per_pupil"] = panel["alliance_dollars"] / panel["enrollment"]
    return panel


def axes_texts(fig) -> list[str]:
    """Titles of the visible axes of a figure."""
    return [ax.get_title() for ax in fig.axes if ax.get_visible()]


def legend_texts(fig) -> list[str]:
    """Entries of the figure-level legends."""
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]

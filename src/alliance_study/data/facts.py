"""Published figures about the Alliance District program, with their sources, for checks against the data.

The book compares what was announced or reported with what the panel adds up to. Keeping the published
numbers here (rather than typed into the book's prose) lets the chapters glue both sides of each comparison
and lets tests check them. Sources are listed in ``shared/data/reference/STUDY_FACTS.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class PublishedFigure:
    """One published number: what it measures, its value, unit and where it was published."""

    key: str
    claim: str
    value: float
    unit: str
    source: str


#: The money figures quoted for the program, as published (rounded as in the source).
PUBLISHED_FIGURES: tuple[PublishedFigure, ...] = (
    PublishedFigure("announced_fy2013", "Increased ECS funding for the Alliance Districts in FY2013",
                    39.5e6, "USD",
                    "CSDE presentation to the State Board of Education, 17 May 2012; Commissioner's letter "
                    "of 25 May 2012"),
    PublishedFigure("reported_fy2015", "Alliance funding in FY2015", 133e6, "USD",
                    "Westfair Online, \"Connecticut program to provide $133M to struggling schools\""),
    PublishedFigure("reported_fy2015_growth", "Growth of Alliance funding into FY2015", 52, "percent",
                    "Westfair Online, \"Connecticut program to provide $133M to struggling schools\""),
    PublishedFigure("ccer_cumulative_2017", "Alliance funding over the program's life by 2017 "
                    "(\"almost half a billion dollars\")", 0.5e9, "USD (upper bound)",
                    "Connecticut Council for Education Reform, March 2017"),
)


def published(key: str) -> PublishedFigure:
    """The published figure with this key."""
    for fig in PUBLISHED_FIGURES:
        if fig.key == key:
            return fig
    raise KeyError(f"no published figure {key!r}")


def published_table() -> pd.DataFrame:
    """All published figures as a table (``key, claim, value, unit, source``)."""
    return pd.DataFrame([vars(f) for f in PUBLISHED_FIGURES])

"""The data chapter (``notebooks/02_describe_data.ipynb``): sources, coverage, the build report, gaps.

Reads nothing from disk: the notebook loads the registry, the panel, the build report and the data
package (:mod:`alliance_study.data.load`) and passes them here. This module turns them into the chapter's
tables (with display column names), coverage heatmaps and glued facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import pandas as pd

from alliance_study.analysis.describe import coverage, coverage_by_source
from alliance_study.analysis.groups import ACHIEVEMENT_COMPONENTS, district_mask
from alliance_study.chapters import display
from alliance_study.data.sources.keys import year_span

#: Display names of the columns of :func:`sources_table`.
SOURCES_COLUMNS: dict[str, str] = {
    "family": "Source family", "files": "Files", "years (spring)": "Years (spring)", "license": "License",
    "origin": "Upstream repository", "copy": "Exact copy?"}

#: Display names of the columns of :func:`build_report_summary`.
BUILD_REPORT_COLUMNS: dict[str, str] = {
    "family": "Source family", "files": "Files", "rows_read": "Rows read", "rows_kept": "Rows kept",
    "rows_flagged": "Kept but flagged", "rows_dropped": "Rows dropped",
    "suppressed_cells": "Suppressed cells"}

#: Display names of the columns of :func:`drop_reasons`.
DROP_REASON_COLUMNS: dict[str, str] = {"reason": "Reason", "rows": "Rows dropped",
                                       "families": "Source families"}

#: Display names of the columns of :func:`known_gaps` (its ``key`` names the glued count and is not shown).
GAP_COLUMNS: dict[str, str] = {"gap": "Gap", "check": "Check on the panel", "value": "Result"}

#: Hartford's district code: its 2014-15 expenditures are missing from the export (a known gap).
HARTFORD = "0640011"

#: Towns whose graduates are reported under an endowed academy (Norwich Free Academy, The Gilbert School).
NORWICH, WINCHESTER = "1040011", "1620011"


# --- sources and licenses -------------------------------------------------------------------------

def registry_frame(entries: Iterable[Any]) -> pd.DataFrame:
    """Registry entries (dataclasses or mappings) as a DataFrame with the registry's columns."""
    rows = [asdict(e) if is_dataclass(e) else dict(e) for e in entries]
    return pd.DataFrame(rows)


_SCHOOL_YEAR = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?!\d)")
_RANGE = re.compile(r"(?<!\d)(?:FY)?(\d{4})\s*-\s*(?:FY)?(\d{4})(?!\d)")
_SINGLE = re.compile(r"(?<!\d)(?:FY)?(\d{4})(?!\d)")


def spring_years(text: object) -> set[int]:
    """Spring years named in a registry ``years`` cell.

    Understands school years (``2011-12`` -> 2012), ranges of spring or fiscal years (``2009-2013``,
    ``FY2012-FY2024``), lists of either, and single years; text in parentheses (e.g. ``(no 2014)``) is
    ignored.
    """
    if not isinstance(text, str):
        return set()
    text = re.sub(r"\([^)]*\)", " ", text)
    years: set[int] = set()
    for match in _SCHOOL_YEAR.finditer(text):
        years.add(int(match.group(1)) + 1)
    text = _SCHOOL_YEAR.sub(" ", text)
    for match in _RANGE.finditer(text):
        years.update(range(int(match.group(1)), int(match.group(2)) + 1))
    text = _RANGE.sub(" ", text)
    years.update(int(m.group(1)) for m in _SINGLE.finditer(text))
    return years


def _origin(path: str) -> str:
    parts = path.split("/")
    return "curated reference" if parts[0] == "reference" else "/".join(parts[:2])


def sources_table(registry: pd.DataFrame) -> pd.DataFrame:
    """One row per source family: files, spring years, licenses, upstream repositories, exact copies.

    Parameters
    ----------
    registry
        The raw-file registry as a DataFrame (:func:`registry_frame`).
    """
    rows = []
    for family, block in registry.groupby("family", sort=True):
        years: set[int] = set()
        for text in block["years"]:
            years |= spring_years(text)
        rows.append({
            "family": family,
            "files": len(block),
            "years (spring)": year_span(years),
            "license": "; ".join(sorted(set(block["license"].astype(str)))),
            "origin": "; ".join(sorted({_origin(p) for p in block["path"]})),
            "copy": "; ".join(sorted(set(block["exact_copy"].astype(str)))),
        })
    return pd.DataFrame(rows)


# --- the build report -------------------------------------------------------------------------------------

def build_report_summary(report: pd.DataFrame) -> pd.DataFrame:
    """Rows read, kept (and of those, flagged) and dropped, and suppressed cells, by source family.

    ``report`` is ``build_report.csv``: one ``total`` row per file plus rows per drop reason, suppressed
    column and flagged row. File and row counts come from the ``total`` rows, suppressed cells from the
    ``suppressed`` rows, and ``rows_flagged`` (rows a reader's check flagged but kept as published, so
    counted in ``rows_kept`` too) from the ``flagged`` rows.
    """
    totals = report.loc[report["kind"] == "total"]
    by_family = totals.groupby("family").agg(files=("file", "nunique"), rows_read=("rows_read", "sum"),
                                             rows_kept=("rows_kept", "sum"),
                                             rows_dropped=("rows_dropped", "sum"))
    flagged = report.loc[report["kind"] == "flagged"].groupby("family")["n"].sum()
    by_family.insert(3, "rows_flagged", flagged.reindex(by_family.index, fill_value=0).astype("int64"))
    suppressed = report.loc[report["kind"] == "suppressed"].groupby("family")["n"].sum()
    by_family["suppressed_cells"] = suppressed.reindex(by_family.index, fill_value=0).astype("int64")
    return by_family.reset_index()


def drop_reasons(report: pd.DataFrame) -> pd.DataFrame:
    """Rows dropped by reason (summed over files), with the families that dropped them, largest first."""
    dropped = report.loc[report["kind"] == "dropped"]
    out = dropped.groupby("what").agg(rows=("n", "sum"),
                                      families=("family", lambda s: ", ".join(sorted(set(s)))))
    return out.sort_values("rows", ascending=False).rename_axis("reason").reset_index()


# --- dictionary and gaps ------------------------------------------------------------------------------------

def data_dictionary(datapackage: Mapping[str, Any], resource: str = "district_year") -> pd.DataFrame:
    """The data dictionary of one resource of a data package: ``name, type, unit, years, source,
    description``."""
    for res in datapackage.get("resources", []):
        if res.get("name") == resource:
            fields = res["schema"]["fields"]
            return pd.DataFrame(fields, columns=["name", "type", "unit", "years", "source", "description"])
    raise KeyError(f"resource {resource!r} not in the data package")


def known_gaps(panel: pd.DataFrame, hartford: str = HARTFORD) -> pd.DataFrame:
    """Known holes in the data, each with a count from the panel that shows it.

    Returns
    -------
    pandas.DataFrame
        ``key, gap, check, value``: a short key, what is missing, the check run on the panel and its
        result.
    """
    districts = panel.loc[district_mask(panel)]
    tests = [c for cols in ACHIEVEMENT_COMPONENTS.values() for c in cols if c in panel.columns]

    def n_with(year: int, cols: Sequence[str]) -> int:
        rows = districts.loc[districts["year"] == year, list(cols)]
        return int(rows.notna().any(axis=1).sum())

    def n_rows(code: str, col: str) -> int:
        return int(panel.loc[panel["district_code"] == code, col].notna().sum())

    h15 = panel.loc[(panel["district_code"] == hartford) & (panel["year"] == 2015), "ppe_total"]
    rows = [
        ("tests_2014", "2014: Smarter Balanced field test, no results for most districts",
         "districts with a CMT or SBAC score in 2014", n_with(2014, tests)),
        ("tests_2020", "2020: no state tests (pandemic)", "districts with a test score in 2020",
         n_with(2020, tests)),
        ("absent_2020", "2020: absenteeism and suspensions distorted by the pandemic",
         "districts with a 2020 chronic absenteeism rate (reported, but not comparable)",
         n_with(2020, ["chronic_absent_rate"])),
        ("hartford_ppe_2015", "Hartford missing from the 2014-15 expenditure export",
         "Hartford rows with 2015 expenditure per pupil", int(h15.notna().sum())),
        ("norwich_grad", "Norwich: graduates reported under Norwich Free Academy",
         "Norwich School District rows with a graduation rate", n_rows(NORWICH, "grad_rate")),
        ("winchester_grad", "Winchester: graduates reported under The Gilbert School",
         "Winchester School District rows with a graduation rate", n_rows(WINCHESTER, "grad_rate")),
    ]
    return pd.DataFrame(rows, columns=["key", "gap", "check", "value"])


# --- what the page shows ----------------------------------------------------------------------------------

def sources_facts(registry: pd.DataFrame) -> dict[str, Any]:
    """Glued facts of "Sources and licenses": ``n_raw_files`` and ``n_families``."""
    return {"n_raw_files": len(registry), "n_families": len(sources_table(registry))}


def sources_display(registry: pd.DataFrame) -> pd.DataFrame:
    """:func:`sources_table` with display column names (Table "tbl-sources")."""
    return display.rename_for_display(sources_table(registry), SOURCES_COLUMNS)


def panel_facts(panel: pd.DataFrame) -> dict[str, Any]:
    """Glued facts of "Coverage": panel rows, districts, columns, years, and the reference districts."""
    return {
        "n_reference_districts": int(panel.loc[district_mask(panel), "district_code"].nunique()),
        "panel_rows": format(len(panel), ",d"),
        "panel_districts": int(panel["district_code"].nunique()),
        "panel_columns": panel.shape[1],
        "panel_first_year": int(panel["year"].min()),
        "panel_last_year": int(panel["year"].max()),
    }


def coverage_heatmap(table: pd.DataFrame, title: str, height_per_row: float = 0.28):
    """Heatmap of a coverage table (rows: measures or families; columns: years; values 0-1)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 1.2 + height_per_row * len(table)))
    image = ax.imshow(table.to_numpy(), aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="none")
    ax.set_yticks(range(len(table)), table.index)
    ax.set_xticks(range(len(table.columns)), [str(y) for y in table.columns], rotation=90)
    ax.grid(False)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01, label="share of districts with a value")
    fig.tight_layout()
    return fig


def coverage_figures(panel: pd.DataFrame, measures: Sequence[str]) -> dict[str, Any]:
    """The two coverage heatmaps: by source family and by measure (those of ``measures`` in the panel).

    Returns ``{"fig_coverage_families": figure, "fig_coverage_measures": figure}``.
    """
    shown = [m for m in measures if m in panel.columns]
    return {
        "fig_coverage_families": coverage_heatmap(coverage_by_source(panel), "Coverage by source family"),
        "fig_coverage_measures": coverage_heatmap(coverage(panel, shown), "Coverage by measure"),
    }


def flagged_text(summary: pd.DataFrame) -> str:
    """The sentence on rows kept although a reader's check flagged them (:func:`build_report_summary`).

    Examples
    --------
    >>> s = pd.DataFrame({"family": ["ecs", "revenue", "sbac"], "rows_flagged": [2, 7, 0]})
    >>> flagged_text(s)[:92]
    'Of the rows kept, 9 were flagged by a check and kept as published (revenue 7, ecs 2); the bu'
    >>> flagged_text(s.assign(rows_flagged=0))
    'No row was kept with a flag: every check either passed or dropped its row.'
    """
    flagged = summary.loc[summary["rows_flagged"] > 0].sort_values(["rows_flagged", "family"],
                                                                   ascending=[False, True])
    n = int(flagged["rows_flagged"].sum())
    if n == 0:
        return "No row was kept with a flag: every check either passed or dropped its row."
    parts = ", ".join(f"{f} {int(k):,d}" for f, k in zip(flagged["family"], flagged["rows_flagged"],
                                                          strict=True))
    verb = "was" if n == 1 else "were"
    return (f"Of the rows kept, {n:,d} {verb} flagged by a check and kept as published ({parts}); the build "
            "report lists each with its line, its column and the size of the inconsistency.")


def build_report_facts(report: pd.DataFrame) -> dict[str, Any]:
    """Glued facts of "What the build kept and dropped": rows read/kept/flagged/dropped, suppressed cells,
    reasons, and :func:`flagged_text`."""
    summary = build_report_summary(report)
    return {
        "rows_read": format(int(summary["rows_read"].sum()), ",d"),
        "rows_kept": format(int(summary["rows_kept"].sum()), ",d"),
        "rows_flagged": format(int(summary["rows_flagged"].sum()), ",d"),
        "flagged_text": flagged_text(summary),
        "rows_dropped": format(int(summary["rows_dropped"].sum()), ",d"),
        "suppressed_cells": format(int(summary["suppressed_cells"].sum()), ",d"),
        "n_files_read": int(summary["files"].sum()),
        "n_drop_reasons": len(drop_reasons(report)),
    }


def files_read_note(registry: pd.DataFrame, report: pd.DataFrame) -> str:
    """Why the build read fewer files than the registry lists (``""`` when it read them all).

    Parameters
    ----------
    registry
        :func:`registry_frame` (``path``, ``family``).
    report
        The build report (``file`` per row).

    Examples
    --------
    >>> reg = pd.DataFrame({"path": ["a.csv", "b.csv", "reference/p.csv"], "family": ["x", "x", "plans"]})
    >>> files_read_note(reg, pd.DataFrame({"file": ["a.csv", "b.csv"]}))
    ' of the 3 registered; the other one (plans) is read by a chapter, not by the panel build'
    """
    read = set(report["file"])
    unread = registry.loc[~registry["path"].isin(read)]
    if unread.empty:
        return ""
    families = ", ".join(sorted(unread["family"].unique()))
    other = "the other one" if len(unread) == 1 else f"the other {len(unread)}"
    verb = "is" if len(unread) == 1 else "are"
    return (f" of the {len(registry):,} registered; {other} ({families}) {verb} read by a chapter, not by "
            "the panel build")


def build_report_tables(report: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Display tables ``tbl_build_report`` (by family) and ``tbl_drop_reasons`` (by reason)."""
    return {
        "tbl_build_report": display.rename_for_display(build_report_summary(report), BUILD_REPORT_COLUMNS),
        "tbl_drop_reasons": display.rename_for_display(drop_reasons(report), DROP_REASON_COLUMNS),
    }


def gap_facts(gaps: pd.DataFrame) -> dict[str, Any]:
    """Glued count of each known gap, as ``gap_<key>`` (:func:`known_gaps`), and the 2019-20 sentence.

    ``gap_absent_2020_text`` says how 2019-20 absenteeism and suspensions enter the panel: with the number
    of districts when the build has that year, and that the year is not in the build when it has none (a
    build held back before 2020 would otherwise read "absenteeism (0 districts) ... were reported").

    Examples
    --------
    >>> gap_facts(pd.DataFrame({"key": ["absent_2020"], "value": [0]}))["gap_absent_2020_text"]
    'absenteeism and suspension rates for 2019-20 are not in this build'
    """
    out: dict[str, Any] = {f"gap_{key}": int(value) for key, value in gaps.set_index("key")["value"].items()}
    if "gap_absent_2020" in out:
        n = out["gap_absent_2020"]
        out["gap_absent_2020_text"] = (
            f"absenteeism ({n:,} district{'' if n == 1 else 's'}) and suspension rates were reported for "
            "2019-20 but describe a year cut short and are not comparable with earlier years" if n
            else "absenteeism and suspension rates for 2019-20 are not in this build")
    return out


def gaps_display(gaps: pd.DataFrame) -> pd.DataFrame:
    """:func:`known_gaps` with display column names, without the key (Table "tbl-known-gaps")."""
    return display.rename_for_display(gaps.drop(columns="key"), GAP_COLUMNS)


def dictionary_display(dictionary: pd.DataFrame) -> pd.DataFrame:
    """The data dictionary (:func:`data_dictionary`) with capitalized column names."""
    return dictionary.rename(columns=str.capitalize)

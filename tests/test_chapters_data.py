"""The data chapter module: registry and build-report summaries, known gaps, display tables, heatmaps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _panels import small_panel

from alliance_study.chapters import data as chapter
from alliance_study.data.registry import RegistryEntry
from alliance_study.data.sources.keys import year_span


@pytest.mark.parametrize(("text", "years"), [
    ("2011-12", {2012}),
    ("2005-06,2006-07,2007-08", {2006, 2007, 2008}),
    ("FY2012-FY2024", set(range(2012, 2025))),
    ("2009-2013, 2015-2019, 2022-2025 (no 2014, 2020, 2021)", {*range(2009, 2014), *range(2015, 2020),
                                                               *range(2022, 2026)}),
    ("FY1990-FY2014 (wide: pay1990..pay2014)", set(range(1990, 2015))),
    ("snapshot ~2022-23", {2023}),
    (float("nan"), set()),
])
def test_spring_years(text, years):
    assert chapter.spring_years(text) == years


def test_year_span():
    assert year_span([2015, 2006, 2007, 2008, 2016, 2020]) == "2006-2008, 2015-2016, 2020"
    assert year_span([]) == ""


def test_sources_table_groups_registry_by_family():
    entries = [
        RegistryEntry("own/repo/a_2011-12.csv", "graduation", "0" * 64, 1, "u", "ODC-PDDL-1.0", "yes", "m",
                      "2011-12"),
        RegistryEntry("own/repo/a_2012-13.csv", "graduation", "1" * 64, 1, "u", "ODC-PDDL-1.0", "yes", "m",
                      "2012-13"),
        RegistryEntry("other/x/grad-2023-24.csv", "graduation", "2" * 64, 1, "u", "CC-BY-4.0",
                      "no (transcription or extract)", "m", "2023-24"),
        RegistryEntry("reference/list.csv", "designations", "3" * 64, 1, "", "curated", "curated", "", ""),
    ]
    table = chapter.sources_table(chapter.registry_frame(entries)).set_index("family")
    grad = table.loc["graduation"]
    assert grad["files"] == 3
    assert grad["years (spring)"] == "2012-2013, 2024"
    assert grad["license"] == "CC-BY-4.0; ODC-PDDL-1.0"
    assert grad["origin"] == "other/x; own/repo"
    assert table.loc["designations", "origin"] == "curated reference"


def build_report() -> pd.DataFrame:
    rows = [
        ("sbac", "f1", 10, 8, 2, "total", "", 10),
        ("sbac", "f1", 10, 8, 2, "dropped", "blank line", 2),
        ("sbac", "f1", 10, 8, 2, "suppressed", "score", 3),
        ("sbac", "f2", 5, 5, 0, "total", "", 5),
        ("ecs", "f3", 7, 6, 1, "total", "", 7),
        ("ecs", "f3", 7, 6, 1, "dropped", "blank line", 1),
        ("ecs", "f3", 7, 6, 1, "suppressed", "dollars", 4),
        ("ecs", "f3", 7, 6, 1, "flagged", "line 4, Total: amounts add to 5, Total 4 (gap 1)", 1),
        ("ecs", "f3", 7, 6, 1, "flagged", "line 6, Total: all amounts 0 (gap 0)", 1),
    ]
    return pd.DataFrame(rows, columns=["family", "file", "rows_read", "rows_kept", "rows_dropped", "kind",
                                       "what", "n"])


def test_build_report_summary_counts_each_file_once():
    out = chapter.build_report_summary(build_report()).set_index("family")
    assert out.loc["sbac"].to_dict() == {"files": 2, "rows_read": 15, "rows_kept": 13, "rows_flagged": 0,
                                         "rows_dropped": 2, "suppressed_cells": 3}
    # The two flagged rows of f3 are counted, and the file is still counted once.
    assert out.loc["ecs"].to_dict() == {"files": 1, "rows_read": 7, "rows_kept": 6, "rows_flagged": 2,
                                        "rows_dropped": 1, "suppressed_cells": 4}


def test_flagged_text_counts_the_flagged_rows_by_family():
    summary = chapter.build_report_summary(build_report())
    assert chapter.flagged_text(summary).startswith(
        "Of the rows kept, 2 were flagged by a check and kept as published (ecs 2); ")
    one = build_report().iloc[:-1]
    assert chapter.flagged_text(chapter.build_report_summary(one)).startswith(
        "Of the rows kept, 1 was flagged by a check and kept as published (ecs 1); ")
    none = build_report().loc[lambda r: r["kind"] != "flagged"]
    assert chapter.flagged_text(chapter.build_report_summary(none)).startswith("No row was kept with a flag")


def test_drop_reasons():
    out = chapter.drop_reasons(build_report())
    assert out.to_dict("records") == [{"reason": "blank line", "rows": 3, "families": "ecs, sbac"}]


def test_data_dictionary():
    package = {"resources": [{"name": "district_year", "schema": {"fields": [
        {"name": "year", "type": "integer", "unit": "spring year", "years": "2006-2025", "source": "panel",
         "description": "Spring"}]}}]}
    out = chapter.data_dictionary(package)
    assert list(out.columns) == ["name", "type", "unit", "years", "source", "description"]
    assert out.loc[0, "unit"] == "spring year"
    with pytest.raises(KeyError):
        chapter.data_dictionary(package, "schools")


def test_facts_and_display_tables():
    report = build_report()
    facts = chapter.build_report_facts(report)
    assert facts == {"rows_read": "22", "rows_kept": "19", "rows_flagged": "2", "rows_dropped": "3",
                     "suppressed_cells": "7", "n_files_read": 3, "n_drop_reasons": 1,
                     "flagged_text": chapter.flagged_text(chapter.build_report_summary(report))}
    tables = chapter.build_report_tables(report)
    assert list(tables["tbl_build_report"].columns) == [
        "Source family", "Files", "Rows read", "Rows kept", "Kept but flagged", "Rows dropped",
        "Suppressed cells"]
    assert list(tables["tbl_drop_reasons"].columns) == ["Reason", "Rows dropped", "Source families"]
    entries = [RegistryEntry("own/repo/a.csv", "ecs", "0" * 64, 1, "u", "MIT", "yes", "m", "FY2012-FY2013")]
    registry = chapter.registry_frame(entries)
    assert chapter.sources_facts(registry) == {"n_raw_files": 1, "n_families": 1}
    assert list(chapter.sources_display(registry).columns) == [
        "Source family", "Files", "Years (spring)", "License", "Upstream repository", "Exact copy?"]


def known_gap_panel() -> pd.DataFrame:
    panel = small_panel()
    last = panel.loc[panel["year"] == 2013]
    panel = pd.concat([panel, last.assign(year=2014), last.assign(year=2015), last.assign(year=2020)],
                      ignore_index=True)
    panel["cmt_math_scale"] = np.where(panel["year"] == 2014, np.nan, 250.0)
    panel.loc[(panel["year"] == 2014) & (panel["district_code"] == "0030011"), "cmt_math_scale"] = 240.0
    panel["chronic_absent_rate"] = np.where(panel["year"] == 2020, 12.0, np.nan)
    panel["ppe_total"] = 15000.0
    panel["grad_rate"] = np.nan
    hartford = small_panel().iloc[[0]].assign(district_code=chapter.HARTFORD, year=2015, ppe_total=np.nan)
    norwich = small_panel().iloc[[0, 1]].assign(district_code=chapter.NORWICH, grad_rate=[80.0, np.nan])
    return pd.concat([panel, hartford, norwich], ignore_index=True)


def test_known_gaps_count_what_the_panel_shows():
    gaps = chapter.known_gaps(known_gap_panel())
    facts = chapter.gap_facts(gaps)
    # One town district (C) has a 2014 test score; every district has one in 2020 (5 town/regional).
    assert facts["gap_tests_2014"] == 1
    assert facts["gap_tests_2020"] == 5
    assert facts["gap_absent_2020"] == 5
    assert facts["gap_hartford_ppe_2015"] == 0
    assert (facts["gap_norwich_grad"], facts["gap_winchester_grad"]) == (1, 0)
    assert list(chapter.gaps_display(gaps).columns) == ["Gap", "Check on the panel", "Result"]


def test_panel_facts_and_coverage_figures():
    panel = small_panel()
    facts = chapter.panel_facts(panel)
    assert facts == {"n_reference_districts": 5, "panel_rows": "12", "panel_districts": 6,
                     "panel_columns": panel.shape[1], "panel_first_year": 2012, "panel_last_year": 2013}
    figures = chapter.coverage_figures(panel, ["m", "enrollment", "not_a_column"])
    by_measure = figures["fig_coverage_measures"]
    image = by_measure.axes[0].images[0].get_array()
    assert image.shape == (2, 2)  # two measures in the panel, two years
    # m: 5 of 5 town/regional districts in 2012, 4 in 2013 (B has none).
    assert image[0].tolist() == pytest.approx([1.0, 0.8])
    assert [t.get_text() for t in by_measure.axes[0].get_yticklabels()] == ["m", "enrollment"]
    assert by_measure.axes[0].get_title() == "Coverage by measure"
    assert figures["fig_coverage_families"].axes[0].get_title() == "Coverage by source family"
    for fig in figures.values():
        plt.close(fig)

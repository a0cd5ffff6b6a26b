"""Adding a year of data updates the book: new raw file + registry row + higher ``end_year`` -> new numbers.

An analyst's workflow, end to end on the real files: build the panel from a registry without the last
graduation file (2023-24), run the trends chapter with ``end_year=2023``; then add the file and its
registry row back, rebuild, and run it with ``end_year=2024``. The panel must gain exactly that file's
kept rows, the glued latest graduation year must move from 2023 to 2024, and the glued figure must change.
"""

from __future__ import annotations

import pandas as pd
import pytest
from _notebooks import NOTEBOOK_DIR, Job, execute, glued, glued_values

from alliance_study.data.panel import build_panel, write_outputs
from alliance_study.data.registry import Registry, write_registry

#: The last graduation file: the transcription of the 2023-24 EdSight export.
NEW_FILE = "edbot317-source/public-CT-ed-data/data/graduation_4yr/raw/all_students/grad-2023-24.csv"
NEW_YEAR = 2024
GRAD_COLUMNS = ["grad_cohort", "grad_count", "grad_rate"]

pytestmark = pytest.mark.realdata


def raw_tree(registry: Registry, root, leave_out: str | None = None) -> Registry:
    """A raw directory of symlinks to the fetched files plus its own registry (optionally one file short)."""
    entries = [e for e in registry.entries if e.path != leave_out]
    for entry in entries:
        link = root / entry.path
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(registry.verified_path(entry))
    write_registry(entries, root / "registry.csv")
    return Registry.load(root / "registry.csv")


def grad_rows(panel: pd.DataFrame, year: int) -> int:
    return int((panel["year"].eq(year) & panel[GRAD_COLUMNS].notna().any(axis=1)).sum())


def test_adding_a_year_updates_panel_and_chapter(registry, tmp_path):
    assert any(e.path == NEW_FILE for e in registry.entries), "the 2023-24 graduation file left the registry"
    raw = tmp_path / "raw"

    # Before: the registry lacks the 2023-24 graduation file; the chapter runs to 2023.
    before_registry = raw_tree(registry, raw, leave_out=NEW_FILE)
    assert not (raw / NEW_FILE).exists()
    before = build_panel(before_registry)
    write_outputs(before, tmp_path / "processed_before")
    # After: the analyst adds the file and its registry row and raises end_year.
    after_registry = raw_tree(registry, raw)
    after = build_panel(after_registry)
    write_outputs(after, tmp_path / "processed_after")

    source = NOTEBOOK_DIR / "03_compare_trends.ipynb"
    runs = [Job(source, tmp_path / "before.ipynb", {"data_dir": str(tmp_path / "processed_before"),
                                                    "end_year": NEW_YEAR - 1}),
            Job(source, tmp_path / "after.ipynb", {"data_dir": str(tmp_path / "processed_after"),
                                                   "end_year": NEW_YEAR})]
    execute(runs)

    # The panel gains exactly the new file's kept rows, all in the new year.
    kept = next(r.rows_kept for r in after.reports if r.file == NEW_FILE)
    assert not any(r.file == NEW_FILE for r in before.reports)
    assert grad_rows(before.panel, NEW_YEAR) == 0
    assert grad_rows(after.panel, NEW_YEAR) == kept > 0
    earlier = list(range(2011, NEW_YEAR))
    assert [grad_rows(before.panel, y) for y in earlier] == [grad_rows(after.panel, y) for y in earlier]

    # The chapter's glued numbers and figure follow.
    g_before, g_after = glued_values(runs[0].output), glued_values(runs[1].output)
    assert g_before["latest_grad_year"] == NEW_YEAR - 1
    assert g_after["latest_grad_year"] == NEW_YEAR
    assert g_before["grad_rate_end_year"] == str(NEW_YEAR - 1)
    # end_year limits every series, not only graduation: SEDA runs to 2025 in both builds.
    assert g_before["seda_grade_levels_end_year"] == str(NEW_YEAR - 1)
    assert g_after["grad_rate_end_year"] == str(NEW_YEAR)
    fig_before = glued(runs[0].output)["fig_grad_trend"]["image/png"]
    fig_after = glued(runs[1].output)["fig_grad_trend"]["image/png"]
    assert fig_before != fig_after

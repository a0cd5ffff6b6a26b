"""Adding a year through the README's procedure, for a family other than graduation (SBAC 2024-25).

README "Adding a year of data": add the raw file to the mirror (with its MANIFEST.csv row), run
``tools/make_registry.py``, raise ``end_year`` and run the book. Here, on the real files: a mirror whose
manifest lacks the SBAC 2024-25 row gives a registry without it (the "before" state); the full manifest
gives it back through the same tool; both registries build panels, and the trends chapter is run with the
runner's value check and the data's last year. The panel must gain exactly that file's kept rows, all in
spring 2025, and the chapter's glued last SBAC year must move from 2024 to 2025.
"""

from __future__ import annotations

import csv
import importlib.util
import sys

import pytest
from _notebooks import NOTEBOOK_DIR, Job, execute, glued_values

from alliance_study.book import values
from alliance_study.book.config import Run
from alliance_study.data import paths
from alliance_study.data.panel import build_panel, write_outputs
from alliance_study.data.registry import Registry
from alliance_study.errors import AllianceStudyError

NEW_FILE = "edbot317-source/public-CT-ed-data/data/sbac/raw/all_students/sbac-2024-25.csv"
NEW_YEAR = 2025
SBAC_COLUMNS = ["sbac_ela_pct_l34", "sbac_math_pct_l34"]

pytestmark = pytest.mark.realdata


def make_registry_tool():
    tool = paths.PROJECT_ROOT / "tools" / "make_registry.py"
    spec = importlib.util.spec_from_file_location("make_registry", tool)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_registry", module)
    spec.loader.exec_module(module)
    return module


def mirror_without(tmp_path, leave_out: str | None):
    """A mirror: the real one's files (symlinked folders) and its manifest, optionally one row short."""
    source = paths.mirror_dir()
    mirror = tmp_path / ("mirror_before" if leave_out else "mirror_after")
    mirror.mkdir()
    for child in source.iterdir():
        if child.name != "MANIFEST.csv":
            (mirror / child.name).symlink_to(child)
    with open(source / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        fields = list(rows[0])
    with open(mirror / "MANIFEST.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(r for r in rows if r["path"] != leave_out)
    return mirror


def registry_from(tool, mirror, out) -> Registry:
    out.parent.mkdir(parents=True, exist_ok=True)
    assert tool.main(["--mirror", str(mirror), "--out", str(out)]) == 0
    registry, fetched = Registry.load(out), Registry.load()
    for entry in registry.entries:  # the fetched files, as `alliance-study fetch` would place them
        link = registry.local_path(entry)
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(fetched.verified_path(fetched.entry(entry.path)))
    return registry


def sbac_rows(panel, year: int) -> int:
    return int((panel["year"].eq(year) & panel[SBAC_COLUMNS].notna().any(axis=1)).sum())


def test_sbac_year_added_through_make_registry_reaches_panel_and_chapter(tmp_path):
    tool = make_registry_tool()
    with open(paths.mirror_dir() / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        in_manifest = any(row["path"] == NEW_FILE for row in csv.DictReader(handle))
    assert in_manifest, "the mirror's manifest lists the SBAC 2024-25 file"
    if tool.classify(NEW_FILE) is None:
        pytest.skip("tools/make_registry.py does not select the 2021-22+ SBAC files yet")

    before_registry = registry_from(tool, mirror_without(tmp_path, NEW_FILE), tmp_path / "before" / "reg.csv")
    after_registry = registry_from(tool, mirror_without(tmp_path, None), tmp_path / "after" / "reg.csv")
    assert not any(e.path == NEW_FILE for e in before_registry.entries)
    assert {e.path for e in after_registry.entries} - {e.path for e in before_registry.entries} == {NEW_FILE}

    try:
        before, after = build_panel(before_registry), build_panel(after_registry)
    except AllianceStudyError as exc:  # the reader's message must stay short enough to read
        assert len(str(exc)) < 1200
        raise
    write_outputs(before, tmp_path / "processed_before")
    write_outputs(after, tmp_path / "processed_after")
    kept = next(r.rows_kept for r in after.reports if r.file == NEW_FILE)
    assert sbac_rows(before.panel, NEW_YEAR) == 0
    # The file has a row per district and subject (ELA, math): its kept rows become district-years of 2025.
    assert 0 < sbac_rows(after.panel, NEW_YEAR) <= kept <= 2 * sbac_rows(after.panel, NEW_YEAR) + 10
    # Every earlier SBAC value is the same in both panels: only the new year was added.
    key = ["district_code", "year"]
    old = before.panel.loc[before.panel["year"] < NEW_YEAR, key + SBAC_COLUMNS].set_index(key).sort_index()
    new = after.panel.loc[after.panel["year"] < NEW_YEAR, key + SBAC_COLUMNS].set_index(key).sort_index()
    assert old.equals(new)

    # end_year is checked against each panel's years before anything runs.
    source = NOTEBOOK_DIR / "03_compare_trends.ipynb"
    last = values.data_years(tmp_path / "processed_after")[1]
    probe = Run(name="trends", label="trends", source=source, output=tmp_path / "x.ipynb",
                output_rel="x.ipynb", parameters={"end_year": last + 1})
    with pytest.raises(AllianceStudyError, match=f"end_year = {last + 1} is outside"):
        values.check_values([probe], tmp_path / "processed_after")

    runs = [Job(source, tmp_path / "before.ipynb", {"data_dir": str(tmp_path / "processed_before"),
                                                    "end_year": NEW_YEAR}),
            Job(source, tmp_path / "after.ipynb", {"data_dir": str(tmp_path / "processed_after"),
                                                   "end_year": NEW_YEAR})]
    execute(runs)
    g_before, g_after = glued_values(runs[0].output), glued_values(runs[1].output)
    assert g_before["sbac_ela_pct_l34_end_year"] == str(NEW_YEAR - 1)
    assert g_after["sbac_ela_pct_l34_end_year"] == str(NEW_YEAR)

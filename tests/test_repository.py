"""What the repository tracks: sources only, never the environment, fetched raw files or generated outputs.

A `.venv` link committed once by a worktree replaced the real environment when it was merged, and would
make a fresh clone's `make install` try to use a link to a folder that does not exist there.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alliance_study.data import paths

#: Paths (prefixes) that must never be tracked: the environment, fetched raw data except the registry and
#: its README, generated outputs, the built book, executed notebooks written by `alliance-study run`.
NEVER_TRACKED = (".venv", "venv", "data/processed.v", "book/_build", "mutants")
RAW_ALLOWED = {"data/raw/registry.csv", "data/raw/README.md"}
PROCESSED_ALLOWED = {"data/processed/.gitkeep"}


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (paths.PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files"], cwd=paths.PROJECT_ROOT, capture_output=True, text=True,
                         check=True)
    return out.stdout.splitlines()


def test_environment_and_outputs_are_not_tracked() -> None:
    tracked = _tracked()
    bad = [f for f in tracked if any(f == p or f.startswith(p + "/") for p in NEVER_TRACKED)]
    bad += [f for f in tracked if f.startswith("data/raw/") and f not in RAW_ALLOWED]
    bad += [f for f in tracked if f.startswith("data/processed/") and f not in PROCESSED_ALLOWED]
    assert not bad, f"tracked but generated or local: {bad[:10]}"


def test_notebooks_dir_holds_sources_only() -> None:
    # Executed copies live under book/ and are ignored; the sources are committed without outputs
    # (tests/test_notebooks.py checks the outputs).
    tracked = _tracked()
    executed = [f for f in tracked if f.startswith("book/") and f.endswith(".ipynb")
                and f != "src/alliance_study/book/plan_report.ipynb"]
    assert not executed, executed

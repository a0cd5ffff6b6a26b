"""Shared fixtures: the real raw files (fetched from the mirror on first use) and the crosswalk."""

from __future__ import annotations

import pytest

from alliance_study.data import paths
from alliance_study.data.registry import Registry, fetch


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The project registry with every raw file fetched and verified (copies from the mirror)."""
    reg = Registry.load()
    fetch(reg, paths.mirror_dir())
    return reg


@pytest.fixture(scope="session")
def crosswalk(registry):
    """District crosswalk built from the real Education Directory."""
    from alliance_study.data.sources import directory

    cw, _ = directory.load(registry)
    return cw


@pytest.fixture(scope="session")
def real_build(registry, tmp_path_factory):
    """The panel built from the real raw files, written to a temporary directory."""
    from alliance_study.data.panel import build_panel, write_outputs

    build = build_panel(registry)
    out = tmp_path_factory.mktemp("processed")
    write_outputs(build, out)
    return build, out


@pytest.fixture(scope="session")
def real_panel(real_build):
    """The district-year panel of :func:`real_build` (do not modify it: copy first)."""
    return real_build[0].panel


@pytest.fixture
def write_raw(tmp_path):
    """Write a small raw file (text, UTF-8 by default) under tmp_path and return its path."""

    def _write(name: str, text: str, encoding: str = "utf-8"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        return path

    return _write

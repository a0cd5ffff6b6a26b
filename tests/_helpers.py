"""Helpers the reader tests share: error-message assertions, fixture registries, raw-row counting."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from alliance_study.data.registry import Registry, RegistryEntry, sha256_file
from alliance_study.data.sources.common import SourceOutput
from alliance_study.data.sources.keys import year_from_path
from alliance_study.errors import RawDataError


def assert_raw_error(call: Callable[[], object], file: str, row: int | None, column: str | None,
                     match: str) -> RawDataError:
    """``call()`` must raise a RawDataError naming ``file``, ``row`` and ``column`` and matching ``match``."""
    with pytest.raises(RawDataError) as info:
        call()
    msg = str(info.value)
    assert file in msg, msg
    if row is not None:
        assert f"row {row}" in msg, msg
    if column is not None:
        assert f"column {column!r}" in msg, msg
    assert re.search(match, msg), msg
    return info.value


def fixture_registry(tmp_path: Path, family: str, files: dict[str, str]) -> Registry:
    """A registry of small fixture files (written byte for byte, hashes computed) under ``tmp_path/raw``."""
    raw = tmp_path / "raw"
    entries = []
    for rel, text in files.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_text(text, encoding="utf-8", newline="")
        entries.append(RegistryEntry(rel, family, sha256_file(raw / rel), 0, "", "", "yes", "", ""))
    return Registry(entries=entries, raw_dir=raw)


def raw_data_lines(path: Path, header_starts: tuple[str, ...] = ('"District"',),
                   not_data: tuple[str, ...] = ()) -> int:
    """Non-blank lines after the header row, counted without the reader (``not_data`` lines left out)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(header_starts))
    return sum(1 for line in lines[header + 1:]
               if line.strip() and not (not_data and line.startswith(not_data)))


def check_row_accounting(out: SourceOutput, n_files: int, allowed_drops: Iterable[str]) -> None:
    """One report per file; read = kept + dropped; only the allowed drop reasons."""
    assert len(out.reports) == n_files
    for r in out.reports:
        assert r.rows_read == r.rows_kept + sum(r.dropped.values()), r.file
        assert set(r.dropped) <= set(allowed_drops), r.file


def check_counts_per_year(out: SourceOutput, registry: Registry, expected: dict[int, int],
                          header_starts: tuple[str, ...] = ('"District"',),
                          not_data: tuple[str, ...] = ()) -> None:
    """District rows per year equal the expected counts, the raw data lines, and read minus dropped."""
    by_year = out.district.groupby("year").size().to_dict()
    assert by_year == expected
    reports = {r.file: r for r in out.reports}
    for entry in registry.files(out.family):
        if entry.path.endswith("_ct.csv"):
            continue
        r = reports[entry.path]
        raw_rows = raw_data_lines(registry.verified_path(entry), header_starts, not_data)
        assert by_year[year_from_path(entry.path)] == raw_rows == r.rows_read - sum(r.dropped.values()), \
            entry.path

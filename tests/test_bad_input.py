"""End to end: a corrupted or unexpected raw file stops `build-panel` with file, row and column, and
leaves no output in the processed directory.

Each case copies the fetched raw tree (symlinks for unchanged files), rewrites one SBAC file, registers
its new hash (so the change passes the fetch check and reaches the reader), and runs the command line.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance_study.cli import app
from alliance_study.data.registry import Registry, sha256_file, write_registry

TARGET = ("CT-Data-Collaborative/smarter-balanced-by-all-students/raw/"
          "smarter-balanced__2015-16_ela-and-math_all-students_all-grades-combined.csv")
HEADER_LINE = 5  # two title lines, a blank line, the group-header row, then the header
FIRST_DATA_LINE = HEADER_LINE + 1


def _tree(registry: Registry, root: Path, edit) -> tuple[Path, Path]:
    raw = root / "raw"
    entries = []
    for e in registry.entries:
        dest = raw / e.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = registry.verified_path(e)
        if e.path == TARGET:
            data = edit(src.read_bytes())
            dest.write_bytes(data)
            e = replace(e, sha256=sha256_file(dest), bytes=len(data))
        else:
            os.symlink(src, dest)
        entries.append(e)
    write_registry(entries, raw / "registry.csv")
    return raw / "registry.csv", root / "processed"


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8").split("\n")


def _edit_line(n: int, fn):
    def edit(data: bytes) -> bytes:
        lines = _lines(data)
        lines[n - 1] = fn(lines[n - 1])
        return "\n".join(lines).encode("utf-8")

    return edit


def _cell(line: str, index: int, value: str) -> str:
    import csv
    import io

    cells = next(csv.reader(io.StringIO(line)))
    cells[index] = value
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow(cells)
    return out.getvalue()


def _drop_cell(line: str, index: int) -> str:
    import csv
    import io

    if not line.strip():
        return line
    cells = next(csv.reader(io.StringIO(line)))
    if len(cells) <= index:  # title lines have one cell
        return line
    del cells[index]
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow(cells)
    return out.getvalue()


CASES = {
    "truncated mid-row": (
        lambda d: d[: d.index(b"\n", 2000) + 40],
        [TARGET],
    ),
    "column renamed": (
        _edit_line(HEADER_LINE, lambda s: s.replace('"Subject"', '"Subject Area"')),
        [TARGET, f"row {HEADER_LINE}", "Subject Area"],
    ),
    "column missing": (
        lambda d: "\n".join(_drop_cell(line, 2) for line in _lines(d)).encode(),
        [TARGET, f"row {HEADER_LINE}", "missing"],
    ),
    "duplicate district-year": (
        _edit_line(FIRST_DATA_LINE + 2, lambda s: _cell(_cell(s, 0, "Achievement First Hartford Academy Inc. "
                                                              "District"), 1, '="2880013"')),
        [TARGET, f"row {FIRST_DATA_LINE + 2}", "duplicate"],
    ),
    "non-numeric rate": (
        _edit_line(FIRST_DATA_LINE, lambda s: _cell(s, 16, "44,8%")),
        [TARGET, f"row {FIRST_DATA_LINE}", "not a number"],
    ),
    "rate above 100": (
        _edit_line(FIRST_DATA_LINE, lambda s: _cell(s, 16, "144.8")),
        [TARGET, f"row {FIRST_DATA_LINE}", "above"],
    ),
    "unknown district code": (
        _edit_line(FIRST_DATA_LINE, lambda s: _cell(s, 1, '="9990011"')),
        [TARGET, f"row {FIRST_DATA_LINE}", "unknown district code 9990011"],
    ),
    "different encoding": (
        lambda d: d.decode("utf-8").encode("utf-16"),
        [TARGET, "UTF-8"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_raw_file_stops_the_build(registry, tmp_path, case):
    edit, expected = CASES[case]
    registry_csv, out = _tree(registry, tmp_path, edit)
    result = CliRunner().invoke(app, ["build-panel", "--registry", str(registry_csv), "--out", str(out)])
    message = " ".join(result.output.split())
    assert result.exit_code == 1, message
    for piece in expected:
        assert piece in message, f"{piece!r} not in {message!r}"
    assert not out.exists() or not any(out.iterdir()), "a failed build must not leave output"
    assert not any(p.name.startswith(".processed-staging") for p in tmp_path.iterdir())


def test_hash_mismatch_stops_the_build_before_reading(registry, tmp_path):
    registry_csv, out = _tree(registry, tmp_path, lambda d: d)
    target = tmp_path / "raw" / TARGET
    target.write_bytes(target.read_bytes().replace(b"2880013", b"2880014", 1))
    result = CliRunner().invoke(app, ["build-panel", "--registry", str(registry_csv), "--out", str(out)])
    message = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "sha256 mismatch" in message and TARGET in message
    assert not out.exists()


def test_good_tree_builds(registry, tmp_path):
    """The harness itself is sound: the unedited tree builds."""
    registry_csv, out = _tree(registry, tmp_path, lambda d: d)
    result = CliRunner().invoke(app, ["build-panel", "--registry", str(registry_csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "district_year.parquet").exists()

"""The corruption suite's harness: copy one real raw file, corrupt it, read its family, judge the error.

Each case takes a real fetched file, applies one corruption to its text, registers the new hash in a
registry that holds only that family (the other files are symbolic links to the fetched copies), and reads
the family with its ``load``. A refusal must be a :class:`~alliance_study.errors.RawDataError` naming the
file, a row that exists in the corrupted file and (where a cell is at fault) a column label that the file
itself uses.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from alliance_study.data.registry import Registry, sha256_file
from alliance_study.data.sources import (
    absenteeism,
    cmt_capt,
    designations,
    ecs,
    enrollment,
    expenditures,
    graduation,
    histpay,
    sbac,
    seda,
    staffing,
    suspensions,
)
from alliance_study.errors import RawDataError

_CTDC = "CT-Data-Collaborative/"
_EDSIGHT = _CTDC + "edsight-data/data/"
_EDBOT = "edbot317-source/public-CT-ed-data/data/"


@dataclass(frozen=True)
class Target:
    """One real raw file to corrupt: its family's reader module and registry path."""

    module: object
    path: str
    #: Read only this file of the family (fast); False where the family needs its other files.
    alone: bool = True

    @property
    def family(self) -> str:
        return self.module.FAMILY


TARGETS: dict[str, Target] = {
    "absenteeism": Target(absenteeism, _CTDC + "chronic-absenteeism-by-all-students/raw/"
                          "chronic-absenteeism__2018-19_all-students.csv"),
    "suspensions": Target(suspensions, _CTDC + "suspension-rates-by-all-students/raw/"
                          "suspension-rates__2015-16_.csv", alone=False),
    "sbac": Target(sbac, _CTDC + "smarter-balanced-by-all-students/raw/"
                   "smarter-balanced__2016-17_ela-and-math_all-students_all-grades-combined.csv",
                   alone=False),
    "graduation": Target(graduation, _CTDC + "four-year-grad-rates-by-all-students/raw/"
                         "four-year-graduation-rates__2016-17_all-students_grad.csv"),
    "graduation_transcribed": Target(graduation, _EDBOT + "graduation_4yr/raw/all_students/grad-2023-24.csv"),
    "enrollment": Target(enrollment, _EDSIGHT + "enrollment-district/enrollment__2012-13_all-students.csv"),
    "expenditures": Target(expenditures, _EDSIGHT + "annual-expenditures-district/"
                           "annual-expenditures__2010-11.csv", alone=False),
    "staffing": Target(staffing, _EDSIGHT + "staffing-levels-district/"
                       "staffing-levels__2010-11_all_all-categories.csv"),
    "cmt_capt": Target(cmt_capt, "sgaul/testscores/capt.csv", alone=False),
    "seda": Target(seda, _EDBOT + "district_year_seda_gcs/district_year_seda_gcs__all_students_extract.csv"),
    "ecs": Target(ecs, _EDBOT + "town_year_ecs_entitlement/town_year_ecs_entitlement.csv"),
    "histpay": Target(histpay, "alspur/firsttermschlfinance/data/histpay.csv"),
    "designations": Target(designations, "reference/alliance_designations.csv"),
}


def corrupted_registry(registry: Registry, root: Path, target: Target, data: bytes) -> Registry:
    """A registry of ``target``'s family under ``root`` with ``target``'s file replaced by ``data``."""
    raw = root / "raw"
    entries = []
    for e in registry.files(target.family):
        if target.alone and e.path != target.path:
            continue
        dest = raw / e.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if e.path == target.path:
            dest.write_bytes(data)
            e = replace(e, sha256=sha256_file(dest), bytes=len(data))
        else:
            os.symlink(registry.verified_path(e), dest)
        entries.append(e)
    assert any(e.path == target.path for e in entries), target.path
    return Registry(entries=entries, raw_dir=raw)


def original(registry: Registry, target: Target) -> str:
    """The fetched file's text (UTF-8, BOM kept out)."""
    return registry.verified_path(registry.entry(target.path)).read_bytes().decode("utf-8-sig")


def load(registry: Registry, crosswalk, root: Path, target: Target, text: str | bytes):
    """Read ``target``'s family with ``target``'s file replaced by ``text``."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    reg = corrupted_registry(registry, root, target, data)
    if target.module is designations:
        return designations.load(reg, crosswalk)
    return target.module.load(reg, crosswalk)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def assert_refused(call: Callable[[], object], target: Target, text: str, match: str, *,
                   column: bool = True) -> RawDataError:
    """``call()`` raises a RawDataError naming the target file, an existing row and the file's own label."""
    with pytest.raises(RawDataError) as info:
        call()
    err = info.value
    msg = str(err)
    assert err.file == target.path, msg
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    assert err.row is not None and 1 <= err.row <= n_lines, f"row {err.row} of {n_lines}: {msg}"
    if column:
        assert err.column, f"no column named: {msg}"
        flat = _squash(text)
        for piece in err.column.split(" | "):
            assert piece in flat, f"column label {piece!r} is not the file's own: {msg}"
    assert re.search(match, msg, re.IGNORECASE), msg
    return err


# ----------------------------------------------------------------------------------------------------
# Editing a CSV text line by line (the targets hold one record per line)


def lines_of(text: str) -> list[str]:
    """The lines of ``text`` with their line endings."""
    return text.splitlines(keepends=True)


def cells_of(line: str) -> list[str]:
    """The CSV cells of one line."""
    return next(csv.reader(io.StringIO(line.rstrip("\r\n"))), [])


def _join(cells: list[str], ending: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue() + ending


def header_index(text: str, first: str) -> int:
    """0-based index of the header line (first cell ``first``)."""
    for i, line in enumerate(lines_of(text)):
        cells = cells_of(line)
        if cells and cells[0].strip() == first:
            return i
    raise AssertionError(f"no header starting with {first!r}")


def edit_cell(text: str, line: int, column: int, value: str | Callable[[str], str]) -> str:
    """Set (or transform) the cell ``column`` (0-based) of 1-based ``line``."""
    lines = lines_of(text)
    raw = lines[line - 1]
    ending = raw[len(raw.rstrip("\r\n")):]
    cells = cells_of(raw)
    cells[column] = value(cells[column]) if callable(value) else value
    lines[line - 1] = _join(cells, ending)
    return "".join(lines)


def blank_after_first(text: str, line: int) -> str:
    """Blank every cell of 1-based ``line`` after the first (a damaged data row)."""
    lines = lines_of(text)
    raw = lines[line - 1]
    ending = raw[len(raw.rstrip("\r\n")):]
    cells = cells_of(raw)
    lines[line - 1] = _join([cells[0]] + [""] * (len(cells) - 1), ending)
    return "".join(lines)


def cut_at_line(text: str, keep: int) -> str:
    """The first ``keep`` lines, ending with their line break: a file cut at a line boundary."""
    return "".join(lines_of(text)[:keep])


def find_line(text: str, predicate: Callable[[list[str]], bool], start: int = 0) -> int:
    """1-based number of the first line from ``start`` whose cells satisfy ``predicate``."""
    for i, line in enumerate(lines_of(text)[start:], start=start):
        if predicate(cells_of(line)):
            return i + 1
    raise AssertionError("no such line")

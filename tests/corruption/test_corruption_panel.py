"""Corruption suite, panel and output classes (issue 10).

8 Alliance dollars and designations disagree (ECS and designations files corrupted); 9 a registry without
a whole family; 10 unwritable or full output disk: one ``error:`` line, exit status 1, outputs intact;
12 atomic publishing of the whole output set: a failure injected after every step, and a real kill
(SIGKILL) at every step in a child process, leave either the whole old set or the whole new set, and the
next build cleans up.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _harness import TARGETS, cells_of, corrupted_registry, edit_cell, find_line, lines_of, original
from typer.testing import CliRunner

from alliance_study.cli import app
from alliance_study.data import panel as panel_module
from alliance_study.data import publish as publish_module
from alliance_study.data.panel import assemble, check_families, check_money_against_designations
from alliance_study.data.registry import Registry
from alliance_study.data.sources import designations, ecs
from alliance_study.errors import ValidationError

pytestmark = pytest.mark.realdata


# 8. Alliance dollars for a never-designated district; a designee with $0 that is not a known exception.
def _money_panel(registry, crosswalk, root: Path, ecs_text: str | None = None,
                 designation_text: str | None = None):
    ecs_reg = corrupted_registry(registry, root / "ecs", TARGETS["ecs"],
                                 (ecs_text or original(registry, TARGETS["ecs"])).encode())
    des_text = designation_text or original(registry, TARGETS["designations"])
    des_reg = corrupted_registry(registry, root / "des", TARGETS["designations"], des_text.encode())
    ecs_out = ecs.load(ecs_reg, crosswalk)
    des_out = designations.load(des_reg, crosswalk)
    panel, _ = assemble(crosswalk, [ecs_out], des_out.district, designations.opportunity_flags,
                        first_year=2012)
    return panel


def _ecs_row(text: str, town: int, year: int) -> int:
    return find_line(text, lambda c: c[0] == str(town) and c[3] == str(year), 1)


def test_money_and_designations_agree_on_real_files(registry, crosswalk, tmp_path):
    panel = _money_panel(registry, crosswalk, tmp_path)
    check_money_against_designations(panel, ["ecs.csv"], ["designations.csv"])


def test_alliance_dollars_for_never_designated_district(registry, crosswalk, tmp_path):
    """Move $1,000,000 of Andover's FY2016 ECS into an Alliance portion (the split still adds up)."""
    text = original(registry, TARGETS["ecs"])
    row = _ecs_row(text, 1, 2016)
    header = cells_of(lines_of(text)[0])
    alliance, non = header.index("alliance_portion"), header.index("non_alliance_portion")
    bad = edit_cell(text, row, alliance, "1000000")
    bad = edit_cell(bad, row, non, lambda v: str(int(v) - 1000000))
    panel = _money_panel(registry, crosswalk, tmp_path, ecs_text=bad)
    with pytest.raises(ValidationError, match=r"Andover.*1,000,000 in FY2016 but is never designated"):
        check_money_against_designations(panel, ["ecs.csv"], ["designations.csv"])


def test_designee_removed_from_designations_file(registry, crosswalk, tmp_path):
    """Ansonia's designation row replaced by a town never designated: Ansonia's money is unexplained."""
    text = original(registry, TARGETS["designations"])
    row = find_line(text, lambda c: c[:1] == ["Ansonia"], 1)
    bad = edit_cell(edit_cell(text, row, 0, "Andover"), row, 1, "1")
    panel = _money_panel(registry, crosswalk, tmp_path, designation_text=bad)
    with pytest.raises(ValidationError, match=r"Ansonia.*never designated"):
        check_money_against_designations(panel, ["ecs.csv"], ["designations.csv"])


def test_designee_without_money_not_listed(registry, crosswalk, tmp_path):
    """Hartford's FY2015 Alliance dollars moved to the non-Alliance portion: $0 for a designee."""
    text = original(registry, TARGETS["ecs"])
    row = _ecs_row(text, 64, 2015)
    header = cells_of(lines_of(text)[0])
    alliance, non = header.index("alliance_portion"), header.index("non_alliance_portion")
    amount = int(cells_of(lines_of(text)[row - 1])[alliance])
    bad = edit_cell(edit_cell(text, row, alliance, "0"), row, non, lambda v: str(int(v) + amount))
    panel = _money_panel(registry, crosswalk, tmp_path, ecs_text=bad)
    with pytest.raises(ValidationError, match=r"Hartford.*designated in FY2015 but its Alliance dollars are"):
        check_money_against_designations(panel, ["ecs.csv"], ["designations.csv"])


def test_known_exceptions_are_real(registry, crosswalk, tmp_path):
    """Every listed designee-year without money is designated and has $0 in the ECS file (no stale list)."""
    panel = _money_panel(registry, crosswalk, tmp_path).set_index(["district_code", "year"])
    for code, years in panel_module.DESIGNATED_WITHOUT_MONEY.items():
        for year in years:
            row = panel.loc[(code, year)]
            assert row["alliance_designated"] == 1 and row["alliance_dollars"] == 0, (code, year)


# 9. A registry without a whole family stops the build naming the family.
@pytest.mark.parametrize("missing", [["seda"], ["ecs", "histpay"], ["directory"]])
def test_registry_missing_family(registry, missing):
    reg = Registry(entries=[e for e in registry.entries if e.family not in missing], raw_dir=registry.raw_dir)
    with pytest.raises(ValidationError) as info:
        panel_module.build_panel(reg)
    for family in missing:
        assert family in str(info.value)


def test_check_families_passes_on_the_registry(registry):
    check_families(registry, [m.FAMILY for m in panel_module.SOURCE_MODULES])


# 10. Unwritable output folder, full disk: one error line naming the path, exit 1, outputs intact.
def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def published(real_build, tmp_path):
    """A real build published into ``tmp_path/processed`` (the 'old' outputs)."""
    build, _ = real_build
    out = tmp_path / "processed"
    panel_module.write_outputs(build, out)
    return build, out


@pytest.mark.parametrize(("error", "words"), [
    (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
])
@pytest.mark.parametrize("step", ["clean", "staged", "versioned", "linked"])
def test_output_errors_are_one_line(published, monkeypatch, error, words, step):
    build, out = published
    before = _digests(out)

    def hook(name: str) -> None:
        if name == step:
            error.filename = str(out.parent / "processed.v" / "district_year.parquet")
            raise error

    monkeypatch.setattr(publish_module, "STEP_HOOK", hook)
    monkeypatch.setattr("alliance_study.data.panel.build_panel", lambda registry, progress=None: build)
    monkeypatch.setattr("alliance_study.data.registry.Registry.load", classmethod(lambda cls, *a, **k: None))
    result = CliRunner().invoke(app, ["build-panel", "--out", str(out)])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1 and words in lines[0] and "district_year.parquet" in lines[0], result.output
    assert _digests(out) == before


def test_unreadable_raw_file_is_one_line(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "raw.csv"))

    monkeypatch.setattr("alliance_study.data.registry.Registry.load", boom)
    result = CliRunner().invoke(app, ["build-panel", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.count("error:") == 1 and "raw.csv" in result.output
    assert "Traceback" not in result.output


# 12. The whole output set is published at once.
def _write_set(tag: str, names=("a.csv", "b.csv", "c.parquet")):
    def write(folder: Path) -> None:
        for name in names:
            (folder / name).write_text(f"{tag} {name}\n")
    return write


def _visible(out: Path) -> list[str]:
    """Names of the files a reader can open at ``out`` (dangling links are absent files)."""
    return sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.exists())


def _state(out: Path) -> set[str]:
    """The tags of the files readers see at ``out`` (one tag = one consistent set)."""
    return {(out / name).read_text().split()[0] for name in _visible(out)}


def _only_current_left(out: Path) -> None:
    versions = publish_module.versions_dir(out)
    assert sorted(p.name for p in versions.iterdir()) == sorted(
        ["current", publish_module.current_version(out).name])
    assert all(p.exists() for p in out.iterdir())  # no dangling links


@pytest.mark.parametrize("step", publish_module.STEPS)
def test_failure_after_each_step_leaves_one_whole_set(tmp_path, monkeypatch, step):
    out = tmp_path / "processed"
    publish_module.publish(out, _write_set("old"))
    assert _state(out) == {"old"}

    def hook(name: str) -> None:
        if name == step:
            raise RuntimeError(f"killed after {name}")

    monkeypatch.setattr(publish_module, "STEP_HOOK", hook)
    with pytest.raises(RuntimeError):
        publish_module.publish(out, _write_set("new"))
    swapped = publish_module.STEPS.index(step) >= publish_module.STEPS.index("swapped")
    assert _state(out) == ({"new"} if swapped else {"old"})
    assert _visible(out) == ["a.csv", "b.csv", "c.parquet"]
    monkeypatch.setattr(publish_module, "STEP_HOOK", None)
    publish_module.publish(out, _write_set("third"))
    assert _state(out) == {"third"}
    _only_current_left(out)


_KILL_CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from alliance_study.data import publish
    out, step, tag = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    def hook(name):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)
    publish.STEP_HOOK = hook
    def write(folder):
        for name in ("a.csv", "b.csv", "c.parquet"):
            (folder / name).write_text(f"{tag} {name}\\n")
    publish.publish(out, write)
""")


@pytest.mark.parametrize("step", publish_module.STEPS)
def test_kill_at_each_step(tmp_path, step):
    """A real SIGKILL after each step (in a child process), then the next publish cleans up."""
    out = tmp_path / "processed"
    publish_module.publish(out, _write_set("old"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run([sys.executable, "-c", _KILL_CHILD, str(out), step, "new"], env=env,
                           capture_output=True, text=True)
    assert child.returncode == -9, child.stderr
    swapped = publish_module.STEPS.index(step) >= publish_module.STEPS.index("swapped")
    assert _state(out) == ({"new"} if swapped else {"old"})
    publish_module.publish(out, _write_set("third"))
    assert _state(out) == {"third"}
    _only_current_left(out)


def test_staging_left_by_a_killed_build_is_removed(tmp_path):
    out = tmp_path / "processed"
    versions = publish_module.versions_dir(out)
    (versions / ".staging-abc").mkdir(parents=True)
    (versions / ".staging-abc" / "district_year.csv").write_text("half")
    publish_module.publish(out, _write_set("new"))
    assert not (versions / ".staging-abc").exists()
    assert _state(out) == {"new"}


def test_outputs_from_before_versioning_are_replaced_whole(tmp_path):
    """A folder of ordinary output files (a checkout built before this change) is replaced whole."""
    out = tmp_path / "processed"
    out.mkdir()
    (out / ".gitkeep").write_text("")
    for name in ("a.csv", "old_only.csv"):
        (out / name).write_text(f"old {name}\n")
    publish_module.publish(out, _write_set("new"))
    assert _state(out) == {"new"} and _visible(out) == ["a.csv", "b.csv", "c.parquet"]
    assert (out / ".gitkeep").exists() and not (out / ".gitkeep").is_symlink()


def test_a_file_dropped_from_the_set_disappears(tmp_path):
    out = tmp_path / "processed"
    publish_module.publish(out, _write_set("old", names=("a.csv", "gone.csv")))
    publish_module.publish(out, _write_set("new", names=("a.csv", "b.csv")))
    assert _visible(out) == ["a.csv", "b.csv"] and _state(out) == {"new"}
    _only_current_left(out)


def test_same_outputs_same_version(tmp_path):
    """Versions are named by content: the same outputs publish to the same folder name."""
    a, b = tmp_path / "a", tmp_path / "b"
    publish_module.publish(a, _write_set("x"))
    publish_module.publish(b, _write_set("x"))
    assert publish_module.current_version(a).name == publish_module.current_version(b).name
    publish_module.publish(a, _write_set("y"))
    assert publish_module.current_version(a).name != publish_module.current_version(b).name


def test_checkout_layout(tmp_path):
    """data/processed/<file> paths keep working: relative links through data/processed.v/current."""
    out = tmp_path / "data" / "processed"
    publish_module.publish(out, _write_set("new"))
    assert out.is_dir() and not out.is_symlink()
    assert os.readlink(out / "a.csv") == os.path.join("..", "processed.v", "current", "a.csv")
    assert (out / "a.csv").read_text() == "new a.csv\n"

"""Publish a set of output files at once: a versioned folder and an atomic symbolic-link swap.

``publish(out_dir, write)`` lets ``write`` fill a fresh staging folder and renames it to a versioned folder
named by the hash of its contents, ``<out_dir>.v/<hash>``. One symbolic link, ``<out_dir>.v/current``,
names the published version, and every file of ``out_dir`` is a relative link through it
(``out_dir/<file> -> ../<out_dir>.v/current/<file>``). Publishing replaces ``current`` with one
``rename``, atomic on POSIX: anyone who opens ``out_dir/<file>`` sees the whole old set or the whole new
set, never a mixture. ``out_dir`` itself stays an ordinary folder (git keeps its ``.gitkeep``). Steps:

1. ``clean``: remove what a killed earlier run left in ``<out_dir>.v`` (staging folders, temporary links,
   moved-away files, versions ``current`` does not name);
2. ``staged``: create the staging folder ``<out_dir>.v/.staging-*`` and ``write`` into it;
3. ``versioned``: rename it to ``<out_dir>.v/<hash>`` (an identical version already there is reused);
4. ``linked``: create the new ``current`` link under a temporary name;
5. ``moved``: move ordinary files out of ``out_dir`` into ``<out_dir>.v`` (outputs of a build before
   versioned publishing: absent from then on, never mixed);
6. ``entries``: give every file of the new set its link in ``out_dir`` (a name new in this set dangles,
   i.e. is absent, until the swap);
7. ``swapped``: rename the temporary link onto ``current`` (the atomic step);
8. ``pruned``: remove links of names the new set lacks, and the versions ``current`` no longer names.

A failure or kill before step 7 leaves the old set in place (in the one-time migration of step 5, the old
files absent); the next run cleans up. ``STEP_HOOK`` is called after each step with its name, so tests can
inject a failure (or a kill) between any two steps. Versions are named by content, so the same outputs give
the same folder (builds stay byte-deterministic).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from alliance_study.errors import OutputError

#: Called with the name of each step just completed (tests set it to inject failures); None in use.
STEP_HOOK: Callable[[str], None] | None = None

STEPS = ("clean", "staged", "versioned", "linked", "moved", "entries", "swapped", "pruned")

_STAGING = ".staging-"
_LINK = ".link-"
_MOVED = ".moved-"
_CURRENT = "current"


def versions_dir(out_dir: Path) -> Path:
    """The folder holding the versions of ``out_dir``: ``<out_dir>.v`` beside it."""
    return out_dir.parent / f"{out_dir.name}.v"


def _step(name: str) -> None:
    if STEP_HOOK is not None:
        STEP_HOOK(name)


def _digest(folder: Path) -> str:
    """sha256 over the sorted file names and contents of ``folder`` (flat)."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Flush every file of ``folder`` and the folder itself to disk (a crash keeps a whole version)."""
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_version(out_dir: Path) -> Path | None:
    """The version folder ``current`` names, or None before the first publish."""
    current = versions_dir(out_dir) / _CURRENT
    if not current.is_symlink():
        return None
    target = (current.parent / os.readlink(current)).resolve()
    return target if target.is_dir() else None


def clean(out_dir: Path) -> list[Path]:
    """Remove leftovers of killed runs from ``<out_dir>.v``: everything but ``current`` and its version.

    Returns the paths removed.
    """
    versions = versions_dir(out_dir)
    if not versions.is_dir():
        return []
    keep = current_version(out_dir)
    removed = []
    for p in sorted(versions.iterdir()):
        if p.name == _CURRENT or (keep is not None and p.resolve() == keep):
            continue
        if p.is_symlink() or p.is_file():
            p.unlink()
        else:
            shutil.rmtree(p)
        removed.append(p)
    return removed


def _entry_target(out_dir: Path, name: str) -> str:
    """The relative target of ``out_dir/name``: through ``<out_dir>.v/current``."""
    return os.path.join("..", versions_dir(out_dir).name, _CURRENT, name)


def _set_link(path: Path, target: str) -> None:
    """Make ``path`` a symbolic link to ``target`` (replacing an old link atomically)."""
    if path.is_symlink() and os.readlink(path) == target:
        return
    tmp = path.with_name(f"{_LINK}{path.name}-{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)


def publish(out_dir: Path, write: Callable[[Path], None]) -> list[str]:
    """Write a new output set with ``write(folder)`` and publish it at ``out_dir`` in one atomic step.

    Parameters
    ----------
    out_dir
        Where readers find the outputs (``out_dir/<file>``, each a symbolic link).
    write
        Fills the (empty) folder it is given. If it raises, nothing is published.

    Returns
    -------
    list of str
        The names of the files published, sorted.

    Raises
    ------
    OutputError
        On a permission or disk error (``PermissionError``, ``ENOSPC`` and any other ``OSError``), naming
        the path; the previous outputs are left in place.
    """
    out_dir = Path(out_dir)
    versions = versions_dir(out_dir)
    staging: Path | None = None
    swapped = False
    try:
        versions.mkdir(parents=True, exist_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        clean(out_dir)
        _step("clean")
        staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=versions))
        staging.chmod(0o755)  # mkdtemp makes it private; the published folder is an ordinary one
        write(staging)
        _fsync_folder(staging)
        names = sorted(p.name for p in staging.iterdir())
        _step("staged")
        final = versions / _digest(staging)[:16]
        if final.is_dir():
            shutil.rmtree(staging)  # the same outputs are already there (published, or left by a kill)
        else:
            os.rename(staging, final)
        staging = None
        _step("versioned")
        link = versions / f"{_LINK}{_CURRENT}-{os.getpid()}"
        if link.is_symlink():
            link.unlink()
        os.symlink(final.name, link)
        _step("linked")
        moved = versions / f"{_MOVED}{os.getpid()}"
        for p in sorted(out_dir.iterdir()):
            if not p.name.startswith(".") and not p.is_symlink():
                moved.mkdir(exist_ok=True)
                os.rename(p, moved / p.name)
        _step("moved")
        for name in names:
            _set_link(out_dir / name, _entry_target(out_dir, name))
        _step("entries")
        os.replace(link, versions / _CURRENT)
        swapped = True
        _step("swapped")
        for p in sorted(out_dir.iterdir()):
            if p.is_symlink() and p.name not in names:
                p.unlink()
        clean(out_dir)
        _step("pruned")
        return names
    except OSError as exc:
        where = exc.filename or out_dir
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        state = ("the new outputs are published; old versions may remain until the next build" if swapped
                 else f"the previous outputs in {out_dir} are unchanged")
        raise OutputError(f"cannot write the build outputs: {where}: {reason}; {state}") from exc
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

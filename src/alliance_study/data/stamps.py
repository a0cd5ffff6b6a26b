"""Stamps that let ``fetch`` and ``build-panel`` skip work when nothing they depend on has changed.

A stamp is a small JSON file written after a step succeeds, recording what the step's result depends on:

- ``data/raw/.fetch-stamp.json`` (after ``fetch``): the registry's sha256 and the size and modification
  time of every fetched file. When the registry and every file still match, ``fetch`` has nothing to do
  (every file was verified against its sha256 when the stamp was written, and a file rewritten since
  would show another size or time). Readers still verify each file's sha256 when they open it
  (:meth:`alliance_study.data.registry.Registry.verified_path`), so skipping costs no safety.
- ``data/processed/.build-stamp.json`` (after ``build-panel``): the registry's sha256, the size and time of
  every raw file, a content hash of the data layer's source (``alliance_study/data/**``, the package
  version and errors, which decide what the panel holds) and the size and time of every output written.
  When all match, rebuilding would write the same files.

Size and time stand in for content only where a full hash was checked when the stamp was written; a stamp
that cannot be read, or was written by another format, simply does not match.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alliance_study.data.registry import Registry, sha256_file

#: Bumped when the stamp contents change, so an older stamp never matches.
STAMP_FORMAT = 1

FETCH_STAMP = ".fetch-stamp.json"
BUILD_STAMP = ".build-stamp.json"

#: The package: its data layer (readers, panel, schema, crosswalk data) and the two modules the panel build
#: uses from outside it (the version written into the outputs, the error classes).
PACKAGE_DIR = Path(__file__).resolve().parents[1]
DATA_LAYER = ("data", "__init__.py", "errors.py")


def file_state(paths: Mapping[str, Path]) -> dict[str, list[int] | None]:
    """Name -> ``[size, mtime_ns]`` of each file (None if it is missing)."""
    state: dict[str, list[int] | None] = {}
    for name, path in paths.items():
        try:
            stat = os.stat(path)
        except OSError:
            state[name] = None
            continue
        state[name] = [stat.st_size, stat.st_mtime_ns]
    return state


def source_digest(package_dir: Path = PACKAGE_DIR, parts: Iterable[str] = DATA_LAYER) -> str:
    """sha256 over the content of every file under the given parts of the package (no ``__pycache__``)."""
    digest = hashlib.sha256()
    for part in parts:
        root = package_dir / part
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
            digest.update(sha256_file(path).encode() + b"\0")
    return digest.hexdigest()


def read_stamp(path: Path) -> dict[str, Any] | None:
    """The stamp at ``path``, or None (missing, unreadable, other format)."""
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and stamp.get("format") == STAMP_FORMAT else None


def write_stamp(path: Path, body: Mapping[str, Any]) -> None:
    """Write a stamp atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps({"format": STAMP_FORMAT, **body}, indent=1, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def _raw_paths(registry: Registry) -> dict[str, Path]:
    return {entry.path: registry.local_path(entry) for entry in registry.entries}


def fetch_state(registry: Registry, registry_path: Path) -> dict[str, Any]:
    """What a fetch's result depends on: the registry's hash and every registered file's size and time."""
    return {"registry": sha256_file(registry_path), "files": file_state(_raw_paths(registry))}


def fetch_is_current(registry: Registry, registry_path: Path) -> bool:
    """True when the last successful fetch's stamp matches the registry and the files on disk."""
    stamp = read_stamp(registry.raw_dir / FETCH_STAMP)
    if stamp is None:
        return False
    state = fetch_state(registry, registry_path)
    return None not in state["files"].values() and stamp.get("state") == state


def stamp_fetch(registry: Registry, registry_path: Path) -> None:
    """Record a successful fetch (call only after every file was verified)."""
    write_stamp(registry.raw_dir / FETCH_STAMP, {"state": fetch_state(registry, registry_path)})


def build_state(registry: Registry, registry_path: Path, out: Path, outputs: Iterable[str],
                package_dir: Path = PACKAGE_DIR) -> dict[str, Any]:
    """What a panel build depends on (registry, raw files, data-layer source) and what it wrote."""
    return {
        "registry": sha256_file(registry_path),
        "raw": file_state(_raw_paths(registry)),
        "source": source_digest(package_dir),
        "outputs": file_state({name: out / name for name in sorted(outputs)}),
    }


def build_is_current(registry: Registry, registry_path: Path, out: Path,
                     package_dir: Path = PACKAGE_DIR) -> bool:
    """True when the last successful build's stamp matches its inputs and its outputs are untouched."""
    stamp = read_stamp(out / BUILD_STAMP)
    if stamp is None or not isinstance(stamp.get("state"), dict):
        return False
    outputs = list(stamp["state"].get("outputs") or {})
    if not outputs:
        return False
    state = build_state(registry, registry_path, out, outputs, package_dir)
    return None not in state["outputs"].values() and stamp["state"] == state


def stamp_build(registry: Registry, registry_path: Path, out: Path, outputs: Iterable[str],
                package_dir: Path = PACKAGE_DIR) -> None:
    """Record a successful build that wrote ``outputs`` (names relative to ``out``)."""
    write_stamp(out / BUILD_STAMP, {"state": build_state(registry, registry_path, out, outputs, package_dir)})

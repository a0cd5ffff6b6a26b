"""The raw-file registry, the fetch step and sha256 checks.

Every raw file the project reads is listed in ``data/raw/registry.csv`` with its sha256, upstream URL
and license. ``fetch`` copies each file from a mirror directory (``ALLIANCE_DATA_MIRROR``, default
``../shared/data``) or downloads its upstream URL, and refuses any file whose hash differs. Readers
never open a raw file directly: they ask :meth:`Registry.verified_path`, which re-checks the hash, so
nothing downstream reads an unverified file.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alliance_study.data import paths, reads
from alliance_study.errors import FetchError

#: Columns of ``registry.csv`` in the order they are written.
REGISTRY_COLUMNS = (
    "path",
    "family",
    "sha256",
    "bytes",
    "upstream_url",
    "license",
    "exact_copy",
    "measure",
    "years",
)

#: Seconds to wait for an upstream download before giving up.
DOWNLOAD_TIMEOUT_S = 60

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class RegistryEntry:
    """One raw file: where it lives, what it should hash to, where it came from."""

    path: str
    family: str
    sha256: str
    bytes: int
    upstream_url: str
    license: str
    exact_copy: str
    measure: str
    years: str


@dataclass
class Registry:
    """The list of raw files plus the directory they are fetched into.

    Parameters
    ----------
    entries
        Registry rows.
    raw_dir
        Directory holding the fetched files, laid out by ``entry.path``.
    """

    entries: list[RegistryEntry]
    raw_dir: Path = paths.RAW_DIR
    _verified: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, registry_path: Path | None = None, raw_dir: Path | None = None) -> Registry:
        """Read ``registry.csv``; raise on a missing column, a duplicate path or a malformed hash."""
        registry_path = Path(registry_path or paths.REGISTRY_PATH)
        raw_dir = Path(raw_dir) if raw_dir is not None else registry_path.parent
        reads.record(registry_path)
        with open(registry_path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REGISTRY_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise FetchError(f"{registry_path}: registry is missing columns {missing}")
            entries: list[RegistryEntry] = []
            seen: set[str] = set()
            for line, row in enumerate(reader, start=2):
                if row["path"] in seen:
                    raise FetchError(f"{registry_path}, row {line}: duplicate path {row['path']!r}")
                seen.add(row["path"])
                sha = row["sha256"].strip().lower()
                if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
                    raise FetchError(f"{registry_path}, row {line}, column 'sha256': not a sha256: {sha!r}")
                entries.append(
                    RegistryEntry(
                        path=row["path"],
                        family=row["family"],
                        sha256=sha,
                        bytes=int(row["bytes"]),
                        upstream_url=row["upstream_url"],
                        license=row["license"],
                        exact_copy=row["exact_copy"],
                        measure=row["measure"],
                        years=row["years"],
                    )
                )
        return cls(entries=entries, raw_dir=raw_dir)

    def families(self) -> list[str]:
        """Sorted list of source families named in the registry."""
        return sorted({e.family for e in self.entries})

    def files(self, family: str) -> list[RegistryEntry]:
        """Entries of one source family, sorted by path so every build reads them in one order."""
        return sorted((e for e in self.entries if e.family == family), key=lambda e: e.path)

    def entry(self, path: str) -> RegistryEntry:
        """The entry for one registry path."""
        for e in self.entries:
            if e.path == path:
                return e
        raise FetchError(f"{path!r} is not in the registry")

    def local_path(self, entry: RegistryEntry) -> Path:
        """Where a fetched file lives (it may not exist yet)."""
        return self.raw_dir / entry.path

    def verified_path(self, entry: RegistryEntry) -> Path:
        """Return the local path of a fetched file after checking its sha256.

        Raises
        ------
        FetchError
            If the file is missing (run ``alliance-study fetch``) or its hash differs from the registry.
        """
        local = self.local_path(entry)
        if not local.exists():
            raise FetchError(f"{entry.path}: not fetched (expected at {local}); run `alliance-study fetch`")
        stat = local.stat()
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        if self._verified.get(entry.path) != stamp:
            actual = sha256_file(local)
            if actual != entry.sha256:
                raise FetchError(
                    f"{entry.path}: sha256 mismatch: registry {entry.sha256}, file {actual}"
                )
            self._verified[entry.path] = stamp
        reads.record(local)
        return local

    def verify_all(self) -> None:
        """Check every registered file; raise on the first missing or mismatching one."""
        for entry in self.entries:
            self.verified_path(entry)

    def write(self, registry_path: Path) -> None:
        """Write the registry as CSV, sorted by path (deterministic)."""
        write_registry(self.entries, registry_path)


def write_registry(entries: Iterable[RegistryEntry], registry_path: Path) -> None:
    """Write registry rows sorted by path, atomically."""
    rows = sorted(entries, key=lambda e: e.path)
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = registry_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REGISTRY_COLUMNS)
        for e in rows:
            writer.writerow([getattr(e, c) for c in REGISTRY_COLUMNS])
    os.replace(tmp, registry_path)


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch`` did with one file: ``present``, ``copied`` or ``downloaded``."""

    path: str
    action: str


def _download(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def fetch_one(
    entry: RegistryEntry,
    raw_dir: Path,
    mirror: Path | None,
    downloader: Callable[[str, Path], None] = _download,
) -> FetchResult:
    """Fetch one registry file into ``raw_dir``, verifying its sha256.

    A file already present with the right hash is left alone. Otherwise it is copied from the mirror
    (when the mirror has it) or downloaded, written to a temporary name, hashed, and only then moved
    into place.

    Raises
    ------
    FetchError
        Naming the file and both hashes when the copy or download does not match the registry, or
        naming the file and the places tried when neither source could provide it.
    """
    dest = raw_dir / entry.path
    if dest.exists() and sha256_file(dest) == entry.sha256:
        return FetchResult(entry.path, "present")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        source = mirror / entry.path if mirror is not None else None
        if source is not None and source.is_file():
            shutil.copyfile(source, tmp)
            action, origin = "copied", str(source)
        else:
            try:
                downloader(entry.upstream_url, tmp)
            except Exception as exc:
                tried = f"mirror {source}" if source is not None else "no mirror"
                raise FetchError(
                    f"{entry.path}: missing; not in the mirror ({tried}) and download of "
                    f"{entry.upstream_url} failed: {exc}"
                ) from exc
            action, origin = "downloaded", entry.upstream_url
        actual = sha256_file(tmp)
        if actual != entry.sha256:
            raise FetchError(
                f"{entry.path}: sha256 mismatch from {origin}: registry {entry.sha256}, got {actual}"
            )
        os.replace(tmp, dest)
        return FetchResult(entry.path, action)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    registry: Registry,
    mirror: Path | None = None,
    downloader: Callable[[str, Path], None] = _download,
    progress: Callable[[RegistryEntry], None] | None = None,
) -> list[FetchResult]:
    """Fetch every registry file; stop at the first failure with a :class:`FetchError`."""
    results = []
    for entry in registry.entries:
        results.append(fetch_one(entry, registry.raw_dir, mirror, downloader))
        if progress is not None:
            progress(entry)
    return results

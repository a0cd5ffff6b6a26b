"""Raw-file registry and fetch: hashes verified, mismatches and missing files refused clearly."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from alliance_study.data import paths
from alliance_study.data.registry import Registry, RegistryEntry, fetch, write_registry
from alliance_study.errors import FetchError


def _entry(path: str, content: bytes, url: str = "https://example.invalid/x.csv") -> RegistryEntry:
    return RegistryEntry(path=path, family="test", sha256=hashlib.sha256(content).hexdigest(),
                         bytes=len(content), upstream_url=url, license="PDDL", exact_copy="yes",
                         measure="m", years="2013")


def _setup(tmp_path: Path, files: dict[str, bytes], registered: dict[str, bytes] | None = None):
    mirror = tmp_path / "mirror"
    for rel, data in files.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)
    raw = tmp_path / "raw"
    entries = [_entry(rel, data) for rel, data in (registered or files).items()]
    write_registry(entries, raw / "registry.csv")
    return Registry.load(raw / "registry.csv"), mirror


def test_fetch_copies_from_mirror_and_verifies(tmp_path):
    reg, mirror = _setup(tmp_path, {"a/b/one.csv": b"x,y\n1,2\n", "c/two.csv": b"z\n3\n"})
    results = fetch(reg, mirror)
    assert sorted(r.action for r in results) == ["copied", "copied"]
    assert (reg.raw_dir / "a/b/one.csv").read_bytes() == b"x,y\n1,2\n"
    # A second fetch finds the files present and verified.
    assert {r.action for r in fetch(reg, mirror)} == {"present"}
    assert reg.verified_path(reg.entry("c/two.csv")).read_bytes() == b"z\n3\n"


def test_fetch_refuses_hash_mismatch_naming_file_and_both_hashes(tmp_path):
    good = b"district,rate\n0640011,55.1\n"
    bad = b"district,rate\n0640011,99.9\n"
    reg, mirror = _setup(tmp_path, {"d/rates.csv": bad}, registered={"d/rates.csv": good})
    with pytest.raises(FetchError) as info:
        fetch(reg, mirror)
    msg = str(info.value)
    assert "d/rates.csv" in msg
    assert hashlib.sha256(good).hexdigest() in msg
    assert hashlib.sha256(bad).hexdigest() in msg
    assert not (reg.raw_dir / "d/rates.csv").exists(), "a mismatching file must not be left in place"
    assert [p.name for p in (reg.raw_dir / "d").iterdir()] == [], "no temporary file left behind"


def test_fetch_downloads_when_mirror_lacks_the_file(tmp_path):
    content = b"a\n1\n"
    reg, mirror = _setup(tmp_path, {}, registered={"e/f.csv": content})
    calls = []

    def fake_download(url: str, dest: Path) -> None:
        calls.append(url)
        dest.write_bytes(content)

    results = fetch(reg, mirror, downloader=fake_download)
    assert [r.action for r in results] == ["downloaded"]
    assert calls == ["https://example.invalid/x.csv"]


def test_fetch_reports_missing_file_when_download_fails(tmp_path):
    reg, mirror = _setup(tmp_path, {}, registered={"e/g.csv": b"q\n"})

    def offline(url: str, dest: Path) -> None:
        raise OSError("network unreachable")

    with pytest.raises(FetchError, match=r"e/g.csv: missing; not in the mirror .*network unreachable"):
        fetch(reg, mirror, downloader=offline)


def test_verified_path_refuses_a_file_changed_after_fetch(tmp_path):
    reg, mirror = _setup(tmp_path, {"h.csv": b"ok\n"})
    fetch(reg, mirror)
    (reg.raw_dir / "h.csv").write_bytes(b"tampered\n")
    with pytest.raises(FetchError, match=r"h\.csv: sha256 mismatch"):
        reg.verified_path(reg.entry("h.csv"))


def test_verified_path_refuses_an_unfetched_file(tmp_path):
    reg, _ = _setup(tmp_path, {"i.csv": b"ok\n"})
    with pytest.raises(FetchError, match=r"not fetched"):
        reg.verified_path(reg.entry("i.csv"))


def test_registry_rejects_malformed_hash_and_duplicates(tmp_path):
    path = tmp_path / "registry.csv"
    write_registry([_entry("a.csv", b"1")], path)
    text = path.read_text()
    path.write_text(text + text.splitlines()[1] + "\n")
    with pytest.raises(FetchError, match=r"duplicate path 'a\.csv'"):
        Registry.load(path)
    rows = list(csv.reader(text.splitlines()))
    rows[1][2] = "nothex"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(FetchError, match="row 2, column 'sha256'"):
        Registry.load(path)


def test_project_registry_matches_the_mirror_manifest():
    """Every registered file is in the mirror's manifest with the same hash and upstream URL."""
    reg = Registry.load()
    manifest_path = paths.mirror_dir() / "MANIFEST.csv"
    if not manifest_path.exists():
        pytest.skip("no mirror manifest beside the checkout")
    with open(manifest_path, newline="", encoding="utf-8") as handle:
        manifest = {r["path"]: r for r in csv.DictReader(handle)}
    for e in reg.entries:
        if e.exact_copy == "curated":
            assert (paths.mirror_dir() / e.path).exists(), e.path
            assert e.upstream_url == ""
            continue
        assert e.path in manifest, e.path
        assert manifest[e.path]["sha256"] == e.sha256, e.path
        assert manifest[e.path]["upstream_url"] == e.upstream_url, e.path
        assert e.license, e.path
    # Every family the panel reads has files.
    assert {"sbac", "graduation", "absenteeism", "suspensions", "cmt_capt", "seda", "ecs", "histpay",
            "expenditures", "enrollment", "staffing", "directory", "designations", "ncep", "revenue",
            "cpi"} <= set(reg.families())

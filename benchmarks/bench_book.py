"""Benchmark: the book from scratch (``make book`` after install), and a warm rebuild with nothing changed.

(a) Cold: from an empty ``data/processed/`` and a ``book/`` without executed notebooks or ``_build``,
    time each stage of ``make book`` after install: ``fetch``, ``build-panel``, ``run``, ``book``.
(b) Warm: ``alliance-study run`` + ``alliance-study book`` again with nothing changed (every run skipped,
    no page rebuilt). Target: <= 15 s.

By default the benchmark works in a temporary copy of the checkout (the files git tracks or would track,
found with ``git ls-files``), so it neither deletes the checkout's outputs nor disturbs other work in it:
the copy's ``src/`` comes first on ``PYTHONPATH`` (for the CLI and for the notebook kernels) and raw files
are fetched from the same mirror as the checkout's. ``--in-place`` benchmarks the checkout itself (and so
clears its data/processed/ and executed notebooks first).

Usage: ``python benchmarks/bench_book.py [--in-place] [--keep]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM_TARGET_S = 15.0
ROOT = Path(__file__).resolve().parents[1]


def copy_checkout(dest: Path) -> None:
    """Copy the files git tracks or would track (not ignored) into ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def clean(root: Path) -> None:
    """Empty data/processed/ (keeping .gitkeep) and remove executed notebooks, run cache and _build."""
    processed = root / "data" / "processed"
    for item in processed.glob("*"):
        if item.name != ".gitkeep":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    subprocess.run([str(Path(sys.executable).with_name("alliance-study")), "clean-book"], cwd=root,
                   env=environment(root), check=True, capture_output=True)


def environment(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    if root != ROOT:
        # The copy's package first (the editable install's finder comes after PYTHONPATH entries), and the
        # checkout's mirror, since the copy has no ../shared/data beside it.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
        from alliance_study.data import paths

        env.setdefault(paths.MIRROR_ENV, str(paths.mirror_dir()))
    return env


def stage(root: Path, *args: str) -> float:
    """Run ``alliance-study <args>`` in ``root``; return wall seconds; fail loudly with its output."""
    exe = Path(sys.executable).with_name("alliance-study")
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], cwd=root, env=environment(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"`alliance-study {' '.join(args)}` failed (exit {done.returncode})")
    return seconds


def count_outputs(root: Path) -> tuple[int, int]:
    book = root / "book"
    notebooks = sum(1 for p in book.rglob("*.ipynb") if "_build" not in p.parts)
    pages = sum(1 for _ in (book / "_build" / "html").rglob("*.html"))
    return notebooks, pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-place", action="store_true", help="Benchmark the checkout itself.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary copy (prints its path).")
    args = parser.parse_args()

    tmp = None if args.in_place else Path(tempfile.mkdtemp(prefix="alliance-bench-"))
    root = ROOT if tmp is None else tmp
    try:
        if tmp is not None:
            copy_checkout(tmp)
        clean(root)
        print(f"cold build in {root} ({os.cpu_count()} cores)")
        cold = {}
        for name, command in [("fetch", ["fetch"]), ("build-panel", ["build-panel"]), ("run", ["run"]),
                              ("book", ["book"])]:
            cold[name] = stage(root, *command)
            print(f"  {name:12s} {cold[name]:7.1f} s", flush=True)
        notebooks, pages = count_outputs(root)
        print(f"  {'TOTAL':12s} {sum(cold.values()):7.1f} s  "
              f"({notebooks} notebooks executed, {pages} HTML pages)")

        warm = {"run": stage(root, "run"), "book": stage(root, "book")}
        total = sum(warm.values())
        print("warm rebuild, nothing changed:")
        for name, seconds in warm.items():
            print(f"  {name:12s} {seconds:7.1f} s")
        verdict = "met" if total <= WARM_TARGET_S else "MISSED"
        print(f"  {'TOTAL':12s} {total:7.1f} s  (target <= {WARM_TARGET_S:.0f} s: {verdict})")
    finally:
        if tmp is not None:
            if args.keep:
                print(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the book from scratch, a rebuild with nothing changed, and rebuilds after one change.

Each scenario times the four steps of ``make book`` after install (``fetch``, ``build-panel``, ``run``,
``book``) and lists the notebooks that ``run`` executed (outputs whose file changed):

(a) cold: empty ``data/processed/``, no executed notebooks, no ``_build``, no stamps. Target < 180 s on the
    2-core machine.
(b) warm: the same again with nothing changed (fetch and build-panel skipped by their stamps, every run
    up to date, the HTML build skipped). Target < 5 s.
(c) one chapter changed: a sentence appended to one chapter's source notebook (default: trends); only
    that notebook should re-run.
(d) one data file held back: the latest chronic-absenteeism district file is left out of the copy's
    registry (the checkout's data/ is never touched); the panel is rebuilt, the processed files whose
    content changed are listed, and the notebooks that read a changed file re-run (the others are
    skipped); then it is put back (d'). Measured: holding back the 2019-20 file changes the panel
    (district_year.parquet/.csv) and the build report, and every one of the 47 notebooks reads the panel,
    so all re-run: run keys are per file, not per column. Column-level keys would spare only the
    chapters that never touch chronic absenteeism; the 36 profiles, the improvement and impact chapters
    show it and would re-run anyway.

Each scenario prints every notebook that re-ran and, from the runner's timing records
(``book/.run-cache.json``), the CPU seconds of the notebook kernels: on a machine shared with other work,
CPU seconds, not wall seconds, are what a step costs (CPU / cores bounds the wall time on an idle machine).

By default the benchmark works in a temporary copy of the checkout (the files git tracks or would track),
so it neither deletes the checkout's outputs nor disturbs other work in it: the copy's ``src/`` comes
first on ``PYTHONPATH`` (for the CLI and for the notebook kernels) and raw files are fetched from the same
mirror as the checkout's. ``--in-place`` benchmarks the checkout itself (and so clears its outputs first).

Usage: ``python benchmarks/bench_book.py [--in-place] [--keep] [--jobs N] [--chapter NAME] [--skip-cold]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLD_TARGET_S = 180.0
WARM_TARGET_S = 5.0
ROOT = Path(__file__).resolve().parents[1]
STEPS = ("fetch", "build-panel", "run", "book")


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
    """Empty data/processed/ (keeping .gitkeep); drop the fetch stamp, executed notebooks, run cache, memo
    and _build."""
    processed = root / "data" / "processed"
    for item in processed.glob("*"):
        if item.name != ".gitkeep":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    (processed / ".build-stamp.json").unlink(missing_ok=True)
    (root / "data" / "raw" / ".fetch-stamp.json").unlink(missing_ok=True)
    shutil.rmtree(root / ".cache", ignore_errors=True)  # results shared between runs (data.memo)
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


#: CPU seconds (user + system) of every finished step's processes, kernels included: on a shared machine
#: wall times mostly measure the other work; CPU seconds / cores bounds the wall time on an idle one.
CPU: dict[str, float] = {}


def stage(root: Path, *args: str) -> float:
    """Run ``alliance-study <args>`` in ``root``; return wall seconds; fail loudly with its output."""
    import resource

    exe = Path(sys.executable).with_name("alliance-study")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], cwd=root, env=environment(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[args[0]] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"`alliance-study {' '.join(args)}` failed (exit {done.returncode})")
    return seconds


def kernel_cpu(root: Path, rels: list[str]) -> dict[str, float]:
    """CPU seconds of the kernel that executed each of ``rels`` (the runner's record; missing: absent)."""
    try:
        runs = json.loads((root / "book" / ".run-cache.json").read_text())["runs"]
    except (OSError, ValueError, KeyError):
        return {}
    return {rel: float(runs[rel]["cpu_seconds"]) for rel in rels if "cpu_seconds" in runs.get(rel, {})}


def processed_state(root: Path) -> dict[str, str]:
    """sha256 of every file in data/processed (through its links)."""
    import hashlib

    processed = root / "data" / "processed"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(processed.iterdir()) if p.is_file() and not p.name.startswith(".")}


def outputs(root: Path) -> dict[str, tuple[int, int]]:
    """Executed notebook -> (size, mtime_ns)."""
    book = root / "book"
    return {p.relative_to(book).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in book.rglob("*.ipynb") if "_build" not in p.parts}


def make_book(root: Path, label: str, jobs: int | None) -> dict[str, float]:
    """Time the four steps; print them, the total and which notebooks re-ran."""
    before = outputs(root)
    data_before = processed_state(root)
    times = {}
    for name in STEPS:
        args = [name] + (["--jobs", str(jobs)] if name == "run" and jobs else [])
        times[name] = stage(root, *args)
    after = outputs(root)
    reran = sorted(k for k in after if before.get(k) != after[k])
    changed = sorted(k for k, v in processed_state(root).items() if data_before.get(k) != v)
    pages = sum(1 for _ in (root / "book" / "_build" / "html").rglob("*.html"))
    print(f"{label}:")
    for name, seconds in times.items():
        print(f"  {name:12s} {seconds:7.1f} s wall {CPU.get(name, 0.0):8.1f} s CPU")
    cpu = sum(CPU.get(name, 0.0) for name in times)
    print(f"  {'TOTAL':12s} {sum(times.values()):7.1f} s wall {cpu:8.1f} s CPU "
          f"(/ {os.cpu_count()} cores = {cpu / (os.cpu_count() or 1):.1f} s; "
          f"{len(after)} executed notebooks, {pages} HTML pages)")
    if data_before and changed:
        print(f"  processed files changed: {', '.join(changed)}")
    cpu_runs = kernel_cpu(root, reran)
    if cpu_runs:
        profiles = [v for k, v in cpu_runs.items() if k.startswith("profiles/")]
        others = {k: v for k, v in cpu_runs.items() if not k.startswith("profiles/")}
        line = f"  kernel CPU of the re-run notebooks: {sum(cpu_runs.values()):.1f} s"
        if profiles:
            mean, top = sum(profiles) / len(profiles), max(profiles)
            line += f"; {len(profiles)} profiles {sum(profiles):.1f} s (mean {mean:.2f}, max {top:.2f})"
        print(line)
        if others:
            print("    " + ", ".join(f"{Path(k).stem} {v:.1f}" for k, v in sorted(others.items(),
                                                                          key=lambda kv: -kv[1])))
    chapters = [Path(r).stem for r in reran if not r.startswith("profiles/")]
    profiles = [Path(r).stem for r in reran if r.startswith("profiles/")]
    print(f"  re-ran {len(reran)} of {len(after)} notebook(s): {len(chapters)} chapter(s)"
          f"{' (' + ', '.join(chapters) + ')' if chapters else ''} and {len(profiles)} profile(s)"
          f"{' (' + ', '.join(profiles) + ')' if profiles else ''}", flush=True)
    return times


def verdict(total: float, target: float) -> str:
    return f"{total:.1f} s (target < {target:.0f} s: {'met' if total < target else 'MISSED'})"


def touch_chapter(root: Path, name: str) -> None:
    """Append a markdown sentence to the source notebook of the chapter ``name``."""
    import nbformat
    import yaml

    config = yaml.safe_load((root / "params" / "main.yml").read_text())
    source = next(root / e["source"] for e in config["notebooks"] if e["name"] == name)
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A sentence added by the benchmark."))
    nbformat.write(nb, source)


def hold_back_absenteeism(root: Path) -> str:
    """Drop the latest chronic-absenteeism district file from the copy's registry; return its path."""
    if root == ROOT:
        raise SystemExit("scenario (d) edits the registry: run it on a copy (without --in-place)")
    registry = root / "data" / "raw" / "registry.csv"
    lines = registry.read_text().splitlines(keepends=True)
    rows = [line for line in lines[1:] if line.split(",")[1] == "absenteeism" and "_ct.csv" not in line]
    latest = max(rows, key=lambda line: line.split(",")[0])
    registry.write_text("".join(line for line in lines if line != latest))
    return latest.split(",")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-place", action="store_true", help="Benchmark the checkout itself.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary copy (prints its path).")
    parser.add_argument("--jobs", type=int, default=None, help="alliance-study run --jobs (default: cores).")
    parser.add_argument("--chapter", default="trends", help="Chapter changed in scenario (c).")
    parser.add_argument("--no-data-change", action="store_true",
                        help="Skip scenario (d): it rebuilds the panel and re-runs its readers.")
    parser.add_argument("--skip-cold", action="store_true",
                        help="No cold build: start from the outputs there (with --in-place: the checkout's).")
    args = parser.parse_args()

    tmp = None if args.in_place else Path(tempfile.mkdtemp(prefix="alliance-bench-"))
    root = ROOT if tmp is None else tmp
    results: dict[str, float] = {}
    try:
        if tmp is not None:
            copy_checkout(tmp)
        if not args.skip_cold:
            clean(root)
        print(f"book benchmark in {root} ({os.cpu_count()} cores, run --jobs {args.jobs or 'default'})")
        cold = make_book(root, "(a) cold" if not args.skip_cold else "(a) first build", args.jobs)
        results["cold"] = sum(cold.values())
        if not args.skip_cold:
            print(f"  cold make book: {verdict(results['cold'], COLD_TARGET_S)}")
        warm = make_book(root, "(b) warm, nothing changed", args.jobs)
        results["warm"] = sum(warm.values())
        print(f"  warm make book: {verdict(results['warm'], WARM_TARGET_S)}")

        touch_chapter(root, args.chapter)
        results["chapter"] = sum(make_book(root, f"(c) chapter {args.chapter!r} changed", args.jobs).values())

        if not args.no_data_change and tmp is not None:
            registry = root / "data" / "raw" / "registry.csv"
            original = registry.read_bytes()
            held = hold_back_absenteeism(root)
            label = f"(d) held back {Path(held).name}"
            results["held_back"] = sum(make_book(root, label, args.jobs).values())
            registry.write_bytes(original)
            results["restored"] = sum(make_book(root, "(d') file added back", args.jobs).values())
        print(json.dumps({k: round(v, 1) for k, v in results.items()}))
    finally:
        if tmp is not None:
            if args.keep:
                print(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

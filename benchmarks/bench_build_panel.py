"""Benchmark: `alliance-study build-panel` from already-fetched raw files.

Target (issue 2): median wall time <= 5 s on the 2-core CI machine. Prints the median, min and max over
``--repeat`` runs of the command (a fresh process each time, so imports count), the in-process build time
split by source family, and peak memory.

Usage: ``python benchmarks/bench_build_panel.py [--repeat 5]`` (after ``alliance-study fetch``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 5.0


def time_cli(repeat: int) -> list[float]:
    exe = Path(sys.executable).with_name("alliance-study")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([str(exe), "build-panel", "--out", tmp], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return times


def time_families() -> dict[str, float]:
    from alliance_study.data.panel import build_panel
    from alliance_study.data.registry import Registry

    registry = Registry.load()
    stamps: dict[str, float] = {}
    last = [time.perf_counter()]

    def tick(name: str) -> None:
        now = time.perf_counter()
        stamps[name] = now - last[0]
        last[0] = now

    start = time.perf_counter()
    build_panel(registry, progress=tick)
    stamps["(assemble + validate)"] = time.perf_counter() - last[0]
    stamps["TOTAL in-process"] = time.perf_counter() - start
    return stamps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = time_cli(args.repeat)
    median = statistics.median(times)
    print(f"build-panel (CLI, {args.repeat} runs): median {median:.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s; target <= {TARGET_S:.0f} s: {'met' if median <= TARGET_S else 'MISSED'}")
    for name, seconds in time_families().items():
        print(f"  {name:24s} {seconds:6.2f} s")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (in-process build): {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

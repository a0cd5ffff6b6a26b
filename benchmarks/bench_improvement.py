"""Benchmark: the improvement bootstrap, ``n_boot=2000`` draws.

Target (issue 4): 2,000 draws (peer-pool resamples and posterior draws, four indicators, composite and
top-eight ranks) in <= 5 s. Prints, for each peer group, the median, min and max wall time over
``--repeat`` runs of :func:`alliance_study.analysis.improvement.bootstrap_improvement` (point estimates
computed once
outside the timing, as the notebook does), the time of the point estimates, and peak memory.

Uses the built panel (``data/processed``); with ``--simulated``, or when no panel has been built, a simulated
panel of the same shape (160 districts, 30 Alliance Districts).

With ``--coverage N`` it also prints the coverage of the 90% rank intervals over ``N`` simulated panels
(continuous true gains, transient shocks; achievement only and all four indicators), with the transient noise
counted (the scheme of issue 12) and with sampling noise only.

Usage: ``python benchmarks/bench_improvement.py [--repeat 5] [--n-boot 2000] [--simulated] [--coverage 20]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

TARGET_S = 5.0


def load(simulated: bool):
    from alliance_study import simulate
    from alliance_study.analysis import improvement
    from alliance_study.data import load, paths

    if simulated or not (paths.PROCESSED_DIR / "district_year.parquet").exists():
        panel, _ = simulate.improvement_panel(improvement=0.25, seed=0)
        source = "simulated panel (160 districts)"
    else:
        panel = load.load_panel()
        source = "data/processed/district_year.parquet"
    return improvement.prepare_panel(panel), source


def coverage(n_panels: int, n_boot: int = 400) -> None:
    """Print the coverage of 90% rank intervals of the true ranks on simulated panels."""
    import numpy as np

    from alliance_study import simulate
    from alliance_study.analysis import improvement

    for label, kw in (("achievement only", {"indicators": ("achievement",), "min_indicators": 1}),
                      ("four indicators", {})):
        for transient in (True, False):
            covs = []
            start = time.perf_counter()
            for seed in range(n_panels):
                panel, truth = simulate.improvement_panel(improvement=0.0, gain_sd=0.3, shock_sd=0.1,
                                                          seed=300 + seed)
                spec = improvement.ImprovementSpec(**kw, transient=transient)
                boot = improvement.bootstrap_improvement(panel, spec, n_boot=n_boot, seed=seed)
                covs.append(improvement.interval_coverage(boot.table,
                                                          truth.set_index("district_code")["true_gain"]))
            what = "sampling + transient noise" if transient else "sampling noise only"
            print(f"coverage of 90% rank intervals, {label}, {what}: {np.mean(covs):.3f} "
                  f"(SE {np.std(covs, ddof=1) / np.sqrt(len(covs)):.3f}, {n_panels} panels, "
                  f"{time.perf_counter() - start:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--simulated", action="store_true")
    parser.add_argument("--coverage", type=int, default=0, help="simulated panels for the coverage check")
    args = parser.parse_args(argv)

    from alliance_study.analysis import improvement

    panel, source = load(args.simulated)
    print(f"input: {source}")
    worst = 0.0
    for peer_group in ("alliance", "similar"):
        spec = improvement.ImprovementSpec(peer_group=peer_group)
        start = time.perf_counter()
        result = improvement.estimate_improvement(panel, spec)
        point_s = time.perf_counter() - start
        times = []
        for rep in range(args.repeat):
            start = time.perf_counter()
            improvement.bootstrap_improvement(panel, spec, n_boot=args.n_boot, seed=rep, result=result)
            times.append(time.perf_counter() - start)
        med = statistics.median(times)
        worst = max(worst, med)
        n_pool = int(result.indicators["n_pool"].max())
        print(f"peer group {peer_group:9s} ({n_pool} districts in the pool, {len(result.composite)} ranked, "
              f"{len(spec.indicators)} indicators): bootstrap n_boot={args.n_boot}: median {med:.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {args.repeat} runs); point estimates "
              f"{point_s:.2f} s")
    if args.coverage:
        coverage(args.coverage)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mib:.0f} MiB")
    verdict = "OK" if worst <= TARGET_S else "SLOWER THAN TARGET"
    print(f"target: n_boot=2000 in <= {TARGET_S:.0f} s -> slowest median {worst:.2f} s: {verdict}")
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

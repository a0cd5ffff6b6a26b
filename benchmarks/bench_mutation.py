"""Benchmark: how many mutants of the impact estimators does the test suite kill? (mutmut, sampled)

Issue 15 found that a mutation of the Webb weights (one of the six points changed, so their variance was no
longer 1) passed the whole impact test suite. This script runs the mutation tool mutmut
(https://github.com/boxed/mutmut, version 3) over the analysis modules of the impact evaluation, on a sample
of its mutants, and prints the share killed per module and overall, and the surviving mutants (to read with
``mutmut show NAME`` in the kept work folder) so that tests can be written against them.

How: the project's ``src/``, ``tests/`` and ``pyproject.toml`` are copied to a temporary folder with a
``[tool.mutmut]`` section naming the modules and test files; the real ``data/`` is linked in (some impact
tests read the built panel). A first ``mutmut run`` with a pattern that matches no mutant generates every
mutant and records which tests reach which function (mutmut then stops, as intended, on the empty
selection); the script samples ``--sample`` mutant names from the generated files with ``--seed`` and
runs mutmut on those only.
A mutant is killed when a test fails (or times out); it survives when every test reaching it passes, and has
"no tests" when no selected test calls the mutated function (counted apart, as mutmut does).

Requires the ``mutation`` extra (``pip install -e ".[mutation]"``) and a built panel (``make panel``).

Usage::

    python benchmarks/bench_mutation.py [--sample 40] [--seed 2013] [--jobs 2]
        [--modules src/alliance_study/analysis/impact/inference.py ...] [--tests tests/test_impact.py ...]
        [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The analysis modules of the impact evaluation whose arithmetic the verdicts rest on (the chapter's prose
#: and tables are in chapters/impact and have tests of their own).
DEFAULT_MODULES = "src/alliance_study/analysis/impact/*.py"

#: Tests of the impact evaluation that run without an executed book (test_impact_notebook.py reads one).
DEFAULT_TESTS = ("tests/test_impact*.py", "tests/test_synthetic.py", "tests/test_chapter_synthetic.py")
EXCLUDED_TESTS = {"tests/test_impact_notebook.py"}

#: Folders of the project the tests read besides src/ and tests/ (linked, not copied).
PROJECT_FOLDERS = ("data", "notebooks", "params", "book")

#: How often (seconds) the watchdog looks for hung mutant workers.
WATCH_INTERVAL_S = 10.0

#: Thread-count variables of the BLAS libraries numpy may use.
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: mutmut's exit-code verdicts (mutmut.models status_by_exit_code): 1 = a test failed, 3 = not even
#: collected (counts as killed), 33 = no tests, 34 = skipped, 35/36 = timeout, 24/152/255 = timeout or killed
#: by a signal, 0/5 = survived (5: every test deselected, treated as survived by mutmut too).
KILLED_CODES = {1, 3, -24, 24, 152, 255, -9, 36}
SURVIVED_CODES = {0, 5}
NO_TESTS_CODES = {33}


def _mutmut() -> str:
    exe = Path(sys.executable).with_name("mutmut")
    if not exe.exists():
        sys.exit("error: mutmut is not installed; install the mutation extra: pip install -e '.[mutation]'")
    return str(exe)


def _expand(patterns: list[str]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        out.extend(sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern)))
    return out


def prepare(work: Path, modules: list[str], tests: list[str], jobs: int) -> None:
    """Copy the project into ``work`` with a ``[tool.mutmut]`` section for ``modules`` and ``tests``."""
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "pyproject.toml").read_text()
    # -p no:cacheprovider: no .pytest_cache in the copy; -x: one failing test is enough to kill a mutant.
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {json.dumps(modules)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
        "use_git_change_detection = false\n"
    )
    (work / "pyproject.toml").write_text(config)
    # The package finds data/ (and the notebooks some tests execute) three folders above data/paths.py,
    # which in mutmut's copy is mutants/. Notebook kernels import the unmutated package, so those tests
    # only check that the pages still run; the in-process tests are the ones that see a mutant.
    (work / "mutants").mkdir()
    for name in PROJECT_FOLDERS:
        (work / "mutants" / name).symlink_to(ROOT / name)
        (work / name).symlink_to(ROOT / name)


def _mutant_processes() -> dict[int, str]:
    """pid -> mutant name of mutmut's worker processes (it titles them ``mutmut: NAME``)."""
    out: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith("mutmut: "):
            out[int(proc.name)] = title.removeprefix("mutmut: ").strip()
    return out


def run_with_watchdog(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float
                      ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run mutmut, stopping any mutant worker alive longer than ``timeout`` seconds.

    Some mutants leave a forked worker waiting forever on a lock with no CPU (seen: two mutants of
    ``postavg.grouped_problem``, sleeping in ``futex_do_wait`` for 10 minutes), which mutmut's own
    CPU-based timeout never fires on. Those are stopped and reported as hung, apart from killed ones.
    """
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_seen: dict[int, float] = {}
    hung: set[str] = set()
    while True:
        try:
            out, err = proc.communicate(timeout=WATCH_INTERVAL_S)
            break
        except subprocess.TimeoutExpired:
            now = time.monotonic()
            for pid, name in _mutant_processes().items():
                if now - first_seen.setdefault(pid, now) > timeout:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        hung.add(name)
                    except ProcessLookupError:
                        pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), hung


def mutant_names(work: Path) -> list[str]:
    """Every mutant mutmut generated (the keys of its ``.meta`` files)."""
    names: list[str] = []
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        names.extend(sorted(json.loads(meta.read_text())["exit_code_by_key"]))
    return names


def results(work: Path) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def classify(code: int | None) -> str:
    if code is None:
        return "not run"
    if code in SURVIVED_CODES:
        return "survived"
    if code in NO_TESTS_CODES:
        return "no tests"
    if code in KILLED_CODES:
        return "killed"
    return f"other ({code})"


def module_of(name: str) -> str:
    # alliance_study.analysis.impact.inference.x_func__mutmut_3 -> alliance_study.analysis.impact.inference
    return name.rsplit(".", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="+", default=[DEFAULT_MODULES],
                        help="source files (globs) to mutate")
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="test files (globs) to run")
    parser.add_argument("--sample", type=int, default=40, help="mutants sampled (0: all)")
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--mutant-timeout", type=float, default=600.0,
                        help="seconds after which a mutant's process is stopped as hung")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one, removed)")
    args = parser.parse_args()

    mutmut = _mutmut()
    if not (ROOT / "data" / "processed" / "district_year.parquet").exists():
        sys.exit("error: no built panel in data/processed; run `make panel` first")
    modules = [m for m in _expand(args.modules) if not m.endswith("__init__.py")]
    tests = [t for t in _expand(args.tests) if t not in EXCLUDED_TESTS]
    work_root = args.keep or Path(tempfile.mkdtemp(prefix="alliance-mutation-"))
    work = work_root / "project"
    if work.exists():
        shutil.rmtree(work)
    work_root.mkdir(parents=True, exist_ok=True)
    work.mkdir()
    prepare(work, modules, tests, args.jobs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # mutmut forks a process that has imported numpy: a forked child waiting on the parent's BLAS threads
    # hangs with no CPU (two mutants did, for 10 minutes), so BLAS runs on one thread.
    env.update(dict.fromkeys(BLAS_THREAD_VARS, "1"))

    start = time.perf_counter()
    # Generation and the per-test reach statistics; mutmut then refuses the empty selection (exit 1).
    gen = subprocess.run(
        [mutmut, "run", "--max-children", str(args.jobs), "__select_nothing__"],
        cwd=work, env=env, capture_output=True, text=True,
    )
    names = mutant_names(work)
    if not names:
        sys.exit(f"error: mutmut generated no mutants:\n{gen.stdout[-2000:]}\n{gen.stderr[-2000:]}")
    t_generate = time.perf_counter() - start
    sample = names if args.sample <= 0 or args.sample >= len(names) else sorted(
        random.Random(args.seed).sample(names, args.sample)
    )
    start = time.perf_counter()
    run, hung = run_with_watchdog([mutmut, "run", "--max-children", str(args.jobs), *sample], work, env,
                                  args.mutant_timeout)
    t_run = time.perf_counter() - start
    codes = results(work)
    verdicts = {name: "hung" if name in hung else classify(codes.get(name)) for name in sample}
    if all(v == "not run" for v in verdicts.values()):
        sys.exit(f"error: mutmut ran no mutant:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")

    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, verdict in verdicts.items():
        by_module[module_of(name)][verdict] += 1
    total = Counter(verdicts.values())

    print(f"mutmut {subprocess.run([mutmut, '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"modules mutated: {len(modules)}; test files: {len(tests)}; mutants generated: {len(names):,}; "
          f"sampled: {len(sample)} (seed {args.seed})")
    print(f"time: generation and test statistics {t_generate:.0f} s; sampled mutants {t_run:.0f} s "
          f"({args.jobs} at once)")
    print(f"\n{'module':<52} {'killed':>7} {'survived':>9} {'no tests':>9} {'kill share':>11}")
    for module in sorted(by_module):
        c = by_module[module]
        tested = c["killed"] + c["survived"]
        share = f"{c['killed'] / tested:.0%}" if tested else "-"
        print(f"{module:<52} {c['killed']:>7} {c['survived']:>9} {c['no tests']:>9} {share:>11}")
    tested = total["killed"] + total["survived"]
    print(f"{'all':<52} {total['killed']:>7} {total['survived']:>9} {total['no tests']:>9} "
          f"{total['killed'] / tested:>11.0%}" if tested else "no mutant reached by a test")
    other = {v: n for v, n in total.items() if v not in {"killed", "survived", "no tests"}}
    if other:
        print(f"other verdicts: {dict(other)} (hung: stopped after --mutant-timeout "
              f"{args.mutant_timeout:.0f} s; not counted in the share)")
        for name in sorted(hung):
            print(f"  hung: {name}")
    survivors = sorted(n for n, v in verdicts.items() if v == "survived")
    if survivors:
        print("\nsurvived (inspect with `mutmut show NAME` in the work folder):")
        for name in survivors:
            print(f"  {name}")
    if args.keep:
        print(f"\nwork folder kept: {work}")
    else:
        shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    main()

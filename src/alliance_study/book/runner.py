"""Execute the book's notebooks with papermill, skipping runs whose inputs have not changed.

A *run configuration* (``params/main.yml``) lists every source notebook, where its executed copy lands in
``book/`` and the parameters it is run with::

    defaults:                  # the shared settings (SHARED_SETTINGS), set once: passed to every notebook
      start_year: 2006         # that declares the name in its parameters cell; nothing else may go here
    notebooks:
      - name: trends                               # unique; ``alliance-study run --only trends``
        source: notebooks/03_compare_trends.ipynb  # relative to the project root
        output: chapters/trends.ipynb              # relative to book/
        parameters: {comparison: other_town_districts}
      - name: profile
        source: notebooks/10_profile_district.ipynb
        output: profiles/{district_code}.ipynb
        foreach: {district_code: alliance_districts}   # one run per value; see EXPANSIONS

How a run is decided, executed and recorded:

- **Output tree.** ``params/main.yml`` without overrides writes the book, ``book/``. Any other
  configuration, or ``-p`` overrides (:func:`~alliance_study.book.config.apply_overrides`), is a *variant*:
  it writes to ``variants/<name>/`` (:func:`target_book_dir`), a complete book source of its own (the
  prose is copied by :func:`prepare_book_tree`), so the main book and any number of variants stay side
  by side and each can be built with ``alliance-study book --params ...``.
- **Run key.** sha256 over the source notebook's bytes, the resolved parameters (canonical JSON), the
  package version and the library modules the notebook imports, directly or through other modules
  (:func:`module_closure`, found statically), with every data file the package ships: a change to a
  module the notebook never reaches does not re-run it. The kernel records
  each data file it reads through the data layer (:mod:`alliance_study.data.reads`); the executed
  notebook's metadata (``metadata.alliance_study``) keeps the run key and those files' sha256. A run is
  skipped only when its output exists, its recorded key equals the current key and every file it read
  is unchanged: a change to a file it did not read does not re-run it. ``book/.run-cache.json`` indexes
  the same records (with each output's size and modification time, so an unchanged output need not be
  parsed); the notebook's own metadata decides whenever the index does not describe the file on disk.
- **Checks before execution.** The configuration's rules, the notebooks' parameters cells, and the
  parameter values against the data (:func:`~alliance_study.book.config.check_values`: a year outside
  the panel's years is refused with a sentence naming parameter and range) are all checked before the
  first kernel starts.
- **Execution.** papermill with the ``python3`` kernel of the running interpreter, into a staging directory
  outside ``book/``; the working directory is the *source* notebook's folder (``notebooks/``), the same as
  when the notebook is opened in Jupyter, so a relative path means the same thing in both places. The
  executed notebook is normalised (timestamps and papermill's random cell id removed, so two executions
  give the same file) and moved into place atomically: ``book/`` never holds a half-written notebook.
  Runs execute in parallel, one per core by default.
- **Shared results.** Kernels get a memo directory (:data:`MEMO_DIR`, :mod:`alliance_study.data.memo`):
  a district-independent table that every profile needs (the improvement ranking's windows) is computed
  by the first profile and read by the others. Its key is the content of its inputs and the library's
  code, so it never decides what re-runs (the run keys do) and is never stale.
- **Timing.** Each executed run's wall seconds and its kernel's CPU seconds go into the cache index
  (``seconds``, ``cpu_seconds``); the CPU seconds measure a run on a machine busy with other work.
- **Replacement.** An out-of-date output stays in place until its new version has executed and replaces
  it. While it is out of date, ``alliance-study book`` refuses to build (it checks every run is current),
  so an older chapter is never published as current; if the new run fails, the previous output is left
  exactly as it was.
- **Failure.** The first failing run stops the pipeline (runs already executing finish and are kept, as
  they are correct); :class:`NotebookRunError` names the notebook, the run, the cell and the exception,
  and the executed copy with the full traceback stays in the staging directory for inspection.

Why one module of over 600 lines: it holds the execution loop, the run keys and the kernel reuse, which
share the run plan and its cache; configuration lives in :mod:`alliance_study.book.config`, parameter
values in :mod:`alliance_study.book.values` and the Jupyter Book build in :mod:`alliance_study.book.build`.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance_study import __version__
from alliance_study.book import cells
from alliance_study.book.config import (  # noqa: F401 - re-exported: the runner's public names
    EXPANSIONS,
    PARAMETER_ALIASES,
    SHARED_SETTINGS,
    NotebookEntry,
    PipelineError,
    Run,
    RunConfig,
    _canonical_json,
    _is_parameters_cell,
    _rel,
    alliance_districts,
    check_vocabulary,
    declared_parameters,
    load_config,
    parse_only,
    plan_runs,
)
from alliance_study.book.values import check_values
from alliance_study.data import memo, paths, reads
from alliance_study.data.registry import sha256_file

#: The book's source directory (``_config.yml``, ``_toc.yml``, prose pages; executed notebooks land here).
BOOK_DIR = paths.PROJECT_ROOT / "book"

#: The default run configuration.
DEFAULT_PARAMS = paths.PROJECT_ROOT / "params" / "main.yml"

#: The library whose source goes into the run keys: for each notebook, the modules its code imports,
#: directly or through other modules of the package (:func:`module_closure`), and every data file the
#: package ships; a change elsewhere in the library does not re-run it.
LIBRARY_DIR = Path(__file__).resolve().parents[1]

#: Modules every run depends on whatever it imports: the kernel reset that precedes it, and the display
#: tags given to the executed notebook.
ALWAYS_IMPORTED = ("alliance_study.book.kernel_state", "alliance_study.book.cells")

#: Results shared between runs (:mod:`alliance_study.data.memo`), relative to the project (gitignored).
MEMO_DIR = Path(".cache") / "memo"

#: Cache index of executed runs, inside book/ (gitignored).
CACHE_FILE = ".run-cache.json"

#: Bumped when the key recipe or the output normalisation changes, so every run re-executes once.
CACHE_FORMAT = 2

#: Kernel every notebook runs in (the running interpreter's ipykernel).
KERNEL_NAME = "python3"

#: Metadata key under which the executed notebook records its run.
METADATA_KEY = "alliance_study"


class NotebookRunError(PipelineError):
    """A notebook failed while executing.

    Attributes
    ----------
    run
        The failing run.
    cell
        1-based number of the failing cell in the *source* notebook (markdown cells count), if known.
    ename, evalue
        The exception's class name and message, if the failure was an exception in a cell.
    staged
        The executed copy (with the traceback), kept outside ``book/`` for inspection, if any.
    """

    def __init__(self, run: Run, message: str, *, cell: int | None = None, ename: str | None = None,
                 evalue: str | None = None, staged: Path | None = None) -> None:
        self.run = run
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        self.staged = staged
        super().__init__(message)



@dataclass(frozen=True)
class RunResult:
    """What happened to a run: ``executed`` or ``skipped`` (up to date)."""

    run: Run
    status: str
    seconds: float = 0.0
    cpu_seconds: float | None = None  # CPU of the kernel while it executed the run (None: not measured)



# --------------------------------------------------------------------------------------------------------
# Cache keys


def tree_digest(root: str | Path, pattern: str = "**/*") -> dict[str, str]:
    """sha256 of every file under ``root`` matching ``pattern``, keyed by POSIX path relative to root."""
    root = Path(root)
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.glob(pattern)) if p.is_file() and "__pycache__" not in p.parts}


@dataclass(frozen=True)
class KeyContext:
    """The parts of the run key shared by every run of one invocation (the package hashed once)."""

    files: dict[str, str]  # every file of the package (relative POSIX path) -> sha256
    library_dir: Path  # the package directory; its name is the import name
    version: str
    _memo: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def compute(cls, library_dir: str | Path = LIBRARY_DIR, version: str = __version__) -> KeyContext:
        """Hash every file of the package (modules and the data files it ships)."""
        library_dir = Path(library_dir)
        return cls(files=tree_digest(library_dir), library_dir=library_dir, version=version)

    def library_digest(self, source: Path) -> str:
        """sha256 over the package modules the notebook ``source`` reaches and the package's data files."""
        text = sha256_file(source)
        if text not in self._memo:
            modules = module_closure(_code_of(source) + [f"import {m}" for m in ALWAYS_IMPORTED],
                                     self.library_dir)
            used = {rel: digest for rel, digest in self.files.items()
                    if rel in modules or not rel.endswith(".py")}
            self._memo[text] = hashlib.sha256(_canonical_json(used).encode()).hexdigest()
        return self._memo[text]


def _code_of(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c.get("cell_type") == "code"]


def _imports(code: str, current: str | None, is_package: bool) -> set[str]:
    """Absolute module names an import statement in ``code`` may load (``current``: the module's name)."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:  # e.g. a cell magic; its imports cannot be seen, nor can it import the package
        return set()
    names: set[str] = set()
    for node in _statements(tree):  # every import statement, also inside functions (lazy imports count)
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current is None:
                    continue
                parts = current.split(".") if is_package else current.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _statements(tree: Any) -> Iterable[Any]:
    """Every statement of a module, nested ones included (imports are statements; expressions are
    skipped, which makes this far cheaper than ``ast.walk``)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(children)


#: Imports of each module file, by content: (path, sha256) -> names (modules parse once per process).
_MODULE_IMPORTS: dict[tuple[str, str], frozenset[str]] = {}


def module_closure(codes: Iterable[str], library_dir: Path) -> set[str]:
    """Files (relative to ``library_dir``) of every package module ``codes`` import, transitively.

    Static: import statements anywhere in the code, also inside functions (lazy imports), and every
    parent package's ``__init__.py``. A name that is not a module of the package (a function imported
    from one) is ignored. The package's import name is ``library_dir``'s name.
    """
    package = library_dir.name

    def module_file(name: str) -> str | None:
        if name != package and not name.startswith(package + "."):
            return None
        rel = "/".join(name.split(".")[1:])
        for candidate in ((f"{rel}/__init__.py" if rel else "__init__.py"), f"{rel}.py"):
            if (library_dir / candidate).is_file():
                return candidate
        return None

    found: set[str] = set()
    queue = [name for code in codes for name in _imports(code, None, False)]
    while queue:
        parts = queue.pop().split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            module = ".".join(parts[:depth])
            rel = module_file(module)
            if rel is None or rel in found:
                continue
            found.add(rel)
            path = library_dir / rel
            state = (str(path), sha256_file(path))
            if state not in _MODULE_IMPORTS:
                text = path.read_text(encoding="utf-8")
                _MODULE_IMPORTS[state] = frozenset(_imports(text, module, rel.endswith("__init__.py")))
            queue.extend(_MODULE_IMPORTS[state])
    return found


def run_key(run: Run, context: KeyContext) -> str:
    """The run key of ``run``: sha256 of notebook, parameters, version and library.

    The data a run read is checked separately (:func:`is_current`): which files those are is only known
    once the run has executed.
    """
    payload = {
        "format": CACHE_FORMAT,
        "notebook": sha256_file(run.source),
        "parameters": run.parameters,
        "version": context.version,
        "library": context.library_digest(run.source),
    }
    return hashlib.sha256(_canonical_json(payload).encode()).hexdigest()


class FileHashes:
    """sha256 of files, computed once per file state (size and modification time) in one invocation."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> str | None:
        """The file's sha256, or None if it does not exist."""
        try:
            stat = path.stat()
        except OSError:
            return None
        memo_key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._memo.get(memo_key)
        if known is None:
            known = sha256_file(path)
            with self._lock:
                self._memo[memo_key] = known
        return known


@dataclass(frozen=True)
class RunRecord:
    """What an executed notebook records about its run: the run key and the data files it read."""

    key: str
    reads: dict[str, str]  # path (relative to the project when inside it) -> sha256 when the run read it


def recorded_run(output: Path) -> RunRecord | None:
    """The run record in an executed notebook's metadata, or None (missing, unreadable, foreign)."""
    try:
        meta = json.loads(output.read_text(encoding="utf-8"))["metadata"][METADATA_KEY]
        reads = meta["reads"]
        if not isinstance(reads, dict):
            return None
        return RunRecord(key=str(meta["run_key"]), reads={str(k): str(v) for k, v in reads.items()})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _written_by_pipeline(output: Path) -> bool:
    """The notebook carries the pipeline's run metadata (of any cache format)."""
    try:
        return "run_key" in json.loads(output.read_text(encoding="utf-8"))["metadata"][METADATA_KEY]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def recorded_key(output: Path) -> str | None:
    """The run key recorded in an executed notebook's metadata, or None (missing, unreadable, foreign)."""
    record = recorded_run(output)
    return record.key if record is not None else None


def _read_path(shown: str, project_dir: Path) -> Path:
    path = Path(shown)
    return path if path.is_absolute() else project_dir / path


def reads_current(record: RunRecord, project_dir: Path, hashes: FileHashes) -> bool:
    """Every file the run read still has the content it had then."""
    return all(hashes(_read_path(shown, project_dir)) == digest for shown, digest in record.reads.items())


def _record_from_cache(run: Run, cache: Mapping[str, Mapping[str, Any]]) -> RunRecord | None:
    """The cache index's copy of an output's record, if the output is the very file the index describes."""
    entry = cache.get(run.output_rel)
    try:
        stat = run.output.stat()
    except OSError:
        return None
    if not entry or entry.get("output_state") != [stat.st_size, stat.st_mtime_ns]:
        return None
    reads = entry.get("reads")
    if not isinstance(reads, dict) or not isinstance(entry.get("key"), str):
        return None
    return RunRecord(key=entry["key"], reads=dict(reads))


def is_current(run: Run, context: KeyContext, *, project_dir: Path, hashes: FileHashes | None = None,
               cache: Mapping[str, Mapping[str, Any]] | None = None) -> bool:
    """True when ``run``'s output exists and was executed from the current notebook, parameters, library
    and version, and every data file it read is unchanged (files it did not read do not matter)."""
    record = (_record_from_cache(run, cache) if cache is not None else None) or recorded_run(run.output)
    if record is None or record.key != run_key(run, context):
        return False
    return reads_current(record, project_dir, hashes or FileHashes())


def _read_cache(book_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((book_dir / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return {}
    runs = data.get("runs")
    return runs if isinstance(runs, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_cache(book_dir: Path, runs: Mapping[str, Mapping[str, Any]]) -> None:
    body = {"format": CACHE_FORMAT, "runs": {k: runs[k] for k in sorted(runs)}}
    _write_atomic(book_dir / CACHE_FILE, json.dumps(body, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------------------
# Kernel and execution


def ensure_kernel(kernel_name: str = KERNEL_NAME) -> None:
    """Make sure ``kernel_name`` starts *this* interpreter; install it into the environment if missing.

    A kernel spec whose command is ``python``/``python3`` is started with the running interpreter by
    jupyter_client; one pointing at another interpreter (e.g. a user-level spec left by another
    environment) would run the notebooks against other packages, so it is refused.
    """
    import subprocess

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", kernel_name],
                       check=True, capture_output=True)
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    command = spec.argv[0] if spec.argv else ""
    generic = {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    if command in generic or Path(command).parent == Path(sys.executable).parent:
        return
    raise PipelineError(f"kernel {kernel_name!r} ({spec.resource_dir}) starts {command}, not this "
                        f"environment's Python ({sys.executable}); run `{sys.executable} -m ipykernel "
                        f"install --sys-prefix --name {kernel_name}` or remove that kernel spec")


def _normalise(nb: Any, run: Run, key: str, project_dir: Path, reads: Mapping[str, str]) -> None:
    """Strip what differs between two executions of the same run; record the run in the metadata."""
    meta = nb.metadata.setdefault("papermill", {})
    for volatile in ("start_time", "end_time", "duration", "exception"):
        meta.pop(volatile, None)
    # papermill records the staging paths; the meaningful ones are the source and the book location.
    meta["input_path"] = _rel(run.source, project_dir)
    meta["output_path"] = run.output_rel
    nb.cells = [cell for cell in nb.cells if PRELUDE_TAG not in (cell.metadata.get("tags") or [])]
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            # A reused kernel keeps counting from the previous notebook: number from 1 as a fresh one does.
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
                if output.get("output_type") == "stream":
                    # Warnings name the cell's temporary file, which holds the kernel's process id.
                    output["text"] = _KERNEL_FILE_RE.sub("<cell>", output["text"])
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in (cell.metadata.get("tags") or []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id
    # Display tags for the book: parameters and set-up folded, glue-only cells removed, code of figures and
    # tables folded (alliance_study.book.cells; the source notebooks carry no display tags).
    cells.tag_for_reading(nb)
    nb.metadata[METADATA_KEY] = {
        "run_key": key,
        "run": run.label,
        "source": _rel(run.source, project_dir),
        "parameters": run.parameters,
        "cache_format": CACHE_FORMAT,
        "reads": dict(sorted(reads.items())),
    }


def _failure(run: Run, exc: Exception, staged: Path, project_dir: Path, prelude: bool = False
             ) -> NotebookRunError:
    """Turn papermill's exception into an error naming notebook, run, cell and exception."""
    from papermill.exceptions import PapermillExecutionError

    source_rel = _rel(run.source, project_dir)
    where = f"notebook {source_rel} (run {run.label} -> book/{run.output_rel})"
    kept = f"\n  executed copy with the full traceback: {staged}" if staged.exists() else ""
    if isinstance(exc, PapermillExecutionError) and prelude and exc.cell_index == 0:
        message = f"{where} failed while resetting the reused kernel: {exc.ename}: {exc.evalue}{kept}"
        return NotebookRunError(run, message, ename=exc.ename, evalue=exc.evalue,
                                staged=staged if staged.exists() else None)
    if isinstance(exc, PapermillExecutionError):
        cell_index = exc.cell_index - (1 if prelude else 0)
        cells = json.loads(run.source.read_text(encoding="utf-8"))["cells"]
        params_index = next(i for i, c in enumerate(cells) if _is_parameters_cell(c))
        # papermill inserts an injected-parameters cell right after the parameters cell when (and only
        # when) it has parameters to inject; cells after it are one further down than in the source.
        injected = params_index + 1 if run.parameters else None
        if cell_index == injected:
            cell_text, cell = "the injected-parameters cell", None
        else:
            shift = 1 if injected is not None and cell_index > injected else 0
            cell = cell_index - shift + 1
            cell_text = f"cell {cell}"
        first_line = next((ln.strip() for ln in (exc.source or "").splitlines() if ln.strip()), "")
        message = (f"{where} failed in {cell_text}: {exc.ename}: {exc.evalue}"
                   + (f"\n  cell starts: {first_line}" if first_line else "") + kept)
        return NotebookRunError(run, message, cell=cell, ename=exc.ename, evalue=exc.evalue,
                                staged=staged if staged.exists() else None)
    message = f"{where} failed: {type(exc).__name__}: {exc}{kept}"
    return NotebookRunError(run, message, ename=type(exc).__name__, evalue=str(exc),
                            staged=staged if staged.exists() else None)


#: Added to every kernel's environment: one BLAS/OpenMP thread per kernel. The runner already runs one kernel
#: per core (:func:`default_jobs`), and the notebooks' linear algebra is many small problems, for which
#: OpenBLAS's extra threads only spin: the impact robustness notebook used 31 s of CPU with the default
#: threads and 8 s with one (measured on the 2-core build machine under load). A variable the caller set
#: explicitly wins.
KERNEL_THREAD_ENV: dict[str, str] = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                     "MKL_NUM_THREADS": "1"}


def _kernel_env(sidecar: Path, memo_dir: Path | None) -> dict[str, str]:
    """What a kernel's environment adds: where it records its reads and, if any, the memo directory."""
    env = {reads.READS_ENV: str(sidecar)}
    if memo_dir is not None:
        env[memo.MEMO_ENV] = str(memo_dir)
    return env


def _kernel_manager_class(env: Mapping[str, str]) -> type:
    """A kernel manager that starts its kernel with ``env`` (and :data:`KERNEL_THREAD_ENV`, unless this
    process sets those variables) added to this process's environment."""
    from jupyter_client.manager import AsyncKernelManager

    extra = {k: v for k, v in KERNEL_THREAD_ENV.items() if k not in os.environ} | dict(env)

    class _KernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**os.environ, **(kw.get("env") or {}), **extra}
            await super().start_kernel(**kw)

    return _KernelManager


#: The temporary file ipykernel compiles a cell under (``/tmp/ipykernel_<pid>/<hash>.py``).
_KERNEL_FILE_RE = re.compile(r"[^\s'\"]*ipykernel_\d+[/\\][0-9]+\.py")

#: Seconds to wait for a cell's remaining outputs after its reply (nbclient's ``iopub_timeout``).
IOPUB_TIMEOUT_S = 300

#: Tag of the first cell the runner adds to reset a reused kernel (removed from the executed copy).
PRELUDE_TAG = "alliance-study-prelude"


class WorkerKernel:
    """A kernel kept alive across the runs one worker thread executes (see :mod:`.kernel_state`).

    It is started on the first run with :data:`~alliance_study.data.reads.READS_ENV` naming this
    worker's sidecar file, which the runner empties before each run. A run that fails discards the
    kernel (the next run starts a fresh one).
    """

    def __init__(self, kernel_name: str, sidecar: Path, memo_dir: Path | None = None) -> None:
        self.kernel_name = kernel_name
        self.sidecar = sidecar
        self.memo_dir = memo_dir
        self.manager: Any = None

    def manager_for_run(self) -> Any:
        """The kernel manager to execute the next run with (a new one if there is none or it died)."""
        from jupyter_core.utils import run_sync

        if self.manager is not None and self.manager.has_kernel and not run_sync(self.manager.is_alive)():
            self.shutdown()
        if self.manager is None:
            cls = _kernel_manager_class(_kernel_env(self.sidecar, self.memo_dir))
            self.manager = cls(kernel_name=self.kernel_name)
        self.sidecar.write_text("")
        return self.manager

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the kernel process has used so far; 0.0 before it is started."""
        manager = self.manager
        pid = getattr(getattr(manager, "provisioner", None), "pid", None) if manager is not None else None
        return process_cpu_seconds(pid) if pid else 0.0

    def shutdown(self) -> None:
        """Stop the kernel now (if it was started) and forget it."""
        from jupyter_core.utils import run_sync

        manager, self.manager = self.manager, None
        if manager is not None and manager.has_kernel:
            try:
                run_sync(manager.shutdown_kernel)(now=True)
            except Exception:  # already dead or half started: nothing left to stop
                pass


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (Linux ``/proc``; 0.0 where unreadable).

    The runner's per-run timing: on a machine shared with other work, wall seconds mostly measure the
    other work, while a kernel's CPU seconds are what the run itself costs.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _with_prelude(source: Path) -> Any:
    import nbformat

    nb = nbformat.read(source, as_version=4)
    code = (f"__import__('alliance_study.book.kernel_state', fromlist=['reset'])"
            f".reset({str(source.parent.resolve())!r})")
    cell = nbformat.v4.new_code_cell(code, metadata={"tags": [PRELUDE_TAG]})
    nb.cells.insert(0, cell)
    return nb


def execute_run(run: Run, key: str, *, project_dir: Path, staging_root: Path | None = None,
                kernel_name: str = KERNEL_NAME, timeout: int | None = None,
                hashes: FileHashes | None = None, kernel: WorkerKernel | None = None,
                memo_dir: Path | None = None) -> dict[str, str]:
    """Execute one run into a staging directory and move the result into ``book/`` on success.

    The kernel records every data file it reads (:mod:`alliance_study.data.reads`); their sha256 go into
    the executed notebook's metadata next to the run key. With ``kernel``, the run executes in that
    worker's kept kernel after a reset cell; without, in a kernel of its own, stopped at the end.

    Returns
    -------
    dict
        The files the run read (path relative to the project when inside it) -> sha256.

    Raises
    ------
    NotebookRunError
        The notebook failed; nothing was written to ``book/``; the staging copy is kept for inspection.
    """
    import nbformat
    import papermill

    staging = Path(tempfile.mkdtemp(prefix="alliance-study-run-", dir=staging_root))
    staged = staging / Path(run.output_rel).name
    if kernel is not None:
        sidecar = kernel.sidecar
        source: Any = _with_prelude(run.source)
        engine: dict[str, Any] = {"km": kernel.manager_for_run()}
    else:
        sidecar = staging / "reads.txt"
        source = str(run.source)
        engine = {"kernel_manager_class": _kernel_manager_class(_kernel_env(sidecar, memo_dir))}
    try:
        papermill.execute_notebook(
            source, str(staged), parameters=run.parameters, kernel_name=kernel_name,
            language="python", cwd=str(run.source.parent), progress_bar=False, log_output=False,
            request_save_on_cell_execute=False, execution_timeout=timeout,
            # nbclient options: no per-cell timestamps; keep the kernel's own log (a TCP-encryption
            # notice from ipykernel on every start) off the terminal -- cell output is unaffected; and
            # stop the kernel at once when the last cell is done: a graceful shutdown waits seconds for
            # ipykernel to exit, which was half the time of a short notebook.
            record_timing=False, extra_arguments=["--IPKernelApp.log_level=ERROR"],
            shutdown_kernel="immediate", **engine,
            # After a cell's reply, wait this long for its last outputs (default 4 s): a cell that glues
            # hundreds of values on a loaded machine can take longer, and papermill fails the cell then.
            iopub_timeout=IOPUB_TIMEOUT_S,
        )
    except Exception as exc:
        if kernel is not None:
            kernel.shutdown()
        error = _failure(run, exc, staged, project_dir, prelude=kernel is not None)
        if error.staged is None:
            shutil.rmtree(staging, ignore_errors=True)
        raise error from exc
    hashes = hashes or FileHashes()
    read = {_rel(path, project_dir): hashes(path) or "missing" for path in reads.recorded(sidecar)}
    nb = nbformat.read(staged, as_version=4)
    _normalise(nb, run, key, project_dir, read)
    _write_atomic(run.output, nbformat.writes(nb) + "\n")
    shutil.rmtree(staging, ignore_errors=True)
    return read


def default_jobs() -> int:
    """Notebooks executed at once by default: one per core this process may use."""
    # Kernels are separate processes and mostly CPU-bound; one per core keeps every core busy.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_pipeline(
    config: RunConfig,
    *,
    project_dir: str | Path = paths.PROJECT_ROOT,
    book_dir: str | Path | None = None,
    data_dir: str | Path = paths.PROCESSED_DIR,
    library_dir: str | Path = LIBRARY_DIR,
    only: str | None = None,
    force: bool = False,
    jobs: int | None = None,
    staging_root: str | Path | None = None,
    kernel_name: str = KERNEL_NAME,
    timeout: int | None = None,
    progress: Callable[[Run, str], None] | None = None,
    plan: Iterable[Run] | None = None,
    reuse_kernels: bool = True,
    memo_dir: str | Path | None = None,
) -> list[RunResult]:
    """Execute every run of ``config`` whose output is missing or out of date.

    Parameters
    ----------
    config
        From :func:`load_config`.
    project_dir, book_dir, data_dir, library_dir
        Where sources, outputs, inputs and the hashed library source live (defaults: this checkout).
    only
        Run only the entry of this name (all its ``foreach`` expansions).
    force
        Execute even runs that are up to date.
    jobs
        Notebooks executed at once (default: one per core, :func:`default_jobs`).
    staging_root
        Where staging directories are made (default: the system temporary directory; never ``book/``).
    kernel_name, timeout
        Kernel and per-cell timeout in seconds (None: no limit).
    progress
        Called with ``(run, status)``: ``"start"`` before executing, then ``"executed"`` or ``"skipped"``.
    plan
        Runs already planned with :func:`plan_runs` with the same ``only`` (to avoid planning twice);
        default: plan here.
    reuse_kernels
        Keep one kernel per worker and reset it between notebooks (:class:`WorkerKernel`) instead of
        starting a kernel per notebook; the executed files are the same either way.
    memo_dir
        Where kernels keep results shared between runs (:mod:`alliance_study.data.memo`; default:
        ``<project_dir>/.cache/memo``): e.g. the profiles' improvement windows, computed by the first
        profile and read by the others. Keyed on content, so it never decides what re-runs.

    Returns
    -------
    list of RunResult
        In plan order.

    Raises
    ------
    NotebookRunError
        The first notebook that failed (other in-flight runs finish first; no further runs start).
    """
    project_dir = Path(project_dir)
    book_dir = Path(book_dir) if book_dir is not None else project_dir / "book"
    memo_path = (Path(memo_dir) if memo_dir is not None else project_dir / MEMO_DIR).resolve()
    runs = list(plan) if plan is not None else plan_runs(config, project_dir=project_dir, book_dir=book_dir,
                                                          data_dir=data_dir, only=only)
    check_values(runs, data_dir, where=str(config.path))
    context = KeyContext.compute(library_dir)
    cache = _read_cache(book_dir)
    hashes = FileHashes()
    lock = threading.Lock()
    notify = progress or (lambda run, status: None)

    results: dict[str, RunResult] = {}
    pending: list[tuple[Run, str]] = []
    for run in runs:
        key = run_key(run, context)
        if not force and is_current(run, context, project_dir=project_dir, hashes=hashes, cache=cache):
            if run.output_rel not in cache:
                record = recorded_run(run.output)
                cache[run.output_rel] = _cache_entry(run, key, project_dir, record.reads if record else {})
            results[run.output_rel] = RunResult(run, "skipped")
            notify(run, "skipped")
            continue
        # The old output (if any) stays until the new one replaces it; being out of date, it no longer
        # counts as built (`alliance-study book` refuses to publish it), and a failure leaves it as it was.
        pending.append((run, key))
    _write_cache(book_dir, cache)

    if pending:
        for source in sorted({run.source for run, _ in pending}):
            declared_parameters(source)  # papermill parses the parameters cell as the runner does
        ensure_kernel(kernel_name)
    staging = Path(staging_root) if staging_root is not None else None
    # Longest first (by the last execution's time; runs never timed, e.g. on a cold build, go first in
    # configuration order, chapters before the fan-out of profiles), so no long run starts last.
    last = {rel: float(entry.get("seconds", 0.0)) for rel, entry in cache.items()}
    pending.sort(key=lambda item: (item[0].output_rel in last, -last.get(item[0].output_rel, 0.0),
                                   "[" in item[0].label))
    kernels_dir = Path(tempfile.mkdtemp(prefix="alliance-study-kernels-", dir=staging))
    local = threading.local()
    kernels: list[WorkerKernel] = []

    def worker_kernel() -> WorkerKernel | None:
        if not reuse_kernels:
            return None
        if getattr(local, "kernel", None) is None:
            with lock:
                local.kernel = WorkerKernel(kernel_name, kernels_dir / f"reads-{len(kernels)}.txt",
                                            memo_path)
                kernels.append(local.kernel)
        return local.kernel

    def work(run: Run, key: str) -> RunResult:
        notify(run, "start")
        start = time.perf_counter()
        kernel = worker_kernel()
        cpu_before = kernel.cpu_seconds() if kernel is not None else 0.0
        read = execute_run(run, key, project_dir=project_dir, staging_root=staging,
                           kernel_name=kernel_name, timeout=timeout, hashes=hashes, kernel=kernel,
                           memo_dir=memo_path)
        # A kernel restarted for this run (the previous one died) counts from zero.
        cpu = kernel.cpu_seconds() if kernel is not None else None
        cpu = None if cpu is None else (cpu - cpu_before if cpu >= cpu_before else cpu)
        result = RunResult(run, "executed", time.perf_counter() - start, cpu)
        with lock:
            cache[run.output_rel] = _cache_entry(run, key, project_dir, read, result.seconds,
                                                 result.cpu_seconds)
            _write_cache(book_dir, cache)
        notify(run, "executed")
        return result

    first_error: BaseException | None = None
    with cf.ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
        futures = {pool.submit(work, run, key): run for run, key in pending}
        try:
            for future in cf.as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:
                    if first_error is None:
                        first_error = exc
                        for other in futures:
                            other.cancel()  # runs not started yet never start
                    continue
                results[result.run.output_rel] = result
        except BaseException:  # e.g. Ctrl-C: start nothing more, let in-flight kernels finish
            for other in futures:
                other.cancel()
            raise
        finally:
            pool.shutdown(wait=True)
            for kernel in kernels:
                kernel.shutdown()
            shutil.rmtree(kernels_dir, ignore_errors=True)
    if first_error is not None:
        raise first_error
    if only is None:
        # Only after every run succeeded: outputs of runs the configuration no longer plans.
        _prune(book_dir, cache, {r.output_rel for r in runs})
        _write_cache(book_dir, cache)
    return [results[r.output_rel] for r in runs if r.output_rel in results]


def _cache_entry(run: Run, key: str, project_dir: Path, read: Mapping[str, str],
                 seconds: float | None = None, cpu_seconds: float | None = None) -> dict[str, Any]:
    stat = run.output.stat()
    entry = {"key": key, "run": run.label, "source": _rel(run.source, project_dir),
             "parameters": run.parameters, "reads": dict(sorted(read.items())),
             "output_state": [stat.st_size, stat.st_mtime_ns]}
    if seconds is not None:
        entry["seconds"] = round(seconds, 2)
    if cpu_seconds is not None:
        entry["cpu_seconds"] = round(cpu_seconds, 2)
    return entry


def _prune(book_dir: Path, cache: dict[str, dict[str, Any]], planned: set[str]) -> None:
    """Delete outputs this pipeline wrote earlier that the configuration no longer plans.

    Only files listed in the cache index are touched (the pipeline never deletes a file it did not
    write); e.g. a district dropped from the Alliance list loses its profile page.
    """
    for output_rel in sorted(set(cache) - planned):
        target = (book_dir / output_rel).resolve()
        if target.is_relative_to(book_dir.resolve()):
            target.unlink(missing_ok=True)
        del cache[output_rel]


def stale_runs(runs: Iterable[Run], *, library_dir: str | Path = LIBRARY_DIR,
               project_dir: str | Path = paths.PROJECT_ROOT, book_dir: str | Path | None = None) -> list[Run]:
    """Runs whose output is missing or was executed from other inputs than the current ones.

    ``book_dir`` (optional) lets the cache index stand in for reading each output notebook.
    """
    context = KeyContext.compute(library_dir)
    cache = _read_cache(Path(book_dir)) if book_dir is not None else None
    hashes = FileHashes()
    return [run for run in runs
            if not is_current(run, context, project_dir=Path(project_dir), hashes=hashes, cache=cache)]


def clean_book(book_dir: str | Path = BOOK_DIR) -> list[Path]:
    """Remove executed notebooks the pipeline wrote (by their run metadata), the cache and ``_build``.

    For the main book, the results memo (:data:`MEMO_DIR`) goes too, so the next run is a cold one.
    Prose pages and any notebook without the pipeline's metadata stay. Returns the removed paths.
    """
    book_dir = Path(book_dir)
    removed: list[Path] = []
    extras = [book_dir / CACHE_FILE, book_dir / "_build"]
    if book_dir.resolve() == BOOK_DIR.resolve():
        extras.append(paths.PROJECT_ROOT / MEMO_DIR)
    for notebook in sorted(book_dir.rglob("*.ipynb")):
        if "_build" in notebook.relative_to(book_dir).parts:
            continue
        if _written_by_pipeline(notebook):
            notebook.unlink()
            removed.append(notebook)
    for extra in extras:
        if extra.is_dir():
            shutil.rmtree(extra)
            removed.append(extra)
        elif extra.exists():
            extra.unlink()
            removed.append(extra)
    return removed

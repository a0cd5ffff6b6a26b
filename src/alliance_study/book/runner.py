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

- **Cache key.** sha256 over the source notebook's bytes, the resolved parameters (canonical JSON), the
  sha256 of every file in the data directory (``data/processed``), the package version and a hash of the
  library source (``src/alliance_study/**/*.py``). A run is skipped only when its output exists and the key
  recorded in the output's metadata (``metadata.alliance_study.run_key``) equals the current key. The same
  keys are kept in ``book/.run-cache.json`` as an index of what the pipeline wrote (used for pruning and
  ``clean-book``); the notebook's own metadata is what decides, so a lost cache file costs nothing.
- **Execution.** papermill with the ``python3`` kernel of the running interpreter, into a staging directory
  outside ``book/``; the working directory is the *source* notebook's folder (``notebooks/``), the same as
  when the notebook is opened in Jupyter, so a relative path means the same thing in both places (the
  notebooks read data through :mod:`alliance_study.chapters.display`, which uses absolute paths anyway). The
  executed notebook is normalised (timestamps and papermill's random cell id removed, so two executions
  give the same file) and moved into place atomically: ``book/`` never holds a half-written notebook.
- **Invalidation.** A run whose key changed loses its old output and cache entry *before* it executes.
  If execution then fails (or is interrupted), nothing of that run is left in ``book/``: a book built from
  what remains fails on the missing page instead of silently publishing a chapter computed from older
  code or data. The older output is always reproducible from the commit that made it.
- **Failure.** The first failing run stops the pipeline (runs already executing finish and are kept, as
  they are correct); :class:`NotebookRunError` names the notebook, the run, the cell and the exception,
  and the executed copy with the full traceback stays in the staging directory for inspection.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import hashlib
import itertools
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

import yaml

from alliance_study import __version__
from alliance_study.book import cells
from alliance_study.data import paths
from alliance_study.data.registry import sha256_file
from alliance_study.errors import AllianceStudyError

#: The book's source directory (``_config.yml``, ``_toc.yml``, prose pages; executed notebooks land here).
BOOK_DIR = paths.PROJECT_ROOT / "book"

#: The default run configuration.
DEFAULT_PARAMS = paths.PROJECT_ROOT / "params" / "main.yml"

#: The library whose source is hashed into every cache key (a change to any module re-runs every notebook,
#: since notebooks are thin and their results come from here).
LIBRARY_DIR = Path(__file__).resolve().parents[1]

#: Cache index of executed runs, inside book/ (gitignored).
CACHE_FILE = ".run-cache.json"

#: Bumped when the key recipe or the output normalisation changes, so every run re-executes once.
CACHE_FORMAT = 1

#: Kernel every notebook runs in (the running interpreter's ipykernel).
KERNEL_NAME = "python3"

#: Metadata key under which the executed notebook records its run.
METADATA_KEY = "alliance_study"

#: The shared settings: the one vocabulary every notebook uses for these ideas. Each is set once, in the run
#: configuration's ``defaults``, and reaches every notebook that declares it; an entry may not set one
#: (that is what let two chapters silently keep an old improvement window), and ``defaults`` holds nothing
#: else (a misspelt ``end_yaer`` is refused instead of ignored). Name -> what it means.
SHARED_SETTINGS: dict[str, str] = {
    "start_year": "first spring year of the panel span the chapters use",
    "end_year": "last spring year of the panel span the chapters use",
    "window_start": "spring year the Neag improvement window's baseline ends",
    "window_end": "spring year of the Neag improvement window's end value",
    "seed": "seed of every random draw (bootstrap, permutations, simulated examples)",
    "n_boot": "bootstrap draws",
    "n_permutations": "permutation (randomization-inference) draws",
}

#: Names that duplicate a shared setting (seen in earlier notebooks, or obvious synonyms): a notebook that
#: declares one, or a configuration that sets one, is refused with the shared name to use instead.
#: Alias -> the shared setting(s) it duplicates.
PARAMETER_ALIASES: dict[str, str] = {
    "study_window": "window_start/window_end",
    "improvement_window": "window_start/window_end",
    "window": "window_start/window_end",
    "improvement_start_year": "window_start",
    "improvement_end_year": "window_end",
    "improvement_start": "window_start",
    "improvement_end": "window_end",
    "window_start_year": "window_start",
    "window_end_year": "window_end",
    "first_year": "start_year",
    "last_year": "end_year",
    "n_perm": "n_permutations",
    "n_perms": "n_permutations",
    "n_permutation": "n_permutations",
    "permutations": "n_permutations",
    "n_bootstrap": "n_boot",
    "n_boots": "n_boot",
    "bootstrap_draws": "n_boot",
    "reliability_seed": "seed",
    "random_seed": "seed",
    "rng_seed": "seed",
    "random_state": "seed",
}

TOP_LEVEL_KEYS = {"defaults", "notebooks"}
ENTRY_KEYS = {"name", "source", "output", "parameters", "foreach"}
_REQUIRED_ENTRY_KEYS = ("name", "source", "output")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Expanded values become file names: keep them to characters that are safe everywhere.
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


class PipelineError(AllianceStudyError):
    """The run configuration or a notebook does not fit the pipeline's rules."""


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


# --------------------------------------------------------------------------------------------------------
# Expansion sources: `foreach: {parameter: <source name>}` runs the notebook once per value.


def alliance_districts(data_dir: Path) -> list[str]:
    """District codes of every Alliance District (``alliance_designations.parquet``), sorted."""
    import pandas as pd

    table_path = Path(data_dir) / "alliance_designations.parquet"
    if not table_path.exists():
        raise PipelineError(f"{table_path} is missing: run `alliance-study build-panel` first "
                            "(the `alliance_districts` expansion reads it)")
    table = pd.read_parquet(table_path, columns=["district_code"])
    return sorted(str(code) for code in table["district_code"].dropna().unique())


#: Named lists a `foreach` can expand over: name -> function of the data directory returning the values.
#: Add an entry here to let a run configuration fan a notebook out over another list.
EXPANSIONS: dict[str, Callable[[Path], list[str]]] = {
    "alliance_districts": alliance_districts,
}


# --------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class NotebookEntry:
    """One ``notebooks:`` item of a run configuration (before ``foreach`` expansion)."""

    name: str
    source: Path  # absolute
    output: str  # template relative to book/, may hold {placeholders} named in foreach
    parameters: dict[str, Any] = field(default_factory=dict)
    foreach: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """A validated run configuration."""

    path: Path
    defaults: dict[str, Any]
    notebooks: tuple[NotebookEntry, ...]

    def names(self) -> list[str]:
        """Entry names, in configuration order."""
        return [entry.name for entry in self.notebooks]


@dataclass(frozen=True)
class Run:
    """One notebook execution: an entry with its ``foreach`` values substituted."""

    name: str  # the entry's name
    label: str  # name, or name[key=value] for an expansion; used in messages
    source: Path  # absolute source notebook
    output: Path  # absolute output path inside book/
    output_rel: str  # output relative to book/, POSIX separators (the cache key of the cache file)
    parameters: dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    """What happened to a run: ``executed`` or ``skipped`` (up to date)."""

    run: Run
    status: str
    seconds: float = 0.0


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _is_json_literal(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_json_literal(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_literal(v) for k, v in value.items())
    return False


def _check_parameter_map(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PipelineError(f"{where}: expected a mapping of parameter names to values, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise PipelineError(f"{where}: parameter name {key!r} is not a Python identifier")
        if not _is_json_literal(item):
            # papermill injects values as Python literals; dates and other YAML types would not survive.
            raise PipelineError(f"{where}: parameter {key!r} has value {item!r}, which is not a plain "
                                "number, string, boolean, null, list or mapping (quote dates)")
    return dict(value)


def load_config(path: str | Path, project_dir: str | Path = paths.PROJECT_ROOT,
                book_dir: str | Path | None = None) -> RunConfig:
    """Read and validate a run configuration.

    Parameters
    ----------
    path
        The YAML file (``params/main.yml``).
    project_dir
        Root that ``source`` paths are relative to.
    book_dir
        The book directory that ``output`` paths are relative to (default ``<project_dir>/book``).

    Returns
    -------
    RunConfig

    Raises
    ------
    PipelineError
        Unknown or missing keys, duplicate names, a missing source notebook, an output outside the book
        directory, placeholders in ``output`` that do not match ``foreach``, an unknown expansion source.
        (Checks that need the notebooks' parameters cells happen in :func:`plan_runs`.)
    """
    path = Path(path)
    project_dir = Path(project_dir)
    book_dir = Path(book_dir) if book_dir is not None else project_dir / "book"
    where = str(path)
    if not path.exists():
        raise PipelineError(f"run configuration {where} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PipelineError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: expected a mapping with keys {sorted(TOP_LEVEL_KEYS)}")
    unknown = set(raw) - TOP_LEVEL_KEYS
    if unknown:
        raise PipelineError(f"{where}: unknown top-level key(s) {sorted(unknown)}; "
                            f"allowed: {sorted(TOP_LEVEL_KEYS)}")
    defaults = _check_parameter_map(f"{where}: defaults", raw.get("defaults"))
    _check_defaults(where, defaults)
    items = raw.get("notebooks")
    if not isinstance(items, list) or not items:
        raise PipelineError(f"{where}: `notebooks` must be a non-empty list")

    entries: list[NotebookEntry] = []
    seen: set[str] = set()
    book_root = book_dir.resolve()
    for index, item in enumerate(items, start=1):
        label = f"{where}: notebooks item {index}"
        if not isinstance(item, dict):
            raise PipelineError(f"{label}: expected a mapping, got {item!r}")
        if isinstance(item.get("name"), str):
            label = f"{where}: notebook {item['name']!r}"
        unknown = set(item) - ENTRY_KEYS
        if unknown:
            raise PipelineError(f"{label}: unknown key(s) {sorted(unknown)}; allowed: {sorted(ENTRY_KEYS)}")
        missing = [key for key in _REQUIRED_ENTRY_KEYS if not isinstance(item.get(key), str)]
        if missing:
            raise PipelineError(f"{label}: missing or non-string key(s) {missing}")
        name = item["name"]
        if not _NAME_RE.match(name):
            raise PipelineError(f"{label}: name must use letters, digits, '-' and '_' only")
        if name in seen:
            raise PipelineError(f"{label}: duplicate name")
        seen.add(name)

        source = (project_dir / item["source"]).resolve()
        if not source.is_file():
            raise PipelineError(f"{label}: source notebook {item['source']} does not exist "
                                f"(looked for {source})")
        if source.suffix != ".ipynb":
            raise PipelineError(f"{label}: source {item['source']} is not a .ipynb notebook")

        output = item["output"]
        if Path(output).is_absolute() or not output.endswith(".ipynb"):
            raise PipelineError(f"{label}: output {output!r} must be a relative path ending in .ipynb")
        # Substitute a harmless value for the placeholders to check where the output would land.
        probe = (book_dir / _PLACEHOLDER_RE.sub("x", output)).resolve()
        if not probe.is_relative_to(book_root) or probe == book_root:
            raise PipelineError(f"{label}: output {output!r} is outside the book directory {book_dir}")
        if probe.relative_to(book_root).parts[0].startswith(("_", ".")):
            raise PipelineError(f"{label}: output {output!r} is inside a build or hidden folder of the book")

        foreach = item.get("foreach") or {}
        if not isinstance(foreach, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in foreach.items()):
            raise PipelineError(f"{label}: foreach must map parameter names to expansion names, "
                                f"got {foreach!r}")
        for key, source_name in foreach.items():
            if source_name not in EXPANSIONS:
                raise PipelineError(f"{label}: foreach {key}: unknown expansion {source_name!r}; "
                                    f"known: {sorted(EXPANSIONS)}")
        placeholders = set(_PLACEHOLDER_RE.findall(output))
        if placeholders != set(foreach):
            # Without a placeholder per foreach key every expansion would overwrite the same file.
            raise PipelineError(f"{label}: output {output!r} has placeholders {sorted(placeholders)} but "
                                f"foreach names {sorted(foreach)}; they must be the same")
        parameters = _check_parameter_map(f"{label}: parameters", item.get("parameters"))
        for key in parameters:
            if key in SHARED_SETTINGS:
                raise PipelineError(f"{label}: parameter {key!r} is a shared setting: set it once in "
                                    "`defaults` (it reaches every notebook that declares it); a value for "
                                    "one chapter needs a chapter-specific name")
            if key in PARAMETER_ALIASES:
                raise PipelineError(f"{label}: parameter {key!r} duplicates the shared setting "
                                    f"{PARAMETER_ALIASES[key]}; use that name (set in `defaults`)")
        both = set(parameters) & set(foreach)
        if both:
            raise PipelineError(f"{label}: {sorted(both)} set both in parameters and in foreach")
        entries.append(NotebookEntry(name=name, source=source, output=output, parameters=parameters,
                                     foreach=dict(foreach)))
    return RunConfig(path=path, defaults=defaults, notebooks=tuple(entries))


def _check_defaults(where: str, defaults: Mapping[str, Any]) -> None:
    """``defaults`` may hold only shared settings (see :data:`SHARED_SETTINGS`)."""
    import difflib

    for key in defaults:
        if key in SHARED_SETTINGS:
            continue
        if key in PARAMETER_ALIASES:
            raise PipelineError(f"{where}: defaults: {key!r} duplicates the shared setting "
                                f"{PARAMETER_ALIASES[key]}; use that name")
        close = difflib.get_close_matches(key, list(SHARED_SETTINGS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PipelineError(f"{where}: defaults: unknown setting {key!r}{hint}; `defaults` holds only the "
                            f"shared settings {sorted(SHARED_SETTINGS)} (a chapter's own parameter goes "
                            "under that notebook's `parameters`)")


def check_vocabulary(notebook: str | Path, declared: Mapping[str, Any]) -> None:
    """Refuse a notebook that declares a parameter duplicating a shared setting under another name.

    Raises
    ------
    PipelineError
        A declared name is in :data:`PARAMETER_ALIASES`.
    """
    aliases = sorted(set(declared) & set(PARAMETER_ALIASES))
    if aliases:
        fixes = ", ".join(f"{a!r} -> {PARAMETER_ALIASES[a]}" for a in aliases)
        raise PipelineError(f"notebook {notebook}: parameter(s) duplicate a shared setting under another "
                            f"name ({fixes}); declare the shared name, which params/main.yml `defaults` "
                            "sets for every notebook")


def _is_parameters_cell(cell: Mapping[str, Any]) -> bool:
    return "parameters" in (cell.get("metadata", {}).get("tags") or [])


def declared_parameters(notebook: str | Path) -> dict[str, Any]:
    """The parameters a notebook declares: names and default values of its ``parameters``-tagged cell.

    Raises
    ------
    PipelineError
        The notebook does not have exactly one ``parameters`` cell, the cell is not valid Python, or it
        does something other than assign literal values to names (the design keeps it to literals so the
        configured values fully describe a run).
    """
    notebook = Path(notebook)
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PipelineError(f"notebook {notebook}: cannot be read as a notebook: {exc}") from exc
    cells = [c for c in nb.get("cells", []) if _is_parameters_cell(c)]
    if len(cells) != 1:
        raise PipelineError(f"notebook {notebook}: expected exactly one cell tagged `parameters`, "
                            f"found {len(cells)}")
    cell = cells[0]
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if cell.get("cell_type") != "code":
        raise PipelineError(f"notebook {notebook}: the `parameters` cell is not a code cell")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise PipelineError(f"notebook {notebook}: the `parameters` cell is not valid Python: {exc}") from exc
    declared: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a bare string used as a comment
        else:
            raise PipelineError(f"notebook {notebook}: the `parameters` cell may only assign literals to "
                                f"names; line {node.lineno} does something else")
        try:
            declared[target] = ast.literal_eval(value)
        except ValueError as exc:
            raise PipelineError(f"notebook {notebook}: parameter {target!r} (line {node.lineno}) is not a "
                                "literal; compute derived values in a later cell") from exc
    # papermill reads the cell with its own line-by-line parser (a comment containing "=" defeats it);
    # a name it cannot see would be injected with an "unknown parameter" warning, so refuse it here.
    import papermill

    seen = set(papermill.inspect_notebook(str(notebook)))
    unseen = sorted(set(declared) - seen)
    if unseen:
        raise PipelineError(f"notebook {notebook}: papermill cannot parse the `parameters` line(s) for "
                            f"{unseen}; keep '=' out of their comments")
    return declared


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def plan_runs(config: RunConfig, *, project_dir: str | Path = paths.PROJECT_ROOT,
              book_dir: str | Path | None = None, data_dir: str | Path = paths.PROCESSED_DIR,
              only: str | None = None) -> list[Run]:
    """Expand a configuration into runs: resolve parameters and ``foreach`` values; check the notebooks.

    Parameters
    ----------
    config
        From :func:`load_config`.
    project_dir, book_dir
        Project root and book directory (default ``<project_dir>/book``).
    data_dir
        The build outputs the notebooks read (expansion lists come from here too). When it is not the
        checkout's ``data/processed``, it is passed to every notebook that declares a ``data_dir``
        parameter, so the notebooks read the same files that the cache key hashes.
    only
        Plan only the entry of this name (all its expansions).

    Raises
    ------
    PipelineError
        ``only`` names no entry; a notebook has no single parameters cell; a configured parameter or a
        ``foreach`` key is not declared by the notebook (a ``defaults`` name may be: it is simply not
        passed); a notebook declares an alias of a shared setting, or a shared setting that ``defaults``
        does not set; an expansion list is empty; two runs share an output.
    """
    project_dir = Path(project_dir)
    book_dir = Path(book_dir) if book_dir is not None else project_dir / "book"
    data_dir = Path(data_dir)
    entries = list(config.notebooks)
    if only is not None:
        entries = [e for e in entries if e.name == only]
        if not entries:
            raise PipelineError(f"{config.path}: no notebook named {only!r}; names: {config.names()}")
    pass_data_dir = data_dir.resolve() != paths.PROCESSED_DIR.resolve()

    runs: list[Run] = []
    outputs: dict[str, str] = {}
    for entry in entries:
        declared = declared_parameters(entry.source)
        source_rel = _rel(entry.source, project_dir)
        check_vocabulary(source_rel, declared)
        for key in list(entry.parameters) + list(entry.foreach):
            if key not in declared:
                raise PipelineError(f"{config.path}: notebook {entry.name!r}: parameter {key!r} is not "
                                    f"declared in the parameters cell of {source_rel} "
                                    f"(it declares {sorted(declared)})")
        unset = sorted(k for k in declared if k in SHARED_SETTINGS and k not in config.defaults)
        if unset:
            # Otherwise the notebook's own literal would decide silently, and changing the setting in the
            # configuration would not reach it.
            raise PipelineError(f"{config.path}: notebook {entry.name!r} declares the shared setting(s) "
                                f"{unset}, which `defaults` does not set; set them there")
        base = {k: v for k, v in config.defaults.items() if k in declared}
        if pass_data_dir and "data_dir" in declared:
            base["data_dir"] = str(data_dir.resolve())
        base.update(entry.parameters)

        keys = list(entry.foreach)
        value_lists = [EXPANSIONS[entry.foreach[k]](data_dir) for k in keys]
        for key, values in zip(keys, value_lists, strict=True):
            if not values:
                raise PipelineError(f"notebook {entry.name!r}: foreach {key}: expansion "
                                    f"{entry.foreach[key]!r} gave no values")
        for combo in itertools.product(*value_lists):
            values = dict(zip(keys, combo, strict=True))
            output_rel = entry.output
            for key, value in values.items():
                if not _VALUE_RE.match(str(value)):
                    raise PipelineError(f"notebook {entry.name!r}: foreach {key} value {value!r} is not "
                                        "usable in a file name")
                output_rel = output_rel.replace("{" + key + "}", str(value))
            label = entry.name + "".join(f"[{k}={v}]" for k, v in values.items())
            if output_rel in outputs:
                raise PipelineError(f"runs {outputs[output_rel]} and {label} both write {output_rel}")
            outputs[output_rel] = label
            runs.append(Run(name=entry.name, label=label, source=entry.source,
                            output=book_dir / output_rel, output_rel=output_rel,
                            parameters={**base, **values}))
    return runs


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
    """The parts of the cache key shared by every run of one invocation (hashed once)."""

    inputs: dict[str, str]
    library: str
    version: str

    @classmethod
    def compute(cls, data_dir: str | Path, library_dir: str | Path = LIBRARY_DIR,
                version: str = __version__) -> KeyContext:
        """Hash the data directory and the library source."""
        library = hashlib.sha256(_canonical_json(tree_digest(library_dir, "**/*.py")).encode()).hexdigest()
        return cls(inputs=tree_digest(data_dir), library=library, version=version)


def run_key(run: Run, context: KeyContext) -> str:
    """The cache key of ``run``: sha256 of notebook, parameters, inputs, version and library."""
    payload = {
        "format": CACHE_FORMAT,
        "notebook": sha256_file(run.source),
        "parameters": run.parameters,
        "inputs": context.inputs,
        "version": context.version,
        "library": context.library,
    }
    return hashlib.sha256(_canonical_json(payload).encode()).hexdigest()


def recorded_key(output: Path) -> str | None:
    """The run key recorded in an executed notebook's metadata, or None (missing, unreadable, foreign)."""
    try:
        nb = json.loads(output.read_text(encoding="utf-8"))
        return nb["metadata"][METADATA_KEY]["run_key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


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


def _normalise(nb: Any, run: Run, key: str, project_dir: Path) -> None:
    """Strip what differs between two executions of the same run; record the run in the metadata."""
    meta = nb.metadata.setdefault("papermill", {})
    for volatile in ("start_time", "end_time", "duration", "exception"):
        meta.pop(volatile, None)
    # papermill records the staging paths; the meaningful ones are the source and the book location.
    meta["input_path"] = _rel(run.source, project_dir)
    meta["output_path"] = run.output_rel
    for cell in nb.cells:
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
    }


def _failure(run: Run, exc: Exception, staged: Path, project_dir: Path) -> NotebookRunError:
    """Turn papermill's exception into an error naming notebook, run, cell and exception."""
    from papermill.exceptions import PapermillExecutionError

    source_rel = _rel(run.source, project_dir)
    where = f"notebook {source_rel} (run {run.label} -> book/{run.output_rel})"
    kept = f"\n  executed copy with the full traceback: {staged}" if staged.exists() else ""
    if isinstance(exc, PapermillExecutionError):
        cells = json.loads(run.source.read_text(encoding="utf-8"))["cells"]
        params_index = next(i for i, c in enumerate(cells) if _is_parameters_cell(c))
        # papermill inserts an injected-parameters cell right after the parameters cell when (and only
        # when) it has parameters to inject; cells after it are one further down than in the source.
        injected = params_index + 1 if run.parameters else None
        if exc.cell_index == injected:
            cell_text, cell = "the injected-parameters cell", None
        else:
            shift = 1 if injected is not None and exc.cell_index > injected else 0
            cell = exc.cell_index - shift + 1
            cell_text = f"cell {cell} (execution count {exc.exec_count})"
        first_line = next((ln.strip() for ln in (exc.source or "").splitlines() if ln.strip()), "")
        message = (f"{where} failed in {cell_text}: {exc.ename}: {exc.evalue}"
                   + (f"\n  cell starts: {first_line}" if first_line else "") + kept)
        return NotebookRunError(run, message, cell=cell, ename=exc.ename, evalue=exc.evalue,
                                staged=staged if staged.exists() else None)
    message = f"{where} failed: {type(exc).__name__}: {exc}{kept}"
    return NotebookRunError(run, message, ename=type(exc).__name__, evalue=str(exc),
                            staged=staged if staged.exists() else None)


def execute_run(run: Run, key: str, *, project_dir: Path, staging_root: Path | None = None,
                kernel_name: str = KERNEL_NAME, timeout: int | None = None) -> None:
    """Execute one run into a staging directory and move the result into ``book/`` on success.

    Raises
    ------
    NotebookRunError
        The notebook failed; nothing was written to ``book/``; the staging copy is kept for inspection.
    """
    import nbformat
    import papermill

    staging = Path(tempfile.mkdtemp(prefix="alliance-study-run-", dir=staging_root))
    staged = staging / Path(run.output_rel).name
    try:
        papermill.execute_notebook(
            str(run.source), str(staged), parameters=run.parameters, kernel_name=kernel_name,
            language="python", cwd=str(run.source.parent), progress_bar=False, log_output=False,
            request_save_on_cell_execute=False, execution_timeout=timeout,
            # nbclient options: no per-cell timestamps; keep the kernel's own log (a TCP-encryption
            # notice from ipykernel on every start) off the terminal -- cell output is unaffected; and
            # stop the kernel at once when the last cell is done: a graceful shutdown waits seconds for
            # ipykernel to exit, which was half the time of a short notebook.
            record_timing=False, extra_arguments=["--IPKernelApp.log_level=ERROR"],
            shutdown_kernel="immediate",
        )
    except Exception as exc:
        error = _failure(run, exc, staged, project_dir)
        if error.staged is None:
            shutil.rmtree(staging, ignore_errors=True)
        raise error from exc
    nb = nbformat.read(staged, as_version=4)
    _normalise(nb, run, key, project_dir)
    _write_atomic(run.output, nbformat.writes(nb) + "\n")
    shutil.rmtree(staging, ignore_errors=True)


def _default_jobs() -> int:
    # Kernels are separate processes and mostly CPU-bound while importing; one per core.
    return max(1, min(4, os.cpu_count() or 1))


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
        Notebooks executed at once (default: one per core, at most 4).
    staging_root
        Where staging directories are made (default: the system temporary directory; never ``book/``).
    kernel_name, timeout
        Kernel and per-cell timeout in seconds (None: no limit).
    progress
        Called with ``(run, status)``: ``"start"`` before executing, then ``"executed"`` or ``"skipped"``.
    plan
        Runs already planned with :func:`plan_runs` with the same ``only`` (to avoid planning twice);
        default: plan here.

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
    runs = list(plan) if plan is not None else plan_runs(config, project_dir=project_dir, book_dir=book_dir,
                                                          data_dir=data_dir, only=only)
    context = KeyContext.compute(data_dir, library_dir)
    cache = _read_cache(book_dir)
    lock = threading.Lock()
    notify = progress or (lambda run, status: None)

    if only is None:
        _prune(book_dir, cache, {r.output_rel for r in runs})

    results: dict[str, RunResult] = {}
    pending: list[tuple[Run, str]] = []
    for run in runs:
        key = run_key(run, context)
        if not force and run.output.exists() and recorded_key(run.output) == key:
            cache[run.output_rel] = _cache_entry(run, key, project_dir)
            results[run.output_rel] = RunResult(run, "skipped")
            notify(run, "skipped")
            continue
        # The old output (if any) no longer matches its inputs: drop it now so a failure or an interrupt
        # cannot leave it in the book looking current.
        cache.pop(run.output_rel, None)
        run.output.unlink(missing_ok=True)
        pending.append((run, key))
    _write_cache(book_dir, cache)

    if pending:
        ensure_kernel(kernel_name)
    staging = Path(staging_root) if staging_root is not None else None

    def work(run: Run, key: str) -> RunResult:
        notify(run, "start")
        start = time.perf_counter()
        execute_run(run, key, project_dir=project_dir, staging_root=staging,
                    kernel_name=kernel_name, timeout=timeout)
        result = RunResult(run, "executed", time.perf_counter() - start)
        with lock:
            cache[run.output_rel] = _cache_entry(run, key, project_dir)
            _write_cache(book_dir, cache)
        notify(run, "executed")
        return result

    first_error: BaseException | None = None
    with cf.ThreadPoolExecutor(max_workers=jobs or _default_jobs()) as pool:
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
    if first_error is not None:
        raise first_error
    return [results[r.output_rel] for r in runs if r.output_rel in results]


def _cache_entry(run: Run, key: str, project_dir: Path) -> dict[str, Any]:
    return {"key": key, "run": run.label, "source": _rel(run.source, project_dir),
            "parameters": run.parameters}


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


def stale_runs(runs: Iterable[Run], *, data_dir: str | Path = paths.PROCESSED_DIR,
               library_dir: str | Path = LIBRARY_DIR) -> list[Run]:
    """Runs whose output is missing or was executed from other inputs than the current ones."""
    context = KeyContext.compute(data_dir, library_dir)
    return [run for run in runs if recorded_key(run.output) != run_key(run, context)]


def clean_book(book_dir: str | Path = BOOK_DIR) -> list[Path]:
    """Remove executed notebooks the pipeline wrote (by their run metadata), the cache and ``_build``.

    Prose pages and any notebook without the pipeline's metadata stay. Returns the removed paths.
    """
    book_dir = Path(book_dir)
    removed: list[Path] = []
    for notebook in sorted(book_dir.rglob("*.ipynb")):
        if "_build" in notebook.relative_to(book_dir).parts:
            continue
        if recorded_key(notebook) is not None:
            notebook.unlink()
            removed.append(notebook)
    for extra in (book_dir / CACHE_FILE, book_dir / "_build"):
        if extra.is_dir():
            shutil.rmtree(extra)
            removed.append(extra)
        elif extra.exists():
            extra.unlink()
            removed.append(extra)
    return removed


# --------------------------------------------------------------------------------------------------------
# The book


def book_command(book_dir: str | Path = BOOK_DIR, *, strict: bool = True, all_pages: bool = False,
                 quiet: bool = True) -> list[str]:
    """The ``jupyter-book build`` command line for ``book_dir`` (HTML; warnings are errors when strict).

    ``quiet`` drops Sphinx's page-by-page status lines; warnings are always shown.
    """
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book"),
               "build", str(book_dir), "--builder", "html"]
    if strict:
        # --keep-going: report every warning of the build, then fail, instead of stopping at the first.
        command += ["--warningiserror", "--keep-going"]
    if all_pages:
        command.append("--all")
    if quiet:
        command.append("--quiet")
    return command

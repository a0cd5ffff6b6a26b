"""The run configuration (``params/main.yml``): reading it, checking it, and expanding it into runs.

See :mod:`alliance_study.book.runner` for the file's shape and for how runs are executed. This module holds
what can be decided without executing anything: the shared parameter vocabulary, the configuration's
rules, the notebooks' declared parameters, command-line overrides, the check of parameter values against
the data, and the plan (one :class:`Run` per notebook and ``foreach`` value).
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alliance_study.data import paths
from alliance_study.errors import AllianceStudyError

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



# --------------------------------------------------------------------------------------------------------
# Expansion sources: `foreach: {parameter: <source name>}` runs the notebook once per value.


def alliance_districts(data_dir: Path) -> list[str]:
    """District codes of every Alliance District (``alliance_designations.parquet``), sorted."""
    import pyarrow.parquet as pq  # lighter than pandas: planning a run that executes nothing stays quick

    table_path = Path(data_dir) / "alliance_designations.parquet"
    if not table_path.exists():
        raise PipelineError(f"{table_path} is missing: run `alliance-study build-panel` first "
                            "(the `alliance_districts` expansion reads it)")
    codes = pq.read_table(table_path, columns=["district_code"])["district_code"].to_pylist()
    return sorted({str(code) for code in codes if code is not None})


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
    #: Command-line overrides applied with :func:`apply_overrides` (``key`` or ``notebook.key`` -> value).
    overrides: dict[str, Any] = field(default_factory=dict)

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


#: The smallest value each numeric shared setting may take (all are whole numbers).
_SHARED_MINIMUM = {"start_year": 1900, "end_year": 1900, "window_start": 1900, "window_end": 1900, "seed": 0,
                   "n_boot": 1, "n_permutations": 1}


def _check_defaults(where: str, defaults: Mapping[str, Any]) -> None:
    """``defaults`` may hold only shared settings (see :data:`SHARED_SETTINGS`), each a whole number."""
    import difflib

    for key, value in defaults.items():
        if key in SHARED_SETTINGS:
            low = _SHARED_MINIMUM[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise PipelineError(f"{where}: {key} = {value!r}: expected a whole number of at least {low} "
                                    f"({SHARED_SETTINGS[key]})")
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


def declared_parameters(notebook: str | Path, *, check_papermill: bool = True) -> dict[str, Any]:
    """The parameters a notebook declares: names and default values of its ``parameters``-tagged cell.

    ``check_papermill=False`` skips the check that papermill parses the cell the same way (it imports
    papermill; a listing for ``--help`` does not need it).

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
    if not check_papermill:
        return declared
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
              only: str | Iterable[str] | None = None, check_papermill: bool = True) -> list[Run]:
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
        Plan only the entry of this name (all its expansions), or ``NAME:VALUE`` items (:func:`parse_only`).
    check_papermill
        Also check that papermill parses each parameters cell (imports papermill); :func:`run_pipeline`
        checks the notebooks it executes anyway, so a plan that may execute nothing can skip it.

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
    selected = parse_only(only)
    if selected is not None:
        unknown = [name for name in selected if name not in config.names()]
        if unknown:
            raise PipelineError(f"{config.path}: no notebook named {unknown[0]!r}; names: {config.names()}")
        entries = [e for e in entries if e.name in selected]
    pass_data_dir = data_dir.resolve() != paths.PROCESSED_DIR.resolve()

    runs: list[Run] = []
    outputs: dict[str, str] = {}
    for entry in entries:
        declared = declared_parameters(entry.source, check_papermill=check_papermill)
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
        wanted = (selected or {}).get(entry.name)
        if wanted:
            value_lists = _select_values(entry, keys, value_lists, wanted)
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


#: How a value of each expansion is described when ``--only`` names one that is not in the list.
EXPANSION_NOUNS: dict[str, str] = {
    "alliance_districts": "an Alliance District (profiles are published for Alliance Districts only)",
}


def parse_only(only: str | Iterable[str] | None) -> dict[str, set[str]] | None:
    """``--only`` items -> notebook name -> the ``foreach`` values asked for (empty set: all of them).

    An item is a notebook name (``trends``), or a name and one value of its ``foreach`` list
    (``profile:0640011``); several items may be given (a list, or one string separated by commas).
    """
    if only is None:
        return None
    items = [only] if isinstance(only, str) else list(only)
    selected: dict[str, set[str]] = {}
    for item in (part.strip() for text in items for part in text.split(",")):
        if not item:
            continue
        name, _, value = item.partition(":")
        values = selected.setdefault(name, set())
        if value:
            values.add(value.partition("=")[2] if "=" in value else value)
    return selected or None


def _select_values(entry: NotebookEntry, keys: list[str], value_lists: list[list[str]],
                   wanted: set[str]) -> list[list[str]]:
    if len(keys) != 1:
        raise PipelineError(f"--only {entry.name}:VALUE needs a notebook with one foreach list; "
                            f"{entry.name!r} has {len(keys)}")
    expansion = entry.foreach[keys[0]]
    missing = sorted(wanted - set(value_lists[0]))
    if missing:
        noun = EXPANSION_NOUNS.get(expansion, f"a value of the {expansion} list")
        raise PipelineError(f"--only {entry.name}:{missing[0]}: {missing[0]!r} is not {noun}; the "
                            f"{len(value_lists[0])} values are {', '.join(value_lists[0][:8])}"
                            + (" ..." if len(value_lists[0]) > 8 else ""))
    return [[v for v in value_lists[0] if v in wanted]]

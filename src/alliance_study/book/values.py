"""Command-line overrides of a run configuration, and parameter values checked against the data.

``alliance-study run -p window_end=2018`` changes a parameter with the same rules as the file
(:func:`apply_overrides`); every value is then checked against the data before any notebook executes
(:func:`check_values`): a year outside the panel's years, or a window that ends before it starts, is
refused with a sentence naming the parameter and the range, instead of failing in some cell later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from alliance_study.book.config import (
    PARAMETER_ALIASES,
    SHARED_SETTINGS,
    PipelineError,
    Run,
    RunConfig,
    _check_defaults,
    _check_parameter_map,
    _rel,
    declared_parameters,
)
from alliance_study.data import paths

# --------------------------------------------------------------------------------------------------------
# Command-line overrides


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``key=value`` strings (``-p``) -> a mapping; values are read as YAML (``2018``, ``[2013, 2016]``).

    A key is a parameter name, or ``notebook.parameter`` to set it for one notebook only.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PipelineError(f"-p {item!r}: expected NAME=VALUE (e.g. -p window_end=2018)")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise PipelineError(f"-p {item!r}: the value is not valid YAML: {exc}") from exc
        out[key] = value
    return out


def apply_overrides(config: RunConfig, overrides: Mapping[str, Any]) -> RunConfig:
    """Apply command-line overrides with the configuration file's rules.

    A shared setting replaces the value in ``defaults`` (so it reaches every notebook declaring it); any
    other name is set for every notebook that declares it, or, as ``notebook.name``, for that notebook.

    Raises
    ------
    PipelineError
        An alias of a shared setting; a name no notebook declares (with the names that are declared);
        ``notebook.name`` for a shared setting or an unknown notebook; a value that is not a plain literal.
    """
    if not overrides:
        return config
    defaults = dict(config.defaults)
    params = {entry.name: dict(entry.parameters) for entry in config.notebooks}
    declared = {entry.name: declared_parameters(entry.source) for entry in config.notebooks}
    where = f"{config.path}: -p"
    for key, value in overrides.items():
        _check_parameter_map(where, {key.rpartition(".")[2]: value})
        name, dot, param = key.rpartition(".")
        if param in PARAMETER_ALIASES:
            raise PipelineError(f"{where} {key}: {param!r} duplicates the shared setting "
                                f"{PARAMETER_ALIASES[param]}; use that name")
        if dot:
            if name not in params:
                raise PipelineError(f"{where} {key}: no notebook named {name!r}; names: {config.names()}")
            if param in SHARED_SETTINGS:
                raise PipelineError(f"{where} {key}: {param} is a shared setting; set it for every notebook "
                                    f"with -p {param}=...")
            if param not in declared[name]:
                raise PipelineError(f"{where} {key}: notebook {name!r} does not declare {param!r} "
                                    f"(it declares {sorted(declared[name])})")
            params[name][param] = value
        elif param in SHARED_SETTINGS:
            defaults[param] = value
        else:
            targets = [n for n in params if param in declared[n]]
            if not targets:
                known = sorted(set(SHARED_SETTINGS) | {k for d in declared.values() for k in d})
                raise PipelineError(f"{where} {key}: no notebook declares a parameter {param!r}; "
                                    f"parameters: {', '.join(known)}")
            for n in targets:
                params[n][param] = value
    _check_defaults(where, defaults)
    entries = tuple(dataclasses.replace(e, parameters=params[e.name]) for e in config.notebooks)
    return dataclasses.replace(config, defaults=defaults, notebooks=entries,
                               overrides={**config.overrides, **overrides})


# --------------------------------------------------------------------------------------------------------
# Parameter values against the data

#: Shared settings that are years; any other parameter named ``*_year`` (a year) or ``*_years`` holding a
#: list (years) is checked the same way. (``dose_years = 4`` is a count, not a list, and is not checked.)
YEAR_SETTINGS = ("start_year", "end_year", "window_start", "window_end")

#: Pairs that must be in order: (first, last, strictly before?). ``<x>_start_year``/``<x>_end_year`` pairs
#: are found by name as well.
ORDERED_PAIRS = (("start_year", "end_year", False), ("window_start", "window_end", True))

#: The panel whose ``year`` column gives the range of years the data cover.
PANEL_FILE = "district_year.parquet"


def data_years(data_dir: str | Path) -> tuple[int, int] | None:
    """First and last ``year`` of the panel in ``data_dir`` (None when it has not been built)."""
    path = Path(data_dir) / PANEL_FILE
    if not path.exists():
        return None
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    years = pq.read_table(path, columns=["year"])["year"]
    low, high = pc.min_max(years).values()
    return int(low.as_py()), int(high.as_py())


def _years_in(name: str, value: Any) -> list[int]:
    if name in YEAR_SETTINGS or name.endswith("_year"):
        candidates = [value]
    elif name.endswith("_years") and isinstance(value, list):
        candidates = value
    else:
        return []
    return [v for v in candidates if isinstance(v, int) and not isinstance(v, bool)]


def check_values(runs: Iterable[Run], data_dir: str | Path, where: str = "run configuration") -> None:
    """Refuse, before anything runs, parameter values the data cannot answer.

    Every year (see :data:`YEAR_SETTINGS`) must lie within the panel's years, and ordered pairs must be in
    order (``window_start`` before ``window_end``, ``x_start_year`` <= ``x_end_year``). Skipped for the
    year range when the panel has not been built yet (there is no range to check against).

    Raises
    ------
    PipelineError
        A sentence naming the parameter, its value and the data's range.
    """
    span = data_years(data_dir)
    panel = Path(data_dir) / PANEL_FILE
    seen: set[tuple[str, str]] = set()
    for run in runs:
        params = run.parameters
        for name, value in params.items():
            if (name, repr(value)) in seen:
                continue
            seen.add((name, repr(value)))
            for year in _years_in(name, value):
                if span is not None and not span[0] <= year <= span[1]:
                    raise PipelineError(
                        f"{where}: {name} = {value} is outside the years the data cover, {span[0]}-{span[1]} "
                        f"({_rel(panel, paths.PROJECT_ROOT)}); choose a year from {span[0]} to {span[1]}, or "
                        "add the year's data first (README: Adding a year of data)")
        pairs = list(ORDERED_PAIRS) + [(k, k.replace("_start_year", "_end_year"), False) for k in params
                                       if k.endswith("_start_year")]
        for first, last, strict in pairs:
            a, b = params.get(first), params.get(last)
            if not (isinstance(a, int) and isinstance(b, int)):
                continue
            if a > b or (strict and a == b):
                relation = "before" if strict else "no later than"
                raise PipelineError(f"{where}: {first} = {a} must be {relation} {last} = {b} "
                                    f"(notebook {run.name!r})")



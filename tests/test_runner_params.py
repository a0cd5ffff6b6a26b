"""One parameter vocabulary: shared settings are set once in ``defaults`` and reach every notebook.

The rules (alliance_study.book.runner): ``defaults`` holds only the shared settings (an unknown or misspelt
key is refused); a notebook entry may not set a shared setting; no notebook declares a parameter that
duplicates a shared one under another name; a notebook declaring a shared setting gets the configured value.
Each test fails if its rule is removed. Planning only: no kernel starts here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from alliance_study.book import runner
from alliance_study.book.runner import PipelineError


def _notebook(path: Path, parameters: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell, nbformat.v4.new_code_cell("pass")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "book").mkdir()
        (root / "data").mkdir()

    def config(self, defaults: dict, notebooks: dict[str, tuple[str, dict]]) -> runner.RunConfig:
        entries = []
        for name, (parameters_cell, parameters) in notebooks.items():
            _notebook(self.root / "notebooks" / f"{name}.ipynb", parameters_cell)
            entries.append({"name": name, "source": f"notebooks/{name}.ipynb",
                            "output": f"chapters/{name}.ipynb", "parameters": parameters})
        path = self.root / "params.yml"
        path.write_text(yaml.safe_dump({"defaults": defaults, "notebooks": entries}, sort_keys=False))
        return runner.load_config(path, project_dir=self.root, book_dir=self.root / "book")

    def plan(self, config: runner.RunConfig) -> dict[str, dict]:
        runs = runner.plan_runs(config, project_dir=self.root, book_dir=self.root / "book",
                                data_dir=self.root / "data")
        return {r.name: r.parameters for r in runs}


@pytest.fixture
def setup(tmp_path) -> Setup:
    return Setup(tmp_path)


SHARED = {"start_year": 2006, "end_year": 2025, "window_start": 2013, "window_end": 2016, "seed": 1,
          "n_boot": 99, "n_permutations": 199}


def test_a_shared_value_set_once_reaches_every_notebook_declaring_it(setup):
    notebooks = {
        "improvement": ("window_start = 2013\nwindow_end = 2016\nseed = 1\nn_boot = 99", {}),
        "focus": ("window_start = 2013\nwindow_end = 2016\nn_permutations = 199\nseed = 1", {}),
        "plans": ("window_start = 2013\nwindow_end = 2016\nplan_end_year = 2018", {"plan_end_year": 2017}),
    }
    planned = setup.plan(setup.config(dict(SHARED, window_end=2019, seed=7), notebooks))
    assert {name: p["window_end"] for name, p in planned.items()} == dict.fromkeys(notebooks, 2019)
    assert planned["improvement"]["seed"] == planned["focus"]["seed"] == 7
    assert planned["plans"]["plan_end_year"] == 2017  # a chapter-specific name is set per notebook
    assert "n_boot" not in planned["focus"]  # only declared names are passed


@pytest.mark.parametrize(("key", "message"), [
    ("end_yaer", r"unknown setting 'end_yaer' \(did you mean 'end_year'\?\)"),
    ("comparison", "unknown setting 'comparison'"),
    ("n_perm", "'n_perm' duplicates the shared setting n_permutations"),
])
def test_defaults_refuse_unknown_keys(setup, key, message):
    with pytest.raises(PipelineError, match=message):
        setup.config(dict(SHARED, **{key: 2025}), {"a": ("end_year = 2025", {})})


def test_an_entry_may_not_set_a_shared_setting(setup):
    # This is how two chapters silently kept an old improvement window when main.yml changed.
    with pytest.raises(PipelineError, match=r"notebook 'a': parameter 'window_end' is a shared setting"):
        setup.config(SHARED, {"a": ("window_end = 2016", {"window_end": 2018})})


@pytest.mark.parametrize(("alias", "shared"), sorted(runner.PARAMETER_ALIASES.items()))
def test_a_notebook_declaring_an_alias_is_refused(setup, alias, shared):
    config = setup.config(SHARED, {"a": (f"{alias} = 1\nseed = 1", {})})
    with pytest.raises(PipelineError, match=rf"'{alias}' -> {shared}"):
        setup.plan(config)
    with pytest.raises(PipelineError, match=rf"parameter '{alias}' duplicates the shared setting"):
        setup.config(SHARED, {"a": (f"{alias} = 1", {alias: 2})})


def test_known_aliases_include_the_names_the_notebooks_used_before():
    assert {"study_window", "improvement_start_year", "improvement_end_year", "n_perm",
            "reliability_seed"} <= set(runner.PARAMETER_ALIASES)
    assert not set(runner.PARAMETER_ALIASES) & set(runner.SHARED_SETTINGS)
    for target in runner.PARAMETER_ALIASES.values():
        assert set(target.split("/")) <= set(runner.SHARED_SETTINGS)


def test_a_declared_shared_setting_must_be_set_in_defaults(setup):
    config = setup.config({"start_year": 2006}, {"a": ("start_year = 2006\nseed = 3", {})})
    with pytest.raises(PipelineError, match=r"declares the shared setting\(s\) \['seed'\], which `defaults`"):
        setup.plan(config)


# --- the project's own configuration and notebooks ------------------------------------------------------


def test_project_defaults_set_every_shared_setting():
    config = runner.load_config(runner.DEFAULT_PARAMS)
    assert set(config.defaults) == set(runner.SHARED_SETTINGS)
    assert (config.defaults["window_start"], config.defaults["window_end"]) == (2013, 2016)


@pytest.mark.parametrize("entry", runner.load_config(runner.DEFAULT_PARAMS).notebooks, ids=lambda e: e.name)
def test_project_notebooks_use_the_vocabulary_and_the_configured_values(entry):
    """No alias in any notebook; a notebook's own literal for a shared setting is the configured one.

    The second part keeps a notebook opened in JupyterLab (which runs the literals) on the book's numbers.
    """
    declared = runner.declared_parameters(entry.source)
    runner.check_vocabulary(entry.source, declared)
    defaults = runner.load_config(runner.DEFAULT_PARAMS).defaults
    for key in set(declared) & set(runner.SHARED_SETTINGS):
        assert declared[key] == defaults[key], (
            f"{entry.source.name}: {key} = {declared[key]!r}, but params/main.yml sets {defaults[key]!r}")

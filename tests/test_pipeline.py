"""The notebook pipeline: configuration checks, run planning, cache keys, execution, failure handling.

Everything runs in a throw-away project under tmp_path (tiny notebooks, a tiny data directory, a tiny
"library" whose hash goes into the keys). Kernel executions are the slow part (a few seconds each), so
only four tests start a kernel; the rest check planning and keys directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alliance_study.book import runner
from alliance_study.book.runner import NotebookRunError, PipelineError
from alliance_study.cli import app


def make_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A notebook: title, a `parameters` cell (unless ``parameters`` is None), then code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem}"))
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(code) for code in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


class Project:
    """A throw-away project: notebooks/, book/, data/, lib/ and params.yml under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.book = root / "book"
        self.data = root / "data"
        self.lib = root / "lib"
        self.staging = root / "staging"
        for folder in (self.book, self.data, self.lib, self.staging):
            folder.mkdir(parents=True)
        (self.data / "input.csv").write_text("a,b\n1,2\n")
        (self.lib / "module.py").write_text("VALUE = 1\n")
        self.params = root / "params.yml"

    def config(self, body: dict) -> runner.RunConfig:
        self.params.write_text(yaml.safe_dump(body, sort_keys=False))
        return runner.load_config(self.params, project_dir=self.root, book_dir=self.book)

    def plan(self, config: runner.RunConfig, **kwargs) -> list[runner.Run]:
        return runner.plan_runs(config, project_dir=self.root, book_dir=self.book, data_dir=self.data,
                                  **kwargs)

    def run(self, config: runner.RunConfig, **kwargs) -> list[runner.RunResult]:
        return runner.run_pipeline(config, project_dir=self.root, book_dir=self.book, data_dir=self.data,
                                     library_dir=self.lib, staging_root=self.staging, jobs=1, **kwargs)

    def stale(self, config: runner.RunConfig) -> list[str]:
        runs = self.plan(config)
        return [r.label for r in runner.stale_runs(runs, library_dir=self.lib, project_dir=self.root)]

    def book_files(self) -> list[str]:
        return sorted(p.relative_to(self.book).as_posix() for p in self.book.rglob("*") if p.is_file())


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


def simple_config(project: Project, x: int = 1) -> runner.RunConfig:
    make_notebook(project.root / "notebooks" / "01_double.ipynb", "x = 1\ndata_dir = None\nunused = 'a'",
                  "print('double', x * 2)", "print('data', data_dir is not None)",
                  "from alliance_study.data import load\n"
                  "print('rows', len(load.load_table('input', data_dir)))",
                  # The throw-away library is named `lib`; a static import counts, executed or not.
                  "if False:\n    import lib.module")
    return project.config({
        "defaults": {"n_boot": 5},  # a shared setting the notebook does not declare: not passed
        "notebooks": [{"name": "double", "source": "notebooks/01_double.ipynb",
                       "output": "chapters/double.ipynb", "parameters": {"x": x}}],
    })


def stream_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs)


# ---------------------------------------------------------------------------------------------- execution


def test_run_writes_output_and_cache_then_skips_then_reruns_on_change(project):
    config = simple_config(project, x=3)
    [result] = project.run(config)
    output = project.book / "chapters" / "double.ipynb"
    assert result.status == "executed"
    assert "double 6" in stream_text(output)
    # The data directory differs from the checkout's, so it is passed to the notebook that declares it.
    assert "data True" in stream_text(output)
    meta = nbformat.read(output, as_version=4).metadata
    cache = json.loads((project.book / runner.CACHE_FILE).read_text())
    assert cache["runs"]["chapters/double.ipynb"]["key"] == meta["alliance_study"]["run_key"]
    assert meta["alliance_study"]["parameters"]["x"] == 3
    assert "n_boot" not in meta["alliance_study"]["parameters"]
    # No timestamps or staging paths: the file depends only on the run.
    assert "start_time" not in meta["papermill"]
    assert meta["papermill"]["output_path"] == "chapters/double.ipynb"
    first = output.read_bytes()

    [again] = project.run(config)
    assert again.status == "skipped"
    assert output.read_bytes() == first

    [forced] = project.run(config, force=True)
    assert forced.status == "executed"
    assert output.read_bytes() == first, "two executions of the same run must give the same file"

    config = simple_config(project, x=4)
    [changed] = project.run(config)
    assert changed.status == "executed"
    assert "double 8" in stream_text(output)
    assert project.book_files() == [runner.CACHE_FILE, "chapters/double.ipynb"]
    assert list(project.staging.iterdir()) == []


def test_notebook_data_read_and_library_changes_make_a_run_stale(project):
    config = simple_config(project)
    project.run(config)
    assert project.stale(config) == []

    source = project.root / "notebooks" / "01_double.ipynb"
    original = source.read_bytes()
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("One more sentence."))
    nbformat.write(nb, source)
    assert project.stale(config) == ["double"]
    source.write_bytes(original)
    assert project.stale(config) == []

    # The run read input.csv through alliance_study.data.load: its sha256 is part of the record.
    reads = nbformat.read(project.book / "chapters" / "double.ipynb", as_version=4).metadata["alliance_study"]
    assert list(reads["reads"]) == ["data/input.csv"]
    (project.data / "input.csv").write_text("a,b\n1,3\n")
    assert project.stale(config) == ["double"]
    (project.data / "input.csv").write_text("a,b\n1,2\n")
    assert project.stale(config) == []
    # A file the notebook never read does not make it stale.
    (project.data / "new_table.csv").write_text("c\n1\n")
    assert project.stale(config) == []

    # A library module the notebook does not import (even indirectly) does not make it stale ...
    (project.lib / "other.py").write_text("OTHER = 1\n")
    assert project.stale(config) == []
    # ... one it imports does, and so does one that module imports, and any data file the package ships.
    (project.lib / "module.py").write_text("from lib import helper\nVALUE = 2\n")
    assert project.stale(config) == ["double"]
    project.run(config)
    (project.lib / "helper.py").write_text("H = 1\n")
    assert project.stale(config) == ["double"]
    project.run(config)
    (project.lib / "table.csv").write_text("x\n1\n")
    assert project.stale(config) == ["double"]


def test_failing_notebook_names_notebook_cell_and_exception_and_keeps_the_previous_output(project):
    make_notebook(project.root / "notebooks" / "02_fail.ipynb", "n = 1",
                  "y = n + 1", "raise ValueError(f'boom {y}')", "print('never')")
    config = project.config({"notebooks": [{"name": "fail", "source": "notebooks/02_fail.ipynb",
                                            "output": "chapters/fail.ipynb"}]})
    # An older output of this run (from other inputs) is in the book, with its cache entry.
    old = project.book / "chapters" / "fail.ipynb"
    make_notebook(old, "n = 1")
    nb = nbformat.read(old, as_version=4)
    nb.metadata["alliance_study"] = {"run_key": "an-older-key", "reads": {}}
    nbformat.write(nb, old)
    old_bytes = old.read_bytes()
    (project.book / runner.CACHE_FILE).write_text(json.dumps(
        {"format": runner.CACHE_FORMAT, "runs": {"chapters/fail.ipynb": {"key": "an-older-key"}}}))

    with pytest.raises(NotebookRunError) as info:
        project.run(config)
    message = str(info.value)
    assert "notebooks/02_fail.ipynb" in message
    assert "run fail" in message
    # Cells count from 1 in the source notebook: title, parameters, `y = ...`, then the raise.
    assert "cell 4" in message and info.value.cell == 4
    assert "ValueError: boom 2" in message
    assert info.value.ename == "ValueError"
    # The previous output stays as it was (still out of date, so `book` refuses it); no temp file is left.
    assert project.book_files() == [runner.CACHE_FILE, "chapters/fail.ipynb"]
    assert old.read_bytes() == old_bytes
    assert project.stale(config) == ["fail"]
    # The executed copy with the traceback is kept outside the book for inspection.
    assert info.value.staged is not None and info.value.staged.exists()
    assert project.book not in info.value.staged.parents


def test_foreach_runs_once_per_value_and_only_selects_one_entry(project, monkeypatch):
    make_notebook(project.root / "notebooks" / "01_intro.ipynb", "start_year = 2000", "pass")
    make_notebook(project.root / "notebooks" / "10_profile.ipynb", "district_code = 'x'\nstart_year = 2000",
                  "print('profile', district_code)")
    pd.DataFrame({"district_code": ["0640011", "0020011"]}).to_parquet(
        project.data / "alliance_designations.parquet")
    config = project.config({
        "defaults": {"start_year": 2013},
        "notebooks": [
            {"name": "intro", "source": "notebooks/01_intro.ipynb", "output": "chapters/intro.ipynb"},
            {"name": "profile", "source": "notebooks/10_profile.ipynb",
             "output": "profiles/{district_code}.ipynb", "foreach": {"district_code": "alliance_districts"}},
        ],
    })
    runs = project.plan(config)
    assert [r.label for r in runs] == ["intro", "profile[district_code=0020011]",
                                       "profile[district_code=0640011]"]
    assert runs[1].output == project.book / "profiles" / "0020011.ipynb"
    assert runs[1].parameters == {"start_year": 2013, "district_code": "0020011"}
    assert [r.label for r in project.plan(config, only="profile")] == [r.label for r in runs[1:]]
    with pytest.raises(PipelineError, match="no notebook named 'nope'"):
        project.plan(config, only="nope")

    # Execute the profiles only, with one row of the list: one kernel start.
    monkeypatch.setitem(runner.EXPANSIONS, "alliance_districts", lambda data_dir: ["0020011"])
    results = project.run(config, only="profile")
    assert [r.status for r in results] == ["executed"]
    assert "profile 0020011" in stream_text(project.book / "profiles" / "0020011.ipynb")
    assert project.book_files() == [runner.CACHE_FILE, "profiles/0020011.ipynb"]


# ---------------------------------------------------------------------------------------------- validation


def test_configured_parameter_the_notebook_does_not_declare_is_an_error(project):
    make_notebook(project.root / "notebooks" / "01_a.ipynb", "start_year = 2006", "pass")
    config = project.config({"defaults": {"start_year": 2006, "end_year": 2025},  # end_year: undeclared
                             "notebooks": [{"name": "a", "source": "notebooks/01_a.ipynb",
                                            "output": "chapters/a.ipynb",
                                            "parameters": {"comparison": "peers"}}]})
    with pytest.raises(PipelineError, match=r"notebook 'a': parameter 'comparison' is not declared.*"
                                            r"notebooks/01_a.ipynb"):
        project.plan(config)


@pytest.mark.parametrize(("parameters", "problem"), [
    (None, "found 0"),
    ("x = 1\n#TWO", "found 2"),
    ("x = list(range(3))", "'x' .* is not a literal"),
    ("import os", "may only assign literals"),
    ("x = 1  # x = the count papermill would misread", r"papermill cannot parse .*\['x'\]"),
])
def test_parameters_cell_must_be_single_and_literal(project, parameters, problem):
    path = project.root / "notebooks" / "01_a.ipynb"
    make_notebook(path, None if parameters is None else parameters.replace("\n#TWO", ""), "pass")
    if parameters and "#TWO" in parameters:
        nb = nbformat.read(path, as_version=4)
        extra = nbformat.v4.new_code_cell("y = 2")
        extra.metadata["tags"] = ["parameters"]
        nb.cells.append(extra)
        nbformat.write(nb, path)
    config = project.config({"notebooks": [{"name": "a", "source": "notebooks/01_a.ipynb",
                                            "output": "chapters/a.ipynb"}]})
    with pytest.raises(PipelineError, match=problem) as info:
        project.plan(config)
    assert "01_a.ipynb" in str(info.value)


@pytest.mark.parametrize(("entry", "problem"), [
    ({"name": "a", "source": "notebooks/missing.ipynb", "output": "chapters/a.ipynb"}, "does not exist"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "../outside.ipynb"}, "outside the book"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "_build/a.ipynb"}, "build or hidden"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "chapters/a.md"}, "ending in .ipynb"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "a.ipynb", "colour": 1}, "unknown key"),
    ({"name": "a", "source": "notebooks/01_a.ipynb"}, r"missing .*\['output'\]"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "p/{code}.ipynb"}, "placeholders"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "p/{code}.ipynb",
      "foreach": {"code": "no_such_list"}}, "unknown expansion"),
    ({"name": "a", "source": "notebooks/01_a.ipynb", "output": "a.ipynb",
      "parameters": {"when": "x", "day": __import__("datetime").date(2020, 1, 1)}}, "not a plain"),
])
def test_config_errors(project, entry, problem):
    make_notebook(project.root / "notebooks" / "01_a.ipynb", "x = 1", "pass")
    with pytest.raises(PipelineError, match=problem):
        project.config({"notebooks": [entry]})


def test_config_rejects_unknown_top_level_keys_and_duplicate_names(project):
    make_notebook(project.root / "notebooks" / "01_a.ipynb", "x = 1", "pass")
    entry = {"name": "a", "source": "notebooks/01_a.ipynb", "output": "chapters/a.ipynb"}
    with pytest.raises(PipelineError, match=r"unknown top-level key\(s\) \['notebook'\]"):
        project.config({"notebook": [entry]})
    with pytest.raises(PipelineError, match="duplicate name"):
        project.config({"notebooks": [entry, dict(entry, output="chapters/b.ipynb")]})


def test_project_run_configuration_is_valid(real_build):
    """params/main.yml loads and every configured parameter is declared by its notebook."""
    config = runner.load_config(runner.DEFAULT_PARAMS)
    assert {"program", "data", "trends", "profile"} <= set(config.names())
    runs = runner.plan_runs(config, data_dir=real_build[1])  # the profile list comes from the build
    assert sum(r.name == "profile" for r in runs) == 36


def test_cli_run_reports_configuration_errors(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("notebooks:\n  - name: a\n    source: notebooks/does_not_exist.ipynb\n"
                   "    output: chapters/a.ipynb\n")
    result = CliRunner().invoke(app, ["run", "--params", str(bad)])
    assert result.exit_code == 1
    assert "does_not_exist.ipynb does not exist" in result.output


def test_empty_expansion_is_an_error(project, monkeypatch):
    make_notebook(project.root / "notebooks" / "10_p.ipynb", "district_code = 'x'", "pass")
    config = project.config({"notebooks": [{"name": "p", "source": "notebooks/10_p.ipynb",
                                            "output": "profiles/{district_code}.ipynb",
                                            "foreach": {"district_code": "alliance_districts"}}]})
    monkeypatch.setitem(runner.EXPANSIONS, "alliance_districts", lambda data_dir: [])
    with pytest.raises(PipelineError, match="gave no values"):
        project.plan(config)


def test_clean_book_removes_only_what_the_pipeline_wrote(project):
    ours = make_notebook(project.book / "chapters" / "a.ipynb", "x = 1")
    nb = nbformat.read(ours, as_version=4)
    nb.metadata["alliance_study"] = {"run_key": "k"}
    nbformat.write(nb, ours)
    hand_written = make_notebook(project.book / "appendix" / "b.ipynb", "x = 1")
    prose = project.book / "intro.md"
    prose.write_text("# Intro\n")
    (project.book / runner.CACHE_FILE).write_text("{}")
    (project.book / "_build" / "html").mkdir(parents=True)
    runner.clean_book(project.book)
    assert project.book_files() == ["appendix/b.ipynb", "intro.md"]
    assert hand_written.exists() and not (project.book / "_build").exists()

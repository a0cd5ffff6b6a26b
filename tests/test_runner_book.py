"""Re-running as an analyst: variants in their own tree, -p overrides, values checked against the data,
one profile at a time, run keys on the files a notebook read, and stamps that make a no-change build fast.

Planning and bookkeeping are tested directly in a throw-away project; two kernels start (the test of
run keys on recorded reads).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alliance_study import __version__
from alliance_study.book import build, runner, values
from alliance_study.book.runner import PipelineError
from alliance_study.cli import app
from alliance_study.data import reads, stamps
from alliance_study.data.registry import Registry, RegistryEntry, sha256_file, write_registry

SHARED = {"start_year": 2006, "end_year": 2025, "window_start": 2013, "window_end": 2016, "seed": 1,
          "n_boot": 99, "n_permutations": 99}


def make_notebook(path: Path, parameters: str, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), cell,
                *(nbformat.v4.new_code_cell(c) for c in cells)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.book = root / "book"
        self.data = root / "data"
        self.lib = root / "lib"
        for folder in (self.book, self.data, self.lib):
            folder.mkdir(parents=True)
        (self.lib / "module.py").write_text("VALUE = 1\n")
        # A panel covering 2006-2025 (value checks read its year range) and a district list.
        pd.DataFrame({"district_code": ["0640011"] * 20, "year": range(2006, 2026)}).to_parquet(
            self.data / "district_year.parquet")
        pd.DataFrame({"district_code": ["0640011", "0020011"]}).to_parquet(
            self.data / "alliance_designations.parquet")

    def config(self, body: dict, name: str = "params.yml") -> runner.RunConfig:
        path = self.root / name
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        return runner.load_config(path, project_dir=self.root, book_dir=self.book)

    def plan(self, config: runner.RunConfig, **kwargs) -> list[runner.Run]:
        kwargs.setdefault("book_dir", self.book)
        return runner.plan_runs(config, project_dir=self.root, data_dir=self.data, **kwargs)

    def run(self, config: runner.RunConfig, **kwargs) -> dict[str, str]:
        kwargs.setdefault("book_dir", self.book)
        results = runner.run_pipeline(config, project_dir=self.root, data_dir=self.data, library_dir=self.lib,
                                      staging_root=self.root, jobs=2, **kwargs)
        return {r.run.label: r.status for r in results}


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


def chapters(project: Project) -> runner.RunConfig:
    make_notebook(project.root / "notebooks" / "04_improve.ipynb",
                  "data_dir = None\nwindow_start = 2013\nwindow_end = 2016\nseed = 1\nn_boot = 99\ntop_n = 8")
    make_notebook(project.root / "notebooks" / "05_plans.ipynb",
                  "window_start = 2013\nwindow_end = 2016\nplan_start_year = 2013\nplan_end_year = 2018")
    make_notebook(project.root / "notebooks" / "10_profile.ipynb", "district_code = 'x'\nstart_year = 2006")
    return project.config({"defaults": SHARED, "notebooks": [
        {"name": "improvement", "source": "notebooks/04_improve.ipynb",
         "output": "chapters/improvement.ipynb"},
        {"name": "plans", "source": "notebooks/05_plans.ipynb", "output": "chapters/plans.ipynb",
         "parameters": {"plan_end_year": 2018}},
        {"name": "profile", "source": "notebooks/10_profile.ipynb",
         "output": "profiles/{district_code}.ipynb", "foreach": {"district_code": "alliance_districts"}},
    ]})


# ------------------------------------------------------------------------------------------ overrides


def test_overrides_follow_the_file_rules(project):
    config = chapters(project)
    shared = values.apply_overrides(config, values.parse_overrides(["window_end=2018"]))
    planned = {r.name: r.parameters for r in project.plan(shared)}
    assert planned["improvement"]["window_end"] == planned["plans"]["window_end"] == 2018
    own = values.apply_overrides(config, values.parse_overrides(["top_n=5", "plans.plan_end_year=2017"]))
    planned = {r.name: r.parameters for r in project.plan(own)}
    assert planned["improvement"]["top_n"] == 5 and planned["plans"]["plan_end_year"] == 2017
    assert own.overrides == {"top_n": 5, "plans.plan_end_year": 2017}
    lists = values.parse_overrides(["weights=[1, 2]", "name=abc", "flag=true"])
    assert lists == {"weights": [1, 2], "name": "abc", "flag": True}


@pytest.mark.parametrize(("item", "message"), [
    ("end_yaer=2024", "no notebook declares a parameter 'end_yaer'"),
    ("n_perm=50", "'n_perm' duplicates the shared setting n_permutations"),
    ("plans.window_end=2018", "window_end is a shared setting; set it for every notebook"),
    ("nope.top_n=3", "no notebook named 'nope'"),
    ("plans.top_n=3", "notebook 'plans' does not declare 'top_n'"),
    ("seed=-1", r"seed = -1: expected a whole number of at least 0"),
    ("n_boot=many", r"n_boot = 'many': expected a whole number"),
    ("window_end", "expected NAME=VALUE"),
])
def test_bad_overrides_are_refused(project, item, message):
    config = chapters(project)
    with pytest.raises(PipelineError, match=message):
        values.apply_overrides(config, values.parse_overrides([item]))


# ------------------------------------------------------------------------------------------ values vs data


@pytest.mark.parametrize(("item", "message"), [
    ("window_end=2030", r"window_end = 2030 is outside the years the data cover, 2006-2025"),
    ("start_year=1999", r"start_year = 1999 is outside the years the data cover, 2006-2025"),
    ("plans.plan_end_year=2031", r"plan_end_year = 2031 is outside"),
    ("window_start=2016", r"window_start = 2016 must be before window_end = 2016"),
    ("plans.plan_start_year=2019", r"plan_start_year = 2019 must be no later than plan_end_year = 2018"),
])
def test_values_outside_the_data_fail_before_anything_runs(project, item, message):
    config = values.apply_overrides(chapters(project), values.parse_overrides([item]))
    with pytest.raises(PipelineError, match=message):
        values.check_values(project.plan(config), project.data)
    with pytest.raises(PipelineError, match=message):  # run checks the same before any kernel starts
        project.run(config)


def test_data_years_reads_the_panel(project):
    assert values.data_years(project.data) == (2006, 2025)
    assert values.data_years(project.root / "nowhere") is None


# ------------------------------------------------------------------------------------------ --only


def test_only_one_profile_and_non_alliance_codes_are_refused(project):
    config = chapters(project)
    runs = project.plan(config, only="profile:0640011")
    assert [r.label for r in runs] == ["profile[district_code=0640011]"]
    assert [r.label for r in project.plan(config, only=["improvement", "profile:0020011"])] == [
        "improvement", "profile[district_code=0020011]"]
    with pytest.raises(PipelineError, match=r"'0640012' is not an Alliance District"):
        project.plan(config, only="profile:0640012")
    with pytest.raises(PipelineError, match="needs a notebook with one foreach list"):
        project.plan(config, only="plans:2013")


# ------------------------------------------------------------------------------------------ output trees


def test_a_variant_writes_its_own_tree_and_never_the_main_book(project):
    (project.root / "params").mkdir()
    make_notebook(project.root / "notebooks" / "01_a.ipynb", "start_year = 2006")
    body = {"defaults": SHARED, "notebooks": [
        {"name": "a", "source": "notebooks/01_a.ipynb", "output": "chapters/a.ipynb"}]}
    main = project.config(body, "params/main.yml")
    assert build.variant_name(main, project.root) is None
    assert build.target_book_dir(main, project_dir=project.root) == project.root / "book"
    other = project.config(body, "other.yml")
    assert build.target_book_dir(other, project_dir=project.root) == project.root / "variants" / "other"
    overridden = values.apply_overrides(main, {"end_year": 2024})
    assert build.variant_name(overridden, project.root) == "main+end_year=2024"
    assert build.target_book_dir(main, variant="mine", project_dir=project.root).name == "mine"
    with pytest.raises(PipelineError, match="variant name"):
        build.target_book_dir(main, variant="../up", project_dir=project.root)

    # The variant tree gets the book's prose and configuration, not the main book's executed notebooks.
    (project.book / "_config.yml").write_text("title: The study\n")
    (project.book / "intro.md").write_text("# Intro\n")
    make_notebook(project.book / "chapters" / "a.ipynb", "start_year = 2006")
    (project.book / "_build" / "html").mkdir(parents=True)
    (project.book / "_build" / "html" / "index.html").write_text("main")
    tree = build.prepare_book_tree(project.root / "variants" / "other", other, source_book=project.book,
                                    title_note="variant other")
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert files == ["_config.yml", "intro.md"]
    assert yaml.safe_load((tree / "_config.yml").read_text())["title"] == "The study (variant other)"
    plan = project.plan(other, book_dir=tree)
    assert plan[0].output == tree / "chapters" / "a.ipynb"


# ------------------------------------------------------------------------------------------ run keys


def test_changing_a_file_reruns_only_the_notebooks_that_read_it(project):
    """E.g. holding back an absenteeism file changes the tables that hold absenteeism: only their readers
    re-run."""
    pd.DataFrame({"x": [1]}).to_parquet(project.data / "absenteeism.parquet")
    pd.DataFrame({"x": [2]}).to_parquet(project.data / "finance.parquet")
    read = "data_dir = None", "from alliance_study.data import load\nload.load_table('{}', data_dir)"
    make_notebook(project.root / "notebooks" / "a.ipynb", read[0], read[1].format("absenteeism"))
    make_notebook(project.root / "notebooks" / "f.ipynb", read[0], read[1].format("finance"))
    config = project.config({"notebooks": [
        {"name": "absent", "source": "notebooks/a.ipynb", "output": "chapters/absent.ipynb"},
        {"name": "money", "source": "notebooks/f.ipynb", "output": "chapters/money.ipynb"}]})
    assert project.run(config) == {"absent": "executed", "money": "executed"}
    assert project.run(config) == {"absent": "skipped", "money": "skipped"}

    pd.DataFrame({"x": [1, 3]}).to_parquet(project.data / "absenteeism.parquet")
    stale = runner.stale_runs(project.plan(config), library_dir=project.lib, project_dir=project.root,
                              book_dir=project.book)
    assert [r.name for r in stale] == ["absent"]
    # The cache index and the notebooks' own metadata agree.
    assert [r.name for r in runner.stale_runs(project.plan(config), library_dir=project.lib,
                                              project_dir=project.root)] == ["absent"]
    before = (project.book / "chapters" / "money.ipynb").read_bytes()
    assert project.run(config) == {"absent": "executed", "money": "skipped"}
    assert (project.book / "chapters" / "money.ipynb").read_bytes() == before


def test_reads_are_recorded_only_inside_a_runner_kernel(tmp_path, monkeypatch):
    sidecar = tmp_path / "reads.txt"
    monkeypatch.delenv(reads.READS_ENV, raising=False)
    reads.record(tmp_path / "a.csv")
    assert not sidecar.exists()
    monkeypatch.setenv(reads.READS_ENV, str(sidecar))
    reads.record(tmp_path / "b.csv")
    reads.record(tmp_path / "b.csv")
    reads.record(tmp_path / "a.csv")
    assert reads.recorded(sidecar) == [tmp_path / "a.csv", tmp_path / "b.csv"]


def test_cache_index_stands_in_only_for_the_output_it_describes(project):
    make_notebook(project.root / "notebooks" / "01_a.ipynb", "start_year = 2006")
    config = project.config({"defaults": SHARED, "notebooks": [
        {"name": "a", "source": "notebooks/01_a.ipynb", "output": "chapters/a.ipynb"}]})
    [run] = project.plan(config)
    context = runner.KeyContext.compute(project.lib)
    key = runner.run_key(run, context)
    make_notebook(run.output, "start_year = 2006")
    nb = nbformat.read(run.output, as_version=4)
    nb.metadata["alliance_study"] = {"run_key": key, "reads": {}}
    nbformat.write(nb, run.output)
    assert runner.is_current(run, context, project_dir=project.root)
    # A cache entry for another file state is ignored; the notebook's own record decides.
    cache = {run.output_rel: {"key": "other", "reads": {}, "output_state": [1, 1]}}
    assert runner.is_current(run, context, project_dir=project.root, cache=cache)
    stat = run.output.stat()
    cache[run.output_rel]["output_state"] = [stat.st_size, stat.st_mtime_ns]
    assert not runner.is_current(run, context, project_dir=project.root, cache=cache)


# ------------------------------------------------------------------------------------------ stamps


def _registry(tmp_path: Path) -> tuple[Registry, Path]:
    raw = tmp_path / "raw"
    (raw / "fam").mkdir(parents=True)
    entries = []
    for name, text in (("a.csv", "x\n1\n"), ("b.csv", "y\n2\n")):
        path = raw / "fam" / name
        path.write_text(text)
        entries.append(RegistryEntry(path=f"fam/{name}", family="fam", sha256=sha256_file(path),
                                     bytes=path.stat().st_size, upstream_url="", license="", exact_copy="yes",
                                     measure="", years=""))
    write_registry(entries, raw / "registry.csv")
    return Registry.load(raw / "registry.csv"), raw / "registry.csv"


def test_fetch_stamp_matches_until_the_registry_or_a_file_changes(tmp_path):
    registry, registry_path = _registry(tmp_path)
    assert not stamps.fetch_is_current(registry, registry_path)
    stamps.stamp_fetch(registry, registry_path)
    assert stamps.fetch_is_current(registry, registry_path)
    target = registry.local_path(registry.entries[0])
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert not stamps.fetch_is_current(registry, registry_path)
    stamps.stamp_fetch(registry, registry_path)
    registry_path.write_text(registry_path.read_text() + "\n")
    assert not stamps.fetch_is_current(Registry.load(registry_path), registry_path)
    stamps.stamp_fetch(registry, registry_path)
    registry.local_path(registry.entries[1]).unlink()
    assert not stamps.fetch_is_current(registry, registry_path)


def test_build_stamp_matches_until_inputs_source_or_outputs_change(tmp_path):
    registry, registry_path = _registry(tmp_path)
    package = tmp_path / "pkg"
    (package / "data").mkdir(parents=True)
    (package / "data" / "panel.py").write_text("A = 1\n")
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("")
    out = tmp_path / "processed"
    out.mkdir()
    (out / "district_year.parquet").write_bytes(b"panel")
    assert not stamps.build_is_current(registry, registry_path, out, package)
    stamps.stamp_build(registry, registry_path, out, ["district_year.parquet"], package)
    assert stamps.build_is_current(registry, registry_path, out, package)
    (package / "data" / "panel.py").write_text("A = 2\n")
    assert not stamps.build_is_current(registry, registry_path, out, package)
    stamps.stamp_build(registry, registry_path, out, ["district_year.parquet"], package)
    (out / "district_year.parquet").unlink()
    assert not stamps.build_is_current(registry, registry_path, out, package)
    (out / "district_year.parquet").write_bytes(b"panel")
    stamps.stamp_build(registry, registry_path, out, ["district_year.parquet"], package)
    registry.local_path(registry.entries[0]).write_text("x\n9\n")
    assert not stamps.build_is_current(registry, registry_path, out, package)


def test_book_stamp_matches_until_a_source_or_an_option_changes(tmp_path):
    book = tmp_path / "book"
    (book / "_build" / "html").mkdir(parents=True)
    (book / "intro.md").write_text("# Intro\n")
    (book / "_build" / "html" / "index.html").write_text("<html>")
    options = {"strict": True, "all": False}
    assert not build.book_is_current(book, options)
    build.stamp_book(book, options)
    assert build.book_is_current(book, options)
    assert not build.book_is_current(book, {"strict": False, "all": False})
    (book / "intro.md").write_text("# Intro, changed\n")
    assert not build.book_is_current(book, options)


# ------------------------------------------------------------------------------------------ command line


def test_version_and_run_help_lists_notebooks_and_parameters():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"alliance-study {__version__}"
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    config = runner.load_config(runner.DEFAULT_PARAMS)
    for entry in config.notebooks:
        assert f"{entry.name} ({entry.source.name})" in result.output
    assert "window_end=2016" in result.output and "district_code=<each alliance_districts>" in result.output


@pytest.mark.realdata
def test_cli_refuses_an_out_of_range_value_before_running(tmp_path):
    if not (runner.paths.PROCESSED_DIR / "district_year.parquet").exists():
        pytest.skip("needs the built panel (alliance-study build-panel)")
    before = sorted(runner.BOOK_DIR.rglob("*.ipynb"))
    result = CliRunner().invoke(app, ["run", "-p", "window_end=2030"])
    assert result.exit_code == 1
    lo, hi = values.data_years(runner.paths.PROCESSED_DIR)
    assert f"window_end = 2030 is outside the years the data cover, {lo}-{hi}" in result.output
    assert sorted(runner.BOOK_DIR.rglob("*.ipynb")) == before
    assert not (build.VARIANTS_DIR / "main+window_end=2030").exists()


def test_cache_file_records_reads_and_output_state(project):
    """The cache index is JSON with the format number; an index of another format is ignored."""
    (project.book / runner.CACHE_FILE).write_text(json.dumps({"format": 1, "runs": {"x": {}}}))
    assert runner._read_cache(project.book) == {}


def test_a_reused_kernel_is_reset_between_notebooks_and_gives_the_same_file(project):
    """Kernels are kept per worker; nothing one notebook leaves behind reaches the next one."""
    make_notebook(project.root / "notebooks" / "01_leak.ipynb", "n = 1",
                  "leaked = n\nimport os, warnings\nimport matplotlib.pyplot as plt\n"
                  "plt.rcParams['lines.linewidth'] = 9\nplt.figure()\nwarnings.simplefilter('ignore')\n"
                  "warnings.warn('first')\nos.chdir('/')")
    make_notebook(project.root / "notebooks" / "02_probe.ipynb", "n = 1",
                  "import os, warnings\nimport matplotlib.pyplot as plt\n"
                  "print('leaked' in globals(), plt.rcParams['lines.linewidth'], len(plt.get_fignums()),\n"
                  "      os.path.basename(os.getcwd()))",
                  "warnings.warn('probe warning')")
    config = project.config({"notebooks": [
        {"name": "leak", "source": "notebooks/01_leak.ipynb", "output": "chapters/leak.ipynb"},
        {"name": "probe", "source": "notebooks/02_probe.ipynb", "output": "chapters/probe.ipynb"}]})
    kwargs = {"project_dir": project.root, "book_dir": project.book, "data_dir": project.data,
              "library_dir": project.lib, "staging_root": project.root, "jobs": 1}
    runner.run_pipeline(config, reuse_kernels=True, **kwargs)
    probe = project.book / "chapters" / "probe.ipynb"
    reused = probe.read_bytes()
    nb = nbformat.read(probe, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs[0]["text"].split() == ["False", "1.5", "0", "notebooks"]
    assert "probe warning" in outputs[1]["text"] and outputs[1]["name"] == "stderr"
    # No trace of the reset cell; execution counts start at 1 as in a fresh kernel.
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2, 3]
    runner.run_pipeline(config, reuse_kernels=False, force=True, only="probe", **kwargs)
    assert probe.read_bytes() == reused


def test_notebooks_read_data_only_through_the_library():
    """Run keys cover the files recorded by the data layer; a direct read in a notebook would be missed."""
    direct = ("read_csv(", "read_parquet(", "read_excel(", "read_json(", "open(", "read_text(", "read_bytes(",
              "json.load(", "np.load", "loadtxt(")
    for source in sorted((runner.paths.PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                found = [d for d in direct if d in cell.source]
                assert not found, f"{source.name}: reads a file directly ({found}); use data.load"


def test_run_keys_cover_the_library_modules_a_notebook_imports():
    """A change to the impact chapter's modules re-runs the impact notebook, not the profiles."""
    def closure(name: str) -> set[str]:
        source = runner.paths.PROJECT_ROOT / "notebooks" / name
        return runner.module_closure(runner._code_of(source), runner.LIBRARY_DIR)

    impact, profile = closure("08_estimate_impact.ipynb"), closure("10_profile_district.ipynb")
    assert {"__init__.py", "data/load.py", "chapters/display.py", "book/record.py"} <= impact & profile
    assert "analysis/impact/__init__.py" in impact
    assert not any(m.startswith("analysis/impact/") for m in profile)
    # Lazy imports inside functions and relative imports are followed.
    assert runner.module_closure(["def f():\n    from alliance_study.data import reads"],
                                 runner.LIBRARY_DIR) == {"__init__.py", "data/__init__.py", "data/reads.py"}

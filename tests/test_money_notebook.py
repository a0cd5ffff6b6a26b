"""The money chapter (notebooks/09_trace_money.ipynb) runs on the real build and says what the library
computes.

The notebook is executed with papermill against the panel built from the real raw files; every glued name
must resolve, no cell may error or print, and the glued verdicts and numbers must equal
:mod:`alliance_study.chapters.money` run on the same build.
"""

from __future__ import annotations

import nbformat
import pytest
from _notebooks import NOTEBOOK_DIR, Job, error_outputs, execute, glued_values, referenced_glue, stray_outputs

from alliance_study.book.runner import declared_parameters
from alliance_study.chapters import money as chapter

SOURCE = NOTEBOOK_DIR / "09_trace_money.ipynb"

pytestmark = pytest.mark.realdata


def test_source_skeleton():
    nb = nbformat.read(SOURCE, as_version=4)
    assert nb.cells[0].source.startswith("(money)=\n# ") and "What this chapter answers" in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "record.run_record(" in code[-1].source
    params = declared_parameters(SOURCE)
    assert params["data_dir"] is None and (params["start_year"], params["end_year"]) == (2006, 2025)


@pytest.fixture(scope="module")
def executed(real_build, tmp_path_factory):
    data_dir = real_build[1]
    out = tmp_path_factory.mktemp("executed") / "money.ipynb"
    execute([Job(SOURCE, out, {"data_dir": str(data_dir)})])
    return out, real_build[0]


def test_chapter_runs_and_every_glue_resolves(executed):
    path, _ = executed
    values = glued_values(path)
    assert not referenced_glue(path) - set(values)
    assert error_outputs(path) == [] and stray_outputs(path) == []


def test_glued_verdicts_match_the_library(executed):
    path, build = executed
    values = glued_values(path)
    r = chapter.compute(build.panel, build.extras["cpi"], build.extras["revenue_checks"])
    facts = chapter.facts(r)
    for name in ("crowd_out_verdict", "crowd_out_sentence", "pass_through_sentence", "dose_sentence",
                 "first_stage_f", "pt_trends", "co_trends_ci", "n_alliance"):
        assert str(values[name]).strip("'\"") == facts[name], name

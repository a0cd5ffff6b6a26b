"""The improvement chapter (notebooks/04_rank_improvers.ipynb) runs on the real build and says what the
library computes.

The panel is built from the real raw files into a temporary directory (as in test_notebooks.py), the
notebook is executed with papermill against it with a small ``n_boot`` (speed; the bootstrap's own tests are
in test_improvement.py), and the glued numbers are compared with :mod:`alliance_study.analysis.improvement`
run on the
same panel.
"""

from __future__ import annotations

import nbformat
import pytest
from _notebooks import NOTEBOOK_DIR, Job, error_outputs, execute, glued_values, referenced_glue, stray_outputs

from alliance_study.analysis import improvement
from alliance_study.book.runner import declared_parameters
from alliance_study.chapters import improvement as chapter

SOURCE = NOTEBOOK_DIR / "04_rank_improvers.ipynb"
N_BOOT = 200
N_NOISE = 3

pytestmark = pytest.mark.realdata


def test_source_skeleton():
    nb = nbformat.read(SOURCE, as_version=4)
    assert nb.cells[0].source.startswith("# ") and "What this chapter answers" in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "record.run_record(" in code[-1].source
    for cell in code:
        if "glue_figure" in cell.source or "plt.subplots" in cell.source:
            assert "hide-input" in cell.metadata.get("tags", [])
    params = declared_parameters(SOURCE)
    assert params["data_dir"] is None
    # Not start_year/end_year: params/main.yml passes those defaults (2006, 2025) to every notebook that
    # declares them, which would silently replace the Neag window.
    assert "start_year" not in params and "end_year" not in params
    assert (params["window_start"], params["window_end"]) == (2013, 2016)
    assert params["later_windows"] == [[2016, 2019], [2019, 2025, 2]]
    # Thin: no code cell over 16 lines (the parameters cell included), no prose built in the notebook.
    assert max(len(c.source.splitlines()) for c in code) <= 16
    assert not any(" if " in c.source for c in code)


@pytest.fixture(scope="module")
def executed(real_build, tmp_path_factory):
    data_dir = real_build[1]
    out = tmp_path_factory.mktemp("executed") / "improvement.ipynb"
    execute([Job(SOURCE, out, {"data_dir": str(data_dir), "n_boot": N_BOOT, "n_noise_panels": N_NOISE})])
    return out, data_dir


def test_chapter_runs_and_every_glue_resolves(executed):
    path, _ = executed
    values = glued_values(path)
    assert not referenced_glue(path) - set(values)
    assert error_outputs(path) == []
    assert stray_outputs(path) == []


def test_chapter_numbers_match_the_library(executed):
    from alliance_study.data import load

    path, data_dir = executed
    values = glued_values(path)
    params = declared_parameters(SOURCE)
    panel = improvement.prepare_panel(load.load_panel(data_dir))
    spec = improvement.ImprovementSpec(
        indicators=tuple(params["indicators"]), weights=params["weights"], start_year=params["window_start"],
        end_year=params["window_end"], peer_group=params["peer_group"],
        alliance_cohorts=tuple(params["alliance_cohorts"]), top_n=params["top_n"])
    result = improvement.estimate_improvement(panel, spec)
    boot = improvement.bootstrap_improvement(panel, spec, n_boot=N_BOOT, seed=params["seed"], result=result)
    assert str(values["n_ranked"]) == "30"
    names = result.composite.set_index("district_code")["district_name"].map(chapter.short_name)
    assert str(values["top_names"]).strip("'") == chapter.name_list([names[c] for c in result.top()])
    assert str(values["expected_in_top"]).strip("'") == f"{boot.expected_true_in_top:.1f}"
    assert str(values["achievement_baseline_years"]).strip("'") == "2011-2013"

"""The impact chapter (notebooks/08_estimate_impact.ipynb) runs on the real build and says what the library
computes.

The panel is built from the real raw files into a temporary directory (as in test_notebooks.py), the
notebook is executed with papermill against it with few permutations and bootstrap draws (speed; the
inference methods have their own tests in test_impact.py), and glued numbers are compared with
:mod:`alliance_study.analysis.impact` run on the same panel.
"""

from __future__ import annotations

import nbformat
import pytest
from _notebooks import NOTEBOOK_DIR, Job, error_outputs, execute, glued_values, referenced_glue, stray_outputs

from alliance_study.analysis import impact
from alliance_study.book.runner import declared_parameters
from alliance_study.chapters import impact as chapter

SOURCE = NOTEBOOK_DIR / "08_estimate_impact.ipynb"
FAST = {"n_permutations": 300, "n_boot": 299}

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
    # start_year/end_year are the whole data window and match params/main.yml's defaults (2006, 2025); the
    # main (pre-pandemic) window has its own parameter, so the defaults cannot silently extend it.
    assert (params["start_year"], params["end_year"], params["main_end_year"]) == (2006, 2025, 2019)
    assert params["n_permutations"] >= 10_000 and params["n_boot"] >= 9_999


@pytest.fixture(scope="module")
def executed(real_build, tmp_path_factory):
    data_dir = real_build[1]
    out = tmp_path_factory.mktemp("executed") / "impact.ipynb"
    execute([Job(SOURCE, out, {"data_dir": str(data_dir), **FAST})])
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
    panel = impact.add_analysis_columns(load.load_panel(data_dir))
    designs = impact.standard_designs(covariates=params["covariates"], ri_lowest_k=params["ri_lowest_k"],
                                      baseline_measure=params["baseline_measure"],
                                      baseline_years=tuple(params["baseline_years"]))
    for outcome in ("seda_gcs_eb", "grad_rate"):
        sample = impact.build_sample(panel, outcome, designs["main"], params["start_year"],
                                     params["main_end_year"])
        # The headline is the event study's post-period average; the static coefficient is reported beside.
        post = impact.twfe_event_study(sample, outcome).post_average()
        did = impact.twfe_did(sample, outcome)
        d = chapter.outcome_digits(outcome)
        assert values[f"main_{outcome}_estimate"] == f"{post['estimate']:,.{d}f}"
        assert values[f"main_{outcome}_mde"] == f"{post['mde']:,.{d}f}"
        assert values[f"main_{outcome}_p_cluster"] == chapter.format_p(post["p_value"])
        assert values[f"main_{outcome}_static_estimate"] == f"{did.estimate:,.{d}f}"
    assert values["n_2013"] == "30"
    # The near-miss group is the DPI one (never-designated town districts ranked just above the cut-off).
    near_miss = chapter.dpi_near_miss(load.load_table("cmt_capt_by_grade", data_dir), panel)
    assert values["near_miss_n"] == str(len(near_miss)) and 3 <= len(near_miss) <= 15
    assert values["jm_benchmark"] == "0.0316"

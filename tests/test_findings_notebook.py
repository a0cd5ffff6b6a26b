"""The findings page runs on the real build: every glue it references exists, numbers match the library."""

from __future__ import annotations

import re

import nbformat
import pytest
from _notebooks import NOTEBOOK_DIR, Job, error_outputs, execute, glued, glued_values, stray_outputs

from alliance_study.analysis import describe
from alliance_study.chapters import display

pytestmark = pytest.mark.realdata

SOURCE = NOTEBOOK_DIR / "00_summarize_findings.ipynb"


@pytest.fixture(scope="module")
def executed(real_build, tmp_path_factory):
    _, data_dir = real_build
    out = tmp_path_factory.mktemp("findings") / "findings.ipynb"
    # Few draws: the test checks the wiring and the money numbers, not the Monte Carlo precision.
    execute([Job(SOURCE, out, {"data_dir": str(data_dir), "n_boot": 60})])
    return out


def test_runs_clean_and_every_local_glue_exists(executed):
    assert error_outputs(executed) == [] and stray_outputs(executed) == []
    values = glued_values(executed)
    cells = nbformat.read(executed, as_version=4).cells
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    local = set(re.findall(r"\{glue:text\}`([^`:]+)`", text))
    assert local and local <= set(values), sorted(local - set(values))
    # Cross-page references name the chapters' glue keys (checked against those chapters by the book build).
    assert set(re.findall(r"`(chapters/[a-z_]+\.ipynb)::", text)) == {
        "chapters/impact.ipynb", "chapters/plans.ipynb", "chapters/impact_sensitivity.ipynb",
        "chapters/impact_robustness.ipynb", "chapters/impact_designs.ipynb",
        "chapters/impact_synthetic.ipynb"}


def test_money_numbers_come_from_the_panel(executed, real_build):
    build, _ = real_build
    values = glued_values(executed)
    funding = describe.alliance_funding(build.panel, 2006, 2025)
    paid = funding.loc[funding["alliance_dollars"].fillna(0) > 0]
    assert values["money_total"] == display.format_money(paid["alliance_dollars"].sum())
    assert values["money_first_fy"] == "2013" and values["money_first"] == "$39.5 million"
    assert values["money_total"].endswith("billion") and "," not in values["money_first_fy"]
    per_pupil = describe.alliance_dollars_per_pupil(build.panel, 2006, 2025).iloc[-1]
    assert values["pp_last"] == display.format_per_pupil(per_pupil["dollars_per_pupil"])
    assert values["pp_year"] == str(int(per_pupil["year"]))


def test_money_finding_comes_from_the_money_chapters_estimates(executed, real_build):
    from alliance_study.chapters import findings, money
    from alliance_study.data import load

    build, data_dir = real_build
    values = glued_values(executed)
    results = money.compute(build.panel, load.load_table("cpi", data_dir), start_year=2006, end_year=2025)
    expected = findings.money_use_facts(results)
    assert {k: values[k] for k in expected} == expected
    assert "(95% interval" in values["money_pass_through"] and "(95% interval" in values["money_crowd_out"]


def test_profiles_table_lists_every_alliance_district(executed, real_build):
    build, _ = real_build
    md = glued(executed)["tbl_profiles"]["text/markdown"]
    rows = [line for line in md.splitlines() if line.startswith("| {doc}")]
    n_alliance = build.panel.loc[build.panel["alliance_cohort"].notna(), "district_code"].nunique()
    assert len(rows) == n_alliance == 36 and "<profiles/" in rows[0]
    assert sum("not ranked" not in r for r in rows) == 30  # the first cohort is ranked
    cohorts = {r.split("|")[2].strip() for r in rows}
    assert cohorts == {"2013", "2018", "2023"}  # years without thousands separators

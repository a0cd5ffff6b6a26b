"""The public plan facts: the reader (reader contract: column map, errors naming file/row/column, row
accounting) and their coding with the toolkit."""

from __future__ import annotations

import pandas as pd
import pytest

from alliance_study.analysis.plans import codebook, link, metrics, public
from alliance_study.data.sources import plans as plan_source
from alliance_study.data.sources.common import SourceReport
from alliance_study.errors import RawDataError

HEADER = (
    "district,plan_year,domain,intervention,capacity_building_coupled,monitoring_implementation,"
    "monitoring_outcome,evidence_quote,source_url\n"
)
ROW = (
    "Hartford,2012-13,Year-1,Expand K-3 literacy interventions,not stated in readable text,"
    "not stated in readable text,not stated in readable text,expand literacy interventions,"
    "https://example.org/a\n"
)


@pytest.fixture(scope="module")
def book():
    return codebook.load_codebook()


@pytest.fixture(scope="module")
def facts(registry, crosswalk):
    return plan_source.load(registry, crosswalk)


def test_reader_reads_every_fact(facts):
    report = facts.reports[0]
    assert (report.rows_read, report.rows_kept) == (33, 33)
    table = facts.district
    assert list(table.columns) == list(plan_source.OUTPUT_COLUMNS)
    assert table["district_name"].nunique() == 7
    assert table.loc[table["district_name"] == "Hartford", "district_code"].unique().tolist() == ["0640011"]
    assert table["year"].min() == 2013 and table["year"].max() == 2018
    assert table["source_line"].tolist() == list(range(2, 35))


@pytest.mark.parametrize(
    ("text", "row", "column", "message"),
    [
        (HEADER.replace("domain,", "area,"), 1, "area", "unexpected column"),
        (HEADER.replace(",source_url", ""), 1, "source_url", "missing column"),
        (HEADER + ROW.replace("2012-13", "2012-14"), 2, "plan_year", "inconsistent school year"),
        (HEADER + ROW.replace("2012-13", "2012-2013"), 2, "plan_year", "no school year like"),
        (HEADER + ROW.replace("2012-13", "FY2012-13"), 2, "plan_year", "not YYYY-YY"),
        (HEADER + ROW.replace("Hartford", "Hartfort"), 2, "district", "unknown district 'Hartfort'"),
        (HEADER + ROW + ROW.replace(",expand literacy interventions,", ",,"), 3, "evidence_quote", "empty"),
        (HEADER + ROW.replace("https://example.org/a", "example.org/a"), 2, "source_url", "not an http"),
        (HEADER + ROW.replace(",Year-1,", ",Year-1,extra,"), 2, None, "cells but the header"),
    ],
)
def test_reader_errors_name_file_row_and_column(write_raw, crosswalk, text, row, column, message):
    path = write_raw("plans.csv", text)
    with pytest.raises(RawDataError, match=message) as info:
        plan_source.read_plan_facts(
            path, "reference/plan_codes_found.csv", crosswalk, SourceReport("plans", "x")
        )
    assert (info.value.file, info.value.row, info.value.column) == (
        "reference/plan_codes_found.csv",
        row,
        column,
    )


def test_reader_counts_blank_lines(write_raw, crosswalk):
    report = SourceReport("plans", "x")
    out = plan_source.read_plan_facts(
        write_raw("p.csv", HEADER + ROW + "\n" + ROW.replace("K-3", "K-2")), "p.csv", crosswalk, report
    )
    assert len(out) == 2 and report.rows_read == 3 and report.dropped["blank line"] == 1


def test_public_facts_are_coded(facts, book):
    coded = public.code_public_facts(facts.district, book)
    records, coverage = coded.records, coded.coverage
    # Every fact row is mapped; "not stated in readable text" stays missing (blank), never "no".
    assert len(coded.facts) == 33
    assert (
        (records[["coupled_capacity_building", "implementation_measure", "outcome_measure"]] != "no")
        .all()
        .all()
    )
    assert (records["smart_goal"] == "").all()
    assert coverage["status"].value_counts().to_dict() == {"coded": 10, "no readable intervention": 1}
    assert (
        coverage.set_index(["district_name", "plan_year"]).loc[("East Hartford", "2015-16"), "n_codes"] == 0
    )
    # Norwich's 2013-14 facts name family engagement twice: one record, both quotes kept.
    norwich = records.loc[(records.district_name == "Norwich") & (records.plan_year == "2013-14")]
    family = norwich.loc[norwich.intervention == "family_engagement"].iloc[0]
    assert norwich["intervention"].is_unique and " | " in family["evidence_quote"]
    table = metrics.district_metrics(records).set_index("district_name")
    assert table.loc["Norwich", "n_pairs"] == 3 and table["n_pairs"].sum() == 3
    assert table.loc["Norwich", "n_plan_years"] == 4


def test_unmapped_fact_or_value_raises_naming_the_row(facts, book):
    changed = facts.district.copy()
    changed.loc[3, "intervention_text"] = "Something new"
    with pytest.raises(RawDataError, match="PUBLIC_FACT_CODES") as info:
        public.code_public_facts(changed, book)
    assert info.value.row == int(changed.loc[3, "source_line"])
    changed = facts.district.copy()
    changed.loc[0, "outcome_text"] = "no"
    with pytest.raises(RawDataError, match="ATTRIBUTE_TEXT") as info:
        public.code_public_facts(changed, book)
    assert info.value.column == "outcome_text"


def test_link_on_public_coverage_refuses_inference(facts, book):
    records = public.code_public_facts(facts.district, book).records
    table = metrics.district_metrics(records)
    improvement = pd.DataFrame({"district_code": table["district_code"], "score": range(len(table))})
    result = link.link_practices(table, improvement)
    assert not result.supports_inference
    assert result.n_linked == 7 and result.n_district_plan_years == 10 and result.n_plan_years == 6
    assert "cannot support inference" in result.statement and "no p-value" in result.statement
    assert result.table["p_spearman"].isna().all()

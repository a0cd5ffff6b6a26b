"""The codebook loader and the coding-record format: malformed input gets clear errors naming the file, the
row and the column (or the code and the field)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from alliance_study.analysis.plans import codebook, io, records
from alliance_study.analysis.plans.codebook import CodebookError
from alliance_study.analysis.plans.records import CodingRecordError

STATUTE = [
    "tiered_interventions",
    "k3_reading",
    "extended_learning_time",
    "talent_strategy",
    "educator_evaluation",
    "early_childhood",
    "wraparound_services",
    "standards_curriculum",
    "minority_teacher_recruitment",
]
CHECKLIST = [
    "recruitment_pipelines",
    "hiring_placement",
    "professional_development",
    "instructional_coaching",
    "leadership_development",
    "retention",
]


@pytest.fixture(scope="module")
def book():
    return codebook.load_codebook()


# --- codebook ---------------------------------------------------------------------------------------------


def test_packaged_codebook_has_the_required_codes(book):
    assert book.version.count(".") == 2
    assert book.ids("domain")[:4] == ["talent", "academics", "culture_climate", "operations"]
    assert (
        len([c for c in book.codes if c.kind == "domain" and c.extra["domain_kind"] == "priority_2013"]) == 4
    )
    interventions = book.ids("intervention")
    assert [c for c in interventions if book.code(c).extra["source"] == "statute"] == STATUTE
    assert [c for c in interventions if book.code(c).extra["source"] == "talent_checklist"] == CHECKLIST
    assert book.ids("attribute") == list(codebook.ATTRIBUTES)
    assert book.attribute_values("coupled_capacity_building") == ("yes", "no", "intrinsic")
    for code in book.codes:
        assert code.label and code.definition and code.include and code.exclude and code.example
        assert code.keywords or code.id == "other"
    assert book.domains_for("2013-14") == [
        "p2013_ccss_transition",
        "p2013_educator_evaluation",
        "p2013_low_performing_schools",
        "p2013_k3_literacy",
    ]
    assert book.domains_for("2012-13") == [] and book.domains_for("2019-20") is None
    assert len(book.table()) == len(book.codes)
    history = codebook.template_history()
    assert history["plan_year"].tolist() == ["2012-13", "2013-14", "2014-15", "2015-16", "2016-17"]


def _yaml(mutate) -> str:
    data = yaml.safe_load(codebook.default_codebook_path().read_text())
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize(
    ("mutate", "code", "field", "message"),
    [
        (
            lambda d: d["interventions"].append(dict(d["interventions"][0])),
            "tiered_interventions",
            "id",
            "duplicate",
        ),
        (lambda d: d["interventions"][1].pop("definition"), "k3_reading", "definition", "missing required"),
        (lambda d: d["interventions"][1].update(label=""), "k3_reading", "label", "non-empty"),
        (
            lambda d: d["attributes"][1].update(values=[True, False]),
            "implementation_measure",
            "values",
            "quote",
        ),
        (
            lambda d: d["interventions"][0].update(default_domain="finance"),
            "tiered_interventions",
            "default_domain",
            "not a domain",
        ),
        (lambda d: d["domains"][0].update(templates=["2011-12"]), "talent", "templates", "PLAN_TEMPLATES"),
        (lambda d: d["interventions"][0].update(keywords="RTI"), "tiered_interventions", "keywords", "list"),
        (
            lambda d: d["interventions"][0].update(colour="red"),
            "tiered_interventions",
            "colour",
            "unknown field",
        ),
        (lambda d: d.update(version="1.0"), None, "version", "MAJOR.MINOR.PATCH"),
    ],
)
def test_malformed_codebook_names_code_and_field(mutate, code, field, message):
    with pytest.raises(CodebookError, match=message) as info:
        codebook.parse_codebook(_yaml(mutate), display="bad.yml")
    assert info.value.file == "bad.yml"
    assert info.value.code == code and info.value.field == field


def test_codebook_must_keep_the_metric_attributes():
    with pytest.raises(CodebookError, match="smart_goal"):
        codebook.parse_codebook(_yaml(lambda d: d["attributes"].pop()), display="bad.yml")


# --- records ----------------------------------------------------------------------------------------------


def _good() -> dict[str, str]:
    return {
        "district_code": "0640011",
        "district_name": "Hartford",
        "plan_year": "2013-14",
        "domain": "p2013_k3_literacy",
        "intervention": "k3_reading",
        "coder": "AB",
        "coupled_capacity_building": "Yes",
        "implementation_measure": "",
        "outcome_measure": "no",
        "smart_goal": "",
        "evidence_quote": "expand literacy interventions",
        "source_page": "4",
        "source_url": "",
        "notes": "",
        "codebook_version": "",
    }


def test_valid_records_are_normalised(book):
    out = records.validate_records(pd.DataFrame([_good()]), book, districts={"0640011": "Hartford"})
    assert out.loc[0, "coupled_capacity_building"] == "yes"  # case folded
    assert out.loc[0, "plan_year_start"] == 2013
    assert list(out.columns[:-1]) == list(records.RECORD_COLUMNS)


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"intervention": "reading_first"}, "intervention", "unknown intervention code 'reading_first'"),
        ({"plan_year": "2013-2014"}, "plan_year", "bad plan_year"),
        ({"plan_year": "2013-15"}, "plan_year", "bad plan_year"),
        ({"district_code": "0999911"}, "district_code", "unknown district 0999911"),
        ({"district_code": "640011"}, "district_code", "7-digit"),
        ({"evidence_quote": "  "}, "evidence_quote", "missing evidence"),
        ({"coder": ""}, "coder", "empty coder"),
        ({"domain": "finance"}, "domain", "unknown domain code"),
        ({"domain": "p2013_k3_literacy"}, "domain", "not a section of the 2014-15 template"),
        ({"outcome_measure": "maybe"}, "outcome_measure", "unknown value 'maybe'"),
        ({"implementation_measure": "intrinsic"}, "implementation_measure", "unknown value"),
        ({"source_page": ""}, "source_page", "no source"),
        ({"source_page": "p. 4"}, "source_page", "not a number"),
        ({"intervention": "other"}, "notes", "needs a description"),
        ({"codebook_version": "0.9.0"}, "codebook_version", "coded with codebook 0.9.0"),
    ],
)
def test_malformed_record_names_row_and_column(book, change, column, message):
    rows = [_good(), {**_good(), "plan_year": "2014-15", "domain": "", **change}]
    with pytest.raises(CodingRecordError, match=message) as info:
        records.validate_records(pd.DataFrame(rows), book, districts={"0640011"}, display="codes.csv")
    assert info.value.file == "codes.csv"
    assert info.value.row == 3  # header is line 1, the bad record the second data row
    assert info.value.column == column
    assert "file codes.csv, row 3, column" in str(info.value)


def test_duplicates_missing_columns_and_all_problems(book):
    with pytest.raises(CodingRecordError, match="duplicate record") as info:
        records.validate_records(pd.DataFrame([_good(), _good()]), book)
    assert info.value.row == 3
    frame = pd.DataFrame([_good()]).drop(columns="evidence_quote")
    with pytest.raises(CodingRecordError, match="missing required column 'evidence_quote'"):
        records.validate_records(frame, book)
    with pytest.raises(CodingRecordError, match="unknown column 'page'"):
        records.validate_records(pd.DataFrame([{**_good(), "page": "3"}]), book)
    many = [{**_good(), "intervention": "x"}, {**_good(), "plan_year": "13-14", "evidence_quote": ""}]
    problems = records.find_problems(pd.DataFrame(many), book)
    assert [(p.row, p.column) for p in problems] == [
        (2, "intervention"),
        (3, "evidence_quote"),
        (3, "plan_year"),
    ]
    with pytest.raises(CodingRecordError, match=r"and 2 more problem") as info:
        records.validate_records(pd.DataFrame(many), book)
    assert len(info.value.problems) == 3
    assert len(records.problems_frame(problems)) == 3


def test_template_round_trip_and_csv_errors(book, tmp_path):
    path = io.write_template(tmp_path / "codes.csv", book, example=True)
    header = path.read_text().splitlines()[0].split(",")
    assert header == list(records.RECORD_COLUMNS)
    back = io.read_records(path, book, districts={"0640011"})
    assert back.loc[0, "district_code"] == "0640011"  # leading zero kept
    assert back.loc[0, "codebook_version"] == book.version
    # A bad cell in a file: the error names the file, the CSV line and the column.
    text = path.read_text().replace("k3_reading", "k3_reeding")
    bad = tmp_path / "bad.csv"
    bad.write_text(text + "\n")
    with pytest.raises(CodingRecordError) as info:
        io.read_records(bad, book)
    assert (info.value.file, info.value.row, info.value.column) == ("bad.csv", 2, "intervention")
    short = tmp_path / "short.csv"
    short.write_text(",".join(records.RECORD_COLUMNS) + "\n0640011,Hartford\n")
    with pytest.raises(CodingRecordError, match="2 cells but the header has"):
        io.read_records(short, book)
    latin = tmp_path / "latin.csv"
    latin.write_bytes((",".join(records.RECORD_COLUMNS) + "\n").encode() + "caf\xe9".encode("latin-1"))
    with pytest.raises(CodingRecordError, match="UTF-8"):
        io.read_records(latin, book)
    empty = io.write_template(tmp_path / "empty.csv", book, example=False)
    assert io.read_records(empty, book).empty


def test_validated_records_validate_again(book):
    once = records.validate_records(pd.DataFrame([_good()]), book)
    pd.testing.assert_frame_equal(records.validate_records(once, book), once)

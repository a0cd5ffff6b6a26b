"""Coding records: one row per district x plan year x intervention x coder, validated against the codebook.

A coding record says that one coder found one intervention in one district's plan for one plan year, with
the evidence: a verbatim quote, the page and the document. Attributes (coupling with capacity building,
implementation and outcome measures, S.M.A.R.T. goal) are ``yes``, ``no`` (``intrinsic`` for coupling) or
blank, and blank means *missing* (not stated in readable text), never ``no``.

:func:`find_problems` lists every problem; :func:`validate_records` raises :class:`CodingRecordError`
naming the file, the row (the CSV line: header = line 1) and the column of the first one, and returns the
normalised records. Reading and writing CSV files is in :mod:`alliance_study.analysis.plans.io`.

The row checks that a plan file (:mod:`~alliance_study.analysis.plans.planfile`) shares with coding records
live here too, so both word them the same: the header check (:func:`header_problems`), the district code
(:func:`district_problem`), ``other`` without notes (:func:`other_problem`), the cells by column
(:func:`column_cells`, :func:`cell_text`, :func:`file_lines`) and the error naming the first problem
(:class:`ProblemsError`, :func:`raise_first_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from alliance_study.analysis.plans.codebook import ATTRIBUTES, Codebook, plan_year_start
from alliance_study.errors import RawDataError

#: Columns of a coding record, in template order.
RECORD_COLUMNS: tuple[str, ...] = (
    "district_code",
    "district_name",
    "plan_year",
    "domain",
    "intervention",
    "coder",
    "coupled_capacity_building",
    "implementation_measure",
    "outcome_measure",
    "smart_goal",
    "evidence_quote",
    "source_page",
    "source_url",
    "notes",
    "codebook_version",
)

#: Columns that must be present and non-empty in every row. A source (``source_page`` or ``source_url``)
#: is required too, checked separately: web sources have no page, scanned plans may have no URL.
REQUIRED_COLUMNS: tuple[str, ...] = ("district_code", "plan_year", "intervention", "coder", "evidence_quote")

#: Columns that may be absent from a file (they are added empty).
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in RECORD_COLUMNS if c not in REQUIRED_COLUMNS)

#: The unit of a record: unique per file.
RECORD_KEY: tuple[str, ...] = ("district_code", "plan_year", "intervention", "coder")

#: What each column holds (the CSV template's documentation and the coding guide's table).
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "district_code": "7-digit CSDE district code (0640011 = Hartford)",
    "district_name": "district name (for reading; the code is what counts)",
    "plan_year": "school year the plan covers, YYYY-YY (2013-14)",
    "domain": "template section: a domain id of the codebook valid for that plan year, or blank",
    "intervention": "an intervention id of the codebook",
    "coder": "coder's initials or id; 'adjudicated' marks resolved records (see metrics.consensus)",
    "coupled_capacity_building": "yes / no / intrinsic / blank (blank = not stated in readable text)",
    "implementation_measure": "yes / no / blank",
    "outcome_measure": "yes / no / blank",
    "smart_goal": "yes / no / blank",
    "evidence_quote": "shortest verbatim passage supporting the code (required)",
    "source_page": "page of the quote in the plan document (a number or a range like 3-4)",
    "source_url": "URL or file name of the document (source_page or source_url is required)",
    "notes": "free text (required reading for intervention 'other')",
    "codebook_version": "codebook version used (blank, or the version being validated against)",
}

_DISTRICT = re.compile(r"^\d{7}$")
_PAGE = re.compile(r"^\d+(\s*-\s*\d+)?$")


class ProblemsError(RawDataError):
    """A table fails validation; names the file, row and column of the first problem.

    Attributes
    ----------
    problems
        Every problem found (:class:`RecordProblem`), not only the first.
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        problems: list[RecordProblem] | None = None,
    ) -> None:
        super().__init__(file, message, row=row, column=column)
        self.problems = problems or []


class CodingRecordError(ProblemsError):
    """Coding records fail validation; names the file, row and column of the first problem.

    Attributes
    ----------
    problems
        Every problem found (:class:`RecordProblem`), not only the first.
    """


@dataclass(frozen=True)
class RecordProblem:
    """One validation problem: the CSV line (``row``; header = 1), the column, and what is wrong."""

    row: int | None
    column: str | None
    message: str


def file_lines(frame: pd.DataFrame) -> list[int]:
    """File line of each row: the ``_line`` column when the file reader set it, else position + 2."""
    if "_line" in frame.columns:
        return [int(v) for v in frame["_line"]]
    return list(range(2, len(frame) + 2))


def cell_text(value: object) -> str:
    """A cell as stripped text; missing values become the empty string."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def column_cells(frame: pd.DataFrame, columns: Iterable[str]) -> dict[str, list[str]]:
    """Each of ``columns`` as a list of :func:`cell_text` cells; a column the frame lacks is all blank."""
    return {
        c: (frame[c].map(cell_text).tolist() if c in frame.columns else [""] * len(frame)) for c in columns
    }


def header_problems(
    columns: Sequence[str], allowed: Sequence[str], required: Iterable[str], allowed_label: str
) -> list[RecordProblem]:
    """Problems of a header (row 1): each unknown column (the message lists ``allowed`` after
    ``allowed_label``), then each missing required one."""
    problems = [
        RecordProblem(1, c, f"unknown column {c!r}; {allowed_label} {list(allowed)}")
        for c in columns
        if c not in allowed
    ]
    problems += [RecordProblem(1, c, f"missing required column {c!r}") for c in required if c not in columns]
    return problems


def district_problem(code: str, known: set[str] | None) -> str | None:
    """What is wrong with a filled district code (not 7 digits, or not among ``known``), or None."""
    if not _DISTRICT.match(code):
        return f"not a 7-digit district code: {code!r} (keep leading zeros: 0640011)"
    if known is not None and code not in known:
        return f"unknown district {code}"
    return None


def other_problem(row: Mapping[str, str]) -> str | None:
    """Intervention ``other`` must say what it is in ``notes``."""
    if row["intervention"] == "other" and not row["notes"]:
        return "intervention 'other' needs a description in notes"
    return None


def raise_first_problem(
    problems: Sequence[RecordProblem], display: str, error: type[ProblemsError], see: str = ""
) -> None:
    """Raise ``error`` naming the first problem (and how many more, then ``see``); return if none."""
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s){see})" if len(problems) > 1 else ""
        raise error(display, first.message + more, row=first.row, column=first.column, problems=problems)


def template(codebook: Codebook, example: bool = False) -> pd.DataFrame:
    """An empty coding sheet with the :data:`RECORD_COLUMNS` (and one example row if ``example``).

    The example row is a real public plan fact (Hartford's 2012-13 plan, from a district press release), so a
    coder sees what a complete record looks like; delete it before coding.
    """
    rows = []
    if example:
        rows.append(
            {
                "district_code": "0640011",
                "district_name": "Hartford",
                "plan_year": "2012-13",
                "domain": "",
                "intervention": "k3_reading",
                "coder": "example",
                "coupled_capacity_building": "",
                "implementation_measure": "",
                "outcome_measure": "",
                "smart_goal": "",
                "evidence_quote": (
                    "expand literacy interventions for students in kindergarten through grade three"
                ),
                "source_page": "",
                "source_url": "https://www.hartfordschools.org/connecticut-department-of-education-approves-"
                "hartford-public-schools-alliance-district-plan/",
                "notes": "example row: delete before coding",
                "codebook_version": codebook.version,
            }
        )
    return pd.DataFrame(rows, columns=list(RECORD_COLUMNS), dtype=object)


def find_problems(
    records: pd.DataFrame, codebook: Codebook, districts: Mapping[str, str] | Iterable[str] | None = None
) -> list[RecordProblem]:
    """Every problem in a table of coding records, in row order.

    Parameters
    ----------
    records
        Records with (at least) the :data:`REQUIRED_COLUMNS`; a ``_line`` column gives CSV line numbers.
    codebook
        The codebook to validate against.
    districts
        Known district codes (an iterable, or a mapping code -> name); None skips the unknown-district check.

    Returns
    -------
    list of RecordProblem
        Empty when the records are valid. Checked: unknown or missing columns; empty required cells;
        district codes that are not 7 digits or not known; plan years not ``YYYY-YY``; unknown intervention
        or domain ids, and domains not used by that plan year's template (for plan years in
        :data:`~alliance_study.analysis.plans.codebook.PLAN_TEMPLATES`); attribute values outside the
        codebook's;
        a record without source page or URL; a malformed page; ``other`` without notes; a codebook
        version other than the one validating; repeated (district, plan year, intervention, coder).
    """
    # Bookkeeping columns (``_line``) and the column validation adds (``plan_year_start``) may be present.
    columns = [c for c in records.columns if not str(c).startswith("_") and c != "plan_year_start"]
    problems = header_problems(columns, RECORD_COLUMNS, REQUIRED_COLUMNS, "columns are")
    if any(c not in columns for c in REQUIRED_COLUMNS):
        return problems
    known = set(districts) if districts is not None else None
    interventions = set(codebook.ids("intervention"))
    domains = set(codebook.ids("domain"))
    values = {a: set(codebook.attribute_values(a)) for a in ATTRIBUTES}
    seen: dict[tuple[str, ...], int] = {}
    lines = file_lines(records)
    get = column_cells(records, RECORD_COLUMNS)
    for i, line in enumerate(lines):
        row = {c: get[c][i] for c in RECORD_COLUMNS}

        def add(column: str, message: str, line: int = line) -> None:
            problems.append(RecordProblem(line, column, message))

        for c in REQUIRED_COLUMNS:
            if not row[c]:
                what = (
                    "missing evidence: every record needs a verbatim quote"
                    if c == "evidence_quote"
                    else f"empty {c}"
                )
                add(c, what)
        code = row["district_code"]
        if code and (problem := district_problem(code, known)):
            add("district_code", problem)
        plan_year = row["plan_year"]
        year_ok = False
        if plan_year:
            try:
                plan_year_start(plan_year)
                year_ok = True
            except ValueError:
                add(
                    "plan_year",
                    f"bad plan_year {plan_year!r}: expected YYYY-YY with consecutive years (2013-14)",
                )
        if row["intervention"] and row["intervention"] not in interventions:
            add(
                "intervention",
                f"unknown intervention code {row['intervention']!r}; known codes: {sorted(interventions)}",
            )
        if problem := other_problem(row):
            add("notes", problem)
        domain = row["domain"]
        if domain:
            if domain not in domains:
                add("domain", f"unknown domain code {domain!r}; known codes: {sorted(domains)}")
            elif year_ok:
                allowed = codebook.domains_for(plan_year)
                if allowed is not None and domain not in allowed:
                    add(
                        "domain",
                        f"domain {domain!r} is not a section of the {plan_year} template "
                        f"(allowed: {allowed or 'none; leave blank'})",
                    )
        for attribute in ATTRIBUTES:
            value = row[attribute].lower()
            if value and value not in values[attribute]:
                add(
                    attribute,
                    f"unknown value {row[attribute]!r}; allowed: {sorted(values[attribute])} or blank "
                    "(blank = not stated in readable text)",
                )
        if not row["source_page"] and not row["source_url"]:
            add("source_page", "no source: give source_page or source_url")
        if row["source_page"] and not _PAGE.match(row["source_page"]):
            add("source_page", f"page {row['source_page']!r} is not a number or a range like 3-4")
        if row["codebook_version"] and row["codebook_version"] != codebook.version:
            add(
                "codebook_version",
                f"coded with codebook {row['codebook_version']} but validating against {codebook.version}",
            )
        key = tuple(row[c] for c in RECORD_KEY)
        if all(key):
            if key in seen:
                add(
                    "intervention",
                    f"duplicate record {dict(zip(RECORD_KEY, key, strict=True))} (first at row {seen[key]})",
                )
            else:
                seen[key] = line
    return problems


def validate_records(
    records: pd.DataFrame,
    codebook: Codebook,
    districts: Mapping[str, str] | Iterable[str] | None = None,
    display: str = "coding records",
) -> pd.DataFrame:
    """Validate coding records and return them normalised.

    Parameters
    ----------
    records
        Records (e.g. from :func:`alliance_study.analysis.plans.io.read_records`).
    codebook
        Codebook to validate against.
    districts
        Known district codes (or a code -> name mapping); None skips that check.
    display
        Name of the file for error messages.

    Returns
    -------
    pandas.DataFrame
        All :data:`RECORD_COLUMNS` as strings (blank = ``""``; attribute values lower-case), plus
        ``plan_year_start`` (int64), in the input order.

    Raises
    ------
    CodingRecordError
        Naming file, row and column of the first problem; ``.problems`` holds all of them.
    """
    raise_first_problem(find_problems(records, codebook, districts), display, CodingRecordError,
                        "; see .problems or find_problems")
    out = pd.DataFrame(
        {c: (records[c].map(cell_text) if c in records.columns else "") for c in RECORD_COLUMNS},
        index=records.index,
    ).astype(object)
    for attribute in ATTRIBUTES:
        out[attribute] = out[attribute].str.lower()
    out["plan_year_start"] = out["plan_year"].map(plan_year_start).astype("int64")
    return out.reset_index(drop=True)


def problems_frame(problems: Iterable[RecordProblem]) -> pd.DataFrame:
    """Problems as a table (row, column, message) for a coder to work through."""
    return pd.DataFrame(
        [{"row": p.row, "column": p.column, "message": p.message} for p in problems],
        columns=["row", "column", "message"],
    )

"""The planning tool's plan file: a district's own plan, one row per plan-year strategy, checked.

The 2017 Neag/CCER study asked for "a research-based planning tool" that is consistent from year to year and
measures "both the implementation of interventions and their impact on student learning". A *plan file* is
that tool's record: a long table (CSV or .xlsx) with one row per strategy of one plan year, so a new plan
year is appended as new rows under the same header and nothing is ever reformatted.

Columns (:data:`PLAN_COLUMNS`; :data:`PLAN_COLUMN_DESCRIPTIONS` says what each holds):

- the strategy: ``district_code``, ``district_name``, ``plan_year`` (``YYYY-YY``), ``strategy`` (as the plan
  states it), ``domain`` and ``intervention`` (codebook ids);
- its monitoring: ``implementation_measure`` + ``implementation_target`` and ``outcome_measure`` (a student
  outcome) + ``outcome_target``;
- ``capacity_building``: the capacity-building activity the strategy is coupled with;
- ``what_happened``: what the team recorded at the end of the year;
- ``coder`` (who coded the row; two coders' files of one plan give the reliability statistics),
  ``suggested_code``, ``suggestion_sentence`` and ``accepted`` (assisted coding: the keyword coder's
  suggestion, the sentence it matched, and whether the team accepted it), ``notes``, ``codebook_version``.

A *placeholder* row (the template pre-fills one per plan year and template section) has none of the team's
columns filled; it is skipped. The functions here are pure (DataFrames in, DataFrames out); reading and
writing files is :mod:`alliance_study.analysis.plans.io`.

From a plan file to the practice metrics
----------------------------------------
:func:`to_records` turns strategies into coding records (:mod:`~alliance_study.analysis.plans.records`), one
per district, plan year, intervention and coder, so :mod:`~alliance_study.analysis.plans.metrics` and
:mod:`~alliance_study.analysis.plans.reliability` apply unchanged. A team's plan is complete (it is the
plan), so an empty cell means the plan has none of it; the literal :data:`NOT_STATED` says it is unknown
(the worked example built from public summaries uses it). Per strategy:

- ``coupled_capacity_building``: ``intrinsic`` when the intervention is itself capacity building (codebook
  ``capacity_building: true``); else ``yes`` with a coupled activity, ``no`` without, blank if not stated;
- ``implementation_measure`` / ``outcome_measure``: ``yes`` with a measure, ``no`` without, blank if not
  stated;
- ``smart_goal``: ``yes`` when the outcome measure has a target, ``no`` when either is missing, blank when
  the outcome measure or its target is not stated.

Strategies of one plan year that share an intervention code become one record; its attributes take the
strongest value (yes > intrinsic > no > blank), as :mod:`~alliance_study.analysis.plans.public` merges facts.

Why one module of nearly 600 lines: the plan file's columns, their descriptions and every validation
rule are kept together so the error messages and the template cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from alliance_study.analysis.plans.codebook import ATTRIBUTES, Codebook, plan_year_start
from alliance_study.analysis.plans.records import (
    RECORD_COLUMNS,
    ProblemsError,
    RecordProblem,
    cell_text,
    column_cells,
    district_problem,
    file_lines,
    header_problems,
    other_problem,
    raise_first_problem,
    validate_records,
)

#: Columns of a plan file, in template order.
PLAN_COLUMNS: tuple[str, ...] = (
    "district_code",
    "district_name",
    "plan_year",
    "strategy",
    "domain",
    "intervention",
    "implementation_measure",
    "implementation_target",
    "outcome_measure",
    "outcome_target",
    "capacity_building",
    "what_happened",
    "coder",
    "suggested_code",
    "suggestion_sentence",
    "accepted",
    "notes",
    "codebook_version",
)

#: What each column holds (the template's codebook sheet and the planning-tool chapter show it).
PLAN_COLUMN_DESCRIPTIONS: dict[str, str] = {
    "district_code": "7-digit CSDE district code, the same on every row (0640011 = Hartford)",
    "district_name": "district name (for reading; the code is what counts)",
    "plan_year": "school year the plan covers, YYYY-YY (2024-25); append rows for a new year",
    "strategy": "the strategy as the plan states it (required; unique within a plan year)",
    "domain": "template section: a codebook domain id valid for the plan year, or blank",
    "intervention": "the codebook intervention id that fits the strategy (required)",
    "implementation_measure": "how implementation is measured (blank = none; 'not stated' = unknown)",
    "implementation_target": "the implementation target (needs an implementation measure)",
    "outcome_measure": "the student-outcome measure (blank = none; 'not stated' = unknown)",
    "outcome_target": "the student-outcome target (needs an outcome measure)",
    "capacity_building": "the capacity-building activity the strategy is coupled with (blank = none)",
    "what_happened": "what happened by the end of the year (free text)",
    "coder": "who coded the row (blank = 'team'); a second coder's file gives reliability statistics",
    "suggested_code": "assisted coding: the keyword coder's suggested intervention (filled by the tool)",
    "suggestion_sentence": "assisted coding: the sentence the suggestion matched (filled by the tool)",
    "accepted": "assisted coding: yes (the suggestion was taken) / no (rejected) / blank (not reviewed)",
    "notes": "free text (required for intervention 'other')",
    "codebook_version": "codebook version the template was written with",
}

#: Columns the team fills; a row with all of them blank is a placeholder.
TEAM_COLUMNS: tuple[str, ...] = (
    "strategy",
    "intervention",
    "implementation_measure",
    "implementation_target",
    "outcome_measure",
    "outcome_target",
    "capacity_building",
    "what_happened",
    "accepted",
    "notes",
)

#: Columns required in every strategy row.
REQUIRED_PLAN_COLUMNS: tuple[str, ...] = ("district_code", "plan_year", "strategy", "intervention")

#: A measure or activity cell holding this (any case) is unknown, not absent (coded blank, not ``no``).
NOT_STATED = "not stated"

#: Coder of rows whose ``coder`` is blank.
DEFAULT_CODER = "team"

#: First plan year of the Alliance District program (FY2013 = 2012-13; C.G.S. 10-262u, Public Act 12-116).
FIRST_PLAN_YEAR = 2012

#: Measure -> target column pairs checked by "target without measure".
TARGET_OF: dict[str, str] = {
    "implementation_measure": "implementation_target",
    "outcome_measure": "outcome_target",
}

_SPACES = re.compile(r"\s+")
_PRECEDENCE = {"yes": 3, "intrinsic": 2, "no": 1, "": 0}


class PlanFileError(ProblemsError):
    """A plan file fails validation; names the file, row and column of the first problem.

    Attributes
    ----------
    problems
        Every problem found (:class:`~alliance_study.analysis.plans.records.RecordProblem`).
    """


def plan_year_label(start: int) -> str:
    """``2013`` -> ``2013-14``."""
    return f"{start}-{(start + 1) % 100:02d}"


def plan_years(first_spring: int, last_spring: int) -> list[str]:
    """Plan years whose spring years run from ``first_spring`` to ``last_spring`` (2013 -> ``2012-13``).

    Raises
    ------
    ValueError
        If the span is empty or starts before the program (:data:`FIRST_PLAN_YEAR`).
    """
    if last_spring < first_spring:
        raise ValueError(f"empty span of years {first_spring}-{last_spring}")
    if first_spring - 1 < FIRST_PLAN_YEAR:
        raise ValueError(
            f"the first Alliance District plan year is {plan_year_label(FIRST_PLAN_YEAR)} (spring "
            f"{FIRST_PLAN_YEAR + 1}); got spring {first_spring}"
        )
    return [plan_year_label(y - 1) for y in range(first_spring, last_spring + 1)]


def template_domains(codebook: Codebook, plan_year: str) -> list[str]:
    """Template sections pre-filled for a plan year: the documented template's domains, the Turnaround
    Framework domains for later years (the framework continued), none for 2012-13."""
    documented = codebook.domains_for(plan_year)
    if documented is not None:
        return documented
    return [
        c.id
        for c in codebook.codes
        if c.kind == "domain" and c.extra.get("domain_kind") == "turnaround_domain"
    ]


def plan_template(
    codebook: Codebook, district_code: str, district_name: str, years: Sequence[str]
) -> pd.DataFrame:
    """The template: one placeholder row per plan year and template section (one blank-domain row for a
    year without sections), every :data:`PLAN_COLUMNS` present, the district and codebook version filled."""
    rows = []
    for plan_year in years:
        plan_year_start(plan_year)
        for domain in template_domains(codebook, plan_year) or [""]:
            row = dict.fromkeys(PLAN_COLUMNS, "")
            row.update(
                district_code=district_code,
                district_name=district_name,
                plan_year=plan_year,
                domain=domain,
                codebook_version=codebook.version,
            )
            rows.append(row)
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS), dtype=object)


def codebook_sheet(codebook: Codebook) -> pd.DataFrame:
    """The codes a plan file may use: kind, id, label, definition, usual domain, capacity building, and the
    plan years whose template had the domain (the template's second sheet or companion CSV)."""
    rows = []
    for c in codebook.codes:
        if c.kind == "attribute":
            continue
        rows.append(
            {
                "kind": c.kind,
                "id": c.id,
                "label": c.label,
                "definition": c.definition,
                "usual_domain": c.extra.get("default_domain", "") or "",
                "capacity_building": (
                    ("yes" if c.extra.get("capacity_building") else "no") if c.kind == "intervention" else ""
                ),
                "template_years": ", ".join(c.extra.get("templates", []) or []),
            }
        )
    return pd.DataFrame(rows)


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip().lower()


def is_placeholder(frame: pd.DataFrame) -> pd.Series:
    """Rows whose :data:`TEAM_COLUMNS` are all blank (the template's pre-filled rows)."""
    cols = [c for c in TEAM_COLUMNS if c in frame.columns]
    if not cols:
        return pd.Series(True, index=frame.index)
    return frame[cols].map(cell_text).eq("").all(axis=1)


def find_plan_problems(
    frame: pd.DataFrame, codebook: Codebook, districts: Mapping[str, str] | Iterable[str] | None = None
) -> list[RecordProblem]:
    """Every problem in a plan file, in row order (rows are CSV or sheet lines; the header is row 1).

    Checked: unknown or missing columns; empty required cells (a strategy row without a plan year is the
    "missing year" error); a district code that is not 7 digits, unknown, or different from the first row's;
    plan years not ``YYYY-YY`` or before the program; unknown intervention or domain ids (the message lists
    the allowed ones) and domains the plan year's template did not have; ``other`` without notes; a target
    without its measure; a repeated strategy within a plan year and coder; ``accepted`` not yes/no/blank, a
    verdict without a suggestion, an unknown suggested code, ``accepted=yes`` with an intervention other
    than the suggestion; a codebook of another major version; a file with no strategy at all.
    """
    columns = [c for c in frame.columns if not str(c).startswith("_")]
    problems = header_problems(columns, PLAN_COLUMNS, REQUIRED_PLAN_COLUMNS, "plan-file columns are")
    if problems:
        return problems
    interventions = codebook.ids("intervention")
    domains = codebook.ids("domain")
    known = set(districts) if districts is not None else None
    major = codebook.version.split(".")[0]
    get = column_cells(frame, PLAN_COLUMNS)
    placeholder = is_placeholder(frame).tolist()
    first_district: str | None = None
    seen: dict[tuple[str, str, str], int] = {}
    n_strategies = 0
    for i, line in enumerate(file_lines(frame)):
        if placeholder[i]:
            continue
        n_strategies += 1
        row = {c: get[c][i] for c in PLAN_COLUMNS}

        def add(column: str, message: str, line: int = line) -> None:
            problems.append(RecordProblem(line, column, message))

        for c in REQUIRED_PLAN_COLUMNS:
            if not row[c]:
                allowed = {
                    "plan_year": "missing plan year: write the school year the strategy belongs to, YYYY-YY "
                    "(2024-25)",
                    "intervention": "missing intervention: write one codebook intervention id "
                    f"(allowed: {', '.join(interventions)})",
                    "strategy": "missing strategy: write the strategy as the plan states it",
                    "district_code": "missing district_code: the 7-digit CSDE code of the district",
                }
                add(c, allowed[c])
        code = row["district_code"]
        if code:
            if problem := district_problem(code, known):
                add("district_code", problem)
            elif first_district is None:
                first_district = code
            elif code != first_district:
                add(
                    "district_code",
                    f"a plan file holds one district's plan: {code} differs from {first_district} above",
                )
        year_ok = False
        if row["plan_year"]:
            try:
                start = plan_year_start(row["plan_year"])
                year_ok = start >= FIRST_PLAN_YEAR
                if not year_ok:
                    add(
                        "plan_year",
                        f"plan year {row['plan_year']} is before the first Alliance plan year "
                        f"{plan_year_label(FIRST_PLAN_YEAR)}",
                    )
            except ValueError:
                add(
                    "plan_year",
                    f"bad plan_year {row['plan_year']!r}: expected YYYY-YY with consecutive years (2024-25)",
                )
        if row["intervention"] and row["intervention"] not in interventions:
            add(
                "intervention",
                f"unknown intervention code {row['intervention']!r}; allowed: {', '.join(interventions)}",
            )
        if problem := other_problem(row):
            add("notes", problem)
        if row["domain"]:
            if row["domain"] not in domains:
                add(
                    "domain", f"unknown domain code {row['domain']!r}; allowed: {', '.join(domains)} or blank"
                )
            elif year_ok:
                allowed_domains = codebook.domains_for(row["plan_year"])
                if allowed_domains is not None and row["domain"] not in allowed_domains:
                    add(
                        "domain",
                        f"domain {row['domain']!r} is not a section of the {row['plan_year']} template "
                        f"(allowed: {', '.join(allowed_domains) or 'none; leave blank'})",
                    )
        for measure, target in TARGET_OF.items():
            if (
                row[target]
                and row[target].lower() != NOT_STATED
                and (not row[measure] or row[measure].lower() == NOT_STATED)
            ):
                add(
                    target,
                    f"target without measure: {target} is filled but {measure} is not; "
                    f"write the measure the target is stated in",
                )
        accepted = row["accepted"].lower()
        if accepted not in ("", "yes", "no"):
            add("accepted", f"accepted must be yes, no or blank, not {row['accepted']!r}")
        elif accepted and not row["suggested_code"]:
            add(
                "accepted",
                f"accepted={accepted} but suggested_code is blank: there is no suggestion to judge",
            )
        if row["suggested_code"] and row["suggested_code"] not in interventions:
            add(
                "suggested_code",
                f"unknown suggested code {row['suggested_code']!r}; allowed: {', '.join(interventions)}",
            )
        elif accepted == "yes" and row["intervention"] and row["intervention"] != row["suggested_code"]:
            add(
                "accepted",
                f"accepted=yes but intervention {row['intervention']!r} is not the suggested code "
                f"{row['suggested_code']!r}: copy the suggestion or set accepted=no",
            )
        if row["codebook_version"] and row["codebook_version"].split(".")[0] != major:
            add(
                "codebook_version",
                f"written with codebook {row['codebook_version']}, validating against {codebook.version} "
                "(a new major version: codes may have changed meaning)",
            )
        if row["strategy"] and row["plan_year"]:
            key = (row["coder"] or DEFAULT_CODER, row["plan_year"], _norm(row["strategy"]))
            if key in seen:
                add(
                    "strategy",
                    f"duplicate strategy {row['strategy']!r} in plan year {row['plan_year']} "
                    f"(first at row {seen[key]}); merge the rows or tell the strategies apart",
                )
            else:
                seen[key] = line
    if n_strategies == 0:
        problems.append(RecordProblem(None, "strategy", "no strategies: every row is an empty placeholder"))
    return problems


def validate_plan(
    frame: pd.DataFrame,
    codebook: Codebook,
    districts: Mapping[str, str] | Iterable[str] | None = None,
    display: str = "plan file",
) -> pd.DataFrame:
    """Validate a plan file and return its strategy rows normalised.

    Returns
    -------
    pandas.DataFrame
        The non-placeholder rows: every :data:`PLAN_COLUMNS` as stripped text (``coder`` defaulted to
        :data:`DEFAULT_CODER`, ``accepted`` lower-case), ``row`` (the file row) and ``plan_year_start``.

    Raises
    ------
    PlanFileError
        Naming the file, row and column of the first problem; ``.problems`` holds all of them.
    """
    raise_first_problem(find_plan_problems(frame, codebook, districts), display, PlanFileError)
    keep = ~is_placeholder(frame)
    lines = pd.Series(file_lines(frame), index=frame.index)[keep]
    out = pd.DataFrame(
        {c: (frame.loc[keep, c].map(cell_text) if c in frame.columns else "") for c in PLAN_COLUMNS},
        index=frame.index[keep],
    ).astype(object)
    out["coder"] = out["coder"].replace("", DEFAULT_CODER)
    out["accepted"] = out["accepted"].str.lower()
    out["row"] = lines.astype("int64")
    out["plan_year_start"] = out["plan_year"].map(plan_year_start).astype("int64")
    return out.sort_values(["coder", "plan_year_start", "row"]).reset_index(drop=True)


def _present(text: str) -> str:
    """Attribute value of a measure or activity cell: yes (filled), no (blank), blank (not stated)."""
    if not text:
        return "no"
    return "" if text.lower() == NOT_STATED else "yes"


def strategy_attributes(plan: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """The codebook attributes of each strategy row (rules in the module docstring)."""
    intrinsic = set(codebook.capacity_building_codes())
    coupled = [
        "intrinsic" if code in intrinsic else _present(text)
        for code, text in zip(plan["intervention"], plan["capacity_building"], strict=True)
    ]
    smart = []
    for measure, target in zip(plan["outcome_measure"], plan["outcome_target"], strict=True):
        state = _present(measure)
        if state == "" or str(target).strip().lower() == NOT_STATED:
            smart.append("")
        else:
            smart.append("yes" if state == "yes" and target else "no")
    return pd.DataFrame(
        {
            "coupled_capacity_building": coupled,
            "implementation_measure": plan["implementation_measure"].map(_present),
            "outcome_measure": plan["outcome_measure"].map(_present),
            "smart_goal": smart,
        },
        index=plan.index,
    )


def to_records(plan: pd.DataFrame, codebook: Codebook, source: str = "plan file") -> pd.DataFrame:
    """Coding records of a validated plan (:func:`validate_plan`): one per plan year, intervention and coder.

    Returns
    -------
    pandas.DataFrame
        Validated coding records (:data:`~alliance_study.analysis.plans.records.RECORD_COLUMNS` and
        ``plan_year_start``); the evidence quote is the strategy text (strategies joined with `` | ``), the
        source is ``source`` with the file rows as pages.
    """
    attributes = strategy_attributes(plan, codebook)
    data = pd.concat([plan.drop(columns=[c for c in ATTRIBUTES if c in plan.columns]), attributes], axis=1)
    rows = []
    for (coder, plan_year, code), block in data.groupby(["coder", "plan_year", "intervention"], sort=True):
        first = block.iloc[0]
        row = {
            "district_code": first["district_code"],
            "district_name": first["district_name"],
            "plan_year": plan_year,
            "domain": next((d for d in block["domain"] if d), ""),
            "intervention": code,
            "coder": coder,
            "evidence_quote": " | ".join(dict.fromkeys(block["strategy"])),
            "source_page": str(int(block["row"].min())),
            "source_url": source,
            "notes": " | ".join(n for n in dict.fromkeys(block["notes"]) if n),
            "codebook_version": codebook.version,
        }
        for attribute in ATTRIBUTES:
            row[attribute] = max(block[attribute], key=lambda v: _PRECEDENCE[v])
        rows.append(row)
    return validate_records(pd.DataFrame(rows, columns=list(RECORD_COLUMNS)), codebook, display=source)


@dataclass(frozen=True)
class SuggestionSummary:
    """What the team did with the assisted-coding suggestions of one plan file."""

    n_rows: int
    n_suggested: int
    n_accepted: int
    n_rejected: int
    n_unreviewed: int
    n_agree: int

    @property
    def acceptance_rate(self) -> float:
        """Accepted among reviewed suggestions (NaN when none was reviewed)."""
        reviewed = self.n_accepted + self.n_rejected
        return self.n_accepted / reviewed if reviewed else float("nan")


def summarize_suggestions(plan: pd.DataFrame, suggestions: pd.DataFrame) -> SuggestionSummary:
    """Count suggestions and verdicts: ``suggestions`` has one row per plan row (``row``) and suggested code
    (:func:`suggest_for_plan`); ``n_agree`` counts rows whose team code is among the row's suggestions."""
    suggested_rows = set(suggestions["row"]) if len(suggestions) else set()
    agree = 0
    for row, code in zip(plan["row"], plan["intervention"], strict=True):
        codes = set(suggestions.loc[suggestions["row"] == row, "code"]) if len(suggestions) else set()
        agree += code in codes
    accepted = plan["accepted"]
    return SuggestionSummary(
        n_rows=len(plan),
        n_suggested=len(suggested_rows),
        n_accepted=int((accepted == "yes").sum()),
        n_rejected=int((accepted == "no").sum()),
        n_unreviewed=int(((accepted == "") & plan["suggested_code"].ne("")).sum()),
        n_agree=agree,
    )


def suggest_for_plan(plan: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Keyword suggestions for every strategy row: ``row``, ``plan_year``, ``strategy``, ``sentence`` (the
    matched sentence), ``code``, ``keywords``, ``team_code`` and ``accepted``, best first (most keywords)."""
    from alliance_study.analysis.plans.assist import suggest_codes

    rows = []
    for rec in plan.itertuples(index=False):
        found = suggest_codes(rec.strategy, codebook)
        for hit in found.sort_values("n_keywords", ascending=False, kind="stable").itertuples(index=False):
            rows.append(
                {
                    "row": rec.row,
                    "plan_year": rec.plan_year,
                    "strategy": rec.strategy,
                    "sentence": hit.sentence,
                    "code": hit.code,
                    "keywords": hit.keywords,
                    "n_keywords": hit.n_keywords,
                    "team_code": rec.intervention,
                    "accepted": rec.accepted if rec.suggested_code == hit.code else "",
                }
            )
    columns = [
        "row",
        "plan_year",
        "strategy",
        "sentence",
        "code",
        "keywords",
        "n_keywords",
        "team_code",
        "accepted",
    ]
    out = pd.DataFrame(rows, columns=columns)
    return out.drop_duplicates(["row", "code"]).reset_index(drop=True)


def with_suggestions(frame: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """The plan file with ``suggested_code`` and ``suggestion_sentence`` filled where they are blank: the
    keyword coder's best suggestion for the row's strategy text. ``accepted`` is left for the team."""
    from alliance_study.analysis.plans.assist import suggest_codes

    out = frame.copy()
    for column in PLAN_COLUMNS:
        if column not in out.columns:
            out[column] = ""
    for index in out.index:
        text = cell_text(out.at[index, "strategy"])
        if not text or cell_text(out.at[index, "suggested_code"]):
            continue
        found = suggest_codes(text, codebook)
        if len(found):
            best = found.sort_values("n_keywords", ascending=False, kind="stable").iloc[0]
            out.at[index, "suggested_code"] = best["code"]
            out.at[index, "suggestion_sentence"] = best["sentence"]
    return out

"""The plan codebook: domains, intervention types and attributes, loaded from ``codebook.yml`` and validated.

The codebook is package data (``alliance_study/plans/codebook.yml``), versioned in its ``version`` field.
:func:`load_codebook` reads and validates it; a malformed codebook raises :class:`CodebookError` naming the
file, the code and the field. :data:`PLAN_TEMPLATES` holds what the state asked for in each plan year
(2012-13 to 2016-17), from reference/STUDY_FACTS.md; the codebook's domains name the plan years whose
template used them, and the loader checks those against this constant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from alliance_study.errors import AllianceStudyError

#: File name of the packaged codebook.
CODEBOOK_FILE = "codebook.yml"

#: Kinds of code, in the order tables list them.
KINDS: tuple[str, ...] = ("domain", "intervention", "attribute")

#: Fields every code must have (non-empty strings, except ``keywords``, a list that may be empty).
REQUIRED_FIELDS: tuple[str, ...] = ("id", "label", "definition", "include", "exclude", "example", "keywords")

#: Extra required fields by kind.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "domain": ("kind", "templates"),
    "intervention": ("source", "default_domain", "capacity_building"),
    "attribute": ("values",),
}

#: Allowed ``kind`` of a domain: a CSDE Turnaround Framework domain (2014-15 on) or a 2013-14 priority.
DOMAIN_KINDS: frozenset[str] = frozenset({"turnaround_domain", "priority_2013"})

#: Allowed ``source`` of an intervention code: the statute's menu, the 2016-17 Talent checklist, codes
#: added to code the public plan facts, or the residual ``other``.
INTERVENTION_SOURCES: frozenset[str] = frozenset({"statute", "talent_checklist", "public_facts", "residual"})

#: Attributes the planning-practice metrics use (:mod:`alliance_study.analysis.plans.metrics`).
ATTRIBUTES: tuple[str, ...] = (
    "coupled_capacity_building",
    "implementation_measure",
    "outcome_measure",
    "smart_goal",
)

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_PLAN_YEAR = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class PlanTemplate:
    """What the state asked districts to submit for one plan year.

    Attributes
    ----------
    plan_year
        School year of the plan (``2013-14``).
    form
        Name of the state form or process.
    asked_for
        What the template required, summarised.
    frame
        How the template organised the plan (the codebook's ``domains`` of that year).
    """

    plan_year: str
    form: str
    asked_for: str
    frame: str


#: Plan-template history, 2012-13 to 2016-17: "the formats changed every year" (the 2017 Neag/CCER study).
#: Source: reference/STUDY_FACTS.md, "Plan templates by year" (CSDE forms: ED-613a; the East Hartford
#: 2015-16 and the Derby, Ansonia and New Britain 2016-17 consolidated applications; CSDE announcements).
PLAN_TEMPLATES: tuple[PlanTemplate, ...] = (
    PlanTemplate(
        "2012-13",
        "Alliance District plan for the ECS increment",
        "A plan for spending the ECS increase, drawn from the statutory menu (C.G.S. 10-262u(d)); "
        "per the ESEA waiver, differentiated, tiered support and interventions, the most "
        "intensive in the lowest-performing schools.",
        "the statutory menu (no domains)",
    ),
    PlanTemplate(
        "2013-14",
        "Alliance District & Priority School Districts Consolidated Grant Application (ED-613a, spring 2013)",
        "One plan centralizing reform around four priorities.",
        "four priorities: Common Core and new assessments; educator evaluation and support; "
        "interventions in low-performing schools; K-3 literacy",
    ),
    PlanTemplate(
        "2014-15",
        "Year-three plan amendments",
        "Amendments to the year-two plan; a required K-3 literacy plan.",
        "Academics, Talent, Culture and Climate, Operations",
    ),
    PlanTemplate(
        "2015-16",
        "Consolidated Alliance and Priority School District Application",
        "An approved educator evaluation plan as a precondition; strategies with S.M.A.R.T. goals.",
        "Turnaround Framework domains; strategies with S.M.A.R.T. goals",
    ),
    PlanTemplate(
        "2016-17",
        "Consolidated Alliance and Priority School District Application",
        "Step 1: a checklist of priorities per domain (Talent: recruitment pipelines, evaluation, "
        "hiring and placement, professional development, instructional coaching, school leadership "
        "development, retention of top talent); Step 2: core strategies, each with a S.M.A.R.T. "
        "goal central to quarterly progress monitoring.",
        "Turnaround Framework domains: Talent, Academics, Culture and Climate, Operations",
    ),
)


class CodebookError(AllianceStudyError):
    """The codebook file is malformed.

    Parameters
    ----------
    file
        The codebook file (or a name for text passed in).
    message
        What is wrong.
    code
        The code's id (or its position) when the problem is in one code.
    field
        The field, when the problem is in one field.
    """

    def __init__(
        self, file: str | Path, message: str, *, code: str | None = None, field: str | None = None
    ) -> None:
        self.file, self.code, self.field, self.message = str(file), code, field, message
        where = [f"file {self.file}"]
        if code is not None:
            where.append(f"code {code!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass(frozen=True)
class Code:
    """One code of the codebook.

    Attributes
    ----------
    id, label, definition, include, exclude, example
        As in the YAML file.
    kind
        ``domain``, ``intervention`` or ``attribute``.
    keywords
        Phrases for assisted coding (:mod:`alliance_study.analysis.plans.assist`).
    extra
        The kind-specific fields (domains: ``kind`` as ``domain_kind`` and ``templates``; interventions:
        ``source``, ``default_domain``, ``capacity_building``; attributes: ``values``).
    """

    id: str
    kind: str
    label: str
    definition: str
    include: str
    exclude: str
    example: str
    keywords: tuple[str, ...]
    # Left out of the hash (a dict is unhashable); the codebook is hashable so assist can cache patterns.
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Codebook:
    """A validated codebook.

    Attributes
    ----------
    version
        Semantic version string of the codebook file.
    name
        Its title.
    sources
        Where its codes come from.
    general_rules
        Coding rules that apply to every record.
    codes
        All codes, domains first, then interventions, then attributes (file order within each kind).
    """

    version: str
    name: str
    sources: tuple[str, ...]
    general_rules: tuple[str, ...]
    codes: tuple[Code, ...]

    def ids(self, kind: str | None = None) -> list[str]:
        """Ids of all codes, or of one kind (``domain``, ``intervention``, ``attribute``), in file order."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
        return [c.id for c in self.codes if kind is None or c.kind == kind]

    def code(self, code_id: str) -> Code:
        """The code with this id; ``KeyError`` naming the known ids if there is none."""
        for c in self.codes:
            if c.id == code_id:
                return c
        raise KeyError(f"unknown code {code_id!r}; known codes: {self.ids()}")

    def attribute_values(self, attribute: str) -> tuple[str, ...]:
        """Allowed (non-missing) values of an attribute."""
        code = self.code(attribute)
        if code.kind != "attribute":
            raise KeyError(f"{attribute!r} is a {code.kind}, not an attribute")
        return tuple(code.extra["values"])

    def capacity_building_codes(self) -> list[str]:
        """Intervention codes that are themselves capacity building (PD, coaching, leadership, ...)."""
        return [c.id for c in self.codes if c.kind == "intervention" and c.extra["capacity_building"]]

    def domains_for(self, plan_year: str) -> list[str] | None:
        """Domain ids the template of ``plan_year`` used; None for years outside :data:`PLAN_TEMPLATES`."""
        if plan_year not in {t.plan_year for t in PLAN_TEMPLATES}:
            return None
        return [c.id for c in self.codes if c.kind == "domain" and plan_year in c.extra["templates"]]

    def table(self, kinds: Iterable[str] = KINDS) -> pd.DataFrame:
        """The codebook as a table: one row per code (kind, id, label, definition, include, exclude,
        example, keywords joined by ``; ``, and the kind-specific fields as text)."""
        rows = []
        for c in self.codes:
            if c.kind not in set(kinds):
                continue
            details = "; ".join(f"{k}: {_text(v)}" for k, v in c.extra.items())
            rows.append(
                {
                    "kind": c.kind,
                    "id": c.id,
                    "label": c.label,
                    "definition": c.definition,
                    "include": c.include,
                    "exclude": c.exclude,
                    "example": c.example,
                    "keywords": "; ".join(c.keywords),
                    "details": details,
                }
            )
        return pd.DataFrame(
            rows,
            columns=[
                "kind",
                "id",
                "label",
                "definition",
                "include",
                "exclude",
                "example",
                "keywords",
                "details",
            ],
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def template_history() -> pd.DataFrame:
    """:data:`PLAN_TEMPLATES` as a table (plan year, form, what was asked for, how the plan was organised)."""
    return pd.DataFrame(
        [
            {"plan_year": t.plan_year, "form": t.form, "asked_for": t.asked_for, "organised_by": t.frame}
            for t in PLAN_TEMPLATES
        ]
    )


def plan_year_start(plan_year: str) -> int:
    """First calendar year of a ``YYYY-YY`` plan year (``2013-14`` -> 2013).

    Raises
    ------
    ValueError
        If the label is not ``YYYY-YY`` with consecutive years.
    """
    match = _PLAN_YEAR.match(str(plan_year).strip())
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise ValueError(f"not a plan year like 2013-14: {plan_year!r}")
    return int(match.group(1))


def default_codebook_path() -> Path:
    """Path of the packaged ``codebook.yml``."""
    return Path(str(resources.files(__package__).joinpath(CODEBOOK_FILE)))


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Read and validate a codebook file (the packaged one by default).

    Raises
    ------
    CodebookError
        Naming the file, code and field of the first problem (see :func:`parse_codebook`).
    """
    path = Path(path) if path is not None else default_codebook_path()
    return parse_codebook(path.read_text(encoding="utf-8"), display=str(path.name))


def parse_codebook(text: str, display: str = CODEBOOK_FILE) -> Codebook:
    """Parse and validate codebook YAML text.

    Checks: the top-level keys ``version`` (``MAJOR.MINOR.PATCH``), ``name``, ``domains``,
    ``interventions`` and ``attributes``; every code has the :data:`REQUIRED_FIELDS` and its kind's
    :data:`KIND_FIELDS`; text fields are non-empty strings; ids are unique across the whole codebook and
    snake_case; keywords are strings (an unquoted ``yes`` would arrive as a boolean) and unique within a code;
    domain kinds, template years, intervention sources and default domains are known; attribute values are
    unique strings.

    Raises
    ------
    CodebookError
        On the first problem found.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CodebookError(display, f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CodebookError(
            display, "the codebook must be a mapping with version, domains, interventions, attributes"
        )
    for key in ("version", "name", "domains", "interventions", "attributes"):
        if key not in data:
            raise CodebookError(display, f"missing top-level key {key!r}", field=key)
    version = str(data["version"]).strip()
    if not _VERSION.match(version):
        raise CodebookError(display, f"version {version!r} is not MAJOR.MINOR.PATCH", field="version")
    codes: list[Code] = []
    seen: set[str] = set()
    for section, kind in (
        ("domains", "domain"),
        ("interventions", "intervention"),
        ("attributes", "attribute"),
    ):
        entries = data[section]
        if not isinstance(entries, list) or not entries:
            raise CodebookError(display, f"{section!r} must be a non-empty list", field=section)
        for position, entry in enumerate(entries, start=1):
            code = _parse_code(entry, kind, f"{section}[{position}]", display)
            if code.id in seen:
                raise CodebookError(
                    display, "duplicate id (ids must be unique across the codebook)", code=code.id, field="id"
                )
            seen.add(code.id)
            codes.append(code)
    domain_ids = {c.id for c in codes if c.kind == "domain"}
    for c in codes:
        if c.kind == "intervention" and c.extra["default_domain"] not in domain_ids | {""}:
            raise CodebookError(
                display,
                f"default_domain {c.extra['default_domain']!r} is not a domain id ({sorted(domain_ids)})",
                code=c.id,
                field="default_domain",
            )
    missing = [a for a in ATTRIBUTES if a not in {c.id for c in codes if c.kind == "attribute"}]
    if missing:
        raise CodebookError(display, f"the metrics need the attributes {missing}", field="attributes")
    return Codebook(
        version=version,
        name=str(data["name"]),
        sources=tuple(str(s) for s in data.get("sources") or ()),
        general_rules=tuple(str(s) for s in data.get("general_rules") or ()),
        codes=tuple(codes),
    )


def _parse_code(entry: Any, kind: str, where: str, display: str) -> Code:
    """Validate one code entry (``where`` names it, e.g. ``interventions[3]``, until its id is known)."""
    if not isinstance(entry, dict):
        raise CodebookError(display, "each code must be a mapping of fields", code=where)
    name = str(entry.get("id", where))
    for key in (*REQUIRED_FIELDS, *KIND_FIELDS[kind]):
        if key not in entry:
            raise CodebookError(display, f"missing required field {key!r}", code=name, field=key)
    allowed = set(REQUIRED_FIELDS) | set(KIND_FIELDS[kind])
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise CodebookError(
            display, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}", code=name, field=unknown[0]
        )
    for key in ("id", "label", "definition", "include", "exclude", "example"):
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            raise CodebookError(display, f"must be a non-empty string, got {value!r}", code=name, field=key)
    if not _ID.match(entry["id"]):
        raise CodebookError(
            display, "id must be snake_case (a-z, 0-9, _; starting with a letter)", code=name, field="id"
        )
    keywords = entry["keywords"]
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise CodebookError(
            display,
            f"keywords must be a list of non-empty strings (quote yes/no/1:1), got {keywords!r}",
            code=name,
            field="keywords",
        )
    lowered = [k.strip().lower() for k in keywords]
    if len(set(lowered)) != len(lowered):
        dupes = sorted({k for k in lowered if lowered.count(k) > 1})
        raise CodebookError(display, f"repeated keywords {dupes}", code=name, field="keywords")
    extra: dict[str, Any] = {}
    if kind == "domain":
        if entry["kind"] not in DOMAIN_KINDS:
            raise CodebookError(
                display, f"kind must be one of {sorted(DOMAIN_KINDS)}", code=name, field="kind"
            )
        templates = entry["templates"]
        known = {t.plan_year for t in PLAN_TEMPLATES}
        if not isinstance(templates, list) or not templates or not all(t in known for t in templates):
            raise CodebookError(
                display,
                f"templates must list plan years of PLAN_TEMPLATES {sorted(known)}, got {templates!r}",
                code=name,
                field="templates",
            )
        extra = {"domain_kind": entry["kind"], "templates": tuple(templates)}
    elif kind == "intervention":
        if entry["source"] not in INTERVENTION_SOURCES:
            raise CodebookError(
                display, f"source must be one of {sorted(INTERVENTION_SOURCES)}", code=name, field="source"
            )
        if not isinstance(entry["capacity_building"], bool):
            raise CodebookError(
                display, "capacity_building must be true or false", code=name, field="capacity_building"
            )
        if not isinstance(entry["default_domain"], str):
            raise CodebookError(
                display,
                "default_domain must be a domain id or an empty string",
                code=name,
                field="default_domain",
            )
        extra = {
            "source": entry["source"],
            "default_domain": entry["default_domain"],
            "capacity_building": entry["capacity_building"],
        }
    else:
        values = entry["values"]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v for v in values)
            or len(set(values)) != len(values)
        ):
            raise CodebookError(
                display,
                f"values must be a list of distinct strings (quote yes and no), got {values!r}",
                code=name,
                field="values",
            )
        extra = {"values": tuple(values)}
    return Code(
        id=entry["id"],
        kind=kind,
        label=entry["label"].strip(),
        definition=entry["definition"].strip(),
        include=entry["include"].strip(),
        exclude=entry["exclude"].strip(),
        example=entry["example"].strip(),
        keywords=tuple(k.strip() for k in keywords),
        extra=extra,
    )

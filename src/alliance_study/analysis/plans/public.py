"""Code the readable public plan facts (reference/plan_codes_found.csv) with the toolkit.

The curated file states each fact in free text. The mapping from its text to codebook codes is explicit
and reviewable here: :data:`PUBLIC_FACT_CODES` (intervention and domain codes per fact row) and
:data:`ATTRIBUTE_TEXT` (attribute code per free-text value). A fact row or a free-text value without a
mapping raises, naming the file row, so a new fact cannot slip through uncoded. "Not stated in readable
text" is coded blank (missing), never ``no``: the sources are mostly summaries and news stories, and
absence from a summary is not absence from the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import pandas as pd

from alliance_study.analysis.plans.codebook import ATTRIBUTES, Codebook
from alliance_study.analysis.plans.records import RECORD_COLUMNS, validate_records
from alliance_study.errors import RawDataError

#: Coder name of the public-facts coding.
PUBLIC_CODER = "public_facts"

#: Registry path of the facts file (for error messages).
FACTS_FILE = "reference/plan_codes_found.csv"

#: (district, plan year, intervention text as in the file) -> (intervention codes, domain code).
#: One fact naming several interventions yields several codes. Domain is the template section the source
#: shows, blank when the plan year's template had none (2012-13), when the source does not show it (news
#: stories), or for 2017-18 (outside the documented templates). Comments give the reading where it is not
#: obvious.
PUBLIC_FACT_CODES: dict[tuple[str, str, str], tuple[tuple[str, ...], str]] = {
    ("Hartford", "2012-13", "Expand K-3 literacy interventions"): (("k3_reading",), ""),
    ("Hartford", "2012-13", "Recruit, retain and develop educators"): (("talent_strategy",), ""),
    ("Hartford", "2012-13", "Redesign district middle schools"): (("school_redesign",), ""),
    ("Hartford", "2012-13", "Enhance college readiness"): (("college_career_readiness",), ""),
    ("Hartford", "2012-13", "Interventions in Focus Schools"): (("tiered_interventions",), ""),
    (
        "Norwich",
        "2012-13",
        "Strategic leadership development at each school (Stanton, Moriarty, Veterans "
        "Memorial, Kelly, Teachers Memorial)",
    ): (("leadership_development",), ""),
    ("Norwich", "2012-13", "New teacher evaluation model"): (("educator_evaluation",), ""),
    ("Norwich", "2012-13", "Online benchmark assessment for all students"): (("data_assessment",), ""),
    (
        "Norwich",
        "2012-13",
        "New comprehensive core reading program aligned to Common Core; curriculum overhaul",
    ): (("standards_curriculum",), ""),
    # "direct intervention in classrooms" read as student intervention; "literacy" alone names no program.
    (
        "Norwich",
        "2012-13",
        "Literacy, parental involvement, direct classroom intervention; initial focus on "
        "Moriarty and Veterans' Memorial",
    ): (("family_engagement", "tiered_interventions"), ""),
    (
        "Norwich",
        "2013-14",
        "Hire 8 teachers to expand full-day kindergarten, reduce class sizes, eliminate multi-age classrooms",
    ): (("early_childhood", "staffing_class_size"), "p2013_k3_literacy"),
    ("Norwich", "2013-14", "Additional parent engagement specialists"): (("family_engagement",), ""),
    ("Norwich", "2013-14", "Part-time computer specialists to help teachers build class web pages"): (
        ("instructional_technology",),
        "",
    ),
    (
        "Norwich",
        "2013-14",
        "PD on Common Core; literacy workshop instruction for teachers and administrators",
    ): (("professional_development", "standards_curriculum"), "p2013_ccss_transition"),
    (
        "Norwich",
        "2013-14",
        "Instructional specialists at every school; early childhood education; community & parent engagement",
    ): (("instructional_coaching", "early_childhood", "family_engagement"), "p2013_ccss_transition"),
    # The source (a news story) names the areas only by analogy with East Hartford: no domain.
    ("Norwich", "2014-15", "Curriculum materials, interactive technology, family liaison"): (
        ("standards_curriculum", "instructional_technology", "family_engagement"),
        "",
    ),
    # Keeping ~40 classroom positions is staffing, not "retention of top talent"; world language is
    # curriculum.
    (
        "Norwich",
        "2015-16",
        "Restore grade 6-8 world language; retain ~40 classroom personnel; identify "
        "interventions for students",
    ): (("standards_curriculum", "staffing_class_size", "tiered_interventions"), ""),
    (
        "East Hartford",
        "2014-15",
        "New teacher evaluation plan + coaching/mentor system with exemplary teachers",
    ): (("educator_evaluation", "instructional_coaching"), "talent"),
    ("East Hartford", "2014-15", "Curriculum development aligned with Common Core"): (
        ("standards_curriculum",),
        "academics",
    ),
    ("East Hartford", "2014-15", "New phonics/phonemes-based library program for K-2"): (
        ("k3_reading",),
        "academics",
    ),
    ("East Hartford", "2014-15", "iTeachiLearn: grade 4 students get access to 10 iPads"): (
        ("instructional_technology",),
        "academics",
    ),
    # Only the cover page and the template's instructions are readable: nothing the district chose.
    ("East Hartford", "2015-16", "none readable (precondition: CSDE-approved educator evaluation plan)"): (
        (),
        "",
    ),
    ("Derby", "2016-17", "Instructional coaching"): (("instructional_coaching",), "talent"),
    ("Derby", "2016-17", "School leadership development"): (("leadership_development",), "talent"),
    ("Derby", "2016-17", "Retention of top talent"): (("retention",), "talent"),
    ("Derby", "2016-17", "Other (unspecified)"): (("other",), "talent"),
    ("Ansonia", "2016-17", "Instructional coaching: continue 2 Master Teachers to model/coach"): (
        ("instructional_coaching",),
        "talent",
    ),
    ("Ansonia", "2016-17", "School leadership development; Assistant Superintendent position"): (
        ("leadership_development",),
        "talent",
    ),
    ("Ansonia", "2016-17", "Retention of top talent; Other (unspecified)"): (
        ("retention", "other"),
        "talent",
    ),
    ("New Britain", "2016-17", "Instructional coaching"): (("instructional_coaching",), "talent"),
    ("New Britain", "2016-17", "School leadership development"): (("leadership_development",), "talent"),
    ("New Britain", "2016-17", "Retention of top talent; Other (unspecified)"): (
        ("retention", "other"),
        "talent",
    ),
    # A news report of how protected ECS money was used, not plan text; math and literacy specialists
    # without a named program count as staffing.
    (
        "Groton",
        "2017-18",
        "Hire paraprofessionals, special education teachers, math and literacy specialists; "
        "offset budget shortfall",
    ): (("staffing_class_size",), ""),
}

#: Free-text attribute values of the facts file -> attribute code ("" = missing). Per raw column.
ATTRIBUTE_TEXT: dict[str, dict[str, str]] = {
    "coupled_text": {
        "not stated in readable text": "",
        "not stated": "",
        "intrinsic (PD)": "intrinsic",
        "intrinsic (coaching by Master Teachers)": "intrinsic",
        "intrinsic (coaching)": "intrinsic",
        "intrinsic (coaching/mentoring)": "intrinsic",
        "intrinsic (leadership development)": "intrinsic",
        "intrinsic (leadership)": "intrinsic",
        "intrinsic (talent/development strategy)": "intrinsic",
        "yes (external expert assistance)": "yes",
        "yes (guidance of well-trained professionals for curriculum overhaul)": "yes",
        "yes (instructional specialists)": "yes",
        "yes (specialists support teachers)": "yes",
    },
    "implementation_text": {
        "not stated in readable text": "",
        # The curator's reading that evaluation is itself a mechanism; no measure of the intervention is
        # named.
        "evaluation itself is an accountability/implementation mechanism": "",
        # A template requirement, not the district's text.
        "template requires a S.M.A.R.T. goal per strategy for quarterly progress monitoring; district goal "
        "text not readable": "",
        "yes - Marshall Principal rubric rates the position holder's proficiency": "yes",
    },
    "outcome_text": {
        "not stated in readable text": "",
        # A news summary naming no measure is not evidence that the plan has none.
        "plan framed as yearly incremental improvement (no measure named)": "",
        "yes - benchmark assessment three times a year": "yes",
    },
}

#: Which attribute each free-text column codes.
ATTRIBUTE_COLUMNS: dict[str, str] = {
    "coupled_text": "coupled_capacity_building",
    "implementation_text": "implementation_measure",
    "outcome_text": "outcome_measure",
}

#: Kind of source by URL host: copies of the plan documents themselves, or secondary sources.
SOURCE_KINDS: dict[str, str] = {
    "cupdf.com": "plan document (copy)",
    "pdfslide.us": "plan document (copy)",
    "dokumen.tips": "plan document (copy)",
    "www.hartfordschools.org": "district press release",
}

#: Precedence when one code comes from several fact rows of a district-plan year.
_PRECEDENCE = {"yes": 3, "intrinsic": 2, "no": 1, "": 0}


@dataclass
class PublicCoding:
    """The public plan facts, coded.

    Attributes
    ----------
    records
        Validated coding records (coder :data:`PUBLIC_CODER`), one per district, plan year and code.
    coverage
        One row per district and plan year with a fact: ``district_code``, ``district_name``,
        ``plan_year``, ``n_facts``, ``n_codes``, ``codes``, ``source_kinds``, ``status``.
    facts
        The fact rows with their codes (``codes``, ``domain``) and ``source_kind``.
    """

    records: pd.DataFrame
    coverage: pd.DataFrame
    facts: pd.DataFrame


def source_kind(url: str) -> str:
    """``plan document (copy)``, ``district press release`` or ``news`` from a source URL's host."""
    return SOURCE_KINDS.get(urlparse(url).netloc.lower(), "news")


def code_public_facts(facts: pd.DataFrame, codebook: Codebook, display: str = FACTS_FILE) -> PublicCoding:
    """Code the fact rows (:func:`alliance_study.data.sources.plans.read_plan_facts`) with the codebook.

    Raises
    ------
    RawDataError
        Naming the file row (``source_line``) of a fact without a :data:`PUBLIC_FACT_CODES` entry, or of a
        free-text value without an :data:`ATTRIBUTE_TEXT` entry.
    CodingRecordError
        If the mapping produces a record the codebook rejects (an unknown code in the mapping constant).
    """
    rows = []
    fact_rows = []
    for fact in facts.itertuples(index=False):
        key = (fact.district_name, fact.plan_year, fact.intervention_text)
        if key not in PUBLIC_FACT_CODES:
            raise RawDataError(
                display,
                f"no code mapping for {key}; add it to PUBLIC_FACT_CODES in alliance_study/plans/public.py",
                row=int(fact.source_line),
                column="intervention",
            )
        codes, domain = PUBLIC_FACT_CODES[key]
        attributes = {}
        for column, attribute in ATTRIBUTE_COLUMNS.items():
            text = getattr(fact, column)
            if text not in ATTRIBUTE_TEXT[column]:
                raise RawDataError(
                    display,
                    f"no attribute mapping for {text!r}; add it to ATTRIBUTE_TEXT[{column!r}]",
                    row=int(fact.source_line),
                    column=column,
                )
            attributes[attribute] = ATTRIBUTE_TEXT[column][text]
        kind = source_kind(fact.source_url)
        fact_rows.append({**fact._asdict(), "codes": ", ".join(codes), "domain": domain, "source_kind": kind})
        for code in codes:
            rows.append(
                {
                    "district_code": fact.district_code,
                    "district_name": fact.district_name,
                    "plan_year": fact.plan_year,
                    "domain": domain,
                    "intervention": code,
                    "coder": PUBLIC_CODER,
                    **attributes,
                    "smart_goal": "",
                    "evidence_quote": fact.evidence_quote,
                    "source_page": "",
                    "source_url": fact.source_url,
                    "notes": f"as stated: {fact.intervention_text} ({kind}; file row {fact.source_line})",
                    "codebook_version": codebook.version,
                }
            )
    merged = _merge(pd.DataFrame(rows, columns=list(RECORD_COLUMNS)))
    records = validate_records(merged, codebook, districts=set(facts["district_code"]), display=display)
    facts_coded = pd.DataFrame(fact_rows)
    coverage = []
    for (code, name, plan_year), block in facts_coded.groupby(
        ["district_code", "district_name", "plan_year"], sort=False
    ):
        codes = sorted(
            records.loc[
                (records["district_code"] == code) & (records["plan_year"] == plan_year), "intervention"
            ]
        )
        coverage.append(
            {
                "district_code": code,
                "district_name": name,
                "plan_year": plan_year,
                "n_facts": len(block),
                "n_codes": len(codes),
                "codes": ", ".join(codes),
                "source_kinds": ", ".join(sorted(set(block["source_kind"]))),
                "status": "coded" if codes else "no readable intervention",
            }
        )
    coverage_frame = pd.DataFrame(coverage).sort_values(["district_name", "plan_year"], ignore_index=True)
    return PublicCoding(records=records, coverage=coverage_frame, facts=facts_coded)


def _merge(records: pd.DataFrame) -> pd.DataFrame:
    """One record per district, plan year and code: quotes and URLs joined with `` | ``, attributes by
    :data:`_PRECEDENCE` (a stated ``yes`` in one source outranks silence in another), first domain."""
    out = []
    for _, block in records.groupby(["district_code", "plan_year", "intervention"], sort=False):
        row = block.iloc[0].to_dict()
        if len(block) > 1:
            for column in ("evidence_quote", "source_url", "notes"):
                row[column] = " | ".join(dict.fromkeys(block[column]))
            for attribute in ATTRIBUTES:
                row[attribute] = max(block[attribute], key=lambda v: _PRECEDENCE[v])
            row["domain"] = next((d for d in block["domain"] if d), "")
        out.append(row)
    return pd.DataFrame(out, columns=list(RECORD_COLUMNS))


def display_records(records: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Coded records as a readable table: district, plan year, intervention label, template section, the
    attributes (blank shown as ``not stated``) and the evidence quote."""
    labels = {c.id: c.label for c in codebook.codes}
    out = pd.DataFrame(
        {
            "District": records["district_name"],
            "Plan year": records["plan_year"],
            "Intervention": records["intervention"].map(labels),
            "Template section": records["domain"].map(lambda d: labels.get(d, "")),
            "Capacity building": records["coupled_capacity_building"].replace("", "not stated"),
            "Implementation measure": records["implementation_measure"].replace("", "not stated"),
            "Outcome measure": records["outcome_measure"].replace("", "not stated"),
            "Evidence": records["evidence_quote"],
        }
    )
    return out.sort_values(["District", "Plan year", "Intervention"], ignore_index=True)


def as_plan_file(coding: PublicCoding, district_code: str, codebook: Codebook) -> pd.DataFrame:
    """One district's public facts written as a planning-tool plan file (the planning-tool chapter's worked
    example; :mod:`alliance_study.analysis.plans.planfile`).

    One strategy row per fact and code (a fact naming several interventions gives several rows, each
    strategy marked with the code's label). The curator's note on a measure or on coupling goes in as the
    measure or activity when it says one is stated, ``not stated`` when the readable text is silent (the
    plan-file marker for unknown), and blank when it says there is none. Coder :data:`PUBLIC_CODER`.
    """
    from alliance_study.analysis.plans.planfile import NOT_STATED, PLAN_COLUMNS

    labels = {c.id: c.label for c in codebook.codes}
    facts = coding.facts.loc[coding.facts["district_code"] == district_code]
    rows = []
    for fact in facts.itertuples(index=False):
        codes = [c for c in str(fact.codes).split(", ") if c]
        for code in codes:
            cells = {}
            for column, target in (("coupled_text", "capacity_building"),
                                   ("implementation_text", "implementation_measure"),
                                   ("outcome_text", "outcome_measure")):
                text = getattr(fact, column)
                value = ATTRIBUTE_TEXT[column][text]
                cells[target] = {"yes": text, "no": "", "intrinsic": ""}.get(value, NOT_STATED)
            strategy = fact.intervention_text
            if len(codes) > 1:
                strategy = f"{strategy} [{labels[code]}]"
            rows.append({
                **dict.fromkeys(PLAN_COLUMNS, ""),
                "district_code": fact.district_code, "district_name": fact.district_name,
                "plan_year": fact.plan_year, "strategy": strategy, "domain": fact.domain,
                "intervention": code,
                **cells, "outcome_target": NOT_STATED if cells["outcome_measure"] else "",
                "implementation_target": NOT_STATED if cells["implementation_measure"] else "",
                "what_happened": f"public record: {fact.source_kind}, {fact.source_url}",
                "coder": PUBLIC_CODER, "notes": f"evidence: {fact.evidence_quote}",
                "codebook_version": codebook.version,
            })
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS), dtype=object)

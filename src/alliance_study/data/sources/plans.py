"""Readable public Alliance plan facts (``reference/plan_codes_found.csv``, registry family ``plans``).

A curated table: every fact about an Alliance District plan that could be read in public documents (district
press releases, news stories, and the few plan pages posted on document-sharing sites), one row per
intervention as the source states it, with free-text notes on coupling with capacity building and on
monitoring, a verbatim evidence quote and the source URL. The text fields are kept as written;
:mod:`alliance_study.analysis.plans.public` maps them to codebook codes. Like the designation table this is
not a
district-year table, and it is not joined into the panel.

Checks (each failure raises :class:`~alliance_study.errors.RawDataError` naming the file, line and column):
the exact column set (:data:`COLUMN_MAP`), non-empty district, plan year, intervention, evidence quote and
source URL; plan years ``YYYY-YY`` with consecutive years; every district a known town district
(``<name> School District`` in the crosswalk); URLs starting with ``http``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.common import (
    ColumnSpec,
    SourceOutput,
    SourceReport,
    read_csv_header,
    read_strict_csv,
)
from alliance_study.data.sources.directory import Crosswalk
from alliance_study.data.sources.keys import spring_year
from alliance_study.errors import RawDataError

FAMILY = "plans"

#: Raw column label -> canonical name. Every label is required.
COLUMN_MAP: dict[str, str] = {
    "district": "district_name",
    "plan_year": "plan_year",
    "domain": "domain_text",
    "intervention": "intervention_text",
    "capacity_building_coupled": "coupled_text",
    "monitoring_implementation": "implementation_text",
    "monitoring_outcome": "outcome_text",
    "evidence_quote": "evidence_quote",
    "source_url": "source_url",
}

#: Canonical columns that must be non-empty in every row.
REQUIRED: tuple[str, ...] = (
    "district_name",
    "plan_year",
    "intervention_text",
    "evidence_quote",
    "source_url",
)

#: Output columns, in order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "district_code",
    "district_name",
    "plan_year",
    "year",
    *(v for v in COLUMN_MAP.values() if v not in ("district_name", "plan_year")),
    "source_line",
)


def read_plan_facts(path: Path, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Read and validate the public plan-facts table.

    Parameters
    ----------
    path
        The CSV file.
    display
        File name for error messages (the registry path).
    crosswalk
        District crosswalk; each ``district`` must be a known district (``<name> School District``).
    report
        Row accounting for this file.

    Returns
    -------
    pandas.DataFrame
        :data:`OUTPUT_COLUMNS`: ``district_code``, ``district_name`` (as in the file), ``plan_year``
        (``YYYY-YY``), ``year`` (its spring year, int64), the free-text fields as read (stripped),
        ``evidence_quote``, ``source_url`` and ``source_line`` (the row's line in the file), in file order.

    Raises
    ------
    RawDataError
        On unknown or missing columns, a row of the wrong width, an empty required cell, a bad plan year,
        an unknown district, or a URL that is not http(s).
    """
    return read_strict_csv(path, display, lambda reader: _read_rows(reader, display, crosswalk, report))


def _read_rows(reader, display: str, crosswalk: Crosswalk, report: SourceReport) -> pd.DataFrame:
    """Body of :func:`read_plan_facts` (``reader`` is a strict ``csv.reader``)."""
    labels = read_csv_header(reader, display, COLUMN_MAP)
    raw_label = {v: k for k, v in COLUMN_MAP.items()}
    rows: list[dict[str, object]] = []
    for record in reader:
        line = reader.line_num
        report.rows_read += 1
        if not any(c.strip() for c in record):
            report.drop("blank line")
            continue
        if len(record) != len(labels):
            raise RawDataError(display, f"{len(record)} cells but the header has {len(labels)}", row=line)
        row: dict[str, object] = {COLUMN_MAP[h]: c.strip() for h, c in zip(labels, record, strict=True)}
        for name in REQUIRED:
            if not row[name]:
                raise RawDataError(display, f"empty {raw_label[name]}", row=line, column=raw_label[name])
        plan_year = str(row["plan_year"])
        try:
            year = spring_year(plan_year, display, line)
        except RawDataError as exc:
            raise RawDataError(display, exc.message, row=line, column="plan_year") from exc
        if plan_year != f"{year - 1}-{year % 100:02d}":
            raise RawDataError(
                display, f"plan_year {plan_year!r} is not YYYY-YY", row=line, column="plan_year"
            )
        name = f"{row['district_name']} School District"
        try:
            code = crosswalk.code_for_name(name, display, line, "district")
        except RawDataError as exc:
            raise RawDataError(
                display, f"unknown district {row['district_name']!r}", row=line, column="district"
            ) from exc
        if not str(row["source_url"]).startswith(("http://", "https://")):
            raise RawDataError(
                display,
                f"source_url {row['source_url']!r} is not an http(s) URL",
                row=line,
                column="source_url",
            )
        row.update(district_code=code, year=year, source_line=line)
        rows.append(row)
    if not rows:
        raise RawDataError(display, "no data rows", row=2)
    report.rows_kept += len(rows)
    report.check()
    out = pd.DataFrame(rows)[list(OUTPUT_COLUMNS)]
    return out.astype({"year": "int64", "source_line": "int64"})


#: Data dictionary of the plan-facts table (not district-year; see the module docstring).
COLUMNS: list[ColumnSpec] = [
    ColumnSpec("plan_year", "string", "school year", "Plan year, YYYY-YY", "reference/plan_codes_found.csv"),
    ColumnSpec(
        "domain_text",
        "string",
        "text",
        "Template area or priority as the curator read it",
        "reference/plan_codes_found.csv",
    ),
    ColumnSpec(
        "intervention_text",
        "string",
        "text",
        "The intervention as the source states it",
        "reference/plan_codes_found.csv",
    ),
    ColumnSpec(
        "coupled_text",
        "string",
        "text",
        "Curator's note on coupling with capacity building",
        "reference/plan_codes_found.csv",
    ),
    ColumnSpec(
        "implementation_text",
        "string",
        "text",
        "Curator's note on an implementation measure",
        "reference/plan_codes_found.csv",
    ),
    ColumnSpec(
        "outcome_text",
        "string",
        "text",
        "Curator's note on an outcome measure",
        "reference/plan_codes_found.csv",
    ),
    ColumnSpec(
        "evidence_quote", "string", "text", "Verbatim quote from the source", "reference/plan_codes_found.csv"
    ),
    ColumnSpec("source_url", "string", "URL", "Where the fact was read", "reference/plan_codes_found.csv"),
]


def load(registry: Registry, crosswalk: Crosswalk | None = None) -> SourceOutput:
    """Read the plan-facts table through the registry (sha256 checked).

    Parameters
    ----------
    registry
        The registry, with the ``plans`` file fetched.
    crosswalk
        District crosswalk; built from the registry's Education Directory when None.

    Returns
    -------
    SourceOutput
        ``district`` is the facts table of :func:`read_plan_facts` (one row per fact, not per district-year);
        ``state`` is None.
    """
    if crosswalk is None:
        from alliance_study.data.sources import directory

        crosswalk, _ = directory.load(registry)
    entries = registry.files(FAMILY)
    if len(entries) != 1:
        raise RawDataError("registry", f"expected one '{FAMILY}' file, found {len(entries)}")
    entry = entries[0]
    report = SourceReport(FAMILY, entry.path)
    table = read_plan_facts(registry.verified_path(entry), entry.path, crosswalk, report)
    return SourceOutput(FAMILY, district=table, state=None, reports=[report], columns=list(COLUMNS))

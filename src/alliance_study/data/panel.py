"""The district-by-year panel: assemble source tables, add treatment columns, validate, write.

``build_panel`` reads every source family through the registry (hash-checked), joins the panel-ready
tables on ``(district_code, year)``, adds the Alliance treatment columns, validates the result with
pandera, and returns everything that ``write_outputs`` writes to ``data/processed/``:

- ``district_year.parquet`` and ``district_year.csv``: the panel;
- ``state_year.csv``: state totals by year from the state files, for checks;
- ``<name>.parquet`` for each long side table (SBAC by grade, CMT/CAPT by grade, staffing, histpay,
  ECS by town);
- ``datapackage.json``: the data dictionary (Frictionless Data Package);
- ``build_report.csv`` / ``build_report.json``: rows read, kept and dropped by reason, suppressed
  cells by column, and rows kept although a check flagged them (with the gap), for every raw file.

Nothing is written unless validation passes; the whole output set is then published at once
(:mod:`~alliance_study.data.publish`: a versioned folder and an atomic symbolic-link swap), so a failed
or killed build leaves ``data/processed/`` as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from alliance_study import __version__
from alliance_study.data.publish import publish
from alliance_study.data.registry import Registry
from alliance_study.data.schema import panel_schema, validate_panel
from alliance_study.data.sources import (
    absenteeism,
    cmt_capt,
    cpi,
    designations,
    directory,
    ecs,
    enrollment,
    expenditures,
    graduation,
    histpay,
    ncep,
    revenue,
    sbac,
    seda,
    staffing,
    suspensions,
)
from alliance_study.data.sources.common import ColumnSpec, SourceOutput, SourceReport
from alliance_study.data.sources.keys import year_span
from alliance_study.errors import ValidationError

#: Source families joined into the panel, in the order their columns appear.
SOURCE_MODULES = (
    sbac,
    cmt_capt,
    seda,
    graduation,
    absenteeism,
    suspensions,
    enrollment,
    staffing,
    expenditures,
    ecs,
    histpay,
    ncep,
    revenue,
    cpi,  # no district columns: the yearly CPI-U table goes to state_year.csv and the cpi side table
)

#: First panel year: spring 2006, the first CMT year in sgaul/testscores (2005-06). Earlier years exist
#: only in the grant-payment history (histpay, from FY1990), which stays whole in ``histpay_long``.
PANEL_FIRST_YEAR = 2006


#: First fiscal year with an Alliance/non-Alliance split in the ECS file (the program began in FY2013).
ALLIANCE_FIRST_YEAR = 2013

KEY = ["district_code", "year"]

ID_COLUMNS = [
    ColumnSpec("district_code", "string", "", "7-digit CSDE district code (first 3 digits: town or "
               "organization number; last 2: entity type)", "directory"),
    ColumnSpec("year", "integer", "spring year", "Spring of the school year (2013 = 2012-13 = FY2013)",
               "panel"),
    ColumnSpec("district_name", "string", "", "District name (Education Directory 2022-23, or the name "
               "in the last export that listed it)", "directory"),
    ColumnSpec("entity_type", "string", "", "town_district, regional_district, charter, resc, "
               "state_agency, technical_hs_system, endowed_academy or other (from the code suffix)",
               "directory"),
    ColumnSpec("town_code", "integer", "", "Town code 1-169 for town (local) districts; empty otherwise",
               "directory"),
    ColumnSpec("in_directory", "boolean", "", "Listed as a district in the 2022-23 Education Directory",
               "directory"),
]

TREATMENT_COLUMNS = [
    ColumnSpec("alliance_cohort", "integer", "fiscal year", "First fiscal year designated an Alliance "
               "District (2013, 2018 or 2023); empty if never designated", "designations"),
    ColumnSpec("alliance_designated", "integer", "0/1", "1 if designated an Alliance District in this "
               "year (year >= alliance_cohort)", "designations"),
    ColumnSpec("opportunity_district", "integer", "0/1", "1 if an Opportunity District this year "
               "(the ten lowest-performing Alliance Districts)", "designations"),
    ColumnSpec("alliance_dollars", "number", "USD (nominal)", "Alliance portion of the town's ECS "
               "entitlement; 0 before FY2013 and for non-recipients; empty outside FY2012-2024 or for "
               "entities without an ECS row", "ecs"),
    ColumnSpec("alliance_dollars_per_pupil", "number", "USD (nominal) per student", "alliance_dollars "
               "divided by October enrollment; empty where enrollment is missing", "ecs; enrollment"),
]


@dataclass
class PanelBuild:
    """Everything one build produces, before it is written."""

    panel: pd.DataFrame
    state: pd.DataFrame
    extras: dict[str, pd.DataFrame]
    reports: list[SourceReport]
    columns: list[ColumnSpec]
    registry: Registry
    assembly: list[dict] = field(default_factory=list)

    def report_frame(self) -> pd.DataFrame:
        """The build report as a long table: one row per file x (dropped reason | suppressed column)."""
        return build_report_frame(self.reports)


def build_report_frame(reports: list[SourceReport]) -> pd.DataFrame:
    """Flatten source reports: file-level counts plus one row per drop reason and suppressed column."""
    rows = []
    for r in sorted(reports, key=lambda r: (r.family, r.file)):
        base = {"family": r.family, "file": r.file, "rows_read": r.rows_read, "rows_kept": r.rows_kept,
                "rows_dropped": sum(r.dropped.values())}
        rows.append({**base, "kind": "total", "what": "", "n": r.rows_read})
        for reason in sorted(r.dropped):
            rows.append({**base, "kind": "dropped", "what": reason, "n": r.dropped[reason]})
        for column in sorted(r.suppressed):
            rows.append({**base, "kind": "suppressed", "what": column, "n": r.suppressed[column]})
        for f in r.flagged:
            rows.append({**base, "kind": "flagged", "what": f"line {f['line']}, {f['column']}: {f['what']} "
                         f"(gap {f['gap']:g})", "n": 1})
    return pd.DataFrame(rows, columns=["family", "file", "rows_read", "rows_kept", "rows_dropped",
                                       "kind", "what", "n"])


def _check_output(out: SourceOutput) -> None:
    d = out.district
    missing = [c for c in KEY if c not in d.columns]
    if missing:
        raise ValidationError(f"{out.family}: district table lacks {missing}")
    if d.duplicated(KEY).any():
        dup = d.loc[d.duplicated(KEY), KEY].iloc[0].to_dict()
        raise ValidationError(f"{out.family}: duplicate district-year {dup}")
    declared = {c.name for c in out.columns}
    undeclared = [c for c in d.columns if c not in declared and c not in KEY]
    if undeclared:
        raise ValidationError(f"{out.family}: columns without a data-dictionary entry: {undeclared}")


def assemble(
    crosswalk: directory.Crosswalk,
    outputs: list[SourceOutput],
    designation_table: pd.DataFrame,
    opportunity: Callable[[list[int]], pd.DataFrame],
    first_year: int = PANEL_FIRST_YEAR,
    last_year: int | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Join source tables on (district_code, year) and add identifiers and treatment columns.

    Parameters
    ----------
    crosswalk
        District master list (names, entity types, town codes).
    outputs
        One :class:`SourceOutput` per family, in column order.
    designation_table
        ``district_code``, ``alliance_cohort`` for the designated districts.
    opportunity
        Function of a list of years returning ``district_code, year, opportunity_district``.
    first_year, last_year
        Panel years (inclusive); ``last_year`` defaults to the latest year any source covers, so a new
        year of raw files extends the panel by itself. Source rows outside the range are counted in the
        assembly log.

    Returns
    -------
    panel, assembly
        The panel sorted by key, and per-family counts of rows entering and left outside the range.
    """
    assembly = []
    tables = []
    if last_year is None:
        last_year = max(int(out.district["year"].max()) for out in outputs if len(out.district))
    for out in outputs:
        _check_output(out)
        d = out.district
        inside = d["year"].between(first_year, last_year)
        assembly.append({"family": out.family, "rows": len(d), "rows_in_panel_years": int(inside.sum()),
                         "rows_outside_panel_years": int((~inside).sum()),
                         "note": "kept in the family's long table" if (~inside).any() else ""})
        tables.append(d.loc[inside].set_index(KEY))
    keys = pd.concat([t.index.to_frame(index=False) for t in tables], ignore_index=True)
    keys = keys.drop_duplicates().sort_values(KEY, ignore_index=True)
    unknown = sorted(set(keys["district_code"]) - crosswalk.codes)
    if unknown:
        raise ValidationError(f"district codes not in the crosswalk reached the panel: {unknown[:5]}")
    keys = keys[keys["district_code"] != "0000000"]
    panel = keys.set_index(KEY)
    ids = crosswalk.districts.set_index("district_code")
    for t in tables:
        if "town_code" in t.columns:
            # The crosswalk is the one authority on town codes; a source that carries them must agree.
            codes = t.index.get_level_values("district_code")
            expected = pd.Series(codes.map(ids["town_code"]), index=t.index).astype("Int64")
            disagree = t["town_code"].astype("Int64").ne(expected).fillna(False)
            if disagree.any():
                where = t.index[disagree.to_numpy()][0]
                raise ValidationError(f"town_code of {where} disagrees with the crosswalk")
            t = t.drop(columns="town_code")
        overlap = [c for c in t.columns if c in panel.columns]
        if overlap:
            raise ValidationError(f"two sources define the same columns: {overlap}")
        panel = panel.join(t, how="left")
    # One block per dtype again after many joins (pandas warns about a fragmented frame otherwise).
    panel = panel.copy().reset_index()

    panel.insert(2, "district_name", panel["district_code"].map(ids["district_name"]))
    panel.insert(3, "entity_type", panel["district_code"].map(ids["entity_type"]))
    panel.insert(4, "town_code", panel["district_code"].map(ids["town_code"]).astype("Int64"))
    panel.insert(5, "in_directory", panel["district_code"].map(ids["in_directory"]).astype(bool))

    cohort = designation_table.set_index("district_code")["alliance_cohort"]
    panel.insert(6, "alliance_cohort", panel["district_code"].map(cohort).astype("Int64"))
    designated = (panel["year"] >= panel["alliance_cohort"]).fillna(False).astype("int8")
    panel.insert(7, "alliance_designated", designated)
    years = list(range(first_year, last_year + 1))
    opp = opportunity(years).set_index(KEY)["opportunity_district"]
    flag = pd.Series(opp.reindex(pd.MultiIndex.from_frame(panel[KEY])).to_numpy(), index=panel.index)
    panel.insert(8, "opportunity_district", flag.fillna(0).astype("int8"))

    # Designation and money are separate facts: some designees received $0 in their first years.
    enrollment_col = panel["enrollment"] if "enrollment" in panel.columns else np.nan
    per_pupil = panel["alliance_dollars"] / enrollment_col
    panel["alliance_dollars_per_pupil"] = per_pupil.where(np.isfinite(per_pupil))
    front = [c for c in panel.columns if c not in ("alliance_dollars", "alliance_dollars_per_pupil")][:9]
    rest = [c for c in panel.columns if c not in front and c not in ("alliance_dollars",
                                                                      "alliance_dollars_per_pupil")]
    panel = panel[[*front, "alliance_dollars", "alliance_dollars_per_pupil", *rest]]
    return panel.sort_values(KEY, ignore_index=True), assembly


def check_families(registry: Registry, families: list[str]) -> None:
    """Raise naming every family the panel promises that has no file in the registry.

    Without this a registry that lost a whole family would build with that family's columns empty.
    """
    missing = [f for f in families if not registry.files(f)]
    if missing:
        raise ValidationError(
            f"the registry has no files for famil"
            f"{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}: the panel's columns from "
            f"{'it' if len(missing) == 1 else 'them'} would be empty; restore the registry rows"
        )


#: District-years whose Alliance portion of ECS is $0 although the district is designated, as the ECS file
#: (edbot317-source/public-CT-ed-data town_year_ecs_entitlement.csv, alliance_portion) has them. Designation
#: and money differ (shared/data/README.md: "some designees received no Alliance dollars in their first
#: years (Enfield FY2023, Thompson FY2018-19)"); reference/alliance_designations.csv notes Plainfield's first
#: Alliance money in FY2024. Groton (designated FY2018) has a $0 Alliance portion in every year of the file,
#: and Thompson in FY2018-2024, as transcribed. Any other $0 designee-year, and any Alliance dollars for a
#: district-year that is not designated, stops the build.
DESIGNATED_WITHOUT_MONEY: dict[str, tuple[int, ...]] = {
    "0490011": (2023, 2024),  # Enfield
    "0590011": tuple(range(2018, 2025)),  # Groton
    "1090011": (2023,),  # Plainfield
    "1410011": tuple(range(2018, 2025)),  # Thompson
}


def check_money_against_designations(panel: pd.DataFrame, ecs_files: list[str],
                                     designation_files: list[str]) -> None:
    """Raise if Alliance dollars and designations disagree outside :data:`DESIGNATED_WITHOUT_MONEY`.

    Alliance dollars for a district-year that is not designated (never designated, or before its cohort)
    are an error; so is $0 for a designated district-year not listed as a known exception.
    """
    money = panel["alliance_dollars"]
    designated = panel["alliance_designated"] == 1
    files = f"{', '.join(ecs_files)} (ECS) and {', '.join(designation_files)} (designations)"
    paid_undesignated = (money > 0) & ~designated
    if paid_undesignated.any():
        r = panel.loc[paid_undesignated].iloc[0]
        cohort = ("never designated" if pd.isna(r["alliance_cohort"])
                  else f"designated from FY{r['alliance_cohort']}")
        raise ValidationError(
            f"{files} disagree: {r['district_name']} ({r['district_code']}) has Alliance dollars "
            f"{r['alliance_dollars']:,.0f} in FY{r['year']} but is {cohort}"
        )
    known = {(code, y) for code, years in DESIGNATED_WITHOUT_MONEY.items() for y in years}
    keys = list(zip(panel["district_code"], panel["year"].astype(int), strict=True))
    unlisted = (money == 0) & designated & ~pd.Series([k in known for k in keys], index=panel.index)
    if unlisted.any():
        r = panel.loc[unlisted].iloc[0]
        raise ValidationError(
            f"{files} disagree: {r['district_name']} ({r['district_code']}) is designated in FY{r['year']} "
            "but its Alliance dollars are $0, and it is not a known exception (DESIGNATED_WITHOUT_MONEY in "
            "alliance_study/data/panel.py)"
        )


def build_panel(registry: Registry, progress: Callable[[str], None] | None = None) -> PanelBuild:
    """Read every source through the registry and build and validate the panel (no writing).

    Parameters
    ----------
    registry
        Registry whose files have been fetched; each file's sha256 is checked before it is read.
    progress
        Called with a family name as each source finishes (for the command line's progress bar).

    Examples
    --------
    The panel is built from every source family at once, so the example uses the project's registry (a
    fixture registry would need a file of every family); ``fetch`` copies missing raw files from the mirror
    (``$ALLIANCE_DATA_MIRROR``) and verifies each sha256. It takes a few seconds.

    >>> from alliance_study.data import paths
    >>> from alliance_study.data.registry import Registry, fetch
    >>> registry = Registry.load()
    >>> _ = fetch(registry, paths.mirror_dir())
    >>> build = build_panel(registry)
    >>> panel = build.panel
    >>> int(panel["year"].min()), bool(panel.duplicated(["district_code", "year"]).any())
    (2006, False)
    >>> cohorts = panel.groupby("alliance_cohort")["district_code"].nunique()
    >>> cohorts.index.tolist(), cohorts.tolist()
    ([2013, 2018, 2023], [30, 3, 3])
    >>> panel.loc[(panel["district_code"] == "0640011") & (panel["year"] == 2013), "district_name"].item()
    'Hartford School District'
    """
    def tick(name: str) -> None:
        if progress is not None:
            progress(name)

    check_families(registry, [directory.FAMILY, designations.FAMILY, *(m.FAMILY for m in SOURCE_MODULES)])
    crosswalk, reports = directory.load(registry)
    tick(directory.FAMILY)
    designation_out = designations.load(registry, crosswalk)
    reports.extend(designation_out.reports)
    tick(designations.FAMILY)
    outputs: list[SourceOutput] = []
    for module in SOURCE_MODULES:
        out = module.load(registry, crosswalk)
        for r in out.reports:
            r.check()
        outputs.append(out)
        reports.extend(out.reports)
        tick(module.FAMILY)

    panel, assembly = assemble(crosswalk, outputs, designation_out.district, designations.opportunity_flags)
    check_money_against_designations(panel, [e.path for e in registry.files(ecs.FAMILY)],
                                     [e.path for e in registry.files(designations.FAMILY)])
    columns = list(ID_COLUMNS) + list(TREATMENT_COLUMNS)
    for out in outputs:
        # Identifier and treatment columns are documented once, above; sources (ECS) also describe them.
        declared = {c.name for c in columns}
        columns.extend(c for c in out.columns if c.name not in declared)
    names = [c.name for c in columns]
    if sorted(names) != sorted(panel.columns):
        extra = sorted(set(panel.columns) - set(names))
        missing = sorted(set(names) - set(panel.columns))
        raise ValidationError(f"data dictionary and panel disagree: undocumented {extra}, absent {missing}")
    validate_panel(panel, panel_schema(columns))

    state_frames = []
    for out in outputs:
        if out.state is not None and len(out.state):
            state_frames.append(out.state.set_index("year"))
    state = pd.concat(state_frames, axis=1).sort_index().reset_index() if state_frames else pd.DataFrame()

    extras: dict[str, pd.DataFrame] = {"districts": crosswalk.districts,
                                       "alliance_designations": designation_out.district}
    for out in outputs:
        for name, frame in out.extra.items():
            if name in extras:
                raise ValidationError(f"two sources produce the side table {name!r}")
            extras[name] = frame
    return PanelBuild(panel=panel, state=state, extras=extras, reports=reports, columns=columns,
                      registry=registry, assembly=assembly)


def datapackage(build: PanelBuild) -> dict:
    """The data dictionary as a Frictionless Data Package descriptor (one resource per output table)."""
    panel = build.panel
    fields = []
    for c in build.columns:
        fields.append({
            "name": c.name,
            "type": c.type,
            "description": c.description,
            "unit": c.unit,
            "source": c.source,
            "years": year_span(panel.loc[panel[c.name].notna(), "year"]) if c.name in panel.columns else "",
        })
    used = sorted({r.file for r in build.reports})
    sources = []
    for path in used:
        e = build.registry.entry(path)
        sources.append({"title": e.measure or path, "path": path, "url": e.upstream_url,
                        "license": e.license, "sha256": e.sha256, "exact_copy": e.exact_copy})
    return {
        "profile": "tabular-data-package",
        "name": "alliance-study-district-year",
        "title": "Connecticut district-by-year panel for the Alliance District study",
        "version": __version__,
        "licenses": [{"name": "ODC-By-1.0", "title": "Derived from ODC-PDDL, ODC-By, MIT and CC-BY-4.0 "
                      "sources; see each source's license"}],
        "sources": sources,
        "resources": [{
            "name": "district_year",
            "path": "district_year.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "encoding": "utf-8",
            "schema": {"fields": fields, "primaryKey": KEY, "missingValues": [""]},
        }],
    }


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    # Arrow's writer is ~5x faster than pandas' and prints floats in their shortest round-trip form
    # (deterministic, and no precision lost); text columns are quoted.
    table = pa.Table.from_pandas(df, preserve_index=False)
    pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="needed"))


def _write_files(build: PanelBuild, folder: Path) -> None:
    """Write every output of ``build`` into ``folder`` (which exists and is empty)."""
    build.panel.to_parquet(folder / "district_year.parquet", index=False)
    _write_csv(build.panel, folder / "district_year.csv")
    _write_csv(build.state, folder / "state_year.csv")
    for name, frame in sorted(build.extras.items()):
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    _write_csv(build.report_frame(), folder / "build_report.csv")
    report_json = {
        "files": [
            {"family": r.family, "file": r.file, "rows_read": r.rows_read, "rows_kept": r.rows_kept,
             "dropped": dict(sorted(r.dropped.items())), "suppressed": dict(sorted(r.suppressed.items())),
             **({"flagged": r.flagged} if r.flagged else {})}
            for r in sorted(build.reports, key=lambda r: (r.family, r.file))
        ],
        "panel_assembly": build.assembly,
        "panel_rows": len(build.panel),
        "panel_columns": len(build.panel.columns),
    }
    (folder / "build_report.json").write_text(json.dumps(report_json, indent=1, sort_keys=True) + "\n")
    (folder / "datapackage.json").write_text(json.dumps(datapackage(build), indent=1) + "\n")
    # Re-read the panel so a write that pyarrow accepted but cannot read back never lands.
    back = pd.read_parquet(folder / "district_year.parquet")
    if back.shape != build.panel.shape:
        raise ValidationError("district_year.parquet did not read back with the same shape")


def write_outputs(build: PanelBuild, out_dir: Path) -> list[Path]:
    """Write every output of a build and publish the whole set at once under ``out_dir``.

    The files are written to a staging folder, which becomes a versioned folder
    ``<out_dir>.v/<content hash>``; each ``out_dir/<file>`` is a link through ``<out_dir>.v/current``,
    which is replaced in one atomic rename (:func:`~alliance_study.data.publish.publish`). Readers of
    ``out_dir/<file>`` see the old set or the new set, never a mixture, and a failure (or kill) at any
    step leaves the old set in place. A disk or permission error ends in an
    :class:`~alliance_study.errors.OutputError` naming the path.

    Returns
    -------
    list of Path
        ``out_dir / name`` for every file written, sorted by name.
    """
    out_dir = Path(out_dir)
    names = publish(out_dir, lambda folder: _write_files(build, folder))
    return [out_dir / name for name in names]

"""Maintainer tool: (re)write ``data/raw/registry.csv`` from a data mirror's ``MANIFEST.csv``.

The registry is the project's own list of the raw files it reads. This script selects the files each
source family needs (``FAMILY_PATTERNS``) from the mirror's manifest, and adds the curated reference
files (which the manifest does not list) with their hashes. Run it when a new year of raw files is
added to the mirror, then review the diff of ``registry.csv``.

Usage: ``python tools/make_registry.py [--mirror ../shared/data]``
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from alliance_study.data import paths
from alliance_study.data.registry import RegistryEntry, sha256_file, write_registry

CTDATA = "CT-Data-Collaborative"
EDSIGHT = f"{CTDATA}/edsight-data/data"

#: Which manifest paths each source family reads. Order matters only for readability; a path that
#: matches two patterns is an error.
FAMILY_PATTERNS: list[tuple[str, str]] = [
    ("sbac", rf"^{CTDATA}/smarter-balanced-by-all-students/raw/smarter-balanced__\d{{4}}-\d{{2}}_.*\.csv$"),
    ("sbac", r"^edbot317-source/public-CT-ed-data/data/sbac/raw/all_students/sbac-\d{4}-\d{2}\.csv$"),
    ("graduation", rf"^{CTDATA}/four-year-grad-rates-by-all-students/raw/four-year-graduation-rates__\d{{4}}-\d{{2}}_all-students_grad(_ct)?\.csv$"),
    ("graduation", r"^edbot317-source/public-CT-ed-data/data/graduation_4yr/raw/all_students/grad-\d{4}-\d{2}\.csv$"),
    ("absenteeism", rf"^{CTDATA}/chronic-absenteeism-by-all-students/raw/chronic-absenteeism__\d{{4}}-\d{{2}}_all-students(_ct)?\.csv$"),
    ("suspensions", rf"^{CTDATA}/suspension-rates-by-all-students/raw/suspension-rates__\d{{4}}-\d{{2}}__?(ct)?\.csv$"),
    ("cmt_capt", r"^sgaul/testscores/(cmt|capt)\.csv$"),
    ("seda", r"^edbot317-source/public-CT-ed-data/data/district_year_seda_gcs/.*\.csv$"),
    ("ecs", r"^edbot317-source/public-CT-ed-data/data/town_year_ecs_entitlement/town_year_ecs_entitlement\.csv$"),
    ("histpay", r"^alspur/firsttermschlfinance/data/histpay\.csv$"),
    ("expenditures", rf"^{EDSIGHT}/(annual-expenditures|per-pupil-expenditures)-district/.*\.csv$"),
    ("enrollment", rf"^{EDSIGHT}/enrollment-district/enrollment__\d{{4}}-\d{{2}}_(all-students|race|lunch|ell|special-education)(_ct)?\.csv$"),
    ("enrollment", rf"^{CTDATA}/educational-need/raw/enrollment__\d{{4}}-\d{{2}}_(lunch|ell|special-education)\.csv$"),
    ("staffing", rf"^{EDSIGHT}/staffing-levels-district/staffing-levels__\d{{4}}-\d{{2}}_all_all-categories(_ct)?\.csv$"),
    ("ncep", r"^edbot317-source/public-CT-ed-data/data/district_year_ncep/district_year_ncep\.csv$"),
    # Revenue by source: the 2006-2015 exports come as three files a year (excluding, including and both
    # stacked); the reader takes the "excluding school construction" table, the definition the 2018-2025
    # exports give amounts for.
    ("revenue", rf"^{EDSIGHT}/revenue-sources-district/revenue-sources__\d{{4}}-\d{{2}}_excluding-school-construction\.csv$"),
    ("revenue", r"^edbot317-source/public-CT-ed-data/data/district_year_revenue/raw/revenue-\d{4}-\d{2}\.csv$"),
    ("cpi", r"^edbot317-source/public-CT-ed-data/data/cpi_u_deflator/cpi_u_deflator\.csv$"),
    ("directory", r"^darrentweng/CTSchoolPerformance15-22/Education_Directory\.csv$"),
]

#: Curated reference files (not in the manifest): path -> (family, measure, license).
REFERENCE_FILES = {
    "reference/alliance_designations.csv": (
        "designations",
        "Alliance District designations: town code and first fiscal year designated (36 districts)",
        "curated facts with sources (see its source column)",
    ),
    "reference/plan_codes_found.csv": (
        "plans",
        "Readable public Alliance plan facts: district, plan year, intervention, coupling, monitoring",
        "curated facts with sources (see its source_url column)",
    ),
}


def classify(path: str) -> str | None:
    """Family of a manifest path, or None when the project does not read it."""
    hits = [fam for fam, pattern in FAMILY_PATTERNS if re.match(pattern, path)]
    if len(hits) > 1:
        raise SystemExit(f"{path} matches several families: {hits}")
    return hits[0] if hits else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=paths.mirror_dir())
    parser.add_argument("--out", type=Path, default=paths.REGISTRY_PATH)
    args = parser.parse_args(argv)
    entries: list[RegistryEntry] = []
    with open(args.mirror / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            family = classify(row["path"])
            if family is None:
                continue
            entries.append(
                RegistryEntry(
                    path=row["path"],
                    family=family,
                    sha256=row["sha256"],
                    bytes=int(row["bytes"]),
                    upstream_url=row["upstream_url"],
                    license=row["license"],
                    exact_copy="yes" if row["exact_copy"].startswith("yes") else "no (transcription or extract)",
                    measure=row["measure"],
                    years=row["years"],
                )
            )
    for rel, (family, measure, license_) in REFERENCE_FILES.items():
        local = args.mirror / rel
        entries.append(
            RegistryEntry(
                path=rel,
                family=family,
                sha256=sha256_file(local),
                bytes=local.stat().st_size,
                upstream_url="",
                license=license_,
                exact_copy="curated",
                measure=measure,
                years="",
            )
        )
    write_registry(entries, args.out)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.family] = counts.get(e.family, 0) + 1
    for fam in sorted(counts):
        print(f"{fam:14s} {counts[fam]:4d} files")
    print(f"wrote {len(entries)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

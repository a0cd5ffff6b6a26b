"""Education Directory: the list of districts, their codes and entity types, and a name crosswalk.

Several raw files carry district names only (graduation 2011-2015 and 2020-2024, expenditures,
staffing). They are mapped to 7-digit codes through :class:`Crosswalk`, built from the CSDE Education
Directory (a 2022-23 snapshot) plus :data:`HISTORICAL_DISTRICTS` (districts in older files that had
closed or been renamed by then) and :data:`NAME_ALIASES` (other spellings seen in the raw files).
An unknown name or code raises :class:`~alliance_study.errors.RawDataError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from alliance_study.data.registry import Registry
from alliance_study.data.sources.common import SourceReport, decode
from alliance_study.data.sources.keys import (
    ENTITY_TYPES,
    STATE_CODE,
    entity_type,
    parse_code,
    town_district_code,
)
from alliance_study.errors import RawDataError

FAMILY = "directory"

#: Education Directory organization types that are district-level entities.
DISTRICT_ORG_TYPES = {
    "Public School Districts": "11",
    "Regional School Districts": "12",
    "Regional Education Service Center School Districts": "14",
    "State Agencies": "15",
}

#: Directory columns the reader uses (others are ignored deliberately; the file has 25).
DIRECTORY_COLUMNS = ["District Name", "School Name", "Organization Type", "Organization Code", "Town"]

#: District-level entities found in the EdSight exports (2010-2025) that the 2022-23 directory lists
#: only at the school level (charters, the technical high school system, endowed academies) or not at
#: all (closed charters, and Regional School District 20, formed in 2024). Names as in the exports; codes
#: as in the exports.
HISTORICAL_DISTRICTS: dict[str, str] = {
    "2310018": "Goodwin University Educational Services (GUES)",
    "2610013": "Jumoke Academy District",
    "2630013": "Odyssey Community School District",
    "2640013": "Integrated Day Charter School District",
    "2650013": "Interdistrict School for Arts and Comm District",
    "2680013": "Common Ground High School District",
    "2690013": "The Bridge Academy District",
    "2700013": "Side By Side Charter School District",
    "2720013": "Explorations District",
    "2780013": "Trailblazers Academy District",
    "2790013": "Amistad Academy District",
    "2800013": "New Beginnings Inc Family Academy District",
    "2810013": "Elm City College Preparatory School",
    "2820013": "Stamford Academy District",
    "2830013": "Park City Prep Charter School District",
    "2850013": "Achievement First Bridgeport Academy District",
    "2860013": "Highville Charter School District",
    "2870013": "Charter School for Young Children on Asylum Hill District",
    "2880013": "Achievement First Hartford Academy District",
    "2890013": "Elm City College Preparatory School District",
    "2900013": "Brass City Charter School District",
    "2910013": "Elm City Montessori School District",
    "2930013": "Path Academy District",
    "2940013": "Great Oaks Charter School District",
    "2950013": "Booker T. Washington Academy District",
    "2960013": "Stamford Charter School for Excellence District",
    "2970013": "Capital Preparatory Harbor School District",
    "9000016": "Connecticut Technical Education and Career System",
    # Formed after the 2022-23 directory: Litchfield and the Region 6 towns (Goshen, Morris, Warren), first
    # listed in the 2024-25 SBAC, graduation and revenue exports and, as "District No. 20", in the NCEP file.
    "2200012": "Regional School District 20",
    "9010022": "Norwich Free Academy District",
    "9020022": "The Gilbert School District",
    "9030022": "The Woodstock Academy District",
}

#: Other spellings of district names seen in the raw files -> code. Keys are raw names; they are
#: normalized with :func:`name_key` when the crosswalk is built.
NAME_ALIASES: dict[str, str] = {
    "Achievement First Hartford Academy Inc. District": "2880013",
    "Bridgeport Achievement First District": "2850013",
    "Capital Preparatory Harbor School Inc. District": "2970013",
    "New Beginnings Inc., Family Academy District": "2800013",
    "Connecticut Technical High School System": "9000016",
    "Woodstock Academy District": "9030022",
    "Education Connection": "2420014",
    "State": STATE_CODE,
    "State of Connecticut": STATE_CODE,
    "Connecticut": STATE_CODE,
    # Staffing and expenditure files 2001-02 to 2006-07: the same Hamden charter school under its first name
    # (the CMT file, sgaul/testscores, numbers it district 277 then; from 2007-08 it is 286 = 2860013).
    "Highville Mustard Seed Charter School District": "2860013",
    # Staffing 2014-15, 2015-16: the agency renamed Department of Aging and Disability Services in 2019.
    "Department of Rehabilitation Services": "3510015",
}

#: (raw name, code) pairs where a file names a district by another district's name, with the reason.
#: :meth:`Crosswalk.check_names` accepts exactly these.
NAME_CODE_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("Elm City College Preparatory School", "2890013"): "the CEDaR CMT/CAPT files (sgaul/testscores) name "
    "district 289, Elm City College Preparatory School District, after its school (2810013 in older exports)",
}

_DROP_WORDS = re.compile(r"\b(inc|the)\b")
_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_LEADING_ZEROS = re.compile(r"\b0+(\d)")
_SPACES = re.compile(r"\s+")


def name_key(name: str) -> str:
    """Normalize a district name for matching: case, punctuation, 'Inc'/'The', '&', leading zeros."""
    s = str(name).strip()
    if s.startswith('="') and s.endswith('"'):
        s = s[2:-1]
    s = s.lower().replace("&", " and ")
    s = _NON_ALNUM.sub(" ", s)
    s = _DROP_WORDS.sub(" ", s)
    s = _LEADING_ZEROS.sub(r"\1", s)
    return _SPACES.sub(" ", s).strip()


@dataclass
class Crosswalk:
    """District master list and name -> code lookup.

    Attributes
    ----------
    districts
        One row per district-level entity: ``district_code``, ``district_name``, ``entity_type``,
        ``town_code`` (town districts only), ``in_directory`` (listed in the 2022-23 directory).
    names
        Normalized name -> district code.
    """

    districts: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)

    @cached_property
    def codes(self) -> frozenset[str]:
        """All known district codes (including the state pseudo-code)."""
        return frozenset(self.districts["district_code"]) | {STATE_CODE}

    def check_code(self, code: str, display: str, line: int | None, column: str) -> str:
        """Return ``code`` if it is a known district, else raise naming file, row and column."""
        if code not in self.codes:
            raise RawDataError(
                display,
                f"unknown district code {code}: not in the Education Directory or HISTORICAL_DISTRICTS",
                row=line,
                column=column,
            )
        return code

    def code_for_name(self, name: str, display: str, line: int | None, column: str) -> str:
        """Map a district name to its code; raise naming file, row and column if it is unknown."""
        key = name_key(name)
        code = self.names.get(key)
        if code is None:
            raise RawDataError(
                display,
                f"unknown district name {name!r} (normalized {key!r}); add it to NAME_ALIASES in "
                "alliance_study/sources/directory.py if it is a real district",
                row=line,
                column=column,
            )
        return code

    def codes_for_names(
        self, names: pd.Series, lines: pd.Series, display: str, column: str
    ) -> pd.Series:
        """Vectorized :meth:`code_for_name` over a column of names."""
        keys = names.astype(str).map(name_key)
        codes = keys.map(self.names)
        if codes.isna().any():
            i = int(codes.isna().to_numpy().nonzero()[0][0])
            self.code_for_name(str(names.iloc[i]), display, int(lines.iloc[i]), column)
        return codes.astype(str)

    def is_district_name(self, text: str) -> bool:
        """True if ``text`` is the name of a known district (or the state) under :func:`name_key`."""
        return name_key(text) in self.names

    def check_names(
        self, codes: Sequence[str], names: Sequence[str], lines: Sequence[int], display: str, column: str
    ) -> None:
        """Raise if a row's name is a known district other than the one its code names.

        Where a file carries both a code and a name, the two must agree: two districts' codes swapped
        would otherwise swap their values silently. A name the crosswalk does not know (a spelling not
        yet in :data:`NAME_ALIASES`) is not an error here; the code is the key.
        """
        lookup = self.names
        cache: dict[str, str | None] = {}
        for code, name, line in zip(codes, names, lines, strict=True):
            if name not in cache:
                cache[name] = lookup.get(name_key(name))
            named = cache[name]
            if named is not None and named != code and (name, code) not in NAME_CODE_EXCEPTIONS:
                raise RawDataError(
                    display,
                    f"the name {name!r} is district {named} in the Education Directory, but the row's code "
                    f"is {code}: code and name disagree (codes swapped?)",
                    row=int(line), column=column,
                )

    def check_town_names(
        self, town_codes: Sequence[int], names: Sequence[str], lines: Sequence[int], display: str, column: str
    ) -> None:
        """Raise if a row's town name is the town of another local district than its town code's.

        Town-keyed files (ECS, grant payments) carry a town code and a town name; two towns' codes
        swapped would swap their money silently. ``"<town> School District"`` is looked up like any
        district name; a town without a local district of that name (a regional-district member) is not
        checked.
        """
        cache: dict[str, str | None] = {}
        for code, name, line in zip(town_codes, names, lines, strict=True):
            if name not in cache:
                cache[name] = self.names.get(name_key(f"{name.strip()} School District"))
            named = cache[name]
            if named is not None and named != town_district_code(int(code)):
                raise RawDataError(
                    display, f"town code {int(code)} is not the town {name.strip()!r} (whose local district "
                    f"is {named}): code and name disagree (codes swapped?)", row=int(line), column=column,
                )

    @cached_property
    def _codes_by_prefix(self) -> dict[str, list[str]]:
        by_prefix: dict[str, list[str]] = {}
        for code in self.districts["district_code"].tolist():
            by_prefix.setdefault(code[:3], []).append(code)
        return by_prefix

    def code_for_cedar_id(self, district_id: int) -> str | None:
        """Map a CEDaR district number (the first three digits of the code) to a district code.

        Returns None when no district, or more than one, has that prefix.
        """
        hits = self._codes_by_prefix.get(f"{int(district_id):03d}", [])
        return hits[0] if len(hits) == 1 else None


def read_directory(path, display: str, report: SourceReport) -> pd.DataFrame:
    """Read the Education Directory and return its district-level rows.

    Returns
    -------
    pandas.DataFrame
        ``district_code``, ``district_name``, ``entity_type``, ``town``. School rows are counted in the
        report as dropped ("school-level row (directory lists schools too)").
    """
    import io

    text = decode(path, display)
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    missing = [c for c in DIRECTORY_COLUMNS if c not in raw.columns]
    if missing:
        raise RawDataError(display, f"missing column(s) {missing}", row=1, column=missing[0])
    # Records can span lines (the Location column holds addresses), so errors cite the record number.
    raw["_line"] = range(2, len(raw) + 2)
    report.rows_read += len(raw)
    is_district = raw["Organization Type"].isin(list(DISTRICT_ORG_TYPES))
    report.drop("school-level row (the directory lists schools too)", int((~is_district).sum()))
    d = raw[is_district]
    codes = [
        parse_code(c, display, int(line), "Organization Code")
        for c, line in zip(d["Organization Code"], d["_line"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "district_code": codes,
            "district_name": d["District Name"].str.strip().to_numpy(),
            "town": d["Town"].str.strip().to_numpy(),
        }
    )
    for code, org, line in zip(codes, d["Organization Type"], d["_line"], strict=True):
        if code[-2:] != DISTRICT_ORG_TYPES[org]:
            raise RawDataError(
                display, f"code {code} does not match organization type {org!r}",
                row=int(line), column="Organization Code",
            )
    if out["district_code"].duplicated().any():
        dup = out.loc[out["district_code"].duplicated(), "district_code"].iloc[0]
        raise RawDataError(display, f"duplicate district code {dup}", column="Organization Code")
    out["entity_type"] = out["district_code"].map(entity_type)
    report.rows_kept += len(out)
    return out.sort_values("district_code", ignore_index=True)


def build_crosswalk(directory: pd.DataFrame) -> Crosswalk:
    """Combine the directory with :data:`HISTORICAL_DISTRICTS` and :data:`NAME_ALIASES`."""
    hist = pd.DataFrame(
        {
            "district_code": list(HISTORICAL_DISTRICTS),
            "district_name": list(HISTORICAL_DISTRICTS.values()),
            "town": pd.NA,
        }
    )
    hist = hist[~hist["district_code"].isin(directory["district_code"])]
    hist["entity_type"] = hist["district_code"].map(entity_type)
    d = directory.assign(in_directory=True)
    hist = hist.assign(in_directory=False)
    districts = pd.concat([d, hist], ignore_index=True).sort_values("district_code", ignore_index=True)
    districts["town_code"] = pd.array(
        [int(c[:3]) if c.endswith("11") else pd.NA for c in districts["district_code"]], dtype="Int64"
    )
    names: dict[str, str] = {}
    for code, name in zip(districts["district_code"], districts["district_name"], strict=True):
        key = name_key(name)
        if key in names and names[key] != code:
            raise RawDataError("crosswalk", f"name {name!r} maps to both {names[key]} and {code}")
        names[key] = code
    for alias, code in NAME_ALIASES.items():
        if code != STATE_CODE and code not in set(districts["district_code"]):
            raise RawDataError("NAME_ALIASES", f"alias {alias!r} points at unknown code {code}")
        names[name_key(alias)] = code
    assert set(districts["entity_type"]) <= set(ENTITY_TYPES.values())
    return Crosswalk(districts=districts, names=names)


def load(registry: Registry) -> tuple[Crosswalk, list[SourceReport]]:
    """Read the Education Directory from the registry and build the crosswalk."""
    reports = []
    frames = []
    for entry in registry.files(FAMILY):
        report = SourceReport(FAMILY, entry.path)
        frames.append(read_directory(registry.verified_path(entry), entry.path, report))
        report.check()
        reports.append(report)
    if not frames:
        raise RawDataError("registry", "no Education Directory file registered (family 'directory')")
    return build_crosswalk(pd.concat(frames, ignore_index=True)), reports

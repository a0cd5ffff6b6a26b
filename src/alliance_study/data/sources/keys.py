"""The panel's keys as the raw files write them: 7-digit CSDE district codes and school years.

District codes (:func:`parse_code`, :data:`ENTITY_TYPES`, the state-total code :data:`STATE_CODE`, town
codes to local district codes) and school-year labels to spring years (:func:`spring_year`,
:func:`year_from_path`), with :func:`year_span` to write a set of years compactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from alliance_study.data.sources.common import excerpt, unquote_excel
from alliance_study.data.sources.numbers import number_hint
from alliance_study.errors import RawDataError

#: Entity type by the last two digits of a 7-digit CSDE district code (shared/data/README.md).
ENTITY_TYPES: dict[str, str] = {
    "00": "state",
    "11": "town_district",
    "12": "regional_district",
    "13": "charter",
    "14": "resc",
    "15": "state_agency",
    "16": "technical_hs_system",
    "18": "other",  # Goodwin University Educational Services, a magnet operator
    "22": "endowed_academy",
}


#: State-total pseudo-district code used by EdSight exports.
STATE_CODE = "0000000"

_YEAR_LABEL = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})(?![0-9])")


def parse_code(value: str, display: str, line: int, column: str) -> str:
    """Return a 7-digit CSDE code from ``="0640011"``, ``640011`` or ``0640011``; raise otherwise."""
    v = unquote_excel(str(value))
    if v.endswith(".0"):
        v = v[:-2]
    if not (v.isascii() and v.isdigit()) or len(v) > 7:
        raise RawDataError(display, f"not a 7-digit district code: {excerpt(str(value))}", row=line,
                           column=column)
    v = v.zfill(7)
    if v[-2:] not in ENTITY_TYPES:
        raise RawDataError(
            display, f"district code {v} has an unknown entity suffix {v[-2:]!r}", row=line, column=column
        )
    return v


def entity_type(code: str) -> str:
    """Entity type of a 7-digit district code (see :data:`ENTITY_TYPES`)."""
    return ENTITY_TYPES[code[-2:]]


def town_district_code(town_code: int) -> str:
    """The local (town) district code of a town: 3-digit town code + ``0011``."""
    if not 1 <= int(town_code) <= 169:
        raise ValueError(f"town code {town_code} outside 1-169")
    return f"{int(town_code):03d}0011"


def spring_year(
    label: str, display: str, line: int | None = None, column: str | None = None, *, exact: bool = False
) -> int:
    """Spring year of a school-year label: ``'2012-13'`` -> 2013. Raises if no label is found.

    With ``exact`` the whole label must be the school year (a cell, not a title): ``'2012-13\u00b9'``
    raises. Errors name ``line`` and ``column`` when given.
    """
    match = _YEAR_LABEL.fullmatch(label.strip()) if exact else _YEAR_LABEL.search(label)
    if not match:
        raise RawDataError(display, f"no school year like 2012-13 in {excerpt(label)}{number_hint(label)}",
                           row=line, column=column)
    start, end2 = int(match.group(1)), int(match.group(2))
    if (start + 1) % 100 != end2:
        raise RawDataError(display, f"inconsistent school year {match.group(0)!r}", row=line, column=column)
    return start + 1


def year_span(years: Iterable[int]) -> str:
    """Compact text for a set of years: ``2006-2011, 2015-2019``."""
    ys = sorted({int(y) for y in years})
    if not ys:
        return ""
    spans, start, prev = [], ys[0], ys[0]
    for y in ys[1:]:
        if y != prev + 1:
            spans.append(f"{start}-{prev}" if start != prev else str(start))
            start = y
        prev = y
    spans.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(spans)


def year_from_path(path: str) -> int:
    """Spring year from a registry path such as ``...__2012-13_all-students.csv`` -> 2013."""
    return spring_year(Path(path).name, path)

"""Exceptions that name the file, row and column of bad input."""

from __future__ import annotations

import re
from pathlib import Path

#: A quoted value longer than this is shortened in error messages (a stray export note or a whole
#: paragraph in one cell must not become a multi-kilobyte one-line error).
QUOTE_LIMIT = 80

#: The longest message a raw-data error prints; the full text stays in the exception's ``message``.
MESSAGE_LIMIT = 600

_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def excerpt(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` with every quoted value longer than ``limit`` cut to its start, and the whole capped.

    >>> excerpt("unknown name 'Notes: " + "x" * 200 + "'")
    "unknown name 'Notes: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (207 characters)"
    """

    def shorten(match: re.Match[str]) -> str:
        quoted = match.group(0)
        if len(quoted) <= limit:
            return quoted
        return f"{quoted[: limit - 20]}...{quoted[-1]} ({len(quoted) - 2} characters)"

    short = _QUOTED.sub(shorten, text)
    if len(short) > MESSAGE_LIMIT:
        short = f"{short[:MESSAGE_LIMIT]}... ({len(short) - MESSAGE_LIMIT} more characters)"
    return short


class AllianceStudyError(Exception):
    """Base class for errors raised by the package."""


class RawDataError(AllianceStudyError):
    """A raw file does not look the way its reader expects.

    Parameters
    ----------
    file
        The raw file (a path; reported relative to the raw-data root when possible).
    message
        What is wrong.
    row
        1-based line number in the file (or record number where noted), if the problem is in one row.
    column
        The column label, if the problem is in one column.
    """

    def __init__(
        self,
        file: str | Path,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = str(file)
        self.row = row
        self.column = column
        self.message = message
        where = [f"file {self.file}"]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {excerpt(message)}")


class FetchError(AllianceStudyError):
    """A raw file could not be fetched or failed its sha256 check."""


class ValidationError(AllianceStudyError):
    """A built table failed its schema or a consistency check."""


class OutputError(AllianceStudyError):
    """Build outputs could not be written (permissions, a full disk); the previous outputs are intact."""

"""Exceptions that name the file, row and column of bad input."""

from __future__ import annotations

from pathlib import Path


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
        super().__init__(f"{', '.join(where)}: {message}")


class FetchError(AllianceStudyError):
    """A raw file could not be fetched or failed its sha256 check."""


class ValidationError(AllianceStudyError):
    """A built table failed its schema or a consistency check."""


class OutputError(AllianceStudyError):
    """Build outputs could not be written (permissions, a full disk); the previous outputs are intact."""

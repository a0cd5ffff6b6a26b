"""Cells to numbers for the source readers: suppression tokens, thousands separators, bounds, whole counts.

:func:`to_number` (one column) and :func:`to_numbers` (several sharing bounds) turn string cells into
float64: suppression tokens become NaN and are counted in the file's
:class:`~alliance_study.data.sources.common.SourceReport`; a cell that is not a number as the exports print
it (a decimal comma, ``Inf``, ``NaN``, a superscript digit) or a value out of bounds raises naming the line
and column. Also here: integer cells (:func:`ascii_int`), whole-count checks (:func:`check_whole`) and
whether float sums are exact (:func:`exact_sums`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from itertools import compress

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alliance_study.data.sources.common import SourceReport, excerpt, unquote_excel
from alliance_study.errors import RawDataError

#: Tokens EdSight uses for suppressed or unavailable cells ("*" small cell, "N/A" not available;
#: "**" and "-" in the CEDaR CMT/CAPT files). CTData processed files use -9999 / -6666 instead.
SUPPRESSION_TOKENS: frozenset[str] = frozenset({"*", "N/A", "**", "-", ""})

#: Suppression marks of the EdSight exports proper: ``*`` (small cell) and ``N/A`` (not available). An
#: empty cell is not one of them (the exports write ``*``), so an empty cell in a data row means a damaged
#: or cut row and raises.
EDSIGHT_TOKENS: frozenset[str] = frozenset({"*", "N/A"})


def to_number(
    df: pd.DataFrame,
    column: str,
    display: str,
    report: SourceReport,
    *,
    lo: float | None = None,
    hi: float | None = None,
    tokens: frozenset[str] = SUPPRESSION_TOKENS,
    label: str | None = None,
    whole: bool = False,
) -> pd.Series:
    """Parse a string column to float; suppression tokens become NaN and are counted.

    Parameters
    ----------
    df
        Frame with a ``_line`` column (line numbers for error messages).
    column
        Column to parse.
    display
        File name for errors.
    report
        Where suppressed cells are counted (under ``label`` or ``column``).
    lo, hi
        Inclusive bounds; a value outside raises.
    tokens
        Cell values meaning "suppressed or not available".
    label
        Column name to use in errors and the report (defaults to ``column``).
    whole
        The column holds counts: a value with a fractional part raises.

    Raises
    ------
    RawDataError
        On a non-numeric or non-finite value (``Inf``, ``NaN``), a decimal comma (``63,6``), a value out
        of bounds or (with ``whole``) a fractional count, naming the line and column.
    """
    name = label or column
    # Plain Python strings: iterating pandas' Arrow-backed strings cell by cell is several times slower.
    raw = df[column].to_numpy(dtype=object)
    # Columns repeat a few values (counts, percents, ids): clean and parse each distinct cell once.
    index, distinct = pd.factorize(raw)
    if len(index) and index.min() < 0:  # a missing cell (None or NaN): no shortcut
        index, distinct = None, raw
    cells = _clean_cells(distinct.tolist())
    flags = list(map(tokens.__contains__, cells))
    suppressed = np.array(flags, dtype=bool)
    values = _plain_floats(cells, flags, suppressed)
    if index is not None:
        suppressed = suppressed[index]
        values = values[index] if values is not None else None
    if (values is None or (lo is not None and bool((values < lo).any()))
            or (hi is not None and bool((values > hi).any()))):
        # Anything unusual (and every error) goes through pandas' parser, as it always did.
        if index is not None:
            cells = [cells[k] for k in index.tolist()]
        values = _parse_numbers(cells, suppressed, df, display, name, lo, hi)
    report.suppress(name, int(suppressed.sum()))
    out = pd.Series(values, index=df.index, copy=False)
    if whole:
        check_whole(out, df["_line"], display, name)
    return out


def to_numbers(
    df: pd.DataFrame,
    columns: Sequence[str],
    display: str,
    report: SourceReport,
    *,
    lo: float | None = None,
    hi: float | None = None,
    tokens: frozenset[str] = SUPPRESSION_TOKENS,
    labels: Sequence[str | None] | None = None,
    whole: bool = False,
) -> np.ndarray:
    """:func:`to_number` over several columns that share bounds and tokens: float64, rows x columns.

    The same as calling :func:`to_number` column by column in the given order (``labels[k]`` for
    ``columns[k]``): the same values, the same suppressed counts, and on bad input the same first error.
    Each distinct cell of all the columns is cleaned and parsed once.
    """
    labels = list(labels) if labels is not None else [None] * len(columns)
    if len(labels) != len(columns):
        raise ValueError("one label per column")
    n = len(df)
    values = None
    if columns and all(c in df.columns for c in columns):
        index, distinct = pd.factorize(np.concatenate([df[c].to_numpy(dtype=object) for c in columns]))
        if not len(index) or index.min() >= 0:
            cells = _clean_cells(distinct.tolist())
            flags = list(map(tokens.__contains__, cells))
            suppressed = np.array(flags, dtype=bool)
            parsed = _plain_floats(cells, flags, suppressed)
            if not (parsed is None or (lo is not None and bool((parsed < lo).any()))
                    or (hi is not None and bool((parsed > hi).any()))):
                values = parsed[index].reshape(len(columns), n)
                counts = suppressed[index].reshape(len(columns), n).sum(axis=1)
    if values is None:
        # Something to report (or unusual cells): column by column, exactly as to_number does.
        parts = [to_number(df, c, display, report, lo=lo, hi=hi, tokens=tokens, label=lab,
                           whole=whole).to_numpy()
                 for c, lab in zip(columns, labels, strict=True)]
        return np.column_stack(parts) if parts else np.empty((n, 0))
    if whole:
        fractional = ~np.isnan(values) & (values != np.round(values))
        if fractional.any():
            k, i = (int(v[0]) for v in np.nonzero(fractional))
            raise RawDataError(display, f"count {values[k, i]} is not a whole number",
                               row=int(df["_line"].iloc[i]), column=labels[k] or columns[k])
    for c, lab, k in zip(columns, labels, counts.tolist(), strict=True):
        report.suppress(lab or c, int(k))
    return values.T


def _clean_cells(raw: list) -> list[str]:
    """Cells stripped and Excel-unquoted; a cell that is not a string (missing) becomes empty."""
    try:
        cells = list(map(str.strip, raw))
    except TypeError:
        cells = [v.strip() if isinstance(v, str) else "" for v in raw]
    if '="' in "\x00".join(cells):
        cells = [unquote_excel(c) for c in cells]
    return cells


#: Characters of a plain decimal number (and the separator used to check many at once).
_PLAIN_NUMBER = re.compile(r"[0-9.+\-\x00]*")

#: Longest plain number parsed by ``float``: at most 15 digits, so every value and power of ten involved
#: is exact and ``float`` and pandas' parser both return the correctly rounded double.
_PLAIN_NUMBER_MAX_LEN = 15


def _plain_floats(cells: list[str], flags: list[bool], suppressed: np.ndarray) -> np.ndarray | None:
    """float64 values of the unsuppressed cells (NaN where suppressed), or None if any cell is unusual.

    A fast path for :func:`to_number`: it only accepts short plain decimals (digits, a sign and a point,
    after removing ``,`` and ``$``), for which Arrow's cast (like ``float``) gives the same double as
    ``pandas.to_numeric``; anything it rejects is left to ``to_numeric``.
    A negative zero is left to ``to_numeric`` too (it returns +0.0 for an all-integer column).
    """
    any_suppressed = any(flags)
    texts = list(compress(cells, map(operator.not_, flags))) if any_suppressed else cells
    joined = "\x00".join(texts)
    if "," in joined or "$" in joined:
        if "," in joined and not all(_GROUPED.fullmatch(c) for c in texts if "," in c):
            return None  # a comma that is not a thousands separator: to_numeric's path raises
        texts = [c.replace(",", "").replace("$", "") for c in texts]
        joined = "\x00".join(texts)
    if _PLAIN_NUMBER.fullmatch(joined) is None:
        return None
    if texts and max(map(len, texts)) > _PLAIN_NUMBER_MAX_LEN:
        return None
    try:
        # Arrow's parser accepts the same plain decimals as float and returns the same (correctly
        # rounded) doubles, several times faster.
        parsed = pc.cast(pa.array(texts, type=pa.string()), pa.float64()).to_numpy(
            zero_copy_only=False, writable=True)
    except pa.ArrowInvalid:
        return None
    if ((parsed == 0) & np.signbit(parsed)).any():
        return None
    if not any_suppressed:
        return parsed
    values = np.full(len(cells), np.nan)
    values[~suppressed] = parsed
    return values


def _parse_numbers(
    cells: list[str],
    suppressed: np.ndarray,
    df: pd.DataFrame,
    display: str,
    name: str,
    lo: float | None,
    hi: float | None,
) -> np.ndarray:
    """:func:`to_number`'s parse with ``pandas.to_numeric``: raise on a bad cell or a value out of bounds."""
    cleaned = [None if s else _number_text(c) for c, s in zip(cells, suppressed.tolist(), strict=True)]
    values = pd.to_numeric(np.array(cleaned, dtype=object) if cleaned else np.empty(0, dtype=object),
                           errors="coerce")
    bad = (pd.isna(values) | ~np.isfinite(values)) & ~suppressed
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RawDataError(
            display, f"not a number: {excerpt(cells[i])}{number_hint(cells[i])}",
            row=int(df["_line"].iloc[i]), column=name
        )
    for bound, word in ((lo, "below"), (hi, "above")):
        if bound is None:
            continue
        test = values < bound if word == "below" else values > bound
        if test.any():
            i = int(np.flatnonzero(test)[0])
            raise RawDataError(
                display, f"value {values[i]} is {word} the allowed {bound}",
                row=int(df["_line"].iloc[i]), column=name,
            )
    return values.astype("float64")


#: A number as the exports print it: ASCII digits, an optional sign, point and exponent; commas only as
#: thousands separators between groups of exactly three digits ("1,234,567"; never "63,6"), an optional
#: leading "$". Non-finite spellings (Inf, NaN) and other scripts' digits ("2013\u00b9") are not numbers.
_NUMBER = re.compile(r"[+-]?\$?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"
                     r"|[+-]?\$?\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_GROUPED = re.compile(r"[+-]?\$?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


def _number_text(cell: str) -> str | None:
    """The cell without thousands separators and ``$`` if it is a number as defined by ``_NUMBER``."""
    if _NUMBER.fullmatch(cell) is None:
        return None
    return cell.replace(",", "").replace("$", "")


def number_hint(cell: str) -> str:
    """Why a cell that looks almost numeric is refused (empty if nothing specific)."""
    if re.fullmatch(r"[+-]?[0-9]*,[0-9]+", cell):
        return " (a decimal comma? thousands separators must separate groups of three digits)"
    if re.fullmatch(r"[+-]?(inf(inity)?|nan)", cell, re.IGNORECASE):
        return " (not a finite number)"
    if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in cell):
        return " (a character that is a digit but not 0-9, e.g. a superscript)"
    return ""


def ascii_int(text: str, display: str, line: int | None, column: str) -> int:
    """``int`` of a cell of ASCII digits; raise naming file, row and column otherwise (``'2013\u00b9'``)."""
    value = unquote_excel(str(text))
    if not (value.isascii() and value.isdigit()):
        raise RawDataError(display, f"not an integer: {excerpt(value)}{number_hint(value)}",
                           row=line, column=column)
    return int(value)


def check_whole(values: pd.Series, lines: pd.Series, display: str, column: str) -> None:
    """Raise naming the first count that is not a whole number."""
    bad = values.notna() & (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RawDataError(
            display, f"count {values.iloc[i]} is not a whole number", row=int(lines.iloc[i]), column=column
        )


def exact_sums(*columns: np.ndarray) -> bool:
    """True if the non-NaN values are whole numbers small enough that every sum of them is exact.

    Then any order of addition gives the same float64 sums, so a vectorized sum equals pandas' (which adds
    group members in its own order); readers fall back to pandas otherwise.
    """
    for values in columns:
        finite = values[~np.isnan(values)]
        if not (np.isfinite(finite).all() and (finite == np.round(finite)).all()
                and np.abs(finite).sum() < 2.0 ** 52):
            return False
    return True

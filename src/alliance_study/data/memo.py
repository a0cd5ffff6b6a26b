"""Results shared by the runs of one book build: computed once, read by the others (keyed on content).

The 36 district profiles each show their row of the same district-independent computation (the
improvement ranking's bootstrap in three windows, 15-30 s of CPU). Inside the book runner's kernels,
:func:`memo_frame` computes such a table once, stores it under the directory named by :data:`MEMO_ENV`
(set by :mod:`alliance_study.book.runner` for every kernel it starts), and every later call with the same
key reads it back.

The key is everything the result depends on: the caller's inputs (:func:`frame_digest` of a DataFrame,
parameters as canonical JSON), the source of every module of the package, and the versions of Python and
the numerical libraries. A change to any of them gives another key, so a stale table is never read; old
tables are simply not found again. The runner's own run keys (notebook, parameters, library, data files
read) decide which notebooks re-run; the memo only makes those runs cheaper.

Every caller gets the table *as read back from disk*, including the one that computed it, so a page is
byte-identical whichever run computed the table. Concurrent runs of the same key wait on a lock file
while one of them computes (two kernels never both spend the CPU). Outside the runner (tests,
JupyterLab, the CLI) :data:`MEMO_ENV` is unset and :func:`memo_frame` just computes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

#: Environment variable naming the memo directory (unset: no memo, every call computes).
MEMO_ENV = "ALLIANCE_STUDY_MEMO"

#: Package whose module sources are part of every key (a change to any module invalidates every memo).
_PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: Distributions whose versions are part of every key (their arithmetic can change a result's last bits).
_LIBRARIES = ("numpy", "pandas", "scipy", "pyarrow")


def frame_digest(frame: Any) -> str:
    """sha256 of a DataFrame's content: column names, dtypes, index and every value."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def code_digest(package_dir: Path = _PACKAGE_DIR) -> str:
    """sha256 over the package's module sources and the versions of Python and the numerical libraries."""
    digest = hashlib.sha256(platform.python_version().encode())
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def memo_key(name: str, parts: Mapping[str, Any]) -> str:
    """The key of a memo: ``name``, the JSON-able ``parts`` (canonical JSON) and :func:`code_digest`."""
    payload = json.dumps({"name": name, "parts": parts, "code": code_digest()}, sort_keys=True,
                         separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def memo_dir() -> Path | None:
    """The memo directory named by :data:`MEMO_ENV`, or None when memoising is off."""
    value = os.environ.get(MEMO_ENV)
    return Path(value) if value else None


def memo_frame(name: str, parts: Mapping[str, Any], compute: Callable[[], Any],
               directory: str | Path | None = None) -> Any:
    """``compute()`` (a DataFrame), computed once per key and read back from the memo directory after.

    Parameters
    ----------
    name
        What is memoised (a file-name stem: letters, digits, ``-``).
    parts
        Everything the result depends on besides the package's code: JSON-able values, with DataFrames
        given as their :func:`frame_digest`.
    compute
        Returns the DataFrame (columns with string names; it is stored as parquet).
    directory
        Memo directory (default: :func:`memo_dir`; None there means compute without storing).

    Returns
    -------
    pandas.DataFrame
        The stored table as read back (the same for the run that computed it and every later one).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> calls = []
    >>> def compute():
    ...     calls.append(1)
    ...     return pd.DataFrame({"x": [0.1, 0.2]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     a = memo_frame("demo", {"seed": 1}, compute, tmp)
    ...     b = memo_frame("demo", {"seed": 1}, compute, tmp)
    >>> len(calls), a.equals(b)
    (1, True)
    """
    import fcntl

    import pandas as pd

    directory = Path(directory) if directory is not None else memo_dir()
    if directory is None:
        return compute()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{memo_key(name, parts)[:32]}.parquet"
    with open(path.with_suffix(".lock"), "a") as lock:
        # Held while computing: a second run of the same key waits here, then reads the stored table.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
            try:
                compute().to_parquet(tmp)
                os.replace(tmp, path)  # never a half-written table under the final name
            finally:
                tmp.unlink(missing_ok=True)
        return pd.read_parquet(path)

"""The run record that closes every chapter: versions, git commit, parameters, sha256 of the inputs."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..data import paths
from ..data.registry import sha256_file

#: Packages whose versions every run record lists.
RECORD_PACKAGES = ("alliance-study", "pandas", "numpy", "pyarrow", "matplotlib", "papermill", "myst-nb",
                   "jupyter-book", "linearmodels", "pyfixest", "statsmodels", "scipy")


def git_commit(root: Path = paths.PROJECT_ROOT) -> str:
    """The checkout's commit (with ``+dirty`` when there are uncommitted changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def package_versions(packages: Iterable[str] = RECORD_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (``not installed`` where absent) plus Python's."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["alliance-study"] = __version__
    return out


class RunRecord:
    """A run record as a reviewer reads it: no index, full values, hashes in a wrapping monospace column.

    ``frame`` holds the rows (``kind``, ``name``, ``value``). In a notebook the record renders as an HTML
    table of class ``run-record`` (styled by ``book/_static/alliance.css``): every value in full (pandas'
    HTML output would cut long parameter values and add an index), values in ``<code>`` so a 64-character
    sha256 wraps inside its column instead of widening the page.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return self.frame.to_string(index=False, max_colwidth=None)

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(str(c))}</th>" for c in self.frame.columns)
        rows = []
        for kind, name, value in self.frame.itertuples(index=False):
            rows.append(f"<tr><td>{escape(str(kind))}</td><td>{escape(str(name))}</td>"
                        f"<td><code>{escape(str(value))}</code></td></tr>")
        return (f'<table class="run-record"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table>")


def run_record(parameters: Mapping[str, Any], inputs: Iterable[str | Path] = ()) -> RunRecord:
    """The table that closes every notebook: versions, git commit, parameters, sha256 of inputs.

    Parameters
    ----------
    parameters
        The notebook's parameters (names and values as run).
    inputs
        Files the notebook read; each is listed with its sha256 (paths shown relative to the checkout).

    Returns
    -------
    RunRecord
        The rows (``.frame``: ``kind``, ``name``, ``value``), shown in a notebook as a full-width table.
    """
    rows = [("run", "git commit", git_commit())]
    rows += [("package", name, version) for name, version in package_versions().items()]
    rows += [("parameter", name, json.dumps(value, default=str)) for name, value in parameters.items()]
    for item in inputs:
        path = Path(item)
        try:
            shown = str(path.resolve().relative_to(paths.PROJECT_ROOT))
        except ValueError:
            shown = path.name
        rows.append(("input sha256", shown, sha256_file(path) if path.exists() else "missing"))
    return RunRecord(pd.DataFrame(rows, columns=["kind", "name", "value"]))

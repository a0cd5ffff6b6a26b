"""Record which data files a notebook run reads, so the book runner keys each run on those files only.

The book runner (:mod:`alliance_study.book.runner`) starts each notebook's kernel with the environment
variable :data:`READS_ENV` naming a sidecar file. Every read through the data layer
(:mod:`alliance_study.data.load`, :meth:`alliance_study.data.registry.Registry.load` and ``verified_path``)
calls :func:`record`, which appends the file's absolute path to that sidecar. After the run, the runner
stores each recorded file's sha256 in the executed notebook; the next time, the run is up to date only if
those files (and the notebook, its parameters and the library) are unchanged. A change to a file the
notebook never read does not re-run it.

Outside a runner kernel (tests, JupyterLab, the CLI) the variable is unset and :func:`record` does nothing.
The record is complete only because notebooks and chapter modules read data through the data layer, never
with ``pd.read_*`` on a path of their own (the house rule; a test checks the notebooks).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the sidecar file a kernel appends its reads to.
READS_ENV = "ALLIANCE_STUDY_READS"


def record(path: str | Path) -> None:
    """Note that the current run read ``path`` (no-op unless :data:`READS_ENV` is set)."""
    sidecar = os.environ.get(READS_ENV)
    if not sidecar:
        return
    line = str(Path(path).resolve()) + "\n"
    # One short append per read; O_APPEND keeps concurrent lines whole.
    with open(sidecar, "a", encoding="utf-8") as handle:
        handle.write(line)


def recorded(sidecar: str | Path) -> list[Path]:
    """The distinct files recorded in ``sidecar`` (sorted; empty if the file does not exist)."""
    try:
        text = Path(sidecar).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return sorted({Path(line) for line in text.splitlines() if line.strip()})

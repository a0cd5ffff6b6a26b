"""Helpers for the notebook tests: execute notebooks with papermill, read myst-nb glue from the outputs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from alliance_study.data import paths

NOTEBOOK_DIR = paths.PROJECT_ROOT / "notebooks"

#: myst-nb stores glued outputs under this mime prefix when ``display=False``.
GLUE_PREFIX = "application/papermill.record/"

#: Notebook executions at once: each is a papermill process plus a kernel; three keep two cores busy
#: without running short of memory.
MAX_PARALLEL = 3

#: Seconds one notebook may take before the test fails.
TIMEOUT_S = 300


@dataclass
class Job:
    """One papermill execution: source notebook, output path, parameters."""

    source: Path
    output: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)


def _run(job: Job) -> tuple[Job, subprocess.CompletedProcess]:
    # The papermill CLI in a subprocess (not the Python API in threads): each run gets its own process
    # and kernel, so runs in parallel cannot share event loops or ZMQ contexts.
    cmd = [sys.executable, "-m", "papermill", str(job.source), str(job.output), "-k", "python3",
           "--cwd", str(job.source.parent), "-y", yaml.safe_dump(dict(job.parameters))]
    return job, subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def execute(jobs: Iterable[Job]) -> None:
    """Execute notebooks (up to :data:`MAX_PARALLEL` at once); raise naming each one that failed."""
    jobs = list(jobs)
    for job in jobs:
        job.output.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        results = list(pool.map(_run, jobs))
    failures = [f"{job.source.name} {dict(job.parameters)}:\n{proc.stderr[-4000:]}"
                for job, proc in results if proc.returncode != 0]
    if failures:
        raise AssertionError("notebook execution failed:\n" + "\n\n".join(failures))


def glued(path: Path) -> dict[str, dict[str, Any]]:
    """Every glued output of an executed notebook: name -> mime bundle (prefix removed)."""
    nb = nbformat.read(path, as_version=4)
    out: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data = {key.removeprefix(GLUE_PREFIX): value for key, value in output.get("data", {}).items()}
            assert meta["name"] not in out, f"{path.name}: {meta['name']} glued twice"
            out[meta["name"]] = data
    return out


def glued_values(path: Path) -> dict[str, Any]:
    """Glued values as Python objects (``text/plain`` evaluated as a literal where it is one)."""
    values = {}
    for name, data in glued(path).items():
        text = data.get("text/plain", "")
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    return values


_GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
_GLUE_DIRECTIVE = re.compile(r"```\{glue(?::\w+)?\}\s+(\S+)")


def referenced_glue(path: Path) -> set[str]:
    """Glue names the notebook's markdown cells refer to (same-document references only)."""
    nb = nbformat.read(path, as_version=4)
    names = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for match in _GLUE_ROLE.finditer(cell.source):
            key = match.group(1)
            if "::" in key:
                continue
            names.add(key.split(":", 1)[0])
        names.update(_GLUE_DIRECTIVE.findall(cell.source))
    return names


def error_outputs(path: Path) -> list[str]:
    """Error and stderr outputs of an executed notebook (warnings end up in the book otherwise)."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" or output.get("name") == "stderr":
                found.append(output.get("text") or output.get("ename", ""))
    return found


def stray_outputs(path: Path) -> list[str]:
    """Displayed outputs that are neither glue nor the closing run record (they would clutter the book)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    found = []
    for cell in code[:-1]:
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("execute_result", "display_data") and \
                    not output.get("metadata", {}).get("scrapbook"):
                found.append(cell.source.splitlines()[-1] if cell.source else "")
    return found

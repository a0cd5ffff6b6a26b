"""``alliance-study plan-report``: validate plan files, execute the report notebook, export standalone HTML.

The report notebook (``plan_report.ipynb`` beside this module, package data) is executed with papermill
the way the book's chapters are (:mod:`alliance_study.book.runner`: the same kernel check and nbclient
options), then exported with nbconvert's ``lab`` template, code hidden, every figure embedded as a
``data:`` image, and no external script (no require.js, no MathJax from a CDN), so the page opens offline
and passes the book's browser check (:func:`check_report`). The executed notebook is kept beside the page:
its outputs hold the glued numbers and the run record.

Files are validated here first, so a malformed plan stops with the file, row and column before any kernel
starts.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alliance_study.data import paths
from alliance_study.errors import AllianceStudyError

#: The report notebook (package data).
REPORT_NOTEBOOK = Path(__file__).with_name("plan_report.ipynb")


class PlanReportError(AllianceStudyError):
    """The report notebook failed or its HTML could not be written."""


@dataclass(frozen=True)
class ReportOutput:
    """What :func:`make_report` wrote."""

    html: Path
    notebook: Path
    district_code: str
    n_strategies: int


def validate_files(plan_files: Sequence[str | Path], data_dir: str | Path | None = None) -> dict[str, object]:
    """Read and validate every plan file against the codebook and the panel's districts.

    Returns
    -------
    dict
        ``district_code`` and ``n_strategies`` (over all files).

    Raises
    ------
    PlanFileError
        Naming the file, row and column of the first problem.
    """
    from alliance_study.analysis.plans import codebook, io, planfile
    from alliance_study.data.load import load_panel

    if not plan_files:
        raise planfile.PlanFileError("plan-report", "no plan file given")
    book = codebook.load_codebook()
    known = set(load_panel(data_dir)["district_code"])
    n, codes = 0, set()
    for path in plan_files:
        plan = planfile.validate_plan(io.read_plan_frame(path), book, known, display=Path(path).name)
        n += len(plan)
        codes |= set(plan["district_code"])
    if len(codes) > 1:
        raise planfile.PlanFileError(
            ", ".join(Path(p).name for p in plan_files),
            f"the files describe different districts: {sorted(codes)}",
        )
    return {"district_code": codes.pop(), "n_strategies": n}


def export_html(notebook: Path, html: Path, title: str) -> Path:
    """Export an executed notebook as one standalone HTML page (code hidden, no external scripts)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = title
    for cell in nb.cells:
        # Glue records (myst-nb) have no HTML form; the executed notebook keeps them.
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not all(k.startswith("application/papermill.record") for k in o.get("data", {"": 0}))
            ]
    # Empty URLs drop require.js and MathJax (CDN scripts) and the mermaid loader's CDN imports.
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        mathjax_url="",
        require_js_url="",
        mermaid_js_url="",
        mermaid_layout_elk_js_url="",
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = re.sub(r'<script src="">\s*</script>', "", body)  # what the emptied URLs leave behind
    fd, tmp = tempfile.mkstemp(dir=html.parent, prefix=f".{html.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.replace(tmp, html)
    return html


def make_report(
    plan_files: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    window_start: int = 2013,
    window_end: int = 2016,
    timeout: int | None = 600,
) -> ReportOutput:
    """Validate the plan files, execute the report notebook and write ``<out>.html`` and ``<out>.ipynb``.

    Parameters
    ----------
    plan_files
        One plan file, or two coders' files of the same plan.
    out
        Output path without or with ``.html`` (default: ``<first file>_report.html`` beside it).
    data_dir
        Build outputs to read (default: this checkout's data/processed).
    window_start, window_end
        Improvement window of the rank shown.

    Raises
    ------
    PlanFileError
        On a malformed plan file (before any execution).
    PlanReportError
        When the notebook fails (the message names the cell and the exception).
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from alliance_study.book.runner import ensure_kernel

    files = [Path(f).resolve() for f in plan_files]
    facts = validate_files(files, data_dir)
    first = files[0]
    html = Path(out) if out is not None else first.with_name(f"{first.stem}_report.html")
    if html.suffix != ".html":
        html = html.with_suffix(".html")
    html.parent.mkdir(parents=True, exist_ok=True)
    executed = html.with_suffix(".ipynb")
    ensure_kernel()
    staging = Path(tempfile.mkdtemp(prefix="alliance-study-plan-report-"))
    staged = staging / executed.name
    parameters = {
        "plan_files": [str(f) for f in files],
        "window_start": window_start,
        "window_end": window_end,
        "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
    }
    try:
        papermill.execute_notebook(
            str(REPORT_NOTEBOOK),
            str(staged),
            parameters=parameters,
            kernel_name="python3",
            language="python",
            cwd=str(paths.PROJECT_ROOT),
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
            record_timing=False,
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            shutdown_kernel="immediate",
        )
    except PapermillExecutionError as exc:
        raise PlanReportError(
            f"the plan report failed in cell {exc.cell_index}: {exc.ename}: {exc.evalue}; "
            f"executed copy: {staged}"
        ) from exc
    nb = nbformat.read(staged, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.get("papermill", {}).pop("input_path", None)
    nbformat.write(nb, staged)
    shutil.move(str(staged), executed)
    shutil.rmtree(staging, ignore_errors=True)
    export_html(executed, html, f"Plan report {facts['district_code']}")
    return ReportOutput(
        html=html,
        notebook=executed,
        district_code=str(facts["district_code"]),
        n_strategies=int(facts["n_strategies"]),
    )


def check_report(
    html: str | Path, chromium: Path | None = None, timeout: float = 60.0, pages: Iterable[str] | None = None
):
    """Run the book's browser check (:func:`alliance_study.book.browser_check.check_book`) on a report page,
    with external resources counted as failures. Returns the report (``.ok``, ``.failures``)."""
    from alliance_study.book.browser_check import DEFAULT_CHROMIUM, check_book

    html = Path(html).resolve()
    return check_book(
        html.parent,
        chromium or DEFAULT_CHROMIUM,
        workers=1,
        timeout=timeout,
        strict_external=True,
        pages=list(pages) if pages is not None else [html.name],
    )

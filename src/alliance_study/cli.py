"""The ``alliance-study`` command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alliance_study.data import paths
from alliance_study.errors import AllianceStudyError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Build the Alliance District study: fetch raw data, build the panel, "
                       "run the notebooks, build the book.")
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _fail(exc: Exception) -> None:
    # Plain text, never wrapped or cropped: the message names file, row and column and must stay whole.
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


@app.command()
def fetch(
    mirror: Annotated[Path | None, typer.Option(help=f"Mirror directory (default ${paths.MIRROR_ENV} "
                                                     "or ../shared/data).")] = None,
    registry_path: Annotated[Path, typer.Option("--registry", help="Registry CSV.")] = paths.REGISTRY_PATH,
) -> None:
    """Copy (or download) every registered raw file into data/raw and verify its sha256."""
    from alliance_study.data.registry import Registry
    from alliance_study.data.registry import fetch as do_fetch

    try:
        registry = Registry.load(registry_path)
        source = mirror or paths.mirror_dir()
        with _progress() as progress:
            task = progress.add_task("fetch", total=len(registry.entries), item="")
            results = do_fetch(registry, source if source.exists() else None,
                               progress=lambda e: progress.update(task, advance=1, item=Path(e.path).name))
    except AllianceStudyError as exc:
        _fail(exc)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.action] = counts.get(r.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    console.print(f"fetched {len(results)} files into {registry.raw_dir} ({summary}); all sha256 verified")


@app.command("build-panel")
def build_panel_cmd(
    out: Annotated[Path, typer.Option(help="Output directory.")] = paths.PROCESSED_DIR,
    registry_path: Annotated[Path, typer.Option("--registry", help="Registry CSV.")] = paths.REGISTRY_PATH,
    raw_dir: Annotated[Path | None, typer.Option(help="Directory of fetched raw files "
                                                      "(default: beside the registry).")] = None,
) -> None:
    """Build data/processed/district_year.parquet (+ CSV, data dictionary, build report)."""
    from alliance_study.data.panel import SOURCE_MODULES, build_panel, write_outputs
    from alliance_study.data.registry import Registry

    start = time.perf_counter()
    try:
        registry = Registry.load(registry_path, raw_dir=raw_dir)
        with _progress() as progress:
            task = progress.add_task("build-panel", total=len(SOURCE_MODULES) + 2, item="")
            build = build_panel(registry, progress=lambda name: progress.update(task, advance=1, item=name))
        written = write_outputs(build, out)
    except AllianceStudyError as exc:
        _fail(exc)
    except OSError as exc:  # a raw file that cannot be read (permissions, I/O): one line, no traceback
        _fail(OSError(f"cannot read {exc.filename}: {exc.strerror or exc}"))
    panel = build.panel
    console.print(
        f"panel: {len(panel):,} district-years, {panel['district_code'].nunique()} districts, "
        f"{panel['year'].min()}-{panel['year'].max()}, {len(panel.columns)} columns; "
        f"{len(written)} files in {out} ({time.perf_counter() - start:.1f} s)"
    )


#: Defaults of check-book (the same as alliance_study.book.browser_check's, kept here so --help imports
#: nothing).
_BOOK_HTML = paths.PROJECT_ROOT / "book" / "_build" / "html"
_CHROMIUM = Path("/usr/bin/chromium")


@app.command("check-book")
def check_book_cmd(
    html: Annotated[Path, typer.Option(help="The built HTML book.")] = _BOOK_HTML,
    chromium: Annotated[Path, typer.Option(help="Headless Chromium executable "
                                                "(tools/install_chromium.sh installs it).")] = _CHROMIUM,
    workers: Annotated[int, typer.Option(help="Chromium runs in parallel.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds allowed per page.")] = 60.0,
    screenshot: Annotated[bool, typer.Option(help="Also screenshot every page and fail blank ones.")] = False,
    screenshot_dir: Annotated[Path | None, typer.Option(help="Keep screenshots here "
                                                             "(implies --screenshot).")] = None,
    strict_external: Annotated[bool, typer.Option(help="Fail, not warn, on pages that fetch scripts, "
                                                       "stylesheets or fonts from the network.")] = False,
) -> None:
    """Open every page of the built book in headless Chromium: pages load, figures show, links resolve."""
    import tempfile

    from alliance_study.book.browser_check import check_book, find_pages

    try:
        with tempfile.TemporaryDirectory(prefix="check-book-shots-") as tmp:
            shots = screenshot_dir or (Path(tmp) if screenshot else None)
            with _progress() as progress:
                total = len(find_pages(html)) if html.is_dir() else None
                task = progress.add_task("check-book", total=total, item="")
                report = check_book(html, chromium, workers=workers, timeout=timeout, screenshot_dir=shots,
                                    strict_external=strict_external,
                                    progress=lambda page: progress.update(task, advance=1, item=page))
    except AllianceStudyError as exc:
        _fail(exc)
    # Plain lines, never wrapped: each names the page and the offending src/href.
    for line in report.warning_lines():
        typer.echo(f"warning: {line}", err=True)
    for problem in report.failures:
        typer.echo(f"FAIL {problem}", err=True)
    console.print(report.summary(), soft_wrap=True)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("run")
def run_cmd(
    params: Annotated[Path, typer.Option(help="Run configuration (YAML).")] = paths.PROJECT_ROOT / "params"
    / "main.yml",
    only: Annotated[str | None, typer.Option(help="Run only the notebook of this name "
                                                  "(all its foreach expansions).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Execute even up-to-date notebooks.")] = False,
    jobs: Annotated[int | None, typer.Option(help="Notebooks executed at once "
                                                  "(default: one per core, at most 4).")] = None,
) -> None:
    """Execute the book's notebooks with papermill into book/, skipping those whose inputs are unchanged."""
    from alliance_study.book import runner

    start = time.perf_counter()
    try:
        config = runner.load_config(params)
        runs = runner.plan_runs(config, only=only)
        with _progress() as progress:
            task = progress.add_task("run", total=len(runs), item="")
            running: list[str] = []

            def report(run: runner.Run, status: str) -> None:
                # Called from worker threads; rich's Progress is thread-safe.
                if status == "start":
                    running.append(run.label)
                else:
                    if run.label in running:
                        running.remove(run.label)
                    progress.update(task, advance=1)
                more = f" (+{len(running) - 1} running)" if len(running) > 1 else ""
                progress.update(task, item=running[-1] + more if running else "")

            results = runner.run_pipeline(config, only=only, force=force, jobs=jobs, progress=report,
                                            plan=runs)
    except AllianceStudyError as exc:
        _fail(exc)
    executed = [r for r in results if r.status == "executed"]
    console.print(f"notebooks: {len(executed)} executed, {len(results) - len(executed)} up to date "
                  f"({time.perf_counter() - start:.1f} s); outputs in {runner.BOOK_DIR}")


@app.command()
def book(
    params: Annotated[Path, typer.Option(help="Run configuration whose outputs must be current.")] =
    paths.PROJECT_ROOT / "params" / "main.yml",
    check: Annotated[bool, typer.Option(help="Refuse to build when an executed notebook is missing or "
                                             "out of date.")] = True,
    strict: Annotated[bool, typer.Option(help="Fail the build on any Sphinx warning.")] = True,
    all_pages: Annotated[bool, typer.Option("--all", help="Rebuild every page, not only changed ones.")]
    = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Sphinx's status lines, not only "
                                                           "warnings.")] = False,
) -> None:
    """Build the HTML book (book/_build/html) with jupyter-book from the executed notebooks."""
    import subprocess

    from alliance_study.book import runner

    start = time.perf_counter()
    if check:
        try:
            config = runner.load_config(params)
            stale = runner.stale_runs(runner.plan_runs(config))
        except AllianceStudyError as exc:
            _fail(exc)
        if stale:
            listed = ", ".join(f"book/{r.output_rel}" for r in stale[:5]) + (" ..." if len(stale) > 5 else "")
            _fail(AllianceStudyError(f"{len(stale)} executed notebook(s) missing or out of date ({listed}); "
                                     "run `alliance-study run` first"))
    command = runner.book_command(runner.BOOK_DIR, strict=strict, all_pages=all_pages, quiet=not verbose)
    completed = subprocess.run(command, cwd=paths.PROJECT_ROOT, check=False)
    if completed.returncode != 0:
        _fail(AllianceStudyError(f"jupyter-book build failed (exit {completed.returncode}); "
                                 "see the warnings above"))
    console.print(f"book: {runner.BOOK_DIR / '_build' / 'html' / 'index.html'} "
                  f"({time.perf_counter() - start:.1f} s)")


@app.command("pdf")
def pdf_cmd(
    chromium: Annotated[Path, typer.Option(help="Headless Chromium executable.")] = _CHROMIUM,
    strict: Annotated[bool, typer.Option(help="Fail on any warning of the single-page build.")] = True,
) -> None:
    """Print the whole book to one PDF (book/_build/pdf/alliance-study.pdf) and check its pages."""
    from alliance_study.book import pdf

    try:
        report = pdf.build_pdf(chromium=chromium, strict=strict)
    except AllianceStudyError as exc:
        _fail(exc)
    for problem in report.problems:
        typer.echo(f"FAIL {report.path.name}: {problem}", err=True)
    console.print(f"pdf: {report.path} ({report.pages} pages, {len(report.blank_pages)} blank)",
                  soft_wrap=True)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("clean-book")
def clean_book_cmd() -> None:
    """Remove the executed notebooks, the run cache and book/_build (prose pages stay)."""
    from alliance_study.book import runner

    removed = runner.clean_book(runner.BOOK_DIR)
    console.print(f"removed {len(removed)} paths from {runner.BOOK_DIR}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

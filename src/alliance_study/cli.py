"""The ``alliance-study`` command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
import typer.core
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


def _version(value: bool) -> None:
    if value:
        from alliance_study import __version__

        typer.echo(f"alliance-study {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the package version and exit.")] = False,
) -> None:
    """Build the Alliance District study: fetch raw data, build the panel, run notebooks, build the book."""


def _fail(exc: Exception) -> None:
    # Plain text, never wrapped or cropped: the message names file, row and column and must stay whole.
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


@app.command()
def fetch(
    mirror: Annotated[Path | None, typer.Option(help=f"Mirror directory (default ${paths.MIRROR_ENV} "
                                                     "or ../shared/data).")] = None,
    registry_path: Annotated[Path, typer.Option("--registry", help="Registry CSV.")] = paths.REGISTRY_PATH,
    force: Annotated[bool, typer.Option("--force", help="Re-hash every file even if nothing changed since "
                                                        "the last fetch.")] = False,
) -> None:
    """Copy (or download) every registered raw file into data/raw and verify its sha256.

    Skipped when the registry and every fetched file (size, modification time) are as the last successful
    fetch left them; readers still verify each file's sha256 when they open it.
    """
    from alliance_study.data import stamps
    from alliance_study.data.registry import Registry
    from alliance_study.data.registry import fetch as do_fetch

    try:
        registry = Registry.load(registry_path)
        if not force and stamps.fetch_is_current(registry, registry_path):
            console.print(f"fetch: {len(registry.entries)} files in {registry.raw_dir} unchanged since the "
                          "last verified fetch (--force re-hashes them)")
            return
        source = mirror or paths.mirror_dir()
        with _progress() as progress:
            task = progress.add_task("fetch", total=len(registry.entries), item="")
            results = do_fetch(registry, source if source.exists() else None,
                               progress=lambda e: progress.update(task, advance=1, item=Path(e.path).name))
        stamps.stamp_fetch(registry, registry_path)
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
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the inputs are unchanged.")] = False,
) -> None:
    """Build data/processed/district_year.parquet (+ CSV, data dictionary, build report).

    Skipped when the registry, the raw files, the data layer's source and the outputs are as the last
    successful build left them.
    """
    from alliance_study.data import stamps
    from alliance_study.data.registry import Registry

    start = time.perf_counter()
    try:
        registry = Registry.load(registry_path, raw_dir=raw_dir)
        if not force and stamps.build_is_current(registry, registry_path, out):
            console.print(f"build-panel: inputs unchanged since the last build; outputs in {out} are current "
                          "(--force rebuilds)")
            return
        from alliance_study.data.panel import SOURCE_MODULES, build_panel, write_outputs

        with _progress() as progress:
            task = progress.add_task("build-panel", total=len(SOURCE_MODULES) + 2, item="")
            build = build_panel(registry, progress=lambda name: progress.update(task, advance=1, item=name))
        written = write_outputs(build, out)
        stamps.stamp_build(registry, registry_path, out, [Path(w).name for w in written])
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


_MAIN_PARAMS = paths.PROJECT_ROOT / "params" / "main.yml"

ParamsOption = Annotated[Path, typer.Option(
    metavar="FILE", help="Run configuration (YAML). Any file other than params/main.yml is a variant: it "
                         "writes to variants/<name>/, never to book/.")]
OverrideOption = Annotated[list[str] | None, typer.Option(
    "--param", "-p", metavar="NAME=VALUE",
    help="Override a parameter, checked like the file: a shared setting (-p window_end=2018) reaches every "
         "notebook declaring it; NOTEBOOK.NAME=VALUE sets one notebook's. Makes the run a variant.")]
VariantOption = Annotated[str | None, typer.Option(help="Name of the output tree variants/<name>/ "
                                                        "(default: from the file name and the overrides).")]


def _notebook_listing() -> str:
    """The notebooks of params/main.yml and their parameters (``run --help``), without importing papermill."""
    from rich.markup import escape

    from alliance_study.book import config as run_config

    try:
        config = run_config.load_config(_MAIN_PARAMS)
    except AllianceStudyError as exc:
        return escape(f"(params/main.yml cannot be read: {exc})")
    lines = ["[bold]Notebooks in params/main.yml[/bold] (--only NAME; profile:CODE for one district):"]
    shared = ", ".join(f"{k}={v}" for k, v in config.defaults.items())
    lines.append(escape(f"shared settings (defaults): {shared}"))
    for entry in config.notebooks:
        try:
            declared = run_config.declared_parameters(entry.source, check_papermill=False)
        except AllianceStudyError:
            declared = {}
        values = {**declared, **{k: v for k, v in config.defaults.items() if k in declared},
                  **entry.parameters}
        names = ", ".join(f"{k}=<each {entry.foreach[k]}>" if k in entry.foreach
                          else f"{k}={_short(values[k])}" for k in declared if k != "data_dir")
        lines.append(escape(f"  {entry.name} ({entry.source.name}): {names}"))
    return "\n\n".join(lines)


def _short(value: object) -> str:
    text = repr(value)
    if len(text) <= 48:
        return text
    return f"<{len(value)} items>" if isinstance(value, list | dict) else text[:45] + "..."


class _RunCommand(typer.core.TyperCommand):
    """``run``: its help ends with the notebooks and their parameters, read when help is shown."""

    def format_help(self, ctx, formatter):  # type: ignore[no-untyped-def]
        self.epilog = _notebook_listing()
        return super().format_help(ctx, formatter)


def _configure(params: Path, overrides: list[str] | None, variant: str | None):  # type: ignore[no-untyped-def]
    """Load the configuration, apply -p overrides, and find its output tree."""
    from alliance_study.book import build, runner, values

    config = values.apply_overrides(runner.load_config(params), values.parse_overrides(overrides or []))
    book_dir = build.target_book_dir(config, variant=variant)
    return config, book_dir


@app.command("run", cls=_RunCommand)
def run_cmd(
    params: ParamsOption = _MAIN_PARAMS,
    overrides: OverrideOption = None,
    variant: VariantOption = None,
    only: Annotated[list[str] | None, typer.Option(
        metavar="NAME[:VALUE]",
        help="Run only this notebook (all its foreach runs), or NAME:VALUE for one run, e.g. "
             "profile:0640011 (an Alliance District's code). Repeat for several.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Execute even up-to-date notebooks.")] = False,
    jobs: Annotated[int | None, typer.Option(help="Notebooks executed at once "
                                                  "(default: one per core).")] = None,
    fresh_kernels: Annotated[bool, typer.Option(
        "--fresh-kernels", help="Start a kernel per notebook instead of reusing one per worker "
                                "(reset between notebooks; the results are the same).")] = False,
) -> None:
    """Execute the notebooks with papermill into book/ (or a variant's tree), skipping up-to-date ones.

    Parameter values are checked against the data before anything runs. An out-of-date output stays in
    place until its new version has executed successfully.
    """
    from alliance_study.book import build, runner, values

    start = time.perf_counter()
    try:
        config, book_dir = _configure(params, overrides, variant)
        runs = runner.plan_runs(config, book_dir=book_dir, only=only, check_papermill=False)
        values.check_values(runs, paths.PROCESSED_DIR, where=str(params))
        if book_dir != runner.BOOK_DIR:
            build.prepare_book_tree(book_dir, config, title_note=f"variant {book_dir.name}")
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

            results = runner.run_pipeline(config, book_dir=book_dir, only=only, force=force, jobs=jobs,
                                            progress=report, plan=runs, reuse_kernels=not fresh_kernels)
    except AllianceStudyError as exc:
        _fail(exc)
    executed = [r for r in results if r.status == "executed"]
    console.print(f"notebooks: {len(executed)} executed, {len(results) - len(executed)} up to date "
                  f"({time.perf_counter() - start:.1f} s); outputs in {book_dir}", soft_wrap=True)


@app.command()
def book(
    params: ParamsOption = _MAIN_PARAMS,
    overrides: OverrideOption = None,
    variant: VariantOption = None,
    check: Annotated[bool, typer.Option(help="Refuse to build when an executed notebook is missing or "
                                             "out of date.")] = True,
    strict: Annotated[bool, typer.Option(help="Fail the build on any Sphinx warning.")] = True,
    all_pages: Annotated[bool, typer.Option("--all", help="Rebuild every page, not only changed ones.")]
    = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Sphinx's status lines, not only "
                                                           "warnings.")] = False,
) -> None:
    """Build the HTML book (book/_build/html, or a variant's) with jupyter-book from the executed notebooks.

    Skipped when no source of the book changed since the last successful build with the same options.
    """
    import subprocess

    from alliance_study.book import build, runner

    start = time.perf_counter()
    try:
        config, book_dir = _configure(params, overrides, variant)
        if book_dir != runner.BOOK_DIR:
            build.prepare_book_tree(book_dir, config, title_note=f"variant {book_dir.name}")
        if check:
            stale = runner.stale_runs(runner.plan_runs(config, book_dir=book_dir, check_papermill=False),
                                      book_dir=book_dir)
            if stale:
                listed = ", ".join(r.output_rel for r in stale[:5]) + (" ..." if len(stale) > 5 else "")
                rerun = "alliance-study run" + ("" if book_dir == runner.BOOK_DIR else f" --params {params}"
                                                + "".join(f" -p {o}" for o in overrides or []))
                raise AllianceStudyError(f"{len(stale)} executed notebook(s) in {book_dir} missing or out of "
                                         f"date ({listed}); run `{rerun}` first")
    except AllianceStudyError as exc:
        _fail(exc)
    options = {"strict": strict, "all": all_pages}
    index = book_dir / "_build" / "html" / "index.html"
    if not all_pages and build.book_is_current(book_dir, options):
        console.print(f"book: {index} is current (no source changed; --all rebuilds) "
                      f"({time.perf_counter() - start:.1f} s)", soft_wrap=True)
        return
    command = build.book_command(book_dir, strict=strict, all_pages=all_pages, quiet=not verbose)
    completed = subprocess.run(command, cwd=paths.PROJECT_ROOT, check=False)
    if completed.returncode != 0:
        _fail(AllianceStudyError(f"jupyter-book build failed (exit {completed.returncode}); "
                                 "see the warnings above"))
    build.stamp_book(book_dir, options)
    console.print(f"book: {index} ({time.perf_counter() - start:.1f} s)", soft_wrap=True)


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
def clean_book_cmd(
    variants: Annotated[bool, typer.Option("--variants", help="Also remove every variant tree "
                                                               "(variants/).")] = False,
) -> None:
    """Remove the executed notebooks, the run cache and book/_build (prose pages stay)."""
    import shutil

    from alliance_study.book import build, runner

    removed = runner.clean_book(runner.BOOK_DIR)
    console.print(f"removed {len(removed)} paths from {runner.BOOK_DIR}")
    if variants and build.VARIANTS_DIR.exists():
        shutil.rmtree(build.VARIANTS_DIR)
        console.print(f"removed {build.VARIANTS_DIR}")


# --- The planning tool (issue 16): plan-template, plan-report -------------------------------------------


def _year_span(text: str) -> tuple[int, int]:
    """``2013-2025`` (spring years) -> (2013, 2025); one year ``2025`` -> (2025, 2025)."""
    parts = text.split("-")
    try:
        first, last = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        first, last = 0, -1
    if last < first or len(str(first)) != 4:
        raise typer.BadParameter(f"expected spring years like 2013-2025, got {text!r}")
    return first, last


@app.command("plan-template")
def plan_template_cmd(
    district: Annotated[str, typer.Option(help="7-digit CSDE district code (0640011 = Hartford).")],
    years: Annotated[str, typer.Option(help="Spring years of the plan years, e.g. 2013-2025 "
                                            "(2013 = plan year 2012-13).")],
    out: Annotated[Path | None, typer.Option(help="Output file (.csv; an .xlsx is written beside it when "
                                                  "openpyxl is installed). Default: plan_<district>.csv.")]
    = None,
    xlsx: Annotated[bool | None, typer.Option("--xlsx/--no-xlsx", help="Also write .xlsx (default: when "
                                                                      "openpyxl is installed).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Build outputs to read (default: data/processed).")]
    = None,
) -> None:
    """Write a plan template pre-filled with the codebook's plan years and template sections."""
    from alliance_study.analysis.plans import codebook, io, planfile
    from alliance_study.data.load import load_panel

    first, last = _year_span(years)
    try:
        panel = load_panel(data_dir)
        names = panel.loc[panel["district_code"] == district].dropna(subset=["district_name"])
        if names.empty:
            raise AllianceStudyError(f"unknown district {district!r}: not in the panel (7-digit CSDE code)")
        name = str(names.sort_values("year")["district_name"].iloc[-1])
        book = codebook.load_codebook()
        try:
            plan_years = planfile.plan_years(first, last)
        except ValueError as exc:
            raise AllianceStudyError(str(exc)) from exc
        template = planfile.plan_template(book, district, name, plan_years)
        written = io.write_plan_template(out or Path(f"plan_{district}.csv"), template,
                                         planfile.codebook_sheet(book), xlsx=xlsx)
    except AllianceStudyError as exc:
        _fail(exc)
    console.print(f"plan template for {name}, plan years {plan_years[0]} to {plan_years[-1]} "
                  f"({len(template)} placeholder rows): " + ", ".join(str(p) for p in written))


@app.command("plan-report")
def plan_report_cmd(
    plan_files: Annotated[list[Path], typer.Argument(help="The plan file (.csv or .xlsx); two files = two "
                                                          "coders of the same plan.")],
    out: Annotated[Path | None, typer.Option(help="Report page (.html; the executed .ipynb lands beside it). "
                                                  "Default: <plan>_report.html.")] = None,
    suggest: Annotated[bool, typer.Option("--suggest", help="Only write <plan>_suggested.csv with the "
                                                            "keyword coder's suggestions filled in, for "
                                                            "the team to accept or reject.")] = False,
    check: Annotated[bool, typer.Option(help="Open the page in headless Chromium (the book's browser "
                                             "check) when Chromium is installed.")] = False,
    window_start: Annotated[int, typer.Option(help="Improvement window start (spring year).")] = 2013,
    window_end: Annotated[int, typer.Option(help="Improvement window end (spring year).")] = 2016,
    data_dir: Annotated[Path | None, typer.Option(help="Build outputs to read (default: data/processed).")]
    = None,
) -> None:
    """Validate a plan file, compute its practice metrics and write a standalone HTML report."""
    from alliance_study.analysis.plans import codebook, io, planfile
    from alliance_study.book import plan_report

    start = time.perf_counter()
    try:
        if suggest:
            book = codebook.load_codebook()
            for path in plan_files:
                frame = planfile.with_suggestions(io.read_plan_frame(path), book)
                target = io.write_plan_frame(path.with_name(f"{path.stem}_suggested.csv"), frame)
                n = int((frame["suggested_code"].map(str).str.strip() != "").sum())
                console.print(f"{target}: {n} rows with a suggested code; mark each accepted yes or no")
            return
        result = plan_report.make_report(plan_files, out, data_dir=data_dir, window_start=window_start,
                                         window_end=window_end)
        if check:
            report = plan_report.check_report(result.html)
            for problem in report.failures:
                typer.echo(f"FAIL {problem}", err=True)
            if not report.ok:
                raise typer.Exit(code=1)
    except AllianceStudyError as exc:
        _fail(exc)
    console.print(f"plan report for {result.district_code} ({result.n_strategies} strategies): {result.html} "
                  f"(+ {result.notebook.name}; {time.perf_counter() - start:.1f} s)")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

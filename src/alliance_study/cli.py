"""The ``alliance-study`` command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import paths
from .errors import AllianceStudyError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Build the Alliance District study: fetch raw data, build the panel.")
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
    from .registry import Registry
    from .registry import fetch as do_fetch

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
    from .panel import SOURCE_MODULES, build_panel, write_outputs
    from .registry import Registry

    start = time.perf_counter()
    try:
        registry = Registry.load(registry_path, raw_dir=raw_dir)
        with _progress() as progress:
            task = progress.add_task("build-panel", total=len(SOURCE_MODULES) + 2, item="")
            build = build_panel(registry, progress=lambda name: progress.update(task, advance=1, item=name))
        written = write_outputs(build, out)
    except AllianceStudyError as exc:
        _fail(exc)
    panel = build.panel
    console.print(
        f"panel: {len(panel):,} district-years, {panel['district_code'].nunique()} districts, "
        f"{panel['year'].min()}-{panel['year'].max()}, {len(panel.columns)} columns; "
        f"{len(written)} files in {out} ({time.perf_counter() - start:.1f} s)"
    )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""Where a configuration's executed notebooks go, and building the HTML book from them.

The main configuration (``params/main.yml``, no overrides) writes to ``book/``; every other configuration
is a *variant* with a tree of its own, ``variants/<name>/``, that holds a copy of the book's prose and
configuration next to its executed notebooks, so it builds like the main book and never touches it.
The HTML build is skipped when no source of the book changed since the last successful build
(:func:`book_is_current`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alliance_study.book.config import _PLACEHOLDER_RE, PipelineError, RunConfig, _canonical_json
from alliance_study.book.runner import BOOK_DIR, CACHE_FORMAT, _write_atomic
from alliance_study.data import paths
from alliance_study.data.registry import sha256_file

# --------------------------------------------------------------------------------------------------------
# Output trees: the main book, and one tree per variant


#: Where variant runs write their books (gitignored): ``variants/<name>/`` is a complete book source.
VARIANTS_DIR = paths.PROJECT_ROOT / "variants"

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.=+-]+")


def variant_name(config: RunConfig, project_dir: str | Path = paths.PROJECT_ROOT) -> str | None:
    """The name of the output tree ``config`` writes to, or None for the main book.

    The main book is ``params/main.yml`` without overrides. Any other configuration is a variant named
    after its file (``other.yml`` -> ``other``) followed by its overrides (``main+window_end=2018``), with
    characters other than letters, digits and ``_.=+-`` replaced.
    """
    main = (Path(project_dir) / "params" / "main.yml").resolve()
    if config.path.resolve() == main and not config.overrides:
        return None
    parts = [config.path.stem] + [f"{k}={_canonical_json(v)}" for k, v in sorted(config.overrides.items())]
    name = _UNSAFE_RE.sub("-", "+".join(parts)).strip("-.") or "variant"
    if len(name) > 80:
        name = name[:63] + "-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return name


def target_book_dir(config: RunConfig, *, variant: str | None = None,
                    project_dir: str | Path = paths.PROJECT_ROOT) -> Path:
    """The book directory a configuration's runs write to: ``book/``, or ``variants/<name>/``.

    ``variant`` names the tree explicitly (any configuration, the main one included, then writes there).
    """
    project_dir = Path(project_dir)
    if variant is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*", variant):
        raise PipelineError(f"variant name {variant!r}: use letters, digits and _ . = + - only")
    name = variant or variant_name(config, project_dir)
    return project_dir / "book" if name is None else project_dir / "variants" / name


def _is_output(rel: str, templates: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, _PLACEHOLDER_RE.sub("*", t)) for t in templates)


def prepare_book_tree(book_dir: str | Path, config: RunConfig, *, source_book: str | Path = BOOK_DIR,
                      title_note: str | None = None) -> Path:
    """Make ``book_dir`` a book source: copy the main book's prose, configuration and table of contents.

    Executed notebooks (the configuration's outputs), the run cache and ``_build`` are not copied; files
    already up to date are left alone (so Sphinx rebuilds only what changed). ``title_note`` is appended to
    the copied ``_config.yml`` title, so a reader of a variant book sees which variant it is.
    """
    book_dir, source_book = Path(book_dir), Path(source_book)
    if book_dir.resolve() == source_book.resolve():
        return book_dir
    templates = [entry.output for entry in config.notebooks]
    for path in sorted(source_book.rglob("*")):
        rel = path.relative_to(source_book)
        if not path.is_file() or rel.parts[0] in ("_build",) or rel.name.startswith("."):
            continue
        if _is_output(rel.as_posix(), templates):
            continue
        target = book_dir / rel
        data = path.read_bytes()
        if rel.as_posix() == "_config.yml" and title_note:
            import yaml

            conf = yaml.safe_load(data) or {}
            conf["title"] = f"{conf.get('title', 'Book')} ({title_note})"
            data = yaml.safe_dump(conf, sort_keys=False, allow_unicode=True).encode()
        if target.exists() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return book_dir


# --------------------------------------------------------------------------------------------------------
# The book


#: Written into ``_build`` after a successful build: what the HTML was built from.
BOOK_STAMP = ".book-stamp.json"


def _book_state(book_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    from importlib import metadata

    sources = {p.relative_to(book_dir).as_posix(): sha256_file(p) for p in sorted(book_dir.rglob("*"))
               if p.is_file() and "_build" not in p.relative_to(book_dir).parts
               and not p.name.startswith(".")}
    try:
        builder = metadata.version("jupyter-book")
    except metadata.PackageNotFoundError:
        builder = "unknown"
    return {"format": CACHE_FORMAT, "sources": sources, "options": dict(options), "jupyter-book": builder}


def book_is_current(book_dir: str | Path, options: Mapping[str, Any]) -> bool:
    """True when the HTML in ``book_dir/_build`` was built, with ``options``, from the sources there now."""
    book_dir = Path(book_dir)
    if not (book_dir / "_build" / "html" / "index.html").exists():
        return False
    try:
        stamp = json.loads((book_dir / "_build" / BOOK_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp == _book_state(book_dir, options)


def stamp_book(book_dir: str | Path, options: Mapping[str, Any]) -> None:
    """Record that the HTML was just built from the current sources (call after a successful build)."""
    book_dir = Path(book_dir)
    _write_atomic(book_dir / "_build" / BOOK_STAMP,
                  json.dumps(_book_state(book_dir, options), indent=1, sort_keys=True) + "\n")


def book_command(book_dir: str | Path = BOOK_DIR, *, strict: bool = True, all_pages: bool = False,
                 quiet: bool = True) -> list[str]:
    """The ``jupyter-book build`` command line for ``book_dir`` (HTML; warnings are errors when strict).

    ``quiet`` drops Sphinx's page-by-page status lines; warnings are always shown.
    """
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book"),
               "build", str(book_dir), "--builder", "html"]
    if strict:
        # --keep-going: report every warning of the build, then fail, instead of stopping at the first.
        command += ["--warningiserror", "--keep-going"]
    if all_pages:
        command.append("--all")
    if quiet:
        command.append("--quiet")
    return command

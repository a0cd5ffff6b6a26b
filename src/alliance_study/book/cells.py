"""Tag executed notebook cells so the book's pages read as prose, with the code folded or out of the way.

Jupyter Book 1.x (myst-nb) shows every code cell unless a cell tag says otherwise. The source notebooks
stay plain (no display tags to maintain by hand); after papermill has executed a notebook the runner calls
:func:`tag_for_reading`, which adds one tag to each code cell that has none (issue 13):

* papermill's ``injected-parameters`` cell: ``remove-cell`` (the run record lists every value);
* the ``parameters`` cell and the imports-and-set-up cell: ``hide-cell`` (one fold, "Show code cell
  content");
* cells with no visible output (glue calls, assignments): ``remove-cell`` (their numbers are in the prose);
* cells with visible output (a figure, a table, the run record): ``hide-input`` (the output shows, the code
  is folded above it).

A cell that already carries a display tag (``remove-*``, ``hide-*``) keeps it: an author's choice wins.
The glue values of removed cells still reach the prose (myst-nb reads them from the notebook's outputs).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

#: Tags myst-nb understands for showing or hiding a cell's parts.
DISPLAY_TAGS = frozenset({"remove-cell", "remove-input", "remove-output", "hide-cell", "hide-input",
                          "hide-output"})

#: Output MIME types prefixed with this are glued values that myst-nb does not display in place.
GLUE_PREFIX = "application/papermill.record/"


def has_visible_output(cell: Mapping[str, Any]) -> bool:
    """True when executing ``cell`` left something a reader would see (text, image, table, error)."""
    for output in cell.get("outputs") or []:
        kind = output.get("output_type")
        if kind in ("stream", "error"):
            return True
        if kind in ("display_data", "execute_result"):
            if any(not mime.startswith(GLUE_PREFIX) for mime in output.get("data", {})):
                return True
    return False


def is_setup_cell(source: str) -> bool:
    """True when a cell starts with imports (the notebook's imports-and-load cell)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: not a plain set-up cell
        return False
    return bool(tree.body) and isinstance(tree.body[0], ast.Import | ast.ImportFrom)


def reading_tag(cell: Mapping[str, Any]) -> str | None:
    """The display tag :func:`tag_for_reading` gives ``cell`` (None: leave it as it is)."""
    if cell.get("cell_type") != "code":
        return None
    tags = set(cell.get("metadata", {}).get("tags") or [])
    if tags & DISPLAY_TAGS:
        return None
    if "injected-parameters" in tags:
        return "remove-cell"
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    if "parameters" in tags or is_setup_cell(source):
        return "hide-cell"
    return "hide-input" if has_visible_output(cell) else "remove-cell"


def tag_for_reading(nb: Any) -> int:
    """Add the display tag of :func:`reading_tag` to every code cell of ``nb`` in place; return how many.

    ``nb`` is an nbformat notebook (or its JSON as dicts).
    """
    changed = 0
    for cell in nb["cells"]:
        tag = reading_tag(cell)
        if tag is None:
            continue
        metadata = cell.setdefault("metadata", {})
        metadata["tags"] = [*(metadata.get("tags") or []), tag]
        changed += 1
    return changed

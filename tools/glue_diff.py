"""Dump, or compare, the glued values of every executed notebook in a book folder.

Used when restructuring code that should not change results: dump the glue of a build before the change,
rebuild after it, and compare. Figures are compared by their PNG's sha256, everything else by its text.

    python tools/glue_diff.py dump book > before.json
    python tools/glue_diff.py diff before.json book
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import nbformat

RECORD_PREFIX = "application/papermill.record/"


def glue_values(notebook: Path) -> dict[str, str]:
    """Name -> shown value of every glue output in an executed notebook (images as a sha256)."""
    nb = nbformat.read(notebook, as_version=4)
    out: dict[str, str] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if not name:
                continue
            # myst-nb's glue stores each mime type under papermill's record prefix.
            data = {k.removeprefix(RECORD_PREFIX): v for k, v in output.get("data", {}).items()}
            if "image/png" in data:
                out[name] = "png:" + hashlib.sha256(data["image/png"].encode()).hexdigest()[:16]
            elif "text/markdown" in data:
                out[name] = data["text/markdown"]
            else:
                out[name] = data.get("text/plain", "")
    return out


def dump(book: Path) -> dict[str, dict[str, str]]:
    """Glue values of every executed chapter and profile under ``book``."""
    return {str(p.relative_to(book)): glue_values(p)
            for p in sorted(book.glob("*/*.ipynb")) if "_build" not in p.parts}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        json.dump(dump(Path(argv[1])), sys.stdout, indent=1, sort_keys=True)
        return 0
    if len(argv) == 3 and argv[0] == "diff":
        before = json.loads(Path(argv[1]).read_text())
        after = dump(Path(argv[2]))
        changed = 0
        for page in sorted(set(before) | set(after)):
            b, a = before.get(page, {}), after.get(page, {})
            for key in sorted(set(b) | set(a)):
                if b.get(key) != a.get(key):
                    changed += 1
                    print(f"{page}:{key}: {str(b.get(key))[:80]!r} -> {str(a.get(key))[:80]!r}")
        print(f"{changed} glue values differ")
        return 1 if changed else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The landing page's "How to read it" names every page of the table of contents (issue 13: it once listed
four of nine chapters), so a reader who starts there can find each one."""

from __future__ import annotations

import re

import yaml

from alliance_study.data import paths

BOOK = paths.PROJECT_ROOT / "book"


def _toc_files(node) -> list[str]:
    files: list[str] = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        for value in node.values():
            files += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files += _toc_files(item)
    return files


def test_how_to_read_it_names_every_page() -> None:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    pages = [f for f in _toc_files(toc.get("parts", toc)) if f != toc["root"]]
    intro = (BOOK / "intro.md").read_text()
    section = intro.split("## How to read it", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\{doc\}`([^`<]+?)`", section))
    named |= set(re.findall(r"\{doc\}`[^`]*<([^>]+)>`", section))
    missing = [p for p in pages if p not in named]
    assert pages and not missing, f"pages not named in intro.md's 'How to read it': {missing}"

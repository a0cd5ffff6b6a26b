"""Screenshot book pages at reader widths (laptop 1400 px, phone 420 px) with the project's headless Chromium.

    python tools/screenshot_pages.py intro findings chapters/improvement profiles/0640011

writes book/_build/screenshots/<page>_<width>.png (pages are paths under book/_build/html without .html).
The full height of each page is not captured: --height sets the window (default 2400 px).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alliance_study.book import browser_check
from alliance_study.data import paths

HTML = paths.PROJECT_ROOT / "book" / "_build" / "html"
OUT = paths.PROJECT_ROOT / "book" / "_build" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+")
    parser.add_argument("--widths", default="1400,420")
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for page in args.pages:
        file = HTML / f"{page}.html"
        if not file.is_file():
            raise SystemExit(f"no page {file}")
        for width in (int(w) for w in args.widths.split(",")):
            out = args.out / f"{page.replace('/', '__')}_{width}.png"
            browser_check.screenshot(browser_check.DEFAULT_CHROMIUM, file.as_uri(), out,
                                     window=(width, args.height))
            print(out)


if __name__ == "__main__":
    main()

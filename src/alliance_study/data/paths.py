"""Project-relative paths. No I/O happens here."""

from __future__ import annotations

import os
from pathlib import Path

#: Root of the source checkout (``src/alliance_study/data/paths.py`` -> four levels up).
PROJECT_ROOT = Path(__file__).resolve().parents[3]

#: Environment variable that points ``alliance-study fetch`` at a local mirror of the raw files.
MIRROR_ENV = "ALLIANCE_DATA_MIRROR"

#: Default mirror: the shared data folder that sits beside the checkout on CI and developer machines.
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "data"

RAW_DIR = PROJECT_ROOT / "data" / "raw"
REGISTRY_PATH = RAW_DIR / "registry.csv"
PROCESSED_DIR = PROJECT_ROOT / "data" / "processed"


def mirror_dir() -> Path:
    """Return the mirror directory named by ``ALLIANCE_DATA_MIRROR`` or the default."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser().resolve() if value else DEFAULT_MIRROR

"""Reading the build outputs in ``data/processed`` (the panel, side tables, the data dictionary).

The only place chapters and notebooks get data from: they never open raw files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import paths, reads


def processed_dir(data_dir: str | Path | None = None) -> Path:
    """The directory of build outputs: ``data_dir`` if given, else ``data/processed`` of the checkout."""
    return Path(data_dir) if data_dir else paths.PROCESSED_DIR


def load_panel(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read ``district_year.parquet``."""
    path = processed_dir(data_dir) / "district_year.parquet"
    reads.record(path)
    return pd.read_parquet(path)


def load_table(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read a build output by name: ``<name>.parquet``, or ``<name>.csv`` if there is no parquet."""
    base = processed_dir(data_dir)
    parquet = base / f"{name}.parquet"
    if parquet.exists():
        reads.record(parquet)
        return pd.read_parquet(parquet)
    reads.record(base / f"{name}.csv")
    return pd.read_csv(base / f"{name}.csv", dtype={"district_code": str})


def load_datapackage(data_dir: str | Path | None = None) -> dict:
    """Read the data dictionary (``datapackage.json``)."""
    path = processed_dir(data_dir) / "datapackage.json"
    reads.record(path)
    return json.loads(path.read_text())

"""The first version's interface to the results database, kept for its callers: see
:mod:`echem.store` (SQLite or PostgreSQL by URL, schema versions, result keys).

``connect(path)`` opens a :class:`echem.store.Store`; ``ingest(store, folder, results,
version)`` stores a folder's results under the folder's name as experiment key.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from echem import store
from echem.results import CellResult


def default_path() -> str:
    """The default database as shown to a user: ``$ECHEM_DB`` (any password as ``***``) or
    the default SQLite file. (``connect(None)`` opens it.)"""
    return store.redact(store.default_url())


def connect(path: str | Path | None = None) -> store.Store:
    return store.open(path)


def ingest(s: store.Store, experiment_dir: str | Path, results: list[CellResult],
           software_version: str) -> int:
    """Store the results of one experiment folder, keyed by the folder's name; return the
    number of new result rows."""
    name = Path(experiment_dir).resolve().name or "experiment"
    return s.ingest(name, name, results, software_version)


def cells(s: store.Store) -> pd.DataFrame:
    return s.cells()


def history(s: store.Store, cell_id: str) -> pd.DataFrame:
    return s.history(cell_id)


def latest(s: store.Store) -> pd.DataFrame:
    return s.latest()

"""The results database: SQLite through the standard library.

Default location: ``$ECHEM_DB`` if set, else ``$XDG_DATA_HOME/echem/results.sqlite``
(``~/.local/share/echem/results.sqlite``), so that the lab's history collects across experiments;
``echem report --db PATH`` and ``echem db --db PATH`` choose another file.

Tables: ``experiments`` (one per data folder), ``cells``, ``files`` (path, sha256, size) and
``results`` (metric, value, unit, stderr, software version, and the fingerprint of the input files
the value came from). Ingesting the same cell with the same files and the same software version
twice changes nothing; a changed file or a new software version adds new result rows, and the
old ones stay as history.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from echem.results import CellResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    cell_id TEXT NOT NULL,
    cell_type TEXT,
    anode TEXT,
    protocol TEXT,
    UNIQUE (experiment_id, cell_id)
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    cell INTEGER NOT NULL REFERENCES cells(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    format TEXT,
    first_seen TEXT NOT NULL,
    UNIQUE (cell, path, sha256)
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    cell INTEGER NOT NULL REFERENCES cells(id),
    metric TEXT NOT NULL,
    value REAL,
    unit TEXT,
    stderr REAL,
    software_version TEXT NOT NULL,
    inputs_sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (cell, metric, software_version, inputs_sha256)
);
"""


def default_path() -> Path:
    if os.environ.get("ECHEM_DB"):
        return Path(os.environ["ECHEM_DB"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "echem" / "results.sqlite"


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    path = Path(path) if path else default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    return con


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def inputs_fingerprint(result: CellResult) -> str:
    """sha256 over the sorted sha256 of a cell's input files."""
    return hashlib.sha256("".join(sorted(f.sha256 for f in result.files)).encode()).hexdigest()


def ingest(con: sqlite3.Connection, experiment_dir: str | Path, results: list[CellResult],
           software_version: str) -> int:
    """Store the results of one experiment folder; return the number of new result rows."""
    exp_path = str(Path(experiment_dir).resolve())
    added = 0
    with con:
        con.execute("INSERT OR IGNORE INTO experiments (name, path, first_seen) VALUES (?, ?, ?)",
                    (Path(exp_path).name, exp_path, _now()))
        exp_id = con.execute("SELECT id FROM experiments WHERE path = ?", (exp_path,)).fetchone()[0]
        for r in results:
            con.execute("INSERT OR IGNORE INTO cells (experiment_id, cell_id, cell_type, anode, "
                        "protocol) VALUES (?, ?, ?, ?, ?)",
                        (exp_id, r.cell_id, r.cell_type, r.anode, r.protocol))
            cell = con.execute("SELECT id FROM cells WHERE experiment_id = ? AND cell_id = ?",
                               (exp_id, r.cell_id)).fetchone()[0]
            for f in r.files:
                con.execute("INSERT OR IGNORE INTO files (cell, path, sha256, size_bytes, format, "
                            "first_seen) VALUES (?, ?, ?, ?, ?, ?)",
                            (cell, f.path, f.sha256, f.size_bytes, f.format, _now()))
            fingerprint = inputs_fingerprint(r)
            for m in r.metrics:
                cur = con.execute(
                    "INSERT OR IGNORE INTO results (cell, metric, value, unit, stderr, "
                    "software_version, inputs_sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (cell, m.name, _float(m.value), m.unit, _float(m.stderr), software_version,
                     fingerprint, _now()))
                added += cur.rowcount
    return added


def _float(x):
    if x is None:
        return None
    x = float(x)
    return None if x != x else x


def cells(con: sqlite3.Connection) -> pd.DataFrame:
    """All cells with their experiment and how many result rows each has."""
    return pd.read_sql_query(
        "SELECT e.name AS experiment, c.cell_id, c.cell_type, c.anode, c.protocol, "
        "COUNT(r.id) AS n_results, MAX(r.created) AS last_result "
        "FROM cells c JOIN experiments e ON e.id = c.experiment_id "
        "LEFT JOIN results r ON r.cell = c.id GROUP BY c.id ORDER BY e.name, c.cell_id", con)


def history(con: sqlite3.Connection, cell_id: str) -> pd.DataFrame:
    """Every result row of the cells named ``cell_id`` (any experiment), newest first."""
    return pd.read_sql_query(
        "SELECT e.name AS experiment, c.cell_id, r.metric, r.value, r.unit, r.stderr, "
        "r.software_version, r.inputs_sha256, r.created FROM results r "
        "JOIN cells c ON c.id = r.cell JOIN experiments e ON e.id = c.experiment_id "
        "WHERE c.cell_id = ? ORDER BY r.created DESC, r.id DESC", con, params=(cell_id,))


def latest(con: sqlite3.Connection) -> pd.DataFrame:
    """One row per cell, one column per metric: the newest value of each."""
    rows = pd.read_sql_query(
        "SELECT e.name AS experiment, c.cell_id, c.cell_type, c.anode, r.metric, r.value, r.id "
        "FROM results r JOIN cells c ON c.id = r.cell JOIN experiments e ON e.id = c.experiment_id",
        con)
    if rows.empty:
        return pd.DataFrame(columns=["experiment", "cell_id", "cell_type", "anode"])
    rows = rows.sort_values("id").groupby(["experiment", "cell_id", "metric"], as_index=False).last()
    wide = rows.pivot_table(index=["experiment", "cell_id", "cell_type", "anode"], columns="metric",
                            values="value", aggfunc="last", dropna=False).reset_index()
    wide.columns.name = None
    return wide


class SqliteStore:
    """The results database as the orchestrator uses it (``echem.batch.run(store=...)``)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.con = connect(self.path)

    def ingest(self, experiment_key: str, title: str, cells: list[CellResult],
               software_version: str, *, provisional: bool = False) -> int:
        """Store the results of one experiment; the number of new result rows."""
        return ingest(self.con, experiment_key, cells, software_version)

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(path: str | Path | None = None) -> SqliteStore:
    """The results database at ``path`` (default: :func:`default_path`)."""
    return SqliteStore(path)

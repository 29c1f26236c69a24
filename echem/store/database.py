"""The results database, through SQLAlchemy Core: SQLite or PostgreSQL, chosen by URL.

``open(None)``: ``$ECHEM_DB``, else ``$XDG_DATA_HOME/echem/results.sqlite``
(``~/.local/share/echem/results.sqlite``). A plain path or ``sqlite:///PATH`` is an SQLite file;
``postgresql://USER@HOST:PORT/DB`` (or ``postgresql+psycopg://``) a PostgreSQL database, through
psycopg 3. A password in a URL is shown as ``***`` wherever the store names its database.

Tables: ``experiments`` (one per experiment key: a manifest's identity or a folder path relative
to a watched root, never an absolute path), ``cells``, ``files`` (path, sha256, size),
``results`` (metric, value, unit, stderr with its kind and n, censored, provisional, software
version, result key, time stored) and ``schema_version``. A result row is unique by (cell,
metric, software version, result key), where the result key (:func:`result_key`) is the sha256
of the cell's input file hashes and of its ``inputs`` (manifest entry and protocol) as canonical
JSON. Storing the same result twice adds nothing; a changed file, manifest entry, protocol or
software version adds rows, and the old ones stay as history. Each cell remembers the key and
version it was last stored with: :meth:`Store.latest` shows those rows (so a reverted edit shows
the older rows again). Provisional results (a file still growing) replace the cell's earlier
provisional rows instead of adding history.

Several processes may store into one database at once: every insert is
``INSERT ... ON CONFLICT DO NOTHING`` against the unique constraints; SQLite writers take the
write lock at the start of their transaction (``BEGIN IMMEDIATE``) and wait for it at most
``timeout_s`` seconds; PostgreSQL serialises schema changes with an advisory lock.

Schema versions: 1 is the first release's SQLite file (``echem/db.py``: ``experiments(name,
path)``, no uncertainty kind, no schema_version table); 2 added result keys and uncertainty
kinds; 3 (this one) adds ``spectra``: a cell's impedance followed over its test, one row per
spectrum (``echem.eis.track``: time, cycle, R_SEI, R_ct with their fit SE, relative RMS,
Kramers-Kronig, the two largest DRT peaks). An older file is migrated in place on first use (its
rows kept; a version 1 file's experiment keys stay the absolute folder paths it stored).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as _postgresql
from sqlalchemy.dialects import sqlite as _sqlite

from echem.errors import EchemError
from echem.store.urls import default_url, redact

#: the schema version this code writes; older versions are migrated on open
SCHEMA_VERSION = 3

#: the key of PostgreSQL's advisory lock held while the schema is created or migrated
_SCHEMA_LOCK = 0x6563_6865  # "eche"

metadata = sa.MetaData()

schema_version_table = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated", sa.Text, nullable=False),
)

experiments_table = sa.Table(
    "experiments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("first_seen", sa.Text, nullable=False),
)

cells_table = sa.Table(
    "cells", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("cell_id", sa.Text, nullable=False),
    sa.Column("cell_type", sa.Text),
    sa.Column("anode", sa.Text),
    sa.Column("protocol", sa.Text),
    sa.Column("current_inputs_sha256", sa.Text),
    sa.Column("current_software_version", sa.Text),
    sa.UniqueConstraint("experiment_id", "cell_id"),
)

files_table = sa.Table(
    "files", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cell", sa.Integer, sa.ForeignKey("cells.id"), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.Text),
    sa.Column("first_seen", sa.Text, nullable=False),
    sa.UniqueConstraint("cell", "path", "sha256"),
)

results_table = sa.Table(
    "results", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cell", sa.Integer, sa.ForeignKey("cells.id"), nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("value", sa.Double),
    sa.Column("unit", sa.Text),
    sa.Column("stderr", sa.Double),
    sa.Column("software_version", sa.Text, nullable=False),
    sa.Column("inputs_sha256", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("uncertainty_kind", sa.Text, nullable=False, server_default=""),
    sa.Column("n", sa.Integer),
    sa.Column("censored", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("provisional", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("cell", "metric", "software_version", "inputs_sha256"),
)

spectra_table = sa.Table(
    "spectra", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cell", sa.Integer, sa.ForeignKey("cells.id"), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("spectrum", sa.Integer, nullable=False),
    sa.Column("time_s", sa.Double),
    sa.Column("cycle", sa.Integer),
    sa.Column("R_SEI_ohm", sa.Double),
    sa.Column("R_SEI_stderr_ohm", sa.Double),
    sa.Column("R_ct_ohm", sa.Double),
    sa.Column("R_ct_stderr_ohm", sa.Double),
    sa.Column("rel_rms", sa.Double),
    sa.Column("kk_passed", sa.Boolean),
    sa.Column("drt_peak1_tau_s", sa.Double),
    sa.Column("drt_peak1_R_ohm", sa.Double),
    sa.Column("drt_peak2_tau_s", sa.Double),
    sa.Column("drt_peak2_R_ohm", sa.Double),
    sa.Column("software_version", sa.Text, nullable=False),
    sa.Column("inputs_sha256", sa.Text, nullable=False),
    sa.Column("provisional", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created", sa.Text, nullable=False),
    sa.UniqueConstraint("cell", "file", "spectrum", "software_version", "inputs_sha256"),
)
#: the columns of ``spectra`` taken from ``echem.eis.track``'s table, as they are named there
SPECTRUM_COLUMNS = ("time_s", "cycle", "R_SEI_ohm", "R_SEI_stderr_ohm", "R_ct_ohm",
                    "R_ct_stderr_ohm", "rel_rms", "kk_passed", "drt_peak1_tau_s",
                    "drt_peak1_R_ohm", "drt_peak2_tau_s", "drt_peak2_R_ohm")

#: version 1 -> 2, in SQLite (version 1 only ever existed as an SQLite file)
_MIGRATE_1_TO_2 = (
    "ALTER TABLE experiments RENAME COLUMN name TO title",
    "ALTER TABLE experiments RENAME COLUMN path TO key",
    "ALTER TABLE cells ADD COLUMN current_inputs_sha256 TEXT",
    "ALTER TABLE cells ADD COLUMN current_software_version TEXT",
    "ALTER TABLE results ADD COLUMN uncertainty_kind TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE results ADD COLUMN n INTEGER",
    "ALTER TABLE results ADD COLUMN censored BOOLEAN NOT NULL DEFAULT 0",
    "ALTER TABLE results ADD COLUMN provisional BOOLEAN NOT NULL DEFAULT 0",
    # a cell's current result is the one stored last
    "UPDATE cells SET current_inputs_sha256 = (SELECT r.inputs_sha256 FROM results r "
    "WHERE r.cell = cells.id ORDER BY r.id DESC LIMIT 1), current_software_version = "
    "(SELECT r.software_version FROM results r WHERE r.cell = cells.id ORDER BY r.id DESC LIMIT 1)",
)


# ------------------------------------------------------------------------------------------
# URLs
# ------------------------------------------------------------------------------------------

_MANGLED_URL = re.compile(r"^(postgres(?:ql)?(?:\+psycopg)?:)/(?=[^/])")


def _parse(target) -> tuple[str, Path | None, sa.URL | None, str]:
    """("sqlite", path, None, path) or ("postgresql", None, SQLAlchemy URL for psycopg 3, the URL
    with its password as ***)."""
    text = os.fspath(target)
    mangled = _MANGLED_URL.match(text)
    if mangled:  # a URL that went through pathlib (argparse type=Path) lost a slash of its //
        text = f"{mangled.group(1)}//{text[mangled.end():]}"
    elif isinstance(target, Path) or "://" not in text:
        return "sqlite", Path(text).expanduser(), None, text
    try:
        url = sa.make_url(text)
    except Exception:
        raise EchemError(f"not a database URL: {redact(text)}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise EchemError(f"{redact(text)}: an in-memory SQLite database keeps nothing; "
                             "give a file: sqlite:///PATH or a plain path")
        return "sqlite", Path(url.database).expanduser(), None, text
    if backend in ("postgresql", "postgres"):
        if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise EchemError(f"{redact(text)}: PostgreSQL is reached through psycopg 3; write "
                             "postgresql://... or postgresql+psycopg://...")
        return "postgresql", None, url.set(drivername="postgresql+psycopg"), redact(text)
    raise EchemError(f"unsupported database URL {redact(text)}: give a file path, "
                     "sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")


# ------------------------------------------------------------------------------------------
# the store
# ------------------------------------------------------------------------------------------

def open(url_or_path: str | os.PathLike | None = None, *, create: bool = True,  # noqa: A001
         timeout_s: float = 30.0) -> "Store":
    """Open the results database at ``url_or_path`` (None: :func:`default_url`), creating its
    tables or migrating an older schema first.

    ``create=False``: an SQLite file that does not exist is an error (for commands that only
    read). ``timeout_s``: how long to wait for a database another process holds locked (and,
    for PostgreSQL, to connect) before an :class:`EchemError`.
    """
    target = default_url() if url_or_path is None else url_or_path
    kind, path, url, display = _parse(target)
    if kind == "sqlite":
        engine = _sqlite_engine(path, create, timeout_s)
        display = str(path)
        secret = None
    else:
        secret = url.password
        try:
            engine = sa.create_engine(
                url, hide_parameters=True,
                connect_args={"connect_timeout": max(1, int(math.ceil(timeout_s))),
                              "application_name": "echem",
                              "options": f"-c lock_timeout={int(timeout_s * 1000)}"})
        except (ImportError, sa.exc.NoSuchModuleError):
            raise EchemError(f"{display}: PostgreSQL needs psycopg 3 "
                             "(pip install 'psycopg[binary]')") from None
    store = Store(engine, kind, display, path, secret, timeout_s)
    try:
        store._prepare()
    except BaseException:
        engine.dispose()
        raise
    return store


def _sqlite_engine(path: Path, create: bool, timeout_s: float) -> sa.Engine:
    if path.is_dir():
        raise EchemError("is a folder, not a database file; give a file path", path)
    if not path.exists():
        if not create:
            raise EchemError("no results database here yet; run `echem report` first", path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EchemError(f"cannot create the database's folder: {exc.strerror or exc}",
                             path) from None
    engine = sa.create_engine(sa.URL.create("sqlite+pysqlite", database=str(path)),
                              hide_parameters=True,
                              connect_args={"timeout": timeout_s, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions begun below, not by pysqlite

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        # a writer takes the write lock at once (waiting up to the busy timeout), so that two
        # writers never both hold a read lock and wait for each other
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("echem_write")
                             else "BEGIN")

    return engine


class Store:
    """An open results database. ``url``: its path or URL, password shown as ``***``."""

    def __init__(self, engine: sa.Engine, kind: str, url: str, path: Path | None,
                 secret: str | None, timeout_s: float):
        self.engine = engine
        self.kind = kind
        self.url = url
        self.path = path
        self._secret = secret
        self.timeout_s = timeout_s
        self._insert = _sqlite.insert if kind == "sqlite" else _postgresql.insert

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    # -- errors -------------------------------------------------------------------------

    def _error(self, message: str) -> EchemError:
        if self._secret:
            message = message.replace(self._secret, "***")
        if self.kind == "sqlite":
            return EchemError(message, self.path)
        return EchemError(f"{self.url}: {message}")

    @contextmanager
    def _guard(self, doing: str):
        """Database errors as EchemError naming the database (never its password)."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            text = str(orig if orig is not None else exc).strip().splitlines()
            text = text[0] if text else type(exc).__name__
            low = text.lower()
            if self.kind == "sqlite" and ("locked" in low or "busy" in low):
                raise self._error(
                    f"{doing}: the database is locked by another program and stayed locked for "
                    f"{self.timeout_s:g} s; nothing was stored. Run the command again once it is "
                    "free: storing the same results again adds only what is missing") from None
            if self.kind == "sqlite" and "not a database" in low:
                raise self._error("not an SQLite database (or a damaged one); give the results "
                                  "database with --db or $ECHEM_DB") from None
            if "lock timeout" in low:
                raise self._error(f"{doing}: the database stayed locked for "
                                  f"{self.timeout_s:g} s; nothing was stored: {text}") from None
            raise self._error(f"{doing}: {text}") from None

    def _write(self) -> sa.Connection:
        conn = self.engine.connect()
        return conn.execution_options(echem_write=True)

    # -- schema -------------------------------------------------------------------------

    def _version(self, conn: sa.Connection) -> int:
        names = set(sa.inspect(conn).get_table_names())
        if "schema_version" in names:
            return int(conn.execute(sa.select(sa.func.max(schema_version_table.c.version))).scalar()
                       or 0)
        if "experiments" in names:
            return 1
        if names and self.kind == "sqlite":
            raise self._error("an SQLite database of another program (no echem tables); give "
                              "the results database with --db or $ECHEM_DB")
        return 0

    def _prepare(self) -> None:
        """Create the tables, or migrate an older schema, unless they are current."""
        with self._guard("opening the database"):
            with self.engine.connect() as conn:
                version = self._version(conn)
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise self._error(f"the database has schema version {version}, newer than this "
                                  f"echem knows ({SCHEMA_VERSION}); update echem")
            with self._write() as conn, conn.begin():
                if self.kind == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
                version = self._version(conn)  # again, under the lock
                if version == SCHEMA_VERSION:
                    return
                if version == 1:
                    for statement in _MIGRATE_1_TO_2:
                        conn.exec_driver_sql(statement)
                metadata.create_all(conn, checkfirst=True)
                conn.execute(sa.delete(schema_version_table))
                conn.execute(sa.insert(schema_version_table).values(version=SCHEMA_VERSION,
                                                              migrated=_now()))

    def schema_version(self) -> int:
        with self._guard("reading the schema"), self.engine.connect() as conn:
            return self._version(conn)

    # -- writing ------------------------------------------------------------------------

    def ingest(self, experiment_key: str, title: str, cells: list, software_version: str, *,
               provisional: bool = False) -> int:
        """Store the cell results (``echem.results.CellResult``) of one experiment; return the
        number of new result rows.

        ``experiment_key``: the manifest's identity or the folder path relative to a watched
        root (not an absolute path), so that machines mounting the lab's share at different
        places store one experiment. ``title``: its name as shown. ``provisional``: the
        results come from a file still growing: they replace the cell's earlier provisional
        rows rather than adding to its history, until a final (not provisional) ingest.
        """
        key = _check_key(experiment_key)
        now = _now()
        added = 0
        with self._guard("storing results"), self._write() as conn, conn.begin():
            stmt = self._insert(experiments_table).values(key=key, title=str(title), first_seen=now)
            exp_id = conn.execute(stmt.on_conflict_do_update(
                index_elements=["key"], set_={"title": stmt.excluded.title})
                .returning(experiments_table.c.id)).scalar_one()
            for r in cells:
                fingerprint = result_key(r)
                stmt = self._insert(cells_table).values(
                    experiment_id=exp_id, cell_id=r.cell_id, cell_type=r.cell_type,
                    anode=r.anode, protocol=r.protocol, current_inputs_sha256=fingerprint,
                    current_software_version=software_version)
                cell = conn.execute(stmt.on_conflict_do_update(
                    index_elements=["experiment_id", "cell_id"],
                    set_={c: stmt.excluded[c] for c in (
                        "cell_type", "anode", "protocol", "current_inputs_sha256",
                        "current_software_version")}).returning(cells_table.c.id)).scalar_one()
                if r.files:
                    conn.execute(self._insert(files_table).on_conflict_do_nothing(), [
                        {"cell": cell, "path": f.path, "sha256": f.sha256,
                         "size_bytes": int(f.size_bytes), "format": f.format, "first_seen": now}
                        for f in r.files])
                conn.execute(sa.delete(results_table).where(results_table.c.cell == cell,
                                                      results_table.c.provisional == sa.true()))
                rows = [{"cell": cell, "metric": m.name, "value": _float(m.value),
                         "unit": m.unit, "stderr": _float(m.stderr),
                         "software_version": software_version, "inputs_sha256": fingerprint,
                         "created": now, "uncertainty_kind": m.uncertainty_kind or "",
                         "n": None if m.n is None else int(m.n), "censored": bool(m.censored),
                         "provisional": bool(provisional)}
                        for m in r.metrics]
                if rows:
                    stmt = (self._insert(results_table).on_conflict_do_nothing()
                            .returning(results_table.c.id))
                    added += len(conn.execute(stmt, rows).all())
                over = r.tables.get("impedance_over_test")
                conn.execute(sa.delete(spectra_table).where(spectra_table.c.cell == cell,
                                                      spectra_table.c.provisional == sa.true()))
                if over is not None and len(over):
                    conn.execute(self._insert(spectra_table).on_conflict_do_nothing(), [
                        {"cell": cell, "file": str(row.get("file", "")), "spectrum": int(row["spectrum"]),
                         **{c: _spectrum_value(c, row.get(c)) for c in SPECTRUM_COLUMNS},
                         "software_version": software_version, "inputs_sha256": fingerprint,
                         "provisional": bool(provisional), "created": now}
                        for row in over.to_dict("records")])
        return added

    # -- reading ------------------------------------------------------------------------

    def _frame(self, stmt) -> pd.DataFrame:
        with self._guard("reading the database"), self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)

    def cells(self) -> pd.DataFrame:
        """All cells with their experiment and how many result rows each has."""
        e, c, r = experiments_table, cells_table, results_table
        stmt = (sa.select(e.c.title.label("experiment"), c.c.cell_id, c.c.cell_type, c.c.anode,
                          c.c.protocol, sa.func.count(r.c.id).label("n_results"),
                          sa.func.max(r.c.created).label("last_result"))
                .select_from(c.join(e, e.c.id == c.c.experiment_id)
                             .outerjoin(r, r.c.cell == c.c.id))
                .group_by(c.c.id, e.c.id).order_by(e.c.title, c.c.cell_id))
        return self._frame(stmt)

    def history(self, cell_id: str) -> pd.DataFrame:
        """Every result row of the cells named ``cell_id`` (any experiment), newest first."""
        e, c, r = experiments_table, cells_table, results_table
        stmt = (sa.select(e.c.title.label("experiment"), c.c.cell_id, r.c.metric, r.c.value,
                          r.c.unit, r.c.stderr, r.c.uncertainty_kind, r.c.n, r.c.censored,
                          r.c.provisional, r.c.software_version, r.c.inputs_sha256, r.c.created)
                .select_from(r.join(c, c.c.id == r.c.cell).join(e, e.c.id == c.c.experiment_id))
                .where(c.c.cell_id == cell_id).order_by(r.c.created.desc(), r.c.id.desc()))
        hist = self._frame(stmt)
        hist["n"] = hist["n"].astype("Int64")
        return hist

    def spectra(self, cell_id: str) -> pd.DataFrame:
        """The impedance over the test of the cells named ``cell_id``, one row per spectrum, as
        last stored (the cell's current result key and software version)."""
        e, c, sp = experiments_table, cells_table, spectra_table
        stmt = (sa.select(e.c.title.label("experiment"), c.c.cell_id, sp.c.file, sp.c.spectrum,
                          *(sp.c[name] for name in SPECTRUM_COLUMNS), sp.c.provisional)
                .select_from(sp.join(c, c.c.id == sp.c.cell).join(e, e.c.id == c.c.experiment_id))
                .where(c.c.cell_id == cell_id, sp.c.inputs_sha256 == c.c.current_inputs_sha256,
                       sp.c.software_version == c.c.current_software_version)
                .order_by(e.c.title, sp.c.file, sp.c.spectrum))
        return self._frame(stmt)

    def latest(self) -> pd.DataFrame:
        """One row per cell, one column per metric: the values of the result the cell was last
        stored with (its current result key and software version)."""
        e, c, r = experiments_table, cells_table, results_table
        stmt = (sa.select(c.c.id.label("pk"), e.c.title.label("experiment"), c.c.cell_id,
                          c.c.cell_type, c.c.anode, r.c.metric, r.c.value, r.c.id)
                .select_from(r.join(c, c.c.id == r.c.cell).join(e, e.c.id == c.c.experiment_id))
                .where(r.c.inputs_sha256 == c.c.current_inputs_sha256,
                       r.c.software_version == c.c.current_software_version)
                .order_by(e.c.title, c.c.cell_id, r.c.id))
        rows = self._frame(stmt)
        info = ["experiment", "cell_id", "cell_type", "anode"]
        if rows.empty:
            return pd.DataFrame(columns=info)
        wide = rows.pivot_table(index="pk", columns="metric", values="value", aggfunc="last",
                                dropna=False, sort=False)
        wide.columns.name = None
        head = rows.drop_duplicates("pk").set_index("pk")[info]
        return head.join(wide).reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# keys and values
# ------------------------------------------------------------------------------------------

def _spectrum_value(column: str, value):
    """A value of ``echem.eis.track``'s table as the ``spectra`` column stores it (None for NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column == "kk_passed":
        return bool(value)
    if column == "cycle":
        return int(value)
    return _float(value)


def result_key(result) -> str:
    """The sha256 that, with the metric and software version, identifies a stored result: over
    the sorted sha256 of the cell's input files and its ``inputs`` (manifest entry and
    protocol) as canonical JSON (sorted keys, no spaces). Without ``inputs`` it is the first
    version's fingerprint, the sha256 of the concatenated sorted file hashes."""
    hashes = sorted(f.sha256 for f in result.files)
    if not result.inputs:
        return hashlib.sha256("".join(hashes).encode()).hexdigest()
    doc = json.dumps({"files": hashes, "inputs": result.inputs}, sort_keys=True,
                     separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


def _jsonable(x):
    if isinstance(x, (datetime, date)):
        return x.isoformat()
    if isinstance(x, (set, frozenset)):
        return sorted(x, key=str)
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    return str(x)


def _check_key(key: str) -> str:
    key = str(key)
    if not key.strip():
        raise EchemError("an experiment key must not be empty")
    if key.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", key):
        raise EchemError(f"the experiment key {key!r} is an absolute path; key an experiment by "
                         "its manifest or its path relative to the watched root")
    return key


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _float(x) -> float | None:
    """A number as stored: None for None, NaN and +-inf (a value withheld)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None

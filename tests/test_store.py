"""The results store on SQLite: URLs, the result key, provisional results, migration of a
first-version file, concurrent writers, a locked database, a file that is not a database."""
import pickle
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from echem import store
from echem.cli import main
from echem.errors import EchemError
from echem.results import CellResult, FileRecord, Metric

ROOT = Path(__file__).resolve().parents[1]


def cell(cell_id="c1", sha="a" * 64, r_sei=12.1, inputs=None, anode="Li4Ag"):
    return CellResult(cell_id, "symmetric", anode, "sym", metrics=[
        Metric("R_SEI_ohm", r_sei, "ohm", 0.2, "fit_se", 31),
        Metric("failure_time_h", 150.0, "h", None, "", None, True)],
        files=[FileRecord(f"{cell_id}.mpt", sha, 100, "eclab-mpt")], inputs=inputs or {})


def rows(path, sql):
    with sqlite3.connect(path) as con:
        return con.execute(sql).fetchall()


# -- URLs ------------------------------------------------------------------------------

def test_redact_hides_every_password():
    assert store.redact("postgresql://ann:s3cr%40t@db.lab:5432/results") == \
        "postgresql://ann:***@db.lab:5432/results"
    assert store.redact("postgresql+psycopg://ann:p@ss:w0rd@db/x?sslmode=require") == \
        "postgresql+psycopg://ann:***@db/x?sslmode=require"
    assert store.redact("postgresql://db/x?user=ann&password=hunter2&sslmode=require") == \
        "postgresql://db/x?user=ann&password=***&sslmode=require"
    assert store.redact("postgresql://ann@db/x") == "postgresql://ann@db/x"
    assert store.redact("/data/results.sqlite") == "/data/results.sqlite"


def test_default_url_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ECHEM_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert store.default_url() == str(tmp_path / "xdg" / "echem" / "results.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert store.default_url() == str(Path.home() / ".local/share/echem/results.sqlite")
    monkeypatch.setenv("ECHEM_DB", "postgresql://lab@db/results")
    assert store.default_url() == "postgresql://lab@db/results"


def test_sqlite_urls_and_paths_open_the_same_file(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    with store.open(f"sqlite:///{path}") as s:
        s.ingest("exp", "exp", [cell()], "0.1.0")
    with store.open(path) as s:
        assert len(s.history("c1")) == 2
    monkeypatch.setenv("ECHEM_DB", str(path))
    with store.open() as s:
        assert s.path == path and len(s.history("c1")) == 2
    with pytest.raises(EchemError, match="unsupported database URL mysql://u:\\*\\*\\*@h/db"):
        store.open("mysql://u:pw@h/db")
    with pytest.raises(EchemError, match="in-memory"):
        store.open("sqlite://")


# -- the result key ------------------------------------------------------------------------

def test_a_manifest_edit_adds_rows_and_the_current_view_shows_them(tmp_path):
    # issue 16, case 6: the masses edited in experiment.toml, the data files unchanged
    old = {"cell": {"id": "c1", "anode_mass_g": 0.010, "cathode_mass_g": 0.012},
           "protocol": {"name": "sym", "current_mA": 0.2}}
    new = {"cell": {"id": "c1", "anode_mass_g": 0.011, "cathode_mass_g": 0.012},
           "protocol": {"name": "sym", "current_mA": 0.2}}
    with store.open(tmp_path / "r.sqlite") as s:
        assert s.ingest("exp", "exp", [cell(inputs=old, r_sei=12.1)], "0.1.0") == 2
        assert s.ingest("exp", "exp", [cell(inputs=new, r_sei=13.0)], "0.1.0") == 2
        assert s.latest().loc[0, "R_SEI_ohm"] == 13.0
        # the same inputs again (keys in another order: canonical JSON) add nothing
        same = {"protocol": {"current_mA": 0.2, "name": "sym"}, "cell": dict(reversed(
            list(new["cell"].items())))}
        assert s.ingest("exp", "exp", [cell(inputs=same, r_sei=13.0)], "0.1.0") == 0
        # the edit undone: nothing new to store, and the current view is the old result again
        assert s.ingest("exp", "exp", [cell(inputs=old, r_sei=12.1)], "0.1.0") == 0
        assert s.latest().loc[0, "R_SEI_ohm"] == 12.1
        # a new software version is a new result
        assert s.ingest("exp", "exp", [cell(inputs=old, r_sei=12.1)], "0.2.0") == 2
        assert len(s.history("c1")) == 6
    a, b = cell(inputs=old), cell(inputs=new)
    assert store.result_key(a) != store.result_key(b)
    assert store.result_key(a) != store.result_key(cell(inputs=old, sha="b" * 64))
    # without inputs the key is the first version's fingerprint: sha256 of the file hashes
    import hashlib
    assert store.result_key(cell()) == hashlib.sha256(("a" * 64).encode()).hexdigest()


def test_an_anode_corrected_in_the_manifest_shows_in_the_cell_list(tmp_path):
    with store.open(tmp_path / "r.sqlite") as s:
        s.ingest("exp", "exp", [cell(anode="Li9Ag4", inputs={"anode": "Li9Ag4"})], "0.1.0")
        s.ingest("exp", "exp", [cell(anode="Li4Ag", inputs={"anode": "Li4Ag"})], "0.1.0")
        assert list(s.cells().anode) == ["Li4Ag"]
        assert list(s.latest().anode) == ["Li4Ag"]


def test_metric_fields_are_columns(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.open(path) as s:
        s.ingest("exp", "Experiment 1", [cell()], "0.1.0")
    got = rows(path, "SELECT metric, value, stderr, uncertainty_kind, n, censored, provisional "
                     "FROM results ORDER BY metric")
    assert got == [("R_SEI_ohm", 12.1, 0.2, "fit_se", 31, 0, 0),
                   ("failure_time_h", 150.0, None, "", None, 1, 0)]
    assert rows(path, "SELECT key, title FROM experiments") == [("exp", "Experiment 1")]


def test_an_absolute_path_is_not_an_experiment_key(tmp_path):
    with store.open(tmp_path / "r.sqlite") as s:
        with pytest.raises(EchemError, match="absolute path"):
            s.ingest(str(tmp_path), "x", [cell()], "0.1.0")


def test_provisional_results_are_replaced_until_the_final_ingest(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.open(path) as s:
        # a growing file: each read has new bytes (another sha256) and new values
        assert s.ingest("exp", "exp", [cell(sha="1" * 64, r_sei=10.0)], "0.1.0",
                        provisional=True) == 2
        assert s.ingest("exp", "exp", [cell(sha="2" * 64, r_sei=11.0)], "0.1.0",
                        provisional=True) == 2
        assert rows(path, "SELECT COUNT(*), SUM(provisional) FROM results") == [(2, 2)]
        assert s.latest().loc[0, "R_SEI_ohm"] == 11.0
        # the file settled: the final result replaces the provisional rows
        assert s.ingest("exp", "exp", [cell(sha="3" * 64, r_sei=12.0)], "0.1.0") == 2
        hist = s.history("c1")
        assert list(hist.value[hist.metric == "R_SEI_ohm"]) == [12.0]
        assert not hist.provisional.any()
        # a final result stays as history under the next one
        assert s.ingest("exp", "exp", [cell(sha="4" * 64, r_sei=12.5)], "0.1.0") == 2
        hist = s.history("c1")
        assert list(hist.value[hist.metric == "R_SEI_ohm"]) == [12.5, 12.0]


# -- migration -----------------------------------------------------------------------------

#: the first version's schema (echem/db.py before the store), verbatim
V1_SCHEMA = """
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


def make_v1(path):
    """A first-version database as that version's code wrote it: Li4Ag stored twice (a file
    changed), Li once."""
    import hashlib
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    with con:
        con.execute("INSERT INTO experiments (name, path, first_seen) VALUES (?, ?, ?)",
                    ("run1", "/lab/data/run1", "2025-01-02T10:00:00+00:00"))
        for n, (cid, anode) in enumerate((("c-Li4Ag", "Li4Ag"), ("c-Li", "Li")), start=1):
            con.execute("INSERT INTO cells (experiment_id, cell_id, cell_type, anode, protocol) "
                        "VALUES (1, ?, 'full', ?, 'p')", (cid, anode))
        versions = [(1, "a" * 64, 70.0, "2025-01-02T10:00:00+00:00"),
                    (1, "b" * 64, 72.1, "2025-01-03T10:00:00+00:00"),
                    (2, "c" * 64, 10.8, "2025-01-02T10:00:00+00:00")]
        for cell_pk, sha, value, created in versions:
            con.execute("INSERT OR IGNORE INTO files (cell, path, sha256, size_bytes, format, "
                        "first_seen) VALUES (?, ?, ?, ?, ?, ?)",
                        (cell_pk, f"{sha[:4]}.csv", sha, 10, "btsda-csv", created))
            fp = hashlib.sha256(sha.encode()).hexdigest()
            con.execute("INSERT OR IGNORE INTO results (cell, metric, value, unit, stderr, "
                        "software_version, inputs_sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (cell_pk, "capacity_retention_pct", value, "%", None, "0.1.0", fp,
                         created))
    con.close()


def test_a_first_version_database_is_migrated_on_first_use(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    make_v1(path)
    with store.open(path) as s:
        assert s.schema_version() == store.SCHEMA_VERSION == 3
        hist = s.history("c-Li4Ag")
        assert list(hist.value) == [72.1, 70.0] and list(hist.experiment) == ["run1", "run1"]
        latest = s.latest().set_index("cell_id")
        assert latest.loc["c-Li4Ag", "capacity_retention_pct"] == 72.1
        assert latest.loc["c-Li", "capacity_retention_pct"] == 10.8
        # the new code keys an experiment by a relative path: the folder stored again is a
        # new experiment beside the migrated one (whose key stays the absolute path)
        again = CellResult("c-Li", "full", "Li", "p",
                           metrics=[Metric("capacity_retention_pct", 10.8, "%")],
                           files=[FileRecord("cccc.csv", "c" * 64, 10, "btsda-csv")])
        assert s.ingest("lab/data/run1", "run1", [again], "0.1.0") == 1
    assert rows(path, "SELECT version FROM schema_version") == [(3,)]
    assert rows(path, "SELECT key, title FROM experiments ORDER BY id") == [
        ("/lab/data/run1", "run1"), ("lab/data/run1", "run1")]
    assert rows(path, "SELECT COUNT(*) FROM results WHERE uncertainty_kind = '' AND censored = 0 "
                      "AND provisional = 0") == [(4,)]
    # opened again: nothing to migrate, nothing changed; and the command line reads it
    with store.open(path) as s:
        assert len(s.history("c-Li4Ag")) == 2
    assert main(["db", "--db", str(path), "list"]) == 0
    assert "c-Li4Ag" in capsys.readouterr().out


def test_an_old_file_keeps_its_results_visible_to_db_compare(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    make_v1(path)
    with sqlite3.connect(path) as con:  # add the third phase the comparison needs
        con.execute("INSERT INTO cells (experiment_id, cell_id, cell_type, anode, protocol) "
                    "VALUES (1, 'c-Li9Ag4', 'full', 'Li9Ag4', 'p')")
        con.execute("INSERT INTO results (cell, metric, value, unit, stderr, software_version, "
                    "inputs_sha256, created) VALUES (3, 'capacity_retention_pct', 58.8, '%', "
                    "NULL, '0.1.0', 'x', '2025-01-02T10:00:00+00:00')")
    assert main(["db", "--db", str(path), "compare"]) == 0
    assert "Li4Ag > Li9Ag4 > Li" in capsys.readouterr().out  # paper: 72.1 > 58.8 > 10.8 %


# -- faults --------------------------------------------------------------------------------

def test_a_file_that_is_not_a_database_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(EchemError, match="not an SQLite database") as err:
        store.open(bad)
    assert str(bad) in str(err.value)
    assert bad.read_text().startswith("these are my notes")  # left as it was
    assert main(["db", "--db", str(bad), "list"]) == 1
    e = capsys.readouterr().err
    assert e.startswith("echem: error: ") and str(bad) in e and "Traceback" not in e
    # a folder, and another program's SQLite database
    with pytest.raises(EchemError, match="folder"):
        store.open(tmp_path)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE birds (name TEXT)")
    with pytest.raises(EchemError, match="another program"):
        store.open(other)
    assert main(["db", "--db", str(tmp_path / "none.sqlite"), "list"]) == 1
    assert not (tmp_path / "none.sqlite").exists()


def test_a_locked_database_is_waited_for_then_a_clean_error(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.open(path) as s:
        s.ingest("exp", "exp", [cell("c0")], "0.1.0")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with store.open(path, timeout_s=0.5) as s:
            t0 = time.monotonic()
            with pytest.raises(EchemError, match="locked by another program") as err:
                s.ingest("exp", "exp", [cell("c1")], "0.1.0")
            waited = time.monotonic() - t0
    finally:
        holder.rollback()
        holder.close()
    assert 0.45 <= waited < 10
    assert str(path) in str(err.value) and "again" in str(err.value)
    assert rows(path, "SELECT COUNT(*) FROM cells") == [(1,)]  # nothing half-stored
    # run again once free: everything is stored
    with store.open(path) as s:
        assert s.ingest("exp", "exp", [cell("c0"), cell("c1")], "0.1.0") == 2


def test_a_lock_released_within_the_timeout_is_waited_for(tmp_path):
    path = tmp_path / "r.sqlite"
    store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.4, lambda: (holder.rollback(), holder.close()))
    release.start()
    t0 = time.monotonic()
    with store.open(path, timeout_s=20) as s:
        assert s.ingest("exp", "exp", [cell()], "0.1.0") == 2
    release.join()
    assert time.monotonic() - t0 >= 0.35


# -- several writers at once ----------------------------------------------------------------

WRITER = """
import os, pickle, sys, time
from pathlib import Path
from echem import store
url, data, go, ready = sys.argv[1:5]
keys = sys.argv[5:]
cells = pickle.loads(Path(data).read_bytes())
import sqlalchemy, psycopg  # imported before the start, so that the writers start together
Path(ready).touch()
while not os.path.exists(go):
    time.sleep(0.002)
with store.open(url) as s:
    print(" ".join(str(s.ingest(k, k, cells, "0.1.0")) for k in keys))
"""


def synthetic_cells(n_cells=12):
    """Cells with distinct values and files (no figures or tables)."""
    return [CellResult(f"cell-{i:02d}", "full", ("Li4Ag", "Li9Ag4", "Li")[i % 3], "p", metrics=[
        Metric(f"m{j}", i * 100.0 + j, "1", 0.01 * j, "sd", 3) for j in range(8)],
        files=[FileRecord(f"cell-{i:02d}.csv", f"{i:064x}", 1000 + i, "btsda-csv")],
        inputs={"cell": {"id": f"cell-{i:02d}", "mass_g": 0.01 + i * 1e-4}})
        for i in range(n_cells)]


def concurrent_ingest(url: str, tmp_path: Path, cells: list, n_writers: int = 3) -> list[list[int]]:
    """``n_writers`` processes started together, each storing ``cells`` under the shared
    experiment key "shared" and under its own key "own-<i>"; the numbers of new rows each
    reported, per key."""
    data = tmp_path / "cells.pickle"
    data.write_bytes(pickle.dumps(cells))
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(n_writers)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(data), str(go),
                               str(ready[i]), "shared", f"own-{i}"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(n_writers)]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline \
            and all(p.poll() is None for p in procs):
        time.sleep(0.01)
    go.touch()  # all at once
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        out.append([int(x) for x in stdout.split()])
    return out


def test_three_processes_into_one_sqlite_file_lose_nothing_and_duplicate_nothing(tmp_path):
    path = tmp_path / "fresh.sqlite"  # created by the writers themselves, all at once
    cells = synthetic_cells()
    n_rows = sum(len(c.metrics) for c in cells)
    added = concurrent_ingest(str(path), tmp_path, cells)
    assert sorted(a[0] for a in added) == [0, 0, n_rows]  # the shared rows stored once
    assert [a[1] for a in added] == [n_rows] * 3             # each writer's own rows all stored
    assert rows(path, "SELECT COUNT(*) FROM results") == [(4 * n_rows,)]
    assert rows(path, "SELECT COUNT(*) FROM cells") == [(4 * len(cells),)]
    assert rows(path, "SELECT COUNT(*) FROM (SELECT DISTINCT cell, metric, software_version, "
                      "inputs_sha256 FROM results)") == [(4 * n_rows,)]
    # every value as given
    got = dict(rows(path, "SELECT c.cell_id || '/' || r.metric, r.value FROM results r "
                          "JOIN cells c ON c.id = r.cell "
                          "JOIN experiments e ON e.id = c.experiment_id WHERE e.key = 'shared'"))
    assert got == {f"{c.cell_id}/{m.name}": m.value for c in cells for m in c.metrics}


def test_impedance_over_a_test_is_stored_one_row_per_spectrum(tmp_path, capsys):
    # the sample cell with PEIS before cycling and after every 15 cycles: R_SEI grows by a known
    # law (echem.sampledata.truth(what="eis")); the database holds each spectrum's fit
    import pytest

    from conftest import sample_cell
    from echem import batch, sampledata
    from echem.cli import main
    folder = sample_cell(tmp_path / "exp", "sym-Li4Ag-EIS")
    with store.open(tmp_path / "r.sqlite") as s:
        result = batch.run(folder, store=s)
        rows = s.spectra("sym-Li4Ag-EIS")
    over = result.cells[0].tables["impedance_over_test"]
    truth = sampledata.truth(what="eis")
    assert len(rows) == len(over) == len(truth) == 6
    assert rows["R_SEI_ohm"].tolist() == pytest.approx(over["R_SEI_ohm"].tolist())
    assert rows["R_SEI_ohm"].tolist() == pytest.approx(truth["R_SEI_ohm"].tolist(), rel=0.03)
    assert rows["time_s"].is_monotonic_increasing and rows["kk_passed"].notna().all()
    assert main(["db", "--db", str(tmp_path / "r.sqlite"), "show", "sym-Li4Ag-EIS"]) == 0
    assert "impedance over the test" in capsys.readouterr().out

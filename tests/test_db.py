"""The results database (echem.store): idempotent ingest,
history on changed inputs or software, a plain SQLite file."""
import sqlite3

from echem import store
from echem.results import CellResult, FileRecord, Metric


def _result(sha="a" * 64, r_sei=12.1):
    return CellResult("c1", "symmetric", "Li4Ag", "sym", metrics=[
        Metric("R_SEI_ohm", r_sei, "ohm", 0.2), Metric("failure_time_h", float("nan"), "h")],
        files=[FileRecord("eis.mpt", sha, 100, "eclab-mpt")])


def _count(path, table):
    with sqlite3.connect(path) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_ingest_twice_changes_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.open(path) as s:
        assert s.ingest("exp", "exp", [_result()], "0.1.0") == 2
        before = {t: _count(path, t) for t in ("experiments", "cells", "files", "results")}
        assert s.ingest("exp", "exp", [_result()], "0.1.0") == 0
    assert {t: _count(path, t) for t in before} == before == {
        "experiments": 1, "cells": 1, "files": 1, "results": 2}
    # NaN is stored as NULL, not as a number
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM results WHERE metric='failure_time_h'").fetchone() \
            == (None,)


def test_changed_file_or_version_keeps_history(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.open(path) as s:
        s.ingest("exp", "exp", [_result()], "0.1.0")
        s.ingest("exp", "exp", [_result(sha="b" * 64, r_sei=13.0)], "0.1.0")
        s.ingest("exp", "exp", [_result(sha="b" * 64, r_sei=13.5)], "0.2.0")
        hist = s.history("c1")
        r = hist[hist.metric == "R_SEI_ohm"]
        assert list(r.value) == [13.5, 13.0, 12.1]
        assert _count(path, "files") == 2
        assert s.latest().loc[0, "R_SEI_ohm"] == 13.5


def test_database_is_plain_sqlite(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.open(path) as s:
        s.ingest("exp", "exp", [_result()], "0.1.0")
    tables = {r[0] for r in sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"experiments", "cells", "files", "results", "schema_version"} <= tables



"""The results store on a real PostgreSQL server (tests/pg.py starts one on loopback): a report
stored in the server, three writers at once, passwords never shown."""
import csv
from pathlib import Path

import pytest


from echem import sampledata, store
from echem.cli import main
from echem.errors import EchemError
from pg import postgres_server  # noqa: F401  (the session's server)
from test_store import cell, concurrent_ingest, synthetic_cells

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def server_rows(server, url, sql):
    """Rows read in the server through a separate psycopg connection (not the store)."""
    with server.connect(url.rsplit("/", 1)[1]) as con:
        return con.execute(sql).fetchall()


def test_a_report_stores_its_results_in_the_server(postgres_server, tmp_path,  # noqa: F811
                                                   monkeypatch, capsys):
    url = postgres_server.new_database()
    monkeypatch.chdir(tmp_path)  # a file named like the URL would appear here
    out = tmp_path / "report"
    assert main(["report", str(SAMPLE), "-o", str(out), "--db", url, "--quiet",
                 "--jobs", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    # in the server: the six sample cells, and each value of summary.csv
    with open(out / "summary.csv", newline="") as fh:
        summary = {r["cell_id"]: r for r in csv.DictReader(fh)}
    n_cells = len(sampledata.truth())
    assert len(summary) == n_cells
    assert server_rows(postgres_server, url, "SELECT COUNT(*) FROM cells")[0][0] == n_cells
    stored = {(c, m): v for c, m, v in server_rows(
        postgres_server, url, "SELECT c.cell_id, r.metric, r.value FROM results r "
                              "JOIN cells c ON c.id = r.cell")}
    n_checked = 0
    for cell_id, row in summary.items():
        for metric in ("R_SEI_ohm", "R_ct_ohm", "capacity_retention_pct",
                       "nucleation_overpotential_mV", "polarization_mV"):
            if row.get(metric) not in (None, ""):
                assert stored[(cell_id, metric)] == pytest.approx(float(row[metric]), rel=1e-9)
                n_checked += 1
    assert n_checked >= 12
    assert server_rows(postgres_server, url, "SELECT version FROM schema_version") == [(store.SCHEMA_VERSION,)]
    n_results = server_rows(postgres_server, url, "SELECT COUNT(*) FROM results")[0][0]
    # the same report again: no new row
    capsys.readouterr()
    assert main(["report", str(SAMPLE), "-o", str(tmp_path / "again"), "--db", url, "--quiet",
                 "--jobs", "1"]) == 0
    assert server_rows(postgres_server, url, "SELECT COUNT(*) FROM results")[0][0] == n_results
    assert "0 new result rows" in capsys.readouterr().out
    # the database commands read it back; compare ranks as the paper does
    assert main(["db", "--db", url, "list"]) == 0
    listing = capsys.readouterr().out
    assert all(c in listing for c in summary)
    assert main(["db", "--db", url.replace("postgresql://", "postgresql+psycopg://"),
                 "compare"]) == 0
    assert "Li4Ag > Li9Ag4 > Li" in capsys.readouterr().out


def test_three_writers_at_once_into_one_server(postgres_server, tmp_path):  # noqa: F811
    url = postgres_server.new_database()  # empty: the writers also race to create the schema
    cells = synthetic_cells()
    n_rows = sum(len(c.metrics) for c in cells)
    added = concurrent_ingest(url, tmp_path, cells)
    assert sorted(a[0] for a in added) == [0, 0, n_rows]
    assert [a[1] for a in added] == [n_rows] * 3
    assert server_rows(postgres_server, url, "SELECT COUNT(*) FROM results")[0][0] == 4 * n_rows
    assert server_rows(postgres_server, url, "SELECT COUNT(*) FROM experiments")[0][0] == 4
    assert server_rows(postgres_server, url, "SELECT COUNT(*) FROM (SELECT DISTINCT cell, metric, "
                                             "software_version, inputs_sha256 FROM results) d"
                       )[0][0] == 4 * n_rows
    got = dict(((c, m), v) for c, m, v in server_rows(
        postgres_server, url, "SELECT c.cell_id, r.metric, r.value FROM results r JOIN cells c "
                              "ON c.id = r.cell JOIN experiments e ON e.id = c.experiment_id "
                              "WHERE e.key = 'shared'"))
    assert got == {(c.cell_id, m.name): m.value for c in cells for m in c.metrics}


def test_metric_fields_and_provisional_rows_in_the_server(postgres_server):  # noqa: F811
    url = postgres_server.new_database()
    with store.open(url) as s:
        assert s.ingest("exp", "exp", [cell(sha="1" * 64, r_sei=10.0)], "0.1.0",
                        provisional=True) == 2
        assert s.ingest("exp", "exp", [cell(sha="2" * 64, r_sei=11.0)], "0.1.0",
                        provisional=True) == 2
        assert s.ingest("exp", "exp", [cell(sha="3" * 64, r_sei=12.0)], "0.1.0") == 2
        assert s.ingest("exp", "exp", [cell(sha="3" * 64, r_sei=12.0)], "0.1.0") == 0
        assert s.latest().loc[0, "R_SEI_ohm"] == 12.0
    assert sorted(server_rows(postgres_server, url,
                              "SELECT metric, value, stderr, uncertainty_kind, n, censored, "
                              "provisional FROM results")) == [
        ("R_SEI_ohm", 12.0, 0.2, "fit_se", 31, False, False),
        ("failure_time_h", 150.0, None, "", None, True, False)]


def test_a_password_is_never_shown(postgres_server, tmp_path, monkeypatch, capsys):  # noqa: F811
    secret = "Zq81-never-shown"
    with postgres_server.connect() as con:
        con.execute(f"ALTER ROLE echem PASSWORD '{secret}'")
    url = postgres_server.new_database()
    name = url.rsplit("/", 1)[1]
    with_password = postgres_server.url(name, password=secret)
    with store.open(with_password) as s:
        assert secret not in repr(s) and secret not in s.url and "***" in s.url
        s.ingest("exp", "exp", [cell()], "0.1.0")
    assert main(["db", "--db", with_password, "list"]) == 0
    assert main(["db", "--db", with_password, "show", "nobody"]) == 1
    missing = postgres_server.url("no_such_db", password=secret)
    assert main(["db", "--db", missing, "list"]) == 1
    with pytest.raises(EchemError) as err:
        store.open(missing)
    text = capsys.readouterr()
    for shown in (text.out, text.err, str(err.value)):
        assert secret not in shown
    assert "echem:***@" in text.err and "no_such_db" in text.err and "Traceback" not in text.err
    # nor in the server's log, nor stored in the database
    assert secret not in postgres_server.log.read_text(errors="replace")
    dump = server_rows(postgres_server, url, "SELECT key, title FROM experiments")
    assert all(secret not in str(v) for v in dump)
    # $ECHEM_DB holding the URL: the commands' help shows it without the password
    monkeypatch.setenv("ECHEM_DB", with_password)
    for command in (["db", "--help"], ["report", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        shown = capsys.readouterr().out
        assert secret not in shown and "echem:***@" in shown.replace("\n", "")
    assert main(["db", "list"]) == 0 and secret not in capsys.readouterr().out
    # an unreachable server: a clean error in bounded time, password hidden
    with pytest.raises(EchemError, match="connect|refused") as err:
        store.open(f"postgresql://echem:{secret}@127.0.0.1:1/x", timeout_s=2)
    assert secret not in str(err.value)

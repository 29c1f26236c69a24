"""The command line: `echem read` (summary and conversion) and `echem db`."""
import numpy as np
import pandas as pd
import pytest

import echem
from echem.cli import main


def test_read_summary_and_csv_conversion(corpus, tmp_path, capsys):
    src = corpus / "biologic" / "vsp_peis_with.mpr"
    out = tmp_path / "out.csv"
    assert main(["read", str(src), "--to", "csv", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    m = echem.read(src)
    assert f"rows:        {len(m.data)}" in text
    assert "spectra:     32" in text and "PEIS" in text
    back = pd.read_csv(out)
    assert list(back.columns) == [str(c) for c in m.data.columns]
    np.testing.assert_allclose(back["z_real_ohm"], m.data["z_real_ohm"], rtol=1e-12)
    np.testing.assert_array_equal(back["spectrum"], m.data["spectrum"].astype(int))


def test_read_csv_conversion_keeps_every_value_and_time_stamp(corpus, tmp_path):
    # written by Arrow's CSV writer (as the report's data.csv): numbers to the last digit,
    # time stamps as the same instants (ISO 8601, UTC written as Z)
    src = corpus / "neware" / "TestFile.nda"
    out = tmp_path / "out.csv"
    assert main(["read", str(src), "--to", "csv", "-o", str(out)]) == 0
    m = echem.read(src).data
    back = pd.read_csv(out)
    assert list(back.columns) == [str(c) for c in m.columns] and len(back) == len(m)
    for col in ("time_s", "voltage_V", "current_mA", "capacity_mAh"):
        np.testing.assert_array_equal(back[col].to_numpy(), m[col].to_numpy())
    assert (back["step_type"] == m["step_type"].astype(str)).all()
    stamps = pd.to_datetime(back["Timestamp"], format="ISO8601")
    assert (stamps == m["Timestamp"]).all()


def test_read_parquet_round_trip(corpus, tmp_path):
    src = corpus / "neware" / "new_nda_file.nda"
    out = tmp_path / "x.parquet"
    assert main(["read", str(src), "--to", "parquet", "-o", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), echem.read(src).data, check_dtype=False,
                                  check_categorical=False)


def test_read_bad_file_is_an_error_message_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "cell.mpr"
    bad.write_bytes(b"BIO-LOGIC MODULAR FILE\x1a" + b"\x00" * 10)
    assert main(["read", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("echem: error: ") and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "cell.csv").exists()


def test_db_commands(tmp_path, capsys):
    from echem import store
    from echem.results import CellResult, FileRecord, Metric

    path = tmp_path / "r.sqlite"
    cells = [CellResult(f"c-{a}", "full", a, "p", metrics=[Metric("capacity_retention_pct", v, "%")],
                        files=[FileRecord(f"{a}.csv", a * 8, 1)])
             for a, v in (("Li4Ag", 72.1), ("Li9Ag4", 58.8), ("Li", 10.8))]
    with store.open(path) as s:
        s.ingest("exp", "exp", cells, "0.1.0")
    assert main(["db", "--db", str(path), "list"]) == 0
    listing = capsys.readouterr().out
    assert all(c.cell_id in listing for c in cells)
    assert main(["db", "--db", str(path), "show", "c-Li4Ag"]) == 0
    assert "72.1" in capsys.readouterr().out
    assert main(["db", "--db", str(path), "compare"]) == 0
    out = capsys.readouterr().out
    assert "Li4Ag > Li9Ag4 > Li" in out  # measured retention order, as in the paper
    assert main(["db", "--db", str(tmp_path / "none.sqlite"), "list"]) == 1


def test_the_installed_command_has_written_everything_when_it_ends(tmp_path):
    # the console script (echem.cli.entry), run as a user runs it: the report, the database rows
    # and the piped output are complete when the process ends
    import os
    import shutil
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "exp"
    folder.mkdir()
    shutil.copy(Path(__file__).parents[1] / "sample_data" / "sym-Li4Ag_PEIS_C01.mpt", folder)
    out, dbp = tmp_path / "out", tmp_path / "r.sqlite"
    command = [sys.executable, "-c", "from echem.cli import entry; entry()"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output piped: buffered
    done = subprocess.run(command + ["report", str(folder), "-o", str(out), "--db", str(dbp)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert (out / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["cell_id"]) == ["sym-Li4Ag_PEIS_C01"]
    with sqlite3.connect(dbp) as con:
        rows = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert rows > 0 and f"{rows} new result rows" in done.stdout  # the last line printed
    # an error still gives its message and exit code, without a traceback
    bad = subprocess.run(command + ["report", str(tmp_path / "absent"), "-o", str(tmp_path / "o2")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("echem: error: ")
    assert "Traceback" not in bad.stderr and not (tmp_path / "o2").exists()

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
    from echem import db
    from echem.results import CellResult, FileRecord, Metric

    path = tmp_path / "r.sqlite"
    cells = [CellResult(f"c-{a}", "full", a, "p", metrics=[Metric("capacity_retention_pct", v, "%")],
                        files=[FileRecord(f"{a}.csv", a * 8, 1)])
             for a, v in (("Li4Ag", 72.1), ("Li9Ag4", 58.8), ("Li", 10.8))]
    db.ingest(db.connect(path), tmp_path, cells, "0.1.0")
    assert main(["db", "--db", str(path), "list"]) == 0
    listing = capsys.readouterr().out
    assert all(c.cell_id in listing for c in cells)
    assert main(["db", "--db", str(path), "show", "c-Li4Ag"]) == 0
    assert "72.1" in capsys.readouterr().out
    assert main(["db", "--db", str(path), "compare"]) == 0
    out = capsys.readouterr().out
    assert "Li4Ag > Li9Ag4 > Li" in out  # measured retention order, as in the paper
    assert main(["db", "--db", str(tmp_path / "none.sqlite"), "list"]) == 1


def test_the_gc_setting_of_a_command_is_put_back(capsys):
    # a command collects garbage less often while it runs; the caller's setting comes back
    import gc

    from echem.cli import GC_THRESHOLD
    before = gc.get_threshold()
    assert before != GC_THRESHOLD
    assert main(["dft", "show", "Li-Ag"]) == 0
    assert gc.get_threshold() == before

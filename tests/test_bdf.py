"""Battery Data Format: files written by echem are read and validated by the Battery Data
Alliance's own package (batterydf, imported as bdf) with the instrument files' values, and
echem.read reads them back."""
import hashlib
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import echem
from echem.cli import main
from echem.errors import EchemError
from echem.store import write_bdf

bdf = pytest.importorskip("bdf")

EXTS = (".bdf.csv", ".bdf.parquet")


def bdf_read(path) -> pd.DataFrame:
    """bdf.read with validation; its warnings (legacy labels, time going backwards) fail."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        df = bdf.read(path, validate=True)
    report = bdf.validate_df(df)
    assert report["ok"] and not report["missing"] and not report["legacy_labels"]
    return df


def mpt_table(path) -> pd.DataFrame:
    """EC-Lab's own text export, read with pandas."""
    text = path.read_text(encoding="latin-1")
    n = int(re.search(r"Nb header lines : (\d+)", text).group(1))
    return pd.read_csv(path, sep="\t", skiprows=n - 1, encoding="latin-1")


def assert_same_measurement(back, meas):
    """echem.read of the BDF file gives the measurement's schema columns again."""
    for col in ("time_s", "voltage_V", "current_mA", "capacity_mAh", "frequency_Hz",
                "z_real_ohm", "z_imag_ohm"):
        if col in meas.data:
            np.testing.assert_allclose(back.data[col].to_numpy(), meas.data[col].to_numpy(),
                                       rtol=1e-12, atol=0, equal_nan=True, err_msg=col)
    for col in ("cycle", "step", "step_type", "spectrum"):
        if col in meas.data:
            assert back.data[col].astype(str).tolist() == meas.data[col].astype(str).tolist(), col
    for key in ("instrument", "channel", "start_time"):
        assert back.meta.get(key) == meas.meta.get(key), key


@pytest.mark.parametrize("ext", EXTS)
def test_btsda_csv(corpus, tmp_path, ext):
    src = corpus / "neware" / "neware_uio.csv"
    raw = pd.read_csv(src)  # the BTSDA export's own numbers, read with pandas
    meas = echem.read(src)
    out = write_bdf(meas, tmp_path / f"uio{ext}")
    df = bdf_read(out)
    assert len(df) == len(raw) == 9065
    np.testing.assert_array_equal(df["Voltage / V"], raw["Voltage(V)"])
    np.testing.assert_allclose(df["Current / A"], raw["Current(A)"], rtol=1e-15, atol=0)
    for label, column in (("Step Capacity / Ah", "Capacity(Ah)"),
                          ("Charging Capacity / Ah", "Chg. Cap.(Ah)"),
                          ("Discharging Capacity / Ah", "DChg. Cap.(Ah)"),
                          ("Step Energy / Wh", "Energy(Wh)"),
                          ("Charging Energy / Wh", "Chg. Energy(Wh)"),
                          ("Discharging Energy / Wh", "DChg. Energy(Wh)")):
        np.testing.assert_allclose(df[label], raw[column], rtol=1e-14, atol=1e-18, err_msg=label)
    np.testing.assert_array_equal(df["Cycle Count / 1"], raw["Cycle Index"])
    # the test time: BTSDA's cumulative time h:mm:ss in seconds
    np.testing.assert_array_equal(df["Test Time / s"],
                                  pd.to_timedelta(raw["Cumulative Time"]).dt.total_seconds())
    # the export's dates are local time with no offset stated: no Unix time is guessed, and
    # the sidecar says the start time is local
    assert "Unix Time / s" not in df.columns
    # the step count is new at every change of BTSDA's step index or cycle
    steps = (raw["Step Index"].astype(str) + "/" + raw["Cycle Index"].astype(str))
    np.testing.assert_array_equal(df["Step Count / 1"], (steps != steps.shift()).cumsum())
    side = json.loads((tmp_path / f"uio{ext}.metadata.json").read_text())
    assert side["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert side["source_file"] == "neware_uio.csv" and side["start_time"] == "2022-05-18T16:27:52"
    assert side["start_time_is_utc"] is False
    assert side["instrument"] == meas.instrument
    back = echem.read(out)
    assert back.format == {".bdf.csv": "bdf-csv", ".bdf.parquet": "bdf-parquet"}[ext]
    assert back.meta["bdf_source_sha256"] == side["source_sha256"]
    assert_same_measurement(back, meas)


@pytest.mark.parametrize("name", ["TestFile.nda", "123456789012_Unit27_Example_Data_File.ndax"])
@pytest.mark.parametrize("ext", EXTS)
def test_neware_binaries(corpus, tmp_path, name, ext):
    import NewareNDA

    src = corpus / "neware" / name
    ref = NewareNDA.read(str(src))  # NewareNDA's own reading of the file
    meas = echem.read(src)
    df = bdf_read(write_bdf(meas, tmp_path / f"out{ext}"))
    assert len(df) == len(ref) > 100
    np.testing.assert_array_equal(df["Voltage / V"], ref["Voltage"].astype("float64"))
    np.testing.assert_allclose(df["Current / A"], ref["Current(mA)"].astype("float64") / 1000,
                               rtol=1e-15, atol=0)
    # the reader takes fastnda's capacities, NewareNDA rounds its own: equal to float32 rounding
    np.testing.assert_allclose(df["Charging Capacity / Ah"],
                               ref["Charge_Capacity(mAh)"].astype("float64") / 1000, rtol=2e-7)
    np.testing.assert_allclose(df["Discharging Energy / Wh"],
                               ref["Discharge_Energy(mWh)"].astype("float64") / 1000, rtol=2e-7)
    np.testing.assert_array_equal(df["Cycle Count / 1"], ref["Cycle"])
    np.testing.assert_array_equal(df["Step Index / 1"], ref["Step_Index"])
    if "T1" in ref:  # an auxiliary thermocouple
        np.testing.assert_array_equal(df["Surface Temperature T1 / degC"],
                                      ref["T1"].astype("float64"))
    assert_same_measurement(echem.read(tmp_path / f"out{ext}"), meas)


@pytest.mark.parametrize("ext", EXTS)
def test_eclab_mpr_against_its_mpt_export(corpus, tmp_path, ext):
    src = corpus / "biologic" / "gcpl.issue_211.mpr"
    mpt = mpt_table(src.with_suffix(".mpt"))  # EC-Lab's own rendering of the same data
    meas = echem.read(src)
    df = bdf_read(write_bdf(meas, tmp_path / f"gcpl{ext}"))
    assert len(df) == len(mpt) == 2767
    np.testing.assert_allclose(df["Voltage / V"], mpt["Ewe/V"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(df["Current / A"] * 1000, mpt["<I>/mA"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(df["Test Time / s"], mpt["time/s"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(df["Charging Energy / Wh"], mpt["Energy we charge/W.h"],
                               rtol=1e-12, atol=1e-18)
    np.testing.assert_array_equal(df["Step Index / 1"], mpt["Ns"])
    side = json.loads((tmp_path / f"gcpl{ext}.metadata.json").read_text())
    assert side["channel"] == "8" and side["start_time"] == "2025-05-28T14:23:16.145000"
    assert_same_measurement(echem.read(tmp_path / f"gcpl{ext}"), meas)


def test_eclab_impedance_against_galvani(corpus, tmp_path):
    from galvani import BioLogic

    src = corpus / "biologic" / "peis.mpr"
    ref = BioLogic.MPRfile(str(src)).data  # galvani's reading
    meas = echem.read(src)
    df = bdf_read(write_bdf(meas, tmp_path / "peis.bdf.csv"))
    np.testing.assert_array_equal(df["Frequency / Hz"], ref["freq/Hz"].astype("float64"))
    np.testing.assert_array_equal(df["Real Impedance / ohm"], ref["Re(Z)/Ohm"].astype("float64"))
    np.testing.assert_array_equal(df["Imaginary Impedance / ohm"],
                                  -ref["-Im(Z)/Ohm"].astype("float64"))
    back = echem.read(tmp_path / "peis.bdf.csv")
    assert_same_measurement(back, meas)
    assert set(back.data["step_type"]) == set(meas.data["step_type"])


def test_an_impedance_file_without_current(corpus, tmp_path):
    # ZPlot .z: no voltage or current; the required BDF columns are there, blank
    src = corpus / "eis" / "Circuit1_EIS_1.z"
    meas = echem.read(src)
    df = bdf_read(write_bdf(meas, tmp_path / "z.bdf.parquet"))
    assert df["Voltage / V"].isna().all() and df["Current / A"].isna().all()
    back = echem.read(tmp_path / "z.bdf.parquet")
    assert "voltage_V" not in back.data and "current_mA" not in back.data
    assert_same_measurement(back, meas)


def test_read_to_bdf_on_the_command_line(corpus, tmp_path, monkeypatch, capsys):
    src = corpus / "neware" / "TestFile.nda"
    out = tmp_path / "x.bdf.parquet"
    assert main(["read", str(src), "--to", "bdf", "-o", str(out)]) == 0
    assert f"wrote:       {out}" in capsys.readouterr().out
    assert len(bdf_read(out)) == 6670 and (tmp_path / "x.bdf.parquet.metadata.json").exists()
    monkeypatch.chdir(tmp_path)
    assert main(["read", str(src), "--to", "bdf"]) == 0  # default name: TestFile.bdf.csv
    assert len(bdf_read(tmp_path / "TestFile.bdf.csv")) == 6670
    assert echem.io.sniff(tmp_path / "TestFile.bdf.csv") == "bdf-csv"
    assert echem.io.sniff(out) == "bdf-parquet"


def test_written_whole_or_not_at_all(corpus, tmp_path, monkeypatch):
    meas = echem.read(corpus / "neware" / "TestFile.nda")
    out = tmp_path / "x.bdf.csv"
    write_bdf(meas, out)
    before = out.read_bytes()

    def broken(table, path):
        path.write_text("Test Time / s,Voltage / V\n0,")
        raise OSError("disk full")

    monkeypatch.setattr("echem.store.bdf.write_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_bdf(meas, out)
    assert out.read_bytes() == before  # the earlier file is left as it was
    with pytest.raises(OSError):
        write_bdf(meas, tmp_path / "new.bdf.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bdf.csv", "x.bdf.csv.metadata.json"]
    with pytest.raises(EchemError, match="OUT.bdf.csv or OUT.bdf.parquet"):
        write_bdf(meas, tmp_path / "x.bdf.txt")
    # a BDF file converted onto itself: refused, the file only ever read
    monkeypatch.undo()
    again = echem.read(out)
    with pytest.raises(EchemError, match="the file being converted"):
        write_bdf(again, out)
    assert out.read_bytes() == before


def test_a_bdf_file_from_elsewhere_machine_labels_no_sidecar(tmp_path):
    # BDF's machine labels (bdf.io.save's default) and no Step Type column: the step type
    # comes from the sign of each step's current
    from bdf.io import save

    table = pd.DataFrame({"test_time_second": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                          "voltage_volt": [3.0, 3.1, 3.2, 3.1, 3.0, 3.0],
                          "current_ampere": [0.0, 0.002, 0.002, -0.002, -0.002, 0.0],
                          "step_count": [1, 2, 2, 3, 3, 4], "cycle_count": [1, 1, 1, 1, 1, 2],
                          "unix_time_second": [1.7e9 + i for i in range(6)]})
    path = tmp_path / "other.bdf.csv"
    save(table, path)
    assert "test_time_second" in path.read_text().splitlines()[0]
    meas = echem.read(path)
    assert meas.data["current_mA"].tolist() == [0.0, 2.0, 2.0, -2.0, -2.0, 0.0]
    assert meas.data["step_type"].tolist() == ["rest", "cc_charge", "cc_charge", "cc_discharge",
                                               "cc_discharge", "rest"]
    assert meas.start_time.isoformat() == "2023-11-14T22:13:20+00:00"  # 1.7e9 s after 1970

"""Neware BTS .nda/.ndax reader: against fastnda, the reference outputs of fastnda and NewareNDA,
and on bad input."""
from __future__ import annotations

import hashlib
import io
import logging
import struct
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import echem
from echem.io import neware
from echem.schema import STEP_TYPES
from conftest import CORPUS, corpus_files

fastnda = pytest.importorskip("fastnda")

NEWARE = CORPUS / "neware"
FASTNDA_DIR = NEWARE / "fastnda"
ROOT_BINARIES = corpus_files("neware", "*.nda") + corpus_files("neware", "*.ndax")
BINARIES = ROOT_BINARIES + corpus_files("neware/fastnda", "*.nda") \
    + corpus_files("neware/fastnda", "*.ndax")
WITH_FTR = [p for p in ROOT_BINARIES if (NEWARE / "reference" / (p.stem + ".ftr")).exists()]
WITH_PARQUET = [p for p in BINARIES
                if (FASTNDA_DIR / "reference" / (p.stem + ".parquet")).exists()]
BTS85 = NEWARE / "BTS85-36-6-5-110-20240424.ndax"
F32 = 2.0 ** -23  # float32 rounding, relative


def _ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


_CACHE: dict[Path, echem.Measurement] = {}


def _read(path: Path) -> echem.Measurement:
    if path not in _CACHE:
        _CACHE[path] = echem.read(path)
    return _CACHE[path]


def _fastnda(path: Path):
    logging.getLogger("fastnda").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fastnda.read(path)


def _close_f32(ours, theirs, what):
    """Equal to float32 rounding: at most one float32 step apart (relative)."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    np.testing.assert_allclose(ours, theirs, rtol=1.01 * F32, atol=1e-30, err_msg=what)


# ---------------------------------------------------------------- against fastnda

@pytest.mark.parametrize("path", BINARIES, ids=_ids(BINARIES))
def test_equals_fastnda(path):
    """Same rows and values as fastnda.read (cycle_mode 'chg'), file by file."""
    d = _read(path).data
    ref = _fastnda(path)
    assert len(d) == len(ref)
    np.testing.assert_array_equal(d["index"], ref["index"].to_numpy())
    _close_f32(d["voltage_V"], ref["voltage_V"].to_numpy(), "voltage")
    _close_f32(d["current_mA"], ref["current_mA"].to_numpy(), "current")
    _close_f32(d["capacity_mAh"], np.abs(ref["capacity_mAh"].to_numpy()), "capacity")
    # test time within 5 ms (the bound); in fact to the microsecond fastnda rounds to
    np.testing.assert_allclose(d["time_s"], ref["total_time_s"].to_numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(d["step_time_s"], ref["step_time_s"].to_numpy(), rtol=0,
                               atol=2e-6)
    np.testing.assert_array_equal(d["cycle"], ref["cycle_count"].to_numpy())
    np.testing.assert_array_equal(d["step"], ref["step_count"].to_numpy())
    np.testing.assert_array_equal(d["step_index"], ref["step_index"].to_numpy())
    assert d["status"].astype(str).tolist() == ref["step_type"].cast(str).to_list()
    if len(d):
        stamps = d["Timestamp"].array.asi8 / 1e6  # microseconds since the epoch
        np.testing.assert_allclose(stamps, ref["unix_time_s"].to_numpy(), rtol=0, atol=2e-6)
    # aux channels: the schema's names for the first channel of a kind, values as fastnda's
    aux = _read(path).meta.get("aux_channels", {})
    assert sorted(aux.values()) == sorted(c for c in ref.columns if c.startswith("aux"))
    for ours, theirs in aux.items():
        _close_f32(d[ours], ref[theirs].to_numpy(), ours)


def test_every_corpus_file_fastnda_reads_is_read():
    if not BINARIES:
        pytest.skip("../shared/corpus is absent")
    versions = {}
    for p in BINARIES:
        m = _read(p).meta
        versions.setdefault(m.get("nda_version", m.get("ndc_version")), []).append(p.name)
    # NDA 8, 22, 29, 130 and NDAX ndc 2, 14, 16, 17: every version of the two corpora
    assert {8, 22, 29, 130, 2, 14, 16, 17} <= set(versions)


# ---------------------------------------------------------------- against the reference outputs

@pytest.mark.parametrize("path", WITH_PARQUET, ids=_ids(WITH_PARQUET))
def test_equals_fastnda_reference_parquet(path):
    """fastnda's own reference output (an older fastnda, in BTSDA's columns, units and
    resolution: 0.1 mV, whole mA s in some files, local clock times)."""
    ref = pd.read_parquet(FASTNDA_DIR / "reference" / (path.stem + ".parquet"))
    m = _read(path)
    d = m.data
    assert len(d) == len(ref)
    np.testing.assert_allclose(d["voltage_V"], ref["Voltage(mV)"].to_numpy(np.float64) / 1000,
                               rtol=2 * F32, atol=0.05e-3)
    np.testing.assert_allclose(d["current_mA"], ref["Current(uA)"].to_numpy(np.float64) / 1000,
                               rtol=2 * F32, atol=0.5e-3)
    np.testing.assert_allclose(d["capacity_mAh"],
                               np.abs(ref["Capacity(mAs)"].to_numpy(np.float64)) / 3600,
                               rtol=4 * F32, atol=1 / 3600)
    np.testing.assert_allclose(d["time_s"], ref["Total Time"].to_numpy(np.float64), rtol=0,
                               atol=0.005)
    np.testing.assert_array_equal(d["step"], ref["Step Count"].to_numpy())
    names = ref["Step Type"].astype(str).str.replace(" ", "_")
    assert d["status"].astype(str).tolist() == names.tolist()
    for ours, theirs in (("temperature_C", "T1(?)"), ("aux_voltage_V", "V1(mV)")):
        if theirs in ref:
            scale = 1000 if theirs.endswith("(mV)") else 1
            np.testing.assert_allclose(d[ours], ref[theirs].to_numpy(np.float64) / scale,
                                       rtol=2 * F32, atol=0.05 / scale)
    if len(d):  # the reference's clock is in the zone of the machine that made it
        _same_clock(d["Timestamp"], ref["Date"], pd.Timedelta(milliseconds=1))


def _same_clock(ours: pd.Series, theirs: pd.Series, within: pd.Timedelta) -> None:
    """The two clocks agree up to a whole number of quarter hours (a time zone)."""
    if isinstance(ours.dtype, pd.DatetimeTZDtype):
        ours = ours.dt.tz_convert("UTC").dt.tz_localize(None)
    if isinstance(theirs.dtype, pd.DatetimeTZDtype):
        theirs = theirs.dt.tz_localize(None)
    diff = (ours.reset_index(drop=True) - theirs.reset_index(drop=True)).dt.total_seconds()
    zone = round(float(diff.iloc[0]) / 900) * 900
    assert (diff - zone).abs().max() <= within.total_seconds()


@pytest.mark.parametrize("path", WITH_FTR, ids=_ids(WITH_FTR))
def test_equals_newarenda_reference_feather(path):
    """NewareNDA's reference output (an older release): the same records, values to float32."""
    ref = pd.read_feather(NEWARE / "reference" / (path.stem + ".ftr"))
    # that release repeated record 1 of the ndax (Index 1 twice); the record as the file holds
    # it is the first
    ref = ref.drop_duplicates(subset="Index", keep="first").reset_index(drop=True)
    d = _read(path).data
    assert len(d) == len(ref)
    np.testing.assert_array_equal(d["index"], ref["Index"].to_numpy())
    _close_f32(d["voltage_V"], ref["Voltage"].to_numpy(), "voltage")
    _close_f32(d["current_mA"], ref["Current(mA)"].to_numpy(), "current")
    capacity = ref["Charge_Capacity(mAh)"].abs() + ref["Discharge_Capacity(mAh)"].abs()
    np.testing.assert_allclose(d["capacity_mAh"], capacity.to_numpy(np.float64), rtol=4 * F32,
                               atol=1e-9)
    np.testing.assert_array_equal(d["step"], ref["Step"].to_numpy())
    expected = [neware.STATUS_TO_STEP_TYPE.get(s, "other") for s in ref["Status"].astype(str)]
    assert d["step_type"].astype(str).tolist() == expected
    # NewareNDA's Time is float32 seconds (step time in BTS 7/8, test time in BTS 9)
    own = d["step_time_s"] if np.any(np.diff(ref["Time"]) < 0) else d["time_s"]
    np.testing.assert_allclose(own, ref["Time"].to_numpy(np.float64), rtol=F32, atol=0.005)
    # that release read whole seconds of the BTS 8 clock
    _same_clock(d["Timestamp"], ref["Timestamp"], pd.Timedelta(seconds=1))


# ---------------------------------------------------------------- time stamps and start time

@pytest.mark.parametrize("path", BINARIES, ids=_ids(BINARIES))
def test_start_time_and_time_stamps_agree(path):
    m = _read(path)
    start = pd.Timestamp(m.start_time)
    warn = [w.message for w in m.warnings]
    if not len(m.data):
        assert start.tzinfo is None and any("local time" in w for w in warn)
        return
    stamps = m.data["Timestamp"]
    aware = isinstance(stamps.dtype, pd.DatetimeTZDtype)
    assert (start.tzinfo is not None) == aware
    if not aware:  # local clock times: said so
        assert any("states no UTC offset" in w for w in warn)
    else:
        assert start.utcoffset() == pd.Timedelta(0)
    first = stamps.iloc[0] - pd.Timedelta(seconds=float(m.data["time_s"].iloc[0]))
    assert abs(first - start) <= pd.Timedelta(milliseconds=1)


def test_bts85_start_time_is_utc_like_its_time_stamps(corpus):
    """The issue's case: TestInfo.xml says 08:58:57 local; the records' clock 06:58:58 UTC."""
    m = _read(BTS85)
    assert m.meta["start_time_stated"] == "2024-05-06 08:58:57"
    assert m.meta["utc_offset"] == "+02:00"
    start = pd.Timestamp(m.start_time)
    assert start.tz is not None and start.strftime("%H:%M:%S") == "06:58:58"
    assert str(m.data["Timestamp"].dt.tz) == "UTC"
    assert m.data["Timestamp"].iloc[0].strftime("%H:%M:%S") == "06:58:58"


@pytest.mark.parametrize("name, offset", [("nda8.nda", "+01:00"), ("nda_v22.nda", "+08:00"),
                                          ("21_10_7_85.ndax", "+01:00")])
def test_utc_offset_where_the_file_states_local_and_epoch_times(name, offset, corpus):
    m = _read(FASTNDA_DIR / name)
    assert m.meta["utc_offset"] == offset
    local = pd.Timestamp(m.meta["start_time_stated"].replace(".", "-", 2))
    utc = pd.Timestamp(m.start_time).tz_localize(None)
    hours, minutes = int(offset[1:3]), int(offset[4:])
    delta = (local - utc).total_seconds() - (3600 * hours + 60 * minutes) * (
        -1 if offset[0] == "-" else 1)
    assert abs(delta) <= 300


def test_bts7_local_clock_is_kept_and_said(corpus):
    m = _read(NEWARE / "new_nda_file.nda")
    assert m.data["Timestamp"].dt.tz is None
    assert "utc_offset" not in m.meta
    assert m.start_time.tzinfo is None and m.start_time.isoformat() == "2020-03-25T11:16:50"
    assert any("states no UTC offset" in w for w in (x.message for x in m.warnings))


# ---------------------------------------------------------------- empty files, aux channels

def test_empty_ndax_is_an_empty_measurement_with_a_warning(corpus):
    m = echem.read(FASTNDA_DIR / "empty.ndax")
    assert len(m.data) == 0 == len(_fastnda(FASTNDA_DIR / "empty.ndax"))
    assert list(m.data.columns[:7]) == ["time_s", "voltage_V", "current_mA", "capacity_mAh",
                                        "cycle", "step", "step_type"]
    assert any("no records" in w for w in (x.message for x in m.warnings))
    assert m.start_time.isoformat() == "2025-04-25T16:21:28"


def test_aux_channels_become_schema_columns(corpus):
    m = _read(NEWARE / "123456789012_Unit27_Example_Data_File.ndax")
    assert m.meta["aux_channels"] == {"temperature_C": "aux1_temperature_degC",
                                      "aux2_temperature_C": "aux2_temperature_degC"}
    t = m.data["temperature_C"]
    assert 15 < t.min() <= t.max() < 40  # a lab's cell temperature, degC
    m = _read(FASTNDA_DIR / "46_1_5_60_bts16.ndax")
    assert {"temperature_C", "aux_voltage_V"} <= set(m.data.columns)
    m = _read(NEWARE / "TestFile.nda")  # BTS 9.1 records with a temperature field
    assert m.meta["aux_channels"] == {"temperature_C": "aux_temperature_degC"}


# ---------------------------------------------------------------- step types

def test_tables_equal_fastnda_s():
    from fastnda import dicts

    from echem.io import neware_fast

    assert neware.STEP_TYPE_NAMES == dict(dicts.STEP_TYPE_MAP)
    assert neware.CHARGE_DISCHARGE == dict(dicts.CHARGE_DISCHARGE_MAP)
    assert neware_fast.AUX_CHL_MAP == dict(dicts.AUX_CHL_MAP)
    assert neware_fast.AUX_CHL_SCALE == dict(dicts.AUX_CHL_SCALE_MAP)
    for name in neware.STEP_TYPE_NAMES.values():
        assert neware._step_type(name) in STEP_TYPES
    assert list(neware.step_types(["CC_Chg", "CCCV_DChg", "Rest", "Funny_New_Mode", None])) == [
        "cc_charge", "cccv_discharge", "rest", "other", "other"]


@pytest.mark.parametrize("path", BINARIES, ids=_ids(BINARIES))
def test_step_type_agrees_with_current_sign(path):
    """The instrument's signed current confirms the mapping: charge steps >= 0, discharge <= 0."""
    d = _read(path).data
    kind = d["step_type"].astype(str)
    assert (d.loc[kind.str.endswith("_charge"), "current_mA"] >= 0).all()
    assert (d.loc[kind.str.endswith("_discharge"), "current_mA"] <= 0).all()
    assert (d.loc[kind == "rest", "current_mA"] == 0).all()


def test_total_time_from_step_time():
    step = np.array([1, 1, 1, 2, 2, 3, 3])
    step_time = np.array([0.0, 1.0, 5.0, 0.0, 2.5, 0.0, 1.0])
    np.testing.assert_array_equal(neware.total_time_s(step_time, step),
                                  [0.0, 1.0, 5.0, 5.0, 7.5, 7.5, 8.5])
    # steps out of order: each step still starts after the longest record of the lower ones
    np.testing.assert_array_equal(neware.total_time_s(step_time[[3, 4, 0, 1, 2]],
                                                      step[[3, 4, 0, 1, 2]]),
                                  [5.0, 7.5, 0.0, 1.0, 5.0])


# ---------------------------------------------------------------- sniffing by content

def test_read_by_content_not_extension(tmp_path, corpus):
    for src in (NEWARE / "new_nda_file.nda", NEWARE / "123456789012_Unit27_Example_Data_File.ndax",
                FASTNDA_DIR / "nda_v22.nda", FASTNDA_DIR / "46_1_5_60_bts16.ndax"):
        copy = tmp_path / (src.stem + ".dat")
        copy.write_bytes(src.read_bytes())
        pd.testing.assert_frame_equal(echem.read(copy).data, _read(src).data)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_that_is_not_an_ndax_is_not_ours(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = 1.0
    xlsx = tmp_path / "book.xlsx"
    wb.save(xlsx)
    other = tmp_path / "random.ndax"
    other.write_bytes(_zip({"notes.txt": b"hello", "data.csv": b"1,2\n"}))
    for p in (xlsx, other):
        assert not neware.sniff_ndax(p.read_bytes()[:8192], p)
    with pytest.raises(echem.UnsupportedFileError, match="random.ndax"):
        echem.read(other)


# ---------------------------------------------------------------- bad input

def _assert_typed_error(path: Path, kinds=(echem.CorruptFileError, echem.UnsupportedFileError)):
    start = time.perf_counter()
    with pytest.raises(echem.EchemError) as info:
        echem.read(path)
    assert time.perf_counter() - start < 2.0, f"{path.name}: took too long"
    assert isinstance(info.value, kinds), f"{path.name}: {type(info.value).__name__}: {info.value}"
    assert path.name in str(info.value)


def _cut_points(data: bytes) -> list[int]:
    n = len(data)
    cuts = set(np.linspace(0, n, 17).astype(int)[1:-1])  # 15 spread over the file
    cuts |= {1, 6, 15, 100, 1024, 1024 + 43, n - 1, n - 100}  # header, mid-record, the very end
    if data.startswith(b"PK"):
        eocd = data.rfind(b"PK\x05\x06")
        cd = struct.unpack("<I", data[eocd + 16:eocd + 20])[0]
        cuts |= {cd, cd + 10, (cd + eocd) // 2, eocd, eocd + 10}  # inside the central directory
    return sorted(c for c in cuts if 0 < c < n)


@pytest.mark.parametrize("path", ROOT_BINARIES, ids=_ids(ROOT_BINARIES))
def test_truncations_raise_typed_errors(path, tmp_path):
    data = path.read_bytes()
    for cut in _cut_points(data):
        p = tmp_path / f"cut{cut}{path.suffix}"
        p.write_bytes(data[:cut])
        _assert_typed_error(p)


def test_truncation_after_header_is_corrupt(tmp_path, corpus):
    for src in ROOT_BINARIES + [FASTNDA_DIR / "nda_v22.nda"]:
        data = src.read_bytes()
        p = tmp_path / f"half_{src.name}"
        p.write_bytes(data[:len(data) // 2])
        _assert_typed_error(p, echem.CorruptFileError)


def test_truncated_nda_of_open_length_gives_its_complete_records(tmp_path, corpus):
    """NDA 8 states no length of its data section: a cut file gives the records before the cut
    (as fastnda reads them) and says it is truncated."""
    src = FASTNDA_DIR / "nda8.nda"
    data = src.read_bytes()
    p = tmp_path / "half_nda8.nda"
    p.write_bytes(data[:len(data) // 2])
    m = echem.read(p)
    whole = _read(src).data
    assert m.truncated is True and any("truncated" in w for w in (x.message for x in m.warnings))
    assert 0 < len(m.data) < len(whole)
    n = len(m.data)
    pd.testing.assert_frame_equal(m.data[["index", "voltage_V", "current_mA", "time_s"]],
                                  whole[["index", "voltage_V", "current_mA", "time_s"]].iloc[:n])


def test_empty_and_random_bytes(tmp_path):
    rng = np.random.default_rng(7)
    cases = {"empty.nda": b"", "empty.ndax": b"",
             "random.nda": rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
             "random.ndax": rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
             "magic_only.nda": b"NEWARE",
             "magic_random.nda": b"NEWARE" + rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        _assert_typed_error(p)


NDA = corpus_files("neware", "*.nda")


@pytest.mark.parametrize("path", NDA, ids=_ids(NDA))
def test_nda_with_garbage_after_header(path, tmp_path):
    data = path.read_bytes()
    header = 1024 if data[14] == 130 else neware._nda29_data_start(path, len(data))
    for seed in range(3):
        garbage = np.random.default_rng(seed).integers(0, 256, len(data) - header, dtype=np.uint8)
        p = tmp_path / f"garbage{seed}{path.suffix}"
        p.write_bytes(data[:header] + garbage.tobytes())
        _assert_typed_error(p, echem.CorruptFileError)
    if data[14] == 130:  # header and footer intact, records scrambled
        offsets = [struct.unpack("<QQ", data[k:k + 16]) for k in range(18, 258, 16)]
        length = next(n for off, n in offsets if off == 1024)
        garbage = np.random.default_rng(9).integers(0, 256, length, dtype=np.uint8).tobytes()
        p = tmp_path / f"scrambled{path.suffix}"
        p.write_bytes(data[:1024] + garbage + data[1024 + length:])
        _assert_typed_error(p, echem.CorruptFileError)


def test_damaged_ndax_members(tmp_path, corpus):
    data = bytearray((NEWARE / "123456789012_Unit27_Example_Data_File.ndax").read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("data.ndc")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 20:start + 40] = b"\xff" * 20  # the compressed records of data.ndc
    p = tmp_path / "damaged.ndax"
    p.write_bytes(bytes(data))
    _assert_typed_error(p, echem.CorruptFileError)
    p = tmp_path / "nodata.ndax"
    p.write_bytes(_zip({"TestInfo.xml": b"<root/>", "Step.xml": b"<root/>"}))
    _assert_typed_error(p, echem.UnsupportedFileError)


def test_input_files_are_not_written(tmp_path, corpus):
    for src in (NEWARE / "new_nda_file.nda", NEWARE / "123456789012_Unit27_Example_Data_File.ndax",
                FASTNDA_DIR / "scrubbed_ndc2.ndax"):
        folder = tmp_path / src.stem
        folder.mkdir()
        copy = folder / src.name
        copy.write_bytes(src.read_bytes())
        before = (hashlib.sha256(copy.read_bytes()).hexdigest(), copy.stat().st_mtime_ns)
        echem.read(copy)
        assert (hashlib.sha256(copy.read_bytes()).hexdigest(), copy.stat().st_mtime_ns) == before
        assert [p.name for p in folder.iterdir()] == [src.name]  # nothing extracted beside it


def test_fastnda_chatter_stays_out_of_the_terminal(capsys, corpus):
    m = echem.read(FASTNDA_DIR / "SIM.nda")  # fastnda logs a warning about its SIM steps
    echem.read(BTS85 if BTS85.exists() else NEWARE / "TestFile.nda")
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert any("SIM" in w for w in (x.message for x in m.warnings))

"""Neware BTS .nda/.ndax reader: against NewareNDA's reference outputs, and on bad input."""
from __future__ import annotations

import hashlib
import io
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import echem
from echem.io import neware
from echem.schema import STEP_TYPES
from conftest import CORPUS, corpus_files

NEWARE = CORPUS / "neware"
REFERENCE = NEWARE / "reference"
BINARIES = corpus_files("neware", "*.nda") + corpus_files("neware", "*.ndax")
WITH_REFERENCE = [p for p in BINARIES if (REFERENCE / (p.stem + ".ftr")).exists()]
BTS85 = NEWARE / "BTS85-36-6-5-110-20240424.ndax"


def _ids(paths):
    return [p.name for p in paths]


@pytest.fixture(scope="module")
def bts85():
    if not BTS85.exists():
        pytest.skip("../shared/corpus is absent")
    return echem.read(BTS85)


# ---------------------------------------------------------------- against the reference outputs

@pytest.mark.parametrize("path", WITH_REFERENCE, ids=_ids(WITH_REFERENCE))
def test_equals_newarenda_reference(path):
    ref = pd.read_feather(REFERENCE / (path.stem + ".ftr"))
    # the older NewareNDA release repeated record 1 of the ndax (Index 1 twice, Time 0 and 0.1);
    # the record as the file holds it is the first
    ref = ref.drop_duplicates(subset="Index", keep="first").reset_index(drop=True)
    meas = echem.read(path)
    d = meas.data
    assert len(d) == len(ref)
    np.testing.assert_array_equal(d["Index"].to_numpy(), ref["Index"].to_numpy())
    np.testing.assert_array_equal(d["voltage_V"], ref["Voltage"].to_numpy(np.float64))
    np.testing.assert_array_equal(d["current_mA"], ref["Current(mA)"].to_numpy(np.float64))
    capacity = (ref["Charge_Capacity(mAh)"].abs() + ref["Discharge_Capacity(mAh)"].abs())
    np.testing.assert_allclose(d["capacity_mAh"], capacity.to_numpy(np.float64),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(d["cycle"], ref["Cycle"].to_numpy(np.int64))
    np.testing.assert_array_equal(d["step"], ref["Step"].to_numpy(np.int64))
    expected_types = [neware.STATUS_TO_STEP_TYPE[s] for s in ref["Status"].astype(str)]
    assert list(d["step_type"].astype(str)) == expected_types
    _check_time(d, ref["Time"].to_numpy(np.float64), ref["Timestamp"])


def _check_time(d: pd.DataFrame, time_col: np.ndarray, timestamps: pd.Series) -> None:
    """time_s against Neware's own Time column and the records' clock times."""
    t = d["time_s"].to_numpy()
    assert np.all(np.diff(t) >= 0), "time_s must be non-decreasing"
    if np.all(np.diff(time_col) >= 0):  # BTS 9: Time is already the test time
        np.testing.assert_array_equal(t, time_col)
        return
    step = d["step"].to_numpy()
    same = step[1:] == step[:-1]
    # within a step, time_s advances exactly as Neware's step time does
    np.testing.assert_allclose(np.diff(t)[same], np.diff(time_col)[same], atol=1e-6)
    # across a step change, as the instrument's clock does (Timestamp has 1 s resolution in BTS 7)
    clock = (timestamps - timestamps.iloc[0]).dt.total_seconds().to_numpy()
    np.testing.assert_allclose(np.diff(t)[~same], np.diff(clock)[~same], atol=1.0)
    assert abs((t[-1] - t[0]) - (clock[-1] - clock[0])) <= 1.0 + 0.001 * clock[-1]


def test_bts85_ndax_agrees_with_newarenda(bts85):
    """No reference output exists for this file: compare with NewareNDA directly."""
    import NewareNDA

    raw = NewareNDA.read(str(BTS85))
    d = bts85.data
    assert len(d) == len(raw) == 699677
    np.testing.assert_array_equal(d["voltage_V"], raw["Voltage"].to_numpy(np.float64))
    np.testing.assert_array_equal(d["current_mA"], raw["Current(mA)"].to_numpy(np.float64))
    np.testing.assert_array_equal(d["cycle"], raw["Cycle"].to_numpy(np.int64))
    np.testing.assert_array_equal(d["step"], raw["Step"].to_numpy(np.int64))
    _check_time(d, raw["Time"].to_numpy(np.float64), raw["Timestamp"])


def test_bts85_ndax_invariants(bts85):
    d, m = bts85.data, bts85.meta
    assert list(d.columns[:7]) == ["time_s", "voltage_V", "current_mA", "capacity_mAh", "cycle",
                                   "step", "step_type"]
    assert d["time_s"].is_monotonic_increasing
    assert (d["capacity_mAh"] >= 0).all()
    assert d["cycle"].min() == 1 and d["cycle"].is_monotonic_increasing
    assert d["step"].iloc[0] == 1 and (np.diff(d["step"]) >= 0).all()
    # the file name carries the device, channel and test ids (BTS85-<dev>-...-<test>-<date>)
    assert m["device_id"] == 36 and m["test_id"] == "110"
    assert m["start_time"].startswith("2024-05-06")
    assert m["server_version"].startswith("BTSServer")
    assert m["reader"].startswith("echem.io.neware_fast")  # a layout the fast path knows


def test_ndax_meta_from_testinfo(corpus):
    m = echem.read(NEWARE / "123456789012_Unit27_Example_Data_File.ndax").meta
    assert m["instrument"] == "Neware BTS" and m["format"] == "neware-ndax"
    assert m["barcode"] == "123456789012"  # the barcode BTS puts first in the file name
    assert m["comments"] == "Unit27_Example_Data_File"
    assert m["start_time"] == "2024-11-18T12:43:31"


# ---------------------------------------------------------------- step types

def test_every_newarenda_status_maps_to_a_schema_step_type():
    from NewareNDA.dicts import state_dict

    for status in state_dict.values():
        assert neware.STATUS_TO_STEP_TYPE[status] in STEP_TYPES
    assert list(neware.step_types(["CC_Chg", "CCCV_DChg", "Rest", "Funny_New_Mode", None])) == [
        "cc_charge", "cccv_discharge", "rest", "other", "other"]


@pytest.mark.parametrize("path", BINARIES, ids=_ids(BINARIES))
def test_step_type_agrees_with_current_sign(path, bts85):
    """The instrument's signed current confirms the mapping: charge steps >= 0, discharge <= 0."""
    d = bts85.data if path == BTS85 else echem.read(path).data
    kind = d["step_type"].astype(str)
    assert (d.loc[kind.str.endswith("_charge"), "current_mA"] >= 0).all()
    assert (d.loc[kind.str.endswith("_discharge"), "current_mA"] <= 0).all()
    assert (d.loc[kind == "rest", "current_mA"] == 0).all()


def test_total_time_from_step_time():
    step = np.array([1, 1, 1, 2, 2, 3, 3])
    step_time = np.array([0.0, 1.0, 5.0, 0.0, 2.5, 0.0, 1.0])
    np.testing.assert_array_equal(neware.total_time_s(step_time, step),
                                  [0.0, 1.0, 5.0, 5.0, 7.5, 7.5, 8.5])
    test_time = np.array([0.0, 1.0, 5.0, 5.0, 7.5, 7.5, 8.5])
    np.testing.assert_array_equal(neware.total_time_s(test_time, step), test_time)


# ---------------------------------------------------------------- sniffing by content

def test_read_by_content_not_extension(tmp_path, corpus):
    for src in (NEWARE / "new_nda_file.nda", NEWARE / "123456789012_Unit27_Example_Data_File.ndax"):
        copy = tmp_path / (src.stem + ".dat")
        copy.write_bytes(src.read_bytes())
        assert len(echem.read(copy).data) == len(echem.read(src).data)


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
    assert time.perf_counter() - start < 1.0, f"{path.name}: took too long"
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


@pytest.mark.parametrize("path", BINARIES, ids=_ids(BINARIES))
def test_truncations_raise_typed_errors(path, tmp_path):
    data = path.read_bytes()
    for cut in _cut_points(data):
        p = tmp_path / f"cut{cut}{path.suffix}"
        p.write_bytes(data[:cut])
        _assert_typed_error(p)


def test_truncation_after_header_is_corrupt(tmp_path, corpus):
    for src in BINARIES:
        data = src.read_bytes()
        p = tmp_path / f"half_{src.name}"
        p.write_bytes(data[:len(data) // 2])
        _assert_typed_error(p, echem.CorruptFileError)


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
    for src in (NEWARE / "new_nda_file.nda", NEWARE / "123456789012_Unit27_Example_Data_File.ndax"):
        folder = tmp_path / src.stem
        folder.mkdir()
        copy = folder / src.name
        copy.write_bytes(src.read_bytes())
        before = (hashlib.sha256(copy.read_bytes()).hexdigest(), copy.stat().st_mtime_ns)
        echem.read(copy)
        assert (hashlib.sha256(copy.read_bytes()).hexdigest(), copy.stat().st_mtime_ns) == before
        assert [p.name for p in folder.iterdir()] == [src.name]  # nothing extracted beside it


def test_newarenda_chatter_stays_out_of_the_terminal(capsys, corpus):
    echem.read(NEWARE / "TestFile.nda")
    echem.read(NEWARE / "123456789012_Unit27_Example_Data_File.ndax")
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


@pytest.mark.parametrize("path", WITH_REFERENCE, ids=_ids(WITH_REFERENCE))
def test_newarenda_fallback_gives_the_same_measurement(path, monkeypatch):
    """A layout the fast path declines goes to NewareNDA: same schema data either way."""
    from echem.io import neware_fast

    fast = echem.read(path)

    def decline(p):
        raise neware_fast.UnknownLayout("declined for the test")

    monkeypatch.setattr(neware_fast, "read_columns_layout", decline)
    slow = echem.read(path)
    assert slow.meta["reader"].startswith("NewareNDA ")
    assert fast.meta["reader"].startswith("echem.io.neware_fast")
    # the fast path hands to_schema its columns as a dict, the fallback NewareNDA's DataFrame
    pd.testing.assert_frame_equal(fast.data, slow.data, check_exact=True)
    assert fast.meta["techniques"] == slow.meta["techniques"]

"""The vectorized ndax decoder against fastnda's read_ndax (the reference it must equal), on
every corpus archive it claims and on variants of them written by the tests."""
from __future__ import annotations

import hashlib
import io
import logging
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import echem
from conftest import corpus_files
from echem.io import neware, neware_fast as nf

fastnda_ndax = pytest.importorskip("fastnda.ndax")

NDAX = corpus_files("neware", "*.ndax") + corpus_files("neware/fastnda", "*.ndax")
F32 = 2.0 ** -23
#: the corpus archives the decoder must claim (ndc 14, 16, 17), and those it leaves to fastnda
CLAIMED = {"123456789012_Unit27_Example_Data_File.ndax", "BTS85-36-6-5-110-20240424.ndax",
           "21_10_7_85.ndax", "TESTCELL0001-Test_Data_Collection_Ndc17.ndax",
           "46_1_5_60_bts16.ndax",
           "Unit27_Example_Corrupt.ndax", "interp-test.ndax", "nw4-120-1-6-53.ndax"}
DECLINED = {"scrubbed_ndc2.ndax": "without data, runInfo and step",  # ndc 2
            "empty.ndax": "no records"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decode(path) -> dict:
    xml = neware._ndax_xml(Path(path), zipfile.ZipFile(path).infolist())
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        return nf.read_raw(zf, fh, neware._aux_dicts(xml))


def _reference(path) -> dict:
    logging.getLogger("fastnda").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = fastnda_ndax.read_ndax(path)
    # (ndc 16/17 step members hold an index too, which fastnda's join leaves as index_right and
    # fastnda.read drops)
    return {name: frame[name].to_numpy() for name in frame.columns if name != "index_right"}


def assert_equals_fastnda(ours: dict, ref: dict) -> None:
    """The decoder's columns against fastnda's read_ndax: same names and rows; integers and the
    record's own floats (voltage, current, step time, clock) exact; the capacities and energies
    of records between runInfo entries (sums in float64, cast to float32 later) to float32."""
    assert set(ours) == set(ref)
    for name, theirs in ref.items():
        mine = np.asarray(ours[name])
        assert mine.shape == theirs.shape, name
        if name.endswith(("_mAh", "_mWh")):
            np.testing.assert_allclose(mine, theirs, rtol=F32, atol=1e-12, err_msg=name)
        elif name in ("step_time_s", "unix_time_s"):
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(mine, theirs, err_msg=name)
            if theirs.dtype.kind == "f":
                assert mine.dtype == theirs.dtype, name


@pytest.mark.parametrize("path", NDAX, ids=lambda p: p.name)
def test_equals_fastnda_on_corpus(path):
    before = _sha256(path)
    try:
        ours = _decode(path)
    except nf.UnknownLayout as exc:
        assert path.name in DECLINED and DECLINED[path.name] in str(exc)
        return
    assert path.name in CLAIMED
    assert_equals_fastnda(ours, _reference(path))
    assert _sha256(path) == before  # the input is only read
    # the reader says which decoder made the measurement
    assert echem.read(path).meta["reader"].startswith("echem.io.neware_fast")


def test_claims_every_ndc_14_16_17_archive_of_the_corpus():
    if not NDAX:
        pytest.skip("../shared/corpus is absent")
    claimed = set()
    for p in NDAX:
        try:
            _decode(p)
            claimed.add(p.name)
        except nf.UnknownLayout:
            pass
    assert claimed == CLAIMED


# ---------------------------------------------------------------- variants written by the tests

def _rewrite(src: Path, dest: Path, change) -> Path:
    """A copy of the archive ``src`` whose members ``change(name, bytes)`` returns (None: left
    out)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
    dest.write_bytes(buf.getvalue())
    return dest


def _clear_bits(blob: bytes, slots: list[int], per_page: int) -> bytes:
    """Clear the bitmask bits of the given slots (numbered from 0 over the record pages)."""
    out = bytearray(blob)
    for slot in slots:
        page, k = divmod(slot, per_page)
        out[4096 * (page + 1) + 4 + k // 8] &= ~(1 << (k % 8)) & 0xFF
    return bytes(out)


def test_ndc16_without_aux_equals_fastnda(tmp_path, corpus):
    """ndc 16 (voltage in 0.1 mV, capacities in mA s) without its aux member."""
    src = corpus / "neware" / "fastnda" / "46_1_5_60_bts16.ndax"
    p = _rewrite(src, tmp_path / "ndc16.ndax", lambda n, b: None if n == "data_1.ndc" else b)
    assert_equals_fastnda(_decode(p), _reference(p))


def test_records_missing_from_the_bitmask_equal_fastnda(tmp_path, corpus):
    """Slots whose bit is clear are not records (the index counts them all), in data.ndc and
    in runInfo: the non-contiguous paths of the decoder."""
    src = corpus / "neware" / "fastnda" / "nw4-120-1-6-53.ndax"

    def change(name, blob):
        if name == "data.ndc":
            return _clear_bits(blob, [5, 6, 7, 600, 3000], 495)
        if name == "data_runInfo.ndc":
            return _clear_bits(blob, [3, 40], 72)
        return blob

    p = _rewrite(src, tmp_path / "holes.ndax", change)
    ours = _decode(p)
    assert_equals_fastnda(ours, _reference(p))
    assert 5 not in set(ours["index"] - 1) and 8 in set(ours["index"] - 1)


def test_aux_member_of_another_length_joins_by_index(tmp_path, corpus):
    """An aux member with fewer records than data.ndc is joined on the index, not by position
    (fastnda's way: the aux records it keeps are numbered 1, 2, ...)."""
    src = corpus / "neware" / "123456789012_Unit27_Example_Data_File.ndax"

    def change(name, blob):
        return _clear_bits(blob, [0, 10, 11], 990) if name == "data_AUX_9_3_1.ndc" else blob

    p = _rewrite(src, tmp_path / "aux.ndax", change)
    ours = _decode(p)
    assert_equals_fastnda(ours, _reference(p))
    # fastnda numbers the aux records it keeps 1, 2, ... and joins them on that number
    assert np.isnan(ours["aux1_temperature_degC"][-3:]).all()


def test_declines_what_it_does_not_know(tmp_path, corpus):
    src = corpus / "neware" / "123456789012_Unit27_Example_Data_File.ndax"

    def version(v):
        return lambda n, b: b[:2] + bytes([v]) + b[3:] if n == "data.ndc" else b

    for v, message in ((15, "(1, 15)"), (11, "(1, 11)")):
        p = _rewrite(src, tmp_path / f"v{v}.ndax", version(v))
        with pytest.raises(nf.UnknownLayout, match=message.replace("(", r"\(").replace(")", r"\)")):
            _decode(p)
    p = _rewrite(src, tmp_path / "nostep.ndax", lambda n, b: None if n == "data_step.ndc" else b)
    with pytest.raises(nf.UnknownLayout, match="runInfo and step"):
        _decode(p)
    p = _rewrite(src, tmp_path / "part.ndax", lambda n, b: b[:-100] if n == "data.ndc" else b)
    with pytest.raises(nf.UnknownLayout, match="whole pages"):
        _decode(p)


def test_member_never_inflates_beyond_its_declared_size(tmp_path):
    """A member whose deflate stream holds more than its header declares is refused after
    inflating at most the declared size plus one byte."""
    big = b"\x00" * (8 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.ndc", big)
    raw = bytearray(buf.getvalue())
    # declare 4096 bytes in the local header and in the central directory
    raw[22:26] = struct.pack("<I", 4096)
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = struct.pack("<I", 4096)
    p = tmp_path / "liar.zip"
    p.write_bytes(bytes(raw))
    with open(p, "rb") as fh, zipfile.ZipFile(fh) as zf:
        with pytest.raises(nf.UnknownLayout, match="size or CRC"):
            nf._member(fh, zf, "data.ndc")

"""The vectorized Neware reader against NewareNDA itself (the reference it must equal)."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

NewareNDA = pytest.importorskip("NewareNDA")
from NewareNDA.utils import _generate_cycle_number  # noqa: E402

from conftest import corpus_files  # noqa: E402
from echem.io import neware_fast as nf  # noqa: E402

NEWARE_FILES = corpus_files("neware", "*.nda") + corpus_files("neware", "*.ndax")

# NewareNDA itself trips pandas' inplace deprecation warnings; they are not ours
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", NEWARE_FILES, ids=lambda p: p.name)
def test_equals_newarenda_on_corpus(corpus, path):
    before = _sha256(path)
    ours, layout = nf.read_frame_layout(path)
    reference = NewareNDA.read(str(path))
    pd.testing.assert_frame_equal(ours, reference, check_exact=True)
    assert layout in nf.LAYOUT_NAMES
    assert _sha256(path) == before  # the input is only read


@pytest.mark.parametrize("path", NEWARE_FILES, ids=lambda p: p.name)
def test_layout_matches_file_header(corpus, path):
    head = path.read_bytes()[:1100]
    layout = nf.layout_of(path)
    if head[:6] == b"NEWARE":
        version = head[14]
        expected = {29: "nda29"}.get(version) or (
            "nda130_bts91" if head[1024] == 0x55 else "nda130_bts90")
    else:
        expected = "ndax_ndc14"
    assert layout == expected


def test_equal_in_another_timezone(corpus):
    """Local-time conversion (NewareNDA uses astimezone()) also matches away from UTC."""
    small = [p for p in NEWARE_FILES if p.stat().st_size < 1_500_000]
    code = (
        "import sys, pandas as pd, NewareNDA\n"
        "from echem.io.neware_fast import read_frame\n"
        "for p in sys.argv[1:]:\n"
        "    pd.testing.assert_frame_equal(read_frame(p), NewareNDA.read(p), check_exact=True)\n"
        "print('ok', len(sys.argv) - 1)\n"
    )
    for zone in ("Europe/Berlin", "America/New_York"):
        env = dict(os.environ, TZ=zone)
        done = subprocess.run([sys.executable, "-c", code, *map(str, small)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == ["ok", str(len(small))]


def test_cycle_numbers_equal_newarenda_on_random_status_runs():
    rng = np.random.default_rng(7)
    names = sorted(set(NewareNDA.dicts.state_dict.values()))
    for _ in range(200):
        n = int(rng.integers(1, 60))
        # runs of statuses, as cycling files have them
        run_codes = rng.integers(0, len(names), size=n)
        codes = np.repeat(run_codes, rng.integers(1, 4, size=n))
        status = pd.Series(np.array(names, dtype=object)[codes])
        expected = np.asarray(_generate_cycle_number(pd.DataFrame({"Status": status}), "chg"))
        used = sorted(set(status))
        ours = nf._cycle_numbers(np.array([used.index(s) for s in status]), used)
        np.testing.assert_array_equal(ours, expected.astype(np.uint32))


def test_timestamps_round_like_datetime_fromtimestamp():
    rng = np.random.default_rng(3)
    t = np.concatenate([
        1.7e9 + rng.random(2000) * 1e7,
        np.round(1.7e9 + rng.random(500) * 1e7, 6) + 5e-7,  # halfway cases
        1.46e9 + rng.integers(0, 10**6, 500) + rng.integers(0, 10**9, 500) * 1e-9,
    ])
    ours = nf._utc_us_from_float_seconds(t)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    one_us = timedelta(microseconds=1)
    expected = [(datetime.fromtimestamp(x, timezone.utc) - epoch) // one_us for x in t]
    np.testing.assert_array_equal(ours, np.array(expected, dtype=np.int64))


def test_seconds_to_timedelta_equals_pandas():
    rng = np.random.default_rng(5)
    cases = [np.arange(50, dtype=float), rng.random(1000) * 100,
             np.concatenate([np.arange(20.0), [0.1, 2.5, 1e-7]])]
    for x in cases:
        ticks, unit = nf._seconds_to_timedelta(x)
        expected = pd.to_timedelta(x, unit="s").to_numpy()
        assert np.datetime_data(expected.dtype)[0] == unit
        np.testing.assert_array_equal(ticks, expected.view(np.int64))


def test_grouped_cumsum_equals_pandas_groupby(monkeypatch):
    rng = np.random.default_rng(11)
    values = rng.normal(size=(5000, 3)) * 10.0 ** rng.integers(-6, 6, size=(5000, 3))
    labels = np.sort(rng.integers(0, 300, size=5000)).astype(np.intp)
    expected = pd.DataFrame(values).groupby(labels).cumsum().to_numpy()
    np.testing.assert_array_equal(nf._grouped_cumsum(values, labels, 300), expected)
    # without the kernel's expected signature, the public-groupby fallback must agree too
    import pandas._libs.groupby as libgroupby

    def changed_signature(*args):
        raise TypeError("signature changed")

    monkeypatch.setattr(libgroupby, "group_cumsum", changed_signature)
    np.testing.assert_array_equal(nf._grouped_cumsum(values, labels, 300), expected)


def _zip_with(src: Path, replace: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = replace.get(item.filename, zin.read(item.filename))
            zout.writestr(item, data)
    return out.getvalue()


def test_unknown_layouts_raise(corpus, tmp_path):
    nda = [p for p in NEWARE_FILES if p.suffix == ".nda"][0]
    blob = bytearray(nda.read_bytes())
    blob[14] = 99  # an nda version NewareNDA does not know either
    odd = tmp_path / "odd.nda"
    odd.write_bytes(bytes(blob))
    with pytest.raises(nf.UnknownLayout):
        nf.read_frame(odd)
    with pytest.raises(NotImplementedError):
        NewareNDA.read(str(odd))

    text = tmp_path / "text.nda"
    text.write_bytes(b"not a neware file at all")
    with pytest.raises(nf.UnknownLayout):
        nf.read_frame(text)

    ndax = [p for p in NEWARE_FILES if p.suffix == ".ndax"][0]
    with zipfile.ZipFile(ndax) as z:
        data = bytearray(z.read("data.ndc"))
    data[2] = 99  # an ndc version neither reader handles
    bad = tmp_path / "odd.ndax"
    bad.write_bytes(_zip_with(ndax, {"data.ndc": bytes(data)}))
    with pytest.raises(nf.UnknownLayout):
        nf.read_frame(bad)
    with pytest.raises(NotImplementedError):
        NewareNDA.read(str(bad))


def _nda_records(blob: bytes, start: int, record_len: int) -> np.ndarray:
    n = (len(blob) - start) // record_len
    return np.frombuffer(blob, np.uint8, n * record_len, start).reshape(n, record_len).copy()


def _put(rec: np.ndarray, offset: int, value, fmt: str) -> None:
    raw = np.array([value], dtype=fmt).view(np.uint8)
    rec[offset:offset + raw.size] = raw


def _variant(src: Path, start: int, record_len: int, aux_at: int, dest: Path) -> Path:
    """Copy of an nda with records out of order, a repeated Index and aux records with two ids."""
    blob = src.read_bytes()
    recs = _nda_records(blob, start, record_len)
    data_rows = np.flatnonzero(recs[:, 0] == recs[2, 0])  # records of the kind of the third
    a, b = data_rows[20], data_rows[21]
    recs[[a, b]] = recs[[b, a]]              # Index out of order -> NewareNDA sorts
    recs[data_rows[30]] = recs[data_rows[31]]  # a repeated Index -> first one kept
    index_at = 2 if aux_at == 0 else 8 if record_len == 56 else 16
    for k, row in enumerate(data_rows[40:46]):
        index = int(np.frombuffer(recs[row, index_at:index_at + 4].tobytes(), "<u4")[0])
        aux = np.zeros(record_len, np.uint8)
        o = aux_at  # aux records: 0x65 at o, then Aux, Index, V (int32 at +22), T (int16 at +34)
        aux[:o] = 0
        aux[o] = 0x65
        aux[o + 1] = 2 + k % 2
        _put(aux, o + 2, index, "<u4")
        _put(aux, o + 22, 37000 + k, "<i4")
        _put(aux, o + 34, 251 + k, "<i2")
        recs[data_rows[60 + k]] = aux
    recs[data_rows[66]] = recs[data_rows[65]]  # a repeated aux record -> dropped as duplicate
    dest.write_bytes(blob[:start] + recs.tobytes() + blob[start + recs.size:])
    return dest


def test_synthetic_record_mixes_equal_newarenda(corpus, tmp_path):
    """Dedup, sorting and aux pivots on altered copies of real nda files, against NewareNDA."""
    by_name = {p.name: p for p in NEWARE_FILES}
    made = []
    if "new_nda_file.nda" in by_name:  # BTS 7: records from the first 00000000 5500 + 4
        src = by_name["new_nda_file.nda"]
        start = src.read_bytes().find(b"\x00\x00\x00\x00\x55\x00") + 4
        made.append(_variant(src, start, 86, 0, tmp_path / "v29.nda"))
    if "2-1-6_61[07005012].nda" in by_name:  # BTS 9.0: 88-byte records from 1024
        made.append(_variant(by_name["2-1-6_61[07005012].nda"], 1024, 88, 4, tmp_path / "v90.nda"))
    if "TestFile.nda" in by_name:  # BTS 9.1: 56-byte records from 1024
        made.append(_variant(by_name["TestFile.nda"], 1024, 56, 4, tmp_path / "v91.nda"))
    assert made
    for path in made:
        reference = NewareNDA.read(str(path))
        assert any(c.startswith("T2") for c in reference.columns)
        pd.testing.assert_frame_equal(nf.read_frame(path), reference, check_exact=True)


def test_synthetic_ndax_variants_equal_newarenda(corpus, tmp_path):
    """Gaps in data.ndc and aux channels without TestInfo.xml, on altered copies of a real ndax."""
    src = next((p for p in NEWARE_FILES if p.name.startswith("123456789012_Unit27")), None)
    if src is None:
        pytest.skip("Unit27 example ndax absent")
    with zipfile.ZipFile(src) as z:
        data = bytearray(z.read("data.ndc"))
    for slot in (50, 62, 200):  # empty record slots (voltage 0): NewareNDA drops them
        data[4096 + 132 + 8 * slot:4096 + 136 + 8 * slot] = b"\x00\x00\x00\x00"
    gaps = tmp_path / "gaps.ndax"
    gaps.write_bytes(_zip_with(src, {"data.ndc": bytes(data)}))

    no_info = tmp_path / "no_testinfo.ndax"
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            if item.filename != "TestInfo.xml":
                zout.writestr(item, zin.read(item.filename))
    no_info.write_bytes(out.getvalue())

    for path in (gaps, no_info):
        reference = NewareNDA.read(str(path))
        pd.testing.assert_frame_equal(nf.read_frame(path), reference, check_exact=True)
    assert len(NewareNDA.read(str(gaps))) == 301 - 3


def test_gap_integrals_in_small_chunks_and_over_non_finite_values(corpus, tmp_path, monkeypatch):
    """BTS 8 gap integrals cut into chunks of one block, and with NaN/inf currents and voltages
    in gap and runInfo rows (NaN spreads through pandas' cumsum as NewareNDA's groupby has it)."""
    import struct

    src = next((p for p in NEWARE_FILES if p.name.startswith("123456789012_Unit27")), None)
    if src is None:
        pytest.skip("Unit27 example ndax absent")
    with zipfile.ZipFile(src) as z:
        data = bytearray(z.read("data.ndc"))

    def put(slot, which, value):  # which 0: voltage, 1: current (float32 pairs from byte 132)
        at = 4096 + 132 + 8 * slot + 4 * which
        data[at:at + 4] = struct.pack("<f", value)

    # the file's runInfo rows are 0, 1, 62, 123, 184, 245, 300; the rest are gap rows
    put(64, 0, float("nan"))    # a gap row's voltage
    put(124, 1, float("inf"))   # the first gap row of a block
    put(184, 1, float("nan"))   # a runInfo row's current
    put(244, 1, float("-inf"))  # the last gap row before a runInfo row
    put(248, 0, float("inf"))
    odd = tmp_path / "non_finite.ndax"
    odd.write_bytes(_zip_with(src, {"data.ndc": bytes(data)}))
    monkeypatch.setattr(nf, "_CHUNK", 3)  # chunks of one block: every carry across a boundary
    for path in (src, odd):
        reference = NewareNDA.read(str(path))
        pd.testing.assert_frame_equal(nf.read_frame(path), reference, check_exact=True)
    assert reference["Charge_Capacity(mAh)"].isna().any()


def test_local_offset_change_is_left_to_newarenda():
    """nda timestamps across a daylight-saving change get mixed offsets from astimezone()."""
    code = (
        "import numpy as np\n"
        "from datetime import datetime, timezone\n"
        "from echem.io import neware_fast as nf\n"
        "def us(*a): return int(datetime(*a, tzinfo=timezone.utc).timestamp()) * 10**6\n"
        "tz = nf._local_tz_for(np.array([us(2024, 5, 1), us(2024, 6, 1)]), 'x')\n"
        "print(tz.utcoffset(None).total_seconds())\n"
        "try:\n"
        "    nf._local_tz_for(np.array([us(2024, 3, 30), us(2024, 4, 2)]), 'x')\n"
        "except nf.UnknownLayout:\n"
        "    print('unknown')\n"
    )
    env = dict(os.environ, TZ="Europe/Berlin")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["7200.0", "unknown"]

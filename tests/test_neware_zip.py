""".ndax archives against zip bombs (issue 16, item 3): member sizes are checked before anything
inflates them, nothing is extracted to disk. The bombs are written by the tests: a deflate block
of 1 MiB of zeros, repeated, makes gigabytes from a few megabytes on disk in no time."""
from __future__ import annotations

import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

import echem
from conftest import CORPUS, corpus_files
from echem.io import neware

UNIT27 = CORPUS / "neware" / "123456789012_Unit27_Example_Data_File.ndax"
NDAX = corpus_files("neware", "*.ndax") + corpus_files("neware/fastnda", "*.ndax")
MiB = 1 << 20


def zeros_deflated(n_mib: int) -> bytes:
    """A raw deflate stream of ``n_mib`` MiB of zero bytes (about 1 kB per MiB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * MiB) + c.flush(zlib.Z_FULL_FLUSH)  # stands alone: repeatable
    return block * n_mib + zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # + a final block


def write_zip(path: Path, members: list[tuple], shared: tuple[int, int] | None = None) -> Path:
    """A zip of (name, compressed bytes, declared size, crc, method) members written by hand, so
    that the declared sizes may lie. ``shared=(i, j)``: entry j of the central directory points
    at the local header of entry i (overlapping entries)."""
    out, cd, offsets = bytearray(), bytearray(), []
    for name, data, size, crc, method in members:
        nb = name.encode()
        offsets.append(len(out))
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data),
                           size, len(nb), 0) + nb + data
    for k, (name, data, size, crc, method) in enumerate(members):
        nb = name.encode()
        offset = offsets[shared[0]] if shared and k == shared[1] else offsets[k]
        cd += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc,
                          len(data), size, len(nb), 0, 0, 0, 0, 0, offset) + nb
    n = len(members)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, len(cd), len(out), 0)
    path.write_bytes(bytes(out + cd + eocd))
    return path


def genuine_members(src: Path) -> list[tuple]:
    """The members of a real archive as write_zip takes them (deflated, true sizes)."""
    members = []
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            data = zf.read(info.filename)
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            members.append((info.filename, c.compress(data) + c.flush(), len(data),
                            zlib.crc32(data), zipfile.ZIP_DEFLATED))
    return members


def replaced(src: Path, name: str, member: tuple) -> list[tuple]:
    return [member if m[0] == name else m for m in genuine_members(src)]


def refused_fast(path: Path, member: str) -> str:
    """echem.read refuses ``path`` with a CorruptFileError naming the file and ``member``, within
    2 s and 64 MB of traced memory; returns the message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(echem.CorruptFileError) as info:
            echem.read(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert path.name in message and member in message
    assert elapsed < 2.0, f"{elapsed:.1f} s"
    assert peak < 64 * MiB, f"{peak / MiB:.0f} MiB"
    return message


def test_metadata_member_that_inflates_to_2_gb(tmp_path, corpus):
    bomb = zeros_deflated(2048)
    assert len(bomb) < 3 * MiB  # small on disk
    p = write_zip(tmp_path / "xmlbomb.ndax",
                  replaced(UNIT27, "TestInfo.xml", ("TestInfo.xml", bomb, 2048 * MiB, 0, 8)))
    assert p.stat().st_size < 3 * MiB
    assert "metadata member" in refused_fast(p, "TestInfo.xml")


def test_data_member_that_inflates_to_3_gb(tmp_path, corpus):
    p = write_zip(tmp_path / "databomb.ndax",
                  replaced(UNIT27, "data.ndc", ("data.ndc", zeros_deflated(3072), 3072 * MiB, 0, 8)))
    assert "max_member_bytes" in refused_fast(p, "data.ndc")


def test_data_member_compressed_beyond_any_record_page(tmp_path, corpus):
    """Under the size cap but a thousand times compressed: no Neware archive looks like that."""
    data = b"\0" * (64 * MiB)
    p = write_zip(tmp_path / "ratio.ndax",
                  replaced(UNIT27, "data.ndc", ("data.ndc", zeros_deflated(64), 64 * MiB,
                                                zlib.crc32(data), 8)))
    assert "zip bomb" in refused_fast(p, "data.ndc")


@pytest.mark.parametrize("name", ["TestInfo.xml", "data.ndc"])
def test_member_whose_header_understates_its_size(tmp_path, corpus, name):
    """The header says a few kB, the stream holds 2 GB: inflating stops at the declared size."""
    members = genuine_members(UNIT27)
    true = next(m for m in members if m[0] == name)
    p = write_zip(tmp_path / "liar.ndax",
                  replaced(UNIT27, name, (name, zeros_deflated(2048), true[2], true[3], 8)))
    refused_fast(p, "")


def test_overlapping_entries(tmp_path, corpus):
    """Two central directory entries sharing one member's compressed data (the 'better zip
    bomb' construction) are refused before anything is inflated."""
    members = genuine_members(UNIT27)
    names = [m[0] for m in members]
    i, j = names.index("data_step.ndc"), names.index("data_runInfo.ndc")
    p = write_zip(tmp_path / "overlap.ndax", members, shared=(i, j))
    assert "overlapping" in refused_fast(p, "data_")


def test_the_cap_can_be_raised_for_a_genuine_large_archive(corpus):
    bts85 = CORPUS / "neware" / "BTS85-36-6-5-110-20240424.ndax"
    with pytest.raises(echem.CorruptFileError, match="data.ndc"):
        neware.read_ndax(bts85, max_member_bytes=4 * MiB)  # its data.ndc: 5.8 MB
    assert len(neware.read_ndax(bts85, max_member_bytes=8 * MiB).data) == 699677


def test_genuine_archive_written_by_the_helper_reads(tmp_path, corpus):
    """The hand-written zip of the genuine members reads as the original (the helper is sound,
    so the refusals above are the bombs', not the writer's)."""
    p = write_zip(tmp_path / "copy.ndax", genuine_members(UNIT27))
    assert echem.read(p).data.equals(echem.read(UNIT27).data)


def test_nothing_is_extracted_to_disk(tmp_path, monkeypatch):
    if not NDAX:
        pytest.skip("../shared/corpus is absent")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for p in NDAX:
        echem.read(p)
    assert list(scratch.iterdir()) == []

"""Neware BTS binary files: ``.nda`` (BTS 7 and 9) and ``.ndax`` (BTS 8, a zip archive).

The records are decoded by fastnda (every NDA version it reads: 1 to 29, 129, 130; every ndc
layout of an ndax), except the ndax layouts :mod:`echem.io.neware_fast` decodes faster (ndc 14,
16, 17: the archives BTS 8 writes today), whose output equals fastnda's. This module recognises
the files by content, checks them (truncation of an nda, member sizes of an ndax archive, before
anything inflates them), turns fastnda's errors into the project's typed errors, numbers cycles
and adds the test time as ``fastnda.read`` does (:func:`fastnda_columns`), and converts the
result to the common schema (:func:`to_schema`).

fastnda column (unit)           common schema
=============================== ====================================================================
``total_time_s`` (s)            ``time_s`` (from ``step_time_s`` where the file has no test time:
                                each step starts where the longest record of the step before ended)
``voltage_V`` (V)               ``voltage_V``
``current_mA`` (mA)             ``current_mA`` (Neware's sign already is: positive while charging)
``capacity_mAh`` (mAh, net)     ``capacity_mAh`` = its absolute value (charge of the step, >= 0)
``cycle_count``                 ``cycle``: fastnda's "chg" numbering (a charge after a discharge
                                starts a cycle), from 1
``step_count``                  ``step``: running index, new at every change
``step_type`` (Neware code)     ``step_type`` via :data:`STEP_TYPE_NAMES` and
                                :data:`STATUS_TO_STEP_TYPE`; Neware's name kept as ``status``
aux ``..._temperature_degC``,   ``temperature_C``, ``aux_voltage_V`` (the first aux channel of the
``..._voltage_V``               kind; further channels ``aux<ch>_temperature_C``, ``aux<ch>_voltage_V``)
``unix_time_s`` (s)             ``Timestamp``: UTC (tz-aware) where the file holds epoch seconds,
                                else the BTS computer's local time (naive), with a warning
``index``, ``step_index``,      kept with these names after the schema columns
``step_time_s``, ``energy_mWh``
=============================== ====================================================================

``meta["start_time"]`` is the instant ``time_s`` counts from (ISO 8601; with ``+00:00`` when
UTC), so that ``start_time + time_s`` is the ``Timestamp`` column. Where the file states its
start in local time as well (TestInfo.xml of an ndax, the header of NDA 8-29), the file's UTC
offset is the difference (``meta["utc_offset"]``, to 15 minutes) and the statement is kept as
``meta["start_time_stated"]``.
"""
from __future__ import annotations

import logging
import mmap
import struct
import threading
import warnings
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from echem.errors import CorruptFileError, EchemError, UnsupportedFileError
from echem.schema import STEP_TYPES, Measurement, finalize, running_step, step_type_dtype

#: Neware step type code (as fastnda's STEP_TYPE_MAP numbers them) -> Neware's name
STEP_TYPE_NAMES: dict[int, str] = {
    0: "Undefined", 1: "CC_Chg", 2: "CC_DChg", 3: "CV_Chg", 4: "Rest", 5: "Cycle", 6: "End",
    7: "CCCV_Chg", 8: "CP_DChg", 9: "CP_Chg", 10: "CR_DChg", 11: "CR_Chg", 12: "IR", 13: "Pause",
    16: "Pulse", 17: "SIM", 18: "PCCCV_Chg", 19: "CV_DChg", 20: "CCCV_DChg", 21: "Control",
    22: "OCV", 23: "SubStep", 24: "Follow", 25: "Ramp", 26: "CPCV_DChg", 27: "CPCV_Chg",
    28: "CRCV_DChg", 29: "CRCV_Chg", 30: "CyclicVoltammetry",
}

#: step type code -> 1 charge, 0 discharge (fastnda's CHARGE_DISCHARGE_MAP; others: neither)
CHARGE_DISCHARGE: dict[int, int] = {1: 1, 2: 0, 3: 1, 7: 1, 8: 0, 9: 1, 10: 0, 11: 1, 18: 1,
                                    19: 0, 20: 0, 26: 0, 27: 1, 28: 0, 29: 1}

#: Neware's step type name -> the schema's ``step_type``. A kind the schema has no exact name for
#: (constant resistance, CPCV, pulse, simulation, pause, control, ramp, CV scans, marker rows)
#: maps to "other"; the ``status`` column keeps Neware's own name.
STATUS_TO_STEP_TYPE: dict[str, str] = {
    "Rest": "rest", "CC_Chg": "cc_charge", "CC_DChg": "cc_discharge", "CV_Chg": "cv_charge",
    "CV_DChg": "cv_discharge", "CCCV_Chg": "cccv_charge", "CCCV_DChg": "cccv_discharge",
    "CP_Chg": "cp_charge", "CP_DChg": "cp_discharge", "OCV": "ocv",
}

#: members a BTS 8 .ndax archive holds
NDAX_MEMBERS = frozenset({"data.ndc", "Step.xml", "TestInfo.xml", "VersionInfo.xml",
                          "EditStep.xml", "data_step.ndc", "data_runInfo.ndc"})

#: Archive caps, checked on the central directory before any member is inflated: uncompressed
#: bytes per data (.ndc and other) member and per XML member, uncompressed bytes of all members,
#: and the compression ratio allowed to a member larger than RATIO_FREE_BYTES (Neware's record
#: pages compress 2-10x; an empty page much more, hence the allowance for small members).
MAX_MEMBER_BYTES = 1 << 30
MAX_XML_BYTES = 16 << 20
MAX_ARCHIVE_BYTES = 4 << 30
MAX_RATIO = 200
RATIO_FREE_BYTES = 16 << 20

#: NDA versions whose records hold the BTS computer's local clock time (year, month, ... fields,
#: or no clock at all: the stated local start plus the test time); the others hold epoch seconds
_NDA_LOCAL_CLOCK = frozenset({1, 2, 3, 4, 26, 28, 29})
#: ndc versions of data.ndc whose records hold the local clock time (the others: runInfo epochs)
_NDC_LOCAL_CLOCK = frozenset({1, 2, 3, 4, 5, 7})

_COPY_AGAIN = "; copy the file again from the BTS computer (after the test has finished)"
_NO_OFFSET = ("the file states no UTC offset: its time stamps and start time are the BTS "
              "computer's local time (no time zone)")
_FASTNDA_LOCK = threading.Lock()  # fastnda's warnings and log records are caught per call


# ---------------------------------------------------------------------------------- sniffing

def sniff_nda(head: bytes, path: Path) -> bool:
    """A BTS 7/9 .nda file starts with the ASCII magic ``NEWARE``."""
    return head.startswith(b"NEWARE")


def sniff_ndax(head: bytes, path: Path) -> bool:
    """A BTS 8 .ndax is a zip archive holding ``data.ndc`` and Neware's XML files.

    Another zip (an XLSX, any other archive) is not one. A damaged ndax whose central directory
    cannot be read is still recognised by the member names in its first local headers, so that
    it ends as a CorruptFileError rather than as an unknown format. Only the central directory
    is read here, nothing is inflated.
    """
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return bool(_local_member_names(head) & NDAX_MEMBERS)
    return "data.ndc" in names or len(names & NDAX_MEMBERS) >= 2


def _local_member_names(head: bytes) -> set[str]:
    """Names of the zip local file headers found one after another from the start of ``head``."""
    names, pos = set(), 0
    while head[pos:pos + 4] == b"PK\x03\x04" and pos + 30 <= len(head):
        csize, _, n_name, n_extra = struct.unpack("<IIHH", head[pos + 18:pos + 30])
        names.add(head[pos + 30:pos + 30 + n_name].decode("cp437", errors="replace"))
        pos += 30 + n_name + n_extra + csize
    return names


# ---------------------------------------------------------------------------------- reading

def read_nda(path: str | Path) -> Measurement:
    """Read a BTS 7/9 ``.nda`` file into a Measurement (see the module docstring for columns)."""
    return _read(Path(path), "neware-nda")


def read_ndax(path: str | Path, max_member_bytes: int = MAX_MEMBER_BYTES) -> Measurement:
    """Read a BTS 8 ``.ndax`` archive into a Measurement (see the module docstring for columns).

    ``max_member_bytes``: the largest uncompressed data member accepted (see
    :func:`check_ndax_archive`); raise it for a genuine archive beyond 1 GiB.
    """
    return _read(Path(path), "neware-ndax", max_member_bytes)


def _read(path: Path, fmt: str, max_member_bytes: int = MAX_MEMBER_BYTES) -> Measurement:
    meta: dict = {"instrument": "Neware BTS", "format": fmt, "source": str(path)}
    if fmt == "neware-nda":
        version, slots = _check_nda(path)
        meta["nda_version"] = version
        local_clock = version in _NDA_LOCAL_CLOCK
        stated = _nda_metadata(path, meta)
        raw = _fastnda_raw(path, fmt, meta)
    else:
        slots = 0
        infos = check_ndax_archive(path, max_member_bytes)
        xml = _ndax_xml(path, infos)
        stated = _ndax_info(xml, meta)
        raw, main_version = _ndax_raw(path, meta, xml)
        meta["ndc_version"] = main_version
        local_clock = main_version in _NDC_LOCAL_CLOCK
    n_rows = len(raw["index"])
    if slots == -1:
        meta["truncated"] = True
        meta.setdefault("warnings", []).append(
            "truncated: the file ends inside a record; its complete records are read"
            + _COPY_AGAIN)
    elif 0 < n_rows < 0.1 * slots:  # allows up to 9 auxiliary records per data record
        raise CorruptFileError(f"damaged: only {n_rows} of the {slots} records of its data "
                               "section could be decoded", path)
    try:
        cols = fastnda_columns(raw, meta)
        data = to_schema(cols, meta, utc=not local_clock)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise CorruptFileError(f"the decoded records could not be put in the common schema: "
                               f"{type(exc).__name__}: {exc}", path) from exc
    _start_time(data, cols, meta, stated, local_clock)
    if n_rows == 0:
        meta.setdefault("warnings", []).append(
            "the file holds no records yet (a test that has just started?): empty measurement")
    return Measurement(data=data, meta=meta)


# ---------------------------------------------------------------------------------- ndax archive

def check_ndax_archive(path: Path, max_member_bytes: int = MAX_MEMBER_BYTES) -> list:
    """The archive's members (``zipfile.ZipInfo``), checked against zip bombs before inflating.

    Refused (CorruptFileError naming the member): a member whose declared uncompressed size is
    over ``max_member_bytes`` (XML members: over :data:`MAX_XML_BYTES`), all members together
    over :data:`MAX_ARCHIVE_BYTES`, a member over :data:`RATIO_FREE_BYTES` compressed more than
    :data:`MAX_RATIO` times, members whose compressed data overlap or lie outside the file, an
    encryption or compression method Neware does not use. Inflating later never goes beyond a
    member's declared size (zipfile stops there, and so does :mod:`echem.io.neware_fast`), so
    these checks bound the memory a read takes.
    """
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            with open(path, "rb") as fh:
                spans = [(_data_span(fh, info, size), info) for info in infos]
    except EchemError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            struct.error) as exc:
        raise CorruptFileError(f"the .ndax zip archive is damaged or truncated ({exc})"
                               + _COPY_AGAIN, path) from exc
    total = 0
    for (start, end), info in spans:
        name = info.filename
        cap = MAX_XML_BYTES if name.lower().endswith(".xml") else max_member_bytes
        what = "metadata" if cap == MAX_XML_BYTES else "data"
        if info.file_size > cap:
            raise CorruptFileError(
                f"archive member {name} would inflate to {info.file_size:,} bytes, over the "
                f"{cap:,} allowed for a {what} member: a zip bomb or not a Neware archive"
                + ("" if what == "metadata" else
                   " (raise max_member_bytes of read_ndax for a genuine larger archive)"), path)
        if info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_RATIO * info.compress_size:
            raise CorruptFileError(
                f"archive member {name} is compressed {info.file_size / max(info.compress_size, 1):,.0f}"
                f" times ({info.compress_size:,} -> {info.file_size:,} bytes), over the "
                f"{MAX_RATIO} allowed: a zip bomb", path)
        if info.flag_bits & 1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                             zipfile.ZIP_DEFLATED):
            raise CorruptFileError(f"archive member {name} is encrypted or compressed with "
                                   f"method {info.compress_type}, which Neware does not use", path)
        total += info.file_size
    if total > MAX_ARCHIVE_BYTES:
        raise CorruptFileError(f"the archive's members would inflate to {total:,} bytes, over "
                               f"the {MAX_ARCHIVE_BYTES:,} allowed: a zip bomb", path)
    ordered = sorted(spans, key=lambda s: s[0])
    for ((_, end), a), ((start, _), b) in zip(ordered, ordered[1:]):
        if start < end:
            raise CorruptFileError(f"archive members {a.filename} and {b.filename} share their "
                                   "compressed data (overlapping entries: a zip bomb)", path)
    return infos


def _data_span(fh, info, size: int) -> tuple[int, int]:
    """(first byte, end) of a member's local header and compressed data in the file."""
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for member {info.filename}")
    n_name, n_extra = struct.unpack("<HH", head[26:30])
    end = info.header_offset + 30 + n_name + n_extra + info.compress_size
    if end > size:
        raise zipfile.BadZipFile(f"member {info.filename} runs past the end of the file")
    return info.header_offset, end


def _ndax_xml(path: Path, infos: list) -> dict:
    """The parsed XML members Neware writes (TestInfo, VersionInfo, Step), each inflated only
    after :func:`check_ndax_archive` has capped its size; None for one that is not readable."""
    from defusedxml import ElementTree as SafeET

    from echem.io.neware_fast import UnknownLayout, _member

    wanted = {i.filename for i in infos} & {"TestInfo.xml", "VersionInfo.xml", "Step.xml"}
    out = {}
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            for name in sorted(wanted):
                try:
                    raw = _member(fh, zf, name)  # never inflated beyond its declared size
                except UnknownLayout as exc:
                    raise CorruptFileError(f"archive member {exc}: damaged, or a zip bomb",
                                           path) from exc
                if name == "TestInfo.xml":
                    out["TestInfo.xml bytes"] = raw
                try:
                    out[name] = SafeET.fromstring(raw.decode("gb18030", errors="replace"))
                except Exception:  # ParseError, defusedxml's entity refusals: not readable
                    out[name] = None
    except EchemError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
        raise CorruptFileError(f"the .ndax zip archive is damaged or truncated ({exc})"
                               + _COPY_AGAIN, path) from exc
    return out


def _check_inflated_sizes(path: Path, infos: list) -> None:
    """Inflate every member in 1 MiB pieces, discarding them, and refuse one that holds more
    than its header declares, before fastnda (zipfile, which inflates up to 2 GiB in one call
    whatever the declared size) reads the archive. Memory: one piece; time: at most the
    declared sizes."""
    from echem.io.neware_fast import _inflater

    piece = 1 << 20
    with open(path, "rb") as fh:
        for info in infos:
            if info.compress_type != zipfile.ZIP_DEFLATED:
                continue
            fh.seek(info.header_offset + 26)
            n_name, n_extra = struct.unpack("<HH", fh.read(4))
            fh.seek(info.header_offset + 30 + n_name + n_extra)
            inflater, left, total = _inflater(), info.compress_size, 0
            while left > 0 and not inflater.eof:
                buf = fh.read(min(left, piece))
                if not buf:
                    break
                left -= len(buf)
                while buf:
                    try:
                        total += len(inflater.decompress(buf, piece))
                    except Exception as exc:  # zlib.error, isal's IsalError
                        raise CorruptFileError(f"archive member {info.filename} is damaged "
                                               f"({exc})" + _COPY_AGAIN, path) from exc
                    if total > info.file_size:
                        raise CorruptFileError(
                            f"archive member {info.filename} inflates to more than the "
                            f"{info.file_size:,} bytes its header declares: damaged, or a zip "
                            "bomb", path)
                    buf = inflater.unconsumed_tail
                    if inflater.eof:
                        break


def _aux_dicts(xml: dict) -> list[dict] | None:
    """TestInfo.xml's aux entries as fastnda reads them (declared GB2312, decoded strictly; digit
    strings as int), in file order; None where fastnda finds none."""
    from defusedxml import ElementTree as SafeET

    try:
        root = SafeET.fromstring(xml["TestInfo.xml bytes"].decode("gb2312"))
    except Exception:  # absent, not GB2312, not XML: fastnda reads no aux entries either
        return None
    test = root.find("config/TestInfo")
    if test is None:
        return None
    return [{k: int(v) if v.isdigit() else v for k, v in child.attrib.items()}
            for child in test if "aux" in child.tag.lower()]


def _ndax_raw(path: Path, meta: dict, xml: dict) -> tuple[dict, int]:
    """The record columns of the archive (fastnda's read_ndax) and its data.ndc version."""
    from echem.io import neware_fast

    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            head = _member_head(zf, "data.ndc")
            version = head[2] if len(head) >= 3 else -1
            try:
                raw = neware_fast.read_raw(zf, fh, _aux_dicts(xml))
            except neware_fast.UnknownLayout as exc:
                meta["fast_path_declined"] = str(exc)
                raw = None
    except KeyError as exc:
        raise UnsupportedFileError("a zip archive with Neware files but no data.ndc: not an "
                                   ".ndax fastnda can read", path) from exc
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
        raise CorruptFileError(f"the .ndax zip archive is damaged or truncated ({exc})"
                               + _COPY_AGAIN, path) from exc
    if raw is not None:
        meta["reader"] = f"echem.io.neware_fast (ndc {version}; equal to fastnda)"
        return raw, version
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    _check_inflated_sizes(path, infos)
    return _fastnda_raw(path, "neware-ndax", meta), version


def _member_head(zf: zipfile.ZipFile, name: str) -> bytes:
    """The first bytes of a member (its ndc file type and version), inflated no further."""
    with zf.open(name) as member:
        return member.read(4)


# ---------------------------------------------------------------------------------- fastnda

def _fastnda_raw(path: Path, fmt: str, meta: dict) -> dict:
    """fastnda's ``read_nda`` / ``read_ndax`` (the records before ``fastnda.read`` numbers
    cycles and adds the test time) as a dict of numpy arrays; ``meta["reader"]`` names it.

    Chosen by content rather than extension (``fastnda.read`` goes by the extension). fastnda's
    log records of level WARNING and above and its Python warnings go to ``meta["warnings"]``;
    its errors become the project's typed errors.
    """
    import fastnda
    from fastnda.nda import read_nda as fastnda_nda
    from fastnda.ndax import read_ndax as fastnda_ndax

    meta["reader"] = f"fastnda {fastnda.__version__}"
    logger = logging.getLogger("fastnda")
    handler = _ListHandler()
    with _FASTNDA_LOCK:
        saved = (logger.level, logger.propagate)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = fastnda_nda(path) if fmt == "neware-nda" else fastnda_ndax(path)
                cols = {name: frame[name].to_numpy() for name in frame.columns}
        except NotImplementedError as exc:
            raise UnsupportedFileError(f"a Neware {fmt[7:]} layout fastnda does not read yet "
                                       f"({exc}); export it from BTSDA as CSV/XLSX instead",
                                       path) from exc
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise CorruptFileError(f"the .ndax zip archive is damaged or truncated ({exc})"
                                   + _COPY_AGAIN, path) from exc
        except EchemError:
            raise
        except MemoryError as exc:
            raise CorruptFileError("the records do not fit in memory: the file is damaged or "
                                   "far larger than a Neware test", path) from exc
        except Exception as exc:  # EOFError, ValueError, KeyError, polars errors, ...
            raise CorruptFileError(f"fastnda could not decode the records ({type(exc).__name__}: "
                                   f"{exc}); the file is damaged or truncated", path) from exc
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
    messages = handler.messages + [f"fastnda: {w.message}" for w in caught
                                   if not issubclass(w.category, DeprecationWarning)]
    if messages:
        meta.setdefault("warnings", []).extend(messages)
    return cols


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(f"fastnda: {record.getMessage()}")


def fastnda_columns(raw: dict, meta: dict | None = None) -> dict:
    """The columns ``fastnda.read(path, raw_categories=True)`` returns, from the record columns
    of fastnda's ``read_nda``/``read_ndax`` (or :func:`echem.io.neware_fast.read_raw`).

    As fastnda does: ``cycle_count`` numbered in its "chg" mode (a row of a charge step after a
    discharge row, rest and other rows carrying the last kind forward, starts a cycle);
    ``total_time_s``, where the file has none, as ``step_time_s`` plus the sum of the longest
    ``step_time_s`` of each earlier step; times rounded to the microsecond; ``capacity_mAh`` and
    ``energy_mWh`` as charge minus discharge (float32). Units: s, mAh, mWh.
    """
    cols = dict(raw)
    n = len(cols["index"])
    codes = _step_codes(cols["step_type"])
    cols["step_type"] = codes
    if n:
        if np.any(np.isin(codes, (16, 17, 25))) and meta is not None:
            meta.setdefault("warnings", []).append(
                "the test has Pulse, SIM or Ramp steps: cycles are numbered by charge after "
                "discharge (fastnda's 'chg' mode), which may not be how the instrument counts them")
        lut = np.full(256, -1, dtype=np.int8)
        for k, v in CHARGE_DISCHARGE.items():
            lut[k] = v
        kind = lut[codes]
        last = np.where(kind >= 0, np.arange(n), 0)
        np.maximum.accumulate(last, out=last)
        kind = kind[last]  # forward filled (rows before the first charge or discharge: -1)
        new = (kind[1:] == 1) & (kind[:-1] == 0)
        cycle = np.empty(n, dtype=np.int64)
        cycle[0] = 1
        np.cumsum(new, out=cycle[1:])
        cycle[1:] += 1
        cols["cycle_count"] = cycle
    else:
        cols["cycle_count"] = np.zeros(0, dtype=np.int64)
    if "total_time_s" not in cols:
        cols["total_time_s"] = _total_time_s(np.asarray(cols["step_time_s"], dtype=np.float64),
                                             np.asarray(cols["step_count"]))
    for name in ("step_time_s", "total_time_s"):  # (unix_time_s: rounded by to_schema)
        cols[name] = np.round(np.asarray(cols[name], dtype=np.float64), 6)
    if "capacity_mAh" not in cols:
        cols["capacity_mAh"] = _net(cols, "charge_capacity_mAh", "discharge_capacity_mAh")
        cols["energy_mWh"] = _net(cols, "charge_energy_mWh", "discharge_energy_mWh")
    for name in ("voltage_V", "current_mA", "capacity_mAh", "energy_mWh"):  # fastnda's dtypes
        cols[name] = np.asarray(cols[name]).astype(np.float32, copy=False)
    return cols


def _net(cols: dict, charge: str, discharge: str) -> np.ndarray:
    c = np.asarray(cols[charge])
    d = np.asarray(cols[discharge])
    if c.dtype == np.float32 and d.dtype == np.float32:
        return c - d
    return (c.astype(np.float64) - d).astype(np.float32)


def _step_codes(values) -> np.ndarray:
    """Neware step type codes as uint8 (a missing code, NaN from a failed join: 255)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = np.where(np.isfinite(values), values, 255)
    return values.astype(np.uint8)


def _total_time_s(step_time_s: np.ndarray, step_count: np.ndarray) -> np.ndarray:
    """fastnda's ``_add_total_time``: ``step_time_s`` plus, per step, the sum of the longest
    ``step_time_s`` of every step numbered lower (s, float64)."""
    n = step_time_s.size
    if n == 0:
        return step_time_s.copy()
    if n > 1 and np.all(step_count[1:] >= step_count[:-1]):  # steps in order: runs of rows
        starts = np.flatnonzero(step_count[1:] != step_count[:-1]) + 1
        longest = np.fmax.reduceat(step_time_s, np.concatenate(([0], starts)))
        which = None
    else:
        keys, which = np.unique(step_count, return_inverse=True)
        longest = np.full(len(keys), -np.inf)
        np.fmax.at(longest, which, step_time_s)
    longest[~np.isfinite(longest)] = 0.0  # a step of no finite time (fastnda: max of nulls)
    before = np.concatenate(([0.0], np.cumsum(longest[:-1])))
    if which is None:
        return step_time_s + np.repeat(before, np.diff(starts, prepend=0, append=n))
    return step_time_s + before[which]


def total_time_s(step_time_s: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Seconds since the start of the test from the time since the start of each step (s):
    each step starts where the longest record of the step before ended (as fastnda does)."""
    return _total_time_s(np.asarray(step_time_s, dtype=np.float64), np.asarray(step))


# ---------------------------------------------------------------------------------- schema

def step_types(names) -> np.ndarray:
    """The schema's ``step_type`` for each Neware step type name (unknown names -> "other")."""
    return np.array([_step_type(x) for x in names], dtype=object)


def _step_type(name) -> str:
    try:
        return STATUS_TO_STEP_TYPE.get(name, "other")
    except TypeError:  # unhashable: no name
        return "other"


def _aux_name(name: str) -> tuple[str, str] | None:
    """(channel, kind) of a fastnda aux column ``aux<channel>_<kind>``; None for another column."""
    if not name.startswith("aux") or "_" not in name:
        return None
    channel, kind = name[3:].split("_", 1)
    return channel, kind


def to_schema(cols: dict, meta: dict | None = None, utc: bool = True) -> pd.DataFrame:
    """Convert :func:`fastnda_columns`' output to the common schema (see the module docstring).

    Units: time_s in s, voltage_V in V, current_mA in mA (positive while charging), capacity_mAh
    in mAh since the start of the step, temperature_C in degC, aux_voltage_V in V. ``utc``: the
    ``unix_time_s`` column is epoch seconds (UTC), else the local clock read as if it were UTC.
    With ``meta``, ``meta["techniques"]`` gets Neware's step type names in the order they
    first occur, ``meta["aux_channels"]`` the aux column names and their channel, and a note
    goes to ``meta["warnings"]`` where the test time or the time stamps go backwards.
    """
    codes = cols["step_type"]
    n = codes.size
    kinds = np.full(256, STEP_TYPES.index("other"), dtype=np.int8)
    names = np.array([STEP_TYPE_NAMES.get(c, f"Unknown_{c}") for c in range(256)], dtype=object)
    for code, name in STEP_TYPE_NAMES.items():
        kinds[code] = STEP_TYPES.index(_step_type(name))
    names[255] = "Unknown"
    present = np.unique(codes)
    time_s = np.asarray(cols["total_time_s"], dtype=np.float64)
    out = {
        "time_s": time_s,
        "voltage_V": np.asarray(cols["voltage_V"], dtype=np.float64),
        "current_mA": np.asarray(cols["current_mA"], dtype=np.float64),
        "capacity_mAh": np.abs(np.asarray(cols["capacity_mAh"], dtype=np.float64)),
        "cycle": np.asarray(cols["cycle_count"]).astype(np.int64),
        "step": running_step(np.asarray(cols["step_count"])),
        "step_type": pd.Categorical.from_codes(kinds[codes], dtype=step_type_dtype()),
    }
    aux = {}
    taken = set()
    for name in cols:
        parsed = _aux_name(name)
        if parsed is None:
            continue
        channel, kind = parsed
        target = {"temperature_degC": "temperature_C", "voltage_V": "aux_voltage_V"}.get(kind)
        if target is None:
            aux[name] = name
            continue
        short = "temperature_C" if target == "temperature_C" else "voltage_V"
        new = target if target not in taken else f"aux{channel}_{short}"
        taken.add(target)
        aux[name] = new
    extras = {
        "index": np.asarray(cols["index"]).astype(np.int64),
        "step_index": np.asarray(cols["step_index"]).astype(np.int64),
        "step_time_s": np.asarray(cols["step_time_s"], dtype=np.float64),
        "status": pd.Categorical.from_codes(
            _lookup(present, len(present))[codes],
            categories=pd.Index([str(names[c]) for c in present], dtype=object)),
        "energy_mWh": np.asarray(cols["energy_mWh"], dtype=np.float64),
    }
    if "unix_time_s" in cols:
        extras["Timestamp"] = _timestamps(np.asarray(cols["unix_time_s"], dtype=np.float64), utc)
    for old, new in aux.items():
        extras[new] = np.asarray(cols[old], dtype=np.float64)
    if meta is not None:
        if n:
            starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
            run_codes = codes[np.concatenate(([0], starts))]
            _, first = np.unique(run_codes, return_index=True)
            meta["techniques"] = [str(names[c]) for c in run_codes[np.sort(first)]]
        else:
            meta["techniques"] = []
        if aux:
            meta["aux_channels"] = {new: old for old, new in aux.items()}
        if n > 1 and np.any(time_s[1:] < time_s[:-1]):
            meta.setdefault("warnings", []).append(
                "time_s decreases somewhere: the file's records are out of time order")
        if "unix_time_s" in cols and n > 1:
            unix = np.asarray(cols["unix_time_s"])
            if np.any(unix[1:] < unix[:-1]):
                meta.setdefault("warnings", []).append(
                    "the time stamps go backwards somewhere (the BTS clock was set back?): "
                    "use time_s, not Timestamp, for durations")
    out.update(extras)
    return finalize(out)


def _lookup(keys: np.ndarray, size: int) -> np.ndarray:
    """A 256-entry table: code -> its position in ``keys`` (uint8 codes), int8 or wider."""
    table = np.zeros(256, dtype=np.int8 if size < 127 else np.int16)
    table[keys] = np.arange(size)
    return table


def _timestamps(unix_s: np.ndarray, utc: bool):
    """datetime64[us] of epoch seconds (tz-aware UTC when ``utc``, else naive local)."""
    us = unix_s * 1e6
    np.rint(us, out=us)
    finite = np.isfinite(us)
    if finite.all():
        us = us.astype(np.int64)
    else:
        us[~finite] = 0.0
        us = us.astype(np.int64)
        us[~finite] = np.iinfo(np.int64).min  # NaT
    values = us.view("M8[us]")
    if not utc:
        return values
    return pd.arrays.DatetimeArray._simple_new(values, dtype=pd.DatetimeTZDtype("us", "UTC")) \
        if hasattr(pd.arrays.DatetimeArray, "_simple_new") else \
        pd.DatetimeIndex(values).tz_localize("UTC").array


# ---------------------------------------------------------------------------------- start time

def _parse_local(text: str | None) -> datetime | None:
    """A start time as Neware writes it (local time, no zone): a naive datetime, or None."""
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y.%m.%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _iso(seconds: float, utc: bool) -> str:
    stamp = pd.Timestamp(round(seconds * 1e6), unit="us").round("ms")
    if utc:
        stamp = stamp.tz_localize("UTC")
    return stamp.isoformat(timespec="milliseconds")


def _start_time(data: pd.DataFrame, cols: dict, meta: dict, stated, local_clock: bool) -> None:
    """Set ``meta["start_time"]`` (the instant time_s counts from), and the UTC offset where
    the file states its start in local time as well as in epoch seconds (see module docstring).

    ``stated``: (text, is_utc) of the start time the file's header states, or None.
    """
    text, stated_utc = stated if stated else (None, False)
    if text:
        meta["start_time_stated"] = text
    unix = cols.get("unix_time_s")
    n = len(data)
    warn = meta.setdefault("warnings", [])
    if n and unix is not None and np.isfinite(unix[0]):
        start_s = float(unix[0]) - float(data["time_s"].iloc[0])
        if local_clock:
            meta["start_time"] = _iso(start_s, utc=False)
            warn.append(_NO_OFFSET)
        else:
            meta["start_time"] = _iso(start_s, utc=True)
            local = None if stated_utc else _parse_local(text)
            if local is not None:
                local_s = (local - datetime(1970, 1, 1)).total_seconds()
                offset = round((local_s - start_s) / 900) * 900
                if abs(local_s - start_s - offset) <= 300 and abs(offset) <= 14 * 3600:
                    meta["utc_offset"] = _offset_text(offset)
                else:
                    warn.append(f"the start time the file states ({text}, local time) is not a "
                                "whole UTC offset away from its records' UTC time stamps: "
                                "UTC offset unknown")
    elif text:
        local = None if stated_utc else _parse_local(text)
        if stated_utc:
            meta["start_time"] = text
        elif local is not None:
            meta["start_time"] = local.isoformat()
            warn.append("the start time is the BTS computer's local time as the file states it "
                        "(no time zone): without records, no UTC offset can be derived")
    if not warn:
        del meta["warnings"]


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    minutes = abs(int(seconds)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# ---------------------------------------------------------------------------------- checks, meta

_NDA29_RECORD = 86


def _check_nda(path: Path) -> tuple[int, int]:
    """Check a .nda for truncation before fastnda decodes it.

    Returns the file's version and the number of record-sized slots of its data section (0
    where unknown). BTS 7 (version 29) files store their own length at byte 72 (and again at
    80); BTS 9 (version 130) files hold a table of (offset, length) of their sections, the data
    section starting at byte 1024 and followed by a footer whose first byte is 0x81; older
    versions state where their data section begins and how long it is at byte 64. A file
    shorter than its header says, or whose data section does not end where the header says, is
    truncated or damaged.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(1024)
        if len(head) < 15:
            raise CorruptFileError(f"only {size} bytes: too short for a Neware .nda header", path)
        version, slots = int(head[14]), 0
        if version == 29:
            if len(head) < 88:
                raise CorruptFileError(f"only {size} bytes: the .nda header is truncated", path)
            stated, again = struct.unpack("<QQ", head[72:88])
            if stated == again and size < stated:
                raise CorruptFileError(f"truncated: the file has {size} bytes, its header says "
                                       f"{stated}{_COPY_AGAIN}", path)
            slots = (size - _nda29_data_start(path, size)) // _NDA29_RECORD
        elif version in (129, 130):
            if len(head) < 1024 or size <= 1024:
                raise CorruptFileError(f"only {size} bytes: the .nda holds no data records", path)
            end, data_len = 0, None
            for pos in [18 + 16 * k for k in range(15)] + [359, 375]:
                offset, length = struct.unpack("<QQ", head[pos:pos + 16])
                if 1024 <= offset and offset + length < 1 << 40:
                    end = max(end, offset + length)
                    if offset == 1024:
                        data_len = length
            if size < end:
                raise CorruptFileError(f"truncated: the file has {size} bytes, its header says "
                                       f"{end}{_COPY_AGAIN}", path)
            if data_len is not None:
                fh.seek(1024 + data_len)
                if fh.read(1) != b"\x81":
                    raise CorruptFileError("damaged: the data section does not end where the "
                                           "header says" + _COPY_AGAIN, path)
                record_len = 88
                if head[1024:1025] == b"\x55":
                    fh.seek(1026)
                    nxt = fh.read(data_len).find(head[1024:1026])
                    record_len = nxt + 2 if nxt > 0 else 0
                slots = data_len // record_len if record_len else 0
        elif 1 <= version < 29:
            if len(head) < 72:
                raise CorruptFileError(f"only {size} bytes: the .nda header is truncated", path)
            begin, length = struct.unpack("<II", head[64:72])
            if begin and size < begin + length:
                raise CorruptFileError(f"truncated: the file has {size} bytes, its header says "
                                       f"{begin + length}{_COPY_AGAIN}", path)
            record = _NDA_RECORD_BYTES.get(version)
            if begin and not length and record and (size - begin) % record:
                # the data section runs to the end of the file: it must end with a whole record
                return version, -1
    return version, slots


#: record bytes of the NDA versions whose header may leave the data section's length open
#: (fastnda's record structs)
_NDA_RECORD_BYTES = {1: 38, 2: 39, 3: 43, 4: 43, 5: 59, 6: 59, 7: 59, 8: 59, 9: 60, 10: 64,
                     11: 69, 12: 69, 13: 69, 14: 86, 15: 69, 16: 86, 17: 86, 18: 69, 19: 68,
                     20: 86, 22: 86, 23: 86, 24: 86, 25: 70, 27: 70}


def _nda29_data_start(path: Path, size: int) -> int:
    """Offset of the first record of a version 29 .nda (where fastnda starts reading: the
    record of index 1), or CorruptFileError when there is none."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = data.find(b"\x55\x00\x01\x00\x00\x00")
    if pos == -1:
        raise CorruptFileError("no data records found after the .nda header; the file is "
                               "damaged or truncated", path)
    return pos


def _nda_metadata(path: Path, meta: dict):
    """Versions, active mass and remarks from the .nda header (fastnda's read_nda_metadata);
    returns (stated start time, whether it is UTC) or None."""
    from fastnda.nda_meta import read_nda_metadata

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            md = read_nda_metadata(path)
    except Exception:  # metadata is a nicety: a damaged header part must not stop the data
        return None
    for key in ("server_version", "client_version", "bts_version"):
        if md.get(key):
            meta[key] = str(md[key])
    mass_mg = md.get("active_mass_mg")
    if isinstance(mass_mg, (int, float)) and np.isfinite(mass_mg) and 0 < mass_mg < 1e6:
        meta["active_mass_g"] = float(mass_mg) / 1000.0
    if md.get("remarks"):
        meta["comments"] = str(md["remarks"])
    start = md.get("start_time")
    if not start:
        return None
    start = str(start)
    return start, start.endswith("+00:00")


def _ndax_info(xml: dict, meta: dict):
    """Barcode, channel, versions and remarks from the XML files of an .ndax; returns
    (TestInfo's start time, False: it is local time) or None."""
    stated = None
    test = _find(xml.get("TestInfo.xml"), "config/TestInfo")
    if test is not None:
        a = test.attrib
        if a.get("Barcode"):
            meta["barcode"] = a["Barcode"]
        ids = [a.get(k) for k in ("DevID", "UnitID", "ChlID")]
        if all(ids):
            meta["channel"] = "-".join(ids)
            try:
                meta["device_id"], meta["unit_id"], meta["channel_id"] = (int(i) for i in ids)
            except ValueError:
                pass
        if a.get("TestID"):
            meta["test_id"] = a["TestID"]
        if a.get("StartTime"):
            stated = (a["StartTime"], False)
        if a.get("StepName"):
            meta["schedule"] = a["StepName"]
    ver = _find(xml.get("VersionInfo.xml"), "config/ZwjVersion")
    if ver is not None:
        for key, attr in (("server_version", "SvrVer"), ("client_version", "CurrClientVer"),
                          ("control_unit_version", "ZwjVersion")):
            if ver.attrib.get(attr):
                meta[key] = ver.attrib[attr]
    head = _find(xml.get("Step.xml"), "config/Head_Info")
    if head is not None:
        remark = head.find("Remark")
        if remark is not None and remark.attrib.get("Value"):
            meta["comments"] = remark.attrib["Value"]
    return stated


def _find(root, where):
    return None if root is None else root.find(where)


FORMATS = [
    ("neware-nda", sniff_nda, read_nda),
    ("neware-ndax", sniff_ndax, read_ndax),
]

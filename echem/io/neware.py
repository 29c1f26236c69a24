"""Neware BTS binary files: ``.nda`` (BTS 7 and 9) and ``.ndax`` (BTS 8, a zip archive).

The records are decoded by NewareNDA (:func:`_raw_frame`); this module recognises the files by
content, checks them for truncation before NewareNDA sees them, turns NewareNDA's errors into the
project's typed errors, and converts NewareNDA's DataFrame to the common schema (:func:`to_schema`).

NewareNDA columns and where they go (units as NewareNDA gives them):

=========================== =====================================================================
NewareNDA                   common schema
=========================== =====================================================================
``Time`` (s)                ``time_s``: ``Time`` is the time since the start of the *step* in
                            BTS 7/8 files and the time since the start of the *test* in BTS 9
                            files; step time is turned into test time (see :func:`total_time_s`).
                            ``Time`` itself is kept.
``Voltage`` (V)             ``voltage_V``
``Current(mA)``             ``current_mA`` (Neware's sign already is: positive while charging)
``Charge_Capacity(mAh)``,   ``capacity_mAh`` = abs(charge) + abs(discharge) capacity of the step
``Discharge_Capacity(mAh)`` (BTS 9.0 writes discharge capacity as negative numbers); both kept
``Cycle``                   ``cycle`` (NewareNDA's cycle number, "charge first", from 1)
``Step``                    ``step``: running index, new at every change of NewareNDA's ``Step``
``Status``                  ``step_type`` via :data:`STATUS_TO_STEP_TYPE`; ``Status`` kept
``Index``, ``Step_Index``,  kept with their names after the schema columns
``*_Energy(mWh)``,
``Timestamp``, ``T1``, ...
=========================== =====================================================================
"""
from __future__ import annotations

import logging
import mmap
import struct
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from echem.errors import CorruptFileError, EchemError, UnsupportedFileError
from echem.schema import STEP_TYPES, Measurement, finalize, step_type_dtype

#: Neware's step status (as NewareNDA names it) -> the schema's ``step_type``. A status the
#: schema has no exact kind for (constant resistance, CPCV, pulse, simulation, pause, control
#: and cycle marker rows) maps to "other"; the ``Status`` column keeps Neware's own name.
STATUS_TO_STEP_TYPE: dict[str, str] = {
    "Rest": "rest",
    "CC_Chg": "cc_charge",
    "CC_DChg": "cc_discharge",
    "CV_Chg": "cv_charge",
    "CV_DChg": "cv_discharge",
    "CCCV_Chg": "cccv_charge",
    "CCCV_DChg": "cccv_discharge",
    "CP_Chg": "cp_charge",
    "CP_DChg": "cp_discharge",
    "OCV": "ocv",
    "CR_DChg": "other",
    "CPCV_Chg": "other",
    "CPCV_DChg": "other",
    "Pulse": "other",
    "SIM": "other",
    "Pause": "other",
    "Control": "other",
    "Cycle": "other",
}

#: members a BTS 8 .ndax archive holds
NDAX_MEMBERS = frozenset({"data.ndc", "Step.xml", "TestInfo.xml", "VersionInfo.xml",
                          "EditStep.xml", "data_step.ndc", "data_runInfo.ndc"})

#: NewareNDA columns that become schema columns under another name and are not kept
_MAPPED = ("Voltage", "Current(mA)", "Cycle", "Step")

_NDA29_RECORD = 86
_DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

_COPY_AGAIN = "; copy the file again from the BTS computer (after the test has finished)"


# ---------------------------------------------------------------------------------- sniffing

def sniff_nda(head: bytes, path: Path) -> bool:
    """A BTS 7/9 .nda file starts with the ASCII magic ``NEWARE``."""
    return head.startswith(b"NEWARE")


def sniff_ndax(head: bytes, path: Path) -> bool:
    """A BTS 8 .ndax is a zip archive holding ``data.ndc`` and Neware's XML files.

    Another zip (an XLSX, any other archive) is not one. A damaged ndax whose central directory
    cannot be read is still recognised by the member names in its first local headers, so that
    it ends as a CorruptFileError rather than as an unknown format.
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


def read_ndax(path: str | Path) -> Measurement:
    """Read a BTS 8 ``.ndax`` archive into a Measurement (see the module docstring for columns)."""
    return _read(Path(path), "neware-ndax")


def _read(path: Path, fmt: str) -> Measurement:
    meta: dict = {"instrument": "Neware BTS", "format": fmt, "source": str(path)}
    slots = 0
    if fmt == "neware-nda":
        version, slots = _check_nda(path)
        meta["nda_version"] = version
    else:
        meta.update(_ndax_info(path))
    frame = _raw_frame(path, fmt, meta)  # a DataFrame, or the fast reader's dict of its columns
    n_rows = len(frame) if isinstance(frame, pd.DataFrame) else len(frame["Index"])
    if n_rows == 0:
        raise CorruptFileError("NewareNDA found no data records in it; the file may be damaged "
                               "or the test may have recorded nothing", path)
    if n_rows < 0.1 * slots:  # allows up to 9 auxiliary records per data record
        raise CorruptFileError(f"damaged: only {n_rows} of the {slots} records of its data "
                               "section could be decoded", path)
    if fmt == "neware-nda":
        meta.update(_nda_metadata(path))
    try:
        data = to_schema(frame, meta)
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(f"NewareNDA's output could not be put in the common schema: "
                               f"{type(exc).__name__}: {exc}", path) from exc
    if "start_time" not in meta and "Timestamp" in data and pd.notna(data["Timestamp"].iloc[0]):
        # the clock time of the first record, less the test time it was taken at
        first = data.iloc[0]
        start = pd.Timestamp(first["Timestamp"]) - pd.Timedelta(seconds=float(first["time_s"]))
        meta["start_time"] = start.round("ms").isoformat()
    return Measurement(data=data, meta=meta)


def _raw_frame(path: Path, fmt: str, meta: dict) -> pd.DataFrame | dict:
    """The DataFrame ``NewareNDA.read(path)`` returns, and ``meta["reader"]`` naming who made it.

    Record layouts that :mod:`echem.io.neware_fast` knows are decoded there with numpy (equal to
    NewareNDA's output, column by column, on every corpus file) and come as that frame's columns
    (a dict name -> array, see ``neware_fast.read_columns_layout``), which :func:`to_schema`
    takes without building the frame; any other layout goes to NewareNDA itself.
    """
    import NewareNDA

    from echem.io import neware_fast

    try:
        frame, layout = neware_fast.read_columns_layout(path)
    except neware_fast.UnknownLayout as exc:
        meta["reader"] = f"NewareNDA {NewareNDA.__version__.lstrip('v')}"
        meta["fast_path_declined"] = str(exc)
        return _newarenda_read(path, fmt, meta)
    meta["reader"] = (f"echem.io.neware_fast ({neware_fast.LAYOUT_NAMES.get(layout, layout)}; "
                      f"equal to NewareNDA {NewareNDA.__version__.lstrip('v')})")
    return frame


def _newarenda_read(path: Path, fmt: str, meta: dict) -> pd.DataFrame:
    """``NewareNDA.read`` with its default arguments, chosen by content rather than extension.

    NewareNDA's log records of level WARNING and above and Python warnings go to
    ``meta["warnings"]`` instead of the terminal; its errors become the project's typed errors.
    ndax archives are extracted by NewareNDA into a temporary folder of the system, never next
    to the input.
    """
    from NewareNDA import NewareNDA as nda_module

    logger = logging.getLogger("newarenda")
    handler = _ListHandler()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if fmt == "neware-nda":
                frame = nda_module.read_nda(str(path), True, "chg")
            else:
                frame = nda_module.read_ndax(str(path), True, "chg")
    except NotImplementedError as exc:
        raise UnsupportedFileError(f"a Neware {fmt[7:]} layout NewareNDA does not read yet "
                                   f"({exc}); export it from BTSDA as CSV/XLSX instead",
                                   path) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise CorruptFileError(f"the .ndax zip archive is damaged or truncated ({exc})"
                               + _COPY_AGAIN, path) from exc
    except EchemError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # struct.error, KeyError, IndexError, ValueError, EOFError, ...
        raise CorruptFileError(f"NewareNDA could not decode the records ({type(exc).__name__}: "
                               f"{exc}); the file is damaged or truncated", path) from exc
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    # deprecations concern NewareNDA's code, not the file: left out
    messages = handler.messages + [
        str(w.message) for w in caught
        if not issubclass(w.category, _DEPRECATIONS)]
    if messages:
        meta.setdefault("warnings", []).extend(messages)
    return frame


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(f"NewareNDA: {record.getMessage()}")


# ---------------------------------------------------------------------------------- schema

def total_time_s(step_time_s: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Seconds since the start of the test from Neware's ``Time`` column.

    When ``Time`` restarts at a step change anywhere in the file (BTS 7/8: time since the start of
    the step), every step is shifted by the sum of the durations (last ``Time``) of the steps before
    it; a new step's first record is at ``Time`` 0, the instant the step before ended. Otherwise
    (BTS 9: time since the start of the test) ``Time`` is returned as it is. float64 seconds.
    """
    t = np.asarray(step_time_s, dtype=np.float64)
    starts = _new_step_rows(np.asarray(step))
    offsets = _step_offsets_s(t, starts)
    if offsets is None:
        return t
    return t + np.repeat(offsets, _run_lengths(starts, t.size))


def _new_step_rows(step: np.ndarray) -> np.ndarray:
    """Rows whose ``step`` differs from the row before (row 0 not included)."""
    return np.flatnonzero(step[1:] != step[:-1]) + 1


def _run_lengths(starts: np.ndarray, n: int) -> np.ndarray:
    """Rows of each run of ``n`` rows cut before the rows ``starts`` (increasing, none is 0)."""
    return np.diff(starts, prepend=0, append=n) if n else np.zeros(0, dtype=np.intp)


def _step_offsets_s(t: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Per step, the sum of the durations (s, float64) of the steps before it; None when ``t``
    never restarts at a step change (see :func:`total_time_s`). ``starts``: the step changes.

    The durations are added in order from 0.0: the same float64 additions as a cumsum over every
    row that is 0 except at the step changes.
    """
    if t.size == 0 or not np.any(t[starts] < t[starts - 1]):
        return None
    return np.cumsum(np.concatenate(([0.0], t[starts - 1])))


def _category_codes(status) -> tuple[np.ndarray, np.ndarray]:
    """Distinct status names and, per row, the index of its name (-1 where missing; int8 or
    wider, as the categorical's codes)."""
    if isinstance(status, pd.Series):
        cat = status if isinstance(status.dtype, pd.CategoricalDtype) else status.astype("category")
        cat = cat.array
    else:
        cat = status if isinstance(status, pd.Categorical) else pd.Categorical(status)
    return np.asarray(cat.categories.astype(object)), np.asarray(cat.codes)


def step_types(status) -> np.ndarray:
    """The schema's ``step_type`` for each Neware status name (unknown names -> "other")."""
    return np.array([_step_type(x) for x in status], dtype=object)


def _step_type(name) -> str:
    try:
        return STATUS_TO_STEP_TYPE.get(name, "other")
    except TypeError:  # unhashable: no status name
        return "other"


def _runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal values of ``codes``: (rows where a run starts after row 0, run values)."""
    starts = _new_step_rows(codes)
    return starts, codes[np.concatenate(([0], starts))] if codes.size else codes


def _in_order_of_first_run(run_codes: np.ndarray) -> np.ndarray:
    """The distinct codes >= 0 of the runs' codes, in the order of the run each first occurs in."""
    run_codes = run_codes[run_codes >= 0]
    present, first = np.unique(run_codes, return_index=True)
    return present[np.argsort(first)]


def _column(frame, name: str) -> np.ndarray:
    """Column ``name`` of a DataFrame or of a dict of arrays, as a numpy array."""
    values = frame[name]
    return values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)


def _put(out: np.ndarray, frame, name: str) -> None:
    """``out[:] =`` column ``name``: a DataFrame's converted as ``Series.to_numpy(out.dtype)``
    does, a dict's array cast only where no value can change (else TypeError)."""
    values = frame[name]
    if isinstance(values, pd.Series):
        out[:] = values.to_numpy(dtype=out.dtype)
    else:
        np.copyto(out, values, casting="safe")


def to_schema(frame: pd.DataFrame | dict, meta: dict | None = None) -> pd.DataFrame:
    """Convert the DataFrame ``NewareNDA.read`` returns to the common schema.

    ``frame`` may also be that frame's columns as a dict name -> array (as
    ``neware_fast.read_columns_layout`` gives them); its arrays may end up in the result
    uncopied, so the caller must not change them afterwards.

    Units: time_s in s, voltage_V in V, current_mA in mA (positive while charging), capacity_mAh
    in mAh since the start of the step. NewareNDA's other columns stay after the schema ones, with
    their names (see the module docstring). When ``meta`` is given, ``meta["techniques"]`` gets
    the Neware statuses in the order they first occur, and a note is added to
    ``meta["warnings"]`` if the test time is not non-decreasing.
    """
    step_raw = _column(frame, "Step")
    n = step_raw.size
    starts = _new_step_rows(step_raw)
    # The new columns are rows of one block per dtype, written in place: one large allocation
    # each instead of one per column and its temporaries (fewer fresh memory pages to fault in).
    floats = np.empty((4, n))  # time_s, voltage_V, current_mA, capacity_mAh
    ints = np.empty((2, n), dtype=np.int64)  # cycle, step
    time_s, voltage_V, current_mA, capacity_mAh = floats
    cycle, step = ints
    # running step: 1 + the number of Step changes up to the row
    step[:] = 0
    step[0:1] = 1
    step[starts] = 1
    np.cumsum(step, out=step)
    _put(time_s, frame, "Time")
    offsets = _step_offsets_s(time_s, starts)
    if offsets is not None:  # Time + the offset of the row's step (the running step indexes)
        offset = current_mA  # as scratch
        np.take(np.concatenate(([np.nan], offsets)), step, out=offset, mode="clip")  # unbuffered
        time_s += offset
    _put(capacity_mAh, frame, "Charge_Capacity(mAh)")
    _put(current_mA, frame, "Discharge_Capacity(mAh)")  # as scratch
    np.abs(capacity_mAh, out=capacity_mAh)
    capacity_mAh += np.abs(current_mA, out=current_mA)  # |charge| + |discharge|
    _put(current_mA, frame, "Current(mA)")
    _put(voltage_V, frame, "Voltage")
    _put(cycle, frame, "Cycle")
    names, codes = _category_codes(frame["Status"])
    kinds = [_step_type(x) for x in names] + ["other"]  # code -1 (missing status) -> "other"
    kind_codes = np.array([STEP_TYPES.index(k) for k in kinds], dtype=np.int8)
    status_starts, status_runs = _runs(codes)  # step_type is set run by run of Status
    step_type = np.repeat(kind_codes[status_runs], _run_lengths(status_starts, n))
    out = {
        "time_s": time_s,
        "voltage_V": voltage_V,
        "current_mA": current_mA,
        "capacity_mAh": capacity_mAh,
        "cycle": cycle,
        "step": step,
        "step_type": pd.Categorical.from_codes(step_type, dtype=step_type_dtype()),
    }
    for name in (frame.columns if isinstance(frame, pd.DataFrame) else frame):
        if name in _MAPPED or name in out:  # NewareNDA's other columns, after the schema ones
            continue
        values = frame[name]
        if isinstance(values, pd.Series):
            values = values.array if not isinstance(values.dtype, np.dtype) else values.to_numpy()
        out[name] = values
    if meta is not None:
        meta["techniques"] = [str(names[c]) for c in _in_order_of_first_run(status_runs)]
        if time_s.size > 1 and np.any(time_s[1:] < time_s[:-1]):
            meta.setdefault("warnings", []).append(
                "time_s decreases somewhere: the file's records are out of time order")
    return finalize(out)


# ---------------------------------------------------------------------------------- checks, meta

def _check_nda(path: Path) -> tuple[int, int]:
    """Check a .nda for truncation before NewareNDA decodes it.

    Returns the file's version (29: BTS 7, 130: BTS 9) and the number of record-sized slots of
    its data section (0 where unknown).

    BTS 7 (version 29) files store their own length at byte 72 (and again at 80); BTS 9 (version
    130) files hold a table of (offset, length) of their sections, the data section starting at
    byte 1024 and followed by a footer whose first byte is 0x81. A file shorter than its header
    says, or whose data section does not end where the header says, is truncated or damaged.
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
        elif version == 130:
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
                record_len = 88  # as NewareNDA sizes the records
                if head[1024:1025] == b"\x55":
                    fh.seek(1026)
                    nxt = fh.read(data_len).find(head[1024:1026])
                    record_len = nxt + 2 if nxt > 0 else 0
                slots = data_len // record_len if record_len else 0
    return version, slots


def _nda29_data_start(path: Path, size: int) -> int:
    """Offset of the first record of a version 29 .nda, found as NewareNDA finds it.

    NewareNDA's own search loops for ever when no valid record follows the marker; this one
    stops and raises CorruptFileError.
    """
    marker = b"\x00\x00\x00\x00\x55\x00"
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = data.find(marker)
        while pos != -1:
            rec = pos + 4
            if rec + _NDA29_RECORD >= size:
                return rec
            if data[rec + _NDA29_RECORD] == 0x55 and data[rec + 12] != 0:
                return rec
            pos = data.find(marker, pos + 4)
    raise CorruptFileError("no data records found after the .nda header; the file is damaged "
                           "or truncated", path)


def _nda_metadata(path: Path) -> dict:
    """What NewareNDA's metadata reader finds in a .nda header (versions, active mass, remarks)."""
    from NewareNDA import NewareNDA as nda_module

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            md = nda_module.read_nda_metadata(path)
    except Exception:  # metadata is a nicety: a damaged footer must not stop the data
        return {}
    meta = {}
    for key in ("server_version", "client_version", "bts_version"):
        if md.get(key):
            meta[key] = str(md[key])
    mass_mg = md.get("active_mass_mg")
    if isinstance(mass_mg, (int, float)) and np.isfinite(mass_mg) and 0 < mass_mg < 1e6:
        meta["active_mass_g"] = float(mass_mg) / 1000.0
    if md.get("remarks"):
        meta["comments"] = str(md["remarks"])
    return meta


def _ndax_info(path: Path) -> dict:
    """Barcode, channel, start time, versions and remarks from the XML files of an .ndax."""
    meta: dict = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "data.ndc" not in names:
                raise UnsupportedFileError("a zip archive with Neware files but no data.ndc: not "
                                           "an .ndax NewareNDA can read", path)
            xml = {n: _parse_xml(zf.read(n)) for n in names
                   if n in ("TestInfo.xml", "VersionInfo.xml", "Step.xml")}
    except EchemError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CorruptFileError(f"the .ndax zip archive is damaged or truncated ({exc})"
                               + _COPY_AGAIN, path) from exc
    test = _find(xml.get("TestInfo.xml"), "config/TestInfo")
    if test is not None:
        a = test.attrib
        if a.get("Barcode"):
            meta["barcode"] = a["Barcode"]
        ids = [a.get(k) for k in ("DevID", "UnitID", "ChlID")]
        if all(ids):
            meta["channel"] = "-".join(ids)
            meta["device_id"], meta["unit_id"], meta["channel_id"] = (int(i) for i in ids)
        if a.get("TestID"):
            meta["test_id"] = a["TestID"]
        if a.get("StartTime"):
            meta["start_time"] = a["StartTime"].replace(" ", "T")
        if a.get("EndTime"):
            meta["end_time"] = a["EndTime"].replace(" ", "T")
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
    return meta


def _parse_xml(raw: bytes):
    """Parse one of Neware's XML files (declared GB2312); None when it is not readable XML."""
    try:
        return ET.fromstring(raw.decode("gb18030", errors="replace"))
    except ET.ParseError:
        return None


def _find(root, where):
    return None if root is None else root.find(where)


FORMATS = [
    ("neware-nda", sniff_nda, read_nda),
    ("neware-ndax", sniff_ndax, read_ndax),
]

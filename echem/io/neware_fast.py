"""Vectorized decoder of Neware ``.ndax`` archives (BTS 8) in the ndc layouts 14, 16 and 17.

:func:`read_raw` returns the record columns that fastnda's ``fastnda.ndax.read_ndax`` returns for
the same archive (the columns before ``fastnda.read`` numbers cycles and adds the test time):
same rows (data.ndc records whose bit is set in their page's bitmask), same names, and the same
values to float32 rounding (float64 sums may differ in the last bits: fastnda sums in polars,
this module in numpy). It decodes the pages with numpy strided views instead of polars frames and
joins runInfo, step and aux members by array indexing; no polars is imported.

Members (ndc version, file type) handled: ``data.ndc`` (14|16|17, 1), ``data_runInfo.ndc``
(14|16|17, 18), ``data_step.ndc`` (14|16|17, 7) and aux members (14|17, 5: one float per record;
16, 5: voltage and temperature). Anything else (other versions, a first record without runInfo,
a step without a step entry, no records) raises :class:`UnknownLayout`, and the caller uses
fastnda.

Units are fastnda's: ``voltage_V`` V, ``current_mA`` mA, ``step_time_s`` s, ``unix_time_s`` s
since the epoch (UTC: the runInfo records hold epoch seconds), capacities mAh, energies mWh.
The archive's members are inflated into memory with the sizes checked by the caller
(``echem.io.neware.check_ndax_archive``); nothing is extracted to disk.
"""
from __future__ import annotations

import re
import zipfile
import zlib

import numpy as np

_PAGE = 4096
_DATA_START = 132  # first record byte of a page
_ROOM = _PAGE - _DATA_START - 1  # bytes of a page that can hold records


class UnknownLayout(Exception):
    """The archive's layout is not one this decoder handles; use fastnda instead."""


def _fields(names, formats, offsets, itemsize) -> np.dtype:
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


# data.ndc: (voltage, current) float32 pairs
_MAIN = _fields(["voltage", "current"], ["<f4", "<f4"], [0, 4], 8)
# runInfo: offsets as fastnda's read_ndc_runinfo_14/16/17 (uts_ms: int16 in 14, uint16 after)
_RUNINFO_NAMES = ["step_time", "cc", "dc", "ce", "de", "dt", "unix", "step_count", "index", "uts_ms"]
_RUNINFO_OFFSETS = [0, 5, 9, 13, 17, 29, 33, 37, 41, 45]
_RUNINFO = {
    14: _fields(_RUNINFO_NAMES, ["<u4", "<f4", "<f4", "<f4", "<f4", "<i4", "<u4", "<u4", "<u4", "<i2"],
                _RUNINFO_OFFSETS, 55),
    16: _fields(_RUNINFO_NAMES, ["<u4", "<f4", "<f4", "<f4", "<f4", "<i4", "<u4", "<u4", "<u4", "<u2"],
                _RUNINFO_OFFSETS, 100),
}
_RUNINFO[17] = _RUNINFO[16]
# step: as fastnda's read_ndc_step_6 (ndc 14) and read_ndc_step_16 (ndc 16, 17)
_STEP = {14: _fields(["cycle", "step_index", "step_type"], ["<u4", "<u4", "u1"], [0, 4, 24], 37),
         16: _fields(["cycle", "step_index", "step_type"], ["<u4", "<u4", "u1"], [0, 4, 24], 100)}
_STEP[17] = _STEP[16]
_AUX = _fields(["value"], ["<f4"], [0], 4)
# ndc 16 aux records (first record byte 0x65): voltage in 0.1 mV, temperature in 0.1 degC
_AUX16 = _fields(["voltage", "temperature"], ["<f4", "<i2"], [1, 5], 7)
_AUX_VERSIONS = (14, 16, 17)

#: Neware aux channel type (TestInfo.xml ``ChlType``) -> fastnda's column suffix (its AUX_CHL_MAP)
AUX_CHL_MAP: dict[int, str] = {
    102: "voltage_V", 103: "temperature_degC", 104: "current_mA", 105: "voltage_V",
    106: "temperature_degC", 107: "current_mA", 108: "clamp_temperature_degC",
    109: "clamp_weight_kg", 110: "clamp_air_pressure_kPa", 111: "leader_temperature_degC",
    112: "red_temperature_degC", 113: "humidity", 114: "thickness_mm", 115: "flow", 116: "voc",
    117: "pressure_bar", 118: "force_N", 335: "temperature_setpoint_degC", 345: "humidity_%",
}
#: aux channel types stored in A, given in mA (fastnda's AUX_CHL_SCALE_MAP)
AUX_CHL_SCALE: dict[int, int] = {104: 1000, 107: 1000}

_AUX_NAME = re.compile(r"data_AUX_(\d+)_(\d+)_(\d+)\.ndc")
_AUX_NAME_SHORT = re.compile(r".*_(\d+)\.ndc")


# ---------------------------------------------------------------------------------------------
# public API

def read_raw(zf: zipfile.ZipFile, fh, aux_dicts: list[dict] | None) -> dict:
    """The record columns of fastnda's ``read_ndax`` for the open archive ``zf`` (on file ``fh``).

    ``aux_dicts``: the attribute dicts of TestInfo.xml's aux entries (values that are digits as
    int), in file order, as fastnda matches them to the aux members; None when TestInfo.xml has
    none or cannot be read. Returns a dict name -> numpy array; raises UnknownLayout.
    """
    names = zf.namelist()
    needed = ("data.ndc", "data_runInfo.ndc", "data_step.ndc")
    if not all(k in names for k in needed):
        raise UnknownLayout("an ndax without data, runInfo and step members")
    data, run, step = (_member(fh, zf, k) for k in needed)
    version = _version(data, "data.ndc", 1, (14, 16, 17))
    _version(run, "data_runInfo.ndc", 18, (version,))
    _version(step, "data_step.ndc", 7, (version,))
    cols = _records(data, run, step, version)
    for name, values in _aux_columns(zf, fh, names, aux_dicts, cols["index"]):
        cols[name] = values
    return cols


def aux_members(names: list[str]) -> list[str]:
    """The aux members of an archive, in the order fastnda matches them to TestInfo's entries."""
    found = []
    for f in names:
        m = _AUX_NAME.search(f)
        if m:
            found.append((f, [int(g) for g in m.groups()]))
            continue
        m = _AUX_NAME_SHORT.search(f)
        if m:
            found.append((f, [int(m.group(1)), 0, 0]))
    found.sort(key=lambda x: x[1])
    return [f for f, _ in found]


# ---------------------------------------------------------------------------------------------
# pages

def _version(blob: bytes, name: str, filetype: int, versions) -> int:
    if len(blob) < 3 or blob[0] != filetype or blob[2] not in versions:
        kind = (blob[0], blob[2]) if len(blob) >= 3 else None
        raise UnknownLayout(f"{name}: (file type, ndc version) {kind} not handled")
    if len(blob) % _PAGE or len(blob) < _PAGE:
        raise UnknownLayout(f"{name} is not whole pages")
    return blob[2]


def _pages(blob: bytes, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(records of every slot as a (pages, slots) strided view of ``blob``; bool per slot: its
    bit is set in the page's bitmask).

    As fastnda's ``bytes_to_df``: the first page is the file header, each page holds
    ``(4096 - 132 - 1) // itemsize`` slots from byte 132 and a little-endian bitmask from byte 4.
    """
    npages = len(blob) // _PAGE - 1
    per_page = _ROOM // dtype.itemsize
    if npages == 0:
        return np.zeros((0, per_page), dtype=dtype), np.zeros((0, per_page), dtype=bool)
    records = np.ndarray((npages, per_page), dtype=dtype, buffer=blob, offset=_PAGE + _DATA_START,
                         strides=(_PAGE, dtype.itemsize))
    raw = np.ndarray((npages, (per_page + 7) // 8), dtype=np.uint8, buffer=blob,
                     offset=_PAGE + 4, strides=(_PAGE, 1))
    mask = np.unpackbits(raw, axis=1, bitorder="little")[:, :per_page].view(bool)
    return records, mask


def _select(records: np.ndarray, mask: np.ndarray, name: str, prefix: int | None) -> np.ndarray:
    """Field ``name`` of the set slots, in slot order (a copy). ``prefix``: when the set slots
    are the first ``prefix`` slots, a slice replaces the boolean selection."""
    field = records[name]
    if prefix is not None:
        return field.reshape(-1)[:prefix].copy() if field.flags.c_contiguous else \
            np.ascontiguousarray(field).reshape(-1)[:prefix]
    return field[mask]


def _prefix(mask: np.ndarray) -> int | None:
    """The number of set slots when they are exactly the first ones, else None."""
    flat = mask.reshape(-1)
    k = int(np.count_nonzero(flat))
    return k if flat[:k].all() else None


def _member(fh, zf: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, inflated in memory up to its declared size (checked by the caller)."""
    info = zf.getinfo(name)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
        raise UnknownLayout(f"{name}: compression {info.compress_type} not handled")
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise UnknownLayout(f"{name}: bad local header")
    name_len = int.from_bytes(head[26:28], "little")
    extra_len = int.from_bytes(head[28:30], "little")
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    raw = fh.read(info.compress_size)
    if info.compress_type == zipfile.ZIP_STORED:
        data = raw
    else:
        inflater = _inflater()
        try:
            data = inflater.decompress(raw, info.file_size + 1)  # never beyond the declared size
        except (zlib.error, _isal_error()) as exc:
            raise UnknownLayout(f"{name}: {exc}") from None
    if len(data) != info.file_size or _crc32(data) != info.CRC:
        raise UnknownLayout(f"{name} fails its size or CRC check")
    return data


def _inflater():
    """A raw-deflate decompressor: isal's (fastnda's dependency, faster) where installed."""
    try:
        from isal import isal_zlib
        return isal_zlib.decompressobj(-15)
    except ImportError:  # pragma: no cover - isal comes with fastnda
        return zlib.decompressobj(-15)


def _isal_error() -> type:
    try:
        from isal import isal_zlib
        return isal_zlib.error
    except ImportError:  # pragma: no cover
        return zlib.error


def _crc32(data: bytes) -> int:
    try:
        from isal import isal_zlib
        return isal_zlib.crc32(data)
    except ImportError:  # pragma: no cover
        return zlib.crc32(data)


# ---------------------------------------------------------------------------------------------
# records

def _count_changes(values: np.ndarray) -> np.ndarray:
    """fastnda's ``_count_changes``: 1 + the number of value changes up to each row (int64)."""
    change = np.empty(len(values), dtype=bool)
    change[:1] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return np.cumsum(change)


def _records(data: bytes, run: bytes, step: bytes, version: int) -> dict:
    main, used = _pages(data, _MAIN)
    prefix = _prefix(used)
    if prefix is not None:
        index = np.arange(1, prefix + 1, dtype=np.int64)
    else:
        index = np.flatnonzero(used.reshape(-1)) + 1  # slot number + 1, of the set slots
    n = len(index)
    if n == 0:
        raise UnknownLayout("no records")
    voltage = _select(main, used, "voltage", prefix)
    current = _select(main, used, "current", prefix)
    if version == 16:  # 0.1 mV; current already in mA. (polars divides a float32 column by a
        voltage *= np.float32(1 / 10000)  # constant as a product with its float32 reciprocal)
    else:  # current in A
        current *= np.float32(1000)

    runs, r_used = _pages(run, _RUNINFO[version])
    runs = runs[r_used]
    r_step = _count_changes(runs["step_count"])
    r_index = runs["index"].astype(np.int64)
    uniq, first = np.unique(r_index, return_index=True)  # unique(index, keep="first")
    pos = np.searchsorted(index, uniq)
    hit = pos < n
    hit[hit] = index[pos[hit]] == uniq[hit]
    vpos = pos[hit]  # rows holding a runInfo entry, increasing
    sel = first[hit]
    if len(vpos) == 0 or vpos[0] != 0:
        raise UnknownLayout("the first record has no runInfo entry")
    r = runs[sel]
    block_step = r_step[sel]
    lengths = np.diff(np.append(vpos, n))  # rows per block: a runInfo row and the gaps after it

    steps, s_used = _pages(step, _STEP[version])
    steps = steps[s_used]
    if block_step.max() > len(steps):
        raise UnknownLayout("a record's step has no step entry")
    s = steps[block_step - 1]

    caps = []
    for k in ("cc", "dc", "ce", "de"):
        v = np.abs(r[k].astype(np.float32))
        caps.append(v * np.float32(1 / 3600) if version == 16 else v * np.float32(1000))
    step_time = r["step_time"].astype(np.float64) / 1000
    unix = r["unix"] + r["uts_ms"] / 1000
    cols: dict = {"index": index, "voltage_V": voltage, "current_mA": current}
    if len(vpos) == n:  # every record has its runInfo entry
        rep = None
        cols["step_time_s"] = step_time
        cols["unix_time_s"] = unix
        cols["charge_capacity_mAh"], cols["discharge_capacity_mAh"] = caps[0], caps[1]
        cols["charge_energy_mWh"], cols["discharge_energy_mWh"] = caps[2], caps[3]
    else:
        rep = np.repeat(np.arange(len(vpos), dtype=np.int32), lengths)
        # the m-th row after a block's runInfo row: m times the block's dt (fastnda's grouped
        # cumsum of the forward-filled dt), and the sums of dt*I/3600 and dt*I*V/3600 over the
        # block's rows up to it (the runInfo row's own term excluded)
        dt_rows = (r["dt"].astype(np.float64) / 1000)[rep]
        cdt = np.arange(n, dtype=np.float64)
        cdt -= vpos[rep]
        cdt *= dt_rows
        cols["step_time_s"] = step_time[rep] + cdt
        cols["unix_time_s"] = unix[rep] + cdt
        del cdt
        inc = dt_rows
        inc *= current
        inc /= 3600
        inc[vpos] = 0.0
        energy = inc * voltage
        inc = _block_cumsum(inc, vpos, rep)
        energy = _block_cumsum(energy, vpos, rep)
        for i, (name, values) in enumerate((("capacity_mAh", inc), ("energy_mWh", energy))):
            charge, discharge = caps[2 * i][rep].astype(np.float64), caps[2 * i + 1][rep]
            charge += np.maximum(values, 0.0)
            np.minimum(values, 0.0, out=values)
            np.subtract(discharge, values, out=values)
            cols[f"charge_{name}"], cols[f"discharge_{name}"] = charge, values

    def rows(block_values):
        return block_values if rep is None else block_values[rep]

    cols["step_count"] = rows(block_step.astype(np.uint32))
    cols["cycle_count"] = rows((s["cycle"] + 1).astype(np.uint32))
    cols["step_index"] = rows(s["step_index"].astype(np.uint32))
    cols["step_type"] = rows(s["step_type"])
    return cols


def _block_cumsum(values: np.ndarray, starts: np.ndarray, rep: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` (float64, in place) restarting at each row of ``starts``;
    ``rep``: each row's block number."""
    np.cumsum(values, out=values)
    before = np.concatenate(([0.0], values))[starts]  # the sum of the rows before each block
    values -= before[rep]
    return values


def _aux_columns(zf, fh, names, aux_dicts, index):
    """(name, values) of the aux members, as fastnda's read_ndax names and joins them."""
    files = aux_members(names)
    if not files:
        return []
    if aux_dicts is None or len(aux_dicts) != len(files):
        return []  # fastnda: "a different number of aux channels in files and TestInfo.xml"
    out = []
    n = len(index)
    for i, (f, attrs) in enumerate(zip(files, aux_dicts)):
        blob = _member(fh, zf, f)
        version = _version(blob, f, 5, _AUX_VERSIONS)
        aux_id = attrs.get("AuxID", -i)
        if version == 16:  # fastnda's read_ndc_aux_16: named columns, all-zero ones left out
            if len(blob) > _PAGE + _DATA_START and blob[_PAGE + _DATA_START] != 0x65:
                raise UnknownLayout(f"{f}: an ndc 16 aux layout fastnda does not know either")
            records, used = _pages(blob, _AUX16)
            voltage = records["voltage"][used] * np.float32(1 / 10000)
            temperature = records["temperature"][used].astype(np.float32) * np.float32(0.1)
            named = [(f"aux{aux_id}_voltage_V", voltage),
                     (f"aux{aux_id}_temperature_degC", temperature)]
            named = [(name, v) for name, v in named if np.any(v != 0)]
        else:  # fastnda's read_ndc_aux_6: one float, named by TestInfo's channel type
            records, used = _pages(blob, _AUX)
            values = records["value"][used]
            chl = attrs.get("ChlType")
            if chl in AUX_CHL_MAP:
                scale = AUX_CHL_SCALE.get(chl, 1)
                if scale != 1:
                    values = values * np.float32(scale)
                named = [(f"aux{aux_id}_{AUX_CHL_MAP[chl]}", values)]
            else:
                named = [(f"aux{aux_id}_?", values)]
        count = int(np.count_nonzero(used))
        a_index = np.arange(1, count + 1)  # fastnda numbers the set slots, not all slots
        for name, values in named:
            if count == n:  # fastnda joins by position when the lengths agree
                col = values.copy()
            else:
                col = np.full(n, np.nan, dtype=np.float32)
                pos = np.searchsorted(a_index, index)
                ok = pos < len(a_index)
                ok[ok] = a_index[pos[ok]] == index[ok]
                col[ok] = values[pos[ok]]
            out.append((name, col))
    return out

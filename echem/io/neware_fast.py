"""Vectorized reader for Neware ``.nda`` (BTS 7/9) and ``.ndax`` (BTS 8) record data.

:func:`read_frame` returns exactly what ``NewareNDA.read(path)`` (NewareNDA 2026.6.11, default
arguments: software cycle numbers, ``cycle_mode='chg'``) returns - same columns, order, dtypes and
values - but decodes the record blocks with numpy structured dtypes (``np.frombuffer``) instead of
one ``struct.unpack`` per record, and does the scaling, status decoding, step counting, cycle
renumbering, runInfo/step merges, BTS 8 gap interpolation and aux joins as array operations.

Only the record layouts seen in real files are handled (see :data:`LAYOUT_NAMES`). Anything else -
another file version, a record NewareNDA itself could not decode, an unknown status or current
range - raises :class:`UnknownLayout`, and the caller falls back to NewareNDA.

Equality is to the last bit, so the arithmetic follows NewareNDA's order of operations in float64
before the final float32 cast; timestamps round like ``datetime.fromtimestamp``; the BTS 8 gap
integrals use pandas' own (Kahan-compensated) grouped cumsum kernel, as NewareNDA's groupby does.

Units are NewareNDA's: Time s, Voltage V, Current(mA) mA, capacities mAh, energies mWh.
Input files are only read (ndax members are read into memory, never extracted).

Use::

    try:
        frame, layout = read_frame_layout(path)   # layout: a key of LAYOUT_NAMES, for meta
    except UnknownLayout:
        frame = NewareNDA.read(path)

(:func:`read_columns_layout` gives the same columns as a dict, for a caller that converts them
further without the DataFrame in between, as ``echem.io.neware.to_schema`` does.)
"""
from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from NewareNDA.dicts import (aux_chl_type_columns, aux_dtype_dict, dtype_dict,
                             multiplier_dict, rec_columns, state_dict)

#: layout id -> description; :func:`read_frame_layout` returns the id of the layout it read.
LAYOUT_NAMES: dict[str, str] = {
    "nda29": "NDA version 29 (BTS 7), 86-byte records",
    "nda130_bts90": "NDA version 130 (BTS 9.0), 88-byte records",
    "nda130_bts91": "NDA version 130 (BTS 9.1), packed records",
    "ndax_ndc14": "NDAX (BTS 8) with ndc version 14 data/runInfo/step/aux members",
}

_PAGE = 4096
_CHUNK = 32768  # rows per cache-sized chunk of row-wise arithmetic

# ---------------------------------------------------------------------------------------------
# record dtypes (offsets as in NewareNDA's struct formats)

_NDA29 = np.dtype({
    "names": ["b0", "tag", "index", "step_index", "status", "step", "time", "voltage", "current",
              "cc", "dc", "ce", "de", "year", "month", "day", "hour", "minute", "second", "range",
              "tail", "aux", "aux_index", "aux_v", "aux_t"],
    "formats": ["u1", "<u2", "<u4", "<u2", "u1", "<u4", "<u8", "<i4", "<i4", "<i8", "<i8", "<i8",
                "<i8", "<u2", "u1", "u1", "u1", "u1", "u1", "<i4", "<u4", "u1", "<u4", "<i4", "<i2"],
    "offsets": [0, 0, 2, 10, 12, 10, 14, 22, 26, 38, 46, 54, 62, 70, 72, 73, 74, 75, 76, 78, 82,
                1, 2, 22, 34],
    "itemsize": 86,
})

# BTS 9.0 record: 88 bytes, NewareNDA decodes bytes[4:]; the aux record likewise.
_BTS90 = np.dtype({
    "names": ["step_index", "status", "index", "time", "voltage", "current", "cc", "ce", "dc",
              "de", "date", "aux", "aux_index", "aux_v", "aux_t"],
    "formats": ["u1", "u1", "<u4", "<u8", "<f4", "<f4", "<f4", "<f4", "<f4", "<f4", "<u8",
                "u1", "<u4", "<i4", "<i2"],
    "offsets": [9, 10, 16, 28, 36, 40, 52, 56, 60, 64, 68, 5, 6, 26, 38],
    "itemsize": 88,
})


def _bts91_dtype(record_len: int) -> np.dtype:
    names = ["step_index", "status", "index", "time", "time_ns", "current", "voltage", "capacity",
             "energy", "date", "date_ns", "aux", "aux_index", "aux_v", "aux_t"]
    formats = ["u1", "u1", "<u4", "<u4", "<u4", "<f4", "<f4", "<f4", "<f4", "<u4", "<u4",
               "u1", "<u4", "<i4", "<i2"]
    offsets = [2, 3, 8, 12, 16, 20, 24, 28, 32, 44, 48, 5, 6, 26, 38]
    if record_len == 56:
        names.append("temp")
        formats.append("<f4")
        offsets.append(52)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": record_len})


# ndc version 14 pages: 4096 bytes, records from byte 132.
_NDC14_RUNINFO = np.dtype({
    "names": ["time", "cc", "dc", "ce", "de", "dt", "ts", "step", "index", "msec"],
    "formats": ["<i4", "<f4", "<f4", "<f4", "<f4", "<i4", "<i4", "<i4", "<i4", "<i2"],
    "offsets": [0, 5, 9, 13, 17, 29, 33, 37, 41, 45],
    "itemsize": 55,
})
_NDC14_STEP = np.dtype({
    "names": ["cycle", "step_index", "status"],
    "formats": ["<i4", "<i4", "i1"],
    "offsets": [0, 4, 24],
    "itemsize": 37,
})


class UnknownLayout(Exception):
    """The file's record layout is not one this fast reader handles; use NewareNDA instead."""


# ---------------------------------------------------------------------------------------------
# public API

def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a Neware .nda/.ndax file into NewareNDA's DataFrame (equal to ``NewareNDA.read``).

    Raises :class:`UnknownLayout` for any layout not in :data:`LAYOUT_NAMES`.
    """
    return read_frame_layout(path)[0]


def read_frame_layout(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Like :func:`read_frame`, and also return the layout id (a key of :data:`LAYOUT_NAMES`)."""
    cols, layout = read_columns_layout(path)
    return _build_frame(cols), layout


def read_columns_layout(path: str | Path) -> tuple[dict, str]:
    """The columns of :func:`read_frame`'s DataFrame, in its order, and the layout id.

    A dict name -> column: numpy arrays (some may be read-only views of the file's bytes), a
    pandas Categorical for ``Status`` and a numpy or pandas datetime array for ``Timestamp``; for
    callers that build their own frame from them without the DataFrame in between.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(6)
    try:
        if head == b"NEWARE":
            return _read_nda(path)
        if head[:4] == b"PK\x03\x04":
            return _read_ndax(path), "ndax_ndc14"
    except UnknownLayout:
        raise
    except Exception as exc:  # damaged or unforeseen content: NewareNDA decides what it is
        raise UnknownLayout(f"{path}: not decoded ({type(exc).__name__}: {exc})") from exc
    raise UnknownLayout(f"{path}: neither an nda nor an ndax file")


def layout_of(path: str | Path) -> str:
    """The layout id :func:`read_frame` would use for this file (reads the whole file)."""
    return read_frame_layout(path)[1]


# ---------------------------------------------------------------------------------------------
# shared helpers

def _count_changes(values: np.ndarray) -> np.ndarray:
    """NewareNDA's ``_count_changes``: 1 + number of value changes up to each row (int64)."""
    starts = np.flatnonzero(values[1:] != values[:-1]) + 1
    runs = np.diff(starts, prepend=0, append=len(values))  # rows of each run of equal values
    return np.repeat(np.arange(1, len(runs) + 1, dtype=np.int64), runs)


def _status_codes(raw: np.ndarray, path) -> tuple[np.ndarray, list[str]]:
    """Map raw Neware status numbers to (category codes, sorted category names)."""
    present = np.unique(raw)
    try:
        names = [state_dict[int(v)] for v in present]
    except KeyError as exc:
        raise UnknownLayout(f"{path}: unknown status {exc}") from None
    cats = sorted(set(names))
    lut = np.zeros(256, dtype=np.int8)
    for v, name in zip(present, names):
        lut[int(v) & 0xFF] = cats.index(name)
    return lut[raw.astype(np.int64) & 0xFF], cats


def _cycle_numbers(codes: np.ndarray, cats: list[str]) -> np.ndarray:
    """NewareNDA's ``_generate_cycle_number(df, 'chg')``, vectorized.

    A new cycle starts at the first row of a charge step (CC/CCCV/CP_Chg run start) when a
    discharge (any ``*_DChg``) or ``SIM`` row came since the previous such run start.
    """
    inc_lut = np.array([c in ("CCCV_Chg", "CC_Chg", "CP_Chg") for c in cats], dtype=bool)
    set_lut = np.array([c == "SIM" or ("_" in c and c.split("_", 1)[1] == "DChg") for c in cats],
                       dtype=bool)
    is_inc = inc_lut[codes]
    is_set = set_lut[codes]
    start = np.zeros(len(codes), dtype=bool)
    start[1:] = is_inc[1:] & ~is_inc[:-1]
    cand = np.flatnonzero(start)
    sets_seen = np.cumsum(is_set, dtype=np.int64)[cand]
    incr = sets_seen > np.concatenate(([0], sets_seen[:-1]))
    bump = np.zeros(len(codes), dtype=np.int64)
    bump[cand[incr]] = 1
    return (1 + np.cumsum(bump)).astype(np.uint32)


def _utc_us_from_float_seconds(t: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch exactly as ``datetime.fromtimestamp(t, utc)`` rounds them."""
    ip = np.trunc(t)
    us = np.rint((t - ip) * 1e6)  # modf fraction, round half to even (CPython _PyTime_ROUND_HALF_EVEN)
    carry = us >= 1e6
    us[carry] -= 1e6
    ip[carry] += 1
    neg = us < 0
    us[neg] += 1e6
    ip[neg] -= 1
    return ip.astype(np.int64) * 1_000_000 + us.astype(np.int64)


def _local_tz_for(us: np.ndarray, path):
    """The one tzinfo ``datetime.astimezone()`` gives every timestamp of ``us`` (else UnknownLayout)."""
    if len(us) == 0:
        raise UnknownLayout(f"{path}: no records")
    lo, hi = int(us.min()), int(us.max())
    probes = list(range(lo, hi, 86_400_000_000)) + [hi]
    zones = set()
    for p in probes:
        tz = datetime.fromtimestamp(p / 1e6, timezone.utc).astimezone().tzinfo
        d = datetime.fromtimestamp(p / 1e6, timezone.utc)
        zones.add((tz.utcoffset(d), tz.tzname(d)))
        if len(zones) > 1:
            raise UnknownLayout(f"{path}: timestamps span a change of the local UTC offset")
    return datetime.fromtimestamp(lo / 1e6, timezone.utc).astimezone().tzinfo


def _tz_array(us: np.ndarray, tz, unit: str = "us"):
    """Aware timestamps (dtype datetime64[unit, tz]) from integer epoch counts in ``unit``.

    The counts are UTC, which is how pandas stores aware timestamps: they are wrapped as they are
    (no copy, no tz_localize pass) where pandas allows it.
    """
    values = us.view(f"M8[{unit}]")
    try:
        return pd.arrays.DatetimeArray._simple_new(values, dtype=pd.DatetimeTZDtype(unit, tz))
    except (AttributeError, TypeError):  # pragma: no cover - another pandas
        return pd.DatetimeIndex(values).tz_localize(timezone.utc).tz_convert(tz).array


def _scale_by_range(rng: np.ndarray, path) -> np.ndarray:
    present = np.unique(rng)
    try:
        mult = np.array([multiplier_dict[int(v)] for v in present], dtype=np.float64)
    except KeyError as exc:
        raise UnknownLayout(f"{path}: unknown current range {exc}") from None
    return mult[np.searchsorted(present, rng)]


def _build_frame(cols: dict) -> pd.DataFrame:
    """DataFrame of NewareNDA's record columns (cols holds arrays already in final dtypes)."""
    n = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.RangeIndex(n), copy=False)


# The columns and dtypes this module writes; a NewareNDA release that changes them is not ours.
_DTYPES = {"Index": "uint32", "Cycle": "uint32", "Step": "uint32", "Step_Index": "uint32",
           "Status": "category", "Time": "float32", "Voltage": "float32",
           "Current(mA)": "float32", "Charge_Capacity(mAh)": "float32",
           "Discharge_Capacity(mAh)": "float32", "Charge_Energy(mWh)": "float32",
           "Discharge_Energy(mWh)": "float32"}
_SAME_AS_NEWARENDA = (dtype_dict == _DTYPES and list(rec_columns) == list(_DTYPES) + ["Timestamp"]
                      and all(aux_dtype_dict.get(k) == "float32" for k in "VTtH"))


def _record_columns(index, cycle, step, step_index, codes, cats, time, voltage, current,
                    cc, dc, ce, de, timestamp) -> dict:
    if not _SAME_AS_NEWARENDA:
        raise UnknownLayout("this NewareNDA release has other columns or dtypes")
    status = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(cats)))
    return {
        "Index": np.asarray(index).astype(np.uint32, copy=False),
        "Cycle": np.asarray(cycle).astype(np.uint32, copy=False),
        "Step": np.asarray(step).astype(np.uint32, copy=False),
        "Step_Index": np.asarray(step_index).astype(np.uint32, copy=False),
        "Status": status,
        "Time": np.asarray(time).astype(np.float32, copy=False),
        "Voltage": np.asarray(voltage).astype(np.float32, copy=False),
        "Current(mA)": np.asarray(current).astype(np.float32, copy=False),
        "Charge_Capacity(mAh)": np.asarray(cc).astype(np.float32, copy=False),
        "Discharge_Capacity(mAh)": np.asarray(dc).astype(np.float32, copy=False),
        "Charge_Energy(mWh)": np.asarray(ce).astype(np.float32, copy=False),
        "Discharge_Energy(mWh)": np.asarray(de).astype(np.float32, copy=False),
        "Timestamp": timestamp,
    }


# ---------------------------------------------------------------------------------------------
# .nda

def _read_nda(path: Path) -> tuple[dict, str]:
    buf = path.read_bytes()
    version = buf[14] if len(buf) > 14 else None
    if version == 29:
        return _read_nda29(buf, path), "nda29"
    if version == 130:
        return _read_nda130(buf, path)
    raise UnknownLayout(f"{path}: nda version {version} not handled")


def _read_nda29(buf: bytes, path) -> dict:
    size = len(buf)
    record_len = 86
    identifier = b"\x00\x00\x00\x00\x55\x00"
    header = buf.find(identifier)
    if header == -1:
        raise UnknownLayout(f"{path}: no records")
    while header + 4 + record_len < size and (buf[header + 4 + record_len] != 85
                                              or buf[header + 4 + 12] == 0):
        header = buf.find(identifier, header + 4)
        if header == -1:
            raise UnknownLayout(f"{path}: start of records not found")
    start = header + 4
    n = (size - start) // record_len
    rec = np.frombuffer(buf, dtype=_NDA29, count=n, offset=start)
    tail0 = rec["tail"] == 0
    data = rec[(rec["tag"] == 0x0055) & tail0]
    aux = rec[(rec["b0"] == 0x65) & tail0]
    if len(data) == 0:
        raise UnknownLayout(f"{path}: no records")
    if np.any(data["index"] == 0) or np.any(data["status"] == 0):
        raise UnknownLayout(f"{path}: empty record (NewareNDA would emit a blank row)")

    mult = _scale_by_range(data["range"], path)
    timestamp = _naive_us(data, path)
    cols = dict(
        index=data["index"].astype(np.int64),
        step=data["step"].astype(np.int64),
        step_index=data["step_index"],
        status=data["status"],
        time=data["time"].astype(np.float64) / 1000,
        voltage=data["voltage"].astype(np.float64) / 10000,
        current=data["current"].astype(np.float64) * mult,
        cc=data["cc"].astype(np.float64) * mult / 3600,
        dc=data["dc"].astype(np.float64) * mult / 3600,
        ce=data["ce"].astype(np.float64) * mult / 3600,
        de=data["de"].astype(np.float64) * mult / 3600,
        us=timestamp,
    )
    aux_rows = None
    if len(aux):
        aux_rows = (aux["aux_index"].astype(np.int64), aux["aux"].astype(np.int64),
                    aux["aux_t"].astype(np.float64) / 10, aux["aux_v"].astype(np.float64) / 10000)
    return _finish_nda(cols, aux_rows, tz=None, path=path)


def _naive_us(data: np.ndarray, path) -> np.ndarray:
    """``datetime(Y, M, D, h, m, s)`` of BTS 7 records as microseconds since the epoch."""
    y = data["year"].astype(np.int64)
    m = data["month"].astype(np.int64)
    d = data["day"].astype(np.int64)
    hh, mi, ss = (data[k].astype(np.int64) for k in ("hour", "minute", "second"))
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    ok = (y >= 1) & (y <= 9999) & (m >= 1) & (m <= 12) & (hh < 24) & (mi < 60) & (ss < 60)
    ok &= d >= 1
    ok &= d <= mdays[np.clip(m, 0, 12)] + ((m == 2) & leap)
    if not ok.all():
        raise UnknownLayout(f"{path}: invalid record date")
    # days from civil (H. Hinnant's algorithm)
    yy = y - (m <= 2)
    era = np.floor_divide(yy, 400)
    yoe = yy - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 24 + hh) * 60 + mi) * 60_000_000 + ss * 1_000_000


def _read_nda130(buf: bytes, path) -> tuple[dict, str]:
    size = len(buf)
    record_len = 88
    identifier = buf[1024:1030]
    bts91 = buf[1024:1025] == b"\x55"
    if bts91:
        record_len = buf.find(buf[1024:1026], 1026) - 1024
        if record_len < 52:
            raise UnknownLayout(f"{path}: BTS 9.1 record length {record_len} not handled")
    n = max(size - 1024, 0) // record_len
    if n == 0:
        raise UnknownLayout(f"{path}: no records")
    head = np.frombuffer(buf, dtype=np.dtype({"names": ["b0", "u4", "b4", "u2"],
                                              "formats": ["u1", "<u4", "u1", "<u2"],
                                              "offsets": [0, 0, 4, 4],
                                              "itemsize": record_len}),
                         count=n, offset=1024)
    b0 = head["b0"]
    is55 = b0 == 0x55
    ident4, ident2 = struct.unpack("<IH", identifier)
    is_ident = ~is55 & (head["u4"] == ident4) & (head["u2"] == ident2)
    is_aux = ~is55 & ~is_ident & (head["u4"] == 0) & (head["b4"] == 0x65)
    stop = np.flatnonzero(~is55 & ~is_ident & ~is_aux & (b0 == 0x81))
    if len(stop):
        n = int(stop[0])
        is55, is_ident, is_aux = is55[:n], is_ident[:n], is_aux[:n]

    if bts91:
        rec = np.frombuffer(buf, dtype=_bts91_dtype(record_len), count=n, offset=1024)
        if is_ident.any():
            raise UnknownLayout(f"{path}: mixed record kinds")
        data = rec[is55]
        aux = rec[is_aux]
        layout = "nda130_bts91"
    else:
        rec = np.frombuffer(buf, dtype=_BTS90, count=n, offset=1024)
        if is55.any():
            raise UnknownLayout(f"{path}: mixed record kinds")
        data = rec[is_ident]
        aux = rec[is_aux]
        layout = "nda130_bts90"
    if len(data) == 0:
        raise UnknownLayout(f"{path}: no records")

    aux_parts = []
    if bts91:
        cap = data["capacity"].astype(np.float64)
        energy = data["energy"].astype(np.float64)
        date = data["date"].astype(np.float64) + 1e-9 * data["date_ns"].astype(np.float64)
        cols = dict(
            index=data["index"].astype(np.int64),
            step=data["step_index"].astype(np.int64),
            step_index=data["step_index"],
            status=data["status"],
            time=data["time"].astype(np.float64) + 1e-9 * data["time_ns"].astype(np.float64),
            voltage=data["voltage"], current=data["current"],
            cc=np.where(cap < 0, 0.0, cap) / 3600,
            dc=np.where(cap > 0, 0.0, np.abs(cap)) / 3600,
            ce=np.where(energy < 0, 0.0, energy) / 3600,
            de=np.where(energy > 0, 0.0, np.abs(energy)) / 3600,
            us=_utc_us_from_float_seconds(date),
        )
        if record_len == 56:
            aux_parts.append((data["index"].astype(np.int64), np.ones(len(data), np.int64),
                              data["temp"].astype(np.float64), np.full(len(data), np.nan)))
    else:
        cols = dict(
            index=data["index"].astype(np.int64),
            step=data["step_index"].astype(np.int64),
            step_index=data["step_index"],
            status=data["status"],
            time=data["time"].astype(np.float64) / 1e6,
            voltage=data["voltage"], current=data["current"],
            cc=data["cc"].astype(np.float64) / 3600,
            dc=data["dc"].astype(np.float64) / 3600,
            ce=data["ce"].astype(np.float64) / 3600,
            de=data["de"].astype(np.float64) / 3600,
            us=_utc_us_from_float_seconds(data["date"].astype(np.float64) / 1e6),
        )
    if len(aux):
        aux_parts.append((aux["aux_index"].astype(np.int64), aux["aux"].astype(np.int64),
                          aux["aux_t"].astype(np.float64) / 10,
                          aux["aux_v"].astype(np.float64) / 10000))
    aux_rows = None
    if aux_parts:
        if len(aux_parts) == 1:
            aux_rows = aux_parts[0]
        else:
            # NewareNDA appends both kinds in file order
            order_keys = [np.flatnonzero(is55), np.flatnonzero(is_aux)]
            pos = np.concatenate(order_keys)
            order = np.argsort(pos, kind="stable")
            aux_rows = tuple(np.concatenate([p[i] for p in aux_parts])[order] for i in range(4))
    tz = _local_tz_for(cols["us"], path)
    return _finish_nda(cols, aux_rows, tz=tz, path=path), layout


def _finish_nda(c: dict, aux_rows, tz, path) -> dict:
    """Dedup/sort by Index, join aux, count steps, renumber cycles, cast: NewareNDA's read_nda tail."""
    index = c["index"]
    if len(index) > 1 and not np.all(index[1:] > index[:-1]):
        _, keep = np.unique(index, return_index=True)  # first occurrence of each Index, sorted
        c = {k: v[keep] for k, v in c.items()}
        index = c["index"]
    n = len(index)
    codes, cats = _status_codes(c["status"], path)
    if tz is None:
        timestamp = c["us"].view("M8[us]")
    else:
        timestamp = _tz_array(c["us"], tz)
    cols = _record_columns(index, _cycle_numbers(codes, cats), _count_changes(c["step"]),
                           c["step_index"], codes, cats, c["time"], c["voltage"], c["current"],
                           c["cc"], c["dc"], c["ce"], c["de"], timestamp)
    if aux_rows is not None:
        cols.update(_aux_pivot(index, aux_rows, path))
    return cols


def _aux_pivot(index: np.ndarray, aux_rows, path) -> dict:
    """NewareNDA's aux drop_duplicates + pivot(index='Index', columns='Aux') + left join."""
    a_index, a_id, a_t, a_v = aux_rows
    key = (a_id << 32) | a_index  # (Aux, Index) pairs; Aux is a byte, Index a uint32
    if not (len(key) < 2 or np.all(key[1:] > key[:-1]) or len(np.unique(key)) == len(key)):
        frame = pd.DataFrame({"Index": a_index, "Aux": a_id, "T": a_t, "V": a_v})
        keep = ~frame.duplicated().to_numpy()
        a_index, a_id, a_t, a_v = a_index[keep], a_id[keep], a_t[keep], a_v[keep]
        pairs = pd.DataFrame({"i": a_index, "a": a_id})
        if pairs.duplicated().any():
            raise UnknownLayout(f"{path}: duplicate aux entries (NewareNDA cannot pivot them)")
    a_t, a_v = a_t.astype(np.float32), a_v.astype(np.float32)
    out = {}
    ids = np.unique(a_id)
    rows = np.searchsorted(index, a_index)
    found = rows < len(index)
    found[found] = index[rows[found]] == a_index[found]
    for name, values in (("T", a_t), ("V", a_v)):
        for aid in ids:
            col = np.full(len(index), np.nan, dtype=np.float32)
            sel = found & (a_id == aid)
            col[rows[sel]] = values[sel]
            out[f"{name}{aid}"] = col
    return out


# ---------------------------------------------------------------------------------------------
# .ndax

def _ndc_pages(blob: bytes, name: str, filetype: int, path) -> int:
    if len(blob) < 3 or blob[0] != filetype or blob[2] != 14:
        kind = (blob[0], blob[2]) if len(blob) >= 3 else None
        raise UnknownLayout(f"{path}: {name} (filetype, version) {kind} not handled")
    if len(blob) % _PAGE:
        raise UnknownLayout(f"{path}: {name} is not whole pages")
    return len(blob) // _PAGE - 1


def _pandas_td_unit(sample: np.ndarray) -> tuple[str, int]:
    """Unit pandas gives ``to_timedelta(sample, unit='s')`` and its ticks per second."""
    unit = np.datetime_data(pd.to_timedelta(sample, unit="s").dtype)[0]
    per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}.get(unit)
    if per_s is None:
        raise UnknownLayout(f"unexpected timedelta unit {unit}")
    return unit, per_s


def _seconds_to_timedelta(x: np.ndarray) -> tuple[np.ndarray, str]:
    """``pd.to_timedelta(x, unit='s')`` as (int64 ticks, unit), asking pandas only what must be.

    pandas picks a coarse unit when every value is whole and nanoseconds otherwise; whole values
    convert exactly in any unit, so pandas is only asked about the fractional values (and NaN).
    """
    ticks = x.astype(np.int64)
    frac = x != ticks  # NaN and out-of-range values count as fractional
    if not frac.any():
        unit, per_s = _pandas_td_unit(np.array([x.min(), x.max()]))
        ticks *= per_s
        return ticks, unit
    unit, per_s = _pandas_td_unit(np.array([0.5]))
    ticks *= per_s
    part = pd.to_timedelta(x[frac], unit="s").to_numpy()
    if np.datetime_data(part.dtype)[0] != unit:
        raise UnknownLayout(f"unexpected timedelta dtype {part.dtype}")
    ticks[frac] = part.view(np.int64)
    return ticks, unit


def _grouped_cumsum(values: np.ndarray, labels: np.ndarray, ngroups: int,
                    out: np.ndarray | None = None) -> np.ndarray:
    """``DataFrame(values).groupby(labels).cumsum()`` (pandas' Kahan-compensated kernel) as an array.

    ``values`` is 2-D float64 in C order, ``labels`` intp in 0..ngroups-1, ``out`` (optional) a
    C-ordered array of values' shape to write into. Calls pandas' own kernel directly when it
    has the expected signature, else the public groupby; both give the same numbers.
    """
    if out is None:
        out = np.empty(values.shape)
    try:
        from pandas._libs.groupby import group_cumsum
        group_cumsum(out, values, labels, ngroups, False, True, None, None)
    except (ImportError, TypeError, ValueError):
        frame = pd.DataFrame(values, copy=False)
        out[...] = frame.groupby(labels).cumsum().to_numpy()
    return out


def _block_chunks(starts: np.ndarray, n: int) -> list[tuple[int, int, int, int]]:
    """Split rows 0..n at block starts into chunks of about _CHUNK rows: (b0, b1, lo, hi)."""
    cuts = np.searchsorted(starts, np.arange(_CHUNK, n, _CHUNK))
    bounds = np.unique(np.concatenate(([0], cuts, [len(starts)])))
    row = np.append(starts, n)
    return [(int(b0), int(b1), int(row[b0]), int(row[b1]))
            for b0, b1 in zip(bounds[:-1], bounds[1:])]


def _member(fh, zf: zipfile.ZipFile, name: str, path) -> bytes:
    """A zip member's bytes; a deflate stream is inflated in one zlib call (CRC checked)."""
    info = zf.getinfo(name)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
        return zf.read(name)
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise UnknownLayout(f"{path}: bad zip header of {name}")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    raw = fh.read(info.compress_size)
    try:
        data = raw if info.compress_type == zipfile.ZIP_STORED else zlib.decompress(
            raw, -15, max(info.file_size, 1))
    except zlib.error as exc:
        raise UnknownLayout(f"{path}: {name}: {exc}") from None
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise UnknownLayout(f"{path}: {name} fails its size or CRC check")
    return data


def _ndax_members(path: Path) -> tuple[bytes, bytes, bytes, list[tuple[str, dict, bytes]]]:
    """data.ndc, data_runInfo.ndc, data_step.ndc and the aux members with their TestInfo entries,
    found and matched as NewareNDA's read_ndax does."""
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        names = zf.namelist()
        aux_data = []
        for f in names:
            m = re.search(r"data_AUX_(\d+)_(\d+)_(\d+)\.ndc", f)
            if m:
                aux_data.append((f, list(map(int, m.groups()))))
            else:
                m = re.search(r".*_(\d+)\.ndc", f)
                if m:
                    aux_data.append((f, [int(m.group(1)), 0, 0]))
        aux_data.sort(key=lambda x: x[1])
        aux_filenames = [f for f, _ in aux_data]
        aux_ch_dict = {f: {} for f in aux_filenames}
        if aux_filenames:
            try:
                text = zf.read("TestInfo.xml").decode("gb2312")
                testinfo = ET.fromstring(text).find("config/TestInfo")
                aux_dicts = ([k.attrib for k in testinfo if "Aux" in k.tag]
                             if testinfo is not None else [])
                if len(aux_dicts) == len(aux_filenames):
                    aux_ch_dict = dict(zip(aux_filenames, aux_dicts))
            except Exception:  # NewareNDA logs and goes on without the aux dicts
                pass
        needed = ["data.ndc", "data_runInfo.ndc", "data_step.ndc"]
        if not all(k in names for k in needed):
            raise UnknownLayout(f"{path}: ndax without data/runInfo/step members")
        blobs = [_member(fh, zf, name, path) for name in needed]
        aux = [(f, d, _member(fh, zf, f, path)) for f, d in aux_ch_dict.items()]
    return blobs[0], blobs[1], blobs[2], aux


def _fill_gaps(f32, r_time, r_dt, r_caps, r_us, tz, current32, voltage, vpos, lengths, path):
    """NewareNDA's ``_data_interpolation`` for BTS 8 records between runInfo entries.

    Integrates dt, dt*I/3600 and dt*I*V/3600 over each gap (pandas' grouped Kahan cumsum, as
    NewareNDA's groupby) and adds them to the last entry's Time (s), capacities (mAh) and
    energies (mWh), written as float32 into the rows of ``f32`` (Time, charge capacity, charge
    energy, discharge capacity, discharge energy; ``r_caps`` in that order); returns the
    Timestamp array. ``vpos`` are the rows holding a runInfo entry, ``lengths`` the rows from
    each to the next (a "block"); ``current32`` is the file's current (A, float32), I = 1000 *
    current32 in mA.

    NewareNDA's groups are the gap rows of a block and the runInfo row after them (whose own sum
    is then multiplied by 0). The rows go in cache-sized chunks of whole blocks; each chunk's
    kernel call runs one row further, over the runInfo row that closes its last group, and hands
    that row's sum on to the next chunk.
    """
    n = len(voltage)
    nb = len(vpos)
    # dt is constant over a block: its sums (Time, Timestamp) come from a small table
    dt_sums, dt_first = _constant_gap_sums(r_dt, lengths)
    dt_ticks, unit = _seconds_to_timedelta(dt_sums)
    per_us = {"us": 1, "ns": 1000}.get(unit)
    if per_us is None:
        raise UnknownLayout(f"{path}: unexpected timedelta unit {unit}")
    r_ticks = r_us * per_us
    lookup_first = dt_first - vpos  # table index of each block's first row, less its row number
    bases = np.array([r_time] + [np.abs(c) for c in r_caps])  # block values, as the rows of f32
    ticks = np.empty(n, dtype=np.int64)
    ramp = np.arange(_CHUNK + int(lengths.max()) + 1)
    f64 = dict(dtype=np.float64, casting="same_kind")

    def gap_values(dt, lo, hi):
        """Rows lo..hi-1 of (dt*I/3600, dt*I*V/3600), C order as pandas' kernel wants."""
        values = np.empty((hi - lo, 2))
        work = np.multiply(current32[lo:hi], 1000, dtype=np.float64)
        work *= dt
        work /= 3600
        values[:, 0] = work
        work *= voltage[lo:hi]
        values[:, 1] = work
        return values

    # row 0 alone is NewareNDA's first group
    carry = _grouped_cumsum(gap_values(r_dt[0], 0, 1), np.zeros(1, dtype=np.intp), 1)[0] * 0.0
    for b0, b1, lo, hi in _block_chunks(vpos, n):
        m = hi - lo
        lens = lengths[b0:b1]
        # kernel rows lo+1 .. min(hi, n-1): the gaps of blocks b0..b1-1 and the runInfo rows of
        # blocks b0+1..b1, in groups of lens rows (the last one short by its runInfo row at n)
        k_lens = lengths[b0:b1 + 1].copy()
        k_lens[0] -= 1
        if b1 < nb:
            k_lens[-1] = 1
        k_hi = lo + 1 + int(k_lens.sum())
        labels = np.repeat(np.arange(b1 - b0, dtype=np.intp), lens)[:k_hi - lo - 1]
        sums = np.empty((m + 1, 2))
        sums[0] = carry
        _grouped_cumsum(gap_values(np.repeat(r_dt[b0:b1 + 1], k_lens), lo + 1, k_hi), labels,
                        b1 - b0, out=sums[1:k_hi - lo])
        sums[vpos[b0 + 1:b1 + 1] - lo] *= 0.0  # "* ~nan_mask": runInfo rows get no increment
        carry = sums[m]
        sm = sums[:m]
        # Time = ffill + inc; |C.ffill()| + |clip(inc, lower=0)|; |D.ffill()| + |clip(inc,
        # upper=0)|, the latter computed as |D| - min(inc, 0), which is the same number
        lookup = np.repeat(lookup_first[b0:b1] + lo, lens)
        lookup += ramp[:m]
        base = np.repeat(bases[:, b0:b1], lens, axis=1)
        np.add(base[0], dt_sums[lookup], out=f32[0, lo:hi], **f64)
        for row, col in ((1, 0), (2, 1)):  # charge: + the positive part of the increment
            np.add(base[row], np.maximum(sm[:, col], 0.0), out=f32[row, lo:hi], **f64)
        for row, col in ((3, 0), (4, 1)):  # discharge: - the negative part
            np.subtract(base[row], np.minimum(sm[:, col], 0.0), out=f32[row, lo:hi], **f64)
        np.add(np.repeat(r_ticks[b0:b1], lens), dt_ticks[lookup], out=ticks[lo:hi])
    return _tz_array(ticks, tz, unit=unit)


def _constant_gap_sums(r_dt, lengths):
    """NewareNDA's grouped Kahan cumsum of dt over the gaps, dt being constant over each block.

    Returns (table, first): ``table[first[b] + k]`` is the sum of the k-th row of block b (k = 0,
    the runInfo row: 0.0; k >= 1, the gap rows: k times dt, Kahan-summed), in float64 s. The
    table holds, for each distinct dt, 0 and the sums up to its longest block (at most as many
    values as rows), computed by the same pandas kernel.
    """
    uniq, which = np.unique(r_dt, return_inverse=True)
    longest = np.zeros(len(uniq), dtype=np.int64)
    np.maximum.at(longest, which, lengths)
    start = np.cumsum(longest) - longest  # table index of each dt's 0
    steps = np.repeat(uniq, longest)
    steps[start] = 0.0  # a leading 0 leaves pandas' Kahan sum as it starts (0, no compensation)
    labels = np.repeat(np.arange(len(uniq), dtype=np.intp), longest)
    table = _grouped_cumsum(steps.reshape(-1, 1), labels, len(uniq)).reshape(-1)
    return table, start[which]


def _read_ndax(path: Path) -> dict:
    """NewareNDA's read_ndax for ndc version 14: data.ndc records merged (left, on Index) with
    runInfo, forward-filled Step merged with step, gaps interpolated, aux channels merged."""
    data_blob, run_blob, step_blob, aux = _ndax_members(path)

    # data.ndc: (voltage, current) float32 pairs, 495 per page; Index = slot number + 1
    npages = _ndc_pages(data_blob, "data.ndc", 1, path)
    vi = np.ndarray((npages, 495, 2), dtype="<f4", buffer=data_blob, offset=_PAGE + 132,
                    strides=(_PAGE, 8, 4))
    slots = np.empty((2, npages, 495), dtype=np.float32)  # voltage, current of every slot
    np.copyto(slots, vi.transpose(2, 0, 1))
    slots = slots.reshape(2, -1)
    nonzero = slots[0] != 0
    zeros = np.flatnonzero(~nonzero)
    contiguous = len(zeros) == 0 or zeros[0] == slots.shape[1] - len(zeros)
    n = slots.shape[1] - len(zeros)
    if n == 0:
        raise UnknownLayout(f"{path}: no records")
    if contiguous:  # only trailing empty slots: Index = 1..n
        d_index = np.arange(1, n + 1, dtype=np.uint32)
        voltage, current32 = slots[:, :n]
    else:
        d_index = np.flatnonzero(nonzero) + 1
        voltage, current32 = slots[:, nonzero]
    del vi, data_blob, nonzero, zeros, slots

    # runInfo: 72 records of 55 bytes per page; Step = count of changes; first of each Index
    rpages = _ndc_pages(run_blob, "data_runInfo.ndc", 18, path)
    run_pages = np.ndarray((rpages, 72), dtype=_NDC14_RUNINFO, buffer=run_blob,
                           offset=_PAGE + 132, strides=(_PAGE, 55))
    r_index = run_pages["index"].reshape(-1)
    r_used = np.flatnonzero(r_index != 0)
    r_index = r_index[r_used].astype(np.int64)
    r_step = _count_changes(run_pages["step"].reshape(-1)[r_used])
    uniq, first = np.unique(r_index, return_index=True)  # drop_duplicates(keep="first")
    # left merge on Index: data rows holding a runInfo entry ("valid"), the rest are gaps
    if contiguous:
        pos = uniq - 1
        hit = (uniq >= 1) & (uniq <= n)
    else:
        pos = np.searchsorted(d_index, uniq)
        hit = (pos < n) & (d_index[np.minimum(pos, n - 1)] == uniq)
    vpos = pos[hit]  # increasing row numbers of valid rows
    sel = r_used[first[hit]]  # runInfo records of the valid rows, in row order

    def field(name):
        return run_pages[name].reshape(-1)[sel]

    r_step = r_step[first[hit]]
    if len(vpos) == 0 or vpos[0] != 0:
        raise UnknownLayout(f"{path}: first record has no runInfo")
    lengths = np.diff(np.append(vpos, n))  # rows per block: a valid row and the gaps after it

    # step: 107 records of 37 bytes per page; Step = position + 1
    spages = _ndc_pages(step_blob, "data_step.ndc", 7, path)
    steps = np.ndarray((spages, 107), dtype=_NDC14_STEP, buffer=step_blob, offset=_PAGE + 132,
                       strides=(_PAGE, 37))
    s_used = np.flatnonzero(steps["step_index"].reshape(-1) != 0)
    s_status = steps["status"].reshape(-1)[s_used]
    _status_codes(s_status, path)  # NewareNDA fails on any unknown status
    if r_step.max() > len(s_used):
        raise UnknownLayout(f"{path}: record step without step entry")
    b_codes, cats = _status_codes(s_status[r_step - 1], path)
    b_step_index = steps["step_index"].reshape(-1)[s_used][r_step - 1].astype(np.uint32)
    b_cycle = _cycle_numbers(b_codes, cats)  # same on blocks as on rows (constant per block)
    del steps, s_used, s_status

    # block = a runInfo row and the gap rows after it; block values repeat over its rows
    all_valid = len(vpos) == n

    def rows(block_values):
        return block_values if all_valid else np.repeat(block_values, lengths, axis=-1)

    tz = datetime.now().astimezone().tzinfo
    r_time = field("time") / 1000
    r_us = _utc_us_from_float_seconds(field("ts").astype(np.int64) + field("msec") / 1000)
    r_caps = [field(k).astype(np.float64) * 1000 for k in ("cc", "ce", "dc", "de")]
    f32 = np.empty((5, n), dtype=np.float32)  # rows: Time, and cc, ce, dc, de as r_caps
    if all_valid:
        for out, v in zip(f32, [r_time] + r_caps):
            out[:] = v
        timestamp = _tz_array(r_us, tz)
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf records: as pandas, quietly
            timestamp = _fill_gaps(f32, r_time, field("dt") / 1000, r_caps, r_us, tz, current32,
                                   voltage, vpos, lengths, path)
    # Current(mA): NewareNDA's 1000 * float in float64, cast to float32 (in place)
    current = np.multiply(current32, 1000, out=current32, dtype=np.float64, casting="same_kind")

    cycle, step = rows(np.array([b_cycle, r_step], dtype=np.uint32))  # one block for the two
    cols = _record_columns(d_index, cycle, step, rows(b_step_index), rows(b_codes), cats,
                           f32[0], voltage, current, f32[1], f32[3], f32[2], f32[4], timestamp)
    del f32, voltage, current, current32

    for i, (f, aux_dict, blob) in enumerate(aux):
        apages = _ndc_pages(blob, f, 5, path)
        values = np.ndarray((apages, 990), dtype="<f4", buffer=blob, offset=_PAGE + 132,
                            strides=(_PAGE, 4)).reshape(-1)
        aux_id = aux_dict.get("AuxID", None)
        if aux_id is None:
            aux_id = -i - 1
        name = "?"
        if aux_dict.get("ChlType") in aux_chl_type_columns:
            name = aux_chl_type_columns[aux_dict["ChlType"]]
        col_name = f"{name}{aux_id}"
        if col_name in cols:
            raise UnknownLayout(f"{path}: repeated aux column {col_name}")
        # left merge on Index, the aux Index being position + 1
        dtype = np.float64 if name == "?" else np.float32
        col = np.full(n, np.nan, dtype=dtype)
        inside = d_index <= len(values)
        col[inside] = values[d_index[inside] - 1]
        cols[col_name] = col
    return cols

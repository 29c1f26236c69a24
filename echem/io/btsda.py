"""Neware BTSDA exports: CSV/TXT and XLSX, flat record tables and the nested cycle/step/record layout.

BTSDA (the data-analysis program of Neware's BTS software) exports a test in two layouts:

* **flat**: one header line and one row per record (``DataPoint, Cycle Index, Step Index, Step Type,
  Time, Cumulative Time, Current(A), Voltage(V), Capacity(Ah), ..., Date``); in XLSX the record
  table is one sheet beside step, cycle and info sheets.
* **nested** (BTSDA 7 "general report"): three header lines - cycle header, step header (one
  leading empty field), record header (two leading empty fields) - then cycle rows, step rows and
  record rows interleaved, each level starting with as many empty fields as its header.

Headers come in English or Chinese with various unit spellings; :data:`RECORD_FIELDS`,
:data:`STEP_FIELDS` and :data:`CYCLE_FIELDS` are the alias tables. Headers are compared after
NFKC normalisation (full-width brackets become ASCII), case folding and removal of spaces,
underscores, dots, hyphens and slashes; the unit in brackets decides the scale.

How the common schema is made (units in the names):

* ``time_s``: the cumulative/total time column if the file has one, else the absolute date-time
  (``Date``/``Realtime``/``绝对时间``) minus the first, else the step times accumulated step by step
  (pauses between steps are then lost: ``meta["time_source"]`` says which was used).
* ``current_mA`` from A/mA/uA; positive while charging. Neware writes discharge currents negative;
  if a file has no negative current at all but has discharge steps, those rows are negated.
* ``capacity_mAh``: the step capacity column, else charge + discharge capacity, as ``>= 0``.
* ``cycle``: the instrument's cycle number; ``step``: running index, new at every change of
  (cycle, step number) (flat) or at every step row (nested).
* ``step_type`` from Neware's step names (``CC Chg``/``CC_Chg``/``恒流充电``, ...; see
  :data:`STEP_NAMES`), unknown names -> ``"other"``.

Truncation: when a text file does not end with a line end (real exports may not), its last row
is compared with the rows before it of the same level: if it has fewer fields, or a cell whose
shape (digits before/after the point, separators, text) no earlier row of that column has (e.g.
``0.42`` where the column always has four decimals, ``16:2`` in a date), the file was cut inside
that row: the row is dropped, the complete rows are returned and ``meta["truncated"] = True``.
A file cut inside a character, inside its header lines, or with no complete record row raises
:class:`~echem.errors.CorruptFileError` (the last two) or is flagged as truncated (the first).

The writers :func:`write_flat_csv` and :func:`write_nested_csv` turn a common-schema DataFrame
into a realistic BTSDA export (step and cycle rows computed from the records as BTSDA does,
numbers with the decimals BTSDA writes), formatted column by column in Arrow, not row by row.
"""
from __future__ import annotations

import copy
import datetime as _dt
import io
import re
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from echem.errors import CorruptFileError, UnsupportedFileError
from echem.output import atomic_write
from echem.schema import STEP_TYPES, Measurement, finalize, step_type_dtype

#: how many lines from the top may hold the header lines
HEAD_LINES = 40

# --------------------------------------------------------------------------------------------
# header aliases
# --------------------------------------------------------------------------------------------

_CYCLE_NAMES = {"cycleindex", "cycleid", "cycle", "cycleno", "cyclenumber",
                "循环", "循环序号", "循环号"}
_STEP_ID_NAMES = {"stepindex", "stepid", "step", "stepno", "stepnumber",
                  "步次", "工步序号", "工步号", "工步"}
_STEP_NAME_NAMES = {"steptype", "stepname", "status", "state",
                    "状态", "工步类型", "工步名称", "工步状态"}
_CHG_CAP_NAMES = {"chgcap", "chargecapacity", "capacitancechg", "capchg", "chargecap",
                  "chgcapacity", "充电容量"}
_DCHG_CAP_NAMES = {"dchgcap", "dischargecapacity", "capacitancedchg", "capdchg", "dischargecap",
                   "dchgcapacity", "放电容量"}
_CHG_ENERGY_NAMES = {"chgenergy", "engychg", "chargeenergy", "stepengychg", "充电能量"}
_DCHG_ENERGY_NAMES = {"dchgenergy", "engydchg", "dischargeenergy", "stepengydchg", "放电能量"}

#: record-level fields: canonical name -> (normalised header names, unit kind)
RECORD_FIELDS: dict[str, tuple[set[str], str]] = {
    "record": ({"datapoint", "recordid", "recordindex", "recordnumber", "recordno", "record",
                "记录序号", "记录号", "数据序号", "序号"}, "count"),
    "cycle": (_CYCLE_NAMES, "count"),
    "step_id": (_STEP_ID_NAMES, "count"),
    "step_name": (_STEP_NAME_NAMES, "text"),
    "total_time": ({"cumulativetime", "totaltime", "testtime", "总时间", "累计时间", "测试时间",
                    "总测试时间"}, "time"),
    "step_time": ({"time", "steptime", "relativetime", "recordtime", "相对时间", "记录时间",
                   "工步时间", "时间"}, "time"),
    "datetime": ({"date", "realtime", "absolutetime", "systemtime", "datetime", "timestamp",
                  "绝对时间", "系统时间", "实际时间", "日期"}, "datetime"),
    "voltage": ({"voltage", "volt", "电压", "实际电压", "电池电压"}, "voltage"),
    "current": ({"current", "cur", "电流", "实际电流"}, "current"),
    "capacity": ({"capacity", "cap", "capacitance", "容量"}, "charge"),
    "charge_capacity": (_CHG_CAP_NAMES, "charge"),
    "discharge_capacity": (_DCHG_CAP_NAMES, "charge"),
    "energy": ({"energy", "engy", "能量"}, "energy"),
    "charge_energy": (_CHG_ENERGY_NAMES, "energy"),
    "discharge_energy": (_DCHG_ENERGY_NAMES, "energy"),
}

#: step-table fields (nested layout line 2, or an XLSX step sheet) -> normalised column names
STEP_FIELDS: dict[str, tuple[set[str], str]] = {
    "cycle": (_CYCLE_NAMES, "count"),
    "step": (_STEP_ID_NAMES, "count"),
    "step_name": (_STEP_NAME_NAMES, "text"),
    "step_time_s": ({"steptime", "time", "工步时间", "持续时间", "时间", "endurancetime",
                     "endurtime", "relativetime", "相对时间"}, "time"),
    "capacity_mAh": ({"capacity", "stepcapacity", "cap", "容量"}, "charge"),
    "energy_mWh": ({"energy", "stepenergy", "能量"}, "energy"),
    "charge_capacity_mAh": (_CHG_CAP_NAMES, "charge"),
    "discharge_capacity_mAh": (_DCHG_CAP_NAMES, "charge"),
    "charge_energy_mWh": (_CHG_ENERGY_NAMES, "energy"),
    "discharge_energy_mWh": (_DCHG_ENERGY_NAMES, "energy"),
    "start_voltage_V": ({"startvoltage", "stepvoltage", "起始电压", "开始电压"}, "voltage"),
    "end_voltage_V": ({"endvoltage", "结束电压", "终止电压"}, "voltage"),
    "start_time": ({"onesetdate", "onsetdate", "startdate", "starttime", "起始时间", "开始时间"},
                   "datetime"),
    "end_time": ({"enddate", "endtime", "结束时间", "终止时间"}, "datetime"),
}

#: cycle-table fields (nested layout line 1, or an XLSX cycle sheet) -> normalised column names
CYCLE_FIELDS: dict[str, tuple[set[str], str]] = {
    "cycle": (_CYCLE_NAMES, "count"),
    "charge_capacity_mAh": (_CHG_CAP_NAMES, "charge"),
    "discharge_capacity_mAh": (_DCHG_CAP_NAMES, "charge"),
    "coulombic_efficiency_pct": ({"chargedischargeefficiency", "chgdchgefficiency",
                                  "coulombicefficiency", "efficiency", "充放电效率", "库伦效率",
                                  "库仑效率", "效率"}, "pct"),
    "charge_energy_mWh": (_CHG_ENERGY_NAMES, "energy"),
    "discharge_energy_mWh": (_DCHG_ENERGY_NAMES, "energy"),
}

#: unit kind -> {normalised unit: factor to the schema unit (V, mA, mAh, mWh, s, %)}
UNITS: dict[str, dict[str, float]] = {
    "voltage": {"v": 1.0, "mv": 1e-3, "": 1.0},
    "current": {"a": 1e3, "ma": 1.0, "ua": 1e-3, "μa": 1e-3},
    "charge": {"ah": 1e3, "mah": 1.0, "uah": 1e-3, "μah": 1e-3, "as": 1e3 / 3600, "mas": 1 / 3600},
    "energy": {"wh": 1e3, "mwh": 1.0, "uwh": 1e-3, "μwh": 1e-3, "kwh": 1e6},
    "pct": {"%": 1.0, "": 1.0},
    "time": {"s": 1.0, "sec": 1.0, "秒": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0, "hour": 3600.0,
             "": 1.0},
    "count": {"": 1.0},
    "text": {"": 1.0},
    "datetime": {"": 1.0},
}

#: Neware step names (normalised: case-folded, spaces/underscores/hyphens removed) -> step_type
STEP_NAMES: dict[str, str] = {
    "rest": "rest", "搁置": "rest", "静置": "rest", "pause": "rest", "暂停": "rest",
    "ccchg": "cc_charge", "ccc": "cc_charge", "恒流充电": "cc_charge", "充电cc": "cc_charge",
    "ccdchg": "cc_discharge", "ccdischg": "cc_discharge", "ccd": "cc_discharge",
    "恒流放电": "cc_discharge", "放电dc": "cc_discharge", "放电cc": "cc_discharge",
    "cvchg": "cv_charge", "恒压充电": "cv_charge",
    "cvdchg": "cv_discharge", "恒压放电": "cv_discharge",
    "cccvchg": "cccv_charge", "恒流恒压充电": "cccv_charge",
    "cccvdchg": "cccv_discharge", "恒流恒压放电": "cccv_discharge",
    "cpchg": "cp_charge", "恒功率充电": "cp_charge",
    "cpdchg": "cp_discharge", "恒功率放电": "cp_discharge",
    "ocv": "ocv", "开路": "ocv", "开路电压": "ocv",
    "eis": "eis",
}

_CHARGE_TYPES = {"cc_charge", "cv_charge", "cccv_charge", "cp_charge"}
_DISCHARGE_TYPES = {"cc_discharge", "cv_discharge", "cccv_discharge", "cp_discharge"}

_NOT_BTSDA_TEXT = ("EC-Lab ASCII FILE", "BT-Lab ASCII FILE", "ZPLOT2 ASCII", "ZPLOT")


def _norm_text(value) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip().strip('"').strip("'").strip()


def split_header(header) -> tuple[str, str]:
    """(normalised name, normalised unit) of a header cell, e.g. ``"Chg. Cap.(Ah)" -> ("chgcap", "ah")``."""
    text = _norm_text(header)
    m = re.match(r"^(.*?)\s*[(\[]([^()\[\]]*)[)\]]\s*$", text)
    base, unit = (m.group(1), m.group(2)) if m else (text, "")
    base = re.sub(r"[\s_.\-/·]+", "", base.casefold())
    unit = re.sub(r"\s+", "", unit.casefold()).replace("µ", "μ")
    return base, unit


def match_header(header, fields: dict[str, tuple[set[str], str]]):
    """``(canonical name, unit kind, factor, unit)`` for a header cell, or None if unknown.

    A known name with a unit the kind does not know (e.g. ``Capacity(mAh/g)``, ``Capacitance(F)``)
    is no match, so specific capacities and the like stay instrument columns.
    """
    if header is None:
        return None
    base, unit = split_header(header)
    if not base:
        return None
    for name, (aliases, kind) in fields.items():
        if base in aliases:
            if kind == "time" and (":" in unit or unit in ("hh:mm:ss", "d.h:min:s.ms")):
                return name, kind, 1.0, unit
            if kind in ("text", "datetime", "count"):
                return name, kind, 1.0, unit
            factor = UNITS[kind].get(unit)
            if factor is None:
                continue
            return name, kind, factor, unit
    return None


def step_type_of(name) -> str:
    """Schema step type of a Neware step name (English or Chinese); unknown -> ``"other"``."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return "other"
    key = re.sub(r"[\s_\-]+", "", _norm_text(name).casefold())
    return STEP_NAMES.get(key, "other")


# --------------------------------------------------------------------------------------------
# decoding and splitting text
# --------------------------------------------------------------------------------------------

def _decode(data: bytes) -> tuple[str, str, bool] | None:
    """(text, encoding, cut inside a character) for UTF-8 (BOM or not), UTF-16 with BOM or GBK.

    Returns None for bytes that are none of these (or hold NUL bytes, i.e. are binary).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
        n = len(data) - (len(data) % 2)
        return data[:n].decode(enc, errors="replace"), enc, n != len(data)
    if b"\x00" in data:
        return None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc), ("utf-8" if enc == "utf-8-sig" else "gbk"), False
        except UnicodeDecodeError as exc:
            if exc.start >= len(data) - 3 and exc.reason in ("unexpected end of data",
                                                              "incomplete multibyte sequence"):
                try:
                    return (data[:exc.start].decode(enc), ("utf-8" if enc == "utf-8-sig" else "gbk"),
                            True)
                except UnicodeDecodeError:
                    continue
    return None


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _split(line: str, delim: str) -> list[str]:
    if '"' in line:
        return [f.strip().strip('"').strip() for f in line.split(delim)]
    return [f.strip() for f in line.split(delim)]


def _lead(row) -> int:
    """Number of leading empty cells of a row."""
    n = 0
    for v in row:
        if _empty(v):
            n += 1
        else:
            break
    return n


def _empty(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


# --------------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------------

def _header_kinds(row) -> set[str]:
    out = set()
    for cell in row:
        if _empty(cell):
            continue
        m = match_header(cell, RECORD_FIELDS)
        if m:
            out.add(m[0])
    return out


def _looks_like_record_header(row) -> bool:
    kinds = _header_kinds(row)
    if "voltage" in kinds and len(kinds) >= 2:
        return True
    # a BTSDA-like record table without a voltage column: claimed, so that the reader can say so
    return len(kinds) >= 3 and bool(kinds & {"current", "capacity", "charge_capacity"})


def _looks_like_nested_top(rows) -> bool:
    if len(rows) < 2 or not rows[0]:
        return False
    first = match_header(rows[0][0], CYCLE_FIELDS)
    if not first or first[0] != "cycle":
        return False
    kinds = {m[0] for m in (match_header(c, CYCLE_FIELDS) for c in rows[0][1:]) if m}
    step = rows[1]
    return (bool(kinds & {"charge_capacity_mAh", "discharge_capacity_mAh"}) and _lead(step) >= 1
            and len(step) > _lead(step)
            and (match_header(step[_lead(step)], STEP_FIELDS) or (None,))[0] == "step")


def sniff_csv(head: bytes, path: Path) -> bool:
    """A text file whose first lines hold a BTSDA record header (voltage column, English or Chinese)."""
    if head.startswith(b"PK\x03\x04"):
        return False
    decoded = _decode(head)
    if decoded is None:
        return False
    text = decoded[0].lstrip("\ufeff")
    if text.lstrip().startswith(_NOT_BTSDA_TEXT):
        return False
    lines = [ln for ln in text.splitlines()[:HEAD_LINES]]
    if not lines:
        return False
    delim = _delimiter(lines[0] if len(lines) == 1 else max(lines[:3], key=len))
    rows = [_split(ln, delim) for ln in lines]
    if any(_looks_like_record_header(r) for r in rows):
        return True
    return _looks_like_nested_top(rows)


def _xlsx_strings(zf: zipfile.ZipFile, limit: int = 1 << 20) -> str:
    text = []
    names = zf.namelist()
    for name in ["xl/sharedStrings.xml"] + [n for n in names if n.startswith("xl/worksheets/sheet")]:
        if name in names:
            with zf.open(name) as fh:
                text.append(fh.read(limit).decode("utf-8", errors="replace"))
    return "\n".join(text)


_XML_TEXT = re.compile(r"<t(?:\s[^>]*)?>([^<]*)</t>")


def sniff_xlsx(head: bytes, path: Path) -> bool:
    """An XLSX workbook (zip with [Content_Types].xml and xl/workbook.xml) with a voltage header.

    A zip whose first bytes name xlsx parts but that cannot be opened (truncated) is claimed too,
    so that reading it says it is damaged.
    """
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                return False
            strings = _xlsx_strings(zf)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, RuntimeError, ValueError,
            NotImplementedError):
        return b"[Content_Types].xml" in head or b"xl/" in head
    cells = [unicodedata.normalize("NFKC", s) for s in _XML_TEXT.findall(strings)]
    return any((match_header(c, RECORD_FIELDS) or (None,))[0] == "voltage" for c in cells)


# --------------------------------------------------------------------------------------------
# value conversion
# --------------------------------------------------------------------------------------------

_HMS = re.compile(r"^\s*(?:(\d+)\s*(?:days?,?\s*|[-.]\s*|\s+))?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$")


def _filled(col: pd.Series) -> pd.Series:
    """Mask of the cells that hold something (not None/NaN/blank text)."""
    mask = col.notna()
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        mask &= col.astype(str).str.strip().ne("")
    return mask


def _numbers(col: pd.Series) -> pd.Series:
    """Cells as float64; empty, '-' and non-numeric cells NaN."""
    col = col.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    try:
        num = pd.to_numeric(col, errors="coerce")
    except (TypeError, ValueError):
        num = pd.Series(np.nan, index=col.index)
    num = pd.Series(np.asarray(num, dtype="float64"), index=col.index)
    retry = num.isna()
    if retry.any():
        retry &= col.map(lambda v: isinstance(v, str)).astype(bool)
    if retry.any():
        num[retry] = pd.to_numeric(col[retry].astype(str).str.strip().str.strip('"').str.strip(),
                                   errors="coerce").astype("float64").to_numpy()
    return num


def _obj_seconds(v) -> float:
    if isinstance(v, (_dt.timedelta, pd.Timedelta)):
        return pd.Timedelta(v).total_seconds()
    if isinstance(v, _dt.time):
        return v.hour * 3600 + v.minute * 60 + v.second + v.microsecond * 1e-6
    return np.nan


def durations_s(col: pd.Series, unit: str = "") -> np.ndarray:
    """Seconds from durations given as numbers (in ``unit``), ``h:mm:ss(.ms)`` text (hours may
    exceed 24; an optional day prefix ``1-02:03:04``, ``1.02:03:04`` or ``1 day 02:03:04``) or
    Python time/timedelta objects (XLSX). Unparseable cells are NaN."""
    col = col.reset_index(drop=True)
    factor = 1.0 if ":" in unit else UNITS["time"].get(unit, 1.0)
    if pd.api.types.is_timedelta64_dtype(col):
        return col.dt.total_seconds().to_numpy(dtype="float64")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype="float64") * factor
    fast = _hms_column(col)
    if fast is not None:
        return fast
    out = pd.Series(np.nan, index=col.index)
    if col.dtype == object:
        objects = col.map(lambda v: isinstance(v, (_dt.timedelta, _dt.time))).astype(bool)
        if objects.any():
            out[objects] = col[objects].map(_obj_seconds).astype("float64")
    else:
        objects = pd.Series(False, index=col.index)
    text = col.where(~objects, None).astype(str).str.strip()
    colon = text.str.contains(":", regex=False)
    plain = ~objects & ~colon
    if plain.any():
        out[plain] = _numbers(col[plain]).to_numpy() * factor
    if colon.any():  # h:mm:ss(.ms) vectorized; day prefixes by the regex below
        out[colon] = _hms_seconds(text[colon].to_numpy(dtype=object))
    rest = out.isna() & _filled(col)
    if rest.any():
        m = col[rest].astype(str).str.extract(_HMS)
        secs = (m[0].astype(float).fillna(0.0) * 86400 + m[1].astype(float) * 3600
                + m[2].astype(float) * 60 + m[3].astype(float))
        out[rest] = secs.to_numpy()
    return out.to_numpy(dtype="float64")


_HMS_PLAIN = r"^\d+:\d{1,2}:\d{1,2}(\.\d+)?$"


def _arrow_strings(col: pd.Series):
    """The Arrow array of a column of pandas' Arrow-backed string dtype without missing cells,
    else None."""
    if col.dtype == object or not pd.api.types.is_string_dtype(col) \
            or getattr(col.dtype, "storage", None) != "pyarrow" or col.hasnans:
        return None
    import pyarrow as pa
    return pa.chunked_array(pa.array(col.array))


def _hms_column(col: pd.Series) -> np.ndarray | None:
    """Seconds of a text column whose every cell is ``h:mm:ss(.ms)`` (surrounding blanks allowed),
    computed in Arrow without leaving it; None for any other column (the general path)."""
    arr = _arrow_strings(col)
    if arr is None or len(arr) == 0:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    fast = _hms_one_shape(arr.combine_chunks())
    if fast is not None:
        return fast
    text = pc.utf8_trim_whitespace(arr)
    if not pc.all(pc.match_substring_regex(text, _HMS_PLAIN)).as_py():
        return None
    parts = pc.list_flatten(pc.split_pattern(text, ":"))
    hms = pc.cast(parts, pa.float64()).to_numpy(zero_copy_only=False).reshape(-1, 3)
    return hms[:, 0] * 3600 + hms[:, 1] * 60 + hms[:, 2]


_HMS_BYTES = re.compile(rb"(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d+))?")


def _digits(b: np.ndarray, first: np.ndarray, width: int) -> np.ndarray:
    """int64 of the ``width`` ASCII digits of ``b`` from each of the positions ``first``."""
    out = b[first].astype(np.int64) - 48
    for k in range(1, width):
        out *= 10
        out += b[first + k]
        out -= 48
    return out


def _hms_one_shape(arr) -> np.ndarray | None:
    """Seconds of an Arrow string array whose cells are all ``h:mm:ss(.f)`` of one shape (the
    minute, second and fraction digits as many in every cell as in the first; hours of any
    length), read off its bytes with numpy; None for anything else (blanks, nulls, mixed shapes).

    The same numbers as Arrow's parse of the parts: hours and minutes are whole, and seconds
    ``ss.f`` are computed as the integer ``ssf`` divided by ``10**len(f)``, which IEEE division
    rounds correctly, as a correctly rounded parse of the text does."""
    import pyarrow as pa

    n = len(arr)
    if n == 0 or arr.null_count or not (pa.types.is_string(arr.type)
                                        or pa.types.is_large_string(arr.type)):
        return None
    _, offsets, values = arr.buffers()
    if values is None:
        return None
    off = np.frombuffer(offsets, dtype=np.int32 if pa.types.is_string(arr.type) else np.int64)
    off = off[arr.offset:arr.offset + n + 1].astype(np.int64)
    b = np.frombuffer(values, dtype=np.uint8)[off[0]:off[-1]]
    off -= off[0]
    starts, ends = off[:-1], off[1:]
    m = _HMS_BYTES.fullmatch(b[starts[0]:ends[0]].tobytes())
    if m is None:
        return None
    mw, sw, fw = len(m[2]), len(m[3]), len(m[4] or b"")
    if sw + fw > 15:  # beyond exact integers in float64
        return None
    dot = ends - (fw + 1)
    c2 = (dot if fw else ends) - (sw + 1)
    c1 = c2 - (mw + 1)
    hw = c1 - starts  # hour digits
    if hw.min() < 1 or hw.max() > 15:
        return None
    # every byte a digit, ':' or '.'; two colons (and one point) a cell, where the first cell has
    # them: then every cell has the first's shape
    if np.count_nonzero(b == 58) != 2 * n or np.count_nonzero(b == 46) != (n if fw else 0) \
            or np.count_nonzero(b == 47) or np.count_nonzero((b - np.uint8(46)) < 13) != len(b):
        return None
    if not (np.all(b[c1] == 58) and np.all(b[c2] == 58) and (not fw or np.all(b[dot] == 46))):
        return None
    hours = b[c1 - 1].astype(np.int64) - 48
    scale = 1
    for k in range(1, int(hw.max())):
        scale *= 10
        more = np.flatnonzero(hw > k)
        hours[more] += (b[c1[more] - 1 - k].astype(np.int64) - 48) * scale
    minutes = _digits(b, c1 + 1, mw)
    secs = _digits(b, c2 + 1, sw)
    if fw:
        secs = (secs * 10 ** fw + _digits(b, dot + 1, fw)) / 10.0 ** fw
    return hours.astype(np.float64) * 3600 + minutes.astype(np.float64) * 60 + secs


def _datetimes_arrow(col: pd.Series) -> pd.Series | None:
    """A text column of ISO 8601 date-times without zone parsed in Arrow (the same instants as
    :func:`datetimes`, which pandas parses), or None when Arrow does not take every cell."""
    arr = _arrow_strings(col)
    if arr is None or len(arr) == 0:
        return None
    import pyarrow.compute as pc

    # the cells as they are (Arrow takes none with blanks around it), else trimmed
    stamps = _arrow_stamps(arr)
    if stamps is None:
        stamps = _arrow_stamps(pc.utf8_trim_whitespace(arr))
    if stamps is None:
        return None
    return pd.Series(stamps.to_numpy(), dtype="datetime64[us]")


def _arrow_stamps(text):
    """Arrow's timestamp[us] of every cell of an Arrow text array, or None if one fails."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.max(pc.utf8_length(text)).as_py() > 26:  # beyond microseconds pandas keeps ns
        return None
    try:
        return pc.cast(text, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _hms_seconds(text) -> np.ndarray:
    """Seconds of ``h:mm:ss(.ms)`` strings (hours may exceed 24), NaN for anything else; parsed in
    Arrow's compute kernels, not row by row in Python (a 1,000,000-row export: ~0.3 s, not ~10 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = text if isinstance(text, (pa.Array, pa.ChunkedArray)) else \
        pa.array(text, type=pa.string(), from_pandas=True)
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^\d+:\d{1,2}:\d{1,2}(\.\d+)?$"), False)
    out = np.full(len(arr), np.nan)
    if not pc.any(ok).as_py():
        return out
    parts = pc.list_flatten(pc.split_pattern(pc.filter(arr, ok), ":"))
    hms = pc.cast(parts, pa.float64()).to_numpy(zero_copy_only=False).reshape(-1, 3)
    out[ok.to_numpy(zero_copy_only=False)] = hms[:, 0] * 3600 + hms[:, 1] * 60 + hms[:, 2]
    return out


def datetimes(col: pd.Series) -> pd.Series:
    """Parse a date-time column (text or datetime objects); unparseable -> NaT."""
    col = col.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    fast = _datetimes_arrow(col)
    if fast is not None:
        return fast
    if pd.api.types.is_string_dtype(col) and col.dtype != object:
        text = col.str.strip()  # vectorized for pandas' string dtypes
    else:
        text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = text.where(_filled(text), None)
    try:
        return pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(text, format="mixed", errors="coerce")


# --------------------------------------------------------------------------------------------
# grid -> Measurement
# --------------------------------------------------------------------------------------------

def _columns(header: list, start: int = 0) -> list[tuple[int, str]]:
    """(position, name) of the non-empty header cells from ``start``; repeated names get .1, .2"""
    out, seen = [], {}
    for j, h in enumerate(header):
        if j >= start and not _empty(h):
            name = _norm_text(h)
            k = seen.get(name, 0)
            seen[name] = k + 1
            out.append((j, name if k == 0 else f"{name}.{k}"))
    return out


def _frame(rows: list[list], header: list, start: int = 0) -> pd.DataFrame:
    """DataFrame of ``rows`` under the non-empty header cells (by position, from ``start``)."""
    cols = _columns(header, start)
    data = {name: [r[j] if j < len(r) else "" for r in rows] for j, name in cols}
    return pd.DataFrame(data, columns=[name for _, name in cols], dtype=object)


def normalize_table(raw: pd.DataFrame, fields: dict) -> pd.DataFrame:
    """Rename known columns of a BTSDA cycle/step table to normalised names with schema units
    (e.g. ``Cap_DChg(mAh)`` -> ``discharge_capacity_mAh``); numbers become floats, durations seconds.
    Unknown columns keep their names (numeric where every filled cell is a number)."""
    out = {}
    for col in raw.columns:
        m = match_header(col, fields)
        if m and m[0] not in out:
            name, kind, factor, unit = m
            if kind == "text":
                out[name] = raw[col].map(lambda v: None if _empty(v) else _norm_text(v))
                if name == "step_name":
                    out["step_type"] = out[name].map(step_type_of)
            elif kind == "time":
                out[name] = durations_s(raw[col], unit)
            elif kind == "datetime":
                out[name] = datetimes(raw[col])
            elif kind == "count":
                out[name] = _numbers(raw[col]).astype("Int64")
            else:
                out[name] = _numbers(raw[col]) * factor
        else:
            out[col] = _maybe_numeric(raw[col])
    return pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()})


def _maybe_numeric(col: pd.Series) -> pd.Series:
    """An instrument column as float64 when every cell that holds something is a number, else as
    text (normalised; empty cells None)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    filled = _filled(col)
    # the first filled cell decides a text column without parsing all of them
    if filled.any() and _numbers(col[filled].iloc[:1]).notna().all():
        num = _numbers(col)
        if num[filled].notna().all():
            return num
    return _texts(col)


def _texts(col: pd.Series) -> pd.Series:
    """Cells as normalised text (None where empty; non-text cells kept), each distinct value
    normalised once: instrument text columns repeat a few values over every row."""
    def norm(v):
        return None if _empty(v) else (_norm_text(v) if isinstance(v, str) else v)

    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    if not all(isinstance(v, str) for v in uniques):  # 1, 1.0 and True would be one value
        return col.map(norm)
    values = np.array([norm(v) for v in uniques] + [None], dtype=object)
    return pd.Series(values[codes], index=col.index, dtype=object)  # code -1 (missing) -> None


def _record_map(columns) -> dict[str, tuple]:
    fmap = {}
    for col in columns:
        m = match_header(col, RECORD_FIELDS)
        if m and m[0] not in fmap:
            fmap[m[0]] = (col,) + m[1:]
    return fmap


def _check_numbers(values: np.ndarray, what: str, raw: pd.Series, lines, path) -> None:
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        i = int(bad[0])
        where = f"line {lines[i]}" if lines is not None else f"row {i + 1}"
        raise CorruptFileError(
            f"{where}: {what} {str(raw.iloc[i])!r} is not a number ({bad.size} such rows); the "
            "file is damaged or not a BTSDA export", path)


def _build(raw: pd.DataFrame, path: Path, *, lines=None, parent: pd.DataFrame | None = None,
           meta: dict) -> pd.DataFrame:
    """Common-schema DataFrame from the raw record table (object columns, original headers)."""
    fmap = _record_map(raw.columns)
    if "voltage" not in fmap:
        raise UnsupportedFileError(
            "no voltage column was found in the BTSDA record header (looked for Voltage(V), "
            "电压(V) and their spellings); export the record layer with its voltage column", path)
    n = len(raw)
    out = {}  # column name -> array of n values (finalize builds the frame once, without copies)
    used = set()

    def col(name):
        used.add(fmap[name][0])
        return raw[fmap[name][0]].reset_index(drop=True)

    # step keys and names
    if parent is not None:
        cycle = parent["cycle"].to_numpy()
        step = parent["step_row"].to_numpy()
        names = parent["step_name"]
        if "step_name" in fmap:
            own = col("step_name")
            names = own.where(_filled(own), names)
    else:
        cycle = _numbers(col("cycle")).to_numpy() if "cycle" in fmap else None
        sid = _numbers(col("step_id")).to_numpy() if "step_id" in fmap else None
        names = col("step_name") if "step_name" in fmap else None
        if cycle is not None:
            _check_numbers(cycle, "cycle number", raw[fmap["cycle"][0]], lines, path)
        keys = [k for k in (cycle, sid) if k is not None]
        if not keys and names is not None:
            keys = [pd.factorize(names.astype(str))[0]]
        if keys:
            new = np.zeros(n, dtype=bool)
            new[:1] = True
            for k in keys:
                new[1:] |= k[1:] != k[:-1]
            step = np.cumsum(new).astype(np.int64)
        else:
            step = None
    if names is not None:
        # each distinct name classified once (missing names -> code -1 -> "other")
        codes, uniques = pd.factorize(pd.Series(names).reset_index(drop=True))
        kinds = [STEP_TYPES.index(step_type_of(v)) for v in uniques] + [STEP_TYPES.index("other")]
        step_type = pd.Categorical.from_codes(np.asarray(kinds, dtype=np.int8)[codes],
                                              dtype=step_type_dtype())
    else:
        step_type = None

    # time
    steps_for_time = step if step is not None else np.ones(n, dtype=np.int64)
    if "total_time" in fmap:
        t = durations_s(col("total_time"), fmap["total_time"][3])
        _check_numbers(t, "total time", raw[fmap["total_time"][0]], lines, path)
        meta["time_source"] = f"total time column {fmap['total_time'][0]!r}"
    elif "datetime" in fmap:
        dt = datetimes(col("datetime"))
        if dt.isna().any():
            i = int(np.flatnonzero(dt.isna().to_numpy())[0])
            where = f"line {lines[i]}" if lines is not None else f"row {i + 1}"
            raise CorruptFileError(f"{where}: date-time {str(raw[fmap['datetime'][0]].iloc[i])!r} "
                                   "cannot be read", path)
        t = (dt - dt.iloc[0]).dt.total_seconds().to_numpy(dtype="float64")
        meta["time_source"] = f"date-time column {fmap['datetime'][0]!r}"
        if "step_time" in fmap:  # the test began when the first step did
            st0 = durations_s(raw[fmap["step_time"][0]].iloc[:1], fmap["step_time"][3])[0]
            if np.isfinite(st0) and st0 > 0:
                t = t + st0
    elif "step_time" in fmap:
        st = durations_s(col("step_time"), fmap["step_time"][3])
        _check_numbers(st, "step time", raw[fmap["step_time"][0]], lines, path)
        last = pd.Series(st).groupby(steps_for_time).last().to_numpy()
        offset = np.concatenate([[0.0], np.cumsum(last)[:-1]])
        first_id = pd.factorize(steps_for_time)[0]
        t = offset[first_id] + st
        meta["time_source"] = (f"step time column {fmap['step_time'][0]!r} accumulated over steps "
                               "(pauses between steps are not seen)")
    else:
        t = None
    if "datetime" in fmap:
        dt = datetimes(raw[fmap["datetime"][0]])
        used.add(fmap["datetime"][0])
        if dt.notna().any():
            meta["start_time"] = dt.dropna().iloc[0].isoformat()
        out_dt = dt
    else:
        out_dt = None
    if t is not None:
        if np.any(np.diff(t) < 0):
            meta.setdefault("warnings", []).append(
                f"time goes backwards at {int(np.sum(np.diff(t) < 0))} rows; made non-decreasing")
            t = np.maximum.accumulate(t)
        out["time_s"] = t

    v = _numbers(col("voltage")).to_numpy() * fmap["voltage"][2]
    _check_numbers(v, "voltage", raw[fmap["voltage"][0]], lines, path)
    out["voltage_V"] = v

    if "current" in fmap:
        cur = _numbers(col("current")).to_numpy() * fmap["current"][2]
        _check_numbers(cur, "current", raw[fmap["current"][0]], lines, path)
        if step_type is not None:
            dis = np.asarray(step_type.isin(list(_DISCHARGE_TYPES)), dtype=bool)
            if dis.any() and not np.any(cur < 0) and np.any(cur[dis] > 0):
                cur = np.where(dis, -cur, cur)
                meta.setdefault("warnings", []).append(
                    "the file gives currents without sign; discharge steps were made negative")
        out["current_mA"] = cur

    if "capacity" in fmap:
        cap = np.abs(_numbers(col("capacity")).to_numpy() * fmap["capacity"][2])
    elif "charge_capacity" in fmap or "discharge_capacity" in fmap:
        cap = np.zeros(n)
        for name in ("charge_capacity", "discharge_capacity"):
            if name in fmap:
                cap = cap + np.abs(np.nan_to_num(
                    raw[fmap[name][0]].pipe(_numbers).to_numpy() * fmap[name][2]))
    else:
        cap = None
    if cap is not None:
        out["capacity_mAh"] = cap

    if cycle is not None:
        out["cycle"] = np.asarray(cycle, dtype="float64").astype(np.int64)
    if step is not None:
        out["step"] = step
    if step_type is not None:
        out["step_type"] = step_type

    # instrument columns after the schema ones
    renames = {"record": "record", "step_id": "step_number", "step_time": "step_time_s",
               "charge_capacity": "charge_capacity_mAh", "discharge_capacity": "discharge_capacity_mAh",
               "energy": "energy_mWh", "charge_energy": "charge_energy_mWh",
               "discharge_energy": "discharge_energy_mWh"}
    for name, new in renames.items():
        if name in fmap and fmap[name][0] not in used:
            c, kind, factor, unit = fmap[name]
            used.add(c)
            if kind == "time":
                out[new] = durations_s(raw[c], unit)
            elif kind == "count":
                out[new] = _numbers(raw[c]).astype("Int64").to_numpy()
            else:
                out[new] = _numbers(raw[c]).to_numpy() * factor
    if out_dt is not None:
        out["date_time"] = out_dt.to_numpy()
    if parent is not None and "step_number" not in out:
        out["step_number"] = parent["step_id"].to_numpy()
    for c in raw.columns:
        if c not in used and c not in out:
            out[c] = _maybe_numeric(raw[c].reset_index(drop=True)).to_numpy()
    meta["column_map"] = {k: v[0] for k, v in fmap.items()}
    return finalize(out)


def _find_header(rows: list[list], path: Path) -> int:
    for i, row in enumerate(rows[:HEAD_LINES]):
        if "voltage" in _header_kinds(row):
            return i
    for row in rows[:HEAD_LINES]:
        if _looks_like_record_header(row):
            raise UnsupportedFileError(
                "no voltage column was found: the header names record fields (current, capacity, "
                "...) but no Voltage(V)/电压(V) column; export the record layer with its voltage", path)
    if _looks_like_nested_top(rows[:2]):
        raise CorruptFileError(
            "the file has the cycle and step header lines of a nested BTSDA export but no record "
            "header line with a voltage column: it is truncated or damaged", path)
    raise UnsupportedFileError(
        f"no voltage column was found in the first {HEAD_LINES} lines: not a BTSDA record export",
        path)


_DIGITS = re.compile(r"\d+")


def _shape(v) -> str:
    """Shape of a cell: the first digit run -> ``N``, later runs -> ``N<length>``, the rest kept
    (``0.4251`` -> ``N.N4``, ``2022-05-24 16:29:53`` -> ``N-N2-N2 N2:N2:N2``, empty -> ``""``)."""
    if _empty(v):
        return ""
    first = [True]

    def rep(m):
        if first[0]:
            first[0] = False
            return "N"
        return f"N{len(m.group(0))}"
    return _DIGITS.sub(rep, str(v).strip())


def _row_complete(last: list, before: list[list], headers: list[list] = ()) -> bool:
    """Whether ``last`` looks like the complete rows ``before`` it (same level), or, with no
    row before it, has a cell under every header cell of its level."""
    if not before:
        level = _lead(last)
        for hdr in headers:
            if _lead(hdr) == level:
                filled = [j for j, c in enumerate(hdr) if not _empty(c)]
                return not filled or len(last) > filled[-1]
        return True
    counts = pd.Series([len(r) for r in before]).mode()
    if len(last) < int(counts.iloc[0]):
        return False
    for j, v in enumerate(last):
        shapes = {_shape(r[j]) for r in before if j < len(r)}
        if shapes and _shape(v) not in shapes:
            return False
    return True


def _drop_cut_row(rows: list[list], start: int, meta: dict, headers: list[list] = ()) -> list[list]:
    """Drop the last non-empty row if it is incomplete (see module docstring)."""
    idx = [i for i in range(len(rows) - 1, start - 1, -1) if not all(_empty(c) for c in rows[i])]
    if not idx:
        return rows
    last = idx[0]
    level = _lead(rows[last])
    before = [rows[i] for i in idx[1:151] if _lead(rows[i]) == level]
    if _row_complete(rows[last], before[::-1], headers):
        return rows
    meta["truncated"] = True
    meta.setdefault("warnings", []).append(
        "the file ends inside a row (no line end, incomplete last row): it was cut off; the "
        "incomplete last row was dropped")
    return rows[:last]


def _header_meta(rows: list[list], h: int, meta: dict) -> None:
    header_cells = [c for r in rows[max(0, h - 2):h + 1] for c in r if not _empty(c)]
    meta["header_language"] = "zh" if any(re.search(r"[\u4e00-\u9fff]", str(c))
                                          for c in header_cells) else "en"
    if h and not _is_nested(rows, h):
        meta["preamble"] = [" ".join(str(c) for c in r if not _empty(c)) for r in rows[:h]]


def _is_nested(rows: list[list], h: int) -> bool:
    lead = _lead(rows[h])
    return lead >= 1 and h >= 2 and 0 < _lead(rows[h - 1]) < lead and _lead(rows[h - 2]) == 0


def _flat(raw: pd.DataFrame, lines: list[int], path: Path, meta: dict) -> Measurement:
    if raw.empty:
        raise CorruptFileError("the record header is there but no record row follows: the "
                               "file is truncated or empty", path)
    meta["layout"] = "flat"
    data = _build(raw, path, lines=lines, meta=meta)
    return Measurement(data, meta)


def parse_grid(rows: list[list], path: Path, *, line_numbers: list[int] | None = None,
               meta: dict | None = None, check_last: bool = False) -> Measurement:
    """Read a BTSDA table given as rows of cells (CSV lines split, or an XLSX sheet).

    ``check_last``: the text did not end with a line end, so the last row may be cut off.
    """
    meta = {} if meta is None else meta
    path = Path(path)
    h = _find_header(rows, path)
    if check_last:
        rows = _drop_cut_row(rows, h + 1, meta, rows[max(0, h - 2):h + 1])
    lead = _lead(rows[h])
    ln = line_numbers if line_numbers is not None else list(range(1, len(rows) + 1))
    _header_meta(rows, h, meta)
    if not _is_nested(rows, h):
        body = [(r, ln[i]) for i, r in enumerate(rows[h + 1:], start=h + 1)
                if not all(_empty(c) for c in r)]
        raw = _frame([r for r, _ in body], rows[h], start=lead)
        return _flat(raw, [x for _, x in body], path, meta)

    cyc_hdr, step_hdr, rec_hdr = rows[h - 2], rows[h - 1], rows[h]
    step_lead = _lead(step_hdr)
    cyc_pos = next((j for j, c in enumerate(cyc_hdr) if (match_header(c, CYCLE_FIELDS) or (None,))[0]
                    == "cycle"), 0)
    sid_pos = next((j for j, c in enumerate(step_hdr) if (match_header(c, STEP_FIELDS) or (None,))[0]
                    == "step"), step_lead)
    sname_pos = next((j for j, c in enumerate(step_hdr)
                      if (match_header(c, STEP_FIELDS) or (None,))[0] == "step_name"), None)
    cycles, steps, recs, rec_lines, parents = [], [], [], [], []
    cur_cycle = cur_step_id = cur_name = None
    n_steps = 0
    for i in range(h + 1, len(rows)):
        r = rows[i]
        if all(_empty(c) for c in r):
            continue
        k = _lead(r)
        if k >= lead:
            if cur_cycle is None or n_steps == 0:
                raise CorruptFileError(f"line {ln[i]}: a record row comes before any cycle or step "
                                       "row; the nested layout is damaged", path)
            recs.append(r)
            rec_lines.append(ln[i])
            parents.append((cur_cycle, n_steps, cur_step_id, cur_name))
        elif k >= step_lead:
            if cur_cycle is None:
                raise CorruptFileError(f"line {ln[i]}: a step row comes before any cycle row; the "
                                       "nested layout is damaged", path)
            n_steps += 1
            cur_step_id = r[sid_pos] if sid_pos < len(r) else None
            cur_name = r[sname_pos] if sname_pos is not None and sname_pos < len(r) else None
            steps.append(list(r) + [""] * max(0, len(step_hdr) - len(r)) + [cur_cycle])
        else:
            value = pd.to_numeric(pd.Series([r[cyc_pos] if cyc_pos < len(r) else None]),
                                  errors="coerce").iloc[0]
            if np.isnan(value):
                raise CorruptFileError(f"line {ln[i]}: cycle row without a cycle number "
                                       f"({r[cyc_pos] if cyc_pos < len(r) else ''!r})", path)
            cur_cycle = int(value)
            cycles.append(r)
    if not recs:
        raise CorruptFileError("no record row was found under the nested BTSDA headers: the file "
                               "is truncated or holds only cycle/step summaries", path)
    raw = _frame(recs, rec_hdr, start=lead)
    parent = pd.DataFrame(parents, columns=["cycle", "step_row", "step_id", "step_name"])
    parent["step_id"] = _numbers(parent["step_id"].astype(object)).astype("Int64")
    meta["layout"] = "nested"
    data = _build(raw, path, lines=rec_lines, parent=parent, meta=meta)
    meta["btsda_cycles"] = normalize_table(_frame(cycles, cyc_hdr), CYCLE_FIELDS)
    step_raw = _frame([s[:-1] for s in steps], step_hdr, start=step_lead)
    st = normalize_table(step_raw, STEP_FIELDS)
    if "cycle" not in st:
        st.insert(0, "cycle", [s[-1] for s in steps])
    meta["btsda_steps"] = st
    return Measurement(data, meta)


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------

def _base_meta(path: Path, fmt: str) -> dict:
    return {"instrument": "Neware CT-4000 (BTSDA export)", "techniques": ["cycling"],
            "source": str(path), "format": fmt, "truncated": False}


class _LazyLines:
    """``text.splitlines()``, split only as far as it is looked at: the first lines of a large file
    from its beginning, the whole text only when all of it is asked for. ``text`` may be ASCII
    bytes, then decoded only when all of it is asked for."""

    def __init__(self, text: str | bytes, cut: bool):
        self._text, self.cut = text, cut
        self._all = None
        head = text[:1 << 16]
        self._head = (head.decode("ascii") if isinstance(head, bytes) else head).splitlines()
        if len(text) > 1 << 16:
            self._head = self._head[:-1]  # may end inside a line

    @property
    def text(self) -> str:
        if isinstance(self._text, bytes):
            self._text = self._text.decode("ascii")
        return self._text

    def all(self) -> list[str]:
        if self._all is None:
            self._all = self.text.splitlines()
        return self._all

    def __getitem__(self, key):
        if isinstance(key, slice) and key.start in (None, 0) and key.step is None \
                and key.stop is not None and 0 <= key.stop < len(self._head):
            return self._head[key]
        if isinstance(key, int) and 0 <= key < len(self._head):
            return self._head[key]
        return self.all()[key]

    def __iter__(self):
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())

    def __bool__(self) -> bool:
        return bool(self._head) or bool(self.all())


#: a line holding nothing but whitespace, between two others (a literal first character keeps
#: the search fast over a large file)
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")


def read_csv(path: str | Path) -> Measurement:
    """Read a BTSDA CSV/TXT export (flat or nested, English or Chinese, UTF-8/GBK/UTF-16)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptFileError(f"cannot read the file: {exc.strerror or exc}", path) from exc
    if not data or data.isspace():  # (not data.strip(), without copying a large file)
        raise CorruptFileError("the file is empty", path)
    if data.isascii() and b"\x00" not in data:
        # the usual export: its bytes are its text (UTF-8), decoded in pieces as they are needed
        text, encoding, cut_char = None, "utf-8", False
    else:
        decoded = _decode(data)
        if decoded is None:
            if b"\x00" in data[:65536] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise UnsupportedFileError("binary content (NUL bytes): not a BTSDA CSV export",
                                           path)
            try:
                data.decode("utf-8")
                where = ""
            except UnicodeDecodeError as exc:
                where = f" (first bad byte at offset {exc.start})"
            raise CorruptFileError(f"the text is neither UTF-8 nor GBK{where}: the file is damaged "
                                   "or in another encoding; export it again from BTSDA", path)
        text, encoding, cut_char = decoded
    meta = _base_meta(path, "btsda-csv")
    meta["encoding"] = encoding
    lines = _LazyLines(data if text is None else text.lstrip("\ufeff"), cut_char)
    if cut_char:
        lines = lines[:-1]
        meta["truncated"] = True
        meta.setdefault("warnings", []).append(
            "the file ends inside a character: it was cut off; the incomplete last row was dropped")
    ends_line = data.endswith((b"\n", b"\r")) if text is None else text.endswith(("\n", "\r"))
    if not lines or (len(lines[:2]) == 1 and not ends_line):
        raise CorruptFileError("the file is cut off inside its first line (no complete header)", path)
    head = [ln for ln in lines[:HEAD_LINES] if ln.strip()]
    delim = _delimiter(max(head[:3], key=len) if head else lines[0])
    meta["delimiter"] = delim
    check_last = not cut_char and not ends_line
    head_rows = [_split(ln, delim) for ln in lines[:HEAD_LINES]]
    h = _find_header(head_rows, path)
    nested = _is_nested(head_rows, h)
    quoted = '"' in (data[:4096].decode("ascii") if text is None else text[:4096])
    # flat layout: the body through Arrow's CSV reader when it takes the file as it is (the
    # usual case; with quotes only in the lines down to the header, whose cells lose them as
    # in the general path); else, or when a cell is bad (the message names its line), pandas' C
    # parser, or for quoted cells the general path
    if not nested and not cut_char:
        trial = copy.deepcopy(meta)
        _header_meta(head_rows, h, trial)
        try:
            meas = _flat_arrow(data, text, encoding, h, head_rows[h], delim, path, trial,
                               check_last, quoted)
        except CorruptFileError:
            meas = None
        if meas is not None:
            return meas
    if nested or quoted:
        rows = [_split(ln, delim) for ln in lines]
        return parse_grid(rows, path, meta=meta, check_last=check_last)
    _header_meta(head_rows, h, meta)
    if text is None:
        text = lines.text
    if check_last:
        start = max(h + 1, len(lines) - 152)
        tail = [_split(ln, delim) for ln in lines[start:]]
        kept = _drop_cut_row(tail, 0, meta, [head_rows[h]])
        lines = lines[:start + len(kept)]
    if _BLANK_LINE.search(text) is None and lines[-1].strip():
        numbers = range(h + 2, len(lines) + 1)  # no blank line: the usual case
        body = "\n".join(lines[h + 1:])
    else:
        numbers = [i + 1 for i in range(h + 1, len(lines)) if lines[i].strip()]
        body = "\n".join(ln for ln in lines[h + 1:] if ln.strip())
    header = head_rows[h]
    lead = _lead(header)
    try:
        table = pd.read_csv(io.StringIO(body), sep=delim, header=None, keep_default_na=False,
                            na_filter=False, engine="c", skip_blank_lines=True, quoting=3)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        rows = [_split(ln, delim) for ln in lines]
        return parse_grid(rows, path, meta=meta)
    if len(table) != len(numbers):
        rows = [_split(ln, delim) for ln in lines]
        return parse_grid(rows, path, meta=meta)
    cols = _columns(header, lead)
    raw = pd.DataFrame({name: (table[j] if j in table.columns else "") for j, name in cols},
                       columns=[name for _, name in cols])
    return _flat(raw, numbers, path, meta)


#: line ends other than \n, \r\n and \r that str.splitlines also splits at
_LINE_ENDS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LINE_ENDS_ASCII = re.compile(rb"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e]")
_ODD_LINE_ENDS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_ODD_LINE_ENDS_UTF8 = ("\x85".encode(), "\u2028".encode(), "\u2029".encode())
_NUMBER_KINDS = {"count", "voltage", "current", "charge", "energy", "pct"}


def _flat_arrow(data: bytes, text: str | None, encoding: str, h: int, header: list, delim: str,
                path: Path, meta: dict, check_last: bool, quoted: bool) -> Measurement | None:
    """The flat record table read by Arrow's CSV reader (no row-by-row Python), or None when
    this file needs the general path: other line ends than \\n/\\r\\n/\\r, GBK text beyond
    ASCII in the body, rows of differing lengths, a cell of a number column that is not a
    number, or (``quoted``: the first lines hold quotes) a quote below the header line. The
    cells are those of the general path: no quoting, blank lines skipped, number columns parsed
    as float64, every other column kept as text. ``text`` is the decoded file, or None when
    ``data`` is ASCII (then its own text: only the pieces looked at are decoded). Raises
    CorruptFileError as ``_build`` does, without line numbers (the caller then takes the
    general path for them)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if text is not None and (encoding not in ("utf-8", "gbk") or text.startswith("\ufeff")):
        return None
    codec = "utf-8" if encoding == "utf-8" else "gb18030"
    if text is None:  # ASCII: a position in the bytes is one in the text
        src, finder, plain_ends = data, _LINE_ENDS_ASCII, (b"\n", b"\r\n", b"\r")
    else:
        src, finder, plain_ends = text, _LINE_ENDS, ("\n", "\r\n", "\r")

    def piece(lo: int, hi: int | None = None) -> str:
        return data[lo:hi].decode("ascii") if text is None else text[lo:hi]

    ends = []
    for m in finder.finditer(src):
        if m.group() not in plain_ends:
            return None
        ends.append(m)
        if len(ends) == h + 1:
            break
    if len(ends) < h + 1:
        return None
    start_char = ends[-1].end()
    bom = 3 if encoding == "utf-8" and data.startswith(b"\xef\xbb\xbf") else 0
    ascii_text = text is None or text.isascii()
    start = bom + (start_char if ascii_text else len(text[:start_char].encode(codec)))
    if quoted and data.find(b'"', start) >= 0:
        return None
    if any(data.find(b, start) >= 0 for b in _ODD_LINE_ENDS):
        return None
    if not ascii_text:
        if encoding == "gbk" and not data[start:].isascii():
            return None
        if any(data.find(b, start) >= 0 for b in _ODD_LINE_ENDS_UTF8):
            return None
    end = len(data)
    if check_last:  # the last row may be cut off: judged as the general path does
        n_tail, chunk = 152, 1 << 16
        while True:
            lo = max(start_char, len(src) - chunk)
            tail = piece(lo).splitlines(keepends=True)
            if lo > start_char:
                tail = tail[1:]  # may begin inside a line
            if len(tail) >= n_tail or lo == start_char:
                break
            chunk *= 4
        tail = tail[-n_tail:]
        rows = [_split(ln.rstrip("\r\n"), delim) for ln in tail]
        kept = _drop_cut_row(rows, 0, meta, [header])
        if len(kept) < len(rows):
            end = len(data) - len("".join(tail[len(kept):]).encode(codec))
    body = pa.py_buffer(data)[start:end]
    first = piece(start_char, start_char + 65536).lstrip("\r\n").splitlines()
    if not first or not first[0].strip():
        return None
    n_fields = len(first[0].split(delim))
    cols = _columns(header, _lead(header))
    kinds = {}
    for j, name in cols:
        m = match_header(name, RECORD_FIELDS)
        kinds[j] = m[1] if m else None
    types = {f"f{j}": (pa.float64() if kinds.get(j) in _NUMBER_KINDS else pa.string())
             for j in range(n_fields)}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=list(types)),
            parse_options=pacsv.ParseOptions(delimiter=delim, quote_char=False, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[],
                                                 true_values=[], false_values=[],
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n = table.num_rows
    if n == 0:
        return None
    raw = {}
    for j, name in cols:
        if j >= n_fields:
            raw[name] = pd.Series([""] * n, dtype=object)
            continue
        c = table.column(j)
        if kinds.get(j) is None:  # an instrument column: numbers when every cell is one
            c = _as_float(c)
        raw[name] = pd.Series(c.to_numpy()) if pa.types.is_floating(c.type) else c.to_pandas()
    return _flat(pd.DataFrame(raw, columns=[name for _, name in cols], copy=False), None, path,
                 meta)


def _as_float(column):
    """A text column of Arrow's reader as float64 when every cell is a plain number (as
    ``_maybe_numeric`` would make it, without parsing in Python), else the column unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        num = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # blanks, '-', text: the slow path
        return column
    # 'nan' cells are no numbers to _maybe_numeric (its column stays text)
    return column if num.null_count or pc.any(pc.is_nan(num)).as_py() else num


def read_xlsx(path: str | Path) -> Measurement:
    """Read a BTSDA XLSX export: the sheet with the record header gives the data; step and cycle
    sheets go to ``meta["btsda_steps"]``/``meta["btsda_cycles"]`` (other sheet names to
    ``meta["sheets"]``)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise CorruptFileError(f"the XLSX archive member {bad} is damaged", path)
        book = pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl", dtype=object)
    except CorruptFileError:
        raise
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise CorruptFileError(f"not a readable XLSX workbook (truncated or damaged zip: {exc})",
                               path) from exc
    except Exception as exc:  # openpyxl raises many kinds on damaged workbooks
        raise CorruptFileError(f"the XLSX workbook cannot be read: {type(exc).__name__}: {exc}",
                               path) from exc
    grids = {name: [[None if _empty(v) else v for v in row] for row in df.itertuples(index=False)]
             for name, df in book.items()}
    candidates = []
    for name, rows in grids.items():
        for i, row in enumerate(rows[:HEAD_LINES]):
            if "voltage" in _header_kinds(row):
                candidates.append((len(rows) - i, name))
                break
    if not candidates:
        raise UnsupportedFileError("no sheet of this workbook has a voltage column header "
                                   "(Voltage(V)/电压(V)): not a BTSDA export", path)
    record_sheet = max(candidates)[1]
    meta = _base_meta(path, "btsda-xlsx")
    meta["sheets"] = list(grids)
    meta["record_sheet"] = record_sheet
    meas = parse_grid(grids[record_sheet], path, meta=meta)
    for name, rows in grids.items():
        if name == record_sheet:
            continue
        kind, table = _summary_sheet(rows)
        if kind and f"btsda_{kind}" not in meas.meta:
            meas.meta[f"btsda_{kind}"] = table
    return meas


def _summary_sheet(rows):
    """('steps'|'cycles', normalised table) for a step or cycle sheet, else (None, None)."""
    for i, row in enumerate(rows[:10]):
        step_kinds = {m[0] for m in (match_header(c, STEP_FIELDS) for c in row if not _empty(c)) if m}
        cyc_kinds = {m[0] for m in (match_header(c, CYCLE_FIELDS) for c in row if not _empty(c)) if m}
        if "voltage" in _header_kinds(row):
            return None, None
        body = [r for r in rows[i + 1:] if not all(_empty(c) for c in r)]
        if {"step", "step_name"} <= step_kinds:
            return "steps", normalize_table(_frame(body, row), STEP_FIELDS)
        if "cycle" in cyc_kinds and cyc_kinds & {"charge_capacity_mAh", "discharge_capacity_mAh"}:
            return "cycles", normalize_table(_frame(body, row), CYCLE_FIELDS)
    return None, None


FORMATS = [
    ("btsda-xlsx", sniff_xlsx, read_xlsx),
    ("btsda-csv", sniff_csv, read_csv),
]


# --------------------------------------------------------------------------------------------
# writers (used by the sample-data generator and the round-trip tests)
# --------------------------------------------------------------------------------------------

#: schema step type -> BTSDA step name (English, Chinese)
WRITE_STEP_NAMES = {
    "rest": ("Rest", "搁置"), "cc_charge": ("CC Chg", "恒流充电"),
    "cc_discharge": ("CC DChg", "恒流放电"), "cv_charge": ("CV Chg", "恒压充电"),
    "cv_discharge": ("CV DChg", "恒压放电"), "cccv_charge": ("CCCV Chg", "恒流恒压充电"),
    "cccv_discharge": ("CCCV DChg", "恒流恒压放电"), "cp_charge": ("CP Chg", "恒功率充电"),
    "cp_discharge": ("CP DChg", "恒功率放电"), "ocv": ("OCV", "开路"), "eis": ("EIS", "EIS"),
    "other": ("Other", "其他"),
}


def _derived(records: pd.DataFrame) -> pd.DataFrame:
    """Per-record step time, energy in step and step bookkeeping computed from a schema frame."""
    need = {"time_s", "voltage_V", "current_mA", "capacity_mAh"}
    missing = need - set(records.columns)
    if missing:
        raise ValueError(f"records lack the columns {sorted(missing)}")
    d = records.reset_index(drop=True).copy()
    if "cycle" not in d:
        d["cycle"] = 1
    if "step" not in d:
        d["step"] = 1
    if "step_type" not in d:
        d["step_type"] = "other"
    d["step_type"] = d["step_type"].astype(object).where(d["step_type"].notna(), "other")
    key = d["cycle"].astype(np.int64).to_numpy() * 10**9 + d["step"].astype(np.int64).to_numpy()
    new = np.r_[True, key[1:] != key[:-1]]
    d["w_run"] = np.cumsum(new)
    t = d["time_s"].to_numpy(dtype=float)
    # a step starts where the one before it ended (the first at time 0), as in BTSDA's exports
    last = d.groupby("w_run", sort=False)["time_s"].last().to_numpy(dtype=float)
    start = np.concatenate([[0.0], last[:-1]])
    d["w_step_time"] = t - start[d["w_run"].to_numpy() - 1]
    p = np.abs(d["voltage_V"].to_numpy(float) * d["current_mA"].to_numpy(float))  # mW
    dt = np.r_[0.0, np.diff(t)]
    dt[new] = 0.0
    e = np.r_[0.0, 0.5 * (p[1:] + p[:-1])] * dt / 3600.0  # mWh
    d["w_energy"] = pd.Series(e).groupby(d["w_run"]).cumsum().to_numpy()
    st = d["step_type"].astype(str)
    cur = d["current_mA"].to_numpy(float)
    charging = st.isin(_CHARGE_TYPES).to_numpy() | (~st.isin(_DISCHARGE_TYPES).to_numpy() & (cur > 0))
    discharging = st.isin(_DISCHARGE_TYPES).to_numpy() | (~st.isin(_CHARGE_TYPES).to_numpy() & (cur < 0))
    d["w_chg"] = np.where(charging, d["capacity_mAh"], 0.0)
    d["w_dchg"] = np.where(discharging & ~charging, d["capacity_mAh"], 0.0)
    d["w_echg"] = np.where(charging, d["w_energy"], 0.0)
    d["w_edchg"] = np.where(discharging & ~charging, d["w_energy"], 0.0)
    return d


_FLAT_HEADERS = {
    "en": ["DataPoint", "Cycle Index", "Step Index", "Step Type", "Time", "Cumulative Time",
           "Current(A)", "Voltage(V)", "Capacity(Ah)", "Chg. Cap.(Ah)", "DChg. Cap.(Ah)",
           "Energy(Wh)", "Chg. Energy(Wh)", "DChg. Energy(Wh)", "Date"],
    "zh": ["数据序号", "循环号", "工步号", "工步类型", "时间", "总时间", "电流(A)", "电压(V)",
           "容量(Ah)", "充电容量(Ah)", "放电容量(Ah)", "能量(Wh)", "充电能量(Wh)", "放电能量(Wh)",
           "日期"],
}


#: decimals BTSDA writes (its flat exports: ``2.9170`` V, ``0.00000000`` A/Ah/Wh); the nested
#: layout's mA/mAh/mWh keep the same absolute resolution (1e-8 A = 1e-5 mA)
VOLT_DECIMALS = 4
A_DECIMALS = 8
MA_DECIMALS = 5
PCT_DECIMALS = 3
S_DECIMALS = 3


def _ints_text(values):
    """Whole numbers as Arrow text (``12``)."""
    import pyarrow as pa

    return pa.array(np.asarray(values).astype(np.int64)).cast(pa.string())


def _padded(values, width: int):
    """Whole numbers as text with leading zeros to ``width`` digits (``7`` -> ``07``)."""
    import pyarrow.compute as pc

    return pc.utf8_lpad(_ints_text(values), width=width, padding="0")


def _fixed(values, decimals: int):
    """Numbers as Arrow text with ``decimals`` decimals (``0.00015708``), rounded half to even
    (a value that rounds to zero has no sign); empty for NaN and infinities."""
    import pyarrow.compute as pc

    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    scaled = np.rint(np.where(ok, x, 0.0) * 10.0 ** decimals).astype(np.int64)
    whole, frac = np.divmod(np.abs(scaled), 10 ** decimals)
    text = pc.binary_join_element_wise(_ints_text(whole), _padded(frac, decimals), ".")
    neg = scaled < 0
    if neg.any():
        text = pc.if_else(neg, pc.binary_join_element_wise("-", text, ""), text)
    if not ok.all():
        text = pc.if_else(ok, text, "")
    return text


def _clock(total_ms: np.ndarray) -> tuple[list, np.ndarray]:
    """Whole milliseconds as the text parts ``hh``, ``:``, ``mm``, ``:``, ``ss`` (hours not
    wrapped at 24) and the milliseconds left over."""
    h, rem = np.divmod(total_ms, 3_600_000)
    m, rem = np.divmod(rem, 60_000)
    s, milli = np.divmod(rem, 1000)
    return [_padded(h, 2), ":", _padded(m, 2), ":", _padded(s, 2)], milli


def _hms_text(seconds, ms: bool = False):
    """Durations as ``hh:mm:ss`` with hours running past 24, as BTSDA writes them, with
    ``.mmm`` when ``ms`` or when any duration has milliseconds."""
    import pyarrow.compute as pc

    total = np.rint(np.asarray(seconds, dtype=np.float64) * 1000).astype(np.int64)
    parts, milli = _clock(total)
    if ms or milli.any():
        parts += [".", _padded(milli, 3)]
    return pc.binary_join_element_wise(*parts, "")


def _stamps(start: pd.Timestamp, seconds):
    """``YYYY-mm-dd HH:MM:SS`` of ``start`` plus ``seconds`` (``.mmm`` added when any time has
    milliseconds), computed from whole milliseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = np.rint(np.asarray(seconds, dtype=np.float64) * 1000).astype(np.int64)
    day, tod = np.divmod(start.value // 1_000_000 + total, 86_400_000)
    codes, days = pd.factorize(day)
    dates = pa.array([str(np.datetime64(int(x), "D")) for x in days], type=pa.string())
    clock, milli = _clock(tod)
    parts = [pc.take(dates, pa.array(codes)), " ", *clock]
    if np.any(total % 1000):
        parts += [".", _padded(milli, 3)]
    return pc.binary_join_element_wise(*parts, "")


def _step_names(step_type: pd.Series, lang: int):
    """BTSDA step names (English ``lang=0``, Chinese ``1``) of schema step types."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, kinds = pd.factorize(step_type.astype(object))
    names = [WRITE_STEP_NAMES.get(k, WRITE_STEP_NAMES["other"])[lang] for k in kinds]
    return pc.take(pa.array(names, type=pa.string()), pa.array(codes))


def _durations_text(seconds, time_format: str, ms: bool = False):
    """Durations as text: ``time_format`` "s" seconds with 3 decimals, else ``hh:mm:ss``
    (see :func:`_hms_text`)."""
    if time_format == "s":
        return _fixed(seconds, S_DECIMALS)
    return _hms_text(seconds, ms)


def _join_fields(columns: list):
    """CSV lines (without line end) of equally long Arrow text columns; a str is the same text
    on every line."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*columns, ",")


def _lines_bytes(lines) -> bytes:
    """The UTF-8 bytes of Arrow text lines, each ended by CRLF."""
    import pyarrow.compute as pc

    if len(lines) == 0:
        return b""
    lines = pc.binary_join_element_wise(lines, "", "\r\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:]
    first, last = int(offsets[0]), int(offsets[len(lines)])
    return lines.buffers()[2].slice(first, last - first).to_pybytes()


def _write_text(path: Path, header: list[str], body: bytes, encoding: str) -> Path:
    """Header lines and a UTF-8 body (lines ending with CRLF) written in ``encoding``."""
    enc = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gbk", "gb18030": "gb18030"}[encoding]
    head = "".join(line + "\r\n" for line in header)
    if enc.startswith("utf-8"):
        payload = head.encode(enc) + body
    else:
        payload = (head + body.decode("utf-8")).encode(enc)
    return atomic_write(path, lambda tmp: tmp.write_bytes(payload))


def write_flat_csv(records: pd.DataFrame, path: str | Path, *, language: str = "en",
                   encoding: str = "utf-8", time_format: str = "hms",
                   start_time: str = "2024-01-01 00:00:00") -> Path:
    """Write common-schema records as a flat BTSDA record table (BTSDA 8 style, units A/Ah/Wh).

    ``records`` needs time_s, voltage_V, current_mA, capacity_mAh (cycle, step, step_type
    optional). ``language`` "en"/"zh" picks the header names, ``encoding`` "utf-8", "utf-8-sig"
    (with BOM) or "gbk", ``time_format`` "hms" (``hh:mm:ss``, with ``.mmm`` when a time has
    milliseconds) or "s" (seconds with 3 decimals, headers ``Time(s)``). Energies are integrated
    from V and I within each step. Numbers are written as BTSDA writes them: voltage with 4
    decimals, current, capacities and energies in A, Ah and Wh with 8; dates to the second (to
    the ms when a time has milliseconds). Reading the file back gives the same records to that
    resolution: times to 1 ms, voltage to 0.1 mV, current to 1e-5 mA, capacity to 1e-5 mAh.
    """
    d = _derived(records)
    hdr = list(_FLAT_HEADERS[language])
    if time_format == "s":
        hdr[4], hdr[5] = hdr[4] + "(s)", hdr[5] + "(s)"
    t = d["time_s"].to_numpy(float)
    amps = [_fixed(d[c].to_numpy(float) / 1000, A_DECIMALS)
            for c in ("current_mA", "capacity_mAh", "w_chg", "w_dchg", "w_energy", "w_echg",
                      "w_edchg")]
    lines = _join_fields([
        _ints_text(np.arange(1, len(d) + 1)), _ints_text(d["cycle"]), _ints_text(d["step"]),
        _step_names(d["step_type"], 0 if language == "en" else 1),
        _durations_text(d["w_step_time"], time_format), _durations_text(t, time_format), amps[0],
        _fixed(d["voltage_V"], VOLT_DECIMALS), *amps[1:], _stamps(pd.Timestamp(start_time), t)])
    return _write_text(Path(path), [",".join(hdr)], _lines_bytes(lines), encoding)


_NESTED_HEADERS = {
    "en": (["Cycle ID", "Cap_Chg(mAh)", "Cap_DChg(mAh)", "Charge/Discharge Efficiency(%)",
            "Engy_Chg(mWh)", "Engy_DChg(mWh)"],
           ["", "Step ID", "Step Name", "Step Time", "Capacity(mAh)", "Energy(mWh)",
            "Start Voltage(V)", "End Voltage(V)"],
           ["", "", "Record ID", "Time", "Voltage(V)", "Current(mA)", "Capacity(mAh)",
            "Energy(mWh)", "Realtime"]),
    "zh": (["循环序号", "充电容量(mAh)", "放电容量(mAh)", "充放电效率(%)", "充电能量(mWh)",
            "放电能量(mWh)"],
           ["", "工步序号", "工步类型", "工步时间", "容量(mAh)", "能量(mWh)", "起始电压(V)",
            "结束电压(V)"],
           ["", "", "记录序号", "相对时间", "电压(V)", "电流(mA)", "容量(mAh)", "能量(mWh)",
            "绝对时间"]),
}


def write_nested_csv(records: pd.DataFrame, path: str | Path, *, language: str = "en",
                     encoding: str = "utf-8", time_format: str = "hms",
                     start_time: str = "2024-01-01 00:00:00") -> Path:
    """Write common-schema records as a nested BTSDA export (cycle, step and record rows).

    Cycle rows carry the charge and discharge capacity (mAh: sum over the cycle's charge and
    discharge steps of their final capacity), the efficiency discharge/charge in % (0 without
    charge), and the charge and discharge energies (mWh); step rows the step number, name,
    duration, final capacity and energy, start and end voltage; record rows the step time,
    voltage, current (mA), capacity (mAh), energy (mWh) and the absolute time (``Realtime``, from
    which a reader gets the test time; ms precision is written when times are fractional).
    Options as in :func:`write_flat_csv`, durations as ``hh:mm:ss.mmm`` (the headers say
    ``h:min:s.ms``). Numbers at the flat export's resolution: voltage with 4 decimals, mA, mAh
    and mWh with 5 (1e-8 A = 1e-5 mA), the efficiency with 3.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    d = _derived(records)
    cyc_h, step_h, rec_h = (list(x) for x in _NESTED_HEADERS[language])
    unit = "(s)" if time_format == "s" else "(h:min:s.ms)"
    step_h[3] += unit
    rec_h[3] += unit
    lang = 0 if language == "en" else 1
    steps = d.groupby("w_run", sort=False).agg(
        cycle=("cycle", "first"), step_type=("step_type", "first"), dur=("w_step_time", "last"),
        cap=("capacity_mAh", "last"), en=("w_energy", "last"), v0=("voltage_V", "first"),
        v1=("voltage_V", "last"), chg=("w_chg", "last"), dchg=("w_dchg", "last"),
        echg=("w_echg", "last"), edchg=("w_edchg", "last"))
    cyc_run = (steps["cycle"] != steps["cycle"].shift()).cumsum().to_numpy()  # 1, 1, 2, ...
    cycles = steps.groupby(cyc_run, sort=False).agg(
        cycle=("cycle", "first"), qc=("chg", "sum"), qd=("dchg", "sum"), ec=("echg", "sum"),
        ed=("edchg", "sum"))
    qc = cycles["qc"].to_numpy(float)
    eff = np.where(qc > 0, 100.0 * cycles["qd"].to_numpy(float) / np.where(qc > 0, qc, 1.0), 0.0)
    cycle_lines = _join_fields([
        _ints_text(cycles["cycle"]), _fixed(qc, MA_DECIMALS), _fixed(cycles["qd"], MA_DECIMALS),
        _fixed(eff, PCT_DECIMALS), _fixed(cycles["ec"], MA_DECIMALS),
        _fixed(cycles["ed"], MA_DECIMALS)])
    step_lines = _join_fields([
        "", _ints_text(steps.index), _step_names(steps["step_type"], lang),
        _durations_text(steps["dur"], time_format, ms=True), _fixed(steps["cap"], MA_DECIMALS),
        _fixed(steps["en"], MA_DECIMALS), _fixed(steps["v0"], VOLT_DECIMALS),
        _fixed(steps["v1"], VOLT_DECIMALS)])
    t = d["time_s"].to_numpy(float)
    record_lines = _join_fields([
        "", "", _ints_text(np.arange(1, len(d) + 1)),
        _durations_text(d["w_step_time"], time_format, ms=True),
        _fixed(d["voltage_V"], VOLT_DECIMALS), _fixed(d["current_mA"], MA_DECIMALS),
        _fixed(d["capacity_mAh"], MA_DECIMALS), _fixed(d["w_energy"], MA_DECIMALS),
        _stamps(pd.Timestamp(start_time), t)])
    # line order: each cycle row, then each of its steps' row followed by the step's records
    run = d["w_run"].to_numpy()  # 1, 1, ..., 2, ... (steps in order)
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])  # first record of each step
    n_steps = len(first)
    step_pos = first + np.arange(n_steps) + cyc_run  # records before + step rows before + cycles
    cyc_first = np.flatnonzero(np.r_[True, cyc_run[1:] != cyc_run[:-1]])  # first step of each
    cycle_pos = step_pos[cyc_first] - 1
    record_pos = np.arange(len(d)) + run + cyc_run[run - 1]
    order = np.empty(len(cycle_pos) + n_steps + len(d), dtype=np.int64)
    order[np.concatenate([cycle_pos, step_pos, record_pos])] = np.arange(len(order))
    lines = pc.take(pa.concat_arrays([cycle_lines, step_lines, record_lines]), pa.array(order))
    return _write_text(Path(path), [",".join(cyc_h), ",".join(step_h), ",".join(rec_h)],
                       _lines_bytes(lines), encoding)

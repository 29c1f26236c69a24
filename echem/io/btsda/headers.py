"""BTSDA headers: the names BTSDA writes (English, Chinese, unit spellings) and what they mean;
splitting a text line into cells; telling a record, step or cycle header line.

Headers are compared after NFKC normalisation (full-width brackets become ASCII), case folding
and removal of spaces, underscores, dots, hyphens and slashes; the unit in brackets decides the
scale (:data:`UNITS`).
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np

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
    "energy": {"wh": 1e3, "mwh": 1.0, "uwh": 1e-3, "μwh": 1e-3, "kwh": 1e6, "ws": 1e3 / 3600,
               "mws": 1 / 3600, "j": 1e3 / 3600, "mj": 1 / 3600},
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


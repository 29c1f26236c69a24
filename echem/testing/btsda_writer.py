"""Writers of Neware BTSDA CSV exports, for the sample data and the round-trip tests.

:func:`write_flat_csv` and :func:`write_nested_csv` turn a common-schema DataFrame into a
realistic BTSDA export (step and cycle rows computed from the records as BTSDA does, numbers with
the decimals BTSDA writes), formatted column by column in Arrow, not row by row. The readers
(:mod:`echem.io.btsda`) never use them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from echem.io.btsda.headers import _CHARGE_TYPES, _DISCHARGE_TYPES
from echem.output import atomic_write

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

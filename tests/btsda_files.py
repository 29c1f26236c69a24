"""Write Neware BTSDA test files in other layouts from the corpus's flat export.

The corpus has one BTSDA file, ``neware/neware_uio.csv`` (flat record table, English, UTF-8,
times as h:mm:ss). The helpers here re-lay out its *raw* table (as plain ``pandas.read_csv``
gives it) into the variants the corpus lacks - nested layout, Chinese headers, GBK, seconds,
mA, day-prefixed times, tab/",\\t" separators, XLSX with several sheets - with the same numbers.
:func:`expected` gives the common-schema numbers of the corpus file computed with plain pandas.
Nothing here uses echem's reader or writers, so tests compare two independent paths.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

CORPUS_FILE = ("neware", "neware_uio.csv")

STEP_TYPES = {"Rest": "rest", "CC Chg": "cc_charge", "CC DChg": "cc_discharge"}
STEP_NAMES_ZH = {"Rest": "搁置", "CC Chg": "恒流充电", "CC DChg": "恒流放电"}
STEP_NAMES_UNDERSCORE = {"Rest": "Rest", "CC Chg": "CC_Chg", "CC DChg": "CC_DChg"}

#: the corpus's English record headers and the Chinese ones BTSDA writes for them
FLAT_ZH = {
    "DataPoint": "数据序号", "Cycle Index": "循环号", "Step Index": "工步号", "Step Type": "工步类型",
    "Time": "时间", "Cumulative Time": "总时间", "Current(A)": "电流(A)", "Voltage(V)": "电压(V)",
    "Capacity(Ah)": "容量(Ah)", "Spec. Cap.(mAh/g)": "比容量(mAh/g)", "Chg. Cap.(Ah)": "充电容量(Ah)",
    "Chg. Spec. Cap.(mAh/g)": "充电比容量(mAh/g)", "DChg. Cap.(Ah)": "放电容量(Ah)",
    "DChg. Spec. Cap.(mAh/g)": "放电比容量(mAh/g)", "Energy(Wh)": "能量(Wh)",
    "Spec. Energy(mWh/g)": "比能量(mWh/g)", "Chg. Energy(Wh)": "充电能量(Wh)",
    "Chg. Spec. Energy(mWh/g)": "充电比能量(mWh/g)", "DChg. Energy(Wh)": "放电能量(Wh)",
    "DChg. Spec. Energy(mWh/g)": "放电比能量(mWh/g)", "Date": "日期", "Power(W)": "功率(W)",
    "dQ/dV(mAh/V)": "dQ/dV(mAh/V)", "dQm/dV(mAh/V.g)": "dQm/dV(mAh/V.g)",
    "Contact resistance(mO)": "接触电阻(mΩ)", "Module start-stop switch": "模块启停开关",
}


def load_raw(path: str | Path, nrows: int | None = None, dtype=None,
             encoding: str = "utf-8") -> pd.DataFrame:
    """The corpus file as plain pandas reads it (strings for times and dates)."""
    return pd.read_csv(path, nrows=nrows, encoding=encoding,
                       dtype=dtype or {"Time": str, "Cumulative Time": str})


def seconds(hms: pd.Series) -> np.ndarray:
    """h:mm:ss text (hours may exceed 24) -> seconds, with plain pandas."""
    return pd.to_timedelta(hms).dt.total_seconds().to_numpy()


def _runs(raw: pd.DataFrame) -> np.ndarray:
    key = raw["Cycle Index"].astype(str) + "/" + raw["Step Index"].astype(str)
    return (key != key.shift()).cumsum().to_numpy()


def expected(raw: pd.DataFrame, time: str = "cumulative") -> pd.DataFrame:
    """Common-schema numbers of the raw corpus table: time from ``Cumulative Time`` (or, with
    ``time="date"``, from ``Date`` minus the first), A -> mA, Ah -> mAh, running step."""
    if time == "cumulative":
        t = seconds(raw["Cumulative Time"])
    else:
        d = pd.to_datetime(raw["Date"])
        t = (d - d.iloc[0]).dt.total_seconds().to_numpy()
    return pd.DataFrame({
        "time_s": t,
        "voltage_V": raw["Voltage(V)"].to_numpy(float),
        "current_mA": raw["Current(A)"].to_numpy(float) * 1000,
        "capacity_mAh": raw["Capacity(Ah)"].to_numpy(float) * 1000,
        "cycle": raw["Cycle Index"].to_numpy(np.int64),
        "step": _runs(raw).astype(np.int64),
        "step_type": raw["Step Type"].map(STEP_TYPES).to_numpy(object),
    })


def steps_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per step as BTSDA's step layer has it (units mAh, mWh, V, s)."""
    g = raw.assign(_run=_runs(raw)).groupby("_run", sort=False)
    return pd.DataFrame({
        "cycle": g["Cycle Index"].first(), "step_index": g["Step Index"].first(),
        "name": g["Step Type"].first(), "time_s": g["Time"].last().pipe(seconds),
        "capacity_mAh": g["Capacity(Ah)"].last() * 1000, "energy_mWh": g["Energy(Wh)"].last() * 1000,
        "chg_mAh": g["Chg. Cap.(Ah)"].last() * 1000, "dchg_mAh": g["DChg. Cap.(Ah)"].last() * 1000,
        "echg_mWh": g["Chg. Energy(Wh)"].last() * 1000, "edchg_mWh": g["DChg. Energy(Wh)"].last() * 1000,
        "v_start": g["Voltage(V)"].first(), "v_end": g["Voltage(V)"].last(),
        "onset": g["Date"].first(), "end": g["Date"].last(),
    }).reset_index(drop=True)


def cycles_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per cycle: charge and discharge capacity (mAh), efficiency (%), energies (mWh)."""
    s = steps_table(raw)
    c = s.groupby("cycle", sort=False)[["chg_mAh", "dchg_mAh", "echg_mWh", "edchg_mWh"]].sum()
    c["eff_pct"] = np.where(c["chg_mAh"] > 0, 100 * c["dchg_mAh"] / c["chg_mAh"].where(
        c["chg_mAh"] > 0, 1), 0.0)
    return c.reset_index()


def _hms(sec: float, days: bool = False) -> str:
    ms = int(round(sec * 1000))
    h, r = divmod(ms, 3_600_000)
    m, r = divmod(r, 60_000)
    s, ms = divmod(r, 1000)
    if days and h >= 24:
        d, h = divmod(h, 24)
        return f"{d}-{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def _fmt(x) -> str:
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)


def _save(path: Path, lines: list[str], encoding: str, bom: bool = False) -> Path:
    text = "\r\n".join(lines) + "\r\n"
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    Path(path).write_bytes(data)
    return Path(path)


def write_flat(raw: pd.DataFrame, path: str | Path, *, language: str = "en",
               encoding: str = "utf-8", bom: bool = False, time_format: str = "hms",
               current_unit: str = "A", sep: str = ",") -> Path:
    """The raw table as a flat BTSDA CSV: Chinese headers/step names (``language="zh"``), any
    encoding, times as ``"s"`` (seconds, headers ``Time(s)``), ``"hms"`` or ``"days"``
    (``d-hh:mm:ss.mmm`` past 24 h), current in A or mA, any separator."""
    df = raw.copy()
    if time_format in ("s", "days"):
        for c in ("Time", "Cumulative Time"):
            sec = seconds(df[c])
            if time_format == "s":
                df[c] = [_fmt(float(v)) for v in sec]
                df = df.rename(columns={c: f"{c}(s)"})
            else:
                df[c] = [_hms(v, days=True) for v in sec]
    if current_unit == "mA":
        df["Current(A)"] = df["Current(A)"] * 1000
        df = df.rename(columns={"Current(A)": "Current(mA)"})
    if language == "zh":
        df["Step Type"] = df["Step Type"].map(STEP_NAMES_ZH)
        zh = dict(FLAT_ZH, **{"Time(s)": "时间(s)", "Cumulative Time(s)": "总时间(s)",
                              "Current(mA)": "电流(mA)"})
        df = df.rename(columns=zh)
    lines = [sep.join(df.columns)]
    lines += [sep.join(_fmt(v) for v in row) for row in df.itertuples(index=False)]
    return _save(Path(path), lines, encoding, bom)


NESTED_EN = (["Cycle ID", "Cap_Chg(mAh)", "Cap_DChg(mAh)", "Charge/Discharge Efficiency(%)",
              "Engy_Chg(mWh)", "Engy_DChg(mWh)"],
             ["Step ID", "Step Name", "Step Time(h:min:s.ms)", "Capacity(mAh)", "Energy(mWh)",
              "Start Voltage(V)", "End Voltage(V)"],
             ["Record ID", "Time(h:min:s.ms)", "Voltage(V)", "Current(mA)", "Capacity(mAh)",
              "Energy(mWh)", "Realtime"])
NESTED_ZH = (["循环序号", "充电容量(mAh)", "放电容量(mAh)", "充放电效率(%)", "充电能量(mWh)",
              "放电能量(mWh)"],
             ["工步序号", "工步类型", "工步时间(h:min:s.ms)", "容量(mAh)", "能量(mWh)",
              "起始电压(V)", "结束电压(V)"],
             ["记录序号", "相对时间(h:min:s.ms)", "电压(V)", "电流(mA)", "容量(mAh)", "能量(mWh)",
              "绝对时间"])


def nested_rows(raw: pd.DataFrame, *, language: str = "en", time_format: str = "hms",
                total_time: bool = False, names: str = "space",
                shared_first_step: bool = False) -> list[list]:
    """The nested layout as rows of cells: 3 header rows, then cycle, step and record rows
    (leading empty cells: 0, 1, 2). ``total_time`` adds a ``Total Time`` record column;
    ``names="underscore"`` writes step names as BTSDA 7 does (``CC_Chg``);
    ``shared_first_step`` writes each cycle's first step row on the cycle row's line, its fields
    after the cycle's."""
    cyc_h, step_h, rec_h = (list(x) for x in (NESTED_ZH if language == "zh" else NESTED_EN))
    if time_format == "s":
        step_h[2] = step_h[2].replace("(h:min:s.ms)", "(s)")
        rec_h[1] = rec_h[1].replace("(h:min:s.ms)", "(s)")
    if total_time:
        rec_h.append("总时间(h:min:s.ms)" if language == "zh" else "Total Time(h:min:s.ms)")
    tf = (lambda s: float(s)) if time_format == "s" else _hms
    name_map = (STEP_NAMES_ZH if language == "zh" else
                STEP_NAMES_UNDERSCORE if names == "underscore" else {k: k for k in STEP_TYPES})
    rows = [cyc_h, [""] + step_h, ["", ""] + rec_h]
    steps = steps_table(raw)
    cycles = cycles_table(raw).set_index("cycle")
    run = _runs(raw)
    step_t = seconds(raw["Time"])
    total = seconds(raw["Cumulative Time"])
    cols = [raw["DataPoint"].astype(int).tolist(), [tf(x) for x in step_t],
            raw["Voltage(V)"].tolist(), (raw["Current(A)"] * 1000).tolist(),
            (raw["Capacity(Ah)"] * 1000).tolist(), (raw["Energy(Wh)"] * 1000).tolist(),
            raw["Date"].tolist()]
    if total_time:
        cols.append([_hms(x) for x in total])
    records = [["", ""] + list(r) for r in zip(*cols)]
    first = np.searchsorted(run, np.arange(1, len(steps) + 2))
    seen = set()
    for k, s in steps.iterrows():
        if s.cycle not in seen:
            seen.add(s.cycle)
            c = cycles.loc[s.cycle]
            rows.append([int(s.cycle), c.chg_mAh, c.dchg_mAh, c.eff_pct, c.echg_mWh, c.edchg_mWh])
        step_row = ["", k + 1, name_map[s["name"]], tf(s.time_s), s.capacity_mAh, s.energy_mWh,
                    s.v_start, s.v_end]
        if shared_first_step and len(rows[-1]) == len(cyc_h) and rows[-1][0] == int(s.cycle):
            rows[-1] = rows[-1] + step_row[1:]
        else:
            rows.append(step_row)
        rows.extend(records[first[k]:first[k + 1]])
    return rows


def write_nested_csv(raw: pd.DataFrame, path: str | Path, *, language: str = "en",
                     encoding: str = "utf-8", time_format: str = "hms", total_time: bool = False,
                     sep: str = ",", names: str = "space", shared_first_step: bool = False) -> Path:
    """The raw table as a nested BTSDA CSV (see :func:`nested_rows`); ``sep=",\\t"`` writes the
    comma-tab separators of BTSDA 7 exports."""
    rows = nested_rows(raw, language=language, time_format=time_format, total_time=total_time,
                       names=names, shared_first_step=shared_first_step)
    return _save(Path(path), [sep.join(_fmt(v) for v in r) for r in rows], encoding)


def write_xlsx(raw: pd.DataFrame, path: str | Path, *, layout: str = "flat",
               language: str = "en", timedelta_cells: bool = False,
               record_numbers: bool = True) -> Path:
    """The raw table as an XLSX workbook (openpyxl). ``layout="flat"``: sheets ``test`` (info
    text), ``cycle``, ``step`` and ``record`` (record sheet not first); ``timedelta_cells``
    stores times as Excel durations instead of text; ``record_numbers=False`` leaves Cycle
    Index and Step Index out of the record sheet and gives the step sheet onset and end dates
    (the export cellpy's Neware XLSX reader handles). ``layout="nested"``: one sheet holding the
    nested rows."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    if layout == "nested":
        ws = wb.create_sheet("Sheet1")
        for r in nested_rows(raw, language=language):
            ws.append([None if v == "" else v for v in r])
        wb.save(path)
        return Path(path)
    info = wb.create_sheet("test")
    info.append(["Start Step ID", 1, "Voltage upper", "4.5 V"])
    info.append(["Remarks", "written by tests/btsda_files.py from neware_uio.csv"])
    steps = steps_table(raw)
    cycles = cycles_table(raw)
    zh = language == "zh"
    cs = wb.create_sheet("cycle")
    cs.append(["循环号", "充电容量(Ah)", "放电容量(Ah)", "充放电效率(%)", "充电能量(Wh)", "放电能量(Wh)"]
              if zh else ["Cycle Index", "Chg. Cap.(Ah)", "DChg. Cap.(Ah)",
                          "Chg.-DChg. Eff(%)", "Chg. Energy(Wh)", "DChg. Energy(Wh)"])
    for c in cycles.itertuples(index=False):
        cs.append([int(c.cycle), c.chg_mAh / 1000, c.dchg_mAh / 1000, c.eff_pct, c.echg_mWh / 1000,
                   c.edchg_mWh / 1000])
    ss = wb.create_sheet("step")
    ss.append(["循环号", "工步号", "工步序号", "工步类型", "工步时间", "容量(Ah)", "能量(Wh)",
               "起始电压(V)", "结束电压(V)"] if zh else
              ["Cycle Index", "Step Index", "Step Number", "Step Type", "Step Time", "Capacity(Ah)",
               "Energy(Wh)", "Onset Volt.(V)", "End Voltage(V)"]
              + ([] if record_numbers else ["Oneset Date", "End Date"]))
    for k, s in steps.iterrows():
        ss.append([int(s.cycle), int(s.step_index), k + 1,
                   STEP_NAMES_ZH[s["name"]] if zh else s["name"], _hms(s.time_s),
                   s.capacity_mAh / 1000, s.energy_mWh / 1000, s.v_start, s.v_end]
                  + ([] if record_numbers else [s.onset, s.end]))
    rs = wb.create_sheet("record")
    df = raw.copy() if record_numbers else raw.drop(columns=["Cycle Index", "Step Index"])
    if zh:
        df["Step Type"] = df["Step Type"].map(STEP_NAMES_ZH)
    header = [FLAT_ZH[c] if zh else c for c in df.columns]
    rs.append(header)
    tcols = {df.columns.get_loc("Time"), df.columns.get_loc("Cumulative Time")}
    for row in df.itertuples(index=False):
        cells = list(row)
        if timedelta_cells:
            for j in tcols:
                cells[j] = dt.timedelta(seconds=float(pd.to_timedelta(cells[j]).total_seconds()))
        rs.append([v.item() if isinstance(v, np.generic) else v for v in cells])
    wb.save(path)
    return Path(path)

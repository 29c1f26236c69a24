"""BTSDA tables as rows of cells -> the common schema: the flat record table and the nested
cycle/step/record layout (the reference parser of both), the cycle and step tables, and
truncation of a text that ends inside its last row.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from echem.errors import CorruptFileError, UnsupportedFileError
from echem.io.btsda.headers import (
    CYCLE_FIELDS, HEAD_LINES, RECORD_FIELDS, STEP_FIELDS, _DISCHARGE_TYPES, _empty, _header_kinds,
    _lead, _looks_like_nested_top, _looks_like_record_header, _norm_text, match_header,
    step_type_of)
from echem.io.btsda.times import _filled, _numbers, datetimes, durations_s
from echem.schema import STEP_TYPES, Measurement, finalize, step_type_dtype

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
            meta.setdefault("warnings", []).append(
                "the record table has no cycle and no step number column (as in BTSDA XLSX "
                "record sheets exported without them): steps are taken from changes of the step "
                "name, so two steps of one name in a row read as one, and the cycles are not "
                "known; export the record layer with Cycle Index and Step Index")
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


def _named_width(header: list) -> int:
    """Position after the last named cell of a header row."""
    named = [j for j, c in enumerate(header) if not _empty(c)]
    return named[-1] + 1 if named else 0


def _check_unnamed(rows: list[list], header: list, start: int, lines: list[int], header_line: int,
                   path: Path) -> None:
    """CorruptFileError naming the line when a row holds a value where the header names no
    column (past its last name, or under an empty name): the header lacks a name, so the values
    cannot be put under their names."""
    width = _named_width(header)
    holes = [j for j in range(start, width) if _empty(header[j])]
    for r, line in zip(rows, lines):
        if (len(r) > width and not all(_empty(c) for c in r[width:])) or any(
                j < len(r) and not _empty(r[j]) for j in holes):
            raise CorruptFileError(
                f"line {line}: a value where the header line (line {header_line}) names no "
                f"column ({len(r)} fields, {width - len(holes) - start} names): a name is missing "
                "from the header, so the values cannot be put under their names", path)


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
        _check_unnamed([r for r, _ in body], rows[h], lead, [x for _, x in body], ln[h], path)
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
    cyc_width = _named_width(cyc_hdr)
    step_width = _named_width(step_hdr)
    rec_width = _named_width(rec_hdr)
    shared = 0
    pending = [(i, rows[i]) for i in range(len(rows) - 1, h, -1)]  # a stack, first row on top
    while pending:
        i, r = pending.pop()
        if all(_empty(c) for c in r):
            continue
        k = _lead(r)
        if k < step_lead and len(r) > cyc_width and not all(_empty(c) for c in r[cyc_width:]):
            # the cycle's first step row shares the cycle row's line: its fields follow the
            # cycle fields; read them as the step row they are
            cells = list(r[cyc_width:])
            while cells and _empty(cells[0]):
                cells.pop(0)
            step_row = [""] * step_lead + cells
            if len(cells) > step_width - step_lead and not all(
                    _empty(c) for c in step_row[step_width:]):
                raise CorruptFileError(
                    f"line {ln[i]}: more fields than the cycle and step header lines name "
                    "together; the nested layout is damaged", path)
            sid = step_row[sid_pos] if sid_pos < len(step_row) else None
            if _numbers(pd.Series([sid], dtype=object)).isna().iloc[0]:
                raise CorruptFileError(
                    f"line {ln[i]}: fields after the cycle row's that are no step row (step "
                    f"number {sid!r}); the nested layout is damaged", path)
            shared += 1
            pending.append((i, step_row))
            r = list(r[:cyc_width])
        if k >= lead:
            if len(r) > rec_width and not all(_empty(c) for c in r[rec_width:]):
                raise CorruptFileError(f"line {ln[i]}: more fields than the record header line "
                                       f"(line {ln[h]}) names; the nested layout is damaged", path)
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
    if shared:
        meta["shared_step_lines"] = shared
    data = _build(raw, path, lines=rec_lines, parent=parent, meta=meta)
    meta["btsda_cycles"] = normalize_table(_frame(cycles, cyc_hdr), CYCLE_FIELDS)
    step_raw = _frame([s[:-1] for s in steps], step_hdr, start=step_lead)
    st = normalize_table(step_raw, STEP_FIELDS)
    if "cycle" not in st:
        st.insert(0, "cycle", [s[-1] for s in steps])
    meta["btsda_steps"] = st
    return Measurement(data, meta)



def _base_meta(path: Path, fmt: str) -> dict:
    return {"instrument": "Neware CT-4000 (BTSDA export)", "techniques": ["cycling"],
            "source": str(path), "format": fmt, "truncated": False}


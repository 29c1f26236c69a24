"""BTSDA XLSX exports: the record sheet read in streaming mode, step and cycle sheets beside it.
"""
from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

from echem.errors import CorruptFileError, UnsupportedFileError
from echem.io.btsda.headers import (
    CYCLE_FIELDS, HEAD_LINES, RECORD_FIELDS, STEP_FIELDS, _empty, _header_kinds, match_header)
from echem.io.btsda.layouts import _base_meta, _frame, normalize_table, parse_grid
from echem.schema import Measurement

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



#: caps on an XLSX archive's members, checked before anything is inflated (see check_archive)
MAX_MEMBER_BYTES = 1 << 30
MAX_TOTAL_BYTES = 4 << 30
MAX_RATIO = 200
#: Excel's own limit of rows per sheet: a sheet with more was not written by Excel or BTSDA
MAX_ROWS = 1_048_576


def check_archive(zf: zipfile.ZipFile, path: Path, max_member: int = MAX_MEMBER_BYTES,
                  max_ratio: float = MAX_RATIO) -> None:
    """CorruptFileError when a member of the archive would inflate beyond ``max_member`` bytes
    (1 GiB), all of them beyond :data:`MAX_TOTAL_BYTES`, or a member above 1 MiB inflates more
    than ``max_ratio`` times its compressed size (a zip bomb: real worksheets compress 5-30x).

    Checked on the declared sizes of the central directory, before anything is inflated; the
    actual sizes cannot exceed them, because Python's zipfile (which openpyxl reads through)
    stops inflating a member at its declared size and then checks its CRC."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        if info.file_size > max_member:
            raise CorruptFileError(
                f"the XLSX member {info.filename} would inflate to {info.file_size:,} bytes (more "
                f"than {max_member:,}): refused unread", path)
        if info.file_size > 1 << 20 and info.file_size > max_ratio * max(info.compress_size, 1):
            raise CorruptFileError(
                f"the XLSX member {info.filename} would inflate {info.file_size / max(info.compress_size, 1):,.0f}"
                f" times its compressed size ({info.compress_size:,} -> {info.file_size:,} bytes): "
                "a zip bomb, not a worksheet; refused unread", path)
    if total > MAX_TOTAL_BYTES:
        raise CorruptFileError(f"the XLSX members would inflate to {total:,} bytes in all (more "
                               f"than {MAX_TOTAL_BYTES:,}): refused unread", path)


def _sheets(path: Path) -> dict[str, list[list]]:
    """Every sheet of the workbook as rows of cell values (None for empty cells), read in
    openpyxl's streaming (read-only) mode; CorruptFileError for a sheet beyond MAX_ROWS rows."""
    import openpyxl

    with open(path, "rb") as fh:  # a file object: openpyxl judges a path by its extension
        book = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        try:
            return _sheet_rows(book, path)
        finally:
            book.close()


def _sheet_rows(book, path: Path) -> dict[str, list[list]]:
    grids = {}
    for ws in book.worksheets:
        declared = ws.max_row  # from the sheet's <dimension> tag, where it has one
        if declared is not None and declared > MAX_ROWS:
            raise CorruptFileError(
                f"the sheet {ws.title!r} declares {declared:,} rows, more than Excel allows "
                f"({MAX_ROWS:,}): not a workbook Excel or BTSDA wrote; refused unread", path)
        rows = []
        for row in ws.iter_rows(values_only=True):
            rows.append([None if _empty(v) else v for v in row])
            if len(rows) > MAX_ROWS:
                raise CorruptFileError(
                    f"the sheet {ws.title!r} has more than {MAX_ROWS:,} rows (Excel's limit): "
                    "not a workbook Excel or BTSDA wrote; refused", path)
        while rows and all(v is None for v in rows[-1]):
            rows.pop()
        grids[ws.title] = rows
    return grids


def read_xlsx(path: str | Path) -> Measurement:
    """Read a BTSDA XLSX export: the sheet with the record header gives the data; step and cycle
    sheets go to ``meta["btsda_steps"]``/``meta["btsda_cycles"]`` (other sheet names to
    ``meta["sheets"]``).

    The archive's member sizes are checked first (:func:`check_archive`: 1 GiB per member, a
    compression ratio of 200), then the sheets are streamed (openpyxl read-only) and a sheet of
    more rows than Excel allows (1,048,576; declared in its dimension tag, or counted while
    streaming) is refused: a bomb is refused in well under a second, and no workbook is read for
    minutes in silence (past the row cap, reading stops; within it, openpyxl streams about
    10^5 rows a second)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            check_archive(zf, path)
        grids = _sheets(path)
    except CorruptFileError:
        raise
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise CorruptFileError(f"not a readable XLSX workbook (truncated or damaged zip: {exc})",
                               path) from exc
    except Exception as exc:  # openpyxl raises many kinds on damaged workbooks
        raise CorruptFileError(f"the XLSX workbook cannot be read: {type(exc).__name__}: {exc}",
                               path) from exc
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
    steps = meas.meta.get("btsda_steps")
    if "cycle" not in meas.data and steps is not None and "date_time" in meas.data \
            and {"cycle", "start_time"} <= set(steps.columns):
        return _steps_from_step_sheet(meas, steps, path)
    return meas


def _steps_from_step_sheet(meas: Measurement, steps, path: Path) -> Measurement:
    """Cycle and step of each record from the step sheet's onset and end dates, for a record
    sheet without cycle and step numbers (as cellpy's Neware XLSX reader does): a record
    belongs to the last step that began at or before its date; at a date where one step ends
    and the next begins, the step name decides. A record in no step's span is refused naming
    its row."""
    import numpy as np

    from echem.schema import finalize, running_step

    st = steps.reset_index(drop=True)
    starts = st["start_time"].to_numpy(dtype="datetime64[ns]")
    ends = st["end_time"].to_numpy(dtype="datetime64[ns]") if "end_time" in st else None
    if np.isnat(starts).any() or np.any(starts[1:] < starts[:-1]):
        raise CorruptFileError("the step sheet's onset dates are missing or out of order: the "
                               "records cannot be put into their steps", path)
    d = meas.data
    when = d["date_time"].to_numpy(dtype="datetime64[ns]")
    idx = np.searchsorted(starts, when, side="right") - 1
    if "step_type" in st and "step_type" in d:
        names = d["step_type"].astype(str).to_numpy()
        kinds = st["step_type"].astype(str).to_numpy()
        tie = (idx > 0) & (when == starts[np.maximum(idx, 0)]) \
            & (names != kinds[np.maximum(idx, 0)]) & (names == kinds[np.maximum(idx - 1, 0)])
        idx = np.where(tie, idx - 1, idx)
    outside = idx < 0
    if ends is not None:
        outside |= when > ends[np.maximum(idx, 0)]
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise CorruptFileError(f"record row {i + 1} (at {when[i]}) lies in no step of the step "
                               "sheet: the record and step sheets disagree", path)
    out = {name: d[name].array if not isinstance(d[name].dtype, np.dtype) else d[name].to_numpy()
           for name in d.columns}
    out["cycle"] = st["cycle"].to_numpy(dtype=np.float64)[idx]
    out["step"] = running_step(idx)
    if "step" in st:
        out["step_number"] = st["step"].to_numpy(dtype=np.float64)[idx]
    lost = "no cycle and no step number column"
    meas.warnings = [w for w in meas.warnings if lost not in w.message]
    meas.meta["steps_from"] = "the step sheet's onset and end dates"
    meas.data = finalize(out, path)
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


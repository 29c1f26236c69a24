"""BTSDA XLSX exports: the record sheet read in streaming mode, step and cycle sheets beside it.
"""
from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd

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


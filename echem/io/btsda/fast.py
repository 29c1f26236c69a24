"""The fast path of a flat BTSDA CSV body: Arrow's CSV reader, no row-by-row Python.

Taken only when it reads the file as the reference parser
(:func:`echem.io.btsda.layouts.parse_grid`) would: same cells, same numbers; tests/test_btsda.py
reads every corpus and sample BTSDA file both ways and compares the frames.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from echem.io.btsda.headers import RECORD_FIELDS, _lead, _split, match_header
from echem.io.btsda.layouts import _columns, _drop_cut_row, _flat
from echem.schema import Measurement

_LINE_ENDS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LINE_ENDS_ASCII = re.compile(rb"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e]")
_ODD_LINE_ENDS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_NUMBER_KINDS = {"count", "voltage", "current", "charge", "energy", "pct"}


def _flat_arrow(data: bytes, text: str | None, encoding: str, h: int, header: list, delim: str,
                path: Path, meta: dict, check_last: bool, quoted: bool) -> Measurement | None:
    """The flat record table read by Arrow's CSV reader (no row-by-row Python), or None when
    this file needs the reference path: other line ends than \\n/\\r\\n/\\r, rows of
    differing lengths, a cell of a number column that is not a
    number, or (``quoted``: the first lines hold quotes) a quote below the header line. The
    cells are those of the general path: no quoting, blank lines skipped, number columns parsed
    as float64, every other column kept as text. ``text`` is the decoded file, or None when
    ``data`` is ASCII (then its own text: only the pieces looked at are decoded). Raises
    CorruptFileError as ``_build`` does, without line numbers (the caller then takes the
    general path for them)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    codec = {"utf-8": "utf-8", "gbk": "gb18030", "cp1252": "cp1252"}.get(encoding)
    if text is not None and (codec is None or text.startswith("\ufeff")):
        return None
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
    body_codec = "utf8"
    if not ascii_text:
        if any(ch in text[start_char:] for ch in ("\x85", "\u2028", "\u2029")):
            return None
        if codec != "utf-8" and not data[start:].isascii():
            body_codec = codec  # Arrow transcodes the body
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
            read_options=pacsv.ReadOptions(column_names=list(types), encoding=body_codec),
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
    named = {j for j, _ in cols}
    for j in range(n_fields):  # a value under no name: the reference parser names its line
        if j not in named and pc.any(pc.not_equal(pc.utf8_trim_whitespace(table.column(j)),
                                                   "")).as_py():
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


"""BTSDA CSV/TXT exports: decoding (UTF-8, GBK, UTF-16, Windows-1252), sniffing and reading.

The body of a flat export goes through the fast path (:mod:`echem.io.btsda.fast`, Arrow's CSV
reader) when it takes the file as it is; anything else (nested layout, quoted cells, rows of
differing lengths, a bad cell whose line must be named) through the reference parser
:func:`echem.io.btsda.layouts.parse_grid`.
"""
from __future__ import annotations

import copy
from pathlib import Path

from echem.errors import CorruptFileError, UnsupportedFileError
from echem.io.btsda.fast import _flat_arrow
from echem.io.btsda.headers import (
    HEAD_LINES, _NOT_BTSDA_TEXT, _delimiter, _looks_like_nested_top, _looks_like_record_header,
    _header_kinds, _split)
from echem.io.btsda.layouts import _base_meta, _find_header, _header_meta, _is_nested, parse_grid
from echem.schema import Measurement

def _decode(data: bytes) -> tuple[str, str, bool] | None:
    """(text, encoding, cut inside a character) for UTF-8 (BOM or not), UTF-16 with BOM, GBK or
    Windows-1252 ("ANSI": BTSDA writes ``Current(µA)`` as byte 0xB5 there).

    Between GBK and Windows-1252, which both decode most bytes, the one whose first lines name
    more BTSDA header fields wins (GBK on a tie). Returns None for bytes that are none of these
    (NUL bytes, i.e. binary; or neither UTF-8 nor GBK, with no header read as Windows-1252).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
        n = len(data) - (len(data) % 2)
        return data[:n].decode(enc, errors="replace"), enc, n != len(data)
    if b"\x00" in data:
        return None
    utf8 = _decode_as(data, "utf-8-sig")
    if utf8 is not None:
        return utf8[0], "utf-8", utf8[1]
    gbk = _decode_as(data, "gb18030")
    # Windows-1252 only for the header's symbols (µ, Ω, °): the body of such an export is ASCII
    head_end = _nth_line_end(data, HEAD_LINES)
    if data[head_end:].isascii():
        ansi = data.decode("cp1252", errors="replace")
        if gbk is None or _header_score(ansi) > _header_score(gbk[0]):
            return (ansi, "cp1252", False) if _header_score(ansi) else None
    return None if gbk is None else (gbk[0], "gbk", gbk[1])


def _nth_line_end(data: bytes, n: int) -> int:
    """Position after the ``n``-th line end of ``data`` (its length if it has fewer)."""
    at = 0
    for _ in range(n):
        k = data.find(b"\n", at)
        if k < 0:
            return len(data)
        at = k + 1
    return at


def _decode_as(data: bytes, enc: str) -> tuple[str, bool] | None:
    """(text, cut inside its last character) of ``data`` in ``enc``, or None."""
    try:
        return data.decode(enc), False
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason in ("unexpected end of data",
                                                          "incomplete multibyte sequence"):
            try:
                return data[:exc.start].decode(enc), True
            except UnicodeDecodeError:
                return None
    return None


def _header_score(text: str) -> int:
    """How many BTSDA record fields the first lines of ``text`` name."""
    lines = text[:1 << 16].splitlines()[:HEAD_LINES]
    if not lines:
        return 0
    delim = _delimiter(max(lines[:3], key=len))
    return max(len(_header_kinds(_split(ln, delim))) for ln in lines)


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


def read_csv(path: str | Path, fast: bool = True) -> Measurement:
    """Read a BTSDA CSV/TXT export (flat or nested, English or Chinese, UTF-8/GBK/UTF-16/
    Windows-1252). ``fast=False`` reads the body with the reference parser only (the fast path
    is proven equal to it in tests/test_btsda.py)."""
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
            raise CorruptFileError(f"the text is neither UTF-8 nor GBK{where}, and no BTSDA header "
                                   "can be read in Windows-1252: the file is damaged "
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
    # in the reference path); else, or when a cell is bad (the message names its line), the
    # reference parser
    if fast and not nested and not cut_char:
        trial = copy.deepcopy(meta)
        _header_meta(head_rows, h, trial)
        try:
            meas = _flat_arrow(data, text, encoding, h, head_rows[h], delim, path, trial,
                               check_last, quoted)
        except CorruptFileError:
            meas = None
        if meas is not None:
            return meas
    rows = [_split(ln, delim) for ln in lines]
    return parse_grid(rows, path, meta=meta, check_last=check_last)

"""Readers: one module per instrument family, chosen by content (magic bytes, header).

Every reader module has ``FORMATS``: a list of ``(name, sniff, read)`` where ``sniff(head, path)``
looks at the first bytes of the file (and may open it read-only) and says whether the format is
its own, and ``read(path)`` returns a :class:`~echem.schema.Measurement`.
The first format whose sniff accepts the file reads it.
"""
from __future__ import annotations

import functools
import importlib
import os
import stat
from pathlib import Path

from echem.errors import CorruptFileError, EchemError, UnsupportedFileError
from echem.schema import Measurement

#: reader modules, most specific first
READER_MODULES = (
    "echem.io.biologic",
    "echem.io.neware",
    "echem.io.bdf",
    "echem.io.btsda",
    "echem.io.impedance_text",
)

HEAD_BYTES = 8192

#: text formats: their lines are checked against the limits below before a reader parses them
TEXT_FORMATS = frozenset({"eclab-mpt", "btsda-csv", "zplot", "impedance-csv"})
#: longest line (bytes) and most fields in a line a text export may have
MAX_LINE_BYTES = 1 << 20
MAX_FIELDS = 10_000
_CHUNK = 1 << 20


@functools.lru_cache(maxsize=1)
def formats() -> tuple:
    """All (name, sniff, read) triples of the reader modules, in order."""
    out = []
    for name in READER_MODULES:
        out.extend(importlib.import_module(name).FORMATS)
    return tuple(out)


def sniff(path: str | Path) -> str:
    """The name of the format of ``path`` (e.g. ``"eclab-mpr"``), judged by content.

    Raises UnsupportedFileError when no reader knows it, CorruptFileError when it is empty.
    """
    return _choose(Path(path))[0]


def check_regular(path: str | Path) -> os.stat_result:
    """The ``os.stat`` of ``path`` when it is a regular file (a symlink to one counts);
    UnsupportedFileError for a FIFO, device, socket or folder, EchemError when it is missing.
    Never opens the file, so it cannot block: call it before reading or hashing a file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EchemError("no such file", path) from None
    except OSError as exc:
        raise EchemError(f"cannot open the file: {exc.strerror or exc}", path) from exc
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        raise UnsupportedFileError(f"not a regular file ({kind}); only regular files are read",
                                   path)
    return st


def _open_regular(path: Path):
    """``open(path, "rb")`` for a regular file only: opened without blocking (a FIFO put in
    its place after :func:`check_regular` would block a plain open) and checked again."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise EchemError(f"cannot open the file: {exc.strerror or exc}", path) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsupportedFileError("not a regular file; only regular files are read", path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _choose(path: Path):
    check_regular(path)
    try:
        with _open_regular(path) as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise EchemError(f"cannot open the file: {exc.strerror or exc}", path) from exc
    if not head:
        raise CorruptFileError("the file is empty (0 bytes)", path)
    for name, sniffer, reader in formats():
        if sniffer(head, path):
            return name, reader
    raise UnsupportedFileError(
        "not a format this tool reads (EC-Lab .mpr/.mpt, Neware .nda/.ndax, BTSDA CSV/XLSX, "
        "ZPlot .z, 3-column impedance CSV); the content matched none of them", path)


def check_text_limits(path: Path, max_line: int = MAX_LINE_BYTES,
                      max_fields: int = MAX_FIELDS) -> None:
    """CorruptFileError when a line of the text file ``path`` is longer than ``max_line`` bytes,
    or a line in its first ``max_line`` bytes (where the header lines are) holds more than
    ``max_fields`` comma-, tab- or semicolon-separated fields. The file is streamed in 1 MiB
    pieces (memory bounded, time linear in its size, no parsing)."""
    with _open_regular(path) as fh:
        first = fh.read(_CHUNK)
        lines = first.splitlines()
        cut = len(first) == _CHUNK  # the last line may go on past this piece
        for i, line in enumerate(lines[:1000], start=1):
            fields = 1 + max(line.count(b","), line.count(b"\t"), line.count(b";"))
            if fields > max_fields:
                least = "at least " if cut and i == len(lines) else ""
                raise CorruptFileError(
                    f"line {i} has {least}{fields:,} fields (more than {max_fields:,}): not an "
                    "export this tool reads, or damaged", path)
        run = 0  # bytes since the last line end
        offset = 0  # of the current piece in the file
        line_start = 0
        chunk = first
        while chunk:
            k = chunk.find(b"\n")
            if k < 0:
                k = chunk.find(b"\r")  # old Mac line ends (or none: the piece is one line's)
            if k < 0:
                run += len(chunk)
            else:
                run += k
                if run > max_line:
                    break
                last = chunk.rfind(b"\n")
                if last < 0:
                    last = chunk.rfind(b"\r")
                run = len(chunk) - last - 1  # lines inside a piece are shorter than the limit
                line_start = offset + last + 1
            if run > max_line:
                break
            offset += len(chunk)
            chunk = fh.read(_CHUNK)
        if run > max_line:
            line_no = _line_of(path, line_start)
            raise CorruptFileError(
                f"line {line_no} is longer than {max_line:,} bytes: not an export this tool "
                "reads, or damaged", path)


def _line_of(path: Path, position: int) -> int:
    """The line number (1-based, by \\n or else \\r line ends) of a byte position."""
    n_lf = n_cr = 0
    with _open_regular(path) as fh:
        done = 0
        while done < position:
            piece = fh.read(min(_CHUNK, position - done))
            if not piece:
                break
            n_lf += piece.count(b"\n")
            n_cr += piece.count(b"\r")
            done += len(piece)
    return 1 + (n_lf or n_cr)


def read(path: str | Path) -> Measurement:
    """Read any supported file into a Measurement, choosing the reader by content.

    Raises a subclass of :class:`echem.EchemError` naming the file for anything it cannot read
    (running out of memory included). Only regular files are opened, and only for reading; a
    text file with a line beyond :data:`MAX_LINE_BYTES` or :data:`MAX_FIELDS` is refused before
    it is parsed. This is the one place that records the provenance (``source``, ``format``).
    """
    path = Path(path)
    name, reader = _choose(path)
    try:
        if name in TEXT_FORMATS:
            check_text_limits(path)
        meas = reader(path)
    except EchemError:
        raise
    except MemoryError:
        raise CorruptFileError(
            f"ran out of memory reading it as {name}: the file is far larger than such exports "
            "are, or damaged", path) from None
    except Exception as exc:  # a reader bug or a damaged file it did not anticipate
        raise CorruptFileError(
            f"could not be read as {name}: {type(exc).__name__}: {exc}. The file may be damaged "
            "or truncated; if it opens in the instrument's software, please report it", path) from exc
    meas.source = str(path)
    meas.format = name
    return meas

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


def _choose(path: Path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EchemError("no such file", path) from None
    except OSError as exc:
        raise EchemError(f"cannot open the file: {exc.strerror or exc}", path) from exc
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedFileError("not a regular file", path)
    try:
        with open(path, "rb", buffering=0) as fh:
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


def read(path: str | Path) -> Measurement:
    """Read any supported file into a Measurement, choosing the reader by content.

    Raises a subclass of :class:`echem.EchemError` naming the file for anything it cannot read.
    The file is only ever opened for reading.
    """
    path = Path(path)
    name, reader = _choose(path)
    try:
        meas = reader(path)
    except EchemError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a reader bug or a damaged file it did not anticipate
        raise CorruptFileError(
            f"could not be read as {name}: {type(exc).__name__}: {exc}. The file may be damaged "
            "or truncated; if it opens in the instrument's software, please report it", path) from exc
    meas.meta.setdefault("format", name)
    meas.meta.setdefault("source", str(path))
    return meas

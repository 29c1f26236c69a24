"""Plain impedance text: Scribner ZPlot ``.z`` exports and three-column CSV (frequency, Re Z, Im Z).

The numbers are read with impedance.py's own readers (``readZPlot``, ``readCSV``); this module
sniffs the formats, checks what came back and puts it into the common schema as one spectrum.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from impedance import preprocessing

from echem.errors import CorruptFileError
from echem.schema import Measurement, finalize

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_THREE_NUMBERS = re.compile(rf"^\s*{_NUMBER}\s*,\s*{_NUMBER}\s*,\s*{_NUMBER}\s*$")


def _sniff_zplot(head: bytes, path: Path) -> bool:
    return head.lstrip().startswith(b"ZPLOT2 ASCII")


def _sniff_csv3(head: bytes, path: Path) -> bool:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(head) == 8192 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut by the head
    return bool(lines) and all(_THREE_NUMBERS.match(ln) for ln in lines[:20])


def _spectrum_frame(f: np.ndarray, z: np.ndarray, time_s: np.ndarray | None, path: Path) -> pd.DataFrame:
    f = np.asarray(f, dtype=float)
    z = np.asarray(z, dtype=complex)
    if f.size == 0:
        raise CorruptFileError("no impedance data rows found", path)
    if not np.all(np.isfinite(f)) or not np.all(np.isfinite(z)):
        raise CorruptFileError("impedance rows with missing or non-numeric values "
                               "(the file may be truncated or not three numeric columns)", path)
    data = {"frequency_Hz": f, "z_real_ohm": z.real, "z_imag_ohm": z.imag,
            "spectrum": np.ones(f.size, dtype=np.int64)}
    if time_s is not None:
        data = {"time_s": time_s, **data}
    return finalize(pd.DataFrame(data))


def read_zplot(path: Path) -> Measurement:
    """A ZPlot ``.z`` file: one spectrum, with the measurement time of each point (Time(Sec))."""
    path = Path(path)
    try:
        f, z = preprocessing.readZPlot(str(path))
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"not UTF-8 text at byte {exc.start}", path) from exc
    except (ValueError, IndexError) as exc:
        raise CorruptFileError(f"a data row is not a ZPlot row of 9 numeric fields ({exc}); "
                               "the file may be truncated", path) from exc
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        raise CorruptFileError("the last line is incomplete (no line end): the file was cut short", path)
    header = dict(re.findall(r"^\s*([^:\n]+?):\s*(.*?)\s*$", text.split("End Comments")[0], re.M))
    body = text.split("End Comments", 1)[1] if "End Comments" in text else ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rows = np.loadtxt(body.splitlines(), ndmin=2) if body.strip() else np.empty((0, 9))
        except ValueError as exc:
            raise CorruptFileError(f"the data rows are not all numeric rows of equal length ({exc})",
                                   path) from exc
    names = [ln.split("\t") for ln in text.split("End Comments")[0].splitlines() if "Freq(Hz)" in ln]
    if names and rows.shape[1] != len(names[-1]):
        raise CorruptFileError(f"data rows have {rows.shape[1]} fields, the header names "
                               f"{len(names[-1])}", path)
    time_s = rows[:, 3] if rows.shape[0] == len(f) and rows.shape[1] > 3 else None
    meta = {"instrument": "ZPlot (Scribner)", "techniques": ["EIS"], "source": str(path)}
    if "Date" in header:
        meta["start_time"] = f"{header['Date']} {header.get('Time', '')}".strip()
    if "Data Points" in header and header["Data Points"].strip().isdigit():
        n = int(header["Data Points"])
        if n != len(f):
            raise CorruptFileError(f"the header announces {n} data points but {len(f)} were found; "
                                   "the file is truncated", path)
    return Measurement(_spectrum_frame(f, z, time_s, path), meta)


def read_csv3(path: Path) -> Measurement:
    """A headerless three-column CSV: frequency (Hz), Re Z (ohm), Im Z (ohm)."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            f, z = preprocessing.readCSV(str(path))
        except (ValueError, IndexError) as exc:
            raise CorruptFileError(f"not a three-column numeric CSV ({exc})", path) from exc
    meta = {"instrument": "unknown (3-column impedance CSV)", "techniques": ["EIS"], "source": str(path)}
    with open(path, "rb") as fh:
        fh.seek(-1, 2)
        if fh.read(1) not in (b"\n", b"\r"):
            meta["warnings"] = ["the last line has no line end: if the file was cut short, its "
                                "last row may be incomplete"]
    return Measurement(_spectrum_frame(f, z, None, path), meta)


FORMATS = [
    ("zplot", _sniff_zplot, read_zplot),
    ("impedance-csv", _sniff_csv3, read_csv3),
]

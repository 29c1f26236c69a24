"""Plain impedance text: Scribner ZPlot ``.z`` exports and three-column CSV (frequency, Re Z, Im Z).

Read as impedance.py's readers (``readZPlot``, ``readCSV``) read them, the same numbers, with
what they lack: rows checked against the header (a row of another width is refused naming its
line), a file cut short read to its last complete row with a warning, and the common schema
(one spectrum).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from echem.errors import CorruptFileError
from echem.schema import Measurement, finalize

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_THREE_NUMBERS = re.compile(rf"^\s*{_NUMBER}\s*,\s*{_NUMBER}\s*,\s*{_NUMBER}\s*$")


def _sniff_zplot(head: bytes, path: Path) -> bool:
    """A ZPlot file (also one cut inside its first line, so that reading it says so)."""
    text = head.lstrip()
    return text.startswith(b"ZPLOT2 ASCII") or (len(text) >= 4 and b"ZPLOT2 ASCII".startswith(text))


def _sniff_csv3(head: bytes, path: Path) -> bool:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if (len(head) == 8192 or not text.endswith(("\n", "\r"))) and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut (by the head, or the file cut short)
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


def _complete_last_line(lines: list[str], widths: set[int], pattern: re.Pattern) -> bool:
    """Whether the last line (the file has no line end after it) is a whole row: as many
    fields as the rows before it, each a number written the way those rows write it."""
    fields = re.split(r"\t|,", lines[-1].strip())
    if len(fields) not in widths:
        return False
    before = [re.split(r"\t|,", ln.strip()) for ln in lines[-21:-1]]
    for j, cell in enumerate(fields):
        shapes = {_shape(r[j]) for r in before if j < len(r)}
        if not pattern.fullmatch(cell.strip()) or (shapes and _shape(cell) not in shapes):
            return False
    return True


def _shape(cell: str) -> str:
    """A number's written form: digits of its mantissa's fraction and whether it has an exponent
    (``1.0000E-02`` -> ``4E2``, ``6.5227E+02`` -> ``4E2``, ``0`` -> ``0``)."""
    m = re.fullmatch(r"\s*[-+]?\d*(?:\.(\d*))?(?:[eE][-+]?(\d+))?\s*", cell)
    if not m:
        return "?"
    return f"{len(m.group(1) or '')}E{len(m.group(2))}" if m.group(2) else f"{len(m.group(1) or '')}"


_NUMBER_CELL = re.compile(_NUMBER)


def read_zplot(path: Path) -> Measurement:
    """A ZPlot ``.z`` file: one spectrum, with the measurement time of each point (Time(Sec)).

    Read as impedance.py's ``readZPlot`` reads it (frequency column 1, Z' and Z'' columns 5 and
    6 of the rows after ``End Comments``). A file cut short gives its complete rows, a warning
    and ``truncated``: a last line without line end that is not a whole row is dropped, and a
    header announcing more ``Data Points`` than there are rows says the file was cut at a line
    end. A row with another number of fields than the header's names, or a cell that is no
    number, is refused naming its line.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            text = raw[:exc.start].decode("utf-8")  # cut inside the last character
        else:
            raise CorruptFileError(f"not UTF-8 text at byte {exc.start}", path) from exc
    lines = text.splitlines()
    end = next((i for i, ln in enumerate(lines) if "End Comments" in ln), None)
    if end is None:
        raise CorruptFileError("no 'End Comments' line: the file ends inside its header or is "
                               "not a ZPlot export", path)
    head = lines[:end]
    header = dict(re.findall(r"^\s*([^:\n]+?):\s*(.*?)\s*$", "\n".join(head), re.M))
    names = [ln.strip().split("\t") for ln in head if "Freq(Hz)" in ln]
    width = len(names[-1]) if names else 9
    body = [(i + 1, ln) for i, ln in enumerate(lines[end + 1:], start=end) if ln.strip()]
    warnings_: list[str] = []
    truncated = False
    if body and not text.endswith(("\n", "\r")):
        if not _complete_last_line([ln for _, ln in body], {width}, _NUMBER_CELL):
            body.pop()
            truncated = True
            warnings_.append("the file ends inside a row (no line end): it was cut off; the "
                             "incomplete last row was dropped")
    rows = []
    for line_no, ln in body:
        fields = re.split(r"\t|, ", ln.strip())
        if len(fields) != width:
            raise CorruptFileError(f"line {line_no}: {len(fields)} fields where the header names "
                                   f"{width}", path)
        try:
            rows.append([float(x) for x in fields])
        except ValueError:
            raise CorruptFileError(f"line {line_no}: a cell is not a number ({ln.strip()[:60]!r})",
                                   path) from None
    data = np.array(rows, dtype=float).reshape(-1, width)
    if width < 6:
        raise CorruptFileError(f"the header names {width} columns; a ZPlot row has Z' and Z'' "
                               "in columns 5 and 6", path)
    f, z = data[:, 0], data[:, 4] + 1j * data[:, 5]
    announced = header.get("Data Points", "").strip()
    if announced.isdigit() and int(announced) != len(f):
        n = int(announced)
        if n < len(f):
            raise CorruptFileError(f"the header announces {n} data points but {len(f)} rows "
                                   "follow", path)
        truncated = True
        warnings_.append(f"the header announces {n} data points but the file holds {len(f)}: "
                         "it was cut off; the complete rows were read")
    meta = {"instrument": "ZPlot (Scribner)", "techniques": ["EIS"], "warnings": warnings_,
            "truncated": truncated}
    if "Date" in header:
        stamp = pd.to_datetime(f"{header['Date']} {header.get('Time', '')}".strip(),
                               errors="coerce")
        meta["start_time"] = None if pd.isna(stamp) else stamp.isoformat()
    time_s = data[:, 3] if width > 3 else None
    return Measurement(_spectrum_frame(f, z, time_s, path), meta)


def read_csv3(path: Path) -> Measurement:
    """A headerless three-column CSV: frequency (Hz), Re Z (ohm), Im Z (ohm), read as
    impedance.py's ``readCSV`` reads it. A last line without line end that is not a whole row
    (fewer fields, or a number shorter than the rows before write theirs) is dropped with a
    warning and ``truncated``; a row of another width is refused naming its line."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"not a plain-text CSV (byte {exc.start})", path) from exc
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    warnings_: list[str] = []
    truncated = False
    if lines and not text.endswith(("\n", "\r")):
        if not _complete_last_line([ln for _, ln in lines], {3}, _NUMBER_CELL):
            lines.pop()
            truncated = True
            warnings_.append("the file ends inside a row (no line end): it was cut off; the "
                             "incomplete last row was dropped")
        else:
            warnings_.append("the last line has no line end; it is a whole row like the ones "
                             "before it and was read")
    rows = []
    for line_no, ln in lines:
        fields = ln.split(",")
        if len(fields) != 3:
            raise CorruptFileError(f"line {line_no}: {len(fields)} fields, not 3 (frequency, "
                                   "Re Z, Im Z)", path)
        try:
            rows.append([float(x) for x in fields])
        except ValueError:
            raise CorruptFileError(f"line {line_no}: a cell is not a number ({ln.strip()[:60]!r})",
                                   path) from None
    data = np.array(rows, dtype=float).reshape(-1, 3)
    meta = {"instrument": "unknown (3-column impedance CSV)", "techniques": ["EIS"],
            "warnings": warnings_, "truncated": truncated}
    return Measurement(_spectrum_frame(data[:, 0], data[:, 1] + 1j * data[:, 2], None, path), meta)


FORMATS = [
    ("zplot", _sniff_zplot, read_zplot),
    ("impedance-csv", _sniff_csv3, read_csv3),
]

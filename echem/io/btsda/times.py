"""BTSDA cells: numbers, durations (``h:mm:ss(.f)``, day prefixes, seconds, XLSX time objects)
and date-times, as float64 seconds and datetime64.

One reference parser per job (:func:`durations_s`, :func:`datetimes`) and one fast path each
(:func:`_hms_one_shape` reads a column of durations of one shape off its bytes;
:func:`_datetimes_arrow` lets Arrow parse ISO date-times), each fast path taken only when it
accepts every cell and proven equal to the reference in tests/test_btsda.py.
"""
from __future__ import annotations

import datetime as _dt
import re

import numpy as np
import pandas as pd

from echem.io.btsda.headers import UNITS

_HMS = re.compile(r"^\s*(?:(\d+)\s*(?:days?,?\s*|[-.]\s*|\s+))?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$")


def _filled(col: pd.Series) -> pd.Series:
    """Mask of the cells that hold something (not None/NaN/blank text)."""
    mask = col.notna()
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        mask &= col.astype(str).str.strip().ne("")
    return mask


def _numbers(col: pd.Series) -> pd.Series:
    """Cells as float64; empty, '-' and non-numeric cells NaN."""
    col = col.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    try:
        num = pd.to_numeric(col, errors="coerce")
    except (TypeError, ValueError):
        num = pd.Series(np.nan, index=col.index)
    num = pd.Series(np.asarray(num, dtype="float64"), index=col.index)
    retry = num.isna()
    if retry.any():
        retry &= col.map(lambda v: isinstance(v, str)).astype(bool)
    if retry.any():
        num[retry] = pd.to_numeric(col[retry].astype(str).str.strip().str.strip('"').str.strip(),
                                   errors="coerce").astype("float64").to_numpy()
    return num


def _obj_seconds(v) -> float:
    if isinstance(v, (_dt.timedelta, pd.Timedelta)):
        return pd.Timedelta(v).total_seconds()
    if isinstance(v, _dt.time):
        return v.hour * 3600 + v.minute * 60 + v.second + v.microsecond * 1e-6
    return np.nan


def durations_s(col: pd.Series, unit: str = "", fast: bool = True) -> np.ndarray:
    """Seconds from durations given as numbers (in ``unit``), ``h:mm:ss(.ms)`` text (hours may
    exceed 24; an optional day prefix ``1-02:03:04``, ``1.02:03:04`` or ``1 day 02:03:04``) or
    Python time/timedelta objects (XLSX). Unparseable cells are NaN.

    The reference parser is the regular expression :data:`_HMS` over each text cell; with
    ``fast``, a column whose cells are all ``h:mm:ss(.f)`` of one shape is read off its bytes
    by :func:`_hms_one_shape` instead (the same numbers, proven in tests/test_btsda.py)."""
    col = col.reset_index(drop=True)
    factor = 1.0 if ":" in unit else UNITS["time"].get(unit, 1.0)
    if pd.api.types.is_timedelta64_dtype(col):
        return col.dt.total_seconds().to_numpy(dtype="float64")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype="float64") * factor
    if fast:
        arr = _arrow_text(col)
        if arr is not None:
            secs = _hms_one_shape(arr)
            if secs is not None:
                return secs
    out = pd.Series(np.nan, index=col.index)
    if col.dtype == object:
        objects = col.map(lambda v: isinstance(v, (_dt.timedelta, _dt.time))).astype(bool)
        if objects.any():
            out[objects] = col[objects].map(_obj_seconds).astype("float64")
    else:
        objects = pd.Series(False, index=col.index)
    text = col.where(~objects, None).astype(str).str.strip()
    colon = text.str.contains(":", regex=False)
    plain = ~objects & ~colon
    if plain.any():
        out[plain] = _numbers(col[plain]).to_numpy() * factor
    if colon.any():
        m = text[colon].str.extract(_HMS)
        secs = (m[0].astype(float).fillna(0.0) * 86400 + m[1].astype(float) * 3600
                + m[2].astype(float) * 60 + m[3].astype(float))
        out[colon] = secs.to_numpy()
    return out.to_numpy(dtype="float64")


def _arrow_strings(col: pd.Series):
    """The Arrow array of a column of pandas' Arrow-backed string dtype without missing cells,
    else None."""
    if col.dtype == object or not pd.api.types.is_string_dtype(col) \
            or getattr(col.dtype, "storage", None) != "pyarrow" or col.hasnans:
        return None
    import pyarrow as pa
    return pa.chunked_array(pa.array(col.array))


def _arrow_text(col: pd.Series):
    """One Arrow string array of a column whose cells are all text (Arrow-backed, or Python
    str in an object column), else None."""
    import pyarrow as pa

    arr = _arrow_strings(col)
    if arr is not None:
        return arr.combine_chunks() if len(arr) else None
    if col.dtype != object or len(col) == 0:
        return None
    try:
        arr = pa.array(col.to_numpy(), type=pa.string(), from_pandas=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None
    return None if arr.null_count else arr


_HMS_BYTES = re.compile(rb"(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d+))?")


def _digits(b: np.ndarray, first: np.ndarray, width: int) -> np.ndarray:
    """int64 of the ``width`` ASCII digits of ``b`` from each of the positions ``first``."""
    out = b[first].astype(np.int64) - 48
    for k in range(1, width):
        out *= 10
        out += b[first + k]
        out -= 48
    return out


def _hms_one_shape(arr) -> np.ndarray | None:
    """Seconds of an Arrow string array whose cells are all ``h:mm:ss(.f)`` of one shape (the
    minute, second and fraction digits as many in every cell as in the first; hours of any
    length), read off its bytes with numpy; None for anything else (blanks, nulls, mixed shapes).

    The same numbers as Arrow's parse of the parts: hours and minutes are whole, and seconds
    ``ss.f`` are computed as the integer ``ssf`` divided by ``10**len(f)``, which IEEE division
    rounds correctly, as a correctly rounded parse of the text does."""
    import pyarrow as pa

    n = len(arr)
    if n == 0 or arr.null_count or not (pa.types.is_string(arr.type)
                                        or pa.types.is_large_string(arr.type)):
        return None
    _, offsets, values = arr.buffers()
    if values is None:
        return None
    off = np.frombuffer(offsets, dtype=np.int32 if pa.types.is_string(arr.type) else np.int64)
    off = off[arr.offset:arr.offset + n + 1].astype(np.int64)
    b = np.frombuffer(values, dtype=np.uint8)[off[0]:off[-1]]
    off -= off[0]
    starts, ends = off[:-1], off[1:]
    m = _HMS_BYTES.fullmatch(b[starts[0]:ends[0]].tobytes())
    if m is None:
        return None
    mw, sw, fw = len(m[2]), len(m[3]), len(m[4] or b"")
    if sw + fw > 15:  # beyond exact integers in float64
        return None
    dot = ends - (fw + 1)
    c2 = (dot if fw else ends) - (sw + 1)
    c1 = c2 - (mw + 1)
    hw = c1 - starts  # hour digits
    if hw.min() < 1 or hw.max() > 15:
        return None
    # every byte a digit, ':' or '.'; two colons (and one point) a cell, where the first cell has
    # them: then every cell has the first's shape
    if np.count_nonzero(b == 58) != 2 * n or np.count_nonzero(b == 46) != (n if fw else 0) \
            or np.count_nonzero(b == 47) or np.count_nonzero((b - np.uint8(46)) < 13) != len(b):
        return None
    if not (np.all(b[c1] == 58) and np.all(b[c2] == 58) and (not fw or np.all(b[dot] == 46))):
        return None
    hours = b[c1 - 1].astype(np.int64) - 48
    scale = 1
    for k in range(1, int(hw.max())):
        scale *= 10
        more = np.flatnonzero(hw > k)
        hours[more] += (b[c1[more] - 1 - k].astype(np.int64) - 48) * scale
    minutes = _digits(b, c1 + 1, mw)
    secs = _digits(b, c2 + 1, sw)
    if fw:
        secs = (secs * 10 ** fw + _digits(b, dot + 1, fw)) / 10.0 ** fw
    return hours.astype(np.float64) * 3600 + minutes.astype(np.float64) * 60 + secs


def _datetimes_arrow(col: pd.Series) -> pd.Series | None:
    """A text column of ISO 8601 date-times without zone parsed in Arrow (the same instants as
    :func:`datetimes`, which pandas parses), or None when Arrow does not take every cell."""
    arr = _arrow_strings(col)
    if arr is None or len(arr) == 0:
        return None
    import pyarrow.compute as pc

    # the cells as they are (Arrow takes none with blanks around it), else trimmed
    stamps = _arrow_stamps(arr)
    if stamps is None:
        stamps = _arrow_stamps(pc.utf8_trim_whitespace(arr))
    if stamps is None:
        return None
    return pd.Series(stamps.to_numpy(), dtype="datetime64[us]")


def _arrow_stamps(text):
    """Arrow's timestamp[us] of every cell of an Arrow text array, or None if one fails."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.max(pc.utf8_length(text)).as_py() > 26:  # beyond microseconds pandas keeps ns
        return None
    try:
        return pc.cast(text, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def datetimes(col: pd.Series) -> pd.Series:
    """Parse a date-time column (text or datetime objects); unparseable -> NaT."""
    col = col.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    fast = _datetimes_arrow(col)
    if fast is not None:
        return fast
    if pd.api.types.is_string_dtype(col) and col.dtype != object:
        text = col.str.strip()  # vectorized for pandas' string dtypes
    else:
        text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = text.where(_filled(text), None)
    try:
        return pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(text, format="mixed", errors="coerce")


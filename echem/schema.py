"""The common schema every reader produces (see DESIGN.md, "The contract").

Readers build a DataFrame with any of the columns below and pass it through :func:`finalize`,
which orders the columns, fixes their dtypes and checks the invariants the analyses rely on.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from echem.errors import CorruptFileError

try:  # pandas >= 3.0: a frame from ready-made column blocks, without per-column inference
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # pragma: no cover - pandas 2
    _from_blocks = None

#: column -> (dtype, meaning). Order is the order columns appear in a Measurement.
COLUMNS: dict[str, tuple[str, str]] = {
    "time_s": ("float64", "seconds since the start of the test, non-decreasing"),
    "voltage_V": ("float64", "cell or working-electrode voltage"),
    "current_mA": ("float64", "signed current, positive while the cell is charged (oxidation at the WE)"),
    "capacity_mAh": ("float64", "charge passed since the start of the current step, >= 0"),
    "cycle": ("int64", "cycle index, starting at 1"),
    "step": ("int64", "running step index, starting at 1, new at every change of step"),
    "step_type": ("category", "kind of step, one of STEP_TYPES"),
    "frequency_Hz": ("float64", "impedance rows: frequency"),
    "z_real_ohm": ("float64", "impedance rows: real part of Z"),
    "z_imag_ohm": ("float64", "impedance rows: imaginary part of Z (capacitive arc < 0)"),
    "spectrum": ("Int64", "impedance rows: index of the spectrum in the file, starting at 1"),
    "temperature_C": ("float64", "auxiliary channel: temperature, degrees Celsius"),
    "aux_voltage_V": ("float64", "auxiliary channel: voltage"),
}

STEP_TYPES: tuple[str, ...] = (
    "rest", "cc_charge", "cc_discharge", "cv_charge", "cv_discharge", "cccv_charge",
    "cccv_discharge", "cp_charge", "cp_discharge", "ocv", "eis", "other",
)

IMPEDANCE_COLUMNS = ("frequency_Hz", "z_real_ohm", "z_imag_ohm", "spectrum")


@dataclass
class ReadWarning:
    """Something a reader met in a file and worked around: ``message``, and the file's ``line``
    (1-based) where it applies."""

    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass
class Measurement:
    """What a reader returns: ``data`` in the common schema, typed fields for what every reader
    knows, and ``meta`` for the rest of what the file says.

    Fields: ``source`` (the path read, as str), ``format`` (the format's name, e.g.
    ``"eclab-mpt"``), ``instrument``, ``techniques`` (list of str), ``start_time`` (a
    :class:`datetime`: timezone-aware UTC where the file states its offset, naive local time
    otherwise; None where the file states none), ``warnings`` (:class:`ReadWarning` records of
    what the reader met and worked around), ``truncated`` (the file was cut off; ``data`` holds
    its complete rows).

    ``meta`` holds the rest (``channel``, ``active_mass_g``, ``area_cm2``, ``comments``, versions,
    ...). A reader may still pass the field keys in ``meta`` (``meta["warnings"]`` as a list of
    str, ``meta["start_time"]`` as ISO 8601 text, ...): construction moves them into the fields
    and out of ``meta``.
    """

    data: pd.DataFrame
    meta: dict = field(default_factory=dict)
    source: str = ""
    format: str = ""
    instrument: str = ""
    techniques: list = field(default_factory=list)
    start_time: datetime | None = None
    warnings: list = field(default_factory=list)
    truncated: bool = False

    def __post_init__(self) -> None:
        given = self.meta if self.meta is not None else {}
        meta = dict(given)  # the stored items only
        for key in ("source", "format", "instrument"):
            if key in meta:
                value = meta.pop(key)
                if not getattr(self, key) and value is not None:
                    setattr(self, key, str(value))
        if "techniques" in meta:
            value = meta.pop("techniques")
            if not self.techniques and value:
                self.techniques = [str(t) for t in value]
        self.techniques = list(self.techniques)
        if "truncated" in meta:
            self.truncated = bool(self.truncated or meta.pop("truncated"))
        warnings = list(self.warnings) + list(meta.pop("warnings", None) or [])
        self.warnings = [w if isinstance(w, ReadWarning) else ReadWarning(str(w)) for w in warnings]
        if "start_time" in meta:
            value = meta.pop("start_time")
            if self.start_time is None:
                parsed = parse_start_time(value)
                if parsed is None and value not in (None, ""):
                    meta["start_time_text"] = str(value)
                    self.warnings.append(ReadWarning(
                        f"the start time {str(value)!r} could not be read as a date and time"))
                self.start_time = parsed
        elif self.start_time is not None:
            self.start_time = parse_start_time(self.start_time)
        self.meta = meta

    def warn(self, message: str, line: int | None = None) -> None:
        """Add a :class:`ReadWarning`."""
        self.warnings.append(ReadWarning(message, line))

    def __repr__(self) -> str:
        return (f"Measurement({self.instrument or '?'}, {self.techniques}, "
                f"{len(self.data)} rows, columns={list(self.data.columns)})")


def parse_start_time(value) -> datetime | None:
    """A start time as :class:`datetime`: ISO 8601 text, a datetime or a pandas Timestamp; an
    offset that the value states is converted to UTC (the result then timezone-aware), no
    offset keeps the naive local time. None for None, empty or unreadable text."""
    if value is None or value == "":
        return None
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        value = value.to_pydatetime()
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                stamp = pd.Timestamp(text)
            except (ValueError, TypeError):
                return None
            if stamp is pd.NaT:
                return None
            value = stamp.to_pydatetime()
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(timezone.utc)
    return value


_STEP_TYPE_DTYPE = pd.CategoricalDtype(categories=list(STEP_TYPES))


def step_type_dtype() -> pd.CategoricalDtype:
    """The categorical dtype of ``step_type`` (one shared, immutable instance)."""
    return _STEP_TYPE_DTYPE


def running_step(change: np.ndarray) -> np.ndarray:
    """Running step index (1, 2, ...) from a per-row key that changes at every new step.

    ``change`` is any 1-D array (the instrument's step number, or a (step, cycle) code); a new
    step starts on every row whose key differs from the row before.
    """
    change = np.asarray(change)
    if change.size == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.empty(change.size, dtype=bool)
    new[0] = True
    new[1:] = change[1:] != change[:-1]
    return np.cumsum(new).astype(np.int64)


def finalize(df, path=None) -> pd.DataFrame:
    """Order schema columns first (instrument extras after), fix dtypes, reset the index, and
    check the schema's invariants.

    Invariants: ``time_s`` non-decreasing (NaN cells aside), else :class:`CorruptFileError`
    naming ``path`` and the first row where it goes back (a reader that can repair or drop such
    rows does so before, with a warning); ``step`` starting at 1 and growing by 1 at each
    change, ``cycle`` and ``step`` whole numbers without gaps, ``step_type`` values from
    :data:`STEP_TYPES`, else ValueError (a reader's fault, not the file's).

    ``df`` is a DataFrame, or a dict of equally long 1-D arrays (column name -> numpy array or
    pandas array), which saves a reader building a DataFrame only to have it rebuilt here.
    Builds the result in one go from the column arrays (no per-column assignment), so that it
    costs little next to reading the file. The result's columns are writeable. A DataFrame's
    column already of the right dtype is shared copy-on-write (changing either frame later does
    not change the other); a dict's arrays may be taken as they are (not copied) when
    writeable, so a reader passing a dict must not change them afterwards (read-only arrays,
    such as views of a file's bytes, are copied).
    """
    if isinstance(df, pd.DataFrame):
        names = list(df.columns)
        n = len(df)
        # a Series can be handed on (shared copy-on-write) only when its index is 0..n-1
        share = df.index.equals(pd.RangeIndex(n))
    else:
        names = list(df)
        n = len(df[names[0]]) if names else 0
        share = False
    present = set(names)
    schema = [c for c in COLUMNS if c in present]
    extra = [c for c in names if c not in COLUMNS]
    columns = {}
    for col in schema:
        dtype = COLUMNS[col][0]
        values = df[col]
        if type(values) is np.ndarray and values.dtype == _NUMPY_DTYPES.get(dtype):
            columns[col] = values  # a dict's array of the schema dtype: nothing to convert
        elif dtype == "category":
            columns[col] = _step_type_categorical(values)
        elif dtype == "Int64":
            if isinstance(values, pd.arrays.IntegerArray) \
                    and isinstance(values.dtype, pd.Int64Dtype):
                columns[col] = values
                continue
            if not isinstance(values, (pd.Series, pd.Index)):
                values = pd.Series(values, copy=False)
            columns[col] = values.to_numpy().astype("float64") if values.dtype == object else values
            columns[col] = pd.array(columns[col], dtype="Int64")
        elif dtype == "int64":
            arr = _numpy(values)
            if arr.dtype.kind == "f":
                if not np.isfinite(arr).all():
                    raise ValueError(f"{col} has missing or non-finite values")
                if (arr != np.round(arr)).any():
                    raise ValueError(f"{col} has values that are not whole numbers")
            elif arr.dtype.kind not in "iub":
                arr = pd.to_numeric(pd.Series(arr, copy=False)).to_numpy()
                if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                    raise ValueError(f"{col} has missing or non-finite values")
            columns[col] = _owned(values, arr.astype(np.int64, copy=False), share)
        else:
            if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
                arr = values.astype(dtype, copy=False)
            else:
                if not isinstance(values, (pd.Series, pd.Index)):
                    values = pd.Series(values, copy=False)
                arr = values.to_numpy(dtype=dtype, na_value=np.nan)
            columns[col] = _owned(values, arr, share)
    for col in extra:
        values = df[col]
        if type(values) is np.ndarray:
            columns[col] = values
        elif not isinstance(values.dtype, np.dtype):
            # extension dtypes (categorical, tz-aware datetime, ...) as they are: to_numpy()
            # would turn a datetime column into Python objects, slow to build and to use
            columns[col] = values.array if isinstance(values, pd.Series) else values
        else:
            columns[col] = _owned(values, _numpy(values), share)
    _check_invariants(columns, path)
    return _frame(columns, n)


def _check_invariants(columns: dict, path) -> None:
    """The checks of :func:`finalize` on its converted columns."""
    t = columns.get("time_s")
    if t is not None and len(t) > 1:
        t = np.asarray(t)
        back = t[1:] < t[:-1]  # NaN compares False: a NaN cell breaks no order
        if back.any():
            finite = t[~np.isnan(t)]
            if np.any(finite[1:] < finite[:-1]):
                i = int(np.flatnonzero(back)[0]) + 1
                k = int(np.sum(finite[1:] < finite[:-1]))
                raise CorruptFileError(
                    f"time_s goes back at row {i + 1} ({float(t[i - 1])!r} s -> {float(t[i])!r} s; "
                    f"{k} such row{'s' if k != 1 else ''}): the records are out of time order",
                    path)
        elif np.isnan(t).any():
            finite = t[~np.isnan(t)]
            if np.any(finite[1:] < finite[:-1]):
                raise CorruptFileError("time_s goes back across missing cells: the records are "
                                       "out of time order", path)
    step = columns.get("step")
    if step is not None and len(step):
        step = np.asarray(step)
        if step[0] != 1:
            raise ValueError(f"step starts at {step[0]}, not 1")
        d = np.diff(step)
        if d.size and (d.min() < 0 or d.max() > 1):
            i = int(np.flatnonzero((d < 0) | (d > 1))[0]) + 1
            raise ValueError(f"step goes from {step[i - 1]} to {step[i]} at row {i + 1}: a running "
                             "step index grows by 1 at each change")


_NUMPY_DTYPES = {"float64": np.dtype("float64"), "int64": np.dtype("int64")}

#: numpy dtypes a column can have in a frame built from blocks (anything else: pd.DataFrame)
_BLOCK_DTYPES = frozenset(np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64"))
_BLOCK_ARRAYS = (pd.Categorical, pd.arrays.IntegerArray, pd.arrays.FloatingArray,
                 pd.arrays.BooleanArray)
#: columns of one dtype are copied into one 2-D block up to this many bytes in all
_STACK_BYTES = 1 << 24


def _frame(columns: dict, n: int) -> pd.DataFrame:
    """``pd.DataFrame(columns, index=RangeIndex(n), copy=False)`` with writeable columns (a
    read-only array is copied), built faster where pandas allows.

    When every column is a 1-D numpy array of a plain numeric dtype or a categorical or masked
    pandas array, the frame is built from blocks without per-column type inference: the numpy
    columns of one dtype are copied into one 2-D block (up to ``_STACK_BYTES``; one copy, in
    place of one block per column, which costs more than the copy below a few thousand rows),
    a column alone in its dtype (or in a larger group) is its own block, copied only when it is
    read-only.
    """
    if _from_blocks is None:
        return _plain_frame(columns, n)
    arrays = list(columns.values())
    groups: dict[np.dtype, list[int]] = {}
    blocks = []
    for i, values in enumerate(arrays):
        if isinstance(values, np.ndarray):
            if values.ndim != 1 or len(values) != n or values.dtype not in _BLOCK_DTYPES:
                return _plain_frame(columns, n)
            groups.setdefault(values.dtype, []).append(i)
        elif isinstance(values, _BLOCK_ARRAYS) and len(values) == n:
            blocks.append((values, np.array([i])))
        else:
            return _plain_frame(columns, n)
    for dtype, where in groups.items():
        if len(where) > 1 and len(where) * n * dtype.itemsize <= _STACK_BYTES:
            block = np.array([arrays[i] for i in where], dtype=dtype)  # a copy
            blocks.append((block, np.array(where)))
        else:
            blocks.extend((_writeable(arrays[i]).reshape(1, n), np.array([i])) for i in where)
    return _from_blocks(blocks, pd.RangeIndex(n), _column_index(tuple(columns)).copy())


def _plain_frame(columns: dict, n: int) -> pd.DataFrame:
    columns = {name: _writeable(v) if isinstance(v, np.ndarray) else v
               for name, v in columns.items()}
    return pd.DataFrame(columns, index=pd.RangeIndex(n), copy=False)


def _writeable(arr: np.ndarray) -> np.ndarray:
    return arr if arr.flags.writeable else arr.copy()


@functools.lru_cache(maxsize=256)
def _column_index(names: tuple) -> pd.Index:
    """The column Index pd.DataFrame would make for these names (callers take a .copy())."""
    return pd.DataFrame({name: [] for name in names}).columns


def _numpy(values) -> np.ndarray:
    """``Series.to_numpy()`` of a column given as a Series, a numpy array or a pandas array."""
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, pd.Series):
        return values.to_numpy()
    return pd.Series(values, copy=False).to_numpy()


def _owned(values, arr: np.ndarray, share: bool):
    """What the result frame is built from for ``arr`` (the converted ``values``): the Series
    itself when ``arr`` is its read-only copy-on-write view and ``share`` (pandas then tracks
    the sharing), else ``arr`` (which :func:`_frame` copies if it is read-only)."""
    if share and not arr.flags.writeable and isinstance(values, pd.Series) \
            and values.dtype == arr.dtype:
        return values
    return arr


def _step_type_categorical(values) -> pd.Categorical:
    dtype = _STEP_TYPE_DTYPE
    if isinstance(values, pd.Categorical) and (values.dtype is dtype or (
            values.dtype == dtype and values.categories.equals(dtype.categories))):
        return values.fillna("other") if (values.codes < 0).any() else values
    if not isinstance(values, pd.Series):
        values = pd.Series(values, copy=False)
    if isinstance(values.dtype, pd.CategoricalDtype):
        bad = set(values.cat.categories) - set(STEP_TYPES)
        if not bad:
            return pd.Categorical(values.astype(object).fillna("other"), dtype=dtype) \
                if values.isna().any() else values.cat.set_categories(list(STEP_TYPES)).array
    else:
        bad = set(pd.unique(values.dropna())) - set(STEP_TYPES)
    if bad:
        raise ValueError(f"step_type values outside the schema: {sorted(map(str, bad))}")
    cat = pd.Categorical(values, dtype=dtype)
    if cat.isna().any():
        cat = cat.fillna("other")
    return cat


#: screening limits (absolute values beyond them are no measurement): volts, milliamperes
MAX_ABS_VOLTAGE_V = 100.0
MAX_ABS_CURRENT_MA = 1e6  # 1,000 A


def screen(data: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows of a common-schema frame that no instrument can have measured, dropped.

    Dropped: rows with an infinite value in a float schema column (``inf``, ``-inf``; NaN is a
    missing cell and stays), ``|voltage_V| > 100`` V, ``|current_mA| > 1e6`` mA (1,000 A), and
    rows whose ``time_s`` goes back by more than the data's resolution (the smallest positive
    time step) against the rows around them. Returns the remaining rows (index 0..n-1, ``step``
    renumbered where a whole step was dropped) and one warning per reason, counting its rows;
    no warnings and the same frame when nothing is dropped.
    """
    n = len(data)
    drop = np.zeros(n, dtype=bool)
    warnings: list[str] = []

    def note(mask: np.ndarray, what: str) -> None:
        new = mask & ~drop
        if new.any():
            k = int(new.sum())
            warnings.append(f"{k} row{'s' if k != 1 else ''} with {what} dropped")
            drop[new] = True

    for col in COLUMNS:
        if col in data and COLUMNS[col][0] == "float64":
            values = data[col].to_numpy(dtype=np.float64, na_value=np.nan)
            note(np.isinf(values), f"an infinite {col}")
    if "voltage_V" in data:
        v = data["voltage_V"].to_numpy(dtype=np.float64, na_value=np.nan)
        note(np.abs(v) > MAX_ABS_VOLTAGE_V, f"|voltage_V| > {MAX_ABS_VOLTAGE_V:g} V")
    if "current_mA" in data:
        i = data["current_mA"].to_numpy(dtype=np.float64, na_value=np.nan)
        note(np.abs(i) > MAX_ABS_CURRENT_MA, f"|current_mA| > {MAX_ABS_CURRENT_MA:,.0f} mA (1,000 A)")
    if "time_s" in data and n > 1:
        t = data["time_s"].to_numpy(dtype=np.float64, na_value=np.nan)
        where = np.flatnonzero(~drop & np.isfinite(t))
        back, resolution = _time_reversals(t[where])
        if back.any():
            mask = np.zeros(n, dtype=bool)
            mask[where[back]] = True
            note(mask, f"time_s going back by more than the data's resolution ({resolution:g} s)")
    if not drop.any():
        return data, []
    out = data.loc[~drop].reset_index(drop=True)
    if "step" in out and len(out):
        out["step"] = running_step(out["step"].to_numpy())
    return out, warnings


def _time_reversals(t: np.ndarray) -> tuple[np.ndarray, float]:
    """Mask of the rows of ``t`` (finite) that break its order by more than its resolution, and
    that resolution. A row out of line with both neighbours (a spike up or down) is the one
    dropped; what is left after a few such rounds is cut against the running maximum."""
    d = np.diff(t)
    positive = d[d > 0]
    resolution = float(positive.min()) if positive.size else 0.0
    bad = np.zeros(t.size, dtype=bool)
    if not np.any(d < -resolution):
        return bad, resolution
    for _ in range(3):
        idx = np.flatnonzero(~bad)
        tt = t[idx]
        step_back = np.flatnonzero(tt[1:] < tt[:-1] - resolution) + 1  # tt[k] < tt[k - 1]
        if step_back.size == 0:
            return bad, resolution
        for k in step_back:
            before = tt[k - 2] if k >= 2 else -np.inf
            after = tt[k + 1] if k + 1 < tt.size else np.inf
            # row k - 1 is a spike up when rows k - 2, k and k + 1 are in order without it;
            # else row k is a dip
            spike = before <= tt[k] + resolution and tt[k - 1] > after + resolution
            culprit = k - 1 if spike else k
            bad[idx[culprit]] = True
    idx = np.flatnonzero(~bad)
    tt = t[idx]
    running = np.maximum.accumulate(tt)
    bad[idx[tt < running - resolution]] = True
    return bad, resolution

"""The common schema every reader produces (see DESIGN.md, "The contract").

Readers build a DataFrame with any of the columns below and pass it through :func:`finalize`,
which orders the columns, fixes their dtypes and checks the invariants the analyses rely on.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
}

STEP_TYPES: tuple[str, ...] = (
    "rest", "cc_charge", "cc_discharge", "cv_charge", "cv_discharge", "cccv_charge",
    "cccv_discharge", "cp_charge", "cp_discharge", "ocv", "eis", "other",
)

IMPEDANCE_COLUMNS = ("frequency_Hz", "z_real_ohm", "z_imag_ohm", "spectrum")


@dataclass
class Measurement:
    """What a reader returns: ``data`` in the common schema and ``meta`` about the file.

    ``meta`` holds at least ``instrument``, ``techniques`` (list of str), ``source`` (path as str),
    ``format`` and, where the file says, ``start_time`` (ISO 8601 str), ``channel``,
    ``active_mass_g``, ``area_cm2`` and ``comments``.
    """

    data: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        m = self.meta
        return (f"Measurement({m.get('instrument', '?')}, {m.get('techniques', [])}, "
                f"{len(self.data)} rows, columns={list(self.data.columns)})")


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


def finalize(df) -> pd.DataFrame:
    """Order schema columns first (instrument extras after), fix dtypes, reset the index.

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
            if arr.dtype.kind == "f" and np.isnan(arr).any():
                arr = np.nan_to_num(arr, nan=0.0)
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
    return _frame(columns, n)


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

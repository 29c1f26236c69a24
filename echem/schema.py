"""The common schema every reader produces (see DESIGN.md, "The contract").

Readers build a DataFrame with any of the columns below and pass it through :func:`finalize`,
which orders the columns, fixes their dtypes and checks the invariants the analyses rely on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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


def step_type_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype(categories=list(STEP_TYPES))


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


def finalize(df: pd.DataFrame) -> pd.DataFrame:
    """Order schema columns first (instrument extras after), fix dtypes, reset the index.

    Builds the result in one go from the column arrays (no per-column assignment), so that it
    costs little next to reading the file.
    """
    schema = [c for c in COLUMNS if c in df.columns]
    extra = [c for c in df.columns if c not in COLUMNS]
    columns = {}
    for col in schema:
        dtype = COLUMNS[col][0]
        values = df[col]
        if dtype == "category":
            columns[col] = _step_type_categorical(values)
        elif dtype == "Int64":
            columns[col] = values.to_numpy().astype("float64") if values.dtype == object else values
            columns[col] = pd.array(columns[col], dtype="Int64")
        elif dtype == "int64":
            arr = values.to_numpy()
            if arr.dtype.kind == "f" and np.isnan(arr).any():
                arr = np.nan_to_num(arr, nan=0.0)
            columns[col] = arr.astype(np.int64, copy=False)
        else:
            columns[col] = values.to_numpy(dtype=dtype, na_value=np.nan)
    for col in extra:
        columns[col] = df[col].to_numpy() if not isinstance(df[col].dtype, pd.CategoricalDtype) else df[col].array
    return pd.DataFrame(columns, index=pd.RangeIndex(len(df)), copy=False)


def _step_type_categorical(values: pd.Series) -> pd.Categorical:
    dtype = step_type_dtype()
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

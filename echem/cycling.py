"""Step and cycle tables: capacity, energy, coulombic efficiency, retention (paper, Figure 5d-g).

Every function takes a DataFrame in the common schema (``echem.schema``) and returns a DataFrame.
Only ``time_s`` and ``voltage_V`` plus either ``current_mA`` or ``capacity_mAh`` with ``step_type``
are required; the rest is filled in when absent:

- impedance rows (``frequency_Hz`` present) and rows with NaN voltage or time are ignored;
- no ``step``: a new step at every change of ``step_type``, or else of the current's sign;
- no ``step_type``: each step is ``cc_charge``/``cc_discharge``/``rest`` by the sign of its mean current;
- no ``capacity_mAh``: |current| integrated over time within each step (trapezoid rule);
- no ``cycle`` (or on request): cycles from the step sequence, see :func:`cycle_table`.

Sign convention (DESIGN.md): positive current charges the cell (oxidation at the working
electrode). Capacities and energies are reported >= 0. All loops run over steps, never rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from echem.errors import EchemError
from echem.schema import step_type_dtype

CHARGE_TYPES = frozenset({"cc_charge", "cv_charge", "cccv_charge", "cp_charge"})
DISCHARGE_TYPES = frozenset({"cc_discharge", "cv_discharge", "cccv_discharge", "cp_discharge"})
IDLE_TYPES = frozenset({"rest", "ocv", "eis"})

#: |current| below this fraction of the largest |current| in the data counts as zero
CURRENT_TOLERANCE = 1e-3

CYCLE_SOURCES = ("file", "auto", "charge_first", "discharge_first")

STEP_COLUMNS = ["step", "cycle", "step_type", "direction", "start_time_s", "end_time_s",
                "duration_s", "capacity_mAh", "energy_mWh", "start_voltage_V", "end_voltage_V",
                "mean_voltage_V", "min_voltage_V", "max_voltage_V", "mean_current_mA", "n_points"]


class _Prepared:
    """Arrays of the usable rows and the row ranges of the steps, read only (internal)."""

    def __init__(self, t, v, i, cap, starts, steps, cycles="file"):
        self.t, self.v, self.i, self.cap = t, v, i, cap
        self.cycles = cycles            # the cycle source the steps were numbered with
        self.starts = starts            # first row of each step block
        self.ends = np.append(starts[1:], t.size)  # one past the last row
        self.steps = steps              # per-step DataFrame (STEP_COLUMNS + first_row, last_row)

    def row_step(self) -> np.ndarray:
        """For every row, the position (0-based) of its step in ``steps``."""
        return np.repeat(np.arange(self.starts.size), self.ends - self.starts)


def _require(data: pd.DataFrame) -> None:
    if not isinstance(data, pd.DataFrame):
        raise EchemError(f"expected a pandas DataFrame in the common schema, got {type(data).__name__}")
    missing = [c for c in ("time_s", "voltage_V") if c not in data.columns]
    if missing:
        raise EchemError(f"the data lack the column(s) {missing}; a cycling analysis needs time_s "
                         "and voltage_V (and current_mA, or capacity_mAh with step_type)")
    if "current_mA" not in data.columns and not {"capacity_mAh", "step_type"} <= set(data.columns):
        raise EchemError("the data have no current_mA and not both capacity_mAh and step_type; "
                         "cannot tell charge from discharge")


def usable_rows(data: pd.DataFrame) -> pd.DataFrame:
    """The rows a cycling analysis uses: no impedance rows, no NaN time or voltage."""
    _require(data)
    keep = data["time_s"].notna().to_numpy() & data["voltage_V"].notna().to_numpy()
    if "frequency_Hz" in data.columns:
        keep &= data["frequency_Hz"].isna().to_numpy()
    return data.loc[keep] if not keep.all() else data


def _within(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """values[k] - values[k-1] for each row, 0 on the first row of every step."""
    d = np.zeros(values.size)
    if values.size > 1:
        d[1:] = values[1:] - values[:-1]
    d[starts] = 0.0
    return d


def _step_directions(types: np.ndarray, mean_i: np.ndarray, tol: float) -> np.ndarray:
    """+1 charge, -1 discharge, 0 idle, from the step type (or the mean current for 'other')."""
    out = np.where(mean_i > tol, 1, np.where(mean_i < -tol, -1, 0)).astype(np.int64)
    out[np.isin(types, list(CHARGE_TYPES))] = 1
    out[np.isin(types, list(DISCHARGE_TYPES))] = -1
    out[np.isin(types, list(IDLE_TYPES))] = 0
    return out


def cycles_from_steps(direction: np.ndarray, first: str = "auto") -> np.ndarray:
    """Cycle index (from 1) for each step from the sequence of step directions.

    ``direction``: +1 charge, -1 discharge, 0 rest, one per step. ``first``: ``"charge_first"``
    (a cycle is a charge then a discharge; a new cycle starts at every charge that follows a
    discharge, as EC-Lab counts), ``"discharge_first"`` (the mirror), or ``"auto"`` (whichever
    direction the first non-rest step has). Rest steps belong to the cycle of the step before.
    """
    direction = np.asarray(direction, dtype=np.int64)
    nonzero = direction[direction != 0]
    if first == "charge_first":
        s = 1
    elif first == "discharge_first":
        s = -1
    elif first == "auto":
        s = int(nonzero[0]) if nonzero.size else 1
    else:
        raise EchemError(f"unknown cycle source {first!r}; use one of {CYCLE_SOURCES}")
    # direction of the last non-rest step before each step (0 if none)
    idx = np.where(direction != 0, np.arange(direction.size), -1)
    last = np.maximum.accumulate(idx) if idx.size else idx
    prev = np.full(direction.size, -1)
    prev[1:] = last[:-1]
    prev_dir = np.where(prev >= 0, direction[np.maximum(prev, 0)], 0)
    start = (direction == s) & (prev_dir == -s)
    return 1 + np.cumsum(start)


def prepare(data: pd.DataFrame, cycles: str = "file") -> _Prepared:
    """Clean rows, fill absent columns and aggregate per step (see the module docstring).

    The analyses of this module, ``echem.symmetric`` and ``echem.nucleation`` and the cycling
    figures call it on the data they are given; they also take its result in place of the data,
    which spares preparing a long series once per analysis (1,000,000 rows: ~0.05 s each).
    """
    if cycles not in CYCLE_SOURCES:
        raise EchemError(f"unknown cycle source {cycles!r}; use one of {CYCLE_SOURCES}")
    if isinstance(data, _Prepared) and data.cycles == cycles:
        return data
    if isinstance(data, _Prepared):
        raise EchemError(f"the data were prepared with cycles={data.cycles!r}, not {cycles!r}; "
                         "give the DataFrame")
    df = usable_rows(data)
    n = len(df)
    if n == 0:
        raise EchemError("the data have no rows with time and voltage (only impedance rows, or empty)")
    t = df["time_s"].to_numpy(dtype=np.float64)
    v = df["voltage_V"].to_numpy(dtype=np.float64)
    i = (df["current_mA"].to_numpy(dtype=np.float64) if "current_mA" in df.columns
         else np.full(n, np.nan))
    i = np.where(np.isnan(i), 0.0, i) if "current_mA" in df.columns else i
    imax = np.nanmax(np.abs(i)) if np.isfinite(i).any() else 0.0
    tol = max(CURRENT_TOLERANCE * imax, 1e-12)
    has_types = "step_type" in df.columns

    # step blocks: a new block at every change of step (or cycle) as the file numbers them
    if "step" in df.columns:
        key = df["step"].to_numpy()
    elif has_types:
        key = pd.factorize(df["step_type"], use_na_sentinel=True)[0]
    else:
        key = np.where(i > tol, 1, np.where(i < -tol, -1, 0))
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = key[1:] != key[:-1]
    if "cycle" in df.columns:
        c = df["cycle"].to_numpy()
        new[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    last = ends - 1
    npts = ends - starts

    dt = _within(t, starts)
    # capacity since step start
    if "capacity_mAh" in df.columns:
        cap = df["capacity_mAh"].to_numpy(dtype=np.float64)
        cap = np.where(np.isnan(cap), 0.0, np.abs(cap))
    else:
        ai = np.abs(i)
        inc = np.zeros(n)
        inc[1:] = 0.5 * (ai[1:] + ai[:-1])
        inc = inc * dt / 3600.0
        total = np.cumsum(inc)
        cap = total - np.repeat(total[starts], npts)
    dq = _within(cap, starts)
    vmid = np.zeros(n)
    vmid[1:] = 0.5 * (v[1:] + v[:-1])
    imid = np.zeros(n)
    imid[1:] = 0.5 * (i[1:] + i[:-1])

    duration = t[last] - t[starts]
    energy = np.add.reduceat(vmid * dq, starts) if n else np.zeros(0)
    sum_vdt = np.add.reduceat(vmid * dt, starts)
    sum_idt = np.add.reduceat(imid * dt, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_v = np.where(duration > 0, sum_vdt / np.where(duration > 0, duration, 1),
                          np.add.reduceat(v, starts) / npts)
        mean_i = np.where(duration > 0, sum_idt / np.where(duration > 0, duration, 1),
                          np.add.reduceat(i, starts) / npts)
    capacity = np.fmax.reduceat(cap, starts)

    if has_types:
        first = df["step_type"].iloc[starts]
        types = first.astype(object).where(first.notna(), "other").to_numpy()
    else:
        types = np.where(mean_i > tol, "cc_charge", np.where(mean_i < -tol, "cc_discharge", "rest")
                         ).astype(object)
    direction = _step_directions(types, mean_i, tol)
    if cycles == "file" and "cycle" in df.columns:
        cyc = df["cycle"].to_numpy()[starts].astype(np.int64)
    else:
        cyc = cycles_from_steps(direction, "auto" if cycles == "file" else cycles)
    step_no = (df["step"].to_numpy()[starts].astype(np.int64) if "step" in df.columns
               else np.arange(1, starts.size + 1))

    steps = pd.DataFrame({
        "step": step_no,
        "cycle": cyc,
        "step_type": pd.Categorical(types, dtype=step_type_dtype()),
        "direction": direction,
        "start_time_s": t[starts],
        "end_time_s": t[last],
        "duration_s": duration,
        "capacity_mAh": capacity,
        "energy_mWh": np.abs(energy),
        "start_voltage_V": v[starts],
        "end_voltage_V": v[last],
        "mean_voltage_V": mean_v,
        "min_voltage_V": np.minimum.reduceat(v, starts),
        "max_voltage_V": np.maximum.reduceat(v, starts),
        "mean_current_mA": mean_i,
        "n_points": npts,
        "first_row": starts,
        "last_row": last,
    })
    return _Prepared(t, v, i, cap, starts, steps, cycles)


def step_table(data: pd.DataFrame, *, cycles: str = "file") -> pd.DataFrame:
    """One row per step.

    Columns: step, cycle, step_type, direction (+1 charge, -1 discharge, 0 rest), start_time_s,
    end_time_s, duration_s, capacity_mAh (largest capacity in the step, >= 0), energy_mWh
    (|integral of V dQ| over the step, mWh), start/end/mean/min/max voltage_V (mean is time
    weighted), mean_current_mA (time weighted, signed) and n_points. ``cycles`` as in
    :func:`cycle_table`.
    """
    return prepare(data, cycles).steps[STEP_COLUMNS].copy()


def cycle_table(data: pd.DataFrame, *, active_mass_g: float | None = None,
                area_cm2: float | None = None, reference_cycle: int = 1,
                cycles: str = "file") -> pd.DataFrame:
    """One row per cycle: capacities, energies, coulombic efficiency and retention.

    Columns: cycle, start_time_s, end_time_s, charge_capacity_mAh, discharge_capacity_mAh (sums
    over the cycle's charge / discharge steps), coulombic_efficiency (discharge / charge, a
    fraction; NaN unless the cycle has both a charge and a discharge step and charged > 0), charge_energy_mWh, discharge_energy_mWh,
    mean_charge_voltage_V and mean_discharge_voltage_V (energy / capacity, i.e. the
    capacity-weighted mean voltage), capacity_retention (discharge capacity / that of
    ``reference_cycle``, the paper's retention after n cycles; NaN for a cycle without a discharge
    step, or when the reference cycle discharged nothing). With ``active_mass_g`` (g of
    active material) also specific_charge_capacity_mAh_g, specific_discharge_capacity_mAh_g; with
    ``area_cm2`` also areal_charge_capacity_mAh_cm2, areal_discharge_capacity_mAh_cm2.

    ``cycles``: ``"file"`` uses the instrument's cycle index when the data have one (else
    ``"auto"``); ``"auto"``, ``"charge_first"`` or ``"discharge_first"`` derive cycles from the step
    sequence (see :func:`cycles_from_steps`).
    """
    steps = prepare(data, cycles).steps
    d = steps["direction"].to_numpy()
    chg = d > 0
    dis = d < 0
    frame = pd.DataFrame({
        "cycle": steps["cycle"].to_numpy(),
        "start_time_s": steps["start_time_s"].to_numpy(),
        "end_time_s": steps["end_time_s"].to_numpy(),
        "charge_capacity_mAh": np.where(chg, steps["capacity_mAh"], 0.0),
        "discharge_capacity_mAh": np.where(dis, steps["capacity_mAh"], 0.0),
        "charge_energy_mWh": np.where(chg, steps["energy_mWh"], 0.0),
        "discharge_energy_mWh": np.where(dis, steps["energy_mWh"], 0.0),
        "n_charge": chg.astype(np.int64),
        "n_discharge": dis.astype(np.int64),
    })
    g = frame.groupby("cycle", sort=True)
    out = g.agg(start_time_s=("start_time_s", "min"), end_time_s=("end_time_s", "max"),
                charge_capacity_mAh=("charge_capacity_mAh", "sum"),
                discharge_capacity_mAh=("discharge_capacity_mAh", "sum"),
                charge_energy_mWh=("charge_energy_mWh", "sum"),
                discharge_energy_mWh=("discharge_energy_mWh", "sum"),
                n_charge=("n_charge", "sum"), n_discharge=("n_discharge", "sum")).reset_index()
    has_c = out.pop("n_charge").to_numpy() > 0
    has_d = out.pop("n_discharge").to_numpy() > 0
    qc = out["charge_capacity_mAh"].to_numpy()
    qd = out["discharge_capacity_mAh"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = has_c & has_d & (qc > 0)
        out.insert(5, "coulombic_efficiency", np.where(ok, qd / np.where(ok, qc, 1), np.nan))
        out["mean_charge_voltage_V"] = np.where(qc > 0, out["charge_energy_mWh"] / np.where(qc > 0, qc, 1), np.nan)
        out["mean_discharge_voltage_V"] = np.where(qd > 0, out["discharge_energy_mWh"] / np.where(qd > 0, qd, 1), np.nan)
    ref = out.loc[out["cycle"] == reference_cycle, "discharge_capacity_mAh"]
    ref_q = float(ref.iloc[0]) if len(ref) and ref.iloc[0] > 0 else np.nan
    out["capacity_retention"] = np.where(has_d, qd / ref_q, np.nan)
    if active_mass_g is not None:
        if not active_mass_g > 0:
            raise EchemError(f"active_mass_g must be > 0, got {active_mass_g}")
        out["specific_charge_capacity_mAh_g"] = qc / active_mass_g
        out["specific_discharge_capacity_mAh_g"] = qd / active_mass_g
    if area_cm2 is not None:
        if not area_cm2 > 0:
            raise EchemError(f"area_cm2 must be > 0, got {area_cm2}")
        out["areal_charge_capacity_mAh_cm2"] = qc / area_cm2
        out["areal_discharge_capacity_mAh_cm2"] = qd / area_cm2
    return out


def capacity_retention(table: pd.DataFrame, cycle: int, reference_cycle: int = 1) -> float:
    """Discharge capacity of ``cycle`` / that of ``reference_cycle`` from a :func:`cycle_table`
    (a fraction; NaN when either cycle is absent or the reference discharged nothing)."""
    q = table.set_index("cycle")["discharge_capacity_mAh"]
    if cycle not in q.index or reference_cycle not in q.index or not q[reference_cycle] > 0:
        return float("nan")
    return float(q[cycle] / q[reference_cycle])

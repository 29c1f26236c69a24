"""Step and cycle tables: capacity, energy, coulombic efficiency, retention (paper, Figure 5d-g).

Every function takes a DataFrame in the common schema (``echem.schema``), or the same data cut
into steps once by :func:`prepare` (a :class:`Steps`). Only ``time_s`` and ``voltage_V`` plus
either ``current_mA`` or ``capacity_mAh`` with ``step_type`` are required; the rest is filled in
when absent:

- impedance rows (``frequency_Hz`` present) and rows with NaN voltage or time are ignored;
- no ``step``: a new step at every change of ``step_type``, or else of the current's sign;
- no ``step_type``: each step is ``cc_charge``/``cc_discharge``/``rest`` by the sign of its mean current;
- no ``capacity_mAh``: |current| integrated over time within each step (trapezoid rule);
- no ``cycle`` (or on request): cycles from the step sequence, see :func:`cycle_table`.

:func:`cycle_table` marks incomplete cycles (a half cycle missing, a partial formation half
cycle, the test's unfinished last half cycle); :func:`analyse` gives the numbers of a full or
half cell (coulombic efficiency by cell type, reference and retention cycles, mean CE, fade) with
their uncertainty named (:class:`Estimate`); :func:`compare_retention` holds several cells at
one cycle.

Sign convention (DESIGN.md): positive current charges the cell (oxidation at the working
electrode). Capacities and energies are reported >= 0. All loops run over steps, never rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

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


@dataclass(frozen=True, eq=False)
class Steps:
    """A cycling series cut into steps: the step/half-cycle table type of the cycling analyses.

    Made by :func:`prepare` from a DataFrame in the common schema; every analysis of this module,
    of ``echem.symmetric`` and ``echem.nucleation``, and the cycling figures accept it in place of
    the DataFrame, so that a long series is cleaned and cut into steps once.

    Fields (one entry per usable row: no impedance rows, no NaN time or voltage):

    - ``time_s``, ``voltage_V``, ``current_mA`` (signed; 0 where the file has none, NaN when the
      data have no current column), ``capacity_mAh`` (charge passed since the start of the step,
      >= 0): float64 arrays;
    - ``starts``: the first row of each step (int array, one per row of ``steps``);
    - ``steps``: one row per step, the columns of :data:`STEP_COLUMNS` plus ``first_row`` and
      ``last_row`` (row positions into the arrays above);
    - ``cycles``: the cycle source the ``cycle`` column was numbered with (see
      :data:`CYCLE_SOURCES`).

    ``t``, ``v``, ``i``, ``cap`` are short aliases of the four arrays (the figure modules use them).
    """

    time_s: np.ndarray
    voltage_V: np.ndarray
    current_mA: np.ndarray
    capacity_mAh: np.ndarray
    starts: np.ndarray
    steps: pd.DataFrame
    cycles: str = "file"

    @property
    def ends(self) -> np.ndarray:
        """One past the last row of each step."""
        return np.append(self.starts[1:], self.time_s.size)

    @property
    def t(self) -> np.ndarray:
        return self.time_s

    @property
    def v(self) -> np.ndarray:
        return self.voltage_V

    @property
    def i(self) -> np.ndarray:
        return self.current_mA

    @property
    def cap(self) -> np.ndarray:
        return self.capacity_mAh

    @property
    def duration_h(self) -> float:
        """Hours from the first to the last usable row (the test's duration)."""
        return float(self.time_s.max() - self.time_s.min()) / 3600.0 if self.time_s.size else 0.0

    def row_step(self) -> np.ndarray:
        """For every row, the position (0-based) of its step in ``steps``."""
        return np.repeat(np.arange(self.starts.size), self.ends - self.starts)


#: what the analyses accept as cycling data: a DataFrame in the common schema, or it prepared
CyclingData = Union[pd.DataFrame, Steps]


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


def prepare(data: CyclingData, cycles: str = "file") -> Steps:
    """Clean rows, fill absent columns and cut the series into steps (see the module docstring).

    Returns a :class:`Steps`. ``data`` may already be a :class:`Steps`: it is returned as it is
    when its cycles were numbered the same way, or renumbered from its step sequence for
    ``"auto"``, ``"charge_first"`` and ``"discharge_first"`` (the instrument's own count cannot be
    recovered from a Steps numbered otherwise: give the DataFrame).
    """
    if cycles not in CYCLE_SOURCES:
        raise EchemError(f"unknown cycle source {cycles!r}; use one of {CYCLE_SOURCES}")
    if isinstance(data, Steps):
        if data.cycles == cycles:
            return data
        if cycles == "file":
            raise EchemError(f"the data were prepared with cycles={data.cycles!r}, not 'file'; "
                             "give the DataFrame")
        steps = data.steps.copy()
        steps["cycle"] = cycles_from_steps(steps["direction"].to_numpy(), cycles)
        return Steps(data.time_s, data.voltage_V, data.current_mA, data.capacity_mAh, data.starts,
                     steps, cycles)
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
    return Steps(t, v, i, cap, starts, steps, cycles)


def step_table(data: CyclingData, *, cycles: str = "file") -> pd.DataFrame:
    """One row per step.

    Columns: step, cycle, step_type, direction (+1 charge, -1 discharge, 0 rest), start_time_s,
    end_time_s, duration_s, capacity_mAh (largest capacity in the step, >= 0), energy_mWh
    (|integral of V dQ| over the step, mWh), start/end/mean/min/max voltage_V (mean is time
    weighted), mean_current_mA (time weighted, signed) and n_points. ``cycles`` as in
    :func:`cycle_table`.
    """
    return prepare(data, cycles).steps[STEP_COLUMNS].copy()


#: coulombic-efficiency conventions: (the half cycle that goes in first, the one out) as step
#: directions (+1 charge, -1 discharge), and what they are in words
CE_CONVENTIONS: dict[str, tuple[int, int, str]] = {
    "discharge/charge": (+1, -1, "discharge/charge: a full cell, or the lithiation/delithiation of "
                                 "a cathode-like working electrode in a half cell"),
    "charge/discharge": (-1, +1, "charge/discharge: the delithiation/lithiation of an anode-like "
                                 "working electrode in a half cell"),
}

_WORD = {1: "charge", -1: "discharge"}


def _half_cycle_runs(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per half cycle: a run of current-carrying steps of one direction within one cycle
    (rests between them are skipped). Columns: cycle, direction, first/last (positions in
    ``steps``), capacity_mAh, duration_s, end_voltage_V, mean_abs_current_mA (internal)."""
    d = steps["direction"].to_numpy()
    active = np.flatnonzero(d != 0)
    cyc = steps["cycle"].to_numpy()
    if active.size == 0:
        return pd.DataFrame(columns=["cycle", "direction", "first", "last", "capacity_mAh",
                                     "duration_s", "end_voltage_V", "mean_abs_current_mA"])
    key = d[active] * (np.abs(cyc[active]).max() + 1) * 2 + cyc[active]
    run = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    dur = steps["duration_s"].to_numpy()[active]
    cur = np.abs(steps["mean_current_mA"].to_numpy()[active])
    g = pd.DataFrame({"run": run, "cycle": cyc[active], "direction": d[active], "pos": active,
                      "cap": steps["capacity_mAh"].to_numpy()[active], "dur": dur,
                      "idt": np.where(np.isfinite(cur), cur, 0.0) * dur,
                      "endv": steps["end_voltage_V"].to_numpy()[active]}
                     ).groupby("run", sort=True)
    out = g.agg(cycle=("cycle", "first"), direction=("direction", "first"), first=("pos", "first"),
                last=("pos", "last"), capacity_mAh=("cap", "sum"), duration_s=("dur", "sum"),
                idt=("idt", "sum"), end_voltage_V=("endv", "last")).reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_abs_current_mA"] = np.where(out["duration_s"] > 0, out.pop("idt") / out["duration_s"], np.nan)
    return out


def _ended_by_test_end(p: Steps, runs: pd.DataFrame) -> str:
    """Why the last half cycle of the data was cut short by the end of the test, or "".

    It was when no step follows it in the data (the test stopped inside it) and it neither
    reached the cut-off voltage at which the other half cycles of its direction ended (their
    median end voltage, within max(10 mV, 1 % of the test's voltage span)) nor passed 98 % of
    their median capacity (a capacity- or time-limited protocol). With no other half cycle of its
    direction there is nothing to hold it against: it counts as complete."""
    if runs.empty:
        return ""
    last = runs.iloc[-1]
    if int(last["last"]) != len(p.steps) - 1:
        return ""              # a rest (or another step) followed: the protocol ended it
    d = int(last["direction"])
    others = runs.iloc[:-1]
    others = others[others["direction"] == d]
    if others.empty:
        return ""
    cutoff = float(np.median(others["end_voltage_V"]))
    v = p.voltage_V
    tol = max(0.01, 0.01 * float(np.nanmax(v) - np.nanmin(v)))
    end_v = float(last["end_voltage_V"])
    reached = end_v >= cutoff - tol if d > 0 else end_v <= cutoff + tol
    full = float(last["capacity_mAh"]) >= 0.98 * float(np.median(others["capacity_mAh"]))
    if reached or full:
        return ""
    return (f"the test ended during its {_WORD[d]}, at {end_v:.4g} V, before the cut-off "
            f"({cutoff:.4g} V, where the other {_WORD[d]}s ended)")


def cycle_table(data: CyclingData, *, active_mass_g: float | None = None,
                area_cm2: float | None = None, reference_cycle: int | None = None,
                cycles: str = "file", ce_convention: str = "discharge/charge") -> pd.DataFrame:
    """One row per cycle: capacities, energies, coulombic efficiency, retention, completeness.

    Columns: cycle, start_time_s, end_time_s, charge_capacity_mAh, discharge_capacity_mAh (sums
    over the cycle's charge / discharge steps), coulombic_efficiency (a fraction, by
    ``ce_convention``: ``"discharge/charge"`` for a full cell or a cathode-like half cell,
    ``"charge/discharge"`` for an anode-like half cell, i.e. delithiation/lithiation of the
    working electrode; NaN unless the cycle has both a charge and a discharge step and the
    denominator is > 0), charge_energy_mWh, discharge_energy_mWh, mean_charge_voltage_V and
    mean_discharge_voltage_V (energy / capacity, the capacity-weighted mean voltage),
    capacity_retention (the "out" capacity of the convention, discharge for ``discharge/charge``,
    charge for ``charge/discharge``, of the cycle / that of the reference cycle, the paper's
    retention after n cycles; NaN for an incomplete cycle), complete (bool) and
    incomplete_reason (words; "" for a complete cycle). With ``active_mass_g`` (g of active
    material) also specific_charge_capacity_mAh_g, specific_discharge_capacity_mAh_g; with
    ``area_cm2`` also areal_charge_capacity_mAh_cm2, areal_discharge_capacity_mAh_cm2.

    A cycle is complete when it holds exactly one half cycle of each direction (a half cycle: the
    current-carrying steps of one direction in a row, rests between them skipped), the one the
    convention puts first (charge for ``discharge/charge``) comes first, and the test did not end
    inside its last half cycle before the cut-off (see :func:`_ended_by_test_end`). So a
    partial formation half cycle at the start (a discharge of an as-built cell before any
    charge), a cycle with a half missing, a file cycle that holds two cycles, and the test's
    unfinished last half cycle are all incomplete, each with its reason.

    ``reference_cycle``: None (default) takes the first complete cycle; a cycle that is
    incomplete or absent gives NaN retention (:func:`analyse` chooses it and says why).

    ``cycles``: ``"file"`` uses the instrument's cycle index when the data have one (else
    ``"auto"``); ``"auto"``, ``"charge_first"`` or ``"discharge_first"`` derive cycles from the step
    sequence (see :func:`cycles_from_steps`).
    """
    if ce_convention not in CE_CONVENTIONS:
        raise EchemError(f"unknown coulombic-efficiency convention {ce_convention!r}; use one of "
                         f"{list(CE_CONVENTIONS)}")
    in_dir, out_dir, _ = CE_CONVENTIONS[ce_convention]
    p = prepare(data, cycles)
    steps = p.steps
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
    q_in, q_out = (qc, qd) if in_dir > 0 else (qd, qc)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = has_c & has_d & (q_in > 0)
        out.insert(5, "coulombic_efficiency", np.where(ok, q_out / np.where(ok, q_in, 1), np.nan))
        out["mean_charge_voltage_V"] = np.where(qc > 0, out["charge_energy_mWh"] / np.where(qc > 0, qc, 1), np.nan)
        out["mean_discharge_voltage_V"] = np.where(qd > 0, out["discharge_energy_mWh"] / np.where(qd > 0, qd, 1), np.nan)

    # completeness, from the half cycles of each cycle
    runs = _half_cycle_runs(steps)
    cyc = out["cycle"].to_numpy()
    pos = {c: k for k, c in enumerate(cyc.tolist())}
    counts = (runs.groupby(["cycle", "direction"]).size().unstack(fill_value=0)
              .reindex(index=cyc, columns=[in_dir, out_dir], fill_value=0))
    n_in_all = counts[in_dir].to_numpy()
    n_out_all = counts[out_dir].to_numpy()
    first_dir = runs.groupby("cycle")["direction"].first().reindex(cyc).fillna(0).to_numpy()
    first_cycle = int(runs["cycle"].iloc[0]) if len(runs) else None
    reasons: list[list[str]] = [[] for _ in cyc]
    for k in np.flatnonzero((n_in_all != 1) | (n_out_all != 1) | (first_dir == out_dir)):
        n_in, n_out = int(n_in_all[k]), int(n_out_all[k])
        if n_in == 0 or n_out == 0:
            missing = [_WORD[x] for x, n in ((in_dir, n_in), (out_dir, n_out)) if n == 0]
            reasons[k].append(f"no {' and no '.join(missing)}")
        if n_in > 1 or n_out > 1:
            reasons[k].append(f"{n_in} {_WORD[in_dir]}s and {n_out} {_WORD[out_dir]}s in one cycle "
                              "of the count")
        if n_in and n_out and first_dir[k] == out_dir:
            reasons[k].append(f"starts with a {_WORD[out_dir]} before its {_WORD[in_dir]}"
                              + (" (a partial formation half cycle: the test began with the cell "
                                 "not yet " + ("charged" if in_dir > 0 else "discharged") + ")"
                                 if cyc[k] == first_cycle else ""))
    cut = _ended_by_test_end(p, runs)
    if cut:
        reasons[pos[int(runs["cycle"].iloc[-1])]].append(cut)
    complete = np.array([not r for r in reasons], dtype=bool)
    out["complete"] = complete
    out["incomplete_reason"] = ["; ".join(r) for r in reasons]

    if reference_cycle is None:
        ref_rows = np.flatnonzero(complete)
        ref_k = int(ref_rows[0]) if ref_rows.size else -1
    else:
        ref_k = pos.get(reference_cycle, -1)
        if ref_k >= 0 and not complete[ref_k]:
            ref_k = -1
    ref_q = float(q_out[ref_k]) if ref_k >= 0 and q_out[ref_k] > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        out["capacity_retention"] = np.where(complete, q_out / ref_q, np.nan)
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


def capacity_retention(table: pd.DataFrame, cycle: int, reference_cycle: int = 1,
                       ce_convention: str = "discharge/charge") -> float:
    """The "out" capacity (discharge for ``discharge/charge``, charge for ``charge/discharge``)
    of ``cycle`` / that of ``reference_cycle`` from a :func:`cycle_table` (a fraction; NaN when
    either cycle is absent or incomplete, or the reference passed nothing)."""
    col = "discharge_capacity_mAh" if CE_CONVENTIONS[ce_convention][1] < 0 else "charge_capacity_mAh"
    t = table.set_index("cycle")
    q = t[col]
    if cycle not in q.index or reference_cycle not in q.index or not q[reference_cycle] > 0:
        return float("nan")
    if "complete" in t and not (t.at[cycle, "complete"] and t.at[reference_cycle, "complete"]):
        return float("nan")
    return float(q[cycle] / q[reference_cycle])


# ------------------------------------------------------------------------------------------
# the analysis of a full or half cell: which cycles count, which convention, which numbers
# ------------------------------------------------------------------------------------------

#: a capacity retention above this (a fraction) is withheld: a reference cycle that did not
#: reach the cell's capacity, or cycles at different rates, not a cell that gained capacity
MAX_RETENTION = 1.05
#: a mean coulombic efficiency outside these (fractions) is withheld: above, the half cycles are
#: paired against the cell's direction of use; below, the cell lost more than it stored
CE_LIMITS = (0.5, 1.05)
#: a retention or CE cycle whose current differs from the reference's by more than this
#: fraction gets a warning (rate, not fade)
RATE_TOLERANCE = 0.1


@dataclass(frozen=True)
class Estimate:
    """A reported number and what its uncertainty is.

    ``value`` in ``unit`` (NaN when withheld, then ``withheld`` says why); ``uncertainty`` in the
    same unit (NaN where there is none) of kind ``kind`` (``echem.results.UNCERTAINTY_KINDS``,
    the kinds of ``Metric.uncertainty_kind``): ``"sd"`` (standard deviation over
    ``n`` values), ``"sem"`` (standard error of the mean over ``n``), ``"fit_se"`` (a fit's
    standard error, ``n`` points fitted) or ``""``; ``censored``: ``value`` is a lower bound
    (a cell that did not fail within the test: the test's duration)."""

    value: float
    unit: str = ""
    uncertainty: float = float("nan")
    kind: str = ""
    n: int = 0
    censored: bool = False
    withheld: str = ""

    @classmethod
    def mean_sd(cls, values, unit: str = "") -> "Estimate":
        """Mean of the finite ``values`` with their sample standard deviation (ddof 1) and n."""
        x = np.asarray(values, dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            return cls(float("nan"), unit, withheld="no values")
        return cls(float(x.mean()), unit, float(x.std(ddof=1)) if x.size > 1 else float("nan"),
                   "sd", int(x.size))

    @classmethod
    def withhold(cls, reason: str, unit: str = "") -> "Estimate":
        return cls(float("nan"), unit, withheld=reason)


@dataclass
class CyclingResult:
    """The numbers of a full or half cell's cycling test (paper, Figure 5d-g), and how they were
    got.

    - ``cycles``: the :func:`cycle_table` (with ``complete`` and ``incomplete_reason``);
      ``cycle_source``: how its cycles were counted (``"file"``, or ``"charge_first"`` /
      ``"discharge_first"`` when the file's count paired the half cycles against the convention).
    - ``cell_type``: ``"full"`` or ``"half"``; ``ce_convention``: a key of
      :data:`CE_CONVENTIONS` (``"discharge/charge"`` or ``"charge/discharge"``),
      ``ce_convention_text`` the same in words; ``electrode_role``: for a half cell, the working
      electrode's role (``"cathode"`` or ``"anode"``), None for a full cell;
      ``electrode_role_source``: ``"given"`` or why it was inferred.
    - ``reference_cycle`` (None when no cycle is complete) and ``reference_reason``;
      ``retention_cycle`` (None likewise) and ``retention_reason``.
    - ``capacity_retention_pct``: "out" capacity (discharge for ``discharge/charge``, charge for
      ``charge/discharge``) of the retention cycle / that of the reference cycle, in %.
    - ``reference_capacity_mAh`` / ``reference_specific_capacity_mAh_g`` /
      ``reference_areal_capacity_mAh_cm2``: the reference cycle's "out" capacity (NaN without
      mass / area): the paper's initial discharge capacity.
    - ``reference_coulombic_efficiency``: the reference cycle's CE (a fraction; for cycle 1, the
      first-cycle efficiency).
    - ``mean_coulombic_efficiency``: mean CE over the complete cycles from the reference cycle on
      (a fraction), SD with n: cycles before it are formation (e.g. a half cell's first
      lithiation into the alloy), not cycling.
    - ``fade_pct_per_cycle``: minus the slope of retention (%) against cycle number over the
      complete cycles from the reference to the retention cycle (least squares; fit_se, n).
    - ``n_complete``, ``incomplete_cycles`` (cycle numbers); ``test_duration_h``; ``warnings``;
      ``retention_current_ratio``.

    Every :class:`Estimate` says what its uncertainty is: retention, reference capacity and
    reference CE are single measured values (no uncertainty); the mean CE carries the SD over
    its n complete cycles; the fade the least-squares standard error over its n cycles.
    """

    cycles: pd.DataFrame
    cycle_source: str
    cell_type: str
    ce_convention: str
    ce_convention_text: str
    electrode_role: str | None
    electrode_role_source: str
    reference_cycle: int | None
    reference_reason: str
    retention_cycle: int | None
    retention_reason: str
    capacity_retention_pct: Estimate
    reference_capacity_mAh: Estimate
    reference_specific_capacity_mAh_g: Estimate
    reference_areal_capacity_mAh_cm2: Estimate
    reference_coulombic_efficiency: Estimate
    mean_coulombic_efficiency: Estimate
    fade_pct_per_cycle: Estimate
    n_complete: int
    incomplete_cycles: list[int]
    test_duration_h: float
    warnings: list[str]
    #: mean |current| of the retention cycle's "out" half / the reference cycle's (NaN if unknown):
    #: away from 1, the retention mixes rate with fade (warned when the reference was not asked for)
    retention_current_ratio: float = float("nan")


def infer_electrode_role(data: CyclingData) -> tuple[str, str]:
    """The working electrode's role in a half cell (Li counter electrode): ``"anode"`` or
    ``"cathode"``, and why, in words.

    From the voltage while current flows (time-weighted over the current-carrying steps): below
    1.0 V an anode (graphite, Si, Li alloys cycle at 0-1 V vs Li), above 2.5 V a cathode
    (oxides, phosphates, sulfur at 2-4.5 V). In between, the first current-carrying step
    decides: an as-built anode is delithiated and is lithiated first (a discharge); an as-built
    cathode is lithiated and is delithiated first (a charge)."""
    s = prepare(data).steps
    act = s[s["direction"] != 0]
    if act.empty:
        raise EchemError("no current-carrying step: cannot tell the working electrode's role")
    w = act["duration_s"].to_numpy()
    mv = act["mean_voltage_V"].to_numpy()
    ok = np.isfinite(mv) & (w > 0)
    v_mean = float(np.average(mv[ok], weights=w[ok])) if ok.any() else float(np.nanmean(mv))
    first = int(act["direction"].iloc[0])
    if v_mean < 1.0:
        return "anode", f"mean voltage under current {v_mean:.3g} V, below 1.0 V: an anode-like electrode"
    if v_mean > 2.5:
        return "cathode", f"mean voltage under current {v_mean:.3g} V, above 2.5 V: a cathode-like electrode"
    if first < 0:
        return "anode", (f"mean voltage under current {v_mean:.3g} V (between 1.0 and 2.5 V) and the "
                         "first step a discharge (lithiation): an anode-like electrode")
    return "cathode", (f"mean voltage under current {v_mean:.3g} V (between 1.0 and 2.5 V) and the "
                       "first step a charge (delithiation): a cathode-like electrode")


def _convention(cell_type: str, electrode_role: str | None, p: Steps) -> tuple[str, str | None, str]:
    if cell_type == "full":
        return "discharge/charge", None, "a full cell"
    if cell_type != "half":
        raise EchemError(f"coulombic efficiency and capacity retention are defined for a full or "
                         f"half cell, not a {cell_type!r} cell (a symmetric cell: echem.symmetric)")
    if electrode_role is None:
        if not (p.steps["direction"] != 0).any():
            return "discharge/charge", None, "not inferred: no current-carrying step"
        role, why = infer_electrode_role(p)
        source = f"inferred: {why}"
    elif electrode_role in ("anode", "cathode"):
        role, source = electrode_role, "given"
    else:
        raise EchemError(f"electrode_role must be 'anode', 'cathode' or None, got {electrode_role!r}")
    return ("charge/discharge" if role == "anode" else "discharge/charge"), role, source


def _runs_out_first(p: Steps, in_dir: int) -> bool:
    """True when most cycles that hold both directions start with the "out" half (the count pairs
    each out half with the next cycle's in half, e.g. EC-Lab's charge-first count of an anode)."""
    runs = _half_cycle_runs(p.steps)
    if runs.empty:
        return False
    both = runs.groupby("cycle")["direction"].nunique() == 2
    first = runs.groupby("cycle")["direction"].first()[both]
    return bool(len(first)) and float(np.mean(first.to_numpy() == -in_dir)) > 0.5


def _cycles_text(cycles) -> str:
    c = [int(x) for x in cycles]
    return f"cycle{'s' if len(c) != 1 else ''} {', '.join(map(str, c))}"


def analyse(data: CyclingData, *, cell_type: str = "full", electrode_role: str | None = None,
            active_mass_g: float | None = None, area_cm2: float | None = None,
            reference_cycle: int | None = None, retention_cycle: int | None = None,
            cycles: str = "file") -> CyclingResult:
    """Everything the report says about a full or half cell's cycling: see :class:`CyclingResult`.

    - Convention (DESIGN.md, Cycles): CE = discharge/charge for a full cell; for a half cell
      delithiation/lithiation of the working electrode, i.e. discharge/charge for a cathode-like
      and charge/discharge for an anode-like one. ``electrode_role`` (``"anode"``,
      ``"cathode"``) where the manifest says it, else :func:`infer_electrode_role`.
    - Cycles: the file's count, unless it pairs most cycles' halves against the convention (an
      "out" half first): then counted from the step sequence with the "in" half first (warned).
    - Incomplete cycles (:func:`cycle_table`) are left out of retention, mean CE and fade, with
      a warning naming them and why.
    - Reference: ``reference_cycle`` when it is complete, else the first complete cycle (after
      it, when given; warned). Retention cycle: ``retention_cycle`` (None: the last complete
      cycle), moved back to the last complete cycle at or before it when it is incomplete or
      beyond the data (warned).
    - Withheld (NaN, with the reason): retention above :data:`MAX_RETENTION`, a mean CE outside
      :data:`CE_LIMITS`, everything when no cycle is complete.
    """
    p = prepare(data, cycles)
    convention, role, role_source = _convention(cell_type, electrode_role, p)
    in_dir, out_dir, text = CE_CONVENTIONS[convention]
    warnings: list[str] = []
    source = p.cycles
    if cycles == "file" and _runs_out_first(p, in_dir):
        source = "charge_first" if in_dir > 0 else "discharge_first"
        p = prepare(p, source)
        warnings.append(f"the file's cycles begin with a {_WORD[out_dir]}; for the {convention} "
                        f"convention a cycle is a {_WORD[in_dir]} then a {_WORD[out_dir]}: cycles "
                        f"were counted from the step sequence, {_WORD[in_dir]} first")
    table = cycle_table(p, active_mass_g=active_mass_g, area_cm2=area_cm2,
                        ce_convention=convention, cycles=source)
    complete = table["complete"].to_numpy()
    cyc = table["cycle"].to_numpy()
    done = cyc[complete]
    bad = table[~complete]
    incomplete = [int(c) for c in bad["cycle"]]
    if len(bad):
        warnings.append(f"{_cycles_text(incomplete)} incomplete, left out of retention, mean CE and "
                        "fade: " + "; ".join(f"cycle {int(r.cycle)}: {r.incomplete_reason}"
                                             for r in bad.itertuples()))
    duration = p.duration_h
    nan_est = Estimate.withhold
    if done.size == 0:
        why = "no complete cycle in the data"
        warnings.append(why)
        return CyclingResult(
            cycles=table, cycle_source=source, cell_type=cell_type, ce_convention=convention,
            ce_convention_text=text, electrode_role=role, electrode_role_source=role_source,
            reference_cycle=None, reference_reason=why, retention_cycle=None, retention_reason=why,
            capacity_retention_pct=nan_est(why, "%"), reference_capacity_mAh=nan_est(why, "mAh"),
            reference_specific_capacity_mAh_g=nan_est(why, "mAh/g"),
            reference_areal_capacity_mAh_cm2=nan_est(why, "mAh/cm2"),
            reference_coulombic_efficiency=nan_est(why), mean_coulombic_efficiency=nan_est(why),
            fade_pct_per_cycle=nan_est(why, "%/cycle"), n_complete=0, incomplete_cycles=incomplete,
            test_duration_h=duration, warnings=warnings)

    # reference cycle
    if reference_cycle is None:
        ref, ref_reason = int(done[0]), "the first complete cycle"
    elif reference_cycle in set(done.tolist()):
        ref, ref_reason = int(reference_cycle), "as asked"
    else:
        later = done[done > reference_cycle]
        ref = int(later[0]) if later.size else int(done[0])
        state = "is not in the data" if reference_cycle not in set(cyc.tolist()) else "is incomplete"
        ref_reason = f"cycle {reference_cycle} (asked) {state}: the first complete cycle after it"
        warnings.append(f"reference cycle {reference_cycle} {state}; retention is relative to cycle {ref}")
    table = cycle_table(p, active_mass_g=active_mass_g, area_cm2=area_cm2, reference_cycle=ref,
                        ce_convention=convention, cycles=source)
    t = table.set_index("cycle")

    # retention cycle
    last = int(done.max())
    if retention_cycle is None:
        n, n_reason = last, "the last complete cycle"
    elif retention_cycle in set(done.tolist()):
        n, n_reason = int(retention_cycle), "as asked"
    else:
        before = done[done <= retention_cycle]
        n = int(before.max()) if before.size else last
        state = ("is beyond the data" if retention_cycle > int(cyc.max()) else "is incomplete")
        n_reason = f"cycle {retention_cycle} (asked) {state}: the last complete cycle before it"
        warnings.append(f"retention asked at cycle {retention_cycle}, which {state}; the last complete "
                        f"cycle is {last}: retention reported at cycle {n}")
    out_col = "discharge_capacity_mAh" if out_dir < 0 else "charge_capacity_mAh"
    runs = _half_cycle_runs(p.steps)
    cur = runs[runs["direction"] == out_dir].groupby("cycle")["mean_abs_current_mA"].mean()
    current_ratio = (float(cur[n] / cur[ref]) if ref in cur.index and n in cur.index and cur[ref] > 0
                     else float("nan"))
    if reference_cycle is None and abs(current_ratio - 1) > RATE_TOLERANCE:
        # (a reference the protocol names, e.g. a slow formation cycle, is the user's choice)
        warnings.append(f"cycle {n} ran at {cur[n]:.3g} mA, the reference cycle {ref} at {cur[ref]:.3g} mA: "
                        "the retention mixes rate with fade")
    r = float(t.at[n, "capacity_retention"])
    if r > MAX_RETENTION:
        why = (f"retention {100 * r:.1f} % > {100 * MAX_RETENTION:.0f} %: the reference cycle {ref} "
               "did not reach the cell's capacity (or the cycles ran at different rates)")
        retention = nan_est(why, "%")
        warnings.append(f"capacity retention withheld: {why}")
    else:
        retention = Estimate(100.0 * r, "%")

    q_ref = float(t.at[ref, out_col])
    ref_q = Estimate(q_ref, "mAh")
    spec = (Estimate(q_ref / active_mass_g, "mAh/g") if active_mass_g
            else nan_est("no active mass given", "mAh/g"))
    areal = Estimate(q_ref / area_cm2, "mAh/cm2") if area_cm2 else nan_est("no area given", "mAh/cm2")
    ref_ce = Estimate(float(t.at[ref, "coulombic_efficiency"]))

    # cycles before the reference (a formation cycle the protocol names as such) are not averaged
    ce = table.loc[complete & (table["cycle"].to_numpy() >= ref), "coulombic_efficiency"]
    mean_ce = Estimate.mean_sd(ce)
    lo, hi = CE_LIMITS
    if np.isfinite(mean_ce.value) and not lo <= mean_ce.value <= hi:
        why = (f"mean CE {mean_ce.value:.3f} outside {lo}-{hi}: "
               + ("the half cycles are paired against the cell's direction of use (check the cell "
                  "type and electrode role)" if mean_ce.value > hi else
                  "the cell lost more than half of what it stored in every cycle"))
        mean_ce = Estimate(float("nan"), "", mean_ce.uncertainty, "sd", mean_ce.n, withheld=why)
        warnings.append(f"mean coulombic efficiency withheld: {why}")

    span = table[complete & (cyc >= ref) & (cyc <= n)]
    x = span["cycle"].to_numpy(float)
    y = 100.0 * span["capacity_retention"].to_numpy(float)
    if x.size >= 3:
        coef, cov = np.polyfit(x, y, 1, cov=True)
        fade = Estimate(float(-coef[0]), "%/cycle", float(np.sqrt(cov[0, 0])), "fit_se", int(x.size))
    elif x.size == 2:
        fade = Estimate(float(-(y[1] - y[0]) / (x[1] - x[0])), "%/cycle", n=2)
    else:
        fade = nan_est("fewer than 2 complete cycles", "%/cycle")
    return CyclingResult(
        cycles=table, cycle_source=source, cell_type=cell_type, ce_convention=convention,
        ce_convention_text=text, electrode_role=role, electrode_role_source=role_source,
        reference_cycle=ref, reference_reason=ref_reason, retention_cycle=n, retention_reason=n_reason,
        capacity_retention_pct=retention, reference_capacity_mAh=ref_q,
        reference_specific_capacity_mAh_g=spec, reference_areal_capacity_mAh_cm2=areal,
        reference_coulombic_efficiency=ref_ce, mean_coulombic_efficiency=mean_ce,
        fade_pct_per_cycle=fade, n_complete=int(done.size), incomplete_cycles=incomplete,
        test_duration_h=duration, warnings=warnings, retention_current_ratio=current_ratio)


# ------------------------------------------------------------------------------------------
# like with like: retention of several cells at one cycle
# ------------------------------------------------------------------------------------------

@dataclass
class RetentionComparison:
    """Capacity retention of several cells held at the same cycle (paper: Li kept 10.8 % after 7
    cycles, the alloys were compared at 50).

    ``target_cycle``: the cycle asked for (default: the last complete cycle of the longest-lived
    cell); ``common_cycle``: the last cycle that every cell completed (None if there is none),
    where all of them can be compared; ``cells``: one row per cell with cell_id,
    last_complete_cycle, reached_target (bool), retention_at_target_pct (NaN for a cell that
    did not reach it), retention_at_common_pct, retention_at_last_pct (at its own last complete
    cycle) and note (for a cell that ended early: the cycle it reached and its retention there,
    in words; "" otherwise)."""

    target_cycle: int | None
    common_cycle: int | None
    cells: pd.DataFrame


def _complete_retention(table) -> pd.Series:
    """cycle -> retention (fraction) over the complete cycles of a cycle table or CyclingResult."""
    if isinstance(table, CyclingResult):
        table = table.cycles
    t = table[table["complete"]] if "complete" in table else table
    s = t.set_index("cycle")["capacity_retention"].astype(float)
    return s[np.isfinite(s.to_numpy())]


def compare_retention(tables: dict, target_cycle: int | None = None) -> RetentionComparison:
    """At which cycle the cells' retention can be compared, and where each one stands.

    ``tables``: cell id -> :class:`CyclingResult` or :func:`cycle_table` (its complete cycles
    count; a table without ``complete`` counts every cycle with a retention).
    """
    series = {str(k): _complete_retention(v) for k, v in tables.items()}
    lasts = {k: (int(s.index.max()) if len(s) else None) for k, s in series.items()}
    known = [x for x in lasts.values() if x is not None]
    if target_cycle is None:
        target_cycle = max(known) if known else None
    common_set = None
    for s in series.values():
        common_set = set(s.index) if common_set is None else common_set & set(s.index)
    common = max(common_set) if common_set else None
    rows = []
    for k, s in series.items():
        last = lasts[k]
        reached = target_cycle is not None and target_cycle in s.index
        at_last = 100.0 * float(s[last]) if last is not None else np.nan
        if last is None:
            note = "no complete cycle"
        elif not reached and target_cycle is not None and last < target_cycle:
            note = f"ended at cycle {last} ({at_last:.1f} % there), before cycle {target_cycle}"
        elif not reached:
            note = f"cycle {target_cycle} incomplete; last complete cycle {last} ({at_last:.1f} %)"
        else:
            note = ""
        rows.append({
            "cell_id": k, "last_complete_cycle": last, "reached_target": bool(reached),
            "retention_at_target_pct": 100.0 * float(s[target_cycle]) if reached else np.nan,
            "retention_at_common_pct": (100.0 * float(s[common]) if common is not None else np.nan),
            "retention_at_last_pct": at_last, "note": note})
    cols = ["cell_id", "last_complete_cycle", "reached_target", "retention_at_target_pct",
            "retention_at_common_pct", "retention_at_last_pct", "note"]
    return RetentionComparison(target_cycle, common, pd.DataFrame(rows, columns=cols))

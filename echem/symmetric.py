"""Symmetric cells (Li|Li, alloy|alloy): polarization per half cycle, hysteresis, failure time.

The paper's Figure 5c: symmetric cells cycled at 0.2 mA/cm2 and 0.2 mAh/cm2; Li metal failed in
under 25 h, the Li-Ag alloys held over 150 h.

Convention: the working electrode (WE) is the one on the cycler's positive lead. Positive current
oxidises the WE (Li is *stripped* from it, cell voltage > 0); negative current reduces it (Li is
*plated* on it, cell voltage < 0). So a ``plating`` half cycle is a negative-current half cycle.

A half cycle is a run of consecutive current-carrying steps of one direction (rests in between are
skipped). Its plateau voltage is the median voltage over the middle of the half cycle (by default
from 20 % to 80 % of its duration), which ignores the nucleation spike at its start and the
tip at its end; the overpotential is |plateau| in mV.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from echem.cycling import CyclingData, Estimate, prepare
from echem.errors import EchemError
from echem.schema import running_step

HALF_CYCLE_COLUMNS = ["half_cycle", "kind", "cycle", "first_step", "start_time_h", "end_time_h",
                      "mid_time_h", "duration_h", "current_mA", "capacity_mAh",
                      "plateau_voltage_V", "overpotential_mV", "peak_voltage_V", "end_voltage_V",
                      "hysteresis_mV"]


@dataclass
class PolarizationResult:
    """Per half cycle table and summary of a symmetric-cell test.

    ``half_cycles`` columns: half_cycle (from 1), kind (``plating`` = negative current on the WE,
    ``stripping``), cycle, first_step, start/end/mid_time_h (hours since the start of the test),
    duration_h, current_mA (time-weighted mean, signed), capacity_mAh, plateau_voltage_V (signed
    median over the plateau window), overpotential_mV (= 1000 |plateau_voltage_V|),
    peak_voltage_V (the largest |V| of the half cycle, signed), end_voltage_V, hysteresis_mV
    (|plateau of this half cycle - plateau of the previous, opposite half cycle| in mV: the gap
    between the stripping and plating plateaus, about twice the overpotential in a symmetric
    cell; NaN for the first half cycle).

    The means are over all half cycles (plating / stripping ones); ``overpotential_sd_mV`` is
    the standard deviation over the ``n_half_cycles`` (an SD over n, not a standard error).
    :func:`analyse` gives the numbers over the half cycles before a failure.
    """

    half_cycles: pd.DataFrame
    mean_overpotential_mV: float
    plating_overpotential_mV: float
    stripping_overpotential_mV: float
    mean_hysteresis_mV: float
    n_half_cycles: int
    #: the standard deviation of the overpotential over the n_half_cycles half cycles (mV)
    overpotential_sd_mV: float = float("nan")


@dataclass
class FailureResult:
    """When and how a symmetric cell failed.

    ``time_h``: hours since the start of the test; ``kind``: ``"short_circuit"`` or
    ``"voltage_limit"``; ``window_start_h``/``window_end_h``: the stretch of data that shows it;
    ``evidence``: the numbers behind the call, in words.
    """

    time_h: float
    kind: str
    window_start_h: float
    window_end_h: float
    evidence: str


def _half_cycles(data: CyclingData, plateau_window=(0.2, 0.8)):
    """Half-cycle table and per-row half cycle index (-1 for rest rows) (internal)."""
    p = prepare(data, cycles="file")
    s = p.steps
    d = s["direction"].to_numpy()
    active = np.flatnonzero(d != 0)
    row_step = p.row_step()
    if active.size == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in HALF_CYCLE_COLUMNS})
        return p, empty, np.full(p.t.size, -1)
    hc_of_active = running_step(d[active]) - 1            # 0-based half cycle per active step
    step_hc = np.full(d.size, -1)
    step_hc[active] = hc_of_active
    row_hc = step_hc[row_step]

    a = s.iloc[active]
    g = pd.DataFrame({
        "hc": hc_of_active,
        "direction": d[active],
        "cycle": a["cycle"].to_numpy(),
        "first_step": a["step"].to_numpy(),
        "start": a["start_time_s"].to_numpy(),
        "end": a["end_time_s"].to_numpy(),
        "dur": a["duration_s"].to_numpy(),
        "idt": a["mean_current_mA"].to_numpy() * a["duration_s"].to_numpy(),
        "cap": a["capacity_mAh"].to_numpy(),
        "last_row": a["last_row"].to_numpy(),
    }).groupby("hc", sort=True).agg(direction=("direction", "first"), cycle=("cycle", "first"),
                                    first_step=("first_step", "first"), start=("start", "min"),
                                    end=("end", "max"), dur=("dur", "sum"), idt=("idt", "sum"),
                                    cap=("cap", "sum"), last_row=("last_row", "max"))
    n_hc = len(g)
    start = g["start"].to_numpy()
    end = g["end"].to_numpy()
    span = end - start

    # plateau: rows of the half cycle inside the relative time window
    t, v = p.t, p.v
    in_hc = row_hc >= 0
    rel = np.full(t.size, np.nan)
    hc_rows = row_hc[in_hc]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel[in_hc] = (t[in_hc] - start[hc_rows]) / np.where(span[hc_rows] > 0, span[hc_rows], 1.0)
    lo, hi = plateau_window
    sel = in_hc & (rel >= lo) & (rel <= hi)
    med = pd.Series(v[sel]).groupby(row_hc[sel]).median()
    plateau = np.full(n_hc, np.nan)
    plateau[med.index.to_numpy()] = med.to_numpy()
    # half cycles too short to have rows in the window: median of all their rows
    missing = np.isnan(plateau)
    if missing.any():
        med_all = pd.Series(v[in_hc]).groupby(hc_rows).median()
        plateau[missing] = med_all.reindex(np.flatnonzero(missing)).to_numpy()
    # peak |V| (signed)
    # rows of a half cycle are contiguous among the half-cycle rows (rests removed)
    av = np.abs(v[in_hc])
    hc_starts = np.flatnonzero(np.r_[True, hc_rows[1:] != hc_rows[:-1]])
    counts = np.diff(np.r_[hc_starts, hc_rows.size])
    at_max = np.flatnonzero(av == np.repeat(np.maximum.reduceat(av, hc_starts), counts))
    first_max = at_max[np.r_[True, hc_rows[at_max][1:] != hc_rows[at_max][:-1]]]
    peak_rows = np.flatnonzero(in_hc)[first_max]
    peak = np.full(n_hc, np.nan)
    peak[row_hc[peak_rows]] = v[peak_rows]

    direction = g["direction"].to_numpy()
    hyst = np.full(n_hc, np.nan)
    if n_hc > 1:
        opposite = direction[1:] != direction[:-1]
        hyst[1:] = np.where(opposite, np.abs(plateau[1:] - plateau[:-1]) * 1000.0, np.nan)
    dur = g["dur"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        cur = np.where(dur > 0, g["idt"].to_numpy() / np.where(dur > 0, dur, 1), np.nan)
    table = pd.DataFrame({
        "half_cycle": np.arange(1, n_hc + 1),
        "kind": np.where(direction < 0, "plating", "stripping"),
        "cycle": g["cycle"].to_numpy(),
        "first_step": g["first_step"].to_numpy(),
        "start_time_h": start / 3600.0,
        "end_time_h": end / 3600.0,
        "mid_time_h": 0.5 * (start + end) / 3600.0,
        "duration_h": span / 3600.0,
        "current_mA": cur,
        "capacity_mAh": g["cap"].to_numpy(),
        "plateau_voltage_V": plateau,
        "overpotential_mV": np.abs(plateau) * 1000.0,
        "peak_voltage_V": peak,
        "end_voltage_V": v[g["last_row"].to_numpy()],
        "hysteresis_mV": hyst,
    })
    return p, table, row_hc


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def polarization(data: CyclingData, *, plateau_window: tuple[float, float] = (0.2, 0.8)
                 ) -> PolarizationResult:
    """Plateau voltage, overpotential (mV) and hysteresis (mV) of every half cycle.

    ``plateau_window``: the fraction of each half cycle's duration whose median voltage is the
    plateau. Summary: mean overpotential over all half cycles, over plating and over stripping
    half cycles, and the mean hysteresis. See :class:`PolarizationResult` for the columns.
    """
    _, table, _ = _half_cycles(data, plateau_window)
    op = table["overpotential_mV"]
    return PolarizationResult(
        half_cycles=table,
        mean_overpotential_mV=_nanmean(op),
        plating_overpotential_mV=_nanmean(op[table["kind"] == "plating"]),
        stripping_overpotential_mV=_nanmean(op[table["kind"] == "stripping"]),
        mean_hysteresis_mV=_nanmean(table["hysteresis_mV"]),
        n_half_cycles=len(table),
        overpotential_sd_mV=Estimate.mean_sd(op).uncertainty,
    )


def failure(data: CyclingData, *, collapse_fraction: float = 0.25, baseline_half_cycles: int = 10,
            persist_half_cycles: int = 2, voltage_limit_V: float | None = None,
            plateau_window: tuple[float, float] = (0.2, 0.8)) -> FailureResult | None:
    """The failure of a symmetric cell, or None if it did not fail.

    Short circuit: the plateau |voltage| of a half cycle falls below ``collapse_fraction`` of the
    median plateau |voltage| of the up to ``baseline_half_cycles`` half cycles before it, and
    stays below that level for at least ``persist_half_cycles`` half cycles (or to the end of the
    data) and for 80 % of all later half cycles. The time is where, row by row, |V| first drops
    below that level and stays there (90 % of the rows up to the end of the evidence window).
    A plateau is a median over most of a half cycle, so single spikes and noise cannot trigger it.

    Voltage limit: with ``voltage_limit_V``, the first time |V| reaches the limit (within
    max(1 mV, 0.2 %), as cyclers stop at or just short of it) on two
    consecutive rows (or on the last row of a step) while current flows. Without it, a half
    cycle of a fixed-duration protocol (80 % of half cycles within 5 % of the median duration)
    that ends before 80 % of the median duration at the largest |V| of the test (>= 95 % of it, and
    >= 2x the median overpotential) counts as a voltage limit reached.

    Times are hours since the start of the test (``time_s`` / 3600). The earlier failure wins.
    """
    if not 0 < collapse_fraction < 1:
        raise EchemError(f"collapse_fraction must be between 0 and 1, got {collapse_fraction}")
    p, table, row_hc = _half_cycles(data, plateau_window)
    t, v = p.t, p.v
    found: list[FailureResult] = []
    n = len(table)
    op = table["overpotential_mV"].to_numpy()
    start_h = table["start_time_h"].to_numpy()
    end_h = table["end_time_h"].to_numpy()

    # --- short circuit
    for k in range(1, n):
        base = np.nanmedian(op[max(0, k - baseline_half_cycles):k])
        if not np.isfinite(base) or base <= 0:
            continue
        level = collapse_fraction * base
        if not op[k] < level:
            continue
        stop = min(n, k + persist_half_cycles)
        later = op[k:]
        if not (np.all(op[k:stop] < level) and np.mean(later < level) >= 0.8):
            continue
        # row-level onset between the start of half cycle k-1 and the end of half cycle stop-1
        rows = np.flatnonzero((row_hc >= k - 1) & (row_hc <= stop - 1))
        col = np.abs(v[rows]) < level / 1000.0
        tail = np.cumsum(col[::-1])[::-1] / np.arange(col.size, 0, -1)
        ok = np.flatnonzero(col & (tail >= 0.9))
        onset = rows[ok[0]] if ok.size else rows[np.searchsorted(row_hc[rows], k)]
        found.append(FailureResult(
            time_h=float(t[onset] / 3600.0), kind="short_circuit",
            window_start_h=float(t[onset] / 3600.0), window_end_h=float(end_h[stop - 1]),
            evidence=(f"plateau |V| fell from {base:.3g} mV (median of the {min(k, baseline_half_cycles)} "
                      f"half cycles before) to {op[k]:.3g} mV in half cycle {k + 1} "
                      f"({table['kind'].iat[k]}, {start_h[k]:.2f}-{end_h[k]:.2f} h) and stayed below "
                      f"{level:.3g} mV ({collapse_fraction:.0%}) in {int(np.sum(later < level))} of the "
                      f"{later.size} half cycles from there to the end of the data")))
        break

    # --- voltage limit
    if n:
        active = row_hc >= 0
        if voltage_limit_V is not None:
            at = active & (np.abs(v) >= abs(voltage_limit_V) - max(1e-3, 2e-3 * abs(voltage_limit_V)))
            nxt = np.zeros_like(at)
            nxt[:-1] = at[1:]
            step_end = np.zeros(t.size, dtype=bool)
            step_end[p.ends - 1] = True
            hits = np.flatnonzero(at & (nxt | step_end))
            if hits.size:
                r = hits[0]
                k = row_hc[r]
                found.append(FailureResult(
                    time_h=float(t[r] / 3600.0), kind="voltage_limit",
                    window_start_h=float(start_h[k]), window_end_h=float(t[min(r + 1, t.size - 1)] / 3600.0),
                    evidence=(f"|V| = {abs(v[r]) * 1000:.4g} mV reached the limit {abs(voltage_limit_V):g} V "
                              f"in half cycle {k + 1} ({table['kind'].iat[k]}) and held on the next row "
                              "or ended the step")))
        else:
            dur = table["duration_h"].to_numpy()
            med_dur = np.nanmedian(dur)
            fixed = med_dur > 0 and np.mean(np.abs(dur - med_dur) <= 0.05 * med_dur) >= 0.8
            end_v = np.abs(table["end_voltage_V"].to_numpy())
            vmax = np.nanmax(np.abs(v[active])) if active.any() else np.nan
            med_op = np.nanmedian(op) / 1000.0
            if fixed:
                early = np.flatnonzero((dur < 0.8 * med_dur) & (end_v >= 0.95 * vmax) & (end_v >= 2 * med_op))
                if early.size:
                    k = early[0]
                    found.append(FailureResult(
                        time_h=float(end_h[k]), kind="voltage_limit",
                        window_start_h=float(start_h[k]), window_end_h=float(end_h[k]),
                        evidence=(f"half cycle {k + 1} ({table['kind'].iat[k]}) ended after {dur[k]:.3g} h "
                                  f"instead of the usual {med_dur:.3g} h at |V| = {end_v[k] * 1000:.4g} mV, "
                                  f"the highest of the test (median overpotential {med_op * 1000:.3g} mV)")))
    if not found:
        return None
    return min(found, key=lambda f: f.time_h)


@dataclass
class SymmetricResult:
    """The numbers of a symmetric cell's test (paper, Figure 5c), as the report gives them.

    - ``polarization`` (all half cycles) and ``failure`` (None when the cell did not fail), as
      :func:`polarization` and :func:`failure` return them.
    - ``polarization_mV``: mean overpotential (|plateau|) over the half cycles that ended before
      the failure (all, when it did not fail), with its SD over those n half cycles;
      ``plating_polarization_mV``, ``stripping_polarization_mV``, ``hysteresis_mV`` likewise.
      ``half_cycles_used``: how many half cycles that is, ``half_cycles_note`` which.
    - ``failure_time_h``: hours to failure; for a cell that did not fail, censored: the value is
      the test's duration and ``censored`` is True (it lasted at least that long).
    - ``failure_kind``: ``"short_circuit"``, ``"voltage_limit"`` or ``""`` (no failure).
    - ``test_duration_h``: hours from the first to the last row of the cycling data.
    - ``coulombic_efficiency``: why there is none (not defined for a symmetric cell).
    """

    polarization: PolarizationResult
    failure: FailureResult | None
    polarization_mV: Estimate
    plating_polarization_mV: Estimate
    stripping_polarization_mV: Estimate
    hysteresis_mV: Estimate
    half_cycles_used: int
    half_cycles_note: str
    failure_time_h: Estimate
    failure_kind: str
    test_duration_h: float
    coulombic_efficiency: str = ("not defined for a symmetric cell: both electrodes are the same, "
                                 "what one plates the other strips")


def analyse(data: CyclingData, *, collapse_fraction: float = 0.25, persist_half_cycles: int = 2,
            voltage_limit_V: float | None = None,
            plateau_window: tuple[float, float] = (0.2, 0.8)) -> SymmetricResult:
    """Polarization before failure, failure time (censored when the cell did not fail) and
    hysteresis of a symmetric cell: see :class:`SymmetricResult`. The keywords are those of
    :func:`failure` and :func:`polarization`."""
    p = prepare(data)
    fail = failure(p, collapse_fraction=collapse_fraction, persist_half_cycles=persist_half_cycles,
                   voltage_limit_V=voltage_limit_V, plateau_window=plateau_window)
    pol = polarization(p, plateau_window=plateau_window)
    half = pol.half_cycles
    duration = p.duration_h
    if fail is None:
        before, note = half, f"all {len(half)} half cycles (no failure)"
        fail_time = Estimate(duration, "h", censored=True)
    else:
        before = half[half["end_time_h"] <= fail.time_h]
        note = (f"the {len(before)} half cycles that ended before the {fail.kind.replace('_', ' ')} "
                f"at {fail.time_h:.4g} h")
        if len(before) == 0:
            before, note = half, (f"all {len(half)} half cycles: the cell failed in its first "
                                  "half cycle")
        fail_time = Estimate(fail.time_h, "h")
    op = before["overpotential_mV"]
    kind = before["kind"]
    return SymmetricResult(
        polarization=pol, failure=fail,
        polarization_mV=Estimate.mean_sd(op, "mV"),
        plating_polarization_mV=Estimate.mean_sd(op[kind == "plating"], "mV"),
        stripping_polarization_mV=Estimate.mean_sd(op[kind == "stripping"], "mV"),
        hysteresis_mV=Estimate.mean_sd(before["hysteresis_mV"], "mV"),
        half_cycles_used=len(before), half_cycles_note=note,
        failure_time_h=fail_time, failure_kind="" if fail is None else fail.kind,
        test_duration_h=duration)


def area_specific_resistance(r_ohm: float, area_cm2: float | None) -> float:
    """Area-specific resistance (ohm cm2) = R (ohm) x electrode area (cm2), so that cells of
    different area compare (DESIGN.md); NaN when the area is unknown or not > 0. For a symmetric
    cell this is the cell's ASR: each of its two identical interfaces holds half of it."""
    if area_cm2 is None or not np.isfinite(area_cm2) or not area_cm2 > 0 or r_ohm is None:
        return float("nan")
    return float(r_ohm) * float(area_cm2)

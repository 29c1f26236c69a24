"""Nucleation overpotential of Li plating (paper, Figure 5a: 6 mV for Li, 0 for Li4Ag and Li9Ag4).

Definition (paper and DESIGN.md): in the first plating step, the difference between the bottom of
the initial voltage dip and the flat plateau that follows; 0 when the dip is within the noise of
the plateau, with the noise level reported beside it.

Convention: plating on the working electrode is the negative-current step (cell voltage goes
negative in a Li|Li or alloy|alloy cell); pass ``plating_current_sign=+1`` when plating happens on
charge (e.g. on the anode of a full cell). The voltage is turned into a polarization
``u = V * sign(current)`` so that the dip is a maximum of ``u`` either way.

Method, on the rows of the step:
1. the dip is the largest ``u`` in the first ``dip_search_fraction`` of the step's duration
   (on a running median of ``smooth_points`` rows when the plateau is noisier than twice the
   instrument resolution; raw otherwise);
2. the plateau window runs from ``plateau_window[0]`` to ``plateau_window[1]`` of the time
   between the dip and the end of the step. The plateau level at the dip is a robust (Theil-Sen)
   line through that window extended back to the dip's time (so a sloping plateau is no dip);
   when the curve after the dip stays above that line (a plateau that bends up, as in a
   first lithiation), the lowest point between the dip and the window's end instead;
3. noise_mV is the plateau's point-to-point scatter, 1.4826 x MAD(diff(u)) / sqrt(2) over the
   window (blind to drift and curvature), at least the instrument resolution (the smallest
   voltage change above 1 uV in the step);
4. eta_mV = (u_dip - u_plateau) in mV when it exceeds both k x noise_mV, with
   k = max(``noise_factor``, sqrt(2 ln n) + 1) for the n points searched (the largest of n
   Gaussian noise samples lies about sqrt(2 ln n) sigma above their mean), and the
   plateau's largest upward excursion about its 21-point running median, and the dip is not the
   last point of the search region (a still-rising curve has no dip); else 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from echem.cycling import CyclingData, prepare
from echem.errors import EchemError


@dataclass
class NucleationResult:
    """Nucleation overpotential of one plating step.

    eta_mV: overpotential (mV, >= 0; 0 when the dip is within the plateau's noise);
    dip_voltage_V / plateau_voltage_V: cell voltage at the bottom of the dip and of the plateau
    level at the dip's time (V, signed as measured; see the module docstring); noise_mV: the plateau's noise (mV); step: the step
    used (the data's step number); dip_time_s, plateau_start_s, plateau_end_s: times (s since the
    start of the test).

    eta_mV is one measured dip: it has no statistical uncertainty of its own (no SD, SE or fit
    SE); noise_mV, the plateau's point-to-point scatter (a robust SD), is what to read beside it.
    """

    eta_mV: float
    dip_voltage_V: float
    plateau_voltage_V: float
    noise_mV: float
    step: int
    dip_time_s: float
    plateau_start_s: float
    plateau_end_s: float


def _theil_sen(x: np.ndarray, y: np.ndarray, max_points: int = 400):
    """Theil-Sen line (slope, intercept) of y against x: the median of the slopes between all
    pairs of points, and median(y) - slope * median(x), as :func:`scipy.stats.theilslopes`
    computes them (tests/test_nucleation.py checks it against scipy; written out here because
    importing scipy.stats costs 0.7 s of each report). At most ``max_points`` points, evenly
    picked."""
    if x.size > max_points:
        idx = np.linspace(0, x.size - 1, max_points).astype(int)
        x, y = x[idx], y[idx]
    if x.size < 3 or np.ptp(x) == 0:
        return 0.0, float(np.median(y))
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    return slope, float(np.median(y) - slope * np.median(x))


def plating_steps(data: CyclingData, plating_current_sign: int = -1) -> pd.DataFrame:
    """The step table rows (see ``echem.cycling.step_table``) of the plating steps."""
    steps = prepare(data).steps
    return steps[steps["direction"] == np.sign(plating_current_sign)]


def overpotential(data: CyclingData, step: int | None = None, *, plating_current_sign: int = -1,
                  dip_search_fraction: float = 0.25, plateau_window: tuple[float, float] = (0.1, 0.5),
                  smooth_points: int = 5, noise_factor: float = 3.0) -> NucleationResult | None:
    """Nucleation overpotential (mV) in the first plating step, or in ``step`` (the data's step number).

    Returns None when the data have no plating step (no step with current of
    ``plating_current_sign``); raises EchemError when ``step`` is not in the data.
    See the module docstring for the method.
    """
    if plating_current_sign not in (-1, 1):
        raise EchemError(f"plating_current_sign must be -1 or +1, got {plating_current_sign}")
    p = prepare(data)
    steps = p.steps
    if step is None:
        cand = steps[steps["direction"] == plating_current_sign]
        if cand.empty:
            return None
        row = cand.iloc[0]
    else:
        cand = steps[steps["step"] == step]
        if cand.empty:
            raise EchemError(f"step {step} is not in the data (steps {steps['step'].min()}-"
                             f"{steps['step'].max()})")
        row = cand.iloc[0]
    a, b = int(row["first_row"]), int(row["last_row"]) + 1
    t = p.t[a:b]
    v = p.v[a:b]
    i = p.i[a:b]
    sign = np.sign(np.nanmean(i)) if np.isfinite(i).any() and np.nanmean(i) != 0 else plating_current_sign
    u = v * sign
    nan = float("nan")
    if t.size < 5 or t[-1] <= t[0]:
        return NucleationResult(nan, nan, nan, nan, int(row["step"]), nan, nan, nan)
    dv = np.abs(np.diff(v))
    dv = dv[dv > 1e-6]   # below 1 uV is float rounding, not an instrument's resolution
    resolution = float(dv.min()) if dv.size else 0.0

    t0, t_end = t[0], t[-1]
    search = t <= t0 + dip_search_fraction * (t_end - t0)

    def window(d_idx):
        td = t[d_idx]
        lo = td + plateau_window[0] * (t_end - td)
        hi = td + plateau_window[1] * (t_end - td)
        m = (t >= lo) & (t <= hi)
        if m.sum() < 3:
            m = t > td
        return m

    # first pass on raw data to size the noise, second pass with smoothing if noisy
    def measure(us):
        d_idx = int(np.flatnonzero(search)[np.argmax(us[search])])
        m = window(d_idx)
        slope, intercept = _theil_sen(t[m] - t0, u[m])
        du = np.diff(u[m])       # point-to-point changes: blind to drift and curvature
        mad = float(np.median(np.abs(du - np.median(du)))) if du.size else 0.0
        noise = max(1.4826 * mad / np.sqrt(2.0), resolution)
        return d_idx, m, slope, intercept, noise

    d_idx, m, slope, intercept, noise = measure(u)
    us = u
    if smooth_points > 1 and noise > 2 * resolution:
        us = pd.Series(u).rolling(smooth_points, center=True, min_periods=1).median().to_numpy()
        d_idx, m, slope, intercept, noise = measure(us)
    t_plateau = t[m]
    # plateau level at the dip: the plateau line extended back to the dip, unless the curve after
    # the dip never gets down to that line (a plateau that bends up): then its lowest point
    line_at_dip = intercept + slope * (t[d_idx] - t0)
    follow = (t > t[d_idx]) & (t <= t_plateau[-1])
    plateau_u = max(line_at_dip, float(np.min(us[follow]))) if follow.any() else line_at_dip
    # the plateau's own largest upward excursion (about a running median): a dip must beat it
    local = us - pd.Series(us).rolling(21, center=True, min_periods=1).median().to_numpy()
    excursion = float(np.max(local[m])) if m.any() else 0.0
    eta = (us[d_idx] - plateau_u) * 1000.0
    # the largest of n noise samples lies about sqrt(2 ln n) sigma above their mean
    k = max(noise_factor, np.sqrt(2.0 * np.log(max(int(search.sum()), 2))) + 1.0)
    threshold = max(k * noise, excursion) * 1000.0
    # a dip is a local extreme: the curve must come back from it, not still be rising at the end
    # of the search region
    is_dip = d_idx < np.flatnonzero(search)[-1]
    eta_mV = float(eta) if (eta > threshold and is_dip) else 0.0
    return NucleationResult(
        eta_mV=eta_mV,
        dip_voltage_V=float(us[d_idx] * sign),
        plateau_voltage_V=float(plateau_u * sign),
        noise_mV=float(noise * 1000.0),
        step=int(row["step"]),
        dip_time_s=float(t[d_idx]),
        plateau_start_s=float(t_plateau[0]),
        plateau_end_s=float(t_plateau[-1]),
    )

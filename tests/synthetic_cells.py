"""Synthetic cycler data with known answers (closed forms) for the cycling-analysis tests."""
from __future__ import annotations

import numpy as np
import pandas as pd


def quantize(v, resolution_V):
    return np.round(v / resolution_V) * resolution_V if resolution_V else v


def plating_step(eta_mV=6.0, plateau_mV=20.0, noise_mV=0.0, resolution_V=1e-4, duration_s=3600.0,
                 dt_s=1.0, dip_time_s=30.0, relax_s=60.0, rest_s=600.0, seed=0):
    """A rest then one plating step (negative current) of a Li|Li cell.

    The voltage falls from 0 to -(plateau + eta) at ``dip_time_s`` (as sqrt(t)), then relaxes exponentially (time constant ``relax_s``) to the flat plateau
    -plateau_mV. Gaussian noise of ``noise_mV``, quantized to ``resolution_V``.
    """
    rng = np.random.default_rng(seed)
    t_rest = np.arange(0.0, rest_s, dt_s)
    t = np.arange(0.0, duration_s + dt_s / 2, dt_s)
    u_mV = np.where(t <= dip_time_s, (plateau_mV + eta_mV) * (t / dip_time_s) ** 0.5,
                    plateau_mV + eta_mV * np.exp(-(t - dip_time_s) / relax_s))
    v = -u_mV / 1000.0 + rng.normal(0, noise_mV / 1000.0, t.size)
    v_rest = rng.normal(0, noise_mV / 1000.0, t_rest.size)
    data = pd.DataFrame({
        "time_s": np.r_[t_rest, rest_s + dt_s + t],
        "voltage_V": quantize(np.r_[v_rest, v], resolution_V),
        "current_mA": np.r_[np.zeros(t_rest.size), np.full(t.size, -0.2)],
        "step": np.r_[np.ones(t_rest.size, int), np.full(t.size, 2)],
    })
    return data


def symmetric_cell(n_half_cycles=40, half_h=1.0, dt_s=30.0, current_mA=0.2, op_mV=30.0,
                   plating_op_mV=None, short_at_h=None, short_mV=0.5, noise_mV=0.1, spike_at_h=None,
                   limit_at_half=None, limit_V=1.0, seed=1):
    """Galvanostatic Li|Li cycling: plating (I < 0, V < 0) then stripping, ``half_h`` hours each,
    no rests. Plateau |V| = op_mV (plating_op_mV for the plating halves if given) with a small
    spike at each half-cycle start; after ``short_at_h`` |V| collapses to ``short_mV``.
    ``spike_at_h``: one row dropping to 0 V (a glitch, not a failure). ``limit_at_half``: that
    half cycle (1-based) rises to ``limit_V`` and ends early at 40 % of its duration (the test stops).
    """
    rng = np.random.default_rng(seed)
    n_per = int(round(half_h * 3600 / dt_s))
    frames = []
    t0 = 0.0
    for k in range(n_half_cycles):
        plating = k % 2 == 0
        tt = np.arange(1, n_per + 1) * dt_s
        op = (plating_op_mV if (plating and plating_op_mV is not None) else op_mV)
        u = op * (1 + 0.2 * np.exp(-tt / 120.0)) + rng.normal(0, noise_mV, tt.size)
        if limit_at_half == k + 1:
            keep = tt <= 0.4 * n_per * dt_s
            tt, u = tt[keep], u[keep]
            u = u + (limit_V * 1000 - op) * (tt / tt[-1]) ** 8
        t_abs = t0 + tt
        if short_at_h is not None:
            after = t_abs >= short_at_h * 3600
            u = np.where(after, short_mV + rng.normal(0, noise_mV, tt.size), u)
        if spike_at_h is not None:
            j = np.flatnonzero(np.abs(t_abs - spike_at_h * 3600) < dt_s / 2)
            u[j] = 0.0
        s = -1.0 if plating else 1.0
        frames.append(pd.DataFrame({"time_s": t_abs, "voltage_V": s * u / 1000.0,
                                    "current_mA": s * current_mA, "step": k + 1}))
        t0 = t_abs[-1]
        if limit_at_half == k + 1:
            break
    data = pd.concat(frames, ignore_index=True)
    return data


def full_cell(n_cycles=50, q0_mAh=1.5, fade_per_cycle=0.99, ce=0.995, dt_s=60.0, current_mA=0.5):
    """Charge-first CC full cell; discharge capacity of cycle n = q0 * fade**(n-1) (closed form
    retention fade**(n-1)), charge capacity = discharge / ce. Voltage linear 3.0-4.2 V."""
    frames = []
    t0 = 0.0
    step = 0
    for n in range(1, n_cycles + 1):
        qd = q0_mAh * fade_per_cycle ** (n - 1)
        qc = qd / ce
        for sign, q in ((1, qc), (-1, qd)):
            dur = q / current_mA * 3600
            m = int(np.ceil(dur / dt_s))
            tt = np.linspace(0, dur, m + 1)
            frac = tt / dur
            v = 3.0 + 1.2 * frac if sign > 0 else 4.1 - 1.1 * frac
            step += 1
            frames.append(pd.DataFrame({"time_s": t0 + tt, "voltage_V": v,
                                        "current_mA": sign * current_mA,
                                        "capacity_mAh": current_mA * tt / 3600, "cycle": n,
                                        "step": step,
                                        "step_type": "cc_charge" if sign > 0 else "cc_discharge"}))
            t0 = t0 + dur + 1.0
    return pd.concat(frames, ignore_index=True)


def galvanostatic(halves, current_mA=0.5, dt_s=60.0, rest_s=0.0, cycles=None):
    """A series of constant-current half cycles with known capacities: ``halves`` is a list of
    (sign, capacity_mAh, v_start, v_end) (sign +1 charge, -1 discharge; voltage linear from
    v_start to v_end). ``rest_s`` > 0 puts a rest after every half cycle (the protocol ended it);
    ``cycles``: a cycle number per half cycle, written as an instrument's cycle column (None:
    no cycle column)."""
    frames = []
    t0 = 0.0
    step = 0
    for k, (sign, q, v0, v1) in enumerate(halves):
        dur = q / current_mA * 3600
        m = max(int(np.ceil(dur / dt_s)), 2)
        tt = np.linspace(0, dur, m + 1)
        step += 1
        f = pd.DataFrame({"time_s": t0 + tt, "voltage_V": v0 + (v1 - v0) * tt / dur,
                          "current_mA": sign * current_mA, "capacity_mAh": current_mA * tt / 3600,
                          "step": step, "step_type": "cc_charge" if sign > 0 else "cc_discharge"})
        if cycles is not None:
            f["cycle"] = cycles[k]
        frames.append(f)
        t0 += dur + 1.0
        if rest_s:
            step += 1
            tr = np.linspace(0, rest_s, 5)
            r = pd.DataFrame({"time_s": t0 + tr, "voltage_V": v1, "current_mA": 0.0,
                              "capacity_mAh": 0.0, "step": step, "step_type": "rest"})
            if cycles is not None:
                r["cycle"] = cycles[k]
            frames.append(r)
            t0 += rest_s + 1.0
    return pd.concat(frames, ignore_index=True)

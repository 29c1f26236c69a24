"""The paper's cells as sample data, in the instruments' own formats.

``python scripts/make_sample_data.py [OUT]`` (or :func:`generate`) writes ``sample_data/``: Neware
BTSDA CSV exports (flat and nested layouts, through the writers of
:mod:`echem.testing.btsda_writer`) for the cycling tests, EC-Lab PEIS ``.mpt`` text exports
for the impedance of the symmetric cells, and an ``experiment.toml`` manifest that points at the
protocols in ``protocols/``. A fixed seed makes the output byte-for-byte the same on every run.

The cells are those of Huang et al. (paper, Figure 5 and Table S7), all 10 mm in diameter
(0.7854 cm2):

- symmetric Li4Ag, Li9Ag4 and Li cells at 0.2 mA/cm2 and 0.2 mAh/cm2 (1 h half cycles, plating
  first, after a 10 min rest): nucleation overpotential 0, 0 and 6 mV; plateau polarization 12, 30
  and 20 mV (Li4Ag the smallest, Li9Ag4 the largest hysteresis); the alloys run 150 h, the Li
  cell shorts at 24.6 h and is stopped 4 h later;
- impedance of the three symmetric cells, the default circuit R0-p(R1,CPE1)-p(R2,CPE2) with
  Table S7's R_SEI and R_ct, 7 MHz to 0.1 Hz at 10 points per decade and 10 mV, 0.2 % noise;
- sym-Li4Ag-EIS, a replicate of sym-Li4Ag with impedance before cycling and after every 15
  cycles (6 spectra in one EC-Lab .mpt, each in a 10 min rest inserted into the cycling), R_SEI
  growing as 12.10 + 1.2 sqrt(n) ohm and R_ct as 24.33 (1 + 0.004 n) ohm after n cycles;
- Li | LPSC | Ag half cells (the paper's Li|LPSC|Li4Ag and Li|LPSC|Li9Ag4, here with the 8.2 mg Ag
  foil lithiated in situ): a first lithiation at 0.2 mA/cm2 to x = 4 (Li4Ag) and to x = 2.25
  (Li9Ag4) Li per Ag, then 5 cycles of 0.2 mAh/cm2; two-phase plateaus at 0.345, 0.226 and
  0.124 V (a few mV from the DFT voltages of Ag, LiAg and Li9Ag4) with sloping solid solutions
  between them, 4.7 and 6.0 mV of overpotential;
- full cells against LNO@NCM811 (7.64 mg/cm2, 6.000 mg active), 0.125 mA/cm2 for cycles 1-2 then
  0.25 mA/cm2, 2.5-4.3 V: Li4Ag 184, 157, 133 mAh/g at cycles 1, 30, 50 (72.1 %); Li9Ag4 183, 121,
  107 (58.8 %); Li collapsing to 10.8 % at cycle 7, where its test stops.

:func:`truth` returns the values each cell was generated with, for end-to-end tests.

How the curves are made (physically plausible, not a physical model): symmetric cells - an
instantaneous IR drop then a first-order approach (tau 20 s) to the plateau, a slight rise at the
end of each half cycle, the nucleation dip of Li as an extra overpotential (t/t_pk)exp(1 - t/t_pk)
scaled so that dip bottom minus plateau is exactly the target; a short as an exponential collapse
to a fluctuating |V| of ~0.4 mV. Full cells - an NCM811 open-circuit curve vs Li (PCHIP through
literature-like points) minus the anode potential (Li4Ag 0.09 V, Li9Ag4 0.12 V, Li 0 V) plus or
minus I*R with R growing with cycle number, and an exponential approach to the cut-off over the
last few percent of each step, so that each step ends at its cut-off exactly at the prescribed
capacity. Half cells - a piecewise straight equilibrium curve V(x) (tilted plateaus, sloping
solid solutions, corners rounded by a Gaussian of 0.015 in x) minus or plus I*R. Voltages carry
Gaussian noise (0.08 mV symmetric, 0.3 mV full and half) and are rounded to the
CT-4000's 0.1 mV, currents to 1e-5 mA. The cycler logs every 120 s (symmetric and half cells; 5 s
during the first plating step, to resolve the nucleation dip) or 600 s (full cells), and whenever
|V| has moved by 5 mV (symmetric, half) or 15 mV (full) since the last record, plus the first and last point of
every step - as the BTS record conditions do. Row counts stay modest so that the whole set is
under 5 MB and a report on it runs fast.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240806
AREA_CM2 = 0.7854                 # 10 mm internal diameter PEEK mould
ACTIVE_MASS_MG = 6.000            # 7.64 mg/cm2 x 0.7854 cm2 = 6.0004 mg
START = pd.Timestamp("2024-03-04 09:00:00")

J_SYM_mA_cm2 = 0.2
HALF_CYCLE_S = 3600.0             # 0.2 mAh/cm2 at 0.2 mA/cm2
REST_S = 600.0
LOG_SYM_S = 120.0                 # record interval of the symmetric cells (s)
LOG_FULL_S = 600.0                # record interval of the full cells (s)
LOG_FULL_DV = 0.015               # and on a voltage change of (V)


@dataclass(frozen=True)
class SymmetricSpec:
    cell_id: str
    phase: str
    protocol: str
    layout: str                   # "flat" or "nested"
    eta_mV: float                 # nucleation overpotential (dip bottom - plateau), mV
    polarization_mV: float        # plateau |V| at the start, mV
    drift_mV: float               # plateau growth over the test, mV
    end_rise_mV: float            # rise of |V| towards the end of a half cycle, mV
    r0_ohm: float
    r_sei_ohm: float
    q1: float                     # CPE1 coefficient, ohm^-1 s^a
    a1: float
    r_ct_ohm: float
    q2: float
    a2: float
    duration_h: float             # cycling time after the 10 min rest, h
    short_h: float | None = None  # time of the short circuit, h since the start of the test


@dataclass(frozen=True)
class FullSpec:
    cell_id: str
    phase: str
    protocol: str
    layout: str
    anode_V: float                # anode potential vs Li/Li+ at the start of a charge, V
    q_discharge: dict             # cycle -> discharge capacity, mAh/g (anchors)
    n_cycles: int
    ce_first: float               # coulombic efficiency of cycle 1
    ce: float                     # coulombic efficiency of later cycles
    r0_ohm: float                 # effective DC resistance at cycle 1
    r_growth_ohm: float           # added per cycle
    material_loss: bool           # fade by loss of active material (else by impedance growth)
    ocv_V: float                  # open-circuit voltage of the assembled cell


SYMMETRIC = (
    SymmetricSpec("sym-Li4Ag", "Li4Ag", "symmetric-li-ag", "flat", eta_mV=0.0, polarization_mV=12.0,
                  drift_mV=1.0, end_rise_mV=0.6, r0_ohm=38.0, r_sei_ohm=12.10, q1=2.0e-7, a1=0.90,
                  r_ct_ohm=24.33, q2=5.0e-5, a2=0.85, duration_h=150.0),
    SymmetricSpec("sym-Li9Ag4", "Li9Ag4", "symmetric-li-ag", "nested", eta_mV=0.0, polarization_mV=30.0,
                  drift_mV=1.5, end_rise_mV=1.0, r0_ohm=40.0, r_sei_ohm=25.20, q1=1.5e-7, a1=0.90,
                  r_ct_ohm=43.89, q2=4.0e-5, a2=0.85, duration_h=150.0),
    SymmetricSpec("sym-Li", "Li", "symmetric-li", "flat", eta_mV=6.0, polarization_mV=20.0,
                  drift_mV=4.0, end_rise_mV=1.5, r0_ohm=42.0, r_sei_ohm=24.52, q1=1.8e-7, a1=0.88,
                  r_ct_ohm=59.79, q2=3.0e-5, a2=0.82, duration_h=28.5, short_h=24.6),
)

FULL = (
    FullSpec("full-Li4Ag", "Li4Ag", "full-ncm811-li-ag", "nested", anode_V=0.09,
             q_discharge={1: 184.0, 2: 182.0, 3: 174.0, 30: 157.0, 50: 184.0 * 0.721}, n_cycles=50,
             ce_first=184.0 / 222.0, ce=0.996, r0_ohm=220.0, r_growth_ohm=4.0, material_loss=True,
             ocv_V=3.20),
    FullSpec("full-Li9Ag4", "Li9Ag4", "full-ncm811-li-ag", "flat", anode_V=0.12,
             q_discharge={1: 182.6, 2: 180.5, 3: 168.0, 30: 121.0, 50: 182.6 * 0.588}, n_cycles=50,
             ce_first=182.6 / 221.5, ce=0.990, r0_ohm=280.0, r_growth_ohm=7.0, material_loss=True,
             ocv_V=3.17),
    FullSpec("full-Li", "Li", "full-ncm811-li", "nested", anode_V=0.0,
             q_discharge={1: 160.0, 2: 140.0, 3: 95.0, 4: 68.0, 5: 45.0, 6: 29.0, 7: 160.0 * 0.108},
             n_cycles=7, ce_first=160.0 / 205.0, ce=0.80, r0_ohm=350.0, r_growth_ohm=250.0,
             material_loss=False, ocv_V=3.28),
)


@dataclass(frozen=True)
class HalfSpec:
    cell_id: str
    phase: str                    # the composition the first lithiation aims at
    protocol: str
    layout: str
    x_target: float               # Li per Ag at the end of the first lithiation
    host_mass_mg: float           # Ag foil
    r_ohm: float                  # overpotential I * r: below the equilibrium curve on
                                  # lithiation, above it on delithiation
    n_cycles: int                 # cycles of 0.2 mAh/cm2 after the first lithiation
    ocv_V: float                  # open-circuit voltage of the pristine Li | Ag cell


HALF = (
    HalfSpec("half-Li4Ag", "Li4Ag", "half-li-ag-li4ag", "flat", x_target=4.0, host_mass_mg=8.2,
             r_ohm=30.0, n_cycles=5, ocv_V=1.92),
    HalfSpec("half-Li9Ag4", "Li9Ag4", "half-li-ag-li9ag4", "nested", x_target=2.25, host_mass_mg=8.2,
             r_ohm=38.0, n_cycles=5, ocv_V=1.88),
)

@dataclass(frozen=True)
class PeriodicEISSpec:
    """A symmetric cell with impedance spectra before cycling and after every ``every_cycles``
    cycles, each taken in a rest of EIS_REST_S inserted into the cycling. Its resistances drift
    by a known law with the number of cycles n before the spectrum:

        R_SEI(n) = R_SEI(0) + sei_ohm_per_sqrt_cycle * sqrt(n)    (parabolic SEI growth)
        R_ct(n)  = R_ct(0) * (1 + ct_per_cycle * n)"""

    cell: SymmetricSpec
    every_cycles: int
    n_spectra: int
    sei_ohm_per_sqrt_cycle: float
    ct_per_cycle: float

    def resistances_ohm(self, n_cycles) -> tuple[np.ndarray, np.ndarray]:
        n = np.asarray(n_cycles, float)
        return (self.cell.r_sei_ohm + self.sei_ohm_per_sqrt_cycle * np.sqrt(n),
                self.cell.r_ct_ohm * (1 + self.ct_per_cycle * n))


#: a replicate of sym-Li4Ag (Table S7's resistances before cycling) followed by impedance; its
#: polarization drifts by about I * (R_SEI + R_ct) growth over the test (0.157 mA x 17.7 ohm)
PERIODIC_EIS = PeriodicEISSpec(
    SymmetricSpec("sym-Li4Ag-EIS", "Li4Ag", "symmetric-li-ag", "nested", eta_mV=0.0,
                  polarization_mV=12.0, drift_mV=2.8, end_rise_mV=0.6, r0_ohm=38.0,
                  r_sei_ohm=12.10, q1=2.0e-7, a1=0.90, r_ct_ohm=24.33, q2=5.0e-5, a2=0.85,
                  duration_h=150.0),
    every_cycles=15, n_spectra=6, sei_ohm_per_sqrt_cycle=1.2, ct_per_cycle=0.004)
EIS_REST_S = 600.0                # rest inserted for each spectrum after cycling started
EIS_DELAY_S = 60.0                # spectrum starts this long into its rest (300 s into the first rest)


#: the two-phase plateaus of Li_xAg at equilibrium: (V vs Li/Li+, x where it starts and ends, the
#: phase whose DFT voltage it is near; paper, Fig. 1a: Ag 0.342, LiAg 0.230, Li9Ag4 0.121 V), a
#: few mV off the DFT values as measured plateaus are; each tilted by PLATEAU_TILT_V
LIAG_PLATEAUS = ((0.345, 0.08, 0.82, "Ag"), (0.226, 1.12, 1.95, "LiAg"), (0.124, 2.50, 3.62, "Li9Ag4"))
PLATEAU_TILT_V = 0.002
#: the start (x = 0) and the end of the Li4Ag solid solution the curve slopes to: (x, V)
LIAG_START = (0.0, 0.75)
LIAG_TAIL = (4.60, 0.086)
CORNER_BLUR_X = 0.015             # corners rounded by a Gaussian this wide in x
LOG_HALF_S = 120.0                # record interval of the half cells (s), and on 5 mV
HALF_NOISE_V = 0.3e-3
MOLAR_MASS_AG_G_MOL = 107.8682    # IUPAC 2021, as dft/data/li_ag.toml


# ---------------------------------------------------------------------------------------------
# the cycler's logger


def log_points(t: np.ndarray, v: np.ndarray, dt_s: float, dv_V: float) -> np.ndarray:
    """Indices a cycler records: the first and last sample, and every sample where ``dt_s`` has
    passed or |V| has moved by ``dv_V`` since the last record (BTS record conditions)."""
    tl, vl = t.tolist(), v.tolist()  # plain floats: a Python loop over them is fast enough
    keep = [0]
    lt, lv = tl[0], vl[0]
    dt = dt_s - 1e-9
    for i in range(1, len(tl) - 1):
        ti, vi = tl[i], vl[i]
        if ti - lt >= dt or abs(vi - lv) >= dv_V:
            keep.append(i)
            lt, lv = ti, vi
    if len(tl) > 1:
        keep.append(len(tl) - 1)
    return np.asarray(keep)


def _quantize(v_V: np.ndarray, step: float = 1e-4) -> np.ndarray:
    return np.round(np.round(v_V / step) * step, 6) + 0.0  # + 0.0: no '-0.0'


# ---------------------------------------------------------------------------------------------
# symmetric cells


def _dip_amplitude(spec: SymmetricSpec, tau_s: float, t_pk: float) -> float:
    """Amplitude A of the nucleation bump so that max|V| - plateau = eta exactly (noise-free)."""
    if spec.eta_mV <= 0:
        return 0.0
    t = np.arange(0.0, 600.0, 0.01)
    ir = J_SYM_mA_cm2 * AREA_CM2 * spec.r0_ohm
    base = ir + (spec.polarization_mV - ir) * (1 - np.exp(-t / tau_s))
    bump = (t / t_pk) * np.exp(1 - t / t_pk)
    from scipy.optimize import brentq
    return brentq(lambda a: np.max(base + a * bump) - spec.polarization_mV - spec.eta_mV, 0.0, 5 * spec.eta_mV + 5)


TAU_S, T_PK_S = 20.0, 30.0  # approach to the plateau; time of the nucleation dip's bottom


def _sym_magnitude_mV(spec: SymmetricSpec, k: int, ts: np.ndarray, tg: np.ndarray, amp: float) -> np.ndarray:
    """Noise-free |V| (mV) of half cycle ``k`` (0 = first plating) at step times ``ts`` (s) and
    test times ``tg`` (s), before any short circuit."""
    ir = J_SYM_mA_cm2 * AREA_CM2 * spec.r0_ohm
    end_s = REST_S + spec.duration_h * 3600.0
    p = spec.polarization_mV + spec.drift_mV * (tg / end_s)
    if spec.short_h is not None:  # Li: wandering and rising before it shorts
        p = p + 0.35 * np.sin(tg / 5400.0) * (tg / (spec.short_h * 3600.0))
    m = ir + (p - ir) * (1 - np.exp(-ts / TAU_S))
    if k > 0:
        return m + spec.end_rise_mV * (ts / HALF_CYCLE_S) ** 4
    return m + amp * (ts / T_PK_S) * np.exp(1 - ts / T_PK_S)


def plateau_truth_mV(spec: SymmetricSpec, window=(0.2, 0.8)) -> float:
    """Mean over the half cycles before any short of the noise-free median |V| (mV) within
    ``window`` (fractions of the half cycle) - what a polarization analysis should find."""
    end_s = REST_S + spec.duration_h * 3600.0
    last = end_s if spec.short_h is None else spec.short_h * 3600.0
    vals, k, t0 = [], 0, REST_S
    while t0 + HALF_CYCLE_S <= last + 1e-6:
        ts = np.arange(window[0] * HALF_CYCLE_S, window[1] * HALF_CYCLE_S + 1e-9, 1.0)
        vals.append(float(np.median(_sym_magnitude_mV(spec, k, ts, t0 + ts, 0.0 if k else
                                                        _dip_amplitude(spec, TAU_S, T_PK_S)))))
        k += 1
        t0 += HALF_CYCLE_S
    return float(np.mean(vals))


def symmetric_records(spec: SymmetricSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Common-schema records of a symmetric cell (plating first: negative current and voltage)."""
    i_mA = J_SYM_mA_cm2 * AREA_CM2
    amp = _dip_amplitude(spec, TAU_S, T_PK_S)
    end_s = REST_S + spec.duration_h * 3600.0
    short_s = None if spec.short_h is None else spec.short_h * 3600.0
    out = []
    # rest (OCV of a symmetric cell: a few tens of microvolts)
    t = np.arange(0.0, REST_S + 1e-9, 1.0)
    v = 2e-5 + rng.normal(0, 8e-5, t.size)
    idx = log_points(t, _quantize(v), 60.0, 5e-3)
    out.append(pd.DataFrame({"time_s": t[idx], "voltage_V": _quantize(v)[idx], "current_mA": 0.0,
                             "capacity_mAh": 0.0, "cycle": 1, "step": 1, "step_type": "rest"}))
    step, k, t0 = 2, 0, REST_S
    level = 0.0  # random walk of the shorted cell's |V|, mV
    while t0 < end_s - 1e-6:
        dur = min(HALF_CYCLE_S, end_s - t0)
        ts = np.arange(0.0, dur + 1e-9, 1.0)
        if ts[-1] < dur:
            ts = np.append(ts, dur)
        tg = t0 + ts
        plating = k % 2 == 0
        sign = -1.0 if plating else 1.0
        m = _sym_magnitude_mV(spec, k, ts, tg, amp)
        if short_s is not None and tg[-1] > short_s:
            after = tg >= short_s
            walk = np.full(ts.size, 0.4 + level)
            walk[after] = np.clip(0.4 + level + np.cumsum(rng.normal(0, 0.003, after.sum())), 0.15, 0.9)
            level = walk[after][-1] - 0.4
            fade = np.exp(-np.clip(tg - short_s, 0, None) / 60.0)
            m = np.where(after, walk + (m - walk) * fade, m)
        v = sign * m / 1000.0 + rng.normal(0, 0.08e-3, ts.size)
        vq = _quantize(v)
        dt = 5.0 if k == 0 else LOG_SYM_S
        idx = log_points(ts, vq, dt, 5e-3)
        cur = np.round(sign * i_mA + rng.normal(0, 2e-5, idx.size), 5)
        out.append(pd.DataFrame({
            "time_s": tg[idx], "voltage_V": vq[idx], "current_mA": cur,
            "capacity_mAh": np.round(i_mA * ts[idx] / 3600.0, 6),
            "cycle": k // 2 + 1, "step": step,
            "step_type": "cc_discharge" if plating else "cc_charge"}))
        step += 1
        k += 1
        t0 += dur
    return pd.concat(out, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# full cells

#: NCM811 open-circuit potential vs Li/Li+ against the fraction of 235 mAh/g delithiated
_NCM_THETA = np.array([0.00, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.90, 0.95, 1.00])
_NCM_U = np.array([3.45, 3.58, 3.64, 3.67, 3.72, 3.76, 3.81, 3.87, 3.94, 4.02, 4.10, 4.14, 4.17, 4.20, 4.28])
Q_REF_mAh_g = 235.0


def ncm811_ocv_V(theta: np.ndarray) -> np.ndarray:
    """Open-circuit potential of NCM811 vs Li/Li+ (V) at delithiation fraction ``theta``."""
    from scipy.interpolate import PchipInterpolator
    return PchipInterpolator(_NCM_THETA, _NCM_U)(np.clip(theta, 0.0, 1.0))


def discharge_capacities(spec: FullSpec, rng: np.random.Generator) -> np.ndarray:
    """Discharge capacity (mAh/g) of cycles 1..n: the anchors exactly, a smooth curve between
    them (quadratic through the anchors from cycle 3 on) with +-0.3 mAh/g of scatter."""
    anchors = spec.q_discharge
    n = np.arange(1, spec.n_cycles + 1)
    keys = sorted(anchors)
    tail = [k for k in keys if k >= 3]
    if len(tail) >= 3:
        coef = np.polyfit(tail, [anchors[k] for k in tail], 2)
        q = np.polyval(coef, n)
    else:
        q = np.interp(n, keys, [anchors[k] for k in keys])
    q = q + rng.normal(0, 0.3, n.size)
    for k in keys:
        q[k - 1] = anchors[k]
    return q


def _step_curve(q_end: float, theta0: float, dtheta: float, direction: int, anode0_V: float,
                eta_V: float, cutoff_V: float, n: int = 400):
    """Voltage against progress x = q/q_end for one CC step, ending at ``cutoff_V`` at x = 1."""
    x = np.linspace(0.0, 1.0, n)
    theta = theta0 + direction * dtheta * x
    anode = anode0_V - 0.03 * (x if direction > 0 else 1 - x)
    base = ncm811_ocv_V(theta) - anode + direction * eta_V
    gap = cutoff_V - base[-1]
    if direction * gap <= 0.005:
        raise ValueError(f"sample-data parameters give {base[-1]:.3f} V at the end of a step, past "
                         f"the {cutoff_V} V cut-off; lower the resistance or the capacity")
    w = 0.02 if direction > 0 else 0.03
    return x, base + gap * np.exp((x - 1.0) / w)


def full_records(spec: FullSpec, rng: np.random.Generator) -> pd.DataFrame:
    mass_g = ACTIVE_MASS_MG / 1000.0
    qd = discharge_capacities(spec, rng)
    qc = qd / np.where(np.arange(1, spec.n_cycles + 1) == 1, spec.ce_first, spec.ce)
    out = []
    t = np.arange(0.0, REST_S + 1e-9, 10.0)
    v = _quantize(spec.ocv_V + 0.004 * (1 - np.exp(-t / 200.0)) + rng.normal(0, 0.3e-3, t.size))
    idx = log_points(t, v, 600.0, 0.01)
    out.append(pd.DataFrame({"time_s": t[idx], "voltage_V": v[idx], "current_mA": 0.0, "capacity_mAh": 0.0,
                             "cycle": 1, "step": 1, "step_type": "rest"}))
    t0, step = REST_S, 2
    for c in range(1, spec.n_cycles + 1):
        j = 0.125 if c <= 2 else 0.25
        i_mA = j * AREA_CM2
        r = spec.r0_ohm + spec.r_growth_ohm * (c - 1)
        eta = i_mA * r / 1000.0
        scale = qd[c - 1] / qd[0] if spec.material_loss else 1.0
        q_eff = Q_REF_mAh_g * scale
        theta_a = 0.0 if c == 1 else 0.03
        for direction, q_step in ((+1, qc[c - 1]), (-1, qd[c - 1])):
            dtheta = q_step / q_eff
            if direction > 0:
                theta_top = theta_a + dtheta
                x, vx = _step_curve(q_step, theta_a, dtheta, +1, spec.anode_V, eta, 4.3)
            else:
                x, vx = _step_curve(q_step, theta_top, dtheta, -1, spec.anode_V, eta, 2.5)
            dur = q_step * mass_g / i_mA * 3600.0
            ts = np.arange(0.0, dur, 10.0)
            ts = np.append(ts, dur)
            vv = np.interp(ts / dur, x, vx) + rng.normal(0, 0.3e-3, ts.size)
            vv[-1] = 4.3 if direction > 0 else 2.5  # the cycler stops at the cut-off
            vq = _quantize(vv)
            idx = log_points(ts, vq, LOG_FULL_S, LOG_FULL_DV)
            cur = np.round(direction * i_mA + rng.normal(0, 2e-5, idx.size), 5)
            out.append(pd.DataFrame({
                "time_s": t0 + ts[idx], "voltage_V": vq[idx], "current_mA": cur,
                "capacity_mAh": np.round(i_mA * ts[idx] / 3600.0, 6), "cycle": c, "step": step,
                "step_type": "cc_charge" if direction > 0 else "cc_discharge"}))
            t0 += dur
            step += 1
    return pd.concat(out, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# half cells (Li | LPSC | Ag, the Ag lithiated in situ)


def li_ag_equilibrium_V(x: np.ndarray) -> np.ndarray:
    """Equilibrium voltage (V vs Li/Li+) of Li_xAg: straight lines through LIAG_START, the ends
    of the tilted plateaus of LIAG_PLATEAUS and LIAG_TAIL, corners rounded by a Gaussian of
    CORNER_BLUR_X (continued flat beyond the ends)."""
    xs, vs = [LIAG_START[0]], [LIAG_START[1]]
    for v, a, b, _ in LIAG_PLATEAUS:
        xs += [a, b]
        vs += [v + PLATEAU_TILT_V / 2, v - PLATEAU_TILT_V / 2]
    xs.append(LIAG_TAIL[0])
    vs.append(LIAG_TAIL[1])
    h = 0.001
    fine = np.arange(-0.5, LIAG_TAIL[0] + 0.5 + h / 2, h)
    vf = np.interp(fine, xs, vs)
    half = int(round(5 * CORNER_BLUR_X / h))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) * h / CORNER_BLUR_X) ** 2)
    vf = np.convolve(np.pad(vf, half, mode="edge"), k / k.sum(), mode="valid")
    return np.interp(np.asarray(x, float), fine, vf)


def half_x_per_mAh(spec: HalfSpec) -> float:
    """Li per Ag atom moved by 1 mAh: 3.6 C / (F n_Ag)."""
    from dft.voltage import charge_to_x
    return float(charge_to_x(1.0, spec.host_mass_mg, MOLAR_MASS_AG_G_MOL))


def half_records(spec: HalfSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Common-schema records of a Li | Ag half cell, the Ag the working electrode: a 10 min rest
    at open circuit, the first lithiation (discharge, cycle 1) at 0.2 mA/cm2 to ``x_target`` Li
    per Ag, 10 min rest, then ``n_cycles`` cycles (2, 3, ...) of delithiation and lithiation of
    0.2 mAh/cm2 each. The voltage is :func:`li_ag_equilibrium_V` minus (lithiation) or plus
    (delithiation) I * r, reached with a 20 s time constant, with Gaussian noise and the
    CT-4000's 0.1 mV resolution."""
    i_mA = J_SYM_mA_cm2 * AREA_CM2
    eta = i_mA * spec.r_ohm / 1000.0
    per_mAh = half_x_per_mAh(spec)
    out = []
    t = np.arange(0.0, REST_S + 1e-9, 10.0)
    v = _quantize(spec.ocv_V - 0.01 * (1 - np.exp(-t / 300.0)) + rng.normal(0, HALF_NOISE_V, t.size))
    idx = log_points(t, v, 60.0, 0.005)
    out.append(pd.DataFrame({"time_s": t[idx], "voltage_V": v[idx], "current_mA": 0.0,
                             "capacity_mAh": 0.0, "cycle": 1, "step": 1, "step_type": "rest"}))
    t0, step, x = REST_S, 2, 0.0

    def cc(dur_s, direction, cycle, dt=10.0):
        nonlocal t0, step, x
        ts = np.arange(0.0, dur_s, dt)
        ts = np.append(ts, dur_s)
        q = i_mA * ts / 3600.0
        xs = x - direction * q * per_mAh
        vv = li_ag_equilibrium_V(xs) + direction * eta * (1 - np.exp(-ts / 20.0))
        if step == 2:  # the first lithiation starts from the open-circuit voltage
            vv = vv + (spec.ocv_V - vv[0]) * np.exp(-ts / 15.0)
        vq = _quantize(vv + rng.normal(0, HALF_NOISE_V, ts.size))
        idx = log_points(ts, vq, LOG_HALF_S, 0.005)
        cur = np.round(direction * i_mA + rng.normal(0, 2e-5, idx.size), 5)
        out.append(pd.DataFrame({
            "time_s": t0 + ts[idx], "voltage_V": vq[idx], "current_mA": cur,
            "capacity_mAh": np.round(q[idx], 6), "cycle": cycle, "step": step,
            "step_type": "cc_charge" if direction > 0 else "cc_discharge"}))
        t0 += dur_s
        step += 1
        x = float(xs[-1])

    def rest(dur_s, cycle, relax_from):
        nonlocal t0, step
        ts = np.arange(0.0, dur_s + 1e-9, 10.0)
        vv = li_ag_equilibrium_V(np.full(ts.size, x)) + relax_from * np.exp(-ts / 60.0)
        vq = _quantize(vv + rng.normal(0, HALF_NOISE_V, ts.size))
        idx = log_points(ts, vq, LOG_HALF_S, 0.005)
        out.append(pd.DataFrame({"time_s": t0 + ts[idx], "voltage_V": vq[idx], "current_mA": 0.0,
                                 "capacity_mAh": 0.0, "cycle": cycle, "step": step,
                                 "step_type": "rest"}))
        t0 += dur_s
        step += 1

    q_first = spec.x_target / per_mAh                    # mAh to reach x_target
    cc(q_first / i_mA * 3600.0, -1, 1)
    rest(REST_S, 1, -eta)
    for c in range(2, spec.n_cycles + 2):
        cc(HALF_CYCLE_S, +1, c)
        cc(HALF_CYCLE_S, -1, c)
    return pd.concat(out, ignore_index=True)


def half_plateau_truth(spec: HalfSpec) -> pd.DataFrame:
    """The plateaus the first lithiation of ``spec`` was made with, as measured: voltage_V (the
    plateau's middle minus I * r), x_start, x_end (where its straight line ends), capacity_mAh,
    phase (whose DFT voltage it is near), equilibrium_voltage_V. Only plateaus the lithiation
    passes whole."""
    eta = J_SYM_mA_cm2 * AREA_CM2 * spec.r_ohm / 1000.0
    per_mAh = half_x_per_mAh(spec)
    rows = [{"cell_id": spec.cell_id, "voltage_V": v - eta, "x_start": a, "x_end": b,
             "capacity_mAh": (b - a) / per_mAh, "phase": ph, "equilibrium_voltage_V": v}
            for v, a, b, ph in LIAG_PLATEAUS if b <= spec.x_target]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# impedance


def spectrum(spec: SymmetricSpec, rng: np.random.Generator, points_per_decade: int = 10,
             f_max_Hz: float = 7e6, f_min_Hz: float = 0.1, noise: float = 0.002):
    """Frequencies (Hz, as the SP-200 reports them: within 0.05 % of the nominal log grid) and
    Z (ohm) of R0-p(R1,CPE1)-p(R2,CPE2) with relative complex Gaussian noise ``noise``,
    computed with impedance.py's CustomCircuit."""
    from impedance.models.circuits import CustomCircuit
    n = int(round(math.log10(f_max_Hz / f_min_Hz) * points_per_decade)) + 1
    f = np.logspace(math.log10(f_max_Hz), math.log10(f_min_Hz), n)
    f = f * (1 + rng.normal(0, 2e-4, n))
    f[0], f[-1] = f_max_Hz * (1 + 3e-5), f_min_Hz * (1 - 2e-5)
    circ = CustomCircuit("R0-p(R1,CPE1)-p(R2,CPE2)", initial_guess=[
        spec.r0_ohm, spec.r_sei_ohm, spec.q1, spec.a1, spec.r_ct_ohm, spec.q2, spec.a2])
    circ.parameters_ = np.array(circ.initial_guess)
    z = circ.predict(f, use_initial=False)
    z = z + np.abs(z) * noise * (rng.normal(size=n) + 1j * rng.normal(size=n)) / math.sqrt(2)
    return f, z


_MPT_HEADER = """\
EC-Lab ASCII FILE
Nb header lines : {nlines}                          

Potentio Electrochemical Impedance Spectroscopy

Run on channel : {channel} (SN 41923)
User : 
CE vs. WE compliance from -10 V to 10 V
Electrode connection : standard
Ewe ctrl range : min = -10.00 V, max = 10.00 V
Safety Limits :
\tDo not start on E overload
Acquisition started on : {started}
Technique started on : {started}
Saved on :
\tFile : {stem}.mpr
\tDirectory : C:\\Users\\lab\\Documents\\EC-Lab\\Data\\Li-Ag\\
\tHost : 192.168.0.20
Device : SP-200 (SN 41923)
Address : USB
EC-Lab for windows v11.50 (software)
Internet server v11.50 (firmware)
Command interpretor v11.50 (firmware)
Electrode material : {material}
Initial state : as assembled
Electrolyte : Li6PS5Cl
Comments : {comment}
Electrode surface area : {area:.4f} cm\xb2
Characteristic mass : 0.001 g
Equivalent Weight : 0.000 g/eq.
Density : 0.000 g/cm3
Cycle Definition : Charge/Discharge alternance
Mode                Single sine         
E (V)               0.0000              
vs.                 Eoc                 
tE (h:m:s)          0:00:0.0000         
record              0                   
dI                  0.000               
unit dI             mA                  
dt (s)              0.000               
fi                  7.000               
unit fi             MHz                 
ff                  100.000             
unit ff             mHz                 
Nd                  {ppd}                   
Points              per decade          
spacing             Logarithmic         
Va (mV)             10.0                
pw                  0.10                
Na                  2                   
corr                0                   
E range min (V)     -10.000             
E range max (V)     10.000              
I Range             Auto                
Bandwidth           7                   
nc cycles           0                   
goto Ns'            0                   
nr cycles           0                   
inc. cycle          0                   

"""

_MPT_COLUMNS = ["freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "|Z|/Ohm", "Phase(Z)/deg", "time/s", "<Ewe>/V",
                "<I>/mA", "Cs/\xb5F", "Cp/\xb5F", "cycle number", "I Range", "|Ewe|/V", "|I|/A",
                "Re(Y)/Ohm-1", "Im(Y)/Ohm-1", "|Y|/Ohm-1", "Phase(Y)/deg"]


def _e7(x: float, digits: int = 7) -> str:
    """EC-Lab's number format: d.dddddddE+ddd (three exponent digits, as the Windows C runtime)."""
    mant, exp = f"{x:.{digits}E}".split("E")
    return f"{mant}E{exp[0]}{int(exp[1:]):03d}"


def _peis_rows(spec: SymmetricSpec, rng: np.random.Generator, t0_s: float = 0.0,
               cycle: int = 1) -> list[str]:
    """The data lines of one PEIS spectrum of ``spec`` (EC-Lab number format), its acquisition
    starting ``t0_s`` seconds after the file's start, ``cycle number`` = ``cycle``."""
    f, z = spectrum(spec, rng)
    w = 2 * np.pi * f
    mod = np.abs(z)
    phase = np.degrees(np.angle(z))
    y = 1 / z
    amp_V = 0.01 * (1 + rng.normal(0, 2e-3, f.size))
    # acquisition time: Na = 2 periods plus ~0.35 s overhead per frequency
    t = t0_s + 4.2 + np.cumsum(2.0 / f + 0.35 + rng.uniform(0, 0.05, f.size))
    ewe = 3e-5 + rng.normal(0, 5e-6, f.size)
    i_ma = rng.normal(0, 2e-5, f.size)
    cs = -1 / (w * z.imag) * 1e6
    cp = y.imag / w * 1e6
    irange = np.where(mod < 50, 10, 11)
    rows = []
    for i in range(f.size):
        rows.append("\t".join([
            _e7(f[i]), _e7(z.real[i]), _e7(-z.imag[i]), _e7(mod[i]), _e7(phase[i]), _e7(t[i], 15),
            _e7(ewe[i]), _e7(i_ma[i]), _e7(cs[i]), _e7(cp[i]), _e7(float(cycle), 15),
            str(int(irange[i])), _e7(amp_V[i]), _e7(amp_V[i] / mod[i]), _e7(y.real[i]),
            _e7(y.imag[i]), _e7(abs(y[i])), _e7(-phase[i])]))
    return rows


def _write_mpt(path: Path, spec: SymmetricSpec, rows: list[str], channel: int,
               started: pd.Timestamp, comment: str) -> Path:
    from echem.output import atomic_write
    header = _MPT_HEADER.format(nlines="{nlines}", channel=channel, started=started.strftime("%m/%d/%Y %H:%M:%S"),
                                stem=path.stem, material=spec.phase, comment=comment,
                                area=AREA_CM2, ppd=10)
    nlines = header.count("\n") + 1  # + the column header line
    header = header.replace("{nlines}", str(nlines))
    text = header + "\t".join(_MPT_COLUMNS) + "\t\n" + "\n".join(rows) + "\n"
    payload = text.encode("latin-1")
    return atomic_write(path, lambda tmp: tmp.write_bytes(payload))


def write_peis_mpt(path: Path, spec: SymmetricSpec, rng: np.random.Generator, channel: int = 1,
                   started: pd.Timestamp = START) -> Path:
    """Write a PEIS spectrum as an EC-Lab text export (latin-1, tab-separated, the column layout
    of EC-Lab 11 PEIS exports without counter-electrode columns)."""
    return _write_mpt(path, spec, _peis_rows(spec, rng), channel, started,
                      f"{spec.cell_id}, before cycling")


def periodic_eis_schedule(p: PeriodicEISSpec = PERIODIC_EIS) -> pd.DataFrame:
    """When the spectra of ``p`` are taken: spectrum (1..), after_cycles, start_s (test time at
    which the spectrum's acquisition starts), and the R0_ohm, R_SEI_ohm, R_ct_ohm it is made with."""
    n = np.arange(p.n_spectra) * p.every_cycles
    cycle_s = 2 * HALF_CYCLE_S
    # before cycling: 300 s into the first rest; later: EIS_DELAY_S into the k-th inserted rest
    start = np.where(n == 0, 300.0, REST_S + n * cycle_s + (np.arange(p.n_spectra) - 1) * EIS_REST_S
                     + EIS_DELAY_S)
    r_sei, r_ct = p.resistances_ohm(n)
    return pd.DataFrame({"spectrum": np.arange(1, p.n_spectra + 1), "after_cycles": n,
                         "start_s": start, "R0_ohm": p.cell.r0_ohm, "R_SEI_ohm": r_sei,
                         "R_ct_ohm": r_ct})


def periodic_eis_records(p: PeriodicEISSpec, rng: np.random.Generator) -> pd.DataFrame:
    """The cycling of ``p.cell`` (:func:`symmetric_records`) with a rest of EIS_REST_S inserted
    after every ``every_cycles`` cycles (and after the last), while the spectra are taken; later
    records move on in time and in step number."""
    rec = symmetric_records(p.cell, rng)
    sched = periodic_eis_schedule(p)
    parts, shift, step_shift, last = [], 0.0, 0, 0
    for n in sched["after_cycles"][sched["after_cycles"] > 0]:
        block = rec[(rec["cycle"] > last) & (rec["cycle"] <= n)] if last else rec[rec["cycle"] <= n]
        block = block.assign(time_s=block["time_s"] + shift, step=block["step"] + step_shift)
        parts.append(block)
        t_end = float(block["time_s"].iloc[-1])
        v_end = float(block["voltage_V"].iloc[-1])
        ts = np.arange(0.0, EIS_REST_S + 1e-9, 10.0)
        v = _quantize(v_end * np.exp(-ts / 30.0) + rng.normal(0, 0.08e-3, ts.size))
        idx = log_points(ts, v, 60.0, 5e-3)
        step_shift += 1
        parts.append(pd.DataFrame({"time_s": t_end + ts[idx], "voltage_V": v[idx], "current_mA": 0.0,
                                   "capacity_mAh": 0.0, "cycle": int(n),
                                   "step": int(block["step"].iloc[-1]) + 1, "step_type": "rest"}))
        shift += EIS_REST_S
        last = n
    rest = rec[rec["cycle"] > last]
    if len(rest):
        parts.append(rest.assign(time_s=rest["time_s"] + shift, step=rest["step"] + step_shift))
    return pd.concat(parts, ignore_index=True)


def write_periodic_peis_mpt(path: Path, p: PeriodicEISSpec, rng: np.random.Generator,
                            channel: int, started: pd.Timestamp) -> Path:
    """Write the spectra of :func:`periodic_eis_schedule` as one EC-Lab PEIS text export, as a
    PEIS repeated in a loop writes it: ``cycle number`` 1..N, ``time/s`` running on from the
    start of the test (``started``)."""
    import dataclasses
    rows = []
    for r in periodic_eis_schedule(p).itertuples():
        spec = dataclasses.replace(p.cell, r_sei_ohm=float(r.R_SEI_ohm), r_ct_ohm=float(r.R_ct_ohm))
        rows += _peis_rows(spec, rng, t0_s=float(r.start_s) - 4.2, cycle=int(r.spectrum))
    return _write_mpt(path, p.cell, rows, channel, started,
                      f"{p.cell.cell_id}, before cycling and after every {p.every_cycles} cycles")


# ---------------------------------------------------------------------------------------------
# manifest and the whole folder


def _manifest_text(files: dict[str, list[str]]) -> str:
    sym_mass = {"sym-Li4Ag": 8.2 + 2.1, "sym-Li9Ag4": 8.2 + 1.2, "sym-Li": None,  # per electrode (paper)
                PERIODIC_EIS.cell.cell_id: 8.2 + 2.1}
    parts = [textwrap.dedent("""\
        # Sample experiment: the cells of Huang et al., "Unlocking the Potential of Li-Ag Alloys"
        # (Figure 5, Table S7), generated by scripts/make_sample_data.py (echem.sampledata).
        # Format: protocols/README.md.

        [experiment]
        title = "Li-Ag alloy anodes vs Li metal (sample data after Huang et al.)"
        description = "Symmetric cells (nucleation, impedance, plating/stripping), NCM811 full cells, Li | Ag half cells."
        operator = "echem sample-data generator"
        date = "2024-03-04"
        dft_system = "Li-Ag"
        # the protocols shipped in the repository, beside this folder
        protocol_dirs = ["../protocols"]
        """)]
    def symmetric(s, notes: str = "") -> str:
        mass = sym_mass[s.cell_id]
        return textwrap.dedent(f"""\
            [[cell]]
            id = "{s.cell_id}"
            type = "symmetric"
            anode = "{s.phase}"
            electrolyte = "Li6PS5Cl"
            area_cm2 = {AREA_CM2}
            protocol = "{s.protocol}"
            files = [{", ".join(f'"{f}"' for f in files[s.cell_id])}]
            """) + (f'notes = "{notes}"\n' if notes else "") + ("" if mass is None else
                    f"masses = {{ anode_mg = {mass:.1f}, electrolyte_mg = 120.0 }}\n")

    for s in SYMMETRIC:
        parts.append(symmetric(s))
    for s in FULL:
        parts.append(textwrap.dedent(f"""\
            [[cell]]
            id = "{s.cell_id}"
            type = "full"
            anode = "{s.phase}"
            cathode = "LNO@NCM811"
            electrolyte = "Li6PS5Cl / Li3InCl6"
            area_cm2 = {AREA_CM2}
            protocol = "{s.protocol}"
            files = ["{files[s.cell_id][0]}"]
            masses = {{ cathode_active_mg = {ACTIVE_MASS_MG:.3f}, cathode_composite_mg = 10.0 }}
            """))
    parts.append(symmetric(PERIODIC_EIS.cell, "sym-Li4Ag again, with PEIS before cycling and after "
                                              f"every {PERIODIC_EIS.every_cycles} cycles"))
    for s in HALF:
        parts.append(textwrap.dedent(f"""\
            [[cell]]
            id = "{s.cell_id}"
            type = "half"
            anode = "{s.phase}"
            cathode = "Li"
            electrolyte = "Li6PS5Cl"
            area_cm2 = {AREA_CM2}
            protocol = "{s.protocol}"
            files = ["{files[s.cell_id][0]}"]
            notes = "Li | LPSC | Ag: {s.host_mass_mg:g} mg Ag foil (active_mg) lithiated in situ to {s.phase}, x = {s.x_target:g}"
            masses = {{ active_mg = {s.host_mass_mg:.1f}, electrolyte_mg = 120.0 }}
            """))
    return "\n".join(parts)


def generate(out_dir: str | Path = "sample_data", seed: int = SEED) -> list[Path]:
    """Write the sample data set into ``out_dir`` (created if needed); return the files written.

    Deterministic: the same seed gives the same bytes. Files not made by the generator are left alone.
    """
    from echem.testing.btsda_writer import write_flat_csv, write_nested_csv
    from echem.output import atomic_write
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    files: dict[str, list[str]] = {}
    for k, spec in enumerate(SYMMETRIC):
        rng = np.random.default_rng([seed, 1, k])
        rec = symmetric_records(spec, rng)
        name = f"{spec.cell_id}_cycling.csv"
        writer = write_flat_csv if spec.layout == "flat" else write_nested_csv
        start = START + pd.Timedelta(hours=2)
        written.append(writer(rec, out / name, start_time=str(start)))
        eis = f"{spec.cell_id}_PEIS_C0{k + 1}.mpt"
        written.append(write_peis_mpt(out / eis, spec, np.random.default_rng([seed, 2, k]), channel=k + 1))
        files[spec.cell_id] = [name, eis]
    for k, spec in enumerate(FULL):
        rng = np.random.default_rng([seed, 3, k])
        rec = full_records(spec, rng)
        name = f"{spec.cell_id}_cycling.csv"
        writer = write_flat_csv if spec.layout == "flat" else write_nested_csv
        written.append(writer(rec, out / name, start_time=str(START + pd.Timedelta(days=1))))
        files[spec.cell_id] = [name]
    p = PERIODIC_EIS
    name = f"{p.cell.cell_id}_cycling.csv"
    writer = write_flat_csv if p.cell.layout == "flat" else write_nested_csv
    started = START + pd.Timedelta(days=3)
    written.append(writer(periodic_eis_records(p, np.random.default_rng([seed, 5, 0])), out / name,
                          start_time=str(started)))
    eis = f"{p.cell.cell_id}_PEIS_C04.mpt"
    written.append(write_periodic_peis_mpt(out / eis, p, np.random.default_rng([seed, 5, 1]),
                                           channel=4, started=started))
    files[p.cell.cell_id] = [name, eis]
    for k, spec in enumerate(HALF):
        rng = np.random.default_rng([seed, 4, k])
        rec = half_records(spec, rng)
        name = f"{spec.cell_id}_cycling.csv"
        writer = write_flat_csv if spec.layout == "flat" else write_nested_csv
        written.append(writer(rec, out / name, start_time=str(START + pd.Timedelta(days=2))))
        files[spec.cell_id] = [name]
    text = _manifest_text(files).encode("utf-8")
    written.append(atomic_write(out / "experiment.toml", lambda tmp: tmp.write_bytes(text)))
    return written


def truth(seed: int = SEED, what: str = "cells") -> pd.DataFrame:
    """One row per sample cell with the values it was generated with (NaN where not applicable);
    with ``what="plateaus"``, one row per two-phase plateau of the half cells' first lithiation
    (:func:`half_plateau_truth`: cell_id, voltage_V, x_start, x_end, capacity_mAh, phase,
    equilibrium_voltage_V); with ``what="eis"``, one row per spectrum of the periodic-impedance
    cell (:func:`periodic_eis_schedule`: cell_id, spectrum, after_cycles, time_h at the start of
    its acquisition, R0_ohm, R_SEI_ohm, R_ct_ohm by PeriodicEISSpec's law).

    Columns: cell_id, cell_type, anode, protocol, file layout, nucleation_overpotential_mV,
    polarization_mV (mean over the half cycles before any short of the noise-free median |V| in
    20-80 % of each half cycle), initial_polarization_mV (the plateau at the start),
    failure_time_h (NaN: did not fail),
    test_duration_h, R0_ohm, R_SEI_ohm, R_ct_ohm, initial_discharge_capacity_mAh_g,
    discharge_capacity_cycle30_mAh_g, discharge_capacity_last_mAh_g, retention_cycle,
    capacity_retention_pct (discharge capacity at retention_cycle / cycle 1), active_mass_mg
    (full cells: cathode active material; half cells: the Ag host), x_max (half cells: Li per Ag
    at the end of the first lithiation), end_phase, n_plateaus.
    """
    if what not in ("cells", "plateaus", "eis"):
        raise ValueError(f"what must be 'cells', 'plateaus' or 'eis', not {what!r}")
    rows = []
    for s in SYMMETRIC:
        rows.append({"cell_id": s.cell_id, "cell_type": "symmetric", "anode": s.phase, "protocol": s.protocol,
                     "layout": s.layout, "nucleation_overpotential_mV": s.eta_mV,
                     "polarization_mV": plateau_truth_mV(s),
                     "initial_polarization_mV": s.polarization_mV,
                     "failure_time_h": np.nan if s.short_h is None else s.short_h,
                     "test_duration_h": s.duration_h + REST_S / 3600.0,
                     "R0_ohm": s.r0_ohm, "R_SEI_ohm": s.r_sei_ohm, "R_ct_ohm": s.r_ct_ohm})
    for k, s in enumerate(FULL):
        qd = discharge_capacities(s, np.random.default_rng([seed, 3, k]))
        rows.append({"cell_id": s.cell_id, "cell_type": "full", "anode": s.phase, "protocol": s.protocol,
                     "layout": s.layout, "initial_discharge_capacity_mAh_g": qd[0],
                     "discharge_capacity_cycle30_mAh_g": qd[29] if s.n_cycles >= 30 else np.nan,
                     "discharge_capacity_last_mAh_g": qd[-1], "retention_cycle": s.n_cycles,
                     "capacity_retention_pct": 100 * qd[-1] / qd[0], "active_mass_mg": ACTIVE_MASS_MG})
    s = PERIODIC_EIS.cell
    n_rests = int((PERIODIC_EIS.n_spectra - 1))
    rows.append({"cell_id": s.cell_id, "cell_type": "symmetric", "anode": s.phase, "protocol": s.protocol,
                 "layout": s.layout, "nucleation_overpotential_mV": s.eta_mV,
                 "polarization_mV": plateau_truth_mV(s), "initial_polarization_mV": s.polarization_mV,
                 "failure_time_h": np.nan,
                 "test_duration_h": s.duration_h + (REST_S + n_rests * EIS_REST_S) / 3600.0,
                 "R0_ohm": s.r0_ohm, "R_SEI_ohm": s.r_sei_ohm, "R_ct_ohm": s.r_ct_ohm})
    for s in HALF:
        rows.append({"cell_id": s.cell_id, "cell_type": "half", "anode": s.phase, "protocol": s.protocol,
                     "layout": s.layout, "active_mass_mg": s.host_mass_mg, "x_max": s.x_target,
                     "end_phase": s.phase, "n_plateaus": len(half_plateau_truth(s))})
    if what == "plateaus":
        return pd.concat([half_plateau_truth(s) for s in HALF], ignore_index=True)
    if what == "eis":
        sched = periodic_eis_schedule(PERIODIC_EIS)
        sched.insert(0, "cell_id", PERIODIC_EIS.cell.cell_id)
        sched.insert(3, "time_h", sched.pop("start_s") / 3600.0)
        return sched
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="Write the sample data set (the paper's cells) in the "
                                 "instruments' formats, with an experiment.toml.")
    ap.add_argument("out", nargs="?", default="sample_data", help="output folder (default sample_data)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    a = ap.parse_args(argv)
    paths = generate(a.out, a.seed)
    total = sum(p.stat().st_size for p in paths)
    for p in paths:
        print(f"{p.stat().st_size / 1e3:9.1f} kB  {p}")
    print(f"{total / 1e6:9.2f} MB  in {len(paths)} files")
    return 0

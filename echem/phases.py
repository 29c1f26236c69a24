"""Alloy phases from half cells: Li content by Coulomb counting, two-phase plateaus, and the DFT
phase each plateau belongs to (paper, Fig. 1a; DESIGN.md, "Half cells").

In a Li | host half cell (Li | LPSC | Ag) the voltage is that of the host electrode against Li/Li+,
and the host is lithiated on discharge (reduction at the working electrode, negative current in
the common schema). Coulomb counting gives the Li per host atom,

    x = Q / (F n_host),   n_host = m_host / M_host,

and a two-phase region of the phase diagram shows as a plateau: V nearly constant over a range of
x, a peak in dQ/dV. :func:`identify` finds the plateaus of the first lithiation (and of the first
delithiation after it) and names each by the phase whose DFT voltage is nearest (``dft.voltage``:
Ag 0.342, LiAg 0.230, Li9Ag4 0.121, Li4Ag 0.091, Li9Ag 0.030 V; the paper's one voltage per
phase, that of the reaction turning it into the next richer phase). :func:`compare_to_dft` puts
the measured plateaus beside the predicted ones, a row per phase. :func:`operating_window` says
which phases an alloy anode passes through in a full cell against the paper's recommended
windows (Fig. 5h: within Li4Ag, 409 mAh/g; from Li9Ag4 to Li4Ag, 696 mAh/g).

Pure functions over a DataFrame in the common schema; results are dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from echem.errors import EchemError

if TYPE_CHECKING:
    from dft.voltage import StepProfile

__all__ = ["PLATEAU_COLUMNS", "PhaseMap", "identify", "find_plateaus", "dq_dv", "compare_to_dft",
           "WindowCheck", "operating_window", "RECOMMENDED_WINDOWS"]

#: the columns of :attr:`PhaseMap.plateaus`
PLATEAU_COLUMNS = ["voltage_V", "x_start", "x_end", "capacity_mAh", "phase", "dft_voltage_V",
                   "delta_mV"]

#: the paper's recommended operating windows of an alloy anode (Fig. 5h): name, the phases the
#: anode stays in, and the key of the window's capacity (mAh per g host) in the dft data file
RECOMMENDED_WINDOWS = {
    "Li-Ag": (("within Li4Ag", ("Li4Ag",), "practical_capacity_Li4Ag_mAh_g"),
              ("Li9Ag4 to Li4Ag", ("Li9Ag4", "Li4Ag"), "practical_capacity_Li9Ag4_to_Li4Ag_mAh_g")),
}


def _dft(system: str):
    import dft
    import dft.voltage
    try:
        ps = dft.load(system)
    except dft.DFTDataError as exc:
        raise EchemError(f"alloy system {system!r}: {exc}") from exc
    if ps.host not in ps.molar_mass_g_mol:
        raise EchemError(f"alloy system {system!r}: the dft data file gives no molar mass of "
                         f"the host {ps.host}", ps.path)
    return ps, dft.voltage.phase_voltages(ps), dft.voltage.voltage_profile(ps)


def _n_host_mol(host_mass_mg: float, molar_mass_g_mol: float) -> float:
    try:
        m = float(host_mass_mg)
    except (TypeError, ValueError):
        raise EchemError(f"host_mass_mg must be a number (mg of host, e.g. Ag), got {host_mass_mg!r}")
    if not np.isfinite(m) or m <= 0:
        raise EchemError(f"host_mass_mg must be a positive number of mg, got {host_mass_mg!r}")
    return m / 1000.0 / molar_mass_g_mol


# ---------------------------------------------------------------------------------------------
# plateaus of one branch


def find_plateaus(x, voltage_V, *, slope_max_V=0.02, min_width_x=0.15, window_x=None):
    """Two-phase plateaus of one lithiation or delithiation branch.

    ``x``: Li per host atom of each record; ``voltage_V``: its voltage. The curve is put on a
    uniform x grid and dV/dx is taken with a Savitzky-Golay filter (quadratic, over ``window_x``
    Li per host; default max(0.06, 9 record spacings)), which keeps the corners at the ends of a
    plateau sharp to about half a window. A plateau is a run of |dV/dx| < ``slope_max_V`` (V per
    Li per host atom) at least ``min_width_x`` wide; two runs split by less than a window with
    the same voltage (within 3 mV) are one. Its voltage is the median voltage of the records in
    the middle 80 % of the run.

    Returns (DataFrame with voltage_V, x_start, x_end (x_start < x_end), curve DataFrame with
    x, voltage_V, dV_dx_V on the grid)."""
    from scipy.signal import savgol_filter
    x = np.asarray(x, float)
    v = np.asarray(voltage_V, float)
    ok = np.isfinite(x) & np.isfinite(v)
    x, v = x[ok], v[ok]
    empty = pd.DataFrame({"voltage_V": [], "x_start": [], "x_end": []})
    no_curve = pd.DataFrame({"x": [], "voltage_V": [], "dV_dx_V": []})
    if x.size < 5:
        return empty, no_curve
    order = np.argsort(x, kind="stable")
    x, v = x[order], v[order]
    steps = np.diff(x)
    span = x[-1] - x[0]
    if span <= 0:
        return empty, no_curve
    dx_med = float(np.median(steps[steps > 0]))
    h = max(dx_med, span / 20000.0)
    grid = np.arange(x[0], x[-1] + 0.5 * h, h)
    # np.interp needs increasing x: records at the same x are averaged
    ux, inv = np.unique(x, return_inverse=True)
    uv = np.bincount(inv, v) / np.bincount(inv)
    vg = np.interp(grid, ux, uv)
    w = float(window_x) if window_x is not None else max(0.06, 9 * dx_med)
    n = max(5, int(round(w / h)) // 2 * 2 + 1)
    if n > grid.size:
        n = grid.size if grid.size % 2 else grid.size - 1
    if n < 5:
        return empty, pd.DataFrame({"x": grid, "voltage_V": vg, "dV_dx_V": np.gradient(vg, h)})
    dvdx = savgol_filter(vg, n, 2, deriv=1, delta=h, mode="interp")
    curve = pd.DataFrame({"x": grid, "voltage_V": vg, "dV_dx_V": dvdx})

    flat = np.abs(dvdx) < slope_max_V
    edges = np.diff(np.concatenate([[0], flat.astype(np.int8), [0]]))
    runs = list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))

    def level(a, b):
        return float(np.median(vg[a:b + 1]))

    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (grid[a] - grid[merged[-1][1]]) < w and \
                abs(level(a, b) - level(*merged[-1])) < 0.003:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    rows = []
    for a, b in merged:
        if grid[b] - grid[a] < min_width_x:
            continue
        pad = 0.1 * (grid[b] - grid[a])
        sel = (x >= grid[a] + pad) & (x <= grid[b] - pad)
        if sel.sum() < 3:
            continue
        volt = float(np.median(v[sel]))
        # the ends: the smoothed slope puts them up to half a window inside the plateau; move
        # each outwards while the curve stays on the plateau's line (within 4 noise SDs, >= 1 mV)
        slope, icpt = np.polyfit(x[sel], v[sel], 1)
        resid = v[sel] - (icpt + slope * x[sel])
        tol = max(0.001, 4 * 1.4826 * float(np.median(np.abs(resid - np.median(resid)))))
        off = np.abs(vg - (icpt + slope * grid)) > tol
        before = np.flatnonzero(off[:a])
        after = np.flatnonzero(off[b + 1:])
        a2 = before[-1] + 1 if before.size else 0
        b2 = b + after[0] if after.size else grid.size - 1
        rows.append({"voltage_V": volt, "x_start": float(grid[min(a, a2)]),
                     "x_end": float(grid[max(b, b2)])})
    return (pd.DataFrame(rows) if rows else empty), curve


def dq_dv(voltage_V, charge_mAh, bin_V=0.001):
    """Differential capacity dQ/dV (mAh/V) of one branch by binning: the charge passed between
    consecutive records is put in the voltage bin (``bin_V`` wide) of their mean voltage, then
    smoothed with a 1-2-1 kernel. A plateau lands in a bin or two, so it stays a sharp peak.

    ``charge_mAh``: cumulative charge of each record (either sign; the result has the sign of
    its increments). Returns a DataFrame with voltage_V (bin centres) and dQ_dV_mAh_V."""
    v = np.asarray(voltage_V, float)
    q = np.asarray(charge_mAh, float)
    ok = np.isfinite(v) & np.isfinite(q)
    v, q = v[ok], q[ok]
    if v.size < 2:
        return pd.DataFrame({"voltage_V": [], "dQ_dV_mAh_V": []})
    vm = 0.5 * (v[1:] + v[:-1])
    dq = np.diff(q)
    lo = np.floor(vm.min() / bin_V) * bin_V
    hi = np.ceil(vm.max() / bin_V) * bin_V + bin_V
    edges = np.arange(lo, hi + 0.5 * bin_V, bin_V)
    hist, edges = np.histogram(vm, edges, weights=dq)
    # the 1-2-1 kernel spreads into a bin more at each end: the charge is kept whole
    hist = np.convolve(np.pad(hist, 1), [0.25, 0.5, 0.25], mode="same") / bin_V
    centres = np.concatenate([[edges[0] - 0.5 * bin_V], 0.5 * (edges[1:] + edges[:-1]),
                              [edges[-1] + 0.5 * bin_V]])
    return pd.DataFrame({"voltage_V": centres, "dQ_dV_mAh_V": hist})


# ---------------------------------------------------------------------------------------------
# the half cell


@dataclass(frozen=True)
class PhaseMap:
    """The phases a half cell's host went through.

    ``plateaus``: two-phase plateaus of the first lithiation, one row each with
    :data:`PLATEAU_COLUMNS`: voltage_V (measured, V vs Li/Li+), x_start and x_end (Li per host
    atom, x_start < x_end), capacity_mAh (charge of the plateau), phase (the phase whose DFT voltage
    is nearest), dft_voltage_V and delta_mV (measured minus DFT, mV).
    ``delithiation_plateaus``: the same for the first delithiation after it (empty if none).
    ``x_max``: Li per host atom at the end of the first lithiation; ``end_phase``: the phase whose
    composition is nearest to it. ``x_cycling``: (min, max) x after the first lithiation.
    ``curve``: every record of the two branches: branch (lithiation, delithiation), time_s, x,
    voltage_V, charge_mAh (cumulative within the branch), dV_dx_V (smoothed, V per Li per host).
    ``dqdv``: branch, voltage_V, dQ_dV_mAh_V (negative on lithiation, a reduction).
    ``dft``: the phases with their x and DFT voltage (``dft.voltage.phase_voltages``);
    ``profile``: the DFT staircase (``dft.voltage.StepProfile``)."""

    system: str
    host: str
    host_mass_mg: float
    n_host_mol: float
    plateaus: pd.DataFrame
    delithiation_plateaus: pd.DataFrame
    x_max: float
    end_phase: str
    x_cycling: tuple[float, float]
    curve: pd.DataFrame
    dqdv: pd.DataFrame
    dft: pd.DataFrame
    profile: StepProfile
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> dict:
        """The per-cell numbers: x_max, end_phase, n_plateaus, and per lithiation plateau
        ``plateau_<phase>_V`` and ``plateau_<phase>_delta_mV`` (the widest where several)."""
        out = {"host_mass_mg": self.host_mass_mg, "x_max": self.x_max, "end_phase": self.end_phase,
               "n_plateaus": int(len(self.plateaus))}
        p = self.plateaus.assign(width=self.plateaus["x_end"] - self.plateaus["x_start"])
        for phase, g in p.sort_values("width", ascending=False).groupby("phase", sort=False):
            out[f"plateau_{phase}_V"] = float(g["voltage_V"].iloc[0])
            out[f"plateau_{phase}_delta_mV"] = float(g["delta_mV"].iloc[0])
        return out


def _label(table: pd.DataFrame, pv: pd.DataFrame) -> pd.DataFrame:
    dv = pv["voltage_V"].to_numpy(float)
    names = list(pv.index)
    if len(table) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object" if c == "phase" else "float64")
                             for c in PLATEAU_COLUMNS})
    meas = table["voltage_V"].to_numpy(float)
    k = np.argmin(np.abs(meas[:, None] - dv[None, :]), axis=1)
    out = table.copy()
    out["phase"] = [names[i] for i in k]
    out["dft_voltage_V"] = dv[k]
    out["delta_mV"] = (meas - dv[k]) * 1000.0
    return out[PLATEAU_COLUMNS].reset_index(drop=True)


def _branches(p, lith_sign: int):
    """Groups of consecutive non-rest steps of one direction: [(direction, [step positions])]."""
    d = p.steps["direction"].to_numpy()
    groups: list[tuple[int, list[int]]] = []
    for k, dk in enumerate(d):
        if dk == 0:
            continue
        dk = 1 if dk == -lith_sign else -1       # -1: lithiation, +1: delithiation
        if groups and groups[-1][0] == dk:
            groups[-1][1].append(k)
        else:
            groups.append((dk, [k]))
    return groups


def identify(data: pd.DataFrame, host_mass_mg: float, system: str = "Li-Ag", *, x0: float = 0.0,
             lithiation_current_sign: int = -1, slope_max_V: float = 0.02,
             min_width_x: float = 0.15, window_x: float | None = None) -> PhaseMap:
    """Which alloy phases a half cell's host electrode went through (DESIGN.md, "Half cells").

    ``data``: a half cell's cycling records in the common schema (time_s, voltage_V and
    current_mA or capacity_mAh with step_type), the voltage that of the host vs Li/Li+;
    ``host_mass_mg``: mass of the host (mg of Ag); ``system``: a ``dft`` alloy system;
    ``x0``: Li per host atom at the start of the data (0 for a pristine foil);
    ``lithiation_current_sign``: the sign of the current while the host takes up Li (-1: the host
    is the working electrode, lithiated on discharge). The charge is the instrument's capacity
    count (or the current integrated), x = Q / (F n_host). The plateau search is
    :func:`find_plateaus` (``slope_max_V``, ``min_width_x``, ``window_x``)."""
    from echem import cycling
    from dft.voltage import charge_to_x, x_to_charge_mAh
    if lithiation_current_sign not in (-1, 1):
        raise EchemError(f"lithiation_current_sign must be -1 or +1, got {lithiation_current_sign!r}")
    ps, pv, profile = _dft(system)
    m_host = ps.molar_mass_g_mol[ps.host]
    n_host = _n_host_mol(host_mass_mg, m_host)
    p = cycling.prepare(data)
    groups = _branches(p, lithiation_current_sign)
    if not any(g[0] == -1 for g in groups):
        raise EchemError("no lithiation in the data: no step with current of sign "
                         f"{lithiation_current_sign:+d} (lithiation_current_sign); is this a half "
                         "cell with the host as working electrode?")
    # signed charge into the host, row by row (the steps' own capacity counts)
    step_of_row = p.row_step()
    dq = np.zeros(p.t.size)
    cap = np.where(np.isfinite(p.cap), p.cap, 0.0)
    dq[1:] = cap[1:] - cap[:-1]
    dq[p.starts] = cap[p.starts]
    direction = p.steps["direction"].to_numpy()[step_of_row]
    sign = np.where(direction == -lithiation_current_sign, -1.0,
                    np.where(direction == lithiation_current_sign, 1.0, 0.0))
    q_host = np.cumsum(dq * sign)                        # mAh into the host since the start
    x_all = x0 + charge_to_x(q_host, host_mass_mg, m_host)

    first = next(i for i, g in enumerate(groups) if g[0] == -1)
    pieces, curves, dqdvs, tables = [], [], [], {}
    warnings: list[str] = []
    for name, gi in (("lithiation", first), ("delithiation", first + 1)):
        if gi >= len(groups):
            tables[name] = _label(pd.DataFrame(), pv)
            continue
        rows = np.concatenate([np.arange(p.starts[k], p.ends[k]) for k in groups[gi][1]])
        xb, vb = x_all[rows], p.v[rows]
        qb = np.abs(q_host[rows] - (q_host[rows[0]] - dq[rows[0]] * sign[rows[0]]))
        found, grid = find_plateaus(xb, vb, slope_max_V=slope_max_V, min_width_x=min_width_x,
                                    window_x=window_x)
        if len(found):
            found["capacity_mAh"] = x_to_charge_mAh(found["x_end"] - found["x_start"],
                                                    host_mass_mg, m_host)
        tables[name] = _label(found, pv)
        dvdx = (np.interp(xb, grid["x"], grid["dV_dx_V"]) if len(grid) else np.full(xb.size, np.nan))
        curves.append(pd.DataFrame({"branch": name, "time_s": p.t[rows], "x": xb, "voltage_V": vb,
                                    "charge_mAh": qb, "dV_dx_V": dvdx}))
        d = dq_dv(vb, qb * (-1.0 if name == "lithiation" else 1.0))
        d.insert(0, "branch", name)
        dqdvs.append(d)
        pieces.append(rows)
    lith_rows = pieces[0]
    x_max = float(x_all[lith_rows[-1]])
    after = x_all[lith_rows[-1]:]
    x_cycling = (float(np.min(after)), float(np.max(after)))
    comp = pv["guest_per_host"].to_numpy(float)
    end_phase = str(pv.index[int(np.argmin(np.abs(np.where(np.isfinite(comp), comp, 1e9) - x_max)))])
    if len(tables["lithiation"]) == 0:
        warnings.append("no two-phase plateau found in the first lithiation")
    dupl = tables["lithiation"]["phase"].duplicated(keep=False)
    if dupl.any():
        warnings.append("several lithiation plateaus nearest the DFT voltage of "
                        + ", ".join(sorted(set(tables["lithiation"]["phase"][dupl]))))
    return PhaseMap(system=ps.system, host=ps.host, host_mass_mg=float(host_mass_mg),
                    n_host_mol=n_host, plateaus=tables["lithiation"],
                    delithiation_plateaus=tables["delithiation"], x_max=x_max,
                    end_phase=end_phase, x_cycling=x_cycling,
                    curve=pd.concat(curves, ignore_index=True),
                    dqdv=pd.concat(dqdvs, ignore_index=True), dft=pv, profile=profile,
                    warnings=tuple(warnings))


def compare_to_dft(phase_map: PhaseMap) -> pd.DataFrame:
    """The DFT cross-reference of a half cell: a row per phase with a plateau in the DFT staircase
    (Ag, LiAg, Li9Ag4, Li4Ag, Li9Ag for Li-Ag) - phase, reaction, dft_voltage_V (paper, Fig. 1a),
    dft_x_start and dft_x_end (the compositions the reaction joins), measured_voltage_V, x_start,
    x_end and capacity_mAh of the lithiation plateau labelled with the phase (the widest if
    several; NaN if none), delta_mV (measured minus DFT), delithiation_voltage_V (NaN if none)
    and source (of the DFT voltage)."""
    prof = phase_map.profile.table()
    lith = phase_map.plateaus.sort_values("capacity_mAh", ascending=False)
    deli = phase_map.delithiation_plateaus.sort_values("capacity_mAh", ascending=False)
    rows = []
    for _, s in prof.iterrows():
        m = lith[lith["phase"] == s["phase"]]
        dm = deli[deli["phase"] == s["phase"]]
        hit = m.iloc[0] if len(m) else None
        rows.append({
            "phase": s["phase"], "reaction": s["reaction"], "dft_voltage_V": s["voltage_V"],
            "dft_x_start": s["x_start"], "dft_x_end": s["x_end"],
            "measured_voltage_V": np.nan if hit is None else hit["voltage_V"],
            "x_start": np.nan if hit is None else hit["x_start"],
            "x_end": np.nan if hit is None else hit["x_end"],
            "capacity_mAh": np.nan if hit is None else hit["capacity_mAh"],
            "delta_mV": np.nan if hit is None else hit["delta_mV"],
            "delithiation_voltage_V": dm.iloc[0]["voltage_V"] if len(dm) else np.nan,
            "source": phase_map.dft.at[s["phase"], "source"],
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# full cell: the anode's operating window


@dataclass(frozen=True)
class WindowCheck:
    """Which phases an alloy anode passes through in a full cell (paper, Fig. 5h).

    ``x_discharged``/``x_charged``: Li per host atom in the discharged and charged cell;
    ``capacity_used_mAh_g``: the cathode's charge per g of host (the unit of the paper's window
    capacities); ``phases``: the phases the anode passes through, by increasing x;
    ``reactions``: the DFT two-phase reactions whose x range the cycling overlaps;
    ``windows``: a row per recommended window - window, phases, capacity_mAh_g (paper), within;
    ``within``: the names of the windows the cycling stays in; ``verdict``: one sentence."""

    x_discharged: float
    x_charged: float
    capacity_used_mAh_g: float
    phases: tuple[str, ...]
    reactions: tuple[str, ...]
    windows: pd.DataFrame
    within: tuple[str, ...]
    verdict: str


def _regions(pv: pd.DataFrame, lo: float, hi: float) -> list[str]:
    """Phases whose composition region (between the midpoints to the neighbouring phases'
    compositions) overlaps [lo, hi]."""
    comp = pv["guest_per_host"].to_numpy(float)
    names = list(pv.index)
    fin = np.isfinite(comp)
    comp, names = comp[fin], [n for n, f in zip(names, fin) if f]
    mids = 0.5 * (comp[1:] + comp[:-1])
    left = np.concatenate([[-np.inf], mids])
    right = np.concatenate([mids, [np.inf]])
    return [n for n, a, b in zip(names, left, right) if (a < hi and b > lo) or a <= lo < b]


def operating_window(cathode_capacity_mAh: float, *, host_mass_mg: float | None = None,
                     anode_capacity_mAh: float | None = None, anode_phase: str = "Li4Ag",
                     x_discharged: float | None = None, system: str = "Li-Ag") -> WindowCheck:
    """The phases an alloy anode passes through when the cathode's charge moves in and out of it,
    against the paper's recommended windows (Fig. 5h; capacities from the dft data file).

    ``cathode_capacity_mAh``: charge exchanged per cycle (mAh; with areal values, pass mAh/cm2
    for both this and ``anode_capacity_mAh``); the host is given by ``host_mass_mg`` (mg of Ag)
    or by ``anode_capacity_mAh``, the Li the anode holds in the discharged cell (n_host = Q_a /
    (F x_discharged)). ``x_discharged``: Li per host atom of the discharged anode (default: the
    composition of ``anode_phase``). The anode goes from x_discharged to x_discharged + Q_c /
    (F n_host) on charge. The phase regions are bounded by the midpoints between neighbouring
    compositions (the paper gives the solid solutions' capacities, not their bounds): a window
    holds if the anode stays in the window's phases and uses no more than its capacity."""
    from dft.voltage import FARADAY_C_MOL
    ps, pv, profile = _dft(system)
    m_host = ps.molar_mass_g_mol[ps.host]
    if x_discharged is None:
        if anode_phase not in pv.index:
            raise EchemError(f"{system}: unknown anode phase {anode_phase!r}; phases: "
                             f"{', '.join(pv.index)}")
        x_discharged = float(pv.at[anode_phase, "guest_per_host"])
    x_discharged = float(x_discharged)
    q_c = float(cathode_capacity_mAh)
    if not np.isfinite(q_c) or q_c <= 0:
        raise EchemError(f"cathode_capacity_mAh must be positive, got {cathode_capacity_mAh!r}")
    if host_mass_mg is not None:
        n_host = _n_host_mol(host_mass_mg, m_host)
    elif anode_capacity_mAh is not None:
        q_a = float(anode_capacity_mAh)
        if not np.isfinite(q_a) or q_a <= 0 or x_discharged <= 0:
            raise EchemError("anode_capacity_mAh must be positive and the discharged anode must "
                             f"hold Li (x_discharged = {x_discharged:g}) to give the host amount")
        n_host = q_a * 3.6 / (FARADAY_C_MOL * x_discharged)
    else:
        raise EchemError("give host_mass_mg (mg of host) or anode_capacity_mAh")
    dx = q_c * 3.6 / (FARADAY_C_MOL * n_host)
    x_charged = x_discharged + dx
    used = q_c / (n_host * m_host)                       # mAh per g host
    phases = tuple(_regions(pv, x_discharged, x_charged))
    prof = profile.table()
    reactions = tuple(prof["reaction"][(prof["x_start"] < x_charged) & (prof["x_end"] > x_discharged)])
    rows = []
    for name, wphases, key in RECOMMENDED_WINDOWS.get(ps.system, ()):
        cap = float(ps.values[key].value) if key in ps.values else np.nan
        ok = set(phases) <= set(wphases) and used <= cap
        rows.append({"window": name, "phases": " + ".join(wphases), "capacity_mAh_g": cap,
                     "within": bool(ok)})
    windows = pd.DataFrame(rows, columns=["window", "phases", "capacity_mAh_g", "within"])
    within = tuple(windows["window"][windows["within"]])
    where = f"x {x_discharged:.2f} to {x_charged:.2f} ({' -> '.join(phases)}), {used:.0f} mAh/g"
    if not len(windows):
        verdict = f"{where}; no recommended window known for {ps.system}"
    elif within:
        verdict = f"{where}: within the recommended window {within[0]}"
    else:
        verdict = f"{where}: outside the recommended windows (" + "; ".join(
            f"{r.window}: {r.capacity_mAh_g:g} mAh/g" for r in windows.itertuples()) + ")"
    return WindowCheck(x_discharged, x_charged, used, phases, reactions, windows, within, verdict)

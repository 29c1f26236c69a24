"""Voltage against Li content: what the phase data imply for a lithiation curve.

For an alloy host (Ag), a phase Li_a Ag_b holds x = a / b Li per host atom (LiAg 1, Li9Ag4 2.25,
Li4Ag 4, Li9Ag 9, Ag 0). Between two neighbouring phases the electrode is two-phase and its
voltage stays at one value (a plateau); the paper gives one voltage per phase (Fig. 1a, eq. S2),
the voltage of the reaction that turns the phase into the next richer one (the convention
:func:`dft.properties.convex_hull_voltages` reproduces: Ag -> LiAg at 0.342 V, LiAg -> Li9Ag4 at
0.230 V, ...). So the equilibrium lithiation curve is a staircase:

    x:  0 ---- 1 ------ 2.25 ------ 4 ------- 9 ------>
    V:   0.342   0.230      0.121     0.091     0.030   (V vs Li/Li+)

:func:`phase_voltages` gives each phase's x and voltage with its source, :func:`voltage_profile`
the staircase, :func:`hull_profile` the staircase from formation energies where a data file gives
them (the Li-Ag paper gives its formation energies only as a figure, so the Li-Ag file has none).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dft.phases import DFTDataError, PhaseSet, load

__all__ = ["FARADAY_C_MOL", "StepProfile", "phase_voltages", "voltage_profile", "hull_profile",
           "guest_per_host", "charge_to_x", "x_to_charge_mAh"]

#: Faraday constant, C/mol (CODATA 2018, exact)
FARADAY_C_MOL = 96485.33212


def _phase_set(system: str | PhaseSet) -> PhaseSet:
    return system if isinstance(system, PhaseSet) else load(system)


def guest_per_host(formula: dict[str, float], guest: str = "Li", host: str = "Ag") -> float:
    """Li per host atom of a formula given as atom counts, e.g. ``{"Li": 9, "Ag": 4}`` -> 2.25
    (inf for the pure guest)."""
    n_guest, n_host = float(formula.get(guest, 0.0)), float(formula.get(host, 0.0))
    if n_guest < 0 or n_host < 0 or n_guest + n_host <= 0:
        raise ValueError(f"formula {formula!r}: atom counts must be >= 0 and not both 0")
    return n_guest / n_host if n_host else math.inf


def phase_voltages(system: str | PhaseSet = "Li-Ag") -> pd.DataFrame:
    """The phases of ``system`` with a DFT voltage, by increasing Li content.

    Index: phase; columns ``label`` (alpha, beta, ...), ``guest_per_host`` (x, Li per host atom
    from the formula; inf for the pure guest), ``voltage_V`` (vs Li/Li+, paper Fig. 1a, eq. S2)
    and ``source``."""
    ps = _phase_set(system)
    if "voltage_V" not in ps.table:
        raise DFTDataError(f"{ps.system}: the data file gives no voltage_V", ps.path)
    t = ps.table[["label", "guest_per_host", "voltage_V"]].copy()
    t["source"] = ps.sources["voltage_V"]
    t = t[t["voltage_V"].notna()].sort_values("guest_per_host", kind="stable")
    t["voltage_V"] = t["voltage_V"].astype(float)
    return t


@dataclass(frozen=True)
class StepProfile:
    """An equilibrium lithiation curve made of plateaus.

    ``x``: breakpoints in Li per host atom, ascending, one more than the plateaus (the last may
    be inf); ``voltage_V``: the plateau between ``x[i]`` and ``x[i + 1]``; ``phase``: the phase whose
    voltage it is (the poorer end); ``reaction``: e.g. ``"Ag -> LiAg"``."""

    system: str
    x: np.ndarray
    voltage_V: np.ndarray
    phase: tuple[str, ...]
    reaction: tuple[str, ...]

    def at(self, x) -> np.ndarray:
        """Voltage (V) of the staircase at Li content ``x`` (NaN outside it); at a breakpoint
        the richer plateau's voltage."""
        x = np.asarray(x, float)
        i = np.searchsorted(self.x, x, side="right") - 1
        ok = (i >= 0) & (i < len(self.voltage_V))
        out = np.full(x.shape, np.nan)
        out[ok] = self.voltage_V[i[ok]]
        return out

    def table(self) -> pd.DataFrame:
        """One row per plateau: phase, reaction, x_start, x_end, voltage_V."""
        return pd.DataFrame({"phase": self.phase, "reaction": self.reaction,
                             "x_start": self.x[:-1], "x_end": self.x[1:],
                             "voltage_V": self.voltage_V})


def voltage_profile(system: str | PhaseSet = "Li-Ag") -> StepProfile:
    """The staircase the data file's phase voltages imply: phase i (x_i Li per host) turns into
    phase i + 1 at phase i's voltage, from x_i to x_(i+1); the last alloy turns into the pure
    guest (x -> inf). The pure guest's own voltage (Li, 0 V) is where the guest plates."""
    pv = phase_voltages(system)
    pv = pv[np.isfinite(pv["guest_per_host"])]  # the pure guest is the end, not a plateau
    if len(pv) == 0:
        raise DFTDataError(f"{_phase_set(system).system}: no phase with a voltage and a host")
    names = list(pv.index)
    ps = _phase_set(system)
    x = np.append(pv["guest_per_host"].to_numpy(float), math.inf)
    nxt = names[1:] + [ps.guest]
    return StepProfile(ps.system, x, pv["voltage_V"].to_numpy(float), tuple(names),
                       tuple(f"{a} -> {b}" for a, b in zip(names, nxt)))


def hull_profile(system: str | PhaseSet = "Li-Ag",
                 energy: str = "formation_energy_eV_atom") -> StepProfile:
    """The staircase from the convex hull of the formation energies a data file gives (column
    ``energy``, eV per atom relative to the elements), with
    :func:`dft.properties.convex_hull_voltages` (average voltage between neighbouring hull
    phases); phases above the hull drop out. Raises LookupError when the file has no formation
    energies (the Li-Ag paper gives them only as a figure)."""
    from dft.properties import convex_hull_voltages
    ps = _phase_set(system)
    if energy not in ps.table or ps.table[energy].notna().sum() == 0:
        raise LookupError(f"{ps.system}: the data file gives no {energy} (the hull needs "
                          f"formation energies; {ps.path})")
    t = ps.table[ps.table[energy].notna()]
    hull = convex_hull_voltages(t["guest_fraction"].to_numpy(float), t[energy].to_numpy(float))
    fr = ps.table["guest_fraction"].to_numpy(float)
    names = []
    for xf in hull.guest_fraction:
        hit = np.flatnonzero(np.isclose(fr, xf, atol=1e-12))
        names.append(ps.table.index[hit[0]] if hit.size else
                     (ps.host if xf == 0 else ps.guest if xf == 1 else f"x={xf:g}"))
    st = hull.steps
    x = np.append(st["guest_per_host_start"].to_numpy(float), math.inf)
    return StepProfile(ps.system, x, st["voltage_V"].to_numpy(float), tuple(names[:-1]),
                       tuple(f"{a} -> {b}" for a, b in zip(names[:-1], names[1:])))


def charge_to_x(charge_mAh, host_mass_mg, host_molar_mass_g_mol):
    """Li per host atom from Coulomb counting: x = Q / (F n_host), with Q in mAh (3.6 C each)
    and n_host = m / M."""
    n = np.asarray(host_mass_mg, float) / 1000.0 / float(host_molar_mass_g_mol)
    return np.asarray(charge_mAh, float) * 3.6 / (FARADAY_C_MOL * n)


def x_to_charge_mAh(x, host_mass_mg, host_molar_mass_g_mol):
    """Charge (mAh) that moves ``x`` Li per host atom into ``host_mass_mg`` of host."""
    n = np.asarray(host_mass_mg, float) / 1000.0 / float(host_molar_mass_g_mol)
    return np.asarray(x, float) * FARADAY_C_MOL * n / 3.6

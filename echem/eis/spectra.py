"""Impedance spectra out of a Measurement, and their cleaning (NaNs, repeated frequencies, the
inductive tail, a frequency window). Frequencies in Hz, Z = Z' + j Z'' in ohm, times in s."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from echem.errors import FitError


@dataclass
class Spectrum:
    """One impedance spectrum: ``index`` (the schema's ``spectrum``, from 1), frequencies in Hz,
    complex impedance in ohm (Z' + j Z''), and ``time_s`` at its first point (NaN if unknown)."""

    index: int
    frequency_Hz: np.ndarray
    z: np.ndarray
    time_s: float


def spectra(data) -> list[Spectrum]:
    """The impedance spectra of a Measurement (or of a DataFrame in the common schema).

    Rows with a ``frequency_Hz`` (impedance rows) are grouped by ``spectrum``; rows without a
    spectrum number are treated as spectrum 1. Returns them in order of ``spectrum``; [] when the
    data has no impedance rows.
    """
    df = getattr(data, "data", data)
    need = ("frequency_Hz", "z_real_ohm", "z_imag_ohm")
    if not isinstance(df, pd.DataFrame) or not all(c in df.columns for c in need):
        return []
    rows = df[df["frequency_Hz"].notna()]
    if rows.empty:
        return []
    if "spectrum" in rows.columns:
        key = rows["spectrum"].astype("Float64").fillna(1).astype(int).to_numpy()
    else:
        key = np.ones(len(rows), dtype=int)
    out = []
    for k in np.unique(key):
        sel = rows[key == k]
        t = sel["time_s"].to_numpy(float) if "time_s" in sel.columns else np.array([np.nan])
        out.append(Spectrum(
            index=int(k),
            frequency_Hz=sel["frequency_Hz"].to_numpy(float),
            z=sel["z_real_ohm"].to_numpy(float) + 1j * sel["z_imag_ohm"].to_numpy(float),
            time_s=float(t[0]) if t.size else float("nan")))
    return out


@dataclass
class PreprocessReport:
    """What :func:`preprocess` dropped: counts per reason, and points in / out."""

    n_in: int
    n_out: int
    dropped: dict = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{n} {why}" for why, n in self.dropped.items() if n]
        return (f"kept {self.n_out} of {self.n_in} points"
                + (f"; dropped {', '.join(parts)}" if parts else ""))


def preprocess(frequency_Hz, z, *, drop_inductive=False, f_min_Hz=None, f_max_Hz=None):
    """Clean a spectrum; returns ``(frequency_Hz, z, report)``.

    Drops, in this order and counting each: points with a NaN/inf frequency or impedance,
    non-positive frequencies, repeated frequencies (the first measurement is kept), optionally
    the inductive high-frequency points (Z'' > 0 above the frequency of the capacitive apex, the
    most negative Z''), and points outside [f_min_Hz, f_max_Hz]. The order of the points is kept.
    """
    f = np.asarray(frequency_Hz, dtype=float).ravel()
    z = np.asarray(z, dtype=complex).ravel()
    if f.shape != z.shape:
        raise FitError(f"frequency ({f.size} points) and impedance ({z.size} points) differ in length")
    n_in = f.size
    dropped = {}

    def drop(mask, why):
        nonlocal f, z
        dropped[why] = int(np.count_nonzero(~mask))
        f, z = f[mask], z[mask]

    drop(np.isfinite(f) & np.isfinite(z.real) & np.isfinite(z.imag), "NaN or infinite")
    drop(f > 0, "non-positive frequency")
    _, first = np.unique(f, return_index=True)
    keep = np.zeros(f.size, dtype=bool)
    keep[first] = True
    drop(keep, "repeated frequency")
    if drop_inductive:
        if f.size and np.any(z.imag < 0):
            f_apex = f[np.argmin(z.imag)]
            drop(~((z.imag > 0) & (f > f_apex)), "inductive (Z'' > 0 at high frequency)")
        else:
            dropped["inductive (Z'' > 0 at high frequency)"] = 0
    if f_min_Hz is not None:
        drop(f >= f_min_Hz, f"below {f_min_Hz:g} Hz")
    if f_max_Hz is not None:
        drop(f <= f_max_Hz, f"above {f_max_Hz:g} Hz")
    return f, z, PreprocessReport(n_in=n_in, n_out=f.size, dropped=dropped)

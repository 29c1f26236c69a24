"""Impedance followed over a test: one row per spectrum of a measurement (a PEIS inside an EC-Lab
loop, EIS after every N cycles), with the circuit's resistances, the quality of the fit, the
Kramers-Kronig check and the largest peaks of the distribution of relaxation times."""
from __future__ import annotations

import math

import pandas as pd

from echem.eis.defaults import DEFAULT_CIRCUIT, KK_THRESHOLD
from echem.eis.drt import drt
from echem.eis.fit import circuit_setup, fit_spectra
from echem.eis.spectra import preprocess, spectra
from echem.errors import FitError


def track(data, circuit=DEFAULT_CIRCUIT, names=None, *, n_peaks=2, kk_threshold=KK_THRESHOLD,
          drop_inductive=None, f_min_Hz=None, f_max_Hz=None) -> pd.DataFrame:
    """Impedance over a test: one row per spectrum of ``data`` (a Measurement or a DataFrame in
    the common schema; its impedance rows, grouped by ``spectrum``), in order of ``spectrum``.

    Columns:

    - ``spectrum``; ``time_s``: the time (s) of the spectrum's first row (NaN when the data have
      no ``time_s``); ``cycle``: the cycle of its first row (only when the data have ``cycle``);
    - for each named parameter of the circuit (default: R_SEI = R1, R_ct = R2, paper Table S7)
      ``<name>_ohm`` and ``<name>_stderr_ohm`` (the fit's standard error; other named parameters
      without the unit); ``f_<name>_Hz``, the characteristic frequency of a named arc;
    - ``rel_rms`` (modulus-weighted relative RMS of the fit), ``success`` and ``message`` (why a
      fit is not trusted or failed);
    - ``kk_passed``, ``kk_max_residual`` (Lin-KK, :func:`kramers_kronig`, at ``kk_threshold``),
      ``kk_fail_f_min_Hz``/``kk_fail_f_max_Hz`` (the band where a failing spectrum fails, NaN
      when it passes);
    - the distribution of relaxation times (:func:`drt`): ``drt_lambda``, ``drt_R_inf_ohm``, and for
      its ``n_peaks`` largest peaks within the measured band, ordered by decreasing frequency
      (peak 1 the higher-frequency one, as R_SEI): ``drt_peak<k>_tau_s``, ``drt_peak<k>_f_Hz``,
      ``drt_peak<k>_R_ohm`` (NaN where the spectrum has fewer peaks).

    The spectra are cleaned and fitted as :func:`fit_spectra` does (each warm-started from the
    previous one); a spectrum that cannot be fitted keeps its row with NaNs and the reason.
    """
    c, names, drop_inductive = circuit_setup(circuit, names, drop_inductive)
    df = getattr(data, "data", data)
    specs = spectra(df)
    fits = fit_spectra(specs, c.text, names, drop_inductive=drop_inductive, f_min_Hz=f_min_Hz,
                       f_max_Hz=f_max_Hz, kk_threshold=kk_threshold)
    cycles = _first_cycles(df)
    kind = dict(zip(c.param_names, c.kinds))
    rows = []
    for sp, item in zip(specs, fits):
        row = {"spectrum": sp.index, "time_s": sp.time_s}
        if cycles is not None:
            row["cycle"] = cycles.get(sp.index, pd.NA)
        res = item.fit
        for param, name in names.items():
            unit = "_ohm" if kind[param] == "R" else ""
            value, err = res.named[name] if res is not None else (math.nan, math.nan)
            row[f"{name}{unit}"] = value
            row[f"{name}_stderr{unit}"] = err
            if res is not None and name in res.f_char_Hz:
                row[f"f_{name}_Hz"] = res.f_char_Hz[name]
        row["rel_rms"] = res.rel_rms if res is not None else math.nan
        row["success"] = bool(res is not None and res.success)
        row["message"] = item.message
        row["kk_passed"] = bool(item.kk.passed) if item.kk is not None else False
        row["kk_max_residual"] = item.kk.max_residual if item.kk is not None else math.nan
        band = (item.kk.fail_band_Hz if item.kk is not None else None) or (math.nan, math.nan)
        row["kk_fail_f_min_Hz"], row["kk_fail_f_max_Hz"] = band
        row.update(_drt_columns(sp, n_peaks, drop_inductive, f_min_Hz, f_max_Hz))
        rows.append(row)
    out = pd.DataFrame(rows)
    if cycles is not None and not out.empty:
        out["cycle"] = out["cycle"].astype("Int64")
    return out


def _first_cycles(df):
    """{spectrum: cycle of its first impedance row}, or None when the data have no cycle."""
    if not isinstance(df, pd.DataFrame) or "cycle" not in df.columns or "frequency_Hz" not in df.columns:
        return None
    rows = df[df["frequency_Hz"].notna()]
    if "spectrum" in rows.columns:
        key = rows["spectrum"].astype("Float64").fillna(1).astype(int)
    else:
        key = pd.Series(1, index=rows.index)
    first = rows["cycle"].groupby(key.to_numpy()).first()
    return {int(k): (int(v) if pd.notna(v) else pd.NA) for k, v in first.items()}


def _drt_columns(sp, n_peaks, drop_inductive, f_min_Hz, f_max_Hz) -> dict:
    out = {"drt_lambda": math.nan, "drt_R_inf_ohm": math.nan}
    for k in range(1, n_peaks + 1):
        out.update({f"drt_peak{k}_tau_s": math.nan, f"drt_peak{k}_f_Hz": math.nan,
                    f"drt_peak{k}_R_ohm": math.nan})
    f, z, _ = preprocess(sp.frequency_Hz, sp.z, drop_inductive=drop_inductive,
                         f_min_Hz=f_min_Hz, f_max_Hz=f_max_Hz)
    try:
        d = drt(f, z)
    except FitError:
        return out
    out["drt_lambda"], out["drt_R_inf_ohm"] = d.lambda_, d.R_inf_ohm
    peaks = d.peaks[d.peaks["in_band"]]
    peaks = peaks.nlargest(n_peaks, "R_ohm").sort_values("tau_s")
    for k, p in enumerate(peaks.itertuples(), start=1):
        out[f"drt_peak{k}_tau_s"], out[f"drt_peak{k}_f_Hz"], out[f"drt_peak{k}_R_ohm"] = (
            p.tau_s, p.f_Hz, p.R_ohm)
    return out

"""Writing a measurement in the Battery Data Format (BDF) of the Battery Data Alliance.

Columns with the BDF labels and units (:data:`echem.io.bdf.LABELS`): ``Test Time / s``,
``Voltage / V``, ``Current / A`` (positive on charge, as in the common schema), ``Unix Time / s``
(start time + test time), ``Cycle Count / 1``, ``Step Count / 1`` (the running step),
``Step Index / 1`` (the instrument's own step number, where the file has one), capacities in Ah
and energies in Wh, ``Surface Temperature T1 / degC`` (an auxiliary thermocouple), and on
impedance rows ``Frequency / Hz``, ``Real Impedance / ohm``, ``Imaginary Impedance / ohm``
(Z = re + j im). Beside the file, ``<file>.metadata.json``: instrument, channel, start time,
mass, area, techniques, source file and its sha256.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from echem.errors import EchemError
from echem.io.bdf import sidecar
from echem.output import atomic_write, write_csv
from echem.results import sha256_file
from echem.schema import Measurement

#: BDF label -> columns of a Measurement it may come from, each with the number its values are
#: divided by to give the BDF unit (1000: mA -> A, mAh -> Ah, mWh -> Wh); the first present is taken
SOURCES: dict[str, tuple[tuple[str, float], ...]] = {
    "Test Time / s": (("time_s", 1.0),),
    "Voltage / V": (("voltage_V", 1.0),),
    "Current / A": (("current_mA", 1000.0),),
    "Cycle Count / 1": (("cycle", 1.0),),
    "Step Count / 1": (("step", 1.0),),
    "Step Index / 1": (("step_index", 1.0), ("Step_Index", 1.0), ("Ns", 1.0)),
    "Step Capacity / Ah": (("capacity_mAh", 1000.0),),
    "Charging Capacity / Ah": (("charge_capacity_mAh", 1000.0),
                               ("Charge_Capacity(mAh)", 1000.0)),
    "Discharging Capacity / Ah": (("discharge_capacity_mAh", 1000.0),
                                  ("Discharge_Capacity(mAh)", 1000.0)),
    "Step Energy / Wh": (("energy_mWh", 1000.0),),
    "Charging Energy / Wh": (("charge_energy_mWh", 1000.0), ("Charge_Energy(mWh)", 1000.0),
                             ("Energy charge/W.h", 1.0)),
    "Discharging Energy / Wh": (("discharge_energy_mWh", 1000.0),
                                ("Discharge_Energy(mWh)", 1000.0), ("Energy discharge/W.h", 1.0)),
    "Surface Temperature T1 / degC": (("temperature_C", 1.0), ("T1", 1.0),
                                      ("Temperature/°C", 1.0)),
    "Frequency / Hz": (("frequency_Hz", 1.0),),
    "Real Impedance / ohm": (("z_real_ohm", 1.0),),
    "Imaginary Impedance / ohm": (("z_imag_ohm", 1.0),),
    "Spectrum Index / 1": (("spectrum", 1.0),),
    "Step Type": (("step_type", 1.0),),
}

_INTEGER = {"Cycle Count / 1", "Step Count / 1", "Step Index / 1", "Spectrum Index / 1"}
_REQUIRED = ("Test Time / s", "Voltage / V", "Current / A")


def bdf_table(measurement: Measurement) -> pd.DataFrame:
    """The measurement's data as a BDF table (columns in :data:`SOURCES` order). A required
    column the measurement lacks (an impedance file without time or current) is blank."""
    d = measurement.data
    n = len(d)
    out: dict[str, object] = {}
    for label, choices in SOURCES.items():
        for column, divisor in choices:
            if column in d.columns:
                out[label] = _convert(d[column], label, divisor)
                break
        else:
            if label in _REQUIRED:
                out[label] = np.full(n, np.nan)
        if label not in out and label in _BY_DIRECTION and {"capacity_mAh", "energy_mWh"} & set(d.columns):
            derived = _by_direction(d, *_BY_DIRECTION[label])
            if derived is not None:
                out[label] = derived
        if label == "Current / A":  # Unix time goes after the required columns
            start = _epoch_s(measurement.start_time)
            if start is not None and "time_s" in d.columns:
                out["Unix Time / s"] = start + d["time_s"].to_numpy(dtype="float64")
    return pd.DataFrame(out, index=pd.RangeIndex(n))


#: BDF label -> (schema column counted per step, direction) for instruments that count one
#: capacity and energy per step: the charging ones are that count on charge steps, 0 elsewhere
_BY_DIRECTION = {"Charging Capacity / Ah": ("capacity_mAh", 1),
                 "Discharging Capacity / Ah": ("capacity_mAh", -1),
                 "Charging Energy / Wh": ("energy_mWh", 1),
                 "Discharging Energy / Wh": ("energy_mWh", -1)}


def _by_direction(d: pd.DataFrame, column: str, direction: int):
    """``column`` (mAh or mWh, per step) in Ah or Wh on the rows of steps in ``direction`` (1:
    charge, -1: discharge; by ``step_type``, else by the sign of the current), 0 elsewhere."""
    if column not in d.columns:
        return None
    if "step_type" in d.columns:
        kind = d["step_type"].astype(str)
        on = kind.str.endswith("_discharge") if direction < 0 else \
            kind.str.endswith("_charge") & ~kind.str.endswith("_discharge")
        on = on.to_numpy()
    elif "current_mA" in d.columns:
        on = (np.sign(d["current_mA"].to_numpy(dtype="float64")) == direction)
    else:
        return None
    values = d[column].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(on, np.abs(values), 0.0) / 1000.0


def _convert(values: pd.Series, label: str, divisor: float):
    if label == "Step Type":
        return values.astype(str).where(values.notna(), None).to_numpy(dtype=object)
    if label in _INTEGER:
        return pd.array(values, dtype="Int64")
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    return arr / divisor if divisor != 1.0 else arr


def _epoch_s(start) -> float | None:
    """Seconds since 1970 of a start time whose offset is known (timezone-aware); None for a
    naive local time: the file did not say where it was, and Unix time is not guessed."""
    if start is None:
        return None
    ts = pd.Timestamp(start)
    if ts.tzinfo is None:
        return None
    return ts.value / 1e9


def bdf_metadata(measurement: Measurement) -> dict:
    """The sidecar's content: what the instrument file says about the test, and the source
    file's name and sha256."""
    from echem import __version__

    m = measurement.meta
    source = measurement.source
    sha = None
    if source and Path(source).is_file():
        sha = sha256_file(source)
    known = {"instrument", "channel", "start_time", "active_mass_g", "area_cm2", "techniques",
             "source", "format", "comments"}
    return {
        "format": "Battery Data Format",
        "generator": f"echem {__version__}",
        "instrument": measurement.instrument or None,
        "channel": m.get("channel"),
        "start_time": None if measurement.start_time is None else measurement.start_time.isoformat(),
        "start_time_is_utc": None if measurement.start_time is None
        else measurement.start_time.tzinfo is not None,
        "active_mass_g": m.get("active_mass_g"),
        "area_cm2": m.get("area_cm2"),
        "techniques": list(measurement.techniques),
        "source_file": Path(source).name if source else None,
        "source_sha256": sha,
        "source_format": measurement.format or None,
        "instrument_meta": {k: v for k, v in m.items()
                            if k not in known and isinstance(v, (str, int, float, bool))},
    }


def write_bdf(measurement: Measurement, path: str | Path) -> Path:
    """Write ``measurement`` as BDF to ``path`` (``.bdf.csv``/``.csv``: CSV;
    ``.bdf.parquet``/``.parquet``: Parquet) and its sidecar ``<path>.metadata.json``; each
    appears whole or not at all (written to a temporary file, then renamed). Returns ``path``."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".csv"):
        def write(tmp: Path) -> None:
            write_csv(table, tmp)
    elif name.endswith(".parquet"):
        def write(tmp: Path) -> None:
            table.to_parquet(tmp, index=False)
    else:
        raise EchemError("a BDF file is named OUT.bdf.csv or OUT.bdf.parquet", path)
    source = measurement.source or None
    if source and Path(source).exists() and Path(source).resolve() == path.resolve():
        raise EchemError("is the file being converted; give another output name", path)
    table = bdf_table(measurement)
    meta = json.dumps(bdf_metadata(measurement), indent=2, ensure_ascii=False, default=str)

    def write_both(tmp: Path) -> None:
        write(tmp)
        atomic_write(sidecar(path), lambda t: t.write_text(meta + "\n", encoding="utf-8"))

    return atomic_write(path, write_both)

"""Battery Data Format (BDF, Battery Data Alliance): CSV (``.bdf.csv``) and Parquet
(``.bdf.parquet``) tables with the BDF labels (``Test Time / s``, ``Voltage / V``,
``Current / A``, ...; current positive on charge) and an optional sidecar
``<file>.metadata.json``.

Recognised by content: a CSV whose header holds ``Test Time / s`` with ``Voltage / V`` or
``Current / A`` (or the machine labels ``test_time_second``, ``voltage_volt``,
``current_ampere``), or a Parquet file whose schema does. :data:`LABELS` is the one table of
BDF labels, shared with the writer (:mod:`echem.store.bdf`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from echem.errors import CorruptFileError
from echem.schema import STEP_TYPES, Measurement, finalize

#: BDF label -> (column of a Measurement, factor from the BDF unit to the column's unit)
LABELS: dict[str, tuple[str, float]] = {
    "Test Time / s": ("time_s", 1.0),
    "Voltage / V": ("voltage_V", 1.0),
    "Current / A": ("current_mA", 1e3),
    "Step Capacity / Ah": ("capacity_mAh", 1e3),
    "Cycle Count / 1": ("cycle", 1.0),
    "Step Count / 1": ("step", 1.0),
    "Step Index / 1": ("step_index", 1.0),
    "Unix Time / s": ("unix_time_s", 1.0),
    "Charging Capacity / Ah": ("charge_capacity_mAh", 1e3),
    "Discharging Capacity / Ah": ("discharge_capacity_mAh", 1e3),
    "Step Energy / Wh": ("energy_mWh", 1e3),
    "Charging Energy / Wh": ("charge_energy_mWh", 1e3),
    "Discharging Energy / Wh": ("discharge_energy_mWh", 1e3),
    "Surface Temperature T1 / degC": ("temperature_C", 1.0),
    "Frequency / Hz": ("frequency_Hz", 1.0),
    "Real Impedance / ohm": ("z_real_ohm", 1.0),
    "Imaginary Impedance / ohm": ("z_imag_ohm", 1.0),
    # not in the BDF ontology: kept so that a measurement comes back whole
    "Spectrum Index / 1": ("spectrum", 1.0),
    "Step Type": ("step_type", 1.0),
}

#: BDF machine labels (the ontology's notations) of the labels above that have one
MACHINE_LABELS = {
    "test_time_second": "Test Time / s", "voltage_volt": "Voltage / V",
    "current_ampere": "Current / A", "unix_time_second": "Unix Time / s",
    "cycle_count": "Cycle Count / 1", "step_count": "Step Count / 1",
    "step_index": "Step Index / 1", "step_capacity_ah": "Step Capacity / Ah",
    "charging_capacity_ah": "Charging Capacity / Ah",
    "discharging_capacity_ah": "Discharging Capacity / Ah",
    "step_energy_wh": "Step Energy / Wh", "charging_energy_wh": "Charging Energy / Wh",
    "discharging_energy_wh": "Discharging Energy / Wh",
    "temperature_t1_celsius": "Surface Temperature T1 / degC",
}

REQUIRED = ("Test Time / s", "Voltage / V", "Current / A")


def sidecar(path: str | Path) -> Path:
    """The metadata sidecar of a BDF file: ``<file>.metadata.json``."""
    path = Path(path)
    return path.with_name(path.name + ".metadata.json")


def _is_bdf_header(names) -> bool:
    names = {MACHINE_LABELS.get(n, n) for n in names}
    return "Test Time / s" in names and ("Voltage / V" in names or "Current / A" in names)


def _sniff_csv(head: bytes, path) -> bool:
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    if b"Test Time / s" not in line and b"test_time_second" not in line:
        return False
    try:
        names = [n.strip().strip('"') for n in line.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return False
    return _is_bdf_header(names)


def _sniff_parquet(head: bytes, path) -> bool:
    if not head.startswith(b"PAR1"):
        return False
    import pyarrow.parquet as pq

    try:
        return _is_bdf_header(pq.read_schema(path).names)
    except Exception:
        return False


def read_bdf(path: str | Path) -> Measurement:
    """A BDF CSV or Parquet file as a Measurement: BDF columns in the common schema's units
    (``Current / A`` x 1000 -> ``current_mA``, ``Step Capacity / Ah`` -> ``capacity_mAh``, ...),
    the sidecar's metadata (instrument, channel, start time, mass, area) in ``meta``.
    ``step_type``, where the file has no ``Step Type`` column, from the sign of each step's
    mean current (``rest`` within 1e-6 A)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        table = pd.read_parquet(path)
        fmt = "bdf-parquet"
    else:
        table = pd.read_csv(path, engine="pyarrow", encoding="utf-8-sig")
        fmt = "bdf-csv"
    table = table.rename(columns=MACHINE_LABELS)
    missing = [c for c in REQUIRED if c not in table.columns]
    if "Test Time / s" in missing:
        raise CorruptFileError("a BDF file without its 'Test Time / s' column", path)
    cols: dict[str, object] = {}
    for label in table.columns:
        name, factor = LABELS.get(label, (label, 1.0))
        values = table[label]
        if name == "step_type":
            values = values.astype(object).where(values.isin(STEP_TYPES), "other")
        elif name in ("cycle", "step"):
            values = pd.to_numeric(values).to_numpy()
        elif name == "spectrum":
            values = pd.array(values, dtype="Int64")
        elif factor != 1.0:
            values = pd.to_numeric(values).to_numpy(dtype="float64") * factor
        cols[name] = values
    # a required column the writer filled with blanks (the source had none) is left out
    for label in REQUIRED:
        name = LABELS[label][0]
        if name in cols and pd.isna(pd.Series(cols[name])).all():
            del cols[name]
    if "step_type" not in cols and "step" in cols and "current_mA" in cols:
        cols["step_type"] = _step_types(np.asarray(cols["step"]),
                                        np.asarray(cols["current_mA"], dtype="float64"),
                                        "frequency_Hz" in cols and cols["frequency_Hz"])
    meta = {"instrument": "Battery Data Format", "techniques": [], "format": fmt}
    meta.update(_sidecar_meta(path))
    if "start_time" not in meta and "unix_time_s" in cols and len(table):
        first = float(np.asarray(cols["unix_time_s"], dtype="float64")[0])
        if np.isfinite(first):
            meta["start_time"] = pd.Timestamp(first - float(table["Test Time / s"].iloc[0]),
                                              unit="s", tz="UTC").isoformat()
    return Measurement(finalize(cols), meta)


def _step_types(step: np.ndarray, current_mA: np.ndarray, frequency) -> np.ndarray:
    """Per row: ``cc_charge``/``cc_discharge``/``rest`` from the mean current of its step,
    ``eis`` on rows with a frequency."""
    out = np.full(step.size, "rest", dtype=object)
    if step.size:
        codes, inverse = np.unique(step, return_inverse=True)
        mean = (np.bincount(inverse, np.nan_to_num(current_mA), minlength=codes.size)
                / np.bincount(inverse, minlength=codes.size))
        kind = np.where(mean > 1e-3, "cc_charge", np.where(mean < -1e-3, "cc_discharge", "rest"))
        out = kind[inverse].astype(object)
    if frequency is not False and frequency is not None:
        out[np.isfinite(np.asarray(frequency, dtype="float64"))] = "eis"
    return out


def _sidecar_meta(path: Path) -> dict:
    side = sidecar(path)
    if not side.is_file():
        return {}
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"its metadata sidecar {side.name} is not JSON: {exc}",
                               path) from None
    meta = {k: doc[k] for k in ("instrument", "channel", "start_time", "active_mass_g",
                                "area_cm2", "techniques") if doc.get(k) is not None}
    for k in ("source_file", "source_sha256", "source_format"):
        if doc.get(k):
            meta[f"bdf_{k}"] = doc[k]
    return meta


FORMATS = [
    ("bdf-csv", _sniff_csv, read_bdf),
    ("bdf-parquet", _sniff_parquet, read_bdf),
]

"""Phase data of alloy systems, with units and provenance.

One TOML file per alloy system in ``dft/data/`` (``li_ag.toml`` for Li-Ag); adding a system is adding a
file of the same layout (described at the top of ``li_ag.toml``). ``load("Li-Ag")`` reads it into a
:class:`PhaseSet`; ``systems()`` lists the systems the package ships.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Quantity", "PhaseSet", "DFTDataError", "UnknownSystemError", "load", "systems",
           "data_files", "DATA_DIR"]

#: the folder of the shipped data files (package data, see pyproject [tool.setuptools.package-data])
DATA_DIR = Path(__file__).resolve().parent / "data"


class DFTDataError(ValueError):
    """A data file that is missing, unreadable or does not follow the layout. Names the file."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)


class UnknownSystemError(DFTDataError, LookupError):
    """No data file for the requested alloy system."""


@dataclass(frozen=True)
class Quantity:
    """One number (or label) with its unit and where it comes from."""

    value: float | str | bool | tuple
    unit: str
    source: str
    description: str = ""
    note: str = ""

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, tuple):
            text = " to ".join(f"{v:g}" for v in value)
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        unit = f" {self.unit}" if self.unit else ""
        return f"{text}{unit} ({self.source})"


@dataclass(frozen=True)
class PhaseSet:
    """The phases of one alloy system as the data file gives them.

    ``table``: DataFrame indexed by phase name (order of increasing guest content) with columns
    ``label``, ``formula``, ``guest_per_host`` (e.g. Li per Ag; inf for the pure guest),
    ``guest_fraction`` (atomic fraction of the guest), then one column per quantity, the unit in
    its name (``voltage_V``, ``surface_energy_J_m2``, ...); NaN where the source gives no value.
    ``sources``: DataFrame of the same shape giving the source of each value ('' where none).
    ``units``/``descriptions``: per quantity column. ``values``: system-level numbers.
    """

    system: str
    guest: str
    host: str
    reference: str
    table: pd.DataFrame
    sources: pd.DataFrame
    units: dict[str, str]
    descriptions: dict[str, str]
    notes: dict[tuple[str, str], str]
    values: dict[str, Quantity]
    molar_mass_g_mol: dict[str, float]
    path: Path | None = None
    quantities: tuple[str, ...] = field(default=())

    @property
    def phases(self) -> list[str]:
        return list(self.table.index)

    @property
    def alloys(self) -> list[str]:
        """Phases that contain both elements (0 < guest fraction < 1)."""
        x = self.table["guest_fraction"]
        return list(self.table.index[(x > 0) & (x < 1)])

    def value(self, phase: str, quantity: str) -> Quantity:
        """The value of ``quantity`` for ``phase`` with its unit and source.

        Raises KeyError for an unknown phase or quantity and LookupError when the data file gives no
        value for this phase."""
        if phase not in self.table.index:
            raise KeyError(f"{self.system}: no phase {phase!r}; phases: {', '.join(self.phases)}")
        if quantity not in self.units:
            raise KeyError(f"{self.system}: no quantity {quantity!r}; quantities: "
                           f"{', '.join(self.units)}")
        v = self.table.at[phase, quantity]
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            raise LookupError(f"{self.system}: the source gives no {quantity} for {phase}")
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, np.bool_):
            v = bool(v)
        return Quantity(v, self.units[quantity], self.sources.at[phase, quantity],
                        self.descriptions.get(quantity, ""), self.notes.get((phase, quantity), ""))

    def __repr__(self) -> str:
        return (f"PhaseSet({self.system!r}: {len(self.table)} phases "
                f"{', '.join(self.phases)}; {len(self.units)} quantities)")


# ---------------------------------------------------------------------------------------------
# discovery

def data_files() -> dict[str, Path]:
    """The shipped data files by system name (read from each file's ``system`` key)."""
    found = {}
    for path in sorted(DATA_DIR.glob("*.toml")):
        if path.is_file():
            try:
                with open(path, "rb") as fh:
                    name = tomllib.load(fh).get("system")
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise DFTDataError(f"cannot read: {exc}", path) from exc
            found[str(name or path.stem)] = path
    return found


def systems() -> list[str]:
    """Names of the alloy systems shipped with the package, e.g. ``['Li-Ag']``."""
    return list(data_files())


def _key(name: str) -> frozenset[str]:
    return frozenset(p.lower() for p in name.replace("_", "-").split("-") if p)


def load(system: str | Path) -> PhaseSet:
    """Load an alloy system by name (``"Li-Ag"``, ``"li_ag"``, ``"Ag-Li"``) or from a TOML path."""
    path = Path(system)
    if path.suffix == ".toml" and path.is_file():
        return _read(path)
    files = data_files()
    wanted = _key(str(system))
    for name, file in files.items():
        if _key(name) == wanted or _key(file.stem) == wanted:
            return _read(file)
    raise UnknownSystemError(f"no data file for alloy system {system!r}; available: "
                             f"{', '.join(files) or 'none'} (add dft/data/<system>.toml)",
                             DATA_DIR)


# ---------------------------------------------------------------------------------------------
# reading

def _read(path: Path) -> PhaseSet:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise DFTDataError(f"cannot read: {exc}", path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise DFTDataError(f"not valid TOML: {exc}", path) from exc

    for key in ("system", "guest", "host", "quantities", "phases"):
        if key not in doc:
            raise DFTDataError(f"missing top-level key {key!r}", path)
    guest, host = doc["guest"], doc["host"]
    quantities = doc["quantities"]
    for name, spec in quantities.items():
        if not isinstance(spec, dict) or "unit" not in spec or not spec.get("source"):
            raise DFTDataError(f"quantity {name!r} needs a unit and a source", path)

    rows, srcs, notes = {}, {}, {}
    for phase, entry in doc["phases"].items():
        formula = entry.get("formula")
        if not isinstance(formula, dict) or set(formula) != {guest, host}:
            raise DFTDataError(f"phase {phase!r}: formula must give the atoms of {guest} and "
                               f"{host}, e.g. formula = {{ {guest} = 1, {host} = 1 }}", path)
        n_guest, n_host = float(formula[guest]), float(formula[host])
        if n_guest < 0 or n_host < 0 or n_guest + n_host <= 0:
            raise DFTDataError(f"phase {phase!r}: formula counts must be >= 0, not both 0", path)
        row = {
            "label": entry.get("label", ""),
            "formula": phase,
            "guest_per_host": n_guest / n_host if n_host else math.inf,
            "guest_fraction": n_guest / (n_guest + n_host),
        }
        src = {}
        for key, raw in entry.items():
            if key in ("label", "formula"):
                continue
            if key not in quantities:
                raise DFTDataError(f"phase {phase!r}: {key!r} is not declared under "
                                   f"[quantities] (with unit and source)", path)
            source = quantities[key]["source"]
            if isinstance(raw, dict):
                if "value" not in raw:
                    raise DFTDataError(f"phase {phase!r}: {key} needs a value", path)
                source = raw.get("source", source)
                if raw.get("note"):
                    notes[(phase, key)] = raw["note"]
                raw = raw["value"]
            if not isinstance(raw, (int, float, str, bool)):
                raise DFTDataError(f"phase {phase!r}: {key} must be a number, text or true/false",
                                   path)
            row[key] = float(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
            src[key] = source
        rows[phase] = row
        srcs[phase] = src

    names = list(quantities)
    table = pd.DataFrame.from_dict(rows, orient="index")
    for name in names:
        if name not in table:
            table[name] = np.nan
    table = table[["label", "formula", "guest_per_host", "guest_fraction", *names]]
    for name in names:
        col = table[name]
        present = col.dropna()
        if present.map(lambda v: isinstance(v, bool)).all() and len(present):
            table[name] = col.astype("boolean")
        elif present.map(lambda v: isinstance(v, float)).all():
            table[name] = col.astype("float64")
        elif len(present) and not present.map(lambda v: isinstance(v, str)).all():
            raise DFTDataError(f"quantity {name!r} mixes numbers, text and true/false", path)
    table.index.name = "phase"
    sources = pd.DataFrame({name: [srcs[p].get(name, "") for p in table.index] for name in names},
                           index=table.index)

    values = {}
    for name, spec in doc.get("values", {}).items():
        if "value" not in spec or "unit" not in spec or not spec.get("source"):
            raise DFTDataError(f"[values.{name}] needs value, unit and source", path)
        v = spec["value"]
        v = tuple(float(x) for x in v) if isinstance(v, list) else v
        values[name] = Quantity(v, spec["unit"], spec["source"], spec.get("description", ""),
                                spec.get("note", ""))

    return PhaseSet(
        system=doc["system"], guest=guest, host=host, reference=doc.get("reference", ""),
        table=table, sources=sources,
        units={n: quantities[n]["unit"] for n in names},
        descriptions={n: quantities[n].get("description", "") for n in names},
        notes=notes, values=values,
        molar_mass_g_mol={k: float(v) for k, v in doc.get("molar_mass_g_mol", {}).items()},
        path=path, quantities=tuple(names))

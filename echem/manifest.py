"""Experiment manifests (``experiment.toml`` in a data folder) and the protocol compliance check.

A manifest lists the cells of an experiment: for each its id, type (symmetric, half, full), anode (a
phase name that ``dft`` knows, such as ``Li4Ag``, or free text), cathode, electrolyte, area, masses,
the protocol it was run with and its data files (paths relative to the manifest). The format is
documented in ``protocols/README.md``. It is validated like a protocol: anything wrong raises
:class:`echem.ProtocolError` naming the manifest, the field (``cell[2].area_cm2``) and the reason.

:func:`check_compliance` compares what a cell's files show with its protocol (current density
within the tolerance, 5 % by default; areal capacity per step; cut-off voltages; impedance frequency
range and points per decade) and returns each deviation as a plain-text warning.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from echem.errors import ProtocolError
from echem.protocol import (CELL_TYPES, MANIFEST_NAME, Protocol, Table, find_protocol,
                            load_protocol, parse_analysis, protocol_error, read_toml)
from echem.schema import Measurement


#: mass fields of a cell (mg); for a symmetric cell ``anode_mg`` is the mass of one electrode
MASS_FIELDS = ("active_mg", "cathode_active_mg", "cathode_composite_mg", "anode_mg", "electrolyte_mg")

#: cut-off voltages may be overshot by this much before it is a deviation (V)
CUTOFF_TOLERANCE_V = 0.05


@dataclass(frozen=True)
class Cell:
    """One cell of an experiment. ``files`` are absolute paths; ``phase`` is the anode as a phase
    name of the experiment's DFT system (None when the anode is free text)."""

    id: str
    type: str
    anode: str
    protocol: str
    files: tuple[Path, ...]
    area_cm2: float
    cathode: str | None = None
    electrolyte: str | None = None
    masses_mg: dict = field(default_factory=dict)
    notes: str = ""
    phase: str | None = None
    analysis: dict = field(default_factory=dict)

    @property
    def active_mass_g(self) -> float | None:
        """Mass (g) that specific capacities refer to: ``active_mg`` if given, else the cathode
        active mass of a full cell, else the anode mass of a half cell (its working electrode)."""
        m = self.masses_mg
        mg = m.get("active_mg")
        if mg is None and self.type == "full":
            mg = m.get("cathode_active_mg")
        if mg is None and self.type == "half":
            mg = m.get("anode_mg")
        return None if mg is None else mg / 1000.0

    @property
    def cathode_active_loading_mg_cm2(self) -> float | None:
        mg = self.masses_mg.get("cathode_active_mg")
        return None if mg is None else mg / self.area_cm2


@dataclass
class Experiment:
    """A validated manifest: its cells and the protocols they use (by name)."""

    path: Path
    title: str
    cells: list[Cell]
    protocols: dict[str, Protocol]
    description: str = ""
    operator: str = ""
    date: str = ""
    dft_system: str = "Li-Ag"

    @property
    def root(self) -> Path:
        return self.path.parent

    def cell(self, cell_id: str) -> Cell:
        for c in self.cells:
            if c.id == cell_id:
                return c
        raise KeyError(cell_id)

    def protocol_for(self, cell: Cell | str) -> Protocol:
        """The cell's protocol, with the cell's own ``[cell.analysis]`` overrides applied."""
        cell = self.cell(cell) if isinstance(cell, str) else cell
        proto = self.protocols[cell.protocol]
        if not cell.analysis:
            return proto
        return dataclasses.replace(proto, analysis=dataclasses.replace(proto.analysis, **cell.analysis))


def known_phases(system: str) -> tuple[str, ...]:
    """Phase names of a DFT system (``dft.load``; none for a system dft has no data for)."""
    import dft
    from dft.phases import UnknownSystemError
    try:
        return tuple(str(p) for p in dft.load(system).table.index)
    except UnknownSystemError:
        return ()


def resolve_phase(anode: str, phases: Iterable[str]) -> str | None:
    """The phase name ``anode`` refers to (case-insensitive, spaces and '_' ignored), or None."""
    key = anode.replace(" ", "").replace("_", "").lower()
    for p in phases:
        if p.replace("_", "").lower() == key:
            return p
    return None


def manifest_path(dir_or_path: str | Path) -> Path:
    p = Path(dir_or_path)
    return p / MANIFEST_NAME if p.is_dir() else p


def load_manifest(dir_or_path: str | Path, *, check_files: bool = True) -> Experiment:
    """Read and validate ``experiment.toml`` (give the folder or the file).

    Protocols are looked up by name in the manifest folder, its ``protocols/`` subfolder, the
    folders listed in ``[experiment] protocol_dirs`` and the project's ``protocols/``; a value
    ending in ``.toml`` is a path relative to the manifest. Every listed file must exist (unless
    ``check_files`` is False). Raises ProtocolError naming the file, the field and the reason.
    """
    path = manifest_path(dir_or_path)
    if not path.exists():
        raise protocol_error(path, None, f"no experiment manifest ({MANIFEST_NAME}) here; write one "
                             "as described in protocols/README.md")
    root = path.parent
    top = Table(read_toml(path), "", path)

    head = top.table("experiment") or Table({}, "experiment", path)
    title = head.str("title", default=root.name)
    description = head.str("description", default="")
    operator = head.str("operator", default="")
    date = head.str("date", default="")
    system = head.str("dft_system", default="Li-Ag")
    extra_dirs = head.str_list("protocol_dirs") or []
    outside = head._get("files_outside", False)
    outside = False if outside is None else outside
    if not isinstance(outside, bool):
        raise head.error("files_outside", f"must be true or false, got {outside!r}")
    head.done()
    search = [root, root / "protocols", *[(root / d) for d in extra_dirs]]

    cell_tables = top.tables("cell", required=True)
    top.done()
    if not cell_tables:
        raise protocol_error(path, "cell", "no cells: add at least one [[cell]] table")

    phases = known_phases(system)
    protocols: dict[str, Protocol] = {}
    cells: list[Cell] = []
    seen: set[str] = set()
    for t in cell_tables:
        cell, proto = _parse_cell(t, search, protocols, phases, check_files, outside)
        if cell.id in seen:
            raise t.error("id", f"duplicate cell id {cell.id!r}; every cell needs its own id")
        seen.add(cell.id)
        protocols[cell.protocol] = proto
        cells.append(cell)
    return Experiment(path=path, title=title, description=description, operator=operator, date=date,
                      dft_system=system, cells=cells, protocols=protocols)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` (symbolic links and ``..`` resolved)."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _parse_cell(t: Table, search, protocols, phases, check_files, outside=False
                ) -> tuple[Cell, Protocol]:
    path = t.path
    cid = t.str("id", required=True)
    ctype = t.str("type", required=True, choices=CELL_TYPES)
    anode = t.str("anode", required=True)
    cathode = t.str("cathode")
    electrolyte = t.str("electrolyte")
    notes = t.str("notes", default="")
    pname = t.str("protocol", required=True)
    area = t.number("area_cm2", positive=True)
    masses_t = t.table("masses")
    masses: dict[str, float] = {}
    if masses_t is not None:
        for key in list(masses_t.data):
            if key not in MASS_FIELDS:
                raise masses_t.error(key, f"unknown mass field; known: {', '.join(MASS_FIELDS)} (mg)")
            masses[key] = masses_t.number(key, positive=True)
        masses_t.done()
    file_names = t.str_list("files", required=True)
    if not file_names:
        raise t.error("files", "empty: list the cell's data files")
    analysis_t = t.table("analysis")

    if pname in protocols:
        proto = protocols[pname]
    else:
        proto = load_protocol(find_protocol(pname, search, origin=path, field_name=t.name("protocol")))
    analysis = {}
    if analysis_t is not None:
        merged = parse_analysis(analysis_t, proto.analysis)  # validates every key
        analysis = {k: getattr(merged, k) for k in analysis_t.data}
    t.done()

    if ctype != proto.cell.type:
        raise t.error("type", f"{ctype!r} but protocol {pname!r} is for {proto.cell.type} cells")
    if area is None:
        area = proto.cell.area_cm2
        if area is None:
            raise t.error("area_cm2", f"missing, and protocol {pname!r} gives no area_cm2 either")
    if ctype == "full" and "cathode_active_mg" not in masses and "active_mg" not in masses:
        loading = proto.cell.cathode_active_loading_mg_cm2
        if loading is not None:  # derived from the protocol's loading and the cell's area
            masses["cathode_active_mg"] = loading * area
    files = []
    for i, name in enumerate(file_names):
        f = Path(name)
        f = f if f.is_absolute() else path.parent / f
        if not outside and not _inside(f, path.parent):
            raise protocol_error(path, f"{t.name('files')}[{i + 1}]",
                                 f"file {name!r} lies outside the experiment folder; move it in, "
                                 "or set files_outside = true under [experiment]")
        if check_files and not f.is_file():
            raise protocol_error(path, f"{t.name('files')}[{i + 1}]",
                                 f"file {name!r} is listed but missing ({f} does not exist)")
        files.append(f)
    cell = Cell(id=cid, type=ctype, anode=anode, cathode=cathode if cathode is not None else
                (anode if ctype == "symmetric" else None), electrolyte=electrolyte, area_cm2=area,
                masses_mg=masses, protocol=pname, files=tuple(files), notes=notes,
                phase=resolve_phase(anode, phases), analysis=analysis)
    return cell, proto


# ---------------------------------------------------------------------------------------------
# compliance


def _ranges(cycles: Iterable[int]) -> str:
    """'1-3, 7, 9-10' from cycle numbers."""
    cs = sorted(set(int(c) for c in cycles))
    out, start, prev = [], None, None
    for c in cs:
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            out.append(f"{start}-{prev}" if prev > start else f"{start}")
            start = prev = c
    if start is not None:
        out.append(f"{start}-{prev}" if prev > start else f"{start}")
    return ", ".join(out)


def _name(m: Measurement) -> str:
    src = m.source
    return Path(src).name if src else "data"


def steps_summary(data: pd.DataFrame) -> pd.DataFrame:
    """Per running step: cycle, step_type, |I| (mA, median over the constant-current part),
    capacity (mAh), end voltage, min and max voltage, start and end time (s)."""
    keep = data["current_mA"].notna().to_numpy()
    if "step_type" in data.columns:
        keep = keep & (data["step_type"] != "eis").to_numpy()
    d = data if keep.all() else data[keep]  # (no copy of a long series that needs none)
    if d.empty:
        return pd.DataFrame(columns=["step", "cycle", "step_type", "abs_current_mA", "capacity_mAh",
                                     "end_voltage_V", "min_voltage_V", "max_voltage_V", "start_s", "end_s"])
    a = d["current_mA"].abs().to_numpy()
    g = d.assign(_a=a).groupby("step", sort=True)
    peak = g["_a"].transform("max").to_numpy()
    cc = d.assign(_a=np.where(a >= 0.5 * peak, a, np.nan)).groupby("step", sort=True)["_a"].median()
    out = pd.DataFrame({
        "cycle": g["cycle"].first() if "cycle" in d.columns else 1,
        "step_type": g["step_type"].first().astype(str) if "step_type" in d.columns else "other",
        "abs_current_mA": cc,
        "capacity_mAh": g["capacity_mAh"].max() if "capacity_mAh" in d.columns else np.nan,
        "end_voltage_V": g["voltage_V"].last(),
        "min_voltage_V": g["voltage_V"].min(),
        "max_voltage_V": g["voltage_V"].max(),
        "start_s": g["time_s"].first(),
        "end_s": g["time_s"].last(),
    })
    return out.reset_index()


def check_compliance(cell: Cell, protocol: Protocol, measurements) -> list[str]:
    """Compare what the cell's files show with its protocol; one warning (str) per deviation.

    ``measurements``: a Measurement or an iterable of them (the cell's files, read).
    Checks, with the protocol's ``compliance_tolerance_pct`` (default 5 %):

    - current density (mA/cm2 = median |I| of each constant-current step / cell area) against
      the schedule segment covering the step's cycle; steps in cycles no segment covers;
    - areal capacity (mAh/cm2) of each step against the segment's ``areal_capacity_mAh_cm2``
      (a test's last step, which may be cut short by the end of the test, is not judged);
    - cut-off voltages: |V| beyond them by more than 0.05 V, and charge/discharge steps of a
      cut-off segment that end more than 0.05 V before their cut-off (last step excepted);
    - impedance: the measured frequency range against frequency_min_Hz..frequency_max_Hz and,
      when the protocol gives it, the points per decade (20 % tolerance);
    - a protocol section with no matching data (a schedule but no cycling file, an impedance
      section but no spectrum); an electrode area or active mass in a file's metadata that
      differs from the manifest's.
    """
    if isinstance(measurements, Measurement):
        measurements = [measurements]
    measurements = list(measurements)
    tol = protocol.analysis.compliance_tolerance_pct / 100.0
    warnings: list[str] = []
    has_cycling = has_eis = False
    for m in measurements:
        d = m.data
        name = _name(m)
        warnings += _check_meta(cell, m, name, tol)
        if "frequency_Hz" in d.columns and d["frequency_Hz"].notna().any():
            has_eis = True
            if protocol.impedance is not None:
                warnings += _check_impedance(protocol, d, name, tol)
        rows = d
        if "frequency_Hz" in d.columns:
            rows = d[d["frequency_Hz"].isna()]
        if {"current_mA", "voltage_V", "time_s", "step"} <= set(d.columns) and len(rows) and \
                (rows["current_mA"].abs() > 0).any():
            has_cycling = True
            if protocol.schedule is not None:
                warnings += _check_cycling(cell, protocol, rows, name, tol)
    if protocol.schedule is not None and not has_cycling:
        warnings.append(f"protocol {protocol.name!r} has a cycling schedule but none of the cell's "
                        "files holds galvanostatic data")
    if protocol.impedance is not None and not has_eis:
        warnings.append(f"protocol {protocol.name!r} asks for impedance but none of the cell's files "
                        "holds a spectrum")
    return warnings


def _check_meta(cell: Cell, m: Measurement, name: str, tol: float) -> list[str]:
    out = []
    area = m.meta.get("area_cm2")
    if isinstance(area, (int, float)) and area > 0 and abs(area - cell.area_cm2) > tol * cell.area_cm2:
        out.append(f"{name}: the file gives an electrode area of {area:g} cm2, the manifest "
                   f"{cell.area_cm2:g} cm2 (the manifest's area is used)")
    mass = m.meta.get("active_mass_g")
    ref = cell.active_mass_g
    if (isinstance(mass, (int, float)) and mass > 0 and ref is not None
            and abs(mass - ref) > tol * ref):
        out.append(f"{name}: the file gives an active mass of {mass * 1000:g} mg, the manifest "
                   f"{ref * 1000:g} mg (the manifest's mass is used)")
    return out


def _check_cycling(cell: Cell, protocol: Protocol, rows: pd.DataFrame, name: str, tol: float) -> list[str]:
    sched = protocol.schedule
    st = steps_summary(rows)
    st = st[st["step_type"].str.startswith(("cc_", "cccv_")) & (st["abs_current_mA"] > 0)]
    if st.empty:
        return []
    out: list[str] = []
    last_step = int(st["step"].max())
    j = st["abs_current_mA"].to_numpy() / cell.area_cm2
    seg_of = [sched.segment_for(int(c)) for c in st["cycle"]]
    outside = [int(c) for c, s in zip(st["cycle"], seg_of) if s is None]
    if outside:
        out.append(f"{name}: cycles {_ranges(outside)} are not covered by the schedule of "
                   f"protocol {protocol.name!r}")
    for seg in sched.segments:
        mask = np.array([s is seg for s in seg_of])
        if not mask.any():
            continue
        sub = st[mask]
        js = j[mask]
        dev = js / seg.current_density_mA_cm2 - 1.0
        bad = np.abs(dev) > tol
        if bad.any():
            med = float(np.median(js[bad]))
            out.append(f"{name}: {seg.label}: current density {med:.4g} mA/cm2 in cycles "
                       f"{_ranges(sub['cycle'][bad])} ({int(bad.sum())} steps), protocol "
                       f"{seg.current_density_mA_cm2:g} mA/cm2 ({(med / seg.current_density_mA_cm2 - 1) * 100:+.1f} %, "
                       f"tolerance {tol * 100:g} %)")
        judged = sub["step"].to_numpy() != last_step
        if seg.areal_capacity_mAh_cm2 is not None and "capacity_mAh" in sub:
            q = sub["capacity_mAh"].to_numpy() / cell.area_cm2
            dq = q / seg.areal_capacity_mAh_cm2 - 1.0
            badq = judged & np.isfinite(dq) & (np.abs(dq) > tol)
            if badq.any():
                med = float(np.median(q[badq]))
                out.append(f"{name}: {seg.label}: areal capacity {med:.4g} mAh/cm2 per step in cycles "
                           f"{_ranges(sub['cycle'][badq])} ({int(badq.sum())} steps), protocol "
                           f"{seg.areal_capacity_mAh_cm2:g} mAh/cm2")
        charge = sub["step_type"].str.endswith("charge") & ~sub["step_type"].str.endswith("discharge")
        charge = charge.to_numpy()
        if seg.upper_cutoff_V is not None:
            over = sub["max_voltage_V"].to_numpy() > seg.upper_cutoff_V + CUTOFF_TOLERANCE_V
            if over.any():
                out.append(f"{name}: {seg.label}: voltage up to {sub['max_voltage_V'][over].max():.4g} V "
                           f"in cycles {_ranges(sub['cycle'][over])}, above the {seg.upper_cutoff_V:g} V cut-off")
            short = judged & charge & (sub["end_voltage_V"].to_numpy() < seg.upper_cutoff_V - CUTOFF_TOLERANCE_V)
            if short.any():
                out.append(f"{name}: {seg.label}: charge steps end below the {seg.upper_cutoff_V:g} V "
                           f"cut-off in cycles {_ranges(sub['cycle'][short])}")
        if seg.lower_cutoff_V is not None:
            under = sub["min_voltage_V"].to_numpy() < seg.lower_cutoff_V - CUTOFF_TOLERANCE_V
            if under.any():
                out.append(f"{name}: {seg.label}: voltage down to {sub['min_voltage_V'][under].min():.4g} V "
                           f"in cycles {_ranges(sub['cycle'][under])}, below the {seg.lower_cutoff_V:g} V cut-off")
            short = judged & ~charge & (sub["end_voltage_V"].to_numpy() > seg.lower_cutoff_V + CUTOFF_TOLERANCE_V)
            if short.any():
                out.append(f"{name}: {seg.label}: discharge steps end above the {seg.lower_cutoff_V:g} V "
                           f"cut-off in cycles {_ranges(sub['cycle'][short])}")
    return out


def _check_impedance(protocol: Protocol, d: pd.DataFrame, name: str, tol: float) -> list[str]:
    imp = protocol.impedance
    out = []
    rows = d[d["frequency_Hz"].notna()]
    groups = rows.groupby("spectrum") if "spectrum" in rows.columns and rows["spectrum"].notna().any() \
        else [(1, rows)]
    for k, sp in groups:
        f = sp["frequency_Hz"].to_numpy(dtype=float)
        f = f[np.isfinite(f) & (f > 0)]
        if f.size == 0:
            out.append(f"{name}: spectrum {k}: no positive frequencies")
            continue
        fmax, fmin = float(f.max()), float(f.min())
        label = f"{name}: spectrum {k}"
        if fmax < imp.frequency_max_Hz * (1 - tol) or fmax > imp.frequency_max_Hz * (1 + tol) or \
                fmin > imp.frequency_min_Hz * (1 + tol) or fmin < imp.frequency_min_Hz * (1 - tol):
            out.append(f"{label}: measured from {_hz(fmax)} to {_hz(fmin)}, the protocol asks "
                       f"{_hz(imp.frequency_max_Hz)} to {_hz(imp.frequency_min_Hz)}")
        if imp.points_per_decade and f.size > 1 and fmax > fmin:
            ppd = (np.unique(f).size - 1) / math.log10(fmax / fmin)
            if abs(ppd / imp.points_per_decade - 1) > 0.2:
                out.append(f"{label}: {ppd:.1f} points per decade, the protocol asks "
                           f"{imp.points_per_decade:g}")
    return out


def _hz(f: float) -> str:
    for unit, scale in (("MHz", 1e6), ("kHz", 1e3), ("Hz", 1.0), ("mHz", 1e-3)):
        if f >= scale:
            return f"{f / scale:.4g} {unit}"
    return f"{f:.3g} Hz"


__all__ = ["Cell", "Experiment", "load_manifest", "check_compliance", "known_phases",
           "resolve_phase", "steps_summary", "MANIFEST_NAME", "MASS_FIELDS", "ProtocolError"]

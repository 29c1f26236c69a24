"""One cell: its measurements and protocol in, a :class:`~echem.results.CellResult` out.

Pure: no file access and no figures; inputs and output are picklable, so the orchestrator
(``echem.batch``) may run it in this process, in a worker process or on a cluster. Every number
of summary.csv, the report, the database and ``compare`` comes from here, made with
``echem.metrics.value`` (the metric's unit and uncertainty kind as declared once there).

What runs (DESIGN.md, "Science definitions"):
- impedance rows: an equivalent-circuit fit and a Kramers-Kronig check of every spectrum
  (``echem.eis``); R0, R_SEI and R_ct of the cell are those of the first spectrum of the first
  file that has one (the spectrum measured before cycling in the paper's protocol, Figure 5b);
- cycling rows (the longest cycling file of the cell): the step table, then for a symmetric cell
  the nucleation overpotential (Figure 5a), polarization and failure (Figure 5c), and for a half
  or full cell the cycle table, capacity retention and coulombic efficiency (Figure 5d-g);
- the protocol compliance check of all the cell's files.
An analysis that fails becomes a warning on the cell; the others go on.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from echem import cycling, metrics, nucleation, phases, symmetric
from echem.errors import describe
from echem.manifest import Cell, check_compliance
from echem.protocol import Protocol
from echem.results import CellResult, FileRecord
from echem.schema import Measurement, screen


@dataclass
class FileRead:
    """One input file of a cell as the orchestrator read it: the record of its bytes and the
    Measurement, or the reason it could not be read (``error``)."""

    path: str
    record: FileRecord | None = None
    measurement: Measurement | None = None
    error: str | None = None


@dataclass
class FileAnalysis:
    """One file of a cell analysed on its own (:func:`analyse_file`): what its reader and the
    screening said (``warnings``), its cycling and impedance rows, and its spectra fitted
    (``impedance``, from :func:`impedance_of`; None where it has no impedance rows)."""

    read: FileRead
    warnings: list[str]
    cycling: pd.DataFrame | None = None
    impedance_rows: pd.DataFrame | None = None
    impedance: dict | None = None


def analyse_file(protocol: Protocol, read: FileRead) -> FileAnalysis:
    """What one file of a cell gives by itself: its rows screened (no infinite or absurd value
    reaches a result), split into cycling and impedance rows, and its spectra fitted with the
    protocol's circuit. Pure, like :func:`analyse_cell`, which combines a cell's files."""
    meas = read.measurement
    name = Path(read.path).name
    warnings = [f"{name}: {w.message}" + (f" (line {w.line})" if w.line else "") for w in meas.warnings]
    if meas.truncated:
        warnings.append(f"{name}: the file ends in an incomplete row (truncated); the complete "
                        "rows were used")
    data, dropped = screen(meas.data)
    warnings += [f"{name}: {w}" for w in dropped]
    cyc, imp = split(data)
    out = FileAnalysis(read, warnings, cyc, imp)
    if imp is not None:
        try:
            out.impedance = impedance_of(protocol, imp, meas.source)
        except Exception as exc:  # a failed fit costs the impedance, not the cell
            out.warnings.append(f"impedance failed: {describe(exc)}")
    return out


def analyse_cell(cell: Cell, protocol: Protocol, reads: list[FileRead], system: str = "Li-Ag",
                 analysed: list[FileAnalysis] | None = None) -> CellResult:
    """Everything the cell's protocol and type call for, from its files as read (in the
    manifest's order). ``cell.type`` "auto" (a folder without a manifest): the type is inferred
    from the data (:func:`infer_type`) and the result says so in a warning. ``system``: the DFT
    alloy system whose phases a half cell's plateaus are named by. ``analysed``: the readable
    files already analysed one by one (:func:`analyse_file`, in the same order), e.g. while the
    others were still being read."""
    ok = [r for r in reads if r.measurement is not None]
    kind = cell.type
    res = CellResult(cell.id, kind, cell.anode, protocol.name)
    for r in reads:
        if r.measurement is None:
            res.warnings.append(f"unreadable file: {r.error}")
            res.info.setdefault("unreadable", []).append(r.path)
            res.info.setdefault("read_errors", {})[r.path] = r.error
    res.files = [r.record for r in ok if r.record is not None]
    if analysed is None:
        analysed = [analyse_file(protocol, r) for r in ok]
    for fa in analysed:
        res.warnings += fa.warnings
    parts = [(fa.read, fa.cycling, fa.impedance_rows) for fa in analysed]
    if kind == "auto":
        kind, reason = infer_type([(cyc, imp) for _, cyc, imp in parts])
        res.cell_type = kind
        res.protocol = f"default-{kind}"
        res.warnings.append(f"cell type inferred as {kind} ({reason}); no experiment.toml says it")
        cell, notes = stated_in_files(cell, [r.measurement for r in ok])
        res.info.update(notes)
        if notes["area_source"] == "assumed":
            res.warnings.append("no area in the file and no manifest: values per cm2 assume 1 cm2")
    res.inputs = {"cell": _plain(dataclasses.asdict(cell)),
                  "protocol": _plain({k: v for k, v in protocol.to_dict().items() if k != "path"})}
    for fa in analysed:
        if fa.impedance is not None:
            _record_impedance(res, fa.impedance)
    cycling_parts = [(r, cyc) for r, cyc, _ in parts if cyc is not None]
    if cycling_parts:
        r, data = max(cycling_parts, key=lambda p: len(p[1]))
        if len(cycling_parts) > 1:
            res.warnings.append(f"{len(cycling_parts)} cycling files: analysed the longest, "
                                f"{Path(r.path).name}")
        res.tables["data"] = data
        _cycling(res, kind, cell, protocol, data, system)
    elif not any(imp is not None for _, _, imp in parts) and ok:
        res.warnings.append("no cycling or impedance data found in the cell's files")
    area_specific(res, cell.area_cm2)
    if ok:
        _guard(res, "protocol compliance check", lambda: res.warnings.extend(
            check_compliance(cell, protocol, [r.measurement for r in ok])))
    return res


def split(d: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(cycling rows, impedance rows) of a measurement's data; None where it has none. Cycling
    rows need time, voltage and a current that is not zero throughout."""
    is_eis = d["frequency_Hz"].notna().to_numpy() if "frequency_Hz" in d else np.zeros(len(d), bool)
    eis_rows = d[is_eis] if is_eis.any() else None
    rest = d[~is_eis] if eis_rows is not None else d  # no copy of a long series without spectra
    cyc = None
    if len(rest) and {"time_s", "voltage_V", "current_mA"} <= set(rest.columns):
        if (rest["current_mA"].abs() > 0).any():
            cyc = rest.reset_index(drop=True)
    return cyc, eis_rows


def infer_type(parts: list[tuple[pd.DataFrame | None, pd.DataFrame | None]]) -> tuple[str, str]:
    """(cell type, reason) guessed from a cell's data, where no manifest says it.

    - symmetric: the voltage follows the sign of the current (plating and stripping the same
      metal on both sides swing about 0 V) and stays within +-1 V; impedance only: symmetric
      (the paper measures impedance on symmetric cells);
    - full: a median voltage above 2 V (a cathode against Li or an alloy anode; a cathode half
      cell against Li reads the same and takes the same convention, discharge/charge);
    - half: anything else between (an anode or alloy working electrode against Li).
    A guess: the manifest says it for sure.
    """
    if not parts:
        return "unknown", "no file could be read"
    cycles = [cyc for cyc, _ in parts if cyc is not None]
    if not cycles:
        return "symmetric", "impedance only"
    d = max(cycles, key=len)
    v, i = d["voltage_V"].to_numpy(float), d["current_mA"].to_numpy(float)
    ok = np.isfinite(v) & np.isfinite(i)
    v, i = v[ok], i[ok]
    if not len(v):
        return "unknown", "no finite voltage"
    charge = float(np.median(v[i > 0])) if (i > 0).any() else np.nan
    discharge = float(np.median(v[i < 0])) if (i < 0).any() else np.nan
    if charge > 0 > discharge and np.abs(v).max() < 1.0:
        return "symmetric", (f"the voltage follows the current's sign ({charge * 1000:.3g} mV charging, "
                             f"{discharge * 1000:.3g} mV discharging)")
    median = float(np.median(v))
    if median > 2.0:
        return "full", f"median voltage {median:.3g} V (above 2 V)"
    return "half", f"median voltage {median:.3g} V, between 0 and 2 V: an anode against Li"


#: EC-Lab's placeholder for an electrode area or mass that was never entered
ECLAB_PLACEHOLDER = 0.001


def _stated(meta: dict, key: str) -> float | None:
    v = meta.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 and not np.isclose(v, ECLAB_PLACEHOLDER) else None


def stated_in_files(cell: Cell, measurements: list[Measurement]) -> tuple[Cell, dict]:
    """(the cell with the electrode area (cm2) and active mass its files state, where each came
    from): for a cell without a manifest. 0 and EC-Lab's placeholder 0.001 count as not stated;
    where no file states an area, 1 cm2 is assumed (``area_source`` "assumed")."""
    area = mass = None
    notes = {"area_source": "assumed", "mass_source": "not in the file"}
    for meas in measurements:
        name = Path(meas.source).name
        if area is None and (a := _stated(meas.meta, "area_cm2")) is not None:
            area, notes["area_source"] = a, f"stated in {name}"
        if mass is None and (m := _stated(meas.meta, "active_mass_g")) is not None:
            mass, notes["mass_source"] = m, f"stated in {name}"
    masses = dict(cell.masses_mg)
    if mass is not None:
        masses["active_mg"] = mass * 1000.0
    return dataclasses.replace(cell, area_cm2=1.0 if area is None else area, masses_mg=masses), notes


def impedance_of(protocol: Protocol, rows: pd.DataFrame, source: str) -> dict:
    """The spectra of one file fitted with the protocol's circuit and checked (Kramers-Kronig),
    as ``{"fits", "table", "circuit", "source", "drt", "over"}``: ``drt`` the distribution of
    relaxation times of the first spectrum that could be fitted (with that fit; None if none),
    ``over`` R_SEI, R_ct and the DRT peaks per spectrum where the file has several
    (``echem.eis.track``; None otherwise)."""
    from echem import eis  # scipy is imported where impedance is analysed

    imp = protocol.impedance
    circuit = imp.circuit if imp else eis.DEFAULT_CIRCUIT
    names = imp.names if imp else dict(eis.DEFAULT_NAMES)
    kk_threshold = protocol.analysis.kk_threshold
    fits = eis.fit_spectra(rows, circuit, names, kk_threshold=kk_threshold)
    table = eis.fit_table(fits)
    table.insert(0, "file", source)
    out = {"fits": fits, "table": table, "circuit": circuit, "source": source,
           "kk_threshold": kk_threshold, "drt": None, "over": None}
    shown = next((item for item in fits if item.fit is not None), None)
    if shown is not None:
        d = eis.drt(shown.fit.frequency_Hz, shown.fit.z)
        out["drt"] = {"drt": d, "fit": shown.fit, "spectrum": shown.spectrum,
                      "peaks": eis.assign_peaks(d, shown.fit)}
    if len(table) > 1:
        over = eis.track(rows, circuit, names, kk_threshold=kk_threshold)
        over.insert(0, "file", Path(source).name)
        out["over"] = over
    return out


def _record_impedance(res: CellResult, item: dict) -> None:
    """A file's impedance (:func:`impedance_of`) into the cell's result: R0, R_SEI and R_ct from
    the first spectrum of the cell's first impedance file (the spectrum before cycling in the
    paper's protocol, Figure 5b); a warning for each poor or failed fit and failed KK check."""
    from echem.eis import POOR_FIT_REL_RMS

    table, source, kk_threshold = item["table"], item["source"], item["kk_threshold"]
    earlier = res.tables.get("impedance_fits")
    res.tables["impedance_fits"] = table if earlier is None else pd.concat([earlier, table])
    res.analyses.setdefault("impedance", []).append(item)
    first = table.iloc[0]
    if earlier is None:
        for lab, name in (("R0", "R0_ohm"), ("R_SEI", "R_SEI_ohm"), ("R_ct", "R_ct_ohm")):
            if lab in table:
                res.metrics.append(metrics.value(name, first[lab], first.get(f"{lab}_stderr", np.nan)))
        if "R0" in table:
            res.metrics.append(metrics.value("eis_rel_rms", first["rel_rms"]))
    if item["drt"] is not None and "drt" not in res.analyses:
        res.analyses["drt"] = item["drt"]
        res.tables["drt_peaks"] = item["drt"]["peaks"]
    if item["over"] is not None and "impedance_over_test" not in res.analyses:
        res.tables["impedance_over_test"] = item["over"]
        res.analyses["impedance_over_test"] = item["over"]
    for _, row in table.iterrows():
        tag = f"{Path(source).name}, spectrum {int(row['spectrum'])}"
        if not bool(row["success"]):
            res.warnings.append(f"impedance fit failed or untrustworthy ({tag}): {row['message']}")
        elif row["rel_rms"] > POOR_FIT_REL_RMS:
            res.warnings.append(f"poor impedance fit ({tag}): relative rms {row['rel_rms']:.3g} "
                                f"> {POOR_FIT_REL_RMS}")
        if "kk_passed" in row and not bool(row["kk_passed"]):
            lo, hi = row.get("kk_fail_f_min_Hz", np.nan), row.get("kk_fail_f_max_Hz", np.nan)
            band = f", failing from {lo:.3g} to {hi:.3g} Hz" if np.isfinite(lo) and np.isfinite(hi) else ""
            res.warnings.append(f"Kramers-Kronig check failed ({tag}): largest residual "
                                f"{row.get('kk_max_residual', float('nan')):.3g} > {kk_threshold}{band}"
                                + (f" ({row['kk_message']})" if isinstance(row.get("kk_message"), str)
                                   and row["kk_message"] else ""))


def _cycling(res: CellResult, kind: str, cell: Cell, protocol: Protocol, data: pd.DataFrame,
             system: str) -> None:
    # the rows cleaned and cut into steps once, for the step table and every analysis after it
    steps = _guard(res, "step table", lambda: cycling.prepare(data))
    prepared = data if steps is None else steps
    table = None if steps is None else _guard(res, "step table", lambda: cycling.step_table(steps))
    if table is not None:
        res.tables["step_table"] = table
    res.analyses["data"] = prepared
    if kind == "symmetric":
        _guard(res, "symmetric-cell analyses", lambda: _symmetric(res, cell, protocol, prepared))
    else:
        _guard(res, "cycling analyses", lambda: _full(res, kind, cell, protocol, prepared))
    if kind == "half" and cell.phase is not None:
        _guard(res, "alloy phases", lambda: _phases(res, cell, data, system))
    if kind == "full" and "cycling" in res.analyses:
        _guard(res, "operating window", lambda: _window(res, cell, res.analyses["cycling"], system))


def _window(res: CellResult, cell: Cell, cyc, system: str) -> None:
    """A full cell with an alloy anode whose mass the manifest gives (masses.anode_mg): which
    phases the anode passes through as the cathode's charge of the reference cycle moves in and
    out, against the paper's recommended windows (Figure 5h; ``echem.phases.operating_window``)."""
    anode_mg = cell.masses_mg.get("anode_mg")
    if cell.phase is None or anode_mg is None or not np.isfinite(cyc.reference_capacity_mAh.value):
        return
    import dft
    from dft.voltage import phase_voltages
    x = float(phase_voltages(system).at[cell.phase, "guest_per_host"])
    if not np.isfinite(x) or x <= 0:
        return  # the pure guest (a Li metal anode): no alloy window
    ps = dft.load(system)
    m_host, m_guest = ps.molar_mass_g_mol[ps.host], ps.molar_mass_g_mol["Li"]
    host_mg = anode_mg * m_host / (m_host + x * m_guest)   # the host's share of the alloy's mass
    check = phases.operating_window(cyc.reference_capacity_mAh.value, host_mass_mg=host_mg,
                                    anode_phase=cell.phase, system=system)
    res.info["operating_window"] = check.verdict
    res.analyses["operating_window"] = check


def _phases(res: CellResult, cell: Cell, data: pd.DataFrame, system: str) -> None:
    """A half cell whose working electrode is an alloy host of ``system`` (its anode a phase of
    it): the phases its first lithiation went through, each plateau named by the nearest DFT
    phase voltage (paper, Figure 1a), and the composition reached (``echem.phases``)."""
    mass_mg = cell.masses_mg.get("active_mg", cell.masses_mg.get("anode_mg"))
    if mass_mg is None:
        res.warnings.append("alloy phases not identified: no host mass (masses.active_mg) in the "
                            "manifest, so Li per host atom cannot be counted")
        return
    pm = phases.identify(data, host_mass_mg=mass_mg, system=system)
    res.analyses["phases"] = pm
    res.tables["plateaus"] = pm.plateaus
    res.tables["phases_vs_dft"] = phases.compare_to_dft(pm)
    res.warnings += list(pm.warnings)
    res.metrics.append(metrics.value("x_max", pm.x_max))
    res.info["end_phase"] = pm.end_phase


def _estimate(name: str, est, res: CellResult) -> None:
    """A metric from an analysis' Estimate; a withheld one is NaN, with its reason as a warning."""
    if est.withheld:
        res.warnings.append(f"{metrics.spec(name).label} withheld: {est.withheld}")
    res.metrics.append(metrics.value(name, est.value, est.uncertainty if est.kind else None,
                                     n=est.n or None, censored=est.censored))


def _symmetric(res: CellResult, cell: Cell, protocol: Protocol, data) -> None:
    """``data``: the cycling data prepared (``echem.cycling.prepare``)."""
    a = protocol.analysis
    nuc = nucleation.overpotential(data, a.nucleation_step)
    res.analyses["nucleation"] = nuc
    if nuc is not None:
        res.metrics.append(metrics.value("nucleation_overpotential_mV", nuc.eta_mV))
        res.metrics.append(metrics.value("nucleation_noise_mV", nuc.noise_mV))
    sym = symmetric.analyse(data, collapse_fraction=a.failure_collapse_fraction,
                            persist_half_cycles=a.failure_persist_half_cycles,
                            voltage_limit_V=a.failure_voltage_limit_V,
                            plateau_window=tuple(a.plateau_window))
    res.analyses["polarization"], res.analyses["failure"] = sym.polarization, sym.failure
    res.analyses["symmetric"] = sym
    _estimate("polarization_mV", sym.polarization_mV, res)
    _estimate("hysteresis_mV", sym.hysteresis_mV, res)
    _estimate("failure_time_h", sym.failure_time_h, res)
    res.metrics.append(metrics.value("test_duration_h", sym.test_duration_h))
    res.info["polarization_half_cycles"] = sym.half_cycles_note
    res.info["coulombic_efficiency"] = sym.coulombic_efficiency
    fail = sym.failure
    if fail is not None:
        res.info["failure"] = {"kind": fail.kind, "time_h": fail.time_h, "evidence": fail.evidence,
                               "window_h": (fail.window_start_h, fail.window_end_h)}
    res.tables["half_cycles"] = sym.polarization.half_cycles


def _full(res: CellResult, kind: str, cell: Cell, protocol: Protocol, data) -> None:
    a = protocol.analysis
    res.analyses["active_mass_g"] = cell.active_mass_g
    res.analyses["profile_cycles"] = tuple(a.profile_cycles)
    cyc = cycling.analyse(data, cell_type=kind, active_mass_g=cell.active_mass_g,
                          area_cm2=cell.area_cm2, reference_cycle=a.reference_cycle,
                          retention_cycle=a.retention_cycle)
    res.analyses["cycling"] = cyc
    res.tables["cycle_table"] = cyc.cycles
    res.warnings += cyc.warnings
    res.info["ce_convention"] = cyc.ce_convention_text
    res.info["reference_cycle"] = cyc.reference_reason
    res.info["retention_cycle"] = cyc.retention_reason
    if cyc.electrode_role:
        res.info["electrode_role"] = f"{cyc.electrode_role} ({cyc.electrode_role_source})"
    _estimate("initial_discharge_capacity_mAh_g", cyc.reference_specific_capacity_mAh_g, res)
    _estimate("capacity_retention_pct", cyc.capacity_retention_pct, res)
    if cyc.retention_cycle is not None:
        res.metrics.append(metrics.value("retention_cycle", cyc.retention_cycle))
    if cyc.reference_cycle is not None:
        res.metrics.append(metrics.value("reference_cycle", cyc.reference_cycle))
    _estimate("mean_coulombic_efficiency", cyc.mean_coulombic_efficiency, res)
    _estimate("fade_pct_per_cycle", cyc.fade_pct_per_cycle, res)
    res.metrics.append(metrics.value("test_duration_h", cyc.test_duration_h))


def area_specific(res: CellResult, area_cm2: float | None) -> None:
    """R_SEI and R_ct also as area-specific resistances (ohm cm2), where the area is known."""
    for name in ("R_SEI_ohm", "R_ct_ohm"):
        m = res.metric(name)
        asr = symmetric.area_specific_resistance(m.value if m else None, area_cm2)
        if m is not None and np.isfinite(asr):
            res.metrics.append(metrics.value(name + "_cm2", asr,
                                             None if m.stderr is None else m.stderr * area_cm2,
                                             n=m.n))


def _guard(res: CellResult, what: str, job: Callable):
    """Run one analysis; a failure becomes a warning on the cell, not a crash of the batch."""
    try:
        return job()
    except Exception as exc:  # an analysis bug must not stop the other analyses and cells
        res.warnings.append(f"{what} failed: {describe(exc)}")
    return None


def _plain(x):
    """``x`` with paths and tuples as JSON-friendly strings and lists (for the result's key)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Path):
        return x.name
    return x

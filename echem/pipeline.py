"""Process an experiment folder: read each cell's files, run the analyses its protocol asks for,
and collect the numbers, tables and figures the report and the database present.

Data flow (DESIGN.md): file -> reader -> Measurement -> analyses -> :class:`CellResult`.
This module only wires the parts together; every number comes from the analysis modules.
A file that cannot be read, or an analysis that fails, becomes a warning on its cell: the other
files and cells go on.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import traceback
import tomllib
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from echem import cycling, symmetric
from echem.errors import EchemError
from echem.io import read
from echem.manifest import Cell, Experiment, check_compliance, load_manifest, manifest_path
from echem.protocol import CellBuild, Protocol
from echem.results import CellResult, FileRecord, Figure, Metric, sha256_file

#: per-cell metrics of summary.csv, in order, with units
SUMMARY_METRICS: dict[str, str] = {
    "nucleation_overpotential_mV": "mV",
    "polarization_mV": "mV",
    "failure_time_h": "h",
    "R_SEI_ohm": "ohm",
    "R_ct_ohm": "ohm",
    "initial_discharge_capacity_mAh_g": "mAh/g",
    "capacity_retention_pct": "%",
    "retention_cycle": "",
    "mean_coulombic_efficiency": "",
}

#: the relative-rms level above which a fit is reported as poor
POOR_FIT_REL_RMS = 0.05


@dataclass
class ExperimentResult:
    """The processed experiment: its manifest, one CellResult per cell, run-level warnings."""

    experiment: Experiment
    cells: list[CellResult]
    warnings: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    inferred: bool = False
    comparison: object = None          # echem.compare.Comparison, or None
    comparison_figures: list[Figure] = field(default_factory=list)
    dft_ranking: pd.DataFrame | None = None

    def summary(self) -> pd.DataFrame:
        """One row per cell: the columns of summary.csv (NaN where a metric does not apply)."""
        rows = []
        for c in self.cells:
            row = {"cell_id": c.cell_id, "cell_type": c.cell_type, "anode": c.anode,
                   "protocol": c.protocol}
            for name in SUMMARY_METRICS:
                m = c.metric(name)
                row[name] = np.nan if m is None else m.value
                if name in ("R_SEI_ohm", "R_ct_ohm"):
                    row[name.replace("_ohm", "_stderr_ohm")] = (
                        np.nan if m is None or m.stderr is None else m.stderr)
            # a symmetric cell that did not fail lasted at least its test duration (censored)
            row["test_duration_h"] = c.value("test_duration_h") if c.cell_type == "symmetric" else np.nan
            rows.append(row)
        return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# one cell
# ------------------------------------------------------------------------------------------

def _render(fig, name: str, caption: str) -> Figure:
    """A figure of ``echem.figures_*`` (a plain matplotlib Figure with fixed margins, no layout
    engine, not registered with pyplot) as PNG (110 dpi) and SVG. The PNG is compressed at zlib
    level 3, not Pillow's 6: a report figure encodes in about half the time, some 8 % larger.
    The SVG keeps its text as text (``svg.fonttype = "none"``; it names matplotlib's font list,
    ending in sans-serif), so that labels can be edited and searched, not as glyph outlines:
    written in half the time."""
    import matplotlib

    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=110, pil_kwargs={"compress_level": 3})
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(svg, format="svg")
    return Figure(name, caption, png.getvalue(), svg.getvalue())


def _use_agg() -> None:
    """Matplotlib draws with Agg, no display: set before impedance.py imports pyplot. (Imported
    here, not with this module, so that a report starts reading before matplotlib loads.)"""
    import matplotlib
    matplotlib.use("Agg")


def _split(meas) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(cycling rows, impedance rows) of a measurement; None where it has none."""
    d = meas.data
    if "frequency_Hz" in d:
        is_eis = d["frequency_Hz"].notna().to_numpy()
    else:
        is_eis = np.zeros(len(d), dtype=bool)
    eis_rows = d[is_eis] if is_eis.any() else None
    rest = d[~is_eis] if eis_rows is not None else d  # no copy of a long series without spectra
    cyc = None
    if len(rest) and {"time_s", "voltage_V", "current_mA"} <= set(rest.columns):
        if (rest["current_mA"].abs() > 0).any():
            cyc = rest.reset_index(drop=True)
    return cyc, eis_rows


def _eis_metrics(cell: Cell, protocol: Protocol, eis_rows: pd.DataFrame, res: CellResult,
                 source: str) -> None:
    from echem import eis  # imported where needed: impedance.py brings altair and pyplot along
    imp = protocol.impedance
    circuit = imp.circuit if imp else eis.DEFAULT_CIRCUIT
    names = imp.names if imp else dict(eis.DEFAULT_NAMES)
    kk_threshold = protocol.analysis.kk_threshold
    fits = eis.fit_spectra(eis_rows, circuit, names, kk_threshold=kk_threshold)
    table = eis.fit_table(fits)
    table.insert(0, "file", source)
    res.tables["impedance_fits"] = pd.concat([res.tables.get("impedance_fits"), table]) \
        if "impedance_fits" in res.tables else table
    first = table.iloc[0]
    for lab_name, metric in (("R_SEI", "R_SEI_ohm"), ("R_ct", "R_ct_ohm")):
        if lab_name in table and res.metric(metric) is None:
            res.metrics.append(Metric(metric, float(first[lab_name]), "ohm",
                                      float(first.get(f"{lab_name}_stderr", np.nan))))
    if "R0" in table and res.metric("R0_ohm") is None:
        res.metrics.append(Metric("R0_ohm", float(first["R0"]), "ohm", float(first.get("R0_stderr", np.nan))))
        res.metrics.append(Metric("eis_rel_rms", float(first["rel_rms"]), ""))
    for _, row in table.iterrows():
        tag = f"{Path(source).name}, spectrum {int(row['spectrum'])}"
        if not bool(row["success"]):
            res.warnings.append(f"impedance fit failed or untrustworthy ({tag}): {row['message']}")
        elif row["rel_rms"] > POOR_FIT_REL_RMS:
            res.warnings.append(f"poor impedance fit ({tag}): relative rms {row['rel_rms']:.3g} "
                                f"> {POOR_FIT_REL_RMS}")
        if "kk_passed" in row and not bool(row["kk_passed"]):
            res.warnings.append(f"Kramers-Kronig check failed ({tag}): largest residual "
                                f"{row.get('kk_max_residual', float('nan')):.3g} > {kk_threshold}"
                                + (f" ({row['kk_message']})" if isinstance(row.get("kk_message"), str) else ""))
    # figure of the first spectrum that could be fitted, with the fit and KK test of the table
    shown = next((item for item in fits if item.fit is not None), None)
    if shown is None:
        return
    from echem import figures_eis
    res.figures.append(_render(figures_eis.eis_figure(shown.fit, shown.kk, title=f"{cell.id}: impedance"),
                               "impedance", f"{cell.id}: Nyquist, Bode and residuals of "
                               f"{Path(source).name} (spectrum {shown.spectrum}) with the {circuit} fit"))


def _symmetric_metrics(cell: Cell, protocol: Protocol, data, res: CellResult) -> None:
    """``data``: the cycling DataFrame, or it prepared (``echem.cycling.prepare``)."""
    a = protocol.analysis
    from echem import figures_cycling, nucleation
    nuc = nucleation.overpotential(data, a.nucleation_step)
    if nuc is not None:
        res.metrics.append(Metric("nucleation_overpotential_mV", nuc.eta_mV, "mV"))
        res.metrics.append(Metric("nucleation_noise_mV", nuc.noise_mV, "mV"))
    fail = symmetric.failure(data, collapse_fraction=a.failure_collapse_fraction,
                             persist_half_cycles=a.failure_persist_half_cycles,
                             voltage_limit_V=a.failure_voltage_limit_V,
                             plateau_window=tuple(a.plateau_window))
    pol = symmetric.polarization(data, plateau_window=tuple(a.plateau_window))
    half = pol.half_cycles
    before = half if fail is None else half[half["end_time_h"] <= fail.time_h]
    if len(before) == 0:
        before = half
    res.metrics.append(Metric("polarization_mV", float(np.nanmean(before["overpotential_mV"])), "mV",
                              float(np.nanstd(before["overpotential_mV"]))))
    res.metrics.append(Metric("hysteresis_mV", float(np.nanmean(before["hysteresis_mV"])), "mV"))
    res.metrics.append(Metric("failure_time_h", np.nan if fail is None else fail.time_h, "h"))
    if fail is not None:
        res.info["failure"] = {"kind": fail.kind, "time_h": fail.time_h, "evidence": fail.evidence,
                               "window_h": (fail.window_start_h, fail.window_end_h)}
    res.tables["half_cycles"] = half
    res.figures.append(_render(figures_cycling.voltage_time_figure(data, nuc, title=cell.id),
                               "voltage_time", f"{cell.id}: voltage vs time, nucleation dip inset"))
    res.figures.append(_render(figures_cycling.polarization_figure(data, pol, fail, title=cell.id),
                               "polarization", f"{cell.id}: polarization per half cycle"
                               + ("" if fail is None else f", {fail.kind} at {fail.time_h:.1f} h")))


def _full_metrics(cell: Cell, protocol: Protocol, data: pd.DataFrame, res: CellResult) -> None:
    a = protocol.analysis
    from echem import figures_cycling
    mass = cell.active_mass_g
    table = cycling.cycle_table(data, active_mass_g=mass, area_cm2=cell.area_cm2,
                                reference_cycle=a.reference_cycle)
    res.tables["cycle_table"] = table
    complete = table[(table["charge_capacity_mAh"] > 0) & (table["discharge_capacity_mAh"] > 0)]
    if complete.empty:
        res.warnings.append("no complete charge/discharge cycle in the data")
        return
    spec = "specific_discharge_capacity_mAh_g"
    ref = table[table["cycle"] == a.reference_cycle]
    if spec in table and len(ref):
        res.metrics.append(Metric("initial_discharge_capacity_mAh_g", float(ref[spec].iloc[0]), "mAh/g"))
    last = int(complete["cycle"].max())
    n = a.retention_cycle if a.retention_cycle is not None and a.retention_cycle <= last else last
    if a.retention_cycle is not None and a.retention_cycle > last:
        res.warnings.append(f"retention asked at cycle {a.retention_cycle}, the data end at cycle "
                            f"{last}: retention reported at cycle {last}")
    retention = cycling.capacity_retention(table, n, a.reference_cycle)
    res.metrics.append(Metric("capacity_retention_pct", 100.0 * retention, "%"))
    res.metrics.append(Metric("retention_cycle", float(n), ""))
    ce = complete["coulombic_efficiency"]
    res.metrics.append(Metric("mean_coulombic_efficiency", float(ce.mean()), "",
                              float(ce.std()) if len(ce) > 1 else None))
    res.figures.append(_render(figures_cycling.voltage_capacity_figure(
        data, a.profile_cycles, active_mass_g=mass, title=cell.id), "profiles",
        f"{cell.id}: voltage profiles of cycles {', '.join(map(str, a.profile_cycles))}"))
    res.figures.append(_render(figures_cycling.capacity_figure(data, active_mass_g=mass, title=cell.id),
                               "capacity", f"{cell.id}: discharge capacity and coulombic efficiency"))


def analyse_cell(cell: Cell, protocol: Protocol, out_dir: Path | None = None,
                 reading: dict[Path, Future] | None = None) -> CellResult:
    """Read a cell's files and run the analyses its protocol and type call for.

    With ``out_dir``, the cell's report folder (:func:`echem.report.write.write_cell`) is written
    there by the process that analyses the cell: the data table by a background thread while the
    analyses run (Arrow's CSV writer releases the GIL; 1,000,000 rows take about 1.3 s), the rest
    at the end. The result then holds no data table, so it stays small to send between processes.
    ``reading``: files of the cell whose reading has already started (path -> Future of
    ``_read_file``), as :func:`run` does for the first cell.
    """
    _use_agg()
    with ThreadPoolExecutor(max_workers=1) as background:
        writing: list[Future] = []
        res = _analyse_and_write(cell, protocol, out_dir, reading, background, writing)
        _wait(writing)
    return res


def _analyse_and_write(cell: Cell, protocol: Protocol, out_dir: Path | None,
                       reading: dict[Path, Future] | None, background: ThreadPoolExecutor,
                       writing: list[Future]) -> CellResult:
    """:func:`analyse_cell`, leaving the data table's write to ``background`` (its Future
    appended to ``writing``) still running when it returns."""
    if out_dir is None:
        return _analyse_cell(cell, protocol, lambda data: None, reading)
    from echem.output import write_csv
    from echem.report.write import write_cell

    out_dir.mkdir(parents=True, exist_ok=True)
    # a shallow copy: the analyses may add columns to theirs, not to the one being written
    res = _analyse_cell(cell, protocol, lambda data: writing.append(
        background.submit(write_csv, data.copy(deep=False), out_dir / "data.csv")), reading)
    res.tables.pop("data", None)  # written above, by the background thread
    write_cell(res, out_dir)
    return res


def _wait(writing: list[Future]) -> None:
    """Wait for the writes; a failed one (disk full, ...) fails the report, as any other write."""
    for job in writing:
        job.result()
    writing.clear()


def _read_file(path) -> tuple[FileRecord, object]:
    """(FileRecord, Measurement) of one file; raises EchemError or OSError as read does. The
    sha256 is computed by a thread of its own meanwhile (hashlib releases the GIL)."""
    with ThreadPoolExecutor(max_workers=1) as hashing:
        digest = hashing.submit(sha256_file, path)
        meas = read(path)
        return FileRecord(str(path), digest.result(), Path(path).stat().st_size,
                          meas.meta.get("format", "")), meas


def _size(path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _analyse_cell(cell: Cell, protocol: Protocol, on_data: Callable[[pd.DataFrame], None],
                  reading: dict[Path, Future] | None = None) -> CellResult:
    res = CellResult(cell.id, cell.type, cell.anode, protocol.name)
    files = list(cell.files)
    # All of the cell's files are read at once in threads (the readers spend most of their time
    # in Arrow and numpy, which release the GIL), and taken smallest first: an impedance file is
    # fitted and drawn here while a long cycling file is still being read (1,000,000 rows: ~1 s).
    with ThreadPoolExecutor(max_workers=max(1, min(len(files), 4))) as readers:
        started = reading or {}
        futures = [started[path] if path in started else readers.submit(_read_file, path)
                   for path in files]
        read_ok: dict[int, tuple[FileRecord, object]] = {}
        cyc_parts, has_eis = [], False
        for i in sorted(range(len(files)), key=lambda i: _size(files[i])):
            path = files[i]
            try:
                record, meas = futures[i].result()
            except (EchemError, OSError) as exc:
                res.warnings.append(f"unreadable file: {exc}")
                res.info.setdefault("unreadable", []).append(str(path))
                continue
            read_ok[i] = record, meas
            res.warnings += [f"{Path(path).name}: {w}" for w in meas.meta.get("warnings", [])]
            if meas.meta.get("truncated"):
                res.warnings.append(f"{Path(path).name}: the file ends in an incomplete row "
                                    "(truncated); the complete rows were used")
            cyc, imp = _split(meas)
            if cyc is not None:
                cyc_parts.append((i, meas, cyc))
            if imp is not None:
                has_eis = True
                _guard(res, "impedance",
                       lambda: _eis_metrics(cell, protocol, imp, res, meas.meta["source"]))
    measurements = [read_ok[i][1] for i in sorted(read_ok)]  # in the manifest's order
    res.files = [read_ok[i][0] for i in sorted(read_ok)]
    cyc_parts = [(meas, cyc) for _, meas, cyc in sorted(cyc_parts, key=lambda p: p[0])]
    data = None
    if cyc_parts:
        meas, data = max(cyc_parts, key=lambda mc: len(mc[1]))
        if len(cyc_parts) > 1:
            res.warnings.append(f"{len(cyc_parts)} cycling files: analysed the longest, "
                                f"{Path(meas.meta['source']).name}")
        res.tables["data"] = data
        on_data(data)
    if data is not None:
        # the rows cleaned and cut into steps once, for the step table and the symmetric-cell
        # analyses and figures (each would do it again: 1,000,000 rows, ~0.05 s each)
        prepared = _guard(res, "step table", lambda: cycling.prepare(data))
        step_table = None if prepared is None else _guard(res, "step table",
                                                          lambda: cycling.step_table(prepared))
        if step_table is not None:
            res.tables["step_table"] = step_table
        res.metrics.append(Metric("test_duration_h",
                                  float(data["time_s"].max() - data["time_s"].min()) / 3600, "h"))
        if cell.type == "symmetric":
            _guard(res, "symmetric-cell analyses",
                   lambda: _symmetric_metrics(cell, protocol, data if prepared is None else prepared, res))
        else:
            _guard(res, "cycling analyses", lambda: _full_metrics(cell, protocol, data, res))
    elif not has_eis and measurements:
        res.warnings.append("no cycling or impedance data found in the cell's files")
    if measurements:
        _guard(res, "protocol compliance check",
               lambda: res.warnings.extend(check_compliance(cell, protocol, measurements)))
    return res


def _guard(res: CellResult, what: str, job: Callable):
    """Run one analysis; a failure becomes a warning on the cell, not a crash of the batch."""
    try:
        return job()
    except EchemError as exc:
        res.warnings.append(f"{what} failed: {exc}")
    except Exception as exc:  # an analysis bug must not stop the other cells
        last = traceback.extract_tb(exc.__traceback__)[-1]
        res.warnings.append(f"{what} failed: {type(exc).__name__}: {exc} "
                            f"({Path(last.filename).name}:{last.lineno})")
    return None


# ------------------------------------------------------------------------------------------
# an experiment
# ------------------------------------------------------------------------------------------

def infer_experiment(folder: Path) -> tuple[Experiment, list[str]]:
    """An Experiment for a folder without ``experiment.toml``: one cell per readable file, its type
    guessed from the data (impedance only or voltage symmetric about 0 -> symmetric, cells whose
    voltage stays above 2 V -> full, otherwise half), with the protocol defaults of that type."""
    warnings = [f"{folder}: no experiment.toml; cells were inferred from the files (one cell per "
                "file, default analysis settings)"]
    cells, protocols = [], {}
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        kind = "symmetric"
        try:
            meas = read(path)
            cyc, _ = _split(meas)
            if cyc is not None:
                v = cyc["voltage_V"].to_numpy()
                kind = "full" if np.nanmin(v) > 2.0 else ("symmetric" if np.nanmin(v) < 0 else "half")
        except EchemError:
            pass  # analyse_cell will report it
        name = f"default-{kind}"
        if name not in protocols:
            # no schedule and no impedance settings: nothing to comply with, default analyses
            protocols[name] = Protocol(name=name, title=f"defaults for a {kind} cell",
                                       cell=CellBuild(type=kind))
        cells.append(Cell(id=path.stem, type=kind, anode="unknown", protocol=name,
                          files=(path.resolve(),), area_cm2=1.0))
    exp = Experiment(path=Path(folder) / "experiment.toml", title=f"{Path(folder).name} (inferred)",
                     cells=cells, protocols=protocols)
    return exp, warnings


def _analyse(args):
    cell, protocol, out_dir = args
    return analyse_cell(cell, protocol, out_dir)


def run(folder: str | Path, *, jobs: int | None = None,
        progress: Callable[[int, int, CellResult], None] | None = None,
        cells_dir: Path | None = None) -> ExperimentResult:
    """Process every cell of ``folder`` (its experiment.toml, or cells inferred from its files).

    ``jobs``: parallel worker processes (default: the number of cores; 1 runs in this process).
    ``progress(done, total, result)`` is called as each cell finishes. ``cells_dir``: write each
    cell's report folder under it as the cell is analysed (see :func:`analyse_cell`; the folder
    names are :func:`echem.report.write.cell_folders`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EchemError("not a folder", folder)
    warnings: list[str] = []
    ahead = ThreadPoolExecutor(max_workers=4)
    try:
        early: dict[Path, Future] = {}
        if manifest_path(folder).exists():
            # Validating the manifest loads its protocols, which imports impedance.py, scipy and
            # matplotlib (~1.2 s); when the cells are analysed in this process, the first cell's
            # files are read meanwhile (Arrow and numpy release the GIL).
            n_cells, first_files = _first_cell_files(folder)
            if min(jobs or os.cpu_count() or 1, n_cells) == 1:
                early = {path: ahead.submit(_read_file, path) for path in first_files}
            _use_agg()
            # a listed file that is missing is reported on its cell (unreadable), like a corrupt one
            exp = load_manifest(folder, check_files=False)
            inferred = False
        else:
            _use_agg()
            exp, warnings = infer_experiment(folder)
            inferred = True
        return _run(exp, warnings, inferred, jobs, progress, cells_dir, early)
    finally:
        ahead.shutdown(wait=False, cancel_futures=True)


def _first_cell_files(folder: Path) -> tuple[int, list[Path]]:
    """(number of cells, files of the first cell) as the manifest lists them, read as plain TOML
    without validation (load_manifest validates); (0, []) when it cannot tell."""
    path = manifest_path(folder)
    try:
        cells = tomllib.loads(path.read_text(encoding="utf-8"))["cell"]
        files = [Path(name) for name in cells[0]["files"]]
        return len(cells), [f if f.is_absolute() else path.parent / f for f in files]
    except Exception:  # any fault is load_manifest's to report, with its field and reason
        return 0, []


def _run(exp: Experiment, warnings: list[str], inferred: bool, jobs: int | None, progress,
         cells_dir: Path | None, early: dict[Path, Future]) -> ExperimentResult:
    dirs = [None] * len(exp.cells)
    if cells_dir is not None:
        from echem.report.write import cell_folders
        dirs = [Path(cells_dir) / name for name in cell_folders(c.id for c in exp.cells)]
    tasks = [(c, exp.protocol_for(c), d) for c, d in zip(exp.cells, dirs)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks) or 1))
    results: list[CellResult] = []
    if jobs == 1:
        # a cell's data table is still being written while the next cell, or the cross-reference
        # after the last one, is analysed (one write at a time: memory holds at most two tables)
        with ThreadPoolExecutor(max_workers=1) as background:
            writing: list[Future] = []
            for i, (cell, protocol, out_dir) in enumerate(tasks):
                _wait(writing)
                results.append(_analyse_and_write(cell, protocol, out_dir, early if i == 0 else None,
                                                  background, writing))
                if progress:
                    progress(len(results), len(tasks), results[-1])
            out = _experiment_result(exp, results, warnings, inferred)
            _wait(writing)
        return out
    # forkserver: workers start from a clean server process, not as forks of this one,
    # which may already run Arrow's reader threads (forking those can deadlock a worker).
    # The server imports the analysis modules once; each worker is a fork of it.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["echem.pipeline", "echem.eis", "echem.figures_cycling",
                                "echem.figures_eis", "echem.figures_compare"])
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        for r in pool.map(_analyse, tasks):
            results.append(r)
            if progress:
                progress(len(results), len(tasks), r)
    return _experiment_result(exp, results, warnings, inferred)


def _experiment_result(exp: Experiment, results: list[CellResult], warnings: list[str],
                       inferred: bool) -> ExperimentResult:
    unreadable = [u for r in results for u in r.info.get("unreadable", [])]
    out = ExperimentResult(exp, results, warnings, unreadable, inferred)
    cross_reference(out)
    return out


def cross_reference(result: ExperimentResult) -> None:
    """Hold the measured cells against the DFT ranking (echem.compare); a warning if impossible."""
    from echem import compare, figures_compare
    summary = result.summary()
    try:
        import dft
        system = result.experiment.dft_system or "Li-Ag"
        phases = dft.load(system)
        ranking = dft.rank(phases, phases=list(phases.table.index))
        comp = compare.compare(summary, system, phase_set=phases, ranking=ranking)
    except (EchemError, ImportError, KeyError, ValueError) as exc:
        result.warnings.append(f"cross-reference with DFT not possible: {exc}")
        return
    if comp.unmatched:
        result.warnings.append("anodes that are not phases of the DFT system (left out of the "
                               f"cross-reference): {', '.join(map(str, comp.unmatched))}")
    result.comparison = comp
    measured = [p for p in comp.dft_order]
    result.dft_ranking = (ranking.group_scores.reindex(measured)
                          .assign(total=ranking.scores.reindex(measured)).reset_index()
                          .rename(columns={"index": "phase"}))
    if len(measured):
        result.comparison_figures.append(_render(
            figures_compare.comparison_figure(comp, ranking.group_scores),
            "comparison", "DFT scores of the measured anode phases (left, as the paper's Figure 4) "
            "beside the measured metrics (right, Figure 5)"))

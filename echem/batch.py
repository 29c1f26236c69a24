"""The orchestrator: read -> analyse (on an executor) -> render -> write -> store.

:func:`run` takes a folder (its ``experiment.toml``, or cells inferred from its files) and:

1. makes one :class:`CellTask` per cell and hands each to the executor it is given (serial in
   this process by default; :func:`local_executor` for worker processes; a Dask cluster's
   ``Client.get_executor()``): one task, :func:`process_cell`, reads one cell's files
   (``echem.io.read``), analyses them (``echem.analysis.cell.analyse_cell``, pure), renders its
   figures (``echem.report.figures``) and writes its folder of the report;
2. cross-references the cells with the DFT ranking (``echem.analysis.experiment``);
3. writes the report (``echem.report.write``: whole or not at all);
4. stores the results in the store it is given (none by default: tests and notebooks never write
   into the lab's database; the CLI passes the one of ``--db`` or ``$ECHEM_DB``).

This is the only module that knows about executors, folders and databases. A cell that cannot be
processed is an outcome (a warning on its CellResult), not an exception lost in a pool.
"""
from __future__ import annotations

import multiprocessing
import os
import stat
import traceback
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from echem import metrics
from echem.analysis.cell import FileRead, analyse_cell
from echem.analysis.experiment import cross_reference
from echem.errors import EchemError
from echem.io import read
from echem.manifest import Cell, Experiment, load_manifest, manifest_path
from echem.protocol import CellBuild, Protocol
from echem.results import CellResult, ExperimentResult, FileRecord, sha256_file


@dataclass(frozen=True)
class CellTask:
    """One cell to process: picklable, so it can be sent to a worker process or a cluster.
    ``out_dir``: the cell's folder in the report being written (None: nothing is written)."""

    cell: Cell
    protocol: Protocol
    out_dir: Path | None = None


class InlineExecutor(Executor):
    """An executor that runs each task at once in this process (the serial choice)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class ProcessExecutor(Executor):
    """``jobs`` worker processes (a ``multiprocessing`` pool) behind the ``Executor`` interface.
    Workers start from a forkserver that imported the analysis and figure modules once (not as
    forks of this process, which may run reader threads: forking those can deadlock).
    ``shutdown(cancel_futures=True)`` ends the workers at once (Ctrl-C, SIGTERM), where a
    ``ProcessPoolExecutor`` would wait for the tasks under way."""

    def __init__(self, jobs: int):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["echem.batch", "echem.eis", "echem.report.figures.cycling",
                                    "echem.report.figures.eis"])
        self._pool = ctx.Pool(processes=jobs)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        self._pool.apply_async(fn, args, kwargs, callback=future.set_result,
                               error_callback=future.set_exception)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self._pool.terminate()
        else:
            self._pool.close()
        if wait or cancel_futures:
            self._pool.join()


def local_executor(jobs: int | None = None) -> Executor:
    """Serial in this process for ``jobs`` 1, else :class:`ProcessExecutor` with ``jobs`` worker
    processes (default: the number of cores)."""
    jobs = jobs or os.cpu_count() or 1
    return InlineExecutor() if jobs <= 1 else ProcessExecutor(jobs)


def read_file(path: str | Path) -> FileRead:
    """One input file: its Measurement and the record of its bytes (sha256 computed by a thread
    of its own while the reader parses), or the reason it could not be read. Only regular files
    are opened, so that neither the reader nor the hash can wait on a pipe or a device."""
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise EchemError("not a regular file (a pipe, device or folder is never read)", path)
        with ThreadPoolExecutor(max_workers=1) as hashing:
            digest = hashing.submit(sha256_file, path)
            meas = read(path)
            record = FileRecord(str(path), digest.result(), st.st_size, meas.meta.get("format", ""))
        return FileRead(str(path), record, meas)
    except EchemError as exc:
        return FileRead(str(path), error=str(exc))
    except OSError as exc:
        return FileRead(str(path), error=f"{path}: {exc.strerror or exc}")


def read_files(paths) -> list[FileRead]:
    """The cell's files, read together in threads (the readers spend most of their time in Arrow
    and numpy, which release the GIL), in the order given."""
    paths = list(paths)
    if len(paths) <= 1:
        return [read_file(p) for p in paths]
    with ThreadPoolExecutor(max_workers=min(len(paths), 4)) as pool:
        return list(pool.map(read_file, paths))


def process_cell(task: CellTask) -> CellResult:
    """The executor's task: read, analyse, render and (with ``out_dir``) write one cell. Returns
    its CellResult without the long data table, so that it is small to send between processes.
    A failure of reading, analysing or drawing is a warning on the result; a failure to write
    the report (disk full) is raised, since the report must be whole or not at all."""
    from echem.report import figures, write

    cell = task.cell
    try:
        res = analyse_cell(cell, task.protocol, read_files(cell.files))
    except Exception as exc:  # a bug must cost one cell, not the batch
        res = CellResult(cell.id, cell.type, cell.anode, task.protocol.name)
        res.warnings.append(f"the cell could not be analysed: {_describe(exc)}")
        res.info["unreadable"] = []
    data = res.tables.pop("data", None)
    with ThreadPoolExecutor(max_workers=1) as background:
        # the long data table is written (Arrow releases the GIL) while the figures are drawn
        writing = None
        if task.out_dir is not None:
            task.out_dir.mkdir(parents=True, exist_ok=True)
            if data is not None:
                writing = background.submit(write.write_data, data, task.out_dir)
        try:
            res.figures = figures.cell_figures(res)
        except Exception as exc:
            res.warnings.append(f"the cell's figures could not be drawn: {_describe(exc)}")
        res.analyses.pop("data", None)  # the (prepared) data the figures were drawn from
        if task.out_dir is not None:
            write.write_cell(res, task.out_dir)
        if writing is not None:
            writing.result()
    return res


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def load(folder: str | Path) -> tuple[Experiment, list[str], bool]:
    """(experiment, warnings, inferred): the folder's validated ``experiment.toml``, or cells
    inferred from its files (:func:`infer_experiment`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EchemError("not a folder", folder)
    if manifest_path(folder).exists():
        # a listed file that is missing is reported on its cell (unreadable), like a corrupt one
        return load_manifest(folder, check_files=False), [], False
    exp, warnings = infer_experiment(folder)
    return exp, warnings, True


def infer_experiment(folder: Path) -> tuple[Experiment, list[str]]:
    """An Experiment for a folder without ``experiment.toml``: one cell per file, of type "auto"
    (the per-cell analysis infers it from the data and says so), with default analysis settings."""
    warnings = [f"{folder}: no experiment.toml; cells were inferred from the files (one cell per "
                "file, default analysis settings)"]
    cells = []
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        cells.append(Cell(id=path.stem, type="auto", anode="unknown", protocol="default",
                          files=(path.resolve(),), area_cm2=1.0))
    protocols = {"default": Protocol(name="default", title="default analysis settings",
                                     cell=CellBuild(type="symmetric"))}
    exp = Experiment(path=Path(folder) / "experiment.toml", title=f"{Path(folder).name} (inferred)",
                     cells=cells, protocols=protocols)
    return exp, warnings


def experiment_key(folder: Path, root: Path | None = None) -> str:
    """How the results database names an experiment: its folder relative to ``root`` (a watched
    folder), else the folder's name; never an absolute path, so that machines that mount the
    lab's share at different places see one experiment."""
    folder = Path(folder).resolve()
    if root is not None:
        return folder.relative_to(Path(root).resolve()).as_posix() or "."
    return folder.name


def run(folder: str | Path, *, out: str | Path | None = None, jobs: int = 1,
        executor: Executor | None = None, store=None,
        progress: Callable[[int, int, CellResult], None] | None = None,
        root: Path | None = None) -> ExperimentResult:
    """Process every cell of ``folder``; with ``out``, write its report there (replacing an
    earlier report, whole or not at all); with ``store``, store the results in it.

    Where the cells are processed: ``executor`` when given (a Dask cluster's
    ``Client.get_executor()``, or any ``concurrent.futures.Executor``), else
    :func:`local_executor` with ``jobs`` worker processes (no more than there are cells; 1: in
    this process; None: the number of cores). ``progress(done, total, result)`` is called as each
    cell finishes. ``root``: the watched folder the experiment lies in (names the experiment in
    the store).
    """
    from echem import __version__
    from echem.report import figures, write

    folder = Path(folder)
    exp, warnings, inferred = load(folder)
    if out is not None:
        check_output(Path(out), folder, exp)
    own = executor is None
    if own:
        executor = local_executor(min(jobs or os.cpu_count() or 1, max(len(exp.cells), 1)))
    try:
        if out is None:
            result = _run(exp, warnings, inferred, executor, progress, None)
        else:
            with write.staged(out) as stage:
                result = _run(exp, warnings, inferred, executor, progress, stage / "cells")
                result.figures = figures.experiment_figures(result.comparison, result.group_scores)
                write.write_experiment(result, folder, stage)
    except BaseException:
        if own:  # Ctrl-C, SIGTERM, a failed write: the workers end now, not after their cells
            executor.shutdown(wait=False, cancel_futures=True)
        raise
    if own:
        executor.shutdown(wait=True)
    if store is not None:
        store.ingest(experiment_key(folder, root), exp.title, result.cells, __version__)
    return result


def check_output(out: Path, folder: Path, exp: Experiment) -> None:
    """Refuse an output folder that is the input folder, or holds it or any input file: writing
    the report replaces the output folder whole. (An output folder inside the input folder is
    fine: its contents are never inputs.)"""
    target = out.resolve()
    inputs = [folder.resolve(), manifest_path(folder).resolve(),
              *(Path(f).resolve() for c in exp.cells for f in c.files)]
    for path in inputs:
        if path == target or target in path.parents:
            raise EchemError(f"holds the input {path}; the report replaces its output folder whole, "
                             "so it must not hold any input. Choose another output folder (-o)", out)


def _run(exp: Experiment, warnings: list[str], inferred: bool, executor: Executor, progress,
         cells_dir: Path | None) -> ExperimentResult:
    from echem.report.write import cell_folders

    dirs = [None] * len(exp.cells) if cells_dir is None else \
        [cells_dir / name for name in cell_folders(c.id for c in exp.cells)]
    tasks = [CellTask(c, exp.protocol_for(c), d) for c, d in zip(exp.cells, dirs)]
    done = []

    def report(future: Future) -> None:
        done.append(future)
        if progress and not future.exception():
            progress(len(done), len(tasks), future.result())

    futures = []
    try:
        for task in tasks:
            futures.append(executor.submit(process_cell, task))
            futures[-1].add_done_callback(report)
        cells = [f.result() for f in futures]  # in the manifest's order
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    result = ExperimentResult(exp, cells, list(warnings), inferred)
    xref = cross_reference(metrics.summary_table(result.cells), exp.dft_system or "Li-Ag")
    result.warnings += xref.warnings
    result.comparison, result.dft_ranking, result.group_scores = xref.comparison, xref.ranking, \
        xref.group_scores
    return result

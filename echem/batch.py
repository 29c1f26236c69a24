"""The orchestrator: read -> analyse (on an executor) -> render -> write -> store.

:func:`run` takes a folder (its ``experiment.toml``, or cells inferred from its files) and:

1. makes one :class:`CellTask` per cell and hands each to the executor it is given (serial in
   this process by default; :func:`local_executor` for worker processes; a Dask cluster's
   :func:`cluster_executor`): one task, :func:`process_cell`, reads one cell's files
   (``echem.io.read``), analyses them (``echem.analysis.cell.analyse_cell``, pure), renders its
   figures (``echem.report.figures``) and writes its folder of the report; on a cluster whose
   workers cannot see this machine's files, the files travel with the task as bytes and the
   cell's folder comes back in its result (:func:`process_cell`);
2. cross-references the cells with the DFT ranking (``echem.analysis.experiment``);
3. writes the report (``echem.report.write``: whole or not at all);
4. stores the results in the store it is given (none by default: tests and notebooks never write
   into the lab's database; the CLI passes the one of ``--db`` or ``$ECHEM_DB``).

This is the only module that knows about executors, folders and databases. A cell that cannot be
processed is an outcome (a warning on its CellResult), not an exception lost in a pool.
"""
from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import stat
import tempfile
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from echem import metrics
from echem.analysis.cell import FileRead, analyse_cell
from echem.analysis.experiment import cross_reference
from echem.errors import EchemError, describe
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
    system: str = "Li-Ag"   # the DFT alloy system of the experiment
    data_dir: Path | None = None   # keep each file read as Battery Data Format Parquet here
    figure_style: str = "screen"   # a name in echem.report.figures.style.STYLES
    #: the cell's files as bytes, by their path here, for a worker that cannot see them; the
    #: folders it writes (``out_dir``, ``data_dir``) then come back in ``CellResult.outputs``
    shipped: dict[str, bytes] | None = None


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

    def __exit__(self, exc_type, exc, tb):
        self.shutdown(wait=True, cancel_futures=exc_type is not None)  # on an error: end now
        return False

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


class ClusterExecutor(Executor):
    """The executor of a Dask distributed cluster (``Client.get_executor()``), and whether its
    workers see this machine's files and folders (:meth:`sees`)."""

    def __init__(self, client):
        self.client = client
        self._executor = client.get_executor()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def sees(self, files: list[tuple[str, int]], folders: list[str]) -> bool:
        """Whether every worker now in the cluster reads each of ``files`` (path, size in bytes)
        as a regular file of that size and can write into each of ``folders``: a share mounted
        at the same path. Asked of the workers themselves (``Client.run``)."""
        answers = self.client.run(_sees, files, folders)
        return bool(answers) and all(answers.values())

    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))


def _sees(files: list[tuple[str, int]], folders: list[str]) -> bool:
    """On a worker: ``ClusterExecutor.sees``."""
    for path, size in files:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != size or not os.access(path, os.R_OK):
            return False
    return all(os.path.isdir(d) and os.access(d, os.W_OK) for d in folders)


@contextlib.contextmanager
def cluster_executor(address: str):
    """A :class:`ClusterExecutor` on the Dask distributed cluster whose scheduler listens at
    ``address`` (``dask scheduler`` / ``dask worker``, started by the lab): one task per cell,
    run by a worker. Workers that see the cells' files and the report folder at the same paths
    as this machine (a shared folder) read and write them there; otherwise the files are sent
    to them as bytes and what they write comes back (:func:`run` asks them which)."""
    from distributed import Client
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise EchemError(f"no Dask scheduler answers at {address}: {exc}") from exc
    try:
        yield ClusterExecutor(client)
    finally:
        client.close()


def read_file(path: str | Path, shown_as: str | None = None) -> FileRead:
    """One input file: its Measurement and the record of its bytes (sha256 computed by a thread
    of its own while the reader parses), or the reason it could not be read. Only regular files
    are opened, so that neither the reader nor the hash can wait on a pipe or a device.
    ``shown_as``: the path to record instead of ``path`` (a copy read on a worker)."""
    path = Path(path)
    name = str(path) if shown_as is None else shown_as
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise EchemError("not a regular file (a pipe, device or folder is never read)", path)
        with ThreadPoolExecutor(max_workers=1) as hashing:
            digest = hashing.submit(sha256_file, path)
            meas = read(path)
            record = FileRecord(name, digest.result(), st.st_size, meas.format)
        meas.source = name
        return FileRead(name, record, meas)
    except EchemError as exc:
        return FileRead(name, error=str(exc).replace(str(path), name))
    except OSError as exc:
        return FileRead(name, error=f"{name}: {exc.strerror or exc}")


def read_files(paths) -> list[FileRead]:
    """Files read together in threads (the readers spend most of their time in Arrow and numpy,
    which release the GIL), in the order given."""
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), 4))) as pool:
        return list(pool.map(read_file, paths))


def _read_and_analyse_files(task: CellTask, copies: dict[str, Path]) -> tuple[list[FileRead], list]:
    """The cell's files read together in threads, each analysed by itself
    (``analysis.cell.analyse_file``: an impedance file is fitted) as soon as it is read, while
    the others are still being read; the analysis modules are imported meanwhile too.
    ``copies``: a local copy to read for a file's path (shipped files), recorded as that path."""
    from concurrent.futures import as_completed

    from echem.analysis.cell import analyse_file

    paths = [str(p) for p in task.cell.files]
    reads: list[FileRead | None] = [None] * len(paths)
    analysed: list = [None] * len(paths)
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), 4))) as pool:
        futures = {pool.submit(read_file, copies.get(p, p), p): i for i, p in enumerate(paths)}
        _load_analysis_modules()
        for future in as_completed(futures):
            i = futures[future]
            reads[i] = future.result()
            if reads[i].measurement is not None:
                analysed[i] = analyse_file(task.protocol, reads[i])
    return reads, [a for a in analysed if a is not None]


def _load_analysis_modules() -> None:
    """Import what the analyses and figures of a cell use (scipy's optimisers, matplotlib), so
    that this happens while the cell's files are read rather than after."""
    import scipy.optimize  # noqa: F401
    import echem.eis.fit  # noqa: F401
    import echem.report.figures.cycling  # noqa: F401
    import echem.report.figures.eis  # noqa: F401


def process_cell(task: CellTask) -> CellResult:
    """The executor's task: read, analyse, render and (with ``out_dir``) write one cell. Returns
    its CellResult without the long data table, so that it is small to send between processes.
    A failure of reading, analysing or drawing is a warning on the result; a failure to write
    the report (disk full) is raised, since the report must be whole or not at all.

    With ``task.shipped`` (a worker that cannot see the files): the files are written into a
    temporary folder and read from there (recorded under their own paths), the cell's folders
    are written there too and come back as bytes in ``CellResult.outputs``, by "out/..." and
    "data/..." relative to ``out_dir`` and ``data_dir`` (:func:`write_outputs`)."""
    if task.shipped is None:
        return _process(task, {})
    with tempfile.TemporaryDirectory(prefix="echem-cell-") as tmp:
        tmp = Path(tmp)
        copies = {}
        for i, (path, content) in enumerate(task.shipped.items()):
            copy = tmp / "in" / str(i) / Path(path).name
            copy.parent.mkdir(parents=True)
            copy.write_bytes(content)
            copies[path] = copy
        for path in map(str, task.cell.files):   # not here either: never read the worker's
            copies.setdefault(path, tmp / "absent" / Path(path).name)
        here = {"out": tmp / "out", "data": tmp / "data"}
        res = _process(replace(task, shipped=None,
                               out_dir=None if task.out_dir is None else here["out"],
                               data_dir=None if task.data_dir is None else here["data"]), copies)
        res.outputs = {f"{kind}/{f.relative_to(folder).as_posix()}": f.read_bytes()
                       for kind, folder in here.items() for f in sorted(folder.rglob("*"))
                       if f.is_file()}
    return res


def write_outputs(cell: Future, task: CellTask) -> None:
    """Once the cell of ``task`` is done (the future ``cell``; its error is raised here): write
    what its worker, which could not see the report folder, wrote (``CellResult.outputs``, from
    :func:`process_cell`) into ``task.out_dir`` and ``task.data_dir``, and drop the bytes from
    the result. A data file is written whole or not at all and never over one already there."""
    res = cell.result()
    for key, content in res.outputs.items():
        kind, _, rel = key.partition("/")
        base = {"out": task.out_dir, "data": task.data_dir}.get(kind)
        if base is None or ".." in Path(rel).parts or Path(rel).is_absolute():
            raise EchemError(f"a worker returned a file outside the report: {key}")
        target = Path(base) / rel
        if kind == "data" and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(content)
        os.replace(partial, target)
    res.outputs = {}


def _process(task: CellTask, copies: dict[str, Path]) -> CellResult:
    from echem.report import figures, write

    cell = task.cell
    reads: list[FileRead] = []
    try:
        reads, analysed = _read_and_analyse_files(task, copies)
        res = analyse_cell(cell, task.protocol, reads, task.system, analysed)
    except Exception as exc:  # a bug must cost one cell, not the batch
        res = CellResult(cell.id, cell.type, cell.anode, task.protocol.name)
        res.warnings.append(f"the cell could not be analysed: {describe(exc)}")
        res.info["unreadable"] = []
    if task.data_dir is not None:   # an output: a failure to write it is raised
        keep_as_bdf(reads, task.data_dir)
    data = res.tables.pop("data", None)
    with ThreadPoolExecutor(max_workers=1) as background:
        # the long data table is written (Arrow releases the GIL) while the figures are drawn
        writing = None
        if task.out_dir is not None:
            task.out_dir.mkdir(parents=True, exist_ok=True)
            if data is not None:
                writing = background.submit(write.write_data, data, task.out_dir)
        try:
            res.figures = figures.cell_figures(res, task.figure_style)
            res.analyses["overview"] = figures.cell_overview(res)
        except Exception as exc:
            res.warnings.append(f"the cell's figures could not be drawn: {describe(exc)}")
        res.analyses.pop("data", None)  # the (prepared) data the figures were drawn from
        if task.out_dir is not None:
            write.write_cell(res, task.out_dir)
        if writing is not None:
            writing.result()
    return res


def keep_as_bdf(reads: list[FileRead], data_dir: Path) -> None:
    """Each file read, as Battery Data Format Parquet in ``data_dir``, named by its stem and the
    start of its sha256 (so a changed file is kept beside the earlier one); written whole or not
    at all, and not again when already there."""
    from echem.store import write_bdf
    for r in reads:
        if r.measurement is None or r.record is None:
            continue
        target = Path(data_dir) / f"{Path(r.path).stem}.{r.record.sha256[:12]}.bdf.parquet"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bdf(r.measurement, target)


def load(folder: str | Path) -> tuple[Experiment, list[str], list[str] | None]:
    """(experiment, warnings, skipped files): the folder's validated ``experiment.toml``
    (skipped: None), or cells inferred from its files (:func:`infer_experiment`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EchemError("not a folder", folder)
    if manifest_path(folder).exists():
        # a listed file that is missing is reported on its cell (unreadable), like a corrupt one
        return load_manifest(folder, check_files=False), [], None
    return infer_experiment(folder)


#: extensions the readers claim: a file with one that cannot be read is reported unreadable.
#: A file with any other extension is a cell only when a reader knows its content; else it is
#: skipped (notes, PDFs, pictures), which is no error.
INSTRUMENT_SUFFIXES = (".mpr", ".mpt", ".nda", ".ndax", ".csv", ".xlsx", ".z")
#: files of one run that share a stem (an instrument's binary and its own export of it): the
#: cell reads the first of these it has and leaves the others aside
RUN_PREFERENCE = ((".mpr", ".mpt"), (".ndax", ".nda"))


def infer_experiment(folder: Path) -> tuple[Experiment, list[str], list[str]]:
    """(experiment, warnings, skipped files) for a folder without ``experiment.toml``.

    One cell per run: an instrument's binary and its export of the same run (``x.mpr`` and
    ``x.mpt``; ``x.ndax`` and ``x.nda``) are one cell, read from the binary. Cell ids are the file
    stems, with the extension added where two runs share a stem. Each cell's type is "auto": the
    per-cell analysis infers it from the data, and its area and mass from what the file states.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    runs, skipped = [], []
    for path in files:
        if path.suffix.lower() in INSTRUMENT_SUFFIXES or _known_content(path):
            runs.append(path)
        else:
            skipped.append(str(path))
    by_stem: dict[str, list[Path]] = {}
    for path in runs:
        by_stem.setdefault(path.stem, []).append(path)
    chosen = []
    for stem, group in by_stem.items():
        suffixes = {p.suffix.lower(): p for p in group}
        for binary, export in RUN_PREFERENCE:
            if binary in suffixes and export in suffixes:
                group.remove(suffixes[export])
        chosen += [(stem, p) for p in group]
    if not chosen:
        raise EchemError("holds no instrument file (EC-Lab .mpr/.mpt, Neware .nda/.ndax, BTSDA "
                         "CSV/XLSX, ZPlot .z, impedance CSV) and no experiment.toml"
                         + (f"; skipped {len(skipped)} other file(s)" if skipped else ""), folder)
    stems = [stem for stem, _ in chosen]
    cells = [Cell(id=stem if stems.count(stem) == 1 else path.name, type="auto", anode="unknown",
                  protocol="default", files=(path.resolve(),), area_cm2=1.0)
             for stem, path in sorted(chosen, key=lambda c: c[1].name)]
    protocols = {"default": Protocol(name="default", title="default analysis settings",
                                     cell=CellBuild(type="auto"))}
    exp = Experiment(path=folder / "experiment.toml", title=f"{folder.name} (inferred)",
                     cells=cells, protocols=protocols)
    warnings = [f"{folder}: no experiment.toml. One cell per run; their types, areas and masses "
                "are guesses from the files (each cell says what it guessed and why). To fix "
                f"them: `echem init {folder}` writes experiment.toml with these guesses; correct it "
                "and report again"]
    return exp, warnings, skipped


def _known_content(path: Path) -> bool:
    """Whether a reader recognises the file's content (an export with an unusual extension)."""
    from echem.io import sniff
    try:
        sniff(path)
        return True
    except EchemError:
        return False


def draft_manifest(folder: str | Path) -> str:
    """The ``experiment.toml`` that inference would use for a folder without one, as TOML text:
    every inferred value with the reason for it in a comment, for the user to correct and keep
    (``echem init``). Reads every instrument file of the folder."""
    from echem.analysis.cell import infer_type, split, stated_in_files
    from echem.schema import screen

    folder = Path(folder)
    exp, _, skipped = infer_experiment(folder)
    lines = [f"# experiment.toml drafted by `echem init` from the files in {folder.name}/.",
             "# Every value is a guess from the files; the comment beside it says why. Correct what",
             "# is wrong (type, anode, protocol, area, masses), then run `echem report` again.",
             "", "[experiment]", f"title = {_toml_str(folder.name)}", 'dft_system = "Li-Ag"', ""]
    for cell in exp.cells:
        reads = read_files(cell.files)
        ok = [r.measurement for r in reads if r.measurement is not None]
        name = Path(cell.files[0]).name
        if not ok:
            lines += [f"# {name}: could not be read ({reads[0].error}); left out", ""]
            continue
        kind, reason = infer_type([split(screen(m.data)[0]) for m in ok])
        if kind not in ("symmetric", "half", "full"):
            lines += [f"# {name}: no cell type can be guessed ({reason}); left out", ""]
            continue
        stated, notes = stated_in_files(cell, ok)
        lines += ["[[cell]]", f"id = {_toml_str(cell.id)}",
                  f"type = {_toml_str(kind)}  # guessed: {reason}",
                  'anode = "unknown"  # not in the file: a phase name (Li4Ag, Li9Ag4, Li, ...) or text',
                  f"protocol = {_toml_str('default-' + kind)}  # the defaults; name the protocol it ran",
                  f"area_cm2 = {stated.area_cm2:g}  # {notes['area_source']}",
                  f"files = [{_toml_str(name)}]"]
        if "active_mg" in stated.masses_mg:
            lines.append(f"masses = {{ active_mg = {stated.masses_mg['active_mg']:g} }}  "
                         f"# {notes['mass_source']}")
        else:
            lines.append("# masses = { active_mg = ... }  # not in the file (mg)")
        lines.append("")
    for path in skipped:
        lines.append(f"# skipped {Path(path).name}: no instrument export")
    return "\n".join(lines).rstrip() + "\n"


def _toml_str(text: str) -> str:
    import json
    return json.dumps(str(text))  # a JSON string is a TOML basic string


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
        root: Path | None = None,
        reuse: Callable[[CellTask], CellResult | None] | None = None,
        data_dir: Path | None = None, figure_style: str = "screen") -> ExperimentResult:
    """Process every cell of ``folder``; with ``out``, write its report there (replacing an
    earlier report, whole or not at all); with ``store``, store the results in it.

    Where the cells are processed: ``executor`` when given (a Dask cluster's
    ``Client.get_executor()``, or any ``concurrent.futures.Executor``), else
    :func:`local_executor` with ``jobs`` worker processes (no more than there are cells; 1: in
    this process; None: the number of cores). ``progress(done, total, result)`` is called as each
    cell finishes. ``root``: the watched folder the experiment lies in (names the experiment in
    the store). ``reuse(task)``: an earlier result for a cell whose inputs have not changed, with
    its folder put in ``task.out_dir`` (the watcher's), or None to process the cell.
    ``data_dir``: keep every file read as Battery Data Format Parquet there (:func:`keep_as_bdf`).
    ``figure_style``: "screen" (PNG and SVG for the HTML report) or "paper" (journal column
    width, 8-pt type, also PDF with the fonts embedded; ``echem.report.figures.style``).
    """
    from echem import __version__
    from echem.report import figures, write
    from echem.report.figures.style import STYLES

    if figure_style not in STYLES:
        raise ValueError(f"figure_style must be one of {', '.join(STYLES)}, not {figure_style!r}")
    folder = Path(folder)
    exp, warnings, skipped = load(folder)
    if out is not None:
        check_output(Path(out), folder, exp)
    own = executor is None
    if own:
        executor = local_executor(min(jobs or os.cpu_count() or 1, max(len(exp.cells), 1)))
    try:
        if out is None:
            result = _run(exp, warnings, skipped, executor, progress, None, reuse, data_dir,
                          figure_style)
        else:
            with write.staged(out) as stage:
                result = _run(exp, warnings, skipped, executor, progress, stage / "cells", reuse,
                              data_dir, figure_style)
                result.figures = figures.experiment_figures(result, figure_style)
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


def _must_ship(executor: Executor, exp: Experiment, folders: list[Path]) -> bool:
    """Whether the cells' files must be sent to the executor's workers as bytes: a cluster
    whose workers do not all see the files (and can write into ``folders``) where this machine
    does."""
    if not isinstance(executor, ClusterExecutor):
        return False
    files = []
    for cell in exp.cells:
        for f in cell.files:
            with contextlib.suppress(OSError):
                files.append((str(f), os.stat(f).st_size))
    for d in folders:
        d.mkdir(parents=True, exist_ok=True)
    return not executor.sees(files, [str(d) for d in folders])


def _with_files(task: CellTask) -> CellTask:
    """``task`` with its files' bytes (those this machine can read as regular files; the others
    are reported unreadable on the worker, as here)."""
    shipped = {}
    for f in map(str, task.cell.files):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.stat(f).st_mode):
                with open(f, "rb") as fh:
                    shipped[f] = fh.read()
    return replace(task, shipped=shipped)


def _run(exp: Experiment, warnings: list[str], skipped: list[str] | None, executor: Executor,
         progress, cells_dir: Path | None, reuse=None, data_dir=None,
         figure_style: str = "screen") -> ExperimentResult:
    from echem.report.write import cell_folders

    dirs = [None] * len(exp.cells) if cells_dir is None else \
        [cells_dir / name for name in cell_folders(c.id for c in exp.cells)]
    tasks = [CellTask(c, exp.protocol_for(c), d, exp.dft_system or "Li-Ag", data_dir, figure_style)
             for c, d in zip(exp.cells, dirs)]
    ship = _must_ship(executor, exp, [d for d in (cells_dir, data_dir) if d is not None])
    done = []

    def report(future: Future) -> None:
        done.append(future)
        if progress and not future.exception():
            progress(len(done), len(tasks), future.result())

    # shipped files travel with their task: a few cells' worth in flight at a time, each
    # written back here as it comes, oldest first
    unwritten: collections.deque = collections.deque()
    futures = []
    try:
        for task in tasks:
            earlier = reuse(task) if reuse is not None else None
            if earlier is not None:
                futures.append(Future())
                futures[-1].set_result(earlier)
            elif ship:
                while len(unwritten) >= 2 * executor.workers():
                    write_outputs(*unwritten.popleft())
                futures.append(executor.submit(process_cell, _with_files(task)))
                unwritten.append((futures[-1], task))
            else:
                futures.append(executor.submit(process_cell, task))
            futures[-1].add_done_callback(report)
        while unwritten:
            write_outputs(*unwritten.popleft())
        cells = [f.result() for f in futures]  # in the manifest's order
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    result = ExperimentResult(exp, cells, list(warnings), skipped is not None, skipped=skipped or [])
    xref = cross_reference(metrics.summary_table(result.cells), exp.dft_system or "Li-Ag")
    result.warnings += xref.warnings
    result.comparison, result.dft_ranking, result.group_scores = xref.comparison, xref.ranking, \
        xref.group_scores
    return result

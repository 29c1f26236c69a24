"""The folder watcher: processes every test as it finishes (``echem watch``).

A pass looks at every experiment folder under the watched root (a folder with an
``experiment.toml``, or with instrument files; the output folder is never looked into):

- a file is *settled* when its size and modification time have not changed for ``settle_s``
  seconds (a file already that old when first seen is settled at once);
- an experiment is processed when one of its files changed since it was last processed and has
  settled (its results are final), or has kept growing for ``settle_s`` seconds since the last
  time (a running test: its cell's results are *provisional*, replaced in the store at each pass
  and kept in the history only once the file settles);
- only the cells whose inputs changed are analysed again (content hashes of their files, their
  manifest entry and protocol, ``batch.cell_key``); the other cells' results and report folders are
  kept, and the experiment's report is rebuilt whole (``echem.batch.run``);
- each processed file gets one log line.

The cycler software may still hold a file open: it is only ever read.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from echem import batch
from echem.errors import EchemError
from echem.manifest import MANIFEST_NAME
from echem.results import CellResult, sha256_file


@dataclass
class _File:
    signature: tuple[int, int]   # (size, mtime_ns)
    since: float                 # monotonic time the signature was first seen (or its age)
    sha256: str | None = None    # of the bytes with this signature, once hashed


@dataclass
class _Kept:
    key: str
    result: CellResult
    folder: Path | None          # its folder in the current report


@dataclass
class _Experiment:
    done: dict[str, tuple[int, int]] = field(default_factory=dict)  # file -> signature processed
    last: float = 0.0                                                 # monotonic time processed
    pending_since: float | None = None   # when a change not yet processed was first seen
    cells: dict[str, _Kept] = field(default_factory=dict)             # cell id -> kept result


class Watcher:
    """The state of a watch over ``root``: one :meth:`step` is one pass."""

    def __init__(self, root: str | Path, out: str | Path, *, store=None, settle_s: float = 30.0,
                 executor=None, log: Callable[[str], None] = print, data_dir: Path | None = None):
        self.root = Path(root).resolve()
        self.out = Path(out).resolve()
        self.data_dir = None if data_dir is None else Path(data_dir).resolve()
        self.store, self.settle_s, self.executor, self.log = store, settle_s, executor, log
        self.files: dict[Path, _File] = {}
        self.experiments: dict[Path, _Experiment] = {}

    # -- what is there ------------------------------------------------------------------------

    def folders(self) -> dict[Path, list[Path]]:
        """Experiment folder -> its files (instrument files and manifest), under the root."""
        found: dict[Path, list[Path]] = {}
        for here, dirs, names in os.walk(self.root):
            here_p = Path(here)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and (here_p / d).resolve() not in (self.out, self.data_dir))
            files = [here_p / n for n in sorted(names) if not n.startswith(".")
                     and (n == MANIFEST_NAME or Path(n).suffix.lower() in batch.INSTRUMENT_SUFFIXES)]
            if files:
                found[here_p] = files
        return found

    def _look(self, path: Path, now: float) -> _File | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        sig = (st.st_size, st.st_mtime_ns)
        known = self.files.get(path)
        if known is None or known.signature != sig:
            age = max(0.0, time.time() - st.st_mtime)
            known = self.files[path] = _File(sig, now - age)
        return known

    # -- one pass -----------------------------------------------------------------------------

    def step(self, *, final: bool = False) -> int:
        """One pass; the number of experiments processed. ``final``: take every file as it is
        (``--once``: files still changing are processed, provisionally)."""
        now = time.monotonic()
        processed = 0
        for folder, files in self.folders().items():
            state = self.experiments.setdefault(folder, _Experiment())
            looks = {p: self._look(p, now) for p in files}
            changed = {p: f for p, f in looks.items() if f is not None
                       and state.done.get(p) != f.signature}
            if not changed:
                state.pending_since = None
                continue
            if state.pending_since is None:
                state.pending_since = now
            settled = any(now - f.since >= self.settle_s for f in changed.values())
            growing_long = now - state.pending_since >= self.settle_s and \
                now - state.last >= self.settle_s
            if not (final or settled or growing_long):
                continue
            unsettled = {p for p, f in looks.items() if f is not None and now - f.since < self.settle_s}
            self._process(folder, state, looks, unsettled)
            processed += 1
        return processed

    def _process(self, folder: Path, state: _Experiment, looks: dict, unsettled: set[Path]) -> None:
        rel = folder.relative_to(self.root)
        out = self.out / rel
        fresh: dict[str, str] = {}

        def reuse(task: batch.CellTask) -> CellResult | None:
            key = self._cell_key(task)
            fresh[task.cell.id] = key
            kept = state.cells.get(task.cell.id)
            if kept is None or kept.key != key or kept.folder is None or not kept.folder.is_dir():
                return None
            _link_tree(kept.folder, task.out_dir)
            return kept.result

        try:
            result = batch.run(folder, out=out, executor=self.executor, root=self.root, reuse=reuse,
                               data_dir=self.data_dir)
        except EchemError as exc:
            self.log(f"{_now()} {rel}: not processed: {exc}")
            state.done.update({p: f.signature for p, f in looks.items() if f is not None})
            state.last, state.pending_since = time.monotonic(), None
            return
        from echem import __version__
        from echem.report.write import cell_folders

        folders = dict(zip((c.cell_id for c in result.cells),
                           cell_folders(c.cell_id for c in result.cells)))
        new = {}
        for cell in result.cells:
            kept = state.cells.get(cell.cell_id)
            again = kept is None or kept.key != fresh.get(cell.cell_id) or kept.result is not cell
            new[cell.cell_id] = _Kept(fresh.get(cell.cell_id, ""), cell, out / "cells" / folders[cell.cell_id])
            if not again:
                continue
            provisional = any(Path(f) in unsettled for f in _cell_files(result, cell))
            if self.store is not None:
                self.store.ingest(batch.experiment_key(folder, self.root), result.experiment.title,
                                  [cell], __version__, provisional=provisional)
            for path in _cell_files(result, cell):
                self.log(f"{_now()} {Path(path).relative_to(self.root)} -> cell {cell.cell_id}: "
                         f"{len(cell.metrics)} metrics, {len(cell.warnings)} warnings"
                         + (", provisional (the file is still changing)" if provisional else ""))
        state.cells = new
        state.done.update({p: f.signature for p, f in looks.items() if f is not None
                           and p not in unsettled})
        state.last = time.monotonic()
        state.pending_since = None

    def _cell_key(self, task: batch.CellTask) -> str:
        """What a cell's result depends on: its files' content, its manifest entry, its protocol."""
        h = hashlib.sha256()
        for path in task.cell.files:
            path = Path(path)
            f = self._look(path, time.monotonic())
            if f is None:
                h.update(f"{path.name}:absent".encode())
                continue
            if f.sha256 is None:
                try:
                    f.sha256 = sha256_file(path) if path.is_file() else "not a regular file"
                except OSError as exc:
                    f.sha256 = f"unreadable: {exc}"
            h.update(f"{path.name}:{f.sha256}".encode())
        h.update(json.dumps([repr(task.cell), repr(task.protocol)]).encode())
        return h.hexdigest()


def _cell_files(result, cell: CellResult) -> list[str]:
    exp_cell = next((c for c in result.experiment.cells if c.id == cell.cell_id), None)
    return [str(f) for f in exp_cell.files] if exp_cell is not None else []


def _link_tree(src: Path, dst: Path) -> None:
    """``src`` copied to ``dst`` as hard links (the report's files are never changed in place,
    only replaced), or as copies where links cannot be made."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=link)


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def watch(root: str | Path, out: str | Path, *, store=None, settle_s: float = 30.0, once: bool = False,
          executor=None, poll: bool = False, stop: threading.Event | None = None,
          log: Callable[[str], None] = print, data_dir: Path | None = None) -> Watcher:
    """Watch ``root`` until ``stop`` is set (or Ctrl-C/SIGTERM), processing each test as it
    settles; with ``once``, one pass over what is there, then return. File-system events come
    from watchfiles (inotify); ``poll`` polls instead (network shares, where events do not
    arrive). Between events a pass runs each second while a file waits to settle. ``data_dir``:
    keep every file taken as Battery Data Format Parquet there (the lab's raw data in one open
    format)."""
    watcher = Watcher(root, out, store=store, settle_s=settle_s, executor=executor, log=log,
                      data_dir=data_dir)
    if once:
        watcher.step(final=True)
        return watcher
    import watchfiles

    stop = stop or threading.Event()
    watcher.step()
    for _ in watchfiles.watch(watcher.root, stop_event=stop, yield_on_timeout=True,
                              rust_timeout=1000, force_polling=poll or None,
                              watch_filter=lambda change, path: not {watcher.out, watcher.data_dir}
                              & set(Path(path).parents)):
        watcher.step()
    return watcher

"""Timing helpers and the result table shared by ``benchmarks/run``.

Wall-clock seconds (``time.perf_counter``), medians of repeats taken in turns (echem, reference,
echem, reference, ...) so that a change in machine load hits both alike. The first call of each
function (imports, caches, the OS file cache) is a warm-up and does not count.
"""
from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@dataclass
class Timing:
    """Median seconds of ``n`` timed calls (warm-up excluded); ``error`` if the function failed."""

    median_s: float = math.nan
    n: int = 0
    error: str = ""
    value: object = None  # what the last call returned

    @property
    def ok(self) -> bool:
        return not self.error and self.n > 0


def measure(fns: list, *, min_repeats: int = 3, max_repeats: int = 25, budget_s: float = 1.0,
            warmup: bool = True) -> list[Timing]:
    """Time each function of ``fns`` (no arguments) in interleaved rounds.

    One warm-up call each first (not counted; a function that raises there is marked failed and
    left out). Then rounds of one call each until ``max_repeats`` rounds, or until ``budget_s``
    seconds have been spent and at least ``min_repeats`` rounds are done.
    ``warmup=False`` counts the first call too (for calls too slow to repeat whose imports were
    warmed elsewhere).
    """
    out = [Timing() for _ in fns]
    times: list[list[float]] = [[] for _ in fns]
    live = []
    for i, fn in enumerate(fns):
        t0 = time.perf_counter()
        try:
            out[i].value = fn()
        except Exception as exc:  # noqa: BLE001 - a reference library refusing a file is a result
            out[i].error = f"{type(exc).__name__}: {str(exc)[:60]}".strip()
            continue
        if not warmup:
            times[i].append(time.perf_counter() - t0)
        live.append(i)
    start = time.perf_counter()
    rounds = 1 if not warmup else 0
    while live and rounds < max_repeats and (rounds < min_repeats or time.perf_counter() - start < budget_s):
        for i in live:
            t0 = time.perf_counter()
            out[i].value = fns[i]()
            times[i].append(time.perf_counter() - t0)
        rounds += 1
    for i in live:
        out[i].median_s = statistics.median(times[i])
        out[i].n = len(times[i])
    return out


def once(fn) -> tuple[float, object]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


@dataclass
class Row:
    """One line of the table. ``ratio`` = reference / echem (how many times faster echem is)."""

    item: str
    size: str = ""
    echem_s: float = math.nan
    ref_s: float = math.nan
    ref_lib: str = "-"
    note: str = ""
    n: str = ""

    @property
    def ratio(self) -> float:
        if math.isfinite(self.echem_s) and math.isfinite(self.ref_s) and self.echem_s > 0:
            return self.ref_s / self.echem_s
        return math.nan


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row, echo: bool = True) -> Row:
        self.rows.append(row)
        if echo:  # progress on stderr, so that stdout holds only the header and the table
            print(f"  .. {row.item}: {fmt_s(row.echem_s)} / {fmt_s(row.ref_s)} {row.note}",
                  file=sys.stderr, flush=True)
        return row

    def section(self, title: str) -> None:
        self.rows.append(Row(f"## {title}"))

    def render(self) -> str:
        head = ("item", "rows/points", "echem s", "ref s", "reference library", "ratio", "n", "note")
        body = []
        for r in self.rows:
            if r.item.startswith("## "):
                body.append((r.item,))
                continue
            body.append((r.item, r.size, fmt_s(r.echem_s), fmt_s(r.ref_s), r.ref_lib,
                         "-" if math.isnan(r.ratio) else f"{r.ratio:.1f}", r.n, r.note))
        widths = [max(len(head[k]), *(len(b[k]) for b in body if len(b) > 1)) for k in range(len(head) - 1)]
        align = ["<", ">", ">", ">", "<", ">", ">"]

        def line(cells):
            return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)) + "  " + cells[-1]

        out = [line(head), "  ".join("-" * w for w in widths) + "  " + "-" * 4]
        for b in body:
            out.append(b[0] if len(b) == 1 else line(b).rstrip())
        return "\n".join(out)


def fmt_s(s: float) -> str:
    """Seconds with 3 significant digits ('-' for NaN)."""
    if s is None or not math.isfinite(s):
        return "-"
    if s >= 100:
        return f"{s:.0f}"
    return f"{s:.3g}" if s >= 0.001 else f"{s:.2e}"


def n_repeats(*timings: Timing) -> str:
    """'5/3': the repeats behind each median."""
    return "/".join(str(t.n) for t in timings if t.n)


def machine_info() -> list[str]:
    """Header lines: host, CPU, cores, load, Python and library versions, git commit."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        mem_gb = math.nan
    versions = []
    for name in ("echem-liag", "numpy", "pandas", "scipy", "matplotlib", "galvani", "fastnda", "NewareNDA",
                 "impedance"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        commit = f"{commit}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return [
        f"host {platform.node()}  {platform.platform()}",
        f"cpu {cpu}; cores {os.cpu_count()} ({usable} usable); memory {mem_gb:.1f} GB; "
        f"load average {load} (1, 5, 15 min)",
        f"python {sys.version.split()[0]}; " + ", ".join(versions),
        f"repository {ROOT} at {commit}",
    ]

"""Benchmark: the vectorized Neware reader against NewareNDA, on every corpus .nda/.ndax file.

Prints, per file: rows, median seconds of ``echem.io.neware_fast.read_frame``, median seconds of
``NewareNDA.read`` (defaults), and their ratio; for the largest file also the floor "unzip the record
members + np.frombuffer" and the peak memory (tracemalloc) of read_frame against the size of the
DataFrame it returns. Times are process CPU seconds by default (time.process_time: steadier than
wall time when other jobs share the machine; all three are single-threaded, so on an idle machine
the two agree; --clock wall measures elapsed time), interleaved per file (ours, floors, NewareNDA, ours, ...) so that a busy machine slows them alike.
Equality with NewareNDA is checked once per file.

    python benchmarks/neware_fast.py [--repeats 7] [--clock cpu|wall] [--corpus DIR]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "neware"


RECORD_MEMBERS = ("data.ndc", "data_runInfo.ndc", "data_step.ndc")


def unzip_frombuffer(path: Path) -> int:
    """The floor: unzip (zipfile) the record members the fast reader reads; view them with numpy."""
    total = 0
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name in RECORD_MEMBERS or "_AUX_" in name:
                total += np.frombuffer(zf.read(name), dtype=np.uint8).size
    return total


def inflate_frombuffer(path: Path) -> int:
    """A stricter floor: the same members inflated the way the fast reader does (one zlib call)."""
    from echem.io.neware_fast import _member

    total = 0
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        for name in zf.namelist():
            if name in RECORD_MEMBERS or "_AUX_" in name:
                total += np.frombuffer(_member(fh, zf, name, path), dtype=np.uint8).size
    return total


CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = CLOCK["cpu"]


def _timed(fn, *args) -> float:
    """Seconds of one call on the chosen clock (CPU by default: steadier on a shared machine)."""
    start = _clock()
    fn(*args)
    return _clock() - start


def bench_file(path: Path, repeats: int) -> dict:
    import NewareNDA
    from echem.io.neware_fast import read_frame_layout

    ours, layout = read_frame_layout(path)
    reference = NewareNDA.read(str(path))
    try:
        pd.testing.assert_frame_equal(ours, reference, check_exact=True)
        equal = "equal"
    except AssertionError:
        equal = "DIFFERENT"
    big = len(ours) > 100_000
    ref_repeats = 3 if big else repeats
    t_ours, t_ref, t_floor, t_floor2 = [], [], [], []
    for i in range(repeats):
        t_ours.append(_timed(read_frame_layout, path))
        if path.suffix == ".ndax":
            t_floor.append(_timed(unzip_frombuffer, path))
            t_floor2.append(_timed(inflate_frombuffer, path))
        if i < ref_repeats:
            t_ref.append(_timed(NewareNDA.read, str(path)))
    row = {
        "file": path.name, "layout": layout, "rows": len(ours), "equal": equal,
        "ours_s": statistics.median(t_ours), "newarenda_s": statistics.median(t_ref),
        "floor_s": statistics.median(t_floor) if t_floor else None,
        "floor2_s": statistics.median(t_floor2) if t_floor2 else None,
    }
    row["speedup"] = row["newarenda_s"] / row["ours_s"]
    return row


def peak_memory(path: Path) -> tuple[int, int]:
    """(peak bytes traced while read_frame runs, DataFrame memory_usage(deep=True))."""
    from echem.io.neware_fast import read_frame

    read_frame(path)  # warm imports and caches
    tracemalloc.start()
    try:
        df = read_frame(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, int(df.memory_usage(deep=True).sum())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--clock", choices=sorted(CLOCK), default="cpu",
                        help="cpu: process CPU time (default); wall: elapsed time")
    args = parser.parse_args(argv)
    global _clock
    _clock = CLOCK[args.clock]
    logging.getLogger("newarenda").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    files = sorted(args.corpus.glob("*.nda")) + sorted(args.corpus.glob("*.ndax"))
    if not files:
        print(f"no .nda/.ndax files in {args.corpus}")
        return 1

    rows = [bench_file(p, args.repeats) for p in files]
    print(f"median {args.clock} seconds of {args.repeats} runs (NewareNDA: 3 on files over 100k rows)")
    print(f"{'file':44s} {'layout':13s} {'rows':>8s} {'ours s':>9s} {'NewareNDA s':>12s} "
          f"{'NewareNDA/ours':>15s}  equal")
    for r in rows:
        print(f"{r['file']:44s} {r['layout']:13s} {r['rows']:8d} {r['ours_s']:9.4f} "
              f"{r['newarenda_s']:12.4f} {r['speedup']:15.1f}  {r['equal']}")

    largest = max(rows, key=lambda r: r["rows"])
    path = args.corpus / largest["file"]
    print(f"\nlargest file: {largest['file']} ({largest['rows']} rows)")
    if largest["floor_s"] is not None:
        over = largest["ours_s"] / largest["floor_s"]
        print(f"  unzip (zipfile) + np.frombuffer floor: {largest['floor_s']:.4f} s; "
              f"read_frame / floor = {over:.2f} (goal <= 3)")
        over2 = largest["ours_s"] / largest["floor2_s"]
        print(f"  inflate (one zlib call, as read_frame does) + np.frombuffer: "
              f"{largest['floor2_s']:.4f} s; read_frame / that = {over2:.2f}")
    print(f"  NewareNDA.read / read_frame = {largest['speedup']:.1f} (goal >= 10)")
    peak, frame = peak_memory(path)
    print(f"  peak traced memory of read_frame: {peak / 1e6:.1f} MB; DataFrame "
          f"memory_usage(deep=True): {frame / 1e6:.1f} MB; ratio {peak / frame:.2f} (goal <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

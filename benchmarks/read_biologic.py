"""Time echem.read of every corpus .mpr against galvani, the library a user would otherwise call.

Usage: python benchmarks/read_biologic.py [CORPUS_DIR] [--repeats N]
       (default ../shared/corpus/biologic, 200 repeats)

Per file, the median time of N repeats (all in this one run, the calls taking turns, after one
warm-up call each, so that import costs do not count) of:

* ``galvani``     ``galvani.BioLogic.MPRfile(path)`` alone. galvani is lazy: it views the data
                  module with ``np.frombuffer`` and builds no table;
* ``galvani+df``  ``MPRfile(path)`` then ``pandas.DataFrame(mpr.data)``: what a user calls to get a
                  table, the fair reference;
* ``echem``       ``echem.read(path)``: sniffing, the module reader, the common schema (step,
                  cycle, step_type, capacity, spectra) and metadata;
* ``reader``      ``echem.io.biologic.read_mpr(path)``: the same without the dispatcher
                  (``echem.io.read``: stat, open and read the head, sniff), to show its share.

``ratio`` = echem / (galvani+df); at most 1.0 means echem.read is at least as fast. galvani 0.5.0
refuses some files (unknown column ids): those are marked and have no ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from galvani import BioLogic

import echem
from echem.io import biologic

REPEATS = 200


def medians(fns: list, repeats: int = REPEATS) -> list[float]:
    """Median wall time (seconds) of each function in ``fns`` over ``repeats`` rounds; each round
    calls every function once in turn, so that a change in machine load hits all of them alike.
    One warm-up round first (imports, caches)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, acc in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return [statistics.median(acc) for acc in times]


def galvani_table(path: str) -> pd.DataFrame:
    return pd.DataFrame(BioLogic.MPRfile(path).data)


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        default=root.parent / "shared" / "corpus" / "biologic")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    files = sorted(args.folder.glob("*.mpr"))
    if not files:
        print(f"no .mpr files in {args.folder}", file=sys.stderr)
        return 1
    n = args.repeats
    print(f"numpy {np.__version__}, pandas {pd.__version__}; median of {n} repeats, "
          "milliseconds; ratio = echem / (galvani+df)")
    print(f"{'file':30} {'rows':>6} {'galvani':>8} {'galv+df':>8} {'echem':>8} {'reader':>8} "
          f"{'ratio':>6}")
    ratios = []
    tot = [0.0, 0.0, 0.0, 0.0]
    for path in files:
        spath = str(path)
        rows = len(echem.read(path).data)
        try:
            galvani_table(spath)
        except Exception as exc:  # galvani refuses this file
            t_echem, t_reader = medians([lambda: echem.read(path),
                                         lambda: biologic.read_mpr(path)], n)
            print(f"{path.name:30} {rows:6d} {'-':>8} {'-':>8} {t_echem * 1e3:8.3f} "
                  f"{t_reader * 1e3:8.3f} {'-':>6}  galvani refuses: {type(exc).__name__}")
            continue
        times = medians([lambda: BioLogic.MPRfile(spath), lambda: galvani_table(spath),
                         lambda: echem.read(path), lambda: biologic.read_mpr(path)], n)
        t_bare, t_df, t_echem, t_reader = times
        ratios.append(t_echem / t_df)
        tot = [a + b for a, b in zip(tot, times)]
        print(f"{path.name:30} {rows:6d} {t_bare * 1e3:8.3f} {t_df * 1e3:8.3f} "
              f"{t_echem * 1e3:8.3f} {t_reader * 1e3:8.3f} {ratios[-1]:6.2f}")
    print(f"{'total (files galvani reads)':30} {'':6} {tot[0] * 1e3:8.3f} {tot[1] * 1e3:8.3f} "
          f"{tot[2] * 1e3:8.3f} {tot[3] * 1e3:8.3f} {tot[2] / tot[1]:6.2f}")
    print(f"ratio echem / (galvani+df): worst {max(ratios):.2f}, median "
          f"{statistics.median(ratios):.2f}; files at most 1.0: "
          f"{sum(r <= 1.0 for r in ratios)} of {len(ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

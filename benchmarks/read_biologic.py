"""Time echem.read against bare galvani.BioLogic.MPRfile on every corpus .mpr.

Usage: python benchmarks/read_biologic.py [CORPUS_DIR]   (default ../shared/corpus/biologic)

Prints, per file: rows, median seconds of 5 reads with each, and echem/galvani. galvani 0.5.0
cannot read some files (unknown column ids); those show "-" for it. echem.read does more than
galvani (schema mapping, steps, spectra, metadata), so a ratio above 1 is expected.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from galvani import BioLogic

import echem

REPEATS = 5


def median_seconds(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    folder = Path(argv[1]) if len(argv) > 1 else root.parent / "shared" / "corpus" / "biologic"
    files = sorted(folder.glob("*.mpr"))
    if not files:
        print(f"no .mpr files in {folder}", file=sys.stderr)
        return 1
    print(f"{'file':32} {'rows':>7} {'echem s':>9} {'galvani s':>10} {'ratio':>7}")
    tot_e = tot_g = 0.0
    for path in files:
        rows = len(echem.read(path).data)
        t_echem = median_seconds(lambda: echem.read(path))
        try:
            BioLogic.MPRfile(str(path))
        except Exception as exc:  # galvani refuses this file
            t_galvani = None
            note = f"  (galvani: {type(exc).__name__})"
        else:
            t_galvani = median_seconds(lambda: BioLogic.MPRfile(str(path)))
            note = ""
        if t_galvani is None:
            print(f"{path.name:32} {rows:7d} {t_echem:9.4f} {'-':>10} {'-':>7}{note}")
        else:
            tot_e += t_echem
            tot_g += t_galvani
            print(f"{path.name:32} {rows:7d} {t_echem:9.4f} {t_galvani:10.4f} "
                  f"{t_echem / t_galvani:7.1f}")
    if tot_g:
        print(f"{'total (files both read)':32} {'':7} {tot_e:9.4f} {tot_g:10.4f} "
              f"{tot_e / tot_g:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Time echem.read against bare NewareNDA.read on every Neware .nda/.ndax of the corpus.

    python benchmarks/read_neware.py [CORPUS_DIR]

Prints, per file: rows, seconds of each (median of 3 runs, measured in this one run) and the
ratio echem / NewareNDA (above 1: echem is slower).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import NewareNDA

import echem

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
REPEATS = 3


def median_seconds(fn, path) -> tuple[float, object]:
    times, out = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else CORPUS
    files = sorted((corpus / "neware").glob("*.nda")) + sorted((corpus / "neware").glob("*.ndax"))
    if not files:
        print(f"no .nda/.ndax files under {corpus / 'neware'}")
        return 1
    print(f"NewareNDA {NewareNDA.__version__}, echem {echem.__version__}, median of {REPEATS} runs")
    print(f"{'file':44s} {'rows':>9s} {'echem s':>9s} {'NewareNDA s':>12s} {'ratio':>7s}")
    for path in files:
        t_echem, meas = median_seconds(echem.read, path)
        t_lib, frame = median_seconds(lambda p: NewareNDA.read(str(p)), path)
        rows = len(meas.data)
        note = "" if rows == len(frame) else f"  (NewareNDA: {len(frame)} rows)"
        ratio = t_echem / t_lib
        print(f"{path.name:44s} {rows:9d} {t_echem:9.3f} {t_lib:12.3f} {ratio:7.2f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

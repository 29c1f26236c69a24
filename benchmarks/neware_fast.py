"""Benchmark: the ndax decoder alone against fastnda's read_ndax, on every corpus .ndax it claims.

Prints, per archive: rows, median wall seconds of ``echem.io.neware_fast.read_raw`` (the decoder,
the archive's XML read once beforehand) and of ``fastnda.ndax.read_ndax`` (the same stage of
fastnda: records before cycles and test time), their ratio, and whether the columns agree
(``tests/test_neware_fast.assert_equals_fastnda``); for the largest archive also the floor
"unzip the record members + np.frombuffer". Calls in turns after a warm-up (``common.measure``).

    python benchmarks/neware_fast.py [--corpus DIR]
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = ROOT.parent / "shared" / "corpus"

RECORD_MEMBERS = ("data.ndc", "data_runInfo.ndc", "data_step.ndc")


def unzip_frombuffer(path: Path) -> int:
    """The floor: unzip (zipfile) the record members the decoder reads; view them with numpy."""
    total = 0
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name in RECORD_MEMBERS or "_AUX_" in name:
                total += np.frombuffer(zf.read(name), dtype=np.uint8).size
    return total


def decoder_alone(path: Path, aux_dicts=None) -> dict:
    """``neware_fast.read_raw`` on the archive (aux entries as given: None reads no aux)."""
    from echem.io import neware_fast

    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        return neware_fast.read_raw(zf, fh, aux_dicts)


def fastnda_ndax_alone(path: Path):
    """fastnda's ``read_ndax``: the same stage of fastnda as the decoder."""
    from fastnda.ndax import read_ndax

    return read_ndax(path)


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from common import measure

    from echem.io import neware, neware_fast
    from test_neware_fast import assert_equals_fastnda

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # fastnda's log records on the corrupt archive
    warnings.simplefilter("ignore")
    files = sorted((args.corpus / "neware").glob("*.ndax")) \
        + sorted((args.corpus / "neware" / "fastnda").glob("*.ndax"))
    if not files:
        print(f"no .ndax files under {args.corpus / 'neware'}")
        return 1
    print(f"{'archive':48s} {'rows':>8s} {'decoder ms':>10s} {'read_ndax ms':>12s} "
          f"{'read_ndax/decoder':>17s}  equal")
    largest = None
    for path in files:
        xml = neware._ndax_xml(path, zipfile.ZipFile(path).infolist())
        aux = neware._aux_dicts(xml)
        try:
            ours = decoder_alone(path, aux)
        except neware_fast.UnknownLayout as exc:
            print(f"{path.name:48s} declined: {exc}")
            continue
        ref = fastnda_ndax_alone(path)
        try:
            assert_equals_fastnda(ours, {c: ref[c].to_numpy() for c in ref.columns
                                         if c != "index_right"})
            equal = "equal"
        except AssertionError:
            equal = "DIFFERENT"
        big = path.stat().st_size > 1_000_000
        t_dec, t_ref = measure([lambda: decoder_alone(path, aux), lambda: fastnda_ndax_alone(path)],
                               min_repeats=5, max_repeats=9 if big else 41,
                               budget_s=4.0 if big else 1.0)
        rows = len(ours["index"])
        print(f"{path.name:48s} {rows:8d} {1000 * t_dec.median_s:10.1f} "
              f"{1000 * t_ref.median_s:12.1f} {t_ref.median_s / t_dec.median_s:17.1f}  {equal}")
        if largest is None or rows > largest[1]:
            largest = (path, rows, t_dec.median_s)
    if largest is not None:
        path, rows, t_dec = largest
        (t_floor,) = measure([lambda: unzip_frombuffer(path)], min_repeats=5, max_repeats=9)
        print(f"\nlargest: {path.name} ({rows} rows): unzip + np.frombuffer floor "
              f"{1000 * t_floor.median_s:.1f} ms; decoder / floor = {t_dec / t_floor.median_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Corpus impedance spectra for tests/test_eis.py and benchmarks/eis_fit.py.

Loads every spectrum of ../shared/corpus/eis/* and of the EC-Lab PEIS/GEIS/MB text exports in
../shared/corpus/biologic (*.mpt with a freq/Hz column) as ``(key, frequency_Hz, z, time_s)`` with
key ``"<file>#<spectrum>"``. Uses ``echem.read`` + ``echem.eis.spectra`` where the project's
readers give the same spectra, otherwise impedance.py's readers (ZPlot .z, CSV) and pandas for
.mpt (so that these checks do not depend on the readers being finished).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def corpus_eis_files() -> list[Path]:
    out = []
    if (CORPUS / "eis").is_dir():
        out += sorted((CORPUS / "eis").glob("*"))
    if (CORPUS / "biologic").is_dir():
        for p in sorted((CORPUS / "biologic").glob("*.mpt")):
            with open(p, encoding="latin-1") as fh:
                head = "".join(fh.readline() for _ in range(120))
            if "freq/Hz" in head:
                out.append(p)
    return [p for p in out if p.suffix in (".z", ".csv", ".mpt")]


def _read_mpt(path: Path):
    with open(path, encoding="latin-1") as fh:
        fh.readline()
        n_header = int(fh.readline().split(":")[1])
        fh.seek(0)
        lines = fh.read().splitlines()
    decimal = "," if "," in lines[n_header] and "." not in lines[n_header].split("\t")[0] else "."
    from io import StringIO
    df = pd.read_csv(StringIO("\n".join(lines[n_header - 1:])), sep="\t", decimal=decimal)
    f = df["freq/Hz"].to_numpy(float)
    z = df["Re(Z)/Ohm"].to_numpy(float) - 1j * df["-Im(Z)/Ohm"].to_numpy(float)
    t = df["time/s"].to_numpy(float)
    key = df["z cycle"].to_numpy() if "z cycle" in df.columns else None
    out, cur = [], []
    for i in np.flatnonzero(f > 0):  # a new spectrum: z cycle changes, a gap, or f jumps up
        if cur and (i != cur[-1] + 1 or f[i] > f[cur[-1]] * 1.0001
                    or (key is not None and key[i] != key[cur[-1]])):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return [(f[c], z[c], float(t[c[0]])) for c in out]


def _fallback(path: Path):
    from impedance import preprocessing
    if path.suffix == ".z":
        f, z = preprocessing.readZPlot(str(path))
        return [(np.asarray(f, float), np.asarray(z, complex), float("nan"))]
    if path.suffix == ".csv":
        f, z = preprocessing.readCSV(str(path))
        return [(np.asarray(f, float), np.asarray(z, complex), float("nan"))]
    return _read_mpt(path)


def load(path: Path):
    """[(frequency_Hz, z, time_s), ...] for one file."""
    ref = _fallback(path)
    try:
        import echem
        from echem.eis import spectra
        sp = spectra(echem.read(path))
        if len(sp) == len(ref) and all(
                s.frequency_Hz.size == r[0].size and np.allclose(s.frequency_Hz, r[0], rtol=1e-6)
                and np.allclose(s.z, r[1], rtol=1e-5, atol=1e-9) for s, r in zip(sp, ref)):
            return [(s.frequency_Hz, s.z, s.time_s) for s in sp]
    except Exception:
        pass
    return ref


def corpus_spectra():
    """[(key, frequency_Hz, z, time_s)] for every corpus spectrum."""
    out = []
    for p in corpus_eis_files():
        for k, (f, z, t) in enumerate(load(p), start=1):
            out.append((f"{p.name}#{k}", f, z, t))
    return out

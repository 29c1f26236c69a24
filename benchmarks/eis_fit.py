"""Equivalent-circuit fits of every corpus spectrum: best-fit check and speed against impedance.py.

    python benchmarks/eis_fit.py                 # speed + quality: echem.eis.fit vs impedance.py
    python benchmarks/eis_fit.py --brute         # brute-force best rel_rms per spectrum (slow)
    python benchmarks/eis_fit.py --brute --write # ... and store them in tests/eis_best.json
    python benchmarks/eis_fit.py --drt           # echem.eis.drt vs pyimpspec's TR-NNLS

Spectra: every spectrum of ../shared/corpus/eis/* and of the EC-Lab exports in
../shared/corpus/biologic with impedance rows, cleaned like ``echem.eis.fit_all`` does
(``preprocess(..., drop_inductive=True)``), fitted with the default circuit R0-p(R1,CPE1)-p(R2,CPE2).

Brute force: for the same model, objective (residuals weighted by |Z|) and bounds as the project,
``--starts`` (default 200) random starts in log-parameter space per spectrum (resistances
log-uniform in [1e-4, 10] x max|Z|; CPE exponents uniform in [0.3, 1]; half of the Q drawn
log-uniform in [1e-12, 1], half from a characteristic frequency log-uniform over the measured
band; then clipped to the bounds), each a bounded ``scipy.optimize.least_squares`` run
(``Objective.solve``, tolerances 1e-7, at most 500 evaluations); the best rel_rms wins.

impedance.py: ``CustomCircuit(circuit, initial_guess=naive).fit(f, z, weight_by_modulus=True)``
with the naive guess [min Z', (max Z' - min Z')/2, 1e-5, 0.9, (max Z' - min Z')/2, 1e-3, 0.8].

DRT: ``echem.eis.drt(f, z)`` (lambda by GCV) against pyimpspec's
``calculate_drt_tr_nnls(DataSet(f, z), mode="real")`` (its automatic lambda), the time of one call
each per spectrum (after a warm-up that imports pyimpspec, ~2.4 s) and the number of peaks each
finds (ours: in the measured band, with at least 0.5 % of the total area; pyimpspec: the rows of
``to_peaks_dataframe()``); also on the known-truth R-ZARC-ZARC spectrum (alpha 0.8, 0.3 % noise)
of tests/test_drt.py, which has two processes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
import multiprocessing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from eis_corpus import corpus_spectra  # noqa: E402

from echem import eis  # noqa: E402

BEST_JSON = ROOT / "tests" / "eis_best.json"


def cleaned():
    out = []
    for key, f, z, _t in corpus_spectra():
        f2, z2, _ = eis.preprocess(f, z, drop_inductive=True)
        out.append((key, f2, z2))
    return out


def random_starts(obj: eis.Objective, n: int, seed: int) -> np.ndarray:
    """n random starting points x (fit variables) for the default circuit's objective."""
    rng = np.random.default_rng(seed)
    c = obj.circuit
    f = obj.f
    P = np.empty((n, c.n_params))
    for i, kind in enumerate(c.kinds):
        if kind == "R":
            P[:, i] = np.exp(rng.uniform(math.log(1e-4 * obj.scale), math.log(10 * obj.scale), n))
        elif kind == "alpha":
            P[:, i] = rng.uniform(0.3, 1.0, n)
    for r_idx, etype, first in eis._arc_blocks(c):
        r, a = P[:, r_idx], P[:, first + 1]
        fc = np.exp(rng.uniform(math.log(f.min()), math.log(f.max()), n))
        q_fc = 1.0 / (r * (2 * np.pi * fc) ** a)
        q_blind = np.exp(rng.uniform(math.log(1e-12), math.log(1.0), n))
        P[:, first] = np.clip(np.where(np.arange(n) % 2 == 0, q_fc, q_blind),
                              eis.POS_MIN * 10, eis.POS_MAX / 10)
    return np.array([obj.to_x(p) for p in P])


def brute(args):
    key, f, z, n, seed = args
    obj = eis.Objective(eis.DEFAULT_CIRCUIT, f, z)
    best, best_x = math.inf, None
    for x0 in random_starts(obj, n, seed):
        r = obj.solve(x0, max_nfev=500, tol=1e-7)
        v = obj.rel_rms(r.x)
        if v < best:
            best, best_x = v, r.x
    return key, best, obj.to_params(best_x).tolist(), f.size


def naive_impedance_py(f, z):
    from impedance.models.circuits import CustomCircuit
    w = (z.real.max() - z.real.min()) / 2
    guess = [max(z.real.min(), 1e-3), max(w, 1e-3), 1e-5, 0.9, max(w, 1e-3), 1e-3, 0.8]
    c = CustomCircuit(eis.DEFAULT_CIRCUIT, initial_guess=guess)
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c.fit(f, z, weight_by_modulus=True)
        p = c.parameters_
    except Exception:  # impedance.py fails outright on some spectra
        p = None
    dt = time.perf_counter() - t
    if p is None:
        return dt, math.nan, False
    obj = eis.Objective(eis.DEFAULT_CIRCUIT, f, z)
    zf = obj.model(p)
    # inside the project's bounds? (R <= R_MAX_REL max|Z|, arcs within TAU_MARGIN decades,
    # CPE exponents >= ALPHA_MIN)
    inside = all(p[r] <= eis.R_MAX_REL * obj.scale for r in obj.arc_r) and all(
        obj.lower[c] - 1e-6 <= math.log(p[r] * p[c]) / p[n] <= obj.upper[c] + 1e-6
        for r, c, n in obj.arcs) and all(p[n] >= eis.ALPHA_MIN for _r, _c, n in obj.arcs)
    return dt, float(np.sqrt(np.mean(np.abs(zf - z) ** 2 / np.abs(z) ** 2))), inside


def pyimpspec_drt(f, z):
    """(seconds, number of peaks) of pyimpspec's TR-NNLS DRT with its automatic lambda."""
    import pyimpspec
    from pyimpspec.analysis.drt import calculate_drt_tr_nnls
    t = time.perf_counter()
    r = calculate_drt_tr_nnls(pyimpspec.DataSet(f, z), mode="real")
    dt = time.perf_counter() - t
    return dt, len(r.to_peaks_dataframe())


def echem_drt(f, z):
    """(seconds, number of in-band peaks) of echem.eis.drt."""
    t = time.perf_counter()
    d = eis.drt(f, z)
    dt = time.perf_counter() - t
    return dt, int(d.peaks["in_band"].sum())


def two_zarc(seed=0):
    """The known-truth R-ZARC-ZARC spectrum (alpha 0.8, arcs at 2 kHz and 5 Hz, 0.3 % noise)."""
    f = np.logspace(np.log10(7e6), -1, 79)
    z = 3.0 + sum(r / (1 + (2j * np.pi * f / (2 * np.pi * fc)) ** 0.8)
                  for r, fc in ((12.1, 2e3), (24.3, 5.0)))
    rng = np.random.default_rng(seed)
    return f, z + 0.003 * np.abs(z) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))


def drt_comparison(data):
    """[(key, echem s, echem peaks, pyimpspec s, pyimpspec peaks)] over ``data`` and the
    known-truth spectrum (key 'known truth: 2 ZARC')."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        echem_drt(*two_zarc())           # warm-up (scipy) and pyimpspec's import, not counted
        pyimpspec_drt(*two_zarc())
        rows = []
        for key, f, z in [("known truth: 2 ZARC", *two_zarc())] + list(data):
            if f.size < 5:
                continue
            t1, n1 = echem_drt(f, z)
            t2, n2 = pyimpspec_drt(f, z)
            rows.append((key, t1, n1, t2, n2))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brute", action="store_true", help="run the brute-force search")
    ap.add_argument("--starts", type=int, default=200)
    ap.add_argument("--write", action="store_true", help="store the brute-force best in tests/eis_best.json")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="substring of the spectrum keys to run")
    ap.add_argument("--no-impedance-py", action="store_true")
    ap.add_argument("--drt", action="store_true", help="echem.eis.drt vs pyimpspec TR-NNLS")
    a = ap.parse_args(argv)
    data = cleaned()
    if a.only:
        data = [d for d in data if a.only in d[0]]
    print(f"{len(data)} spectra")

    if a.drt:
        rows = drt_comparison(data)
        for key, t1, n1, t2, n2 in rows:
            print(f"{key:32s} echem {t1 * 1e3:7.1f} ms {n1:2d} peaks   pyimpspec {t2 * 1e3:7.1f} ms {n2:2d} peaks")
        t1 = np.array([r[1] for r in rows])
        t2 = np.array([r[3] for r in rows])
        print(f"median: echem {np.median(t1) * 1e3:.1f} ms, pyimpspec {np.median(t2) * 1e3:.1f} ms, "
              f"ratio of medians {np.median(t2) / np.median(t1):.1f}x, median of ratios "
              f"{np.median(t2 / t1):.1f}x; peaks (median) echem {np.median([r[2] for r in rows]):.0f}, "
              f"pyimpspec {np.median([r[4] for r in rows]):.0f}")
        return

    if a.brute:
        t0 = time.perf_counter()
        jobs = [(k, f, z, a.starts, 1000 + i) for i, (k, f, z) in enumerate(data)]
        # spawn, not fork: a forked child of a process with BLAS threads can hang
        with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
            res = []
            for i, r in enumerate(pool.imap(brute, jobs, chunksize=1), 1):
                res.append(r)
                print(f"  [{i}/{len(jobs)}] {r[0]:32s} best rel_rms {r[1]:.6f}", flush=True)
        print(f"brute force: {a.starts} starts x {len(data)} spectra in {time.perf_counter() - t0:.0f} s")
        best = {k: {"rel_rms": v, "n_points": n, "params": dict(zip(
            eis.parse_circuit(eis.DEFAULT_CIRCUIT).param_names, p))} for k, v, p, n in res}
        if a.write:
            old = json.loads(BEST_JSON.read_text()) if BEST_JSON.exists() else {}
            old.update(best)
            payload = dict(sorted(old.items()))
            BEST_JSON.write_text(json.dumps({"_about": (
                f"brute-force best rel_rms of R0-p(R1,CPE1)-p(R2,CPE2) per corpus spectrum "
                f"(benchmarks/eis_fit.py --brute, {a.starts} random starts)"), **{
                k: v for k, v in payload.items() if k != "_about"}}, indent=1) + "\n")
            print(f"wrote {BEST_JSON}")
        return

    best = json.loads(BEST_JSON.read_text()) if BEST_JSON.exists() else {}
    eis.fit(data[0][1], data[0][2])  # warm up imports and caches
    rows = []
    for k, f, z in data:
        if f.size < eis.parse_circuit(eis.DEFAULT_CIRCUIT).n_params:
            print(f"{k:32s} {f.size} point(s): too few for the circuit (FitError, as it should)")
            continue
        t = time.perf_counter()
        r = eis.fit(f, z)
        dt = time.perf_counter() - t
        if a.no_impedance_py:
            dt_lib, rms_lib, inside = math.nan, math.nan, True
        else:
            dt_lib, rms_lib, inside = naive_impedance_py(f, z)
        b = best.get(k, {}).get("rel_rms", math.nan)
        rows.append((k, dt, r.rel_rms, dt_lib, rms_lib, b, inside))
        print(f"{k:32s} ours {dt * 1e3:7.1f} ms rel_rms {r.rel_rms:.6f} ({(r.rel_rms / b - 1) * 100:+6.2f} %"
              f" vs best {b:.6f})  impedance.py {dt_lib * 1e3:7.1f} ms rel_rms {rms_lib:.6f}"
              f" ({(rms_lib / b - 1) * 100:+7.1f} %){'' if inside else ' outside the bounds'}")
    arr = np.array([r[1:] for r in rows], float)
    ours_t, ours, lib_t, lib, b, inside = arr.T
    inside = inside.astype(bool)
    print()
    print(f"spectra: {len(rows)}")
    print(f"ours:         median {np.median(ours_t) * 1e3:.1f} ms per spectrum, max "
          f"{np.max(ours_t) * 1e3:.1f} ms; rel_rms vs brute-force best: max "
          f"{np.nanmax(ours / b - 1) * 100:+.2f} %, within 5 %: {np.sum(ours <= 1.05 * b)}/{len(rows)}")
    if not a.no_impedance_py:
        print(f"impedance.py: median {np.nanmedian(lib_t) * 1e3:.1f} ms per spectrum; rel_rms vs best: "
              f"median {np.nanmedian(lib / b - 1) * 100:+.1f} %, within 5 %: {np.sum(lib <= 1.05 * b)}/"
              f"{len(rows)}, failed: {np.sum(~np.isfinite(lib))}")
        print(f"              ended outside the project's bounds (R > {eis.R_MAX_REL:g} max|Z|, an arc "
              f"more than {eis.TAU_MARGIN:g} decades beyond the band, or n < {eis.ALPHA_MIN:g}): "
              f"{np.sum(~inside)}; below the "
              f"best by > 0.1 % only there: {np.sum((lib < 0.999 * b) & ~inside)} of "
              f"{np.sum(lib < 0.999 * b)}")
        print(f"speed ratio (impedance.py / ours, medians): {np.nanmedian(lib_t) / np.median(ours_t):.1f}x; "
              f"time of ours / impedance.py per spectrum, median: {np.nanmedian(ours_t / lib_t):.3f}x")


if __name__ == "__main__":
    main()

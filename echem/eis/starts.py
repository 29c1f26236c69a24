"""Initial guesses of the equivalent-circuit fit: from the peaks of the distribution of relaxation
times (any circuit) and from a grid over the arcs' time constants with the resistances solved for
(a series of resistors and R||CPE / R||C arcs, such as the default circuit)."""
from __future__ import annotations

import math
from itertools import combinations, product

import numpy as np

from echem.eis.circuit import Circuit, _arc_blocks, _series_resistors, parse_circuit
from echem.eis.drt import drt
from echem.eis.objective import Objective
from echem.errors import FitError


def drt_peaks(frequency_Hz, z, *, per_decade=8, lam=1e-2):
    """Peaks of a distribution of relaxation times (Tikhonov-regularized non-negative fit of
    Z = R_inf + sum g_k / (1 + j w tau_k) to the data weighted by |Z|).

    Returns (R_inf_ohm, [(R_k_ohm, f_k_Hz), ...]) with peaks sorted by descending frequency; each
    peak's R is the mass of g between the neighbouring minima, f_k = 1 / (2 pi tau_k) at its maximum.
    """
    from scipy.optimize import nnls
    f = np.asarray(frequency_Hz, float)
    z = np.asarray(z, complex)
    w = 2 * np.pi * f
    lo, hi = np.log10(1 / w.max()) - 1, np.log10(1 / w.min()) + 1
    tau = np.logspace(lo, hi, max(int((hi - lo) * per_decade), 8))
    K = 1.0 / (1.0 + 1j * np.outer(w, tau))
    wt = 1.0 / np.abs(z)
    A = np.vstack([np.column_stack([np.ones(f.size), K.real]) * wt[:, None],
                   np.column_stack([np.zeros(f.size), K.imag]) * wt[:, None]])
    b = np.concatenate([z.real * wt, z.imag * wt])
    n = tau.size
    D = np.zeros((n - 2, n + 1))
    for i in range(n - 2):
        D[i, i + 1:i + 4] = (1, -2, 1)
    reg = np.vstack([np.hstack([np.zeros((n, 1)), np.eye(n)]) * lam, D * lam])
    # R_inf may be negative in a measured spectrum: split it into two non-negative columns
    A2 = np.column_stack([A, -A[:, 0]])
    reg2 = np.column_stack([reg, np.zeros(reg.shape[0])])
    scale = float(np.max(np.abs(z)))
    sol, _ = nnls(np.vstack([A2, reg2 / scale]), np.concatenate([b, np.zeros(reg.shape[0])]),
                  maxiter=20 * A2.shape[1])
    r_inf = sol[0] - sol[-1]
    g = sol[1:n + 1]
    peaks = []
    if g.max() <= 0:
        return r_inf, peaks
    thr = 1e-3 * g.max()
    idx = [i for i in range(n) if g[i] > thr and (i == 0 or g[i] >= g[i - 1])
           and (i == n - 1 or g[i] > g[i + 1])]
    for i in idx:
        a = i
        while a > 0 and g[a - 1] <= g[a] and g[a - 1] > 0:
            a -= 1
        b_ = i
        while b_ < n - 1 and g[b_ + 1] <= g[b_] and g[b_ + 1] > 0:
            b_ += 1
        peaks.append((float(g[a:b_ + 1].sum()), float(1 / (2 * np.pi * tau[i]))))
    peaks.sort(key=lambda p: -p[1])
    return float(r_inf), peaks



def _guess_params(circuit: Circuit, f, z, arcs, r_inf, alpha):
    """Parameter vector from a list of arcs (R_ohm, f_Hz) assigned to the arc blocks in order."""
    scale = float(np.max(np.abs(z)))
    p = np.empty(circuit.n_params)
    # generic defaults first
    fmid = math.sqrt(f.max() * f.min())
    for i, k in enumerate(circuit.kinds):
        p[i] = {"R": 0.1 * scale, "alpha": alpha}.get(k, 1.0 / (scale * 2 * np.pi * fmid))
    for _label, etype, first, n in circuit.elements:
        if etype == "L":
            p[first] = 1e-3 * scale / (2 * np.pi * f.max())
        elif etype in ("Wo", "Ws", "G", "Gs", "K", "Zarc", "TLMQ") and n >= 2:
            p[first + 1] = 1 / (2 * np.pi * fmid)
    ser = _series_resistors(circuit)
    for j, i in enumerate(ser):
        p[i] = max(r_inf, 0.0) if j == 0 else 0.01 * scale
    for (r_i, etype, c_i), (r, fk) in zip(_arc_blocks(circuit), arcs):
        r = max(r, 1e-6 * scale)
        p[r_i] = r
        wk = 2 * np.pi * fk
        if etype == "CPE":
            p[c_i], p[c_i + 1] = 1.0 / (r * wk ** alpha), alpha
        else:
            p[c_i] = 1.0 / (r * wk)
    return p


def _candidate_arcs(peaks, n_blocks, f):
    """Deterministic sets of n_blocks arcs (R, f) from DRT peaks: the largest peaks, merges of
    neighbours, and splits of a peak into two arcs a decade apart."""
    out = []
    if n_blocks == 0:
        return [[]]
    if not peaks:
        fm = math.sqrt(f.max() * f.min())
        return [[(1.0, fm * 10 ** (1 - 2 * k / max(n_blocks - 1, 1))) for k in range(n_blocks)]]
    total = sum(r for r, _ in peaks)

    def by_freq(arcs):
        return sorted(arcs, key=lambda a: -a[1])

    big = sorted(peaks, key=lambda p: -p[0])
    if len(peaks) >= n_blocks:
        # the n largest peaks; the rest of the mass goes to the nearest chosen peak
        chosen = by_freq(big[:n_blocks])
        arcs = [list(a) for a in chosen]
        for r, fk in big[n_blocks:]:
            j = int(np.argmin([abs(math.log(fk / a[1])) for a in arcs]))
            arcs[j][0] += r
        out.append([tuple(a) for a in arcs])
        out.append(chosen)
        # merge neighbours (by frequency) down to n_blocks groups, every contiguous partition
        if len(peaks) > n_blocks and n_blocks == 2:
            for cut in range(1, len(peaks)):
                hi_, lo_ = peaks[:cut], peaks[cut:]
                out.append([(sum(r for r, _ in hi_), max(hi_, key=lambda p: p[0])[1]),
                            (sum(r for r, _ in lo_), max(lo_, key=lambda p: p[0])[1])])
    # split peaks so that there are enough arcs
    for k, (r, fk) in enumerate(big[:3]):
        rest = [p for p in big if p != (r, fk)][: max(n_blocks - 2, 0)]
        for ratio in (10.0, 3.0):
            for share in (0.5, 0.2, 0.8):
                arcs = [(r * share, fk * ratio), (r * (1 - share), fk / ratio)] + rest
                arcs = by_freq(arcs)[:n_blocks]
                if len(arcs) == n_blocks:
                    out.append(arcs)
    if not out:
        out.append(by_freq([(total / n_blocks, p[1]) for p in big[:n_blocks]]))
    # unique
    uniq, seen = [], set()
    for arcs in out:
        key = tuple((round(math.log10(max(r, 1e-300)), 3), round(math.log10(fk), 3)) for r, fk in arcs)
        if key not in seen:
            seen.add(key)
            uniq.append(arcs)
    return uniq


def initial_guesses(circuit, frequency_Hz, z):
    """Deterministic initial parameter vectors (impedance.py order) read off the spectrum:
    R0 from the high-frequency intercept, arcs (R, f) from the peaks of two distributions of
    relaxation times, :func:`echem.eis.drt` (lambda by GCV) and :func:`drt_peaks` (a fixed, light
    regularisation, which keeps small arcs apart), merged or split to match the number of arc
    blocks of the circuit (:func:`_candidate_arcs`); CPE exponents 0.9 and 0.7."""
    c = circuit if isinstance(circuit, Circuit) else parse_circuit(circuit)
    f = np.asarray(frequency_Hz, float)
    z = np.asarray(z, complex)
    hf = z.real[np.argmax(f)]
    n_blocks = len(_arc_blocks(c))
    out, seen = [], set()
    sources = [drt_peaks(f, z)]
    try:
        d = drt(f, z)
        sources.append((d.R_inf_ohm, [(float(r.R_ohm), float(r.f_Hz)) for r in d.peaks.itertuples()]))
    except FitError:
        pass
    for r_inf, peaks in sources:
        r0 = r_inf if r_inf > 0 else max(hf, 0.0)
        for arcs in _candidate_arcs(peaks, n_blocks, f):
            key = tuple(np.round(np.log10(np.maximum([a for arc in arcs for a in arc], 1e-300)), 2))
            if key in seen:
                continue
            seen.add(key)
            for alpha in (0.9, 0.7):
                out.append(_guess_params(c, f, z, arcs, r0, alpha))
    return out


def projected_starts(obj: "Objective", n_best=3, per_decade=3, exponents=(0.65, 0.9)):
    """Starting points from a grid search over the arcs' time constants and exponents with the
    resistances solved for (variable projection).

    For a series of resistors and K R||CPE (R||C) blocks, Z = R_s + sum_k R_k d_k(w) with
    d_k = 1 / (1 + (j w tau_k)^n_k) is linear in the resistances: for every combination of
    tau_k on a grid (``per_decade`` points per decade over the bounds, tau_1 < tau_2 < ...) and
    n_k in ``exponents``, the non-negative resistances minimising the |Z|-weighted residual are
    solved in closed form (every active set of a tiny non-negative least-squares problem), and
    the ``n_best`` lowest-cost combinations that are not grid neighbours of a better one are
    returned as fit variables x. Returns [] for other circuits or K > 3.
    """
    if not obj.fast:
        return []
    K = len(obj.arcs)
    if K > 3:
        return []
    lt = np.arange(obj.lower[obj.arc_t[0]], obj.upper[obj.arc_t[0]] + 1e-9, math.log(10) / per_decade)
    if K == 3:
        lt = lt[::2]
    T = lt.size
    has_n = obj.arc_n >= 0
    n_opts = [tuple(exponents) if h else (1.0,) for h in has_n]
    all_n = sorted({v for opts in n_opts for v in opts})
    # basis functions, weighted: index (n option, tau index)
    wz = obj.z * obj.weight
    basis = [obj.weight.astype(complex)]                           # series resistance
    for nv in all_n:
        d = 1.0 / (1.0 + np.exp(nv * (obj.ljw[None, :] + lt[:, None])))
        basis.extend(d * obj.weight[None, :])
    A = np.array(basis)                                            # (1 + len(all_n) T) x N
    G = (A.conj() @ A.T).real
    b = (A.conj() @ wz).real
    zz = float(np.vdot(wz, wz).real)
    # candidates: increasing tau indices and every exponent choice
    taus = np.array(list(combinations(range(T), K)))                        # C x K
    nsel = np.array(list(product(*[[all_n.index(v) for v in opts] for opts in n_opts])))  # Q x K
    arc_cols = (1 + nsel[None, :, :] * T + taus[:, None, :]).reshape(-1, K)
    cand = np.column_stack([np.zeros(len(arc_cols), int), arc_cols])   # M x (1 + K)
    M, m = cand.shape
    Gs = G[cand[:, :, None], cand[:, None, :]]                     # M x m x m
    bs = b[cand]                                                   # M x m
    best_cost = np.full(M, np.inf)
    best_coef = np.zeros((M, m))
    for mask in range(1, 2 ** m):
        sel = [i for i in range(m) if mask >> i & 1]
        Gm = Gs[:, sel][:, :, sel] + 1e-12 * np.eye(len(sel))
        coef = np.linalg.solve(Gm, bs[:, sel][:, :, None])[:, :, 0]
        cost = zz - np.einsum("mi,mi->m", coef, bs[:, sel])
        ok = np.all(coef >= 0, axis=1) & (cost < best_cost)
        best_cost[ok] = cost[ok]
        full = np.zeros((M, m))
        full[:, sel] = coef
        best_coef[ok] = full[ok]
    order = np.argsort(best_cost)
    chosen, out = [], []
    tau_idx = (cand[:, 1:] - 1) % T
    for i in order:
        if not np.isfinite(best_cost[i]):
            break
        if any(np.all(np.abs(tau_idx[i] - tau_idx[j]) <= 1) for j in chosen):
            continue
        chosen.append(i)
        x = np.zeros(obj.lower.size)
        x[obj.ser_r] = 0.0
        if obj.ser_r.size:
            x[obj.ser_r[0]] = math.asinh(best_coef[i, 0] / obj.r_unit)
        for k in range(K):
            x[obj.arc_r[k]] = math.asinh(max(best_coef[i, 1 + k], 1e-6 * obj.scale) / obj.r_unit)
            x[obj.arc_t[k]] = lt[tau_idx[i, k]]
            if has_n[k]:
                x[obj.arc_n[k]] = all_n[(cand[i, 1 + k] - 1) // T]
        out.append(np.clip(x, obj.lower, obj.upper))
        if len(out) >= n_best:
            break
    return out

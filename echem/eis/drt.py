"""Distribution of relaxation times (DRT) of an impedance spectrum.

Z(w) = R_inf + j w L + integral gamma(ln tau) / (1 + j w tau) d ln tau, with gamma >= 0 (ohm per
unit of ln tau, so that the resistance of a process is the area under its peak), discretised on
a log-spaced grid of tau (``per_decade`` points per decade, ``extend_decades`` beyond the measured
band on each side), fitted to the data weighted by 1/|Z| with a Tikhonov penalty on the first
derivative of gamma in ln tau (Tikhonov-regularised non-negative least squares, as pyimpspec's TR-NNLS).

The regularisation lambda is chosen by generalised cross-validation (Golub, Heath and Wahba 1979)
over a log grid (every 2/3 decade from 10^-4 to 10^0.67, then the point 1/3 decade above the
choice): for each lambda the non-negative problem is solved and
GCV = m |r|^2 / (m - tr H)^2, with H the influence matrix of the regularised least squares on
the active (positive) elements and m = 2N the real and imaginary residuals. Of the minimum of GCV
and the larger lambdas whose GCV is within ``gcv_tolerance`` of it, the largest is taken (the
smoothest solution that the data cannot tell from the best one): an under-regularised DRT splits
one broad process into several peaks, an over-regularised one only broadens it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from echem.eis.spectra import preprocess
from echem.errors import FitError


@dataclass
class DRT:
    """Result of :func:`drt`.

    ``tau_s``: the grid of time constants (s); ``gamma_ohm``: the distribution at them (ohm per
    unit of ln tau); ``gamma_std_ohm``: its standard deviation from the noise of the data
    propagated through the regularised estimator (at the chosen lambda; the bias of the
    regularisation is not in it); ``R_inf_ohm``: the high-frequency resistance; ``L_H``: the
    series inductance; ``lambda_``: the chosen regularisation and ``method`` how it was chosen;
    ``peaks``: one row per peak, ordered by decreasing frequency, with ``tau_s`` (at the maximum),
    ``f_Hz`` = 1 / (2 pi tau), ``R_ohm`` (the area under the peak, between the minima that bound
    it), ``gamma_ohm`` (the height) and ``in_band`` (its maximum lies within the measured band,
    1/(2 pi f_max) <= tau <= 1/(2 pi f_min); a peak beyond it, often at the end of the grid, stands
    for what the spectrum does outside the band, e.g. a capacitive tail, not for a resolved
    process); ``R_pol_ohm``: the area under the whole distribution;
    ``rel_rms``: sqrt(mean(|Z_DRT - Z|^2 / |Z|^2)).
    """

    tau_s: np.ndarray
    gamma_ohm: np.ndarray
    gamma_std_ohm: np.ndarray
    R_inf_ohm: float
    L_H: float
    lambda_: float
    method: str
    peaks: pd.DataFrame
    R_pol_ohm: float
    rel_rms: float
    frequency_Hz: np.ndarray = field(repr=False, default=None)
    z: np.ndarray = field(repr=False, default=None)
    z_fit: np.ndarray = field(repr=False, default=None)


def _difference(n, order):
    """The finite-difference matrix of ``order`` (0: identity) on n grid points."""
    return np.diff(np.eye(n), n=order, axis=0)


def _nnls(A, b, maxiter):
    from scipy.optimize import nnls
    try:
        return nnls(A, b, maxiter=maxiter)[0]
    except RuntimeError:  # iteration limit: the least-squares solution clipped at 0 instead
        return np.clip(np.linalg.lstsq(A, b, rcond=None)[0], 0, None)


def drt(frequency_Hz, z, *, per_decade=10, extend_decades=1.0, lambda_=None, inductance=True,
        lambdas=None, gcv_tolerance=0.1, min_peak_share=0.005, order=1,
        min_prominence=0.05) -> DRT:
    """Distribution of relaxation times of a spectrum (Tikhonov-regularised NNLS, lambda by GCV).

    ``frequency_Hz`` (Hz), ``z`` (ohm, Z' + j Z''); NaNs, non-positive and repeated frequencies
    are dropped first (:func:`preprocess`). ``lambda_`` fixes the regularisation (no search);
    ``lambdas`` is the grid searched (default: see the module docstring); ``inductance``
    adds a series inductor (L >= 0) to the model; ``order`` is the derivative penalised (1: the
    slope of gamma; 2: its curvature; 0: gamma itself). Of neighbouring maxima, one whose
    prominence is below ``min_prominence`` times the largest gamma is merged into its
    neighbours (see :func:`_peaks`). Peaks whose area is below ``min_peak_share`` of
    the total are left out of ``peaks`` (they stay in ``gamma_ohm``). Raises FitError for fewer
    than 5 valid points. See the module docstring for the method.
    """
    f, zz, rep = preprocess(frequency_Hz, z)
    nonzero = np.abs(zz) > 0
    f, zz = f[nonzero], zz[nonzero]
    if f.size < 5:
        raise FitError(f"a distribution of relaxation times needs at least 5 valid points, got "
                       f"{f.size} ({rep})")
    w = 2 * np.pi * f
    lo = math.log10(1 / w.max()) - extend_decades
    hi = math.log10(1 / w.min()) + extend_decades
    n = max(int(round((hi - lo) * per_decade)) + 1, 8)
    tau = np.logspace(lo, hi, n)
    dlt = (hi - lo) / (n - 1) * math.log(10)           # d ln tau of the grid
    scale = float(np.max(np.abs(zz)))
    wt = 1.0 / np.abs(zz)
    K = dlt / (1.0 + 1j * np.outer(w, tau))             # N x n
    # columns: R_inf (+), R_inf (-), L (optional), gamma / scale
    cols = [np.ones(f.size, complex), -np.ones(f.size, complex)]
    if inductance:
        # in units of scale / w_max, so that its column is O(1) where it matters
        cols.append(1j * w / w.max())
    n_lead = len(cols)
    Ac = np.column_stack(cols + [K]) * (scale * wt)[:, None]
    A = np.vstack([Ac.real, Ac.imag])
    b = np.concatenate([zz.real * wt, zz.imag * wt])
    m, P = A.shape
    Dn = _difference(n, order)
    D = np.zeros((Dn.shape[0], P))
    D[:, n_lead:] = Dn
    maxiter = 20 * P
    AtA, DtD = A.T @ A, D.T @ D

    def solve(lam):
        """(x, residual sum of squares, trace of the influence matrix, active set, and the
        matrices G = A_s'A_s, M = G + lam^2 D_s'D_s, M^-1 G of the active set)."""
        x = _nnls(np.vstack([A, lam * D]), np.concatenate([b, np.zeros(D.shape[0])]), maxiter)
        r = A @ x - b
        act = np.flatnonzero(x > 0)
        if act.size == 0:
            return x, float(r @ r), 0.0, act, None
        G = AtA[np.ix_(act, act)]
        M = G + lam * lam * DtD[np.ix_(act, act)]
        try:
            MG = np.linalg.solve(M, G)       # tr(A (A'A + lam^2 D'D)^-1 A') = tr(M^-1 G)
        except np.linalg.LinAlgError:
            MG = np.linalg.lstsq(M, G, rcond=None)[0]
        return x, float(r @ r), float(np.trace(MG)), act, (G, M, MG)

    if lambda_ is not None:
        lam = float(lambda_)
        x, rss, tr, act, mats = solve(lam)
        method = "given"
    else:
        if lambdas is not None:
            grid, fine = np.asarray(lambdas, float), None
        else:  # every 2/3 decade, then the 1/3-decade point above the choice
            grid, fine = 10 ** np.arange(-4, 0.7, 2 / 3), 10 ** (1 / 3)
        runs = []
        for lam in grid:
            x, rss, tr, act, mats = solve(lam)
            runs.append((lam, m * rss / max(m - tr, 1e-12) ** 2, x, rss, tr, act, mats))
        g = np.array([r[1] for r in runs])
        k_min = int(np.argmin(g))
        k = k_min
        while k + 1 < len(runs) and g[k + 1] <= (1 + gcv_tolerance) * g[k_min]:
            k += 1
        chosen = runs[k]
        if fine is not None and k + 1 < len(runs):
            lam = chosen[0] * fine
            x, rss, tr, act, mats = solve(lam)
            gcv = m * rss / max(m - tr, 1e-12) ** 2
            if gcv <= (1 + gcv_tolerance) * g[k_min]:
                chosen = (lam, gcv, x, rss, tr, act, mats)
        lam, _g, x, rss, tr, act, mats = chosen
        method = "gcv"
    gamma = x[n_lead:] * scale
    r_inf = (x[0] - x[1]) * scale
    L = (x[2] * scale / w.max()) if inductance else 0.0
    # the noise propagated through the estimator on the active set
    std = np.zeros(P)
    if mats is not None:
        G, M, MG = mats
        s2 = rss / max(m - tr, 1.0)
        try:
            cov = s2 * np.linalg.solve(M, MG.T)                 # s2 M^-1 G M^-1
        except np.linalg.LinAlgError:
            cov = s2 * np.linalg.lstsq(M, MG.T, rcond=None)[0]
        std[act] = np.sqrt(np.clip(np.diag(cov), 0, None))
    gamma_std = std[n_lead:] * scale
    z_fit = (Ac @ x) / wt
    rel_rms = float(np.sqrt(np.mean(np.abs(z_fit - zz) ** 2 / np.abs(zz) ** 2)))
    total = float(gamma.sum() * dlt)
    peaks = _peaks(tau, gamma, dlt, min_peak_share * total, min_prominence)
    # a maximum outside the measured band of time constants is not a resolved process
    peaks["in_band"] = ((peaks["tau_s"] >= 1 / w.max() * (1 - 1e-9))
                        & (peaks["tau_s"] <= 1 / w.min() * (1 + 1e-9))).astype(bool)
    return DRT(tau_s=tau, gamma_ohm=gamma, gamma_std_ohm=gamma_std, R_inf_ohm=float(r_inf),
               L_H=float(L), lambda_=float(lam), method=method, peaks=peaks, R_pol_ohm=total,
               rel_rms=rel_rms, frequency_Hz=f, z=zz, z_fit=z_fit)


def _peaks(tau, gamma, dlt, min_R, min_prominence) -> pd.DataFrame:
    """The peaks of gamma: local maxima whose prominence (height above the higher of the two minima
    that bound them) is at least ``min_prominence`` times the largest value of gamma. A weaker
    maximum (a lobe of the regularisation beside a broad peak) is not a peak: its region goes to
    its neighbours, split at its maximum. Each peak's area (ohm) runs between its bounding
    minima; its tau (s) is the maximum refined by a parabola through the three grid points around
    it (in ln tau). Peaks with an area below ``min_R`` are left out."""
    n = gamma.size
    g = np.asarray(gamma, float)
    empty = pd.DataFrame(columns=["tau_s", "f_Hz", "R_ohm", "gamma_ohm"])
    if n < 3 or g.max() <= 0:
        return empty
    # local maxima (plateaus count once, at their first point), edges included
    up = np.concatenate([[True], g[1:] > g[:-1]])
    down = np.concatenate([g[:-1] >= g[1:], [True]])
    maxima = list(np.flatnonzero(up & down & (g > 1e-9 * g.max())))

    def bounds(k, mx):
        """Indices of the minima left and right of maxima[k] (the grid ends at the edges)."""
        i = mx[k]
        left = 0 if k == 0 else mx[k - 1] + int(np.argmin(g[mx[k - 1]:i + 1]))
        right = n - 1 if k == len(mx) - 1 else i + int(np.argmin(g[i:mx[k + 1] + 1]))
        return left, right

    while len(maxima) > 1:  # drop the least prominent maximum until all are prominent enough
        prom = []
        for k, i in enumerate(maxima):
            left, right = bounds(k, maxima)
            base = max(g[left] if k > 0 else 0.0, g[right] if k < len(maxima) - 1 else 0.0)
            prom.append(g[i] - base)
        k = int(np.argmin(prom))
        if prom[k] >= min_prominence * g.max():
            break
        del maxima[k]
    # boundaries between neighbouring peaks: the minimum between them
    cuts = [0]
    for k in range(len(maxima) - 1):
        cuts.append(maxima[k] + int(np.argmin(g[maxima[k]:maxima[k + 1] + 1])))
    cuts.append(n - 1)
    lt = np.log(tau)
    rows = []
    for k, i in enumerate(maxima):
        a, b = cuts[k], cuts[k + 1]
        w = np.ones(b - a + 1)
        if k > 0:
            w[0] = 0.5            # a shared minimum: half to each side
        if k < len(maxima) - 1:
            w[-1] = 0.5
        R = float(np.sum(g[a:b + 1] * w) * dlt)
        if R < min_R:
            continue
        t = lt[i]
        if 0 < i < n - 1:
            y0, y1, y2 = g[i - 1], g[i], g[i + 1]
            den = y0 - 2 * y1 + y2
            if den < 0:
                t = lt[i] + 0.5 * (y0 - y2) / den * (lt[1] - lt[0])
        rows.append((math.exp(t), 1 / (2 * math.pi * math.exp(t)), R, float(g[i])))
    if not rows:
        return empty
    return pd.DataFrame(rows, columns=["tau_s", "f_Hz", "R_ohm", "gamma_ohm"])


def assign_peaks(result: DRT, fit) -> pd.DataFrame:
    """The peaks of ``result`` with a column ``assigned``: the name of the fitted arc (an
    :class:`echem.eis.EISFit`'s ``f_char_Hz`` key, e.g. R_SEI, R_ct) whose characteristic
    frequency is nearest on a log scale to the peak's, each arc to one in-band peak at most (the
    nearest, within 1 decade); "" for the others. ``fit`` None: all "" ."""
    peaks = result.peaks.copy()
    peaks["assigned"] = ""
    if fit is None or peaks.empty:
        return peaks
    arcs = sorted(((name, fc) for name, fc in fit.f_char_Hz.items()
                   if fc is not None and np.isfinite(fc) and fc > 0), key=lambda a: -a[1])
    free = set(peaks.index[peaks["in_band"]])
    for name, fc in arcs:
        if not free:
            break
        dist = {i: abs(math.log10(peaks.at[i, "f_Hz"] / fc)) for i in free}
        i = min(dist, key=dist.get)
        if dist[i] <= 1.0:
            peaks.at[i, "assigned"] = name
            free.discard(i)
    return peaks

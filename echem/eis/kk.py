"""Kramers-Kronig validation of a spectrum: the Lin-KK test of Schoenleber et al. (2014).

A spectrum is Kramers-Kronig consistent (linear, causal, stable, time-invariant) when a series of
an ohmic resistor, an inductor and M RC elements with fixed, log-spaced time constants reproduces
it; M is chosen by the mu criterion (the first M whose mu = 1 - sum|R_k<0| / sum|R_k>=0| falls
below a cut-off c). The fit is linear in the resistances; it is solved here with numpy
(``fit_type="complex"``, equal to impedance.py's ``validation.linKK``, which
tests/test_eis_kk.py checks on every corpus spectrum); ``fit_type="real"``/``"imag"`` use
impedance.py's ``linKK`` itself.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from echem.eis.defaults import KK_THRESHOLD
from echem.eis.spectra import preprocess
from echem.errors import FitError


@dataclass
class KKResult:
    """Lin-KK test (Schoenleber et al. 2014).

    ``residuals_real``/``residuals_imag`` are (Z - Z_KK)/|Z| per point at ``frequency_Hz``, ``M``
    the number of RC elements chosen, ``mu`` the over-fitting measure, ``passed`` whether every
    residual is within ``threshold`` (a fraction of |Z|), ``c`` the mu cut-off that chose M.
    ``fail_band_Hz``: (lowest, highest) frequency (Hz) of the points whose residual exceeds the
    threshold, None when the spectrum passes.
    """

    residuals_real: np.ndarray
    residuals_imag: np.ndarray
    M: int
    mu: float
    max_residual: float
    passed: bool
    threshold: float
    z_fit: np.ndarray = field(repr=False, default=None)
    c: float = 0.85
    frequency_Hz: np.ndarray = field(repr=False, default=None)
    fail_band_Hz: tuple | None = None


def kramers_kronig(frequency_Hz, z, *, c=0.85, max_M=50, threshold=KK_THRESHOLD,
                   fit_type="complex", add_cap=False, retry_c=(0.7, 0.5)) -> KKResult:
    """Lin-KK validation of a spectrum (Schoenleber et al. 2014): M RC elements with time constants
    log-spaced from 1/(2 pi f_max) to 1/(2 pi f_min), M chosen as the first with mu <= ``c``;
    ``fit_type``, ``max_M``, ``add_cap`` (a series capacitor) as in impedance.py's ``linKK``.

    Passes when max(|residual|) over real and imaginary parts is <= ``threshold`` (default
    :data:`KK_THRESHOLD`). mu is not monotonic in M: over a wide band (7 MHz to 0.1 Hz) it can dip
    below 0.85 at a few elements, long before the RC series can follow the spectrum (a valid
    synthetic spectrum then shows 4 % residuals at M = 9 and 0.3 % at M = 30). So a spectrum that
    fails at ``c`` is tried again at each cut-off in ``retry_c`` (more elements); it fails only if
    it fails at all of them. A spectrum that violates Kramers-Kronig (drift) cannot be fitted by
    the KK-compliant RC series at any M, so the retries do not let it pass. Raises FitError for
    fewer than 3 valid points.
    """
    f, z, _ = preprocess(frequency_Hz, z)
    if f.size < 3:
        raise FitError(f"Kramers-Kronig test needs at least 3 valid points, got {f.size}")
    if fit_type not in ("complex", "real", "imag"):
        raise FitError(f"fit_type {fit_type!r}: use 'complex', 'real' or 'imag'")
    fits = _LinKK(f, z, add_cap) if fit_type == "complex" else None
    result = None
    for cut in (c, *retry_c):
        if fits is not None:
            M, mu, z_fit = fits.choose(cut, max_M)
        else:
            M, mu, z_fit = _linkk_impedance_py(f, z, cut, max_M, fit_type, add_cap)
        result = _result(f, z, M, mu, z_fit, cut, threshold)
        if result.passed:
            break
    return result


def _result(f, z, M, mu, z_fit, c, threshold) -> KKResult:
    res = (z - z_fit) / np.abs(z)
    worst_each = np.maximum(np.abs(res.real), np.abs(res.imag))
    worst = float(worst_each.max())
    passed = bool(worst <= threshold)
    band = None
    if not passed:
        bad = f[worst_each > threshold]
        band = (float(bad.min()), float(bad.max()))
    return KKResult(residuals_real=res.real.copy(), residuals_imag=res.imag.copy(), M=int(M),
                    mu=float(mu), max_residual=worst, passed=passed, threshold=float(threshold),
                    z_fit=np.asarray(z_fit), c=float(c), frequency_Hz=f, fail_band_Hz=band)


class _LinKK:
    """The complex Lin-KK fits of one spectrum for M = 1, 2, ..., computed once each (the mu
    cut-offs of :func:`kramers_kronig` reuse them). The least-squares problem is impedance.py's
    (``fit_linKK`` with ``fit_type="complex"``): columns R_0, the M RC elements, an optional series
    capacitor (its 1/C), a series inductor, rows Re and Im of Z/|Z|."""

    def __init__(self, f, z, add_cap):
        self.f, self.z, self.add_cap = f, z, add_cap
        self.w = 2 * np.pi * f
        self.mag = np.abs(z)
        self.cache: dict = {}

    def tau(self, M):
        t_min, t_max = 1 / (2 * np.pi * self.f.max()), 1 / (2 * np.pi * self.f.min())
        if M == 1:  # as impedance.py's get_tc_distribution: the one element at t_max
            return np.array([t_max])
        return 10 ** np.linspace(np.log10(t_min), np.log10(t_max), M)

    def solve(self, M):
        if M in self.cache:
            return self.cache[M]
        tau = self.tau(M)
        n_extra = 3 if self.add_cap else 2
        A = np.zeros((self.f.size, M + n_extra), complex)
        A[:, 0] = 1.0
        A[:, 1:M + 1] = 1.0 / (1.0 + 1j * np.outer(self.w, tau))
        if self.add_cap:
            A[:, -2] = -1j / self.w
        A[:, -1] = 1j * self.w
        A = A / self.mag[:, None]
        b = self.z / self.mag
        # the normal equations, as impedance.py solves them
        G = A.real.T @ A.real + A.imag.T @ A.imag
        rhs = A.real.T @ b.real + A.imag.T @ b.imag
        try:
            x = np.linalg.solve(G, rhs)
        except np.linalg.LinAlgError:
            x = np.linalg.lstsq(np.vstack([A.real, A.imag]), np.concatenate([b.real, b.imag]),
                                rcond=None)[0]
        rk = x[1:M + 1]
        pos, neg = rk[rk >= 0].sum(), -rk[rk < 0].sum()
        mu = 1 - neg / pos if pos > 0 else -np.inf
        z_fit = (A @ x) * self.mag
        self.cache[M] = (float(mu), z_fit)
        return self.cache[M]

    def choose(self, c, max_M):
        """The first M (1 ... max_M) with mu <= c (or max_M), as impedance.py's linKK counts."""
        M = 0
        mu = 1.0
        z_fit = None
        while mu > c and M < max_M:
            M += 1
            mu, z_fit = self.solve(M)
        return M, mu, z_fit


def _linkk_impedance_py(f, z, c, max_M, fit_type, add_cap):
    """impedance.py's ``linKK`` (for ``fit_type`` "real" and "imag")."""
    from impedance.validation import linKK
    # impedance.py 1.7 builds circuit strings from str(list of numpy floats) and evals them;
    # numpy 2 prints those as 'np.float64(...)', so print them the numpy 1 way meanwhile
    legacy = np.printoptions(legacy="1.25") if int(np.__version__.split(".")[0]) >= 2 \
        else contextlib.nullcontext()
    with legacy, contextlib.redirect_stdout(io.StringIO()):
        M, mu, z_fit, _res_re, _res_im = linKK(f, z, c=c, max_M=max_M, fit_type=fit_type,
                                               add_cap=add_cap)
    return M, mu, np.asarray(z_fit)

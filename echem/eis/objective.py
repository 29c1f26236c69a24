"""The objective of the equivalent-circuit fit (shared by the fit and by the brute-force benchmark):
|Z|-weighted residuals in transformed fit variables, with bounds and an analytic Jacobian."""
from __future__ import annotations

import math

import numpy as np

from echem.eis.circuit import Circuit, _arc_blocks, _eval, _full, parse_circuit
from echem.errors import FitError

#: lower bound of CPE-type exponents (upper bound is 1)
ALPHA_MIN = 0.2
#: resistances are bounded to [0, R_MAX_REL x max|Z| of the spectrum] and fitted as
#: x = asinh(R / (R_LINEAR_REL max|Z|)): logarithmic above R_LINEAR_REL max|Z|, linear below,
#: so that a resistance that tends to 0 reaches its bound in a few steps
R_MAX_REL, R_LINEAR_REL = 1e2, 1e-4
#: time constants of R||CPE arcs stay within this many decades beyond the measured band
TAU_MARGIN = 2.0
#: other positive parameters (Q, C, L, time constants ...) are bounded to [POS_MIN, POS_MAX]
POS_MIN, POS_MAX = 1e-15, 1e6


class Objective:
    """Residuals (Z_model - Z)/|Z| (real parts then imaginary parts) in the fit variables x.

    Fit variables, one per parameter (same order as impedance.py's parameters):

    - resistances: x = asinh(R / (R_LINEAR_REL max|Z|)), R in [~0, R_MAX_REL max|Z|]
      (logarithmic for all but tiny R, so that R can also go to 0 in a few steps);
    - exponents (CPE n ...): x = n in [ALPHA_MIN, 1];
    - in an R||CPE (or R||C) block the Q (or C) slot holds x = log(tau) with tau = (R Q)^(1/n)
      the arc's time constant (so the block is a ZARC, R / (1 + (j w tau)^n)), bounded to
      TAU_MARGIN decades beyond the measured band; f_char = 1 / (2 pi tau);
    - any other positive parameter: x = log(parameter) in [log POS_MIN, log POS_MAX].

    ``lower``/``upper`` are the bounds on x. rel_rms(x) = sqrt(mean(|Z_model - Z|^2 / |Z|^2)).
    """

    def __init__(self, circuit, frequency_Hz, z, weighting="modulus"):
        self.circuit = circuit if isinstance(circuit, Circuit) else parse_circuit(circuit)
        self.f = np.asarray(frequency_Hz, float)
        self.w = 2 * np.pi * self.f
        self.ljw = np.log(self.w) + 0.5j * np.pi
        self.z = np.asarray(z, complex)
        self.scale = float(np.max(np.abs(self.z)))
        if weighting == "modulus":
            self.weight = 1.0 / np.abs(self.z)
        elif weighting in (None, "unit", "none"):
            self.weight = np.full(self.f.size, 1.0 / self.scale)
        else:
            raise FitError(f"weighting {weighting!r}: use 'modulus' or 'unit'")
        kinds = self.circuit.kinds
        P = len(kinds)
        self.is_log = np.array([k == "pos" for k in kinds])
        self.is_r = np.array([k == "R" for k in kinds])
        self.r_unit = R_LINEAR_REL * self.scale
        # R||CPE / R||C blocks: (R index, Q or C index, exponent index or None)
        self.arcs = [(r, c, c + 1 if et == "CPE" else None) for r, et, c in _arc_blocks(self.circuit)]
        self.is_tau = np.zeros(P, dtype=bool)
        for _r, c, _n in self.arcs:
            self.is_tau[c] = True
            self.is_log[c] = False
        lo, hi = [], []
        for i, k in enumerate(kinds):
            if self.is_tau[i]:
                lo.append(math.log(1 / (2 * np.pi * self.f.max())) - TAU_MARGIN * math.log(10))
                hi.append(math.log(1 / (2 * np.pi * self.f.min())) + TAU_MARGIN * math.log(10))
            elif k == "R":
                lo.append(math.asinh(1e-9 / R_LINEAR_REL))
                hi.append(math.asinh(R_MAX_REL / R_LINEAR_REL))
            elif k == "alpha":
                lo.append(ALPHA_MIN)
                hi.append(1.0)
            else:
                lo.append(math.log(POS_MIN))
                hi.append(math.log(POS_MAX))
        self.lower, self.upper = np.array(lo), np.array(hi)
        # fast path: a series of resistors and R||CPE / R||C blocks (the default circuit) is
        # R_series + sum R_k / (1 + (j w tau_k)^n_k), evaluated straight from x
        tree = self.circuit.tree
        items = tree[1] if tree[0] == "s" else [tree]
        n_series_r = sum(1 for it in items if it[0] == "e" and it[2] == "R")
        self.fast = bool(self.arcs) and n_series_r + len(self.arcs) == len(items)
        if self.fast:
            self.ser_r = np.array([it[3] for it in items if it[0] == "e" and it[2] == "R"], int)
            self.arc_r = np.array([a[0] for a in self.arcs], int)
            self.arc_t = np.array([a[1] for a in self.arcs], int)
            self.arc_n = np.array([a[2] if a[2] is not None else -1 for a in self.arcs], int)

    def _fast_parts(self, x):
        r_ser = self.r_unit * np.sinh(x[self.ser_r])
        r_arc = self.r_unit * np.sinh(x[self.arc_r])
        lt = x[self.arc_t]
        n = np.where(self.arc_n >= 0, x[np.maximum(self.arc_n, 0)], 1.0)
        s = self.ljw[None, :] + lt[:, None]          # log(j w tau), K x N
        u = np.exp(n[:, None] * s)                     # (j w tau)^n
        d = 1.0 / (1.0 + u)
        return r_ser, r_arc, n, s, u, d

    def to_params(self, x):
        x = np.asarray(x, float)
        p = np.where(self.is_log, np.exp(np.minimum(x, 700)),
                     np.where(self.is_r, self.r_unit * np.sinh(np.minimum(x, 700)), x))
        for r, c, n in self.arcs:  # Q = tau^n / R, C = tau / R
            p[c] = math.exp((x[n] if n is not None else 1.0) * x[c]) / p[r]
        return p

    def to_x(self, params):
        p = np.asarray(params, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(self.is_log, np.log(np.where(self.is_log, np.maximum(p, 1e-300), 1.0)),
                         np.where(self.is_r, np.arcsinh(p / self.r_unit), p))
            for r, c, n in self.arcs:  # log tau = log(R Q) / n
                x[c] = math.log(max(p[r], 1e-300) * max(p[c], 1e-300)) / (p[n] if n is not None else 1.0)
        return np.clip(x, self.lower, self.upper)

    def dp_dx(self, x, p):
        """d parameters / d x (P x P) at x (p = to_params(x))."""
        T = np.diag(np.where(self.is_log, p, np.where(
            self.is_r, np.sqrt(self.r_unit ** 2 + p * p), 1.0)))
        for r, c, n in self.arcs:
            q = p[c]
            T[c, c] = q * (x[n] if n is not None else 1.0)   # dQ/dlog(tau) = n Q
            T[c, r] = -q / p[r] * T[r, r]                    # dQ/dx_R = -Q/R dR/dx_R
            if n is not None:
                T[c, n] = q * x[c]                           # dQ/dn = Q log(tau)
        return T

    def model(self, params):
        z, _ = _eval(self.circuit.tree, np.asarray(params, float), self.f, self.w, self.ljw, False)
        return _full(z, self.f.size)

    def residuals(self, x):
        x = np.asarray(x, float)
        if self.fast:
            r_ser, r_arc, _n, _s, _u, d = self._fast_parts(x)
            zm = r_ser.sum() + r_arc @ d
        else:
            zm = self.model(self.to_params(x))
        e = (zm - self.z) * self.weight
        return np.concatenate([e.real, e.imag])

    def jacobian_params(self, p):
        """d residuals / d parameters (2N x P) at the parameters p."""
        _, cols = _eval(self.circuit.tree, np.asarray(p, float), self.f, self.w, self.ljw, True)
        n = self.f.size
        J = np.zeros((2 * n, len(p)))
        for k, col in cols.items():
            col = _full(col, n) * self.weight
            J[:n, k] = col.real
            J[n:, k] = col.imag
        return J

    def jacobian(self, x):
        x = np.asarray(x, float)
        if not self.fast:
            p = self.to_params(x)
            return self.jacobian_params(p) @ self.dp_dx(x, p)
        r_ser, r_arc, n, s, u, d = self._fast_parts(x)
        N = self.f.size
        Jc = np.zeros((x.size, N), complex)
        Jc[self.ser_r] = (self.r_unit * np.cosh(x[self.ser_r]))[:, None]
        Jc[self.arc_r] = (self.r_unit * np.cosh(x[self.arc_r]))[:, None] * d
        g = -(r_arc[:, None] * u * d * d)              # d Z_k / d(n log(j w tau))
        Jc[self.arc_t] = g * n[:, None]
        has_n = self.arc_n >= 0
        Jc[self.arc_n[has_n]] = g[has_n] * s[has_n]
        Jc = Jc * self.weight[None, :]
        return np.concatenate([Jc.real, Jc.imag], axis=1).T

    def rel_rms(self, x) -> float:
        r = self.residuals(x)
        return float(np.sqrt(np.sum(r * r) / self.f.size))

    def solve(self, x0, max_nfev=200, tol=1e-6):
        """One bounded least-squares run (scipy trf) from x0; returns scipy's result."""
        from scipy.optimize import least_squares
        x0 = np.clip(np.asarray(x0, float), self.lower + 1e-9, self.upper - 1e-9)
        with np.errstate(all="ignore"):
            return least_squares(self.residuals, x0, jac=self.jacobian,
                                 bounds=(self.lower, self.upper), method="trf", x_scale=1.0,
                                 xtol=tol, ftol=tol, gtol=tol, max_nfev=max_nfev)

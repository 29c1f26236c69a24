"""Impedance spectra: extraction, cleaning, Kramers-Kronig validation and equivalent-circuit fits.

The paper (Figure 5b, Table S7) fits Biologic SP-200 spectra (7 MHz to 0.1 Hz) of symmetric cells
with ``R0-p(R1,CPE1)-p(R2,CPE2)``: R0 the bulk electrolyte, the higher-frequency arc R_SEI and the
lower-frequency arc R_ct. Circuits are written in impedance.py's language and use its elements
(``impedance.models.circuits.elements``); parameter names follow impedance.py (``R0``, ``CPE1_0``
for Q in ohm^-1 s^n, ``CPE1_1`` for the exponent n, ...).

Conventions: frequencies in Hz, Z = Z' + j Z'' in ohm (a capacitive arc has Z'' < 0), times in s.

The fit minimises sum |Z_fit - Z|^2 / |Z|^2 (residuals weighted by |Z|) with
:func:`scipy.optimize.least_squares` (bounded, analytic Jacobian) in transformed variables
(log-like for resistances and time constants, exponents in [ALPHA_MIN, 1]; see
:class:`Objective`), from a few deterministic starts read off the spectrum (see :func:`fit`).
``benchmarks/eis_fit.py`` checks it against a 200-start brute-force search on every corpus
spectrum and times it against impedance.py's ``CustomCircuit.fit``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import re
import sys
import types
from dataclasses import dataclass, field
from itertools import combinations, product

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls


class _ImportedOnUse(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its attributes is used; then the
    real module is imported (replacing the stand-in there) and the attribute comes from it."""

    def __getattr__(self, attr):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _defer_altair() -> None:
    """impedance.py imports its plotting helpers, and with them altair (0.55 s here, a third of
    importing this module), whenever any of its modules is imported; echem uses its elements
    and linKK, never those helpers. Until something uses it, ``altair`` is a stand-in."""
    if "altair" not in sys.modules and importlib.util.find_spec("altair") is not None:
        sys.modules["altair"] = _ImportedOnUse("altair")


_defer_altair()

from impedance.models.circuits import elements as _elements  # noqa: E402
from impedance.models.circuits.fitting import calculateCircuitLength  # noqa: E402
from impedance.validation import linKK  # noqa: E402

from echem.errors import FitError  # noqa: E402

DEFAULT_CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)"
DEFAULT_NAMES = {"R1": "R_SEI", "R2": "R_ct"}
#: the relative RMS above which a fit is reported as poor
POOR_FIT_REL_RMS = 0.05

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

# element parameters that are exponents in (0, 1] (impedance.py element -> parameter indices)
_EXPONENTS = {"CPE": (1,), "La": (1,), "Gs": (2,), "Zarc": (2,), "TLMQ": (2,)}


# --------------------------------------------------------------------------------------------
# spectra and cleaning
# --------------------------------------------------------------------------------------------

@dataclass
class Spectrum:
    """One impedance spectrum: ``index`` (the schema's ``spectrum``, from 1), frequencies in Hz,
    complex impedance in ohm (Z' + j Z''), and ``time_s`` at its first point (NaN if unknown)."""

    index: int
    frequency_Hz: np.ndarray
    z: np.ndarray
    time_s: float


def spectra(data) -> list[Spectrum]:
    """The impedance spectra of a Measurement (or of a DataFrame in the common schema).

    Rows with a ``frequency_Hz`` (impedance rows) are grouped by ``spectrum``; rows without a
    spectrum number are treated as spectrum 1. Returns them in order of ``spectrum``; [] when the
    data has no impedance rows.
    """
    df = getattr(data, "data", data)
    need = ("frequency_Hz", "z_real_ohm", "z_imag_ohm")
    if not isinstance(df, pd.DataFrame) or not all(c in df.columns for c in need):
        return []
    rows = df[df["frequency_Hz"].notna()]
    if rows.empty:
        return []
    if "spectrum" in rows.columns:
        key = rows["spectrum"].astype("Float64").fillna(1).astype(int).to_numpy()
    else:
        key = np.ones(len(rows), dtype=int)
    out = []
    for k in np.unique(key):
        sel = rows[key == k]
        t = sel["time_s"].to_numpy(float) if "time_s" in sel.columns else np.array([np.nan])
        out.append(Spectrum(
            index=int(k),
            frequency_Hz=sel["frequency_Hz"].to_numpy(float),
            z=sel["z_real_ohm"].to_numpy(float) + 1j * sel["z_imag_ohm"].to_numpy(float),
            time_s=float(t[0]) if t.size else float("nan")))
    return out


@dataclass
class PreprocessReport:
    """What :func:`preprocess` dropped: counts per reason, and points in / out."""

    n_in: int
    n_out: int
    dropped: dict = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{n} {why}" for why, n in self.dropped.items() if n]
        return (f"kept {self.n_out} of {self.n_in} points"
                + (f"; dropped {', '.join(parts)}" if parts else ""))


def preprocess(frequency_Hz, z, *, drop_inductive=False, f_min_Hz=None, f_max_Hz=None):
    """Clean a spectrum; returns ``(frequency_Hz, z, report)``.

    Drops, in this order and counting each: points with a NaN/inf frequency or impedance,
    non-positive frequencies, repeated frequencies (the first measurement is kept), optionally
    the inductive high-frequency points (Z'' > 0 above the frequency of the capacitive apex, the
    most negative Z''), and points outside [f_min_Hz, f_max_Hz]. The order of the points is kept.
    """
    f = np.asarray(frequency_Hz, dtype=float).ravel()
    z = np.asarray(z, dtype=complex).ravel()
    if f.shape != z.shape:
        raise FitError(f"frequency ({f.size} points) and impedance ({z.size} points) differ in length")
    n_in = f.size
    dropped = {}

    def drop(mask, why):
        nonlocal f, z
        dropped[why] = int(np.count_nonzero(~mask))
        f, z = f[mask], z[mask]

    drop(np.isfinite(f) & np.isfinite(z.real) & np.isfinite(z.imag), "NaN or infinite")
    drop(f > 0, "non-positive frequency")
    _, first = np.unique(f, return_index=True)
    keep = np.zeros(f.size, dtype=bool)
    keep[first] = True
    drop(keep, "repeated frequency")
    if drop_inductive:
        if f.size and np.any(z.imag < 0):
            f_apex = f[np.argmin(z.imag)]
            drop(~((z.imag > 0) & (f > f_apex)), "inductive (Z'' > 0 at high frequency)")
        else:
            dropped["inductive (Z'' > 0 at high frequency)"] = 0
    if f_min_Hz is not None:
        drop(f >= f_min_Hz, f"below {f_min_Hz:g} Hz")
    if f_max_Hz is not None:
        drop(f <= f_max_Hz, f"above {f_max_Hz:g} Hz")
    return f, z, PreprocessReport(n_in=n_in, n_out=f.size, dropped=dropped)


# --------------------------------------------------------------------------------------------
# Kramers-Kronig
# --------------------------------------------------------------------------------------------

@dataclass
class KKResult:
    """Lin-KK test (Schoenleber et al. 2014, via impedance.py's ``validation.linKK``).

    ``residuals_real``/``residuals_imag`` are (Z - Z_KK)/|Z| per point, ``M`` the number of RC
    elements chosen, ``mu`` the over-fitting measure, ``passed`` whether every residual is within
    ``threshold`` (a fraction of |Z|), ``c`` the mu cut-off that chose M.
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


def kramers_kronig(frequency_Hz, z, *, c=0.85, max_M=50, threshold=0.02, fit_type="complex",
                   add_cap=False, retry_c=(0.7, 0.5)) -> KKResult:
    """Lin-KK validation of a spectrum with impedance.py's ``linKK`` (Schoenleber et al. 2014):
    M RC elements, M chosen as the first with mu < ``c``; ``fit_type``, ``max_M``, ``add_cap`` as
    in linKK.

    Passes when max(|residual|) over real and imaginary parts is <= ``threshold`` (default 2 %:
    a valid spectrum with 0.5 % noise stays within it; drift or non-linearity usually does not).
    mu is not monotonic in M: over a wide band (7 MHz to 0.1 Hz) it can dip below 0.85 at a few
    elements, long before the RC series can follow the spectrum (a valid synthetic spectrum then
    shows 4 % residuals at M = 9 and 0.3 % at M = 30). So a spectrum that fails at ``c`` is tried
    again at each cut-off in ``retry_c`` (more elements); it fails only if it fails at all of
    them. A spectrum that violates Kramers-Kronig (drift) cannot be fitted by the KK-compliant RC
    series at any M, so the retries do not let it pass. Raises FitError for fewer than 3 points.
    """
    f, z, _ = preprocess(frequency_Hz, z)
    if f.size < 3:
        raise FitError(f"Kramers-Kronig test needs at least 3 valid points, got {f.size}")
    result = None
    for cut in (c, *retry_c):
        result = _linkk(f, z, cut, max_M, threshold, fit_type, add_cap)
        if result.passed:
            break
    return result


def _linkk(f, z, c, max_M, threshold, fit_type, add_cap) -> KKResult:
    # impedance.py 1.7 builds circuit strings from str(list of numpy floats) and evals them;
    # numpy 2 prints those as 'np.float64(...)', so print them the numpy 1 way meanwhile
    legacy = np.printoptions(legacy="1.25") if int(np.__version__.split(".")[0]) >= 2 \
        else contextlib.nullcontext()
    with legacy, contextlib.redirect_stdout(io.StringIO()):
        M, mu, z_fit, res_re, res_im = linKK(f, z, c=c, max_M=max_M, fit_type=fit_type,
                                              add_cap=add_cap)
    worst = float(max(np.max(np.abs(res_re)), np.max(np.abs(res_im))))
    return KKResult(residuals_real=np.asarray(res_re), residuals_imag=np.asarray(res_im), M=int(M),
                    mu=float(mu), max_residual=worst, passed=bool(worst <= threshold),
                    threshold=float(threshold), z_fit=np.asarray(z_fit), c=float(c))


# --------------------------------------------------------------------------------------------
# circuits: parsing, validation, fast evaluation with analytic derivatives
# --------------------------------------------------------------------------------------------

_ELEM_RE = re.compile(r"^([A-Za-z]+)(\d*(?:_\d+)?)$")


@dataclass
class Circuit:
    """A parsed circuit: the tree, the parameter names in impedance.py's order, their kinds."""

    text: str
    tree: tuple
    param_names: list
    kinds: list  # per parameter: "R" (resistance), "alpha" (exponent), "pos" (other positive)
    elements: list  # (element name, element type, first parameter index, n params)

    @property
    def n_params(self) -> int:
        return len(self.param_names)


def parse_circuit(circuit: str) -> Circuit:
    """Validate a circuit string against impedance.py's grammar and element registry.

    Grammar: elements in series joined by '-', parallel groups as 'p(a,b,...)' with at least two
    branches; an element is a known impedance.py element type followed by an optional label
    (digits, optionally '_digits'), e.g. R0, CPE1, Wo_2; every element label is used once.
    Raises FitError saying what is wrong.
    """
    if not isinstance(circuit, str) or not circuit.strip():
        raise FitError(f"circuit {circuit!r}: empty; write e.g. {DEFAULT_CIRCUIT!r}")
    text = circuit.replace(" ", "")
    known = sorted(k for k in _elements.circuit_elements if k not in ("s", "p"))
    bad = sorted(set(re.sub(r"[A-Za-z0-9_(),\-]", "", text)))
    if bad:
        raise FitError(f"circuit {circuit!r}: characters {''.join(bad)!r} are not allowed; use "
                       "'-' for series, 'p(a,b)' for parallel and element names such as R0, CPE1")
    pos = 0
    names: list[str] = []
    kinds: list[str] = []
    elems: list = []
    seen: set[str] = set()

    def fail(msg):
        raise FitError(f"circuit {circuit!r}: {msg} (at character {pos + 1})")

    def parse_series():
        nonlocal pos
        items = [parse_term()]
        while pos < len(text) and text[pos] == "-":
            pos += 1
            items.append(parse_term())
        return items[0] if len(items) == 1 else ("s", items)

    def parse_term():
        nonlocal pos
        if text.startswith("p(", pos):
            pos += 2
            items = [parse_series()]
            while pos < len(text) and text[pos] == ",":
                pos += 1
                items.append(parse_series())
            if pos >= len(text) or text[pos] != ")":
                fail("missing ')' closing a parallel group 'p('")
            pos += 1
            if len(items) < 2:
                fail("a parallel group p(...) needs at least two branches separated by ','")
            return ("p", items)
        m = re.match(r"[A-Za-z]+[0-9_]*", text[pos:])
        if not m:
            fail("expected an element (e.g. R0, CPE1) or a parallel group 'p(...)'")
        label = m.group(0)
        em = _ELEM_RE.match(label)
        if not em:
            fail(f"element label {label!r} is malformed; write a type and a number, e.g. R1, CPE_2")
        etype = em.group(1)
        if etype not in known:
            fail(f"unknown element type {etype!r} in {label!r}; impedance.py knows {', '.join(known)}")
        if label in seen:
            fail(f"element {label!r} is used twice; give each element its own number")
        seen.add(label)
        n = _elements.circuit_elements[etype].num_params
        first = len(names)
        for j in range(n):
            names.append(label if n == 1 else f"{label}_{j}")
            if j in _EXPONENTS.get(etype, ()):
                kinds.append("alpha")
            elif etype == "R" or (etype in ("Wo", "Ws", "G", "Gs", "K", "Zarc", "TLMQ") and j == 0):
                kinds.append("R")
            else:
                kinds.append("pos")
        elems.append((label, etype, first, n))
        pos += len(label)
        return ("e", label, etype, first, n)

    tree = parse_series()
    if pos != len(text):
        fail(f"unexpected {text[pos]!r}")
    try:  # impedance.py must read it the same way
        n_lib = calculateCircuitLength(text)
    except Exception as exc:  # pragma: no cover - our grammar is stricter than impedance.py's
        raise FitError(f"circuit {circuit!r}: impedance.py cannot read it: {exc}") from exc
    if n_lib != len(names):  # pragma: no cover
        raise FitError(f"circuit {circuit!r}: impedance.py counts {n_lib} parameters, we count {len(names)}")
    return Circuit(text=text, tree=tree, param_names=names, kinds=kinds, elements=elems)


def _element_z(etype, p, f, w, ljw, need_jac):
    """Impedance of one element and {parameter offset: dZ/dp} , vectorized over frequency.
    ``ljw`` = log(j w)."""
    if etype == "R":
        return complex(p[0]), ({0: 1.0} if need_jac else None)
    if etype == "CPE":
        q, a = p
        z = np.exp(-a * ljw) / q                # 1 / (Q (j w)^a)
        return z, ({0: -z / q, 1: -z * ljw} if need_jac else None)
    if etype == "C":
        z = 1.0 / (1j * w * p[0])
        return z, ({0: -z / p[0]} if need_jac else None)
    if etype == "L":
        z = 1j * w * p[0]
        return z, ({0: 1j * w} if need_jac else None)
    # any other impedance.py element: its own function, central differences for the derivatives
    func = _elements.circuit_elements[etype]
    fl = [float(x) for x in f]
    z = np.asarray(func([float(x) for x in p], fl), dtype=complex)
    if not need_jac:
        return z, None
    cols = {}
    for j in range(len(p)):
        h = 1e-6 * max(abs(p[j]), 1e-12)
        up = [float(x) for x in p]
        dn = list(up)
        up[j] += h
        dn[j] -= h
        cols[j] = (np.asarray(func(up, fl), complex) - np.asarray(func(dn, fl), complex)) / (2 * h)
    return z, cols


def _eval(node, params, f, w, ljw, jac):
    """(Z, {parameter index: dZ/dp}) of a subtree (the dict is None when jac is False).
    Z may be a scalar (a lone resistor); columns may be scalars."""
    kind = node[0]
    if kind == "e":
        _, _, etype, first, n = node
        z, cols = _element_z(etype, params[first:first + n], f, w, ljw, jac)
        return z, (None if cols is None else {first + j: c for j, c in cols.items()})
    parts = [_eval(child, params, f, w, ljw, jac) for child in node[1]]
    if kind == "s":
        z = parts[0][0]
        for zp, _ in parts[1:]:
            z = z + zp
        if not jac:
            return z, None
        J = {}
        for _, cols in parts:
            J.update(cols)
        return z, J
    y = 1.0 / parts[0][0]
    for zp, _ in parts[1:]:
        y = y + 1.0 / zp
    z = 1.0 / y
    if not jac:
        return z, None
    J = {}
    for zp, cols in parts:
        g = (z / zp) ** 2                      # d Z_parallel / d Z_branch
        for k, c in cols.items():
            J[k] = g * c
    return z, J


def _full(z, n):
    return np.broadcast_to(np.asarray(z, complex), (n,))


def circuit_impedance(circuit, params, frequency_Hz, *, jacobian=False):
    """Impedance (ohm) of a circuit at ``frequency_Hz`` for ``params`` in impedance.py's order.

    Vectorized equivalent of impedance.py's ``CustomCircuit(...).predict`` (tests prove them equal).
    With ``jacobian=True`` returns (Z, dZ/dparams) with dZ/dparams of shape (n_points, n_params).
    """
    c = circuit if isinstance(circuit, Circuit) else parse_circuit(circuit)
    f = np.asarray(frequency_Hz, dtype=float)
    p = np.asarray(params, dtype=float)
    if p.size != c.n_params:
        raise FitError(f"circuit {c.text!r} has {c.n_params} parameters, got {p.size}")
    w = 2 * np.pi * f
    z, cols = _eval(c.tree, p, f, w, np.log(w) + 0.5j * np.pi, jacobian)
    z = np.array(_full(z, f.size))
    if not jacobian:
        return z
    J = np.zeros((f.size, c.n_params), complex)
    for k, col in cols.items():
        J[:, k] = col
    return z, J


# --------------------------------------------------------------------------------------------
# the objective (shared by the fit and by the brute-force benchmark)
# --------------------------------------------------------------------------------------------

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
        x0 = np.clip(np.asarray(x0, float), self.lower + 1e-9, self.upper - 1e-9)
        with np.errstate(all="ignore"):
            return least_squares(self.residuals, x0, jac=self.jacobian,
                                 bounds=(self.lower, self.upper), method="trf", x_scale=1.0,
                                 xtol=tol, ftol=tol, gtol=tol, max_nfev=max_nfev)


# --------------------------------------------------------------------------------------------
# initial guesses
# --------------------------------------------------------------------------------------------

def drt_peaks(frequency_Hz, z, *, per_decade=8, lam=1e-2):
    """Peaks of a distribution of relaxation times (Tikhonov-regularized non-negative fit of
    Z = R_inf + sum g_k / (1 + j w tau_k) to the data weighted by |Z|).

    Returns (R_inf_ohm, [(R_k_ohm, f_k_Hz), ...]) with peaks sorted by descending frequency; each
    peak's R is the mass of g between the neighbouring minima, f_k = 1 / (2 pi tau_k) at its maximum.
    """
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


def _arc_blocks(circuit: Circuit):
    """Top-level parallel blocks made of one R and one CPE or C: [(r_index, cap_etype, cap_index)]."""
    tree = circuit.tree
    items = tree[1] if tree[0] == "s" else [tree]
    blocks = []
    for node in items:
        if node[0] != "p" or len(node[1]) != 2 or any(ch[0] != "e" for ch in node[1]):
            continue
        types = {ch[2]: ch for ch in node[1]}
        cap = types.get("CPE") or types.get("C")
        if "R" in types and cap is not None:
            blocks.append((types["R"][3], cap[2], cap[3]))
    return blocks


def _series_resistors(circuit: Circuit):
    tree = circuit.tree
    items = tree[1] if tree[0] == "s" else [tree]
    return [node[3] for node in items if node[0] == "e" and node[2] == "R"]


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
    R0 from the high-frequency intercept, arcs from the peaks of the distribution of relaxation
    times (merged or split to match the number of arcs of the circuit), CPE exponents 0.9 / 0.7."""
    c = circuit if isinstance(circuit, Circuit) else parse_circuit(circuit)
    f = np.asarray(frequency_Hz, float)
    z = np.asarray(z, complex)
    r_inf, peaks = drt_peaks(f, z)
    hf = z.real[np.argmax(f)]
    r0 = r_inf if r_inf > 0 else max(hf, 0.0)
    n_blocks = len(_arc_blocks(c))
    out = []
    for arcs in _candidate_arcs(peaks, n_blocks, f):
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


# --------------------------------------------------------------------------------------------
# the fit
# --------------------------------------------------------------------------------------------

@dataclass
class EISFit:
    """Result of :func:`fit`.

    ``params``/``stderr``: impedance.py parameter names -> value / standard error (ohm, ohm^-1 s^n,
    dimensionless exponents ...), the stderr from the covariance s^2 (J^T J)^-1 at the optimum
    (s^2 = weighted residual sum of squares / (2N - P)). ``named``: the user's names (R_SEI, R_ct)
    -> (value, stderr). ``f_char_Hz``: characteristic frequency of each R||CPE (or R||C) arc,
    f = 1 / (2 pi (R Q)^(1/n)), keyed by the arc resistor's name (its user name where given).
    ``rel_rms`` = sqrt(mean(|Z_fit - Z|^2 / |Z|^2)); ``chi_square`` = sum(|Z_fit - Z|^2 / |Z|^2).
    """

    circuit: str
    params: dict
    stderr: dict
    named: dict
    f_char_Hz: dict
    rel_rms: float
    chi_square: float
    success: bool
    message: str
    n_points: int
    frequency_Hz: np.ndarray = field(repr=False, default=None)
    z: np.ndarray = field(repr=False, default=None)
    z_fit: np.ndarray = field(repr=False, default=None)
    names: dict = field(repr=False, default_factory=dict)

    def predict(self, frequency_Hz):
        """Model impedance (ohm) at ``frequency_Hz`` with the fitted parameters."""
        return circuit_impedance(self.circuit, list(self.params.values()), frequency_Hz)


def _order_arcs(c: Circuit, p):
    """Swap identical R||CPE blocks so that their characteristic frequencies decrease in circuit order."""
    blocks = _arc_blocks(c)
    groups: dict = {}
    for b in blocks:
        groups.setdefault(b[1], []).append(b)
    p = p.copy()
    for etype, bl in groups.items():
        if len(bl) < 2:
            continue
        width = 2 if etype == "CPE" else 1
        vals = [(p[r], p[ci:ci + width].copy()) for r, _, ci in bl]
        fc = [_f_char(r, v[0], v[1] if width == 2 else 1.0) for r, v in vals]
        order = np.argsort(fc)[::-1]
        for (r_i, _, c_i), k in zip(bl, order):
            p[r_i] = vals[k][0]
            p[c_i:c_i + width] = vals[k][1]
    return p


def _f_char(r, q, n):
    with np.errstate(all="ignore"):
        return float(1.0 / (2 * np.pi * (r * q) ** (1.0 / n)))


def _check_names(c: Circuit, names):
    names = dict(names or {})
    unknown = [k for k in names if k not in c.param_names]
    if unknown:
        raise FitError(f"names {unknown} are not parameters of circuit {c.text!r} "
                       f"(its parameters: {', '.join(c.param_names)})")
    return names


def fit(frequency_Hz, z, circuit=DEFAULT_CIRCUIT, names=None, *, initial=None,
        weighting="modulus") -> EISFit:
    """Fit an equivalent circuit (impedance.py language) to a spectrum; returns :class:`EISFit`.

    ``names`` maps parameter names to the lab's names (default {"R1": "R_SEI", "R2": "R_ct"} for
    the default circuit, None otherwise). ``initial`` (dict by parameter name or a sequence in
    impedance.py order) is tried besides the guesses read off the spectrum; the better fit wins.
    NaNs, non-positive and repeated frequencies are dropped first (see :func:`preprocess`).

    Method: the objective is sum |Z_fit - Z|^2 / |Z|^2 (``weighting="modulus"``; "unit" weights
    by max|Z| instead) over the bounds of :class:`Objective`. For a series of resistors and
    R||CPE / R||C arcs (the default circuit) the starts come from :func:`projected_starts`: a grid
    over the arcs' characteristic frequencies and exponents, with the high-frequency intercept and
    the arc widths (the resistances) solved from the spectrum for each grid point; the three best
    distinct ones are each run to convergence with scipy's bounded ``least_squares``. Other
    circuits start from :func:`initial_guesses` (intercept and the peaks of a distribution of
    relaxation times). The lowest objective wins; arcs are then ordered by decreasing
    characteristic frequency (R1 = R_SEI the higher-frequency arc).

    Raises FitError for a bad circuit or a spectrum with too few points; a fit that runs but is not
    trustworthy (a parameter at a bound, an arc pushed beyond the measured band, undetermined
    parameters, no capacitive arc) has ``success=False`` and the reason in ``message``.
    """
    c = parse_circuit(circuit)
    if names is None:
        names = DEFAULT_NAMES if c.text == DEFAULT_CIRCUIT else {}
    names = _check_names(c, names)
    f, zz, rep = preprocess(frequency_Hz, z)
    P = c.n_params
    if f.size == 0:
        raise FitError(f"no valid points in the spectrum ({rep})")
    if f.size < P:
        raise FitError(f"{f.size} valid points are too few to fit {P} parameters of {c.text!r} "
                       f"(need at least {P}; {rep})")
    nonzero = np.abs(zz) > 0
    if not np.all(nonzero):  # |Z| = 0 cannot be weighted by 1/|Z|
        f, zz = f[nonzero], zz[nonzero]
        if f.size < P:
            raise FitError(f"only {f.size} points with Z != 0: too few to fit {P} parameters of {c.text!r}")
    obj = Objective(c, f, zz, weighting=weighting)

    starts = projected_starts(obj)
    direct = bool(starts)
    if not starts:
        starts = [obj.to_x(p) for p in initial_guesses(c, f, zz)]
    if initial is not None:
        if isinstance(initial, dict):
            missing = [n for n in c.param_names if n not in initial]
            if missing:
                raise FitError(f"initial guess lacks {missing} for circuit {c.text!r}")
            initial = [initial[n] for n in c.param_names]
        initial = np.asarray(initial, float)
        if initial.size != P or not np.all(np.isfinite(initial)):
            raise FitError(f"initial guess needs {P} finite values for {c.text!r}")
        starts.insert(0, obj.to_x(initial))
    best = _multistart(obj, starts, forced=(0,) if initial is not None else (), direct=direct)
    x = best.x
    p = _order_arcs(c, obj.to_params(x))
    x = obj.to_x(p)
    return _result(c, obj, x, names, f, zz)


def _multistart(obj: Objective, starts, *, n_short=4, n_full=2, forced=(), direct=False):
    """Rank the starts by their cost, run the best ``n_short`` (and every index in ``forced``)
    for a few iterations, then the best ``n_full`` of those to convergence; the lowest cost wins."""
    if direct:  # few, good starts: run each to convergence
        runs = [obj.solve(x0) for x0 in starts]
        return min(runs, key=lambda r: r.cost)
    costs = []
    for x0 in starts:
        r = obj.residuals(np.clip(x0, obj.lower, obj.upper))
        costs.append(float(r @ r) if np.all(np.isfinite(r)) else np.inf)
    order = list(np.argsort(costs)[:n_short])
    order += [i for i in forced if i not in order]
    short = sorted((obj.solve(starts[i], max_nfev=10) for i in order), key=lambda r: r.cost)
    best = None
    for r in short[:n_full]:
        full = obj.solve(r.x)
        if best is None or full.cost < best.cost:
            best = full
    return best


def _result(c: Circuit, obj: Objective, x, names, f, z) -> EISFit:
    p = obj.to_params(x)
    r = obj.residuals(x)
    N, P = f.size, c.n_params
    chi2 = float(np.sum(r * r))
    rel_rms = math.sqrt(chi2 / N)
    # covariance of the parameters themselves (impedance.py's, not the fit variables)
    Jp = obj.jacobian_params(p)
    dof = max(2 * N - P, 1)
    s2 = chi2 / dof
    problems = []
    try:
        JTJ = Jp.T @ Jp
        d = np.sqrt(np.diag(JTJ))
        d[d == 0] = 1.0
        cov = np.linalg.pinv(JTJ / np.outer(d, d), rcond=1e-13) / np.outer(d, d) * s2
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
        if np.linalg.matrix_rank(JTJ / np.outer(d, d), tol=1e-10) < P:
            problems.append("the parameters are not all determined by the data (singular Jacobian)")
            err[:] = np.where(err == 0, np.inf, err)
    except np.linalg.LinAlgError:
        err = np.full(P, np.inf)
        problems.append("the covariance could not be computed")
    tol = 1e-3
    for i, name in enumerate(c.param_names):
        if obj.is_tau[i]:
            r_name = c.param_names[[a[0] for a in obj.arcs if a[1] == i][0]]
            for side, at in (("high", x[i] <= obj.lower[i] + 1e-3), ("low", x[i] >= obj.upper[i] - 1e-3)):
                if at:
                    problems.append(f"the arc of {r_name} went to the limit of {TAU_MARGIN:g} decades "
                                    f"beyond the {side}est measured frequency")
            continue
        if x[i] <= obj.lower[i] + tol * max(1, abs(obj.lower[i])) and c.kinds[i] != "alpha":
            problems.append(f"{name} at its lower bound ({p[i]:.3g})")
        elif x[i] >= obj.upper[i] - tol * max(1, abs(obj.upper[i])) and c.kinds[i] != "alpha":
            problems.append(f"{name} at its upper bound ({p[i]:.3g})")
        elif c.kinds[i] == "alpha" and x[i] <= ALPHA_MIN + 1e-6:
            problems.append(f"{name} at its lower bound {ALPHA_MIN}")
    for i, name in enumerate(c.param_names):
        if c.kinds[i] == "R" and np.isfinite(err[i]) and err[i] > p[i] and not any(
                name in s for s in problems):
            problems.append(f"{name} undetermined ({p[i]:.3g} +- {err[i]:.2g})")
    if np.max(-z.imag / np.abs(z)) < 1e-3 and _arc_blocks(c):
        problems.insert(0, "the spectrum has no capacitive arc (-Z'' < 0.1 % of |Z| everywhere)")
    params = {n: float(v) for n, v in zip(c.param_names, p)}
    stderr = {n: float(e) for n, e in zip(c.param_names, err)}
    named = {names[n]: (params[n], stderr[n]) for n in names}
    fchar = {}
    for r_i, etype, c_i in _arc_blocks(c):
        rn = c.param_names[r_i]
        n_exp = p[c_i + 1] if etype == "CPE" else 1.0
        fchar[names.get(rn, rn)] = _f_char(p[r_i], p[c_i], n_exp)
    success = not problems
    msg = "converged" if success else "; ".join(problems)
    z_fit = obj.model(p)
    return EISFit(circuit=c.text, params=params, stderr=stderr, named=named, f_char_Hz=fchar,
                  rel_rms=rel_rms, chi_square=chi2, success=success, message=msg, n_points=N,
                  frequency_Hz=f, z=z, z_fit=np.array(z_fit), names=names)


# --------------------------------------------------------------------------------------------
# batch
# --------------------------------------------------------------------------------------------

@dataclass
class SpectrumFit:
    """One spectrum of :func:`fit_spectra`: its number and start time (s), what cleaning dropped,
    the fit (None, with ``message`` saying why, when it failed) and the Kramers-Kronig test
    (None when not asked for or not possible; ``kk_message`` then says why)."""

    spectrum: int
    time_s: float
    n_points: int
    preprocess: PreprocessReport
    fit: EISFit | None
    message: str = ""
    kk: KKResult | None = None
    kk_message: str = ""


def fit_spectra(data, circuit=DEFAULT_CIRCUIT, names=None, *, drop_inductive=None, f_min_Hz=None,
                f_max_Hz=None, kk=True, kk_threshold=0.02) -> list[SpectrumFit]:
    """Fit every spectrum of a Measurement (or DataFrame, or list of :class:`Spectrum`).

    Each spectrum is cleaned with :func:`preprocess` (``drop_inductive`` defaults to True when the
    circuit has no inductor), fitted warm-started from the previous spectrum's parameters besides
    its own guesses (the better fit wins), and Kramers-Kronig checked (``kk``). A spectrum that
    cannot be fitted gives a :class:`SpectrumFit` without fit, saying why, and the batch goes on.
    """
    c = parse_circuit(circuit)
    if names is None:
        names = DEFAULT_NAMES if c.text == DEFAULT_CIRCUIT else {}
    names = _check_names(c, names)
    if drop_inductive is None:
        drop_inductive = not any(e[1] in ("L", "La") for e in c.elements)
    specs = data if isinstance(data, list) else spectra(data)
    out = []
    previous = None
    for sp in specs:
        f, z, rep = preprocess(sp.frequency_Hz, sp.z, drop_inductive=drop_inductive,
                               f_min_Hz=f_min_Hz, f_max_Hz=f_max_Hz)
        item = SpectrumFit(sp.index, sp.time_s, f.size, rep, None)
        out.append(item)
        try:
            item.fit = fit(f, z, c.text, names, initial=previous)
        except FitError as exc:
            item.message = exc.reason
            continue
        item.message = item.fit.message
        previous = item.fit.params if np.isfinite(item.fit.rel_rms) else previous
        if kk:
            try:
                item.kk = kramers_kronig(f, z, threshold=kk_threshold)
            except FitError as exc:
                item.kk_message = exc.reason or "the Kramers-Kronig test could not run"
    return out


def fit_table(fits: list[SpectrumFit]) -> pd.DataFrame:
    """One row per :class:`SpectrumFit`: spectrum, time_s, n_points, preprocess, each parameter and
    ``<name>_stderr``, the named values, the characteristic frequencies ``f_<arc>_Hz``, rel_rms,
    chi_square, success, message, kk_M, kk_mu, kk_max_residual, kk_passed (kk_message when the test
    could not run); a failed fit has success False and the reason in message."""
    rows = []
    for item in fits:
        row = {"spectrum": item.spectrum, "time_s": item.time_s, "n_points": item.n_points,
               "preprocess": str(item.preprocess)}
        res = item.fit
        if res is None:
            row.update(success=False, message=item.message)
            rows.append(row)
            continue
        for n in res.params:
            row[n] = res.params[n]
            row[f"{n}_stderr"] = res.stderr[n]
        for n, (v, e) in res.named.items():
            row[n] = v
            row[f"{n}_stderr"] = e
        for n, fc in res.f_char_Hz.items():
            row[f"f_{n}_Hz"] = fc
        row.update(rel_rms=res.rel_rms, chi_square=res.chi_square, success=res.success,
                   message=res.message)
        if item.kk is not None:
            k = item.kk
            row.update(kk_M=k.M, kk_mu=k.mu, kk_max_residual=k.max_residual, kk_passed=k.passed)
        elif item.kk_message:
            row.update(kk_passed=False, kk_message=item.kk_message)
        rows.append(row)
    return pd.DataFrame(rows)


def fit_all(data, circuit=DEFAULT_CIRCUIT, names=None, **options) -> pd.DataFrame:
    """:func:`fit_spectra` as a table (:func:`fit_table`): one row per spectrum."""
    return fit_table(fit_spectra(data, circuit, names, **options))

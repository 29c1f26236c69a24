"""The equivalent-circuit fit of one spectrum (:func:`fit`) and of every spectrum of a measurement
(:func:`fit_spectra`, :func:`fit_table`, :func:`fit_all`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from echem.eis.circuit import Circuit, _arc_blocks, circuit_impedance, parse_circuit
from echem.eis.defaults import DEFAULT_CIRCUIT, DEFAULT_NAMES, KK_THRESHOLD
from echem.eis.kk import KKResult, kramers_kronig
from echem.eis.objective import ALPHA_MIN, TAU_MARGIN, Objective
from echem.eis.spectra import PreprocessReport, preprocess, spectra
from echem.eis.starts import initial_guesses, projected_starts
from echem.errors import FitError


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


def circuit_setup(circuit, names, drop_inductive):
    """(parsed circuit, checked names, drop_inductive) as :func:`fit_spectra` and
    :func:`echem.eis.track` use them: the default names for the default circuit, and inductive
    points dropped unless the circuit has an inductor."""
    c = parse_circuit(circuit)
    if names is None:
        names = DEFAULT_NAMES if c.text == DEFAULT_CIRCUIT else {}
    names = _check_names(c, names)
    if drop_inductive is None:
        drop_inductive = not any(e[1] in ("L", "La") for e in c.elements)
    return c, names, drop_inductive


def fit_spectra(data, circuit=DEFAULT_CIRCUIT, names=None, *, drop_inductive=None, f_min_Hz=None,
                f_max_Hz=None, kk=True, kk_threshold=KK_THRESHOLD) -> list[SpectrumFit]:
    """Fit every spectrum of a Measurement (or DataFrame, or list of :class:`Spectrum`).

    Each spectrum is cleaned with :func:`preprocess` (``drop_inductive`` defaults to True when the
    circuit has no inductor), fitted warm-started from the previous spectrum's parameters besides
    its own guesses (the better fit wins), and Kramers-Kronig checked (``kk``). A spectrum that
    cannot be fitted gives a :class:`SpectrumFit` without fit, saying why, and the batch goes on.
    """
    c, names, drop_inductive = circuit_setup(circuit, names, drop_inductive)
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
    chi_square, success, message, kk_M, kk_mu, kk_max_residual, kk_passed, kk_fail_f_min_Hz and
    kk_fail_f_max_Hz (the band where a failing spectrum fails, NaN when it passes; kk_message when
    the test could not run); a failed fit has success False and the reason in message."""
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
            band = k.fail_band_Hz or (math.nan, math.nan)
            row.update(kk_M=k.M, kk_mu=k.mu, kk_max_residual=k.max_residual, kk_passed=k.passed,
                       kk_fail_f_min_Hz=band[0], kk_fail_f_max_Hz=band[1])
        elif item.kk_message:
            row.update(kk_passed=False, kk_message=item.kk_message)
        rows.append(row)
    return pd.DataFrame(rows)


def fit_all(data, circuit=DEFAULT_CIRCUIT, names=None, **options) -> pd.DataFrame:
    """:func:`fit_spectra` as a table (:func:`fit_table`): one row per spectrum."""
    return fit_table(fit_spectra(data, circuit, names, **options))

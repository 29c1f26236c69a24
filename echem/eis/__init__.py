"""Impedance spectra: extraction, cleaning, Kramers-Kronig validation, equivalent-circuit fits and
the distribution of relaxation times.

The paper (Figure 5b, Table S7) fits Biologic SP-200 spectra (7 MHz to 0.1 Hz) of symmetric cells
with ``R0-p(R1,CPE1)-p(R2,CPE2)``: R0 the bulk electrolyte, the higher-frequency arc R_SEI and the
lower-frequency arc R_ct. Circuits are written in impedance.py's language and use its elements;
parameter names follow impedance.py (``R0``, ``CPE1_0`` for Q in ohm^-1 s^n, ``CPE1_1`` for the
exponent n, ...).

Conventions: frequencies in Hz, Z = Z' + j Z'' in ohm (a capacitive arc has Z'' < 0), times in s.

Modules, in the order of the analysis:

- :mod:`~echem.eis.spectra`: :class:`Spectrum`, :func:`spectra`, :func:`preprocess`;
- :mod:`~echem.eis.kk`: :func:`kramers_kronig` (Lin-KK, M by the mu criterion);
- :mod:`~echem.eis.circuit`: :func:`parse_circuit`, :func:`circuit_impedance`;
- :mod:`~echem.eis.objective`: :class:`Objective` (|Z|-weighted residuals, bounds, Jacobian);
- :mod:`~echem.eis.drt`: :func:`drt` (distribution of relaxation times);
- :mod:`~echem.eis.starts`: initial guesses (DRT peaks, :func:`projected_starts`);
- :mod:`~echem.eis.fit`: :func:`fit`, :func:`fit_spectra`, :func:`fit_table`, :func:`fit_all`;
- :mod:`~echem.eis.track`: :func:`track` (impedance followed over a test);
- :mod:`~echem.eis.defaults`: :data:`DEFAULT_CIRCUIT`, :data:`DEFAULT_NAMES`,
  :data:`KK_THRESHOLD`, :data:`POOR_FIT_REL_RMS`.

impedance.py is imported only where one of its elements other than R, C, CPE and L is used
(it brings matplotlib.pyplot and altair along); scipy.optimize where a fit runs.
"""
from echem.eis.defaults import DEFAULT_CIRCUIT, DEFAULT_NAMES, KK_THRESHOLD, POOR_FIT_REL_RMS
from echem.eis.spectra import PreprocessReport, Spectrum, preprocess, spectra
from echem.eis.kk import KKResult, kramers_kronig
from echem.eis.circuit import (  # noqa: F401 - _arc_blocks, _series_resistors: for figures, benchmarks
    Circuit, _arc_blocks, _series_resistors, circuit_impedance, parse_circuit)
from echem.eis.objective import (ALPHA_MIN, POS_MAX, POS_MIN, R_LINEAR_REL, R_MAX_REL, TAU_MARGIN,
                                 Objective)
from echem.eis.drt import DRT, assign_peaks, drt
from echem.eis.starts import drt_peaks, initial_guesses, projected_starts
from echem.eis.fit import EISFit, SpectrumFit, fit, fit_all, fit_spectra, fit_table
from echem.eis.track import track

__all__ = [
    "DEFAULT_CIRCUIT", "DEFAULT_NAMES", "KK_THRESHOLD", "POOR_FIT_REL_RMS",
    "Spectrum", "spectra", "PreprocessReport", "preprocess",
    "KKResult", "kramers_kronig",
    "Circuit", "parse_circuit", "circuit_impedance",
    "ALPHA_MIN", "POS_MAX", "POS_MIN", "R_LINEAR_REL", "R_MAX_REL", "TAU_MARGIN", "Objective",
    "DRT", "drt", "assign_peaks", "drt_peaks", "initial_guesses", "projected_starts",
    "EISFit", "SpectrumFit", "fit", "fit_spectra", "fit_table", "fit_all", "track",
]

"""Kramers-Kronig (Lin-KK) of echem.eis against impedance.py's ``validation.linKK`` (the reference)
on every corpus spectrum, and the band where a failing spectrum fails."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from echem import eis
from eis_corpus import corpus_spectra

CORPUS_SPECTRA = corpus_spectra()


def linkk_reference(f, z, c):
    from impedance.validation import linKK
    with np.printoptions(legacy="1.25"), contextlib.redirect_stdout(io.StringIO()):
        return linKK(f, z, c=c, max_M=50, fit_type="complex")


@pytest.mark.skipif(not CORPUS_SPECTRA, reason="../shared/corpus is absent")
def test_lin_kk_equals_impedance_py_on_every_corpus_spectrum():
    n = 0
    for key, f, z, _t in CORPUS_SPECTRA:
        f2, z2, _ = eis.preprocess(f, z)
        if f2.size < 3:
            continue
        ours = eis.kramers_kronig(f2, z2, retry_c=())
        M, mu, z_fit, res_re, res_im = linkk_reference(f2, z2, 0.85)
        assert ours.M == M, key
        assert ours.mu == pytest.approx(mu, rel=1e-6, abs=1e-9), key
        np.testing.assert_allclose(ours.z_fit, z_fit, rtol=1e-7, atol=1e-9 * np.abs(z2).max())
        np.testing.assert_allclose(ours.residuals_real, res_re, atol=1e-8)
        np.testing.assert_allclose(ours.residuals_imag, res_im, atol=1e-8)
        n += 1
    assert n >= 30


def test_real_fit_type_goes_through_impedance_py():
    f = np.logspace(5, -1, 43)
    z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, 12.0, 1e-5, 0.9, 24.0, 1e-3, 0.85], f)
    from impedance.validation import linKK
    with np.printoptions(legacy="1.25"), contextlib.redirect_stdout(io.StringIO()):
        M, mu, z_fit, res_re, res_im = linKK(f, z, c=0.85, fit_type="real")
    k = eis.kramers_kronig(f, z, fit_type="real", retry_c=())
    assert k.M == M and k.mu == pytest.approx(mu)
    np.testing.assert_allclose(k.residuals_real, res_re, atol=1e-12)


def test_failing_spectrum_names_its_band():
    """A drift that grows only below 1 Hz (the last, slowest points) breaks Kramers-Kronig there:
    the failing band is at low frequency, a passing spectrum has none."""
    f = np.logspace(6, -2, 81)
    z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, 12.0, 1e-5, 0.9, 24.0, 1e-3, 0.85], f)
    good = eis.kramers_kronig(f, z)
    assert good.passed and good.fail_band_Hz is None
    np.testing.assert_array_equal(good.frequency_Hz, f)
    drift = z + np.where(f < 1.0, 0.2 * np.log10(1.0 / f), 0.0) * z.real.max()
    bad = eis.kramers_kronig(f, drift)
    assert not bad.passed
    lo, hi = bad.fail_band_Hz
    worst = np.maximum(np.abs(bad.residuals_real), np.abs(bad.residuals_imag))
    # the band spans exactly the points above the threshold
    assert lo == f[worst > bad.threshold].min() and hi == f[worst > bad.threshold].max()
    assert lo == pytest.approx(f.min()) and hi < 100.0

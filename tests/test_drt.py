"""echem.eis.drt on spectra of known truth made here (R-RC-RC, R-ZARC-ZARC with alpha 0.8-0.85,
three arcs two decades apart; 0.3 % noise): each process one peak, tau within 15 %, R within
10 %, no other peak above 5 % of the polarisation resistance (pyimpspec is compared in benchmarks/run, not here)."""
from __future__ import annotations

import numpy as np
import pytest

from echem import FitError
from echem import eis

# 7 MHz to 0.1 Hz at 10 points per decade, like the paper's SP-200 spectra
F = np.logspace(np.log10(7e6), -1, 79)


def tau_of(f_Hz):
    return 1 / (2 * np.pi * f_Hz)


def zarc(f, R, tau, alpha):
    """R / (1 + (j w tau)^alpha); alpha = 1 is an RC element."""
    return R / (1 + (2j * np.pi * f * tau) ** alpha)


def noisy(z, seed, level=0.003):
    rng = np.random.default_rng(seed)
    return z + level * np.abs(z) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))


CASES = {
    "R-RC-RC": (3.0, [(12.10, tau_of(2e3), 1.0), (24.33, tau_of(5.0), 1.0)]),
    "R-ZARC-ZARC 0.8": (3.0, [(12.10, tau_of(2e3), 0.8), (24.33, tau_of(5.0), 0.8)]),
    "R-ZARC-ZARC 0.85": (3.0, [(25.20, tau_of(1e3), 0.85), (43.89, tau_of(3.0), 0.85)]),
    "R-ZARC-ZARC 0.8/0.82": (3.0, [(24.52, tau_of(1e4), 0.8), (59.79, tau_of(20.0), 0.82)]),
    "three RC two decades apart": (2.0, [(10.0, tau_of(1e4), 1.0), (20.0, tau_of(1e2), 1.0),
                                         (15.0, tau_of(1.0), 1.0)]),
    "three ZARC 0.85 two decades apart": (2.0, [(10.0, tau_of(1e4), 0.85), (20.0, tau_of(1e2), 0.85),
                                                (15.0, tau_of(1.0), 0.85)]),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_each_process_is_one_peak(case, seed):
    r0, processes = CASES[case]
    z = r0 + sum(zarc(F, *p) for p in processes)
    d = eis.drt(F, noisy(z, seed))
    r_pol = sum(p[0] for p in processes)
    peaks = d.peaks
    matched = set()
    for R, tau, _alpha in processes:
        j = int(np.argmin(np.abs(np.log(peaks["tau_s"] / tau))))
        assert j not in matched, (case, "two processes in one peak", peaks)
        matched.add(j)
        assert peaks["tau_s"][j] == pytest.approx(tau, rel=0.15), (case, peaks)
        assert peaks["R_ohm"][j] == pytest.approx(R, rel=0.10), (case, peaks)
        assert peaks["f_Hz"][j] == pytest.approx(1 / (2 * np.pi * peaks["tau_s"][j]))
        assert peaks["in_band"][j]
    others = [j for j in range(len(peaks)) if j not in matched]
    assert all(peaks["R_ohm"][j] <= 0.05 * r_pol for j in others), (case, peaks)
    # the rest of the spectrum: R_inf, the total, the fit at the noise level
    assert d.R_inf_ohm == pytest.approx(r0, abs=0.05 * r0 + 0.02 * r_pol)
    assert d.R_pol_ohm == pytest.approx(r_pol, rel=0.05)
    assert d.rel_rms < 0.006
    assert d.method == "gcv" and d.lambda_ > 0
    assert np.all(d.gamma_ohm >= 0) and np.all(d.gamma_std_ohm >= 0)
    assert d.gamma_std_ohm.max() < 0.5 * d.gamma_ohm.max()
    assert np.all(np.diff(d.tau_s) > 0) and list(peaks["tau_s"]) == sorted(peaks["tau_s"])


def test_noise_free_rc_recovers_the_resistances_closely():
    z = 3.0 + zarc(F, 12.10, tau_of(2e3), 1.0) + zarc(F, 24.33, tau_of(5.0), 1.0)
    d = eis.drt(F, z)
    assert list(np.round(d.peaks["R_ohm"], 1)) == [12.1, 24.3]
    np.testing.assert_allclose(d.z_fit, z, rtol=5e-3)


def test_fixed_lambda_and_bad_input():
    z = 3.0 + zarc(F, 12.10, tau_of(2e3), 0.9)
    d = eis.drt(F, z, lambda_=0.01)
    assert d.method == "given" and d.lambda_ == 0.01
    # more regularisation: a broader, lower peak of the same area
    smooth = eis.drt(F, z, lambda_=1.0)
    assert smooth.peaks["gamma_ohm"].max() < d.peaks["gamma_ohm"].max()
    assert smooth.R_pol_ohm == pytest.approx(d.R_pol_ohm, rel=0.05)
    with pytest.raises(FitError, match="at least 5 valid points"):
        eis.drt(F[:4], z[:4])
    with pytest.raises(FitError, match="at least 5 valid points"):
        eis.drt(F, np.full(F.size, np.nan + 0j))


@pytest.mark.parametrize("circuit, truth", [
    # an inductor and three arcs: outside the grid search of the default circuit, seeded from the DRT
    ("L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)",
     [2e-7, 2.0, 10.0, 1e-6, 0.9, 20.0, 1e-4, 0.85, 15.0, 1e-2, 0.9]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)-W1", [3.0, 12.1, 1e-5, 0.9, 24.3, 1e-3, 0.85, 5.0]),
    ("R0-p(R1,CPE1)-CPE2", [3.0, 12.1, 1e-5, 0.9, 0.05, 0.5]),
])
def test_other_circuits_fit_from_drt_seeds(circuit, truth):
    """No hand-made guess: the fit starts from the DRT peaks and recovers the truth (impedance.py
    evaluates the model; 0.3 % noise)."""
    from impedance.models.circuits import CustomCircuit
    z = CustomCircuit(circuit, initial_guess=truth).predict(F, use_initial=True)
    res = eis.fit(F, noisy(z, 4), circuit)
    assert res.rel_rms < 0.006, res.message
    for name, value in zip(res.params, truth):
        if name.startswith("R"):
            assert res.params[name] == pytest.approx(value, rel=0.05), (name, res.params)


def test_assign_peaks_and_figure(tmp_path):
    from echem.report.figures.drt import drt_figure
    z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, 12.1, 1e-5, 0.9, 24.3, 1e-3, 0.85], F)
    zn = noisy(z, 5)
    res = eis.fit(F, zn)
    d = eis.drt(F, zn)
    peaks = eis.assign_peaks(d, res)
    sei = peaks[peaks["assigned"] == "R_SEI"]
    ct = peaks[peaks["assigned"] == "R_ct"]
    assert len(sei) == 1 and len(ct) == 1
    assert sei["R_ohm"].iloc[0] == pytest.approx(res.named["R_SEI"][0], rel=0.10)
    assert ct["R_ohm"].iloc[0] == pytest.approx(res.named["R_ct"][0], rel=0.10)
    assert (eis.assign_peaks(d, None)["assigned"] == "").all()
    fig = drt_figure(d, res, title="Li4Ag")
    from matplotlib.figure import Figure
    assert type(fig) is Figure
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "R_SEI" in texts and "R_ct" in texts and "fit 12" in texts
    out = tmp_path / "drt.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 5000
    # without a fit: peaks marked, none named
    fig = drt_figure(d)
    assert "R_SEI" not in " ".join(t.get_text() for t in fig.axes[0].texts)

"""Nucleation overpotential against synthetic first plating steps with a known dip (paper,
Figure 5a: 6 mV for Li, 0 for the Li-Ag alloys)."""
from __future__ import annotations

import numpy as np
import pytest

from echem.errors import EchemError
from echem.nucleation import overpotential
from synthetic_cells import plating_step, quantize


@pytest.mark.parametrize("seed", range(4))
def test_no_dip_at_instrument_resolution(seed):
    # the alloys: no dip, noise of 0.1 mV at a 0.1 mV resolution
    r = overpotential(plating_step(eta_mV=0.0, noise_mV=0.1, resolution_V=1e-4, seed=seed))
    assert r.eta_mV == 0.0
    assert 0.09 <= r.noise_mV <= 0.2
    assert r.plateau_voltage_V == pytest.approx(-0.020, abs=2e-4)
    assert r.step == 2


def test_noise_free_plateau():
    # a perfectly flat plateau: the noise floor is the smallest voltage change in the step (here
    # the 0.3 mV steps of the approach, sampled each second), not zero
    r = overpotential(plating_step(eta_mV=0.0, noise_mV=0.0, resolution_V=1e-4))
    assert r.eta_mV == 0.0
    assert 0.1 - 1e-9 <= r.noise_mV <= 0.3 + 1e-9
    r6 = overpotential(plating_step(eta_mV=6.0, noise_mV=0.0, resolution_V=1e-4))
    assert r6.eta_mV == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize("seed", range(4))
def test_six_millivolt_dip(seed):
    # Li: a 6 mV dip 30 s into plating, on a -20 mV plateau
    r = overpotential(plating_step(eta_mV=6.0, plateau_mV=20.0, noise_mV=0.1, resolution_V=1e-4, seed=seed))
    assert r.eta_mV == pytest.approx(6.0, abs=0.25)
    assert r.dip_voltage_V == pytest.approx(-0.026, abs=2.5e-4)
    assert r.plateau_voltage_V == pytest.approx(-0.020, abs=1e-4)
    # the dip is 30 s after the step start (the rest lasts 600 s, the first plating row is at 601 s)
    assert r.dip_time_s == pytest.approx(631.0, abs=3)
    assert r.dip_time_s < r.plateau_start_s < r.plateau_end_s


@pytest.mark.parametrize("seed", range(5))
def test_noisy_dip(seed):
    r = overpotential(plating_step(eta_mV=6.0, noise_mV=1.0, resolution_V=1e-5, seed=seed))
    assert r.eta_mV == pytest.approx(6.0, abs=1.0)
    assert r.noise_mV == pytest.approx(1.0, rel=0.15)


@pytest.mark.parametrize("seed", range(5))
def test_noise_alone_is_no_dip(seed):
    r = overpotential(plating_step(eta_mV=0.0, noise_mV=1.0, resolution_V=1e-5, seed=seed))
    assert r.eta_mV == 0.0
    assert r.noise_mV == pytest.approx(1.0, rel=0.15)


def test_small_dip_below_noise_is_zero():
    r = overpotential(plating_step(eta_mV=1.0, noise_mV=1.0, resolution_V=1e-5, seed=2))
    assert r.eta_mV == 0.0


def test_sloping_plateau_is_no_dip():
    data = plating_step(eta_mV=0.0, noise_mV=0.1, resolution_V=1e-4)
    m = data["step"] == 2
    data.loc[m, "voltage_V"] += quantize(np.linspace(0, 0.004, m.sum()), 1e-4)   # |V| 20 -> 16 mV
    assert overpotential(data).eta_mV == 0.0


def test_plating_on_charge_mirror():
    data = plating_step(eta_mV=6.0, noise_mV=0.1)
    mirrored = data.assign(voltage_V=-data["voltage_V"], current_mA=-data["current_mA"])
    assert overpotential(mirrored) is None          # no negative-current step
    r = overpotential(mirrored, plating_current_sign=+1)
    assert r.eta_mV == pytest.approx(6.0, abs=0.25)
    assert r.dip_voltage_V == pytest.approx(0.026, abs=2.5e-4)
    assert overpotential(mirrored, step=2).eta_mV == pytest.approx(r.eta_mV)


def test_bad_step():
    with pytest.raises(EchemError, match="step 7"):
        overpotential(plating_step(), step=7)


def test_first_lithiation_dip_of_the_neware_export(corpus):
    """neware_uio.csv: the first discharge (lithiation of the working electrode, negative current)
    falls to a minimum of 0.1871 V within its first hours, then recovers to a rounded top at
    0.2015 V before sloping down: a 14.4 mV dip read straight off the export's records."""
    import pandas as pd

    raw = pd.read_csv(corpus / "neware" / "neware_uio.csv")
    hms = raw["Cumulative Time"].str.split(":", expand=True).astype(float)
    data = pd.DataFrame({"time_s": hms[0] * 3600 + hms[1] * 60 + hms[2],
                         "voltage_V": raw["Voltage(V)"], "current_mA": raw["Current(A)"] * 1000,
                         "step": raw["Step Index"]})
    first = raw[(raw["Step Index"] == 2) & (raw["Cycle Index"] == 1)]
    t = data.loc[first.index, "time_s"]
    frac = (t - t.iloc[0]) / (t.iloc[-1] - t.iloc[0])
    v = first["Voltage(V)"]
    bottom = v[frac <= 0.25].min()
    top = v[(frac > 0.25) & (frac <= 0.6)].max()
    r = overpotential(data)
    assert r.step == 2
    assert r.eta_mV == pytest.approx((top - bottom) * 1000, abs=0.3)
    assert r.dip_voltage_V == pytest.approx(bottom, abs=2e-4)


@pytest.mark.parametrize("n", [3, 4, 11, 120, 400])
def test_theil_sen_equals_scipy(n):
    # the plateau's line is scipy.stats.theilslopes' (slope and intercept), written out in numpy
    from scipy import stats

    from echem.nucleation import _theil_sen
    rng = np.random.default_rng(n)
    x = np.sort(rng.uniform(0, 600, n))
    y = -0.02 + 1e-6 * x + rng.normal(0, 1e-4, n)
    y[::5] += 3e-3                      # outliers the median ignores
    if n > 4:
        x[3] = x[2]                     # a tied x: that pair has no slope
    slope, intercept = _theil_sen(x, y)
    ref = stats.theilslopes(y, x)
    assert slope == pytest.approx(ref.slope, rel=1e-12, abs=1e-15)
    assert intercept == pytest.approx(ref.intercept, rel=1e-12, abs=1e-15)

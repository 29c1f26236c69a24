"""Symmetric-cell polarization and failure against closed-form synthetic cells."""
from __future__ import annotations

import numpy as np
import pytest

from echem.errors import EchemError
from echem.symmetric import failure, polarization
from synthetic_cells import symmetric_cell


def test_polarization_closed_form():
    # plating plateau 40 mV, stripping 30 mV: hysteresis (gap between the plateaus) 70 mV
    data = symmetric_cell(n_half_cycles=40, op_mV=30.0, plating_op_mV=40.0, noise_mV=0.1)
    r = polarization(data)
    h = r.half_cycles
    assert r.n_half_cycles == 40
    assert h["kind"].tolist() == ["plating", "stripping"] * 20
    assert (h.loc[h["kind"] == "plating", "plateau_voltage_V"] < 0).all()
    np.testing.assert_allclose(h.loc[h["kind"] == "plating", "overpotential_mV"], 40.0, atol=0.1)
    np.testing.assert_allclose(h.loc[h["kind"] == "stripping", "overpotential_mV"], 30.0, atol=0.1)
    np.testing.assert_allclose(h["hysteresis_mV"].iloc[1:], 70.0, atol=0.15)
    assert np.isnan(h["hysteresis_mV"].iloc[0])
    assert r.plating_overpotential_mV == pytest.approx(40.0, abs=0.05)
    assert r.stripping_overpotential_mV == pytest.approx(30.0, abs=0.05)
    assert r.mean_hysteresis_mV == pytest.approx(70.0, abs=0.05)
    # 0.2 mA for 1 h (first point 30 s in): 0.2 mAh per half cycle, current signed
    np.testing.assert_allclose(h["capacity_mAh"], 0.2 * (3600 - 30) / 3600, rtol=1e-9)
    np.testing.assert_allclose(h["current_mA"].abs(), 0.2)
    # the spike at the start of each half cycle: 1.2 x plateau
    np.testing.assert_allclose(h["peak_voltage_V"].abs() * 1000, h["overpotential_mV"] * 1.2 * np.exp(-30 / 120)
                               + h["overpotential_mV"] * (1 - np.exp(-30 / 120)), rtol=0.02)


def test_short_circuit_at_known_hour():
    data = symmetric_cell(n_half_cycles=60, short_at_h=23.4)
    f = failure(data)
    assert f is not None and f.kind == "short_circuit"
    assert f.time_h == pytest.approx(23.4, abs=30 / 3600 + 1e-9)     # one sample interval
    assert f.window_start_h <= f.time_h <= f.window_end_h
    assert "fell from 30" in f.evidence


def test_short_circuit_during_plating_half():
    data = symmetric_cell(n_half_cycles=60, short_at_h=150.25, half_h=5.0, dt_s=60)
    f = failure(data)
    assert f.kind == "short_circuit" and f.time_h == pytest.approx(150.25, abs=60 / 3600 + 1e-9)


@pytest.mark.parametrize("kwargs", [dict(), dict(noise_mV=3.0), dict(spike_at_h=12.5),
                                    dict(spike_at_h=39.0)])
def test_noise_and_single_spikes_are_not_failures(kwargs):
    assert failure(symmetric_cell(n_half_cycles=40, **kwargs)) is None


def test_voltage_limit_reached():
    data = symmetric_cell(n_half_cycles=40, limit_at_half=31, limit_V=1.0)
    auto = failure(data)
    assert auto.kind == "voltage_limit"
    # half cycle 31 starts at 30 h and stops at 40 % of its hour
    assert auto.time_h == pytest.approx(30.4, abs=0.01)
    explicit = failure(data, voltage_limit_V=1.0)
    assert explicit.kind == "voltage_limit"
    assert 30.0 < explicit.time_h <= 30.4 + 1e-9
    # a limit the cell never reaches
    assert failure(symmetric_cell(n_half_cycles=10), voltage_limit_V=1.0) is None


def test_earlier_failure_wins():
    data = symmetric_cell(n_half_cycles=40, short_at_h=10.5, limit_at_half=31, limit_V=1.0)
    assert failure(data, voltage_limit_V=1.0).kind == "short_circuit"


def test_bad_parameters():
    with pytest.raises(EchemError):
        failure(symmetric_cell(n_half_cycles=4), collapse_fraction=1.5)


def test_rests_between_half_cycles_and_no_step_column():
    data = symmetric_cell(n_half_cycles=6, op_mV=25.0)
    # insert a rest between each half cycle and drop the step column: steps from the current
    import pandas as pd
    parts = []
    for _, g in data.groupby("step"):
        parts.append(g)
        rest_t = g["time_s"].iloc[-1] + np.arange(1, 11) * 30.0
        parts.append(pd.DataFrame({"time_s": rest_t, "voltage_V": 0.0, "current_mA": 0.0, "step": 0}))
    with_rests = pd.concat(parts, ignore_index=True)
    # shift later half cycles so time stays increasing
    with_rests["time_s"] = np.arange(len(with_rests)) * 30.0 + 30.0
    r = polarization(with_rests.drop(columns="step"))
    assert r.n_half_cycles == 6
    np.testing.assert_allclose(r.half_cycles["overpotential_mV"], 25.0, atol=0.1)
    assert failure(with_rests.drop(columns="step")) is None


def test_the_analyses_take_the_prepared_data_in_place_of_the_data():
    # the report prepares a long series once and hands the result to every analysis: the same
    # numbers as from the DataFrame (a short at 23.4 h, the synthetic cell's truth)
    import pandas as pd

    from echem.cycling import prepare, step_table
    from echem.nucleation import overpotential
    data = symmetric_cell(n_half_cycles=60, short_at_h=23.4)
    prep = prepare(data)
    assert prepare(prep) is prep
    f_data, f_prep = failure(data), failure(prep)
    assert f_prep.time_h == f_data.time_h == pytest.approx(23.4, abs=0.05)
    pd.testing.assert_frame_equal(polarization(prep).half_cycles, polarization(data).half_cycles)
    pd.testing.assert_frame_equal(step_table(prep), step_table(data))
    assert overpotential(prep) == overpotential(data)
    # another cycle count is derived from the prepared steps, as from the data
    for source in ("auto", "charge_first", "discharge_first"):
        pd.testing.assert_frame_equal(prepare(prep, source).steps, prepare(data, source).steps)
    # the instrument's own count cannot be recovered from steps numbered otherwise
    with pytest.raises(EchemError, match="prepared with cycles='auto'"):
        prepare(prepare(data, "auto"), cycles="file")


def test_analyse_polarization_before_failure_sd_and_n():
    # a short at 23.4 h in 1-h half cycles: 23 half cycles end before it; plating 40 mV,
    # stripping 30 mV: the mean over them and their SD are closed forms
    from echem.symmetric import analyse
    data = symmetric_cell(n_half_cycles=60, op_mV=30.0, plating_op_mV=40.0, short_at_h=23.4, noise_mV=0.0)
    r = analyse(data)
    assert r.failure is not None and r.failure_kind == "short_circuit"
    assert r.failure_time_h.value == pytest.approx(23.4, abs=30 / 3600 + 1e-9)
    assert not r.failure_time_h.censored
    assert r.half_cycles_used == 23 and "before the short circuit" in r.half_cycles_note
    ops = np.array([40.0 if k % 2 == 0 else 30.0 for k in range(23)])   # 12 plating, 11 stripping
    assert r.polarization_mV.value == pytest.approx(ops.mean(), abs=0.02)
    assert r.polarization_mV.uncertainty == pytest.approx(ops.std(ddof=1), abs=0.02)
    assert r.polarization_mV.kind == "sd" and r.polarization_mV.n == 23
    assert r.plating_polarization_mV.value == pytest.approx(40.0, abs=0.02)
    assert r.plating_polarization_mV.n == 12
    assert r.hysteresis_mV.value == pytest.approx(70.0, abs=0.05) and r.hysteresis_mV.n == 22
    assert "not defined" in r.coulombic_efficiency


def test_analyse_censors_a_cell_that_did_not_fail():
    # 40 h of cycling without failure: failure time = the test's duration, censored
    from echem.report.numbers import estimate
    from echem.symmetric import analyse
    data = symmetric_cell(n_half_cycles=40)
    r = analyse(data)
    assert r.failure is None and r.failure_kind == ""
    duration = (data["time_s"].max() - data["time_s"].min()) / 3600
    assert r.failure_time_h.value == pytest.approx(duration) and r.failure_time_h.censored
    assert r.test_duration_h == pytest.approx(duration)
    assert r.half_cycles_used == 40
    assert estimate(r.failure_time_h) == "> 39.9 h (no failure in the test)"


def test_area_specific_resistance():
    from echem.symmetric import area_specific_resistance
    # paper cells: 0.785 cm2 (10 mm discs)
    assert area_specific_resistance(24.3, 0.785) == pytest.approx(19.0755)
    assert np.isnan(area_specific_resistance(24.3, None)) and np.isnan(area_specific_resistance(24.3, 0))

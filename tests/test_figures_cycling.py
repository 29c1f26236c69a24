"""Figures of the cycling analyses: they draw, under Agg, what the analyses found."""
from __future__ import annotations


import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from echem.report.figures.cycling import (capacity_figure, polarization_figure, voltage_capacity_figure,
                                   voltage_time_figure)
from echem.report.figures.plotting import decimate_minmax
from echem.cycling import cycle_table
from echem.nucleation import overpotential
from echem.symmetric import failure, polarization
from synthetic_cells import full_cell, plating_step, symmetric_cell


def _texts(fig):
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts] + [ax.get_title()]
        for child in ax.child_axes:
            out += [t.get_text() for t in child.texts] + [child.get_title()]
    return " | ".join(out)


def test_voltage_time_with_the_nucleation_dip_beside_it(tmp_path):
    data = plating_step(eta_mV=6.0, noise_mV=0.1)
    fig = voltage_time_figure(data, overpotential(data))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    label = _texts(fig)
    value = float(label.split("η = ")[1].split(" mV")[0])
    assert value == pytest.approx(6.0, abs=0.25)
    fig.savefig(tmp_path / "vt.png")
    data0 = plating_step(eta_mV=0.0, noise_mV=0.1)
    fig0 = voltage_time_figure(data0, overpotential(data0))
    assert "η = 0 mV (noise" in _texts(fig0)


def test_voltage_capacity_skips_absent_cycles(tmp_path):
    data = full_cell(n_cycles=35)
    fig = voltage_capacity_figure(data, active_mass_g=0.01)
    lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata())]
    assert len(lines) == 4                      # cycles 1 and 30, charge and discharge; no 50
    # cycle 1 discharge ends at its capacity / mass: 1.5 mAh / 0.01 g
    assert max(np.max(ln.get_xdata()) for ln in lines) == pytest.approx(1.5 / 0.995 / 0.01, rel=1e-6)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "cycle 1" in legend and "cycle 30" in legend and "cycle 50" not in legend
    fig.savefig(tmp_path / "vq.png")


def test_capacity_figure(tmp_path):
    data = full_cell(n_cycles=20, fade_per_cycle=0.98, ce=0.99)
    fig = capacity_figure(cycle_table(data))
    ax, ax2 = fig.axes[0], fig.axes[1]
    dis = [ln for ln in ax.get_lines() if ln.get_label() == "discharge"][0]
    np.testing.assert_allclose(dis.get_ydata(), 1.5 * 0.98 ** np.arange(20), rtol=1e-9)
    np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), 99.0, rtol=1e-9)
    fig.savefig(tmp_path / "cap.png")


def test_polarization_figure_marks_failure(tmp_path):
    data = symmetric_cell(n_half_cycles=40, short_at_h=23.4)
    fig = polarization_figure(data, polarization(data), failure(data))
    assert "short circuit at 23.4 h" in _texts(fig)
    xs = [ln.get_xdata()[0] for ln in fig.axes[1].get_lines() if len(ln.get_xdata()) == 2
          and ln.get_xdata()[0] == ln.get_xdata()[1]]
    assert any(abs(x - 23.4) < 0.01 for x in xs)
    fig.savefig(tmp_path / "pol.png")


def test_million_points_are_decimated_for_drawing(tmp_path):
    n = 1_000_000
    t = np.arange(n) * 1.0
    data = pd.DataFrame({"time_s": t, "voltage_V": 0.03 * np.sign(np.sin(t / 3600 * np.pi) + 1e-9)
                         + np.random.default_rng(0).normal(0, 1e-4, n),
                         "current_mA": 0.2 * np.sign(np.sin(t / 3600 * np.pi) + 1e-9)})
    fig = polarization_figure(data, polarization(data))
    fig.savefig(tmp_path / "big.png", dpi=80)
    drawn = fig.axes[0].get_lines()[0]
    assert len(drawn.get_xdata()) <= 4 * 2000 + 2


def test_decimate_minmax_keeps_extremes():
    rng = np.random.default_rng(1)
    x = np.arange(1_000_000, dtype=float)
    y = rng.normal(0, 1, x.size)
    y[123_457] = 50.0
    y[765_432] = -50.0
    xd, yd = decimate_minmax(x, y, 1000)
    assert yd.max() == 50.0 and yd.min() == -50.0
    assert xd[0] == 0 and xd[-1] == x[-1] and np.all(np.diff(xd) > 0)
    # every column keeps its own min and max
    col = np.minimum((x / x[-1] * 1000).astype(int), 999)
    ref_max = pd.Series(y).groupby(col).max().to_numpy()
    dcol = np.minimum((xd / x[-1] * 1000).astype(int), 999)
    np.testing.assert_array_equal(pd.Series(yd).groupby(dcol).max().to_numpy(), ref_max)
    # short curves and NaNs
    xs, ys = decimate_minmax([0, 1, np.nan, 3], [1, 2, 3, np.nan])
    assert xs.tolist() == [0, 1] and ys.tolist() == [1, 2]

"""Report figures laid out with fixed margins (no layout engine), in both figure styles (the
screen's, and the paper's: journal column width, 8-pt type): every label, title, legend and
annotation still lies inside the figure, panels do not run into each other, legends stay inside
their panels, log axes keep their labelled decades, and long series are drawn decimated."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from echem import eis
from echem.report.figures.cycling import (N_COLUMNS, capacity_figure, polarization_figure,
                                   voltage_capacity_figure, voltage_time_figure)
from echem.report.figures.eis import eis_figure
from echem.report.figures import drawing
from echem.report.figures.plotting import text_width_in
from echem.report.figures.style import PAPER, STYLES
from echem.cycling import cycle_table
from echem.nucleation import overpotential
from echem.symmetric import failure, polarization
from synthetic_cells import full_cell, plating_step, symmetric_cell

DPI = 110  # as the report renders its PNGs


@pytest.fixture(params=sorted(STYLES))
def style(request):
    """Each figure style, its matplotlib settings in force while the test draws."""
    with drawing(STYLES[request.param]):
        yield STYLES[request.param]


def _drawn(fig):
    """The figure drawn as the report draws it; its renderer."""
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _boxes(fig):
    """Tight boxes (pixels) of the figure's top-level axes: ticks, tick labels, axis labels,
    titles, legends, annotations and inset axes included."""
    r = _drawn(fig)
    return [ax.get_tightbbox(r) for ax in fig.axes]


def _assert_inside(fig, tol_px=0.5):
    w, h = fig.get_size_inches() * DPI
    for bb in _boxes(fig):
        assert bb.x0 >= -tol_px and bb.y0 >= -tol_px, bb
        assert bb.x1 <= w + tol_px and bb.y1 <= h + tol_px, bb


def _apart(a, b):
    """Two boxes that do not overlap."""
    return a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0


def _assert_legends_inside_their_axes(fig, tol_px=0.5):
    r = _drawn(fig)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            box, frame = legend.get_window_extent(r), ax.get_window_extent(r)
            assert frame.x0 - tol_px <= box.x0 and box.x1 <= frame.x1 + tol_px, (box, frame)
            assert frame.y0 - tol_px <= box.y0 and box.y1 <= frame.y1 + tol_px, (box, frame)


def _assert_style_size(fig, style):
    """A paper figure is a column or a page wide; a screen figure as drawn."""
    if style is PAPER:
        assert fig.get_figwidth() in (PAPER.column_in, PAPER.page_in)


def test_text_width_in_matches_the_drawn_text():
    # the metric-based width against the extent Agg gives the same text
    fig = matplotlib.figure.Figure(dpi=DPI)
    t = fig.text(0, 0, "−0.0125 Li9Ag4", fontsize=10)
    width_in = t.get_window_extent(_drawn(fig)).width / DPI
    assert text_width_in(["−0.0125 Li9Ag4"], 10) == pytest.approx(width_in, rel=0.03)
    assert text_width_in(["ab\nlonger line"], 10) == pytest.approx(text_width_in(["longer line"], 10))
    assert text_width_in([], 10) == 0.0


@pytest.mark.parametrize("op_mV", [1.2, 30.0, 900.0])  # long tick labels (−1.25) to short ones
def test_voltage_time_fits_its_labels(op_mV, style):
    data = symmetric_cell(n_half_cycles=12, op_mV=op_mV, noise_mV=0.01)
    fig = voltage_time_figure(data, overpotential(data), title="sym-Li4Ag", style=style)
    assert fig.get_layout_engine() is None
    _assert_style_size(fig, style)
    _assert_inside(fig)
    trace, dip = _boxes(fig)     # the nucleation dip beside the trace, not over it
    assert _apart(trace, dip)


@pytest.mark.parametrize("short_at_h", [None, 5.0, 11.0, 11.5])  # 11.5 h: just before the end
def test_polarization_fits_its_labels_and_failure_annotation(short_at_h, style):
    data = symmetric_cell(n_half_cycles=12, short_at_h=short_at_h)
    fig = polarization_figure(data, polarization(data), failure(data), title="sym-Li", style=style)
    assert fig.get_layout_engine() is None
    _assert_style_size(fig, style)
    _assert_inside(fig)
    top, bottom = _boxes(fig)
    assert _apart(top, bottom)
    # the two panels 0.16 in apart, their heights 3 : 2 (the gap given in inches)
    p_top, p_bottom = (ax.get_position() for ax in fig.axes)
    h_in = fig.get_figheight()
    assert (p_top.y0 - p_bottom.y1) * h_in == pytest.approx(0.16)
    assert p_top.height == pytest.approx(1.5 * p_bottom.height)
    texts = [t.get_text() for t in fig.axes[0].texts]
    if short_at_h is not None:
        assert any(t.startswith("short circuit at") for t in texts)


def test_full_cell_figures_fit_their_labels(style):
    data = full_cell(n_cycles=35)
    for fig in (voltage_capacity_figure(data, active_mass_g=0.01, title="full-Li4Ag", style=style),
                capacity_figure(cycle_table(data, active_mass_g=0.01), active_mass_g=0.01,
                                title="full-Li4Ag", style=style),
                capacity_figure(cycle_table(data), title="full-Li4Ag", style=style)):
        assert fig.get_layout_engine() is None
        _assert_style_size(fig, style)
        _assert_inside(fig)
        _assert_legends_inside_their_axes(fig)


def _spectrum(f_Hz):
    rng = np.random.default_rng(3)
    z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, 12.1, 1e-5, 0.9, 24.3, 1e-3, 0.85], f_Hz)
    z = z + 0.003 * np.abs(z) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
    return eis.fit(f_Hz, z), eis.kramers_kronig(f_Hz, z)


def test_impedance_figure_keeps_labelled_decades_and_drops_dense_minor_ticks(style):
    f = np.logspace(np.log10(7e6), -1, 79)              # 7.8 decades, as the paper's spectra
    res, kk = _spectrum(f)
    fig = eis_figure(res, kk, title="sym-Li4Ag: impedance", style=style)
    _assert_style_size(fig, style)
    _assert_inside(fig)
    _assert_legends_inside_their_axes(fig)
    nyquist, bode, residual, phase = fig.axes
    boxes = _boxes(fig)
    assert _apart(boxes[0], boxes[1]) and _apart(boxes[1], boxes[2]) and _apart(boxes[3], boxes[2])
    # the arcs' labels do not run into each other
    r = _drawn(fig)
    sei, ct = (t.get_window_extent(r) for t in nyquist.texts)
    assert _apart(sei, ct)
    for ax in (bode, residual):
        assert len(ax.xaxis.get_minorticklocs()) == 0
        lo, hi = ax.get_xlim()
        shown = [t.get_text() for t, x in zip(ax.xaxis.get_majorticklabels(), ax.get_xticks())
                 if lo <= x <= hi]
        decades = ["10⁻¹", "10⁰", "10¹", "10²", "10³", "10⁴", "10⁵", "10⁶", "10⁷"]
        # every decade on the screen, every other one in a panel a third of a page wide
        assert shown == (decades[1::2] if style is PAPER else decades)
    # |Z| spans less than a decade here: its minor ticks stay, labelled (4×10¹ ...)
    assert len(bode.yaxis.get_minorticklocs()) > 0


def test_impedance_figure_keeps_minor_ticks_over_few_decades():
    f = np.logspace(5, 3, 21)                            # 2 decades
    res, kk = _spectrum(f)
    fig = eis_figure(res, kk)
    _drawn(fig)
    for ax in (fig.axes[1], fig.axes[2]):
        lo, hi = ax.get_xlim()
        minor = [x for x in ax.xaxis.get_minorticklocs() if lo <= x <= hi]
        assert len(minor) >= 8


def test_comparison_figure_fits_its_labels(style):
    dft = pytest.importorskip("dft")
    from echem.compare import compare
    from echem.report.figures.compare import comparison_figure
    from echem.sampledata import truth

    phases = dft.load("Li-Ag")
    ranking = dft.rank(phases, phases=list(phases.table.index))
    comp = compare(truth(), "Li-Ag", phase_set=phases, ranking=ranking)
    fig = comparison_figure(comp, ranking.group_scores, style=style)
    assert fig.get_layout_engine() is None
    _assert_style_size(fig, style)
    _assert_inside(fig)
    left, right = _boxes(fig)
    assert _apart(left, right)
    r = _drawn(fig)   # the metrics' names, wrapped, do not run into each other
    names = [t.get_window_extent(r) for t in fig.axes[1].get_xticklabels()]
    assert all(_apart(a, b) for a, b in zip(names, names[1:]))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(comp.dft_order)


def test_long_series_are_drawn_decimated():
    # 1,000,000 rows: the voltage curve, the inset and the polarization curve are drawn from
    # at most 4 points per pixel column, and the extremes of the data are among them
    n = 1_000_000
    t = np.arange(n) * 1.0
    rng = np.random.default_rng(0)
    current = 0.2 * np.sign(np.sin(t / 3600 * np.pi) + 1e-9)
    v = 0.03 * np.sign(current) + rng.normal(0, 1e-4, n)
    data = pd.DataFrame({"time_s": t, "voltage_V": v, "current_mA": current})
    fig = voltage_time_figure(data, overpotential(data))
    (curve,) = fig.axes[0].get_lines()
    assert len(curve.get_xdata()) <= 4 * N_COLUMNS + 2
    assert curve.get_ydata().max() == 1000 * v.max() and curve.get_ydata().min() == 1000 * v.min()
    dip = fig.axes[1]
    assert max(len(ln.get_xdata()) for ln in dip.get_lines()) <= 4 * 600 + 2
    fig = polarization_figure(data, polarization(data))
    drawn = fig.axes[0].get_lines()[0]
    assert len(drawn.get_xdata()) <= 4 * N_COLUMNS + 2
    assert drawn.get_ydata().max() == pytest.approx(1000 * v.max())


def test_drt_figure_fits_its_labels_and_keeps_the_peak_labels_in_the_plot(style):
    from echem.report.figures.drt import drt_figure

    f = np.logspace(np.log10(7e6), -1, 79)
    res, _ = _spectrum(f)
    rng = np.random.default_rng(3)
    z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, 12.1, 1e-5, 0.9, 24.3, 1e-3, 0.85], f)
    z = z + 0.003 * np.abs(z) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
    fig = drt_figure(eis.drt(f, z), res, title="sym-Li4Ag: DRT", style=style)
    _assert_style_size(fig, style)
    _assert_inside(fig)
    (ax,) = [a for a in fig.axes if a.texts]
    assert {t.get_text().split(":")[0] for t in ax.texts} >= {"R_SEI", "R_ct"}
    _assert_peak_labels_placed(fig)


def _assert_peak_labels_placed(fig):
    """The DRT's peak labels inside the plot and apart from each other."""
    r = _drawn(fig)
    (ax,) = [a for a in fig.axes if a.texts]
    frame = ax.get_window_extent(r)
    labels = [t.get_window_extent(r) for t in ax.texts]
    for box in labels:       # above their peaks, below the top of the plot
        assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, (box, frame)
        assert frame.y0 - 0.5 <= box.y0 and box.y1 <= frame.y1 + 0.5, (box, frame)
    assert all(_apart(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])


@pytest.mark.parametrize("spectrum", [0, 15, 31])
def test_drt_peak_labels_of_a_real_spectrum_stay_apart_and_inside(spectrum, style):
    # vsp_peis_with.mpr: a peak at the end of the band beside the R_ct peak; their labels
    # overlapped and ran past the axes before they were placed
    from conftest import corpus_files
    from echem.report.figures.drt import drt_figure

    files = [f for f in corpus_files("biologic", "*.mpr") if f.name == "vsp_peis_with.mpr"]
    if not files:
        pytest.skip("corpus absent")
    import echem
    from echem.eis import spectra
    sp = spectra(echem.read(files[0]))[spectrum]
    res = eis.fit(sp.frequency_Hz, sp.z)
    fig = drt_figure(eis.drt(sp.frequency_Hz, sp.z), res, title="vsp_peis_with: DRT", style=style)
    _assert_inside(fig)
    _assert_peak_labels_placed(fig)
    # the Nyquist panel's arc labels likewise within their panel's width (an apex beyond the
    # data lies at the panel's edge)
    fig = eis_figure(res, title="vsp_peis_with", style=style)
    _assert_inside(fig)
    r = _drawn(fig)
    frame = fig.axes[0].get_window_extent(r)
    for t in fig.axes[0].texts:
        box = t.get_window_extent(r)
        assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, (t.get_text(), box, frame)


@pytest.mark.parametrize("which", [0, 1])   # the sample half cells: Li4Ag (x = 4), Li9Ag4 (2.25)
def test_phase_figure_fits_its_labels(which, style):
    from echem import phases, sampledata
    from echem.report.figures.phases import phase_figure

    spec = sampledata.HALF[which]
    data = sampledata.half_records(spec, np.random.default_rng(0))
    pm = phases.identify(data, host_mass_mg=spec.host_mass_mg, system="Li-Ag")
    fig = phase_figure(pm, title=spec.cell_id, style=style)
    _assert_style_size(fig, style)
    _assert_inside(fig)
    _assert_legends_inside_their_axes(fig)
    left, right = _boxes(fig)
    assert _apart(left, right)

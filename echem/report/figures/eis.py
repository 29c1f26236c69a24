"""Figures of impedance fits: Nyquist (equal axes) with the arcs annotated, Bode, residuals.

Each function takes an :class:`echem.eis.EISFit` (which carries its data) and an optional
matplotlib Axes, and returns the Figure. Plotted: Z' and -Z'' in ohm, frequency in Hz, residuals
as (Z_fit - Z)/|Z| in %.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from echem.eis import EISFit, KKResult, _arc_blocks, parse_circuit
from echem.report.figures.plotting import (ha_inside, minor_ticks_if_few_decades, plain_log_labels,
                                          set_margins_in, ytick_labels_width_in)
from echem.report.figures.style import SCREEN, Style


def _axes(ax, figsize=(5, 4.5)):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _dense(res: EISFit, n=400):
    f = res.frequency_Hz
    fd = np.logspace(np.log10(f.max()), np.log10(f.min()), n)
    return fd, res.predict(fd)


def _fmt_f(f_Hz: float) -> str:
    for div, unit in ((1e6, "MHz"), (1e3, "kHz"), (1, "Hz"), (1e-3, "mHz")):
        if f_Hz >= div:
            return f"{f_Hz / div:.3g} {unit}"
    return f"{f_Hz:.3g} Hz"


def nyquist(res: EISFit, ax=None, title=None) -> Figure:
    """Nyquist plot (-Z'' against Z', equal axes): data, the fit, and each R||CPE arc marked at
    its characteristic frequency with its name, resistance (+- stderr) and frequency."""
    fig, ax = _axes(ax)
    ax.plot(res.z.real, -res.z.imag, "o", ms=4, mfc="none", label="data")
    fd, zd = _dense(res)
    # the circuit is named in the caption: a legend as wide as the panel covers the arcs
    ax.plot(zd.real, -zd.imag, "-", lw=1.5, label=f"fit (rel. rms {res.rel_rms:.2%})")
    c = parse_circuit(res.circuit)
    apexes = {}
    for r_i, _etype, _c_i in _arc_blocks(c):
        rn = c.param_names[r_i]
        label = res.names.get(rn, rn)
        fc = res.f_char_Hz.get(label)
        if fc is None or not np.isfinite(fc):
            continue
        za = res.predict([fc])[0]
        ax.plot(za.real, -za.imag, "kx", ms=8)
        apexes[label] = (za, res.params[rn], res.stderr[rn], fc)
    # each label above its apex (:func:`_arc_labels_inside` turns it below where the panel's
    # top is too close), aligned to stay within the panel's width
    x0, x1 = ax.get_xlim()   # with every apex plotted
    for label, (za, value, err, fc) in apexes.items():
        ax.annotate(f"{label}\n{value:.3g} ± {err:.2g} Ω\n{_fmt_f(fc)}", (za.real, -za.imag),
                    textcoords="offset points", xytext=(0, 8), va="bottom", fontsize="small",
                    ha=ha_inside((za.real - x0) / (x1 - x0)))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Z' / Ω")
    ax.set_ylabel("-Z'' / Ω")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.legend(fontsize="small", loc="best")
    if title:
        ax.set_title(title)
    return fig


def bode(res: EISFit, ax=None, title=None) -> Figure:
    """Bode plot: |Z| (log, blue, left axis) and -phase (degrees, orange, a twin axis on the
    right) against frequency; points the data, lines the fit. The axes are coloured as their
    series instead of a legend, which covered the curves of a small panel."""
    fig, ax = _axes(ax, figsize=(6, 4))
    fd, zd = _dense(res)
    ax.loglog(res.frequency_Hz, np.abs(res.z), "o", ms=4, mfc="none", color="C0", label="|Z| data")
    ax.loglog(fd, np.abs(zd), "-", color="C0", label="|Z| fit")
    ax.set_xlabel("frequency / Hz")
    ax.set_ylabel("|Z| / Ω", color="C0")
    ax.tick_params(axis="y", which="both", colors="C0")
    ax2 = ax.twinx()
    ax2.semilogx(res.frequency_Hz, -np.degrees(np.angle(res.z)), "s", ms=4, mfc="none", color="C1",
                 label="-phase data")
    ax2.semilogx(fd, -np.degrees(np.angle(zd)), "-", color="C1", label="-phase fit")
    ax2.set_ylabel("-phase / °", color="C1")
    ax2.tick_params(axis="y", colors="C1")
    minor_ticks_if_few_decades(ax.xaxis, res.frequency_Hz)
    minor_ticks_if_few_decades(ax.yaxis, np.r_[np.abs(res.z), np.abs(zd)])
    plain_log_labels(ax)
    plain_log_labels(ax2)
    if title:
        ax.set_title(title)
    return fig


def residuals(res: EISFit, ax=None, kk: KKResult | None = None, title=None) -> Figure:
    """Relative residuals (Z_fit - Z)/|Z| of the fit in % against frequency (real and imaginary),
    and those of the Kramers-Kronig test when ``kk`` is given (with its threshold)."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    d = (res.z_fit - res.z) / np.abs(res.z) * 100
    ax.semilogx(res.frequency_Hz, d.real, "o-", ms=3, label="fit Z′")
    ax.semilogx(res.frequency_Hz, d.imag, "s-", ms=3, label="fit Z″")
    if kk is not None and kk.residuals_real.size == res.frequency_Hz.size:
        ax.semilogx(res.frequency_Hz, kk.residuals_real * 100, "^:", ms=3, label="KK Z′")
        ax.semilogx(res.frequency_Hz, kk.residuals_imag * 100, "v:", ms=3, label="KK Z″")
        for s in (-1, 1):
            ax.axhline(s * kk.threshold * 100, color="0.5", ls="--", lw=0.8)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("frequency / Hz")
    ax.set_ylabel("residual / % of |Z|")
    minor_ticks_if_few_decades(ax.xaxis, res.frequency_Hz)
    plain_log_labels(ax)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.5 * (hi - lo))  # room above the residuals for the legend
    ax.legend(fontsize="small", loc="upper center", ncols=2)
    if title:
        ax.set_title(title)
    return fig


def eis_figure(res: EISFit, kk: KKResult | None = None, title=None, style: Style = SCREEN) -> Figure:
    """Nyquist, Bode and residuals side by side in one Figure of ``style``."""
    fig = Figure(figsize=style.size_in(16, 4.8))
    a1, a2, a3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1, 1]})
    nyquist(res, ax=a1)
    twin = bode(res, ax=a2).axes[-1]
    residuals(res, ax=a3, kk=kk)
    if title:
        fig.suptitle(title, y=1.0, va="top")
    # fixed margins (inches), not a layout engine, which measures every tick label of the three
    # log axes at each save, costing more than drawing them: left of each panel room for its y
    # tick labels and y label, and left of the residuals also for the Bode panel's phase axis.
    # Placed twice: the Nyquist panel's equal axes widen its y limits for the box it is given.
    width_in, height_in = fig.get_size_inches()
    bottom_in, top_in = 0.5, 0.3 if title else 0.15
    for _ in range(2):
        w = [ytick_labels_width_in(ax) + 0.36 for ax in (a1, a2, twin, a3)]
        gaps_in = [w[0], w[1] + 0.15, w[2] + w[3] + 0.1]
        panels_in = (width_in - sum(gaps_in) - 0.15) * np.array([1.1, 1, 1]) / 3.1
        x_in = 0.0
        for ax, gap_in, panel_in in zip((a1, a2, a3), gaps_in, panels_in):
            x_in += gap_in
            ax.set_position([x_in / width_in, bottom_in / height_in, panel_in / width_in,
                             1 - (bottom_in + top_in) / height_in])   # the Bode twin follows
            x_in += panel_in
        a1.apply_aspect()
    _arc_labels_inside(a1)
    return fig


def _arc_labels_inside(ax) -> None:
    """The arc labels of Nyquist axes ``ax`` (placed and sized) that would run past its top
    turned below their apex, into the arc."""
    ax.apply_aspect()
    line_in = 1.2 * FontProperties(size="small").get_size_in_points() / 72
    top_px, dpi = ax.get_window_extent().y1, ax.figure.dpi
    for t in ax.texts:
        y_px = ax.transData.transform(t.xy)[1]
        if y_px + (8 / 72 + (t.get_text().count("\n") + 1) * line_in) * dpi > top_px:
            t.xyann = (t.xyann[0], -8)
            t.set_verticalalignment("top")


def over_test_figure(table, title=None, style: Style = SCREEN) -> Figure:
    """R_SEI and R_ct (ohm, with their fit SE as error bars) of each spectrum against the time
    of the test (h), from ``echem.eis.track``'s table."""
    fig = Figure(figsize=style.size_in(6, 4))
    ax = fig.add_subplot()
    t = table["time_s"].to_numpy(dtype=float) / 3600.0
    x, label = (t, "time / h") if np.isfinite(t).all() else (table["spectrum"].to_numpy(), "spectrum")
    for k, name in enumerate(("R_SEI", "R_ct")):
        if f"{name}_ohm" in table:
            ax.errorbar(x, table[f"{name}_ohm"], yerr=table.get(f"{name}_stderr_ohm"), fmt="o-",
                        ms=4, lw=1, capsize=2, color=f"C{k}", label=name)
    ax.set_xlabel(label)
    ax.set_ylabel("resistance / Ω")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, y=1.0)
    set_margins_in(fig, left=ytick_labels_width_in(ax) + 0.36, right=0.15, bottom=0.5,
                   top=0.3 if title else 0.15)
    return fig

"""Figures of impedance fits: Nyquist (equal axes) with the arcs annotated, Bode, residuals.

Each function takes an :class:`echem.eis.EISFit` (which carries its data) and an optional
matplotlib Axes, and returns the Figure. Plotted: Z' and -Z'' in ohm, frequency in Hz, residuals
as (Z_fit - Z)/|Z| in %.
"""
from __future__ import annotations

import copy
import re

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, NullLocator

from echem.eis import EISFit, KKResult, _arc_blocks, parse_circuit


_MATHTEXT_POWER = re.compile(r"\$\\mathdefault\{([-−]?)(?:([0-9.]+)\\times)?10\^\{([-−]?\d+)\}\}\$")
_MATHTEXT_PLAIN = re.compile(r"\$\\mathdefault\{([-−]?[0-9.]+)\}\$")
_SUPERSCRIPT = str.maketrans("-−0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MINOR_TICKS_MAX_DECADES = 3  # log axes spanning more decades get no minor ticks


class _UnicodeLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (10^k, 2×10^k; the same ticks labelled) written with
    Unicode superscripts instead of mathtext, which is parsed again at every save and made the
    three log axes of :func:`eis_figure` cost more than all else drawn."""

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        m = _MATHTEXT_POWER.fullmatch(label)
        if m:
            sign, coeff, exp = m.groups()
            return f"{'−' if sign else ''}{coeff + '×' if coeff else ''}10{exp.translate(_SUPERSCRIPT)}"
        m = _MATHTEXT_PLAIN.fullmatch(label)
        return m.group(1) if m else label


def _plain_log_labels(ax) -> None:
    """Log axes of ``ax`` labelled by :class:`_UnicodeLogFormatter` (major and minor ticks)."""
    for axis in (ax.xaxis, ax.yaxis):
        for fmt, put in ((axis.get_major_formatter(), axis.set_major_formatter),
                         (axis.get_minor_formatter(), axis.set_minor_formatter)):
            if type(fmt) is LogFormatterSciNotation:  # the log scale's own, settings kept
                new = copy.copy(fmt)
                new.__class__ = _UnicodeLogFormatter
                put(new)


def _minor_ticks_if_few_decades(axis, values) -> None:
    """No minor ticks (2..9 x 10^k) on the log ``axis`` when ``values`` span more than
    MINOR_TICKS_MAX_DECADES decades: a spectrum's 6-9 decades carried some 80 minor ticks per axis,
    too dense to read and the costliest part of drawing the figure. Labelled decades stay."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and np.log10(v.max() / v.min()) > MINOR_TICKS_MAX_DECADES:
        axis.set_minor_locator(NullLocator())


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
    ax.plot(zd.real, -zd.imag, "-", lw=1.5, label=f"fit {res.circuit} (rel. rms {res.rel_rms:.2%})")
    c = parse_circuit(res.circuit)
    for r_i, _etype, _c_i in _arc_blocks(c):
        rn = c.param_names[r_i]
        label = res.names.get(rn, rn)
        fc = res.f_char_Hz.get(label)
        if fc is None or not np.isfinite(fc):
            continue
        za = res.predict([fc])[0]
        ax.plot(za.real, -za.imag, "kx", ms=8)
        value, err = res.params[rn], res.stderr[rn]
        ax.annotate(f"{label} = {value:.3g} ± {err:.2g} Ω\n{_fmt_f(fc)}", (za.real, -za.imag),
                    textcoords="offset points", xytext=(0, 12), ha="center", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Z' / Ω")
    ax.set_ylabel("-Z'' / Ω")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    return fig


def bode(res: EISFit, ax=None, title=None) -> Figure:
    """Bode plot: |Z| (log) and phase (degrees, -phase plotted on a twin axis) against frequency."""
    fig, ax = _axes(ax, figsize=(6, 4))
    fd, zd = _dense(res)
    ax.loglog(res.frequency_Hz, np.abs(res.z), "o", ms=4, mfc="none", color="C0", label="|Z| data")
    ax.loglog(fd, np.abs(zd), "-", color="C0", label="|Z| fit")
    ax.set_xlabel("frequency / Hz")
    ax.set_ylabel("|Z| / Ω")
    ax2 = ax.twinx()
    ax2.semilogx(res.frequency_Hz, -np.degrees(np.angle(res.z)), "s", ms=4, mfc="none", color="C1",
                 label="-phase data")
    ax2.semilogx(fd, -np.degrees(np.angle(zd)), "-", color="C1", label="-phase fit")
    ax2.set_ylabel("-phase / °")
    _minor_ticks_if_few_decades(ax.xaxis, res.frequency_Hz)
    _minor_ticks_if_few_decades(ax.yaxis, np.r_[np.abs(res.z), np.abs(zd)])
    _plain_log_labels(ax)
    _plain_log_labels(ax2)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="center left")
    if title:
        ax.set_title(title)
    return fig


def residuals(res: EISFit, ax=None, kk: KKResult | None = None, title=None) -> Figure:
    """Relative residuals (Z_fit - Z)/|Z| of the fit in % against frequency (real and imaginary),
    and those of the Kramers-Kronig test when ``kk`` is given (with its threshold)."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    d = (res.z_fit - res.z) / np.abs(res.z) * 100
    ax.semilogx(res.frequency_Hz, d.real, "o-", ms=3, label="fit, real")
    ax.semilogx(res.frequency_Hz, d.imag, "s-", ms=3, label="fit, imaginary")
    if kk is not None and kk.residuals_real.size == res.frequency_Hz.size:
        ax.semilogx(res.frequency_Hz, kk.residuals_real * 100, "^:", ms=3, label=f"KK (M={kk.M}), real")
        ax.semilogx(res.frequency_Hz, kk.residuals_imag * 100, "v:", ms=3, label="KK, imaginary")
        for s in (-1, 1):
            ax.axhline(s * kk.threshold * 100, color="0.5", ls="--", lw=0.8)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("frequency / Hz")
    ax.set_ylabel("residual / % of |Z|")
    _minor_ticks_if_few_decades(ax.xaxis, res.frequency_Hz)
    _plain_log_labels(ax)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    return fig


def eis_figure(res: EISFit, kk: KKResult | None = None, title=None) -> Figure:
    """Nyquist, Bode and residuals side by side in one Figure."""
    # fixed margins: a layout engine measures every tick label of the three log axes at each
    # save, which costs more than drawing them
    fig = Figure(figsize=(16, 4.8))
    fig.subplots_adjust(left=0.045, right=0.985, bottom=0.12, top=0.9, wspace=0.32)
    a1, a2, a3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1, 1]})
    nyquist(res, ax=a1)
    bode(res, ax=a2)
    residuals(res, ax=a3, kk=kk)
    if title:
        fig.suptitle(title)
    return fig


def over_test_figure(table, title=None) -> Figure:
    """R_SEI and R_ct (ohm, with their fit SE as error bars) of each spectrum against the time
    of the test (h), from ``echem.eis.track``'s table."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    t = table["time_s"].to_numpy(dtype=float) / 3600.0
    x, label = (t, "time / h") if np.isfinite(t).all() else (table["spectrum"].to_numpy(), "spectrum")
    for k, name in enumerate(("R_SEI", "R_ct")):
        if f"{name}_ohm" in table:
            ax.errorbar(x, table[f"{name}_ohm"], yerr=table.get(f"{name}_stderr_ohm"), fmt="o-",
                        ms=4, lw=1, capsize=2, color=f"C{k}", label=name)
    ax.set_xlabel(label)
    ax.set_ylabel("resistance / Ω")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, y=1.0)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.14, top=0.9)
    return fig

"""Figure of a distribution of relaxation times (:func:`echem.eis.drt`): gamma against tau with its
noise band, the peaks marked with their resistance and frequency, and, where an equivalent-circuit
fit is given, the peaks assigned to its arcs (R_SEI, R_ct). Plotted: gamma in ohm (per unit of
ln tau), tau in s (bottom axis) and f = 1/(2 pi tau) in Hz (top axis)."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from echem.eis.drt import DRT, assign_peaks
from echem.report.figures.plotting import (ha_inside, minor_ticks_if_few_decades, plain_log_labels,
                                          set_margins_in, text_width_in, ytick_labels_width_in)
from echem.report.figures.style import SCREEN, Style


def _fmt_f(f_Hz: float) -> str:
    for div, unit in ((1e6, "MHz"), (1e3, "kHz"), (1, "Hz"), (1e-3, "mHz")):
        if f_Hz >= div:
            return f"{f_Hz / div:.3g} {unit}"
    return f"{f_Hz:.3g} Hz"


def _reciprocal_2pi(x):
    """tau (s) <-> f (Hz): 1 / (2 pi x), for the secondary axis (which also passes 0 and inf)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return 1 / (2 * math.pi * x)


def drt_figure(drt: DRT, fit=None, title: str = "", ax=None, style: Style = SCREEN) -> Figure:
    """The DRT as a plain matplotlib Figure (no pyplot).

    ``fit``: an :class:`echem.eis.EISFit` of the same spectrum; its arcs are matched to the DRT
    peaks by :func:`echem.eis.assign_peaks` and those peaks are labelled with the arc's name, the
    DRT's area and the fit's resistance. ``ax``: draw into these axes instead of a new figure
    (of ``style``).
    """
    new = ax is None
    if new:
        # at least 1.6 in of plot between the axes' labels: room for the peaks' labels
        fig = Figure(figsize=style.size_in(6, 4.2, min_height_in=3.05))
        ax = fig.add_subplot()
        # fixed margins (inches: room for the tick labels and the frequency axis on top), not a
        # layout engine, which measures every label again at every save; the left one is set
        # again below from the tick labels
        margins = dict(right=0.2, bottom=0.5, top=0.95 if title else 0.65)
        set_margins_in(fig, left=0.8, **margins)
    else:
        fig = ax.figure
    tau, g, s = drt.tau_s, drt.gamma_ohm, drt.gamma_std_ohm
    # no legend (it covered the peak labels of a column-wide figure): :func:`caption` says what
    # the band and the grey ends are
    ax.fill_between(tau, np.clip(g - 2 * s, 0, None), g + 2 * s, color="C0", alpha=0.2, lw=0)
    ax.plot(tau, g, "-", color="C0", lw=1.5)
    w = 2 * np.pi * drt.frequency_Hz
    ax.axvspan(tau.min(), 1 / w.max(), color="0.93", lw=0)
    ax.axvspan(1 / w.min(), tau.max(), color="0.93", lw=0)
    peaks = assign_peaks(drt, fit)
    names = {n: (v, e) for n, (v, e) in fit.named.items()} if fit is not None else {}
    labels = []   # (x as a fraction of the axes' width, tau, gamma, text, colour) per peak
    for p in peaks.itertuples():
        color = "C3" if p.assigned else "k"
        ax.plot(p.tau_s, p.gamma_ohm, "v" if p.assigned else "x", color=color, ms=7)
        text = f"{p.R_ohm:.3g} Ω\n{_fmt_f(p.f_Hz)}"
        if p.assigned:
            text = f"{p.assigned}: {text}"
            if p.assigned in names:
                value, err = names[p.assigned]
                text += f"\nfit {value:.3g} ± {err:.2g} Ω"
        where = np.log(p.tau_s / tau.min()) / np.log(tau.max() / tau.min())  # the x axis is log
        labels.append((where, p.tau_s, p.gamma_ohm, text, color))
    ax.set_xscale("log")
    ax.set_xlim(tau.min(), tau.max())
    # the peak labels above their peaks, one raised above another where they would overlap, and
    # the y axis high enough for the highest: placed in inches, for a y limit found in turns
    top = max(float(np.max(g + 2 * s)), 1e-12)
    width_in = ax.get_position().width * fig.get_figwidth()
    height_in = ax.get_position().height * fig.get_figheight()
    line_in = 1.2 * FontProperties(size="small").get_size_in_points() / 72
    ymax = top * 1.05
    for _ in range(6):
        placed, highest = _place(labels, ymax, width_in, height_in, line_in)
        if highest <= height_in - 0.05 or ymax >= 4 * top:
            break
        ymax = min(ymax * highest / (height_in - 0.05) * 1.02, 4 * top)
    ax.set_ylim(0, ymax)
    for (_, x, y, text, color), (ha, lift_in) in zip(labels, placed):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(0, lift_in * 72), ha=ha,
                    va="bottom", fontsize="small", color=color)
    ax.set_xlabel("τ / s")
    ax.set_ylabel("γ / Ω")
    sec = ax.secondary_xaxis("top", functions=(_reciprocal_2pi, _reciprocal_2pi))
    sec.set_xlabel("f = 1/(2πτ) / Hz")
    # as the impedance figure's log axes: no minor ticks over many decades, labels without
    # mathtext (together they were most of the time this figure took to save)
    minor_ticks_if_few_decades(ax.xaxis, tau)
    minor_ticks_if_few_decades(sec.xaxis, tau)
    plain_log_labels(ax)
    plain_log_labels(sec)
    if title:
        # above the frequency axis: its ticks, tick labels and label, in points; y given, so
        # that it is not placed again from the tick labels at each save
        rc = matplotlib.rcParams
        pad_pt = (rc["xtick.major.size"] + rc["xtick.major.pad"] + rc["axes.labelpad"] + 4
                  + 1.2 * FontProperties(size=rc["xtick.labelsize"]).get_size_in_points()
                  + 1.2 * FontProperties(size=rc["axes.labelsize"]).get_size_in_points())
        ax.set_title(title, y=1.0, pad=pad_pt)
    if new:
        set_margins_in(fig, left=ytick_labels_width_in(ax) + 0.36, **margins)
    return fig


def caption(drt: DRT) -> str:
    """What :func:`drt_figure` draws of ``drt``, in words (it has no legend)."""
    how = "given" if drt.method == "given" else f"chosen by {drt.method.upper()}"
    return (f"line: the DRT (regularisation λ = {drt.lambda_:.2g}, {how}; rel. rms of its "
            f"spectrum {drt.rel_rms:.2%}); shaded: ±2σ noise band; grey: time "
            "constants outside the measured frequencies; peaks marked with their resistance and "
            "frequency, those assigned to a fitted arc named")


def _place(labels, ymax: float, width_in: float, height_in: float, line_in: float):
    """Where each label of ``labels`` (x as a fraction of the axes' width; x and y in data
    units) goes for y limit ``ymax``: its alignment and its lift above its peak (inches), 8 pt
    above it where it overlaps no label placed before it, centred or else to one side of its
    peak, raised above the labels it meets otherwise; and the top of the highest label (inches
    above the axes' bottom)."""
    boxes, placed = [], []   # (left, right, bottom, top) in inches; (ha, lift)
    for where, _x, y, text, _color in labels:
        w = text_width_in([text], "small")
        h = (text.count("\n") + 1) * line_in
        x = where * width_in
        y_in = y / ymax * height_in
        bottom = y_in + 8 / 72

        def left_of(ha):
            return {"left": x, "right": x - w}.get(ha, x - w / 2)

        def clash(ha, b):
            left = left_of(ha)
            return [box for box in boxes
                    if left < box[1] and box[0] < left + w and b < box[3] and box[2] < b + h]

        fits = [ha for ha in dict.fromkeys((ha_inside(where), "left", "right"))
                if 0 <= left_of(ha) and left_of(ha) + w <= width_in and not clash(ha, bottom)]
        ha = fits[0] if fits else ha_inside(where)
        while clash(ha, bottom):
            bottom = max(box[3] for box in clash(ha, bottom)) + 2 / 72
        boxes.append((left_of(ha), left_of(ha) + w, bottom, bottom + h))
        placed.append((ha, bottom - y_in))
    return placed, max((box[3] for box in boxes), default=0.0)

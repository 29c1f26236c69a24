"""Figures of the cycling analyses (paper, Figure 5a, 5c, 5d-g), as matplotlib Figures.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they work under the Agg
backend and in threads; save them with ``fig.savefig(path)``. Long series are drawn decimated
(:func:`echem.report.figures.plotting.decimate_minmax`). They draw the analyses' results
(nucleation, polarization, failure, the cycle table) and compute none of them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from echem.cycling import prepare
from echem.nucleation import NucleationResult
from echem.report.figures.plotting import column_margins, decimate_minmax, text_width_in
from echem.report.figures.style import SCREEN, Style
from echem.symmetric import FailureResult, PolarizationResult

N_COLUMNS = 2000

#: written with Unicode superscripts, not mathtext ("mAh g$^{-1}$"): one text in the SVG, and no
#: mathtext parser to build
SPECIFIC_CAPACITY_LABEL = "specific capacity / mAh g\u207b\u00b9"


def voltage_time_figure(data: pd.DataFrame, nucleation: NucleationResult | None = None, *,
                        title: str | None = None, style: Style = SCREEN) -> Figure:
    """Symmetric cell: voltage (mV) vs time (h), and beside it the step of the nucleation dip of
    ``nucleation`` (the result of ``echem.nucleation.overpotential``; mV vs minutes since the
    step began) with its plateau, its dip and eta (paper, Figure 5a); its time span is shaded in
    the left panel. No right panel without a dip. A panel of its own, not an inset: a symmetric
    cell's trace fills its axes, an inset would cover it. ``data``: the cycling data, or them
    prepared (``echem.cycling.prepare``)."""
    p = prepare(data)
    zoom = nucleation is not None and np.isfinite(nucleation.dip_time_s)
    fig = Figure(figsize=style.size_in(9.5, 4.2) if zoom else style.size_in(7, 4.5))
    ax, ins = fig.subplots(1, 2, width_ratios=[2.3, 1]) if zoom else (fig.add_subplot(), None)
    x, y = decimate_minmax(p.t / 3600.0, p.v * 1000.0, N_COLUMNS)
    ax.plot(x, y, lw=0.8, color="C0")
    ax.set_xlabel("time / h")
    ax.set_ylabel("voltage / mV")
    if title:
        ax.set_title(title, y=1.0)  # y given: not re-placed from the tick labels at each save
    if zoom:
        s = p.steps[p.steps["step"] == nucleation.step].iloc[0]
        a, b = int(s["first_row"]), int(s["last_row"]) + 1
        t0 = p.t[a]
        t_hi = nucleation.plateau_start_s + 0.5 * (nucleation.plateau_start_s - t0)
        m = (p.t >= t0) & (p.t <= t_hi)
        m[:a] = False
        m[b:] = False
        xi, yi = decimate_minmax((p.t[m] - t0) / 60.0, p.v[m] * 1000.0, 600)
        ins.plot(xi, yi, lw=0.8, color="C0")
        ins.axhline(nucleation.plateau_voltage_V * 1000.0, color="C2", lw=0.8, ls="--")
        ins.axhline(nucleation.dip_voltage_V * 1000.0, color="C3", lw=0.8, ls=":")
        ins.plot([(nucleation.dip_time_s - t0) / 60.0], [nucleation.dip_voltage_V * 1000.0], "o",
                 ms=4, color="C3")
        lo = min(nucleation.dip_voltage_V, nucleation.plateau_voltage_V) * 1000.0
        hi = max(nucleation.dip_voltage_V, nucleation.plateau_voltage_V) * 1000.0
        pad = max(hi - lo, 4 * nucleation.noise_mV, 1.0) * 1.5
        ins.set_ylim(lo - pad, hi + pad)
        ins.set_xlabel("min since step start")
        ins.set_ylabel("voltage / mV")
        label = (f"η = {nucleation.eta_mV:.1f} mV" if nucleation.eta_mV > 0
                 else f"η = 0 mV (noise {nucleation.noise_mV:.2g} mV)")
        ins.set_title(label, y=1.0)
        ax.axvspan(t0 / 3600.0, t_hi / 3600.0, color="0.85", zorder=0)
    column_margins(fig, [ax], columns=[ins] if zoom else [])
    return fig


def voltage_capacity_figure(data: pd.DataFrame, cycles: Sequence[int] = (1, 30, 50), *,
                            active_mass_g: float | None = None, cycle_source: str = "file",
                            title: str | None = None, style: Style = SCREEN) -> Figure:
    """Voltage vs capacity of the chosen cycles (paper, Figure 5e-g: cycles 1, 30, 50), charge
    and discharge branches, capacity counted from the start of each branch (mAh, or mAh/g with
    ``active_mass_g``). Cycles absent from the data are skipped."""
    p = prepare(data, cycle_source)
    s = p.steps
    fig = Figure(figsize=style.size_in(6, 4.5))
    ax = fig.add_subplot()
    present = set(s["cycle"].unique().tolist())
    chosen = [c for c in cycles if c in present]
    scale = 1.0 / active_mass_g if active_mass_g else 1.0
    for k, c in enumerate(chosen):
        for direction, ls in ((1, "-"), (-1, "--")):
            sel = s[(s["cycle"] == c) & (s["direction"] == direction)]
            if sel.empty:
                continue
            offsets = np.r_[0.0, np.cumsum(sel["capacity_mAh"].to_numpy())[:-1]]
            xs, ys = [], []
            for (_, row), off in zip(sel.iterrows(), offsets):   # loop over a cycle's few steps
                a, b = int(row["first_row"]), int(row["last_row"]) + 1
                xs.append((p.cap[a:b] + off) * scale)
                ys.append(p.v[a:b])
            x, y = decimate_minmax(np.concatenate(xs), np.concatenate(ys), N_COLUMNS)
            ax.plot(x, y, ls=ls, color=f"C{k}", lw=1.2)
    handles = [ax.plot([], [], color=f"C{k}", label=f"cycle {c}")[0] for k, c in enumerate(chosen)]
    if chosen:
        handles += [ax.plot([], [], color="0.4", ls="-", label="charge")[0],
                    ax.plot([], [], color="0.4", ls="--", label="discharge")[0]]
        ax.legend(handles=handles, fontsize="small")
    else:
        ax.text(0.5, 0.5, f"none of cycles {list(cycles)} in the data", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel(SPECIFIC_CAPACITY_LABEL if active_mass_g else "capacity / mAh")
    ax.set_ylabel("voltage / V")
    if title:
        ax.set_title(title, y=1.0)  # y given: not re-placed from the tick labels at each save
    column_margins(fig, [ax])
    return fig


def capacity_figure(table: pd.DataFrame, *, active_mass_g: float | None = None,
                    title: str | None = None, style: Style = SCREEN) -> Figure:
    """Charge and discharge capacity (mAh, or mAh/g with ``active_mass_g``) and coulombic
    efficiency (%) vs cycle (paper, Figure 5d), from a cycle table
    (``echem.cycling.cycle_table``)."""
    scale = 1.0 / active_mass_g if active_mass_g else 1.0
    fig = Figure(figsize=style.size_in(6.5, 4.2))
    ax = fig.add_subplot()
    ax.plot(table["cycle"], table["charge_capacity_mAh"] * scale, "o", mfc="none", ms=4, label="charge")
    ax.plot(table["cycle"], table["discharge_capacity_mAh"] * scale, "o", ms=4, label="discharge")
    ax.set_xlabel("cycle")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # cycles are whole numbers
    ax.set_ylabel(SPECIFIC_CAPACITY_LABEL if active_mass_g else "capacity / mAh")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(table["cycle"], table["coulombic_efficiency"] * 100.0, "s", ms=3, color="C2", label="CE")
    ax2.set_ylabel("coulombic efficiency / %")
    ce = table["coulombic_efficiency"].to_numpy() * 100.0
    ce = ce[np.isfinite(ce)]
    if ce.size:
        ax2.set_ylim(min(0.0, ce.min() - 5), max(110.0, ce.max() + 5))
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize="small", loc="lower left")
    if title:
        ax.set_title(title, y=1.0)  # y given: not re-placed from the tick labels at each save
    column_margins(fig, [ax], twins=[ax2])
    return fig


def polarization_figure(data: pd.DataFrame, pol: PolarizationResult,
                        fail: FailureResult | None = None, *, title: str | None = None,
                        style: Style = SCREEN) -> Figure:
    """Symmetric cell: voltage (mV) vs time (h) above, plateau overpotential per half cycle
    (plating, stripping) of ``pol`` (``echem.symmetric.polarization``) below (paper, Figure 5c),
    with the failure ``fail`` (``echem.symmetric.failure``) marked: a line at its time, its
    evidence window shaded."""
    p = prepare(data)
    fig = Figure(figsize=style.size_in(7.5, 6.0))
    # the lower panel tall enough for its y label in a column-wide figure
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    x, y = decimate_minmax(p.t / 3600.0, p.v * 1000.0, N_COLUMNS)
    ax.plot(x, y, lw=0.6, color="C0")
    ax.set_ylabel("voltage / mV")
    h = pol.half_cycles
    for kind, marker, color in (("plating", "v", "C3"), ("stripping", "^", "C2")):
        sel = h[h["kind"] == kind]
        ax2.plot(sel["mid_time_h"], sel["overpotential_mV"], marker, ms=3, ls="none", color=color,
                 label=kind)
    ax2.set_ylabel("|plateau| / mV")
    ax2.set_xlabel("time / h")
    if len(h):
        ax2.legend(fontsize="small")
    if fail:
        for a in (ax, ax2):
            a.axvspan(fail.window_start_h, fail.window_end_h, color="C1", alpha=0.2, lw=0)
            a.axvline(fail.time_h, color="C1", lw=1.2)
    if title:
        ax.set_title(title, y=1.0)  # y given: not re-placed from the tick labels at each save
    column_margins(fig, [ax, ax2], hgap=0.16)
    if fail:
        label = f"{fail.kind.replace('_', ' ')} at {fail.time_h:.1f} h"
        # right of the line where the label fits in the axes, else left of it where it fits
        # there, else right of it with a right margin widened for it, as a layout engine would
        x0, x1 = ax.get_xlim()
        frac = (x1 - fail.time_h) / (x1 - x0)  # share of the axes' width right of the line
        axes_in = fig.get_figwidth() * ax.get_position().width
        need_in = text_width_in([label], "medium") + 4 / 72 + 0.08  # text, its 4 pt offset, 0.08 spare
        left = frac * axes_in < need_in <= (1 - frac) * axes_in
        ax.annotate(label, (fail.time_h, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-4 if left else 4, -12), textcoords="offset points",
                    ha="right" if left else "left", color="C1", fontsize="medium",
                    bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
        free_in = fig.get_figwidth() * (1 - ax.get_position().x0)  # axes' width + right margin
        right_in = (need_in - frac * free_in) / (1 - frac) if frac < 1 else 0.0
        if not left and right_in > 0.2:
            column_margins(fig, [ax, ax2], hgap=0.16, right=right_in)
    return fig

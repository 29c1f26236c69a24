"""Figure of a half cell's phases (paper, Fig. 1a held against the measurement), as a matplotlib
Figure (no pyplot state): voltage vs Li per host atom with the DFT phase voltages as lines and each
two-phase plateau labelled with its phase, and dQ/dV beside it on the same voltage axis.
Draws a :class:`echem.phases.PhaseMap`; computes nothing new.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from echem.phases import PhaseMap
from echem.report.figures.plotting import decimate_minmax, set_margins_in, ytick_labels_width_in
from echem.report.figures.style import SCREEN, Style

_BRANCH_STYLE = {"lithiation": ("C0", "lithiation"), "delithiation": ("C3", "delithiation")}


def phase_figure(phase_map: PhaseMap, title: str = "", style: Style = SCREEN) -> Figure:
    """Left: voltage (V vs Li/Li+) against x in Li_x(host) for the first lithiation and
    delithiation; the DFT voltage of each phase as a dashed line (paper, Fig. 1a), the phases'
    compositions as dotted verticals, each lithiation plateau drawn bold and labelled with its
    phase and the difference to DFT in mV, the end of lithiation marked. Right: dQ/dV (mAh/V)
    against the same voltage axis."""
    pm = phase_map
    fig = Figure(figsize=style.size_in(8.5, 4.6))
    ax, ax2 = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    curve = pm.curve
    for branch, (color, label) in _BRANCH_STYLE.items():
        c = curve[curve["branch"] == branch]
        if len(c):
            x, y = decimate_minmax(c["x"].to_numpy(), c["voltage_V"].to_numpy(), 1500)
            ax.plot(x, y, lw=0.8, color=color, label=label)
    v_all = curve["voltage_V"].to_numpy()
    plateau_v = pm.plateaus["voltage_V"].to_numpy()
    dft_v = pm.dft["voltage_V"].to_numpy(float)
    # the voltage range: the plateaus and DFT voltages with room, not the open-circuit start
    lo = np.nanmin(np.concatenate([plateau_v, dft_v, [np.nanpercentile(v_all, 1)]])) - 0.03
    hi = np.nanmax(np.concatenate([plateau_v, dft_v[dft_v > 0], [lo + 0.1]])) + 0.06
    ax.set_ylim(lo, hi)
    x_hi = max(float(curve["x"].max()) if len(curve) else 1.0, 1.0) * 1.04
    ax.set_xlim(0.0 if curve["x"].min() >= 0 else float(curve["x"].min()), x_hi)
    for phase, row in pm.dft.iterrows():
        v = float(row["voltage_V"])
        ax.axhline(v, color="0.55", lw=0.7, ls="--", zorder=0)
        ax2.axhline(v, color="0.55", lw=0.7, ls="--", zorder=0)
        ax.annotate(f"{phase} {v:.3f} V (DFT)", (1.0, v), xycoords=("axes fraction", "data"),
                    xytext=(-3, 2), textcoords="offset points", ha="right", va="bottom",
                    fontsize="x-small", color="0.35")
        xp = float(row["guest_per_host"])
        if np.isfinite(xp) and xp <= x_hi:
            ax.axvline(xp, color="0.8", lw=0.6, ls=":", zorder=0)
            near_end = xp > ax.get_xlim()[1] - 0.05 * x_hi   # the label left of its line there
            ax.annotate(phase, (xp, 0.0), xycoords=("data", "axes fraction"),
                        xytext=(-2 if near_end else 2, 3), ha="right" if near_end else "left",
                        textcoords="offset points", fontsize="x-small", color="0.45", rotation=90)
    for r in pm.plateaus.itertuples():
        ax.plot([r.x_start, r.x_end], [r.voltage_V, r.voltage_V], lw=3.0, color="C1", alpha=0.8,
                solid_capstyle="butt")
        ax.annotate(f"{r.phase} ({r.delta_mV:+.0f} mV)", (0.5 * (r.x_start + r.x_end), r.voltage_V),
                    xytext=(0, -11), textcoords="offset points", ha="center", fontsize="small",
                    color="C1")
    if np.isfinite(pm.x_max):
        ax.axvline(pm.x_max, color="C2", lw=0.9)
        ax.annotate(f"end x = {pm.x_max:.2f} ({pm.end_phase})", (pm.x_max, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(-3, -12),
                    textcoords="offset points", ha="right", fontsize="small", color="C2")
    ax.set_xlabel(f"x in Li\u2093{pm.host}" if pm.host else "x")  # no mathtext: its parser is slow to build
    ax.set_ylabel("voltage / V vs Li/Li\u207a")
    if len(curve):
        ax.legend(fontsize="small", loc="lower left")
    for branch, (color, _) in _BRANCH_STYLE.items():
        d = pm.dqdv[pm.dqdv["branch"] == branch]
        if len(d):
            ax2.plot(d["dQ_dV_mAh_V"], d["voltage_V"], lw=0.8, color=color)
    ax2.axvline(0.0, color="0.6", lw=0.6)
    ax2.set_xlabel("dQ/dV / mAh V\u207b\u00b9")
    if title:
        fig.suptitle(title, y=0.98)
    set_margins_in(fig, left=ytick_labels_width_in(ax) + 0.4, right=0.15, bottom=0.5,
                   top=0.4 if title else 0.2, wgap=0.3)  # room for half a dQ/dV tick label
    return fig

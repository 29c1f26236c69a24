"""The experiment's overview: the paper's Figure 5 drawn again from the raw files, one figure per
panel, with every cell of a kind overlaid.

- (a) the nucleation dips of the symmetric cells on one axis (voltage vs minutes into the first
  plating step);
- (b) their Nyquist plots with the fitted circuit;
- (c) their voltage vs time, one row per cell on a shared time axis;
- (d) discharge capacity and coulombic efficiency vs cycle of the full cells;
- (e-g) the voltage profiles of cycles 1, 30 and 50 of each full cell.

:func:`cell_overview` keeps what these need of one cell (a few thousand points), where the cell
is processed, so that the long data need not travel; :func:`overview_figures` draws them.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from echem.report.figures.plotting import column_margins, decimate_minmax
from echem.report.figures.style import SCREEN, Style
from echem.results import CellResult

N_POINTS = 1500
#: cells drawn in one overlay at most (more lines are not readable; the caption says how many)
MAX_OVERLAY = 8


def cell_overview(res: CellResult) -> dict:
    """The small arrays of one cell that the overview draws, from its analyses (call before the
    cell's data are dropped): the first plating step around the nucleation dip, the voltage vs
    time, the first fitted spectrum with its fit, the voltage profiles of the profile cycles."""
    a, out = res.analyses, {}
    data = a.get("data")
    nuc = a.get("nucleation")
    if data is not None and "polarization" in a:
        from echem.cycling import prepare
        p = prepare(data)
        t_h, v = decimate_minmax(p.t / 3600.0, p.v, N_POINTS)
        out["voltage"] = (t_h, v)
        if nuc is not None and np.isfinite(nuc.dip_time_s):
            s = p.steps[p.steps["step"] == nuc.step].iloc[0]
            t0 = p.t[int(s["first_row"])]
            t_hi = nuc.plateau_start_s + 0.5 * (nuc.plateau_start_s - t0)
            m = (p.t >= t0) & (p.t <= t_hi)
            x, y = decimate_minmax((p.t[m] - t0) / 60.0, p.v[m] * 1000.0, 600)
            out["nucleation"] = (x, y, nuc.eta_mV)
    for item in a.get("impedance", [])[:1]:
        shown = next((s for s in item["fits"] if s.fit is not None), None)
        if shown is not None:
            fit = shown.fit
            f = fit.frequency_Hz
            fd = np.logspace(np.log10(f.max()), np.log10(f.min()), 300)
            zd = fit.predict(fd)
            out["nyquist"] = (fit.z.real, -fit.z.imag, zd.real, -zd.imag)
    cyc = a.get("cycling")
    if data is not None and cyc is not None:
        from echem.cycling import prepare
        p = prepare(data, cyc.cycle_source)
        mass = a.get("active_mass_g")
        scale = 1.0 / mass if mass else 1.0
        profiles = {}
        for c in a.get("profile_cycles", (1, 30, 50)):
            branches = []
            for direction in (1, -1):
                sel = p.steps[(p.steps["cycle"] == c) & (p.steps["direction"] == direction)]
                if sel.empty:
                    continue
                offsets = np.r_[0.0, np.cumsum(sel["capacity_mAh"].to_numpy())[:-1]]
                xs = [(p.cap[int(r.first_row):int(r.last_row) + 1] + off) * scale
                      for r, off in zip(sel.itertuples(), offsets)]
                ys = [p.v[int(r.first_row):int(r.last_row) + 1] for r in sel.itertuples()]
                branches.append((direction, *decimate_minmax(np.concatenate(xs), np.concatenate(ys), 500)))
            if branches:
                profiles[int(c)] = branches
        out["profiles"] = (profiles, "mAh/g" if mass else "mAh")
    return out


def overview_figures(cells: list[CellResult], style: Style = SCREEN) -> list[tuple[Figure, str, str]]:
    """(figure, name, caption) of each panel that the cells give data for, drawn in ``style``; an
    overlay needs two cells of a kind at least (one cell's figures are in its own section)."""
    sym = [c for c in cells if c.cell_type == "symmetric" and c.analyses.get("overview")]
    full = [c for c in cells if c.cell_type == "full" and c.analyses.get("overview")]
    total = {"symmetric": len(sym), "full": len(full)}
    sym, full = sym[:MAX_OVERLAY], full[:MAX_OVERLAY]
    out = []
    dips = [c for c in sym if "nucleation" in c.analyses["overview"]]
    if len(dips) > 1:
        fig, ax = _figure(style, 6.0, 4.0)
        for k, c in enumerate(dips):
            x, y, eta = c.analyses["overview"]["nucleation"]
            ax.plot(x, y, lw=1.0, color=f"C{k}", label=f"{c.cell_id} (η = {eta:.1f} mV)")
        ax.set_xlabel("time into the first plating step / min")
        ax.set_ylabel("voltage / mV")
        ax.legend(fontsize="small")
        column_margins(fig, [ax], top=0.15, right=0.15)
        out.append((fig, "overview_a_nucleation", "(a) Nucleation: the first plating step of the "
                    f"symmetric cells {_names(dips, total['symmetric'])}, each with its nucleation overpotential η"))
    spectra = [c for c in cells if "nyquist" in c.analyses.get("overview", {})][:MAX_OVERLAY]
    if len(spectra) > 1:
        fig, ax = _figure(style, 6.0, 4.5)
        for k, c in enumerate(spectra):
            zr, zi, fr, fi = c.analyses["overview"]["nyquist"]
            ax.plot(zr, zi, "o", ms=3, mfc="none", color=f"C{k}", label=f"{c.cell_id}")
            ax.plot(fr, fi, "-", lw=1.0, color=f"C{k}")
        ax.set_xlabel("Z' / Ω")
        ax.set_ylabel("−Z'' / Ω")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(fontsize="small")
        column_margins(fig, [ax], top=0.15, right=0.15)
        out.append((fig, "overview_b_nyquist", "(b) Nyquist plots (points) with the fitted "
                    f"equivalent circuit (lines) of {_names(spectra)}"))
    traces = [c for c in sym if "voltage" in c.analyses["overview"]]
    if len(traces) > 1:
        fig = Figure(figsize=style.size_in(7.0, 1.0 + 1.4 * len(traces)))
        axes = fig.subplots(len(traces), 1, sharex=True, squeeze=False)[:, 0]
        for k, (ax, c) in enumerate(zip(axes, traces)):
            t, v = c.analyses["overview"]["voltage"]
            ax.plot(t, v * 1000.0, lw=0.5, color=f"C{k}")
            ax.set_ylabel("mV")
            # the cell's name above its row, not on the trace, which fills the row
            ax.set_title(c.cell_id, loc="left", fontsize="small", pad=2, y=1.0)
        axes[-1].set_xlabel("time / h")
        column_margins(fig, axes, top=0.25, right=0.15, hgap=0.25)
        out.append((fig, "overview_c_voltage", "(c) Voltage vs time of the symmetric cells "
                    f"{_names(traces, total['symmetric'])}, one row each"))
    tables = [c for c in full if "cycle_table" in c.tables]
    if len(tables) > 1:
        fig = Figure(figsize=style.size_in(6.5, 5.0))
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
        specific = all(c.analyses.get("active_mass_g") for c in tables)
        for k, c in enumerate(tables):
            t = c.tables["cycle_table"]
            mass = c.analyses.get("active_mass_g")
            col = "discharge_capacity_mAh"
            ax.plot(t["cycle"], t[col] / (mass if specific else 1.0), "o", ms=3, color=f"C{k}",
                    label=c.cell_id)
            ax2.plot(t["cycle"], 100.0 * t["coulombic_efficiency"], "s", ms=2, color=f"C{k}")
        ax.set_ylabel("discharge capacity / " + ("mAh g⁻¹" if specific else "mAh"))
        ax.set_ylim(bottom=0)
        ax2.set_ylabel("CE / %")
        ax2.set_xlabel("cycle")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
        column_margins(fig, [ax, ax2], top=0.15, right=0.15, hgap=0.1)
        out.append((fig, "overview_d_cycling", "(d) Discharge capacity (top) and coulombic "
                    f"efficiency (bottom) per cycle of the full cells {_names(tables, total['full'])}"))
    for k, c in enumerate(full if len(full) > 1 else []):
        if "profiles" not in c.analyses["overview"]:
            continue
        profiles, unit = c.analyses["overview"]["profiles"]
        if not profiles:
            continue
        fig, ax = _figure(style, 5.0, 4.0)
        for j, (cycle, branches) in enumerate(sorted(profiles.items())):
            for direction, x, y in branches:
                ax.plot(x, y, "-" if direction > 0 else "--", lw=1.0, color=f"C{j}",
                        label=f"cycle {cycle}" if direction > 0 or len(branches) == 1 else None)
        ax.set_xlabel(f"capacity / {'mAh g⁻¹' if unit == 'mAh/g' else 'mAh'}")
        ax.set_ylabel("voltage / V")
        ax.legend(fontsize="small")
        column_margins(fig, [ax], top=0.15, right=0.15)
        letter = "efg"[k] if k < 3 else "e-g"
        out.append((fig, f"overview_{letter}_profiles_{k + 1}", f"({letter}) {c.cell_id}: voltage "
                    f"profiles of cycles {', '.join(map(str, sorted(profiles)))} (charge solid, "
                    "discharge dashed)"))
    return out


def _figure(style: Style, w: float, h: float):
    fig = Figure(figsize=style.size_in(w, h))
    return fig, fig.add_subplot()


def _names(cells: list[CellResult], total: int = 0) -> str:
    """The cells' ids in words; "the first 8 of 25" where an overlay shows only some."""
    ids = [c.cell_id for c in cells]
    text = ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]
    return text + (f" (the first {len(ids)} of {total})" if total > len(ids) else "")

"""The report's figures: each module draws the results of one kind of analysis as a plain
matplotlib Figure (no pyplot state, Agg); this module renders them as PNG and SVG.

:func:`cell_figures` and :func:`experiment_figures` take results (``CellResult.analyses``, the
cross-reference) and compute nothing.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

from echem.results import CellResult, Figure

matplotlib.use("Agg")  # no display: before any module imports pyplot


def render(fig, name: str, caption: str) -> Figure:
    """A matplotlib Figure as PNG (110 dpi, zlib level 3) and SVG with its text kept as text
    (editable, searchable; the font named by matplotlib's font list, ending in sans-serif)."""
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=110, pil_kwargs={"compress_level": 3})
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(svg, format="svg")
    return Figure(name, caption, png.getvalue(), svg.getvalue())


def cell_figures(res: CellResult) -> list[Figure]:
    """The figures of one cell, from its analyses: impedance (first spectrum that could be
    fitted), then for a symmetric cell voltage vs time with the nucleation dip and the
    polarization with the failure, for a half or full cell the voltage profiles and the capacity
    and coulombic efficiency per cycle, and for an alloy half cell its phases."""
    a = res.analyses
    out = []
    for item in a.get("impedance", [])[:1]:
        shown = next((s for s in item["fits"] if s.fit is not None), None)
        if shown is not None:
            from echem.report.figures import eis
            out.append(render(eis.eis_figure(shown.fit, shown.kk, title=f"{res.cell_id}: impedance"),
                              "impedance", f"{res.cell_id}: Nyquist, Bode and residuals of "
                              f"{Path(item['source']).name} (spectrum {shown.spectrum}) with the "
                              f"{item['circuit']} fit"))
    if "drt" in a:
        from echem.report.figures import drt
        d = a["drt"]
        out.append(render(drt.drt_figure(d["drt"], d["fit"], title=f"{res.cell_id}: DRT"), "drt",
                          f"{res.cell_id}: distribution of relaxation times of spectrum "
                          f"{d['spectrum']} (regularisation chosen by GCV, λ = {d['drt'].lambda_:.2g}), "
                          "peaks assigned to the fitted arcs"))
    if "impedance_over_test" in a:
        from echem.report.figures import eis
        out.append(render(eis.over_test_figure(a["impedance_over_test"], title=res.cell_id),
                          "impedance_over_test", f"{res.cell_id}: R_SEI and R_ct of each spectrum "
                          "over the test (error bars: fit SE)"))
    if "polarization" in a:
        from echem.report.figures import cycling
        data, fail = a["data"], a.get("failure")
        out.append(render(cycling.voltage_time_figure(data, a.get("nucleation"), title=res.cell_id),
                          "voltage_time", f"{res.cell_id}: voltage vs time, nucleation dip inset"))
        out.append(render(cycling.polarization_figure(data, a["polarization"], fail, title=res.cell_id),
                          "polarization", f"{res.cell_id}: polarization per half cycle"
                          + ("" if fail is None else f", {fail.kind} at {fail.time_h:.1f} h")))
    elif "cycling" in a and "data" in a:
        from echem.report.figures import cycling
        cyc, mass = a["cycling"], a.get("active_mass_g")
        cycles = a.get("profile_cycles", (1, 30, 50))
        present = [c for c in cycles if c in set(cyc.cycles["cycle"].tolist())]
        absent = [c for c in cycles if c not in present]
        out.append(render(cycling.voltage_capacity_figure(a["data"], cycles, active_mass_g=mass,
                                                          cycle_source=cyc.cycle_source,
                                                          title=res.cell_id), "profiles",
                          f"{res.cell_id}: voltage profiles of cycle"
                          f"{'s' if len(present) != 1 else ''} {', '.join(map(str, present)) or '(none)'}"
                          + (f" (cycle{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))} "
                             f"not in the data: the test has {int(cyc.cycles['cycle'].max())})"
                             if absent and len(cyc.cycles) else "")))
        out.append(render(cycling.capacity_figure(cyc.cycles, active_mass_g=mass, title=res.cell_id),
                          "capacity", f"{res.cell_id}: charge and discharge capacity and coulombic "
                          f"efficiency ({cyc.ce_convention_text}) per cycle"))
    if "phases" in a:
        from echem.report.figures import phases
        pm = a["phases"]
        out.append(render(phases.phase_figure(pm, title=res.cell_id), "phases",
                          f"{res.cell_id}: voltage vs x (Li per host atom) of the first lithiation, "
                          f"the DFT phase voltages dashed, each plateau labelled with its phase; "
                          f"x = {pm.x_max:.2f} reached ({pm.end_phase}); dQ/dV beside it"))
    return out


def cell_overview(res: CellResult) -> dict:
    """What the experiment's overview draws of this cell (``overview.cell_overview``)."""
    from echem.report.figures import overview
    return overview.cell_overview(res)


def experiment_figures(result) -> list[Figure]:
    """The experiment's figures: the overview of the paper's Figure 5 (panels a-g, cells of a
    kind overlaid), then the cross-reference (DFT scores beside the measured metrics)."""
    from echem.report.figures import overview
    out = [render(fig, name, caption) for fig, name, caption in overview.overview_figures(result.cells)]
    comparison = result.comparison
    if comparison is not None and len(comparison.dft_order):
        from echem.report.figures import compare
        out.append(render(compare.comparison_figure(comparison, result.group_scores), "comparison",
                          "DFT scores of the measured anode phases (left, as the paper's Figure 4) "
                          "beside the measured metrics (right, Figure 5)"))
    return out

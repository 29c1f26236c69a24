"""The report's figures: each module draws the results of one kind of analysis as a plain
matplotlib Figure (no pyplot state, Agg); this module renders them in a style
(:mod:`echem.report.figures.style`: PNG and SVG for the screen, also PDF for a paper).

:func:`cell_figures` and :func:`experiment_figures` take results (``CellResult.analyses``, the
cross-reference) and compute nothing.
"""
from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path

import matplotlib

from echem.report.figures.style import SCREEN, STYLES, Style
from echem.results import CellResult, Figure

matplotlib.use("Agg")  # no display: before any module imports pyplot

#: matplotlib's settings are one per process: threads of one process (a Dask worker's) draw
#: one at a time, each under its own style's settings
_DRAWING = threading.Lock()


@contextlib.contextmanager
def drawing(style: Style):
    """Draw and render figures under ``style``'s matplotlib settings."""
    with _DRAWING, matplotlib.rc_context(style.rc):
        yield


def render(fig, name: str, caption: str, style: Style = SCREEN) -> Figure:
    """A matplotlib Figure, drawn in ``style``, as the files of ``style`` (call it under
    :func:`drawing`): PNG (zlib level 3), SVG with its text kept as text (editable, searchable),
    and PDF where the style asks for it."""
    png, svg, pdf = io.BytesIO(), io.StringIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=style.png_dpi, pil_kwargs={"compress_level": 3})
    fig.savefig(svg, format="svg")
    if "pdf" in style.formats:
        fig.savefig(pdf, format="pdf")
    return Figure(name, caption, png.getvalue(), svg.getvalue(), pdf.getvalue())


def cell_figures(res: CellResult, style: str = "screen") -> list[Figure]:
    """The figures of one cell, from its analyses, in the style named ``style`` (see
    :data:`echem.report.figures.style.STYLES`): impedance (first spectrum that could be
    fitted), then for a symmetric cell voltage vs time with the nucleation dip and the
    polarization with the failure, for a half or full cell the voltage profiles and the capacity
    and coulombic efficiency per cycle, and for an alloy half cell its phases."""
    with drawing(STYLES[style]):
        return _cell_figures(res, STYLES[style])


def _cell_figures(res: CellResult, style: Style) -> list[Figure]:
    a = res.analyses
    out = []  # (figure, name, caption)
    for item in a.get("impedance", [])[:1]:
        shown = next((s for s in item["fits"] if s.fit is not None), None)
        if shown is not None:
            from echem.report.figures import eis
            out.append((eis.eis_figure(shown.fit, shown.kk, title=f"{res.cell_id}: impedance",
                                       style=style),
                        "impedance", f"{res.cell_id}: Nyquist, Bode (|Z| blue, −phase orange) and "
                        f"residuals of {Path(item['source']).name} (spectrum {shown.spectrum}); "
                        f"points: data, lines: the {item['circuit']} fit"))
    if "drt" in a:
        from echem.report.figures import drt
        d = a["drt"]
        out.append((drt.drt_figure(d["drt"], d["fit"], title=f"{res.cell_id}: DRT", style=style),
                    "drt",
                    f"{res.cell_id}: distribution of relaxation times of spectrum {d['spectrum']}; "
                    + drt.caption(d["drt"])))
    if "impedance_over_test" in a:
        from echem.report.figures import eis
        out.append((eis.over_test_figure(a["impedance_over_test"], title=res.cell_id, style=style),
                    "impedance_over_test", f"{res.cell_id}: R_SEI and R_ct of each spectrum "
                    "over the test (error bars: fit SE)"))
    if "polarization" in a:
        from echem.report.figures import cycling
        data, fail = a["data"], a.get("failure")
        out.append((cycling.voltage_time_figure(data, a.get("nucleation"), title=res.cell_id,
                                                style=style),
                    "voltage_time", f"{res.cell_id}: voltage vs time; right: the first plating "
                    "step with its nucleation dip"))
        out.append((cycling.polarization_figure(data, a["polarization"], fail, title=res.cell_id,
                                                style=style),
                    "polarization", f"{res.cell_id}: polarization per half cycle"
                    + ("" if fail is None else f", {fail.kind} at {fail.time_h:.1f} h")))
    elif "cycling" in a and "data" in a:
        from echem.report.figures import cycling
        cyc, mass = a["cycling"], a.get("active_mass_g")
        cycles = a.get("profile_cycles", (1, 30, 50))
        present = [c for c in cycles if c in set(cyc.cycles["cycle"].tolist())]
        absent = [c for c in cycles if c not in present]
        out.append((cycling.voltage_capacity_figure(a["data"], cycles, active_mass_g=mass,
                                                    cycle_source=cyc.cycle_source,
                                                    title=res.cell_id, style=style), "profiles",
                    f"{res.cell_id}: voltage profiles of cycle"
                    f"{'s' if len(present) != 1 else ''} {', '.join(map(str, present)) or '(none)'}"
                    + (f" (cycle{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))} "
                       f"not in the data: the test has {int(cyc.cycles['cycle'].max())})"
                       if absent and len(cyc.cycles) else "")))
        out.append((cycling.capacity_figure(cyc.cycles, active_mass_g=mass, title=res.cell_id,
                                            style=style),
                    "capacity", f"{res.cell_id}: charge and discharge capacity and coulombic "
                    f"efficiency ({cyc.ce_convention_text}) per cycle"))
    if "phases" in a:
        from echem.report.figures import phases
        pm = a["phases"]
        out.append((phases.phase_figure(pm, title=res.cell_id, style=style), "phases",
                    f"{res.cell_id}: voltage vs x (Li per host atom) of the first lithiation, "
                    f"the DFT phase voltages dashed, each plateau labelled with its phase; "
                    f"x = {pm.x_max:.2f} reached ({pm.end_phase}); dQ/dV beside it"))
    return [render(fig, name, caption, style) for fig, name, caption in out]


def cell_overview(res: CellResult) -> dict:
    """What the experiment's overview draws of this cell (``overview.cell_overview``)."""
    from echem.report.figures import overview
    return overview.cell_overview(res)


def experiment_figures(result, style: str = "screen") -> list[Figure]:
    """The experiment's figures in the style named ``style``: the overview of the paper's
    Figure 5 (panels a-g, cells of a kind overlaid), then the cross-reference (DFT scores beside
    the measured metrics)."""
    from echem.report.figures import overview
    with drawing(STYLES[style]):
        out = overview.overview_figures(result.cells, STYLES[style])
        comparison = result.comparison
        if comparison is not None and len(comparison.dft_order):
            from echem.report.figures import compare
            out.append((compare.comparison_figure(comparison, result.group_scores, STYLES[style]),
                        "comparison",
                        "DFT scores of the measured anode phases (left, as the paper's Figure 4) "
                        "beside the measured metrics (right, Figure 5)"))
        return [render(fig, name, caption, STYLES[style]) for fig, name, caption in out]

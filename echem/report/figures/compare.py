"""The cross-reference as a figure: the DFT scores of the measured phases (paper Figure 4) beside
the measured metrics (Figure 5), each panel coloured so that the better phase is darker."""
from __future__ import annotations

import numpy as np
from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from echem.compare import METRICS, Comparison
from echem.report.figures.plotting import set_margins_in, text_width_in
from echem.report.figures.style import SCREEN, Style

LINE_IN = 1.2 / 72  # height of a line of text per point of font size, inches


def comparison_figure(comp: Comparison, group_scores=None, style: Style = SCREEN) -> Figure:
    """Left: DFT group scores (0 worst .. 1 best) of the measured phases, best DFT phase on top.
    Right: the measured metrics per phase, coloured by measured rank (1 = best), values printed."""
    phases = list(comp.dft_order)
    groups: list[str] = []
    fig = Figure(figsize=style.size_in(11, 0.9 + 0.55 * max(len(phases), 2)))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    if group_scores is not None and len(phases):
        gs = group_scores.reindex(phases)
        ax1.imshow(gs.to_numpy(dtype=float), cmap="Greens", vmin=0, vmax=1, aspect="auto")
        groups = [c.replace("_", " ") for c in gs.columns]
        ax1.set_xticks(range(gs.shape[1]), groups, rotation=20)
        for i in range(gs.shape[0]):
            for j in range(gs.shape[1]):
                v = gs.iat[i, j]
                ax1.text(j, i, "" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize="small")
    ax1.set_yticks(range(len(phases)), phases)
    # titles with y given: not re-placed from the tick labels at each save
    ax1.set_title("DFT scores (higher is better)", fontsize="medium", y=1.0)
    metrics = [m for m in METRICS if m in comp.measured.columns]
    ranks = np.full((len(phases), len(metrics)), np.nan)
    r = comp.rankings
    for j, m in enumerate(metrics):
        for i, p in enumerate(phases):
            hit = r[(r["metric"] == m) & (r["phase"] == p)]
            if len(hit):
                ranks[i, j] = hit["rank"].iloc[0]
    n = max(len(phases), 2)
    ax2.imshow(1 - (ranks - 1) / (n - 1), cmap="Blues", vmin=-0.2, vmax=1.2, aspect="auto")
    # fixed margins (inches) sized from the labels, instead of a layout engine: the phases left of
    # each panel, below them the group names (tick labels turned 20 degrees) or the metrics' names
    # wrapped to their columns' width, each unit on a line of its own
    tick_pt = FontProperties(size=rcParams["xtick.labelsize"]).get_size_in_points()
    small_pt = FontProperties(size="small").get_size_in_points()
    rows_in = text_width_in(phases, tick_pt) + 0.2
    right = 0.1
    column_in = (fig.get_figwidth() - 2 * rows_in - right) * 1.5 / 2.5 / max(len(metrics), 1)
    labels = [_wrap(METRICS[m][1], small_pt, column_in) + f"\n({METRICS[m][2]})" for m in metrics]
    ax2.set_xticks(range(len(metrics)), labels, fontsize="small")
    ax2.set_yticks(range(len(phases)), phases)
    for i, p in enumerate(phases):
        for j, m in enumerate(metrics):
            v = comp.measured.at[p, m] if p in comp.measured.index else np.nan
            ax2.text(j, i, "" if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize="small")
    ax2.set_title("measured (darker = better rank)", fontsize="medium", y=1.0)
    turn = np.radians(20)
    lines = max((label.count("\n") + 1 for label in labels), default=2)
    bottom = max(np.sin(turn) * text_width_in(groups, tick_pt) + np.cos(turn) * tick_pt * LINE_IN,
                 lines * small_pt * LINE_IN) + 0.15
    if labels:  # the last metric's label, centred under its column, may run past the axes
        right += max(0.0, text_width_in(labels[-1:], small_pt) / 2 - column_in / 2)
    set_margins_in(fig, left=rows_in, right=right, bottom=bottom, top=0.3, wgap=rows_in)
    return fig


def _wrap(text: str, fontsize, width_in: float) -> str:
    """``text`` broken into lines at spaces, each no wider than ``width_in`` (inches) at
    ``fontsize`` where a word allows."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width_in([lines[-1] + " " + word], fontsize) <= width_in:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)

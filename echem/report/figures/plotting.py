"""Plotting helpers shared by the figure modules."""
from __future__ import annotations

import numpy as np


def decimate_minmax(x, y, n_columns: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a long curve to the points that change how it looks at ``n_columns`` pixel columns.

    The x range is cut into ``n_columns`` equal columns; in each, the points with the smallest and
    largest y are kept (in their original order), so spikes and the envelope of noise survive.
    When x is not monotonic (a voltage-capacity loop), columns are runs of consecutive points
    instead. NaN points are dropped. Curves of at most 4 x ``n_columns`` points are returned as is.
    Only for drawing: analyses use the full data.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.all():
        x, y = x[ok], y[ok]
    n = x.size
    if n <= 4 * n_columns or n_columns < 1:
        return x, y
    dx = np.diff(x)
    if np.all(dx >= 0) or np.all(dx <= 0):
        span = x[-1] - x[0]
        col = np.floor((x - x[0]) / span * n_columns).astype(np.int64) if span != 0 else np.zeros(n, np.int64)
        col = np.clip(col, 0, n_columns - 1)
    else:
        col = np.arange(n) * n_columns // n
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    counts = np.diff(np.r_[starts, n])
    group = np.repeat(np.arange(starts.size), counts)

    def first_where(mask):
        idx = np.flatnonzero(mask)
        g = group[idx]
        return idx[np.r_[True, g[1:] != g[:-1]]]

    i_min = first_where(y == np.repeat(np.minimum.reduceat(y, starts), counts))
    i_max = first_where(y == np.repeat(np.maximum.reduceat(y, starts), counts))
    keep = np.unique(np.r_[0, i_min, i_max, n - 1])
    return x[keep], y[keep]


def ha_inside(fraction: float) -> str:
    """How to align a label centred over a point at ``fraction`` of its axes' width (0 left,
    1 right) so that it stays inside them: from the point rightwards near the left edge,
    leftwards near the right edge, centred elsewhere."""
    return "left" if fraction < 0.15 else "right" if fraction > 0.85 else "center"


def text_width_in(texts, fontsize) -> float:
    """Width (inches) of the widest line of ``texts`` in the default font at ``fontsize`` (points, or
    a size name such as "medium"), from the font's metrics: nothing is drawn. 0 for no texts."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=fontsize)
    lines = [line for t in texts for line in str(t).split("\n")]
    return max((text_to_path.get_text_width_height_descent(line, prop, ismath=False)[0]
                for line in lines), default=0.0) / 72.0


def ytick_labels_width_in(ax) -> float:
    """Width (inches) of the widest tick label the y axis of ``ax`` will show at its present
    limits (its own locators and formatters, minor ticks included: a log axis over less than a
    decade labels them), measured without drawing."""
    from matplotlib import rcParams

    axis = ax.yaxis
    lo, hi = sorted(axis.get_view_interval())
    labels = []
    for locs, fmt in ((axis.get_majorticklocs(), axis.get_major_formatter()),
                      (axis.get_minorticklocs(), axis.get_minor_formatter())):
        texts = fmt.format_ticks(locs)  # all of them, as the axis formats them
        labels += [t for x, t in zip(locs, texts) if lo <= x <= hi]
    return text_width_in(labels, rcParams["ytick.labelsize"])


def set_margins_in(fig, left: float, right: float, bottom: float, top: float,
                   hgap: float = 0.0, wgap: float = 0.0) -> None:
    """Place the subplots of ``fig`` with fixed margins, all in inches: from the figure's edges,
    and between rows (``hgap``) and columns (``wgap``) of its grid. A fixed layout instead of a
    layout engine, which measures every tick label at every save."""
    w_in, h_in = fig.get_size_inches()
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    nrows, ncols = grid.get_geometry()
    span_h = h_in - top - bottom
    span_w = w_in - left - right
    fig.subplots_adjust(left=left / w_in, right=1 - right / w_in, bottom=bottom / h_in,
                        top=1 - top / h_in,
                        hspace=hgap * nrows / (span_h - hgap * (nrows - 1)),
                        wspace=wgap * ncols / (span_w - wgap * (ncols - 1)))

"""Plotting helpers shared by the figure modules."""
from __future__ import annotations

import copy
import re

import numpy as np
from matplotlib.ticker import LogFormatterSciNotation, NullLocator


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


def column_margins(fig, axes, *, top: float = 0.3, right: float = 0.2, hgap: float = 0.0,
                   twins=(), columns=()) -> None:
    """Fixed margins (inches) around one column of ``axes``: room on the left for their widest y
    tick label and the y label (on the right likewise for ``twins``, axes from ``twinx``), a line
    of tick labels and the x label below, ``top`` above; with ``columns`` (the axes of further
    columns, one each), as much room between the columns as their y labels take. Cheaper than a
    layout engine, which measures every label again at every save."""
    margins = dict(bottom=0.5, top=top, hgap=hgap)
    # final heights first: they set the ticks
    set_margins_in(fig, left=0.8, right=right, wgap=0.8 if columns else 0.0, **margins)
    if twins:
        right = max(ytick_labels_width_in(ax) for ax in twins) + 0.36
    wgap = max((ytick_labels_width_in(ax) + 0.5 for ax in columns), default=0.0)
    set_margins_in(fig, left=max(ytick_labels_width_in(ax) for ax in axes) + 0.36, right=right,
                   wgap=wgap, **margins)


_MATHTEXT_POWER = re.compile(r"\$\\mathdefault\{([-−]?)(?:([0-9.]+)\\times)?10\^\{([-−]?\d+)\}\}\$")
_MATHTEXT_PLAIN = re.compile(r"\$\\mathdefault\{([-−]?[0-9.]+)\}\$")
_SUPERSCRIPT = str.maketrans("-−0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MINOR_TICKS_MAX_DECADES = 3  # log axes spanning more decades get no minor ticks


class _UnicodeLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (10^k, 2×10^k; the same ticks labelled) written with
    Unicode superscripts instead of mathtext, which is parsed again at every save and made the
    three log axes of the impedance figure cost more than all else drawn."""

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        m = _MATHTEXT_POWER.fullmatch(label)
        if m:
            sign, coeff, exp = m.groups()
            return f"{'−' if sign else ''}{coeff + '×' if coeff else ''}10{exp.translate(_SUPERSCRIPT)}"
        m = _MATHTEXT_PLAIN.fullmatch(label)
        return m.group(1) if m else label


def plain_log_labels(ax) -> None:
    """Log axes of ``ax`` labelled by :class:`_UnicodeLogFormatter` (major and minor ticks)."""
    for axis in (ax.xaxis, ax.yaxis):
        for fmt, put in ((axis.get_major_formatter(), axis.set_major_formatter),
                         (axis.get_minor_formatter(), axis.set_minor_formatter)):
            if type(fmt) is LogFormatterSciNotation:  # the log scale's own, settings kept
                new = copy.copy(fmt)
                new.__class__ = _UnicodeLogFormatter
                put(new)


def minor_ticks_if_few_decades(axis, values) -> None:
    """No minor ticks (2..9 x 10^k) on the log ``axis`` when ``values`` span more than
    MINOR_TICKS_MAX_DECADES decades: a spectrum's 6-9 decades carried some 80 minor ticks per axis,
    too dense to read and the costliest part of drawing the figure. Labelled decades stay."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and np.log10(v.max() / v.min()) > MINOR_TICKS_MAX_DECADES:
        axis.set_minor_locator(NullLocator())

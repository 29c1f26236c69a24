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

"""Benchmark: the cycling analyses on a 1,000,000-row synthetic symmetric-cell test.

    python benchmarks/analyses.py [--rows 1000000] [--repeat 5]

Builds a galvanostatic Li|Li-like test (plating/stripping half cycles of 1000 rows each, with rests,
noise, and a short circuit at 80 % of the time) in the common schema, then prints the median time
(of ``--repeat`` runs) of ``step_table``, ``cycle_table``, ``polarization``, ``failure`` and
``nucleation.overpotential``; and for drawing: matplotlib drawing all rows against drawing the
min/max-decimated curve (``echem.report.figures.plotting.decimate_minmax``), with their ratio, and the time and
size of an SVG (vector output, as a report would embed) of each.
Analyses always use every row; decimation is only for drawing.
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from echem.cycling import cycle_table, step_table
from echem.nucleation import overpotential
from echem.report.figures.plotting import decimate_minmax
from echem.symmetric import failure, polarization


def synthetic(rows: int, per_step: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Rest / plating / rest / stripping ... at 1 s per row; |V| plateau 30 mV with a spike at
    each step start, 0.2 mV noise, collapse to 1 mV after 80 % of the rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    step = np.arange(rows) // per_step + 1
    phase = (step - 1) % 4                      # 0 rest, 1 plating, 2 rest, 3 stripping
    current = np.select([phase == 1, phase == 3], [-0.2, 0.2], 0.0)
    k = np.arange(rows) % per_step
    u = 0.030 * (1 + 0.2 * np.exp(-k / 60.0))
    u = np.where(t > 0.8 * rows, 0.001, u)
    v = np.sign(current) * u + rng.normal(0, 2e-4, rows)
    cap = np.abs(current) * k / 3600.0
    types = np.array(["rest", "cc_discharge", "rest", "cc_charge"])[phase]
    return pd.DataFrame({
        "time_s": t, "voltage_V": v, "current_mA": current, "capacity_mAh": cap,
        "cycle": (step - 1) // 4 + 1, "step": step,
        "step_type": pd.Categorical(types, categories=["rest", "cc_charge", "cc_discharge"]),
    })


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def draw(x, y, fmt: str | None = None) -> int:
    """Draw on Agg (fmt None) or save as ``fmt`` into memory; returns the bytes written."""
    fig = Figure(figsize=(8, 4), dpi=100)
    fig.add_subplot().plot(x, y, lw=0.6)
    if fmt is None:
        fig.canvas.draw()
        return 0
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.tell()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = synthetic(args.rows)
    print(f"synthetic symmetric cell: {len(data):,} rows, {data['step'].iat[-1]} steps, "
          f"{data['cycle'].iat[-1]} cycles; median of {args.repeat} runs")
    for name, fn in [("step_table", lambda: step_table(data)),
                     ("cycle_table", lambda: cycle_table(data)),
                     ("polarization", lambda: polarization(data)),
                     ("failure", lambda: failure(data)),
                     ("nucleation.overpotential", lambda: overpotential(data))]:
        sec, out = timed(fn, args.repeat)
        print(f"  {name:26s} {sec * 1000:8.1f} ms")
    f = failure(data)
    print(f"  (failure found: {f.kind} at {f.time_h:.3f} h; planted after {0.8 * args.rows / 3600:.3f} h)")

    x, y = data["time_s"].to_numpy() / 3600.0, data["voltage_V"].to_numpy()
    t_dec, (xd, yd) = timed(lambda: decimate_minmax(x, y, 2000), args.repeat)
    t_draw_dec, _ = timed(lambda: draw(xd, yd), args.repeat)
    t_draw_all, _ = timed(lambda: draw(x, y), max(1, args.repeat // 2))
    print(f"drawing voltage vs time ({len(x):,} points, matplotlib Agg, 800x400 px):")
    print(f"  decimate_minmax -> {len(xd):,} points  {t_dec * 1000:8.1f} ms")
    print(f"  draw decimated                     {t_draw_dec * 1000:8.1f} ms")
    print(f"  draw all points                    {t_draw_all * 1000:8.1f} ms")
    print(f"  ratio all / (decimate + draw)      {t_draw_all / (t_dec + t_draw_dec):8.1f} x"
          "   (Agg already simplifies long line paths itself)")
    t_svg_dec, n_dec = timed(lambda: draw(xd, yd, "svg"), 1)
    t_svg_all, n_all = timed(lambda: draw(x, y, "svg"), 1)
    print(f"  SVG, decimated: {t_svg_dec * 1000:8.1f} ms, {n_dec / 1e6:6.2f} MB; all points: "
          f"{t_svg_all * 1000:8.1f} ms, {n_all / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()

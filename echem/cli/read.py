"""``echem read FILE [--to csv|parquet] [-o OUT]``: summary of a file, and conversion."""
from __future__ import annotations

import argparse
from pathlib import Path

from echem.io import read
from echem.output import atomic_write, write_csv
from echem.schema import Measurement


def register(sub) -> None:
    p = sub.add_parser("read", help="read one instrument file: print a summary, optionally convert",
                       description="Read one instrument file, print what it holds, and optionally "
                                   "convert it to CSV or Parquet in the common schema.")
    p.add_argument("file", type=Path)
    p.add_argument("--to", choices=("csv", "parquet", "bdf"),
                   help="convert to this format (bdf: Battery Data Format, -o OUT.bdf.csv or "
                        "OUT.bdf.parquet, with OUT.bdf.*.metadata.json)")
    p.add_argument("-o", "--output", type=Path,
                   help="output path (default: FILE's name with the new suffix, in the current folder)")
    p.set_defaults(func=run)


def summary(meas: Measurement) -> str:
    """A few lines saying what a Measurement holds, then the reader's warnings."""
    d = meas.data
    lines = [
        f"file:        {meas.source}",
        f"format:      {meas.format}",
        f"instrument:  {meas.instrument}",
        f"techniques:  {', '.join(meas.techniques) or '-'}",
        f"rows:        {len(d)}",
    ]
    if "time_s" in d and len(d):
        t0, t1 = float(d['time_s'].min()), float(d['time_s'].max())
        lines.append(f"time span:   {t0:.6g} s to {t1:.6g} s ({(t1 - t0) / 3600:.4g} h)")
    if "cycle" in d and len(d):
        lines.append(f"cycles:      {d['cycle'].nunique()} ({int(d['cycle'].min())}..{int(d['cycle'].max())})")
    if "step" in d and len(d):
        lines.append(f"steps:       {int(d['step'].max())}")
    if "spectrum" in d:
        n = int(d["spectrum"].dropna().nunique())
        lines.append(f"spectra:     {n}")
    if meas.start_time is not None:
        zone = " UTC" if meas.start_time.tzinfo is not None else " (local time, no offset in the file)"
        lines.append(f"start time:  {meas.start_time.replace(tzinfo=None).isoformat()}{zone}")
    lines.append(f"columns:     {', '.join(map(str, d.columns))}")
    if meas.truncated:
        lines.append("truncated:   yes: the file was cut off; its complete rows were read")
    for w in meas.warnings:
        lines.append(f"warning:     {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    meas = read(args.file)
    print(summary(meas))
    if args.to:
        suffix = ".bdf.csv" if args.to == "bdf" else "." + args.to
        out = args.output or Path(args.file.name).with_suffix(suffix)
        data = meas.data
        if args.to == "bdf":
            from echem.store import write_bdf
            write_bdf(meas, out)
        elif args.to == "csv":
            atomic_write(out, lambda tmp: write_csv(data, tmp))
        else:
            atomic_write(out, lambda tmp: data.to_parquet(tmp, index=False))
        print(f"wrote:       {out}")
    return 0

"""``echem report DIR [-o OUT] [--jobs N] [--db PATH] [--figure-style paper] [--quiet]``: the lab
report of a folder."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from echem import batch, metrics, store


def register(sub) -> None:
    p = sub.add_parser("report", help="process a folder of raw exports into a lab report",
                       description="Read DIR/experiment.toml (or infer cells from the files), analyse "
                                   "every cell with its protocol, write OUT/report.html, summary.csv, "
                                   "comparison.csv and cells/<id>/, and store the results in the "
                                   "results database.")
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument("-o", "--output", type=Path, default=Path("report"),
                   help="output folder (default: ./report); replaced whole on each run")
    p.add_argument("--jobs", type=int, default=None,
                   help="cells processed in parallel (default: the number of cores)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="results database: a file, sqlite:///FILE or postgresql://user@host/db "
                        f"(default: $ECHEM_DB or {store.redact(store.default_url())})")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the cells on the Dask cluster whose scheduler listens here "
                        "(e.g. tcp://10.0.0.5:8786); workers that do not see this machine's files at "
                        "the same paths are sent them as bytes")
    p.add_argument("--figure-style", choices=("screen", "paper"), default="screen",
                   help="screen: PNG and SVG for the HTML report (default); paper: journal "
                        "single-column width (3.5 in; 7 in for multi-panel figures), 8-pt type, "
                        "PNG at 300 dpi, SVG and PDF with the fonts embedded")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


class Progress:
    """A one-line progress bar on stderr, shown only on a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.files_done = 0

    def __call__(self, done: int, total: int, result) -> None:
        self.files_done += len(result.files) + len(result.info.get("unreadable", []))
        if not self.enabled:
            return
        width = 30
        fill = int(width * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] cells {done}/{total}, "
                         f"files {self.files_done}  {result.cell_id[:30]:<30}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


class _Counting:
    """The store, counting the result rows it adds (for the last line of the output)."""

    def __init__(self, store):
        self.store, self.added = store, 0

    def ingest(self, *args, **kwargs) -> int:
        n = self.store.ingest(*args, **kwargs)
        self.added += n
        return n


#: the key numbers per cell type on the console: (metric, short header)
CONSOLE = {"symmetric": (("nucleation_overpotential_mV", "η"), ("polarization_mV", "polarization"),
                         ("failure_time_h", "failure"), ("R_SEI_ohm", "R_SEI"), ("R_ct_ohm", "R_ct")),
           "half": (("x_max", "x reached"), ("capacity_retention_pct", "retention"),
                    ("mean_coulombic_efficiency", "mean CE")),
           "full": (("initial_discharge_capacity_mAh_g", "capacity"),
                    ("capacity_retention_pct", "retention"), ("retention_cycle", "at cycle"),
                    ("mean_coulombic_efficiency", "mean CE"))}


def console_summary(cells) -> str:
    """A short table of the key numbers per cell type, with units, rounded to their uncertainty
    (the report and summary.csv have the rest)."""
    from echem.report.numbers import metric_text, shown_unit

    blocks = []
    for kind, columns in CONSOLE.items():
        group = [c for c in cells if c.cell_type == kind]
        if not group:
            continue
        head = ["cell"] + [f"{h} ({shown_unit(metrics.spec(m))})" if shown_unit(metrics.spec(m))
                           else h for m, h in columns]
        rows = [[c.cell_id] + [("-" if c.metric(m) is None else
                                metric_text(c.metric(m), metrics.spec(m)).replace(" (no failure in the test)", ""))
                               for m, _ in columns] for c in group]
        widths = [max(len(str(r[k])) for r in [head] + rows) for k in range(len(head))]
        lines = [f"{kind} cells:"] + ["  " + "  ".join(str(v).rjust(w) if k else str(v).ljust(w)
                                                      for k, (v, w) in enumerate(zip(r, widths)))
                                      for r in [head] + rows]
        blocks.append("\n".join(lines))
    other = [c.cell_id for c in cells if c.cell_type not in CONSOLE]
    if other:
        blocks.append(f"cells of unknown type: {', '.join(other)}")
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:

    progress = Progress(sys.stderr.isatty() and not args.quiet)
    results = store.open(args.db)
    counting = _Counting(results)
    try:
        with contextlib.ExitStack() as stack:
            executor = None if args.scheduler is None else \
                stack.enter_context(batch.cluster_executor(args.scheduler))
            result = batch.run(args.folder, out=args.output, jobs=args.jobs, executor=executor,
                               store=counting, progress=progress, figure_style=args.figure_style)
    finally:
        results.close()
    added = counting.added

    print(console_summary(result.cells))
    print(f"\nwrote {args.output / 'report.html'} ({len(result.cells)} cells); "
          f"{added} new result rows in {results.url}")
    if result.skipped:
        names = ", ".join(Path(p).name for p in result.skipped[:5])
        print(f"skipped {len(result.skipped)} file(s) that are no instrument export: {names}"
              + (", ..." if len(result.skipped) > 5 else ""))
    n_warn = len(result.warnings) + sum(len(c.warnings) for c in result.cells)
    if n_warn:
        print(f"{n_warn} warnings (listed in the report)")
    if result.unreadable:
        print(f"\n{len(result.unreadable)} file(s) could not be read:", file=sys.stderr)
        for c in result.cells:
            for path in c.info.get("unreadable", []):
                print(f"  {c.cell_id}: {c.info['read_errors'].get(path, path)}", file=sys.stderr)
        return 1
    return 0

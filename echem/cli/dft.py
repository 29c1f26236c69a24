"""``echem dft show SYSTEM`` and ``echem dft rank SYSTEM [--weights ...]``: the DFT phase data of an
alloy system with units and sources, and the phase ranking of the paper's Figure 4."""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import pandas as pd

from dft.phases import DFTDataError, PhaseSet, load, systems
from dft.ranking import GROUPS, parse_weights, rank


def register(sub) -> None:
    p = sub.add_parser("dft", help="DFT phase data and phase ranking of an alloy system",
                       description="DFT phase data (with units and sources) and the phase ranking "
                                   "of an alloy system. Systems: " + ", ".join(systems()))
    dsub = p.add_subparsers(dest="dft_command", metavar="ACTION")

    show = dsub.add_parser("show", help="print the phase table with units and sources",
                           description="Print every quantity of every phase with its unit and "
                                       "source, then the system-level values.")
    show.add_argument("system", help="alloy system, e.g. Li-Ag")
    show.set_defaults(func=run_show)

    rk = dsub.add_parser("rank", help="rank the phases (paper, Figure 4)",
                         description="Rank the phases by chemical stability, Li insertion, "
                                     "mechanical properties and capacity (paper, Figure 4).")
    rk.add_argument("system", help="alloy system, e.g. Li-Ag")
    rk.add_argument("--weights", default="",
                    help="NAME=W,... by group (" + ", ".join(GROUPS) + ") or criterion "
                         "(voltage, adsorption, nucleation, diffusion, ductility, isotropy, "
                         "volume_expansion, theoretical_capacity); unnamed ones keep their defaults")
    rk.add_argument("--phases", default="",
                    help="comma-separated phases to rank (default: the alloy phases)")
    rk.add_argument("--samples", type=int, default=2000,
                    help="random weightings for the sensitivity (default 2000)")
    rk.add_argument("--seed", type=int, default=0, help="random seed of the sensitivity")
    rk.set_defaults(func=run_rank)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v or "-"
    try:
        if v is pd.NA or math.isnan(float(v)):
            return "-"
    except (TypeError, ValueError):
        return str(v)
    return f"{float(v):.5g}"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def show_text(ps: PhaseSet) -> str:
    """The text ``echem dft show`` prints."""
    t = ps.table
    out = [f"{ps.system}: {len(t)} phases ({ps.guest} in {ps.host}), data file {ps.path}",
           f"reference: {ps.reference}", ""]
    header = ["quantity", "unit", *ps.phases, "source"]
    rows = [["label", "", *t["label"].map(str), ""],
             [f"{ps.guest} per {ps.host}", "", *map(_fmt, t["guest_per_host"]), "formula"]]
    notes = []
    for q in ps.quantities:
        col = t[q]
        if col.isna().all():
            continue
        srcs = ps.sources[q]
        common = srcs[srcs != ""].mode()
        common = common.iloc[0] if len(common) else ""
        cells = []
        for phase in ps.phases:
            cell = _fmt(col[phase])
            if srcs[phase] and srcs[phase] != common:
                notes.append(f"{phase} {q}: source {srcs[phase]}")
                cell += "*"
            if (phase, q) in ps.notes:
                notes.append(f"{phase} {q}: {ps.notes[(phase, q)]}")
                cell += "*"
            cells.append(cell)
        rows.append([q, ps.units[q] or "-", *cells, common])
    out.append(_grid(header, rows))
    if notes:
        out += ["", "* notes:"] + [f"  {n}" for n in notes]
    if ps.values:
        out += ["", "system values:"]
        out.append(_grid(["name", "value", "unit", "source"],
                         [[name, _fmt_value(q.value), q.unit or "-", q.source]
                          for name, q in ps.values.items()]))
        value_notes = [f"  {name}: {q.note}" for name, q in ps.values.items() if q.note]
        if value_notes:
            out += ["", "notes on system values:", *value_notes]
    return "\n".join(out)


def _fmt_value(v) -> str:
    if isinstance(v, tuple):
        return " to ".join(_fmt(x) for x in v)
    return _fmt(v)


def rank_text(r, share) -> str:
    """The text ``echem dft rank`` prints."""
    out = [f"{r.system}: {' > '.join(r.order)}", ""]
    header = ["phase", "total", *GROUPS]
    rows = [[p, f"{r.scores[p]:.3f}", *(_fmt3(r.group_scores.at[p, g]) for g in GROUPS)]
            for p in r.order]
    out += ["scores (0 worst .. 1 best; group weights "
            + ", ".join(f"{g} {w:.3g}" for g, w in r.group_weights.items()) + "):",
            _grid(header, rows), ""]
    tab = r.table
    crit_rows = []
    for crit in dict.fromkeys(tab.index.get_level_values("criterion")):
        sub = tab.loc[crit]
        first = sub.iloc[0]
        cells = [f"{_fmt(sub.at[p, 'value'])} ({_fmt3(sub.at[p, 'score'])})" for p in r.order]
        unit = f" [{first['unit']}]" if first["unit"] else ""
        crit_rows.append([crit, first["group"], f"{first['weight']:.3g}",
                          first["better"] + (", log" if first["log_scale"] else ""),
                          first["quantity"] + unit, *cells])
    out += ["per criterion: value (score):",
            _grid(["criterion", "group", "weight", "better", "quantity", *r.order], crit_rows), ""]
    out += [f"sensitivity: share of {share.attrs.get('n', '')} random group weightings "
            "(Dirichlet) under which each phase ranks first:",
            _grid(["phase", "share"], [[p, f"{share[p]:.3f}"] for p in share.index])]
    return "\n".join(out)


def _fmt3(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _fail(message: str) -> int:
    print(f"echem: error: {message}", file=sys.stderr)
    return 1


def run_show(args: argparse.Namespace) -> int:
    try:
        ps = load(args.system)
    except DFTDataError as exc:
        return _fail(str(exc))
    print(show_text(ps))
    return 0


def run_rank(args: argparse.Namespace) -> int:
    try:
        ps = load(args.system)
        weights = parse_weights(args.weights)
        phases = [p.strip() for p in args.phases.split(",") if p.strip()] or None
        r = rank(ps, weights=weights, phases=phases)
        if args.samples < 1:
            raise ValueError("--samples must be >= 1")
        share = r.sensitivity(n=args.samples, seed=args.seed)
    except (DFTDataError, KeyError, ValueError) as exc:
        return _fail(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc))
    share.attrs["n"] = args.samples
    print(rank_text(r, share))
    return 0

"""``echem db list|show CELL|compare [--db PATH]``: the lab's history across experiments."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from echem import db
from echem.errors import EchemError


def register(sub) -> None:
    p = sub.add_parser("db", help="the results database: list cells, show a cell's history, compare",
                       description="Query the results database that `echem report` fills.")
    p.add_argument("--db", type=Path, default=None,
                   help=f"database file (default: $ECHEM_DB or {db.default_path()})")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every cell with its experiment and number of results")
    show = actions.add_parser("show", help="every result of a cell, newest first")
    show.add_argument("cell")
    actions.add_parser("compare", help="all cells, grouped by anode phase, against the DFT ranking")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = args.db or db.default_path()
    if not Path(path).exists():
        raise EchemError("no results database here yet; run `echem report` first", path)
    con = db.connect(path)
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        if args.action == "list":
            print(db.cells(con).to_string(index=False))
        elif args.action == "show":
            hist = db.history(con, args.cell)
            if hist.empty:
                raise EchemError(f"no cell {args.cell!r} in the database", path)
            print(hist.to_string(index=False))
        else:
            from echem.compare import compare
            latest = db.latest(con)
            if latest.empty:
                raise EchemError("the database holds no results", path)
            comp = compare(latest)
            print(comp.measured.to_string())
            print()
            for s in comp.sentences:
                print(s)
    con.close()
    return 0

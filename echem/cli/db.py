"""``echem db [--db URL] list|show CELL|compare``: the lab's history across experiments."""
from __future__ import annotations

import argparse

import pandas as pd

from echem import store
from echem.errors import EchemError


def register(sub) -> None:
    p = sub.add_parser("db", help="the results database: list cells, show a cell's history, compare",
                       description="Query the results database that `echem report` fills.")
    p.add_argument("--db", default=None, metavar="URL",
                   help="database: a file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
                        f"(default: $ECHEM_DB or {store.redact(store.default_url())})")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every cell with its experiment and number of results")
    show = actions.add_parser("show", help="every result of a cell, newest first, and its impedance "
                                           "per spectrum over the test")
    show.add_argument("cell")
    actions.add_parser("compare", help="all cells, grouped by anode phase, against the DFT ranking")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with store.open(args.db, create=False) as s, \
            pd.option_context("display.width", 200, "display.max_columns", 40):
        if args.action == "list":
            print(s.cells().to_string(index=False))
        elif args.action == "show":
            hist = s.history(args.cell)
            if hist.empty:
                raise _error(s, f"no cell {args.cell!r} in the database")
            print(hist.to_string(index=False))
            over = s.spectra(args.cell)
            if len(over):
                print("\nimpedance over the test (one row per spectrum):")
                print(over.drop(columns=["experiment", "cell_id"]).to_string(index=False))
        else:
            from echem.compare import compare
            latest = s.latest()
            if latest.empty:
                raise _error(s, "the database holds no results")
            comp = compare(latest)
            print(comp.measured.to_string())
            print()
            for sentence in comp.sentences:
                print(sentence)
    return 0


def _error(s: store.Store, message: str) -> EchemError:
    return EchemError(message, s.path) if s.path is not None else EchemError(f"{s.url}: {message}")

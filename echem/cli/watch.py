"""``echem watch DIR [-o OUT] [--db PATH] [--settle SECONDS] [--once] [--poll] [--jobs N]
[--scheduler ADDRESS]``: process every test as it finishes (``echem.watch``)."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from echem import batch, store
from echem.errors import EchemError


def register(sub) -> None:
    p = sub.add_parser("watch", help="process each test as it finishes: report and database kept current",
                       description="Watch DIR (recursively) for new and changed instrument files and "
                                   "manifests; once a file has not changed for --settle seconds, "
                                   "analyse the cells whose inputs changed, rebuild the report and "
                                   "store the results. Files still growing (a running test) give "
                                   "provisional results. Ctrl-C or SIGTERM stop it.")
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument("-o", "--output", type=Path, default=Path("report"),
                   help="report folder (default: ./report); each experiment below DIR gets its "
                        "report at the same relative place below it")
    p.add_argument("--db", default=None, metavar="URL",
                   help="results database: a file, sqlite:///FILE or postgresql://user@host/db "
                        f"(default: $ECHEM_DB or {store.redact(store.default_url())})")
    p.add_argument("--settle", type=float, default=30.0, metavar="SECONDS",
                   help="a file is taken once its size and time have not changed this long (default 30)")
    p.add_argument("--once", action="store_true", help="process what is there, then exit (for cron)")
    p.add_argument("--poll", action="store_true",
                   help="poll the folder instead of waiting for file-system events (network shares)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="keep every file taken as Battery Data Format Parquet here (default: a "
                        "folder 'bdf' beside a SQLite database; none for a server database)")
    p.add_argument("--jobs", type=int, default=1, help="cells processed in parallel (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the cells on the Dask cluster whose scheduler listens here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echem.watch import watch

    if not args.folder.is_dir():
        raise EchemError("not a folder", args.folder)
    if args.settle < 0:
        raise EchemError(f"--settle must be >= 0 seconds, got {args.settle}")
    results = store.open(args.db)

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        with contextlib.ExitStack() as stack:
            executor = stack.enter_context(batch.cluster_executor(args.scheduler)) \
                if args.scheduler else stack.enter_context(batch.local_executor(args.jobs))
            log(f"echem watch: watching {args.folder} (settle {args.settle:g} s), report in "
                f"{args.output}, results in {results.url}")
            data_dir = args.data_dir
            if data_dir is None and results.path is not None:
                data_dir = Path(results.path).parent / "bdf"
            watch(args.folder, args.output, store=results, settle_s=args.settle, once=args.once,
                  executor=executor, poll=args.poll, log=log, data_dir=data_dir)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: a clean stop
        print("echem watch: stopped", file=sys.stderr)
    finally:
        results.close()
    return 0

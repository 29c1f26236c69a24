"""The ``echem`` command line. Each subcommand lives in its own module of this package and has
``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit code)."""
from __future__ import annotations

import argparse
import importlib
import signal
import threading
import sys
from typing import NoReturn

from echem.errors import EchemError

#: subcommand modules, in the order ``echem --help`` lists them
COMMAND_MODULES = ("read", "report", "watch", "init", "db", "dft")


def build_parser() -> argparse.ArgumentParser:
    from echem import __version__

    parser = argparse.ArgumentParser(
        prog="echem",
        description="Read Neware/Biologic exports, analyse them, report, and compare with DFT.")
    parser.add_argument("--version", action="version", version=f"echem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"echem.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    try:
        return int(args.func(args) or 0)
    except EchemError as exc:
        print(f"echem: error: {exc}", file=sys.stderr)
        return 1
    except Terminated:
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into a pager or head that closed early
        sys.stderr.close()
        return 0
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it ends as Ctrl-C does."""


def _interrupt(signum, frame) -> NoReturn:
    """SIGTERM ends a command as Ctrl-C does: workers ended, staging folders removed."""
    raise Terminated


def entry() -> NoReturn:
    """The ``echem`` command as installed (console script)."""
    sys.exit(main())


if __name__ == "__main__":
    entry()

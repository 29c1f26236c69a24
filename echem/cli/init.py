"""``echem init DIR``: write the experiment.toml that inference would use for a folder without
one, with every guess and its reason in a comment, for the user to correct and keep."""
from __future__ import annotations

import argparse
from pathlib import Path

from echem import batch
from echem.errors import EchemError
from echem.manifest import manifest_path
from echem.output import atomic_write


def register(sub) -> None:
    p = sub.add_parser("init", help="draft DIR/experiment.toml from the files (types, areas guessed)",
                       description="Read every instrument file of DIR and write DIR/experiment.toml "
                                   "with the cell types, areas and masses a report without manifest "
                                   "would guess, each with its reason in a comment. Never replaces "
                                   "an existing manifest.")
    p.add_argument("folder", type=Path, metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = manifest_path(args.folder) if args.folder.is_dir() else args.folder / "experiment.toml"
    if not args.folder.is_dir():
        raise EchemError("not a folder", args.folder)
    if path.exists():
        raise EchemError("already exists; edit it, or move it away to draft a new one", path)
    text = batch.draft_manifest(args.folder)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"wrote {path}: check every guessed value (the comments say why each was chosen)")
    return 0

"""Database URLs as users give and see them (no SQLAlchemy import: the command line's help
uses these)."""
from __future__ import annotations

import os
import re
from pathlib import Path


def default_url() -> str:
    """``$ECHEM_DB`` if set, else the default SQLite file
    ``$XDG_DATA_HOME/echem/results.sqlite`` (``~/.local/share/echem/results.sqlite``)."""
    if os.environ.get("ECHEM_DB"):
        return os.environ["ECHEM_DB"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "echem" / "results.sqlite")


def redact(url: str | os.PathLike) -> str:
    """``url`` with any password (``user:PASSWORD@host``, ``?password=...``) shown as ``***``."""
    text = os.fspath(url)
    scheme = text.find("://")
    if scheme >= 0:
        rest = text[scheme + 3:]
        end = rest.find("?")
        at = rest.rfind("@", 0, end if end >= 0 else len(rest))
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            text = f"{text[:scheme + 3]}{user}:***{rest[at:]}"
    return re.sub(r"([?&]password=)[^&]*", r"\1***", text, flags=re.IGNORECASE)

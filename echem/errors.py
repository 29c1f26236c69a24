"""The project's typed errors.

Every error names the file (or protocol, or spectrum) it concerns and says what was wrong and what
to do. Readers raise :class:`UnsupportedFileError` for a file they do not know and
:class:`CorruptFileError` for a known format that is damaged or truncated.
"""
from __future__ import annotations

import traceback
from pathlib import Path


class EchemError(Exception):
    """Base class of every error this project raises on purpose."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.reason = message
        text = f"{self.path}: {message}" if self.path is not None else message
        super().__init__(text)


class UnsupportedFileError(EchemError):
    """The file is not in a format the project reads (or not the format its extension claims)."""


class CorruptFileError(EchemError):
    """The file is in a known format but damaged, truncated or inconsistent."""


class ProtocolError(EchemError):
    """A protocol or experiment manifest does not validate."""


class FitError(EchemError):
    """An equivalent-circuit (or other) fit could not be carried out."""


def describe(exc: BaseException) -> str:
    """An error as a cell's warning says it: an EchemError by its message (it names the file and
    what is wrong); anything else, a bug, with its type and the place it was raised."""
    if isinstance(exc, EchemError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else None
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"

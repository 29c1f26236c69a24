"""echem: read battery-cycler and potentiostat exports, analyse them, and report.

``echem.read(path)`` reads any supported file into a :class:`Measurement` in the common schema.
"""
from echem.errors import (CorruptFileError, EchemError, FitError, ProtocolError,
                          UnsupportedFileError)
from echem.io import read
from echem.schema import Measurement

__version__ = "0.1.0"

__all__ = ["read", "Measurement", "EchemError", "UnsupportedFileError", "CorruptFileError",
           "ProtocolError", "FitError", "__version__"]

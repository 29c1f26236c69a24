"""The results store: the results database (SQLite or PostgreSQL, by URL) and BDF data files.

``store.open(url_or_path)`` opens (and creates or migrates) the results database;
``Store.ingest`` stores one experiment's cell results; ``write_bdf`` writes a measurement in the
Battery Data Format. See :mod:`echem.store.database` and :mod:`echem.store.bdf`.
"""
from echem.store.database import (SCHEMA_VERSION, Store, default_url, open, redact,
                                  result_key)

__all__ = ["open", "Store", "default_url", "redact", "result_key", "SCHEMA_VERSION", "write_bdf"]


def write_bdf(measurement, path):
    """See :func:`echem.store.bdf.write_bdf` (imported on first use)."""
    from echem.store.bdf import write_bdf as _write

    return _write(measurement, path)

"""The results store: the results database (SQLite or PostgreSQL, by URL) and BDF data files.

``store.open(url_or_path)`` opens (and creates or migrates) the results database;
``Store.ingest`` stores one experiment's cell results; ``write_bdf`` writes a measurement in the
Battery Data Format. See :mod:`echem.store.database` and :mod:`echem.store.bdf`. SQLAlchemy is
imported on first use of the database, so that commands that do not touch it do not pay for it.
"""
from echem.store.urls import default_url, redact

__all__ = ["open", "Store", "default_url", "redact", "result_key", "SCHEMA_VERSION", "write_bdf"]

_DATABASE = ("open", "Store", "result_key", "SCHEMA_VERSION")


def __getattr__(name):
    if name in _DATABASE:
        from echem.store import database

        return getattr(database, name)
    raise AttributeError(f"module 'echem.store' has no attribute {name!r}")


def write_bdf(measurement, path):
    """See :func:`echem.store.bdf.write_bdf` (imported on first use)."""
    from echem.store.bdf import write_bdf as _write

    return _write(measurement, path)

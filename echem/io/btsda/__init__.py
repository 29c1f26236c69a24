"""Neware BTSDA exports: CSV/TXT and XLSX, flat record tables and the nested cycle/step/record layout.

BTSDA (the data-analysis program of Neware's BTS software) exports a test in two layouts:

* **flat**: one header line and one row per record (``DataPoint, Cycle Index, Step Index, Step Type,
  Time, Cumulative Time, Current(A), Voltage(V), Capacity(Ah), ..., Date``); in XLSX the record
  table is one sheet beside step, cycle and info sheets.
* **nested** (BTSDA 7 "general report"): three header lines - cycle header, step header (one
  leading empty field), record header (two leading empty fields) - then cycle rows, step rows and
  record rows interleaved, each level starting with as many empty fields as its header. The
  first step row of a cycle may share the cycle row's line, its fields after the cycle's
  (``meta["shared_step_lines"]`` counts them).

Layout deviations of real exports that are read (fastnda's ``btsda.py`` and cellpy's Neware
readers meet them): Windows-1252 text (``Current(µA)`` as byte 0xB5), units uA/mV/mAs/mWs, a
trailing delimiter on every line, header names with trailing blanks, preamble lines above a
tab-separated header, XLSX record sheets without cycle and step numbers (taken from the step
sheet's onset and end dates, as cellpy does; a CSV record table without them is read with a
warning of what is lost). Refused naming the line: a value where the header names no column (a name missing), a
shared line whose extra fields are no step row, a nested record row wider than its header.

Headers come in English or Chinese with various unit spellings; :data:`RECORD_FIELDS`,
:data:`STEP_FIELDS` and :data:`CYCLE_FIELDS` are the alias tables. Headers are compared after
NFKC normalisation (full-width brackets become ASCII), case folding and removal of spaces,
underscores, dots, hyphens and slashes; the unit in brackets decides the scale.

How the common schema is made (units in the names):

* ``time_s``: the cumulative/total time column if the file has one, else the absolute date-time
  (``Date``/``Realtime``/``绝对时间``) minus the first, else the step times accumulated step by step
  (pauses between steps are then lost: ``meta["time_source"]`` says which was used).
* ``current_mA`` from A/mA/uA; positive while charging. Neware writes discharge currents negative;
  if a file has no negative current at all but has discharge steps, those rows are negated.
* ``capacity_mAh``: the step capacity column, else charge + discharge capacity, as ``>= 0``.
* ``cycle``: the instrument's cycle number; ``step``: running index, new at every change of
  (cycle, step number) (flat) or at every step row (nested).
* ``step_type`` from Neware's step names (``CC Chg``/``CC_Chg``/``恒流充电``, ...; see
  :data:`STEP_NAMES`), unknown names -> ``"other"``.

Truncation: when a text file does not end with a line end (real exports may not), its last row
is compared with the rows before it of the same level: if it has fewer fields, or a cell whose
shape (digits before/after the point, separators, text) no earlier row of that column has (e.g.
``0.42`` where the column always has four decimals, ``16:2`` in a date), the file was cut inside
that row: the row is dropped, the complete rows are returned, ``truncated`` and a warning.
A file cut inside a character, inside its header lines, or with no complete record row raises
:class:`~echem.errors.CorruptFileError` (the last two) or is flagged as truncated (the first).

Modules, one job each: :mod:`~echem.io.btsda.headers` (names, units, line splitting),
:mod:`~echem.io.btsda.times` (numbers, durations, date-times), :mod:`~echem.io.btsda.layouts`
(rows of cells -> the common schema, flat and nested: the reference parser),
:mod:`~echem.io.btsda.fast` (the flat body through Arrow, proven equal to the reference),
:mod:`~echem.io.btsda.text` (CSV/TXT) and :mod:`~echem.io.btsda.xlsx` (XLSX). The writers used by
the sample data and the tests are in :mod:`echem.testing.btsda_writer`.
"""
from __future__ import annotations

from echem.io.btsda.headers import (
    CYCLE_FIELDS, RECORD_FIELDS, STEP_FIELDS, STEP_NAMES, UNITS, match_header, split_header,
    step_type_of)
from echem.io.btsda.layouts import normalize_table, parse_grid
from echem.io.btsda.text import read_csv, sniff_csv
from echem.io.btsda.times import datetimes, durations_s
from echem.io.btsda.xlsx import read_xlsx, sniff_xlsx

__all__ = ["CYCLE_FIELDS", "FORMATS", "RECORD_FIELDS", "STEP_FIELDS", "STEP_NAMES", "UNITS",
           "datetimes", "durations_s", "match_header", "normalize_table", "parse_grid",
           "read_csv", "read_xlsx", "sniff_csv", "sniff_xlsx", "split_header", "step_type_of"]

FORMATS = [
    ("btsda-xlsx", sniff_xlsx, read_xlsx),
    ("btsda-csv", sniff_csv, read_csv),
]

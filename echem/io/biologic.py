"""Biologic EC-Lab / BT-Lab files: binary ``.mpr`` and the ``.mpt`` text export.

``.mpr``: the file structure (magic, modules) is read as galvani's ``read_VMP_modules`` reads it
(its header dtypes and errors, over the bytes in memory without copying the modules); the
"VMP data" module is decoded with the project's column table (:mod:`echem.io.eclab_columns`), which
knows the ids galvani 0.5.0 lacks (182, 185, 215, ...), instead of galvani's own map, so that
``MPRfile``'s ``NotImplementedError`` on an unknown id does not stop a read. A single id unknown to
both is still read, its width taken from the record size, under the name ``column id N``.

``.mpt``: EC-Lab's text export, UTF-8 or latin-1, decimal point or decimal comma (German locale),
with the "Nb header lines : N" header block or (an export without header) starting at the column
header line.

Both readers produce the same columns, because an ``.mpt`` is EC-Lab's rendering of an ``.mpr``:

* ``time_s`` = ``time/s`` as EC-Lab writes it (seconds since the start of the experiment; a file
  that continues a linked experiment starts above 0).
* ``voltage_V`` = ``Ewe/V`` (or ``<Ewe>/V``): the working-electrode potential, which in a
  two-electrode cell (reference tied to the counter electrode) is the cell voltage. BT-Lab's BCD
  writes that same id as ``Ecell/V``; it is used when present. ``Ece/V`` and ``Ewe-Ece/V`` stay as
  instrument columns.
* ``current_mA`` = ``I/mA`` (or ``<I>/mA``): EC-Lab's sign, positive = anodic = oxidation at the WE
  = charge, as the schema wants. GCPL ``.mpr`` files store no current; there it is
  ``dq/mA.h`` * 3600 / dt, which is how EC-Lab's ``.mpt`` computes its ``<I>/mA`` (0 on row 1).
* ``capacity_mAh`` = ``|Q - Q0|`` with Q = ``(Q-Qo)/mA.h`` (or ``(Q-Qo)/C`` / 3.6) and Q0 its value
  on the last row of the step before (so the first row of a step carries the charge of its own
  interval, as EC-Lab's ``Q charge/discharge/mA.h`` does; 0 on the file's first row); NaN on
  impedance rows. Where a step is a whole half cycle it equals ``|Q charge/discharge/mA.h|``.
* ``cycle``: EC-Lab has two kinds of ``cycle number``. Files with ``half cycle`` (GCPL, MB, BCD,
  CA, CP) do not store it in the ``.mpr``; the ``.mpt`` shows ``half cycle // 2``, counting from 0
  (checked on every .mpt of the corpus), so ``cycle`` = ``half cycle // 2 + 1``. CV, PEIS and GEIS
  store it (id 24) counting from 1 (1..32 for the 32 spectra of vsp_peis_with), so ``cycle`` =
  ``cycle number`` there. 1 when neither is present.
* ``step_type``: rows with a frequency > 0 are ``eis``; otherwise from EC-Lab's ``mode`` (1 =
  galvanostatic -> cc_*, 2 = potentiostatic -> cv_*, 3 = rest -> ``rest``, or ``ocv`` in an OCV
  technique) and ``ox/red`` (1 = charge); a step holding both CC and CV rows of one direction is
  ``cccv_*``; potential sweeps (CV, CVA, LSV) are ``other``. Files without ``mode`` (PEIS, GEIS,
  ZIR, WAIT, OCV) take their technique's type.
* ``step`` = running index, new at every change of (``Ns``, or ``half cycle`` when there is no
  ``Ns``; step_type; spectrum).
* impedance rows (frequency > 0): ``frequency_Hz``, ``z_real_ohm`` = ``Re(Z)/Ohm``,
  ``z_imag_ohm`` = -``-Im(Z)/Ohm`` (computed from ``|Z|`` and ``Phase(Z)`` where the ``.mpr`` holds
  only those, as in modulo-bat files), ``spectrum`` 1..N: a new spectrum at every change of
  (``Ns``, ``cycle number``, ``z cycle``) or after a non-impedance row. These four are NaN on
  other rows; ``capacity_mAh`` is NaN on impedance rows.
* All other columns follow with their ``.mpt`` names; the names EC-Lab 11.62 changed (``Pwe/W``,
  ``Rwe/Ohm``, ``Energy we charge/W.h``, ...) are given their older names
  (:data:`~echem.io.eclab_columns.MPT_ALIASES`) so that an ``.mpr`` and its ``.mpt`` agree.

Fields (:class:`~echem.schema.Measurement`): ``instrument`` ("Biologic <device> (EC-Lab)"; the
``.mpr`` does not name the device, only its serial ``device_sn``), ``techniques``, ``start_time``
(local time, no offset: EC-Lab states none; .mpr: OLE date in the LOG module). meta: ``channel``, ``software_version``, ``comments``. Mass and electrode area: an ``.mpt`` gives
``active_mass_g`` and ``area_cm2`` (its header states the unit); an ``.mpr`` stores them in the
unit chosen in EC-Lab without saying which, so they come as ``active_mass_as_entered`` and
``electrode_area_as_entered`` (EC-Lab's defaults: mg, cm2).

Speed: an ``.mpr`` is read at least as fast as ``pandas.DataFrame(galvani.MPRfile(path).data)``
(``benchmarks/read_biologic.py``): the record fields are views of the file's bytes, every
derivation (step type by table look-up on the flag byte, steps, cycles, capacity, spectra) is a
few whole-array numpy operations, and :func:`~echem.schema.finalize` builds the frame once.

Bad input: an ``.mpr`` cut anywhere (except exactly between two modules, which leaves a valid
shorter file) raises :class:`CorruptFileError`. An ``.mpt`` cut inside its header raises
:class:`CorruptFileError`; cut inside the data, it returns the complete rows and sets
``truncated`` with a warning (the last row is complete only when it has every field and its last
field is a whole EC-Lab number: EC-Lab does not end the last row with a newline, so that cannot
tell).
"""
from __future__ import annotations

import functools
import io
import math
import re
import struct
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from galvani import BioLogic as galvani_biologic

from echem.errors import CorruptFileError, UnsupportedFileError
from echem.io import eclab_columns
from echem.schema import STEP_TYPES, Measurement, finalize, step_type_dtype

MPR_MAGIC = galvani_biologic.MPR_MAGIC
MPR_SNIFF = b"BIO-LOGIC MODULAR FILE"
MPT_MAGICS = (b"EC-Lab ASCII FILE", b"BT-Lab ASCII FILE")

#: first-line column names that mark an .mpt exported without its header block
_HEADERLESS_FIRST = ("mode", "freq/Hz", "time/s", "Ewe/V", "Ecell/V", "cycle number")

_SWEEP_TECHNIQUES = {"CV", "CVA", "LSV"}
_EIS_TECHNIQUES = {"PEIS", "GEIS", "ZIR", "SPEIS", "SGEIS"}


# --------------------------------------------------------------------------- sniffing

def sniff_mpr(head: bytes, path) -> bool:
    """True for an .mpr (also for a file cut inside its magic, so that the reader reports it)."""
    if head.startswith(MPR_SNIFF):
        return True
    return len(head) >= 4 and MPR_SNIFF.startswith(head)


def sniff_mpt(head: bytes, path) -> bool:
    """True for an EC-Lab/BT-Lab text export, with or without its header block."""
    text = head.lstrip(b"\xef\xbb\xbf")
    for magic in MPT_MAGICS:
        if text.startswith(magic) or (len(text) >= 6 and magic.startswith(text)):
            return True
    first = text.split(b"\n", 1)[0].decode("latin-1").rstrip("\r")
    fields = first.split("\t")
    if len(fields) < 3 or fields[0] not in _HEADERLESS_FIRST:
        return False
    known = {c.name for c in eclab_columns.COLUMNS.values()} | {
        f[0] for f in eclab_columns.FLAG_COLUMNS.values()}
    return fields[1] in known or fields[1] in eclab_columns.MPT_ALIASES


# --------------------------------------------------------------------------- .mpr

def read_mpr(path) -> Measurement:
    """Read an EC-Lab ``.mpr`` file into the common schema (see the module docstring).

    Raises CorruptFileError for a truncated or damaged file, UnsupportedFileError for a data
    module this reader cannot decode (several column ids unknown, unknown module version).
    """
    path = path if isinstance(path, Path) else Path(path)
    blob = _read_file(path)
    if not blob.startswith(MPR_MAGIC):
        if MPR_MAGIC.startswith(blob):
            raise CorruptFileError(f"truncated EC-Lab .mpr: only {len(blob)} bytes, inside the "
                                   "file magic", path)
        raise CorruptFileError("not a valid EC-Lab .mpr: the file magic is damaged", path)
    modules = _mpr_modules(blob, path)
    by_name: dict[str, list[dict]] = {}
    for mod in modules:
        by_name.setdefault(_text(mod["shortname"]).strip(), []).append(mod)
    if "VMP data" not in by_name:
        raise CorruptFileError("EC-Lab .mpr without a data module (truncated?)", path)
    if len(by_name["VMP data"]) != 1:
        n_data = len(by_name["VMP data"])
        raise UnsupportedFileError(f"EC-Lab .mpr with {n_data} data modules", path)
    settings = by_name.get("VMP Set", [None])[0]
    meta = _mpr_settings(settings) if settings is not None else {}
    technique = meta.get("techniques", [None])[0]
    raw, flag_byte = _mpr_data(by_name["VMP data"][0], technique, path)
    log = by_name.get("VMP LOG", [None])[0]
    if log is not None:
        meta.update(_mpr_log(log))
    if settings is not None and "start_time" not in meta:
        meta["start_date"] = _mpr_date(settings["date"])
    meta["modules"] = [_text(m["shortname"]).strip() for m in modules]
    meta["data_module_version"] = int(by_name["VMP data"][0]["version"])
    software = "BT-Lab" if technique == "BCD" else "EC-Lab"
    meta["instrument"] = f"Biologic ({software})"
    return _measurement(raw, meta, path, flag_byte)


def _read_file(path: Path) -> bytes:
    """The file's bytes (unbuffered: half the time of Path.read_bytes for a small file)."""
    with open(path, "rb", buffering=0) as fh:
        return fh.read()


def _mpr_modules(blob: bytes, path: Path) -> list[dict]:
    """The modules of an .mpr: galvani's ``read_VMP_modules`` loop with its header dtypes and
    its errors (turned into ours), over the bytes in memory: each module's ``data`` is a
    memoryview of ``blob``, not a copy, and header fields are plain Python values."""
    hdr_v1 = galvani_biologic.VMPmodule_hdr_v1
    hdr_v2 = galvani_biologic.VMPmodule_hdr_v2
    view = memoryview(blob)
    pos = len(MPR_MAGIC)
    modules = []
    try:
        while True:
            magic = blob[pos:pos + 6]
            if not magic:  # end of file
                break
            if magic != b"MODULE":
                raise ValueError("Found %r, expecting start of new VMP MODULE" % magic)
            pos += 6
            hdr_type = hdr_v1
            hdr_bytes = blob[pos:pos + hdr_v1.itemsize]
            if len(hdr_bytes) < hdr_v1.itemsize:
                raise OSError("Unexpected end of file while reading module header")
            if hdr_bytes[35:39] == b"\xff\xff\xff\xff":  # EC-Lab >= 11.50
                hdr_type = hdr_v2
                hdr_bytes = blob[pos:pos + hdr_v2.itemsize]
            pos += len(hdr_bytes)
            hdr = np.frombuffer(hdr_bytes, dtype=hdr_type, count=1)
            module = dict(zip(hdr_type.names, hdr[0].item()))
            module["offset"] = pos
            end = pos + module["length"]
            if end > len(blob):
                raise OSError("Unexpected end of file while reading data")
            module["data"] = view[pos:end]
            modules.append(module)
            pos = end
    except (OSError, ValueError, IndexError, TypeError) as exc:
        msg = str(exc).split("\n")[0].strip()
        if "Unexpected end of file" in msg:
            raise CorruptFileError(f"truncated EC-Lab .mpr: {msg} (the file ends inside a "
                                   "module)", path) from exc
        raise CorruptFileError(f"damaged EC-Lab .mpr: {msg}", path) from exc
    if not modules:
        raise CorruptFileError("truncated EC-Lab .mpr: no module after the file magic", path)
    return modules


def _mpr_data(module: dict, technique: str | None,
              path: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Decode the "VMP data" module with the project's column table: .mpt name -> column array
    (the record fields as read-only views of the module's bytes; flags as int64 arrays), and
    the flag byte per row (as intp) when it holds both ``mode`` and ``ox/red`` (else None)."""
    raw = module["data"]  # bytes-like (a memoryview of the file)
    version = int(module["version"])
    if len(raw) < 6:
        raise CorruptFileError("EC-Lab .mpr data module too short", path)
    n_rows = int.from_bytes(raw[:4], "little")
    n_cols = raw[4]
    if version == 0:
        if raw[5]:  # one byte per column id (old EC-Lab)
            ids = tuple(raw[5:5 + n_cols])
            start = 100
        else:  # two bytes per id, big-endian (galvani keeps the low byte)
            ids = tuple(np.frombuffer(raw[5:5 + 2 * n_cols], ">u2").tolist())
            start = 1007
    elif version in (2, 3):
        ids = tuple(np.frombuffer(raw[5:5 + 2 * n_cols], "<u2").tolist())
        start = 405 if version == 2 else 406
    else:
        raise UnsupportedFileError(f"EC-Lab .mpr data module version {version} is not known", path)
    if len(ids) != n_cols or len(raw) < start:
        raise CorruptFileError("EC-Lab .mpr data module header is cut short", path)
    n_body = len(raw) - start

    fields, flags, unknown, dtype = _layout(ids, technique, version)
    if unknown:
        known_size = sum(np.dtype(d).itemsize for _, d in fields if d is not None)
        width = (n_body // n_rows - known_size) if n_rows else 0
        if (len(unknown) == 1 and n_rows and n_body % n_rows == 0
                and width in (1, 2, 4, 8)):
            width_dtype = {1: "u1", 2: "<u2", 4: "<f4", 8: "<f8"}[width]
            dtype = np.dtype([(n, d if d is not None else width_dtype) for n, d in fields])
        else:
            raise UnsupportedFileError(
                f"EC-Lab .mpr data column id(s) {list(unknown)} are not in the column table "
                "(echem/io/eclab_columns.py); export the file to .mpt in EC-Lab and read that, "
                "or report the ids with the .mpt column header", path)
    if n_body != n_rows * dtype.itemsize:
        raise CorruptFileError(
            f"EC-Lab .mpr data module holds {n_body} bytes for {n_rows} rows of "
            f"{dtype.itemsize} bytes; truncated or damaged", path)
    rec = np.frombuffer(raw, dtype=dtype, count=n_rows, offset=start)
    out: dict[str, np.ndarray] = {}
    flag_byte = None
    for name in dtype.names:
        if name == "flags":
            byte = rec["flags"].astype(np.intp)  # (the index type of take, once)
            if {"mode", "ox/red"} <= {f[0] for f in flags}:
                flag_byte = byte
            # every flag at once: row j of the table maps the flag byte to flag j's value
            values = _flag_table(flags).take(byte, axis=1)
            for (fname, _mask, _dtype), column in zip(flags, values):
                out[fname] = column
        else:
            out[name] = rec[name]  # a read-only view of the file's bytes; finalize copies it
    return out, flag_byte


@functools.lru_cache(maxsize=64)
def _flag_table(flags: tuple[tuple[str, int, str], ...]) -> np.ndarray:
    """int64 table (flag, byte value) -> the flag's value: ``byte & mask``, or ``!= 0`` for a
    "bool" flag."""
    byte = np.arange(256, dtype=np.int64)
    rows = [(byte & mask) != 0 if dtype == "bool" else byte & mask for _, mask, dtype in flags]
    table = np.array(rows, dtype=np.int64).reshape(len(flags), 256)
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=256)
def _layout(ids: tuple[int, ...], technique: str | None, version: int):
    """The record layout of a data module with column ``ids``: (fields [(name, dtype or None
    for an unknown id)], flags [(name, mask, dtype)], unknown ids, numpy dtype or None)."""
    fields: list[tuple[str, str | None]] = []
    flags: list[tuple[str, int, str]] = []
    names: dict[str, int] = {}
    unknown: list[int] = []
    for cid in ids:
        key = cid & 0xFF if version == 0 else cid
        fl = eclab_columns.flag(key)
        if fl is not None:
            if not flags:
                fields.append(("flags", "u1"))
            flags.append(fl)
            continue
        col = eclab_columns.lookup(cid, ids, technique, version)
        if col is None:
            unknown.append(cid)
            name, dtype = f"column id {cid}", None
        else:
            name, dtype = col.name, col.dtype
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f"{name} {names[name]}"
        fields.append((name, dtype))
    dtype = None if unknown else np.dtype(fields)
    return tuple(fields), tuple(flags), tuple(unknown), dtype


def _mpr_settings(module: dict) -> dict:
    """Technique, comments, mass and area from the settings module (offsets after yadg)."""
    data = bytes(module["data"])
    meta: dict = {}
    if data:
        short, _long = eclab_columns.TECHNIQUES.get(data[0], (f"technique id {data[0]}", None))
        meta["techniques"] = [short]
    comments = _pascal(data, 0x0007)
    if comments:
        meta["comments"] = comments
    # Stored in the unit chosen in EC-Lab (default mg and cm2), and the .mpr does not say which:
    # peis.issue_225 holds 113.1 where its .mpt says "113.100 mm2" (1.131 cm2). So the values go
    # to meta as entered; active_mass_g / area_cm2 only come from an .mpt header.
    mass = _f4(data, 0x0107)
    if mass is not None and 0 < mass < 1e12:
        meta["active_mass_as_entered"] = mass
    area = _f4(data, 0x0211)
    if area is not None and 0 < area < 1e12:
        meta["electrode_area_as_entered"] = area
    return meta


def _mpr_log(module: dict) -> dict:
    """Channel, software version, device serial and start time from the LOG module."""
    data = bytes(module["data"])
    meta: dict = {}
    if len(data) > 0x0009:
        meta["channel"] = str(data[0x0009] + 1)
    version = _pascal(data, 0x03B7)
    if version and re.fullmatch(r"[\d.]+", version):
        meta["software_version"] = version
    serial = _pascal(data, 0x03CF)
    if serial and serial.isalnum():
        meta["device_sn"] = serial
    for offset in (0x0249, 465, 469, 473):  # galvani's candidate offsets; yadg: 0x249
        days = _f8(data, offset)
        if days is not None and 30000 < days < 80000:
            start = datetime(1899, 12, 30) + timedelta(days=days)
            meta["start_time"] = start.isoformat(timespec="milliseconds")
            break
    return meta


_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d\d)")


def _mpr_date(raw: bytes) -> str | None:
    """The settings module's date as ISO (galvani's parse_BioLogic_date: %m/%d/%y, %m-%d-%y or
    %m.%d.%y), None when it does not parse. The plain form is parsed here without
    time.strptime (a fifth of a small file's read time); anything else goes to galvani."""
    try:
        text = bytes(raw).decode("ascii")
        m = _DATE.fullmatch(text)
        if m:
            yy = int(m.group(4))
            year = yy + (1900 if yy >= 69 else 2000)  # strptime's %y
            return date(year, int(m.group(1)), int(m.group(3))).isoformat()
        return galvani_biologic.parse_BioLogic_date(bytes(raw)).isoformat()
    except (ValueError, UnicodeDecodeError):
        return None


def _text(raw) -> str:
    return bytes(raw).decode("latin-1")


def _pascal(data: bytes, offset: int) -> str | None:
    if offset >= len(data):
        return None
    n = data[offset]
    if offset + 1 + n > len(data):
        return None
    return data[offset + 1:offset + 1 + n].decode("latin-1").strip() or None


def _f4(data: bytes, offset: int) -> float | None:
    if offset + 4 > len(data):
        return None
    (v,) = struct.unpack_from("<f", data, offset)
    return v if math.isfinite(v) else None


def _f8(data: bytes, offset: int) -> float | None:
    if offset + 8 > len(data):
        return None
    (v,) = struct.unpack_from("<d", data, offset)
    return v if math.isfinite(v) else None


# --------------------------------------------------------------------------- .mpt

_FLOAT = re.compile(r"-?\d[.,]\d+E[+-]\d{3}|-?(?:nan|NaN|inf|Inf)")


def read_mpt(path) -> Measurement:
    """Read an EC-Lab ``.mpt`` text export into the common schema (see the module docstring)."""
    path = path if isinstance(path, Path) else Path(path)
    blob = _read_file(path)
    if blob.startswith(b"\xef\xbb\xbf"):
        blob = blob[3:]
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        text = blob.decode("latin-1")
    lines = text.splitlines(keepends=True)
    if not lines:
        raise CorruptFileError("empty EC-Lab .mpt", path)
    first = lines[0].rstrip("\r\n")
    header: list[str] = []
    if first.startswith(("EC-Lab ASCII FILE", "BT-Lab ASCII FILE")):
        if len(lines) < 2 or not lines[1].endswith("\n"):
            raise CorruptFileError("truncated EC-Lab .mpt: the file ends inside its header", path)
        m = re.match(r"Nb header lines\s*:\s*(\d+)\s*$", lines[1])
        if not m:
            raise CorruptFileError("EC-Lab .mpt without a valid 'Nb header lines : N' line", path)
        n_header = int(m.group(1))
        if n_header < 3:
            raise CorruptFileError(f"EC-Lab .mpt declares {n_header} header lines (< 3)", path)
        if len(lines) < n_header:
            raise CorruptFileError(
                f"truncated EC-Lab .mpt: {len(lines)} lines, but the header alone has "
                f"{n_header}", path)
        header = [ln.rstrip("\r\n") for ln in lines[2:n_header - 1]]
        col_index = n_header - 1
    elif any(("EC-Lab ASCII FILE".startswith(first), "BT-Lab ASCII FILE".startswith(first))):
        raise CorruptFileError("truncated EC-Lab .mpt: the file ends inside its first line", path)
    else:
        col_index = 0
    col_line = lines[col_index]
    if not col_line.endswith("\n") and not col_line.endswith("\t"):
        raise CorruptFileError("truncated EC-Lab .mpt: the file ends inside the column header "
                               "line", path)
    names = col_line.rstrip("\r\n").split("\t")
    if names and names[-1] == "":
        names = names[:-1]
    if len(names) < 2 or "time/s" not in names and "freq/Hz" not in names:
        raise CorruptFileError("EC-Lab .mpt column header line has no time/s or freq/Hz column",
                               path)
    body = lines[col_index + 1:]
    while body and not body[-1].strip():
        body.pop()
    if "" in names and body:
        # EC-Lab 11.61 wrote "...Rwe-ce/Ohm<tab><tab>Ewe-Ece/V" with no data under the last
        # two names (peis.issue_225.with_ece.mpt): cut the names to the first row's width
        n_first = len(body[0].rstrip("\r\n").rstrip("\t").split("\t"))
        if n_first < len(names) and "" in names[n_first:]:
            names = names[:n_first]
    names = [n if n else f"(unnamed column {i + 1})" for i, n in enumerate(names)]
    names = _dedupe(names)
    truncated = False
    if body and not _complete_row(body[-1], names):
        body.pop()
        truncated = True
    if body:
        _check_widths(body, len(names), col_index + 1, path)
        data_text = "".join(body).replace(",", ".")
        try:
            raw = pd.read_csv(io.StringIO(data_text), sep="\t", header=None,
                              usecols=range(len(names)), dtype=np.float64,
                              engine="c", na_filter=True)
        except (ValueError, pd.errors.ParserError, IndexError) as exc:
            msg = str(exc).split("\n")[0]
            raise CorruptFileError(f"EC-Lab .mpt data rows do not parse as numbers: {msg}",
                                   path) from exc
        raw.columns = names
        if len(raw) != len(body):
            raise CorruptFileError("EC-Lab .mpt data rows are inconsistent", path)
    else:
        raw = pd.DataFrame({n: np.zeros(0) for n in names})
    for name in ("mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.",
                 "Ns", "I Range", "half cycle", "z cycle"):
        if name in raw:
            v = raw[name].to_numpy()
            if np.isfinite(v).all() and (np.abs(v) < 2.0**53).all():
                raw[name] = v.astype(np.int64)
    for new, old in eclab_columns.MPT_ALIASES.items():
        if new in raw and old not in raw and new not in ("Ecell/V", "<Ecell>/V"):
            raw = raw.rename(columns={new: old})
    meta = _mpt_header_meta(header)
    if not header:
        meta["techniques"] = ["PEIS"] if "freq/Hz" in raw else []
    if truncated:
        meta["truncated"] = True
        meta["warnings"] = ["the file ends inside a row: it was cut off; the incomplete last row "
                            "was dropped"]
    return _measurement({name: raw[name].to_numpy() for name in raw.columns}, meta, path)


def _fields(line: str) -> int:
    """Fields of an .mpt data line (a trailing tab ends the line, it opens no field)."""
    line = line.rstrip("\r\n")
    return line.count("\t") + 1 - line.endswith("\t")


def _check_widths(body: list[str], n_names: int, header_line: int, path: Path) -> None:
    """CorruptFileError naming the line when a data row has more or fewer fields than the
    column header line (line ``header_line``) has names: a header with a name missing or extra
    would put every value after it under the wrong name."""
    tabs = sum(line.count("\t") - line.rstrip("\r\n").endswith("\t") for line in body) \
        if len(body) < 64 else None
    if tabs is None:
        text = "".join(body)
        trailing = text.count("\t\n") + text.count("\t\r")
        tabs = text.count("\t") - trailing
    if tabs == len(body) * (n_names - 1):
        n_first = _fields(body[0])
        if n_first == n_names:
            return
    for k, line in enumerate(body):
        n = _fields(line)
        if n != n_names:
            where = f"line {header_line + 1 + k}"
            if k == 0:
                raise CorruptFileError(
                    f"line {header_line}: the column header names {n_names} columns but the data "
                    f"rows ({where} on) have {n} fields: a column name is missing or extra, so "
                    "the values cannot be put under their names; export the file again", path)
            raise CorruptFileError(f"{where}: {n} fields where the column header (line "
                                   f"{header_line}) names {n_names}: the row is damaged", path)


_INT_COLUMNS = ("mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.",
                "Ns", "I Range", "half cycle", "z cycle")


def _complete_row(line: str, names: list[str]) -> bool:
    """Whether the last data line is whole: every field, and a last field that is a whole
    EC-Lab number (an integer in an integer column, else d.dddE+ddd)."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) == len(names) + 1 and fields[-1] == "":
        fields = fields[:-1]
    if len(fields) != len(names):
        return False
    last = fields[-1].strip()
    if names[-1] in _INT_COLUMNS:
        return bool(re.fullmatch(r"-?\d+", last))
    return bool(_FLOAT.fullmatch(last))


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} {seen[n]}")
    return out


_LONG_TO_SHORT = {long: short for short, long in eclab_columns.TECHNIQUES.values()}


def _mpt_header_meta(header: list[str]) -> dict:
    """Technique, channel, start time, device, software, mass, area, comments from the header."""
    meta: dict = {"techniques": []}
    comments = []
    for line in header:
        s = line.strip()
        if s in _LONG_TO_SHORT and not meta["techniques"]:
            meta["techniques"] = [_LONG_TO_SHORT[s]]
        elif s.startswith("Run on channel"):
            meta["channel"] = s.split(":", 1)[1].strip().split(" ")[0]
        elif s.startswith("Acquisition started on"):
            value = s.split(":", 1)[1].strip()
            for fmt in ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%m.%d.%Y %H:%M:%S.%f"):
                try:
                    meta["start_time"] = datetime.strptime(value, fmt).isoformat(
                        timespec="milliseconds")
                    break
                except ValueError:
                    continue
        elif s.startswith("Device :"):
            dev = s.split(":", 1)[1].strip()
            meta["device"] = dev.split(" (SN")[0].strip()
            sn = re.search(r"\(SN (\w+)\)", dev)
            if sn:
                meta["device_sn"] = sn.group(1)
        elif re.match(r"(EC-Lab|BT-Lab) for windows v", s, re.IGNORECASE):
            meta["software"] = "BT-Lab" if s.upper().startswith("BT-LAB") else "EC-Lab"
            meta["software_version"] = re.search(r"v([\d.]+)", s).group(1)
        elif s.startswith("Comments :"):
            c = s.split(":", 1)[1].strip()
            if c:
                comments.append(c)
        elif s.startswith("Mass of active material"):
            m = re.search(r":\s*([-\d.,]+)\s*(mg|g)", s)
            if m:
                v = float(m.group(1).replace(",", "."))
                meta["active_mass_g"] = v / 1000.0 if m.group(2) == "mg" else v
        elif s.startswith("Electrode surface area"):
            m = re.search(r":\s*([-\d.,]+)\s*(cm|mm)", s)
            if m:
                v = float(m.group(1).replace(",", "."))
                meta["area_cm2"] = v / 100.0 if m.group(2) == "mm" else v
    if comments:
        meta["comments"] = "\n".join(comments)
    software = meta.get("software", "EC-Lab")
    device = meta.get("device")
    meta["instrument"] = f"Biologic {device} ({software})" if device else f"Biologic ({software})"
    return meta


# --------------------------------------------------------------------------- common schema

#: step_type codes: index into STEP_TYPES
_T = {name: np.int8(i) for i, name in enumerate(STEP_TYPES)}
_ACTIVE = np.zeros(len(STEP_TYPES), dtype=bool)
_ACTIVE[[_T["cc_charge"], _T["cc_discharge"], _T["cv_charge"], _T["cv_discharge"]]] = True
#: step_type code -> class of the first step split: active 0, rest/ocv 1, eis 2, other 3
_CLASS = np.full(len(STEP_TYPES), 3, dtype=np.int8)
_CLASS[_ACTIVE] = 0
_CLASS[[_T["rest"], _T["ocv"]]] = 1
_CLASS[_T["eis"]] = 2


@functools.lru_cache(maxsize=16)
def _mode_table(technique: str | None) -> np.ndarray:
    """step_type code of a row by ``mode * 2 + charge`` (EC-Lab mode 0..3; charge 1 or 0)."""
    other, rest = _T["other"], _T["ocv"] if technique == "OCV" else _T["rest"]
    cv = (other, other) if technique in _SWEEP_TECHNIQUES else (_T["cv_discharge"],
                                                                _T["cv_charge"])
    table = np.array([other, other, _T["cc_discharge"], _T["cc_charge"], *cv, rest, rest],
                     dtype=np.int8)
    table.flags.writeable = False
    return table


_MODE_MASK = eclab_columns.FLAG_COLUMNS[1][1]
_OXRED_MASK = eclab_columns.FLAG_COLUMNS[2][1]


@functools.lru_cache(maxsize=16)
def _flag_byte_table(technique: str | None) -> np.ndarray:
    """step_type code of a row by its .mpr flag byte: :func:`_mode_table` of (mode bits,
    ox/red bit)."""
    by_mode = _mode_table(technique)
    table = np.array([by_mode[(b & _MODE_MASK) * 2 + (1 if b & _OXRED_MASK else 0)]
                      for b in range(256)], dtype=np.int8)
    table.flags.writeable = False
    return table


#: raw columns the derivations below read (besides their copy into the frame): made contiguous
#: first, one pass over the strided record field instead of one per read
_REUSED = ("Ns", "half cycle", "cycle number", "(Q-Qo)/mA.h")


def _changes(n: int, *keys: np.ndarray) -> np.ndarray:
    """Row mask: True on row 0 and on every row where any of the 1-D ``keys`` differs from the
    row before (NaN counts as a change, as in ``!=``)."""
    if not keys or not n:
        new = np.zeros(n, dtype=bool)
        new[:1] = True
        return new
    new = np.empty(n, dtype=bool)
    new[0] = True
    rest = new[1:]  # a view: written in place
    np.not_equal(keys[0][1:], keys[0][:-1], out=rest)
    for k in keys[1:]:
        rest |= k[1:] != k[:-1]
    return new


def _measurement(raw: dict[str, np.ndarray], meta: dict, path: Path,
                 flag_byte: np.ndarray | None = None) -> Measurement:
    """Map EC-Lab columns (by their .mpt names; ``raw`` maps name -> 1-D array) onto the common
    schema, all derivations on numpy arrays and one DataFrame built at the end.

    ``flag_byte``: an .mpr's flag byte per row, holding ``mode`` and ``ox/red`` (the step type
    then comes from it by one table look-up)."""
    n = len(next(iter(raw.values()))) if raw else 0
    for name in _REUSED:  # one pass over a strided record field, then contiguous reads
        values = raw.get(name)
        if values is not None and not values.flags.c_contiguous:
            raw[name] = np.ascontiguousarray(values)
    techniques = [t for t in meta.get("techniques", []) if t]
    technique = techniques[0] if techniques else None
    df: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(*names):
        for name in names:
            if name in raw:
                used.add(name)
                return raw[name].astype(np.float64, copy=False)
        return None

    time = take("time/s")
    if time is None:
        raise CorruptFileError("EC-Lab file without a time/s column", path)
    df["time_s"] = time
    voltage = take("Ewe/V", "Ecell/V", "<Ewe>/V", "<Ecell>/V")
    if voltage is not None:
        df["voltage_V"] = voltage
    current = take("I/mA", "<I>/mA")
    if current is None and "dq/mA.h" in raw and n:
        # GCPL .mpr files store no current; EC-Lab's .mpt shows <I>/mA = dq / dt (mA.h / h),
        # 0 on the first row: the same here (equal to the .mpt to 1e-15 on the corpus)
        # (time and dq contiguous first: each is read here and copied into the frame)
        time = df["time_s"] = np.ascontiguousarray(time)
        raw["dq/mA.h"] = np.ascontiguousarray(raw["dq/mA.h"])
        dq = raw["dq/mA.h"].astype(np.float64, copy=False)
        dt = time[1:] - time[:-1]
        current = np.zeros(n)
        np.divide(dq[1:] * 3600.0, dt, out=current[1:], where=dt > 0)
    if current is not None:
        df["current_mA"] = current

    freq = _first(raw, "freq/Hz")
    if freq is None:
        is_eis = None  # (no impedance row)
    elif technique in _EIS_TECHNIQUES:
        is_eis = np.ones(n, dtype=bool)
    else:
        is_eis = freq > 0
    all_eis = is_eis is not None and bool(is_eis.all())
    any_eis = all_eis or (is_eis is not None and bool(is_eis.any()))

    # step type per row, as codes into STEP_TYPES
    mode = raw.get("mode")
    oxred = raw.get("ox/red")
    maybe_cccv = mode is not None  # whether the file may hold both CC and CV rows
    if not all_eis and flag_byte is None:
        charge = (oxred == 1) if oxred is not None else (
            (current > 0) if current is not None else np.ones(n, dtype=bool))
    if all_eis:  # an impedance technique (PEIS, GEIS, ZIR): one type, one class
        stype = np.full(n, _T["eis"], dtype=np.int8)
        maybe_cccv = False
    elif flag_byte is not None:
        # the table below, indexed by the flag byte (mode and ox/red bits) itself
        stype = _flag_byte_table(technique).take(flag_byte)
        per_type = np.bincount(stype, minlength=len(STEP_TYPES)).tolist()
        maybe_cccv = bool((per_type[_T["cc_charge"]] or per_type[_T["cc_discharge"]])
                          and (per_type[_T["cv_charge"]] or per_type[_T["cv_discharge"]]))
    elif mode is not None and mode.dtype.kind in "iu" and n and 0 <= mode.min() \
            and mode.max() <= 3:
        # table (mode 0..3, charge 1/0) -> code, as the branch below
        stype = _mode_table(technique).take(mode * 2 + charge)
        counts = np.bincount(mode, minlength=4)
        maybe_cccv = bool(counts[1] and counts[2]) and technique not in _SWEEP_TECHNIQUES
    elif mode is not None:
        # codes: cc_charge/cc_discharge and cv_charge/cv_discharge are adjacent, charge first
        direction = (~charge).view(np.int8)
        stype = np.full(n, _T["other"], dtype=np.int8)
        cc = mode == 1
        stype[cc] = _T["cc_charge"] + direction[cc]
        if technique not in _SWEEP_TECHNIQUES:
            cv = mode == 2
            stype[cv] = _T["cv_charge"] + direction[cv]
        stype[mode == 3] = _T["ocv"] if technique == "OCV" else _T["rest"]
    else:
        default = {"OCV": "ocv", "WAIT": "rest", "CP": "cc", "CA": "cv"}.get(technique, "other")
        if default in ("cc", "cv"):
            stype = np.where(charge, _T[f"{default}_charge"], _T[f"{default}_discharge"])
        else:
            stype = np.full(n, _T[default], dtype=np.int8)
    if any_eis and not all_eis:
        stype[is_eis] = _T["eis"]

    # spectra: a new one on an impedance row where (Ns, cycle number, z cycle) changes or whose
    # row before is not an impedance row
    if any_eis:
        start = _changes(n, *[raw[c] for c in ("Ns", "cycle number", "z cycle") if c in raw])
        if not all_eis:
            start[1:] |= ~is_eis[:-1]
            start &= is_eis
        spectrum = np.cumsum(start)
        if not all_eis:
            spectrum *= is_eis  # 0 = not an impedance row
    else:
        spectrum = None

    # steps: new at a change of (Ns or half cycle, active/rest/eis class, spectrum) - the groups
    # whose CC+CV rows become CCCV - or of the step type
    group = raw.get("Ns")
    if group is None:
        group = raw.get("half cycle")
    keys = [] if group is None else [group]
    if any_eis:
        keys.append(spectrum)
    if maybe_cccv:
        stype, step_new = _merge_cccv(n, keys, stype)
    elif all_eis:  # one class, one type
        step_new = _changes(n, *keys)
    else:  # the classes change where the types do
        step_new = _changes(n, *keys, stype)
    step = np.cumsum(step_new)
    df["step"] = step
    df["step_type"] = pd.Categorical.from_codes(stype, dtype=step_type_dtype(), validate=False)

    # cycle
    if "half cycle" in raw:
        half = raw["half cycle"]
        if half.dtype.kind == "f":  # an .mpt column with gaps: pandas' error, as before
            half = pd.Series(half).to_numpy(dtype=np.int64)
        cycle = half.astype(np.int64)
        cycle >>= 1  # // 2
        cycle += 1
        df["cycle"] = cycle
    elif "cycle number" in raw:
        cn = raw["cycle number"].astype(np.float64, copy=False)
        ok = np.abs(cn) < 2.0**53  # False for NaN and inf
        if not ok.all():
            cn = np.where(ok, cn, 1.0)
        cycle = cn.round().astype(np.int64)
        df["cycle"] = np.maximum(cycle, 1, out=cycle)
    else:
        df["cycle"] = np.ones(n, dtype=np.int64)

    # capacity since the start of the step
    q = _first(raw, "(Q-Qo)/mA.h")
    if q is None:
        qc = _first(raw, "(Q-Qo)/C")
        q = None if qc is None else qc / 3.6
    if q is not None and all_eis:
        df["capacity_mAh"] = np.full(n, np.nan)  # NaN on impedance rows
    elif q is not None:
        # Q0 = Q on the last row of the step before (the first row's dq belongs to its step,
        # as in EC-Lab's "Q charge/discharge/mA.h"); Q on row 1 for the first step
        last_before = np.flatnonzero(step_new) - 1
        if n:
            last_before[0] = 0
        cap = q.take(last_before).take(step - 1)  # Q0 per row
        np.subtract(q, cap, out=cap)
        np.abs(cap, out=cap)
        if any_eis:
            cap[is_eis] = np.nan
        df["capacity_mAh"] = cap

    # impedance
    if freq is not None:
        used.add("freq/Hz")
        df["frequency_Hz"] = freq if all_eis else np.where(is_eis, freq, np.nan)
        re_z = take("Re(Z)/Ohm")
        mim_z = take("-Im(Z)/Ohm")
        if re_z is not None and mim_z is not None:
            df["z_real_ohm"] = re_z if all_eis else np.where(is_eis, re_z, np.nan)
            df["z_imag_ohm"] = -mim_z if all_eis else np.where(is_eis, -mim_z, np.nan)
        elif "|Z|/Ohm" in raw and "Phase(Z)/deg" in raw:
            # Re(Z) = |Z| cos(phase), Im(Z) = |Z| sin(phase), on the impedance rows only
            rows = slice(None) if all_eis else is_eis
            mod = raw["|Z|/Ohm"][rows].astype(np.float64, copy=False)
            phase = np.radians(raw["Phase(Z)/deg"][rows].astype(np.float64, copy=False))
            z_real = np.full(n, np.nan)
            z_imag = np.full(n, np.nan)
            z_real[rows] = mod * np.cos(phase)
            z_imag[rows] = mod * np.sin(phase)
            df["z_real_ohm"] = z_real
            df["z_imag_ohm"] = z_imag
        if spectrum is None:
            spectrum = np.zeros(n, dtype=np.int64)
        df["spectrum"] = pd.arrays.IntegerArray(spectrum, ~is_eis)

    for name, values in raw.items():
        if name not in used and name not in df:
            df[name] = values
    meta = dict(meta)
    meta["techniques"] = techniques
    meta.setdefault("instrument", "Biologic (EC-Lab)")
    try:
        data = finalize(df)
    except ValueError as exc:
        raise CorruptFileError(f"EC-Lab data do not fit the common schema: {exc}", path) from exc
    return Measurement(data=data, meta=meta)


def _first(raw: dict[str, np.ndarray], *names: str):
    for n in names:
        if n in raw:
            return raw[n].astype(np.float64, copy=False)
    return None


def _merge_cccv(n: int, keys: list[np.ndarray],
                stype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step types and new-step mask of rows whose group keys are ``keys`` (Ns or half cycle,
    spectrum) and types ``stype`` (codes into STEP_TYPES), where a group - rows of one key
    value and one class (active, rest, eis, other) - holding CC rows and CV rows becomes
    cccv_<direction of most of its CC rows>, one step.

    Worked on runs of one (keys, type) (a step before the merge), not on rows."""
    run_new = _changes(n, *keys, stype)
    starts = np.flatnonzero(run_new)
    if starts.size == 0:
        return stype, run_new
    run_type = stype.take(starts)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    lengths = ends - starts
    # a new group where the keys or the class change from the run before
    group_new = _changes(starts.size, *[k.take(starts) for k in keys], _CLASS.take(run_type))
    group = np.cumsum(group_new)  # from 1
    k = len(STEP_TYPES)
    counts = np.bincount(group * k + run_type, weights=lengths,
                         minlength=k * (int(group[-1]) + 1)).reshape(-1, k)
    cc_charge, cc_discharge = counts[:, _T["cc_charge"]], counts[:, _T["cc_discharge"]]
    both = ((cc_charge + cc_discharge) > 0) & (
        (counts[:, _T["cv_charge"]] + counts[:, _T["cv_discharge"]]) > 0)
    if not both.any():
        return stype, run_new
    label = np.where(cc_charge >= cc_discharge, _T["cccv_charge"], _T["cccv_discharge"])
    label = np.where(both, label, -1).astype(np.int8)
    # a group with CC and CV rows is an active one: its codes are 1..4, below the cccv codes
    run_type = np.maximum(label.take(group), run_type)
    # a run starts a step unless it continues its group's CCCV step
    step_new = np.zeros(n, dtype=bool)
    step_new[starts[group_new | _changes(starts.size, run_type)]] = True
    return np.repeat(run_type, lengths), step_new


FORMATS = [
    ("eclab-mpr", sniff_mpr, read_mpr),
    ("eclab-mpt", sniff_mpt, read_mpt),
]

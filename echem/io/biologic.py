"""Biologic EC-Lab / BT-Lab files: binary ``.mpr`` and the ``.mpt`` text export.

``.mpr``: the file structure (magic, modules) is read with galvani's ``read_VMP_modules``; the
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

meta: ``instrument`` ("Biologic <device> (EC-Lab)"; the ``.mpr`` does not name the device, only
its serial ``device_sn``), ``techniques``, ``start_time`` (ISO; .mpr: OLE date in the LOG module),
``channel``, ``software_version``, ``comments``. Mass and electrode area: an ``.mpt`` gives
``active_mass_g`` and ``area_cm2`` (its header states the unit); an ``.mpr`` stores them in the
unit chosen in EC-Lab without saying which, so they come as ``active_mass_as_entered`` and
``electrode_area_as_entered`` (EC-Lab's defaults: mg, cm2).

Bad input: an ``.mpr`` cut anywhere (except exactly between two modules, which leaves a valid
shorter file) raises :class:`CorruptFileError`. An ``.mpt`` cut inside its header raises
:class:`CorruptFileError`; cut inside the data, it returns the complete rows and sets
``meta["truncated"] = True`` (the last row is complete only when it has every field and its last
field is a whole EC-Lab number: EC-Lab does not end the last row with a newline, so that cannot
tell).
"""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from galvani import BioLogic as galvani_biologic

from echem.errors import CorruptFileError, UnsupportedFileError
from echem.io import eclab_columns
from echem.schema import Measurement, finalize

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
    path = Path(path)
    blob = path.read_bytes()
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
    raw = _mpr_data(by_name["VMP data"][0], technique, path)
    log = by_name.get("VMP LOG", [None])[0]
    if log is not None:
        meta.update(_mpr_log(log))
    if settings is not None and "start_time" not in meta:
        meta["start_date"] = _mpr_date(settings["date"])
    meta["modules"] = [_text(m["shortname"]).strip() for m in modules]
    meta["data_module_version"] = int(by_name["VMP data"][0]["version"])
    software = "BT-Lab" if technique == "BCD" else "EC-Lab"
    meta["instrument"] = f"Biologic ({software})"
    return _measurement(raw, meta, path)


def _mpr_modules(blob: bytes, path: Path) -> list[dict]:
    """The modules of an .mpr through galvani's reader, its errors turned into ours."""
    fh = io.BytesIO(blob)
    fh.seek(len(MPR_MAGIC))
    try:
        modules = list(galvani_biologic.read_VMP_modules(fh))
    except (OSError, ValueError, IndexError, TypeError) as exc:
        msg = str(exc).split("\n")[0].strip()
        if "Unexpected end of file" in msg:
            raise CorruptFileError(f"truncated EC-Lab .mpr: {msg} (the file ends inside a "
                                   "module)", path) from exc
        raise CorruptFileError(f"damaged EC-Lab .mpr: {msg}", path) from exc
    if not modules:
        raise CorruptFileError("truncated EC-Lab .mpr: no module after the file magic", path)
    return modules


def _mpr_data(module: dict, technique: str | None, path: Path) -> pd.DataFrame:
    """Decode the "VMP data" module with the project's column table into .mpt-named columns."""
    raw = bytes(module["data"])
    version = int(module["version"])
    if len(raw) < 6:
        raise CorruptFileError("EC-Lab .mpr data module too short", path)
    n_rows = int.from_bytes(raw[:4], "little")
    n_cols = raw[4]
    if version == 0:
        if raw[5]:  # one byte per column id (old EC-Lab)
            ids = list(raw[5:5 + n_cols])
            start = 100
        else:  # two bytes per id, big-endian (galvani keeps the low byte)
            ids = [int(v) for v in np.frombuffer(raw[5:5 + 2 * n_cols], ">u2")]
            start = 1007
    elif version in (2, 3):
        ids = [int(v) for v in np.frombuffer(raw[5:5 + 2 * n_cols], "<u2")]
        start = 405 if version == 2 else 406
    else:
        raise UnsupportedFileError(f"EC-Lab .mpr data module version {version} is not known", path)
    if len(ids) != n_cols or len(raw) < start:
        raise CorruptFileError("EC-Lab .mpr data module header is cut short", path)
    body = raw[start:]

    fields: list[tuple[str, str]] = []
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
    if unknown:
        known_size = sum(np.dtype(d).itemsize for _, d in fields if d is not None)
        width = (len(body) // n_rows - known_size) if n_rows else 0
        if (len(unknown) == 1 and n_rows and len(body) % n_rows == 0
                and width in (1, 2, 4, 8)):
            dtype = {1: "u1", 2: "<u2", 4: "<f4", 8: "<f8"}[width]
            fields = [(n, d if d is not None else dtype) for n, d in fields]
        else:
            raise UnsupportedFileError(
                f"EC-Lab .mpr data column id(s) {unknown} are not in the column table "
                "(echem/io/eclab_columns.py); export the file to .mpt in EC-Lab and read that, "
                "or report the ids with the .mpt column header", path)
    dtype = np.dtype(fields)
    if len(body) != n_rows * dtype.itemsize:
        raise CorruptFileError(
            f"EC-Lab .mpr data module holds {len(body)} bytes for {n_rows} rows of "
            f"{dtype.itemsize} bytes; truncated or damaged", path)
    rec = np.frombuffer(body, dtype=dtype, count=n_rows)
    out = {}
    for name in dtype.names:
        if name == "flags":
            for fname, mask, fdtype in flags:
                vals = rec["flags"] & mask
                out[fname] = (vals != 0) if fdtype == "bool" else vals.astype(np.int64)
        else:
            out[name] = rec[name]
    df = pd.DataFrame(out)
    for name in ("ox/red", "error", "control changes", "Ns changes", "counter inc."):
        if name in df:
            df[name] = df[name].astype(np.int64)
    return df


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


def _mpr_date(raw: bytes) -> str | None:
    try:
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
    v = float(np.frombuffer(data, "<f4", 1, offset)[0])
    return v if np.isfinite(v) else None


def _f8(data: bytes, offset: int) -> float | None:
    if offset + 8 > len(data):
        return None
    v = float(np.frombuffer(data, "<f8", 1, offset)[0])
    return v if np.isfinite(v) else None


# --------------------------------------------------------------------------- .mpt

_FLOAT = re.compile(r"-?\d[.,]\d+E[+-]\d{3}|-?(?:nan|NaN|inf|Inf)")


def read_mpt(path) -> Measurement:
    """Read an EC-Lab ``.mpt`` text export into the common schema (see the module docstring)."""
    path = Path(path)
    blob = path.read_bytes()
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
    return _measurement(raw, meta, path)


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

def _first(raw: pd.DataFrame, *names: str):
    for n in names:
        if n in raw:
            return raw[n].to_numpy(dtype=np.float64)
    return None


def _measurement(raw: pd.DataFrame, meta: dict, path: Path) -> Measurement:
    """Map EC-Lab columns (by their .mpt names) onto the common schema."""
    n = len(raw)
    techniques = [t for t in meta.get("techniques", []) if t]
    technique = techniques[0] if techniques else None
    df: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(*names):
        for name in names:
            if name in raw:
                used.add(name)
                return raw[name].to_numpy(dtype=np.float64)
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
        dq = raw["dq/mA.h"].to_numpy(dtype=np.float64)
        dt = np.diff(time, prepend=time[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            current = np.where(dt > 0, dq * 3600.0 / dt, 0.0)
    if current is not None:
        df["current_mA"] = current

    freq = _first(raw, "freq/Hz")
    is_eis = (freq > 0) if freq is not None else np.zeros(n, dtype=bool)
    if freq is not None and technique in _EIS_TECHNIQUES:
        is_eis = np.ones(n, dtype=bool)

    # step type per row
    mode = _first(raw, "mode")
    oxred = _first(raw, "ox/red")
    charge = (oxred == 1) if oxred is not None else (
        (current > 0) if current is not None else np.ones(n, dtype=bool))
    stype = np.full(n, "other", dtype=object)
    if mode is not None:
        cc = mode == 1
        cv = mode == 2
        stype[cc & charge] = "cc_charge"
        stype[cc & ~charge] = "cc_discharge"
        if technique in _SWEEP_TECHNIQUES:
            stype[cv] = "other"
        else:
            stype[cv & charge] = "cv_charge"
            stype[cv & ~charge] = "cv_discharge"
        stype[mode == 3] = "ocv" if technique == "OCV" else "rest"
    else:
        default = {"OCV": "ocv", "WAIT": "rest", "CP": "cc", "CA": "cv"}.get(technique, "other")
        if default in ("cc", "cv"):
            stype[charge] = f"{default}_charge"
            stype[~charge] = f"{default}_discharge"
        else:
            stype[:] = default
    stype[is_eis] = "eis"

    # spectra
    spectrum = np.full(n, np.nan)
    if is_eis.any():
        key_cols = [c for c in ("Ns", "cycle number", "z cycle") if c in raw]
        key = (raw[key_cols].to_numpy(dtype=np.float64) if key_cols else np.zeros((n, 0)))
        idx = np.flatnonzero(is_eis)
        new = np.ones(idx.size, dtype=bool)
        if idx.size > 1:
            new[1:] = (np.diff(idx) > 1) | np.any(key[idx[1:]] != key[idx[:-1]], axis=1)
        spectrum[idx] = np.cumsum(new)

    # steps: (Ns or half cycle, active/rest/eis class, spectrum), then CC+CV -> CCCV
    group_cols = [c for c in ("Ns",) if c in raw] or [c for c in ("half cycle",) if c in raw]
    base = raw[group_cols].to_numpy(dtype=np.float64) if group_cols else np.zeros((n, 0))
    active = np.isin(stype, ["cc_charge", "cc_discharge", "cv_charge", "cv_discharge"])
    cls = np.select([active, stype == "eis", (stype == "rest") | (stype == "ocv")], [0, 2, 1], 3)
    first_key = np.column_stack([base, cls, np.nan_to_num(spectrum, nan=-1.0)])
    groups = _running(first_key)
    stype = _merge_cccv(stype, groups)
    final_key = np.column_stack([first_key, pd.factorize(stype)[0]])
    step = _running(final_key)
    df["step"] = step
    df["step_type"] = stype

    # cycle
    if "half cycle" in raw:
        df["cycle"] = raw["half cycle"].to_numpy(dtype=np.int64) // 2 + 1
    elif "cycle number" in raw:
        cn = raw["cycle number"].to_numpy(dtype=np.float64)
        cn = np.where(np.isfinite(cn) & (np.abs(cn) < 2.0**53), cn, 1.0)
        df["cycle"] = np.maximum(cn.round().astype(np.int64), 1)
    else:
        df["cycle"] = np.ones(n, dtype=np.int64)

    # capacity since the start of the step
    q = _first(raw, "(Q-Qo)/mA.h")
    if q is None:
        qc = _first(raw, "(Q-Qo)/C")
        q = None if qc is None else qc / 3.6
    if q is not None:
        # Q0 = Q on the last row of the step before (the first row's dq belongs to its step,
        # as in EC-Lab's "Q charge/discharge/mA.h"); Q on row 1 for the first step
        start = np.r_[0, np.flatnonzero(np.diff(step) != 0) + 1] if n else np.zeros(0, int)
        base = q[np.maximum(start - 1, 0)]
        q0 = np.repeat(base, np.diff(np.r_[start, n])) if n else q
        cap = np.abs(q - q0)
        cap[is_eis] = np.nan
        df["capacity_mAh"] = cap

    # impedance
    if freq is not None:
        used.add("freq/Hz")
        df["frequency_Hz"] = np.where(is_eis, freq, np.nan)
        re_z = take("Re(Z)/Ohm")
        mim_z = take("-Im(Z)/Ohm")
        if re_z is None or mim_z is None:
            mod = _first(raw, "|Z|/Ohm")
            phase = _first(raw, "Phase(Z)/deg")
            if mod is not None and phase is not None:
                re_z = mod * np.cos(np.radians(phase))
                mim_z = -mod * np.sin(np.radians(phase))
        if re_z is not None and mim_z is not None:
            df["z_real_ohm"] = np.where(is_eis, re_z, np.nan)
            df["z_imag_ohm"] = np.where(is_eis, -mim_z, np.nan)
        df["spectrum"] = spectrum

    for name in raw.columns:
        if name not in used and name not in df:
            df[name] = raw[name].to_numpy()
    df = pd.DataFrame(df, index=pd.RangeIndex(n))
    meta = dict(meta)
    meta["techniques"] = techniques
    meta.setdefault("instrument", "Biologic (EC-Lab)")
    try:
        data = finalize(df)
    except ValueError as exc:
        raise CorruptFileError(f"EC-Lab data do not fit the common schema: {exc}", path) from exc
    return Measurement(data=data, meta=meta)


def _running(key: np.ndarray) -> np.ndarray:
    """Running index 1, 2, ... that grows on every row whose key row differs from the last."""
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(key[1:] != key[:-1], axis=1)
    return np.cumsum(new).astype(np.int64)


def _merge_cccv(stype: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """A group holding CC rows and CV rows becomes cccv_<direction of most of its CC rows>."""
    out = stype.copy()
    if stype.size == 0:
        return out
    g = groups - groups.min()
    cc_chg = np.bincount(g, weights=(stype == "cc_charge"))
    cc_dis = np.bincount(g, weights=(stype == "cc_discharge"))
    cv = np.bincount(g, weights=((stype == "cv_charge") | (stype == "cv_discharge")))
    both = ((cc_chg + cc_dis) > 0) & (cv > 0)
    if both.any():
        label = np.where(cc_chg >= cc_dis, "cccv_charge", "cccv_discharge")
        rows = both[g]
        out[rows] = label[g][rows]
    return out


FORMATS = [
    ("eclab-mpr", sniff_mpr, read_mpr),
    ("eclab-mpt", sniff_mpt, read_mpt),
]

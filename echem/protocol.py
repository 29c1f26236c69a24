"""Test protocols: how a cell was built, cycled and measured, and how its data are analysed.

A protocol is a TOML file (``protocols/<name>.toml``; the file stem is its name) read with the
standard library's :mod:`tomllib` into the frozen dataclasses below. The format is documented in
``protocols/README.md``. Validation is strict: a missing required field, a value of the wrong type or
out of range, or an unknown field (usually a typo) raises :class:`echem.ProtocolError` naming the
file, the field (e.g. ``schedule.segment[2].current_density_mA_cm2``) and the reason. The error
carries ``.path``, ``.field`` and ``.reason``.

Units are in the field names: ``_mA_cm2``, ``_mAh_cm2``, ``_V``, ``_Hz``, ``_mV``, ``_MPa``, ``_C``
(degrees Celsius), ``_h``, ``_mg_cm2``, ``_pct``.
"""
from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from echem.eis.defaults import DEFAULT_CIRCUIT, DEFAULT_NAMES, KK_THRESHOLD
from echem.errors import ProtocolError

CELL_TYPES = ("symmetric", "half", "full")

#: the project's shipped protocols (``protocols/`` at the repository root)
PROJECT_PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"


def protocol_error(path, field_name: str | None, reason: str) -> ProtocolError:
    """A ProtocolError whose message reads ``<file>: field '<field>': <reason>``."""
    text = f"field '{field_name}': {reason}" if field_name else reason
    err = ProtocolError(text, path)
    err.field = field_name
    err.reason = reason
    return err


# ---------------------------------------------------------------------------------------------
# dataclasses


@dataclass(frozen=True)
class CellBuild:
    """How the cell is built. ``type`` is one of symmetric, half, full."""

    type: str
    anode: str | None = None
    cathode: str | None = None
    electrolyte: str | None = None
    area_cm2: float | None = None
    stack_pressure_MPa: float | None = None
    cathode_active_loading_mg_cm2: float | None = None
    assembly: str | None = None


@dataclass(frozen=True)
class Segment:
    """A range of cycles run at one current density (galvanostatic, mA/cm2).

    A step ends at ``areal_capacity_mAh_cm2`` (symmetric and half cells) or at the cut-off
    voltages (V; full cells). ``to_cycle`` None means "to the end of the test".
    """

    from_cycle: int
    to_cycle: int | None
    current_density_mA_cm2: float
    areal_capacity_mAh_cm2: float | None = None
    lower_cutoff_V: float | None = None
    upper_cutoff_V: float | None = None

    def covers(self, cycle: int) -> bool:
        return cycle >= self.from_cycle and (self.to_cycle is None or cycle <= self.to_cycle)

    @property
    def label(self) -> str:
        end = "end" if self.to_cycle is None else str(self.to_cycle)
        return f"cycles {self.from_cycle}-{end}"


@dataclass(frozen=True)
class Schedule:
    """The cycling schedule: instrument, temperature (deg C) and segments in cycle order."""

    segments: tuple[Segment, ...]
    instrument: str | None = None
    temperature_C: float | None = None
    stack_pressure_MPa: float | None = None
    duration_h: float | None = None
    first_step: str = "discharge"

    def segment_for(self, cycle: int) -> Segment | None:
        """The segment that covers ``cycle`` (1-based), or None."""
        for seg in self.segments:
            if seg.covers(int(cycle)):
                return seg
        return None

    def current_density_mA_cm2(self, cycle: int) -> float | None:
        seg = self.segment_for(cycle)
        return None if seg is None else seg.current_density_mA_cm2


@dataclass(frozen=True)
class ImpedanceSettings:
    """Impedance measurement and fit settings (frequencies in Hz, amplitude in mV)."""

    frequency_max_Hz: float
    frequency_min_Hz: float
    amplitude_mV: float | None = None
    instrument: str | None = None
    technique: str = "PEIS"
    points_per_decade: float | None = None
    circuit: str = DEFAULT_CIRCUIT
    names: dict = field(default_factory=lambda: dict(DEFAULT_NAMES))
    when: str | None = None


@dataclass(frozen=True)
class AnalysisSettings:
    """Which analyses run with what parameters.

    - ``reference_cycle``: capacity retention = discharge capacity of a cycle / that of this cycle.
    - ``retention_cycle``: the cycle at which retention is reported (None, or beyond the data:
      the last complete cycle).
    - ``profile_cycles``: cycles whose voltage profiles are drawn (paper Figure 5e-g: 1, 30, 50).
    - ``nucleation_step``: the running step used for the nucleation overpotential (None: the
      first plating step, paper Figure 5a).
    - ``plateau_window``: the part of each half cycle (fractions of its duration) whose median
      |V| is the plateau (polarization, failure).
    - ``failure_collapse_fraction``: a symmetric cell has shorted when its plateau |V| falls below
      this fraction of the plateaus before and stays there ``failure_persist_half_cycles``.
    - ``failure_voltage_limit_V``: |V| beyond which a symmetric cell counts as failed (None: off).
    - ``kk_threshold``: Kramers-Kronig residual (fraction of |Z|) above which a spectrum fails
      (default :data:`echem.eis.KK_THRESHOLD`).
    - ``compliance_tolerance_pct``: relative deviation from the protocol reported as a warning.
    """

    reference_cycle: int = 1
    retention_cycle: int | None = None
    profile_cycles: tuple[int, ...] = (1, 30, 50)
    nucleation_step: int | None = None
    plateau_window: tuple[float, float] = (0.2, 0.8)
    failure_collapse_fraction: float = 0.25
    failure_persist_half_cycles: int = 2
    failure_voltage_limit_V: float | None = None
    kk_threshold: float = KK_THRESHOLD
    compliance_tolerance_pct: float = 5.0

    def replace(self, **changes) -> "AnalysisSettings":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Protocol:
    """A validated protocol. ``name`` is the file stem; ``path`` the file it came from."""

    name: str
    title: str
    cell: CellBuild
    schedule: Schedule | None = None
    impedance: ImpedanceSettings | None = None
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    description: str = ""
    source: str = ""
    path: Path | None = None

    def to_dict(self) -> dict:
        """Plain dict of every field (for reports and JSON)."""
        out = dataclasses.asdict(self)
        out["path"] = None if self.path is None else str(self.path)
        return out


# ---------------------------------------------------------------------------------------------
# validation helpers


#: control characters (tab and newline aside): never valid in a name, an id or a path
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Table:
    """Reads the fields of one TOML table with type checks; ``done()`` rejects unknown fields."""

    def __init__(self, data: Any, where: str, path):
        self.path = path
        self.where = where
        if not isinstance(data, dict):
            raise protocol_error(path, where, f"must be a table, got {_tname(data)}")
        self.data = data
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str | None, reason: str) -> ProtocolError:
        return protocol_error(self.path, self.name(key) if key else self.where, reason)

    def _get(self, key, required):
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "missing (required)")
            return None
        return self.data[key]

    def str(self, key, required=False, default=None, choices=None):
        v = self._get(key, required)
        if v is None:
            return default
        if not isinstance(v, str):
            raise self.error(key, f"must be a string, got {_tname(v)} {v!r}")
        if _CONTROL.search(v):
            raise self.error(key, f"holds control characters ({v!r}); remove them")
        if required and not v.strip():
            raise self.error(key, "must not be empty")
        if choices is not None and v not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}; got {v!r}")
        return v

    def number(self, key, required=False, default=None, positive=False, nonnegative=False,
               minimum=None, maximum=None):
        v = self._get(key, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(key, f"must be a number, got {_tname(v)} {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise self.error(key, f"must be a finite number, got {v!r}")
        if positive and v <= 0:
            raise self.error(key, f"must be positive, got {v:g}")
        if nonnegative and v < 0:
            raise self.error(key, f"must not be negative, got {v:g}")
        if minimum is not None and v < minimum:
            raise self.error(key, f"must be at least {minimum:g}, got {v:g}")
        if maximum is not None and v > maximum:
            raise self.error(key, f"must be at most {maximum:g}, got {v:g}")
        return v

    def integer(self, key, required=False, default=None, minimum=None):
        v = self._get(key, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"must be an integer, got {_tname(v)} {v!r}")
        if minimum is not None and v < minimum:
            raise self.error(key, f"must be at least {minimum}, got {v}")
        return v

    def int_list(self, key, default=None, minimum=None):
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in v):
            raise self.error(key, f"must be a list of integers, got {v!r}")
        if minimum is not None and any(x < minimum for x in v):
            raise self.error(key, f"every entry must be at least {minimum}, got {v!r}")
        return tuple(v)

    def str_list(self, key, required=False):
        v = self._get(key, required)
        if v is None:
            return None
        if not isinstance(v, list) or any(not isinstance(x, str) for x in v):
            raise self.error(key, f"must be a list of strings, got {_tname(v)} {v!r}")
        return v

    def table(self, key, required=False) -> "Table | None":
        v = self._get(key, required)
        if v is None:
            return None
        return Table(v, self.name(key), self.path)

    def tables(self, key, required=False) -> list["Table"]:
        v = self._get(key, required)
        if v is None:
            return []
        if isinstance(v, dict):
            v = [v]
        if not isinstance(v, list) or any(not isinstance(x, dict) for x in v):
            raise self.error(key, f"must be an array of tables ([[{self.name(key)}]]), got {_tname(v)}")
        return [Table(x, f"{self.name(key)}[{i + 1}]", self.path) for i, x in enumerate(v)]

    def done(self):
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(unknown[0], f"unknown field (a typo?); known fields here: {known}")


def _tname(v) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
            dict: "table"}.get(type(v), type(v).__name__)


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; a missing, unreadable or malformed file raises ProtocolError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise protocol_error(path, None, "no such file") from None
    except OSError as exc:
        raise protocol_error(path, None, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise protocol_error(path, None, f"not UTF-8 text ({exc}); save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise protocol_error(path, None, f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise protocol_error(path, None, "tables or arrays nested too deep to be a protocol or "
                             "manifest") from None


# ---------------------------------------------------------------------------------------------
# parsing


def parse_protocol(data: dict, path: str | Path | None = None, name: str | None = None) -> Protocol:
    """Validate a parsed TOML document (dict) and return a :class:`Protocol`.

    ``name`` defaults to the file stem of ``path``.
    """
    path = None if path is None else Path(path)
    name = name or (path.stem if path is not None else "protocol")
    top = Table(data, "", path)

    head = top.table("protocol", required=True)
    title = head.str("title", required=True)
    description = head.str("description", default="")
    source = head.str("source", default="")
    head.done()

    cell = _parse_cell(top.table("cell", required=True))
    sched_t = top.table("schedule")
    schedule = None if sched_t is None else _parse_schedule(sched_t, cell)
    imp_t = top.table("impedance")
    impedance = None if imp_t is None else _parse_impedance(imp_t)
    an_t = top.table("analysis")
    analysis = AnalysisSettings() if an_t is None else parse_analysis(an_t)
    top.done()
    if schedule is None and impedance is None and an_t is None:
        raise protocol_error(path, "schedule", "missing: a protocol needs a [schedule], an "
                             "[impedance] section, or at least an [analysis] section")
    return Protocol(name=name, title=title, description=description, source=source, cell=cell,
                    schedule=schedule, impedance=impedance, analysis=analysis, path=path)


def _parse_cell(t: Table) -> CellBuild:
    cell = CellBuild(
        type=t.str("type", required=True, choices=CELL_TYPES),
        anode=t.str("anode"),
        cathode=t.str("cathode"),
        electrolyte=t.str("electrolyte"),
        area_cm2=t.number("area_cm2", positive=True),
        stack_pressure_MPa=t.number("stack_pressure_MPa", nonnegative=True),
        cathode_active_loading_mg_cm2=t.number("cathode_active_loading_mg_cm2", positive=True),
        assembly=t.str("assembly"),
    )
    t.done()
    return cell


def _parse_schedule(t: Table, cell: CellBuild) -> Schedule:
    instrument = t.str("instrument")
    temperature = t.number("temperature_C", minimum=-273.15)
    pressure = t.number("stack_pressure_MPa", nonnegative=True)
    duration = t.number("duration_h", positive=True)
    first = t.str("first_step", default="discharge", choices=("charge", "discharge"))
    seg_tables = t.tables("segment", required=True)
    if not seg_tables:
        raise t.error("segment", "needs at least one [[schedule.segment]]")
    segments = []
    for st in seg_tables:
        seg = Segment(
            from_cycle=st.integer("from_cycle", required=True, minimum=1),
            to_cycle=st.integer("to_cycle", minimum=1),
            current_density_mA_cm2=st.number("current_density_mA_cm2", required=True, positive=True),
            areal_capacity_mAh_cm2=st.number("areal_capacity_mAh_cm2", positive=True),
            lower_cutoff_V=st.number("lower_cutoff_V"),
            upper_cutoff_V=st.number("upper_cutoff_V"),
        )
        st.done()
        if seg.to_cycle is not None and seg.to_cycle < seg.from_cycle:
            raise st.error("to_cycle", f"({seg.to_cycle}) is before from_cycle ({seg.from_cycle})")
        if (seg.lower_cutoff_V is not None and seg.upper_cutoff_V is not None
                and seg.lower_cutoff_V >= seg.upper_cutoff_V):
            raise st.error("lower_cutoff_V", f"({seg.lower_cutoff_V:g} V) must be below "
                           f"upper_cutoff_V ({seg.upper_cutoff_V:g} V)")
        if seg.areal_capacity_mAh_cm2 is None and seg.lower_cutoff_V is None and seg.upper_cutoff_V is None:
            raise st.error("areal_capacity_mAh_cm2", "missing: a segment ends its steps either at an "
                           "areal capacity or at cut-off voltages (lower_cutoff_V, upper_cutoff_V)")
        if cell.type == "full" and (seg.lower_cutoff_V is None or seg.upper_cutoff_V is None):
            raise st.error("lower_cutoff_V" if seg.lower_cutoff_V is None else "upper_cutoff_V",
                           "missing: a full cell is cycled between two cut-off voltages")
        segments.append(seg)
    segments.sort(key=lambda s: s.from_cycle)
    for a, b in zip(segments, segments[1:]):
        if a.to_cycle is None or a.to_cycle >= b.from_cycle:
            raise protocol_error(t.path, f"{t.where}.segment", f"segments overlap: {a.label} and {b.label}")
    t.done()
    return Schedule(segments=tuple(segments), instrument=instrument, temperature_C=temperature,
                    stack_pressure_MPa=pressure, duration_h=duration, first_step=first)


def _parse_impedance(t: Table) -> ImpedanceSettings:
    f_max = t.number("frequency_max_Hz", required=True, positive=True)
    f_min = t.number("frequency_min_Hz", required=True, positive=True)
    if f_min >= f_max:
        raise t.error("frequency_min_Hz", f"({f_min:g} Hz) must be below frequency_max_Hz ({f_max:g} Hz)")
    amplitude = t.number("amplitude_mV", positive=True)
    instrument = t.str("instrument")
    technique = t.str("technique", default="PEIS", choices=("PEIS", "GEIS"))
    ppd = t.number("points_per_decade", positive=True)
    circuit = t.str("circuit", default=DEFAULT_CIRCUIT)
    names_t = t.table("names")
    when = t.str("when")
    if names_t is None:
        names = dict(DEFAULT_NAMES) if circuit == DEFAULT_CIRCUIT else {}
    else:
        names = {}
        for key in list(names_t.data):
            names[key] = names_t.str(key, required=True)
        names_t.done()
    labels = _check_circuit(circuit, t)
    for key in names:
        if labels is not None and key not in labels:
            raise protocol_error(t.path, f"{t.name('names')}.{key}",
                                 f"{key!r} is not an element or parameter of the circuit {circuit!r} "
                                 f"(it has {', '.join(sorted(labels))})")
    t.done()
    return ImpedanceSettings(frequency_max_Hz=f_max, frequency_min_Hz=f_min, amplitude_mV=amplitude,
                             instrument=instrument, technique=technique, points_per_decade=ppd,
                             circuit=circuit, names=names, when=when)


def _check_circuit(circuit: str, t: Table) -> set[str] | None:
    """Validate the circuit string; return its element labels and parameter names."""
    try:
        from echem.eis import parse_circuit  # the project's grammar check (impedance.py's language)
    except ImportError:  # pragma: no cover - eis not importable: fall back to impedance.py
        parse_circuit = None
    if parse_circuit is not None:
        try:
            c = parse_circuit(circuit)
        except Exception as exc:  # FitError with the reason
            raise t.error("circuit", getattr(exc, "reason", str(exc))) from exc
        return {e[0] for e in c.elements} | set(c.param_names)
    try:  # pragma: no cover
        from impedance.models.circuits import elements, fitting
        labels = fitting.extract_circuit_elements(circuit)
        for lab in labels:
            elements.get_element_from_name(lab)
        if circuit.count("(") != circuit.count(")"):
            raise ValueError("unbalanced parentheses")
        return set(labels)
    except Exception as exc:  # pragma: no cover
        raise t.error("circuit", f"not a valid impedance.py circuit: {exc}") from exc


def parse_analysis(t: Table, base: AnalysisSettings | None = None) -> AnalysisSettings:
    """Read an [analysis] table; fields absent keep the values of ``base`` (or the defaults)."""
    b = base or AnalysisSettings()
    out = AnalysisSettings(
        reference_cycle=t.integer("reference_cycle", default=b.reference_cycle, minimum=1),
        retention_cycle=t.integer("retention_cycle", default=b.retention_cycle, minimum=1),
        profile_cycles=t.int_list("profile_cycles", default=b.profile_cycles, minimum=1),
        plateau_window=_window(t, "plateau_window", b.plateau_window),
        nucleation_step=t.integer("nucleation_step", default=b.nucleation_step, minimum=1),
        failure_collapse_fraction=t.number("failure_collapse_fraction", default=b.failure_collapse_fraction,
                                           positive=True, maximum=1.0),
        failure_persist_half_cycles=t.integer("failure_persist_half_cycles",
                                              default=b.failure_persist_half_cycles, minimum=1),
        failure_voltage_limit_V=t.number("failure_voltage_limit_V", default=b.failure_voltage_limit_V,
                                         positive=True),
        kk_threshold=t.number("kk_threshold", default=b.kk_threshold, positive=True, maximum=1.0),
        compliance_tolerance_pct=t.number("compliance_tolerance_pct", default=b.compliance_tolerance_pct,
                                          positive=True, maximum=100.0),
    )
    t.done()
    return out


def _window(t: Table, key: str, default):
    v = t._get(key, False)
    if v is None:
        return default
    ok = (isinstance(v, list) and len(v) == 2
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v))
    if not ok or not 0 <= v[0] < v[1] <= 1:
        raise t.error(key, f"must be two fractions [start, end] with 0 <= start < end <= 1, got {v!r}")
    return (float(v[0]), float(v[1]))


# ---------------------------------------------------------------------------------------------
# files


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file. Raises ProtocolError naming the file and the field."""
    path = Path(path)
    return parse_protocol(read_toml(path), path)


#: the experiment manifest's file name (echem.manifest); a file so named is never a protocol
MANIFEST_NAME = "experiment.toml"


def list_protocols(search: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Protocol name -> file, over ``search`` folders then the project's ``protocols/``; every
    ``*.toml`` but an experiment manifest (``experiment.toml``, which sits in the manifest's folder).

    A name found in an earlier folder hides the same name in later ones.
    """
    out: dict[str, Path] = {}
    for folder in [*map(Path, search), PROJECT_PROTOCOLS]:
        if folder.is_dir():
            for f in sorted(folder.glob("*.toml")):
                if f.name != MANIFEST_NAME:
                    out.setdefault(f.stem, f)
    return out


def find_protocol(name: str, search: Iterable[str | Path] = (), *, origin=None,
                  field_name: str = "protocol") -> Path:
    """The file of protocol ``name``: a path (absolute or relative to the first search folder)
    or a name looked up in the search folders and the project's ``protocols/``.

    Raises ProtocolError (naming ``origin``, the file that referred to it, and ``field_name``)
    when there is no such protocol.
    """
    search = [Path(s) for s in search]
    cand = Path(name)
    if cand.suffix == ".toml" or len(cand.parts) > 1:
        for base in ([] if cand.is_absolute() else search) + [Path()]:
            p = cand if cand.is_absolute() else base / cand
            if p.is_file():
                return p
        raise protocol_error(origin, field_name, f"protocol file {name!r} not found")
    known = list_protocols(search)
    if name in known:
        return known[name]
    listing = ", ".join(sorted(known)) or "none"
    raise protocol_error(origin, field_name, f"unknown protocol {name!r}; known protocols: {listing}")

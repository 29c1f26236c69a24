"""The one registry of the numbers a cell is reported by.

Each metric is declared once, with :func:`metric`: its name (the column of summary.csv and the
``metric`` of the results database), unit, words for people, which way is better, the kind of its
uncertainty, and the cell types it applies to. summary.csv, the HTML report, the database and the
DFT cross-reference (``echem.compare``) all read this table; the per-cell analysis
(``echem.analysis.cell``) makes each value with :func:`value`, so a unit is never written twice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from echem.results import UNCERTAINTY_KINDS, CellResult, Metric

CELL_TYPES = ("symmetric", "half", "full")


@dataclass(frozen=True)
class MetricSpec:
    """A reported metric.

    - ``name``: column name, with its unit (``R_ct_ohm``); ``unit``: the unit as written for people.
    - ``label``: words for the HTML and the console ("Charge-transfer resistance R_ct");
      ``short``: the same in a sentence ("R_ct"; default: the label in lower case).
    - ``better``: "lower", "higher" or "" (no direction: a setting or a noise level).
    - ``uncertainty``: what its uncertainty is where it has one (:data:`UNCERTAINTY_KINDS`).
    - ``cell_types``: the cell types it is reported for.
    - ``summary``: a column of summary.csv; ``in_report``: a column of the report's summary
      tables (default: as ``summary``); ``stderr_column``: the summary column of its
      uncertainty, where summary.csv has one; ``n_column``: that of the number of values an SD or
      SE rests on.
    - ``source``: the paper's figure or equation it reproduces, where there is one.
    """

    name: str
    unit: str
    label: str
    better: str = ""
    uncertainty: str = ""
    cell_types: tuple[str, ...] = CELL_TYPES
    summary: bool = True
    in_report: bool | None = None
    stderr_column: str | None = None
    n_column: str | None = None
    source: str = ""
    short: str = ""

    def __post_init__(self):
        if not self.short:
            object.__setattr__(self, "short", self.label[:1].lower() + self.label[1:])
        if self.in_report is None:
            object.__setattr__(self, "in_report", self.summary)

    def get(self, result: CellResult) -> Metric | None:
        """This metric of a cell's result (None where the cell does not have it)."""
        return result.metric(self.name)


REGISTRY: dict[str, MetricSpec] = {}


def metric(name: str, unit: str, label: str, **fields) -> MetricSpec:
    """Declare a metric (once: a second declaration of a name is an error)."""
    if name in REGISTRY:
        raise ValueError(f"metric {name!r} is declared twice")
    spec = MetricSpec(name, unit, label, **fields)
    if spec.better not in ("lower", "higher", ""):
        raise ValueError(f"metric {name!r}: better must be 'lower', 'higher' or ''")
    if spec.uncertainty and spec.uncertainty not in UNCERTAINTY_KINDS:
        raise ValueError(f"metric {name!r}: unknown uncertainty kind {spec.uncertainty!r}")
    REGISTRY[name] = spec
    return spec


# symmetric cells (paper, Figure 5a-c)
metric("nucleation_overpotential_mV", "mV", "Nucleation overpotential", better="lower",
       cell_types=("symmetric",), source="Figure 5a")
metric("nucleation_noise_mV", "mV", "Noise of the plating plateau", cell_types=("symmetric",),
       summary=False)
metric("polarization_mV", "mV", "Polarization", better="lower", uncertainty="sd",
       cell_types=("symmetric",), stderr_column="polarization_sd_mV", n_column="polarization_n",
       source="Figure 5c")
metric("hysteresis_mV", "mV", "Voltage hysteresis", better="lower", uncertainty="sd",
       cell_types=("symmetric",), summary=False, in_report=True)   # not in summary.csv of old
metric("failure_time_h", "h", "Time to failure", better="higher",
       cell_types=("symmetric",), source="Figure 5c")   # censored: the test's duration
# impedance (paper, Figure 5b and Table S7)
metric("R_SEI_ohm", "Ω", "SEI resistance R_SEI", better="lower", uncertainty="fit_se",
       stderr_column="R_SEI_stderr_ohm", source="Table S7", short="R_SEI")
metric("R_ct_ohm", "Ω", "Charge-transfer resistance R_ct", better="lower", uncertainty="fit_se",
       stderr_column="R_ct_stderr_ohm", source="Table S7", short="R_ct")
metric("R_SEI_ohm_cm2", "Ω·cm²", "Area-specific R_SEI", better="lower", uncertainty="fit_se")
metric("R_ct_ohm_cm2", "Ω·cm²", "Area-specific R_ct", better="lower", uncertainty="fit_se")
metric("R0_ohm", "Ω", "Bulk electrolyte resistance R0", better="lower", uncertainty="fit_se",
       summary=False)
metric("eis_rel_rms", "", "Relative RMS of the impedance fit", better="lower", summary=False)
# full cells (paper, Figure 5d-g)
metric("initial_discharge_capacity_mAh_g", "mAh/g", "Discharge capacity of the reference cycle",
       better="higher", cell_types=("half", "full"), source="Figure 5e-g")
metric("capacity_retention_pct", "%", "Capacity retention", better="higher",
       cell_types=("half", "full"), source="Figure 5d")
metric("retention_cycle", "", "Cycle of the retention", cell_types=("half", "full"))
metric("reference_cycle", "", "Reference cycle of the retention", cell_types=("half", "full"))
metric("mean_coulombic_efficiency", "", "Mean coulombic efficiency", better="higher",
       uncertainty="sd", cell_types=("half", "full"), stderr_column="mean_coulombic_efficiency_sd",
       n_column="mean_coulombic_efficiency_n")
metric("fade_pct_per_cycle", "%/cycle", "Capacity fade per cycle", better="lower",
       uncertainty="fit_se", cell_types=("half", "full"))
# half cells with an alloy host (paper, Figure 1a and 5h)
metric("x_max", "", "Li per host atom at the end of the first lithiation", cell_types=("half",),
       source="Figure 1a, 5h")
# every cell with cycling data
metric("test_duration_h", "h", "Test duration", in_report=False)   # the report: in "> 150 h"


def spec(name: str) -> MetricSpec:
    """The declaration of a metric (KeyError naming it when it is not declared)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not declared in echem.metrics") from None


def value(name: str, x: float, uncertainty: float | None = None, *, n: int | None = None,
          censored: bool = False) -> Metric:
    """A :class:`Metric` of a declared metric, with the unit and uncertainty kind of its
    declaration (no kind where no uncertainty is given)."""
    s = spec(name)
    unc = None if uncertainty is None or (isinstance(uncertainty, float) and math.isnan(uncertainty)) \
        else float(uncertainty)
    return Metric(name, float(x), s.unit, unc, s.uncertainty if unc is not None else "", n, censored)


def summary_columns() -> list[str]:
    """The metric columns of summary.csv, in order (each metric, then its stderr column)."""
    cols = []
    for s in REGISTRY.values():
        if s.summary:
            cols.append(s.name)
            cols += [c for c in (s.stderr_column, s.n_column) if c]
            if s.name == "failure_time_h":
                cols.append("failure_censored")
    return cols


def summary_table(cells: list[CellResult]) -> pd.DataFrame:
    """One row per cell: ``cell_id``, ``cell_type``, ``anode``, ``protocol`` and the summary
    metrics (NaN where a metric does not apply to the cell or the cell lacks it)."""
    rows = []
    for c in cells:
        row = {"cell_id": c.cell_id, "cell_type": c.cell_type, "anode": c.anode, "protocol": c.protocol}
        for s in REGISTRY.values():
            if not s.summary:
                continue
            m = s.get(c) if c.cell_type in s.cell_types else None
            row[s.name] = math.nan if m is None else m.value
            if s.stderr_column:
                row[s.stderr_column] = math.nan if m is None or m.stderr is None else m.stderr
            if s.n_column:
                row[s.n_column] = math.nan if m is None or m.n is None else m.n
            if s.name == "failure_time_h":
                row["failure_censored"] = None if m is None else bool(m.censored)
        rows.append(row)
    return pd.DataFrame(rows, columns=["cell_id", "cell_type", "anode", "protocol", *summary_columns()])

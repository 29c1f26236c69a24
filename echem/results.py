"""Result records shared by the per-cell analysis, the report and the results database."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


#: what an uncertainty is: a fit's standard error, a standard deviation over n values, the
#: standard error of the mean over n values
UNCERTAINTY_KINDS = ("fit_se", "sd", "sem")


@dataclass(frozen=True)
class Metric:
    """One number of a cell: ``value`` in ``unit``.

    ``stderr``: its uncertainty, of kind ``uncertainty_kind`` (one of :data:`UNCERTAINTY_KINDS`,
    or "" where there is none) over ``n`` values. ``censored``: the value is a lower bound (a
    cell that did not fail within the test: ``value`` is the test duration).
    """

    name: str
    value: float
    unit: str
    stderr: float | None = None
    uncertainty_kind: str = ""
    n: int | None = None
    censored: bool = False


@dataclass(frozen=True)
class FileRecord:
    """An input file as it was read: path, sha256 of its bytes, size, detected format."""

    path: str
    sha256: str
    size_bytes: int
    format: str = ""


@dataclass
class Figure:
    """A rendered figure: PNG bytes, SVG text, PDF bytes (empty unless its style asks for PDF),
    and a caption."""

    name: str
    caption: str
    png: bytes
    svg: str
    pdf: bytes = b""


@dataclass
class CellResult:
    """Everything the per-cell analysis found for one cell (``echem.analysis.cell``)."""

    cell_id: str
    cell_type: str
    anode: str
    protocol: str
    metrics: list[Metric] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    #: what the result depends on besides the files: the cell's manifest entry and its protocol,
    #: as plain dicts (part of the results database's key)
    inputs: dict = field(default_factory=dict)
    #: the analyses' own result objects (nucleation, polarization, failure, impedance fits, ...),
    #: by name, for the figures to draw: the report renders these and computes nothing
    analyses: dict = field(default_factory=dict)
    #: files written by a worker that could not see the report folder, as bytes, by where they
    #: go (``echem.batch.process_cell``); empty once the orchestrator has written them
    outputs: dict[str, bytes] = field(default_factory=dict)

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def value(self, name: str) -> float:
        m = self.metric(name)
        return float("nan") if m is None or m.value is None else float(m.value)


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


@dataclass
class ExperimentResult:
    """A processed experiment: its manifest (``echem.manifest.Experiment``), one CellResult per
    cell in the manifest's order, run-level warnings, and the cross-reference with the DFT
    ranking (``echem.analysis.experiment``)."""

    experiment: object
    cells: list[CellResult]
    warnings: list[str] = field(default_factory=list)
    inferred: bool = False
    comparison: object = None          # echem.compare.Comparison, or None
    dft_ranking: pd.DataFrame | None = None
    group_scores: pd.DataFrame | None = None  # dft.rank's group scores of every phase
    figures: list[Figure] = field(default_factory=list)   # the experiment's own figures
    skipped: list[str] = field(default_factory=list)      # files no reader claims (not cells)

    @property
    def unreadable(self) -> list[str]:
        """Paths of the input files that could not be read."""
        return [u for c in self.cells for u in c.info.get("unreadable", [])]

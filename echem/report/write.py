"""Write a processed experiment to a folder: report.html, summary.csv, comparison.csv and
``cells/<cell_id>/`` (tidy CSVs and the figures as PNG and SVG, and PDF in the paper style).
Writes results; computes nothing.

The folder is written whole or not at all: everything goes into a staging folder beside it, which
replaces the old folder only when complete. An existing folder is replaced only when it is an
earlier echem report (it holds the marker file), never a folder of the user's.
"""
from __future__ import annotations

import contextlib
import glob
import importlib.metadata
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from echem import metrics
from echem.errors import EchemError
from echem.output import write_csv
from echem.report.html import CONTROL, ReportData, render
from echem.results import CellResult, ExperimentResult

MARKER = ".echem-report"
COMPARISON_COLUMNS = ("criterion", "dft_quantity", "measured_metric", "dft_order", "measured_order",
                      "n_phases", "spearman_rho", "kendall_tau", "agreement", "note")
DEPENDENCIES = ("galvani", "fastnda", "impedance", "numpy", "scipy", "pandas", "matplotlib",
                "openpyxl", "pyarrow", "SQLAlchemy")


def versions() -> dict[str, str]:
    """Python, platform, echem and dependency versions."""
    from echem import __version__
    out = {"echem": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for name in DEPENDENCIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def safe_name(text: str) -> str:
    """A file-system-safe folder name for a cell id."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "cell"
    return name[:80]


def cell_folders(cell_ids) -> list[str]:
    """The folder name under ``cells/`` of each cell id, in order: :func:`safe_name`, with ``_``
    appended until it is unique."""
    used: set[str] = set()
    names = []
    for cell_id in cell_ids:
        name = safe_name(cell_id)
        while name in used:
            name += "_"
        used.add(name)
        names.append(name)
    return names


def report_data(result: ExperimentResult, folder: Path) -> ReportData:
    exp = result.experiment
    header = {"title": exp.title, "folder": str(folder), "description": exp.description,
              "operator": exp.operator, "date": exp.date, "DFT system": exp.dft_system,
              "cells": len(result.cells),
              "manifest": "inferred from the files" if result.inferred else str(exp.path)}
    protocols = {}
    for name, proto in exp.protocols.items():
        protocols[name] = _flatten(proto.to_dict()) if hasattr(proto, "to_dict") else {"name": name}
    comp = result.comparison
    files = [f for c in result.cells for f in c.files]
    provenance = {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  **{f"version of {k}": v for k, v in versions().items()}}
    return ReportData(
        title=f"Lab report: {exp.title}", experiment={k: v for k, v in header.items() if v not in ("", None)},
        protocols=protocols, cells=result.cells,
        comparison=None if comp is None else comp.criteria[
            [c for c in COMPARISON_COLUMNS if c in comp.criteria.columns]],
        comparison_sentences=[] if comp is None else list(comp.sentences),
        comparison_figures=result.figures, dft_ranking=result.dft_ranking,
        warnings=list(result.warnings), provenance=provenance, files=files,
        folders=dict(zip((c.cell_id for c in result.cells),
                         cell_folders(c.cell_id for c in result.cells))),
        skipped=list(result.skipped))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)) and v and isinstance(v[0], dict):
            for i, item in enumerate(v, 1):
                out.update(_flatten(item, f"{key}[{i}]."))
        else:
            out[key] = v
    return out


#: what a report folder holds at its top, besides the names its marker file lists (an earlier
#: report holding anything else is not replaced)
REPORT_NAMES = frozenset({MARKER, "report.html", "summary.csv", "comparison.csv", "comparison.png",
                          "comparison.svg", "cells"})


@contextlib.contextmanager
def staged(out: str | Path):
    """A new staging folder beside ``out``, to write the report into; it replaces ``out`` when
    the ``with`` block ends without an error, and is removed otherwise (``out`` left as it was).

    Checked before anything is written: an existing ``out`` must be empty, or an earlier report
    (it holds the marker file) that holds nothing but what a report holds. Staging folders that
    a killed run left beside ``out`` (their process no longer runs) are removed.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EchemError("exists and is not a folder; choose another output folder (-o)", out)
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise EchemError("exists and is not an earlier echem report; choose another output "
                             "folder (-o) or remove it", out)
        written = set(REPORT_NAMES) | set((out / MARKER).read_text(encoding="utf-8",
                                                                    errors="replace").split("\n"))
        foreign = sorted(p.name for p in out.iterdir() if p.name not in written)
        if foreign:
            raise EchemError(f"is an earlier echem report but also holds {', '.join(foreign[:5])}, "
                             "which a report does not write; it is not replaced. Move them out or "
                             "choose another output folder (-o)", out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_stages(out)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise EchemError(f"cannot write the report here: {exc.strerror or exc}", out) from exc
    (stage / STAGE_OWNER).write_text(str(os.getpid()))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private; a report folder is not
    try:
        yield stage
        (stage / STAGE_OWNER).unlink()
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


#: the file in a staging folder that names the process writing it
STAGE_OWNER = ".echem-stage-pid"


def _remove_stale_stages(out: Path) -> None:
    """Remove ``.OUT.*.partial`` and ``.OUT.*.old`` folders beside ``out`` whose writing process
    has ended (killed before it could clean up); a live run's stage is left alone."""
    for stage in out.parent.glob(f".{glob.escape(out.name)}.*"):
        if not stage.is_dir() or not stage.name.endswith((".partial", ".old")):
            continue
        try:
            pid = int((stage / STAGE_OWNER).read_text())
        except (OSError, ValueError):
            pid = None
        if pid is not None and _alive(pid):
            continue
        if stage.name.endswith(".partial") and pid is None and \
                time.time() - stage.stat().st_mtime < 60:
            continue  # just made by a run that has not yet named itself
        shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its text cells safe to open in a spreadsheet: a text starting with = + - @
    (or a tab or carriage return) gets a leading apostrophe, so that it is never a formula;
    control characters are removed. Numbers are left as they are."""
    out = None
    for col in table.columns:
        values = table[col]
        if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
            continue
        fixed = values.map(_safe_text)
        if not fixed.equals(values):
            out = table.copy() if out is None else out
            out[col] = fixed
    return table if out is None else out


def _safe_text(v):
    if not isinstance(v, str):
        return v
    v = CONTROL.sub("", v)
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def write_data(data: pd.DataFrame, d: Path) -> None:
    """A cell's data table (its cycling data in the common schema) as ``d/data.csv``."""
    write_csv(data, d / "data.csv")


def write_cell(cell: CellResult, d: Path) -> None:
    """A cell's folder: metrics.csv, a CSV per table, the figures as PNG and SVG (and PDF in the
    paper style), warnings.txt when there are warnings."""
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"metric": m.name, "value": m.value, "stderr": m.stderr, "unit": m.unit,
                   "uncertainty_kind": m.uncertainty_kind, "n": m.n, "censored": m.censored}
                  for m in cell.metrics],
                 columns=["metric", "value", "stderr", "unit", "uncertainty_kind", "n", "censored"]
                 ).to_csv(d / "metrics.csv", index=False)
    for tname, table in cell.tables.items():
        if table is not None:
            write_csv(csv_safe(table), d / f"{tname}.csv")
    _write_figures(cell.figures, d)
    if cell.warnings:
        (d / "warnings.txt").write_text("\n".join(CONTROL.sub("", w) for w in cell.warnings) + "\n")


def _write_figures(figures, d: Path) -> None:
    for fig in figures:
        (d / f"{fig.name}.png").write_bytes(fig.png)
        (d / f"{fig.name}.svg").write_text(fig.svg)
        if fig.pdf:
            (d / f"{fig.name}.pdf").write_bytes(fig.pdf)


def write_experiment(result: ExperimentResult, folder: Path, stage: Path) -> None:
    """The experiment-level outputs (the cells' folders are written as the cells are processed)."""
    names = ["report.html", "summary.csv", "comparison.csv", "cells",
             *(f"{f.name}.{ext}" for f in result.figures for ext in ("png", "svg", "pdf")
               if ext != "pdf" or f.pdf)]
    (stage / MARKER).write_text("written by echem report; this folder is replaced on the next run; "
                                "it holds:\n" + "\n".join(names) + "\n")
    csv_safe(metrics.summary_table(result.cells)).to_csv(stage / "summary.csv", index=False)
    comp = result.comparison
    csv_safe(comp.criteria if comp is not None else pd.DataFrame()).to_csv(stage / "comparison.csv",
                                                                          index=False)
    _write_figures(result.figures, stage)
    (stage / "report.html").write_text(render(report_data(result, folder)), encoding="utf-8")

"""Render a :class:`ReportData` as one self-contained HTML page.

Figures are embedded as base64 PNG, no script and no external resource is referenced, and every
text that comes from files, manifests or protocols goes through :func:`html.escape`.
"""
from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from echem.results import CellResult, Figure

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{border-bottom:2px solid #345;padding-bottom:.3rem}h2{margin-top:2.2rem;color:#234}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{white-space:nowrap}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5rem;vertical-align:top;max-width:520px}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85rem;color:#444}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.4rem .8rem;margin:.3rem 0}
.scroll{overflow-x:auto;max-width:100%}.muted{color:#666;font-size:.85rem}code{background:#f3f3f3;padding:0 .2rem}
"""


@dataclass
class ReportData:
    """What the report shows; built by the pipeline, presented here."""

    title: str
    experiment: dict = field(default_factory=dict)        # header fields of experiment.toml
    protocols: dict[str, dict] = field(default_factory=dict)  # protocol name -> flat fields
    cells: list[CellResult] = field(default_factory=list)
    summary: pd.DataFrame | None = None                   # one row per cell (summary.csv)
    comparison: pd.DataFrame | None = None
    comparison_sentences: list[str] = field(default_factory=list)
    comparison_figures: list[Figure] = field(default_factory=list)
    dft_ranking: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)     # run-level (unreadable files...)
    provenance: dict = field(default_factory=dict)        # software, versions, date
    files: list = field(default_factory=list)             # FileRecord of every input


#: control characters (tab and newline aside), removed from every text shown or written
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def esc(x) -> str:
    """Text for HTML: escaped, control characters removed."""
    return html.escape(CONTROL.sub("", "" if x is None else str(x)), quote=True)


def fmt(x, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        if math.isnan(x):
            return ""
        return f"{x:.{digits}g}"
    return str(x)


def table(df: pd.DataFrame, digits: int = 4) -> str:
    if df is None or df.empty:
        return "<p class='muted'>(none)</p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class='num'>{esc(fmt(v, digits))}</td>" if num else f"<td>{esc(fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def figure(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f"<figure><img alt='{esc(fig.caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{esc(fig.caption)}</figcaption></figure>")


def _metrics_table(cell: CellResult) -> str:
    rows = [{"metric": m.name, "value": m.value, "± stderr": m.stderr, "unit": m.unit}
            for m in cell.metrics]
    return table(pd.DataFrame(rows, columns=["metric", "value", "± stderr", "unit"]))


def _dict_table(d: dict) -> str:
    return table(pd.DataFrame({"field": list(d), "value": [fmt(v) for v in d.values()]}))


def render(r: ReportData) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{esc(r.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(r.title)}</h1>"]
    if r.experiment:
        parts.append("<h2 id='experiment'>Experiment</h2>" + _dict_table(r.experiment))
    if r.warnings or any(c.warnings for c in r.cells):
        parts.append("<h2 id='warnings'>Warnings</h2>")
        parts += [f"<div class='warn'>{esc(w)}</div>" for w in r.warnings]
        for c in r.cells:
            parts += [f"<div class='warn'><b>{esc(c.cell_id)}</b>: {esc(w)}</div>" for w in c.warnings]
    summary = r.summary
    if summary is None:
        summary = pd.DataFrame([{"cell": c.cell_id, "type": c.cell_type, "anode": c.anode,
                                 **{m.name: m.value for m in c.metrics}} for c in r.cells])
    summary = summary[[c for c in summary.columns if summary[c].notna().any()]]
    parts.append("<h2 id='summary'>Summary</h2>" + table(summary))
    if r.comparison is not None or r.dft_ranking is not None:
        parts.append("<h2 id='comparison'>Measured cells against the DFT ranking</h2>")
        parts += [f"<p>{esc(s)}</p>" for s in r.comparison_sentences]
        if r.comparison is not None:
            parts.append(table(r.comparison))
        if r.dft_ranking is not None:
            parts.append("<h3>DFT ranking</h3>" + table(r.dft_ranking))
        parts += [figure(f) for f in r.comparison_figures]
    for c in r.cells:
        parts.append(f"<h2 id='cell-{esc(c.cell_id)}'>Cell {esc(c.cell_id)}</h2>"
                     f"<p>{esc(c.cell_type)} cell, anode {esc(c.anode)}, protocol {esc(c.protocol)}</p>")
        parts.append(_metrics_table(c))
        parts += [figure(f) for f in c.figures]
        for name, t in c.tables.items():
            if name in ("data",) or t is None or len(t) > 60:
                continue
            parts.append(f"<h3>{esc(name)}</h3>" + table(t))
    if r.protocols:
        parts.append("<h2 id='protocols'>Protocols</h2>")
        for name, fields in r.protocols.items():
            parts.append(f"<h3>{esc(name)}</h3>" + _dict_table(fields))
    parts.append("<h2 id='provenance'>Provenance</h2>" + _dict_table(r.provenance))
    if r.files:
        parts.append(table(pd.DataFrame([{"file": f.path, "format": f.format, "bytes": f.size_bytes,
                                           "sha256": f.sha256} for f in r.files])))
    parts.append("</body></html>")
    return "\n".join(parts)

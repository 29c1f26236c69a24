"""Render a :class:`ReportData` as one self-contained HTML page, laid out like the paper's
results: a table of contents, the summary per cell type with every value rounded to its
uncertainty, the overview figures (the paper's Figure 5), the cross-reference with DFT, then one
section per cell.

Figures are embedded as base64 PNG, each a link to its SVG beside the report (full resolution).
No script and no external resource is referenced, every text that comes from files, manifests or
protocols goes through :func:`esc`, and nothing is wider than the page: tables wrap, long ones
fold away. Table headers are words with units (``echem.metrics`` declares each metric's).
"""
from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from echem import metrics
from echem.report import numbers
from echem.report.numbers import metric_text as shown, shown_unit as _unit
from echem.results import CellResult, Figure

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{border-bottom:2px solid #345;padding-bottom:.3rem}h2{margin-top:2.2rem;color:#234}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem;max-width:100%}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.fixed{table-layout:fixed;width:100%}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5rem;vertical-align:top;max-width:520px}
figure.wide{max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85rem;color:#444}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.4rem .8rem;margin:.3rem 0;overflow-wrap:anywhere}
.muted{color:#666;font-size:.85rem}code{background:#f3f3f3;padding:0 .2rem;overflow-wrap:anywhere}
nav.toc ol{columns:2;font-size:.95rem}details{margin:.4rem 0}summary{cursor:pointer;color:#234}
"""


@dataclass
class ReportData:
    """What the report shows; put together by ``echem.report.write``, presented here."""

    title: str
    experiment: dict = field(default_factory=dict)        # header fields of experiment.toml
    protocols: dict[str, dict] = field(default_factory=dict)  # protocol name -> flat fields
    cells: list[CellResult] = field(default_factory=list)
    comparison: pd.DataFrame | None = None
    comparison_sentences: list[str] = field(default_factory=list)
    comparison_figures: list[Figure] = field(default_factory=list)
    dft_ranking: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)     # run-level (unreadable files...)
    provenance: dict = field(default_factory=dict)        # software, versions, date
    files: list = field(default_factory=list)             # FileRecord of every input
    folders: dict[str, str] = field(default_factory=dict)  # cell id -> its folder under cells/
    skipped: list[str] = field(default_factory=list)      # files that are no instrument export


#: control characters (tab and newline aside), removed from every text shown or written
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

#: units as identifiers end in them -> as people write them
UNITS = {"mAh_g": "mAh/g", "mAh_cm2": "mAh/cm²", "ohm_cm2": "Ω·cm²", "mA_cm2": "mA/cm²",
         "pct": "%", "ohm": "Ω", "mV": "mV", "V": "V", "mA": "mA", "mAh": "mAh", "mWh": "mWh",
         "h": "h", "s": "s", "Hz": "Hz", "A": "A", "Ah": "Ah", "g": "g", "mg": "mg", "cm2": "cm²",
         "C": "°C", "eV": "eV"}
#: words kept as written in headers (names, not identifiers)
NAMES = ("R_SEI", "R_ct", "R0", "CPE1", "CPE2", "R1", "R2", "KK")
#: rows above which a table folds away (a click opens it)
FOLD_ROWS = 15
#: tables of a cell not shown in the page (they are in its folder as CSV)
HIDDEN_TABLES = ("data",)


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


def heading(column: str) -> str:
    """A column name as words with its unit: a declared metric's label and unit, else the
    identifier's words with the unit its name ends in ("start_time_s" -> "Start time (s)")."""
    if column in metrics.REGISTRY:
        s = metrics.spec(column)
        return f"{s.label} ({_unit(s)})" if _unit(s) else s.label
    text, unit = str(column), ""
    for suffix in sorted(UNITS, key=len, reverse=True):
        if text.endswith("_" + suffix):
            text, unit = text[:-len(suffix) - 1], UNITS[suffix]
            break
    kept = {n: f"\x00{i}\x00" for i, n in enumerate(NAMES)}
    for n, token in kept.items():
        text = text.replace(n, token)
    text = text.replace("_", " ")
    for n, token in kept.items():
        text = text.replace(token, n)
    text = text[:1].upper() + text[1:]
    if text == "Coulombic efficiency" or text.endswith(" coulombic efficiency"):
        unit = unit or "%"
    return f"{text} ({unit})" if unit else text


def _display(df: pd.DataFrame) -> pd.DataFrame:
    """A table for people: a value and its ``<value>_stderr`` column as one, rounded to the
    uncertainty; coulombic efficiency in %; headers as words with units."""
    df = df.copy()
    for col in list(df.columns):
        err = next((e for e in (f"{col}_stderr", str(col).replace("_ohm", "_stderr_ohm"))
                    if e != col and e in df.columns), None)
        if err is not None and pd.api.types.is_numeric_dtype(df[col]):
            df[col] = [numbers.round_to_uncertainty(v, u) for v, u in zip(df[col], df[err])]
            df = df.drop(columns=[err])
    for col in df.columns:
        if "coulombic_efficiency" in str(col) and pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col] * 100.0
    return df.rename(columns={c: heading(c) for c in df.columns})


def table(df: pd.DataFrame, digits: int = 4, *, words: bool = True) -> str:
    if df is None or df.empty:
        return "<p class='muted'>(none)</p>"
    if words:
        df = _display(df)
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class='num'>{esc(fmt(v, digits))}</td>" if num else f"<td>{esc(fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    klass = " class='fixed'" if len(df.columns) > 6 else ""
    body = f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if len(df) > FOLD_ROWS:
        return f"<details><summary>{len(df)} rows (open)</summary>{body}</details>"
    return body


def figure(fig: Figure, link: str, wide: bool = False) -> str:
    """A figure as a thumbnail linking to its full-resolution SVG (``link``, beside the report)."""
    data = base64.b64encode(fig.png).decode("ascii")
    klass = " class='wide'" if wide else ""
    return (f"<figure{klass}><a href='{esc(link)}'>"
            f"<img alt='{esc(fig.caption)}' src='data:image/png;base64,{data}'></a>"
            f"<figcaption>{esc(fig.caption)} <a href='{esc(link)}'>(full size)</a></figcaption></figure>")


def _dict_table(d: dict) -> str:
    return table(pd.DataFrame({"Field": list(d), "Value": [fmt(v) for v in d.values()]}), words=False)


def _anchor(cell_id: str) -> str:
    return "cell-" + re.sub(r"[^A-Za-z0-9_-]+", "-", CONTROL.sub("", str(cell_id)))


def _summary_tables(cells: list[CellResult]) -> str:
    """One table per cell type with the metrics that apply to it, values rounded to their
    uncertainty, the kind of uncertainty in the header."""
    parts = []
    for kind, title in (("symmetric", "Symmetric cells"), ("half", "Half cells"), ("full", "Full cells"),
                        ("unknown", "Cells of unknown type")):
        group = [c for c in cells if c.cell_type == kind]
        if not group:
            continue
        specs = [s for s in metrics.REGISTRY.values() if kind in s.cell_types and s.in_report
                 and any(s.get(c) is not None for c in group)]
        head = ["Cell", "Anode"] + [_column_title(s) for s in specs]
        rows = []
        for c in group:
            row = [f"<td><a href='#{_anchor(c.cell_id)}'>{esc(c.cell_id)}</a></td>", f"<td>{esc(c.anode)}</td>"]
            for s in specs:
                m = s.get(c)
                row.append("<td class='num'>n/a</td>" if m is None else
                           f"<td class='num'>{esc(shown(m, s))}</td>")
            rows.append("<tr>" + "".join(row) + "</tr>")
        parts.append(f"<h3>{title}</h3><table class='fixed'><thead><tr>"
                     + "".join(f"<th>{esc(h)}</th>" for h in head)
                     + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)


def _column_title(spec) -> str:
    unit = _unit(spec)
    kind = numbers.UNCERTAINTY_NAMES.get(spec.uncertainty, "")
    extra = "; ".join(x for x in (unit, f"± {kind}" if kind else "") if x)
    return f"{spec.label} ({extra})" if extra else spec.label


def _comparison_table(criteria: pd.DataFrame) -> str:
    """The cross-reference per criterion in words (the caveats are in the sentences above it;
    comparison.csv has every column)."""
    from echem.compare import CRITERIA
    dft_words = {c.dft: c.dft_label for c in CRITERIA}

    def col(name):
        return list(criteria[name]) if name in criteria else [None] * len(criteria)

    rows = pd.DataFrame({
        "Criterion": [str(c).replace("_", " ").capitalize() for c in col("criterion")],
        "DFT quantity": [dft_words.get(q, q) for q in col("dft_quantity")],
        "Measured quantity": [metrics.REGISTRY[m].label if m in metrics.REGISTRY else m
                              for m in col("measured_metric")],
        "DFT order (best first)": col("dft_order"), "Measured order": col("measured_order"),
        "Phases": col("n_phases"), "Spearman ρ": col("spearman_rho"),
        "Kendall τ": col("kendall_tau"), "Verdict": col("agreement")})
    return table(rows, words=False)


def _cell_metrics(cell: CellResult) -> str:
    rows = []
    for m in cell.metrics:
        spec = metrics.REGISTRY.get(m.name)
        label = spec.label if spec else heading(m.name)
        unit = _unit(spec) if spec else m.unit
        kind = numbers.UNCERTAINTY_NAMES.get(m.uncertainty_kind, "") if m.stderr is not None else ""
        value = shown(m, spec) if spec else numbers.round_to_uncertainty(m.value, m.stderr)
        rows.append(f"<tr><td>{esc(label)}</td><td class='num'>{esc(value)}</td><td>{esc(unit)}</td>"
                    f"<td>{esc(kind + (f', n = {m.n}' if kind and m.n else ''))}</td></tr>")
    if not rows:
        return "<p class='muted'>(no numbers)</p>"
    return ("<table><thead><tr><th>Quantity</th><th>Value</th><th>Unit</th><th>Uncertainty</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


#: what a cell's info says, in words
INFO = {"ce_convention": "Coulombic efficiency", "reference_cycle": "Reference cycle",
        "retention_cycle": "Retention cycle", "electrode_role": "Working electrode",
        "polarization_half_cycles": "Polarization over", "coulombic_efficiency": "Coulombic efficiency",
        "area_source": "Electrode area", "mass_source": "Active mass", "end_phase": "Phase reached",
        "operating_window": "Operating window of the alloy anode (paper, Figure 5h)"}


def render(r: ReportData) -> str:
    cells = r.cells
    toc = ["<a href='#experiment'>Experiment</a>"]
    if r.warnings or any(c.warnings for c in cells):
        toc.append("<a href='#warnings'>Warnings</a>")
    toc.append("<a href='#summary'>Summary</a>")
    overview = [f for f in r.comparison_figures if f.name.startswith("overview_")]
    others = [f for f in r.comparison_figures if not f.name.startswith("overview_")]
    if overview:
        toc.append("<a href='#overview'>Overview (the paper's Figure 5)</a>")
    if r.comparison is not None or r.dft_ranking is not None:
        toc.append("<a href='#comparison'>Measured cells against DFT</a>")
    toc += [f"<a href='#{_anchor(c.cell_id)}'>Cell {esc(c.cell_id)}</a>" for c in cells]
    toc += ["<a href='#protocols'>Protocols</a>", "<a href='#provenance'>Provenance</a>"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{esc(r.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(r.title)}</h1>",
             "<nav class='toc'><h2>Contents</h2><ol>" + "".join(f"<li>{t}</li>" for t in toc) + "</ol></nav>"]
    parts.append("<h2 id='experiment'>Experiment</h2>" + _dict_table(r.experiment))
    if r.skipped:
        parts.append(f"<p class='muted'>Skipped (no instrument export): "
                     f"{esc(', '.join(s.rsplit('/', 1)[-1] for s in r.skipped))}</p>")
    if r.warnings or any(c.warnings for c in cells):
        items = [f"<div class='warn'>{esc(w)}</div>" for w in r.warnings]
        for c in cells:
            items += [f"<div class='warn'><b>{esc(c.cell_id)}</b>: {esc(w)}</div>" for w in c.warnings]
        body = "".join(items)
        if len(items) > FOLD_ROWS:
            body = f"<details><summary>{len(items)} warnings (open)</summary>{body}</details>"
        parts.append("<h2 id='warnings'>Warnings</h2>" + body)
    parts.append("<h2 id='summary'>Summary</h2><p class='muted'>Each value is rounded to its "
                 "uncertainty; the header says what the uncertainty is (fit SE: the fit's standard "
                 "error; SD: the standard deviation over n half cycles or cycles). A cell that did "
                 "not fail is shown as lasting at least its test (&gt;). summary.csv keeps every "
                 "number at full precision.</p>" + _summary_tables(cells))
    if overview:
        parts.append("<h2 id='overview'>Overview (the paper's Figure 5, from the raw files)</h2>")
        parts += [figure(f, f"{f.name}.svg") for f in overview]
    if r.comparison is not None or r.dft_ranking is not None:
        parts.append("<h2 id='comparison'>Measured cells against DFT</h2>")
        parts += [f"<p>{esc(s)}</p>" for s in r.comparison_sentences]
        if r.comparison is not None:
            parts.append(_comparison_table(r.comparison))
        if r.dft_ranking is not None:
            parts.append("<h3>DFT ranking of the measured phases</h3>" + table(r.dft_ranking))
        parts += [figure(f, f"{f.name}.svg", wide=True) for f in others]
    phase_rows = [c for c in cells if "phases_vs_dft" in c.tables]
    if phase_rows:
        parts.append("<h3>Alloy phases of the half cells: DFT voltage against the measured plateau</h3>")
        for c in phase_rows:
            parts.append(f"<p>{esc(c.cell_id)}</p>" + table(c.tables["phases_vs_dft"]))
    for c in cells:
        folder = r.folders.get(c.cell_id, c.cell_id)
        parts.append(f"<h2 id='{_anchor(c.cell_id)}'>Cell {esc(c.cell_id)}</h2>"
                     f"<p>{esc(c.cell_type)} cell, anode {esc(c.anode)}, protocol {esc(c.protocol)}</p>")
        said = [f"{INFO[k]}: {v}" for k, v in c.info.items() if k in INFO and isinstance(v, str)]
        if said:
            parts.append("<ul class='muted'>" + "".join(f"<li>{esc(s)}</li>" for s in said) + "</ul>")
        parts.append(_cell_metrics(c))
        parts += [figure(f, f"cells/{folder}/{f.name}.svg") for f in c.figures]
        for name, t in c.tables.items():
            if name in HIDDEN_TABLES or t is None:
                continue
            parts.append(f"<h3>{esc(heading(name))}</h3>" + table(t))
    if r.protocols:
        parts.append("<h2 id='protocols'>Protocols</h2>")
        for name, fields in r.protocols.items():
            parts.append(f"<details><summary>{esc(name)}</summary>{_dict_table(fields)}</details>")
    parts.append("<h2 id='provenance'>Provenance</h2>" + _dict_table(r.provenance))
    if r.files:
        parts.append(table(pd.DataFrame([{"File": f.path, "Format": f.format, "Bytes": f.size_bytes,
                                           "sha256": f.sha256} for f in r.files]), words=False))
    parts.append("</body></html>")
    return "\n".join(parts)

"""Cross-reference of measured cells with the DFT predictions for their anode phases.

:func:`compare` takes per-cell results (one row per cell: ``cell_id``, ``anode`` and any of the
metrics in :data:`METRICS`, NaN where a metric does not apply), aggregates the cells of each anode
phase (mean, standard deviation, n), ranks the phases by every measured metric, and holds each
ranking against the DFT prediction it tests (:data:`CRITERIA`):

=====================  =========================================  ==============================
criterion              DFT side (``dft`` package)                 measured side
=====================  =========================================  ==============================
nucleation             nucleation free energy, eq. 6 (lower)      nucleation overpotential (lower)
diffusion              Li diffusion barrier (lower)               R_ct (lower)
chemical_stability     chemical-stability group score of          R_SEI (lower)
                       ``dft.rank`` (phase voltage; higher)
overall_retention      overall DFT ranking (``dft.rank().order``) capacity retention (higher)
overall_failure        overall DFT ranking                        time to failure (higher)
overall_polarization   overall DFT ranking                        polarization (lower)
=====================  =========================================  ==============================

For each criterion: the Spearman and Kendall (tau-b) rank correlations of the two "goodness"
orders (scipy.stats), the number of phases they rest on, a verdict (agrees: rho >= 0.8; partly:
0 < rho < 0.8; disagrees: rho <= 0), a note when there are too few phases for a correlation to
mean much (fewer than 3: a correlation of two points is +-1 by construction; 3 or 4: no p-value
can be small), and one plain sentence.

Time to failure is censored: a cell that did not fail (``failure_time_h`` NaN) counts as lasting
at least its ``test_duration_h`` when the results carry that column; phases whose cells all
survived tie with each other and rank above every phase that failed earlier.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from echem.errors import EchemError

#: measured metric -> (better direction, label, unit)
METRICS: dict[str, tuple[str, str, str]] = {
    "nucleation_overpotential_mV": ("lower", "nucleation overpotential", "mV"),
    "R_SEI_ohm": ("lower", "R_SEI", "ohm"),
    "R_ct_ohm": ("lower", "R_ct", "ohm"),
    "polarization_mV": ("lower", "polarization", "mV"),
    "failure_time_h": ("higher", "time to failure", "h"),
    "capacity_retention_pct": ("higher", "capacity retention", "%"),
}


@dataclass(frozen=True)
class Criterion:
    """A DFT prediction and the measured metric that tests it.

    ``dft``: a column of ``PhaseSet.table``, ``"group:<name>"`` (a group score of ``dft.rank``)
    or ``"ranking"`` (the position in ``dft.rank().order``)."""

    name: str
    dft: str
    dft_better: str
    dft_label: str
    metric: str


CRITERIA: tuple[Criterion, ...] = (
    Criterion("nucleation", "nucleation_energy_kJ_mol", "lower", "nucleation free energy",
              "nucleation_overpotential_mV"),
    Criterion("diffusion", "diffusion_barrier_eV", "lower", "Li diffusion barrier", "R_ct_ohm"),
    Criterion("chemical_stability", "group:chemical_stability", "higher", "chemical-stability score",
              "R_SEI_ohm"),
    Criterion("overall_retention", "ranking", "higher", "overall DFT ranking", "capacity_retention_pct"),
    Criterion("overall_failure", "ranking", "higher", "overall DFT ranking", "failure_time_h"),
    Criterion("overall_polarization", "ranking", "higher", "overall DFT ranking", "polarization_mV"),
)


@dataclass
class Comparison:
    """Result of :func:`compare`.

    ``aggregate``: one row per (phase, metric): mean, std (sample, NaN for n = 1), n, censored.
    ``measured``: phases x metrics, the value each phase is ranked by (the mean; for a censored
    failure time the shortest test duration).
    ``rankings``: one row per (metric, phase): value, rank (1 = best, ties share the best rank).
    ``criteria``: one row per criterion (see the module docstring).
    ``sentences``: the criteria's sentences. ``dft_order``: the overall DFT order of the
    measured phases, best first. ``unmatched``: anodes that are not phases of the DFT system.
    """

    system: str
    aggregate: pd.DataFrame
    measured: pd.DataFrame
    rankings: pd.DataFrame
    criteria: pd.DataFrame
    sentences: list[str]
    dft_order: list[str]
    unmatched: list[str] = field(default_factory=list)

    def order(self, metric: str) -> list[str]:
        """Measured phases best first by ``metric`` (ties in the order of the DFT ranking)."""
        r = self.rankings[self.rankings["metric"] == metric]
        return list(r.sort_values(["rank", "dft_position"])["phase"])


def _resolve(anode: str, phases) -> str | None:
    key = str(anode).replace(" ", "").replace("_", "").lower()
    for p in phases:
        if str(p).replace("_", "").lower() == key:
            return p
    return None


def aggregate(results: pd.DataFrame, phases=None) -> pd.DataFrame:
    """Mean, sample standard deviation and count per (phase, metric) over the cells of a phase.

    ``phases``: names to map ``anode`` onto (case-insensitive); None keeps ``anode`` as it is.
    Failure times: a phase whose cells all survived has mean = its shortest ``test_duration_h``
    (if given) and ``censored`` True; otherwise the mean over the cells that failed.
    """
    df = results.copy()
    df["phase"] = df["anode"] if phases is None else [_resolve(a, phases) or a for a in df["anode"]]
    rows = []
    for phase, g in df.groupby("phase", sort=False):
        for metric in METRICS:
            if metric not in g:
                continue
            v = pd.to_numeric(g[metric], errors="coerce").to_numpy(float)
            ok = np.isfinite(v)
            censored = False
            if metric == "failure_time_h" and not ok.any() and "test_duration_h" in g:
                d = pd.to_numeric(g["test_duration_h"], errors="coerce").to_numpy(float)
                d = d[np.isfinite(d)]
                if d.size:
                    rows.append({"phase": phase, "metric": metric, "mean": float(d.min()), "std": np.nan,
                                 "n": int(d.size), "censored": True})
                continue
            if not ok.any():
                continue
            x = v[ok]
            rows.append({"phase": phase, "metric": metric, "mean": float(x.mean()),
                         "std": float(x.std(ddof=1)) if x.size > 1 else np.nan, "n": int(x.size),
                         "censored": censored})
    return pd.DataFrame(rows, columns=["phase", "metric", "mean", "std", "n", "censored"])


def _fmt(v: float, unit: str) -> str:
    if not np.isfinite(v):
        return "n/a"
    if abs(v) >= 100:
        s = f"{v:.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.3g}"
    return f"{s} {unit}" if unit != "%" else f"{s} %"


def _order_text(phases: list[str], goodness: np.ndarray) -> str:
    """'A > B = C' best first, '=' between ties."""
    idx = np.argsort(-goodness, kind="stable")
    out = phases[idx[0]]
    for a, b in zip(idx, idx[1:]):
        out += (" = " if math.isclose(goodness[a], goodness[b], rel_tol=1e-9, abs_tol=1e-12) else " > ") + phases[b]
    return out


def _load_dft(system, phase_set, ranking):
    if phase_set is None or ranking is None:
        try:
            import dft
        except ImportError as exc:  # pragma: no cover
            raise EchemError(f"the dft package is not importable ({exc}); it ships with this project") from exc
        if phase_set is None:
            phase_set = dft.load(system)
        if ranking is None:  # rank every phase of the system, so that pure Li has a place too
            try:
                ranking = dft.rank(phase_set, phases=list(phase_set.table.index))
            except TypeError:  # a rank() without ``phases``
                ranking = dft.rank(phase_set)
    return phase_set, ranking


def compare(results: pd.DataFrame, system: str = "Li-Ag", *, phase_set=None, ranking=None) -> Comparison:
    """Hold the measured cells against the DFT predictions for their anode phases.

    ``results``: one row per cell with ``cell_id``, ``anode`` and any metrics of :data:`METRICS`
    (NaN where absent), optionally ``test_duration_h`` (censors failure times). ``phase_set`` /
    ``ranking``: a ``dft.PhaseSet`` and ``dft.Ranking`` to use instead of ``dft.load(system)``
    and ``dft.rank`` over all phases of the system (scores scaled over all phases; the order
    restricted to the measured ones).
    """
    if "anode" not in results.columns:
        raise EchemError("per-cell results need an 'anode' column")
    if phase_set is None:
        try:
            import dft
            names = list(dft.load(system).table.index)
        except ImportError:
            names = None
    else:
        names = list(phase_set.table.index)
    unmatched = sorted({str(a) for a in results["anode"] if names is not None and _resolve(a, names) is None})
    agg = aggregate(results, names)
    if names is not None:
        agg = agg[agg["phase"].isin(names)].reset_index(drop=True)
    measured_phases = list(dict.fromkeys(agg["phase"]))
    phase_set, ranking = _load_dft(system, phase_set, ranking)
    table = phase_set.table

    order_all = [p for p in ranking.order]
    dft_order = [p for p in order_all if p in measured_phases]
    pos = {p: i for i, p in enumerate(dft_order)}

    measured = agg.pivot(index="phase", columns="metric", values="mean").reindex(measured_phases)
    censored = agg.pivot(index="phase", columns="metric", values="censored").reindex(measured_phases)

    rank_rows = []
    for metric, (better, _, _) in METRICS.items():
        if metric not in measured:
            continue
        col = measured[metric].dropna()
        if col.empty:
            continue
        good = col if better == "higher" else -col
        ranks = (-good).rank(method="min").astype(int)
        for p in col.index:
            rank_rows.append({"metric": metric, "phase": p, "value": float(col[p]), "rank": int(ranks[p]),
                              "censored": bool(censored.loc[p, metric]) if metric in censored else False,
                              "dft_position": pos.get(p, len(pos))})
    rankings = pd.DataFrame(rank_rows, columns=["metric", "phase", "value", "rank", "censored", "dft_position"])

    crit_rows, sentences = [], []
    for c in CRITERIA:
        row = _criterion(c, measured, censored, table, ranking, pos)
        crit_rows.append(row)
        sentences.append(row["sentence"])
    criteria = pd.DataFrame(crit_rows)
    return Comparison(system=system, aggregate=agg, measured=measured, rankings=rankings, criteria=criteria,
                      sentences=sentences, dft_order=dft_order, unmatched=unmatched)


def _dft_values(c: Criterion, phases, table, ranking, pos) -> pd.Series:
    if c.dft == "ranking":
        return pd.Series({p: -float(pos[p]) if p in pos else np.nan for p in phases})
    if c.dft.startswith("group:"):
        g = c.dft.split(":", 1)[1]
        gs = getattr(ranking, "group_scores", None)
        if gs is None or g not in gs:
            return pd.Series(np.nan, index=list(phases))
        return pd.Series({p: float(gs.loc[p, g]) if p in gs.index and pd.notna(gs.loc[p, g]) else np.nan
                          for p in phases})
    if c.dft not in table:
        return pd.Series(np.nan, index=list(phases))
    v = pd.to_numeric(table[c.dft].astype("Float64"), errors="coerce").astype(float)
    return pd.Series({p: float(v[p]) if p in v.index else np.nan for p in phases})


def _criterion(c: Criterion, measured, censored, table, ranking, pos) -> dict:
    better, label, unit = METRICS[c.metric]
    base = {"criterion": c.name, "dft_quantity": c.dft, "measured_metric": c.metric}
    mvals = measured[c.metric].dropna() if c.metric in measured else pd.Series(dtype=float)
    dvals = _dft_values(c, list(mvals.index), table, ranking, pos).dropna()
    phases = [p for p in mvals.index if p in dvals.index]
    n = len(phases)
    empty = {**base, "n_phases": n, "phases": ", ".join(phases), "dft_order": "", "measured_order": "",
             "spearman_rho": np.nan, "spearman_p": np.nan, "kendall_tau": np.nan, "kendall_p": np.nan}
    title = c.name.replace("_", " ").capitalize()
    if n == 0:
        why = "no phase has both a measured value and a DFT value"
        return {**empty, "agreement": "not tested", "note": why,
                "sentence": f"{title}: not tested - {why} ({label} vs {c.dft_label})."}
    m = mvals[phases].to_numpy(float)
    d = dvals[phases].to_numpy(float)
    mg = m if better == "higher" else -m
    dg = d if c.dft_better == "higher" else -d
    d_order = _order_text(phases, dg)
    m_order = _order_text(phases, mg)
    rho = rp = tau = tp = np.nan
    if n >= 2 and np.ptp(mg) > 0 and np.ptp(dg) > 0:
        from scipy import stats  # here: importing scipy.stats costs 0.7 s, a report of one phase skips it
        res = stats.spearmanr(dg, mg)
        rho, rp = float(res.statistic), float(res.pvalue)
        kt = stats.kendalltau(dg, mg)
        tau, tp = float(kt.statistic), float(kt.pvalue)
    if n < 2:
        agreement = "not tested"
    elif not np.isfinite(rho):
        agreement = "undetermined"
    elif rho >= 0.8:
        agreement = "agrees"
    elif rho > 0:
        agreement = "partly agrees"
    else:
        agreement = "disagrees"
    notes = []
    if n < 3:
        notes.append(f"only {n} phase{'s' if n != 1 else ''}: a rank correlation on fewer than 3 phases "
                     "is +-1 or undefined by construction and cannot mean much")
    elif n <= 4:
        notes.append(f"{n} phases: indicative only, no rank correlation on so few phases can be significant")
    if n >= 2 and np.ptp(mg) == 0:
        notes.append(f"the measured {label} does not distinguish the phases")
    if n >= 2 and np.ptp(dg) == 0:
        notes.append(f"the DFT {c.dft_label} does not distinguish the phases")
    cens = c.metric in censored and any(bool(censored.loc[p, c.metric]) for p in phases
                                         if pd.notna(censored.loc[p, c.metric]))
    vals = ", ".join(f"{p} {'>= ' if cens and bool(censored.loc[p, c.metric]) else ''}{_fmt(float(mvals[p]), unit)}"
                     for p in phases)
    if cens:
        notes.append("phases that did not fail count as lasting at least their test duration")
    if c.dft == "ranking":
        dft_side = "the overall DFT ranking orders them, best first, "
    else:
        unit_d = c.dft.rsplit("_", 2)[-2:] if c.dft.endswith(("_kJ_mol", "_eV")) else []
        unit_d = {"kJ_mol": "kJ/mol", "barrier_eV": "eV"}.get("_".join(unit_d), "") if unit_d else ""
        dv = ", ".join(f"{p} {float(dvals[p]):.3g}{(' ' + unit_d) if unit_d else ''}" for p in phases)
        dft_side = f"DFT ({c.dft_label}: {dv}) orders them, best first, "
    stat = (f"Spearman {rho:.2f}, Kendall {tau:.2f}" if np.isfinite(rho) else "no rank correlation")
    sentence = (f"{title}: {dft_side}{d_order}; the measured {label} ({vals}) orders them {m_order} - "
                f"{agreement} ({stat}, {n} phase{'s' if n != 1 else ''}"
                f"{'; too few to mean much' if n < 3 else ''}).")
    return {**base, "n_phases": n, "phases": ", ".join(phases), "dft_order": d_order, "measured_order": m_order,
            "spearman_rho": rho, "spearman_p": rp, "kendall_tau": tau, "kendall_p": tp,
            "agreement": agreement, "note": "; ".join(notes), "sentence": sentence}


__all__ = ["compare", "aggregate", "Comparison", "Criterion", "CRITERIA", "METRICS"]

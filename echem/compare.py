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

For each criterion: whether the two "goodness" orders are the same (no pair of phases swapped;
ties allowed) or different (how many of the pairs are swapped), on how many phases; the Spearman
and Kendall (tau-b) rank correlations; the exact two-sided permutation p-value of Spearman's rho
(all n! orders equally likely; for n <= 8) and the smallest p that n phases can reach at all
(2/n! without ties: 0.33 for 3 phases, 0.083 for 4, 0.017 for 5). The sentence gives p only where
that smallest p is below 0.05 (5 phases or more); with fewer it says, in the sentence, that no
rank correlation on so few phases can be significant.

Time to failure is censored: a cell that did not fail counts as lasting at least its test
duration (``failure_censored`` True with ``failure_time_h`` the test duration, or, as older
results have it, ``failure_time_h`` NaN beside ``test_duration_h``). A phase's value is then a
lower bound (``censored``); a censored phase outlasts every phase that failed no later than its
bound, censored phases tie with each other, and where a bound is shorter than a failure time of
another phase the sentence says that their order is not known.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from echem import metrics
from echem.errors import EchemError

#: measured metric -> (better direction, label, unit)
#: measured metric -> (better direction, short label, unit), as declared in echem.metrics
METRICS: dict[str, tuple[str, str, str]] = {
    name: (metrics.spec(name).better, metrics.spec(name).short, metrics.spec(name).unit)
    for name in ("nucleation_overpotential_mV", "R_SEI_ohm", "R_ct_ohm", "polarization_mV",
                 "failure_time_h", "capacity_retention_pct")}


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
    ``criteria``: one row per criterion (see the module docstring), the columns of
    comparison.csv: criterion, dft_quantity, measured_metric, n_phases, phases, dft_order,
    measured_order, spearman_rho, spearman_p (exact two-sided permutation p for n <= 8),
    kendall_tau, kendall_p (scipy's), min_p_reachable (the smallest p n phases can give),
    swapped_pairs and pairs (pairs of phases the two orders disagree on, of all pairs),
    agreement ("same order", "different order", "undetermined" when neither side tells the
    phases apart, "not tested"), note, sentence.
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


def _censoring(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(failure time or lower bound in h, censored) per cell of ``g`` (see the module docstring)."""
    v = pd.to_numeric(g["failure_time_h"], errors="coerce").to_numpy(float)
    if "failure_censored" in g:   # the results say which cells did not fail
        return v, g["failure_censored"].fillna(False).astype(bool).to_numpy()
    cens = np.zeros(v.size, dtype=bool)
    if "test_duration_h" in g:     # older results: NaN failure beside the test's duration
        d = pd.to_numeric(g["test_duration_h"], errors="coerce").to_numpy(float)
        survived = ~np.isfinite(v) & np.isfinite(d)
        v = np.where(survived, d, v)
        cens = cens | survived
    return v, cens


def aggregate(results: pd.DataFrame, phases=None) -> pd.DataFrame:
    """Mean, sample standard deviation and count per (phase, metric) over the cells of a phase.

    ``phases``: names to map ``anode`` onto (case-insensitive); None keeps ``anode`` as it is.
    Failure times are censored (module docstring): a phase with a cell that did not fail has
    ``censored`` True and as mean the mean over its cells with the survivors counted at their
    test duration, a lower bound of the true mean (for a phase whose cells all survived, their
    shortest test duration). ``std`` is the sample SD (ddof 1; NaN for n = 1), an SD over n cells.
    """
    df = results.copy()
    df["phase"] = df["anode"] if phases is None else [_resolve(a, phases) or a for a in df["anode"]]
    rows = []
    for phase, g in df.groupby("phase", sort=False):
        for metric in METRICS:
            if metric not in g:
                continue
            cens = np.zeros(len(g), dtype=bool)
            if metric == "failure_time_h":
                v, cens = _censoring(g)
            else:
                v = pd.to_numeric(g[metric], errors="coerce").to_numpy(float)
            ok = np.isfinite(v)
            if not ok.any():
                continue
            x, c = v[ok], cens[ok]
            if c.all():
                rows.append({"phase": phase, "metric": metric, "mean": float(x.min()), "std": np.nan,
                             "n": int(x.size), "censored": True})
                continue
            rows.append({"phase": phase, "metric": metric, "mean": float(x.mean()),
                         "std": float(x.std(ddof=1)) if x.size > 1 else np.nan, "n": int(x.size),
                         "censored": bool(c.any())})
    return pd.DataFrame(rows, columns=["phase", "metric", "mean", "std", "n", "censored"])


def _goodness(values: pd.Series, better: str, censored: pd.Series | None) -> pd.Series:
    """Higher is better. A censored failure time (a lower bound) that is at least every uncensored
    time counts as infinite: it outlasts them all and ties with the other such bounds."""
    g = values.astype(float) if better == "higher" else -values.astype(float)
    if censored is not None and censored.any():
        cens = censored.reindex(values.index).fillna(False).astype(bool)
        failed = values[~cens]
        top = float(failed.max()) if len(failed) else -np.inf
        g = g.where(~(cens & (values >= top)), np.inf)
    return g


def exact_spearman_p(x, y, max_n: int = 8) -> tuple[float, float]:
    """(two-sided exact p of Spearman's rho, smallest p reachable) by enumerating the n! orders of
    ``y`` (average ranks for ties); (NaN, NaN) for n < 2 or n > ``max_n``."""
    from itertools import permutations

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = x.size
    if n < 2 or n > max_n:
        return float("nan"), float("nan")
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    rx = rx - rx.mean()
    ry = ry - ry.mean()
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    if den == 0:
        return float("nan"), float("nan")
    perms = np.array(list(permutations(range(n))))
    rhos = np.abs((ry[perms] * rx).sum(axis=1) / den)
    obs = abs(float((rx * ry).sum() / den))
    eps = 1e-12
    return float(np.mean(rhos >= obs - eps)), float(np.mean(rhos >= rhos.max() - eps))


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
        good = _goodness(col, better, censored[metric].reindex(col.index).astype("boolean")
                         if metric in censored else None)
        ranks = (-good).rank(method="min").astype(int)
        for p in col.index:
            rank_rows.append({"metric": metric, "phase": p, "value": float(col[p]), "rank": int(ranks[p]),
                              "censored": bool(censored.loc[p, metric]) if metric in censored else False,
                              "dft_position": pos.get(p, len(pos))})
    rankings = pd.DataFrame(rank_rows, columns=["metric", "phase", "value", "rank", "censored", "dft_position"])

    at_cycle = _retention_cycles(results, names)
    crit_rows, sentences = [], []
    for c in CRITERIA:
        row = _criterion(c, measured, censored, table, ranking, pos,
                         at_cycle if c.metric == "capacity_retention_pct" else None)
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


def _pairs(dg: np.ndarray, mg: np.ndarray) -> tuple[int, int, int]:
    """(concordant, discordant, tied) pairs of two goodness orders."""
    conc = disc = tied = 0
    for a in range(dg.size):
        for b in range(a + 1, dg.size):
            s = np.sign(dg[a] - dg[b]) * np.sign(mg[a] - mg[b])
            conc += s > 0
            disc += s < 0
            tied += s == 0
    return int(conc), int(disc), int(tied)


def _retention_cycles(results: pd.DataFrame, names) -> dict[str, list[int]]:
    """phase -> the cycles its cells' retention was taken at (from ``retention_cycle``)."""
    if "retention_cycle" not in results or "capacity_retention_pct" not in results:
        return {}
    df = results[np.isfinite(pd.to_numeric(results["capacity_retention_pct"], errors="coerce"))
                 & np.isfinite(pd.to_numeric(results["retention_cycle"], errors="coerce"))]
    out: dict[str, list[int]] = {}
    for a, n in zip(df["anode"], df["retention_cycle"]):
        phase = a if names is None else (_resolve(a, names) or a)
        out.setdefault(phase, [])
        if int(n) not in out[phase]:
            out[phase].append(int(n))
    return out


def _criterion(c: Criterion, measured, censored, table, ranking, pos, at_cycle=None) -> dict:
    """One criterion's row. ``at_cycle``: phase -> cycles its retention was taken at; where the
    phases differ, each value says its cycle and the sentence says that they are not like with
    like (paper: Li kept 10.8 % after 7 cycles, the alloys were held at 50)."""
    better, label, unit = METRICS[c.metric]
    base = {"criterion": c.name, "dft_quantity": c.dft, "measured_metric": c.metric}
    mvals = measured[c.metric].dropna() if c.metric in measured else pd.Series(dtype=float)
    dvals = _dft_values(c, list(mvals.index), table, ranking, pos).dropna()
    phases = [p for p in mvals.index if p in dvals.index]
    n = len(phases)
    empty = {**base, "n_phases": n, "phases": ", ".join(phases), "dft_order": "", "measured_order": "",
             "spearman_rho": np.nan, "spearman_p": np.nan, "kendall_tau": np.nan, "kendall_p": np.nan,
             "min_p_reachable": np.nan, "swapped_pairs": 0, "pairs": 0}
    title = c.name.replace("_", " ").capitalize()
    if n == 0:
        why = "no phase has both a measured value and a DFT value"
        return {**empty, "agreement": "not tested", "note": why,
                "sentence": f"{title}: not tested - {why} ({label} vs {c.dft_label})."}
    cens_col = (censored[c.metric].reindex(phases).fillna(False).astype(bool)
                if c.metric in censored else pd.Series(False, index=phases))
    d = dvals[phases].to_numpy(float)
    mg = _goodness(mvals[phases], better, cens_col if cens_col.any() else None).to_numpy(float)
    dg = d if c.dft_better == "higher" else -d
    d_order = _order_text(phases, dg)
    m_order = _order_text(phases, mg)
    rho = rp = tau = tp = min_p = np.nan
    finite_mg = mg.copy()        # censored bounds above every failure: one rank above them all
    if np.isinf(finite_mg).any():
        rest = finite_mg[np.isfinite(finite_mg)]
        finite_mg[np.isinf(finite_mg)] = (rest.max() if rest.size else 0.0) + 1.0
    if n >= 2 and np.ptp(finite_mg) > 0 and np.ptp(dg) > 0:
        from scipy import stats  # here: a report of one phase does not need scipy.stats
        rho = float(stats.spearmanr(dg, finite_mg).statistic)
        kt = stats.kendalltau(dg, finite_mg)
        tau, tp = float(kt.statistic), float(kt.pvalue)
        rp, min_p = exact_spearman_p(dg, finite_mg)
        if not np.isfinite(rp):
            rp = float(stats.spearmanr(dg, finite_mg).pvalue)
    conc, disc, tied = _pairs(dg, finite_mg)
    pairs = n * (n - 1) // 2
    if n < 2:
        agreement = "not tested"
    elif conc == 0 and disc == 0:
        agreement = "undetermined"
    elif disc == 0:
        agreement = "same order"
    else:
        agreement = "different order"
    notes = []
    if n < 3:
        notes.append(f"only {n} phase{'s' if n != 1 else ''}: a rank correlation on fewer than 3 phases "
                     "is +-1 or undefined by construction and cannot mean much")
    elif n <= 4:
        notes.append(f"{n} phases: indicative only, no rank correlation on so few phases can be significant"
                     + (f" (the smallest p reachable is {min_p:.2g})" if np.isfinite(min_p) else ""))
    if n >= 2 and np.ptp(finite_mg) == 0:
        notes.append(f"the measured {label} does not distinguish the phases")
    if n >= 2 and np.ptp(dg) == 0:
        notes.append(f"the DFT {c.dft_label} does not distinguish the phases")
    cens = bool(cens_col.any())
    at_cycle = {p: at_cycle[p] for p in phases if p in (at_cycle or {})}
    mixed = len({n for ns in at_cycle.values() for n in ns}) > 1

    def when(p):
        if not mixed or p not in at_cycle:
            return ""
        return f" after {' and '.join(map(str, sorted(at_cycle[p])))} cycles"
    vals = ", ".join(f"{p} {'> ' if bool(cens_col[p]) else ''}{_fmt(float(mvals[p]), unit)}{when(p)}"
                     f"{' (no failure in the test)' if bool(cens_col[p]) else ''}" for p in phases)
    if mixed:
        notes.append("retention taken at different cycles: " + ", ".join(
            f"{p} at {' and '.join(map(str, sorted(at_cycle[p])))}" for p in at_cycle))
    unknown = []
    if cens:
        notes.append("phases that did not fail count as lasting at least their test duration")
        for p in phases:
            if bool(cens_col[p]):
                later = [q for q in phases if not bool(cens_col[q]) and float(mvals[q]) > float(mvals[p])]
                unknown += [f"{p} and {q}" for q in later]
    if unknown:
        notes.append("order not known (a test ended before the other cell failed): " + "; ".join(unknown))
    if c.dft == "ranking":
        dft_side = "the overall DFT ranking orders them, best first, "
    else:
        unit_d = c.dft.rsplit("_", 2)[-2:] if c.dft.endswith(("_kJ_mol", "_eV")) else []
        unit_d = {"kJ_mol": "kJ/mol", "barrier_eV": "eV"}.get("_".join(unit_d), "") if unit_d else ""
        dv = ", ".join(f"{p} {float(dvals[p]):.3g}{(' ' + unit_d) if unit_d else ''}" for p in phases)
        dft_side = f"DFT ({c.dft_label}: {dv}) orders them, best first, "
    if agreement == "same order":
        verdict = f"same order for {n} phases" + (" (ties aside)" if tied else "")
    elif agreement == "different order":
        verdict = f"different order for {n} phases ({disc} of {pairs} pairs swapped)"
    else:
        verdict = f"{agreement} ({n} phase{'s' if n != 1 else ''})"
    if n < 2:
        caveat = " One phase cannot be ordered."
    elif np.isfinite(min_p) and min_p < 0.05:
        caveat = (f" Spearman rho {rho:.2f}, exact p = {rp:.2g} (the smallest p {n} phases can reach is "
                  f"{min_p:.2g}).")
    elif n >= 9 and np.isfinite(rp):
        caveat = f" Spearman rho {rho:.2f}, p = {rp:.2g}."
    else:
        reach = f" (p = {min_p:.2g} at best)" if np.isfinite(min_p) else ""
        caveat = (f" With {n} phases no rank correlation can be significant{reach}: a consistency check, "
                  "not a test.")
    if mixed:
        first = min(min(ns) for ns in at_cycle.values())
        caveat += (f" The retentions are taken at different cycles (cells that ended early at their last "
                   f"cycle): not like with like; all of them can be compared only up to cycle {first}.")
    if unknown:
        caveat += " Order not known for " + "; ".join(unknown) + " (the test ended before the other failed)."
    sentence = (f"{title}: {verdict} - {dft_side}{d_order}; the measured {label} ({vals}) orders them "
                f"{m_order}.{caveat}")
    return {**base, "n_phases": n, "phases": ", ".join(phases), "dft_order": d_order, "measured_order": m_order,
            "spearman_rho": rho, "spearman_p": rp, "kendall_tau": tau, "kendall_p": tp,
            "min_p_reachable": min_p, "swapped_pairs": disc, "pairs": pairs,
            "agreement": agreement, "note": "; ".join(notes), "sentence": sentence}


__all__ = ["compare", "aggregate", "exact_spearman_p", "Comparison", "Criterion", "CRITERIA", "METRICS"]

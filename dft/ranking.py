"""Multi-criteria ranking of the phases of an alloy system, grouped as in the paper's Figure 4.

``rank("Li-Ag")`` scores every phase on each criterion, averages the criteria within the four
groups of Figure 4 (chemical stability; Li insertion: adsorption, nucleation, diffusion;
mechanical; capacity) and adds the group scores with weights. ``Ranking.sensitivity()`` shows how
robust the first place is under random group weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dft.phases import PhaseSet, load

__all__ = ["Criterion", "CRITERIA", "GROUPS", "DEFAULT_GROUP_WEIGHTS", "Ranking", "rank",
           "parse_weights"]


@dataclass(frozen=True)
class Criterion:
    """One scored quantity: a column of ``PhaseSet.table``, the direction that is better, its
    Figure-4 group, its default weight within the group, and whether it is scored on a log scale."""

    name: str
    column: str
    group: str
    better: str            # "higher" or "lower"
    weight: float = 1.0    # default weight within its group
    log: bool = False
    why: str = ""


#: the four groups of the paper's Figure 4, in its order
GROUPS = ("chemical_stability", "li_insertion", "mechanical", "capacity")

#: equal group weights: the paper weighs the four factors without giving weights
DEFAULT_GROUP_WEIGHTS = {g: 1.0 for g in GROUPS}

CRITERIA = (
    Criterion("voltage", "voltage_V", "chemical_stability", "higher",
              why="a phase at higher voltage vs Li/Li+ is less reducing; the paper finds the "
                  "reaction energy with electrolytes more negative as Li content rises "
                  "(Fig. 1d), i.e. as the voltage falls"),
    Criterion("adsorption", "adsorption_energy_eV", "li_insertion", "lower",
              why="more negative Li adsorption energy: Li binds more easily (Fig. 2c)"),
    Criterion("nucleation", "nucleation_energy_kJ_mol", "li_insertion", "lower", log=True,
              why="smaller nucleation free energy: easier, more uniform nucleation (Fig. 2e); "
                  "log scale because the values span five orders of magnitude"),
    Criterion("diffusion", "diffusion_barrier_eV", "li_insertion", "lower",
              why="lower Li migration barrier: faster Li transport (Fig. 2f)"),
    Criterion("ductility", "pugh_ratio", "mechanical", "higher",
              why="higher Pugh ratio B/G: more ductile (Fig. 3b, Table 1)"),
    Criterion("isotropy", "isotropic_modulus", "mechanical", "higher",
              why="direction-independent moduli give isotropic expansion, which the paper holds "
                  "favourable (Fig. 3c-d, last paragraph of 'Mechanical property')"),
    Criterion("volume_expansion", "volume_expansion_pct", "mechanical", "lower", weight=0.0,
              why="smaller volume change on lithiation (Fig. 1b); not one of Figure 4's factors, "
                  "so weight 0 by default"),
    Criterion("theoretical_capacity", "theoretical_capacity_mAh_g", "capacity", "higher", log=True,
              why="higher capacity within the phase (Overall performance evaluation); log scale "
                  "because Li's 3860 mAh/g would otherwise flatten the alloys' differences"),
)


def parse_weights(text: str) -> dict[str, float]:
    """``"capacity=2,mechanical=1"`` -> {"capacity": 2.0, "mechanical": 1.0}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"weight {part!r} is not NAME=NUMBER")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"weight {part!r}: {value!r} is not a number") from None
    return out


def _resolve_weights(weights, criteria):
    """Group weights (normalized to sum 1) and within-group criterion weights."""
    group_w = dict(DEFAULT_GROUP_WEIGHTS)
    crit_w = {c.name: c.weight for c in criteria}
    for key, value in (weights or {}).items():
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"weight {key}={value}: weights must be finite and >= 0")
        if key in group_w:
            group_w[key] = value
        elif key in crit_w:
            crit_w[key] = value
        else:
            raise ValueError(f"unknown weight {key!r}; groups: {', '.join(GROUPS)}; criteria: "
                             f"{', '.join(crit_w)}")
    total = sum(group_w.values())
    if total <= 0:
        raise ValueError("at least one group weight must be > 0")
    return {g: w / total for g, w in group_w.items()}, crit_w


def _scores(table: pd.DataFrame, reference: list[str], crit: Criterion) -> pd.Series:
    """Min-max score in [0, 1] of one criterion, 1 = best, scaled over the reference phases."""
    v = pd.to_numeric(table[crit.column].astype("Float64"), errors="coerce").astype(float)
    if crit.log:
        v = np.log10(v.where(v > 0))
    ref = v.loc[reference].dropna()
    lo, hi = (ref.min(), ref.max()) if len(ref) else (np.nan, np.nan)
    if not np.isfinite(hi - lo) or hi == lo:
        s = pd.Series(np.where(v.notna(), 0.5, np.nan), index=v.index)
    else:
        s = ((v - lo) / (hi - lo)).clip(0, 1)
    return 1.0 - s if crit.better == "lower" else s


@dataclass
class Ranking:
    """Result of :func:`rank`.

    ``order``: phase names, best first. ``scores``: total score per phase (0..1), best first.
    ``group_scores``: phases x groups (0..1). ``table``: one row per (criterion, phase) with
    group, quantity column, unit, better direction, value, score (0..1, 1 = best) and the
    criterion's effective weight in the total. ``group_weights``: normalized to sum 1."""

    system: str
    order: list[str]
    scores: pd.Series
    group_scores: pd.DataFrame
    table: pd.DataFrame
    group_weights: dict[str, float]
    criterion_weights: dict[str, float] = field(default_factory=dict)

    def sensitivity(self, n: int = 2000, seed: int | None = 0, alpha: float = 1.0) -> pd.Series:
        """Share of ``n`` random group weightings under which each phase ranks first.

        The group weights are drawn from a Dirichlet(alpha, ..., alpha) distribution (alpha = 1:
        uniform over all weightings); criterion weights within groups stay as they are. A group
        a phase has no value for counts 0 for it. Returns a Series over ``order`` summing to 1."""
        rng = np.random.default_rng(seed)
        w = rng.dirichlet(np.full(len(GROUPS), float(alpha)), size=int(n))  # (n, groups)
        g = self.group_scores.loc[self.order, list(GROUPS)].fillna(0.0).to_numpy()
        total = g @ w.T                                                        # (phases, n)
        first = np.argmax(total, axis=0)
        counts = np.bincount(first, minlength=len(self.order))
        return pd.Series(counts / counts.sum(), index=self.order, name="share_first")

    def __str__(self) -> str:
        return f"Ranking({self.system}: {' > '.join(self.order)})"


def rank(system_or_phaseset, weights: dict | None = None, phases: list[str] | None = None,
         criteria: tuple[Criterion, ...] = CRITERIA) -> Ranking:
    """Rank the phases of an alloy system by the four factors of the paper's Figure 4.

    ``system_or_phaseset``: a system name for :func:`dft.load` or a :class:`PhaseSet`.
    ``weights``: optional overrides, by group (``chemical_stability``, ``li_insertion``,
    ``mechanical``, ``capacity``) or by criterion (``voltage``, ``adsorption``, ``nucleation``,
    ``diffusion``, ``ductility``, ``isotropy``, ``volume_expansion``, ``theoretical_capacity``);
    unnamed ones keep their defaults.
    ``phases``: the phases to rank (default: the alloys, i.e. phases with both elements).

    How the scores are made. Each criterion is scored 0 (worst) to 1 (best) by min-max scaling
    over *all* phases of the system, pure host and pure Li included, so that the scale is that of
    the paper's figures and an alloy's score says where it sits between the elements; quantities
    spanning orders of magnitude (nucleation energy, capacity) are scaled in log10. A group's score
    is the weighted mean of its criteria that have a value; the total is the weighted mean of the
    group scores (a group with no value counts 0).

    Why these defaults. The paper weighs four factors (Figure 4) without numbers, so the groups
    get equal weights, and the criteria within a group equal weights, each being one of the
    quantities the paper reports for that factor: chemical stability - the phase voltage (the
    paper gives only the -15 to -6 meV/atom range of reaction energies, more negative with more
    Li, which the voltage orders the same way); Li insertion - adsorption energy, nucleation free
    energy and diffusion barrier (the weighted surface energy is left out: it enters the
    nucleation energy through eq. 6); mechanical - ductility (Pugh ratio) and elastic isotropy,
    the two mechanical arguments the paper makes; capacity - the theoretical capacity within
    the phase. Volume expansion is available (weight 0) because Figure 4 does not list it.
    With these defaults the alloys rank Li4Ag > Li9Ag4 > Li9Ag > LiAg, the paper's conclusion.
    Li4Ag is first in all 64 variants tried (scaling over the alloys or all phases, linear or
    log nucleation and capacity, with or without isotropy, volume expansion, weighted surface
    energy); Li9Ag4's second place rests on the isotropy criterion (without it LiAg or Li9Ag
    comes second). Under random group weights (``sensitivity()``, 2000 Dirichlet draws) Li4Ag
    is first in about 3/4 of them, Li9Ag4 almost never: it is a steady runner-up, not a
    winner under any one factor. Ranking all six phases puts pure Ag first - the host itself is
    not what the paper weighs.
    """
    ps = system_or_phaseset if isinstance(system_or_phaseset, PhaseSet) else load(
        system_or_phaseset)
    table = ps.table
    phases = list(phases) if phases is not None else ps.alloys
    unknown = [p for p in phases if p not in table.index]
    if unknown:
        raise KeyError(f"{ps.system}: unknown phase(s) {', '.join(unknown)}; phases: "
                       f"{', '.join(ps.phases)}")
    if not phases:
        raise ValueError("no phases to rank")
    group_w, crit_w = _resolve_weights(weights, criteria)

    rows, group_scores = [], {}
    for group in GROUPS:
        members = [c for c in criteria if c.group == group]
        num = pd.Series(0.0, index=phases)
        den = pd.Series(0.0, index=phases)
        for c in members:
            if c.column not in table:
                continue
            s = _scores(table, ps.phases, c).loc[phases]
            w = crit_w[c.name]
            has = s.notna()
            num[has] += w * s[has]
            den[has] += w
            for p in phases:
                value = table.at[p, c.column]
                rows.append({"criterion": c.name, "phase": p, "group": group,
                             "quantity": c.column, "unit": ps.units.get(c.column, ""),
                             "better": c.better, "log_scale": c.log,
                             "value": (float(value) if pd.notna(value) else np.nan),
                             "score": s[p], "within_group_weight": w})
        group_scores[group] = (num / den.where(den > 0)).astype(float)
    gs = pd.DataFrame(group_scores, index=phases)
    total = (gs.fillna(0.0) * pd.Series(group_w)).sum(axis=1)
    order = list(total.sort_values(ascending=False, kind="stable").index)

    tab = pd.DataFrame(rows)
    group_den = {g: sum(crit_w[c.name] for c in criteria if c.group == g and c.column in table)
                 for g in GROUPS}
    tab["weight"] = [group_w[g] * w / group_den[g] if group_den[g] else 0.0
                     for g, w in zip(tab["group"], tab["within_group_weight"])]
    tab = tab.drop(columns="within_group_weight").set_index(["criterion", "phase"])
    return Ranking(system=ps.system, order=order, scores=total.loc[order].rename("score"),
                   group_scores=gs.loc[order], table=tab, group_weights=group_w,
                   criterion_weights=crit_w)

"""What is computed across the cells of an experiment: the cross-reference of the measured cells
with the DFT ranking of their anode phases (``echem.compare``, ``dft.rank``). Pure."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from echem.errors import EchemError


@dataclass
class CrossReference:
    """``comparison``: echem.compare.Comparison (None when impossible); ``ranking``: the DFT
    ranking of the measured phases (group scores and total, one row per phase);
    ``group_scores``: dft.rank's group scores of every phase; ``warnings``."""

    comparison: object = None
    ranking: pd.DataFrame | None = None
    group_scores: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)


def cross_reference(summary: pd.DataFrame, system: str = "Li-Ag") -> CrossReference:
    """Hold the cells of ``summary`` (``echem.metrics.summary_table``) against the DFT ranking
    of ``system``. Half cells are left out: they test the phase voltages (their plateaus, held
    against DFT cell by cell), and their retention is not the full cells' (paper, Figure 5d)."""
    from echem import compare
    summary = summary[summary["cell_type"] != "half"]
    try:
        import dft
        phases = dft.load(system)
        ranking = dft.rank(phases, phases=list(phases.table.index))
        comp = compare.compare(summary, system, phase_set=phases, ranking=ranking)
    except (EchemError, ImportError, KeyError, ValueError) as exc:
        return CrossReference(warnings=[f"cross-reference with DFT not possible: {exc}"])
    out = CrossReference(comp, group_scores=ranking.group_scores)
    if comp.unmatched:
        out.warnings.append("anodes that are not phases of the DFT system (left out of the "
                            f"cross-reference): {', '.join(map(str, comp.unmatched))}")
    measured = list(comp.dft_order)
    out.ranking = (ranking.group_scores.reindex(measured).assign(total=ranking.scores.reindex(measured))
                   .reset_index().rename(columns={"index": "phase"}))
    return out

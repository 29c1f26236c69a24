"""dft: the theory side of the Li-Ag study - phase data with units and provenance, the paper's
equations as calculators, and phase rankings. Stands alone: never imports ``echem``.

    import dft
    ps = dft.load("Li-Ag")                  # PhaseSet; ps.table is a DataFrame by phase
    ps.value("Li4Ag", "pugh_ratio")         # Quantity(value, unit, source, ...)
    dft.rank("Li-Ag").order                 # ['Li4Ag', 'Li9Ag4', 'Li9Ag', 'LiAg']
    dft.properties.voigt_reuss_hill(C)      # calculators (eqs. 1-7, elastic moduli, ...)
    dft.voltage.voltage_profile("Li-Ag")    # the staircase V(x), x = Li per host atom

Other alloy systems: add ``dft/data/<system>.toml`` in the layout of ``li_ag.toml``.
"""
from dft.phases import (DATA_DIR, DFTDataError, PhaseSet, Quantity, UnknownSystemError,
                        data_files, load, systems)
from dft.ranking import CRITERIA, GROUPS, Criterion, Ranking, rank

__all__ = ["load", "systems", "data_files", "PhaseSet", "Quantity", "DFTDataError",
           "UnknownSystemError", "DATA_DIR", "rank", "Ranking", "Criterion", "CRITERIA", "GROUPS",
           "properties", "voltage"]


def __getattr__(name: str):
    # dft.properties (the calculators) imports scipy.constants, which takes a fifth of a second;
    # loaded on first use, so that reading phase data and ranking do not wait for it (dft.voltage
    # likewise, as a submodule on demand)
    if name in ("properties", "voltage"):
        import importlib
        return importlib.import_module(f"dft.{name}")
    raise AttributeError(f"module 'dft' has no attribute {name!r}")

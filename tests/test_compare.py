"""Cross-reference of measured cells with the DFT predictions."""
import math

import numpy as np
import pandas as pd
import pytest

from echem.compare import aggregate, compare
from echem.sampledata import truth

dft = pytest.importorskip("dft")

METRIC_COLUMNS = ["cell_id", "anode", "nucleation_overpotential_mV", "R_SEI_ohm", "R_ct_ohm",
                  "polarization_mV", "failure_time_h", "capacity_retention_pct", "test_duration_h"]


def test_sample_data_values_give_the_papers_retention_order():
    # per-cell values the sample data were generated with (paper: Figure 5, Table S7)
    res = truth()[METRIC_COLUMNS]
    c = compare(res, "Li-Ag")
    # paper: retention after 50 cycles Li4Ag 72.1 % > Li9Ag4 58.8 %; Li 10.8 % after 7
    assert c.order("capacity_retention_pct") == ["Li4Ag", "Li9Ag4", "Li"]
    assert c.measured.loc["Li4Ag", "capacity_retention_pct"] == pytest.approx(72.1)
    # the alloys ran 150 h without failing, Li shorted just under 25 h
    r = c.rankings[c.rankings["metric"] == "failure_time_h"].set_index("phase")
    assert r.loc["Li4Ag", "rank"] == r.loc["Li9Ag4", "rank"] == 1 and r.loc["Li", "rank"] == 3
    assert r.loc["Li4Ag", "censored"] and not r.loc["Li", "censored"]
    # the DFT ranking (dft.rank over all phases) puts Li4Ag before Li9Ag4 before Li
    assert c.dft_order == ["Li4Ag", "Li9Ag4", "Li"]
    crit = c.criteria.set_index("criterion")
    assert set(crit.index) == {"nucleation", "diffusion", "chemical_stability", "overall_retention",
                               "overall_failure", "overall_polarization"}
    assert (crit["n_phases"] == 3).all()
    ret = crit.loc["overall_retention"]
    assert ret["spearman_rho"] == pytest.approx(1.0) and ret["kendall_tau"] == pytest.approx(1.0)
    assert ret["agreement"] == "agrees" and "Li4Ag > Li9Ag4 > Li" in ret["sentence"]
    # nucleation: DFT Li4Ag < Li9Ag4 < Li (free energy); measured 0 = 0 < 6 mV. Spearman of
    # (1, 2, 3) against (1.5, 1.5, 3) is 0.866, Kendall tau-b 0.816 (closed forms)
    nuc = crit.loc["nucleation"]
    assert nuc["spearman_rho"] == pytest.approx(math.sqrt(3) / 2)
    assert nuc["kendall_tau"] == pytest.approx(2 / math.sqrt(6))
    assert "Li4Ag = Li9Ag4 > Li" in nuc["measured_order"]
    # diffusion barrier: Li9Ag4 0.167 < Li4Ag 0.171 < Li 0.295 eV vs R_ct Li4Ag < Li9Ag4 < Li:
    # one swap of three -> Spearman 0.5, Kendall 1/3
    dif = crit.loc["diffusion"]
    assert dif["spearman_rho"] == pytest.approx(0.5) and dif["kendall_tau"] == pytest.approx(1 / 3)
    assert dif["agreement"] == "partly agrees"
    assert all("3 phases" in n for n in crit["note"])
    assert len(c.sentences) == 6 and all(s.endswith(").") for s in c.sentences)


def test_aggregate_mean_spread_n():
    res = pd.DataFrame({"cell_id": ["a", "b", "c", "d"], "anode": ["Li4Ag", "li4ag", "Li", "Li"],
                        "capacity_retention_pct": [70.0, 74.0, 10.0, np.nan],
                        "R_ct_ohm": [20.0, 22.0, 60.0, 62.0]})
    agg = aggregate(res, ["Li4Ag", "Li"]).set_index(["phase", "metric"])
    row = agg.loc[("Li4Ag", "capacity_retention_pct")]
    assert row["mean"] == 72.0 and row["std"] == pytest.approx(math.sqrt(8)) and row["n"] == 2
    row = agg.loc[("Li", "capacity_retention_pct")]
    assert row["mean"] == 10.0 and np.isnan(row["std"]) and row["n"] == 1
    assert agg.loc[("Li", "R_ct_ohm"), "mean"] == 61.0


def test_two_phases_are_flagged_and_unknown_anodes_listed():
    res = pd.DataFrame({"cell_id": ["a", "b", "c"], "anode": ["Li4Ag", "Li", "Li-In foil"],
                        "capacity_retention_pct": [72.1, 10.8, 50.0]})
    c = compare(res)
    assert c.unmatched == ["Li-In foil"]
    row = c.criteria.set_index("criterion").loc["overall_retention"]
    assert row["n_phases"] == 2 and row["spearman_rho"] == pytest.approx(1.0)
    assert "cannot mean much" in row["note"] and "too few to mean much" in row["sentence"]
    # metrics nobody measured are reported as not tested, not as agreement
    assert c.criteria.set_index("criterion").loc["nucleation", "agreement"] == "not tested"


def test_reversed_measurement_disagrees():
    res = pd.DataFrame({"cell_id": list("abc"), "anode": ["Li4Ag", "Li9Ag4", "Li"],
                        "capacity_retention_pct": [10.0, 50.0, 70.0]})
    row = compare(res).criteria.set_index("criterion").loc["overall_retention"]
    assert row["spearman_rho"] == pytest.approx(-1.0) and row["kendall_tau"] == pytest.approx(-1.0)
    assert row["agreement"] == "disagrees"

"""Cross-reference of measured cells with the DFT predictions."""
import math

import numpy as np
import pandas as pd
import pytest

from echem.compare import aggregate, compare
from echem.sampledata import truth

dft = pytest.importorskip("dft")

METRIC_COLUMNS = ["cell_id", "anode", "nucleation_overpotential_mV", "R_SEI_ohm", "R_ct_ohm",
                  "polarization_mV", "failure_time_h", "capacity_retention_pct", "test_duration_h",
                  "retention_cycle"]


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
    # three phases: "same order", never "agrees"; no p-value in the sentence, the caveat is in it
    assert ret["agreement"] == "same order" and "Li4Ag > Li9Ag4 > Li" in ret["sentence"]
    assert ret["sentence"].startswith("Overall retention: same order for 3 phases")
    assert "no rank correlation can be significant (p = 0.33 at best)" in ret["sentence"]
    assert ret["min_p_reachable"] == pytest.approx(2 / 6)     # 2 of the 3! orders reach |rho| = 1
    # like with like: Li's 10.8 % is after 7 cycles, the alloys' after 50, and the sentence says so
    assert "Li 10.8 % after 7 cycles" in ret["sentence"] and "Li4Ag 72.1 % after 50 cycles" in ret["sentence"]
    assert "not like with like" in ret["sentence"]
    assert ret["spearman_p"] == pytest.approx(2 / 6)
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
    assert dif["agreement"] == "different order" and dif["swapped_pairs"] == 1 and dif["pairs"] == 3
    assert "different order for 3 phases (1 of 3 pairs swapped)" in dif["sentence"]
    # the nucleation tie (0 = 0 mV) swaps no pair: the same order, ties aside
    assert nuc["agreement"] == "same order" and "(ties aside)" in nuc["sentence"]
    assert all("3 phases" in n for n in crit["note"])
    assert len(c.sentences) == 6 and all(s.endswith(".") and "exact p" not in s for s in c.sentences)
    # censored: the alloys that did not fail tie, and outlast Li, which shorted
    fail = crit.loc["overall_failure"]
    assert fail["measured_order"] == "Li4Ag = Li9Ag4 > Li" and fail["agreement"] == "same order"
    assert "> 150 h (no failure in the test)" in fail["sentence"]


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
    assert "cannot mean much" in row["note"]
    assert "With 2 phases no rank correlation can be significant (p = 1 at best)" in row["sentence"]
    # metrics nobody measured are reported as not tested, not as agreement
    assert c.criteria.set_index("criterion").loc["nucleation", "agreement"] == "not tested"


def test_reversed_measurement_disagrees():
    res = pd.DataFrame({"cell_id": list("abc"), "anode": ["Li4Ag", "Li9Ag4", "Li"],
                        "capacity_retention_pct": [10.0, 50.0, 70.0]})
    row = compare(res).criteria.set_index("criterion").loc["overall_retention"]
    assert row["spearman_rho"] == pytest.approx(-1.0) and row["kendall_tau"] == pytest.approx(-1.0)
    assert row["agreement"] == "different order" and row["swapped_pairs"] == 3


def test_exact_spearman_p_against_scipy_permutation_test():
    # scipy's permutation test enumerates all n! pairings exactly when n! <= n_resamples
    from scipy import stats

    from echem.compare import exact_spearman_p
    rng = np.random.default_rng(3)
    for n in (3, 4, 5, 6):
        x = rng.permutation(n).astype(float)
        y = rng.permutation(n).astype(float)
        ref = stats.permutation_test((x,), lambda a: stats.spearmanr(a, y).statistic,
                                     permutation_type="pairings", alternative="two-sided",
                                     n_resamples=10_000)
        assert len(ref.null_distribution) == math.factorial(n)      # all orders, exactly
        p, min_p = exact_spearman_p(x, y)
        assert p == pytest.approx(ref.pvalue, abs=1e-12)
        assert min_p == pytest.approx(2 / math.factorial(n))


def test_five_phases_show_the_exact_p():
    # five phases measured in the DFT order: rho = 1, exact p = 2/5! = 0.0167 < 0.05, so the
    # sentence gives it; with three phases it would not
    order = dft.rank(dft.load("Li-Ag"), phases=list(dft.load("Li-Ag").table.index)).order[:5]
    res = pd.DataFrame({"cell_id": list("abcde"), "anode": order,
                        "capacity_retention_pct": [90.0, 80.0, 70.0, 60.0, 50.0]})
    row = compare(res).criteria.set_index("criterion").loc["overall_retention"]
    assert row["n_phases"] == 5 and row["agreement"] == "same order"
    assert row["spearman_p"] == pytest.approx(2 / 120) and row["min_p_reachable"] == pytest.approx(2 / 120)
    assert "exact p = 0.017" in row["sentence"] and "can be significant" not in row["sentence"]


def test_censored_failure_times_compare_as_censored():
    # the new form: failure_censored with failure_time_h = the test duration. Li4Ag ran 150 h
    # without failing: it outlasts Li (25 h), ties with nothing; Li9Ag4's test ended at 20 h
    # without failure, before Li failed at 25 h: their order is not known.
    res = pd.DataFrame({"cell_id": list("abcd"), "anode": ["Li4Ag", "Li9Ag4", "Li", "Li"],
                        "failure_time_h": [150.0, 20.0, 25.0, 23.0],
                        "failure_censored": [True, True, False, False]})
    c = compare(res)
    agg = c.aggregate.set_index(["phase", "metric"])
    assert agg.loc[("Li", "failure_time_h"), "mean"] == 24.0
    assert not agg.loc[("Li", "failure_time_h"), "censored"]
    assert agg.loc[("Li4Ag", "failure_time_h"), "censored"]
    r = c.rankings[c.rankings["metric"] == "failure_time_h"].set_index("phase")["rank"]
    assert r["Li4Ag"] == 1 and r["Li"] == 2 and r["Li9Ag4"] == 3
    row = c.criteria.set_index("criterion").loc["overall_failure"]
    assert "Li4Ag > 150 h (no failure in the test)" in row["sentence"]
    assert "Order not known for Li9Ag4 and Li" in row["sentence"]
    # a phase with one cell that failed and one that did not: a lower bound of the mean
    mixed = pd.DataFrame({"cell_id": list("ab"), "anode": ["Li", "Li"], "failure_time_h": [20.0, 100.0],
                          "failure_censored": [False, True]})
    row = aggregate(mixed, ["Li"]).set_index("metric").loc["failure_time_h"]
    assert row["mean"] == 60.0 and row["censored"]

"""echem.eis.track: impedance followed over a test, on a measurement made here with known
resistances per spectrum, and on the 32 spectra of the corpus EC-Lab loop (vsp_peis_with.mpr)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from echem import eis
from echem.schema import Measurement

F = np.logspace(np.log10(7e6), -1, 71)


def growing_sei_cell(n_spectra=4, noise=0.002, seed=3):
    """A symmetric cell measured every 10 cycles: R_SEI grows 12 -> 21 ohm, R_ct stays 24 ohm."""
    rng = np.random.default_rng(seed)
    parts, truth = [], []
    for k in range(n_spectra):
        r_sei, r_ct = 12.0 + 3.0 * k, 24.0
        z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, r_sei, 1e-5, 0.9, r_ct, 1e-3, 0.85], F)
        z = z + noise * np.abs(z) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
        t0 = 36000.0 * k
        cycling = pd.DataFrame({"time_s": t0 + np.arange(5.0), "voltage_V": 0.01, "cycle": 10 * k + 1,
                                "frequency_Hz": np.nan, "z_real_ohm": np.nan, "z_imag_ohm": np.nan})
        imp = pd.DataFrame({"time_s": t0 + 10 + np.arange(F.size, dtype=float), "voltage_V": 0.0,
                            "cycle": 10 * k + 1, "frequency_Hz": F, "z_real_ohm": z.real,
                            "z_imag_ohm": z.imag})
        imp["spectrum"] = k + 1
        parts += [cycling, imp]
        truth.append((r_sei, r_ct, t0 + 10, 10 * k + 1))
    df = pd.concat(parts, ignore_index=True)
    df["spectrum"] = df["spectrum"].astype("Int64")
    return Measurement(df, {}), truth


def test_track_follows_known_resistances_over_cycles():
    meas, truth = growing_sei_cell()
    t = eis.track(meas)
    assert list(t["spectrum"]) == [1, 2, 3, 4]
    np.testing.assert_allclose(t["time_s"], [tr[2] for tr in truth])
    assert list(t["cycle"]) == [tr[3] for tr in truth]
    np.testing.assert_allclose(t["R_SEI_ohm"], [tr[0] for tr in truth], rtol=0.03)
    np.testing.assert_allclose(t["R_ct_ohm"], [tr[1] for tr in truth], rtol=0.03)
    assert (t["R_SEI_stderr_ohm"] > 0).all() and (t["R_SEI_stderr_ohm"] < 0.05 * t["R_SEI_ohm"]).all()
    assert t["kk_passed"].all() and t["success"].all() and (t["rel_rms"] < 0.005).all()
    assert t["kk_fail_f_min_Hz"].isna().all()
    # the DRT's two largest peaks: peak 1 the higher-frequency one, R_SEI's arc near 2 kHz
    np.testing.assert_allclose(t["drt_peak1_R_ohm"], t["R_SEI_ohm"], rtol=0.10)
    np.testing.assert_allclose(t["drt_peak2_R_ohm"], t["R_ct_ohm"], rtol=0.10)
    assert (t["drt_peak1_f_Hz"] > t["drt_peak2_f_Hz"]).all()
    np.testing.assert_allclose(t["drt_peak1_f_Hz"], t["f_R_SEI_Hz"], rtol=0.15)
    np.testing.assert_allclose(t["drt_peak1_tau_s"], 1 / (2 * np.pi * t["drt_peak1_f_Hz"]))


def test_track_without_cycle_and_with_a_bad_spectrum():
    meas, _ = growing_sei_cell(n_spectra=2)
    df = meas.data.drop(columns="cycle")
    bad = df[df["spectrum"] == 2].head(3).assign(spectrum=3)
    t = eis.track(pd.concat([df, bad], ignore_index=True))
    assert "cycle" not in t.columns
    assert list(t["success"]) == [True, True, False]
    assert np.isnan(t["R_SEI_ohm"][2]) and "too few" in t["message"][2]
    assert np.isnan(t["drt_peak1_R_ohm"][2])


def test_track_of_the_corpus_loop_equals_fit_all(corpus):
    import echem
    meas = echem.read(corpus / "biologic" / "vsp_peis_with.mpr")
    t = eis.track(meas)
    table = eis.fit_all(meas)
    assert len(t) == 32 and list(t["spectrum"]) == list(range(1, 33))
    assert t["time_s"].is_monotonic_increasing
    np.testing.assert_allclose(t["R_SEI_ohm"], table["R_SEI"])
    np.testing.assert_allclose(t["R_ct_stderr_ohm"], table["R_ct_stderr"])
    assert list(t["kk_passed"]) == list(table["kk_passed"])
    np.testing.assert_array_equal(t["kk_fail_f_max_Hz"], table["kk_fail_f_max_Hz"])
    # a spectrum that fails Kramers-Kronig names its band; one that passes has none
    failing = t[~t["kk_passed"]]
    assert (failing["kk_fail_f_min_Hz"] <= failing["kk_fail_f_max_Hz"]).all()
    assert t.loc[t["kk_passed"], "kk_fail_f_min_Hz"].isna().all()
    assert t["drt_peak1_R_ohm"].notna().all()

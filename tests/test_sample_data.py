"""The sample data generator: deterministic, small, and its files hold what they were made with."""
from pathlib import Path

import numpy as np
import pytest

import echem
from echem import sampledata

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
MASS_G = 0.006


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    sampledata.generate(out)
    return out


def test_generator_is_deterministic_and_sample_data_is_current(regenerated):
    made = sorted(p.name for p in regenerated.iterdir())
    shipped = sorted(p.name for p in SAMPLE.iterdir())
    assert made == shipped
    for name in made:  # same seed -> same bytes; a failure here means: rerun scripts/make_sample_data.py
        assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_sample_data_under_5_MB():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 5_000_000


def test_both_btsda_layouts_appear():
    first = {p.name: p.read_text(encoding="utf-8").splitlines()[:3] for p in SAMPLE.glob("*.csv")}
    nested = [n for n, lines in first.items() if lines[1].startswith(",") and lines[2].startswith(",,")]
    flat = [n for n, lines in first.items() if lines[0].startswith("DataPoint")]
    assert nested and flat and len(nested) + len(flat) == len(first)


def _read(name):
    return echem.read(SAMPLE / name).data


def _discharge_mAh_g(d, cycle):
    rows = d[(d["cycle"] == cycle) & (d["step_type"] == "cc_discharge")]
    return rows["capacity_mAh"].max() / MASS_G


@pytest.mark.parametrize("cell,paper", [
    ("full-Li4Ag", {1: 184, 30: 157, 50: 133, "ret": 72.1, "last": 50}),
    ("full-Li9Ag4", {1: 183, 30: 121, 50: 107, "ret": 58.8, "last": 50}),
    ("full-Li", {"ret": 10.8, "last": 7}),
])
def test_full_cells_hold_the_papers_capacities(cell, paper):
    d = _read(f"{cell}_cycling.csv")
    assert d["cycle"].max() == paper["last"]
    for c in (1, 30, 50):
        if c in paper:  # paper, Figure 5e-f: mAh/g at cycles 1, 30, 50
            assert round(_discharge_mAh_g(d, c)) == paper[c]
    ret = 100 * _discharge_mAh_g(d, paper["last"]) / _discharge_mAh_g(d, 1)
    assert ret == pytest.approx(paper["ret"], abs=0.05)
    # protocol: 0.125 mA/cm2 in cycles 1-2, then 0.25 mA/cm2, on 0.7854 cm2; 2.5-4.3 V
    j = d.loc[d["current_mA"] != 0].groupby("cycle")["current_mA"].apply(lambda s: s.abs().median()) / 0.7854
    assert np.allclose(j.loc[[1, 2]], 0.125, rtol=1e-3) and np.allclose(j.loc[3:], 0.25, rtol=1e-3)
    assert d["voltage_V"].max() <= 4.3 + 0.001 and d["voltage_V"].min() >= 2.5 - 0.001
    # the instrument's resolution: 0.1 mV
    assert np.allclose(d["voltage_V"] * 1e4, np.round(d["voltage_V"] * 1e4), atol=1e-6)


@pytest.mark.parametrize("cell,eta_mV,hours,shorted", [
    ("sym-Li4Ag", 0.0, 150, False), ("sym-Li9Ag4", 0.0, 150, False), ("sym-Li", 6.0, 24.6, True)])
def test_symmetric_cells(cell, eta_mV, hours, shorted):
    d = _read(f"{cell}_cycling.csv")
    # 0.2 mA/cm2 and 0.2 mAh/cm2 per half cycle (paper, Figure 5c)
    cc = d[d["step_type"].isin(["cc_charge", "cc_discharge"])]
    assert np.allclose(cc["current_mA"].abs() / 0.7854, 0.2, rtol=1e-3)
    per_step = cc.groupby("step")["capacity_mAh"].max().iloc[:-1] / 0.7854
    assert np.allclose(per_step, 0.2, rtol=1e-3)
    # nucleation: bottom of the first plating dip minus the plateau that follows (paper, Fig. 5a)
    first = cc[cc["step"] == cc["step"].min()]
    t = first["time_s"] - first["time_s"].iloc[0]
    v = first["voltage_V"].abs() * 1000
    plateau = v[(t > 900) & (t < 2700)].median()
    assert v[t < 300].max() - plateau == pytest.approx(eta_mV, abs=0.35)
    span_h = d["time_s"].max() / 3600
    late = cc[cc["time_s"] > d["time_s"].max() - 2 * 3600]["voltage_V"].abs() * 1000
    if shorted:  # Li: |V| collapses just before 25 h and stays near zero
        assert span_h < 30 and late.median() < 1.0
        before = cc[(cc["time_s"] > (hours - 2) * 3600) & (cc["time_s"] < (hours - 0.1) * 3600)]
        assert before["voltage_V"].abs().median() * 1000 > 15
    else:
        assert span_h >= hours and late.median() > 10


@pytest.mark.filterwarnings("ignore:Simulating circuit based on initial parameters")
@pytest.mark.parametrize("k", range(3))
def test_impedance_files_round_trip(k):
    """The .mpt holds the spectrum of R0-p(R1,CPE1)-p(R2,CPE2) with Table S7's R_SEI and R_ct, as
    impedance.py computes it, within the 0.2 % noise and the export's 8 significant digits."""
    from impedance.models.circuits import CustomCircuit
    spec = sampledata.SYMMETRIC[k]
    m = echem.read(SAMPLE / f"{spec.cell_id}_PEIS_C0{k + 1}.mpt")
    d = m.data
    f = d["frequency_Hz"].to_numpy()
    assert f.size == 79 and f.max() == pytest.approx(7e6, rel=1e-3) and f.min() == pytest.approx(0.1, rel=1e-3)
    circ = CustomCircuit("R0-p(R1,CPE1)-p(R2,CPE2)", initial_guess=[
        spec.r0_ohm, spec.r_sei_ohm, spec.q1, spec.a1, spec.r_ct_ohm, spec.q2, spec.a2])
    z_model = circ.predict(f, use_initial=True)
    z = d["z_real_ohm"].to_numpy() + 1j * d["z_imag_ohm"].to_numpy()
    rel = np.abs(z - z_model) / np.abs(z_model)
    assert rel.max() < 0.01 and 0.0005 < np.sqrt(np.mean(rel ** 2)) < 0.004
    # the low-frequency limit is R0 + R_SEI + R_ct
    assert z.real[-1] == pytest.approx(spec.r0_ohm + spec.r_sei_ohm + spec.r_ct_ohm, rel=0.01)
    # Table S7 (paper): the generator's values
    assert (spec.r_sei_ohm, spec.r_ct_ohm) == {"Li4Ag": (12.10, 24.33), "Li9Ag4": (25.20, 43.89),
                                               "Li": (24.52, 59.79)}[spec.phase]


def test_truth_table_matches_the_paper():
    t = sampledata.truth().set_index("cell_id")
    assert t.loc["full-Li4Ag", "capacity_retention_pct"] == pytest.approx(72.1)
    assert t.loc["full-Li9Ag4", "capacity_retention_pct"] == pytest.approx(58.8)
    assert t.loc["full-Li", "capacity_retention_pct"] == pytest.approx(10.8)
    assert list(t.loc[["sym-Li4Ag", "sym-Li9Ag4", "sym-Li"], "nucleation_overpotential_mV"]) == [0, 0, 6]
    pol = t.loc[["sym-Li4Ag", "sym-Li9Ag4", "sym-Li"], "polarization_mV"]
    assert pol.idxmin() == "sym-Li4Ag" and pol.idxmax() == "sym-Li9Ag4"   # paper, Figure 5c
    assert t.loc["sym-Li", "failure_time_h"] < 25


@pytest.mark.parametrize("k", range(len(sampledata.HALF)))
def test_half_cells_hold_their_lithiation(k):
    """The half cell's first lithiation: 0.2 mA/cm2 until x Li per Ag of the target phase
    (Li4Ag x = 4, Li9Ag4 x = 9/4 from the formulas) by Coulomb counting on the 8.2 mg Ag foil."""
    from dft.voltage import phase_voltages
    spec = sampledata.HALF[k]
    d = _read(f"{spec.cell_id}_cycling.csv")
    cc = d[d["step_type"].isin(["cc_charge", "cc_discharge"])]
    assert np.allclose(cc["current_mA"].abs() / 0.7854, 0.2, rtol=1e-3)
    first = cc[cc["cycle"] == 1]
    assert (first["current_mA"] < 0).all()                # lithiation of the Ag = discharge
    x = first["capacity_mAh"].max() * 3.6 / 96485.33212 / (spec.host_mass_mg / 1000 / 107.8682)
    assert x == pytest.approx(phase_voltages().at[spec.phase, "guest_per_host"], abs=1e-4)
    later = cc[cc["cycle"] > 1].groupby("step")["capacity_mAh"].max() / 0.7854
    assert np.allclose(later, 0.2, rtol=1e-3) and len(later) == 2 * spec.n_cycles
    assert np.allclose(d["voltage_V"] * 1e4, np.round(d["voltage_V"] * 1e4), atol=1e-6)
    # and the schedule is its protocol's (half-li-ag-li4ag / half-li-ag-li9ag4)
    from echem.manifest import check_compliance, load_manifest
    exp = load_manifest(SAMPLE)
    cell = next(c for c in exp.cells if c.id == spec.cell_id)
    assert exp.protocol_for(cell).name == spec.protocol
    assert check_compliance(cell, exp.protocol_for(cell), [echem.read(f) for f in cell.files]) == []


@pytest.mark.parametrize("k", range(len(sampledata.HALF)))
def test_half_cells_identified_against_truth(k):
    """echem.phases on the sample half cells (read back from their BTSDA exports, host mass from
    the manifest) finds the plateaus they were generated with."""
    from echem import phases
    from echem.manifest import load_manifest
    spec = sampledata.HALF[k]
    cell = next(c for c in load_manifest(SAMPLE).cells if c.id == spec.cell_id)
    assert cell.type == "half" and cell.phase == spec.phase
    pm = phases.identify(_read(f"{spec.cell_id}_cycling.csv"), host_mass_mg=cell.active_mass_g * 1000)
    want = sampledata.truth(what="plateaus")
    want = want[want["cell_id"] == spec.cell_id].reset_index(drop=True)
    got = pm.plateaus
    assert len(got) == len(want) == sampledata.truth().set_index("cell_id").loc[spec.cell_id, "n_plateaus"]
    assert list(got["phase"]) == list(want["phase"])
    assert np.abs(got["voltage_V"] - want["voltage_V"]).max() < 0.002
    assert np.abs(got["x_start"] - want["x_start"]).max() < 0.1
    assert np.abs(got["x_end"] - want["x_end"]).max() < 0.1
    t = sampledata.truth().set_index("cell_id").loc[spec.cell_id]
    assert pm.x_max == pytest.approx(t["x_max"], abs=0.001) and pm.end_phase == t["end_phase"]
    # the DFT cross-reference: each measured plateau within 15 mV of its phase's DFT voltage
    cmp = phases.compare_to_dft(pm).dropna(subset=["measured_voltage_V"])
    assert len(cmp) == len(want) and (cmp["delta_mV"].abs() < 15).all()


@pytest.mark.filterwarnings("ignore:Simulating circuit based on initial parameters")
def test_periodic_impedance_cell():
    """sym-Li4Ag-EIS: six PEIS spectra in one EC-Lab .mpt (cycle number 1..6), before cycling and
    after every 15 cycles, each inside a rest of the cycling file; each spectrum is the default
    circuit with the R_SEI and R_ct of truth(what="eis"), as impedance.py computes it, and a fit
    (echem.eis) gives them back."""
    from impedance.models.circuits import CustomCircuit
    from echem import eis
    p = sampledata.PERIODIC_EIS
    want = sampledata.truth(what="eis")
    assert list(want["after_cycles"]) == [0, 15, 30, 45, 60, 75]
    # the law, closed form at n = 0 and n = 75 (Table S7's values before cycling)
    assert want["R_SEI_ohm"].iloc[0] == 12.10 and want["R_ct_ohm"].iloc[0] == 24.33
    assert want["R_SEI_ohm"].iloc[-1] == pytest.approx(12.10 + 1.2 * np.sqrt(75))
    assert want["R_ct_ohm"].iloc[-1] == pytest.approx(24.33 * 1.3)
    m = echem.read(SAMPLE / f"{p.cell.cell_id}_PEIS_C04.mpt")
    d = m.data
    assert sorted(d["spectrum"].unique()) == [1, 2, 3, 4, 5, 6]
    cyc = echem.read(SAMPLE / f"{p.cell.cell_id}_cycling.csv").data
    assert cyc["cycle"].max() == 75
    for (k, s), w in zip(d.groupby("spectrum"), want.itertuples()):
        f = s["frequency_Hz"].to_numpy()
        z = s["z_real_ohm"].to_numpy() + 1j * s["z_imag_ohm"].to_numpy()
        circ = CustomCircuit("R0-p(R1,CPE1)-p(R2,CPE2)", initial_guess=[
            p.cell.r0_ohm, w.R_SEI_ohm, p.cell.q1, p.cell.a1, w.R_ct_ohm, p.cell.q2, p.cell.a2])
        rel = np.abs(z - circ.predict(f, use_initial=True)) / np.abs(z)
        assert rel.max() < 0.01
        # taken during a rest of the cycling: no current while the spectrum runs
        t0, t1 = s["time_s"].min(), s["time_s"].max()
        assert t0 == pytest.approx(w.time_h * 3600, abs=1.0)
        during = cyc[(cyc["time_s"] >= t0 - 60) & (cyc["time_s"] <= t1 + 60)]
        assert len(during) and (during["current_mA"] == 0).all() and (during["step_type"] == "rest").all()
        # after the cycles it follows
        assert cyc.loc[cyc["time_s"] < t0, "cycle"].max() == max(w.after_cycles, 1)
    # the cell keeps to its protocol (symmetric-li-ag) with the rests and spectra in it
    from echem.manifest import check_compliance, load_manifest
    exp = load_manifest(SAMPLE)
    cell = next(c for c in exp.cells if c.id == p.cell.cell_id)
    assert check_compliance(cell, exp.protocol_for(cell), [m, echem.read(cell.files[0])]) == []
    fits = eis.fit_table(eis.fit_spectra(m))
    assert fits["R_SEI"].to_numpy() == pytest.approx(want["R_SEI_ohm"].to_numpy(), rel=0.03)
    assert fits["R_ct"].to_numpy() == pytest.approx(want["R_ct_ohm"].to_numpy(), rel=0.03)

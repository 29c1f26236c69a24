"""echem.phases: Li content by Coulomb counting, two-phase plateaus, their DFT phases, and the
operating window of an alloy anode. Curves of known truth are made here."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dft.properties import theoretical_capacity_mAh_g
from dft.voltage import x_to_charge_mAh
from conftest import corpus_files
from echem import phases
from echem.errors import EchemError

M_AG = 107.8682
HOST_MG = 8.2          # the paper's Ag foil (Experimental methodology)
I_MA = 0.157           # 0.2 mA/cm2 on 0.7854 cm2


def branch_curve(plateaus, x_end, v_end, *, v0=0.60, n=1500, noise_V=0.0004, seed=0,
                 blur_x=0.015, tilt_V=0.003):
    """V(x) of a lithiation: a fall from v0 to the first plateau, each plateau (V, x_start, x_end)
    tilted by tilt_V, straight sloping solid-solution regions between them and after the last to
    (x_end, v_end), corners rounded by a Gaussian of blur_x, Gaussian noise of noise_V."""
    xs, vs = [0.0], [v0]
    for v, a, b in plateaus:
        xs += [a, b]
        vs += [v + tilt_V / 2, v - tilt_V / 2]
    xs.append(x_end)
    vs.append(v_end)
    fine = np.linspace(-0.5, x_end + 0.5, 40001)
    vf = np.interp(fine, xs, vs)
    h = fine[1] - fine[0]
    k = np.exp(-0.5 * (np.arange(-400, 401) * h / blur_x) ** 2)
    vf = np.convolve(np.pad(vf, 400, mode="edge"), k / k.sum(), mode="same")[400:-400]
    x = np.linspace(0.0, x_end, n)
    return x, np.interp(x, fine, vf) + np.random.default_rng(seed).normal(0, noise_V, n)


def records(x, v, sign=-1, t0=0.0, step=1, capacity=True):
    """Common-schema records of one constant-current step moving x Li per Ag (|dx| from its start)."""
    q = x_to_charge_mAh(np.abs(x - x[0]), HOST_MG, M_AG)
    d = pd.DataFrame({"time_s": t0 + q / I_MA * 3600.0, "voltage_V": v, "current_mA": sign * I_MA,
                      "step": step, "cycle": 1,
                      "step_type": "cc_discharge" if sign < 0 else "cc_charge"})
    if capacity:
        d["capacity_mAh"] = q
    return d


# three two-phase plateaus a few mV below the DFT voltages of Ag, LiAg and Li9Ag4 (paper, Fig. 1a:
# 0.342, 0.230, 0.121 V), sloping solid solutions between them and after the last (Li4Ag, 40 mV/x)
TRUE = [(0.337, 0.10, 0.85, "Ag"), (0.226, 1.15, 2.00, "LiAg"), (0.117, 2.45, 3.70, "Li9Ag4")]


@pytest.mark.parametrize("seed", range(4))
def test_three_plateaus_found_with_phase_voltage_and_x(seed):
    x, v = branch_curve([t[:3] for t in TRUE], 4.25, 0.097, seed=seed)
    pm = phases.identify(records(x, v), host_mass_mg=HOST_MG, system="Li-Ag")
    p = pm.plateaus
    assert list(p.columns) == ["voltage_V", "x_start", "x_end", "capacity_mAh", "phase",
                               "dft_voltage_V", "delta_mV"]
    assert len(p) == 3                                   # no plateau that is not there
    for (volt, a, b, phase), r in zip(TRUE, p.itertuples()):
        assert abs(r.voltage_V - volt) < 0.005
        assert abs(r.x_start - a) < 0.1 and abs(r.x_end - b) < 0.1
        assert r.phase == phase
        assert r.dft_voltage_V == {"Ag": 0.342, "LiAg": 0.230, "Li9Ag4": 0.121}[phase]
        assert r.delta_mV == pytest.approx((r.voltage_V - r.dft_voltage_V) * 1000)
        # charge of the plateau: its x range times F n_Ag
        assert r.capacity_mAh == pytest.approx((r.x_end - r.x_start) * 96485.33212 * HOST_MG
                                               / 1000 / M_AG / 3.6)
    assert pm.x_max == pytest.approx(4.25, abs=1e-9)
    assert pm.end_phase == "Li4Ag"
    assert not pm.warnings
    summ = pm.summary()
    assert summ["n_plateaus"] == 3 and summ["end_phase"] == "Li4Ag"
    assert summ["plateau_LiAg_V"] == p["voltage_V"].iloc[1]
    assert summ["plateau_Li9Ag4_delta_mV"] == p["delta_mV"].iloc[2]


def test_coulomb_counting_from_current_alone():
    """No capacity column: the current integrated over time gives x = I t / (F n_Ag)."""
    x, v = branch_curve([t[:3] for t in TRUE], 2.6, 0.11, seed=7)
    d = records(x, v, capacity=False)
    pm = phases.identify(d, host_mass_mg=HOST_MG)
    t_h = d["time_s"].iloc[-1] / 3600
    assert pm.x_max == pytest.approx(I_MA * t_h * 3.6 / 96485.33212 / (HOST_MG / 1000 / M_AG), rel=1e-9)
    assert pm.x_max == pytest.approx(2.6, rel=1e-6)
    assert list(pm.plateaus["phase"]) == ["Ag", "LiAg", "Li9Ag4"][:len(pm.plateaus)]
    assert pm.end_phase == "Li9Ag4"


def test_delithiation_branch_and_cycling_x():
    """Lithiation to x = 4.25, rest, then delithiation back to x = 0.9: the delithiation plateaus sit
    above the lithiation ones (overpotential of the other sign) and x comes back down."""
    x, v = branch_curve([t[:3] for t in TRUE], 4.25, 0.097, seed=3)
    up = [(0.125, 3.70, 2.45), (0.234, 2.00, 1.15)]
    xd, vd = branch_curve([(volt, 4.25 - a, 4.25 - b) for volt, a, b in up], 4.25 - 0.9, 0.30,
                          v0=0.090, seed=4, tilt_V=-0.003)
    lith = records(x, v)
    rest = pd.DataFrame({"time_s": lith["time_s"].iloc[-1] + np.arange(1, 31) * 20.0,
                         "voltage_V": 0.105, "current_mA": 0.0, "step": 2, "cycle": 1,
                         "step_type": "rest", "capacity_mAh": 0.0})
    de = records(4.25 - xd, vd, sign=+1, t0=rest["time_s"].iloc[-1] + 1, step=3)
    pm = phases.identify(pd.concat([lith, rest, de], ignore_index=True), host_mass_mg=HOST_MG)
    assert len(pm.plateaus) == 3
    dp = pm.delithiation_plateaus.sort_values("x_start")
    assert len(dp) == 2
    assert list(dp["phase"]) == ["LiAg", "Li9Ag4"]
    assert dp["voltage_V"].to_numpy() == pytest.approx([0.234, 0.125], abs=0.005)
    assert dp["x_start"].to_numpy() == pytest.approx([1.15, 2.45], abs=0.1)
    assert dp["x_end"].to_numpy() == pytest.approx([2.00, 3.70], abs=0.1)
    assert pm.x_max == pytest.approx(4.25, abs=1e-6)
    assert pm.x_cycling == pytest.approx((0.9, 4.25), abs=1e-6)
    cmp = phases.compare_to_dft(pm).set_index("phase")
    assert cmp.loc["LiAg", "delithiation_voltage_V"] == pytest.approx(0.234, abs=0.005)
    # the dQ/dV of each branch: its peaks at the plateaus, negative on lithiation
    d = pm.dqdv
    lith_peak = d[d["branch"] == "lithiation"].nsmallest(1, "dQ_dV_mAh_V")["voltage_V"].iloc[0]
    assert lith_peak == pytest.approx(0.117, abs=0.003)       # the widest plateau is the tallest peak
    deli = d[d["branch"] == "delithiation"]
    assert deli["dQ_dV_mAh_V"].max() > 0 and deli["dQ_dV_mAh_V"].min() >= 0


def test_dq_dv_keeps_the_charge_and_a_flat_plateau_sharp():
    # all the charge at one voltage: one bin of 1 mV, spread 1-2-1 -> 250, 500, 250 mAh/V
    d = phases.dq_dv(np.full(11, 0.2005), np.linspace(0, 1.0, 11))
    assert d["dQ_dV_mAh_V"].max() == pytest.approx(500.0)
    assert d.loc[d["dQ_dV_mAh_V"].idxmax(), "voltage_V"] == pytest.approx(0.2005)
    assert (d["dQ_dV_mAh_V"] > 0).sum() == 3
    # any curve: the area under dQ/dV is the charge passed
    x, v = branch_curve([t[:3] for t in TRUE], 4.25, 0.097, seed=2)
    q = x_to_charge_mAh(x, HOST_MG, M_AG)
    d = phases.dq_dv(v, q)
    assert d["dQ_dV_mAh_V"].sum() * 0.001 == pytest.approx(q[-1])


def test_no_plateau_in_a_solid_solution():
    x = np.linspace(0, 1.5, 800)
    v = 0.40 - 0.12 * x + np.random.default_rng(1).normal(0, 0.0004, x.size)   # 120 mV per x
    pm = phases.identify(records(x, v), host_mass_mg=HOST_MG)
    assert len(pm.plateaus) == 0 and pm.warnings
    assert list(pm.plateaus.columns) == phases.PLATEAU_COLUMNS


def test_compare_to_dft_rows_per_phase():
    x, v = branch_curve([t[:3] for t in TRUE], 4.25, 0.097, seed=0)
    pm = phases.identify(records(x, v), host_mass_mg=HOST_MG)
    c = phases.compare_to_dft(pm)
    assert list(c["phase"]) == ["Ag", "LiAg", "Li9Ag4", "Li4Ag", "Li9Ag"]
    assert list(c["dft_voltage_V"]) == [0.342, 0.230, 0.121, 0.091, 0.030]     # paper, Fig. 1a
    assert list(c["reaction"][:3]) == ["Ag -> LiAg", "LiAg -> Li9Ag4", "Li9Ag4 -> Li4Ag"]
    got = c.set_index("phase")
    for volt, a, b, phase in TRUE:
        assert got.loc[phase, "measured_voltage_V"] == pytest.approx(volt, abs=0.005)
        assert got.loc[phase, "delta_mV"] == pytest.approx((volt - got.loc[phase, "dft_voltage_V"]) * 1000, abs=5)
    assert c["measured_voltage_V"].iloc[3:].isna().all()


def test_bad_input_is_a_typed_error():
    x, v = branch_curve([t[:3] for t in TRUE], 1.0, 0.25, seed=0)
    with pytest.raises(EchemError, match="host_mass_mg"):
        phases.identify(records(x, v), host_mass_mg=0)
    with pytest.raises(EchemError, match="no lithiation"):
        phases.identify(records(x, v, sign=+1), host_mass_mg=HOST_MG)
    with pytest.raises(EchemError, match="alloy system"):
        phases.identify(records(x, v), host_mass_mg=HOST_MG, system="Li-Xx")


def test_operating_window_of_the_papers_full_cells():
    """Paper: Li4Ag | NCM811 at 184 mAh/g on 6.0 mg cathode (Fig. 5e), Ag foil 8.2 mg: 1.10 mAh moves
    x from 4 to 4.54, 135 mAh/g of Ag - inside 'within Li4Ag' (409 mAh/g, Fig. 5h)."""
    w = phases.operating_window(0.184 * 6.0, host_mass_mg=HOST_MG, anode_phase="Li4Ag")
    assert w.x_discharged == 4.0
    assert w.x_charged - 4.0 == pytest.approx(0.184 * 6.0 * 3.6 / 96485.33212 / (HOST_MG / 1000 / M_AG))
    assert w.capacity_used_mAh_g == pytest.approx(0.184 * 6.0 / (HOST_MG / 1000))
    assert w.phases == ("Li4Ag",)
    assert list(w.windows["capacity_mAh_g"]) == [409, 696]
    assert w.within[0] == "within Li4Ag" and "within" in w.verdict


def test_operating_window_edges_closed_form():
    # the paper's 409 mAh/g is a Li4Ag solid-solution width of 409 M_Ag 3.6 / F = 1.646 Li per Ag
    dx_409 = 409 * 3.6 * M_AG / 96485.33212
    assert theoretical_capacity_mAh_g(dx_409, M_AG) == pytest.approx(409)
    q = lambda mAh_g: mAh_g * HOST_MG / 1000           # mAh of cathode charge for mAh per g Ag
    inside = phases.operating_window(q(400), host_mass_mg=HOST_MG)
    assert inside.x_charged == pytest.approx(4 + 400 / 409 * dx_409) and "within Li4Ag" in inside.within
    over = phases.operating_window(q(420), host_mass_mg=HOST_MG)
    assert "within Li4Ag" not in over.within
    # from Li9Ag4 (x = 2.25): 600 mAh/g ends at x = 4.66, in Li4Ag: only the second window holds
    w = phases.operating_window(q(600), host_mass_mg=HOST_MG, anode_phase="Li9Ag4")
    assert w.phases == ("Li9Ag4", "Li4Ag") and w.within == ("Li9Ag4 to Li4Ag",)
    assert "Li9Ag4 -> Li4Ag" in w.reactions
    # 800 mAh/g from Li9Ag4 reaches x = 5.29 but uses more than 696 mAh/g: outside both
    far = phases.operating_window(q(800), host_mass_mg=HOST_MG, anode_phase="Li9Ag4")
    assert far.within == () and "outside" in far.verdict
    # from LiAg: outside whatever the capacity
    assert phases.operating_window(q(100), host_mass_mg=HOST_MG, anode_phase="LiAg").within == ()
    # the host given by the anode's Li inventory instead of its mass: the same answer
    held = x_to_charge_mAh(4.0, HOST_MG, M_AG)
    same = phases.operating_window(q(400), anode_capacity_mAh=float(held), anode_phase="Li4Ag")
    assert same.x_charged == pytest.approx(inside.x_charged)
    with pytest.raises(EchemError):
        phases.operating_window(1.0)


def test_phase_figure():
    from echem.report.figures.phases import phase_figure
    x, v = branch_curve([t[:3] for t in TRUE], 4.25, 0.097, seed=0)
    pm = phases.identify(records(x, v), host_mass_mg=HOST_MG)
    fig = phase_figure(pm, title="Li | Ag")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    for phase in ("Ag", "LiAg", "Li9Ag4"):
        assert any(t.startswith(f"{phase} (") and t.endswith("mV)") for t in texts)
    assert any("0.121 V (DFT)" in t for t in texts)
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()


CYCLING_FILES = (corpus_files("biologic", "*.mpr") + corpus_files("neware", "*.nda")
                 + corpus_files("neware", "*.ndax") + corpus_files("neware", "*.csv"))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("path", CYCLING_FILES, ids=lambda p: p.name)
def test_real_files_give_a_phase_map_or_a_typed_error(path):
    """Every readable corpus file (any technique, any cell): a PhaseMap whose x agrees with the
    instrument's own charge count, or an EchemError saying why not - never another exception."""
    import echem
    from echem import cycling
    try:
        data = echem.read(path).data
    except EchemError:
        pytest.skip("not readable")
    try:
        pm = phases.identify(data, host_mass_mg=10.0)
    except EchemError as exc:
        assert str(exc)
        return
    assert list(pm.plateaus.columns) == phases.PLATEAU_COLUMNS
    assert (pm.plateaus["x_end"] > pm.plateaus["x_start"]).all()
    # x at the end of the first lithiation: the net charge into the host up to the end of its
    # last step, from the step table (the instrument's capacity per step), over F n_Ag
    st = cycling.step_table(data)
    lith = st.index[st["direction"] == -1][0]
    after = st.loc[lith:]
    stop = after.index[after["direction"] == 1]
    upto = st.loc[: (stop[0] - 1 if len(stop) else st.index[-1])]
    net = (upto["capacity_mAh"] * -upto["direction"]).sum()
    assert pm.x_max == pytest.approx(net * 3.6 / 96485.33212 / (10.0 / 1000 / M_AG), rel=1e-6, abs=1e-9)

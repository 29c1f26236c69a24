"""dft.voltage: Li per host atom from formulas, the staircase of the paper's phase voltages, and the
hull staircase from formation energies (closed-form cases)."""
import math

import numpy as np
import pytest

import dft
from dft import voltage as dv

PAPER_X = {"Ag": 0.0, "LiAg": 1.0, "Li9Ag4": 2.25, "Li4Ag": 4.0, "Li9Ag": 9.0}
# paper, Results, 'Voltage, volume expansion, stability calculation', text and Fig. 1a
PAPER_V = {"Ag": 0.342, "LiAg": 0.230, "Li9Ag4": 0.121, "Li4Ag": 0.091, "Li9Ag": 0.030, "Li": 0.0}


def test_guest_per_host_from_formulas():
    assert dv.guest_per_host({"Li": 9, "Ag": 4}) == 2.25
    assert dv.guest_per_host({"Li": 4, "Ag": 1}) == 4.0
    assert dv.guest_per_host({"Li": 0, "Ag": 1}) == 0.0
    assert math.isinf(dv.guest_per_host({"Li": 1, "Ag": 0}))
    with pytest.raises(ValueError):
        dv.guest_per_host({"Li": 0, "Ag": 0})


def test_phase_voltages_of_the_paper():
    pv = dv.phase_voltages("Li-Ag")
    assert list(pv.index) == ["Ag", "LiAg", "Li9Ag4", "Li4Ag", "Li9Ag", "Li"]
    for phase, x in PAPER_X.items():
        assert pv.at[phase, "guest_per_host"] == x
    assert pv["voltage_V"].to_dict() == PAPER_V
    assert pv["source"].str.contains("Fig. 1a").all()


def test_voltage_profile_is_the_staircase():
    prof = dv.voltage_profile("Li-Ag")
    assert list(prof.x) == [0.0, 1.0, 2.25, 4.0, 9.0, math.inf]
    assert list(prof.voltage_V) == [0.342, 0.230, 0.121, 0.091, 0.030]
    assert prof.reaction[2] == "Li9Ag4 -> Li4Ag" and prof.reaction[-1] == "Li9Ag -> Li"
    assert np.allclose(prof.at([0.5, 1.5, 3.0, 5.0, 20.0]), [0.342, 0.230, 0.121, 0.091, 0.030])
    assert np.isnan(prof.at(-0.1))
    # the charge under the staircase from Ag to Li4Ag: sum V dx (eV per Ag atom)
    t = prof.table()
    first3 = t.iloc[:3]
    assert float((first3["voltage_V"] * (first3["x_end"] - first3["x_start"])).sum()) == \
        pytest.approx(0.342 * 1 + 0.230 * 1.25 + 0.121 * 1.75)


def test_coulomb_counting_closed_form():
    # 1 mmol Ag (107.8682 mg) takes 1 mmol Li per unit x: F * 1e-3 C = 26.8015 mAh
    assert dv.x_to_charge_mAh(1.0, 107.8682, 107.8682) == pytest.approx(96485.33212e-3 / 3.6)
    assert dv.charge_to_x(26.80148, 107.8682, 107.8682) == pytest.approx(1.0, rel=1e-6)


def test_li_ag_file_has_no_formation_energies():
    with pytest.raises(LookupError, match="formation_energy_eV_atom"):
        dv.hull_profile("Li-Ag")


HULL_TOML = """
system = "A-B"
guest = "Li"
host = "Ag"
[molar_mass_g_mol]
Li = 6.94
Ag = 107.8682
[quantities.formation_energy_eV_atom]
unit = "eV/atom"
source = "closed-form test"
[quantities.voltage_V]
unit = "V"
source = "closed-form test"
[phases.Ag]
formula = { Li = 0, Ag = 1 }
formation_energy_eV_atom = 0.0
[phases.LiAg]
formula = { Li = 1, Ag = 1 }
formation_energy_eV_atom = -0.2
[phases.Li2Ag]
formula = { Li = 2, Ag = 1 }
formation_energy_eV_atom = -0.05
[phases.Li3Ag]
formula = { Li = 3, Ag = 1 }
formation_energy_eV_atom = -0.15
[phases.Li]
formula = { Li = 1, Ag = 0 }
formation_energy_eV_atom = 0.0
"""


def test_hull_profile_closed_form(tmp_path):
    """LiAg at -0.2 eV/atom is -0.4 eV per Ag: Ag -> LiAg at 0.4 V. Li3Ag at -0.15 eV/atom is
    -0.6 eV per Ag: LiAg -> Li3Ag at (0.6 - 0.4) / 2 = 0.1 V, then 0 V against Li metal. Li2Ag
    (-0.05 eV/atom = -0.15 eV per Ag) lies above the chord LiAg-Li3Ag (-0.5 eV per Ag) and drops out."""
    path = tmp_path / "a_b.toml"
    path.write_text(HULL_TOML)
    prof = dv.hull_profile(dft.load(path))
    assert prof.phase == ("Ag", "LiAg", "Li3Ag")
    assert list(prof.x[:3]) == pytest.approx([0.0, 1.0, 3.0]) and math.isinf(prof.x[-1])
    assert list(prof.voltage_V) == pytest.approx([0.4, 0.1, 0.0])
    assert prof.reaction == ("Ag -> LiAg", "LiAg -> Li3Ag", "Li3Ag -> Li")


def test_hull_of_the_paper_voltages_gives_the_staircase(tmp_path):
    """Formation energies built from the paper's voltages (E per Ag = -sum V dx) put through a data
    file come back as voltage_profile's staircase (the last plateau against Li metal is 0 V)."""
    prof = dv.voltage_profile("Li-Ag")
    n = prof.x[:-1]
    e_host = np.concatenate([[0.0], -np.cumsum(prof.voltage_V[:-1] * np.diff(n))])
    text = HULL_TOML.split("[phases.Ag]")[0]
    for name, ni, ei in zip(prof.phase, n, e_host):
        a, b = {"Ag": (0, 1), "LiAg": (1, 1), "Li9Ag4": (9, 4), "Li4Ag": (4, 1), "Li9Ag": (9, 1)}[name]
        text += f"[phases.{name}]\nformula = {{ Li = {a}, Ag = {b} }}\nformation_energy_eV_atom = {float(ei / (1 + ni))!r}\n"
    path = tmp_path / "li_ag_hull.toml"
    path.write_text(text)
    hull = dv.hull_profile(dft.load(path))
    assert hull.phase == prof.phase
    assert list(hull.voltage_V) == pytest.approx(list(prof.voltage_V[:-1]) + [0.0], abs=1e-12)

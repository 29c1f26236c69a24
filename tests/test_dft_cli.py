"""``echem dft show`` and ``echem dft rank``: output carries the paper's numbers, units, sources."""
import re

import pytest

from echem.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_numbers_units_sources(capsys):
    code, out, err = run(capsys, "dft", "show", "Li-Ag")
    assert code == 0 and not err
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    # Table 1 row of B with unit and source
    b = lines["bulk_modulus_GPa"].split()
    assert b[1] == "GPa" and b[2:8] == ["91.186", "41.782", "31.218", "22.959", "19.61", "13.716"]
    assert lines["bulk_modulus_GPa"].rstrip().endswith("Table 1")
    # voltages (text, Fig. 1a) with V and source
    v = lines["voltage_V"].replace("*", "").split()  # * marks a note below the table
    assert v[1:8] == ["V", "0.342", "0.23", "0.121", "0.091", "0.03", "0"]
    assert "Fig. 1a" in lines["voltage_V"]
    assert lines["nucleation_energy_kJ_mol"].split()[1:8] == [
        "kJ/mol", "6e-05", "7.57e-06", "3.77e-06", "1.36e-06", "1.89e-07", "0.0163"]
    assert "Fig. 2e" in lines["nucleation_energy_kJ_mol"]
    assert lines["label"].split()[1:] == ["alpha", "beta", "gamma3", "gamma2", "gamma1", "delta"]
    assert lines["theoretical_capacity_mAh_g"].split()[1:5] == ["mAh/g", "207", "63", "214"]
    # the practical intervals and the LLZO reaction-energy range
    assert re.search(r"practical_capacity_Li9Ag4_to_Li4Ag_mAh_g\s+696\s+mAh/g", out)
    assert re.search(r"reaction_energy_LLZO_meV_atom\s+-15 to -6\s+meV/atom", out)
    # the Li9Ag4 B/G note
    assert "Li9Ag4 pugh_ratio: B/G from this table's B and G is 2.041" in out
    assert "average_voltage_V: not reproduced" in out


def test_rank_prints_order_table_sensitivity(capsys):
    code, out, err = run(capsys, "dft", "rank", "Li-Ag", "--samples", "500")
    assert code == 0 and not err
    assert out.splitlines()[0].startswith("Li-Ag: Li4Ag > Li9Ag4 >")
    assert re.search(r"ductility\s+mechanical\s+0\.125\s+higher\s+pugh_ratio\s+3\.619 \(1\.000\)", out)
    shares = re.findall(r"^(\w+)\s+(0\.\d{3}|1\.000)$", out.split("sensitivity:")[1], re.M)
    assert len(shares) == 4
    assert sum(float(s) for _, s in shares) == pytest.approx(1.0, abs=0.003)


def test_rank_weights(capsys):
    code, out, _ = run(capsys, "dft", "rank", "Li-Ag", "--weights",
                       "chemical_stability=0,li_insertion=0,mechanical=0", "--samples", "10")
    assert code == 0 and out.startswith("Li-Ag: Li9Ag >")
    code, out, _ = run(capsys, "dft", "rank", "Li-Ag", "--phases", "Li4Ag,Li9Ag4", "--samples", "10")
    assert code == 0 and out.startswith("Li-Ag: Li4Ag > Li9Ag4\n")


@pytest.mark.parametrize("argv, message", [
    (["dft", "show", "Li-Xx"], "no data file for alloy system 'Li-Xx'"),
    (["dft", "rank", "Li-Ag", "--weights", "speed=1"], "unknown weight 'speed'"),
    (["dft", "rank", "Li-Ag", "--weights", "capacity"], "not NAME=NUMBER"),
    (["dft", "rank", "Li-Ag", "--phases", "Li3Ag"], "unknown phase(s) Li3Ag"),
])
def test_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and not out
    assert err.startswith("echem: error:") and message in err

"""Experiment manifests (validation, errors naming file and field) and the protocol compliance check."""
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from echem import Measurement, ProtocolError
from echem.manifest import check_compliance, load_manifest
from echem.protocol import PROJECT_PROTOCOLS, load_protocol

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

GOOD = """\
[experiment]
title = "test"

[[cell]]
id = "a"
type = "symmetric"
anode = "li4ag"
area_cm2 = 0.785
protocol = "symmetric-li-ag"
files = ["a.csv"]
masses = { anode_mg = 20.6 }

[[cell]]
id = "b"
type = "full"
anode = "Li-In alloy"
protocol = "full-ncm811-li-ag"
files = ["b.csv"]

[cell.analysis]
retention_cycle = 7
"""


def _folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.csv").write_text("x\n")
    (tmp_path / "b.csv").write_text("x\n")
    (tmp_path / "experiment.toml").write_text(text, encoding="utf-8")
    return tmp_path / "experiment.toml"


def test_good_manifest(tmp_path):
    path = _folder(tmp_path, GOOD)
    exp = load_manifest(tmp_path)
    assert exp.path == path and exp.title == "test" and exp.dft_system == "Li-Ag"
    a, b = exp.cells
    assert a.phase == "Li4Ag"            # a dft phase name, case-insensitive
    assert b.phase is None               # free text
    assert a.cathode == "li4ag"          # symmetric: cathode defaults to the anode
    assert a.files == (tmp_path / "a.csv",)
    assert a.area_cm2 == 0.785
    # b takes the protocol's area and derives its cathode mass from the protocol's loading
    assert b.area_cm2 == 0.7854
    assert b.active_mass_g == pytest.approx(7.64 * 0.7854 / 1000)
    assert a.active_mass_g is None       # symmetric cell: no active mass for specific capacity
    assert exp.protocol_for(b).analysis.retention_cycle == 7
    assert exp.protocols["full-ncm811-li-ag"].analysis.retention_cycle == 50
    assert exp.protocol_for("a").name == "symmetric-li-ag"


def test_sample_data_manifest():
    exp = load_manifest(SAMPLE / "experiment.toml")
    ids = [c.id for c in exp.cells]
    assert ids == ["sym-Li4Ag", "sym-Li9Ag4", "sym-Li", "full-Li4Ag", "full-Li9Ag4", "full-Li",
                   "sym-Li4Ag-EIS", "half-Li4Ag", "half-Li9Ag4"]
    assert [c.phase for c in exp.cells] == ["Li4Ag", "Li9Ag4", "Li"] * 2 + ["Li4Ag"] * 2 + ["Li9Ag4"]
    for c in exp.cells:
        assert all(f.is_file() for f in c.files)
        if c.type == "full":  # 7.64 mg/cm2 on a 10 mm cell (paper)
            assert c.cathode_active_loading_mg_cm2 == pytest.approx(7.64, abs=0.005)
    assert exp.protocol_for("sym-Li").cell.stack_pressure_MPa == 10
    assert exp.protocol_for("sym-Li4Ag").cell.stack_pressure_MPa == 100


@pytest.mark.parametrize("old,new,field,reason", [
    ('id = "a"\n', "", "cell[1].id", "missing"),
    ("area_cm2 = 0.785", 'area_cm2 = "0.785"', "cell[1].area_cm2", "must be a number"),
    ("area_cm2 = 0.785", "area_cm2 = -0.785", "cell[1].area_cm2", "must be positive"),
    ('protocol = "symmetric-li-ag"', 'protocol = "symmetric-li-ag-typo"', "cell[1].protocol",
     "unknown protocol"),
    ('files = ["a.csv"]', 'files = ["a.csv", "missing.csv"]', "cell[1].files[2]", "listed but missing"),
    ('files = ["a.csv"]', 'files = "a.csv"', "cell[1].files", "must be a list of strings"),
    ('id = "b"', 'id = "a"', "cell[2].id", "duplicate"),
    ('type = "full"', 'type = "half"', "cell[2].type", "is for full cells"),
    ("masses = { anode_mg = 20.6 }", "masses = { anode_g = 0.02 }", "cell[1].masses.anode_g",
     "unknown mass field"),
    ("masses = { anode_mg = 20.6 }", "masses = { anode_mg = 0 }", "cell[1].masses.anode_mg", "positive"),
    ("retention_cycle = 7", "retention_cycle = 7.5", "cell[2].analysis.retention_cycle", "integer"),
    ('title = "test"', 'title = "test"\ntitel = "x"', "experiment.titel", "unknown field"),
])
def test_broken_manifest_names_file_field_and_reason(tmp_path, old, new, field, reason):
    assert old in GOOD
    path = _folder(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ProtocolError) as exc:
        load_manifest(tmp_path)
    e = exc.value
    assert e.path == path and e.field == field, str(e)
    assert str(path) in str(e) and field in str(e) and reason in str(e)


def test_manifest_without_cells_or_file(tmp_path):
    path = _folder(tmp_path, '[experiment]\ntitle = "x"\n')
    with pytest.raises(ProtocolError, match="'cell'") as exc:
        load_manifest(tmp_path)
    assert exc.value.path == path
    with pytest.raises(ProtocolError, match="no experiment manifest"):
        load_manifest(tmp_path / "sub")


def test_local_protocol_folder_is_searched(tmp_path):
    (tmp_path / "protocols").mkdir()
    text = (PROJECT_PROTOCOLS / "symmetric-li-ag.toml").read_text().replace("current_density_mA_cm2 = 0.2",
                                                                          "current_density_mA_cm2 = 0.5")
    (tmp_path / "protocols" / "symmetric-li-ag.toml").write_text(text)
    _folder(tmp_path, GOOD)
    exp = load_manifest(tmp_path)
    assert exp.protocols["symmetric-li-ag"].schedule.current_density_mA_cm2(1) == 0.5


# --- compliance, on frames whose deviations are known by construction --------------------------

def _symmetric_frame(j_mA_cm2: float, area: float, hours_per_step: float, n_steps: int = 6) -> pd.DataFrame:
    """Alternating 1-row-per-minute constant-current steps: plating first."""
    i = j_mA_cm2 * area
    rows = []
    t0 = 0.0
    for s in range(n_steps):
        t = np.arange(0, hours_per_step * 3600 + 1e-9, 60.0)
        sign = -1 if s % 2 == 0 else 1
        rows.append(pd.DataFrame({"time_s": t0 + t, "voltage_V": sign * 0.012, "current_mA": sign * i,
                                  "capacity_mAh": i * t / 3600, "cycle": s // 2 + 1, "step": s + 1,
                                  "step_type": "cc_discharge" if sign < 0 else "cc_charge"}))
        t0 += t[-1]
    return pd.concat(rows, ignore_index=True)


def _spectrum(f_max: float, f_min: float, ppd: int = 10) -> pd.DataFrame:
    f = np.logspace(np.log10(f_max), np.log10(f_min), int(round(np.log10(f_max / f_min) * ppd)) + 1)
    z = 40 + 30 / (1 + 1j * f / 1e3)
    return pd.DataFrame({"frequency_Hz": f, "z_real_ohm": z.real, "z_imag_ohm": z.imag, "spectrum": 1})


@pytest.fixture
def sym_cell(tmp_path):
    _folder(tmp_path, GOOD)
    exp = load_manifest(tmp_path)
    return exp.cells[0], exp.protocol_for("a")


def test_compliant_cell_gives_no_warnings(sym_cell):
    cell, proto = sym_cell
    data = _symmetric_frame(0.2 * 1.03, cell.area_cm2, 1.0 / 1.03)  # 3 % high current, same capacity
    assert check_compliance(cell, proto, [Measurement(data), Measurement(_spectrum(7e6, 0.1))]) == []


def test_current_density_off_by_more_than_5_percent(sym_cell):
    cell, proto = sym_cell
    data = _symmetric_frame(0.25, cell.area_cm2, 0.8)  # 0.25 mA/cm2 for 0.8 h: 0.2 mAh/cm2
    w = check_compliance(cell, proto, [Measurement(data, {"source": "x/run.csv"}), Measurement(_spectrum(7e6, 0.1))])
    assert len(w) == 1
    assert "run.csv" in w[0] and "current density 0.25 mA/cm2" in w[0] and "+25.0 %" in w[0]
    assert "cycles 1-3" in w[0]


def test_areal_capacity_and_missing_spectrum(sym_cell):
    cell, proto = sym_cell
    data = _symmetric_frame(0.2, cell.area_cm2, 0.5)  # 0.1 mAh/cm2 per step
    w = check_compliance(cell, proto, Measurement(data))
    assert any("areal capacity 0.1 mAh/cm2" in x and "protocol 0.2 mAh/cm2" in x for x in w)
    assert any("asks for impedance" in x for x in w)
    assert len(w) == 2


def test_impedance_range_and_density(sym_cell):
    cell, proto = sym_cell
    data = Measurement(_symmetric_frame(0.2, cell.area_cm2, 1.0))
    w = check_compliance(cell, proto, [data, Measurement(_spectrum(1e6, 1.0))])
    assert len(w) == 1 and "1 MHz to 1 Hz" in w[0] and "7 MHz to 100 mHz" in w[0]
    w = check_compliance(cell, proto, [data, Measurement(_spectrum(7e6, 0.1, ppd=5))])
    assert len(w) == 1 and "5.0 points per decade" in w[0]


def test_full_cell_cutoffs_and_uncovered_cycles(tmp_path):
    proto = load_protocol(PROJECT_PROTOCOLS / "full-ncm811-li-ag.toml")
    _folder(tmp_path, GOOD)
    cell = load_manifest(tmp_path).cells[1]
    area = cell.area_cm2
    rows, t0 = [], 0.0
    for c in range(1, 5):
        j = 0.125 if c <= 2 else 0.25
        for sign, v0, v1 in ((1, 3.6, 4.3), (-1, 4.2, 2.5)):
            t = np.arange(0, 3600 * 5 + 1e-9, 600.0)
            v = np.linspace(v0, v1, t.size)
            if c == 4 and sign > 0:
                v = np.linspace(v0, 4.45, t.size)  # overshoots the 4.3 V cut-off by 0.15 V
            rows.append(pd.DataFrame({"time_s": t0 + t, "voltage_V": v, "current_mA": sign * j * area,
                                      "capacity_mAh": j * area * t / 3600, "cycle": c,
                                      "step": len(rows) + 1, "step_type": "cc_charge" if sign > 0 else "cc_discharge"}))
            t0 += t[-1]
    data = pd.concat(rows, ignore_index=True)
    assert check_compliance(cell, proto, Measurement(data.loc[data["cycle"] < 4])) == []
    w = check_compliance(cell, proto, Measurement(data))
    assert len(w) == 1 and "4.45 V in cycles 4" in w[0] and "above the 4.3 V cut-off" in w[0]
    # the rate of cycles 1-2 run for every cycle: cycles 3-4 are at half the current density
    slow = data.copy()
    slow.loc[slow["cycle"] >= 3, "current_mA"] /= 2
    w = check_compliance(cell, proto, Measurement(slow.loc[slow["cycle"] < 4]))
    assert len(w) == 1 and "cycles 3-end" in w[0] and "-50.0 %" in w[0]


def test_sample_data_complies_and_a_rescaled_copy_does_not(tmp_path):
    import echem
    exp = load_manifest(SAMPLE)
    for cell in exp.cells[:1] + exp.cells[3:4]:
        ms = [echem.read(f) for f in cell.files]
        assert check_compliance(cell, exp.protocol_for(cell), ms) == []
    # the same files declared for a cell twice as large: the current density is half the protocol's
    shutil.copytree(SAMPLE, tmp_path / "s")
    mf = tmp_path / "s" / "experiment.toml"
    mf.write_text(mf.read_text().replace("area_cm2 = 0.7854", "area_cm2 = 1.5708"))
    exp = load_manifest(tmp_path / "s")
    cell = exp.cells[0]
    w = check_compliance(cell, exp.protocol_for(cell), [echem.read(f) for f in cell.files])
    assert any("current density 0.1 mA/cm2" in x and "-50.0 %" in x for x in w)
    assert any("areal capacity 0.1 mAh/cm2" in x for x in w)


def test_the_manifest_itself_is_not_a_protocol(tmp_path):
    # experiment.toml sits in the folder searched for protocols; naming it as a cell's protocol
    # is an unknown protocol, and the list of known ones does not offer it
    _folder(tmp_path, GOOD.replace('protocol = "symmetric-li-ag"', 'protocol = "experiment"', 1))
    with pytest.raises(ProtocolError) as exc:
        load_manifest(tmp_path)
    msg = str(exc.value)
    assert "unknown protocol 'experiment'" in msg and "symmetric-li-ag" in msg
    assert "experiment," not in msg.split("known protocols:")[1]

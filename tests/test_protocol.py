"""Protocol files: the shipped protocols hold the paper's numbers; broken files give ProtocolError
naming the file, the field and the reason."""
from pathlib import Path

import pytest

from echem import ProtocolError
from echem.protocol import (PROJECT_PROTOCOLS, find_protocol, list_protocols, load_protocol)

SYM = (PROJECT_PROTOCOLS / "symmetric-li-ag.toml").read_text(encoding="utf-8")
FULL = (PROJECT_PROTOCOLS / "full-ncm811-li-ag.toml").read_text(encoding="utf-8")


def test_shipped_protocols_all_validate():
    names = list_protocols()
    assert {"symmetric-li-ag", "symmetric-li", "full-ncm811-li-ag", "full-ncm811-li",
            "half-li-li-ag"} <= set(names)
    for name, path in names.items():
        p = load_protocol(path)
        assert p.name == name and p.path == path


def test_symmetric_protocols_hold_the_papers_numbers():
    # paper, Experimental methodology and Figure 5c: 0.2 mA/cm2, 0.2 mAh/cm2, 25 C,
    # 100 MPa for the alloys and 10 MPa for Li; EIS on an SP-200, 7 MHz - 0.1 Hz, 10 mV
    alloy = load_protocol(PROJECT_PROTOCOLS / "symmetric-li-ag.toml")
    li = load_protocol(PROJECT_PROTOCOLS / "symmetric-li.toml")
    for p, pressure in ((alloy, 100), (li, 10)):
        assert p.cell.type == "symmetric"
        assert p.cell.stack_pressure_MPa == pressure and p.schedule.stack_pressure_MPa == pressure
        assert p.schedule.temperature_C == 25
        seg = p.schedule.segment_for(1)
        assert seg.current_density_mA_cm2 == 0.2 and seg.areal_capacity_mAh_cm2 == 0.2
        assert p.schedule.segment_for(75) is seg
        imp = p.impedance
        assert "SP-200" in imp.instrument
        assert imp.frequency_max_Hz == 7e6 and imp.frequency_min_Hz == 0.1 and imp.amplitude_mV == 10
        assert imp.circuit == "R0-p(R1,CPE1)-p(R2,CPE2)"
        assert imp.names == {"R1": "R_SEI", "R2": "R_ct"}
    # 10 mm mould: pi * 0.5^2 cm2
    assert alloy.cell.area_cm2 == pytest.approx(3.14159265 * 0.25, rel=1e-4)


def test_full_cell_protocols_hold_the_papers_numbers():
    # paper: 0.125 mA/cm2 for the first two cycles, 0.25 mA/cm2 after; 7.64 mg/cm2 NCM811
    for name, pressure, retention in (("full-ncm811-li-ag", 100, 50), ("full-ncm811-li", 10, 7)):
        p = load_protocol(PROJECT_PROTOCOLS / f"{name}.toml")
        assert p.cell.type == "full" and p.cell.stack_pressure_MPa == pressure
        assert p.cell.cathode_active_loading_mg_cm2 == 7.64
        assert [p.schedule.current_density_mA_cm2(c) for c in (1, 2, 3, 50, 500)] == [0.125, 0.125, 0.25, 0.25, 0.25]
        assert all(s.lower_cutoff_V < s.upper_cutoff_V for s in p.schedule.segments)
        # paper: retention after 50 cycles for the alloys, after 7 for Li
        assert p.analysis.reference_cycle == 1 and p.analysis.retention_cycle == retention
    half = load_protocol(PROJECT_PROTOCOLS / "half-li-li-ag.toml")
    assert half.cell.type == "half"


def _broken(tmp_path: Path, text: str, name: str = "broken.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("old,new,field,reason", [
    ("current_density_mA_cm2 = 0.2\n", "", "schedule.segment[1].current_density_mA_cm2", "missing"),
    ("area_cm2 = 0.7854 ", 'area_cm2 = "0.7854" ', "cell.area_cm2", "must be a number"),
    ("area_cm2 = 0.7854 ", "area_cm2 = -0.7854 ", "cell.area_cm2", "must be positive"),
    ('type = "symmetric"', 'type = "coin"', "cell.type", "must be one of"),
    ("frequency_min_Hz = 0.1", "frequency_min_Hz = 1e8", "impedance.frequency_min_Hz", "below"),
    ("amplitude_mV = 10", "amplitude_mV = 10\nampltude_mV = 5", "impedance.ampltude_mV", "unknown field"),
    ('circuit = "R0-p(R1,CPE1)-p(R2,CPE2)"', 'circuit = "R0-p(R1,CPX1)"', "impedance.circuit", "CPX"),
    ('names = { R1 = "R_SEI", R2 = "R_ct" }', 'names = { R7 = "R_SEI" }', "impedance.names.R7", "not an element"),
    ("from_cycle = 1\n", "from_cycle = 0\n", "schedule.segment[1].from_cycle", "at least 1"),
    ("temperature_C = 25", "temperature_C = true", "schedule.temperature_C", "must be a number"),
    ("kk_threshold = 0.01", "kk_threshold = 2", "analysis.kk_threshold", "at most 1"),
    ('title = "Li-Ag alloy', 'titel = "Li-Ag alloy', "protocol.title", "missing"),
])
def test_broken_protocol_names_file_field_and_reason(tmp_path, old, new, field, reason):
    assert old in SYM
    path = _broken(tmp_path, SYM.replace(old, new, 1))
    with pytest.raises(ProtocolError) as exc:
        load_protocol(path)
    e = exc.value
    assert e.path == path and e.field == field
    assert str(path) in str(e) and field in str(e) and reason in str(e)


def test_full_cell_segment_needs_cutoffs_and_segments_must_not_overlap(tmp_path):
    path = _broken(tmp_path, FULL.replace("lower_cutoff_V = 2.5\n", "", 1))
    with pytest.raises(ProtocolError, match=r"schedule\.segment\[1\]\.lower_cutoff_V"):
        load_protocol(path)
    path = _broken(tmp_path, FULL.replace("from_cycle = 3", "from_cycle = 2", 1))
    with pytest.raises(ProtocolError, match="overlap") as exc:
        load_protocol(path)
    assert exc.value.field == "schedule.segment"


def test_not_toml_missing_file_and_no_sections(tmp_path):
    path = _broken(tmp_path, "[protocol\ntitle = 'x'\n")
    with pytest.raises(ProtocolError, match="not valid TOML") as exc:
        load_protocol(path)
    assert exc.value.path == path
    with pytest.raises(ProtocolError, match="no such file"):
        load_protocol(tmp_path / "absent.toml")
    path = _broken(tmp_path, '[protocol]\ntitle = "t"\n[cell]\ntype = "full"\n')
    with pytest.raises(ProtocolError, match=r"field 'schedule'"):
        load_protocol(path)


def test_find_protocol_by_name_path_and_unknown(tmp_path):
    assert find_protocol("symmetric-li") == PROJECT_PROTOCOLS / "symmetric-li.toml"
    local = _broken(tmp_path, SYM, "symmetric-li.toml")  # a local protocol hides the shipped one
    assert find_protocol("symmetric-li", [tmp_path]) == local
    assert find_protocol("symmetric-li.toml", [tmp_path]) == local
    origin = tmp_path / "experiment.toml"
    with pytest.raises(ProtocolError) as exc:
        find_protocol("no-such-protocol", [tmp_path], origin=origin, field_name="cell[1].protocol")
    assert exc.value.path == origin and exc.value.field == "cell[1].protocol"
    assert "unknown protocol 'no-such-protocol'" in str(exc.value) and "symmetric-li-ag" in str(exc.value)

"""The faults a lab will meet (issue: reliability), each reproduced: nothing of the user's data is
lost or changed, a batch never hangs, a signal leaves no process and no debris, and bad input
gets a clean error."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import one_cell_manifest
from echem import batch
from echem.cli import main
from echem.errors import EchemError, ProtocolError
from echem.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
MPT = SAMPLE / "sym-Li4Ag_PEIS_C01.mpt"


def _impedance_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    shutil.copy(MPT, path / MPT.name)
    return path


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_an_output_folder_holding_the_input_is_refused_and_nothing_changes(tmp_path, capsys):
    # echem report R/mydata -o R, R an earlier report: R would be replaced, the input deleted
    r = tmp_path / "R"
    assert main(["report", str(_impedance_folder(tmp_path / "exp")), "-o", str(r), "--db",
                 str(tmp_path / "db.sqlite"), "--quiet"]) == 0
    data = _impedance_folder(r / "mydata")
    before = _tree(r)
    assert main(["report", str(data), "-o", str(r), "--db", str(tmp_path / "db.sqlite")]) == 1
    assert "must not hold any input" in capsys.readouterr().err
    assert _tree(r) == before
    # a folder that is both input and output, and happens to hold a marker
    both = _impedance_folder(tmp_path / "both")
    (both / ".echem-report").write_text("")
    before = _tree(both)
    assert main(["report", str(both), "-o", str(both), "--db", str(tmp_path / "db.sqlite")]) == 1
    assert _tree(both) == before


def test_an_earlier_report_holding_foreign_files_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    folder = _impedance_folder(tmp_path / "exp")
    batch.run(folder, out=out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EchemError, match="notes.txt"):
        batch.run(folder, out=out)
    assert (out / "notes.txt").read_text() == "mine"


def test_the_default_output_inside_the_input_folder_is_never_read_as_input(tmp_path):
    folder = _impedance_folder(tmp_path / "exp")
    first = batch.run(folder, out=folder / "report")
    second = batch.run(folder, out=folder / "report")   # the report's CSVs are not cells
    assert [c.cell_id for c in second.cells] == [c.cell_id for c in first.cells] == [MPT.stem]


def test_output_below_a_regular_file_is_a_clean_error(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    folder = _impedance_folder(tmp_path / "exp")
    assert main(["report", str(folder), "-o", str(tmp_path / "file" / "out"), "--db",
                 str(tmp_path / "db.sqlite")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("echem: error: ") and "Traceback" not in err


def test_a_manifest_listing_a_fifo_or_a_device_does_not_hang(tmp_path):
    folder = _impedance_folder(tmp_path / "exp")
    os.mkfifo(folder / "fifo.csv")
    os.symlink("/dev/zero", folder / "zero.csv")
    # the link leads outside the folder: refused unless the manifest opts in, as here
    (folder / "experiment.toml").write_text(
        one_cell_manifest([MPT.name, "fifo.csv", "zero.csv"], head="files_outside = true"))
    t0 = time.monotonic()
    result = batch.run(folder)
    assert time.monotonic() - t0 < 60
    cell = result.cells[0]
    assert len(cell.info["unreadable"]) == 2 and cell.value("R_SEI_ohm") > 0


def test_a_toml_nested_too_deep_is_a_protocol_error(tmp_path):
    (tmp_path / "experiment.toml").write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ProtocolError, match="nested too deep"):
        load_manifest(tmp_path)


def test_manifest_files_stay_inside_the_experiment_folder_unless_it_opts_in(tmp_path):
    outside = _impedance_folder(tmp_path / "elsewhere")
    folder = tmp_path / "exp"
    folder.mkdir()
    files = [f"../elsewhere/{MPT.name}"]
    (folder / "experiment.toml").write_text(one_cell_manifest(files))
    with pytest.raises(ProtocolError, match="outside the experiment folder"):
        load_manifest(folder)
    (folder / "experiment.toml").write_text(one_cell_manifest(files, head="files_outside = true"))
    assert load_manifest(folder).cells[0].files[0].resolve() == (outside / MPT.name).resolve()


def test_cell_ids_are_neutralised_for_spreadsheets_and_control_characters_refused(tmp_path):
    folder = _impedance_folder(tmp_path / "exp")
    (folder / "experiment.toml").write_text(
        one_cell_manifest([MPT.name], cell_id='=HYPERLINK(\\"http://x\\")'))
    batch.run(folder, out=tmp_path / "out")
    with open(tmp_path / "out" / "summary.csv", newline="") as fh:
        ids = [r["cell_id"] for r in csv.DictReader(fh)]
    assert ids == ["'=HYPERLINK(\"http://x\")"]
    (folder / "experiment.toml").write_text((folder / "experiment.toml").read_text()
                                            .replace('id = "=HYPERLINK(\\"http://x\\")"', 'id = "a\\u0000b"'))
    with pytest.raises(ProtocolError, match="control characters"):
        load_manifest(folder)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def test_sigterm_ends_workers_and_leaves_no_staging_folder(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from echem.cli import entry; entry()", "report",
                             str(SAMPLE), "-o", str(out), "--db", str(tmp_path / "db.sqlite"),
                             "--jobs", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 2:   # the forkserver and its workers are up
        seen |= _descendants(proc.pid)
        time.sleep(0.2)
    time.sleep(1.0)
    seen |= _descendants(proc.pid)
    assert seen, "no worker processes were started"
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=20)
    assert code == 128 + signal.SIGTERM

    def running():
        return [p for p in seen if Path(f"/proc/{p}").exists()
                and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()]

    deadline = time.monotonic() + 10       # the command's helpers end with it, within seconds
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(), f"processes left running: {running()}"
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_a_stale_staging_folder_from_a_crash_is_removed_on_the_next_run(tmp_path):
    folder = _impedance_folder(tmp_path / "exp")
    stale = tmp_path / ".out.abc123.partial"
    stale.mkdir()
    (stale / ".echem-stage-pid").write_text("999999999")   # no such process
    (stale / "report.html").write_text("half")
    batch.run(folder, out=tmp_path / "out")
    assert not stale.exists() and (tmp_path / "out" / "report.html").exists()


def _cell_of(meas, cell_type="auto"):
    from echem.analysis.cell import FileRead, analyse_cell
    from echem.manifest import Cell
    from echem.protocol import CellBuild, Protocol
    cell = Cell(id="c", type=cell_type, anode="Li", protocol="p", files=(Path(meas.source),),
                area_cm2=0.7854)
    proto = Protocol(name="p", title="defaults", cell=CellBuild(type=cell_type))
    return analyse_cell(cell, proto, [FileRead(meas.source, None, meas)])


def test_infinite_and_absurd_values_never_reach_a_result():
    import numpy as np
    import echem
    meas = echem.read(SAMPLE / "sym-Li_cycling.csv")
    clean = _cell_of(meas)
    d = meas.data.copy()
    middle = len(d) // 2
    d.loc[middle:middle + 9, "current_mA"] = np.inf                      # 10 rows of inf current
    d.loc[[100, 200], "voltage_V"] = -np.inf                              # two -inf voltages
    d.loc[300, "voltage_V"] = 1e308
    meas.data = d
    bad = _cell_of(meas)
    assert bad.cell_type == clean.cell_type == "symmetric"     # the type is not flipped
    for name in ("nucleation_overpotential_mV", "polarization_mV", "failure_time_h"):
        assert bad.value(name) == pytest.approx(clean.value(name), rel=0.02, abs=0.3), name
        assert np.isfinite(bad.value(name))
    said = " ".join(bad.warnings)
    assert "10 rows with an infinite current_mA dropped" in said
    assert "2 rows with an infinite voltage_V dropped" in said and "|voltage_V| > 100 V" in said


def test_an_infinite_capacity_gives_no_infinite_coulombic_efficiency():
    import numpy as np
    import echem
    meas = echem.read(SAMPLE / "full-Li4Ag_cycling.csv")
    d = meas.data.copy()
    d.loc[d.index[len(d) // 2], "capacity_mAh"] = np.inf
    meas.data = d
    res = _cell_of(meas, "full")
    for m in res.metrics:
        assert not np.isinf(m.value), m.name

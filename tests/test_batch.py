"""The orchestrator (echem.batch): one path whatever the executor, results stored only in the
store it is given, and a cell that cannot be processed is an outcome, not a crash."""
import math
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from conftest import sample_cell
from echem import batch, metrics, sampledata, store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def serial():
    return batch.run(SAMPLE)


def test_serial_and_worker_processes_give_the_same_results(serial):
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = batch.run(SAMPLE, executor=pool)
    a = metrics.summary_table(serial.cells)
    b = metrics.summary_table(parallel.cells)
    pd.testing.assert_frame_equal(a, b)
    assert [c.cell_id for c in parallel.cells] == [c.cell_id for c in serial.cells]  # manifest order
    assert [f.name for f in parallel.cells[0].figures] == [f.name for f in serial.cells[0].figures]


def test_the_numbers_are_the_sample_datas_truth(serial):
    # independent: the values the sample data were generated with
    summary = metrics.summary_table(serial.cells).set_index("cell_id")
    truth = sampledata.truth().set_index("cell_id")
    for cell, t in truth.iterrows():
        if t["cell_type"] == "symmetric":
            assert summary.loc[cell, "R_ct_ohm"] == pytest.approx(t["R_ct_ohm"], rel=0.03)
        elif t["cell_type"] == "full":
            assert summary.loc[cell, "capacity_retention_pct"] == pytest.approx(
                t["capacity_retention_pct"], abs=1.0)


def test_run_stores_nothing_unless_given_a_store(tmp_path, monkeypatch, serial):
    # a notebook or a test calling run() never writes into the lab's database
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ECHEM_DB", raising=False)
    batch.run(SAMPLE, out=tmp_path / "out")
    default = Path(store.default_url())
    assert not default.exists()
    with store.open(tmp_path / "given.sqlite") as given:
        result = batch.run(SAMPLE, store=given)
        rows = given.latest()
    assert sorted(rows["cell_id"]) == sorted(c.cell_id for c in result.cells)
    stored = rows.set_index("cell_id")["R_ct_ohm"]
    assert stored["sym-Li4Ag"] == pytest.approx(result.cells[0].value("R_ct_ohm"))
    assert not default.exists()


def test_the_result_owns_its_metrics_as_declared_once(serial):
    for cell in serial.cells:
        for m in cell.metrics:
            spec = metrics.spec(m.name)          # every metric is declared in the registry
            assert m.unit == spec.unit
            assert m.uncertainty_kind in ("", spec.uncertainty)
    pol = serial.cells[0].metric("polarization_mV")
    assert pol.uncertainty_kind == "sd" and pol.n > 100   # SD over the half cycles, with n


def test_a_cell_that_cannot_be_processed_is_an_outcome(tmp_path):
    # a folder of one good impedance file, one file that is no instrument export and a pipe
    folder = tmp_path / "exp"
    folder.mkdir()
    shutil.copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder)
    (folder / "junk.mpt").write_text("EC-Lab ASCII FILE\nNb header lines : 3\n\nnot a table\n")
    result = batch.run(folder)
    by_id = {c.cell_id: c for c in result.cells}
    assert by_id["sym-Li4Ag_PEIS_C01"].value("R_SEI_ohm") == pytest.approx(12.10, rel=0.03)
    assert by_id["junk"].info["unreadable"] and any("unreadable file" in w for w in by_id["junk"].warnings)
    assert math.isnan(by_id["junk"].value("R_SEI_ohm"))


def test_a_pipe_is_never_opened(tmp_path):
    import os
    fifo = tmp_path / "cycling.csv"
    os.mkfifo(fifo)
    read = batch.read_file(fifo)           # returns at once: no reader or hash waits on the pipe
    assert read.measurement is None and "not a regular file" in read.error


def test_the_experiment_key_is_never_an_absolute_path(tmp_path):
    folder = tmp_path / "lab" / "2026" / "exp-7"
    folder.mkdir(parents=True)
    assert batch.experiment_key(folder) == "exp-7"
    assert batch.experiment_key(folder, root=tmp_path / "lab") == "2026/exp-7"


def test_a_full_cells_alloy_anode_is_held_against_the_recommended_window(tmp_path):
    # paper: Li4Ag from 8.2 mg Ag + 2.1 mg Li (10.3 mg); the cathode's first discharge, 184 mAh/g
    # of 6.0 mg NCM811, moves dx = Q / (F n_Ag) of Li in and out of the anode
    folder = sample_cell(tmp_path / "exp", "full-Li4Ag", lambda entry: entry.replace(
        "masses = { cathode_active_mg", "masses = { anode_mg = 10.3, cathode_active_mg"))
    check = batch.run(folder).cells[0].analyses["operating_window"]
    n_ag_mol = 10.3e-3 * 107.8682 / (107.8682 + 4 * 6.94) / 107.8682
    dx = 184.0 * 6.0e-3 * 3.6 / (96485.33212 * n_ag_mol)
    assert check.x_discharged == pytest.approx(4.0)
    assert check.x_charged == pytest.approx(4.0 + dx, rel=0.01)
    assert "Li4Ag" in check.phases and "within Li4Ag" in check.within


def test_the_console_summary_shows_the_key_numbers_rounded_to_their_uncertainty(serial):
    from echem.cli.report import console_summary
    text = console_summary(serial.cells)
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert "12.10 ± 0.04" in lines["sym-Li4Ag"]              # R_SEI (paper, Table S7: 12.10)
    assert "> 150 h" in lines["sym-Li4Ag"]                   # censored: no failure in the test
    assert "24.64" in lines["sym-Li"] and "5.9" in lines["sym-Li"]   # Figure 5a, 5c
    assert "72.1" in lines["full-Li4Ag"] and "10.8" in lines["full-Li"]   # Figure 5d
    assert max(len(line) for line in text.splitlines()) <= 100   # fits a terminal

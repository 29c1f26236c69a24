"""A folder without experiment.toml (issue: readers, "A folder without a manifest"): one cell per
run, unique ids, files that are no instrument export skipped, areas and masses the files state,
cell types guessed with their reasons, and `echem init` writing those guesses down."""
import shutil
from pathlib import Path

import pytest

from echem import batch
from echem.cli import main
from echem.errors import EchemError
from echem.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
CORPUS = ROOT.parent / "shared" / "corpus"


def _copy(src: Path, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / (name or src.name)))


def test_notes_and_pictures_are_skipped_and_no_error(tmp_path, capsys):
    folder = tmp_path / "exp"
    _copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder)
    (folder / "notes.txt").write_text("cell 3 leaked\n")
    (folder / "photo.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\n")
    result = batch.run(folder)
    assert [c.cell_id for c in result.cells] == ["sym-Li4Ag_PEIS_C01"]
    assert sorted(Path(p).name for p in result.skipped) == ["notes.txt", "photo.pdf"]
    assert main(["report", str(folder), "-o", str(tmp_path / "out"), "--db", str(tmp_path / "d.sqlite"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "skipped 2" in out and "Empty DataFrame" not in out


def test_an_unreadable_instrument_file_is_an_error_of_its_cell(tmp_path, capsys):
    folder = tmp_path / "exp"
    _copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder)
    (folder / "broken.mpt").write_bytes(b"EC-Lab ASCII FILE\r\nNb header lines : 40\r\n")
    assert main(["report", str(folder), "-o", str(tmp_path / "out"), "--db", str(tmp_path / "d.sqlite"),
                 "--quiet"]) == 1
    assert "broken.mpt" in capsys.readouterr().err


def test_an_empty_folder_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EchemError, match="no instrument file"):
        batch.run(tmp_path / "empty")
    assert main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--db",
                 str(tmp_path / "d.sqlite")]) == 1
    captured = capsys.readouterr()
    assert "no instrument file" in captured.err and "Empty DataFrame" not in captured.out


def test_colliding_stems_give_unique_ids(tmp_path):
    folder = tmp_path / "exp"
    _copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder, "cell7.mpt")
    _copy(SAMPLE / "sym-Li_cycling.csv", folder, "cell7.csv")
    ids = [c.cell_id for c in batch.run(folder).cells]
    assert ids == ["cell7.csv", "cell7.mpt"]


def test_a_binary_and_its_export_are_one_cell_read_from_the_binary(tmp_path, corpus):
    folder = tmp_path / "exp"
    _copy(corpus / "biologic" / "gcpl.issue_211.mpr", folder)
    _copy(corpus / "biologic" / "gcpl.issue_211.mpt", folder)
    _copy(corpus / "neware" / "TestFile.nda", folder, "run9.nda")
    _copy(corpus / "neware" / "TestFile.nda", folder, "run9.ndax")   # a name clash, not an .ndax
    exp, _, skipped = batch.infer_experiment(folder)
    assert [(c.id, [Path(f).name for f in c.files]) for c in exp.cells] == [
        ("gcpl.issue_211", ["gcpl.issue_211.mpr"]), ("run9", ["run9.ndax"])]
    assert skipped == []


@pytest.mark.parametrize("name, area, mass_mg", [
    ("ca.mpt", 1.131, 0.875),            # both stated
    ("bcd.issue_241.mpt", None, 7000.0),  # EC-Lab's placeholder area 0.001: not stated
    ("gcpl.issue_149.mpt", None, None),   # 0,000 (decimal comma): not stated
])
def test_area_and_mass_are_taken_from_the_file_where_it_states_them(tmp_path, corpus, name, area, mass_mg):
    folder = tmp_path / "exp"
    _copy(corpus / "biologic" / name, folder)
    cell = batch.run(folder).cells[0]
    if area is None:
        assert cell.info["area_source"] == "assumed"
        assert "no area in the file and no manifest" in " ".join(cell.warnings)
    else:
        assert cell.info["area_source"] == f"stated in {name}"
        assert cell.inputs["cell"]["area_cm2"] == pytest.approx(area)
    if mass_mg is None:
        assert "active_mg" not in cell.inputs["cell"]["masses_mg"]
    else:
        assert cell.inputs["cell"]["masses_mg"]["active_mg"] == pytest.approx(mass_mg)


@pytest.mark.parametrize("path, kind", [
    ("neware/TestFile.nda", "full"),          # 1.7-4.2 V, a Li-ion cell
    ("neware/neware_uio.csv", "half"),        # 0.05-2.96 V, a graphite-like anode against Li
    ("biologic/gcpl.pr_182.1.mpr", "half"),
])
def test_cell_types_of_real_files(tmp_path, corpus, path, kind):
    folder = tmp_path / "exp"
    _copy(corpus / path, folder)
    cell = batch.run(folder).cells[0]
    assert cell.cell_type == kind
    assert any(w.startswith(f"cell type inferred as {kind} (") for w in cell.warnings)


def test_a_symmetric_cell_is_recognised_by_its_voltage_following_the_current(tmp_path):
    folder = tmp_path / "exp"
    _copy(SAMPLE / "sym-Li_cycling.csv", folder)
    _copy(SAMPLE / "full-Li4Ag_cycling.csv", folder)
    kinds = {c.cell_id: c.cell_type for c in batch.run(folder).cells}
    assert kinds == {"sym-Li_cycling": "symmetric", "full-Li4Ag_cycling": "full"}


def test_echem_init_writes_the_guesses_as_a_manifest_that_validates(tmp_path):
    folder = tmp_path / "exp"
    _copy(SAMPLE / "sym-Li_cycling.csv", folder)
    _copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder)
    (folder / "notes.txt").write_text("x")
    assert main(["init", str(folder)]) == 0
    text = (folder / "experiment.toml").read_text()
    assert "# guessed: the voltage follows the current's sign" in text
    assert "area_cm2 = 0.7854  # stated in sym-Li4Ag_PEIS_C01.mpt" in text
    assert "# skipped notes.txt" in text
    exp = load_manifest(folder)
    assert {c.id: c.type for c in exp.cells} == {"sym-Li_cycling": "symmetric",
                                                 "sym-Li4Ag_PEIS_C01": "symmetric"}
    assert main(["init", str(folder)]) == 1      # never replaces a manifest
    assert (folder / "experiment.toml").read_text() == text

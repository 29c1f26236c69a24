"""ZPlot .z and three-column CSV impedance files, checked against the files' own text."""
import csv
import shutil

import numpy as np
import pytest

import echem
from conftest import corpus_files

ZFILES = corpus_files("eis", "*.z")


def _zplot_rows(path):
    """Data rows of a ZPlot file, parsed with the csv module (independent of impedance.py)."""
    lines = path.read_text().split("End Comments", 1)[1].strip().splitlines()
    return np.array([[float(x) for x in row] for row in csv.reader(lines, delimiter="\t")])


@pytest.mark.parametrize("path", ZFILES, ids=lambda p: p.name)
def test_zplot_matches_text(path):
    m = echem.read(path)
    rows = _zplot_rows(path)
    assert m.meta["format"] == "zplot"
    assert len(m.data) == len(rows)
    np.testing.assert_array_equal(m.data["frequency_Hz"], rows[:, 0])
    np.testing.assert_array_equal(m.data["time_s"], rows[:, 3])
    np.testing.assert_array_equal(m.data["z_real_ohm"], rows[:, 4])
    np.testing.assert_array_equal(m.data["z_imag_ohm"], rows[:, 5])
    assert set(m.data["spectrum"]) == {1}


def test_csv3_matches_text(corpus):
    path = corpus / "eis" / "exampleData.csv"
    rows = np.array([[float(x) for x in r] for r in csv.reader(path.open())])
    m = echem.read(path)
    assert m.meta["format"] == "impedance-csv"
    np.testing.assert_array_equal(m.data["frequency_Hz"], rows[:, 0])
    np.testing.assert_array_equal(m.data["z_real_ohm"], rows[:, 1])
    np.testing.assert_array_equal(m.data["z_imag_ohm"], rows[:, 2])


def test_chosen_by_content_not_extension(corpus, tmp_path):
    z = tmp_path / "spectrum.csv"
    shutil.copy(corpus / "eis" / "Circuit2_EIS_1.z", z)
    assert echem.read(z).meta["format"] == "zplot"
    c = tmp_path / "spectrum.z"
    shutil.copy(corpus / "eis" / "exampleData.csv", c)
    assert echem.read(c).meta["format"] == "impedance-csv"


@pytest.mark.parametrize("name", ["Circuit1_EIS_1.z", "exampleData.csv"])
def test_truncations_raise_typed_errors(corpus, tmp_path, name):
    raw = (corpus / "eis" / name).read_bytes()
    full_rows = len(echem.read(corpus / "eis" / name).data)
    for cut in np.linspace(1, len(raw) - 1, 25).astype(int):
        p = tmp_path / f"cut{cut}_{name}"
        p.write_bytes(raw[:cut])
        try:
            m = echem.read(p)
        except echem.EchemError as exc:
            assert str(p) in str(exc)
        else:
            # a headerless CSV cut short is still a CSV: fewer rows, and a warning unless the
            # cut fell on a line end
            assert name.endswith(".csv") and len(m.data) <= full_rows
            assert raw[cut - 1:cut] == b"\n" or m.meta["warnings"]


def test_bad_inputs(tmp_path):
    empty = tmp_path / "empty.z"
    empty.write_bytes(b"")
    with pytest.raises(echem.CorruptFileError, match="empty"):
        echem.read(empty)
    noise = tmp_path / "noise.z"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(echem.UnsupportedFileError, match="noise.z"):
        echem.read(noise)
    with pytest.raises(echem.EchemError, match="no such file"):
        echem.read(tmp_path / "missing.mpr")

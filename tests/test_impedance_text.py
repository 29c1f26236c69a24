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
    assert m.format == "zplot" and m.truncated is False and not m.warnings
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
    assert m.format == "impedance-csv" and m.truncated is False
    np.testing.assert_array_equal(m.data["frequency_Hz"], rows[:, 0])
    np.testing.assert_array_equal(m.data["z_real_ohm"], rows[:, 1])
    np.testing.assert_array_equal(m.data["z_imag_ohm"], rows[:, 2])


def test_chosen_by_content_not_extension(corpus, tmp_path):
    z = tmp_path / "spectrum.csv"
    shutil.copy(corpus / "eis" / "Circuit2_EIS_1.z", z)
    assert echem.read(z).format == "zplot"
    c = tmp_path / "spectrum.z"
    shutil.copy(corpus / "eis" / "exampleData.csv", c)
    assert echem.read(c).format == "impedance-csv"


def _reference(path, name):
    """impedance.py's reading of a file (its readers are the independent reference)."""
    from impedance import preprocessing
    if name.endswith(".z"):
        return preprocessing.readZPlot(str(path))
    try:
        return preprocessing.readCSV(str(path))
    except IndexError:  # readCSV's np.genfromtxt gives a 1-D array for one row
        data = np.atleast_2d(np.genfromtxt(path, delimiter=","))
        return data[:, 0], data[:, 1] + 1j * data[:, 2]


def test_zplot_announcing_56_points_holding_21_gives_the_21(corpus, tmp_path):
    raw = (corpus / "eis" / "Circuit2_EIS_1.z").read_bytes()
    head, body = raw.split(b"End Comments", 1)
    lines = body.split(b"\n")
    cut = tmp_path / "cut.z"
    cut.write_bytes(head + b"End Comments" + b"\n".join(lines[:22]) + b"\n")  # 21 rows
    m = echem.read(cut)
    f, z = _reference(cut, "cut.z")
    assert len(f) == len(m.data) == 21
    np.testing.assert_array_equal(m.data["frequency_Hz"], f)
    np.testing.assert_array_equal(m.data["z_real_ohm"], z.real)
    np.testing.assert_array_equal(m.data["z_imag_ohm"], z.imag)
    assert m.truncated is True and "announces 56 data points" in str(m.warnings[0])


@pytest.mark.parametrize("name", ["Circuit1_EIS_1.z", "exampleData.csv"])
def test_truncated_files_give_their_complete_rows(corpus, tmp_path, name):
    """Cut anywhere in its rows, a file gives the rows before the cut (the ones impedance.py
    reads from the file cut at the last line end before it; a last row cut just before its line
    end is whole and kept), with ``truncated`` and a warning; cut in a ZPlot header it is
    refused naming the file."""
    raw = (corpus / "eis" / name).read_bytes()
    zplot = name.endswith(".z")
    data_start = raw.index(b"End Comments") + len(b"End Comments\n") if zplot else 0
    full = len(echem.read(corpus / "eis" / name).data)
    for cut in np.linspace(1, len(raw) - 1, 40).astype(int):
        p = tmp_path / f"cut{cut}_{name}"
        p.write_bytes(raw[:cut])
        whole = raw[:raw.rindex(b"\n", 0, cut) + 1] if b"\n" in raw[:cut] else b""
        n_whole = whole[data_start:].count(b"\n") if len(whole) >= data_start else -1
        if cut < data_start or (n_whole == 0 and raw[cut:cut + 1] != b"\n"):
            with pytest.raises(echem.CorruptFileError if cut >= 4 else echem.EchemError,
                               match=f"cut{cut}_"):
                echem.read(p)  # in the header, or no complete row at all
            continue
        m = echem.read(p)
        ref = tmp_path / f"whole{cut}_{name}"
        ref.write_bytes(whole)
        f, z = _reference(ref, name) if n_whole else (np.zeros(0), np.zeros(0, complex))
        kept_last = raw[cut:cut + 1] == b"\n" and raw[cut - 1:cut] != b"\n"  # cut before its \n
        assert len(m.data) == len(f) + kept_last
        np.testing.assert_array_equal(m.data["frequency_Hz"][:len(f)], np.atleast_1d(f))
        np.testing.assert_array_equal(m.data["z_real_ohm"][:len(f)], np.atleast_1d(z).real)
        np.testing.assert_array_equal(m.data["z_imag_ohm"][:len(f)], np.atleast_1d(z).imag)
        at_line_end = raw[cut - 1:cut] == b"\n"
        assert m.truncated is ((zplot and len(m.data) < full) or not (at_line_end or kept_last))
        assert bool(m.warnings) is (m.truncated or (kept_last and not zplot))


def test_a_row_of_another_width_is_refused_naming_its_line(corpus, tmp_path):
    raw = (corpus / "eis" / "exampleData.csv").read_text().splitlines()
    raw[29] = raw[29] + ",1.0"  # below the lines the sniffer looks at
    p = tmp_path / "wide.csv"
    p.write_text("\n".join(raw) + "\n")
    with pytest.raises(echem.CorruptFileError, match="line 30: 4 fields"):
        echem.read(p)


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

"""EC-Lab .mpr/.mpt readers, checked against EC-Lab's own .mpt export of each .mpr."""
from __future__ import annotations

import re
import shutil
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from galvani import BioLogic as galvani_biologic

import echem
from echem.errors import CorruptFileError, EchemError, UnsupportedFileError
from echem.io import biologic, eclab_columns, sniff
from echem.schema import COLUMNS, STEP_TYPES

from conftest import corpus_files

MPR = corpus_files("biologic", "*.mpr")
MPT = corpus_files("biologic", "*.mpt")
TWINS = [p for p in MPR if p.with_suffix(".mpt").exists()]
GALVANI_REFUSES = ("cv.issue_149.mpr", "lsv.issue_195.mpr", "peis.issue_225.with_ece.mpr")

# EC-Lab writes -1 (THD, NSD, NSR) or 0 (harmonics) in its .mpt for these at the first two
# frequencies of a spectrum, where the
# .mpr holds a value (peis/geis.issue_149): a property of the export, not of the reader
MPT_MASKED = ("THD", "NSD", "NSR", "|Ewe h", "|I h", "|Ece h")


def _ids(paths):
    return [p.name for p in paths]


def _close(x, y, rtol=1e-6):
    """float32 stored in the .mpr vs 8 significant digits in the .mpt."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    finite = np.isfinite(y)
    scale = np.abs(y[finite]).max() if finite.any() else 1.0
    return np.isclose(x, y, rtol=rtol, atol=1e-9 * max(scale, 1e-30), equal_nan=True)


@pytest.fixture(scope="module")
def read_cache():
    cache = {}

    def read(path):
        if path not in cache:
            cache[path] = echem.read(path)
        return cache[path]
    return read


def test_corpus_present(corpus):
    assert len(MPR) == 22 and len(TWINS) == 22


@pytest.mark.parametrize("path", MPR, ids=_ids(MPR))
def test_every_mpr_parses(path, read_cache):
    m = read_cache(path)
    assert m.format == "eclab-mpr" and m.source == str(path)
    assert m.techniques and m.instrument.startswith("Biologic")
    d = m.data
    assert set(d["step_type"].astype(str)) <= set(STEP_TYPES)
    if len(d):
        assert (np.diff(d["time_s"]) >= 0).all()
        assert d["step"].iloc[0] == 1 and (np.diff(d["step"]) >= 0).all()
        assert d["cycle"].min() >= 1
        if "capacity_mAh" in d:
            assert (d["capacity_mAh"].dropna() >= 0).all()


@pytest.mark.parametrize("path", TWINS, ids=_ids(TWINS))
def test_mpr_equals_its_mpt_export(path, read_cache):
    """Row count and every common-schema column equal EC-Lab's own .mpt export."""
    a = read_cache(path).data
    b = read_cache(path.with_suffix(".mpt")).data
    assert len(a) == len(b)
    schema_a = [c for c in COLUMNS if c in a]
    assert schema_a == [c for c in COLUMNS if c in b]
    assert "time_s" in schema_a
    for col in schema_a:
        if col == "step_type":
            assert (a[col].astype(str) == b[col].astype(str)).all(), col
        else:
            ok = _close(a[col], b[col])
            assert ok.all(), f"{col}: {(~ok).sum()} rows differ"


@pytest.mark.parametrize("path", TWINS, ids=_ids(TWINS))
def test_mpr_instrument_columns_equal_mpt(path, read_cache):
    """Every column of the id table that the .mpt also has holds the same numbers there: this
    checks each id's name and dtype (182, 185, 215, 295, 352, 441, ...) against EC-Lab."""
    a = read_cache(path).data
    b = read_cache(path.with_suffix(".mpt")).data
    shared = [c for c in a.columns if c not in COLUMNS and c in b.columns]
    assert shared or len(a.columns) <= 12
    for col in shared:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        ok = _close(x, y, rtol=2e-6)
        if col.startswith(MPT_MASKED):
            ok |= (y == -1) | (y == 0)
        assert ok.all(), f"{col}: {(~ok).sum()} rows differ"


def test_new_ids_are_read_by_their_mpt_names(corpus, read_cache):
    """The three ids galvani 0.5.0 lacks carry the values the .mpt shows under these names."""
    cases = {"cv.issue_149.mpr": "step time/s", "lsv.issue_195.mpr": "<Ece>/V",
             "peis.issue_225.with_ece.mpr": "<Ece>/V"}
    for name, col in cases.items():
        path = corpus / "biologic" / name
        a = read_cache(path).data
        b = read_cache(path.with_suffix(".mpt")).data
        assert _close(a[col], b[col]).all()
        assert a[col].abs().max() > 0


@pytest.mark.parametrize("name", GALVANI_REFUSES)
def test_galvani_alone_refuses_what_the_table_reads(corpus, name):
    path = corpus / "biologic" / name
    with pytest.raises(NotImplementedError, match="Column ID (182|185|215)"):
        galvani_biologic.MPRfile(str(path))
    assert len(echem.read(path).data) > 0


def test_galvani_agrees_where_it_reads(corpus, read_cache):
    """On the files galvani reads, its record array gives our voltage and time."""
    for path in MPR:
        if path.name in GALVANI_REFUSES:
            continue
        g = galvani_biologic.MPRfile(str(path))
        d = read_cache(path).data
        assert len(g.data) == len(d)
        if len(d):
            assert np.array_equal(g.data["time/s"], d["time_s"].to_numpy())


def test_vsp_peis_has_32_spectra(corpus, read_cache):
    for suffix in (".mpr", ".mpt"):
        d = read_cache(corpus / "biologic" / f"vsp_peis_with{suffix}").data
        assert sorted(d["spectrum"].unique()) == list(range(1, 33))
        assert (d["step_type"] == "eis").all()
        # each spectrum is one frequency sweep: EC-Lab's cycle number counts them too
        assert np.array_equal(d["spectrum"].to_numpy(int), d["cycle"].to_numpy())
        for _, s in d.groupby("spectrum"):
            assert (np.diff(s["frequency_Hz"]) < 0).all()


def test_impedance_sign_and_values(corpus, read_cache):
    """Z = z_real + j z_imag agrees with EC-Lab's own |Z| and Phase(Z) columns."""
    for name in ("peis.mpt", "peis.mpr", "mb.mpr"):
        d = read_cache(corpus / "biologic" / name).data
        d = d[d["step_type"] == "eis"]
        z = d["z_real_ohm"].to_numpy() + 1j * d["z_imag_ohm"].to_numpy()
        assert _close(np.abs(z), d["|Z|/Ohm"], rtol=1e-5).all()
        assert _close(np.degrees(np.angle(z)), d["Phase(Z)/deg"], rtol=1e-4).all()


def test_modulo_bat_keeps_impedance_apart(corpus, read_cache):
    for suffix in (".mpr", ".mpt"):
        d = read_cache(corpus / "biologic" / f"mb{suffix}").data
        eis = (d["step_type"] == "eis").to_numpy()
        assert 0 < eis.sum() < len(d)
        for col in ("frequency_Hz", "z_real_ohm", "z_imag_ohm", "spectrum"):
            assert d.loc[eis, col].notna().all() and d.loc[~eis, col].isna().all()
        assert d.loc[eis, "capacity_mAh"].isna().all()
        assert d.loc[~eis, "capacity_mAh"].notna().all()
        # EC-Lab's z cycle counts the spectra of a modulo-bat file
        zc = d.loc[eis, "z cycle"].to_numpy()
        assert d.loc[eis, "spectrum"].nunique() == len(np.unique(zc))
        assert d.loc[~eis, "step_type"].isin(["cc_charge", "cc_discharge", "rest"]).all()


def test_german_mpt_equals_english(corpus, read_cache):
    de = read_cache(corpus / "biologic" / "mb.issue_95.de.mpt")
    en = read_cache(corpus / "biologic" / "mb.issue_95.mpt")
    assert list(de.data.columns) == list(en.data.columns)
    pd.testing.assert_frame_equal(de.data, en.data)
    assert de.start_time == en.start_time == datetime(2022, 12, 8, 14, 36, 53, 355000)
    assert de.meta["active_mass_g"] == en.meta["active_mass_g"] == 1e-6


def test_capacity_is_ec_labs_half_cycle_charge(corpus, read_cache):
    """Where a step is a whole half cycle, capacity = |Q charge/discharge| of EC-Lab's .mpt."""
    checked = 0
    for path in MPT:
        d = read_cache(path).data
        if "Q charge/discharge/mA.h" not in d or "capacity_mAh" not in d:
            continue
        for _, s in d.groupby("step"):
            hc = s["half cycle"].to_numpy()
            prev = s.index[0] - 1
            new_half = prev < 0 or d.loc[prev, "half cycle"] != hc[0]
            if (hc == hc[0]).all() and new_half and s["step_type"].iloc[0] != "eis":
                assert _close(s["capacity_mAh"], s["Q charge/discharge/mA.h"].abs()).all()
                checked += len(s)
    assert checked > 3000


def test_cycle_from_half_cycle_matches_ec_lab(corpus, read_cache):
    """.mpr files without 'cycle number' get half cycle // 2 + 1: the .mpt's cycle number + 1."""
    path = corpus / "biologic" / "gcpl.issue_211.mpr"
    d = read_cache(path).data
    t = read_cache(path.with_suffix(".mpt")).data
    assert "cycle number" not in d and "cycle number" in t
    assert np.array_equal(d["cycle"], t["cycle number"].astype(int) + 1)
    assert d["cycle"].max() == 5


def test_cccv_step_type(corpus, read_cache):
    d = read_cache(corpus / "biologic" / "gcpl.pr_182.1.mpr").data
    cccv = d[d["step_type"] == "cccv_discharge"]
    assert set(cccv["mode"]) == {1, 2} and (cccv["ox/red"] == 0).all()


def test_meta_against_mpt_header(corpus, read_cache):
    """Start time (LOG module), channel and version of the .mpr agree with the .mpt header."""
    checked = 0
    for path in TWINS:
        ma, mb = read_cache(path), read_cache(path.with_suffix(".mpt"))
        a, b = ma.meta, mb.meta
        assert ma.techniques == mb.techniques or not mb.techniques
        if ma.start_time is not None and mb.start_time is not None:
            ta, tb = (pd.Timestamp(ma.start_time), pd.Timestamp(mb.start_time))
            assert abs((ta - tb).total_seconds()) < 0.01, path.name
            assert a["software_version"] == b["software_version"]
            if b["channel"].isdigit():
                assert a["channel"] == b["channel"]
            checked += 1
    assert checked >= 18


def test_unknown_single_id_is_read_by_width(corpus, tmp_path):
    """One id missing from the table: its width comes from the record size."""
    src = corpus / "biologic" / "peis.mpr"
    blob = bytearray(src.read_bytes())
    with open(src, "rb") as fh:
        fh.seek(len(biologic.MPR_MAGIC))
        data_mod = [m for m in galvani_biologic.read_VMP_modules(fh)
                    if m["shortname"] == b"VMP data  "][0]
    n_cols = blob[data_mod["offset"] + 4]
    id_pos = data_mod["offset"] + 5
    ids = list(np.frombuffer(bytes(blob[id_pos:id_pos + 2 * n_cols]), "<u2"))
    assert 250 not in eclab_columns.COLUMNS
    k = ids.index(169)  # Cs/µF, float32
    blob[id_pos + 2 * k:id_pos + 2 * k + 2] = (250).to_bytes(2, "little")
    out = tmp_path / "unknown_id.mpr"
    out.write_bytes(bytes(blob))
    d = echem.read(out).data
    ref = echem.read(src).data
    assert np.array_equal(d["column id 250"], ref["Cs/µF"])
    # two unknown ids cannot be sized: a typed error naming the ids
    k2 = ids.index(172)
    blob[id_pos + 2 * k2:id_pos + 2 * k2 + 2] = (251).to_bytes(2, "little")
    out.write_bytes(bytes(blob))
    with pytest.raises(UnsupportedFileError, match="250, 251"):
        echem.read(out)


def test_sniffing_is_by_content(corpus, tmp_path):
    mpr = corpus / "biologic" / "cp.mpr"
    mpt = corpus / "biologic" / "cp.mpt"
    wrong_mpr = tmp_path / "cp.mpt"
    shutil.copy(mpr, wrong_mpr)
    wrong_mpt = tmp_path / "cp.mpr"
    shutil.copy(mpt, wrong_mpt)
    assert sniff(wrong_mpr) == "eclab-mpr"
    assert sniff(wrong_mpt) == "eclab-mpt"
    assert len(echem.read(wrong_mpr).data) == len(echem.read(wrong_mpt).data) == 121


def test_headerless_mpt(corpus, tmp_path, read_cache):
    """An export that starts at the column header line reads the same rows."""
    src = corpus / "biologic" / "mb.issue_95.mpt"
    lines = src.read_bytes().splitlines(keepends=True)
    out = tmp_path / "noheader.txt"
    out.write_bytes(b"".join(lines[92:]))
    assert lines[92].startswith(b"mode\tox/red")
    assert sniff(out) == "eclab-mpt"
    got = echem.read(out).data
    pd.testing.assert_frame_equal(got, read_cache(src).data)


def test_empty_and_random_files(tmp_path):
    empty = tmp_path / "empty.mpr"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="empty.mpr"):
        echem.read(empty)
    with pytest.raises(CorruptFileError, match="empty.mpr"):
        biologic.read_mpr(empty)
    rng = np.random.default_rng(1)
    for i in range(20):
        junk = tmp_path / f"junk{i}.mpr"
        junk.write_bytes(rng.integers(0, 256, 2000 + 97 * i, dtype=np.uint8).tobytes())
        with pytest.raises(UnsupportedFileError, match=f"junk{i}.mpr"):
            echem.read(junk)
        # behind a valid magic, random bytes are a corrupt .mpr
        bad = tmp_path / f"bad{i}.mpr"
        bad.write_bytes(biologic.MPR_MAGIC + junk.read_bytes())
        with pytest.raises(CorruptFileError, match=f"bad{i}.mpr"):
            echem.read(bad)


def _cuts(size, n=20):
    """n cut points: a few bytes, inside the header, spread over the body."""
    fixed = [3, 10, 30, 60, 200, 600, 1500, 3000]
    spread = np.linspace(size * 0.05, size - 1, n - len(fixed)).astype(int)
    return sorted({c for c in (*fixed, *spread) if 0 < c < size})


@pytest.mark.parametrize("path", MPR, ids=_ids(MPR))
def test_truncated_mpr_raises_corrupt(path, tmp_path):
    blob = path.read_bytes()
    with open(path, "rb") as fh:
        fh.seek(len(biologic.MPR_MAGIC))
        ends = {int(m["offset"] + m["length"])
                for m in galvani_biologic.read_VMP_modules(fh, read_module_data=False)}
    out = tmp_path / path.name
    for cut in _cuts(len(blob)):
        if cut in ends:  # a cut between two modules leaves a valid, shorter file
            continue
        out.write_bytes(blob[:cut])
        t0 = time.perf_counter()
        with pytest.raises((CorruptFileError, UnsupportedFileError)) as err:
            echem.read(out)
        assert time.perf_counter() - t0 < 1.0
        assert str(out) in str(err.value)
        if cut >= 4:
            assert isinstance(err.value, CorruptFileError), (cut, err.value)
        assert "could not be read as" not in str(err.value)  # no unexpected exception


@pytest.mark.parametrize("path", MPT, ids=_ids(MPT))
def test_truncated_mpt(path, tmp_path, read_cache):
    """Cut in the header: CorruptFileError. Cut in the data: the complete rows, equal to the
    full read, and ``truncated`` with a warning when the last row was cut."""
    blob = path.read_bytes()
    full = read_cache(path)
    out = tmp_path / path.name
    for cut in _cuts(len(blob)):
        out.write_bytes(blob[:cut])
        t0 = time.perf_counter()
        try:
            got = echem.read(out)
        except EchemError as err:
            assert isinstance(err, (CorruptFileError, UnsupportedFileError))
            assert str(out) in str(err)
            assert "could not be read as" not in str(err)  # no unexpected exception
            continue
        finally:
            assert time.perf_counter() - t0 < 1.0
        n = len(got.data)
        assert n <= len(full.data)
        head = full.data.iloc[:n].reset_index(drop=True)
        plain = [c for c in got.data.columns if c not in ("step", "spectrum", "step_type")]
        pd.testing.assert_frame_equal(got.data[plain], head[plain])
        ends_row = blob[cut - 1:cut] in (b"\n", b"\r")
        if not ends_row and n < len(full.data):
            assert got.truncated is True or n == 0 or cut == len(blob)
            assert got.truncated is False or "cut off" in str(got.warnings[-1])


def test_damaged_bytes_give_typed_errors(corpus, tmp_path):
    """Random byte changes, mostly in the headers: a read succeeds or raises a deliberate
    EchemError of this reader (never the dispatcher's catch-all for an unexpected exception)."""
    rng = np.random.default_rng(7)
    names = ("peis.issue_225.with_ece", "gcpl.issue_149", "mb.issue_95")
    for name in names:
        for suffix in (".mpr", ".mpt"):
            blob = (corpus / "biologic" / f"{name}{suffix}").read_bytes()
            out = tmp_path / f"damaged{suffix}"
            for _ in range(25):
                damaged = bytearray(blob)
                for pos in rng.integers(0, min(len(blob), 3000), 3):
                    damaged[pos] = int(rng.integers(0, 256))
                out.write_bytes(bytes(damaged))
                t0 = time.perf_counter()
                try:
                    echem.read(out)
                except EchemError as err:
                    assert "could not be read as" not in str(err), str(err)
                assert time.perf_counter() - t0 < 1.0


def test_files_are_not_modified(corpus):
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in MPR + MPT}
    for p in MPR[:3] + MPT[:3]:
        echem.read(p)
    assert before == {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in MPR + MPT}


# --------------------------------------------------------------------------- the fast .mpr path


@pytest.mark.parametrize("path", MPR, ids=_ids(MPR))
def test_modules_match_galvanis_reader(path):
    """The in-memory module walk gives what galvani's read_VMP_modules reads from the file."""
    blob = path.read_bytes()
    ours = biologic._mpr_modules(blob, path)
    with open(path, "rb") as fh:
        fh.seek(len(biologic.MPR_MAGIC))
        theirs = list(galvani_biologic.read_VMP_modules(fh))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        for key in ("shortname", "longname", "length", "version", "date", "offset"):
            assert a[key] == b[key], key
        assert bytes(a["data"]) == b["data"]


def test_flag_columns_match_galvani(corpus, read_cache):
    """mode, ox/red, error, ... (decoded from the flag byte by a table) equal galvani's
    get_flag on every file galvani reads."""
    checked = 0
    for path in MPR:
        if path.name in GALVANI_REFUSES:
            continue
        g = galvani_biologic.MPRfile(str(path))
        d = read_cache(path).data
        for name in g.flags_dict:
            assert np.array_equal(d[name].to_numpy(), g.get_flag(name).astype(np.int64)), name
            checked += 1
    assert checked > 20


def test_settings_date_as_galvani_parses_it():
    """The settings module's date (parsed without time.strptime) as galvani parses it."""
    texts = [b"10/15/20", b"1/5/99", b"01-02-68", b"12.31.69", b"02/29/20", b"02/29/21",
             b"13/01/20", b"00/10/20", b"1/32/20", b" 1/05/20", b"1/ 5/20", b"10/15/2020",
             b"10/15-20", b"", b"\xff/01/20", b"10/15/20\x00"]
    for text in texts:
        try:
            expected = galvani_biologic.parse_BioLogic_date(text).isoformat()
        except (ValueError, UnicodeDecodeError):
            expected = None
        assert biologic._mpr_date(text) == expected, text


def test_mpr_frame_is_writeable_and_owns_its_data(corpus):
    """The columns are not read-only views of the file's bytes: a value can be set, and a
    second read still holds the file's (the .mpt's) value."""
    path = corpus / "biologic" / "gcpl.issue_149.mpr"
    d = echem.read(path).data
    for col in ("time_s", "voltage_V", "cycle", "Ns", "ox/red", "control/V/mA", "dq/mA.h"):
        assert col in d
        d.loc[0, col] = 123
        assert d.loc[0, col] == 123
    again = echem.read(path).data
    mpt = echem.read(path.with_suffix(".mpt")).data
    assert again.loc[0, "time_s"] != 123
    assert _close(again["time_s"], mpt["time_s"]).all()


def test_finalize_from_a_dict_equals_from_a_frame(corpus):
    """finalize gives the same frame from a dict of arrays as from a DataFrame, and neither
    result shares writes with its input."""
    from echem.schema import finalize
    data = echem.read(corpus / "biologic" / "mb.issue_95.mpt").data
    frame_in = data.copy()
    dict_in = {c: data[c].to_numpy(copy=True) if isinstance(data[c].dtype, np.dtype)
               else data[c].array.copy() for c in data.columns}
    from_frame = finalize(frame_in)
    from_dict = finalize(dict_in)
    pd.testing.assert_frame_equal(from_frame, from_dict)
    pd.testing.assert_frame_equal(from_frame, data)
    from_frame.loc[0, "time_s"] = -1.0
    assert frame_in.loc[0, "time_s"] == data.loc[0, "time_s"] != -1.0


@pytest.mark.parametrize("name,header", [("eis/exampleDataBioLogic.mpt", "freq/Hz\t"),
                                         ("biologic/gcpl.pr_182.1.mpt", "Ewe/V\t")])
def test_mpt_header_without_a_name_is_refused_naming_the_line(corpus, tmp_path, name, header):
    """A column name missing from the header line (EC-Lab export, damaged): refused naming the
    line, never read with every later column shifted; impedance.py refuses the PEIS file too."""
    text = (corpus / name).read_bytes().decode("latin-1")
    n = int(re.search(r"Nb header lines\s*:\s*(\d+)", text).group(1))
    lines = text.splitlines(keepends=True)
    assert header in lines[n - 1]
    lines[n - 1] = lines[n - 1].replace(header, "", 1)
    bad = tmp_path / Path(name).name
    bad.write_bytes("".join(lines).encode("latin-1"))
    with pytest.raises(CorruptFileError, match=f"line {n}: the column header names"):
        echem.read(bad)
    if header == "freq/Hz\t":
        from impedance import preprocessing
        with pytest.raises(AssertionError, match="freq/Hz"):
            preprocessing.readFile(str(bad), "biologic")
    # one extra name: refused the same way
    lines[n - 1] = lines[n - 1].replace("\t", "\textra/V\t" + header, 1)
    bad.write_bytes("".join(lines).encode("latin-1"))
    with pytest.raises(CorruptFileError, match=f"line {n}: the column header names"):
        echem.read(bad)
    # a data row with a field too many: refused naming that row's line
    fixed = (corpus / name).read_bytes().decode("latin-1").splitlines(keepends=True)
    fixed[n + 3] = fixed[n + 3].rstrip("\r\n") + "\t1.0\n"
    bad.write_bytes("".join(fixed).encode("latin-1"))
    with pytest.raises(CorruptFileError, match=f"line {n + 4}: "):
        echem.read(bad)

"""Neware BTSDA exports (echem.io.btsda): the corpus's flat CSV, variants made from it (nested
layout, Chinese headers, GBK, seconds, XLSX), the writers, sniffing and bad input.

Expected numbers come from the corpus file read with plain pandas (tests/btsda_files.py), never
from the reader under test.
"""
from __future__ import annotations

import hashlib
import time
import unicodedata
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

import btsda_files as bf
from conftest import CORPUS, corpus_files
from echem.errors import CorruptFileError, EchemError, UnsupportedFileError
from echem.io import btsda, read
from echem.testing import btsda_writer

SCHEMA = ["time_s", "voltage_V", "current_mA", "capacity_mAh", "cycle", "step", "step_type"]
XLSX_COLUMNS = ["DataPoint", "Cycle Index", "Step Index", "Step Type", "Time", "Cumulative Time",
                "Current(A)", "Voltage(V)", "Capacity(Ah)", "Chg. Cap.(Ah)", "DChg. Cap.(Ah)",
                "Energy(Wh)", "Chg. Energy(Wh)", "DChg. Energy(Wh)", "Date"]


def corpus_path():
    return CORPUS.joinpath(*bf.CORPUS_FILE)


@pytest.fixture(scope="module")
def raw():
    if not corpus_path().is_file():
        pytest.skip("../shared/corpus is absent")
    return bf.load_raw(corpus_path())


def assert_schema_equal(data: pd.DataFrame, exp: pd.DataFrame, time_atol: float = 0.0,
                        atol: dict | None = None):
    """Equal schema columns; ``atol`` may give a column's absolute tolerance (default 1e-12)."""
    assert len(data) == len(exp)
    atol = dict({"time_s": time_atol}, **(atol or {}))
    for col in SCHEMA:
        if col == "step_type":
            assert (data[col].astype(str).to_numpy() == exp[col].astype(str).to_numpy()).all()
        elif col in ("cycle", "step"):
            np.testing.assert_array_equal(data[col].to_numpy(), exp[col].to_numpy(), err_msg=col)
        else:
            np.testing.assert_allclose(data[col].to_numpy(float), exp[col].to_numpy(float),
                                       rtol=1e-12, atol=atol.get(col, 1e-12), err_msg=col)


# ---------------------------------------------------------------------------------------------
# the corpus file
# ---------------------------------------------------------------------------------------------

def test_corpus_flat_csv_matches_plain_pandas(raw):
    m = read(corpus_path())
    assert m.format == "btsda-csv" and m.meta["layout"] == "flat"
    assert m.truncated is False  # the export has no final line end, yet is complete
    assert m.start_time == datetime(2022, 5, 18, 16, 27, 52)  # local: the file states no offset
    assert_schema_equal(m.data, bf.expected(raw))
    assert list(m.data.columns[:7]) == SCHEMA
    # instrument columns stay after the schema ones, converted to mAh
    np.testing.assert_allclose(m.data["charge_capacity_mAh"], raw["Chg. Cap.(Ah)"] * 1000, rtol=1e-12)
    assert "Spec. Cap.(mAh/g)" in m.data.columns
    # a few facts of this test read off the file: 4 cycles, 32 steps, time 144:02:18 at the end
    assert m.data["cycle"].max() == 4 and m.data["step"].max() == 32
    assert m.data["time_s"].iloc[-1] == 144 * 3600 + 2 * 60 + 18
    assert (np.diff(m.data["time_s"]) >= 0).all()
    assert (m.data["capacity_mAh"] >= 0).all()
    dis = m.data["step_type"] == "cc_discharge"
    assert (m.data.loc[dis, "current_mA"] < 0).all() and (m.data.loc[~dis, "current_mA"] >= 0).all()


def test_instrument_columns_are_numbers_when_every_filled_cell_is_one(raw, tmp_path):
    # columns the schema does not know keep pandas.read_csv's numbers, exactly; a blank cell
    # leaves a column numeric (NaN there), a '-' or 'nan' cell makes it text, as in the export
    m = read(corpus_path())
    for col in ("Spec. Cap.(mAh/g)", "Power(W)", "dQ/dV(mAh/V)", "Contact resistance(mO)"):
        assert m.data[col].dtype == np.float64
        np.testing.assert_array_equal(m.data[col].to_numpy(), raw[col].to_numpy(float), err_msg=col)
    assert set(m.data["Module start-stop switch"]) == set(raw["Module start-stop switch"])
    lines = corpus_path().read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    for row, col, cell in ((3, "Power(W)", ""), (4, "dQ/dV(mAh/V)", "-"), (5, "Contact resistance(mO)", "nan")):
        cells = lines[row].split(",")
        cells[header.index(col)] = cell
        lines[row] = ",".join(cells)
    path = tmp_path / "edited.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = read(path).data
    power = raw["Power(W)"].to_numpy(float).copy()
    power[2] = np.nan  # line 3 is record 3
    np.testing.assert_array_equal(d["Power(W)"].to_numpy(), power)
    for col, cell in (("dQ/dV(mAh/V)", "-"), ("Contact resistance(mO)", "nan")):
        assert d[col].dtype != np.float64 and d[col].iloc[3 if cell == "-" else 4] == cell
        assert d[col].iloc[0] == lines[1].split(",")[header.index(col)]  # the cell's own text


# ---------------------------------------------------------------------------------------------
# variants made from the corpus file: same numbers, other layout / language / encoding / time
# ---------------------------------------------------------------------------------------------

CSV_VARIANTS = {
    # name: (writer, keyword arguments, time source of the expectation, layout, language)
    "flat-zh-gbk": (bf.write_flat, dict(language="zh", encoding="gbk"), "cumulative", "flat", "zh"),
    "flat-zh-utf8": (bf.write_flat, dict(language="zh"), "cumulative", "flat", "zh"),
    "flat-bom-seconds": (bf.write_flat, dict(bom=True, time_format="s"), "cumulative", "flat", "en"),
    "flat-days-mA-tab": (bf.write_flat, dict(time_format="days", current_unit="mA", sep="\t"),
                         "cumulative", "flat", "en"),
    "nested-en": (bf.write_nested_csv, {}, "date", "nested", "en"),
    "nested-zh-gbk": (bf.write_nested_csv, dict(language="zh", encoding="gbk"), "date", "nested", "zh"),
    "nested-seconds": (bf.write_nested_csv, dict(time_format="s"), "date", "nested", "en"),
    "nested-shared-step-line": (bf.write_nested_csv, dict(shared_first_step=True), "date", "nested",
                                "en"),
    "nested-totaltime-commatab": (bf.write_nested_csv,
                                  dict(total_time=True, sep=",\t", names="underscore"),
                                  "cumulative", "nested", "en"),
}


@pytest.fixture(scope="module")
def variants(raw, tmp_path_factory):
    folder = tmp_path_factory.mktemp("btsda")
    out = {}
    for name, (writer, kw, *_rest) in CSV_VARIANTS.items():
        out[name] = writer(raw, folder / f"{name}.csv", **kw)
    return out


@pytest.mark.parametrize("name", list(CSV_VARIANTS))
def test_csv_variant_gives_the_corpus_numbers(name, raw, variants):
    _, kw, time_source, layout, language = CSV_VARIANTS[name]
    m = read(variants[name])
    assert m.format == "btsda-csv"
    assert m.meta["layout"] == layout and m.meta["header_language"] == language
    assert m.truncated is False
    assert m.meta["encoding"] == kw.get("encoding", "utf-8")
    assert_schema_equal(m.data, bf.expected(raw, time=time_source))


def test_gbk_headers_are_decoded_not_mangled(variants):
    m = read(variants["flat-zh-gbk"])
    assert m.meta["column_map"]["voltage"] == "电压(V)"
    assert m.meta["column_map"]["total_time"] == "总时间"
    # the same bytes are no UTF-8: reading them as UTF-8 would have failed
    with pytest.raises(UnicodeDecodeError):
        variants["flat-zh-gbk"].read_bytes().decode("utf-8")


def test_nested_cycle_and_step_tables_in_meta(raw, variants):
    cyc_exp = bf.cycles_table(raw)
    steps_exp = bf.steps_table(raw)
    for name in ("nested-en", "nested-zh-gbk", "nested-shared-step-line"):
        m = read(variants[name])
        cyc, steps = m.meta["btsda_cycles"], m.meta["btsda_steps"]
        assert list(cyc.columns) == ["cycle", "charge_capacity_mAh", "discharge_capacity_mAh",
                                     "coulombic_efficiency_pct", "charge_energy_mWh",
                                     "discharge_energy_mWh"]
        np.testing.assert_array_equal(cyc["cycle"], cyc_exp["cycle"])
        np.testing.assert_allclose(cyc["charge_capacity_mAh"], cyc_exp["chg_mAh"], rtol=1e-12)
        np.testing.assert_allclose(cyc["discharge_capacity_mAh"], cyc_exp["dchg_mAh"], rtol=1e-12)
        np.testing.assert_allclose(cyc["coulombic_efficiency_pct"], cyc_exp["eff_pct"], rtol=1e-12)
        assert len(steps) == len(steps_exp) == 32
        np.testing.assert_allclose(steps["step_time_s"], steps_exp["time_s"])
        np.testing.assert_allclose(steps["capacity_mAh"], steps_exp["capacity_mAh"], rtol=1e-12)
        assert list(steps["step_type"]) == [bf.STEP_TYPES[n] for n in steps_exp["name"]]
        np.testing.assert_array_equal(steps["cycle"], steps_exp["cycle"])


@pytest.fixture(scope="module")
def small(raw):
    """1500 records from the start of step 8 of cycle 1 into cycle 2, for the slower XLSX."""
    part = raw.iloc[2415:3915]
    assert part["Time"].iloc[0] == "00:00:00" and part["Step Index"].iloc[0] == 8
    return part[XLSX_COLUMNS].reset_index(drop=True)


@pytest.mark.parametrize("kw,time_source,layout", [
    (dict(layout="flat"), "cumulative", "flat"),
    (dict(layout="flat", language="zh", timedelta_cells=True), "cumulative", "flat"),
    (dict(layout="nested"), "date", "nested"),
], ids=["flat-sheets", "flat-zh-timedelta", "nested"])
def test_xlsx_variant_gives_the_corpus_numbers(kw, time_source, layout, small, tmp_path):
    path = bf.write_xlsx(small, tmp_path / "export.dat", **kw)  # extension says nothing
    m = read(path)
    assert m.format == "btsda-xlsx" and m.meta["layout"] == layout
    assert_schema_equal(m.data, bf.expected(small, time=time_source))
    if layout == "flat":
        assert m.meta["record_sheet"] == "record" and m.meta["sheets"][0] == "test"
        cyc_exp = bf.cycles_table(small)
        np.testing.assert_allclose(m.meta["btsda_cycles"]["charge_capacity_mAh"],
                                   cyc_exp["chg_mAh"], rtol=1e-12)
        assert len(m.meta["btsda_steps"]) == len(bf.steps_table(small))
    else:
        assert list(m.meta["btsda_cycles"]["cycle"]) == [1, 2]


# ---------------------------------------------------------------------------------------------
# writers: schema frame -> BTSDA export -> reader gives the same frame
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("writer", ["flat", "nested"])
@pytest.mark.parametrize("language,encoding,time_format", [
    ("en", "utf-8", "hms"), ("zh", "gbk", "s"), ("zh", "utf-8-sig", "hms")])
def test_writers_round_trip_the_corpus(writer, language, encoding, time_format, raw, tmp_path):
    records = bf.expected(raw)
    fn = btsda_writer.write_flat_csv if writer == "flat" else btsda_writer.write_nested_csv
    path = fn(records, tmp_path / "out.csv", language=language, encoding=encoding,
              time_format=time_format)
    m = read(path)
    assert m.meta["layout"] == writer and m.meta["header_language"] == language
    assert_schema_equal(m.data, records)


def test_nested_writer_computes_cycles_and_steps_as_btsda_does(raw, tmp_path):
    records = bf.expected(raw)
    m = read(btsda_writer.write_nested_csv(records, tmp_path / "n.csv"))
    cyc, steps = m.meta["btsda_cycles"], m.meta["btsda_steps"]
    # capacities: the instrument's own per-step charge/discharge capacities summed per cycle
    exp = bf.cycles_table(raw)
    np.testing.assert_allclose(cyc["charge_capacity_mAh"], exp["chg_mAh"], rtol=1e-12)
    np.testing.assert_allclose(cyc["discharge_capacity_mAh"], exp["dchg_mAh"], rtol=1e-12)
    # the efficiency is written with 3 decimals
    np.testing.assert_allclose(cyc["coulombic_efficiency_pct"], exp["eff_pct"], rtol=0, atol=5e-4)
    # energies are integrated from V and I by the writer; the instrument integrated its own
    # samples: per step they agree to 0.5 % where there is energy
    inst = bf.steps_table(raw)["energy_mWh"].to_numpy()
    mine = steps["energy_mWh"].to_numpy()
    big = inst > 0.01
    assert big.sum() > 10
    np.testing.assert_allclose(mine[big], inst[big], rtol=5e-3)
    np.testing.assert_allclose(cyc["charge_energy_mWh"], exp["echg_mWh"], rtol=5e-3)


def synthetic_records() -> pd.DataFrame:
    """Every step type, fractional times, currents in mA: a closed-form test profile."""
    types = ["rest", "cc_charge", "cv_charge", "cccv_charge", "cp_charge", "rest",
             "cc_discharge", "cv_discharge", "cccv_discharge", "cp_discharge", "ocv", "eis", "other"]
    rows = []
    t = 0.0
    for k, st in enumerate(types):
        sign = 1 if "charge" in st and "dis" not in st else -1 if "discharge" in st else 0
        for j in range(5):
            t += 0.25
            rows.append(dict(time_s=t, voltage_V=3.0 + 0.01 * j + 0.1 * sign,
                             current_mA=0.5 * sign, capacity_mAh=0.5 * abs(sign) * 0.25 * j / 3600,
                             cycle=1 + k // 7, step=k + 1, step_type=st))
    return pd.DataFrame(rows)


#: half the last written decimal, as BTSDA writes numbers: times to 1 ms, voltage with 4 decimals,
#: current and capacity with 8 in A/Ah (flat) or 5 in mA/mAh (nested): 5e-6 mA/mAh either way
RESOLUTION = {"time_s": 5e-4, "voltage_V": 5e-5, "current_mA": 5e-6, "capacity_mAh": 5e-6}


@pytest.mark.parametrize("writer", [btsda_writer.write_flat_csv, btsda_writer.write_nested_csv])
@pytest.mark.parametrize("time_format", ["s", "hms"])
def test_writers_round_trip_every_step_type(writer, time_format, tmp_path):
    rec = synthetic_records()
    m = read(writer(rec, tmp_path / "syn.csv", time_format=time_format, language="zh",
                    encoding="gbk"))
    assert_schema_equal(m.data, rec, atol=RESOLUTION)
    # what is read back is the value rounded to the written decimals
    cap = rec["capacity_mAh"].to_numpy()
    np.testing.assert_allclose(m.data["capacity_mAh"], np.round(cap, 5), rtol=0, atol=1e-12)
    assert (m.data["capacity_mAh"] != cap).any()  # the profile has capacities below 1e-5 mAh


def test_flat_writer_writes_numbers_as_btsda_does(tmp_path):
    """Fields as in the corpus export: ``00:01:00``, ``2.9176``, ``0.00000000``, whole-second
    dates; milliseconds only where a time has them."""
    rec = pd.DataFrame({"time_s": [0.0, 60.0, 3600.0 * 150 + 1],
                        "voltage_V": [2.917, 2.91764, -0.00001],
                        "current_mA": [0.0, 0.15708, -1234.5], "capacity_mAh": [0.0, 1.0, 2.5e-6],
                        "cycle": [1, 1, 2], "step": [1, 2, 3],
                        "step_type": ["rest", "cc_charge", "cc_discharge"]})
    lines = btsda_writer.write_flat_csv(rec, tmp_path / "f.csv").read_bytes().decode().split("\r\n")
    assert lines[1].split(",")[:9] == ["1", "1", "1", "Rest", "00:00:00", "00:00:00", "0.00000000",
                                       "2.9170", "0.00000000"]
    assert lines[2].split(",")[4:9] == ["00:01:00", "00:01:00", "0.00015708", "2.9176", "0.00100000"]
    assert lines[3].split(",")[4:9] == ["149:59:01", "150:00:01", "-1.23450000", "0.0000",
                                        "0.00000000"]
    assert lines[3].endswith(",2024-01-07 06:00:01") and lines[-1] == ""
    rec["time_s"] += 0.25
    fields = btsda_writer.write_flat_csv(rec, tmp_path / "g.csv").read_bytes().decode().split("\r\n")[2]
    fields = fields.split(",")
    assert fields[5] == "00:01:00.250" and fields[-1] == "2024-01-01 00:01:00.250"


# ---------------------------------------------------------------------------------------------
# sniffing
# ---------------------------------------------------------------------------------------------

def test_formats_and_sniff_claim_only_btsda(variants):
    assert [f[0] for f in btsda.FORMATS] == ["btsda-xlsx", "btsda-csv"]
    for path in variants.values():
        head = path.read_bytes()[:8192]
        assert btsda.sniff_csv(head, path) and not btsda.sniff_xlsx(head, path)
    others = (corpus_files("biologic", "*") + corpus_files("eis", "*")
              + [p for p in corpus_files("neware", "*") if p.is_file() and p.suffix != ".csv"])
    assert len(others) > 20
    for path in others:
        head = path.read_bytes()[:8192]
        assert not btsda.sniff_csv(head, path), path
        assert not btsda.sniff_xlsx(head, path), path


def test_sniff_leaves_eclab_and_zplot_text_alone(tmp_path):
    for text in ("EC-Lab ASCII FILE\nNb header lines : 3\nVoltage(V)\tCurrent(mA)\ttime/s\n",
                 "ZPLOT2 ASCII\nVoltage(V),Current(A),Time(s)\n",
                 "1000.0,12.5,-0.3\n100.0,13.0,-1.2\n10.0,15.0,-2.5\n"):
        p = tmp_path / "x.csv"
        p.write_text(text)
        assert not btsda.sniff_csv(text.encode(), p)


# ---------------------------------------------------------------------------------------------
# bad input: typed errors naming the file, fast, file untouched
# ---------------------------------------------------------------------------------------------

def read_fast(path):
    """read(path) must finish (or raise) within a second of CPU time (wall time is checked
    loosely: other work on a shared CI machine slows it) and leave the file as it was."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        return read(path)
    finally:
        assert time.process_time() - c0 < 1.0
        assert time.perf_counter() - t0 < 5.0
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_empty_and_blank_files(tmp_path):
    for content in (b"", b"\r\n\r\n  \n"):
        p = tmp_path / "empty.csv"
        p.write_bytes(content)
        with pytest.raises(CorruptFileError) as err:
            btsda.read_csv(p)
        assert str(p) in str(err.value)
        with pytest.raises(EchemError):
            read_fast(p)


def test_csv_without_voltage_column(raw, tmp_path):
    p = bf.write_flat(raw.iloc[:50].drop(columns=["Voltage(V)"]), tmp_path / "novolt.csv")
    with pytest.raises(UnsupportedFileError, match="no voltage column") as err:
        read_fast(p)
    assert str(p) in str(err.value)


def test_xlsx_that_is_not_btsda(tmp_path):
    import openpyxl
    wb = openpyxl.Workbook()
    wb.active.append(["Name", "Mass (g)"])
    wb.active.append(["cathode", 0.012])
    p = tmp_path / "other.xlsx"
    wb.save(p)
    with pytest.raises(UnsupportedFileError) as err:
        read_fast(p)
    assert str(p) in str(err.value)
    with pytest.raises(UnsupportedFileError, match="voltage"):
        btsda.read_xlsx(p)


def test_truncated_xlsx(small, tmp_path):
    data = bf.write_xlsx(small.iloc[:200], tmp_path / "ok.xlsx").read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        p = tmp_path / "cut.xlsx"
        p.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError) as err:
            read_fast(p)
        assert str(p) in str(err.value)


def test_bytes_neither_utf8_nor_gbk(tmp_path):
    data = corpus_path().read_bytes() if corpus_path().is_file() else pytest.skip("no corpus")
    at = data.index(b"\n", 20000) + 1
    p = tmp_path / "bad.csv"
    p.write_bytes(data[:at] + b"\x80\xff\x80" + data[at:])
    with pytest.raises(CorruptFileError, match="neither UTF-8 nor GBK"):
        read_fast(p)


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(7)
    p = tmp_path / "noise.csv"
    p.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(EchemError):
        read_fast(p)
    with pytest.raises(EchemError):
        btsda.read_csv(p)


def test_quoted_header_names(raw, tmp_path, monkeypatch):
    """Header names in quotes (as pyarrow's CSV writer or Excel may write them) lose them; such
    a file is read through Arrow, not row by row, unless quotes come below the header too."""
    data = corpus_path().read_bytes()
    at = data.index(b"\n")
    header = b",".join(b'"' + name + b'"' for name in data[:at].split(b","))
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(header + data[at:])
    cells = tmp_path / "cells.csv"  # quoted text cells too: row by row, as before
    cells.write_bytes(header + data[at:].replace(b",Rest,", b',"Rest",'))
    m = read(cells)
    assert m.meta["column_map"]["voltage"] == "Voltage(V)"
    assert_schema_equal(m.data, bf.expected(raw))

    def row_by_row(*args, **kwargs):
        raise AssertionError("read row by row")
    monkeypatch.setattr(btsda, "parse_grid", row_by_row)
    m = read(quoted)
    assert m.meta["layout"] == "flat" and m.meta["column_map"]["voltage"] == "Voltage(V)"
    assert_schema_equal(m.data, bf.expected(raw))
    assert list(m.data.columns) == list(read(corpus_path()).data.columns)


def test_damaged_value_names_the_line(tmp_path):
    lines = corpus_path().read_bytes().split(b"\n") if corpus_path().is_file() else pytest.skip()
    fields = lines[100].split(b",")
    fields[7] = b"2.9x"  # voltage of the record on line 101
    lines[100] = b",".join(fields)
    p = tmp_path / "damaged.csv"
    p.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptFileError, match="line 101: voltage '2.9x'"):
        read_fast(p)


def cut_points(data: bytes) -> list[int]:
    header_end = data.index(b"\n") + 1
    ends = [i + 1 for i in range(len(data)) if data[i] == 0x0A][:400]
    points = {5, 60, header_end - 10, header_end, header_end + 7, ends[3], ends[3] + 33,
              ends[200] - 1, ends[399] - 20, len(data) // 2, len(data) - 1, len(data) - 3,
              len(data) - 8, len(data) - 25, len(data) - 60, len(data) - 120}
    return sorted(p for p in points if 0 < p < len(data))


def check_truncation(path, data: bytes, exp: pd.DataFrame, header_lines: int | None):
    """A cut file either raises a typed error, or gives complete rows equal to the original's."""
    for cut in cut_points(data):
        path.write_bytes(data[:cut])
        try:
            m = read_fast(path)
        except EchemError as err:
            assert str(path) in str(err)
            continue
        n = len(m.data)
        assert 0 < n <= len(exp)
        assert_schema_equal(m.data, exp.iloc[:n].reset_index(drop=True))
        # cut at a line end (only line-end bytes lost): indistinguishable from a complete file
        at_line_end = data[cut - 1:cut] in (b"\r", b"\n") or data[cut:cut + 1] in (b"\r", b"\n")
        assert m.truncated is (not at_line_end), cut
        assert bool(m.warnings) is m.truncated and (not m.truncated or "cut off" in str(
            m.warnings[-1]))
        whole_lines = data[:cut].count(b"\n") + (0 if data[:cut].endswith(b"\n") else 1)
        if at_line_end and header_lines is not None:
            assert n == whole_lines - header_lines, cut


def test_truncations_of_the_corpus_file(raw, tmp_path):
    check_truncation(tmp_path / "cut.csv", corpus_path().read_bytes(), bf.expected(raw), 1)


def test_truncations_of_a_nested_export(raw, variants, tmp_path):
    data = variants["nested-zh-gbk"].read_bytes()
    exp = bf.expected(raw, time="date")
    check_truncation(tmp_path / "cut.csv", data, exp, None)
    # cut inside a two-byte GBK character
    at = data.index("恒流".encode("gbk"), 2000) + 1
    p = tmp_path / "cutchar.csv"
    p.write_bytes(data[:at])
    m = read_fast(p)
    assert m.truncated is True
    assert_schema_equal(m.data, exp.iloc[:len(m.data)].reset_index(drop=True))


# ---------------------------------------------------------------------------------------------
# header aliases: spellings seen in real BTSDA exports (sources in echem/io/btsda.py's report)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header,table,name,factor", [
    # BTSDA 7 nested record header (TRI-AMDD/beep neware reader, nbeaver/neware-data-munger)
    ("Record ID", "record", "record", 1.0), ("Time(h:min:s.ms)", "record", "step_time", 1.0),
    ("Current(mA)", "record", "current", 1.0), ("Capacitance_Chg(mAh)", "record", "charge_capacity", 1.0),
    ("Capacitance_DChg(mAh)", "record", "discharge_capacity", 1.0),
    ("Engy_DChg(mWh)", "record", "discharge_energy", 1.0), ("Realtime", "record", "datetime", 1.0),
    ("Capacity Density(mAh/g)", "record", None, None),
    # BTSDA 8 flat export (cellpy's neware_txt/neware_xlsx configurations, the corpus file)
    ("Current(A)", "record", "current", 1000.0), ("Chg. Cap.(Ah)", "record", "charge_capacity", 1000.0),
    ("DChg. Energy(Wh)", "record", "discharge_energy", 1000.0),
    ("Cumulative Time", "record", "total_time", 1.0), ("Total Time", "record", "total_time", 1.0),
    ("Step Time", "record", "step_time", 1.0), ("Spec. Cap.(mAh/g)", "record", None, None),
    # Chinese BTSDA 7 detail sheet / BTS 8 layers
    ("记录序号", "record", "record", 1.0), ("步次", "record", "step_id", 1.0),
    ("工步类型", "record", "step_name", 1.0), ("状态", "record", "step_name", 1.0),
    ("相对时间(h:min:s.ms)", "record", "step_time", 1.0), ("绝对时间", "record", "datetime", 1.0),
    ("电压（V）", "record", "voltage", 1.0), ("电流(mA)", "record", "current", 1.0),
    ("容量(Ah)", "record", "capacity", 1000.0), ("比容量(mAh/g)", "record", None, None),
    ("Voltage(mV)", "record", "voltage", 1e-3), ("Current(µA)", "record", "current", 1e-3),
    # cycle and step layers
    ("Cycle ID", "cycle", "cycle", 1.0), ("Cap_DChg(mAh)", "cycle", "discharge_capacity_mAh", 1.0),
    ("Charge/Discharge Efficiency(%)", "cycle", "coulombic_efficiency_pct", 1.0),
    ("Chg/DChg Efficiency(%)", "cycle", "coulombic_efficiency_pct", 1.0),
    ("充放电效率(%)", "cycle", "coulombic_efficiency_pct", 1.0),
    ("Engy_Chg(mWh)", "cycle", "charge_energy_mWh", 1.0),
    ("Step ID", "step", "step", 1.0), ("Step Name", "step", "step_name", 1.0),
    ("Start Voltage(V)", "step", "start_voltage_V", 1.0), ("Capacitance(F)", "step", None, None),
])
def test_header_aliases(header, table, name, factor):
    fields = {"record": btsda.RECORD_FIELDS, "cycle": btsda.CYCLE_FIELDS, "step": btsda.STEP_FIELDS}
    m = btsda.match_header(header, fields[table])
    if name is None:
        assert m is None
    else:
        assert m[0] == name and m[2] == factor


@pytest.mark.parametrize("step_name,step_type", [
    ("CC Chg", "cc_charge"), ("CC_DChg", "cc_discharge"), ("CCCV Chg", "cccv_charge"),
    ("CV_Chg", "cv_charge"), ("CP DChg", "cp_discharge"), ("Rest", "rest"), ("恒流充电", "cc_charge"),
    ("恒流放电", "cc_discharge"), ("恒流恒压充电", "cccv_charge"), ("恒压充电", "cv_charge"),
    ("搁置", "rest"), ("恒功率放电", "cp_discharge"), ("Pulse", "other"), ("", "other"),
])
def test_step_names(step_name, step_type):
    assert btsda.step_type_of(step_name) == step_type


# ---------------------------------------------------------------------------------------------
# layout deviations of real exports (fastnda's btsda.py, cellpy's Neware readers)
# ---------------------------------------------------------------------------------------------

def test_shared_step_lines_are_read_and_counted(variants):
    text = variants["nested-shared-step-line"].read_text()
    first = text.splitlines()[3].split(",")
    assert first[0] == "1" and first[6] == "1" and len(first) == 6 + 7  # cycle 1, its step 1
    m = read(variants["nested-shared-step-line"])
    assert m.meta["shared_step_lines"] == 4  # one per cycle
    assert not m.warnings


def test_interp_test_csv_reads_as_fastnda_reference(corpus):
    """fastnda's own BTSDA export (Windows-1252, Current(µA) as byte 0xB5, Voltage(mV),
    Capacity(mAs), Energy(mWs), a trailing comma on every line) against the Parquet fastnda made
    from it (tests/test_data/interp-test.parquet: its btsda_csv_to_parquet, float32 values)."""
    path = corpus / "neware" / "fastnda" / "interp-test.csv"
    ref = pd.read_parquet(corpus / "neware" / "fastnda" / "reference" / "interp-test.parquet")
    m = read(path)
    d = m.data
    assert m.format == "btsda-csv" and m.meta["encoding"] == "cp1252"
    assert m.meta["column_map"]["current"] == unicodedata.normalize("NFKC", "Current(\u00b5A)")
    assert len(d) == len(ref) == 333
    np.testing.assert_allclose(d["time_s"], ref["Total Time"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(d["step_time_s"], ref["Time"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(d["voltage_V"], ref["Voltage(mV)"].astype(float) / 1e3, rtol=1e-6)
    np.testing.assert_allclose(d["current_mA"], ref["Current(uA)"].astype(float) / 1e3, atol=1e-9)
    np.testing.assert_allclose(d["capacity_mAh"], ref["Capacity(mAs)"].astype(float) / 3600,
                               atol=1e-9)
    np.testing.assert_allclose(d["energy_mWh"], ref["Energy(mWs)"].astype(float) / 3600, atol=1e-9)
    np.testing.assert_array_equal(d["cycle"], ref["Cycle Index"])
    np.testing.assert_array_equal(d["step"], ref["Step Count"])
    assert (d["step_type"] == "rest").all() and set(ref["Step Type"]) == {"Rest"}
    np.testing.assert_array_equal(d["date_time"].to_numpy(), ref["Date"].to_numpy())
    assert m.start_time == ref["Date"].iloc[0].to_pydatetime()


def test_a_header_without_a_name_is_refused_naming_the_line(raw, tmp_path):
    """A value where the header names no column (a name missing from the header line) is
    refused naming the line, in both the fast path and the reference parser."""
    lines = corpus_path().read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    header.remove("Power(W)")  # the header now names one column fewer than each row has
    lines[0] = ",".join(header)
    p = tmp_path / "missing-name.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for fast in (True, False):
        with pytest.raises(CorruptFileError, match="line 2: a value where the header line"):
            btsda.read_csv(p, fast=fast)
    header.insert(3, "")  # an empty name in the middle
    lines[0] = ",".join(header)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorruptFileError, match="line 2: "):
        read(p)


def test_shared_line_with_junk_is_refused_naming_it(raw, tmp_path):
    rows = bf.nested_rows(raw.iloc[:200], shared_first_step=True)
    rows[3] = rows[3][:6] + ["x", "CC Chg"]
    p = tmp_path / "junk.csv"
    p.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(CorruptFileError, match="line 4: fields after the cycle row"):
        read(p)


def _btsda_files():
    from conftest import ROOT
    files = [CORPUS / "neware" / "neware_uio.csv", CORPUS / "neware" / "fastnda" / "interp-test.csv"]
    return [f for f in files if f.is_file()] + sorted((ROOT / "sample_data").glob("*_cycling.csv"))


@pytest.mark.parametrize("path", _btsda_files(), ids=lambda p: p.name)
def test_fast_path_equals_reference_parser(path):
    """Every corpus and sample BTSDA file: the Arrow body path and the one-shape duration path
    give exactly the frame the reference parsers give."""
    fast, ref = btsda.read_csv(path), btsda.read_csv(path, fast=False)
    pd.testing.assert_frame_equal(fast.data, ref.data, check_exact=True)
    assert fast.warnings == ref.warnings and fast.truncated == ref.truncated
    if fast.meta["layout"] != "flat":
        return
    cells = bf.load_raw(path, dtype=str, encoding=fast.meta["encoding"])
    for key in ("total_time", "step_time"):
        name = fast.meta["column_map"].get(key)
        if name is None or ":" not in str(cells[name].iloc[0]):
            continue
        text = cells[name]
        import pyarrow as pa
        from echem.io.btsda import times
        assert times._hms_one_shape(pa.array(text.to_numpy(), type=pa.string())) is not None
        one_shape = btsda.durations_s(text.astype("string[pyarrow]"))
        np.testing.assert_array_equal(one_shape, btsda.durations_s(text.astype(object), fast=False))
        assert np.isfinite(one_shape).all()


def test_a_record_table_without_cycle_and_step_numbers_says_what_is_lost(raw, tmp_path):
    """cellpy's Neware XLSX reader meets record sheets without Cycle Index and Step Index (it
    assigns them from the step sheet's dates): steps then come from changes of the step name,
    and the warning says that two steps of one name in a row read as one."""
    part = raw.iloc[2000:3000].drop(columns=["Cycle Index", "Step Index"])
    p = tmp_path / "no-numbers.csv"
    p.write_text("\n".join([",".join(part.columns)] + [",".join(map(str, r)) for r in
                                                       part.itertuples(index=False)]) + "\n")
    m = read(p)
    assert "cycle" not in m.data and "no cycle and no step number column" in str(m.warnings[0])
    names = part["Step Type"].to_numpy()
    assert m.data["step"].iloc[-1] == 1 + int((names[1:] != names[:-1]).sum())


@pytest.mark.parametrize("name", [n for n in CSV_VARIANTS if n.startswith("flat")])
def test_fast_path_equals_reference_parser_on_the_variants(name, variants):
    """GBK bodies (Arrow transcodes them), BOMs, tabs, day-prefixed durations: the fast path
    gives the reference parser's frame, or declines."""
    fast, ref = btsda.read_csv(variants[name]), btsda.read_csv(variants[name], fast=False)
    pd.testing.assert_frame_equal(fast.data, ref.data, check_exact=True)


def test_xlsx_record_sheet_without_numbers_takes_them_from_the_step_sheet(small, tmp_path):
    """cellpy's Neware XLSX case: a record sheet without Cycle Index and Step Index, a step sheet
    with Oneset Date and End Date; the records get the cycles and steps of the export they came
    from (the corpus file's own numbers), ties at a step boundary decided by the step name."""
    path = bf.write_xlsx(small, tmp_path / "no-numbers.xlsx", record_numbers=False)
    m = read(path)
    assert m.meta["steps_from"] == "the step sheet's onset and end dates" and not m.warnings
    assert_schema_equal(m.data, bf.expected(small))
    np.testing.assert_array_equal(m.data["step_number"], small["Step Index"])

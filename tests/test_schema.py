"""The common schema: Measurement's typed fields, finalize's invariants, screen()."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import echem
from echem.cli import main
from echem.errors import CorruptFileError
from echem.schema import Measurement, ReadWarning, finalize, screen


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------

def test_keys_a_reader_puts_in_meta_become_fields():
    """Readers (the Neware ones included) may still write these keys into meta: construction
    moves them into the typed fields and out of meta; the rest stays."""
    meta = {"source": "a/b.nda", "format": "neware-nda", "instrument": "Neware BTS",
            "techniques": ("cycling",), "start_time": "2024-05-06T08:58:57+02:00",
            "warnings": ["first", ReadWarning("second", 12)], "truncated": 1, "channel": "3"}
    m = Measurement(pd.DataFrame(), meta)
    assert (m.source, m.format, m.instrument, m.techniques) == \
        ("a/b.nda", "neware-nda", "Neware BTS", ["cycling"])
    assert m.start_time == datetime(2024, 5, 6, 6, 58, 57, tzinfo=timezone.utc)  # UTC
    assert m.warnings == [ReadWarning("first"), ReadWarning("second", 12)]
    assert str(m.warnings[1]) == "line 12: second"
    assert m.truncated is True and m.meta == {"channel": "3"}


def test_start_time_without_offset_stays_naive_local():
    m = Measurement(pd.DataFrame(), {"start_time": "2022-05-18T16:27:52"})
    assert m.start_time == datetime(2022, 5, 18, 16, 27, 52) and m.start_time.tzinfo is None
    offset = datetime(2022, 5, 18, 16, 27, 52, tzinfo=timezone(timedelta(hours=-5)))
    assert Measurement(pd.DataFrame(), start_time=offset).start_time == \
        datetime(2022, 5, 18, 21, 27, 52, tzinfo=timezone.utc)
    bad = Measurement(pd.DataFrame(), {"start_time": "not a date"})
    assert bad.start_time is None and bad.meta["start_time_text"] == "not a date"
    assert "could not be read" in str(bad.warnings[0])


def test_read_records_provenance_on_every_corpus_kind(corpus):
    for rel, fmt in (("eis/Circuit1_EIS_1.z", "zplot"), ("eis/exampleData.csv", "impedance-csv"),
                     ("biologic/peis.mpt", "eclab-mpt"), ("neware/neware_uio.csv", "btsda-csv")):
        m = echem.read(corpus / rel)
        assert m.source == str(corpus / rel) and m.format == fmt
        assert m.instrument and m.techniques
        assert not {"source", "format", "instrument", "techniques", "warnings", "truncated",
                    "start_time"} & set(m.meta)


# ---------------------------------------------------------------------------------------------
# finalize's invariants
# ---------------------------------------------------------------------------------------------

def test_finalize_refuses_time_going_back_naming_the_row():
    with pytest.raises(CorruptFileError, match=r"x.csv: time_s goes back at row 3 \(2.0 s -> 1.0 s"):
        finalize({"time_s": np.array([0.0, 2.0, 1.0, 3.0])}, "x.csv")
    # NaN cells break no order; equal times are fine
    d = finalize({"time_s": np.array([0.0, np.nan, 1.0, 1.0])})
    assert d["time_s"].dtype == np.float64 and len(d) == 4
    with pytest.raises(CorruptFileError, match="across missing cells"):
        finalize({"time_s": np.array([0.0, 2.0, np.nan, 1.0])})


def test_finalize_refuses_broken_step_numbering_and_missing_counts():
    with pytest.raises(ValueError, match="step starts at 2"):
        finalize({"step": np.array([2, 2, 3])})
    with pytest.raises(ValueError, match="step goes from 1 to 3 at row 3"):
        finalize({"step": np.array([1, 1, 3])})
    with pytest.raises(ValueError, match="step goes from 2 to 1"):
        finalize({"step": np.array([1, 2, 1])})
    with pytest.raises(ValueError, match="cycle has missing"):
        finalize({"cycle": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="not whole numbers"):
        finalize({"cycle": np.array([1.0, 1.5])})
    with pytest.raises(ValueError, match="step_type values outside"):
        finalize({"step_type": np.array(["rest", "charge"], dtype=object)})
    d = finalize({"step": np.array([1.0, 1.0, 2.0]), "cycle": np.array([1, 1, 1], dtype=np.int32),
                  "step_type": np.array(["rest", None, "eis"], dtype=object)})
    assert d["step"].dtype == np.int64 and d["cycle"].dtype == np.int64
    assert list(d["step_type"]) == ["rest", "other", "eis"]


# ---------------------------------------------------------------------------------------------
# screen
# ---------------------------------------------------------------------------------------------

def _cell(n=20):
    t = np.arange(n, dtype=float)
    return pd.DataFrame({"time_s": t, "voltage_V": 0.03 + 0 * t, "current_mA": 0.2 + 0 * t,
                         "capacity_mAh": t * 0.2 / 3600, "step": np.repeat([1, 2], n // 2)})


def test_screen_keeps_a_clean_frame_as_it_is():
    d = _cell()
    out, warnings = screen(d)
    assert out is d and warnings == []


def test_screen_drops_inf_and_absurd_rows_and_counts_them():
    """The issue's cases: 10 rows of infinite current, two -inf voltages, 1e308, values beyond
    100 V and 1,000 A; NaN (a missing cell) stays."""
    d = _cell(40)
    d.loc[3:12, "current_mA"] = np.inf           # 10 rows
    d.loc[[20, 21], "voltage_V"] = -np.inf       # 2 rows
    d.loc[25, "voltage_V"] = 1e308
    d.loc[26, "current_mA"] = -2e6               # 2,000 A
    d.loc[27, "capacity_mAh"] = np.nan
    out, warnings = screen(d)
    assert warnings == ["2 rows with an infinite voltage_V dropped",
                        "10 rows with an infinite current_mA dropped",
                        "1 row with |voltage_V| > 100 V dropped",
                        "1 row with |current_mA| > 1,000,000 mA (1,000 A) dropped"]
    assert len(out) == 40 - 14 and np.isfinite(out[["voltage_V", "current_mA"]]).all().all()
    assert out["capacity_mAh"].isna().sum() == 1
    assert list(out.index) == list(range(len(out)))
    kept = np.setdiff1d(np.arange(40), np.r_[3:13, 20, 21, 25, 26])
    np.testing.assert_array_equal(out["time_s"], kept.astype(float))


def test_screen_drops_time_going_back_beyond_the_resolution():
    """A spike up (1e308 s) and a dip (a row from the past) are the rows dropped, not the rows
    after them; going back by no more than the resolution (1 s here) is rounding, kept."""
    d = _cell(12)
    d.loc[4, "time_s"] = 1e308
    d.loc[8, "time_s"] = 2.0
    d.loc[10, "time_s"] = 9.0   # back from 9 (row 9) to 9: equal, kept
    out, warnings = screen(d)
    assert warnings == ["2 rows with time_s going back by more than the data's resolution (1 s) "
                        "dropped"]
    np.testing.assert_array_equal(out["time_s"], [0, 1, 2, 3, 5, 6, 7, 9, 9, 11])


def test_screen_renumbers_steps_when_a_whole_step_goes():
    d = _cell(6)
    d["step"] = [1, 1, 2, 2, 3, 3]
    d.loc[[2, 3], "voltage_V"] = np.inf
    out, _ = screen(d)
    assert list(out["step"]) == [1, 1, 2, 2]


# ---------------------------------------------------------------------------------------------
# echem read prints the reader's warnings
# ---------------------------------------------------------------------------------------------

def test_echem_read_prints_warnings_and_truncation(corpus, tmp_path, capsys):
    raw = (corpus / "eis" / "Circuit2_EIS_1.z").read_bytes()
    cut = tmp_path / "cut.z"
    cut.write_bytes(raw[:raw.index(b"End Comments") + 2000])
    assert main(["read", str(cut)]) == 0
    out = capsys.readouterr().out
    assert "truncated:   yes" in out
    assert "warning:     the file ends inside a row" in out
    assert "warning:     the header announces 56 data points" in out
    assert "start time:  2018-10-12T11:04:34 (local time, no offset in the file)" in out



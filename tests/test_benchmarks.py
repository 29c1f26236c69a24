"""The timing helpers of benchmarks/run (benchmarks/common.py and the report stopwatch)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import sys
import time
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402


def load_run():
    loader = importlib.machinery.SourceFileLoader("bench_run", str(BENCH / "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_ratio_is_reference_over_echem():
    assert common.Row("x", echem_s=0.5, ref_s=2.0).ratio == pytest.approx(4.0)
    assert math.isnan(common.Row("x", echem_s=0.5).ratio)
    assert math.isnan(common.Row("x", echem_s=0.0, ref_s=1.0).ratio)


def test_measure_excludes_warmup_and_times_sleep():
    calls = []

    def slow_first():
        time.sleep(0.2 if not calls else 0.01)
        calls.append(1)

    (t,) = common.measure([slow_first], min_repeats=3, max_repeats=5, budget_s=10.0)
    assert t.n == 5 and len(calls) == 6          # warm-up + 5 counted
    assert 0.01 <= t.median_s < 0.1              # the 0.2 s warm-up is not in the median


def test_measure_counts_first_call_without_warmup_and_marks_failures():
    def boom():
        raise ValueError("refused")

    ok, bad = common.measure([lambda: time.sleep(0.01), boom], min_repeats=1, max_repeats=1,
                             budget_s=0.0, warmup=False)
    assert ok.n == 1 and ok.median_s >= 0.01
    assert not bad.ok and "ValueError: refused" in bad.error


def test_table_renders_every_row():
    t = common.Table()
    t.section("S")
    t.add(common.Row("a.mpr", "10", 0.001, 0.002, "galvani"), echo=False)
    text = t.render()
    assert "## S" in text.splitlines()
    assert text.splitlines()[-1].split() == ["a.mpr", "10", "0.001", "0.002", "galvani", "2.0"]


def test_stopwatch_adds_up_and_restores():
    run = load_run()
    mod = types.SimpleNamespace(f=lambda x: (time.sleep(0.02), x)[1])
    original = mod.f
    w = run.Stopwatch()
    w.wrap(mod, "f", "stage", key=lambda a: f"k{a[0]}")
    assert mod.f(1) == 1 and mod.f(2) == 2
    w.restore()
    assert mod.f is original
    assert w.total["stage"] >= 0.04
    assert w.sub[("stage", "k1")] >= 0.02 and set(w.sub) == {("stage", "k1"), ("stage", "k2")}


def test_unknown_section_is_refused():
    run = load_run()
    with pytest.raises(SystemExit) as exc:
        run.main(["--only", "nosuch"])
    assert exc.value.code == 2

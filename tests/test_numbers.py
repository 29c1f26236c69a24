"""Numbers as the report prints them (echem.report.numbers), against hand-worked cases."""
import math

import pytest

from echem.cycling import Estimate
from echem.report.numbers import (censored, estimate, p_value, percent, round_down,
                                  round_to_uncertainty, uncertainty_digits)


@pytest.mark.parametrize("value, u, text", [
    (12.1, 0.04005, "12.10 ± 0.04"),          # the example
    (12.55, 0.293, "12.55 ± 0.29"),           # leading digits 293: two significant digits
    (12.55, 0.024, "12.550 ± 0.024"),
    (12.55, 0.0024, "12.5500 ± 0.0024"),
    (3.14159, 0.0960, "3.14 ± 0.10"),         # 960 rounds up to 0.10
    (3.14159, 0.36, "3.1 ± 0.4"),             # 360: one digit
    (1234.5, 150.0, "1230 ± 150"),
    (1234.5, 600.0, "1200 ± 600"),
    (-0.5123, 0.0123, "-0.512 ± 0.012"),
])
def test_round_to_uncertainty(value, u, text):
    assert round_to_uncertainty(value, u) == text


@pytest.mark.parametrize("u", [None, float("nan"), 0.0, math.inf])
def test_no_usable_uncertainty_gives_four_significant_digits(u):
    assert round_to_uncertainty(12.345678, u) == "12.35"
    assert round_to_uncertainty(0.00123456, u) == "0.001235"


def test_missing_value():
    assert round_to_uncertainty(float("nan"), 0.1) == "n/a" and round_to_uncertainty(None, None) == "n/a"


def test_uncertainty_digits():
    assert [uncertainty_digits(u) for u in (0.04005, 0.293, 0.0999, 15.0, 99.0)] == [2, 2, 2, 0, -1]


def test_censored_and_withheld():
    assert censored(150.17) == "> 150 h (no failure in the test)"
    assert round_down(24.96) == "24.9" and round_down(0.1239) == "0.123"
    assert estimate(Estimate(150.17, "h", censored=True)) == "> 150 h (no failure in the test)"
    assert estimate(Estimate.withhold("no complete cycle in the data", "%")) == \
        "n/a (no complete cycle in the data)"


def test_estimate_names_its_uncertainty_and_n():
    # the polarization: the SD of 150 plateaus, not a standard error
    assert estimate(Estimate(12.55, "mV", 0.293, "sd", 150)) == "12.55 ± 0.29 mV (SD, n = 150)"
    assert estimate(Estimate(12.55, "mV", 0.024, "sem", 150)) == "12.550 ± 0.024 mV (SE of the mean, n = 150)"
    assert estimate(Estimate(24.31, "ohm", 0.4217, "fit_se", 60)) == "24.3 ± 0.4 ohm (fit SE, n = 60)"
    # a fraction shown in %
    assert estimate(Estimate(0.98765, "", 0.01234, "sd", 21), scale=100, unit="%") == "98.8 ± 1.2 % (SD, n = 21)"
    # an echem.results.Metric-like object: stderr and uncertainty_kind
    class M:
        value, stderr, uncertainty_kind, n, unit = 24.31, 0.4217, "fit_se", 60, "ohm"
    assert estimate(M()) == "24.3 ± 0.4 ohm (fit SE, n = 60)"


def test_percent_and_p():
    assert percent(0.99246) == "99.2 %" and percent(0.9, 0.0123) == "90.0 ± 1.2 %"
    assert p_value(2 / 120) == "0.017" and p_value(1e-5) == "< 0.001" and p_value(None) == "n/a"

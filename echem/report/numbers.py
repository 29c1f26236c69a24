"""Numbers as the report and the console print them: rounded to their uncertainty, censored values
as lower bounds, withheld values with their reason. Formatting only: nothing here computes a result.

CSV files and the database keep full precision; these strings are for the HTML and the console.
"""
from __future__ import annotations

import math

#: how each uncertainty kind is named beside a value
UNCERTAINTY_NAMES = {"sd": "SD", "sem": "SE of the mean", "fit_se": "fit SE"}

#: significant digits of a value printed without an uncertainty
DEFAULT_DIGITS = 4


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _plain(value: float, digits: int = DEFAULT_DIGITS) -> str:
    """``value`` to ``digits`` significant digits, without an exponent between 1e-4 and 1e9."""
    v = float(value)
    if v == 0:
        return "0"
    e = math.floor(math.log10(abs(v)))
    if e < -4 or e >= 9:
        return f"{v:.{digits - 1}e}"
    decimals = max(digits - 1 - e, 0)
    s = f"{round(v, decimals):.{decimals}f}"
    return s


def uncertainty_digits(uncertainty: float) -> int:
    """The decimal place (digits after the point; negative: tens, hundreds...) to which a value
    with this uncertainty is rounded: two significant digits of the uncertainty when its leading
    three digits are 100-354, one when 355-949, and 949-999 rounds up to two digits of 1000
    (the Particle Data Group's rule), so at most two significant digits."""
    u = abs(float(uncertainty))
    e = math.floor(math.log10(u))
    lead = int(u / 10 ** (e - 2) + 1e-9)      # the three leading digits, 100-999
    if lead < 355:
        return 1 - e
    if lead < 950:
        return -e
    return 1 - (e + 1)                        # 0.0950 -> 0.10


def _at(value: float, decimals: int) -> str:
    r = round(float(value), decimals)
    if decimals > 0:
        return f"{r:.{decimals}f}"
    return f"{r:.0f}"


def round_to_uncertainty(value, uncertainty) -> str:
    """``"12.10 ± 0.04"`` for (12.1, 0.04005): the uncertainty to at most two significant digits
    (see :func:`uncertainty_digits`), the value to the same decimal place.

    A value that is NaN or None is ``"n/a"``; an uncertainty that is NaN, None, 0 or infinite is
    left out and the value printed to 4 significant digits."""
    if not _finite(value):
        return "n/a"
    if not _finite(uncertainty) or float(uncertainty) == 0:
        return _plain(value)
    d = uncertainty_digits(uncertainty)
    if d > 6 or d < -6:   # far from 1: a common power of ten, "(3 ± 5)e-15"
        e = 1 - d
        scale = 10.0 ** e
        return f"({_at(value / scale, 1)} ± {_at(abs(float(uncertainty)) / scale, 1)})e{e}"
    return f"{_at(value, d)} ± {_at(abs(float(uncertainty)), d)}"


def round_down(value: float, digits: int = 3) -> str:
    """``value`` rounded down to ``digits`` significant digits (a lower bound stays one):
    150.17 -> "150", 24.96 -> "24.9"."""
    v = float(value)
    if v <= 0:
        return _plain(v, digits)
    e = math.floor(math.log10(v))
    decimals = digits - 1 - e
    scaled = math.floor(v * 10 ** decimals + 1e-9) / 10 ** decimals
    return _at(scaled, max(decimals, 0))


def censored(value: float, unit: str = "h", why: str = "no failure in the test") -> str:
    """A censored value, a lower bound: ``"> 150 h (no failure in the test)"`` for 150.17 h."""
    if not _finite(value):
        return "n/a"
    text = f"> {round_down(value)}{' ' + unit if unit else ''}"
    return f"{text} ({why})" if why else text


def with_unit(text: str, unit: str) -> str:
    """``text`` followed by its unit ("n/a" and unit-less numbers stay as they are)."""
    return text if not unit or text == "n/a" else f"{text} {unit}"


def estimate(est, *, unit: str | None = None, scale: float = 1.0, kind_and_n: bool = True) -> str:
    """One reported number in words: value ± uncertainty, unit, what the uncertainty is and n.

    ``est``: an ``echem.cycling.Estimate`` or an ``echem.results.Metric`` (any object with
    ``value`` and ``uncertainty`` or ``stderr``, and optionally ``kind`` / ``uncertainty_kind``,
    ``n``, ``censored``, ``withheld``, ``unit``). ``scale`` multiplies value and uncertainty
    (e.g. 100 for a fraction shown in %, with ``unit="%"``). Examples:
    ``"12.55 ± 0.29 mV (SD, n = 150)"``, ``"> 150 h (no failure in the test)"``,
    ``"n/a (no complete cycle in the data)"``."""
    u = unit if unit is not None else getattr(est, "unit", "")
    withheld = getattr(est, "withheld", "")
    value = getattr(est, "value", None)
    if not _finite(value):
        return f"n/a ({withheld})" if withheld else "n/a"
    value = float(value) * scale
    if getattr(est, "censored", False):
        return censored(value, u)
    unc = getattr(est, "uncertainty", None)
    if unc is None:
        unc = getattr(est, "stderr", None)
    unc = float(unc) * scale if _finite(unc) else None
    text = with_unit(round_to_uncertainty(value, unc), u)
    kind = getattr(est, "kind", None) or getattr(est, "uncertainty_kind", "")
    n = getattr(est, "n", None)
    if kind_and_n and unc is not None and kind:
        label = UNCERTAINTY_NAMES.get(kind, kind)
        text += f" ({label}{f', n = {n}' if n else ''})"
    elif kind_and_n and n and n > 1 and unc is None:
        text += f" (n = {n})"
    return text


def percent(fraction, uncertainty=None, digits: int = 1) -> str:
    """A fraction shown in %: ``"99.2 %"``, or rounded to its uncertainty (also a fraction)."""
    if not _finite(fraction):
        return "n/a"
    if _finite(uncertainty) and float(uncertainty) > 0:
        return f"{round_to_uncertainty(100 * float(fraction), 100 * float(uncertainty))} %"
    return f"{100 * float(fraction):.{digits}f} %"


def p_value(p) -> str:
    """A p-value: two significant digits, ``"< 0.001"`` below that; ``"n/a"`` for NaN/None."""
    if not _finite(p):
        return "n/a"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def shown_unit(spec) -> str:
    """The unit a metric is shown in (``spec``: an ``echem.metrics.MetricSpec``): coulombic
    efficiency, kept as a fraction, in %."""
    return "%" if spec.name == "mean_coulombic_efficiency" else spec.unit


def _shown_scale(spec) -> float:
    return 100.0 if spec.name == "mean_coulombic_efficiency" else 1.0


def metric_text(m, spec) -> str:
    """A metric (``echem.results.Metric``) as the report and the console show it, without its
    unit: rounded to its uncertainty with n, censored as a lower bound, without an uncertainty
    to 4 significant digits with trailing zeros dropped."""
    scale = _shown_scale(spec)
    if getattr(m, "censored", False):
        return censored(m.value * scale, shown_unit(spec))
    if m.stderr is None:
        if not _finite(m.value):
            return "n/a"
        text = f"{float(m.value) * scale:.4g}"
        return text if "e" in text or "." not in text else text.rstrip("0").rstrip(".")
    text = estimate(m, unit="", scale=scale, kind_and_n=False)
    if m.n:
        text += f" (n = {m.n})"
    return text


__all__ = ["metric_text", "shown_unit", "round_to_uncertainty", "uncertainty_digits", "round_down", "censored", "estimate",
           "percent", "p_value", "UNCERTAINTY_NAMES"]

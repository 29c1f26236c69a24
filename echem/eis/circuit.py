"""Equivalent circuits in impedance.py's language: parsing and validation against its grammar and
element registry, and vectorized evaluation with analytic derivatives.

The elements R, C, CPE and L are evaluated here (and need no import of impedance.py); any other
impedance.py element (W, Wo, Gs, ...) is evaluated by impedance.py's own function, imported where
it is used (impedance.py imports matplotlib.pyplot and altair with any of its modules).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from echem.eis.defaults import DEFAULT_CIRCUIT
from echem.errors import FitError

# element parameters that are exponents in (0, 1] (impedance.py element -> parameter indices)
_EXPONENTS = {"CPE": (1,), "La": (1,), "Gs": (2,), "Zarc": (2,), "TLMQ": (2,)}
#: elements evaluated here, with their number of parameters (as in impedance.py's registry)
_NATIVE = {"R": 1, "C": 1, "CPE": 2, "L": 1}


def _registry() -> dict:
    """impedance.py's element registry (element type -> function with ``num_params``)."""
    from impedance.models.circuits import elements
    return elements.circuit_elements


def _known() -> list:
    """The element types impedance.py knows."""
    return sorted(k for k in _registry() if k not in ("s", "p"))


_ELEM_RE = re.compile(r"^([A-Za-z]+)(\d*(?:_\d+)?)$")


@dataclass
class Circuit:
    """A parsed circuit: the tree, the parameter names in impedance.py's order, their kinds."""

    text: str
    tree: tuple
    param_names: list
    kinds: list  # per parameter: "R" (resistance), "alpha" (exponent), "pos" (other positive)
    elements: list  # (element name, element type, first parameter index, n params)

    @property
    def n_params(self) -> int:
        return len(self.param_names)


def parse_circuit(circuit: str) -> Circuit:
    """Validate a circuit string against impedance.py's grammar and element registry.

    Grammar: elements in series joined by '-', parallel groups as 'p(a,b,...)' with at least two
    branches; an element is a known impedance.py element type followed by an optional label
    (digits, optionally '_digits'), e.g. R0, CPE1, Wo_2; every element label is used once.
    Raises FitError saying what is wrong.
    """
    if not isinstance(circuit, str) or not circuit.strip():
        raise FitError(f"circuit {circuit!r}: empty; write e.g. {DEFAULT_CIRCUIT!r}")
    text = circuit.replace(" ", "")
    bad = sorted(set(re.sub(r"[A-Za-z0-9_(),\-]", "", text)))
    if bad:
        raise FitError(f"circuit {circuit!r}: characters {''.join(bad)!r} are not allowed; use "
                       "'-' for series, 'p(a,b)' for parallel and element names such as R0, CPE1")
    pos = 0
    names: list[str] = []
    kinds: list[str] = []
    elems: list = []
    seen: set[str] = set()

    def fail(msg):
        raise FitError(f"circuit {circuit!r}: {msg} (at character {pos + 1})")

    def parse_series():
        nonlocal pos
        items = [parse_term()]
        while pos < len(text) and text[pos] == "-":
            pos += 1
            items.append(parse_term())
        return items[0] if len(items) == 1 else ("s", items)

    def parse_term():
        nonlocal pos
        if text.startswith("p(", pos):
            pos += 2
            items = [parse_series()]
            while pos < len(text) and text[pos] == ",":
                pos += 1
                items.append(parse_series())
            if pos >= len(text) or text[pos] != ")":
                fail("missing ')' closing a parallel group 'p('")
            pos += 1
            if len(items) < 2:
                fail("a parallel group p(...) needs at least two branches separated by ','")
            return ("p", items)
        m = re.match(r"[A-Za-z]+[0-9_]*", text[pos:])
        if not m:
            fail("expected an element (e.g. R0, CPE1) or a parallel group 'p(...)'")
        label = m.group(0)
        em = _ELEM_RE.match(label)
        if not em:
            fail(f"element label {label!r} is malformed; write a type and a number, e.g. R1, CPE_2")
        etype = em.group(1)
        if etype not in _NATIVE and etype not in _known():
            fail(f"unknown element type {etype!r} in {label!r}; impedance.py knows {', '.join(_known())}")
        if label in seen:
            fail(f"element {label!r} is used twice; give each element its own number")
        seen.add(label)
        n = _NATIVE[etype] if etype in _NATIVE else _registry()[etype].num_params
        first = len(names)
        for j in range(n):
            names.append(label if n == 1 else f"{label}_{j}")
            if j in _EXPONENTS.get(etype, ()):
                kinds.append("alpha")
            elif etype == "R" or (etype in ("Wo", "Ws", "G", "Gs", "K", "Zarc", "TLMQ") and j == 0):
                kinds.append("R")
            else:
                kinds.append("pos")
        elems.append((label, etype, first, n))
        pos += len(label)
        return ("e", label, etype, first, n)

    tree = parse_series()
    if pos != len(text):
        fail(f"unexpected {text[pos]!r}")
    if any(e[1] not in _NATIVE for e in elems):  # impedance.py must read it the same way
        from impedance.models.circuits.fitting import calculateCircuitLength
        try:
            n_lib = calculateCircuitLength(text)
        except Exception as exc:  # pragma: no cover - our grammar is stricter than impedance.py's
            raise FitError(f"circuit {circuit!r}: impedance.py cannot read it: {exc}") from exc
        if n_lib != len(names):  # pragma: no cover
            raise FitError(f"circuit {circuit!r}: impedance.py counts {n_lib} parameters, "
                           f"we count {len(names)}")
    return Circuit(text=text, tree=tree, param_names=names, kinds=kinds, elements=elems)


def _element_z(etype, p, f, w, ljw, need_jac):
    """Impedance of one element and {parameter offset: dZ/dp} , vectorized over frequency.
    ``ljw`` = log(j w)."""
    if etype == "R":
        return complex(p[0]), ({0: 1.0} if need_jac else None)
    if etype == "CPE":
        q, a = p
        z = np.exp(-a * ljw) / q                # 1 / (Q (j w)^a)
        return z, ({0: -z / q, 1: -z * ljw} if need_jac else None)
    if etype == "C":
        z = 1.0 / (1j * w * p[0])
        return z, ({0: -z / p[0]} if need_jac else None)
    if etype == "L":
        z = 1j * w * p[0]
        return z, ({0: 1j * w} if need_jac else None)
    # any other impedance.py element: its own function, central differences for the derivatives
    func = _registry()[etype]
    fl = [float(x) for x in f]
    z = np.asarray(func([float(x) for x in p], fl), dtype=complex)
    if not need_jac:
        return z, None
    cols = {}
    for j in range(len(p)):
        h = 1e-6 * max(abs(p[j]), 1e-12)
        up = [float(x) for x in p]
        dn = list(up)
        up[j] += h
        dn[j] -= h
        cols[j] = (np.asarray(func(up, fl), complex) - np.asarray(func(dn, fl), complex)) / (2 * h)
    return z, cols


def _eval(node, params, f, w, ljw, jac):
    """(Z, {parameter index: dZ/dp}) of a subtree (the dict is None when jac is False).
    Z may be a scalar (a lone resistor); columns may be scalars."""
    kind = node[0]
    if kind == "e":
        _, _, etype, first, n = node
        z, cols = _element_z(etype, params[first:first + n], f, w, ljw, jac)
        return z, (None if cols is None else {first + j: c for j, c in cols.items()})
    parts = [_eval(child, params, f, w, ljw, jac) for child in node[1]]
    if kind == "s":
        z = parts[0][0]
        for zp, _ in parts[1:]:
            z = z + zp
        if not jac:
            return z, None
        J = {}
        for _, cols in parts:
            J.update(cols)
        return z, J
    y = 1.0 / parts[0][0]
    for zp, _ in parts[1:]:
        y = y + 1.0 / zp
    z = 1.0 / y
    if not jac:
        return z, None
    J = {}
    for zp, cols in parts:
        g = (z / zp) ** 2                      # d Z_parallel / d Z_branch
        for k, c in cols.items():
            J[k] = g * c
    return z, J


def _full(z, n):
    return np.broadcast_to(np.asarray(z, complex), (n,))


def circuit_impedance(circuit, params, frequency_Hz, *, jacobian=False):
    """Impedance (ohm) of a circuit at ``frequency_Hz`` for ``params`` in impedance.py's order.

    Vectorized equivalent of impedance.py's ``CustomCircuit(...).predict`` (tests prove them equal).
    With ``jacobian=True`` returns (Z, dZ/dparams) with dZ/dparams of shape (n_points, n_params).
    """
    c = circuit if isinstance(circuit, Circuit) else parse_circuit(circuit)
    f = np.asarray(frequency_Hz, dtype=float)
    p = np.asarray(params, dtype=float)
    if p.size != c.n_params:
        raise FitError(f"circuit {c.text!r} has {c.n_params} parameters, got {p.size}")
    w = 2 * np.pi * f
    z, cols = _eval(c.tree, p, f, w, np.log(w) + 0.5j * np.pi, jacobian)
    z = np.array(_full(z, f.size))
    if not jacobian:
        return z
    J = np.zeros((f.size, c.n_params), complex)
    for k, col in cols.items():
        J[:, k] = col
    return z, J


def _arc_blocks(circuit: Circuit):
    """Top-level parallel blocks made of one R and one CPE or C: [(r_index, cap_etype, cap_index)]."""
    tree = circuit.tree
    items = tree[1] if tree[0] == "s" else [tree]
    blocks = []
    for node in items:
        if node[0] != "p" or len(node[1]) != 2 or any(ch[0] != "e" for ch in node[1]):
            continue
        types = {ch[2]: ch for ch in node[1]}
        cap = types.get("CPE") or types.get("C")
        if "R" in types and cap is not None:
            blocks.append((types["R"][3], cap[2], cap[3]))
    return blocks


def _series_resistors(circuit: Circuit):
    tree = circuit.tree
    items = tree[1] if tree[0] == "s" else [tree]
    return [node[3] for node in items if node[0] == "e" and node[2] == "R"]

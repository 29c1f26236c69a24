"""echem.eis writes nothing into sys.modules and needs neither impedance.py (which imports
matplotlib.pyplot and altair) nor scipy.optimize to be imported; a default fit, the Kramers-Kronig
test and the DRT run without impedance.py; another element (a Warburg) imports it where used."""
import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
before = set(sys.modules)
import echem.eis as eis
assert "impedance" not in sys.modules and "altair" not in sys.modules
assert "matplotlib.pyplot" not in sys.modules and "scipy.optimize" not in sys.modules
import numpy as np
f = np.logspace(5, -1, 43)
z = eis.circuit_impedance(eis.DEFAULT_CIRCUIT, [3.0, 12.0, 1e-5, 0.9, 24.0, 1e-3, 0.85], f)
eis.fit(f, z); eis.kramers_kronig(f, z); eis.drt(f, z); eis.fit_all(eis.spectra(
    __import__("pandas").DataFrame({"frequency_Hz": f, "z_real_ohm": z.real, "z_imag_ohm": z.imag})))
assert "impedance" not in sys.modules and "altair" not in sys.modules, "impedance.py was imported"
eis.parse_circuit("R0-p(R1,CPE1)-W1")
assert "impedance.models.circuits.elements" in sys.modules
assert type(sys.modules["altair"]).__name__ == "module"   # the real altair, no stand-in
assert eis.__file__.startswith(sys.argv[1])
print("ok")
"""


def test_eis_imports_impedance_py_only_where_used():
    root = str(Path(__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", CHECK, root], capture_output=True,
                       text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"

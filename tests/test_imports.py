"""Import costs that the report pays on every run: impedance.py's plotting stack is not loaded
until used, and loads whole when it is."""
import subprocess
import sys

CHECK = """
import sys
import echem.eis, echem.pipeline, echem.nucleation, echem.compare
assert "altair.vegalite" not in sys.modules, "altair was imported"
assert "scipy.stats" not in sys.modules, "scipy.stats was imported"
import altair as alt
chart = alt.Chart()                      # first use: the real altair
assert "altair.vegalite" in sys.modules and sys.modules["altair"] is not None
assert type(sys.modules["altair"]).__name__ == "module"
import numpy as np
from impedance.models.circuits import CustomCircuit
f = np.logspace(-1, 3, 9)
c = CustomCircuit("R0-p(R1,C1)", initial_guess=[1.0, 2.0, 1e-3])
out = c.plot(f_data=f, Z_data=c.predict(f, use_initial=True), kind="altair")
print(type(out).__name__)
"""


def test_impedance_plotting_stack_loads_only_when_used():
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", CHECK], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Chart" in r.stdout    # impedance.py's altair plot still works through the stand-in

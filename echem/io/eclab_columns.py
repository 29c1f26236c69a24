"""The data-column ids EC-Lab (and BT-Lab) write in the "VMP data" module of an ``.mpr`` file.

The ``.mpr`` format is undocumented. Each data module lists, per column, a numeric id; the id fixes
the column's binary type and meaning. This table collects what is publicly known:

* galvani 0.5.0, ``galvani/BioLogic.py``, ``VMPdata_colID_dtype_map`` and
  ``VMPdata_colID_flag_map`` (echemdata/galvani, GPL-3.0-or-later) - marked ``[g]``;
* yadg, ``src/yadg/extractors/eclab/mpr_columns.py`` (dgbowl/yadg, GPL-3.0), the versions of
  2024-2025 - marked ``[y]``; yadg issue #225 and PRs #228/#233/#260 for the newer names;
* galvani issues #112, #115, #121, #126 (ids 182, 185, 215 reported unknown) - marked ``[gi]``;
* the corpus of this project: every id in ``../shared/corpus/biologic/*.mpr`` was checked
  against the column header of EC-Lab's own ``.mpt`` export of the same file - marked ``[c]``.

Names are those of the ``.mpt`` column header. Where EC-Lab renamed a column between versions
(``P/W`` -> ``Pwe/W``, ``Energy charge/W.h`` -> ``Energy we charge/W.h``, EC-Lab 11.62) the older
name is kept and the newer one is listed in :data:`MPT_ALIASES`.

The id is a 16-bit number. Ids that differ by 256 (bit 0x100 set) name the same quantity in every
pair both sources list (178/434 ``(Q-Qo)/C``, 179/435, 182/438 ``step time/s``, 185/441 ``<Ece>/V``,
206/462 ``Temperature``, 211/467, 212/468, 213/469, 215/471, 217-241/473-497, 249/505, 253/509) and
in the version-0 modules of the corpus (39/295 ``I Range``, 16/272 ``Analog IN 1/V``, 96/352
``|Ece|/V``, checked against the .mpt) [c]; galvani reads version-0 data modules by their low byte
only. :func:`lookup` therefore uses ``id & 0xFF`` for version-0 modules, and for versions 2/3 the
full id first, then ``id & 0xFF`` for an id not listed as such (galvani lists 271/272 as
Phase(Z1)/Phase(Z2) for version-3 files, while 272 is Analog IN 1 in a version-0 file).
"""
from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    """One data column: ``.mpt`` header name, numpy dtype, unit, common-schema column (or None)."""

    name: str
    dtype: str
    unit: str | None
    schema: str | None = None


C = Column

#: flag columns, all packed into one byte per row: id -> (name, bit mask, numpy dtype)  [g][y]
FLAG_COLUMNS: dict[int, tuple[str, int, str]] = {
    1: ("mode", 0x03, "u1"),
    2: ("ox/red", 0x04, "bool"),
    3: ("error", 0x08, "bool"),
    21: ("control changes", 0x10, "bool"),
    31: ("Ns changes", 0x20, "bool"),
    65: ("counter inc.", 0x80, "bool"),
}

#: data columns: id -> Column
COLUMNS: dict[int, Column] = {
    4: C("time/s", "<f8", "s", "time_s"),  # [g][y][c]
    5: C("control/V/mA", "<f4", "V or mA"),  # [g][y][c]
    6: C("Ewe/V", "<f4", "V", "voltage_V"),  # [g][y][c]; "Ecell/V" in BCD (BT-Lab) files [y][c]
    7: C("dq/mA.h", "<f8", "mA.h"),  # [g][y][c]
    8: C("I/mA", "<f4", "mA", "current_mA"),  # [g][y][c]
    9: C("Ece/V", "<f4", "V"),  # [g][y][c]
    11: C("<I>/mA", "<f8", "mA", "current_mA"),  # [g][y][c]
    13: C("(Q-Qo)/mA.h", "<f8", "mA.h"),  # [g][y][c]
    15: C("Phase(Z1)/deg", "<f4", "deg"),  # [y] (= 271 - 256 [g])
    16: C("Analog IN 1/V", "<f4", "V"),  # [g][y][c]
    17: C("Analog IN 2/V", "<f4", "V"),  # [g][y][c]
    18: C("Analog IN 3/V", "<f4", "V"),  # guessed in a galvani 0.5.0 comment; no file seen
    19: C("control/V", "<f4", "V"),  # [g][y][c]
    20: C("control/mA", "<f4", "mA"),  # [g][y][c]
    23: C("dQ/mA.h", "<f8", "mA.h"),  # [g][y]
    24: C("cycle number", "<f8", None),  # [g][y][c]
    26: C("Rapp/Ohm", "<f4", "Ohm"),  # [g] (galvani issue #64)
    27: C("Ewe-Ece/V", "<f4", "V"),  # [g] (galvani issue #74, PR #98)
    32: C("freq/Hz", "<f4", "Hz", "frequency_Hz"),  # [g][y][c]
    33: C("|Ewe|/V", "<f4", "V"),  # [g][y][c]
    34: C("|I|/A", "<f4", "A"),  # [g][y][c]
    35: C("Phase(Z)/deg", "<f4", "deg"),  # [g][y][c]
    36: C("|Z|/Ohm", "<f4", "Ohm"),  # [g][y][c]
    37: C("Re(Z)/Ohm", "<f4", "Ohm", "z_real_ohm"),  # [g][y][c]
    38: C("-Im(Z)/Ohm", "<f4", "Ohm", "z_imag_ohm"),  # [g][y][c]; z_imag_ohm = -value
    39: C("I Range", "<u2", None),  # [g][y][c]
    45: C("|Z1|/Ohm", "<f4", "Ohm"),  # [y]
    46: C("|Z2|/Ohm", "<f4", "Ohm"),  # [y]
    69: C("R/Ohm", "<f4", "Ohm"),  # [g]; "Rwe/Ohm" from EC-Lab 11.62 [y]
    70: C("P/W", "<f4", "W"),  # [g][c]; "Pwe/W" from EC-Lab 11.62 [y][c]
    74: C("|Energy|/W.h", "<f8", "W.h"),  # [g][y][c]
    75: C("Analog OUT/V", "<f4", "V"),  # [g][y]
    76: C("<I>/mA", "<f4", "mA", "current_mA"),  # [g][y][c]
    77: C("<Ewe>/V", "<f4", "V", "voltage_V"),  # [g][y][c]
    78: C("Cs-2/µF-2", "<f4", "µF-2"),  # [g][y]
    96: C("|Ece|/V", "<f4", "V"),  # [g][y][c]
    98: C("Phase(Zce)/deg", "<f4", "deg"),  # [g][y][c]
    99: C("|Zce|/Ohm", "<f4", "Ohm"),  # [g][y][c]
    100: C("Re(Zce)/Ohm", "<f4", "Ohm"),  # [g][y][c]
    101: C("-Im(Zce)/Ohm", "<f4", "Ohm"),  # [g][y][c]
    105: C("-Im(Z1)/Ohm", "<f4", "Ohm"),  # [y]
    106: C("-Im(Z2)/Ohm", "<f4", "Ohm"),  # [y]
    110: C("Energy ce/W.h", "<f8", "W.h"),  # [y]
    112: C("Energy we/W.h", "<f8", "W.h"),  # [y]
    115: C("Energy ce charge/W.h", "<f8", "W.h"),  # [y] (PR #233)
    116: C("Energy ce discharge/W.h", "<f8", "W.h"),  # [y]
    123: C("Energy charge/W.h", "<f8", "W.h"),  # [g][y][c]; "Energy we charge/W.h" in 11.62
    124: C("Energy discharge/W.h", "<f8", "W.h"),  # [g][y][c]; "Energy we discharge/W.h"
    125: C("Capacitance charge/µF", "<f8", "µF"),  # [g][y][c]
    126: C("Capacitance discharge/µF", "<f8", "µF"),  # [g][y][c]
    131: C("Ns", "<u2", None),  # [g][y][c]
    135: C("<E1>/V", "<f4", "V"),  # [y]
    136: C("<E2>/V", "<f4", "V"),  # [y]
    163: C("|Estack|/V", "<f4", "V"),  # [g][y]
    166: C("Phase(Zstack)/deg", "<f4", "deg"),  # [y] (= 422 - 256 [g])
    167: C("|Zstack|/Ohm", "<f4", "Ohm"),  # [y] (= 423 - 256 [g])
    168: C("Rcmp/Ohm", "<f4", "Ohm"),  # [g][y][c]
    169: C("Cs/µF", "<f4", "µF"),  # [g][y][c]
    172: C("Cp/µF", "<f4", "µF"),  # [g][y][c]
    173: C("Cp-2/µF-2", "<f4", "µF-2"),  # [g][y]
    # 174 is <Ewe>/V, except beside 6 or 77, where it is Phase(Zwe-ce)/deg: see CONFLICTS [y][c]
    174: C("<Ewe>/V", "<f4", "V", "voltage_V"),  # [g][y][c] (cp.mpr)
    175: C("|Zwe-ce|/Ohm", "<f4", "Ohm"),  # [y] (= 431 - 256 [g])
    176: C("Re(Zwe-ce)/Ohm", "<f4", "Ohm"),  # [y] (= 432 - 256 [g])
    177: C("-Im(Zwe-ce)/Ohm", "<f4", "Ohm"),  # [y] (= 433 - 256 [g])
    178: C("(Q-Qo)/C", "<f4", "C"),  # [g][y][c]
    179: C("dQ/C", "<f4", "C"),  # [g][y]
    182: C("step time/s", "<f8", "s"),  # [y][gi #112,#121]; [c] cv.issue_149.mpr, after Rcmp/Ohm
    185: C("<Ece>/V", "<f4", "V"),  # [y][gi #115]; [c] lsv.issue_195.mpr, after I Range
    206: C("Temperature/°C", "<f4", "°C"),  # [y] (= 462 - 256 [g])
    # 211: yadg gives unit C; the .mpt of gcpl.issue_149.mpr says mA.h, with equal values
    211: C("Q charge/discharge/mA.h", "<f8", "mA.h"),  # [g][c]
    212: C("half cycle", "<u4", None),  # [g][y][c]
    213: C("z cycle", "<u4", None),  # [g][y]
    215: C("<Ece>/V", "<f4", "V"),  # [y][gi #112,#126]; [c] peis.issue_225.with_ece.mpr
    217: C("THD Ewe/%", "<f4", "%"),  # [g][y][c]
    218: C("THD I/%", "<f4", "%"),  # [g][y][c]
    219: C("THD Ece/%", "<f4", "%"),  # [y]
    220: C("NSD Ewe/%", "<f4", "%"),  # [g][y][c]
    221: C("NSD I/%", "<f4", "%"),  # [g][y][c]
    222: C("NSD Ece/%", "<f4", "%"),  # [y]
    223: C("NSR Ewe/%", "<f4", "%"),  # [g][y][c]
    224: C("NSR I/%", "<f4", "%"),  # [g][y][c]
    225: C("NSR Ece/%", "<f4", "%"),  # [y]
    230: C("|Ewe h2|/V", "<f4", "V"),  # [g][y][c]
    231: C("|Ewe h3|/V", "<f4", "V"),  # [g][y][c]
    232: C("|Ewe h4|/V", "<f4", "V"),  # [g][y][c]
    233: C("|Ewe h5|/V", "<f4", "V"),  # [g][y][c]
    234: C("|Ewe h6|/V", "<f4", "V"),  # [g][y][c]
    235: C("|Ewe h7|/V", "<f4", "V"),  # [g][y][c]
    236: C("|I h2|/A", "<f4", "A"),  # [g][y][c]
    237: C("|I h3|/A", "<f4", "A"),  # [g][y][c]
    238: C("|I h4|/A", "<f4", "A"),  # [g][y][c]
    239: C("|I h5|/A", "<f4", "A"),  # [g][y][c]
    240: C("|I h6|/A", "<f4", "A"),  # [g][y][c]
    241: C("|I h7|/A", "<f4", "A"),  # [g][y][c]
    # 242-247: |Ece h2..h7| after yadg (continues the Ewe/I harmonic runs 230-241);
    # galvani 0.5.0 has 242 as "|E2|/V" and 498-502 (= 242-246 + 256) as Q charge/mA.h,
    # Q discharge/mA.h, step time/s, Efficiency/%, Capacity/mA.h (galvani PR #71, no example file)
    242: C("|Ece h2|/V", "<f4", "V"),  # [y]
    243: C("|Ece h3|/V", "<f4", "V"),  # [y]
    244: C("|Ece h4|/V", "<f4", "V"),  # [y]
    245: C("|Ece h5|/V", "<f4", "V"),  # [y]
    246: C("|Ece h6|/V", "<f4", "V"),  # [y]
    247: C("|Ece h7|/V", "<f4", "V"),  # [y]
    248: C("Rac/Ohm", "<f4", "Ohm"),  # [y] (PR #260)
    249: C("Rdc/Ohm", "<f4", "Ohm"),  # [y] (PR #260) (= 505 - 256 [g])
    253: C("Acir/Dcir Control", "<u1", None),  # [y] (PR #260) (= 509 - 256 [g])
    # ids with bit 0x100 that the sources list explicitly (the rest resolve through id & 0xFF)
    271: C("Phase(Z1)/deg", "<f4", "deg"),  # [g]
    272: C("Phase(Z2)/deg", "<f4", "deg"),  # [g] (in version-0 modules 272 is 16 + 256: see lookup)
    301: C("|Z1|/Ohm", "<f4", "Ohm"),  # [g][y]
    302: C("|Z2|/Ohm", "<f4", "Ohm"),  # [g][y]
    326: C("P/W", "<f4", "W"),  # [y] (= 70 + 256)
    331: C("Re(Z1)/Ohm", "<f4", "Ohm"),  # [g][y]
    332: C("Re(Z2)/Ohm", "<f4", "Ohm"),  # [g][y]
    361: C("-Im(Z1)/Ohm", "<f4", "Ohm"),  # [g][y]
    362: C("-Im(Z2)/Ohm", "<f4", "Ohm"),  # [g][y]
    379: C("Energy charge/W.h", "<f8", "W.h"),  # [y] (= 123 + 256)
    391: C("<E1>/V", "<f4", "V"),  # [g][y]
    392: C("<E2>/V", "<f4", "V"),  # [g][y]
    422: C("Phase(Zstack)/deg", "<f4", "deg"),  # [g][y]
    423: C("|Zstack|/Ohm", "<f4", "Ohm"),  # [g][y]
    424: C("Re(Zstack)/Ohm", "<f4", "Ohm"),  # [g][y]
    425: C("-Im(Zstack)/Ohm", "<f4", "Ohm"),  # [g][y]
    426: C("<Estack>/V", "<f4", "V"),  # [g][y]
    430: C("Phase(Zwe-ce)/deg", "<f4", "deg"),  # [g][y][c]
    431: C("|Zwe-ce|/Ohm", "<f4", "Ohm"),  # [g][y][c]
    432: C("Re(Zwe-ce)/Ohm", "<f4", "Ohm"),  # [g][y][c]
    433: C("-Im(Zwe-ce)/Ohm", "<f4", "Ohm"),  # [g][y][c]
    434: C("(Q-Qo)/C", "<f4", "C"),  # [g][y][c]
    435: C("dQ/C", "<f4", "C"),  # [g][y][c]
    438: C("step time/s", "<f8", "s"),  # [g]
    # 441: galvani calls it "<Ecv>/V"; yadg "<Ece>"; the .mpt of cp.mpr and lsv.mpr says <Ece>/V [c]
    441: C("<Ece>/V", "<f4", "V"),  # [y][c]
    462: C("Temperature/°C", "<f4", "°C"),  # [g][y]
    467: C("Q charge/discharge/mA.h", "<f8", "mA.h"),  # [g][y][c]
    468: C("half cycle", "<u4", None),  # [g][y][c]
    469: C("z cycle", "<u4", None),  # [g][y][c]
    471: C("<Ece>/V", "<f4", "V"),  # [g][y][c]
}

#: where a column's meaning depends on another id in the same file: id -> {other id: Column}  [y][c]
#: (peis.issue_225.with_ece.mpr: 174 after -Im(Zce) is the .mpt's Phase(Zwe-ce)/deg, beside 77)
CONFLICTS: dict[int, dict[int, Column]] = {
    174: {6: C("Phase(Zwe-ce)/deg", "<f4", "deg"), 77: C("Phase(Zwe-ce)/deg", "<f4", "deg")},
}

#: names that depend on the technique: id -> {technique: name}  [y][c] (bcd.issue_241.mpt)
TECHNIQUE_NAMES: dict[int, dict[str, str]] = {
    6: {"BCD": "Ecell/V"},
}

#: newer .mpt names of the same quantity (EC-Lab >= 11.62, BT-Lab) -> name used in this table
MPT_ALIASES: dict[str, str] = {
    "Pwe/W": "P/W",
    "Rwe/Ohm": "R/Ohm",
    "Energy we charge/W.h": "Energy charge/W.h",
    "Energy we discharge/W.h": "Energy discharge/W.h",
    "Ecell/V": "Ewe/V",
    "<Ecell>/V": "<Ewe>/V",
}

#: technique byte at offset 0 of the settings module -> (short name, long name as in the .mpt)
#: [y] techniques.py technique_params_dtypes; 136 (BCD) from bcd.issue_241 [c]
TECHNIQUES: dict[int, tuple[str, str]] = {
    0x04: ("GCPL", "Galvanostatic Cycling with Potential Limitation"),
    0x06: ("CV", "Cyclic Voltammetry"),
    0x0B: ("OCV", "Open Circuit Voltage"),
    0x16: ("MP", "Modular Potentio"),
    0x18: ("CA", "Chronoamperometry / Chronocoulometry"),
    0x19: ("CP", "Chronopotentiometry"),
    0x1C: ("WAIT", "Wait"),
    0x1D: ("PEIS", "Potentio Electrochemical Impedance Spectroscopy"),
    0x1E: ("GEIS", "Galvano Electrochemical Impedance Spectroscopy"),
    0x30: ("CV", "Cyclic Voltammetry"),
    0x32: ("ZIR", "IR compensation (PEIS)"),
    0x33: ("CVA", "Cyclic Voltammetry Advanced"),
    0x6C: ("LSV", "Linear Sweep Voltammetry"),
    0x75: ("CoV", "Constant Voltage"),
    0x76: ("CoC", "Constant Current"),
    0x77: ("GCPL", "Galvanostatic Cycling with Potential Limitation"),
    0x7F: ("MB", "Modulo Bat"),
    0x88: ("BCD", "Battery Capacity Determination"),
}


def lookup(col_id: int, ids=(), technique: str | None = None,
           module_version: int = 3) -> Column | None:
    """The Column of ``col_id`` in a data module whose ids are ``ids``; None when unknown.

    Order: a conflict rule (:data:`CONFLICTS`), the id itself (not for a version-0 module), the
    id without bit 0x100 (``id & 0xFF``); then a technique-specific name (:data:`TECHNIQUE_NAMES`).
    """
    col_id = int(col_id)
    ids = {int(i) & 0xFF for i in ids} | {int(i) for i in ids}
    keys = (col_id & 0xFF,) if module_version == 0 else (col_id, col_id & 0xFF)
    col = None
    for key in keys:
        for other, alt in CONFLICTS.get(key, {}).items():
            if other in ids:
                col = alt
                break
        if col is None:
            col = COLUMNS.get(key)
        if col is not None:
            break
    if col is None:
        return None
    names = TECHNIQUE_NAMES.get(col_id & 0xFF) or TECHNIQUE_NAMES.get(col_id, {})
    if technique in names:
        col = col._replace(name=names[technique])
    return col


def flag(col_id: int) -> tuple[str, int, str] | None:
    """(name, bit mask, dtype) of a flag column id, None if ``col_id`` is not a flag."""
    return FLAG_COLUMNS.get(int(col_id))

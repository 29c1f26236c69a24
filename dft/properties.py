"""The paper's equations and the standard elastic-property relations as pure, numpy-vectorized
functions. Units are in the names; equation numbers refer to the paper (Huang et al., Li-Ag alloys).

Elastic constants are 6x6 matrices in Voigt notation (order xx, yy, zz, yz, xz, xy), in GPa;
compliances in 1/GPa. Every function broadcasts over leading axes (``C[..., 6, 6]``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import constants

__all__ = [
    "EV_PER_A2_IN_J_M2", "FARADAY_C_MOL", "PUGH_DUCTILE_LINE", "CRYSTAL_SYSTEMS",
    "surface_energy_J_m2", "adsorption_energy_eV", "formation_energy_eV",
    "free_energy_per_volume_J_m3", "wetting_factor", "nucleation_energy_J",
    "nucleation_energy_kJ_mol", "critical_radius_m", "weighted_surface_energy_J_m2",
    "ElasticModuli", "voigt_reuss_hill", "youngs_modulus_GPa", "poisson_ratio", "pugh_ratio",
    "is_ductile", "BornStability", "born_stability", "cubic_compliances", "cubic_stiffness",
    "cubic_compliances_from_directional", "cubic_youngs_modulus_GPa", "cubic_shear_modulus_GPa",
    "cubic_directional_moduli_GPa", "directional_youngs_modulus_GPa",
    "directional_shear_modulus_GPa", "zener_anisotropy", "theoretical_capacity_mAh_g",
    "HullVoltages", "convex_hull_voltages", "volume_expansion_pct",
]

#: 1 eV/Angstrom^2 in J/m^2 (16.02...)
EV_PER_A2_IN_J_M2 = constants.electron_volt / constants.angstrom**2
#: Faraday constant, C/mol
FARADAY_C_MOL = constants.physical_constants["Faraday constant"][0]
#: Pugh's ratio B/G above which a material counts as ductile (Pugh 1954; paper, 'Mechanical property')
PUGH_DUCTILE_LINE = 1.75


# ---------------------------------------------------------------------------------------------
# surfaces, adsorption, formation and nucleation (eqs. 1-7)

def surface_energy_J_m2(e_slab_eV, e_bulk_eV, area_A2):
    """Surface energy, eq. 1: gamma = (E_slab - E_bulk) / (2 A), in J/m^2.

    ``e_bulk_eV`` is the bulk energy of as many atoms as the slab holds (n * energy per atom);
    ``area_A2`` the area of one face of the symmetric slab in Angstrom^2 (two faces are made)."""
    e_slab_eV, e_bulk_eV, area_A2 = np.broadcast_arrays(*map(np.asarray, (e_slab_eV, e_bulk_eV,
                                                                           area_A2)))
    return (e_slab_eV - e_bulk_eV) / (2.0 * area_A2) * EV_PER_A2_IN_J_M2


def adsorption_energy_eV(e_slab_li_eV, e_slab_eV, e_li_eV):
    """Li adsorption energy, eq. 2: E_ads = E_slab+Li - E_slab - E_Li, in eV.

    ``e_li_eV`` is the energy per Li atom of bulk bcc Li. Negative: adsorption is favourable."""
    return np.asarray(e_slab_li_eV) - np.asarray(e_slab_eV) - np.asarray(e_li_eV)


def formation_energy_eV(e_compound_eV, n_guest, n_host, mu_guest_eV, mu_host_eV):
    """Formation energy of Li_x Ag_y from the elements, eq. 4:
    dG_free ~ dE = E(Li_x Ag_y) - x E(Li) - y E(Ag), in eV per formula unit.

    ``mu_guest_eV``/``mu_host_eV``: energies per atom of the elemental references. Divide by
    (x + y) for eV/atom."""
    return (np.asarray(e_compound_eV) - np.asarray(n_guest) * np.asarray(mu_guest_eV)
            - np.asarray(n_host) * np.asarray(mu_host_eV))


def free_energy_per_volume_J_m3(dg_free_J_mol, molar_volume_m3_mol):
    """Free-energy change per unit volume, eq. 5: dG_v = dG_free / V_m, in J/m^3.

    ``dg_free_J_mol`` in J/mol (eV per Li times 96485.33 J/(mol eV)); ``molar_volume_m3_mol`` the
    molar volume of Li in the alloy, m^3/mol (1 cm^3/mol = 1e-6 m^3/mol)."""
    return np.asarray(dg_free_J_mol, float) / np.asarray(molar_volume_m3_mol, float)


def wetting_factor(theta_deg):
    """Heterogeneous-nucleation factor of eq. 6, (2 - 3 cos(theta) + cos^3(theta)) / 4.

    0 for complete wetting (theta = 0), 1/2 at 90 degrees, 1 at 180 degrees (homogeneous)."""
    c = np.cos(np.radians(np.asarray(theta_deg, float)))
    return (2.0 - 3.0 * c + c**3) / 4.0


def nucleation_energy_J(gamma_J_m2, dg_v_J_m3, theta_deg=180.0):
    """Gibbs free energy of forming a critical spherical-cap nucleus, eq. 6, in J per nucleus:
    dG_nucle = 16 pi gamma^3 / (3 dG_v^2) * (2 - 3 cos(theta) + cos^3(theta)) / 4.

    ``gamma_J_m2``: surface energy (the paper uses the weighted surface energy of eq. 7);
    ``dg_v_J_m3``: eq. 5; ``theta_deg``: wetting angle of the nucleus on the substrate
    (180 degrees: homogeneous nucleation)."""
    gamma = np.asarray(gamma_J_m2, float)
    dgv = np.asarray(dg_v_J_m3, float)
    return 16.0 * np.pi * gamma**3 / (3.0 * dgv**2) * wetting_factor(theta_deg)


def nucleation_energy_kJ_mol(gamma_J_m2, dg_v_J_m3, theta_deg=180.0):
    """eq. 6 per mole of nuclei, kJ/mol (J per nucleus x N_A / 1000).

    The paper's values (Fig. 2e, 1e-7 to 1e-2 kJ/mol) depend on Table S3 inputs (V_m, theta) that
    the main text does not give; they cannot be recomputed from the paper alone."""
    return nucleation_energy_J(gamma_J_m2, dg_v_J_m3, theta_deg) * constants.Avogadro / 1e3


def critical_radius_m(gamma_J_m2, dg_v_J_m3):
    """Radius of the critical nucleus, r* = -2 gamma / dG_v, in m (dG_v < 0 for growth)."""
    return -2.0 * np.asarray(gamma_J_m2, float) / np.asarray(dg_v_J_m3, float)


def weighted_surface_energy_J_m2(gamma_J_m2, area_fraction, axis=-1):
    """Wulff-weighted surface energy, eq. 7: gamma_bar = sum(gamma_hkl * f_hkl), in J/m^2.

    ``area_fraction``: fraction of the Wulff shape's area of each {hkl} family (sums to 1 along
    ``axis``; a ValueError otherwise)."""
    g = np.asarray(gamma_J_m2, float)
    f = np.asarray(area_fraction, float)
    g, f = np.broadcast_arrays(g, f)
    total = f.sum(axis=axis)
    if np.any(np.abs(total - 1.0) > 1e-6) or np.any(f < 0):
        raise ValueError("area fractions must be >= 0 and sum to 1 along the facet axis")
    return (g * f).sum(axis=axis)


# ---------------------------------------------------------------------------------------------
# polycrystalline moduli

def _as_6x6(c):
    c = np.asarray(c, float)
    if c.shape[-2:] != (6, 6):
        raise ValueError(f"expected a 6x6 elastic matrix (Voigt notation), got shape {c.shape}")
    return c


@dataclass(frozen=True)
class ElasticModuli:
    """Voigt, Reuss and Hill bulk and shear moduli (GPa) of a polycrystal, and what follows."""

    bulk_voigt_GPa: np.ndarray
    bulk_reuss_GPa: np.ndarray
    shear_voigt_GPa: np.ndarray
    shear_reuss_GPa: np.ndarray

    @property
    def bulk_hill_GPa(self):
        return (self.bulk_voigt_GPa + self.bulk_reuss_GPa) / 2.0

    @property
    def shear_hill_GPa(self):
        return (self.shear_voigt_GPa + self.shear_reuss_GPa) / 2.0

    @property
    def youngs_hill_GPa(self):
        return youngs_modulus_GPa(self.bulk_hill_GPa, self.shear_hill_GPa)

    @property
    def poisson_hill(self):
        return poisson_ratio(self.bulk_hill_GPa, self.shear_hill_GPa)

    @property
    def pugh_hill(self):
        return pugh_ratio(self.bulk_hill_GPa, self.shear_hill_GPa)

    @property
    def universal_anisotropy(self):
        """A^U = 5 G_V/G_R + B_V/B_R - 6 (Ranganathan & Ostoja-Starzewski 2008); 0 if isotropic."""
        return (5.0 * self.shear_voigt_GPa / self.shear_reuss_GPa
                + self.bulk_voigt_GPa / self.bulk_reuss_GPa - 6.0)


def voigt_reuss_hill(c_GPa) -> ElasticModuli:
    """Voigt (uniform strain), Reuss (uniform stress) and Hill (their mean) bulk and shear moduli
    from a 6x6 elastic-constant matrix C (GPa), via the compliance S = C^-1:

    B_V = [(C11+C22+C33) + 2(C12+C23+C13)] / 9
    G_V = [(C11+C22+C33) - (C12+C23+C13) + 3(C44+C55+C66)] / 15
    1/B_R = (S11+S22+S33) + 2(S12+S23+S13)
    15/G_R = 4(S11+S22+S33) - 4(S12+S23+S13) + 3(S44+S55+S66)
    """
    c = _as_6x6(c_GPa)
    s = np.linalg.inv(c)
    d = lambda m, i, j: m[..., i, j]  # noqa: E731
    a_c = d(c, 0, 0) + d(c, 1, 1) + d(c, 2, 2)
    b_c = d(c, 0, 1) + d(c, 1, 2) + d(c, 0, 2)
    c_c = d(c, 3, 3) + d(c, 4, 4) + d(c, 5, 5)
    a_s = d(s, 0, 0) + d(s, 1, 1) + d(s, 2, 2)
    b_s = d(s, 0, 1) + d(s, 1, 2) + d(s, 0, 2)
    c_s = d(s, 3, 3) + d(s, 4, 4) + d(s, 5, 5)
    return ElasticModuli(
        bulk_voigt_GPa=(a_c + 2.0 * b_c) / 9.0,
        bulk_reuss_GPa=1.0 / (a_s + 2.0 * b_s),
        shear_voigt_GPa=(a_c - b_c + 3.0 * c_c) / 15.0,
        shear_reuss_GPa=15.0 / (4.0 * a_s - 4.0 * b_s + 3.0 * c_s),
    )


def youngs_modulus_GPa(bulk_GPa, shear_GPa):
    """Isotropic Young's modulus E = 9 B G / (3 B + G), in the units of B and G."""
    b, g = np.asarray(bulk_GPa, float), np.asarray(shear_GPa, float)
    return 9.0 * b * g / (3.0 * b + g)


def poisson_ratio(bulk_GPa, shear_GPa):
    """Isotropic Poisson's ratio nu = (3 B - 2 G) / (2 (3 B + G)), dimensionless."""
    b, g = np.asarray(bulk_GPa, float), np.asarray(shear_GPa, float)
    return (3.0 * b - 2.0 * g) / (2.0 * (3.0 * b + g))


def pugh_ratio(bulk_GPa, shear_GPa):
    """Pugh's ratio B/G (dimensionless); ductile above PUGH_DUCTILE_LINE = 1.75."""
    return np.asarray(bulk_GPa, float) / np.asarray(shear_GPa, float)


def is_ductile(pugh, line=PUGH_DUCTILE_LINE):
    """True where Pugh's ratio B/G exceeds the ductility line (1.75; Pugh 1954, paper refs 54-55)."""
    return np.asarray(pugh, float) > line


# ---------------------------------------------------------------------------------------------
# Born stability (Mouhat & Coudert, Phys. Rev. B 90, 224104 (2014))

CRYSTAL_SYSTEMS = ("cubic", "hexagonal", "tetragonal", "rhombohedral", "orthorhombic",
                   "monoclinic", "triclinic")


@dataclass(frozen=True)
class BornStability:
    """Result of :func:`born_stability`: ``stable`` and each named condition (bool arrays)."""

    crystal_system: str
    stable: np.ndarray
    conditions: dict

    def __bool__(self) -> bool:
        return bool(np.all(self.stable))

    def failed(self) -> list[str]:
        """Names of the conditions that fail (for any of the matrices)."""
        return [k for k, v in self.conditions.items() if not np.all(v)]


def born_stability(c_GPa, crystal_system: str) -> BornStability:
    """Necessary and sufficient elastic (Born) stability conditions of Mouhat & Coudert (2014).

    cubic:        C11 - C12 > 0, C11 + 2 C12 > 0, C44 > 0
    hexagonal:    C11 > |C12|, 2 C13^2 < C33 (C11 + C12), C44 > 0, C66 > 0
    tetragonal:   C11 > |C12|, 2 C13^2 < C33 (C11 + C12), C44 > 0, C66 > 0,
                  2 C16^2 < C66 (C11 - C12)   (the last only matters for class II, C16 != 0)
    rhombohedral: C11 > |C12|, C44 > 0, C13^2 < C33 (C11 + C12) / 2,
                  C14^2 + C15^2 < C44 (C11 - C12) / 2   (C15 = 0 for class I)
    orthorhombic: C11 > 0, C11 C22 > C12^2, det of the upper 3x3 block > 0, C44, C55, C66 > 0
    monoclinic, triclinic: C positive definite, tested by Sylvester's criterion (all six leading
                  principal minors > 0), to which Mouhat & Coudert's monoclinic conditions reduce.

    The conditions read the components the crystal system has (in its standard setting) and
    assume the others are zero; ``c_GPa`` is (..., 6, 6)."""
    c = _as_6x6(c_GPa)
    system = crystal_system.lower()
    C = lambda i, j: c[..., i - 1, j - 1]  # noqa: E731  (1-based Voigt indices)
    if system == "cubic":
        cond = {"C11-C12>0": C(1, 1) - C(1, 2) > 0,
                "C11+2C12>0": C(1, 1) + 2 * C(1, 2) > 0,
                "C44>0": C(4, 4) > 0}
    elif system in ("hexagonal", "tetragonal"):
        cond = {"C11>|C12|": C(1, 1) > np.abs(C(1, 2)),
                "2C13^2<C33(C11+C12)": 2 * C(1, 3) ** 2 < C(3, 3) * (C(1, 1) + C(1, 2)),
                "C44>0": C(4, 4) > 0,
                "C66>0": C(6, 6) > 0}
        if system == "tetragonal":
            cond["2C16^2<C66(C11-C12)"] = 2 * C(1, 6) ** 2 < C(6, 6) * (C(1, 1) - C(1, 2))
    elif system == "rhombohedral":
        cond = {"C11>|C12|": C(1, 1) > np.abs(C(1, 2)),
                "C44>0": C(4, 4) > 0,
                "C13^2<C33(C11+C12)/2": C(1, 3) ** 2 < 0.5 * C(3, 3) * (C(1, 1) + C(1, 2)),
                "C14^2+C15^2<C44(C11-C12)/2":
                    C(1, 4) ** 2 + C(1, 5) ** 2 < 0.5 * C(4, 4) * (C(1, 1) - C(1, 2))}
    elif system == "orthorhombic":
        det3 = (C(1, 1) * C(2, 2) * C(3, 3) + 2 * C(1, 2) * C(1, 3) * C(2, 3)
                - C(1, 1) * C(2, 3) ** 2 - C(2, 2) * C(1, 3) ** 2 - C(3, 3) * C(1, 2) ** 2)
        cond = {"C11>0": C(1, 1) > 0,
                "C11C22>C12^2": C(1, 1) * C(2, 2) > C(1, 2) ** 2,
                "det(C[:3,:3])>0": det3 > 0,
                "C44>0": C(4, 4) > 0, "C55>0": C(5, 5) > 0, "C66>0": C(6, 6) > 0}
    elif system in ("monoclinic", "triclinic"):
        sym = 0.5 * (c + np.swapaxes(c, -1, -2))
        cond = {f"minor{k}>0": np.linalg.det(sym[..., :k, :k]) > 0 for k in range(1, 7)}
    else:
        raise ValueError(f"unknown crystal system {crystal_system!r}; one of "
                         f"{', '.join(CRYSTAL_SYSTEMS)}")
    stable = np.logical_and.reduce([np.asarray(v) for v in cond.values()])
    return BornStability(system, stable, cond)


# ---------------------------------------------------------------------------------------------
# direction-dependent moduli

def cubic_compliances(c11, c12, c44):
    """Compliances (S11, S12, S44) in 1/GPa of a cubic crystal from C11, C12, C44 in GPa."""
    c11, c12, c44 = (np.asarray(v, float) for v in (c11, c12, c44))
    d = (c11 - c12) * (c11 + 2 * c12)
    return (c11 + c12) / d, -c12 / d, 1.0 / c44


def cubic_stiffness(s11, s12, s44):
    """Elastic constants (C11, C12, C44) in GPa of a cubic crystal from S11, S12, S44 in 1/GPa."""
    s11, s12, s44 = (np.asarray(v, float) for v in (s11, s12, s44))
    d = (s11 - s12) * (s11 + 2 * s12)
    return (s11 + s12) / d, -s12 / d, 1.0 / s44


def cubic_compliances_from_directional(e100_GPa, e111_GPa, bulk_GPa):
    """(S11, S12, S44) in 1/GPa of a cubic crystal from E<100>, E<111> and B (GPa).

    1/E<100> = S11;  1/E<111> = S11 - 2 S0 / 3 with S0 = S11 - S12 - S44/2;  1/(3B) = S11 + 2 S12
    (Turley & Sines 1971; B of a cubic crystal is the same in the Voigt, Reuss and Hill averages)."""
    e100, e111, b = (np.asarray(v, float) for v in (e100_GPa, e111_GPa, bulk_GPa))
    s11 = 1.0 / e100
    s0 = 1.5 * (s11 - 1.0 / e111)
    s12 = (1.0 / (3.0 * b) - s11) / 2.0
    s44 = 2.0 * (s11 - s12 - s0)
    return s11, s12, s44


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def cubic_youngs_modulus_GPa(s11, s12, s44, direction):
    """Young's modulus of a cubic crystal along ``direction`` (any length, [..., 3]), GPa:
    1/E = S11 - 2 S0 (l1^2 l2^2 + l2^2 l3^2 + l3^2 l1^2), S0 = S11 - S12 - S44/2
    (Turley & Sines, J. Phys. D 4, 264 (1971)). E<110> = 1 / (1/(4 E<100>) + 3/(4 E<111>))."""
    l = _unit(direction)
    gamma = (l[..., 0] ** 2 * l[..., 1] ** 2 + l[..., 1] ** 2 * l[..., 2] ** 2
             + l[..., 2] ** 2 * l[..., 0] ** 2)
    s11, s12, s44 = (np.asarray(v, float) for v in (s11, s12, s44))
    s0 = s11 - s12 - s44 / 2.0
    return 1.0 / (s11 - 2.0 * s0 * gamma)


def cubic_shear_modulus_GPa(s11, s12, s44, direction, plane_normal):
    """Shear modulus of a cubic crystal for shear along ``direction`` on the plane with normal
    ``plane_normal`` (perpendicular vectors, [..., 3]), GPa (Turley & Sines 1971):
    1/G = S44 + 4 S0 (l1^2 m1^2 + l2^2 m2^2 + l3^2 m3^2), S0 = S11 - S12 - S44/2."""
    l, m = _unit(direction), _unit(plane_normal)
    if np.any(np.abs(np.sum(l * m, axis=-1)) > 1e-9):
        raise ValueError("shear direction and plane normal must be perpendicular")
    j = np.sum(l**2 * m**2, axis=-1)
    s11, s12, s44 = (np.asarray(v, float) for v in (s11, s12, s44))
    s0 = s11 - s12 - s44 / 2.0
    return 1.0 / (s44 + 4.0 * s0 * j)


def cubic_directional_moduli_GPa(s11, s12, s44) -> dict:
    """E and G along <100>, <110>, <111> of a cubic crystal, GPa, as the paper's Fig. 3c-d reports them.

    G<100>: shear along <100> (on any plane containing it) = C44; G<110>: shear <110>{110} =
    (C11 - C12)/2; G<111>: shear along <111> (on any plane containing it). The paper's G values
    for Li9Ag4 and Li4Ag obey these three relations to each other and to its E<100>, E<111>."""
    e = {k: cubic_youngs_modulus_GPa(s11, s12, s44, d)
         for k, d in (("E100", (1, 0, 0)), ("E110", (1, 1, 0)), ("E111", (1, 1, 1)))}
    g = {"G100": cubic_shear_modulus_GPa(s11, s12, s44, (1, 0, 0), (0, 1, 0)),
         "G110": cubic_shear_modulus_GPa(s11, s12, s44, (1, 1, 0), (1, -1, 0)),
         "G111": cubic_shear_modulus_GPa(s11, s12, s44, (1, 1, 1), (1, -1, 0))}
    return {**e, **g}


def _compliance_tensor(s_6x6):
    """Voigt compliance (..., 6, 6) -> 4th-rank tensor (..., 3, 3, 3, 3) (factors 1, 1/2, 1/4)."""
    s = np.asarray(s_6x6, float)
    voigt = np.array([[0, 5, 4], [5, 1, 3], [4, 3, 2]])
    factor = np.where(np.arange(6) < 3, 1.0, 0.5)
    sv = s * factor[:, None] * factor[None, :]
    return sv[..., voigt[:, :, None, None], voigt[None, None, :, :]]


def directional_youngs_modulus_GPa(c_GPa, direction):
    """Young's modulus along ``direction`` for any crystal symmetry, GPa:
    1/E(l) = S_ijkl l_i l_j l_k l_l with S = C^-1 as a 4th-rank tensor.

    ``c_GPa``: one 6x6 matrix; ``direction``: (..., 3)."""
    s = _compliance_tensor(np.linalg.inv(_as_6x6(c_GPa)))
    l = _unit(direction)
    return 1.0 / np.einsum("ijkl,...i,...j,...k,...l->...", s, l, l, l, l)


def directional_shear_modulus_GPa(c_GPa, direction, plane_normal):
    """Shear modulus for shear along ``direction`` on the plane of normal ``plane_normal`` for any
    crystal symmetry, GPa: 1/G(l, m) = 4 S_ijkl l_i m_j l_k m_l."""
    s = _compliance_tensor(np.linalg.inv(_as_6x6(c_GPa)))
    l, m = _unit(direction), _unit(plane_normal)
    return 1.0 / (4.0 * np.einsum("ijkl,...i,...j,...k,...l->...", s, l, m, l, m))


def zener_anisotropy(c11, c12, c44):
    """Zener anisotropy ratio A = 2 C44 / (C11 - C12) of a cubic crystal (1 when isotropic).

    From compliances: A = 2 (S11 - S12) / S44."""
    c11, c12, c44 = (np.asarray(v, float) for v in (c11, c12, c44))
    return 2.0 * c44 / (c11 - c12)


# ---------------------------------------------------------------------------------------------
# capacity, voltage, volume

def theoretical_capacity_mAh_g(guest_per_host, host_molar_mass_g_mol, electrons_per_guest=1.0):
    """Theoretical gravimetric capacity, mAh per g of host: n z F / (3.6 M).

    ``guest_per_host``: Li taken up per host atom (or the width of a solid-solution range in Li
    per host atom); ``host_molar_mass_g_mol``: M of the host (g/mol). Li metal (n = 1,
    M = 6.94): 3862 mAh/g; graphite LiC6 (n = 1/6, M = 12.011): 372 mAh/g."""
    n = np.asarray(guest_per_host, float)
    return n * float(electrons_per_guest) * FARADAY_C_MOL / 3.6 / np.asarray(
        host_molar_mass_g_mol, float)


@dataclass(frozen=True)
class HullVoltages:
    """Lower convex hull of formation energies and the voltage plateaus between its vertices."""

    guest_fraction: np.ndarray          # hull vertices, ascending, including 0 and 1
    formation_energy_eV_atom: np.ndarray
    energy_above_hull_eV_atom: np.ndarray  # of each input point
    on_hull: np.ndarray                 # of each input point (within tol)
    steps: pd.DataFrame                 # x_start, x_end, guest_per_host_start/end, voltage_V

    def average_voltage_V(self, up_to_fraction: float = 1.0) -> float:
        """Mean plateau voltage weighted by Li per host atom, from x = 0 to ``up_to_fraction``
        (< 1; the plateau against the pure guest is infinitely wide in Li per host)."""
        st = self.steps[self.steps["x_end"] <= up_to_fraction + 1e-12]
        st = st[np.isfinite(st["guest_per_host_end"])]
        dn = st["guest_per_host_end"] - st["guest_per_host_start"]
        return float((st["voltage_V"] * dn).sum() / dn.sum())


def convex_hull_voltages(guest_fraction, formation_energy_eV_atom, tol_eV=1e-9) -> HullVoltages:
    """Average voltages between neighbouring phases on the convex hull of formation energies.

    ``guest_fraction``: atomic fraction x of Li in Li_x Ag_(1-x); ``formation_energy_eV_atom``:
    eq. 4 per atom, relative to the elements (so 0 at x = 0 and x = 1, which are added when
    missing). For neighbouring hull vertices a, b the two-phase reaction
    Li_na Ag + (nb - na) Li -> Li_nb Ag (n = x / (1 - x)) has the plateau voltage

        V = -[E(b) - E(a)] / (nb - na) = -[e_b (1 - x_a) - e_a (1 - x_b)] / (x_b - x_a)

    in V, with E per host atom and e per atom (eV); the last plateau (against pure Li) is 0 V."""
    x = np.atleast_1d(np.asarray(guest_fraction, float))
    e = np.atleast_1d(np.asarray(formation_energy_eV_atom, float))
    if x.shape != e.shape or x.ndim != 1:
        raise ValueError("guest_fraction and formation_energy_eV_atom must be 1-D of equal length")
    if np.any((x < 0) | (x > 1)):
        raise ValueError("guest fractions must lie in [0, 1]")
    ends = (x == 0) | (x == 1)
    if np.any(np.abs(e[ends]) > tol_eV):
        raise ValueError("formation energies of the elements (x = 0, 1) must be 0")
    px = np.concatenate([x, [0.0, 1.0]])
    pe = np.concatenate([e, [0.0, 0.0]])
    order = np.lexsort((pe, px))
    hull: list[tuple[float, float]] = []
    for xi, ei in zip(px[order], pe[order]):
        if hull and xi == hull[-1][0]:
            continue  # same composition, higher energy
        while len(hull) >= 2:
            (x1, e1), (x2, e2) = hull[-2], hull[-1]
            if (x2 - x1) * (ei - e1) - (e2 - e1) * (xi - x1) <= 0:
                hull.pop()  # hull[-1] lies on or above the chord
            else:
                break
        hull.append((xi, ei))
    hx = np.array([h[0] for h in hull])
    he = np.array([h[1] for h in hull])
    above = e - np.interp(x, hx, he)
    xa, xb, ea, eb = hx[:-1], hx[1:], he[:-1], he[1:]
    volt = -(eb * (1 - xa) - ea * (1 - xb)) / (xb - xa)
    with np.errstate(divide="ignore"):
        na = xa / (1 - xa)
        nb = np.where(xb < 1, xb / (1 - xb), np.inf)
    steps = pd.DataFrame({"x_start": xa, "x_end": xb, "guest_per_host_start": na,
                          "guest_per_host_end": nb, "voltage_V": volt})
    return HullVoltages(hx, he, above, above <= tol_eV, steps)


def volume_expansion_pct(volume_per_host, volume_host):
    """Volume expansion on lithiation, 100 (V / V0 - 1) in %, with V the volume of the lithiated
    phase per host atom and V0 that of the host per atom (molar volumes per mol host, or
    Angstrom^3 per host atom; the same unit for both)."""
    return 100.0 * (np.asarray(volume_per_host, float) / np.asarray(volume_host, float) - 1.0)

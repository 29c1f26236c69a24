"""The defaults of the impedance analysis, defined once (protocols, the per-cell analysis and the
report import them from :mod:`echem.eis`)."""

#: the paper's circuit (Figure 5b, Table S7): R0 the bulk electrolyte, the higher-frequency arc
#: R_SEI, the lower-frequency arc R_ct
DEFAULT_CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)"
#: the lab's names of the default circuit's parameters
DEFAULT_NAMES = {"R1": "R_SEI", "R2": "R_ct"}

#: Kramers-Kronig pass level: the largest Lin-KK residual, (Z - Z_KK) / |Z| per real and
#: imaginary part, that a valid spectrum may show. In Schoenleber et al. (2014) (the test of
#: impedance.py's ``linKK`` and of :func:`kramers_kronig`) a valid spectrum leaves residuals at
#: the noise of the measurement, spread around zero, and an invalid one shows a systematic trend
#: larger than it. 1 %: a spectrum with 0.2 % noise per component (sample_data's; the largest of
#: ~140 such residuals is about 3.5 sigma = 0.7 %) passes, while a drift or non-linearity of
#: more than 1 % of |Z| fails (2 % would let a 1-2 % drift through).
KK_THRESHOLD = 0.01

#: a fit whose modulus-weighted relative RMS (:attr:`EISFit.rel_rms`) is above this describes the
#: spectrum too poorly for its resistances to be reported without a warning
POOR_FIT_REL_RMS = 0.05

"""The drift verdict of one column, written once: its clauses, the noise correction, its power.

A column **drifted** when every clause holds (the first that fails decides "not drifted"):

0. **constant reference** -- when the reference holds a single value, no scale exists to
   measure a change on: the column drifted exactly when the current window holds any other
   value, and the finding says so (the other clauses are not consulted).
1. **method** -- the chosen method says so at its threshold: ``statistic >= threshold``
   for a distance, ``p_value < threshold`` for a test (Evidently's ``method_drifted``).
2. **material** -- the effect, corrected for sampling noise, reaches ``effect_threshold``.
   For a *distance* method (``wasserstein``, ``energy``, ``psi``, ``jensenshannon``,
   ``kl_div``, ``hellinger``, ``tvd``) the effect *is* the method's statistic and
   ``effect_threshold`` defaults to the method's threshold. For a *test* method (``ks``,
   ``chisquare``, ``z``, ``anderson``, ``cramer_von_mises``, ``mannw``) the effect is the
   Wasserstein distance in reference standard deviations (numeric; a mean shift of ``d``
   SD scores ``d``) or the larger of total variation and Jensen-Shannon distance
   (categorical: TVD counts the rows that changed category, JS sees a rare category
   collapse, 10% -> 1% scores JS 0.15 but TVD 0.09); default threshold 0.1.
   The correction subtracts the **noise floor** (:mod:`checks.drift.noise`: the 99th
   percentile of the effect between two windows of these sizes with no change) *in
   quadrature*: ``sqrt(max(effect**2 - floor**2, 0))``. Noise adds to a real effect at
   right angles (its cross term averages to zero), so this stays right when the effect is
   large, where a linear ``effect - floor`` removes real effect (0.112 with floor 0.013 is
   0.111, not 0.099). PSI and KL are squared distances: their floor is subtracted linearly
   (quadrature on their roots).
3. **significant** -- the p-value of a two-sample test (the method's own for a test;
   Kolmogorov-Smirnov for numeric and chi-square for categorical distances) is below
   ``alpha``; :func:`checks.drift.drift_result` uses Benjamini-Hochberg adjusted p-values
   at ``fdr`` across the window's columns.

Significance alone flags negligible changes in large windows; size alone flags noise in
small ones; requiring both keeps false alarms rare at every size. Every effect measure is
unchanged when a numeric column is multiplied by a positive constant or shifted (distances
on reference-quantile bins and rank tests are invariant; Wasserstein is divided by the
reference SD, energy distance by its square root).

**Minimum detectable effect.** :func:`minimum_detectable` gives the smallest effect the
window detects with 80% power under these clauses (each needing 80% on its own; the
largest wins), in the units of the effect measure and, for numeric columns, as a normal
location shift in reference SDs. It uses the large-sample laws of the statistics: a
normal estimate with spread ``sqrt(1/n + 1/m)`` for Wasserstein, energy and rank tests,
the non-central chi-square for chi-square and the binned distances, and the Kolmogorov
limit for KS; the material clause is taken to need the threshold plus the floor in
quadrature (conservative: the noise a real effect carries is not counted in its favour).
``tests/test_drift_verdict.py`` checks by simulation that windows at the stated shift
drift in 70-97% of cases.

>>> corrected(0.112, 0.013, squared=False) >= 0.1
True
>>> decide_clause(constant_reference=None, method_drifted=True, material=False, significant=True)
(False, 'material')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize, stats

from checks.drift.methods import METHODS
from checks.drift.noise import chi2_floor

#: Power at which the minimum detectable effect is stated.
POWER = 0.8

#: Clauses in the order they are consulted; ``drifted`` when none fails.
CLAUSES = ("constant_reference", "method", "material", "significant")


@dataclass(frozen=True)
class Measure:
    """How an effect measure behaves, for the noise correction and the power calculation.

    ``squared``: a squared distance (PSI, KL), corrected linearly, roots used for power.
    ``spread``: standard deviation of the (root of the) estimate near a real effect, in units
    of ``sqrt(1/n + 1/m)``. ``per_q``: root per square root of the chi-square divergence
    ``Q = sum((p - q)**2 / pooled)``. ``per_sd``: root per SD of a normal location shift,
    ``None`` when it depends on the bins (then from their Fisher information).
    """

    squared: bool
    spread: float
    per_q: float
    per_sd: float | None


#: Effect measures by name; distance methods measure their effect with their own statistic.
MEASURES: dict[str, Measure] = {
    "wasserstein_norm": Measure(False, 1.0, math.nan, 1.0),
    "energy": Measure(False, math.pi**-0.25, math.nan, math.pi**-0.25),
    # Balanced shares bound TVD by sqrt(Q) / 2; on reference-quantile bins a shift of d SD
    # moves the median edge by d * phi(0).
    "tvd": Measure(False, 0.5, 0.5, float(stats.norm.pdf(0.0))),
    "jensenshannon": Measure(False, 1 / math.sqrt(8), 1 / math.sqrt(8), None),
    "hellinger": Measure(False, 1 / math.sqrt(8), 1 / math.sqrt(8), None),
    "psi": Measure(True, 1.0, 1.0, None),
    "kl_div": Measure(True, 1 / math.sqrt(2), 1 / math.sqrt(2), None),
}


def corrected(effect: float, floor: float, *, squared: bool) -> float:
    """The effect beyond sampling noise: ``sqrt(max(effect**2 - floor**2, 0))`` (linear if squared)."""
    if squared:
        return max(effect - floor, 0.0)
    return math.sqrt(max(effect * effect - floor * floor, 0.0))


def decide_clause(
    *, constant_reference: bool | None, method_drifted: bool, material: bool, significant: bool
) -> tuple[bool, str]:
    """``(drifted, clause)``: the first failing clause of :data:`CLAUSES`, or ``"drifted"``.

    ``constant_reference`` is ``None`` unless the reference holds a single value, then
    whether the current window holds another value (which decides alone).
    """
    if constant_reference is not None:
        return constant_reference, "constant_reference"
    for clause, holds in zip(CLAUSES[1:], (method_drifted, material, significant), strict=True):
        if not holds:
            return False, clause
    return True, "drifted"


def apply(row: dict[str, Any], *, alpha: float, adjusted: bool, n_columns: int = 1) -> dict[str, Any]:
    """``row`` (the fields of a ``ColumnDrift``) with the verdict and its power filled in.

    ``adjusted``: ``significance_p_adjusted`` is the p-value that counts (else the raw one),
    compared with ``alpha``. The power is stated at level ``alpha / n_columns``: a lone real
    change among ``n_columns`` keeps its BH-adjusted p-value below ``alpha`` when its raw
    one is below that.
    """
    p = row["significance_p_adjusted"] if adjusted else row["significance_p_value"]
    material = row["effect_corrected"] >= row["effect_threshold"]
    drifted, clause = decide_clause(
        constant_reference=row["effect_size"] > 0 if row["constant_reference"] else None,
        method_drifted=row["method_drifted"],
        material=material,
        significant=p < alpha,
    )
    out = {**row, "drifted": drifted, "clause": clause}
    out["reason"] = reason(out, alpha=alpha, adjusted=adjusted)
    out.update(_power(out, alpha / n_columns))
    return out


def _power(row: dict[str, Any], alpha: float) -> dict[str, Any]:
    if row["constant_reference"]:
        # Any row off the constant is drift: a share p is seen with 80% power when (1-p)^m <= 0.2.
        return {
            "minimum_detectable_effect": -math.log(1 - POWER) / row["n_current"],
            "minimum_detectable_measure": "tvd",
            "minimum_detectable_shift_sd": None,
        }
    measure, floor = row["effect_measure"], row["noise_floor"]
    is_test = METHODS[row["method"]].is_p_value
    if row["kind"] == "categorical" and is_test:
        measure = "jensenshannon"
        floor = chi2_floor(measure, row["n_bins"], 1 / row["n_reference"] + 1 / row["n_current"])
    mde, sd = minimum_detectable(
        kind=row["kind"],
        is_test=is_test,
        threshold=row["threshold"],
        effect_measure=measure,
        noise_floor=floor,
        effect_threshold=row["effect_threshold"],
        significance_method=row["significance_method"],
        n_reference=row["n_reference"],
        n_current=row["n_current"],
        n_bins=row["n_bins"],
        alpha=alpha,
    )
    return {
        "minimum_detectable_effect": mde,
        "minimum_detectable_measure": measure,
        "minimum_detectable_shift_sd": sd,
    }


def reason(row: dict[str, Any], *, alpha: float, adjusted: bool) -> str:
    """One sentence a user can check: which clause decided, with its numbers."""
    clause, p_name = row["clause"], "p adj." if adjusted else "p"
    if clause == "constant_reference":
        share = row["effect_size"]
        if row["drifted"]:
            return f"drifted: constant reference, {share:.3g} of current rows hold another value"
        return "not drifted: constant reference, and the current window holds the same value"
    effect = f"{row['effect_measure']} {row['effect_size']:.3g} less noise floor {row['noise_floor']:.2g}"
    if clause == "method":
        if row["p_value"] is not None:
            return f"not drifted: {row['method']} p {row['score']:.2g} not below {row['threshold']:g}"
        return f"not drifted: {row['method']} {row['score']:.3g} below {row['threshold']:g}"
    if clause == "material":
        return (
            f"not drifted: effect {row['effect_corrected']:.3g} below {row['effect_threshold']:g} ({effect})"
        )
    p = row["significance_p_adjusted"] if adjusted else row["significance_p_value"]
    if clause == "significant":
        return f"not drifted: {row['significance_method']} {p_name} {p:.2g} not below {alpha:g}"
    return (
        f"drifted: effect {row['effect_corrected']:.3g} >= {row['effect_threshold']:g} ({effect}), "
        f"{row['significance_method']} {p_name} {p:.2g} < {alpha:g}"
    )


def minimum_detectable(
    *,
    kind: str,
    is_test: bool,
    threshold: float,
    effect_measure: str,
    noise_floor: float,
    effect_threshold: float,
    significance_method: str,
    n_reference: int,
    n_current: int,
    n_bins: int,
    alpha: float,
) -> tuple[float, float | None]:
    """Smallest effect detected with :data:`POWER` under the rule: (effect units, SD shift or None).

    ``effect_measure`` names the units (for a categorical test method, Jensen-Shannon's);
    ``n_bins`` counts the categories or bins with any row; ``alpha`` is the level the
    significance clause applies (for several columns, about ``fdr / n_columns``).

    >>> mde, sd = minimum_detectable(kind="numeric", is_test=False, threshold=0.1,
    ...     effect_measure="wasserstein_norm", noise_floor=0.054, effect_threshold=0.1,
    ...     significance_method="ks", n_reference=5000, n_current=5000, n_bins=13, alpha=0.005)
    >>> round(mde, 3), round(sd, 3)
    (0.13, 0.13)
    """
    measure = MEASURES[effect_measure]
    z_power = float(stats.norm.ppf(POWER))
    s = math.sqrt(1 / n_reference + 1 / n_current)
    df = max(n_bins - 1, 1)
    per_sd = measure.per_sd
    if per_sd is None:
        per_sd = measure.per_q * math.sqrt(_binned_information(n_bins))

    def root(value: float) -> float:
        return math.sqrt(max(value, 0.0)) if measure.squared else value

    floor = root(noise_floor)
    sigma = z_power * measure.spread * s
    # Conservative: a true effect d is taken to show as d (noise would add to it).
    needed = [math.hypot(root(effect_threshold), floor) + sigma]
    if not is_test:
        needed.append(root(threshold) + sigma)
    sig_alpha = min(alpha, threshold) if is_test else alpha
    if significance_method in ("chisquare", "z"):
        q = _noncentrality(df, sig_alpha) * s * s
        needed.append(
            per_sd * math.sqrt(q / _binned_information(n_bins))
            if kind == "numeric"
            else measure.per_q * math.sqrt(q)
        )
    else:
        needed.append(per_sd * _location_shift(significance_method, sig_alpha, s, z_power))
    mde_root = max(needed)
    mde = mde_root**2 if measure.squared else mde_root
    return float(mde), (float(mde_root / per_sd) if kind == "numeric" else None)


def _location_shift(test: str, alpha: float, s: float, z_power: float) -> float:
    """SD shift of a normal that the rank or KS test detects with the power of ``z_power``."""
    if test == "ks":
        critical = math.sqrt(-math.log(alpha / 2) / 2)
        return (critical + 0.5 * z_power) * s / float(stats.norm.pdf(0.0))
    # Mann-Whitney, Cramer-von Mises, Anderson-Darling: about the t-test at efficiency 3/pi.
    return (float(stats.norm.isf(alpha / 2)) + z_power) * s * math.sqrt(math.pi / 3)


@lru_cache(maxsize=256)
def _noncentrality(df: int, alpha: float) -> float:
    """Non-centrality at which the chi-square test at level ``alpha`` has power :data:`POWER`."""
    critical = float(stats.chi2.isf(alpha, df))
    return float(optimize.brentq(lambda lam: stats.ncx2.sf(critical, df, lam) - POWER, 1e-9, 1e6))


@lru_cache(maxsize=256)
def _binned_information(n_bins: int) -> float:
    """Fisher information on a normal's location of ``n_bins`` equal-frequency bins (1 as bins grow)."""
    edges = stats.norm.ppf(np.arange(1, n_bins) / n_bins)
    density = np.concatenate(([0.0], stats.norm.pdf(edges), [0.0]))
    return float(np.sum(np.diff(density) ** 2) * n_bins)

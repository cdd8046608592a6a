"""The registry of drift methods, as plain data.

Names, statistics and default thresholds are Evidently 0.7's (``evidently.legacy.calculations.
stattests``), so every number reads the same to an Evidently user; the docstrings of
:mod:`checks.drift.count_tests` and :mod:`checks.drift.sample_tests` list the few
deliberate differences. Evidently's names ``ed`` and ``TVD`` are accepted as aliases.

A method compares either two numeric samples (``input="samples"``) or two count vectors
over the same categories or reference-fixed bins (``input="counts"``; numeric columns are
binned on :func:`checks.drift.binning.reference_edges`). A p-value method reports drift when
``p_value < threshold``; a distance method when ``statistic >= threshold``.

>>> METHODS["ks"].is_p_value, METHODS["ks"].default_threshold
(True, 0.05)
>>> sorted(METHODS["psi"].kinds)
['categorical', 'numeric']
>>> resolve_method("ed", "numeric").name
'energy'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from checks._params import InvalidParameter, check_one_of
from checks.drift import count_tests, sample_tests
from checks.drift.count_tests import TestOutcome
from checks.vocabulary import DRIFT_METHOD_ALIASES

Kind = Literal["numeric", "categorical"]
KINDS: frozenset[str] = frozenset({"numeric", "categorical"})
BOTH: frozenset[str] = KINDS
NUMERIC: frozenset[str] = frozenset({"numeric"})


@dataclass(frozen=True)
class Method:
    """One drift method: what it applies to, how it decides, and the function computing it."""

    name: str
    display_name: str
    kinds: frozenset[str]
    default_threshold: float
    is_p_value: bool
    input: Literal["samples", "counts"]
    fn: Callable[..., TestOutcome]

    def decides_drift(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        """The method's own verdict: ``p < threshold`` or ``statistic >= threshold``."""
        if self.is_p_value:
            return p_value is not None and p_value < threshold
        return statistic >= threshold

    def score(self, statistic: float, p_value: float | None) -> float:
        """The number compared with the threshold (Evidently's ``drift_score``)."""
        return float(p_value) if self.is_p_value and p_value is not None else statistic


def _m(name: str, display: str, kinds: frozenset[str], threshold: float, is_p: bool, fn: Callable) -> Method:
    source = "samples" if fn.__module__ == sample_tests.__name__ else "counts"
    return Method(name, display, kinds, threshold, is_p, source, fn)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        _m("ks", "K-S p_value", NUMERIC, 0.05, True, sample_tests.ks),
        _m("wasserstein", "Wasserstein distance (normed)", NUMERIC, 0.1, False, sample_tests.wasserstein),
        _m("cramer_von_mises", "Cramer-von Mises p_value", NUMERIC, 0.1, True, sample_tests.cramer_von_mises),
        _m("anderson", "Anderson-Darling p_value", NUMERIC, 0.1, True, sample_tests.anderson),
        _m("mannw", "Mann-Whitney U-rank p_value", NUMERIC, 0.05, True, sample_tests.mannw),
        _m("energy", "Energy distance (normed)", NUMERIC, 0.1, False, sample_tests.energy),
        _m("psi", "PSI", BOTH, 0.1, False, count_tests.psi),
        _m("jensenshannon", "Jensen-Shannon distance", BOTH, 0.1, False, count_tests.jensenshannon),
        _m("kl_div", "Kullback-Leibler divergence", BOTH, 0.1, False, count_tests.kl_div),
        _m("hellinger", "Hellinger distance", BOTH, 0.1, False, count_tests.hellinger),
        _m("tvd", "Total variation distance", BOTH, 0.1, False, count_tests.tvd),
        _m("chisquare", "chi-square p_value", BOTH, 0.05, True, count_tests.chisquare),
        _m("z", "Z-test p_value", BOTH, 0.05, True, count_tests.z),
    )
}

#: Evidently's registered names that differ from driftwatch's.
ALIASES: dict[str, str] = dict(DRIFT_METHOD_ALIASES)


def resolve_method(name: str, kind: str, func: str = "column_drift") -> Method:
    """The registered method called ``name`` (or an Evidently alias), checked against ``kind``."""
    check_one_of("method", name, set(METHODS) | set(ALIASES), func)
    method = METHODS[ALIASES.get(name, name)]
    if kind not in method.kinds:
        raise InvalidParameter(
            f"method {method.name!r} of {func} applies to {sorted(method.kinds)} columns; got a {kind} column"
        )
    return method


def default_method(kind: str, n_reference: int, n_unique: int) -> str:
    """Evidently 0.7's default choice of method for a column (``_get_default_stattest``).

    ``n_reference`` is the number of non-missing reference values and ``n_unique`` the
    number of distinct values in reference and current together.

    ============  ======================  ========================  =================
    reference     numeric, <= 5 values    numeric, > 5 values       categorical
    ============  ======================  ========================  =================
    <= 1,000      ``chisquare`` (``z`` if  ``ks``                    ``chisquare``
                  <= 2 values)                                      (``z`` if <= 2)
    > 1,000       ``jensenshannon``       ``wasserstein``           ``jensenshannon``
    ============  ======================  ========================  =================

    >>> default_method("numeric", 500, 100), default_method("numeric", 5000, 100)
    ('ks', 'wasserstein')
    >>> default_method("categorical", 500, 2), default_method("categorical", 5000, 2)
    ('z', 'jensenshannon')
    """
    check_one_of("kind", kind, KINDS, "default_method")
    if n_reference <= 1000:
        if kind == "numeric" and n_unique > 5:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if kind == "numeric" and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"

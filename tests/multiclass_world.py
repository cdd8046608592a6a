"""A seeded three-class world for the multiclass tests.

Features ``x | y ~ N(sep * e_y, I)`` in three dimensions; the model's probabilities are
``softmax(model_sep * x / temperature + log model_priors)``. With ``sep == model_sep``,
``temperature == 1`` and the window's class shares equal to ``model_priors`` the model is
calibrated (it is the Bayes posterior).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSES = np.array(["a", "b", "c"])
EQUAL = (1 / 3, 1 / 3, 1 / 3)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def world(
    n: int,
    seed: int,
    *,
    shares: tuple[float, ...] = EQUAL,
    sep: float = 1.5,
    model_sep: float = 1.5,
    temperature: float = 1.0,
    model_priors: tuple[float, ...] = EQUAL,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, probabilities, features)`` of one window."""
    rng = np.random.default_rng(seed)
    k = rng.choice(3, size=n, p=shares)
    x = rng.normal(size=(n, 3)) + sep * np.eye(3)[k]
    p = softmax(model_sep * x / temperature + np.log(np.asarray(model_priors)))
    return CLASSES[k], p, x


def rounded(p: np.ndarray, decimals: int = 2) -> np.ndarray:
    """Probabilities rounded (ties in every column), rows still summing to 1."""
    q = np.round(p, decimals)
    q[np.arange(len(q)), q.argmax(axis=1)] += 1 - q.sum(axis=1)
    return q


def assert_same_distribution(
    new: np.ndarray, old: np.ndarray, names: Sequence[str], *, means: bool = True
) -> None:
    """Two samples of 2,000 draws of the metrics ``names`` (columns) agree within Monte Carlo error.

    Each endpoint of a 2,000-draw 95% interval has a Monte Carlo sd of about 1.5% of the width
    (a difference of two, 2.2%); the sd and the mean about 1.6% and 2.2% of the sd.
    """
    from checks.bootstrap import percentile_interval

    for j, name in enumerate(names):
        low_old, high_old = percentile_interval(old[:, j])
        low_new, high_new = percentile_interval(new[:, j])
        width, sd = high_old - low_old, np.std(old[:, j])
        assert abs(low_new - low_old) < 0.12 * width, name
        assert abs(high_new - high_old) < 0.12 * width, name
        assert abs(np.std(new[:, j]) / sd - 1) < 0.1, name
        if means:
            assert abs(np.mean(new[:, j]) - np.mean(old[:, j])) < 0.15 * sd, name

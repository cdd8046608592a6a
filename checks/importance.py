"""Feature importance estimated from a reference window: how much the model's output depends on each feature.

When no importance is configured, the drift policy still needs to know whether the drifted
features matter. The model's own score is logged with every prediction, so its dependence on
each feature can be measured on the reference window without the model: the mutual
information I(feature; score), estimated by scikit-learn's nearest-neighbour estimator
(Kraskov et al. for a continuous score; Ross for a categorical one, e.g. a multiclass
prediction) and normalised to sum 1 over the features. Mutual information is invariant under
monotone maps of the score (logit or probability give the same value) and sees non-linear
dependence; it is marginal (two redundant features each get the dependence they share), which
is what "the drifted features carry 71% of the score's dependence" means.

Numeric missing values are set to the column's median and flagged by nothing else (a feature
that is mostly missing carries little dependence); categorical values, missing included, are
codes of a discrete variable. At most ``max_rows`` rows are used, drawn with ``seed``.

The estimate is made in two steps, so that a caller can keep it: :func:`dependence_sample`
draws the rows and builds the estimator's inputs (pandas alone), whose :meth:`digest
<DependenceSample.digest>` names them; :func:`estimate_dependence` runs the estimator
(scikit-learn, imported only then).

>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
>>> df["score"] = 1 / (1 + np.exp(-3 * df["a"]))
>>> imp = score_dependence(df, numeric=["a", "b"], score="score")
>>> imp["a"] > 0.9 > 0.1 > imp["b"]
True

References
----------
.. [1] Kraskov, A., Stögbauer, H., Grassberger, P. (2004). Estimating mutual information.
   Physical Review E 69, 066138.
.. [2] Ross, B. C. (2014). Mutual information between discrete and continuous data sets.
   PLoS ONE 9(2), e87357.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, check_interval

#: How the estimate is described in findings, reports and recommendations.
METHOD = "mutual information with the score (reference window)"


@dataclass(frozen=True)
class DependenceSample:
    """The estimator's inputs: features as float columns, the score, which features are discrete."""

    features: list[str]
    x: np.ndarray
    target: np.ndarray
    discrete: np.ndarray
    categorical_score: bool
    n_neighbors: int
    seed: int

    def digest(self) -> str:
        """A SHA-256 of everything the estimate depends on: equal digests, equal estimates."""
        h = hashlib.sha256()
        h.update(repr((METHOD, self.features, self.categorical_score, self.n_neighbors, self.seed)).encode())
        for array in (self.x, self.target, self.discrete):
            h.update(repr((array.dtype.str, array.shape)).encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()


def score_dependence(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    score: str,
    max_rows: int = 5000,
    n_neighbors: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Each feature's share of the score's dependence on the features (sums to 1; empty if none).

    Parameters
    ----------
    frame : DataFrame
        The reference window: feature columns and the score column.
    numeric, categorical : sequence of str, default=()
        Feature columns by type.
    score : str
        The model's output: a numeric score (probability, regression prediction) or a
        categorical prediction (multiclass).
    max_rows : int, default=5000
        Rows used at most (a seeded random subset above it).
    n_neighbors : int, default=3
        Neighbours of the nearest-neighbour estimator.
    seed : int, default=0

    Returns
    -------
    dict of str to float
        Feature -> share of the summed mutual information. Empty when there are no rows with
        a score or the score depends on no feature (all estimates 0).
    """
    sample = dependence_sample(
        frame,
        numeric=numeric,
        categorical=categorical,
        score=score,
        max_rows=max_rows,
        n_neighbors=n_neighbors,
        seed=seed,
    )
    return {} if sample is None else estimate_dependence(sample)


def dependence_sample(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    score: str,
    max_rows: int = 5000,
    n_neighbors: int = 3,
    seed: int = 0,
) -> DependenceSample | None:
    """The rows and columns :func:`score_dependence` estimates from (same parameters); ``None``
    when there is nothing to estimate (no features, too few rows with a score)."""
    func = "score_dependence"
    numeric, categorical = list(numeric), list(categorical)
    check_interval("max_rows", max_rows, func, low=2)
    check_interval("n_neighbors", n_neighbors, func, low=1)
    missing = [c for c in [*numeric, *categorical, score] if c not in frame.columns]
    if missing:
        raise InvalidParameter(f"'frame' of {func} lacks columns {missing}")
    features = numeric + categorical
    rows = frame[frame[score].notna()]
    if len(rows) > max_rows:
        rows = rows.sample(max_rows, random_state=seed)
    if len(rows) <= n_neighbors or not features:
        return None
    columns = [rows[c].astype(float).fillna(rows[c].median()).fillna(0.0).to_numpy() for c in numeric]
    columns += [pd.factorize(rows[c], use_na_sentinel=False)[0].astype(float) for c in categorical]
    target = rows[score]
    categorical_score = not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target)
    return DependenceSample(
        features=features,
        x=np.column_stack(columns),
        target=pd.factorize(target)[0] if categorical_score else target.to_numpy(dtype=float),
        discrete=np.array([False] * len(numeric) + [True] * len(categorical)),
        categorical_score=categorical_score,
        n_neighbors=n_neighbors,
        seed=seed,
    )


def estimate_dependence(sample: DependenceSample) -> dict[str, float]:
    """The shares of :func:`score_dependence` from its inputs."""
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression  # ~0.15 s to import

    estimator = mutual_info_classif if sample.categorical_score else mutual_info_regression
    mi = estimator(
        sample.x,
        sample.target,
        discrete_features=sample.discrete,
        n_neighbors=sample.n_neighbors,
        random_state=sample.seed,
    )
    mi = np.clip(mi, 0.0, None)
    total = float(mi.sum())
    return {} if total <= 0 else {f: float(v / total) for f, v in zip(sample.features, mi, strict=True)}

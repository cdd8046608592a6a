"""The fraud model of the demo: a gradient-boosted classifier trained on the issuer's history.

Trained once at the start of the demo on transactions drawn from the usual population
(:mod:`monitor.demo.world`), a quarter held out. The validation set gives the numbers a
model card carries and ``demo/config.toml`` repeats: ROC AUC, the decision threshold of least
expected cost (a missed fraud costs ``fn_cost`` reviews) and the permutation importance of each
feature (the drop of validation ROC AUC when the feature's column is shuffled, normalised to
sum to one).

scikit-learn runs single-threaded here: on a small shared machine OpenMP threads that spin
while waiting for a core make training many times slower, not faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from monitor.demo.world import CATEGORIES, FEATURES, draw_labels, fraud_probability, sample_transactions

VERSION = "1.0.0"


def design_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input: the features, categoricals with their fixed category dtype."""
    X = frame.loc[:, list(FEATURES)].copy()
    for column, values in CATEGORIES.items():
        X[column] = pd.Categorical(X[column], categories=list(values))
    return X


@dataclass(frozen=True)
class FraudModel:
    """A trained model and its validation numbers (its model card)."""

    estimator: HistGradientBoostingClassifier
    version: str
    n_train: int
    validation_auc: float
    best_threshold: float
    validation_cost: float
    importance: dict[str, float]

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """P(fraud) of each row of ``frame``."""
        with threadpool_limits(1):
            return self.estimator.predict_proba(design_matrix(frame))[:, 1]

    def card(self) -> str:
        """One line for the console."""
        top = sorted(self.importance.items(), key=lambda kv: -kv[1])[:3]
        importance = ", ".join(f"{name} {share:.0%}" for name, share in top)
        return (
            f"HistGradientBoostingClassifier {self.version} trained on {self.n_train:,} transactions: "
            f"validation ROC AUC {self.validation_auc:.3f}, least-cost threshold {self.best_threshold:.3f} "
            f"(cost {self.validation_cost:.3f} per transaction); most important: {importance}"
        )


def least_cost_threshold(
    y_true: np.ndarray, y_score: np.ndarray, *, fp_cost: float, fn_cost: float
) -> tuple[float, float]:
    """The threshold (``score >= t`` is positive) of least cost per row, and that cost.

    >>> least_cost_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), fp_cost=1, fn_cost=1)
    (0.8, 0.25)
    """
    order = np.argsort(-y_score, kind="stable")
    scores, y = y_score[order], y_true[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    cost = (fp_cost * fp + fn_cost * (y.sum() - tp)) / len(y)
    best = int(np.argmin(cost))
    return float(scores[last[best]]), float(cost[best])


def permutation_importance(
    estimator: HistGradientBoostingClassifier, X: pd.DataFrame, y: np.ndarray, *, seed: int
) -> dict[str, float]:
    """Drop of ROC AUC when each column is shuffled (one repeat), clipped at 0 and normalised."""
    rng = np.random.default_rng(seed)
    base = roc_auc_score(y, estimator.predict_proba(X)[:, 1])
    drops = {}
    for column in X.columns:
        shuffled = X.assign(**{column: X[column].to_numpy()[rng.permutation(len(X))]})
        drops[column] = max(0.0, base - roc_auc_score(y, estimator.predict_proba(shuffled)[:, 1]))
    total = sum(drops.values()) or 1.0
    return {column: drop / total for column, drop in drops.items()}


def train_model(n_rows: int, *, seed: int, fp_cost: float = 1.0, fn_cost: float = 10.0) -> FraudModel:
    """Train the fraud model on ``n_rows`` historical transactions (75% fit, 25% validation)."""
    rng = np.random.default_rng(seed)
    history = sample_transactions(rng, n_rows)
    y = draw_labels(rng, fraud_probability(history))
    X = design_matrix(history)
    n_fit = n_rows * 3 // 4
    estimator = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=15,
        min_samples_leaf=80,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=True,
        random_state=seed % (2**31),
    )
    X_val, y_val = X.iloc[n_fit:], y[n_fit:]
    with threadpool_limits(1):
        estimator.fit(X.iloc[:n_fit], y[:n_fit])
        scores = estimator.predict_proba(X_val)[:, 1]
        importance = permutation_importance(estimator, X_val, y_val, seed=seed)
    threshold, cost = least_cost_threshold(y_val, scores, fp_cost=fp_cost, fn_cost=fn_cost)
    return FraudModel(
        estimator=estimator,
        version=VERSION,
        n_train=n_fit,
        validation_auc=float(roc_auc_score(y_val, scores)),
        best_threshold=threshold,
        validation_cost=cost,
        importance=importance,
    )

"""Label coverage: are enough outcomes in for the label-based checks to run on a window?

Outcomes arrive minutes to weeks after the predictions. A label-based check (performance,
calibration, segments, threshold) on a window where few labels have arrived measures the
early, possibly unrepresentative outcomes and has wide intervals; it is better reported as
``skipped`` with the reason, and the estimated performance (``checks.estimation``) used
meanwhile.

>>> mature, reason, metrics = label_coverage(1000, 620)
>>> mature, reason, metrics["label_coverage"]
(True, None, 0.62)
>>> label_coverage(1000, 120).reason
'label coverage 12.0% < 50.0% (120 of 1000 predictions labelled)'
"""

from __future__ import annotations

from typing import Any, NamedTuple

from checks._params import InvalidParameter, check_interval


class LabelCoverage(NamedTuple):
    """Whether a window's labels are mature, why not, and the coverage numbers."""

    mature: bool
    reason: str | None
    metrics: dict[str, Any]


def label_coverage(
    n_predictions: int, n_labelled: int, *, min_coverage: float = 0.5, min_count: int = 200
) -> LabelCoverage:
    """Decide whether a window has enough labelled predictions for label-based checks.

    Parameters
    ----------
    n_predictions : int
        Predictions in the window.
    n_labelled : int
        Of those, the ones whose outcome has arrived.
    min_coverage : float, default=0.5
        Minimum share of predictions with a label.
    min_count : int, default=200
        Minimum number of labelled predictions (below it intervals are too wide to act on).

    Returns
    -------
    LabelCoverage
        ``(mature, reason, metrics)``; ``reason`` is ``None`` when mature, else one sentence
        fit for ``CheckResult.skipped``. ``metrics`` holds ``n_predictions``, ``n_labelled``
        and ``label_coverage`` (``None`` when there are no predictions).
    """
    func = "label_coverage"
    check_interval("n_predictions", n_predictions, func, low=0)
    check_interval("n_labelled", n_labelled, func, low=0)
    check_interval("min_coverage", min_coverage, func, low=0.0, high=1.0)
    check_interval("min_count", min_count, func, low=0)
    if n_labelled > n_predictions:
        raise InvalidParameter(
            f"'n_labelled' of {func} cannot exceed 'n_predictions'; got {n_labelled} > {n_predictions}"
        )
    metrics: dict[str, Any] = {
        "n_predictions": n_predictions,
        "n_labelled": n_labelled,
        "label_coverage": None,
    }
    if n_predictions == 0:
        return LabelCoverage(False, "no predictions in the window", metrics)
    coverage = n_labelled / n_predictions
    metrics["label_coverage"] = coverage
    if coverage < min_coverage:
        reason = (
            f"label coverage {coverage:.1%} < {min_coverage:.1%} "
            f"({n_labelled} of {n_predictions} predictions labelled)"
        )
        return LabelCoverage(False, reason, metrics)
    if n_labelled < min_count:
        return LabelCoverage(False, f"only {n_labelled} labelled predictions (< {min_count})", metrics)
    return LabelCoverage(True, None, metrics)

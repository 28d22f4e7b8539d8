"""Predictions on the link and response scales (conditional, typical subject, population-averaged)
and the trajectory plot."""

from .fits import predict, predict_bayes, predict_gee, predict_ml
from .plots import odds_ratio_by_kind, trajectory_grid, trajectory_plot

__all__ = [
    "predict",
    "predict_ml",
    "predict_bayes",
    "predict_gee",
    "trajectory_plot",
    "trajectory_grid",
    "odds_ratio_by_kind",
]

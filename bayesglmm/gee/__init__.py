"""Marginal models: GEE with independence, exchangeable, AR(1) and unstructured working
correlations, and alternating logistic regression for binary responses."""

from .fit import CORRELATIONS, fit_gee

__all__ = ["fit_gee", "CORRELATIONS"]

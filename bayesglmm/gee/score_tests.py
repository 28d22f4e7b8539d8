"""Type III generalized score tests for GEE (Rotnitzky & Jewell 1990; Boos 1992), SAS GENMOD's
default ``type3`` for GEE models.

For a term with columns C (a selection matrix), β̃ is the GEE fit without those columns (its
working correlation and scale estimated under that model) and, at β̃ in the full model,

    U = Σ_i U_i,   A = Σ_i D_iᵀ V_i⁻¹ D_i,   B = Σ_i U_i U_iᵀ,
    T = Uᵀ A⁻¹ Cᵀ (C A⁻¹ B A⁻¹ Cᵀ)⁻¹ C A⁻¹ U  ~  χ²(rank C).

Checked against statsmodels' ``GEE.compare_score_test`` (the same statistic), tests/gee/test_score_tests.py.
"""

from __future__ import annotations

from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import chdtrc

from .. import _jax  # noqa: F401  (float64)
from .estimating import mean_pieces, score_pieces, working_covariance


def score_statistic(
    spec, layout, structure: str, columns, solve, ar1: str, max_iter: int, tol: float
) -> tuple[float, int]:
    """(T, df) for the hypothesis that the coefficients of ``columns`` are zero (module docstring).
    ``solve`` is the GEE solver (:func:`~.fit.solve_gee`), run on the reduced design."""
    p = layout.X.shape[-1]
    keep = [j for j in range(p) if j not in set(columns)]
    reduced = solve(spec, replace(layout, X=layout.X[..., keep]), structure, max_iter, tol, ar1)
    beta = np.zeros(p)
    beta[keep] = reduced.beta
    X, offset, trials, mask, y = (
        jnp.asarray(a) for a in (layout.X, layout.offset, layout.trials, layout.mask, layout.y)
    )
    mu, dmu, v = mean_pieces(jnp.asarray(beta), X, offset, trials, mask, spec.family)
    alpha = reduced.association["estimate"].to_numpy()
    V = working_covariance(structure, alpha, reduced.scale, v, layout.n_occasions)
    U_i, A = score_pieces(X, dmu, V, y - mu, mask)
    U_i, A = np.asarray(U_i), np.asarray(A)
    C = np.eye(p)[list(columns)]
    A_inv = np.linalg.inv(A)
    U = U_i.sum(axis=0)
    middle = C @ A_inv @ (U_i.T @ U_i) @ A_inv @ C.T
    statistic = float((C @ A_inv @ U) @ np.linalg.solve(middle, C @ A_inv @ U))
    return statistic, len(columns)


def type3_score_table(
    spec, layout, structure: str, solve, ar1: str, max_iter: int = 100, tol: float = 1e-10
) -> pd.DataFrame:
    """One generalized score test per model term (the intercept excluded): df, chi2, p."""
    rows = []
    for term, columns in spec.fixed.terms:
        if term == "(Intercept)":
            continue
        statistic, df = score_statistic(spec, layout, structure, columns, solve, ar1, max_iter, tol)
        rows.append({"term": term, "df": df, "chi2": statistic, "p": float(chdtrc(df, statistic))})
    return pd.DataFrame(rows, columns=["term", "df", "chi2", "p"]).set_index("term")

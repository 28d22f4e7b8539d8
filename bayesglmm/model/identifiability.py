"""Data that cannot identify the model: found before fitting, named, and said.

* **Separation** (Albert & Anderson 1984): a direction d of the fixed effects along which the
  log-likelihood never decreases, so the MLE of β is infinite. Found by the linear program of
  Konis (2007, as R's ``detectseparation``): with s_i = +1 for rows that are all successes, −1 for
  rows that are all failures (Poisson: y = 0) and an equality for rows with both,

      maximise Σ_i s_i x_iᵀd  subject to  s_i x_iᵀd ≥ 0,  x_iᵀd = 0 (both),  −1 ≤ d_j ≤ 1;

  a positive optimum means (quasi-)complete separation, and the columns with d_j ≠ 0 diverge.
  The LP is skipped when the GLM's score already proves there is none (Stiemke's theorem of the
  alternative: no such d exists iff some w with w_i s_i > 0 on the one-sided rows has Xᵀw = 0;
  the GLM's score contributions at its estimate are such a w), which costs one least-squares
  projection instead of seconds of LP on large continuous designs.
  Random effects do not remove it: the conditional likelihood rises along d for every b.
* A **constant response** (all 0, all 1 or all n; Poisson all 0).
* **Groups of size one** with a random intercept for a binary response: the intercept's variance
  is not identifiable from the Bernoulli variance (lme4 refuses such a fit).
* A **random slope constant within every group**, beside a random intercept: its variance is
  that of the intercept again.
* A **fixed-effect column that varies in only one cluster**: its sandwich SE rests on one
  cluster's score and means nothing.
"""

from __future__ import annotations

import numpy as np

from ..errors import SpecError

# Above this many distinct (row, side) pairs times columns the LP is skipped (seconds, not a check).
SEPARATION_MAX_ENTRIES = 20_000_000


# The LP's optimum counts as positive (separation) above this fraction of its objective's size.
SEPARATION_TOLERANCE = 1e-7


def separated_columns(X: np.ndarray, names, sides: np.ndarray, scores: np.ndarray | None = None) -> list[str]:
    """Fixed-effect columns along which the likelihood is unbounded (the module's LP); [] if none.

    ``scores``: the rows' GLM score contributions (:attr:`bayesglmm.ml.start.GLMFit.row_scores`);
    when they prove that no separating direction exists (:func:`scores_rule_out_separation`),
    the LP is not run."""
    from scipy.optimize import linprog

    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    if scores is not None and scores_rule_out_separation(X / scale, sides, scores):
        return []
    rows, inverse = np.unique(np.column_stack([X / scale, sides]), axis=0, return_inverse=True)
    if rows.size > SEPARATION_MAX_ENTRIES:
        return []
    Xu, su = rows[:, :-1], rows[:, -1]
    one_sided = su != 0
    A_ub = -(su[one_sided, None] * Xu[one_sided])  # s x'd >= 0
    A_eq = Xu[~one_sided] if np.any(~one_sided) else None
    counts = np.bincount(inverse.ravel(), minlength=len(rows))[one_sided]
    objective = -(counts[:, None] * su[one_sided, None] * Xu[one_sided]).sum(axis=0)
    if not np.any(one_sided):
        return []
    result = linprog(
        objective,
        A_ub=A_ub,
        b_ub=np.zeros(len(A_ub)),
        A_eq=A_eq,
        b_eq=None if A_eq is None else np.zeros(len(A_eq)),
        bounds=[(-1, 1)] * X.shape[1],
        method="highs",
    )
    if result.status != 0 or -result.fun <= SEPARATION_TOLERANCE * max(1.0, np.abs(objective).sum()):
        return []
    direction = result.x
    involved = [names[j] for j in np.flatnonzero(np.abs(direction) > 1e-6)]
    return [name for name in involved if name != "(Intercept)"] or involved


def scores_rule_out_separation(X: np.ndarray, sides: np.ndarray, scores: np.ndarray) -> bool:
    """True when ``scores`` certify that the LP of the module docstring has no positive optimum.

    w = u − X (XᵀX)⁺ Xᵀu, the scores projected onto Xᵀw = 0 (to rounding: ε = ‖Xᵀw‖₂).  If every
    one-sided row has s_i w_i ≥ δ > 0 and every direction d in the LP's box (‖d‖₂ ≤ √p) has
    s_i x_iᵀd ≥ 0 there and x_iᵀd = 0 on the two-sided rows, then
        δ · Σ_one-sided s_i x_iᵀd ≤ Σ_i w_i x_iᵀd = wᵀXd ≤ ε √p,
    so the LP's objective is at most ε √p / δ; below its tolerance it would report no separation.
    Separated data give δ ≈ 0 (the fitted means reach 0 or 1) and fall through to the LP."""
    one_sided = sides != 0
    if not np.any(one_sided):
        return True
    w = scores - X @ np.linalg.lstsq(X, scores, rcond=None)[0]
    delta = float(np.min(sides[one_sided] * w[one_sided]))
    if not np.isfinite(delta) or delta <= 0.0:
        return False
    epsilon = float(np.linalg.norm(X.T @ w))
    return epsilon * np.sqrt(X.shape[1]) / delta < SEPARATION_TOLERANCE


def check_response_varies(family, y: np.ndarray, trials: np.ndarray, response: str) -> None:
    """SpecError for a response that is the same in every row (no model can be estimated); the
    family says when its response is unusable (:meth:`~bayesglmm.model.families.Family.constant_response`)."""
    problem = family.constant_response(y, trials)
    if problem is not None:
        raise SpecError(f"response '{response}' {problem}")


def check_random_terms(factor, family, trials: np.ndarray) -> None:
    """SpecError for random effects the data cannot identify (see the module docstring)."""
    sizes = np.bincount(factor.index, minlength=len(factor.levels))
    binary = family.binary or (family.counts_of_trials and np.all(trials == 1))
    if binary and np.all(sizes == 1) and "(Intercept)" in factor.terms:
        raise SpecError(
            f"every level of '{factor.group}' has one row: a random intercept of a binary response is not "
            "identifiable from the Bernoulli variance (lme4 refuses it too); drop the term or group the rows coarser"
        )
    for block in factor.blocks:
        terms = [factor.terms[j] for j in block]
        if "(Intercept)" not in terms:
            continue
        for j in block:
            term = factor.terms[j]
            if term == "(Intercept)":
                continue
            column = factor.Z[:, j]
            low = np.full(len(factor.levels), np.inf)
            high = np.full(len(factor.levels), -np.inf)
            np.minimum.at(low, factor.index, column)
            np.maximum.at(high, factor.index, column)
            if np.all(high - low <= 1e-12 * max(1.0, float(np.max(np.abs(column))))):
                raise SpecError(
                    f"random slope '{term}' is constant within every level of '{factor.group}': its variance is "
                    f"the random intercept's again and cannot be identified; drop '{term}' from the "
                    f"({' + '.join('1' if t == '(Intercept)' else t for t in terms)} | {factor.group}) term "
                    "(keep it as a fixed effect)"
                )


def columns_varying_in_one_cluster(X: np.ndarray, names, cluster_index: np.ndarray) -> list[str]:
    """Non-intercept columns that differ from their most common value in at most one cluster."""
    flagged = []
    for j, name in enumerate(names):
        column = X[:, j]
        values, counts = np.unique(column, return_counts=True)
        if len(values) < 2:
            continue
        usual = values[np.argmax(counts)]
        if len(np.unique(cluster_index[column != usual])) <= 1:
            flagged.append(name)
    return flagged

"""Posterior (and prior) predictive checks, as brms's ``pp_check``: a statistic of the observed
response against its distribution over the replicated responses of a Bayesian fit.

For each statistic T the table gives T(y), the replicated values' mean and 95% interval, and the
predictive p-value P(T(y_rep) ≥ T(y)) (Gelman, Meng & Stern 1996): near 0 or 1, the model does
not reproduce that feature of the data (on the seed's epilepsy counts, Laplace posteriors: the
Poisson model replicates 4.4% zeros against the observed 7.8%, p = 0.007; NB2 7.8% is within its
replicates, p = 0.05; both reproduce the variance/mean ratio and the within-subject variance,
which the random effects carry). The replicated
responses are the fit's ``posterior_predictive`` group: posterior draws for a posterior fit,
prior draws for :func:`~bayesglmm.bayes.fit.prior_fit` (a prior predictive check), or with
``group="prior_predictive"`` the prior draws a posterior fit made with ``prior_draws``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import SpecError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _within_group_variance(y: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The mean over groups of the variance of y within each group (ddof 0), per draw: (..., n) -> (...).
    Two passes (the group means, then the squared deviations from them): prior predictive counts
    reach 1e18, where E(y²) − E(y)² cancels to noise."""
    levels, index = np.unique(group, return_inverse=True)
    counts = np.bincount(index, minlength=len(levels)).astype(float)
    rows = y.reshape(-1, y.shape[-1]).astype(float)
    result = np.empty(len(rows))
    for k, row in enumerate(rows):
        deviations = row - (np.bincount(index, weights=row, minlength=len(levels)) / counts)[index]
        result[k] = np.mean(np.bincount(index, weights=deviations**2, minlength=len(levels)) / counts)
    return result.reshape(y.shape[:-1])


STATISTICS: dict[str, tuple[str, Callable]] = {
    "mean": ("mean", lambda y, g: y.mean(axis=-1)),
    "sd": ("standard deviation", lambda y, g: y.std(axis=-1, ddof=1)),
    "zeros": ("proportion of zeros", lambda y, g: (y == 0).mean(axis=-1)),
    "max": ("maximum", lambda y, g: y.max(axis=-1)),
    "dispersion": ("variance / mean", lambda y, g: y.var(axis=-1, ddof=1) / y.mean(axis=-1)),
    "within": ("mean within-group variance", _within_group_variance),
}


def _replicates(fit, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(observed y (n,), replicated y (draws, n), the rows' first grouping factor or None)."""
    idata = fit.idata
    if group not in idata.groups():
        hint = (
            "fit with predictive=True"
            if group == "posterior_predictive"
            else "fit with prior_draws=N (or use prior_fit)"
        )
        raise SpecError(f"the fit has no {group} group to check against; {hint}")
    replicated = np.asarray(idata[group]["y"]).reshape(-1, idata.observed_data["y"].shape[-1])
    groups = (
        [name for name in idata.constant_data.data_vars if name.startswith("group_")]
        if "constant_data" in idata.groups()
        else []
    )
    labels = np.asarray(idata.constant_data[groups[0]]) if groups else None
    return np.asarray(idata.observed_data["y"]), replicated, labels


def _statistics(names) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in STATISTICS]
    if unknown:
        raise SpecError(f"unknown statistic {unknown[0]!r}; choose from {', '.join(STATISTICS)}")
    return names


def pp_check_table(
    fit, stats=("mean", "sd", "zeros", "dispersion"), group: str = "posterior_predictive"
) -> pd.DataFrame:
    """One row per statistic: observed, the replicates' mean, 2.5% and 97.5% quantiles, and the
    predictive p-value P(T(y_rep) ≥ T(y)) (module docstring)."""
    return _table(_statistic_values(fit, stats, group))


def _statistic_values(fit, stats, group: str) -> dict[str, tuple[float, np.ndarray]]:
    """Per statistic: T(y) and T(y_rep) over the replicates, computed once for the table and the plot."""
    observed, replicated, labels = _replicates(fit, group)
    values = {}
    for name in _statistics(stats):
        _, statistic = STATISTICS[name]
        if name == "within" and labels is None:
            raise SpecError(
                "the within-group statistic needs the fit's groups (constant_data); refit with this version"
            )
        values[name] = (float(statistic(observed[None], labels)[0]), statistic(replicated, labels))
    return values


def _table(statistic_values: dict) -> pd.DataFrame:
    rows = {}
    for name, (value, values) in statistic_values.items():
        rows[name] = {
            "statistic": STATISTICS[name][0],
            "observed": value,
            "replicated_mean": float(np.mean(values)),
            "q2.5": float(np.quantile(values, 0.025)),
            "q97.5": float(np.quantile(values, 0.975)),
            "p_value": float(np.mean(values >= value)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def loo_pit(fit, seed: int = 0) -> np.ndarray:
    """Leave-one-out probability integral transforms of the observations (n,): with PSIS weights
    w_is of draw s for leaving row i out (Vehtari, Gelman & Gabry 2017; ArviZ's ``psislw`` of the
    conditional log-likelihood ``y``), the randomised PIT of Czado, Gneiting & Held (2009) that
    stays uniform for counts: u_i = Σ_s w_is [1(y_rep,is < y_i) + V_i 1(y_rep,is = y_i)], V_i ~ U(0, 1).
    Uniform u_i say the model's leave-one-out predictive distributions are calibrated; a ∪-shaped
    histogram says they are too narrow, ∩ too wide."""
    import arviz as az

    idata = fit.idata
    if "log_likelihood" not in idata.groups() or "posterior_predictive" not in idata.groups():
        raise SpecError("LOO-PIT needs a posterior fit with its log-likelihood and posterior predictive draws")
    observed, replicated, _ = _replicates(fit, "posterior_predictive")
    log_likelihood = np.asarray(idata.log_likelihood["y"]).reshape(-1, observed.shape[-1])
    log_weights, _ = az.psislw(-log_likelihood.T)  # (n, S): each row's smoothed log weights, normalised
    weights = np.exp(log_weights)
    below = np.sum(weights * (replicated.T < observed[:, None]), axis=1)
    equal = np.sum(weights * (replicated.T == observed[:, None]), axis=1)
    return np.clip(below + np.random.default_rng(seed).uniform(size=len(observed)) * equal, 0.0, 1.0)


def pp_check(
    fit,
    stats=("mean", "sd", "zeros", "dispersion"),
    group: str = "posterior_predictive",
    path=None,
    draws: int = 50,
    loo_pit_panel: bool = False,
) -> Figure:
    """brms-style predictive check plot: the observed response's distribution over ``draws``
    replicated ones (first panel: for counts, the proportion at each value; else densities), then
    per statistic a histogram of T(y_rep) with T(y) marked and the predictive p-value; with
    ``loo_pit_panel`` (posterior fits) a last panel of the LOO-PIT values' ECDF against the
    uniform one (:func:`loo_pit`)."""
    import matplotlib.pyplot as plt

    observed, replicated, _ = _replicates(fit, group)
    names = _statistics(stats)
    statistic_values = _statistic_values(fit, names, group)
    table = _table(statistic_values)
    pit = loo_pit(fit) if loo_pit_panel else None
    panels = 1 + len(names) + (pit is not None)
    figure, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.2), squeeze=False)
    _overlay(axes[0, 0], observed, replicated[:: max(1, len(replicated) // draws)][:draws])
    kind = "prior" if group == "prior_predictive" or fit.sampler == "prior" else "posterior"
    axes[0, 0].set_title(f"y and {kind} predictive draws", fontsize=9)
    for ax, name in zip(axes[0, 1:], names):
        label = STATISTICS[name][0]
        values = statistic_values[name][1]
        ax.hist(values, bins=30, color="#9ecae1", edgecolor="white")
        ax.axvline(table.loc[name, "observed"], color="#08306b", lw=2, label="observed")
        ax.set_title(f"{label}\np = {table.loc[name, 'p_value']:.3f}", fontsize=9)
        ax.set_xlabel(f"T(y_rep): {label}", fontsize=8)
    axes[0, 1 if names else 0].legend(fontsize=8)
    if pit is not None:
        ax = axes[0, -1]
        grid = np.sort(pit)
        band = 1.36 / np.sqrt(len(pit))  # the 95% Kolmogorov-Smirnov band of a uniform ECDF
        ax.fill_between([0, 1], [-band, 1 - band], [band, 1 + band], color="#dddddd", label="95% if uniform")
        ax.step(grid, np.arange(1, len(grid) + 1) / len(grid), color="#08306b", where="post", label="LOO-PIT ECDF")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title("LOO-PIT (randomised)", fontsize=9)
        ax.set_xlabel("u", fontsize=8)
        ax.legend(fontsize=7)
    figure.suptitle(f"{kind} predictive check: {fit.formula} ({fit.family})", fontsize=10)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    return figure


def _overlay(ax, observed: np.ndarray, replicated: np.ndarray) -> None:
    """Whole-number responses: the share at each value 0..max (a line per replicate, the observed
    in bold); others: kernel densities on a common grid."""
    if np.all(observed == np.round(observed)) and observed.min() >= 0:
        # up to 1.5 times the observed maximum (prior predictive counts can reach 1e18), the rest in the last point
        top = int(min(np.ceil(1.5 * observed.max()) + 1, 1000))
        values = np.arange(top + 1)

        def shares(row):
            return np.bincount(np.clip(np.nan_to_num(row, posinf=top), 0, top).astype(int), minlength=top + 1) / len(
                row
            )

        for row in replicated:
            ax.plot(values, shares(row), color="#9ecae1", lw=0.6)
        ax.plot(values, shares(observed), color="#08306b", lw=2)
        ax.set_xlabel(f"y (the last point: y >= {top})", fontsize=8)
        ax.set_ylabel("share of rows", fontsize=8)
        return
    from scipy.stats import gaussian_kde

    low, high = np.quantile(observed, [0.0, 1.0]) + np.array([-0.5, 0.5]) * np.ptp(observed)
    grid = np.linspace(low, high, 200)
    for row in replicated:
        ax.plot(grid, gaussian_kde(row)(grid), color="#9ecae1", lw=0.6)
    ax.plot(grid, gaussian_kde(observed)(grid), color="#08306b", lw=2)
    ax.set_xlabel("y", fontsize=8)
    ax.set_ylabel("density", fontsize=8)

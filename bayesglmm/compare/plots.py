"""Plots of a :class:`~bayesglmm.compare.table.Comparison` (matplotlib, PNG when a path is given).

Random-effect SDs and correlations are drawn on their natural scale. The ML
"density" of a parameter is the normal approximation N(estimate, SE²) that its
Wald interval assumes, so where it departs from the posterior the Wald interval
and the credible interval part too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

import numpy as np
from scipy.stats import gaussian_kde, norm

from ..model.parameters import interval_scale, parameter_kind

SUPPORT = {"sd": (0.0, np.inf), "corr": (-1.0, 1.0)}
FAMILY_SUPPORT = {"log": (0.0, np.inf), "logit": (0.0, 1.0), "identity": (-np.inf, np.inf)}  # by interval_scale


def support(name: str) -> tuple[float, float]:
    """Where a parameter's values lie (the normal approximation is drawn inside it)."""
    kind = parameter_kind(name)
    return FAMILY_SUPPORT[interval_scale(name)] if kind == "family" else SUPPORT.get(kind, (-np.inf, np.inf))


PANELS = (
    ("beta", "Fixed effects"),
    ("sd", "Random-effect SDs"),
    ("corr", "Correlations"),
    ("family", "Family parameters (sigma, shape, zi, ...)"),
)


def _pyplot():
    import matplotlib.pyplot as plt  # imported on first plot: fitting never needs matplotlib

    return plt


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def forest_plot(comparison, path=None) -> Figure:
    """One row per parameter, one marker and 95% interval per fit, a panel per parameter kind."""
    plt = _pyplot()
    names = list(comparison.wide().index)
    panels = [(kind, title, [n for n in names if parameter_kind(n) == kind]) for kind, title in PANELS]
    panels = [p for p in panels if p[2]]
    labels = list(comparison.fits)
    heights = [len(p[2]) for p in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(8, 1.0 + 0.45 * sum(heights) * max(1, len(labels) / 3)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    offsets = np.linspace(-0.3, 0.3, len(labels)) if len(labels) > 1 else np.zeros(1)
    for ax, (kind, title, params) in zip(axes[:, 0], panels):
        for j, label in enumerate(labels):
            rows = comparison.table.xs(label, level="fit").reindex(params)
            y = np.arange(len(params))[::-1] + offsets[j]
            ax.errorbar(
                rows["estimate"],
                y,
                xerr=[rows["estimate"] - rows["lower"], rows["upper"] - rows["estimate"]],
                fmt="o",
                ms=4,
                capsize=2,
                color=colors[j % len(colors)],
                label=label,
            )
        ax.set_yticks(np.arange(len(params))[::-1], params)
        ax.set_title(title, loc="left", fontsize=10)
        if kind == "beta":
            ax.axvline(0, color="grey", lw=0.6, ls=":")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("estimate with 95% interval (Wald or equal-tailed credible)")
    axes[0, 0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _posterior_draws(fit, name):
    draws = fit.parameter_draws().sel(parameter=name)
    return np.asarray(draws).ravel()


def density_plot(comparison, path=None, columns: int = 3) -> Figure:
    """Per parameter: each Bayesian fit's posterior density (kernel estimate of its draws) and each
    ML fit's normal approximation N(estimate, SE²), on the parameter's natural scale."""
    plt = _pyplot()
    names = [n for n in comparison.wide().index]
    rows = int(np.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.ravel(), names):
        for j, (label, c) in enumerate(comparison.fits.items()):
            if name not in c.table.index or c.scale != "conditional":
                continue
            color = colors[j % len(colors)]
            if c.kind == "bayes":
                draws = _posterior_draws(c.fit, name)
                grid = np.linspace(*np.quantile(draws, [0.001, 0.999]), 200)
                ax.plot(grid, gaussian_kde(draws)(grid), color=color, label=label)
            else:
                est, se = c.table.loc[name, ["estimate", "se"]]
                low, high = support(name)
                grid = np.linspace(max(est - 4 * se, low), min(est + 4 * se, high), 200)  # drawn inside the support
                ax.plot(grid, norm.pdf(grid, est, se), color=color, ls="--", label=f"{label} (normal approx.)")
        ax.set_title(name, fontsize=9)
        ax.set_yticks([])
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    handles, legend_labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="lower center", ncol=min(4, len(handles)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


def coverage_plot(study, path=None) -> Figure:
    """Coverage of each engine's 95% intervals per parameter, with ±2 Monte Carlo SE bars and the 0.95 line."""
    plt = _pyplot()
    table = study.table.reset_index()
    names = list(dict.fromkeys(table["name"]))
    engines = list(dict.fromkeys(table["engine"]))
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.4 * len(names) * max(1, len(engines) / 2)))
    offsets = np.linspace(-0.25, 0.25, len(engines)) if len(engines) > 1 else np.zeros(1)
    for j, engine in enumerate(engines):
        rows = table[table["engine"] == engine].set_index("name").reindex(names)
        y = np.arange(len(names))[::-1] + offsets[j]
        ax.errorbar(rows["coverage"], y, xerr=2 * rows["coverage_mcse"], fmt="o", ms=4, capsize=2, label=engine)
    ax.axvline(0.95, color="grey", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(names))[::-1], names)
    ax.set_xlabel(f"coverage of the 95% interval (± 2 MCSE), {study.replicates['replicate'].nunique()} replicates")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)

"""Plots of a :class:`~bayesglmm.compare.table.Comparison` (matplotlib, PNG when a path is given).

Every parameter is drawn on its natural scale. The ML "density" of a parameter is the one its
Wald interval assumes: normal on the interval's scale (identity for β, log for SDs and positive
family parameters, Fisher's z for correlations, logit for zi; :func:`interval_density`) mapped
back, so it sits exactly over the forest plot's interval, and where it departs from the
posterior the Wald and credible intervals part too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

import numpy as np

from ..model.parameters import common_name, interval_scale, parameter_kind, parse_common_name
from ..results.stats import wald_interval

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


def interval_density(grid: np.ndarray, estimate: float, se: float, scale: str) -> np.ndarray:
    """The density a Wald interval on ``scale`` assumes (:func:`~bayesglmm.results.stats.wald_interval`):
    the transformed parameter t(θ) ~ N(t(θ̂), (t'(θ̂) se)²), mapped back to θ by the change of variables."""
    from scipy.stats import norm

    grid = np.asarray(grid, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "identity":
            return norm.pdf(grid, estimate, se)
        if scale == "log":
            return norm.pdf(np.log(grid), np.log(estimate), se / estimate) / grid
        if scale == "logit":
            spread = se / (estimate * (1 - estimate))
            return norm.pdf(np.log(grid / (1 - grid)), np.log(estimate / (1 - estimate)), spread) / (grid * (1 - grid))
        r = np.clip(estimate, -0.999999, 0.999999)
        return norm.pdf(np.arctanh(grid), np.arctanh(r), se / (1 - r**2)) / (1 - grid**2)


def forest_plot(comparison, path=None, exponentiate: bool = False) -> Figure:
    """One row per parameter, one marker and 95% interval per fit, a panel per parameter kind;
    ``exponentiate`` draws the fixed effects as exp(β) on a log axis (odds ratios under the logit
    link, rate ratios under the log link; intervals exponentiated, as GLIMMIX's ``oddsratio``)."""
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
            if kind == "beta" and exponentiate:
                rows = np.exp(rows[["estimate", "lower", "upper"]])
            y = np.arange(len(params))[::-1] + offsets[j]
            ax.errorbar(
                rows["estimate"],
                y,
                # clipped at 0: at a boundary (a correlation of exactly 1) the Fisher-z interval's end rounds below it
                xerr=np.maximum([rows["estimate"] - rows["lower"], rows["upper"] - rows["estimate"]], 0.0),
                fmt="o",
                ms=4,
                capsize=2,
                color=colors[j % len(colors)],
                label=label,
            )
        ax.set_yticks(np.arange(len(params))[::-1], params)
        ax.set_title(
            title + (" as exp(beta): odds or rate ratios" if kind == "beta" and exponentiate else ""),
            loc="left",
            fontsize=10,
        )
        if kind == "beta":
            ax.axvline(1 if exponentiate else 0, color="grey", lw=0.6, ls=":")
            if exponentiate:
                ax.set_xscale("log")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("estimate with 95% interval (Wald or equal-tailed credible)")
    axes[0, 0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _posterior_draws(fit, name):
    draws = fit.parameter_draws().sel(parameter=name)
    return np.asarray(draws).ravel()


def density_plot(comparison, path=None, columns: int = 3, prior: bool = False) -> Figure:
    """Per parameter: each Bayesian fit's posterior density (kernel estimate of its draws) and each
    ML fit's interval density (:func:`interval_density`), on one grid spanning every fit (tails
    included, inside the parameter's range), so every fit is visible; ``prior`` overlays the first
    Bayesian fit's prior density where its prior is a distribution of that parameter itself."""
    from scipy.stats import gaussian_kde

    plt = _pyplot()
    names = [n for n in comparison.wide().index]
    rows = int(np.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fits = [(label, c, colors[j % len(colors)]) for j, (label, c) in enumerate(comparison.fits.items())]
    fits = [(label, c, color) for label, c, color in fits if c.scale == "conditional"]
    for ax, name in zip(axes.ravel(), names):
        present = [(label, c, color) for label, c, color in fits if name in c.table.index]
        grid = _common_grid(name, present)
        for label, c, color in present:
            if c.kind == "bayes":
                ax.plot(grid, gaussian_kde(_posterior_draws(c.fit, name))(grid), color=color, label=label)
            else:
                est, se = c.table.loc[name, ["estimate", "se"]]
                density = interval_density(grid, est, se, interval_scale(name))
                ax.plot(grid, density, color=color, ls="--", label=f"{label} (Wald interval's density)")
        if prior:
            bayes = [c for _, c, _ in present if c.kind == "bayes"]
            density = _prior_density(bayes[0].fit, name, grid) if bayes else None
            if density is not None:
                ax.plot(grid, density, color="grey", ls=":", label="prior")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("value (natural scale)", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
        ax.set_yticks([])
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    handles = {}
    for ax in axes.ravel()[: len(names)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(4, len(handles)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


def _common_grid(name: str, present) -> np.ndarray:
    """200 points over the union of each fit's range (posterior draws' 0.05%–99.95% quantiles
    widened by a tenth, the Wald interval widened by half its width), kept inside the parameter's range."""
    lows, highs = [], []
    for _, c, _ in present:
        if c.kind == "bayes":
            low, high = np.quantile(_posterior_draws(c.fit, name), [0.0005, 0.9995])
        else:
            est, se = c.table.loc[name, ["estimate", "se"]]
            low, high = wald_interval(est, se, interval_scale(name))
            low, high = (est - 4 * se, est + 4 * se) if not np.isfinite(high - low) else (low, high)
        width = high - low
        lows.append(low - 0.1 * width)
        highs.append(high + 0.1 * width)
    lower, upper = support(name)
    span = max(highs) - min(lows) if lows else 1.0
    inside = 1e-6 * span
    return np.linspace(max(min(lows), lower + inside), min(max(highs), upper - inside), 200)


def _prior_density(fit, name: str, grid: np.ndarray):
    """The fit's prior density of ``name`` on ``grid`` (β, an SD, a family parameter: its own prior;
    a correlation: the LKJ(η) marginal of a d×d block, (r + 1)/2 ~ Beta(η − 1 + d/2, η − 1 + d/2));
    None where the prior is not on the parameter itself (brms's centred intercept) or flat."""
    from scipy.stats import beta as beta_distribution

    from ..bayes.priors import parse_prior

    priors = dict(fit.priors)
    kind, parts = parse_common_name(name)
    if kind == "corr":
        for row, text in priors.items():
            if row.startswith(common_name("corr", parts[0]) + " (") and parts[1] in row and parts[2] in row:
                eta, d = parse_prior(text).args[0], len(row.split("(", 1)[1].rstrip(")").split(","))
                a = eta - 1 + d / 2
                return beta_distribution(a, a).pdf((grid + 1) / 2) / 2
        return None
    if name not in priors or priors[name] == "flat":
        return None
    return np.exp(np.asarray(parse_prior(priors[name]).distribution().log_prob(grid)))


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

"""Plots of the random effects themselves: a caterpillar plot of one fit's per-group effects and
a shrinkage plot of the ML conditional modes against the posterior means (matplotlib).

Both read the effects the same way from either engine (:func:`group_effects`): an ML fit's
conditional modes b̂ with their conditional SDs (lme4's ``ranef(condVar = TRUE)``), a Bayesian
fit's posterior means and SDs from ``idata.random_effects``, with 95% intervals (b̂ ± 1.96 SD;
the posterior's equal-tailed quantiles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import SpecError
from ..model.parameters import effects_site

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def group_effects(fit, group: str | None = None) -> pd.DataFrame:
    """One row per level and term: ``estimate``, ``sd``, ``lower``, ``upper`` (index: level, term)."""
    groups = [f.group for f in fit.factors] if hasattr(fit, "factors") else list(fit.ngroups)
    if not groups:
        raise SpecError("the fit has no random effects")
    group = groups[0] if group is None else group
    if group not in groups:
        raise SpecError(f"no grouping factor {group!r} in this fit; it has {', '.join(groups)}")
    if hasattr(fit, "conditional_modes"):  # ML
        modes = fit.conditional_modes(group)
        terms = [c for c in modes.columns if not c.startswith("sd(")]
        rows = []
        for term in terms:
            estimate, sd = modes[term].to_numpy(), modes[f"sd({term})"].to_numpy()
            rows.append(
                pd.DataFrame(
                    {"estimate": estimate, "sd": sd, "lower": estimate - 1.96 * sd, "upper": estimate + 1.96 * sd},
                    index=pd.MultiIndex.from_product([modes.index.astype(str), [term]], names=["level", "term"]),
                )
            )
        return pd.concat(rows)
    if "random_effects" not in fit.idata.groups():
        raise SpecError("this Bayesian fit has no random_effects group (saved by an older version: refit it)")
    draws = fit.idata.random_effects[effects_site(group)]
    values = draws.values.reshape(-1, *draws.shape[-2:])  # (S, levels, terms)
    levels = [str(level) for level in draws[group].values]
    terms = [str(term) for term in draws[draws.dims[-1]].values]
    index = pd.MultiIndex.from_product([levels, terms], names=["level", "term"])
    return pd.DataFrame(
        {
            "estimate": values.mean(axis=0).ravel(),
            "sd": values.std(axis=0, ddof=1).ravel(),
            "lower": np.quantile(values, 0.025, axis=0).ravel(),
            "upper": np.quantile(values, 0.975, axis=0).ravel(),
        },
        index=index,
    )


def caterpillar_plot(fit, group: str | None = None, path=None) -> Figure:
    """Per random-effect term, every level's effect with its 95% interval, sorted by the estimate."""
    import matplotlib.pyplot as plt

    effects = group_effects(fit, group)
    terms = list(dict.fromkeys(effects.index.get_level_values("term")))
    levels = effects.index.get_level_values("level").nunique()
    figure, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 1.5 + 0.12 * levels), squeeze=False)
    for ax, term in zip(axes[0], terms):
        rows = effects.xs(term, level="term").sort_values("estimate")
        y = np.arange(len(rows))
        ax.errorbar(
            rows["estimate"],
            y,
            xerr=[rows["estimate"] - rows["lower"], rows["upper"] - rows["estimate"]],
            fmt="o",
            ms=2.5,
            lw=0.8,
        )
        ax.axvline(0, color="grey", lw=0.6, ls=":")
        ax.set_yticks(y, rows.index, fontsize=max(4, 8 - levels // 40))
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("effect with 95% interval", fontsize=8)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    return figure


def shrinkage_plot(ml_fit, bayes_fit, group: str | None = None, path=None) -> Figure:
    """Per term, each level's posterior mean (y) against its ML conditional mode (x), with the
    identity line: points off it show where the prior on the SDs (or the approximation) moves the
    effects; a slope below 1 is extra shrinkage towards 0."""
    import matplotlib.pyplot as plt

    ml, bayes = group_effects(ml_fit, group), group_effects(bayes_fit, group)
    joined = ml[["estimate"]].join(bayes[["estimate"]], lsuffix="_ml", rsuffix="_bayes", how="inner")
    terms = list(dict.fromkeys(joined.index.get_level_values("term")))
    figure, axes = plt.subplots(1, len(terms), figsize=(3.6 * len(terms), 3.4), squeeze=False)
    for ax, term in zip(axes[0], terms):
        rows = joined.xs(term, level="term")
        ax.scatter(rows["estimate_ml"], rows["estimate_bayes"], s=10)
        low, high = rows.min().min(), rows.max().max()
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--", label="identity")
        slope = np.polyfit(rows["estimate_ml"], rows["estimate_bayes"], 1)[0] if len(rows) > 1 else np.nan
        ax.set_title(f"{term} (slope {slope:.2f})", fontsize=9)
        ax.set_xlabel("ML conditional mode", fontsize=8)
        ax.set_ylabel("posterior mean", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    return figure

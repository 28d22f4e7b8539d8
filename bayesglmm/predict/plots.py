"""The seed's trajectory plot: predicted mean against time, one line per group (``proc sgplot;
series x=time y=predicted / group=trt;``), from one fit or several on one figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

import numpy as np
import pandas as pd

from .fits import predict


def trajectory_grid(x: str, values, group: str, levels, **fixed) -> pd.DataFrame:
    """A data frame crossing ``x`` values with ``group`` levels (plus constant columns, e.g. time2)."""
    frame = pd.DataFrame([(v, g) for g in levels for v in values], columns=[x, group])
    for name, value in fixed.items():
        frame[name] = value(frame) if callable(value) else value
    return frame


def trajectory_plot(
    fits: dict,
    grid: pd.DataFrame,
    x: str,
    group: str,
    path=None,
    scale: str = "response",
    bands: bool = True,
    ylabel: str | None = None,
    group_labels: dict | None = None,
) -> tuple[Figure, pd.DataFrame]:
    """Predicted trajectories by group for each entry of ``fits``: label → (fit, kind).

    ``grid`` holds the covariate values (see :func:`trajectory_grid`); each fit draws one line per
    level of ``group`` (solid, dashed, dotted… per fit; one colour per group level) with its 95%
    band when ``bands``. Returns the figure and the predictions (a long data frame).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    levels = list(dict.fromkeys(grid[group]))
    names = {str(level): label for level, label in (group_labels or {}).items()}
    tables = []
    for f, (label, (fit, kind)) in enumerate(fits.items()):
        table = pd.concat([grid, predict(fit, grid, scale=scale, kind=kind)], axis=1)
        table["fit"], table["kind"] = label, kind
        tables.append(table)
        for g, level in enumerate(levels):
            rows = table[table[group] == level].sort_values(x)
            name = names.get(str(level), f"{group}={level}")
            ax.plot(
                rows[x],
                rows["estimate"],
                ls=styles[f % len(styles)],
                color=colors[g % len(colors)],
                label=f"{label}, {name}" if len(fits) > 1 else name,
            )
            if bands:
                ax.fill_between(rows[x], rows["lower"], rows["upper"], color=colors[g % len(colors)], alpha=0.08)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or ("predicted mean" if scale == "response" else "linear predictor"))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig, pd.concat(tables, ignore_index=True)


def odds_ratio_by_kind(
    fit, reference: pd.DataFrame, contrast: pd.DataFrame, kinds=("typical", "marginal")
) -> pd.DataFrame:
    """Odds ratio of ``contrast`` rows against ``reference`` rows, per kind of prediction.

    For a GLMM, ``typical`` gives the conditional (subject-specific) odds ratio exp(Δη) and
    ``marginal`` the population-averaged one, odds(μ_PA,1) / odds(μ_PA,0), which is closer to 1.
    """
    rows = {}
    for kind in kinds:
        p0 = predict(fit, reference, "response", kind)["estimate"].to_numpy()
        p1 = predict(fit, contrast, "response", kind)["estimate"].to_numpy()
        rows[kind] = (p1 / (1 - p1)) / (p0 / (1 - p0))
    return pd.DataFrame(rows, index=np.arange(len(reference)))

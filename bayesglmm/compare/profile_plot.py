"""The profile plot of an ML fit (lme4's ``xyplot(profile(fit))``): the signed root deviance ζ
against each parameter, with the cut-offs ±z of the interval's level and the interval's limits.

A straight ζ means the Wald interval on that scale would be exact; curvature shows where the
profile interval and the Wald interval part (SDs and correlations above all).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from scipy.special import ndtri

from ..errors import SpecError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..ml.profile import ProfileResult


def profile_plot(profile: ProfileResult, parameters=None, columns: int = 3) -> Figure:
    """One panel per parameter of ``profile`` (:func:`~bayesglmm.ml.profile.profile_intervals`),
    ζ against the parameter's value, in ``parameters``' order (default: all)."""
    import matplotlib.pyplot as plt

    names = list(profile.table.index) if parameters is None else list(parameters)
    unknown = [name for name in names if name not in profile.table.index]
    if unknown:
        raise SpecError(f"no profile of {', '.join(map(repr, unknown))}; it has {', '.join(profile.table.index)}")
    columns = max(1, min(columns, len(names)))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), squeeze=False)
    cutoff = float(ndtri(0.5 + profile.level / 2.0))
    for ax, name in zip(axes.ravel(), names):
        trace = profile.zeta[profile.zeta["parameter"] == name].sort_values("value")
        ax.plot(trace["value"], trace["zeta"], marker=".", color="C0")
        for z in (-cutoff, cutoff):
            ax.axhline(z, color="grey", linestyle=":", linewidth=0.8)
        row = profile.table.loc[name]
        for limit in (row["lower"], row["upper"]):
            if math.isfinite(limit):
                ax.axvline(limit, color="C3", linestyle="--", linewidth=0.8)
        ax.axvline(row["estimate"], color="black", linewidth=0.6)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("value")
        ax.set_ylabel("ζ")
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    figure.suptitle(f"Profile likelihood, {profile.level:.0%} limits (dashed)", fontsize=10)
    figure.tight_layout()
    return figure

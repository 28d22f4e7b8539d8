"""Confidence intervals of an ML fit by common name: Wald at any level, the profile likelihood, or
the parametric bootstrap.

Wald intervals are built on the scale that keeps them in the parameter's range (β as is, SDs and
positive family parameters on the log scale, correlations on Fisher's z,
:func:`~.stats.wald_interval`), with the SEs the fit reports (model-based or empirical, as its
``empirical``). The profile intervals come from the ML engine
(:func:`bayesglmm.ml.profile.profile_intervals`, registered through :func:`.protocol.profile`);
the bootstrap intervals from :func:`bayesglmm.compare.parametric_bootstrap` (through
:func:`.protocol.bootstrap`): percentile intervals by default, as lme4's
``confint(method = "boot")``, or basic ones (Davison & Hinkley 1997, section 5.2).
"""

from __future__ import annotations

import pandas as pd
from scipy.special import ndtri

from ..errors import SpecError
from ..model.parameters import interval_scale
from ..options import check_choice, check_float
from . import protocol
from .stats import wald_interval

METHODS = ("wald", "profile", "boot")
BOOT_TYPES = ("percentile", "basic")


def confidence_intervals(
    fit, method: str = "wald", level: float = 0.95, parameters=None, *, boot_type: str = "percentile", **options
) -> pd.DataFrame:
    """(estimate, lower, upper) by common name of ``fit`` (:meth:`~.mlfit.MLFit.confint`);
    ``options`` go to the bootstrap (``sims``, ``out``, ``seed``, ``workers``, ...)."""
    check_choice("method", method, METHODS)
    check_float("level", level, 0.0, 1.0)
    check_choice("boot_type", boot_type, BOOT_TYPES)
    if method != "boot" and (options or boot_type != "percentile"):
        raise SpecError(f"{', '.join(sorted(options) or ['boot_type'])} apply to method='boot' only")
    if method == "profile":
        return protocol.profile(fit, level, parameters).table
    table = fit.params()
    if parameters is not None:
        unknown = [name for name in parameters if name not in table.index]
        if unknown:
            raise SpecError(f"no parameter {', '.join(map(repr, unknown))}; the fit has {', '.join(table.index)}")
        table = table.loc[list(parameters)]
    if method == "boot":
        boot = protocol.bootstrap(fit, level=level, **options).table.loc[table.index]
        limits = boot[[f"{boot_type}_lower", f"{boot_type}_upper"]].set_axis(["lower", "upper"], axis=1)
        return table[["estimate"]].join(limits)
    z = float(ndtri(0.5 + level / 2.0))
    se = table["se_empirical" if fit.empirical else "se"]
    limits = [wald_interval(table.loc[name, "estimate"], se[name], interval_scale(name), z) for name in table.index]
    return table[["estimate"]].assign(lower=[a for a, _ in limits], upper=[b for _, b in limits])

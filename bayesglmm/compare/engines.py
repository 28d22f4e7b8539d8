"""Engine names used by ``compare`` and ``coverage`` (CLI and Python), and fitting by name.

laplace             ML, Laplace approximation
agq | agqK          ML, adaptive Gauss–Hermite quadrature (automatic points | K points)
bayes               Bayes, NUTS by the sampler ``sampler="auto"`` chooses (:mod:`~bayesglmm.bayes.sampler_choice`)
nuts                Bayes, NUTS on every random effect (full latent)
marginal            Bayes, NUTS on the quadrature marginal likelihood
laplace-posterior   Bayes, Gaussian approximation at the posterior mode

An ML engine's name with ``-profile`` (``laplace-profile``, ``agq-profile``, ``agqK-profile``)
reports profile-likelihood intervals instead of Wald ones (:class:`~bayesglmm.results.profiled.ProfiledFit`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..results.bayesfit import BayesFit
    from ..results.mlfit import MLFit

import re
from dataclasses import dataclass

from ..errors import SpecError

BAYESIAN_ENGINES = ("bayes", "nuts", "marginal", "laplace-posterior")
ENGINE_HELP = (
    "laplace, agq (automatic points), agqK (K points), each with -profile for profile-likelihood intervals, "
    "bayes (sampler chosen automatically), nuts, marginal, laplace-posterior"
)


@dataclass(frozen=True)
class BayesSettings:
    """Sampler settings shared by every Bayesian engine of a comparison or coverage study."""

    prior_set: str = "default"
    priors: dict | None = None  # per-class or per-term overrides of the prior set
    chains: int = 4
    warmup: int | None = None  # None: the sampler's default (1000 full, 500 marginal)
    draws: int = 1000
    seed: int = 0

    def __post_init__(self):
        from ..bayes.options import NUTSOptions
        from ..bayes.priors import PRIOR_SETS
        from ..options import check_choice

        check_choice("prior_set", self.prior_set, tuple(PRIOR_SETS))
        NUTSOptions(chains=self.chains, warmup=self.warmup, draws=self.draws, seed=self.seed)
        if self.priors is not None and not isinstance(self.priors, dict):
            raise SpecError(f"priors must be a mapping of parameter or class to a prior, got {self.priors!r}")


def parse_engines(text) -> tuple[str, ...]:
    """``"laplace,agq11,nuts"`` (or a list) to validated engine names, in order."""
    names = [name.strip() for name in (text.split(",") if isinstance(text, str) else text) if name.strip()]
    if not names:
        raise SpecError(f"name at least one engine: {ENGINE_HELP}")
    for name in names:
        if name not in ("laplace", "agq", "bayes", "nuts", "marginal", "laplace-posterior") and not re.fullmatch(
            r"(laplace|agq|agq[1-9]\d*)-profile|agq[1-9]\d*", name
        ):
            raise SpecError(f"unknown engine {name!r}; choose from {ENGINE_HELP}")
    return tuple(names)


def fit_engine(
    spec, engine: str, bayes: BayesSettings = BayesSettings(), progress: bool | None = None, start=None
) -> MLFit | BayesFit:
    """Fit ``spec`` with the named engine (see the module docstring); returns an MLFit or BayesFit.

    ML fits report model-based Wald intervals (GLIMMIX's default); their empirical SEs are
    computed too and shown beside them by :func:`~bayesglmm.compare.compare`.  ``start``: the ML
    engines' starting values (``fit_ml``'s); the samplers do not take one.
    """
    from ..bayes import fit_bayes, laplace_fit
    from ..ml import fit_ml

    if engine.endswith("-profile"):
        from ..results.profiled import profiled

        return profiled(fit_engine(spec, engine.removesuffix("-profile"), bayes, progress, start))
    if engine == "laplace":
        return fit_ml(spec, "laplace", start=start)
    if engine.startswith("agq"):
        return fit_ml(spec, "agq", int(engine[3:]) if engine[3:] else "auto", start=start)
    if engine == "laplace-posterior":
        return laplace_fit(spec, bayes.prior_set, bayes.priors, seed=bayes.seed, predictive=False)
    sampler = {"bayes": "auto", "nuts": "full", "marginal": "marginal"}[engine]
    return fit_bayes(
        spec,
        bayes.prior_set,
        bayes.priors,
        sampler=sampler,
        chains=bayes.chains,
        warmup=bayes.warmup,
        draws=bayes.draws,
        seed=bayes.seed,
        progress=progress,
        predictive=False,
    )

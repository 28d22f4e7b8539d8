"""Parametric bootstrap of an ML fit (lme4's ``bootMer``, MixedModels.jl's ``parametricbootstrap``).

Replicate r simulates a response from the fitted model at the estimates (the design kept) and
refits it by the fit's own method, starting at the estimates (``fit_ml``'s ``start``; from the
GLM where the fit is singular), with the coverage study's machinery (:mod:`.coverage`,
:mod:`.study_runner`): the same per-replicate seeds ``SeedSequence([seed, r])``, one file per
replicate in ``out``, resumable after an interruption, worker processes. Per parameter:

- bias = mean of the replicate estimates − θ̂, and the bootstrap SE, their SD;
- the percentile interval (q_{α/2}, q_{1−α/2}) of the replicate estimates;
- the basic interval (2θ̂ − q_{1−α/2}, 2θ̂ − q_{α/2}) (Davison & Hinkley 1997, section 5.2).

Refits that raise are counted (``failed``) and left out; refits that end without converging are
kept (a boundary fit is a result) and counted (``not_converged``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SpecError
from ..options import check_float
from ..results import protocol
from ..results.mlfit import MLFit
from .coverage import CoverageStudy, coverage_study


@dataclass(frozen=True)
class BootstrapResult:
    """The per-parameter table (estimate, bias, se_boot, the percentile and basic intervals, n,
    failed, not_converged), the study behind it (every replicate's estimates) and the folder that
    keeps the replicates (call again on it to resume or extend)."""

    table: pd.DataFrame
    study: CoverageStudy
    level: float
    folder: Path


def parametric_bootstrap(
    fit,
    out=None,
    sims: int = 1000,
    seed: int = 0,
    workers: int | None = None,
    level: float = 0.95,
    progress: bool = True,
    executor=None,
) -> BootstrapResult:
    """Parametric bootstrap of ``fit`` (an ML fit, Laplace or AGQ with its number of points) in the
    folder ``out`` (module docstring); calling it again on the same folder resumes; without
    ``out``, a new temporary folder keeps the replicates (``result.folder``). ``workers``
    and ``executor`` (a Dask cluster's, say) as :func:`~.coverage.coverage_study`;
    ``fit.bootstrap(...)`` is the same."""
    check_float("level", level, 0.0, 1.0)
    spec = getattr(fit, "spec", None)
    if spec is None or not hasattr(fit, "optimization"):
        raise SpecError("parametric_bootstrap takes an ML fit made in this session (fit_ml(spec, ...))")
    if out is None:
        out = tempfile.mkdtemp(prefix="bayesglmm-bootstrap-")
    engine = "laplace" if fit.method == "laplace" else f"agq{fit.qpoints}"
    study = coverage_study(
        spec,
        out,
        [engine],
        sims=sims,
        truth=fit,
        seed=seed,
        workers=workers,
        progress=progress,
        executor=executor,
        start_at_truth=True,
    )
    return BootstrapResult(bootstrap_table(study, fit.params()["estimate"], level), study, level, Path(out))


@protocol.bootstrap.register
def _(fit: MLFit, sims: int = 1000, out=None, seed: int = 0, workers=None, level: float = 0.95, **options):
    return parametric_bootstrap(fit, out, sims, seed, workers, level, **options)


def bootstrap_table(study: CoverageStudy, estimates: pd.Series, level: float) -> pd.DataFrame:
    """The bootstrap summary of a study's replicates around the ``estimates`` (module docstring)."""
    replicates = study.replicates
    fitted = replicates[replicates["name"].notna()]
    failed = int(replicates.loc[replicates["name"].isna(), "replicate"].nunique())
    tail = (1.0 - level) / 2.0
    rows = []
    for name, estimate in estimates.items():
        rows_of = fitted[fitted["name"] == name]
        values = rows_of["estimate"].to_numpy(dtype=float)
        low, high = np.quantile(values, [tail, 1.0 - tail]) if values.size else (np.nan, np.nan)
        rows.append(
            {
                "name": name,
                "estimate": float(estimate),
                "bias": float(values.mean() - estimate) if values.size else np.nan,
                "se_boot": float(values.std(ddof=1)) if values.size > 1 else np.nan,
                "percentile_lower": float(low),
                "percentile_upper": float(high),
                "basic_lower": float(2.0 * estimate - high),
                "basic_upper": float(2.0 * estimate - low),
                "n": int(values.size),
                "failed": failed,
                "not_converged": int((~rows_of["converged"].astype(bool)).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("name")

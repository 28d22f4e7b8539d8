"""Frequentist check of the engines: simulate data sets from the model, refit, count coverage.

Replicate r draws a new response from the model at the true parameters
(:func:`bayesglmm.model.simulate.simulate_response`, design kept) with its own seed,
``SeedSequence([seed, r])``, so its data do not depend on which worker runs it
or on what ran before. Every requested engine is fitted to it and the
replicate's rows (engine, parameter, estimate, SE, interval) are kept by the
machinery every study shares (:mod:`.study_runner`: one file per replicate,
resumable, worker processes).

Per engine and parameter the table reports the mean estimate, bias, RMSE, the
mean SE next to the SD of the estimates, and the coverage of the 95% interval
with its Monte Carlo SE √(c(1 − c)/n).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..options import check_bool, check_int
from .engines import BAYESIAN_ENGINES, BayesSettings, fit_engine, parse_engines
from .study_runner import (
    check_folder,
    read_plan,
    release_compiled_programs,
    run_replicates,
    start_folder,
    valid_replicates,
)
from .table import fit_columns


@dataclass(frozen=True)
class StudyPlan:
    """Everything that determines a study's results; stored in ``out/study.json``."""

    formula: str
    family: str
    link: str
    nobs: int
    truth: dict
    engines: tuple[str, ...]
    sims: int
    seed: int
    bayes: BayesSettings
    start_at_truth: bool = False  # the ML refits start at the truth (the bootstrap's estimates)

    def to_json(self) -> dict:
        plan = asdict(self)
        plan["engines"], plan["bayes"] = list(self.engines), asdict(self.bayes)
        if not self.start_at_truth:  # as folders written before the option: they stay resumable
            del plan["start_at_truth"]
        return plan


def replicate_rows(spec, plan: StudyPlan, replicate: int) -> list[dict]:
    """Simulate replicate ``replicate`` and fit every engine: one row per (engine, parameter)."""
    from ..model.simulate import simulate_response

    seeds = np.random.SeedSequence([plan.seed, replicate])
    simulated = simulate_response(spec, plan.truth, np.random.default_rng(seeds))
    bayes = BayesSettings(**{**asdict(plan.bayes), "seed": int(seeds.generate_state(1)[0] >> 1)})  # sampler seed
    rows = []
    if any(engine in BAYESIAN_ENGINES for engine in plan.engines):
        release_compiled_programs()  # before this replicate's Bayesian fits: the last one's programs go
    for engine in plan.engines:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                start = plan.truth if plan.start_at_truth else None
                fit = fit_engine(simulated, engine, bayes, progress=False, start=start)
            except Exception as error:  # a failed fit is a result of the study: counted, not fatal
                rows.append(
                    {
                        "replicate": replicate,
                        "engine": engine,
                        "name": None,
                        "error": f"{type(error).__name__}: {error}",
                    }
                )
                continue
        converged = bool(getattr(fit, "converged", True)) and not getattr(fit, "divergences", 0)
        table = fit_columns(fit).table
        for name, values in table.iterrows():
            rows.append(
                {
                    "replicate": replicate,
                    "engine": engine,
                    "name": name,
                    "estimate": float(values["estimate"]),
                    "se": float(values["se"]),
                    "lower": float(values["lower"]),
                    "upper": float(values["upper"]),
                    "converged": converged,
                }
            )
    return rows


@dataclass
class CoverageStudy:
    """The study's plan, every replicate's rows and the summary table."""

    plan: StudyPlan
    replicates: pd.DataFrame  # one row per replicate, engine and parameter (errors have name None)
    table: pd.DataFrame  # per engine and parameter: truth, n, bias, RMSE, coverage, its MCSE

    def failures(self) -> pd.DataFrame:
        """Fits that raised an error or did not converge, one row per replicate and engine."""
        failed = self.replicates["name"].isna() | ~self.replicates["converged"]
        return self.replicates[failed].drop_duplicates(["replicate", "engine"])

    def to_dict(self) -> dict:
        table = self.table.reset_index()
        return {"plan": self.plan.to_json(), "table": json.loads(table.to_json(orient="records", double_precision=15))}

    def summary(self) -> str:
        from ..results.format import coverage_text

        return coverage_text(self)

    def plot(self, path=None) -> Figure:
        from .plots import coverage_plot

        return coverage_plot(self, path)


def summarise_replicates(replicates: pd.DataFrame, truth: Mapping) -> pd.DataFrame:
    """Bias, RMSE and 95%-interval coverage per engine and parameter.

    Every fit that returned estimates counts, converged or not (a boundary fit is still the
    estimate a user would get); ``not_converged`` says how many of the ``n`` did not converge
    and ``failed`` how many replicates raised an error instead (those are left out).
    """
    fitted = replicates[replicates["name"].notna()]
    failed = replicates[replicates["name"].isna()].groupby("engine")["replicate"].nunique()
    rows = []
    for (engine, name), group in fitted.groupby(["engine", "name"], sort=False):
        true = float(truth[name])
        error = group["estimate"] - true
        covered = ((group["lower"] <= true) & (true <= group["upper"])).to_numpy()
        n, coverage = len(group), covered.mean()
        rows.append(
            {
                "engine": engine,
                "name": name,
                "truth": true,
                "n": n,
                "not_converged": int((~group["converged"].astype(bool)).sum()),
                "failed": int(failed.get(engine, 0)),
                "mean": group["estimate"].mean(),
                "bias": error.mean(),
                "rmse": float(np.sqrt((error**2).mean())),
                "mean_se": group["se"].mean(),
                "sd_estimate": group["estimate"].std(ddof=1),
                "coverage": coverage,
                "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n)),
            }
        )
    return pd.DataFrame(rows).set_index(["engine", "name"])


def load_study(out) -> CoverageStudy:
    """Read a study folder (finished or not) and summarise the replicates it holds."""
    out = Path(out)
    plan_json = read_plan(out)
    plan = StudyPlan(
        **{**plan_json, "engines": tuple(plan_json["engines"]), "bayes": BayesSettings(**plan_json["bayes"])}
    )
    done = valid_replicates(out / "replicates", plan.sims)
    rows = [row for replicate in sorted(done) for row in done[replicate]]
    replicates = pd.DataFrame(
        rows, columns=["replicate", "engine", "name", "estimate", "se", "lower", "upper", "converged", "error"]
    )
    replicates["converged"] = replicates["converged"].fillna(False).astype(bool)
    return CoverageStudy(plan, replicates, summarise_replicates(replicates, plan.truth))


def coverage_study(
    spec,
    out,
    engines=("agq",),
    sims: int = 200,
    truth=None,
    seed: int = 0,
    workers: int | None = None,
    bayes: BayesSettings = BayesSettings(),
    progress: bool = True,
    executor=None,
    start_at_truth: bool = False,
) -> CoverageStudy:
    """Simulate ``sims`` data sets from ``spec``'s model at ``truth`` and fit each engine to each.

    Parameters
    ----------
    spec : the model and design to simulate from (its response is replaced).
    out : folder for the study's files; an interrupted study resumes from it.
    engines : engine names (:mod:`bayesglmm.compare.engines`), e.g. ``("laplace", "agq", "nuts")``.
    truth : parameter values in the common parameterisation (a mapping or a fit);
        default: the AGQ (automatic points) ML estimates of ``spec``.
    workers : processes (default: one per CPU core); 1 runs in this process.
    executor : instead of ``workers``, any :class:`concurrent.futures.Executor` to run the
        replicates on, e.g. a Dask cluster's ``distributed.Client(address).get_executor()``
        (docs/compare.md, "Studies on a cluster"); its workers write the replicate files, so
        ``out`` must be a folder they share.
    bayes : prior set and sampler lengths for Bayesian engines (its seed is not used: each
        replicate's sampler seed comes from ``seed`` and the replicate number).
    start_at_truth : the ML engines' refits start at ``truth`` instead of the GLM (``fit_ml``'s
        ``start``): the parametric bootstrap's warm start at the estimates.
    """
    from ..ml import fit_ml

    engines = parse_engines(engines)
    check_int("sims", sims, 1)
    check_int("seed", seed, 0)
    if workers is not None:
        check_int("workers", workers, 1)
    out = Path(out)
    check_bool("start_at_truth", start_at_truth)
    early = StudyPlan(
        spec.formula,
        spec.family.name,
        spec.family.link,
        spec.nobs,
        {},
        engines,
        int(sims),
        int(seed),
        bayes,
        start_at_truth,
    )
    check_folder(out, early.to_json(), ignore=("sims", "truth"))  # before the truth fit, which takes a while
    if truth is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            truth = fit_ml(spec, "agq", "auto")
    if not isinstance(truth, Mapping):
        truth = fit_columns(truth).table["estimate"]
    truth = {str(name): float(value) for name, value in dict(truth).items()}
    plan = StudyPlan(
        spec.formula,
        spec.family.name,
        spec.family.link,
        spec.nobs,
        truth,
        engines,
        int(sims),
        int(seed),
        bayes,
        start_at_truth,
    )
    folder = start_folder(out, plan.to_json())
    run_replicates(replicate_rows, (spec, plan), folder, sims, workers, progress, executor)
    return load_study(out)

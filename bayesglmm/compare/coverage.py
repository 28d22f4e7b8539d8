"""Frequentist check of the engines: simulate data sets from the model, refit, count coverage.

Replicate r draws a new response from the model at the true parameters
(:func:`bayesglmm.simulate.simulate_response`, design kept) with its own seed,
``SeedSequence([seed, r])``, so its data do not depend on which worker runs it
or on what ran before. Every requested engine is fitted to it and the
replicate's rows (engine, parameter, estimate, SE, interval) are written to
``out/replicates/rNNNNN.json`` the moment it finishes (written to a temporary
name and renamed, so a file is complete or absent). A study started again on
the same folder runs only the missing replicates; the final table is the same
as that of an uninterrupted run.

Per engine and parameter the table reports the mean estimate, bias, RMSE, the
mean SE next to the SD of the estimates, and the coverage of the 95% interval
with its Monte Carlo SE √(c(1 − c)/n).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SpecError
from .engines import BayesSettings, fit_engine, parse_engines
from .table import fit_columns

STUDY_FILE = "study.json"


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

    def to_json(self) -> dict:
        plan = asdict(self)
        plan["engines"], plan["bayes"] = list(self.engines), asdict(self.bayes)
        return plan


def replicate_rows(spec, plan: StudyPlan, replicate: int) -> list[dict]:
    """Simulate replicate ``replicate`` and fit every engine: one row per (engine, parameter)."""
    from ..simulate import simulate_response

    seeds = np.random.SeedSequence([plan.seed, replicate])
    simulated = simulate_response(spec, plan.truth, np.random.default_rng(seeds))
    bayes = BayesSettings(**{**asdict(plan.bayes), "seed": int(seeds.generate_state(1)[0] >> 1)})  # sampler seed
    rows = []
    for engine in plan.engines:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = fit_engine(simulated, engine, bayes, progress=False)
            except Exception as error:  # a failed fit is a result of the study: counted, not fatal
                rows.append({"replicate": replicate, "engine": engine, "name": None, "error": f"{type(error).__name__}: {error}"})
                continue
        converged = bool(getattr(fit, "converged", True)) and not getattr(fit, "divergences", 0)
        table = fit_columns(fit).table
        for name, values in table.iterrows():
            rows.append({"replicate": replicate, "engine": engine, "name": name, "estimate": float(values["estimate"]),
                         "se": float(values["se"]), "lower": float(values["lower"]), "upper": float(values["upper"]),
                         "converged": converged})
    return rows


def _run_and_write(spec, plan: StudyPlan, replicate: int, folder: Path) -> int:
    rows = replicate_rows(spec, plan, replicate)
    path = folder / f"r{replicate:05d}.json"
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(rows))
    os.replace(temporary, path)
    return replicate


def _start_folder(out: Path, plan: StudyPlan) -> Path:
    """Create ``out`` or check that it holds this study (same model, truth, engines, seed)."""
    folder = out / "replicates"
    folder.mkdir(parents=True, exist_ok=True)
    study_file = out / STUDY_FILE
    plan_json = plan.to_json()
    if study_file.exists():
        stored = json.loads(study_file.read_text())
        differing = sorted(key for key in plan_json if key != "sims" and stored.get(key) != plan_json[key])
        if differing:
            raise SpecError(
                f"{out} holds a different study (differs in {', '.join(differing)}); "
                "choose another output folder or delete it"
            )
    study_file.write_text(json.dumps(plan_json, indent=2))
    return folder


def _done(folder: Path, sims: int) -> set[int]:
    return {int(p.stem[1:]) for p in folder.glob("r*.json") if int(p.stem[1:]) < sims}


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

    def plot(self, path=None):
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
        rows.append({"engine": engine, "name": name, "truth": true, "n": n,
                     "not_converged": int((~group["converged"].astype(bool)).sum()), "failed": int(failed.get(engine, 0)),
                     "mean": group["estimate"].mean(), "bias": error.mean(), "rmse": float(np.sqrt((error**2).mean())),
                     "mean_se": group["se"].mean(), "sd_estimate": group["estimate"].std(ddof=1), "coverage": coverage,
                     "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n))})
    return pd.DataFrame(rows).set_index(["engine", "name"])


def load_study(out) -> CoverageStudy:
    """Read a study folder (finished or not) and summarise the replicates it holds."""
    out = Path(out)
    plan_json = json.loads((out / STUDY_FILE).read_text())
    plan = StudyPlan(**{**plan_json, "engines": tuple(plan_json["engines"]), "bayes": BayesSettings(**plan_json["bayes"])})
    files = sorted(p for p in (out / "replicates").glob("r*.json") if int(p.stem[1:]) < plan.sims)
    rows = [row for path in files for row in json.loads(path.read_text())]
    replicates = pd.DataFrame(rows, columns=["replicate", "engine", "name", "estimate", "se", "lower", "upper", "converged", "error"])
    replicates["converged"] = replicates["converged"].fillna(False).astype(bool)
    return CoverageStudy(plan, replicates, summarise_replicates(replicates, plan.truth))


def coverage_study(spec, out, engines=("agq",), sims: int = 200, truth=None, seed: int = 0, workers: int | None = None,
                   bayes: BayesSettings = BayesSettings(), progress: bool = True) -> CoverageStudy:
    """Simulate ``sims`` data sets from ``spec``'s model at ``truth`` and fit each engine to each.

    Parameters
    ----------
    spec : the model and design to simulate from (its response is replaced).
    out : folder for the study's files; an interrupted study resumes from it.
    engines : engine names (:mod:`bayesglmm.compare.engines`), e.g. ``("laplace", "agq", "nuts")``.
    truth : parameter values in the common parameterisation (a mapping or a fit);
        default: the AGQ (automatic points) ML estimates of ``spec``.
    workers : processes (default: one per CPU core); 1 runs in this process.
    bayes : prior set and sampler lengths for Bayesian engines (its seed is not used: each
        replicate's sampler seed comes from ``seed`` and the replicate number).
    """
    from ..ml import fit_ml

    engines = parse_engines(engines)
    if sims < 1:
        raise SpecError(f"sims must be at least 1, got {sims}")
    if truth is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            truth = fit_ml(spec, "agq", "auto")
    if not isinstance(truth, Mapping):
        truth = fit_columns(truth).table["estimate"]
    truth = {str(name): float(value) for name, value in dict(truth).items()}
    plan = StudyPlan(spec.formula, spec.family.name, spec.family.link, spec.nobs, truth, engines, int(sims), int(seed), bayes)
    out = Path(out)
    folder = _start_folder(out, plan)
    todo = sorted(set(range(sims)) - _done(folder, sims))
    workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
    bar = _progress_bar(len(todo), sims, progress)
    if workers == 1:
        for replicate in todo:
            _run_and_write(spec, plan, replicate, folder)
            bar.update()
    elif todo:
        # spawn, not fork: JAX's threads do not survive a fork
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_and_write, spec, plan, replicate, folder) for replicate in todo]
            for future in as_completed(futures):
                future.result()
                bar.update()
    bar.close()
    return load_study(out)


def _progress_bar(todo: int, sims: int, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=todo, desc=f"replicates ({sims - todo} of {sims} already done)", disable=not show or todo == 0)

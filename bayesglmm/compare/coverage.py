"""Frequentist check of the engines: simulate data sets from the model, refit, count coverage.

Replicate r draws a new response from the model at the true parameters
(:func:`bayesglmm.model.simulate.simulate_response`, design kept) with its own seed,
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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
from ..options import check_int
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
    from ..model.simulate import simulate_response

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


def _run_and_write(spec, plan: StudyPlan, replicate: int, folder: Path) -> int:
    rows = replicate_rows(spec, plan, replicate)
    path = folder / f"r{replicate:05d}.json"
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(rows))
    os.replace(temporary, path)
    return replicate


def _check_folder(out: Path, plan_json: dict, ignore=("sims",)) -> None:
    """Refuse a folder whose ``study.json`` holds another study (compared on the keys of ``plan_json``)."""
    study_file = out / STUDY_FILE
    if out.exists() and not out.is_dir():
        raise SpecError(f"{out} is a file; give a folder for the study")
    if not study_file.exists():
        return
    try:
        stored = json.loads(study_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise SpecError(f"{study_file} cannot be read ({error}); choose another output folder or delete it") from None
    differing = sorted(key for key in plan_json if key not in ignore and stored.get(key) != plan_json[key])
    if differing:
        raise SpecError(
            f"{out} holds a different study (differs in {', '.join(differing)}); "
            "choose another output folder or delete it"
        )


def _start_folder(out: Path, plan: StudyPlan) -> Path:
    """Create ``out`` or check that it holds this study (same model, truth, engines, seed)."""
    plan_json = plan.to_json()
    _check_folder(out, plan_json)
    folder = out / "replicates"
    folder.mkdir(parents=True, exist_ok=True)
    (out / STUDY_FILE).write_text(json.dumps(plan_json, indent=2))
    return folder


REPLICATE_FIELDS = {"replicate", "engine", "name"}


def _read_replicate(path: Path, replicate: int) -> list[dict] | None:
    """The rows of a replicate file, or None (with a warning naming it) when it is truncated, empty or
    not a replicate's rows: such a file is redone, never counted as done."""
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        reason = f"not valid JSON ({error.__class__.__name__}: {error})"
    else:
        if (
            isinstance(rows, list)
            and rows
            and all(
                isinstance(row, dict) and REPLICATE_FIELDS <= set(row) and row["replicate"] == replicate for row in rows
            )
        ):
            return rows
        reason = "not a list of this replicate's rows"
    warnings.warn(f"replicate file {path} is {reason}; it is redone", UserWarning, stacklevel=3)
    return None


def _valid_replicates(folder: Path, sims: int) -> dict[int, list[dict]]:
    """Every complete replicate below ``sims``: number -> rows (invalid files removed, to be redone)."""
    done = {}
    for path in sorted(folder.glob("r*.json")):
        if not path.stem[1:].isdigit() or int(path.stem[1:]) >= sims:
            continue
        rows = _read_replicate(path, int(path.stem[1:]))
        if rows is None:
            path.unlink(missing_ok=True)
        else:
            done[int(path.stem[1:])] = rows
    return done


def _done(folder: Path, sims: int) -> set[int]:
    return set(_valid_replicates(folder, sims))


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
    plan_json = json.loads((out / STUDY_FILE).read_text())
    plan = StudyPlan(
        **{**plan_json, "engines": tuple(plan_json["engines"]), "bayes": BayesSettings(**plan_json["bayes"])}
    )
    done = _valid_replicates(out / "replicates", plan.sims)
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
    bayes : prior set and sampler lengths for Bayesian engines (its seed is not used: each
        replicate's sampler seed comes from ``seed`` and the replicate number).
    """
    from ..ml import fit_ml

    engines = parse_engines(engines)
    check_int("sims", sims, 1)
    check_int("seed", seed, 0)
    if workers is not None:
        check_int("workers", workers, 1)
    out = Path(out)
    early = StudyPlan(
        spec.formula, spec.family.name, spec.family.link, spec.nobs, {}, engines, int(sims), int(seed), bayes
    )
    _check_folder(out, early.to_json(), ignore=("sims", "truth"))  # before the truth fit, which takes a while
    if truth is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            truth = fit_ml(spec, "agq", "auto")
    if not isinstance(truth, Mapping):
        truth = fit_columns(truth).table["estimate"]
    truth = {str(name): float(value) for name, value in dict(truth).items()}
    plan = StudyPlan(
        spec.formula, spec.family.name, spec.family.link, spec.nobs, truth, engines, int(sims), int(seed), bayes
    )
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
        with ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=exit_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = [pool.submit(_run_and_write, spec, plan, replicate, folder) for replicate in todo]
            for future in as_completed(futures):
                future.result()
                bar.update()
    bar.close()
    return load_study(out)


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this process when the study's main process dies (a SIGKILL gives the
    pool no chance to stop its workers, which would go on fitting). Linux's PR_SET_PDEATHSIG
    signals at once; elsewhere a daemon thread checks the parent every half second."""
    import threading
    import time

    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _progress_bar(todo: int, sims: int, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=todo, desc=f"replicates ({sims - todo} of {sims} already done)", disable=not show or todo == 0)

"""Latency: what a user waits for, compilation included (issue 23; prints a table, not a test).

    BAYESGLMM_DATA=../shared/data python benchmarks/latency.py [--skip-nuts]

Every case runs in a fresh process, first with an empty program cache, then again with the cache
that run left (``BAYESGLMM_CACHE`` pointed at a temporary folder; the user's cache is untouched):

(a) the README's first command, ``bayesglmm fit models/epilepsy.toml`` (AGQ, 50 points), as a
    whole process; beside it GLMMadaptive's (21 points) and glmmTMB's (Laplace) whole ``Rscript``
    processes for the same model when ``Rscript`` and the packages are there;
(b) the amenorrhea model's first fit by Laplace and by AGQ with the automatic number of points;
(c) in the process of (b), after its Laplace fit: a second formula (a term fewer), a 60% subset of
    the rows, a simulated replicate, and the switch from Laplace to 11-point AGQ;
(d) a first NUTS fit (marginal sampler, 1 chain) and a second one of another formula, each with
    the time until NUTS starts sampling (its programs compiled or read from the cache);
(e) for each, the number of XLA compilations (JAX's backend compile events less its cache hits).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

R_ANCHORS = {
    "GLMMadaptive AGQ 21 points (Rscript)": """
suppressMessages(library(GLMMadaptive))
d <- read.csv("{csv}")
m <- mixed_model(y ~ time + trt + trt:time + offset(t), random = ~ time | id, data = d,
                 family = poisson(), nAGQ = 21)
cat(logLik(m), "\\n")
""",
    "glmmTMB Laplace (Rscript)": """
suppressMessages(library(glmmTMB))
d <- read.csv("{csv}")
m <- glmmTMB(y ~ time + trt + trt:time + offset(t) + (1 + time | id), data = d, family = poisson)
cat(logLik(m), "\\n")
""",
}

CASES = """
import json, sys, time, warnings
started = time.perf_counter()
import jax
backend, hits, preparing = [], [], []  # backend compile events (a cache hit fires one too), cache
def on_duration(event, seconds, **_):  # hits, and the durations of tracing, lowering, compiling or loading
    if event.startswith("/jax/core/compile/"):
        preparing.append(seconds)
        if event == "/jax/core/compile/backend_compile_duration":
            backend.append(seconds)
def on_event(event, **_):
    if event == "/jax/compilation_cache/cache_hits":
        hits.append(1)
def compilations():  # XLA compilations so far: backend compile events less cache hits
    return len(backend) - len(hits)
jax.monitoring.register_event_duration_secs_listener(on_duration)
jax.monitoring.register_event_listener(on_event)
from bayesglmm import ModelSpec, datasets, fit_ml, simulate
warnings.simplefilter("ignore")
rows = []
def timed(label, run):
    n, t = compilations(), time.perf_counter()
    run()
    rows.append((label, time.perf_counter() - t, compilations() - n))
kind = sys.argv[1]
formula = "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)"
amen = datasets.load("amenorrhea")
spec = ModelSpec.from_formula(formula, amen, "bernoulli")
if kind == "ml":
    rows.append(("(import and data)", time.perf_counter() - started, compilations()))
    timed("(b) amenorrhea Laplace, first fit", lambda: fit_ml(spec, "laplace"))
    fewer = ModelSpec.from_formula("y ~ time + time2 + trt:time + (1 + time | id)", amen, "bernoulli")
    timed("(c) second formula (a term fewer), Laplace", lambda: fit_ml(fewer, "laplace"))
    subset = ModelSpec.from_formula(formula, amen.sample(frac=0.6, random_state=1), "bernoulli")
    timed("(c) 60% subset of the rows, Laplace", lambda: fit_ml(subset, "laplace"))
    fit = fit_ml(spec, "laplace")
    truth = fit.params()["estimate"].to_dict()
    design = amen.dropna(subset=["y"]).drop(columns="y")  # the fitted rows: the same design
    def replicate():
        data = simulate(formula, truth, design, seed=7, family="bernoulli")
        fit_ml(ModelSpec.from_formula(formula, data, "bernoulli"), "laplace")
    timed("(c) simulated replicate, Laplace", replicate)
    timed("(c) Laplace -> AGQ 11 points", lambda: fit_ml(spec, "agq", 11))
elif kind == "agq-auto":
    timed("(b) amenorrhea AGQ auto points, first fit", lambda: fit_ml(spec, "agq", "auto"))
elif kind == "nuts":
    from numpyro.infer import MCMC
    from bayesglmm.bayes import fit_bayes
    sampling_started = []
    run = MCMC.run
    def run_marked(self, *args, **kwargs):
        # NUTS iterates once its start and loop programs are traced, lowered and compiled or read
        # from the cache: the time of those steps inside MCMC.run is added to when it is entered
        entered, before = time.perf_counter(), len(preparing)
        out = run(self, *args, **kwargs)
        sampling_started.append(entered + sum(preparing[before:]))
        return out
    MCMC.run = run_marked
    options = dict(sampler="marginal", chains=1, warmup=100, draws=100, progress=False, predictive=False)
    def nuts(label, model):
        n, t = compilations(), time.perf_counter()
        fit_bayes(model, **options)
        rows.append((label, time.perf_counter() - t, compilations() - n))
        rows.append(("    of which until sampling starts", sampling_started[-1] - t, "-"))
    nuts("(d) first NUTS fit (marginal, 1 x 200 iterations)", spec)
    fewer = ModelSpec.from_formula("y ~ time + time2 + trt:time + (1 + time | id)", amen, "bernoulli")
    nuts("(d) second NUTS fit, another formula (a term fewer)", fewer)
print("ROWS" + json.dumps(rows))
"""


def _environment(cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR",)}
    env["BAYESGLMM_CACHE"] = str(cache)
    env.setdefault("BAYESGLMM_DATA", str(ROOT.parent / "shared" / "data"))
    return env


def _whole_process(command, env, cwd=ROOT) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{done.stderr[-2000:]}")
    return seconds


def _cases(kind: str, env) -> list:
    done = subprocess.run([sys.executable, "-c", CASES, kind], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(line for line in done.stdout.splitlines() if line.startswith("ROWS"))
    return json.loads(line[4:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-nuts", action="store_true")
    args = parser.parse_args()
    table: list[tuple[str, str, float, int | str]] = []
    with tempfile.TemporaryDirectory() as folder:
        for state in ("empty cache", "warm cache"):
            cache = Path(folder) / "cache"
            if state == "empty cache":
                shutil.rmtree(cache, ignore_errors=True)
            env = _environment(cache)
            bayesglmm = str(Path(sys.executable).with_name("bayesglmm"))
            seconds = _whole_process([bayesglmm, "fit", "models/epilepsy.toml", "--quiet"], env)
            table.append(("(a) bayesglmm fit models/epilepsy.toml (whole process)", state, seconds, "-"))
            kinds = ["ml", "agq-auto"] + ([] if args.skip_nuts else ["nuts"])
            for kind in kinds:
                table += [(label, state, s, n) for label, s, n in _cases(kind, env)]
        if shutil.which("Rscript"):
            csv = Path(folder) / "epilepsy.csv"
            code = f"from bayesglmm import datasets; datasets.load_epilepsy().to_csv({str(csv)!r}, index=False)"
            subprocess.run([sys.executable, "-c", code], env=_environment(Path(folder) / "c"), check=True)
            for label, script in R_ANCHORS.items():
                try:
                    seconds = _whole_process(["Rscript", "-e", script.replace("{csv}", str(csv))], os.environ)
                    table.append((f"(a) {label}", "-", seconds, "-"))
                except RuntimeError as error:
                    print(f"skipped {label}: {str(error).splitlines()[-1]}")
        else:
            print("Rscript not found: the R anchors are skipped")
    print(f"\n{'case':<58} {'cache':<12} {'seconds':>8} {'compiles':>9}")
    for label, state, seconds, compiles in table:
        print(f"{label:<58} {state:<12} {seconds:8.2f} {compiles!s:>9}")


if __name__ == "__main__":
    main()

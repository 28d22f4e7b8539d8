"""Speed of the ML engine on the seed analyses (prints seconds; not a test).

    BAYESGLMM_DATA=../shared/data python benchmarks/ml_speed.py

Targets (issue 3, this 2-core machine): amenorrhea Laplace <= 0.3 s and 11-point
AGQ <= 1 s after JIT warm-up; epilepsy 50-point AGQ <= 1 s; a first call
including compilation <= 10 s; the whole `bayesglmm fit` command for the
amenorrhea Laplace fit, run a second time, <= 2.2 s (glmmTMB's Rscript).
References: glmmTMB Laplace 1.1 s, lme4 6.2 s, GLMMadaptive 11-point AGQ 23 s.
Issue 21: the NB2 epilepsy AGQ-50 warm fit within 1.5x the Poisson one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_and_warm(label, fit, repeats=5):
    started = time.perf_counter()
    result = fit()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - started)
    print(
        f"{label:<34} first call {first:7.2f} s   warm median {statistics.median(times):6.3f} s   loglik {result.loglik:.4f}"
    )


def in_process():
    from bayesglmm import ModelSpec, datasets, fit_ml

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        amen = ModelSpec.from_formula(
            "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)", datasets.load_amenorrhea(), "bernoulli"
        )
        epi = ModelSpec.from_formula(
            "y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy(), "poisson"
        )
    _first_and_warm("amenorrhea Laplace", lambda: fit_ml(amen, "laplace"))
    _first_and_warm("amenorrhea AGQ 11 points", lambda: fit_ml(amen, "agq", 11, empirical=True))
    _first_and_warm("epilepsy Laplace", lambda: fit_ml(epi, "laplace"))
    _first_and_warm("epilepsy AGQ 50 points", lambda: fit_ml(epi, "agq", 50, empirical=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NB2's fit is singular (correlation +1) and says so
        nb2 = ModelSpec.from_formula(
            "y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy(), "nbinom2"
        )
        _first_and_warm("epilepsy NB2 Laplace", lambda: fit_ml(nb2, "laplace"))
        _first_and_warm("epilepsy NB2 AGQ 50 points", lambda: fit_ml(nb2, "agq", 50, empirical=True))


def whole_command():
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "BAYESGLMM_CACHE": cache}
        command = [
            sys.executable,
            "-m",
            "bayesglmm.cli",
            "fit",
            str(ROOT / "models" / "amenorrhea.toml"),
            "--method",
            "laplace",
            "--quiet",
        ]
        for run in ("first (empty cache)", "second", "third"):
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
            print(f"bayesglmm fit amenorrhea Laplace, {run:<20} {time.perf_counter() - started:6.2f} s (whole command)")


if __name__ == "__main__":
    in_process()
    whole_command()

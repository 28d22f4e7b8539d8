"""Coverage studies of the ML engine (issue 6's frequentist check; issue 21's for NB2 and Beta).

    python benchmarks/coverage.py [--design bernoulli|nb2|beta|zinb] [--engines agq7] [--sims 200]
                                  [--out /tmp/bayesglmm-coverage] [--workers 2]

``bernoulli``: 100 subjects x 4 visits, half treated, y ~ time + trt:time + (1 + time | id) with
intercept -0.5, time 0.3, time:trt 0.4, SDs 1.0 and 0.5, correlation 0.3.  ``nb2``, ``beta``,
``zinb``: 60 subjects x 5 visits, half treated, y ~ time + trt + (1 | id) (truths in DESIGNS).
Prints the coverage table (95% Wald intervals from the model-based SEs) and the seconds.  The
target: coverage of the fixed effects within [0.91, 0.98].  The study resumes from --out if it
is interrupted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bayesglmm import ModelSpec
from bayesglmm.compare import coverage_study

TRUTH = {
    "beta[(Intercept)]": -0.5,
    "beta[time]": 0.3,
    "beta[time:trt]": 0.4,
    "sd[id,(Intercept)]": 1.0,
    "sd[id,time]": 0.5,
    "corr[id,(Intercept),time]": 0.3,
}


def _small_design(family: str, placeholder, zi=None, n_groups: int = 60, visits: int = 5) -> ModelSpec:
    """y ~ time + trt + (1 | id) on n_groups x visits rows (time 0..1, half the subjects treated)."""
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_groups), visits),
            "time": np.tile(np.linspace(0, 1, visits), n_groups),
            "trt": np.repeat(np.arange(n_groups) % 2, visits),
            "y": np.resize(placeholder, n_groups * visits),
        }
    )
    return ModelSpec.from_formula("y ~ time + trt + (1 | id)", frame, family, zi=zi)


SMALL = {"beta[(Intercept)]": 0.5, "beta[time]": 0.4, "beta[trt]": -0.4, "sd[id,(Intercept)]": 0.6}
DESIGNS = {  # name -> (spec builder, truth)
    "nb2": (lambda: _small_design("nbinom2", [0, 1, 2, 5]), {**SMALL, "shape": 2.0}),
    "beta": (
        lambda: _small_design("beta", [0.2, 0.5, 0.7]),
        {**SMALL, "beta[(Intercept)]": -0.5, "sd[id,(Intercept)]": 0.4, "phi": 10.0},
    ),
    "zinb": (
        lambda: _small_design("nbinom2", [0, 1, 2, 5], zi="~ trt"),
        {**SMALL, "shape": 2.0, "zi[(Intercept)]": -1.0, "zi[trt]": 0.5},
    ),
}


def design(n_groups: int = 100, visits: int = 4) -> ModelSpec:
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_groups), visits),
            "time": np.tile(np.arange(visits), n_groups),
            "trt": np.repeat(np.arange(n_groups) % 2, visits),
            "y": np.tile([0, 1], n_groups * visits // 2),
        }
    )
    return ModelSpec.from_formula("y ~ time + trt:time + (1 + time | id)", frame, "bernoulli")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="agq7")
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--out", default="/tmp/bayesglmm-coverage")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--design", default="bernoulli", choices=["bernoulli", *DESIGNS])
    args = parser.parse_args()
    spec, truth = (
        (design(), TRUTH) if args.design == "bernoulli" else (DESIGNS[args.design][0](), DESIGNS[args.design][1])
    )
    started = time.perf_counter()
    study = coverage_study(
        spec, args.out, args.engines.split(","), sims=args.sims, truth=truth, seed=args.seed, workers=args.workers
    )
    print(study.summary())
    print(f"{time.perf_counter() - started:.0f} s for {args.sims} replicates ({args.workers} workers)")


if __name__ == "__main__":
    main()

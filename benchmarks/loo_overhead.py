"""What the leave-one-group-out variable (``log_likelihood["y_marginal"]``) adds to a full-latent fit.

    BAYESGLMM_DATA=../shared/data python benchmarks/loo_overhead.py [--model epilepsy] [--repeats 2]

Each case is a fresh process: the full-latent sampler, brms-style priors, 4 chains x 1000 draws
after 1000 warm-up, ``group_loglik`` off and on, first with an empty program cache
(``BAYESGLMM_CACHE`` pointed at a new folder), then again with that folder warm.  Prints the whole
``fit_bayes`` time (sampling, predictive draws, ArviZ conversion and, when on, the group
log-likelihoods) and the overhead.  Target (issue 22): at most +20%.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = """
import time, warnings
from bayesglmm.bayes import fit_bayes, set_cpu_devices
set_cpu_devices(4)
from bayesglmm import ModelSpec, datasets
MODELS = {{
    "amenorrhea": ("y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)", datasets.load_amenorrhea, "bernoulli"),
    "epilepsy": ("y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy, "poisson"),
}}
formula, load, family = MODELS["{model}"]
spec = ModelSpec.from_formula(formula, load(), family)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    fit_bayes(spec, "brms_proper", sampler="full", chains=4, draws=1000, seed=0, progress=False,
              group_loglik={group_loglik})
print(time.perf_counter() - started)
"""


def _run(model: str, group_loglik: bool, cache: str) -> float:
    env = {**os.environ, "BAYESGLMM_CACHE": cache}
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(model=model, group_loglik=group_loglik)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="epilepsy")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for label in ("empty", "warm"):
        times = {False: [], True: []}
        for _ in range(args.repeats):
            for on in (False, True):
                if label == "empty":
                    with tempfile.TemporaryDirectory() as folder:
                        times[on].append(_run(args.model, on, folder))
                else:
                    times[on].append(_run(args.model, on, WARM))
        off, on = min(times[False]), min(times[True])
        print(
            f"{args.model:<11} {label:<5} cache: group_loglik off {off:5.1f} s, on {on:5.1f} s, "
            f"overhead {100 * (on / off - 1):+5.1f}%  (runs: off {times[False]}, on {times[True]})",
            flush=True,
        )


WARM = tempfile.mkdtemp(prefix="bayesglmm-loo-overhead-")

if __name__ == "__main__":
    # warm the shared folder once with both settings before the warm-cache runs
    for on in (False, True):
        _run(os.environ.get("LOO_MODEL", "epilepsy"), on, WARM)
    main()

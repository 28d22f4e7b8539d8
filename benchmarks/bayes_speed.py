"""Full-latent NUTS on the seed models: seconds and ESS per second of the slowest parameter.

    BAYESGLMM_DATA=../shared/data python benchmarks/bayes_speed.py

4 chains x 1000 warm-up + 1000 draws, chains in parallel over CPU devices; the seconds
include compilation (targets, issue 4: >= 3 ESS/s on amenorrhea, >= 20 on epilepsy; brms,
counting its compilation, reaches 1.3 and 9.9).
"""

from __future__ import annotations

import time
import warnings

from bayesglmm.bayes import fit_bayes, set_cpu_devices

set_cpu_devices(4)

from bayesglmm import ModelSpec, datasets  # noqa: E402

MODELS = {
    "amenorrhea": ("y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)", datasets.load_amenorrhea, "bernoulli"),
    "epilepsy": ("y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy, "poisson"),
}


def main():
    for name, (formula, load, family) in MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = ModelSpec.from_formula(formula, load(), family)
            started = time.perf_counter()
            fit = fit_bayes(spec, "brms", chains=4, warmup=1000, draws=1000, seed=0, progress=False, predictive=False)
            wall = time.perf_counter() - started
        table = fit.params()
        slowest = table["ess_bulk"].idxmin()
        print(
            f"{name:<11} full-latent NUTS: {fit.seconds:6.1f} s sampling incl. compilation ({wall:.1f} s with ArviZ), "
            f"min bulk ESS {table['ess_bulk'].min():6.0f} ({slowest}), {table['ess_bulk'].min() / fit.seconds:5.2f} ESS/s, "
            f"max R-hat {table['r_hat'].max():.3f}, divergences {fit.divergences}"
        )


if __name__ == "__main__":
    main()

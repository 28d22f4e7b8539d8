"""Parametric bootstrap of the seed's epilepsy Poisson fit (issue 24): bootstrap SEs against the
model-based SEs, and the seconds.

    BAYESGLMM_DATA=../shared/data python benchmarks/bootstrap.py [--sims 1000] [--workers 2]
                                                                 [--out /tmp/bayesglmm-bootstrap]

Target: the bootstrap SE of each fixed effect within 10% of its model-based SE. Resumes from --out.
"""

from __future__ import annotations

import argparse
import time
import warnings

from bayesglmm import ModelSpec, datasets, fit_ml
from bayesglmm.compare import parametric_bootstrap


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="/tmp/bayesglmm-bootstrap")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ModelSpec.from_formula(
            "y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy(), "poisson"
        )
        fit = fit_ml(spec, "laplace")
    started = time.perf_counter()
    result = parametric_bootstrap(fit, args.out, sims=args.sims, workers=args.workers, progress=False)
    seconds = time.perf_counter() - started
    table = result.table.join(fit.params()[["se"]])
    table["se_ratio"] = table["se_boot"] / table["se"]
    columns = ["estimate", "bias", "se", "se_boot", "se_ratio", "percentile_lower", "percentile_upper", "n", "failed"]
    print(table[columns].round(4).to_string())
    print(f"{seconds:.0f} s for {args.sims} replicates ({args.workers} workers)")


if __name__ == "__main__":
    main()

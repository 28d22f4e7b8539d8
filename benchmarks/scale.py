"""Laplace ML fits as the data grow: seconds and peak memory per size (issue 9).

    python benchmarks/scale.py [--sizes 2000,20000,100000] [--visits 5] [--method laplace] [--chunks K] [--devices D]
                               [--cache DIR]

Simulated Bernoulli data, y ~ time + trt:time + (1 + time | id), groups x visits rows
(glmmTMB on this 2-core machine: 20,000 x 5 in 23.5 s, 100,000 x 5 in 156.5 s). Each size
runs in its own process so its peak resident memory is its own; the seconds are the whole
fit, compilation included, and the spec construction is timed apart.  With ``--cache DIR`` each size
runs twice, in two processes with the on-disk program cache in DIR (as the command-line interface
keeps it, :func:`bayesglmm._jax.enable_compilation_cache`): the first compiles and fills it, the
second reads the compiled programs back, as a repeated fit of data of the same shape would.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

TRUTH = {
    "beta[(Intercept)]": -1.0,
    "beta[time]": 0.3,
    "beta[time:trt]": 0.4,
    "sd[id,(Intercept)]": 1.5,
    "sd[id,time]": 0.4,
    "corr[id,(Intercept),time]": 0.2,
}


def one_size(n_groups: int, visits: int, method: str, chunks: int | None, devices: int, cache: str | None) -> dict:
    import warnings

    if devices > 1:  # CPU host devices, before JAX's first computation
        from bayesglmm.bayes import set_cpu_devices

        set_cpu_devices(devices)

    import numpy as np
    import pandas as pd

    from bayesglmm import ModelSpec, fit_ml, simulate_response

    if cache:
        from bayesglmm._jax import enable_compilation_cache

        enable_compilation_cache(cache)

    started = time.perf_counter()
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_groups), visits),
            "time": np.tile(np.arange(visits) / visits, n_groups),
            "trt": np.repeat(np.arange(n_groups) % 2, visits),
            "y": np.tile([0, 1], n_groups * visits // 2 + 1)[: n_groups * visits],
        }
    )
    spec = simulate_response(
        ModelSpec.from_formula("y ~ time + trt:time + (1 + time | id)", frame, "bernoulli"), TRUTH, 1
    )
    spec_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_ml(spec, method, None if method == "laplace" else "auto", chunks=chunks)
    return {
        "rows": spec.nobs,
        "groups": n_groups,
        "spec_seconds": spec_seconds,
        "fit_seconds": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "converged": fit.converged,
        "estimates": {k: float(v) for k, v in fit.params()["estimate"].items()},
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,20000,100000", help="numbers of groups")
    parser.add_argument("--visits", type=int, default=5)
    parser.add_argument("--method", default="laplace")
    parser.add_argument(
        "--chunks", type=int, help="chunks of groups (default: one per GPU, about 65,000 rows each on CPU)"
    )
    parser.add_argument("--devices", type=int, default=1, help="CPU host devices to expose (sharding on CPU)")
    parser.add_argument("--cache", help="program cache folder: each size runs twice, the second from the cache")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.visits, args.method, args.chunks, args.devices, args.cache)))
        return
    for n_groups in map(int, args.sizes.split(",")):
        extra = ["--devices", str(args.devices)] + (["--chunks", str(args.chunks)] if args.chunks else [])
        for label in ["compile, fill the cache", "from the cache"] if args.cache else [None]:
            run = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    str(n_groups),
                    "--visits",
                    str(args.visits),
                    "--method",
                    args.method,
                    *extra,
                    *(["--cache", args.cache] if args.cache else []),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(run.stdout.strip().splitlines()[-1])
            print(
                f"{result['rows']:>8} rows {result['groups']:>7} groups: fit {result['fit_seconds']:7.1f} s "
                f"(spec {result['spec_seconds']:5.1f} s), peak RSS {result['peak_rss_mb']:7.0f} MB, "
                f"converged {result['converged']}, sd(Intercept) {result['estimates']['sd[id,(Intercept)]']:.3f}"
                + (f"  [{label}]" if label else "")
            )


if __name__ == "__main__":
    main()

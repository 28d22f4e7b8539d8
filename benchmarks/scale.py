"""Laplace ML fits as the data grow: seconds and peak memory per size (issues 9 and 25).

    python benchmarks/scale.py [--sizes 2000,20000,100000] [--visits 5] [--method laplace] [--chunks K] [--devices D]
                               [--cache DIR]
    python benchmarks/scale.py --crossed [--crossed-sizes 2000x200,10000x1000,100000x10000] [--slopes]
    python benchmarks/scale.py --nested [--nested-sizes 2000x5x10,20000x5x10]
    python benchmarks/scale.py --crossed --bayes   # the full-latent program's gradient per crossed size

``--crossed``: simulated Bernoulli ``y ~ x + (1 | subj) + (1 | item)`` (``--slopes``:
``(1 + x | subj) + (1 | item)``), each subject seeing 10 distinct items; per size the first fit
and a refit in one process (the refit runs the compiled programs again: the algorithm's cost), its
peak memory, and glmmTMB's fit of the same data (written to CSV) when ``Rscript`` is on the PATH.
``--nested``: Bernoulli ``y ~ x + (1 | school/class)``, schools x classes per school x pupils per class.

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


CROSSED_TRUTH = {
    "beta[(Intercept)]": -0.5,
    "beta[x]": 0.5,
    "sd[subj,(Intercept)]": 1.0,
    "sd[subj,x]": 0.3,
    "corr[subj,(Intercept),x]": 0.2,
    "sd[item,(Intercept)]": 0.5,
}


def crossed_formula(slopes: bool) -> str:
    return f"y ~ x + ({'1 + x' if slopes else '1'} | subj) + (1 | item)"


NESTED_FORMULA = "y ~ x + (1 | school/class)"


def nested_frame(n_schools: int, classes: int, pupils: int):
    import numpy as np
    import pandas as pd

    from bayesglmm import simulate

    rng = np.random.default_rng(1)
    rows = n_schools * classes * pupils
    design = pd.DataFrame(
        {
            "school": np.repeat(np.arange(n_schools), classes * pupils),
            "class": np.tile(np.repeat(np.arange(classes), pupils), n_schools),
            "x": rng.normal(size=rows),
        }
    )
    truth = {
        "beta[(Intercept)]": -0.5,
        "beta[x]": 0.5,
        "sd[school,(Intercept)]": 0.8,
        "sd[school:class,(Intercept)]": 0.5,
    }
    return simulate(NESTED_FORMULA, truth, design, seed=2)


def crossed_frame(n_subjects: int, n_items: int, slopes: bool):
    """Each subject sees 10 distinct items at random; y drawn from the model at CROSSED_TRUTH."""
    import numpy as np
    import pandas as pd

    from bayesglmm import simulate

    rng = np.random.default_rng(1)
    items = rng.integers(0, n_items, (n_subjects, 10))  # redraw the subjects that drew an item twice
    for _ in range(1000):
        repeated = np.any(np.diff(np.sort(items, axis=1), axis=1) == 0, axis=1)
        if not repeated.any():
            break
        items[repeated] = rng.integers(0, n_items, (int(repeated.sum()), 10))
    design = pd.DataFrame(
        {"subj": np.repeat(np.arange(n_subjects), 10), "item": items.reshape(-1), "x": rng.normal(size=10 * n_subjects)}
    )
    params = {k: v for k, v in CROSSED_TRUTH.items() if slopes or ",x]" not in k}
    return simulate(crossed_formula(slopes), params, design, seed=2)


def one_crossed(size: str, slopes: bool, csv: str | None) -> dict:
    """First fit and refit of one crossed (``SUBJECTSxITEMS``) or nested (``SCHOOLSxCLASSESxPUPILS``) size."""
    import warnings

    from bayesglmm import ModelSpec, SpecError, fit_ml

    numbers = list(map(int, size.split("x")))
    if len(numbers) == 3:
        frame, formula = nested_frame(*numbers), NESTED_FORMULA
    else:
        frame, formula = crossed_frame(*numbers, slopes), crossed_formula(slopes)
    if csv:
        frame.to_csv(csv, index=False)
    spec = ModelSpec.from_formula(formula, frame, "bernoulli")
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_ml(spec)
        except SpecError as error:
            return {"rows": spec.nobs, "refused": str(error)}
        seconds.append(time.perf_counter() - started)
    return {
        "rows": spec.nobs,
        "first": seconds[0],
        "refit": seconds[1],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loglik": fit.loglik,
        "converged": fit.converged,
    }


def full_latent_gradient(sizes: str) -> None:
    """Milliseconds per gradient of the full-latent NUTS program's potential (the sampler's unit
    of work: one per leapfrog step) on each crossed size, after compilation, mean of 20."""
    import jax
    from numpyro.infer.util import initialize_model

    from bayesglmm import ModelSpec
    from bayesglmm.bayes.program import compile_program

    for size in sizes.split(","):
        n_subjects, n_items = map(int, size.split("x"))
        spec = ModelSpec.from_formula(crossed_formula(False), crossed_frame(n_subjects, n_items, False), "bernoulli")
        program = compile_program(spec)
        start = initialize_model(jax.random.PRNGKey(0), program.model, model_kwargs=program.data)
        gradient = jax.jit(jax.grad(start.potential_fn))
        jax.block_until_ready(gradient(start.param_info.z))
        started = time.perf_counter()
        for _ in range(20):
            value = gradient(start.param_info.z)
        jax.block_until_ready(value)
        milliseconds = (time.perf_counter() - started) / 20 * 1e3
        print(f"{spec.nobs:>9} rows {size:>14}: full-latent gradient {milliseconds:7.2f} ms", flush=True)


GLMMTMB_SCRIPT = """
args <- commandArgs(TRUE)
suppressMessages(library(glmmTMB))
d <- read.csv(args[1])
for (v in intersect(c("subj", "item", "school", "class"), names(d))) d[[v]] <- factor(d[[v]])
t <- system.time(f <- glmmTMB(as.formula(args[2]), d, family = binomial))
cat(sprintf("%.3f %.6f\n", t[["elapsed"]], logLik(f)))
"""


def crossed_main(sizes: str, slopes: bool, nested: bool = False) -> None:
    import os
    import shutil
    import tempfile

    rscript = shutil.which("Rscript")
    with tempfile.TemporaryDirectory() as folder:
        script = os.path.join(folder, "glmmtmb.R")
        with open(script, "w") as handle:
            handle.write(GLMMTMB_SCRIPT)
        for size in sizes.split(","):
            csv = os.path.join(folder, "data.csv") if rscript else None
            command = [sys.executable, __file__, "--one-crossed", size, *(["--slopes"] if slopes else [])]
            run = subprocess.run([*command, *(["--csv", csv] if csv else [])], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{size}: failed\n{run.stderr[-2000:]}")
                continue
            result = json.loads(run.stdout.strip().splitlines()[-1])
            label = f"{result['rows']:>9} rows {size.replace('x', ' x '):>20}"
            if "refused" in result:
                print(f"{label}: refused before compiling: {result['refused']}")
                continue
            line = (
                f"{label}: first fit {result['first']:6.1f} s, refit {result['refit']:6.1f} s, "
                f"peak RSS {result['peak_rss_mb']:6.0f} MB, logLik {result['loglik']:.4f}"
            )
            if rscript:
                r = subprocess.run(
                    [rscript, script, csv, NESTED_FORMULA if nested else crossed_formula(slopes)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                tmb_seconds, tmb_loglik = map(float, r.stdout.split())
                line += (
                    f" | glmmTMB fit {tmb_seconds:6.1f} s (logLik {tmb_loglik:.4f}); "
                    f"refit/glmmTMB {result['refit'] / tmb_seconds:.2f}, first/glmmTMB {result['first'] / tmb_seconds:.2f}"
                )
            print(line, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--crossed", action="store_true", help="subjects x items crossed designs (issue 25)")
    parser.add_argument("--crossed-sizes", default="2000x200,10000x1000,100000x10000")
    parser.add_argument("--slopes", action="store_true", help="a random slope of x by subject")
    parser.add_argument("--nested", action="store_true", help="pupils in classes in schools (issue 25)")
    parser.add_argument("--bayes", action="store_true", help="with --crossed: the full-latent program's gradient")
    parser.add_argument("--nested-sizes", default="2000x5x10,20000x5x10")
    parser.add_argument("--one-crossed", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
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
    if args.one_crossed:
        print(json.dumps(one_crossed(args.one_crossed, args.slopes, args.csv)))
        return
    if args.crossed and args.bayes:
        full_latent_gradient(args.crossed_sizes)
        return
    if args.crossed or args.nested:
        crossed_main(args.nested_sizes if args.nested else args.crossed_sizes, args.slopes, args.nested)
        return
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

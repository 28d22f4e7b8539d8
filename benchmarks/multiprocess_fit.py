"""One ML fit in one process against the same fit split over two processes (JAX multi-process,
Gloo collectives; :mod:`bayesglmm.distributed`): wall time and each process's peak memory.

    python benchmarks/multiprocess_fit.py [--groups 20000] [--per-group 10] [--method agq] [--qpoints 15]

Simulated Bernoulli data ``y ~ x + (1 + x | g)``; the fit uses 4 chunks (2 per process).  Both
processes run on this machine, so on a 2-core machine they share its cores: the gain to expect
here is memory per process (each holds half of the chunks' rows x nodes arrays), not speed; on
two machines each brings its own cores and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time, warnings
from bayesglmm import distributed
processes, index, port, groups, per_group, method, qpoints = sys.argv[1:8]
if int(processes) > 1:
    distributed.initialize(f"127.0.0.1:{port}", int(processes), int(index))
import numpy as np, pandas as pd
from bayesglmm import ModelSpec, fit_ml
rng = np.random.default_rng(0)
groups, per_group = int(groups), int(per_group)
g = np.repeat(np.arange(groups), per_group)
x = rng.normal(size=g.size)
b = rng.multivariate_normal([0, 0], [[0.6, 0.1], [0.1, 0.2]], groups)
eta = -0.4 + 0.7 * x + b[g, 0] + b[g, 1] * x
spec = ModelSpec.from_formula("y ~ x + (1 + x | g)", pd.DataFrame({"g": g, "x": x, "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))}), "bernoulli")
started = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = fit_ml(spec, method, int(qpoints) if method == "agq" else None, chunks=4)
print("RESULT " + json.dumps({"seconds": time.perf_counter() - started, "loglik": fit.loglik,
      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
"""


def _run(processes: int, args) -> list[dict]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    launched = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(processes),
                str(i),
                str(port),
                str(args.groups),
                str(args.per_group),
                args.method,
                str(args.qpoints),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    results = []
    for process in launched:
        out, err = process.communicate()
        if process.returncode:
            raise SystemExit(err[-3000:])
        results.append(json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=20000)
    parser.add_argument("--per-group", type=int, default=10)
    parser.add_argument("--method", default="agq")
    parser.add_argument("--qpoints", type=int, default=15)
    args = parser.parse_args()
    rows = args.groups * args.per_group
    print(f"{rows} rows, {args.groups} groups, {args.method}{args.qpoints if args.method == 'agq' else ''}, 4 chunks")
    for processes in (1, 2):
        started = time.perf_counter()
        results = _run(processes, args)
        wall = time.perf_counter() - started
        fits = ", ".join(f"fit {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB" for r in results)
        print(
            f"{processes} process{'es' if processes > 1 else ''}: whole {wall:.1f} s; {fits}; "
            f"loglik {results[0]['loglik']:.8f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

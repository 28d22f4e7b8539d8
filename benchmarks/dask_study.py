"""A coverage study on Dask against the local process pool (issue 24): the speed-up of 2 Dask
workers over 1, and the per-task overhead of Dask over running the replicates in one process.

    BAYESGLMM_DATA=../shared/data python benchmarks/dask_study.py [--sims 200] [--engine agq]

The seed's epilepsy Poisson model, ``--sims`` replicates of one ML engine each, at the AGQ
estimates.  Each setting runs in a new folder; the clusters are ``LocalCluster``s of worker
processes with one thread each, started before the clock starts (their start-up is printed apart).
Every worker (and the in-process run) shares one warm program cache, filled by a first study, and
each cluster first runs two replicates per worker (the workers load the programs; printed apart),
so the times compare the studies in steady state, not who compiles or loads first.  The per-task
overhead is (1-worker Dask study − in-process study) / sims.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--engine", default="agq")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bayesglmm-dask-"))
    os.environ.setdefault("BAYESGLMM_CACHE", str(root / "cache"))  # before bayesglmm: workers inherit it
    import distributed

    from bayesglmm import ModelSpec, datasets, fit_ml
    from bayesglmm.compare import coverage_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ModelSpec.from_formula(
            "y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy(), "poisson"
        )
        truth = fit_ml(spec, "agq", "auto")

    def study(name: str, sims: int = args.sims, **where) -> float:
        started = time.perf_counter()
        coverage_study(spec, root / name, [args.engine], sims=sims, truth=truth, seed=1, progress=False, **where)
        return time.perf_counter() - started

    study("warm-up", workers=1)  # fills the shared program cache
    seconds = {"in-process, 1 worker": study("local1", workers=1)}
    for n_workers in (1, 2):
        started = time.perf_counter()
        with (
            distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            startup = time.perf_counter() - started
            first = study(f"dask{n_workers}-first", sims=2 * n_workers, executor=client.get_executor())
            seconds[f"Dask, {n_workers} worker{'s' if n_workers > 1 else ''}"] = study(
                f"dask{n_workers}", executor=client.get_executor()
            )
        print(
            f"(LocalCluster of {n_workers}: {startup:.1f} s to start; its first {2 * n_workers} replicates, "
            f"the workers loading the programs from the cache, {first:.1f} s)",
            flush=True,
        )
    for label, value in seconds.items():
        print(f"{label:<22} {value:7.1f} s  {1000 * value / args.sims:7.1f} ms per replicate", flush=True)
    one, two, local = seconds["Dask, 1 worker"], seconds["Dask, 2 workers"], seconds["in-process, 1 worker"]
    print(f"speed-up of 2 Dask workers over 1: {one / two:.2f}x")
    print(f"Dask's per-task overhead over the in-process run: {1000 * (one - local) / args.sims:+.1f} ms")


if __name__ == "__main__":
    main()

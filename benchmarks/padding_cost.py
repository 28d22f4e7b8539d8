"""What shared shapes cost at run time (issue 23; prints seconds, not a test).

    BAYESGLMM_DATA=../shared/data python benchmarks/padding_cost.py

For each seed model, the warm median of 7 fits (compilation excluded) three ways: without shared
shapes, with them as a first model of its structure (its exact shape: should cost nothing), and
run inside the program of its bucketed shape (rows and groups to the next ⌈2^(k/4)⌉, columns to a
multiple of 4), what a later model of the structure gets (:mod:`bayesglmm.core.shapes`).
"""

from __future__ import annotations

import statistics
import time
import warnings

from bayesglmm import ModelSpec, datasets, fit_ml
from bayesglmm.core.data import chunked_data
from bayesglmm.core.shapes import SHAPES, ChunkShape, bucketed
from bayesglmm.ml.options import MLOptions


def _warm_median(spec, options, repeats=7) -> tuple[float, float]:
    fit = fit_ml(spec, options=options)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fit = fit_ml(spec, options=options)
        times.append(time.perf_counter() - started)
    return statistics.median(times), fit.loglik


def main() -> None:
    warnings.simplefilter("ignore")
    formula = "y ~ time + trt + trt:time + offset(t) + (1 + time | id)"
    amen = ModelSpec.from_formula(
        "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)", datasets.load_amenorrhea(), "bernoulli"
    )
    epi = ModelSpec.from_formula(formula, datasets.load_epilepsy(), "poisson")
    nb2 = ModelSpec.from_formula(formula, datasets.load_epilepsy(), "nbinom2")
    cases = [
        ("amenorrhea Laplace", amen, dict(method="laplace")),
        ("amenorrhea AGQ 11", amen, dict(method="agq", qpoints=11, empirical=True)),
        ("epilepsy Laplace", epi, dict(method="laplace")),
        ("epilepsy AGQ 50", epi, dict(method="agq", qpoints=50, empirical=True)),
        ("epilepsy NB2 AGQ 50", nb2, dict(method="agq", qpoints=50, empirical=True)),
    ]
    print(f"{'model':<22} {'off':>8} {'exact':>8} {'bucketed':>9}  bucketed shape")
    for label, spec, options in cases:
        SHAPES.clear()
        off, _ = _warm_median(spec, MLOptions(**options, shared_shapes=False))
        exact, _ = _warm_median(spec, MLOptions(**options))
        plain = chunked_data(spec)
        shape = bucketed(ChunkShape(plain.data.y.shape[1], plain.group_ids.shape[1], spec.fixed.X.shape[1]))
        SHAPES.clear()
        factor = spec.random[0]
        SHAPES.shape_for((spec.family, factor.q, tuple(map(tuple, factor.blocks))), shape)  # as if compiled before
        padded, _ = _warm_median(spec, MLOptions(**options))
        print(
            f"{label:<22} {off:8.3f} {exact:8.3f} {padded:9.3f}  rows {shape.rows}, groups {shape.groups}, "
            f"columns {shape.fixed_columns} (+{padded / off - 1:.0%})"
        )
    SHAPES.clear()


if __name__ == "__main__":
    main()

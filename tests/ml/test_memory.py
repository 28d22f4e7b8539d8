"""Quadrature grids whose memory would not fit are refused before compiling (issue 18, item 5).

Before this change 3 random effects x 30 points (27,000 nodes, under the 50,000-node cap) on
1,445 rows compiled and used 9 GB; the estimate (:mod:`bayesglmm.ml.memory`) puts it at 8.1 GB.
"""

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError, fit_ml
from bayesglmm.core.shapes import SHAPES
from bayesglmm.ml.memory import agq_memory_gb


@pytest.fixture(scope="module")
def three_effects():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(289), 5)
    frame = pd.DataFrame(
        {"g": g, "t": np.tile(np.arange(5), 289) / 4, "x": rng.normal(size=g.size), "y": rng.integers(0, 2, g.size)}
    )
    return ModelSpec.from_formula("y ~ t + x + (1 + t + x | g)", frame, "bernoulli")


def test_estimate_matches_the_measured_growth():
    # measured: 512 -> 4096 nodes on 1445 rows with 9 parameters raised the peak RSS by 1.07 GB
    assert agq_memory_gb(1445, 4096, 9) - agq_memory_gb(1445, 512, 9) == pytest.approx(1.07, rel=0.05)


def test_a_grid_over_the_limit_is_refused_with_the_estimate(three_effects):
    SHAPES.clear()  # the first model of its structure: its exact shape (bayesglmm.core.shapes)
    with pytest.raises(
        SpecError, match=r"27000 nodes .* 1445 rows .* estimated 8\.1 GB \(limit 4\.0 GB\).*max_grid_gb=.*--max-grid-gb"
    ):
        fit_ml(three_effects, "agq", 30, max_grid_gb=4)
    with pytest.raises(SpecError, match="max_grid_gb must satisfy"):
        fit_ml(three_effects, "agq", 3, max_grid_gb=-1)

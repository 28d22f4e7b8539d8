"""Memory of a fit's largest programs, estimated before anything is compiled.

**Adaptive quadrature.**
The second-order program at the optimum holds, per chunk, the linear predictor and the row
log-likelihoods at every node and their forward-mode tangents in each parameter: about
``8 + 2 n_params`` float64 arrays of shape (rows per chunk, nodes).  Calibrated on a 3-effect
Bernoulli model, 1445 rows, 9 parameters (``benchmarks``-style measurement with peak RSS,
2026-12-01): 8 → 16 points per dimension (512 → 4096 nodes) raised the peak by 1.07 GB,
207 bytes per row-node against the formula's 208; the 27,000-node grid of 30 points that
used 9 GB is estimated at 8.1 GB plus the process's baseline.

**Several grouping factors** (:mod:`.crossed`): the second-order program holds the dense m × m
Schur complement of the secondary effects, its Cholesky factor and inverse, and their tangents in
each parameter, besides per-row and per-pair arrays.  Measured (peak RSS of whole processes,
Bernoulli ``y ~ x + (1 | subj) + (1 | item)``, 10 items per subject, 4 parameters, 2026-12-07):
m = 2000 with 30,000 rows 1.61 GB, m = 3000 with 60,000 rows 2.90 GB, m = 1000 with 100,000
rows 1.82 GB, m = 2000 with 1,000,000 rows (10⁷ same-level pairs) 6.0 GB.  The estimate,
0.6 GB of baseline, 32 m × m float64 matrices and 600 bytes per row or pair, gives 1.8, 3.3,
1.5 and 8.2 GB for them.
"""

from __future__ import annotations

import os

BYTES = 8


def agq_memory_gb(rows_per_chunk: int, nodes: int, n_params: int) -> float:
    """Estimated peak GB of the AGQ programs for one chunk (see the module docstring)."""
    return BYTES * rows_per_chunk * nodes * (8 + 2 * n_params) / 1e9


def crossed_memory_gb(dense_size: int, rows: int, pairs: int) -> float:
    """Estimated peak GB of the several-factor Laplace programs (see the module docstring);
    ``dense_size`` the side m of the dense Schur complement (0 when it is block diagonal)."""
    return (BYTES * 32 * dense_size**2 + 600 * (rows + pairs)) / 1e9 + 0.6


def default_memory_limit_gb() -> float:
    """Three quarters of this machine's physical memory (the limit when none is given)."""
    try:
        return 0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):  # not POSIX: no estimate of the machine
        return 16.0

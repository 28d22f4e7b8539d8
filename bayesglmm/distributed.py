"""One ML fit across several processes (JAX's multi-process mode), for fits whose quadrature work
outgrows one machine's cores or devices.

Every process runs the same script: it calls :func:`initialize` first, builds the same
:class:`~bayesglmm.ModelSpec`, and calls :func:`bayesglmm.fit_ml`.  The chunked ML engine then
splits its chunks of whole groups over the devices of all processes (``chunks`` a multiple of
their number; the default is): each process holds only its own chunks on its devices and
evaluates them, and the objective, its gradient and Hessian are summed across processes by XLA's
collectives (Gloo on CPU, NCCL on GPU).  The optimiser runs in every process on the same,
replicated values, so every process ends with the same fit (equal to the one-process fit to
1e-8, tests/test_distributed.py).

What it does not split: the model spec (the data frame and its design matrices) is read whole
by every process, and a process's peak memory is set by one chunk's rows × nodes arrays (chunks
are evaluated one after the other), which more chunks lower in one process too
(benchmarks/multiprocess_fit.py).

One grouping factor (Laplace and AGQ); several factors and the samplers run whole in each process.
"""

from __future__ import annotations

import jax

from . import _jax  # noqa: F401  (float64)
from .errors import SpecError
from .options import check_int


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Join a group of ``num_processes`` processes coordinated at ``coordinator_address``
    (``"host:port"``, reachable from every process; process 0 serves it) as ``process_id``
    (0, 1, …).  Call it first, before any fit or other JAX computation in the process.  On CPU the
    collectives are Gloo's (``jax_cpu_collectives_implementation``)."""
    check_int("num_processes", num_processes, 1)
    check_int("process_id", process_id, 0)
    if process_id >= num_processes:
        raise SpecError(f"process_id must be below num_processes ({num_processes}), got {process_id}")
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise SpecError(f"coordinator_address must be 'host:port', got {coordinator_address!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)


def process_count() -> int:
    """How many processes share the fits (1 unless :func:`initialize` joined a group)."""
    return jax.process_count()


def process_index() -> int:
    """This process's place in the group (0 is the coordinator's)."""
    return jax.process_index()

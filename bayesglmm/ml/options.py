"""The ML engine's options: one frozen, validated record (as lme4's ``glmerControl``)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from ..core.point_rule import DEFAULT_MAX_NODES, DEFAULT_TOL, ONE_PROGRAM_UP_TO
from ..errors import SpecError
from ..options import check_bool, check_choice, check_float, check_int, check_qpoints

METHODS = ("laplace", "agq")


@dataclass(frozen=True)
class MLOptions:
    """How the ML engine fits (see :func:`bayesglmm.ml.fit_ml` for each option's meaning).

    The last three are the engine's tuning knobs, fields here rather than module globals so that a
    fit's choices are explicit and reproducible: ``one_program_up_to`` row-node pairs per
    evaluation, up to which compilation dominates a fit's time and the fit compiles fewer programs
    (one padded grid for the automatic rule, Newton steps with the exact Hessian in the AGQ stage;
    :func:`bayesglmm.core.point_rule.compilation_dominates`); ``warm_start_from_chunks``, the number of
    chunks from which a fit first fits the first chunks alone (:func:`bayesglmm.ml.fit._warm_start`).
    """

    method: str = "laplace"
    qpoints: int | str | None = None
    empirical: bool = False
    auto_tol: float = DEFAULT_TOL
    max_nodes: int = DEFAULT_MAX_NODES
    gtol: float = 1e-6
    chunks: int | None = None
    max_grid_gb: float | None = None  # None: three quarters of the machine's memory
    one_program_up_to: int = ONE_PROGRAM_UP_TO
    warm_start_from_chunks: int = 4
    shared_shapes: bool = True

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        check_qpoints("qpoints", self.qpoints)
        if self.method == "laplace" and self.qpoints not in (None, 1):
            raise SpecError("method='laplace' uses one point; for more points use method='agq'")
        check_bool("empirical", self.empirical)
        check_float("auto_tol", self.auto_tol, 0.0)
        check_int("max_nodes", self.max_nodes, 1)
        check_float("gtol", self.gtol, 0.0)
        if self.chunks is not None:
            check_int("chunks", self.chunks)  # its range depends on the data: checked by chunked_data
        if self.max_grid_gb is not None:
            check_float("max_grid_gb", self.max_grid_gb, 0.0)
        check_int("one_program_up_to", self.one_program_up_to, 0)
        check_int("warm_start_from_chunks", self.warm_start_from_chunks, 1)
        check_bool("shared_shapes", self.shared_shapes)
        object.__setattr__(
            self, "qpoints", int(self.qpoints) if isinstance(self.qpoints, numbers.Real) else self.qpoints
        )

"""The compiled pieces of the ML objective −ℓ(φ), shared by every stage of a fit.

Each function is jitted once at module level with the :class:`MarginalModel` as
a static argument, so a model and data shape compile once per process (and
once per machine with the persistent compilation cache of the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from .. import _jax  # noqa: F401
from ..core.compiled import compiled
from ..core.data import ChunkedData, GroupedData, chunk_mesh
from ..core.group_likelihood import MarginalModel, group_logliks
from ..core.modes import differentiable_modes, find_modes, random_effects_scale
from ..core.point_rule import padded_grid
from .finish import OptimumDerivatives
from .inference import report_values


def _map_chunks(function, shared, dynamic, modes):
    """``function(shared, chunk_data, chunk_modes)`` for every chunk, stacked on a leading axis.

    The chunks of one device run one after the other (``lax.map``: the flat per-group code, no
    batched scatter, memory of one chunk at a time); when the chunk axis is split over several
    devices, ``shard_map`` runs each device's chunks on that device.  ``shared`` (parameters,
    quadrature grid) is the same everywhere.  Chunks from ``dynamic.active`` on are skipped and
    give zeros: the same compiled program serves the fit's warm start on the first chunks alone
    (:meth:`MarginalObjective.on_first_chunks`).
    """

    def local(shared, active, data, modes, index):
        def one(chunk):
            d, m, k = chunk

            def skip():
                shapes = jax.eval_shape(function, shared, d, m)
                return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

            return jax.lax.cond(k < active, lambda: function(shared, d, m), skip)

        return jax.lax.map(one, (data, modes, index))

    mesh = chunk_mesh(modes.shape[0])
    if mesh is not None:
        split = PartitionSpec("chunks")
        local = jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec(), split, split, split),
            out_specs=split,
            check_vma=False,
        )
    return local(shared, dynamic.active, dynamic.data, modes, dynamic.index)


@partial(
    jax.tree_util.register_dataclass, data_fields=["data", "nodes", "log_weights", "index", "active"], meta_fields=[]
)
@dataclass(frozen=True)
class ProgramInputs:
    """The array arguments of the compiled programs besides φ and the modes: the chunked data,
    the quadrature grid, each chunk's index (K,) placed like the data, and the number of chunks
    evaluated (a traced scalar, so any number reuses the program)."""

    data: GroupedData
    nodes: jax.Array
    log_weights: jax.Array
    index: jax.Array
    active: jax.Array


def program_inputs(chunks: ChunkedData, nodes, log_weights, active_chunks: int | None = None) -> ProgramInputs:
    """The :class:`ProgramInputs` arguments for ``chunks`` and a quadrature grid, on the first
    ``active_chunks`` chunks (None: all)."""
    K = chunks.group_ids.shape[0]
    return ProgramInputs(
        chunks.data,
        jax.device_put(nodes),
        jax.device_put(log_weights),
        jax.device_put(np.arange(K, dtype=np.int32), chunks.data.y.sharding),
        jax.device_put(np.int32(K if active_chunks is None else active_chunks)),
    )


def _chunk_logliks(phi, dynamic, model, modes):
    """Per-group marginal log-likelihoods (K, G) of every chunk."""
    return _map_chunks(
        lambda shared, d, m: group_logliks(shared[0], d, model, *shared[1:], m),
        (phi, dynamic.nodes, dynamic.log_weights),
        dynamic,
        modes,
    )


@compiled(static_argnames="model")
def _evaluate(phi, modes, dynamic, model):
    def chunk_modes(phi, d, m):
        beta, chol_G, log_dispersion = model.unpack(phi)
        return find_modes(d.X @ beta + d.offset, chol_G, log_dispersion, d, model.family, m)

    modes = _map_chunks(chunk_modes, phi, dynamic, modes)
    return -jnp.sum(_chunk_logliks(phi, dynamic, model, modes)), modes


# The derivatives are taken chunk by chunk inside the map and summed, not through the map: JAX
# loses the modes' implicit derivative rule when a map around it is differentiated in reverse
# mode and then again (:mod:`.modes`).


@compiled(static_argnames="model")
def _value_and_gradient(phi, modes, dynamic, model):
    def chunk_value_and_gradient(shared, d, m):
        phi, nodes, log_weights = shared
        return jax.value_and_grad(lambda x: jnp.sum(group_logliks(x, d, model, nodes, log_weights, m)))(phi)

    values, gradients = _map_chunks(chunk_value_and_gradient, (phi, dynamic.nodes, dynamic.log_weights), dynamic, modes)
    return -jnp.sum(values), -jnp.sum(gradients, axis=0)


@compiled(static_argnames=("model", "with_report"))
def _derivatives(phi, modes, dynamic, model, with_report=False):
    """What each Newton iteration needs at φ, in one compiled program: −ℓ, its gradient and
    Hessian, and the per-group scores ∂ℓ_i/∂φ (K, G, P) that forward mode yields on the way
    (the empirical covariance needs them at the optimum).  ``with_report``: also what
    :func:`_random_effects_and_report` returns, so that a small fit, where compiling a program
    costs more than computing its results at every iteration, compiles one program fewer."""

    def chunk_derivatives(shared, d, m):
        phi, nodes, log_weights = shared

        def gradient_and_groups(x):
            groups, pullback = jax.vjp(lambda x: group_logliks(x, d, model, nodes, log_weights, m), x)
            gradient = pullback(jnp.ones_like(groups))[0]
            return (gradient, groups), (groups, gradient)

        (hessian, scores), (groups, gradient) = jax.jacfwd(gradient_and_groups, has_aux=True)(phi)
        return jnp.sum(groups), gradient, hessian, scores

    values, gradients, hessians, scores = _map_chunks(
        chunk_derivatives, (phi, dynamic.nodes, dynamic.log_weights), dynamic, modes
    )
    out = {
        "value": -jnp.sum(values),
        "gradient": -jnp.sum(gradients, axis=0),
        "hessian": -jnp.sum(hessians, axis=0),
        "scores": scores,
    }
    return {**out, **_optimum_extras(phi, modes, dynamic, model)} if with_report else out


@compiled(static_argnames="model")
def _random_effects_and_report(phi, modes, dynamic, model):
    """What only the optimum needs, kept out of the per-iteration program on large data (a
    quarter of its time at 10⁵ groups): :func:`_optimum_extras`."""
    return _optimum_extras(phi, modes, dynamic, model)


OPTIMUM_EXTRAS = ("modes", "conditional_covariances", "reported", "report_jacobian")


def _optimum_extras(phi, modes, dynamic, model) -> dict:
    """The conditional modes of b and their conditional covariances
    (:func:`~.modes.random_effects_scale`), the reported quantities and their Jacobian in φ
    (:func:`~.inference.report_values`)."""

    def chunk_random_effects(phi, d, m):
        beta, chol_G, log_dispersion = model.unpack(phi)
        return random_effects_scale(
            *differentiable_modes(m, d.X @ beta + d.offset, chol_G, log_dispersion, d, model.family), chol_G
        )

    b_hat, conditional_covariances = _map_chunks(chunk_random_effects, phi, dynamic, modes)
    return {
        "modes": b_hat,
        "conditional_covariances": conditional_covariances,
        "reported": report_values(phi, model),
        "report_jacobian": jax.jacfwd(report_values)(phi, model),
    }


@dataclass(frozen=True)
class MarginalObjective:
    """−ℓ(φ) of one model on one data set, by the model's method and quadrature grid.

    ``chunks`` holds the groups cut into chunks (:func:`~.data.chunked_data`); the spherical
    modes û (:mod:`.modes`) travel as (K, G, q) arrays, and :meth:`derivatives_all` returns
    per-group results in the original order.
    """

    model: MarginalModel
    chunks: ChunkedData
    qpoints: int = 1
    active_chunks: int | None = None  # evaluate the first this many chunks only; None: all
    grid_size: int | None = None  # pad the grid with zero-weight nodes to this many (a shared program shape)
    report_with_derivatives: bool = False  # the optimum's extras in the derivatives program (small data)
    _last_derivatives: dict = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def _program_model(self) -> MarginalModel:
        """The model as the compiled programs see it: β with the data's padded columns (:mod:`~..core.shapes`)."""
        return replace(self.model, n_fixed=int(self.chunks.data.X.shape[-1]))

    @cached_property
    def _dynamic(self) -> ProgramInputs:
        q = self.model.covariance.q
        grid = padded_grid(self.qpoints, q, self.grid_size or self.qpoints**q)
        return program_inputs(self.chunks, *grid, self.active_chunks)

    def on_first_chunks(self, count: int) -> MarginalObjective:
        """The same objective on the groups of the first ``count`` chunks only (a random sample of
        the groups, :func:`~.data.chunked_data`), by the same compiled programs."""
        return replace(self, active_chunks=count, _last_derivatives={})

    @property
    def n_active_groups(self) -> int:
        return int(np.sum(self.chunks.group_ids[: self.active_chunks] >= 0))

    def initial_modes(self) -> jax.Array:
        """Zero modes, placed like the data (one compiled program for the first and later calls)."""
        K, G = self.chunks.group_ids.shape
        return jax.device_put(np.zeros((K, G, self.model.covariance.q)), self.chunks.data.y.sharding)

    def evaluate(self, phi, modes) -> tuple[float, jax.Array]:
        value, modes = _evaluate(self.chunks.padding.embed(phi), modes, self._dynamic, self._program_model)
        return float(value), modes

    def value_and_gradient(self, phi, modes) -> tuple[float, np.ndarray]:
        padding = self.chunks.padding
        value, gradient = _value_and_gradient(padding.embed(phi), modes, self._dynamic, self._program_model)
        return float(value), padding.restrict(gradient)

    def derivatives(self, phi, modes) -> tuple:
        """(−ℓ, gradient, Hessian, per-group scores (n_groups, P) in the original group order) at φ.

        The last result is kept: the fit asks again at the optimum, where the optimiser's last
        iteration has just computed it (the most expensive program, seconds at 10⁵ groups).
        """
        phi = np.asarray(phi, dtype=float)
        last = self._last_derivatives.get("at")
        if last is None or last[1] is not modes or not np.array_equal(last[0], phi):
            padding = self.chunks.padding
            out = _derivatives(
                padding.embed(phi),
                modes,
                self._dynamic,
                self._program_model,
                with_report=self.report_with_derivatives,
            )
            last = (
                phi.copy(),
                modes,
                (
                    float(out["value"]),
                    padding.restrict(out["gradient"]),
                    padding.restrict(out["hessian"], axes=(0, 1)),
                    padding.restrict(self.chunks.gather(out["scores"])),
                ),
                {name: out[name] for name in OPTIMUM_EXTRAS if name in out},
            )
            self._last_derivatives["at"] = last
        return last[2]

    def derivatives_all(self, phi, modes) -> OptimumDerivatives:
        """:meth:`derivatives` and everything :func:`_random_effects_and_report` returns, as numpy;
        the modes of b and their conditional SDs as (n_groups, q) in the original group order."""
        value, gradient, hessian, scores = self.derivatives(phi, modes)
        padding = self.chunks.padding
        extras = self._last_derivatives["at"][3]  # computed with the derivatives at φ on small data
        if not extras:
            extras = _random_effects_and_report(padding.embed(phi), modes, self._dynamic, self._program_model)
        covariances = self.chunks.gather(extras["conditional_covariances"])
        return OptimumDerivatives(
            value=value,
            gradient=gradient,
            hessian=hessian,
            scores=scores,
            reported=padding.restrict(extras["reported"]),
            report_jacobian=padding.restrict(extras["report_jacobian"], axes=(0, 1)),
            modes=(self.chunks.gather(extras["modes"]),),
            conditional_sds=(np.sqrt(np.diagonal(covariances, axis1=1, axis2=2)),),
        )

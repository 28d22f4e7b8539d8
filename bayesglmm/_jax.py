"""JAX set-up shared by every numerical module: float64 everywhere.

Importing this module switches JAX to 64-bit floats before any array is made;
every module that does numerics imports ``jax`` through here.
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import cache as _default_cache  # noqa: E402  (after float64)

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_COMPILE_SECONDS = [0.0]  # a process-wide metric, as JAX's own monitoring counters


def _count_compilation(event: str, duration: float, **_) -> None:
    if event in _COMPILE_EVENTS:
        _COMPILE_SECONDS[0] += duration


jax.monitoring.register_event_duration_secs_listener(_count_compilation)


def compile_seconds() -> float:
    """Seconds this process has spent tracing, lowering and compiling JAX programs so far; the
    difference over a fit says how much of its time was compilation."""
    return _COMPILE_SECONDS[0]


def trace_cache_dir() -> str | None:
    """Folder of the traced-program cache (see :mod:`bayesglmm.core.compiled`), or None when off."""
    from .cache import traced_folder

    folder = traced_folder()
    return None if folder is None else str(folder)


def enable_compilation_cache(path: str | None = None) -> None:
    """Keep traced and compiled programs on disk under ``path`` (:func:`bayesglmm.cache.enable`;
    on by default since import, where ``BAYESGLMM_CACHE`` says)."""
    from .cache import enable

    enable(path)


_default_cache.enable()  # on by default, for the Python API as for the CLI (BAYESGLMM_CACHE=off: not)

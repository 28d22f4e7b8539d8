"""JAX set-up shared by every numerical module: float64 everywhere.

Importing this module switches JAX to 64-bit floats before any array is made;
every module that does numerics imports ``jax`` through here.
"""

import os

import jax

jax.config.update("jax_enable_x64", True)

_TRACE_CACHE: list[str] = []  # the folder of traced programs, once enabled
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
    return _TRACE_CACHE[0] if _TRACE_CACHE else None


def enable_compilation_cache(path: str | None = None) -> None:
    """Keep traced and compiled programs on disk so a second process skips both.

    The command-line interface calls this; library users may call it once at the
    start of a session.  ``path`` defaults to ``$BAYESGLMM_CACHE`` or
    ``~/.cache/bayesglmm``; ``BAYESGLMM_CACHE=off`` keeps nothing on disk.
    """
    if path is None and os.environ.get("BAYESGLMM_CACHE") == "off":
        return
    path = path or os.environ.get("BAYESGLMM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "bayesglmm")
    _TRACE_CACHE[:] = [os.path.join(path, "traced")]
    jax.config.update("jax_compilation_cache_dir", os.path.join(path, "xla"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

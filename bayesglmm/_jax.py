"""JAX set-up shared by every numerical module: float64 everywhere.

Importing this module switches JAX to 64-bit floats before any array is made;
every module that does numerics imports ``jax`` through here.
"""

import jax

jax.config.update("jax_enable_x64", True)


def enable_compilation_cache(path: str | None = None) -> None:
    """Keep compiled XLA programs on disk so a second process skips compilation.

    The command-line interface calls this; library users may call it once at the
    start of a session.  ``path`` defaults to ``$BAYESGLMM_CACHE`` or
    ``~/.cache/bayesglmm/jax``.
    """
    import os

    path = path or os.environ.get("BAYESGLMM_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "bayesglmm", "jax"
    )
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

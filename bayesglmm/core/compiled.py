"""``jax.jit`` with an optional on-disk cache of traced programs.

JAX's persistent compilation cache skips XLA compilation in a new process, but
every process still traces and lowers each function, which for the ML
objective's derivatives costs about a second.  When the cache is enabled
(:mod:`bayesglmm.cache`, on by default), the traced
program is also kept on disk with ``jax.export`` and read back in a new
process, so a repeated command does neither tracing nor compilation.

The key is the function, its static arguments, the shapes and dtypes of its
arguments, and a hash of this package's source and version and the JAX version, so an
edited package never reads a stale program; a static argument built from classes defined
elsewhere (a user's own family, :func:`~bayesglmm.model.families.register_family`) adds their
source, and one whose source cannot be read (a class typed at an interactive prompt) is not
cached on disk at all. A damaged file is traced again, with a warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import tempfile
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import jax

from .. import _jax


@lru_cache(maxsize=1)
def _source_fingerprint() -> str:
    from ..cache import package_version

    digest = hashlib.sha256(f"{jax.__version__} {package_version()}".encode())
    for path in sorted(Path(__file__).parent.parent.rglob("*.py")):  # the whole package
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_PACKAGE = __name__.split(".")[0]


@lru_cache(maxsize=256)
def _foreign_source(value, depth: int = 0) -> str | None:
    """The source of the classes outside this package that make up a static argument (the value's
    class and, for dataclasses, its fields', recursively); None when one cannot be read."""
    cls = type(value)
    parts = []
    if cls.__module__.split(".")[0] not in (_PACKAGE, "builtins", "numpy"):
        try:
            parts.append(inspect.getsource(cls))
        except (OSError, TypeError):
            return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and depth < 4:
        for f in dataclasses.fields(value):
            part = _foreign_source(getattr(value, f.name), depth + 1)
            if part is None:
                return None
            parts.append(part)
    return "".join(parts)


def compiled(static_argnames=(), compiler_options: dict | None = None) -> Callable:
    """Decorator: ``jax.jit(fun, static_argnames=...)``, plus the traced-program disk cache when enabled.

    ``compiler_options`` are XLA's (``jax.stages.Lowered.compile``), for a program that runs a few
    times per fit, where compiling is most of its cost: ``{"xla_backend_optimization_level": 0}``
    compiles the quadrature rule's program of :mod:`bayesglmm.bayes.group_loglik` in two thirds of
    the time (docs/measurements.md)."""
    return lambda fun: _Compiled(fun, static_argnames, compiler_options)


class _Compiled:
    def __init__(self, fun, static_argnames, compiler_options=None):
        self._fun = fun
        self._static = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        self._signature = inspect.signature(fun)
        self._jitted = jax.jit(fun, static_argnames=self._static)
        self._options = dict(compiler_options) if compiler_options else None
        self._calls: dict[str, object] = {}

    def __call__(self, *args, **kwargs):
        folder = _jax.trace_cache_dir()
        if folder is None and self._options is None:
            return self._jitted(*args, **kwargs)
        bound = self._signature.bind(*args, **kwargs).arguments
        static = {name: bound.pop(name) for name in self._static if name in bound}
        foreign = [_foreign_source(value) for value in static.values()]
        if folder is not None and any(part is None for part in foreign):  # code the key cannot see: memory only
            folder = None
            if self._options is None:
                return self._jitted(*args, **kwargs)
        args = tuple(bound.values())
        leaves, tree = jax.tree_util.tree_flatten(args)
        signature = repr(
            (
                self._fun.__module__,
                self._fun.__qualname__,
                sorted(static.items()),
                str(tree),
                [(tuple(leaf.shape), str(leaf.dtype)) for leaf in leaves],
                _source_fingerprint(),
                foreign,
            )
        )
        key = hashlib.sha256(f"{signature} {folder is None}".encode()).hexdigest()
        call = self._calls.get(key)
        if call is None:
            if folder is None:  # compiler options without the disk cache
                function = jax.jit(self._flat(tree, static))
            else:
                function = jax.jit(self._exported(Path(folder), key, leaves, tree, static).call)
            if self._options is not None:
                function = function.lower(*leaves).compile(compiler_options=self._options)
            call = function
            self._calls[key] = call
        return call(*leaves)

    def _flat(self, tree, static):
        """The function of the argument leaves (static arguments bound)."""
        fun = self._fun

        def flat(*flat_args):
            return fun(*jax.tree_util.tree_unflatten(tree, flat_args), **static)

        return flat

    def _exported(self, folder: Path, key: str, leaves, tree, static):
        from jax import export

        path = folder / f"{self._fun.__name__}-{key}.jaxexport"
        if path.is_file():
            try:
                exported = export.deserialize(bytearray(path.read_bytes()))
                os.utime(path)  # recently used: pruned last (bayesglmm.cache)
                return exported
            except Exception as error:  # a damaged or foreign file: trace again and overwrite it
                warnings.warn(
                    f"ignoring an unreadable entry of the program cache ({path.name}: {type(error).__name__}); "
                    "tracing the program again",
                    RuntimeWarning,
                    stacklevel=4,
                )
        shapes = [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in leaves]
        exported = export.export(jax.jit(self._flat(tree, static)))(*shapes)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
            handle.write(exported.serialize())
        os.replace(handle.name, path)
        return exported

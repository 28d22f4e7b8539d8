"""The on-disk cache of compiled programs, on by default (Python API and command line alike).

A new process would otherwise trace and compile every program again: seconds per model. Two
caches share one folder: JAX's persistent compilation cache (XLA executables, ``xla/``) and this
package's cache of traced programs (``jax.export``, ``traced/``, :mod:`bayesglmm.core.compiled`).

- **Where**: ``$BAYESGLMM_CACHE`` if set, else the platform's user cache folder
  (``platformdirs.user_cache_dir("bayesglmm")``: ``~/.cache/bayesglmm`` on Linux,
  ``~/Library/Caches/bayesglmm`` on macOS, ``%LOCALAPPDATA%\\bayesglmm\\Cache`` on Windows).
  ``BAYESGLMM_CACHE=off`` keeps nothing on disk. A JAX compilation cache the user configured
  (``JAX_COMPILATION_CACHE_DIR`` or ``jax_compilation_cache_dir``) is left as it is.
- **Key**: entries live under a folder named by this package's version and the JAX and jaxlib
  versions (:func:`versioned_folder`), so an upgrade never reads a program built by another
  version; within it JAX keys executables by program, flags and backend, and the traced cache by
  the package's source (:func:`bayesglmm.core.compiled._source_fingerprint`).
- **Size**: at most ``$BAYESGLMM_CACHE_MAX_MB`` megabytes (default 2048): JAX evicts its least
  recently used executables beyond three quarters of it; the traced programs and the folders
  of other versions are pruned, oldest first, when the cache is enabled.
- **Damage**: an unreadable or corrupt entry is skipped with a warning and the program is built
  again (JAX's own reads warn the same way); it never stops a fit.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax

DEFAULT_MAX_MB = 2048
# the versioned folder in use (None when off), and the JAX cache folder this module set
_STATE: dict[str, Path | str | None] = {"folder": None, "jax_dir": None}


def package_version() -> str:
    """This package's installed version (``unknown`` when it runs from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesglmm")
    except PackageNotFoundError:
        return "unknown"


def versioned_folder(root: Path, package: str | None = None, jax_version: str | None = None) -> Path:
    """The folder of one package and JAX version under the cache ``root``."""
    import jaxlib

    package = package_version() if package is None else package
    jax_version = f"{jax.__version__}-jaxlib{jaxlib.__version__}" if jax_version is None else jax_version
    return Path(root) / f"bayesglmm{package}-jax{jax_version}"


def default_root() -> Path | None:
    """``$BAYESGLMM_CACHE``, or the platform's user cache folder; None for ``off``."""
    setting = os.environ.get("BAYESGLMM_CACHE")
    if setting is not None and setting.strip().lower() in ("off", "0", "false", "no", ""):
        return None
    if setting:
        return Path(setting).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bayesglmm", appauthor=False))


def max_bytes() -> int:
    """The size bound, from ``$BAYESGLMM_CACHE_MAX_MB`` (default :data:`DEFAULT_MAX_MB`)."""
    setting = os.environ.get("BAYESGLMM_CACHE_MAX_MB")
    try:
        megabytes = float(setting) if setting else DEFAULT_MAX_MB
    except ValueError:
        warnings.warn(f"BAYESGLMM_CACHE_MAX_MB={setting!r} is not a number; using {DEFAULT_MAX_MB}", stacklevel=2)
        megabytes = DEFAULT_MAX_MB
    return int(max(megabytes, 1.0) * 2**20)


def cache_folder() -> Path | None:
    """The versioned folder the cache uses in this process, or None when it is off."""
    return _STATE["folder"]


def traced_folder() -> Path | None:
    """Where traced programs are kept (:mod:`bayesglmm.core.compiled`), or None when off."""
    folder = _STATE["folder"]
    return None if folder is None else folder / "traced"


def enable(root: str | os.PathLike | None = None) -> Path | None:
    """Keep traced and compiled programs under ``root`` (default :func:`default_root`).

    Returns the versioned folder, or None when the cache is off. Called once at import; call it
    again to move the cache (before the first fit: JAX keeps the folder of its first compilation).
    """
    root = default_root() if root is None else Path(root).expanduser()
    if root is None:
        _STATE["folder"] = None
        return None
    folder = versioned_folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        warnings.warn(f"the program cache is off: cannot create {folder} ({error})", RuntimeWarning, stacklevel=2)
        _STATE["folder"] = None
        return None
    _STATE["folder"] = folder
    bound = max_bytes()
    _prune(root, keep=folder / "xla", bound=bound)
    if not _user_configured_jax_cache():
        _STATE["jax_dir"] = str(folder / "xla")
        jax.config.update("jax_compilation_cache_dir", _STATE["jax_dir"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        jax.config.update("jax_compilation_cache_max_size", int(0.75 * bound))
    return folder


def disable() -> None:
    """Stop keeping traced programs on disk in this process (JAX's cache keeps its folder)."""
    _STATE["folder"] = None


def _user_configured_jax_cache() -> bool:
    """Whether JAX's compilation cache was pointed somewhere by the user (not by :func:`enable`)."""
    configured = jax.config.jax_compilation_cache_dir
    return configured is not None and configured != _STATE["jax_dir"]


def _prune(root: Path, keep: Path, bound: int) -> None:
    """Delete the oldest files under ``root`` outside ``keep`` (JAX's own folder, which JAX bounds)
    until the whole cache is within ``bound`` bytes."""
    try:
        files = [(p.stat(), p) for p in root.rglob("*") if p.is_file()]
    except OSError:
        return
    total = sum(stat.st_size for stat, _ in files)
    if total <= bound:
        return
    for stat, path in sorted((f for f in files if keep not in f[1].parents), key=lambda f: f[0].st_mtime):
        if total <= bound:
            break
        try:
            path.unlink()
            total -= stat.st_size
        except OSError:
            pass

"""The program cache on disk (:mod:`bayesglmm.cache`): versioned key, size bound, damaged entries.

The fits run in fresh processes with their own cache folder: the test session itself runs with
``BAYESGLMM_CACHE=off`` and its own JAX cache (conftest.py), which these tests leave alone.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bayesglmm import cache

FIT = """
import json, warnings
import numpy as np, pandas as pd
from bayesglmm import ModelSpec, fit_ml
from bayesglmm import cache
rng = np.random.default_rng(0)
g = np.repeat(np.arange(30), 4)
frame = pd.DataFrame({"g": g, "x": rng.normal(size=g.size)})
frame["y"] = rng.poisson(np.exp(0.2 + 0.3 * frame.x + rng.normal(0, 0.5, 30)[g]))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fit = fit_ml(ModelSpec.from_formula("y ~ x + (1 | g)", frame, "poisson"), "laplace")
print(json.dumps({"loglik": fit.loglik, "folder": str(cache.cache_folder()),
                  "warnings": [str(w.message) for w in caught]}))
"""


def _run(root: Path, **env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "BAYESGLMM_CACHE")}
    environment["BAYESGLMM_CACHE"] = str(root)
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", FIT], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_key_folder_changes_with_the_package_and_jax_versions(tmp_path):
    here = cache.versioned_folder(tmp_path)
    assert cache.versioned_folder(tmp_path, package="9.9.9") != here
    assert cache.versioned_folder(tmp_path, jax_version="0.0.1-jaxlib0.0.1") != here
    assert here.parent == tmp_path and cache.package_version() in here.name


def test_off_and_the_platform_default(monkeypatch):
    monkeypatch.setenv("BAYESGLMM_CACHE", "off")
    assert cache.default_root() is None
    monkeypatch.delenv("BAYESGLMM_CACHE")
    root = cache.default_root()
    assert root is not None and root.name.lower() in ("bayesglmm", "cache")


def test_pruning_keeps_the_cache_within_its_bound_oldest_first(tmp_path):
    old = cache.versioned_folder(tmp_path, package="0.0.0") / "traced"
    old.mkdir(parents=True)
    for i in range(5):
        path = old / f"entry{i}.jaxexport"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 1000 + i, time.time() - 1000 + i))
    cache._prune(tmp_path, keep=tmp_path / "nothing", bound=2500)
    assert sorted(p.name for p in old.iterdir()) == ["entry3.jaxexport", "entry4.jaxexport"]


def test_a_new_process_reuses_the_cache_and_a_corrupt_entry_is_ignored(tmp_path):
    first = _run(tmp_path)
    folder = Path(first["folder"])
    assert folder.parent == tmp_path
    entries = [p for p in folder.rglob("*") if p.is_file()]
    assert any("traced" in p.parts for p in entries) and any("xla" in p.parts for p in entries)
    second = _run(tmp_path)
    assert abs(second["loglik"] - first["loglik"]) < 1e-10
    for path in entries:  # damage every entry, traced programs and executables alike
        path.write_bytes(b"not a program")
    damaged = _run(tmp_path)
    assert abs(damaged["loglik"] - first["loglik"]) < 1e-10
    assert any("unreadable entry of the program cache" in w for w in damaged["warnings"])


def test_off_writes_nothing(tmp_path):
    result = _run(tmp_path / "unused", BAYESGLMM_CACHE="off")
    assert result["folder"] == "None" and not (tmp_path / "unused").exists()


class _UserClass:  # stands for a family registered from outside the package
    pass


def test_classes_from_outside_the_package_enter_the_traced_key_by_their_source():
    from bayesglmm.core.compiled import _foreign_source
    from bayesglmm.model.families import make_family

    assert _foreign_source(make_family("poisson")) == ""  # the package's own: its fingerprint covers it
    assert "class _UserClass" in _foreign_source(_UserClass())
    typed_at_a_prompt = type("Typed", (), {})  # no source to read: kept out of the disk cache
    assert _foreign_source(typed_at_a_prompt()) is None


def test_compiler_options_compile_once_per_shape_with_and_without_the_disk_cache(tmp_path, monkeypatch):
    """A program with XLA compiler options (``compiled(..., compiler_options=...)``, the LOO rule's)
    gives the plain jit's values, compiles one executable per argument shape, and takes the same
    path with the traced-program cache on (an exported program) as off."""
    import jax.numpy as jnp
    import numpy as np

    from bayesglmm.core import compiled as compiled_module

    def poly(x, power):
        return jnp.sum(x**power) + jnp.prod(jnp.cos(x))

    quick = compiled_module.compiled(static_argnames="power", compiler_options={"xla_backend_optimization_level": 0})(
        poly
    )
    x = np.linspace(0.1, 1.0, 7)
    for folder in (None, str(tmp_path / "traced")):
        monkeypatch.setattr(compiled_module._jax, "trace_cache_dir", lambda folder=folder: folder)
        assert float(quick(x, power=3)) == pytest.approx(float(poly(x, 3)), rel=1e-13)
        assert float(quick(x + 1.0, power=3)) == pytest.approx(float(poly(x + 1.0, 3)), rel=1e-13)  # same executable
        assert float(quick(np.ones(3), power=2)) == pytest.approx(float(poly(np.ones(3), 2)), rel=1e-13)
    assert len(quick._calls) == 4  # two shapes x (memory only, exported)
    assert len(list((tmp_path / "traced").glob("poly-*.jaxexport"))) == 2

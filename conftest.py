"""Settings shared by the test suite and the notebook kernels it starts (through nbmake).

- ``BAYESGLMM_NOTEBOOK_QUICK=1``: the notebooks run their short settings (fewer draws and
  replicates); set it to 0 to execute them in full under pytest.
- ``BAYESGLMM_CACHE=off``: the command-line interface, called in-process by the tests, keeps no
  cache, so the tests neither read nor fill the user's cache, and no CLI test moves JAX's
  persistent compilation cache to another folder half-way (turned on half-way by a CLI test, a
  later NUTS compilation once aborted the process inside JAX's cache write, 2026-11-25; not
  reproduced alone, and not seen with the cache below, on from the start).
- ``JAX_COMPILATION_CACHE_DIR=.cache/jax-tests`` (in the repository, ignored by git): JAX's
  persistent compilation cache, on from the start of every process of the run -- the test
  process, the notebook kernels, the second pytest process of the docs checks -- so a program
  compiled once (the amenorrhea AGQ derivatives, ...) loads from disk in the others instead of
  compiling again (measured: the amenorrhea AGQ fit in a second process 9.4 s instead of 26.9 s).
  Entries are keyed by the program, JAX version and flags: a stale entry is never read.
- ``BAYESGLMM_DATA`` is made absolute: the notebooks run in ``notebooks/``.
"""

import os
from pathlib import Path

os.environ.setdefault("BAYESGLMM_NOTEBOOK_QUICK", "1")
os.environ.setdefault("BAYESGLMM_CACHE", "off")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parent / ".cache" / "jax-tests"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
if os.environ.get("BAYESGLMM_DATA"):
    os.environ["BAYESGLMM_DATA"] = os.path.abspath(os.environ["BAYESGLMM_DATA"])

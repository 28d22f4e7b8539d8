"""Settings shared by the test suite and the notebook kernels it starts (through nbmake).

- ``BAYESGLMM_NOTEBOOK_QUICK=1``: the notebooks run their short settings (fewer draws and
  replicates); set it to 0 to execute them in full under pytest.
- ``BAYESGLMM_CACHE=off``: the command-line interface, called in-process by the tests, keeps no
  cache, so the tests neither read nor fill the user's cache, and the test process never turns
  JAX's persistent compilation cache on half-way (with it on from a CLI test, a later NUTS
  compilation aborted the process inside JAX's cache write, 2026-11-25; not reproduced alone).
- ``BAYESGLMM_DATA`` is made absolute: the notebooks run in ``notebooks/``.
"""

import os

os.environ.setdefault("BAYESGLMM_NOTEBOOK_QUICK", "1")
os.environ.setdefault("BAYESGLMM_CACHE", "off")
if os.environ.get("BAYESGLMM_DATA"):
    os.environ["BAYESGLMM_DATA"] = os.path.abspath(os.environ["BAYESGLMM_DATA"])

"""Settings shared by the test suite and the notebook kernels it starts (through nbmake).

- ``BAYESGLMM_NOTEBOOK_QUICK=1``: the notebooks run their short settings (fewer draws and
  replicates); set it to 0 to execute them in full under pytest.
- ``BAYESGLMM_CACHE``: the command-line interface's cache, a new folder per run, so the tests
  neither read nor fill the user's cache.
- ``BAYESGLMM_DATA`` is made absolute: the notebooks run in ``notebooks/``.
"""

import os
import tempfile

os.environ.setdefault("BAYESGLMM_NOTEBOOK_QUICK", "1")
_CACHE = tempfile.mkdtemp(prefix="bayesglmm-test-cache-")
os.environ.setdefault("BAYESGLMM_CACHE", _CACHE)
if os.environ.get("BAYESGLMM_DATA"):
    os.environ["BAYESGLMM_DATA"] = os.path.abspath(os.environ["BAYESGLMM_DATA"])

"""One ML fit across two processes (JAX's multi-process mode, Gloo collectives on CPU;
:mod:`bayesglmm.distributed`, issue 24 item 4).

Two processes each hold half of the chunks of whole groups on their own device and sum the
objective and its derivatives by collectives; the optimiser runs in both on the same values. Their
fits must equal a one-process fit of the same chunks to 1e-8 (the same arithmetic but for the
order of the cross-process sums): Laplace and automatic AGQ, estimates, log-likelihood, model-based
and empirical SEs. The processes are separate Python processes on this machine, with a coordinator
on a free local port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from bayesglmm import SpecError

SCRIPT = """
import json, sys, warnings
from bayesglmm import distributed
processes, index, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if processes > 1:
    distributed.initialize(f"127.0.0.1:{port}", processes, index)
import numpy as np, pandas as pd
from bayesglmm import ModelSpec, fit_ml
rng = np.random.default_rng(1)
g = np.repeat(np.arange(300), 5)
frame = pd.DataFrame({"g": g, "x": rng.normal(size=g.size)})
b = rng.normal(0, 0.8, 300)
frame["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + 0.8 * frame.x + b[g]))))
spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "bernoulli")
out = {"processes": distributed.process_count(), "index": distributed.process_index()}
for method in ("laplace", "agq"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_ml(spec, method, chunks=4, empirical=True)
    table = fit.params()
    out[method] = {"loglik": fit.loglik, "qpoints": fit.qpoints, "estimate": table["estimate"].tolist(),
                   "se": table["se"].tolist(), "se_empirical": table["se_empirical"].tolist()}
if processes > 1:
    try:
        fit_ml(spec, "laplace", chunks=3)
    except Exception as error:
        out["error"] = f"{type(error).__name__}: {error}"
print("RESULT " + json.dumps(out), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(processes: int, port: int) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device per process
    return [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(processes), str(index), str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(processes)
    ]


def _results(launched: list[subprocess.Popen]) -> list[dict]:
    results = []
    for process in launched:
        try:
            out, err = process.communicate(timeout=240)
        finally:
            for other in launched:
                if other.poll() is None and process.returncode is None:
                    other.kill()
        assert process.returncode == 0, err[-3000:]
        line = next(line for line in out.splitlines() if line.startswith("RESULT "))
        results.append(json.loads(line.removeprefix("RESULT ")))
    return results


def test_two_processes_fit_as_one():
    port = _free_port()
    together = _launch(2, port)
    alone = _launch(1, _free_port())
    pair, (single,) = _results(together), _results(alone)
    assert [r["processes"] for r in pair] == [2, 2] and [r["index"] for r in pair] == [0, 1]
    assert single["processes"] == 1
    for method in ("laplace", "agq"):
        for result in pair:
            got, expected = result[method], single[method]
            assert got["qpoints"] == expected["qpoints"]
            assert got["loglik"] == pytest.approx(expected["loglik"], abs=1e-8)
            for column in ("estimate", "se", "se_empirical"):
                np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=1e-8)
    assert single["agq"]["qpoints"] > 1  # the automatic rule went past Laplace: AGQ was exercised
    for result in pair:  # chunks that cannot be split evenly over the processes' devices: said at entry
        assert result["error"].startswith("SpecError") and "chunks must be a multiple of 2, got 3" in result["error"]


def test_initialize_refuses_bad_arguments_before_joining():
    from bayesglmm import distributed

    with pytest.raises(SpecError, match="process_id must be below num_processes"):
        distributed.initialize("127.0.0.1:1234", 2, 2)
    with pytest.raises(SpecError, match="'host:port'"):
        distributed.initialize("localhost", 2, 0)

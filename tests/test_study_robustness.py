"""Studies keep their promise of nothing lost (issue 18, item 6).

Before this change a truncated replicate file raised a raw JSONDecodeError, ``{}`` counted as
done, a folder holding another study was refused only after the truth fit, and a SIGKILLed
study left its worker processes fitting.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError
from bayesglmm.compare import coverage_study, load_study

TRUTH = {"beta[(Intercept)]": -0.5, "beta[time]": 0.3, "sd[id,(Intercept)]": 1.0}


def _spec(n_groups=40, visits=3):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_groups), visits),
            "time": np.tile(np.arange(visits), n_groups),
            "y": rng.integers(0, 2, n_groups * visits),
        }
    )
    return ModelSpec.from_formula("y ~ time + (1 | id)", frame, "bernoulli")


def test_truncated_and_empty_replicates_are_redone(tmp_path):
    spec = _spec()
    whole = coverage_study(
        spec, tmp_path / "whole", ["laplace"], sims=4, truth=TRUTH, seed=3, workers=1, progress=False
    )
    broken = tmp_path / "broken"
    coverage_study(spec, broken, ["laplace"], sims=4, truth=TRUTH, seed=3, workers=1, progress=False)
    first = broken / "replicates" / "r00001.json"
    first.write_text(first.read_text()[:40])  # truncated mid-write by a crash of the disk, say
    (broken / "replicates" / "r00002.json").write_text("{}")  # parses, but is no replicate
    with pytest.warns(UserWarning, match=r"r00001.json is not valid JSON.*redone"):
        resumed = coverage_study(spec, broken, ["laplace"], sims=4, truth=TRUTH, seed=3, workers=1, progress=False)
    pd.testing.assert_frame_equal(resumed.table, whole.table, check_exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(load_study(broken).table, whole.table, check_exact=True)


def test_a_folder_of_another_study_is_refused_before_the_truth_fit(tmp_path, monkeypatch):
    spec = _spec()
    coverage_study(spec, tmp_path / "s", ["laplace"], sims=2, truth=TRUTH, seed=3, workers=1, progress=False)
    import bayesglmm.ml

    def no_truth_fit(*args, **kwargs):
        raise AssertionError("the truth was fitted before the folder was checked")

    monkeypatch.setattr(bayesglmm.ml, "fit_ml", no_truth_fit)
    with pytest.raises(SpecError, match="different study .*engines"):
        coverage_study(spec, tmp_path / "s", ["laplace", "agq3"], sims=2, seed=3, workers=1, progress=False)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_main_process_leaves_no_worker(tmp_path):
    """A study's workers run ``exit_with_parent`` first (the pool's initializer): here a 'main'
    process starts a busy 'worker' with it and is SIGKILLed; the worker must be gone 5 s later
    (without the initializer it keeps running: checked by starting one without it)."""

    def run(with_guard: bool) -> bool:
        worker = textwrap.dedent(f"""
            import sys
            from bayesglmm.compare.study_runner import exit_with_parent
            if {with_guard}:
                exit_with_parent(int(sys.argv[1]))  # the pool passes the main process's pid the same way
            print("ready", flush=True)
            while True:  # a long fit
                sum(i * i for i in range(10000))
        """)
        main = textwrap.dedent(f"""
            import os, subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", {worker!r}, str(os.getpid())])
            print(child.pid, flush=True)
            time.sleep(600)
        """)
        process = subprocess.Popen([sys.executable, "-c", main], stdout=subprocess.PIPE, text=True)
        child = int(process.stdout.readline())
        assert process.stdout.readline().strip() == "ready"  # imported, guarded, and running
        assert _alive(child)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        time.sleep(5)
        alive = _alive(child)
        if alive:
            os.kill(child, signal.SIGKILL)
        return alive

    assert not run(with_guard=True)
    assert run(with_guard=False)  # the test can fail: an unguarded worker outlives its main process

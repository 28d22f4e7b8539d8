"""Studies on a Dask cluster (issue 24, item 3): a coverage study run on a 2-worker LocalCluster
equals the one run in this process, and a worker killed mid-study loses nothing."""

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec
from bayesglmm.compare import coverage_study

distributed = pytest.importorskip("distributed")

TRUTH = {"beta[(Intercept)]": 1.0, "beta[x]": 0.3, "sd[g,(Intercept)]": 0.4}
SIMS = 40  # enough that a worker is killed while replicates are still in flight


def _spec():
    frame = pd.DataFrame({"g": np.repeat(np.arange(15), 4), "x": np.tile([-1.0, -0.3, 0.3, 1.0], 15), "y": 1.0})
    return ModelSpec.from_formula("y ~ x + (1 | g)", frame, "poisson")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_a_study_on_dask_equals_the_in_process_one(client, tmp_path):
    spec = _spec()
    here = coverage_study(spec, tmp_path / "here", ["laplace"], sims=6, truth=TRUTH, seed=4, workers=1, progress=False)
    dask = coverage_study(
        spec,
        tmp_path / "dask",
        ["laplace"],
        sims=6,
        truth=TRUTH,
        seed=4,
        executor=client.get_executor(),
        progress=False,
    )
    pd.testing.assert_frame_equal(dask.replicates, here.replicates, rtol=1e-8)
    pd.testing.assert_frame_equal(dask.table, here.table, rtol=1e-8)


def test_a_killed_dask_worker_loses_nothing(client, tmp_path):
    spec, out = _spec(), tmp_path / "killed"
    pids = list(client.run(os.getpid).values())
    done = {}

    def run():
        done["study"] = coverage_study(
            spec, out, ["laplace"], sims=SIMS, truth=TRUTH, seed=5, executor=client.get_executor(), progress=False
        )

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120

    def finished() -> int:
        return len(list((out / "replicates").glob("r*.json"))) if (out / "replicates").exists() else 0

    while finished() == 0:
        assert time.monotonic() < deadline, "no replicate finished"
        time.sleep(0.05)
    os.kill(pids[0], signal.SIGKILL)  # mid-study: its task in flight is rescheduled by Dask
    assert finished() < SIMS  # the kill came before the end
    thread.join(timeout=300)
    assert not thread.is_alive() and len(done["study"].replicates["replicate"].unique()) == SIMS
    reference = coverage_study(
        spec, tmp_path / "reference", ["laplace"], sims=SIMS, truth=TRUTH, seed=5, workers=1, progress=False
    )
    pd.testing.assert_frame_equal(done["study"].table, reference.table, rtol=1e-8)


def test_the_cli_runs_a_study_on_a_dask_scheduler(client, tmp_path):
    import json

    from bayesglmm.cli import main

    data, spec_file, out = tmp_path / "data.csv", tmp_path / "model.toml", tmp_path / "study.json"
    frame = pd.DataFrame({"g": np.repeat(np.arange(15), 4), "x": np.tile([-1.0, -0.3, 0.3, 1.0], 15)})
    frame.assign(y=np.arange(60) % 4).to_csv(data, index=False)
    spec_file.write_text(f'[model]\nformula = "y ~ x + (1 | g)"\nfamily = "poisson"\n[data]\nfile = "{data}"\n')
    command = ["coverage", str(spec_file), "--engines", "laplace", "--sims", "4", "--out", str(tmp_path / "s")]
    assert main([*command, "--scheduler", client.scheduler.address, "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["plan"]["sims"] == 4

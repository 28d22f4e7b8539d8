"""The machinery every simulation study shares (the coverage study, :mod:`.coverage`, and
simulation-based calibration, :mod:`.sbc`): a folder per study, one file per replicate written
atomically the moment it finishes, resumption from what is there, worker processes.

A study's folder holds ``study.json`` (the plan: everything that determines the results; a
folder holding another plan is refused) and ``replicates/rNNNNN.json`` (one replicate's rows,
written to a temporary name and renamed, so a file is complete or absent; a truncated or foreign
file is redone, with a warning). A study started again on the same folder runs only the missing
replicates, so its final table is that of an uninterrupted run. Replicate r's randomness comes
from ``SeedSequence([seed, r])`` in the job itself, so it does not depend on which worker ran it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from ..errors import SpecError

STUDY_FILE = "study.json"


def check_folder(out: Path, plan_json: dict, ignore=("sims",)) -> None:
    """Refuse a folder whose ``study.json`` holds another study (compared on the keys of ``plan_json``)."""
    study_file = out / STUDY_FILE
    if out.exists() and not out.is_dir():
        raise SpecError(f"{out} is a file; give a folder for the study")
    if not study_file.exists():
        return
    try:
        stored = json.loads(study_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise SpecError(f"{study_file} cannot be read ({error}); choose another output folder or delete it") from None
    differing = sorted(key for key in plan_json if key not in ignore and stored.get(key) != plan_json[key])
    if differing:
        raise SpecError(
            f"{out} holds a different study (differs in {', '.join(differing)}); "
            "choose another output folder or delete it"
        )


def start_folder(out: Path, plan_json: dict) -> Path:
    """Create ``out`` or check that it holds this study; write the plan; return the replicates' folder."""
    check_folder(out, plan_json)
    folder = out / "replicates"
    folder.mkdir(parents=True, exist_ok=True)
    (out / STUDY_FILE).write_text(json.dumps(plan_json, indent=2))
    return folder


def read_plan(out) -> dict:
    """The plan a study folder holds."""
    return json.loads((Path(out) / STUDY_FILE).read_text())


REPLICATE_FIELDS = {"replicate", "engine", "name"}


def _read_replicate(path: Path, replicate: int) -> list[dict] | None:
    """The rows of a replicate file, or None (with a warning naming it) when it is truncated, empty or
    not a replicate's rows: such a file is redone, never counted as done."""
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        reason = f"not valid JSON ({error.__class__.__name__}: {error})"
    else:
        if (
            isinstance(rows, list)
            and rows
            and all(
                isinstance(row, dict) and REPLICATE_FIELDS <= set(row) and row["replicate"] == replicate for row in rows
            )
        ):
            return rows
        reason = "not a list of this replicate's rows"
    warnings.warn(f"replicate file {path} is {reason}; it is redone", UserWarning, stacklevel=3)
    return None


def valid_replicates(folder: Path, sims: int) -> dict[int, list[dict]]:
    """Every complete replicate below ``sims``: number -> rows (invalid files removed, to be redone)."""
    done = {}
    for path in sorted(folder.glob("r*.json")):
        if not path.stem[1:].isdigit() or int(path.stem[1:]) >= sims:
            continue
        rows = _read_replicate(path, int(path.stem[1:]))
        if rows is None:
            path.unlink(missing_ok=True)
        else:
            done[int(path.stem[1:])] = rows
    return done


def release_compiled_programs() -> None:
    """Drop JAX's compiled programs (``jax.clear_caches``). Every Bayesian fit compiles programs of
    its own (a new NumPyro model closure each time), which JAX keeps for the life of the process:
    a worker running hundreds of replicates ran out of memory (an SBC study with the marginal
    sampler, LLVM "Cannot allocate memory" after 80 replicates on 24 GB). Called after each
    replicate that fitted a Bayesian engine; ML-only replicates keep theirs, which the next
    replicate reuses."""
    import jax

    jax.clear_caches()


def _run_and_write(job: Callable, arguments: tuple, replicate: int, folder: Path) -> int:
    rows = job(*arguments, replicate)
    path = folder / f"r{replicate:05d}.json"
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(rows))
    os.replace(temporary, path)
    return replicate


def run_replicates(
    job: Callable,
    arguments: tuple,
    folder: Path,
    sims: int,
    workers: int | None,
    progress: bool,
    executor: Executor | None = None,
) -> None:
    """``job(*arguments, r)`` -> rows (a list of dicts with ``replicate``, ``engine``, ``name``) for
    every replicate r < ``sims`` not yet in ``folder``, written as it finishes; ``workers``
    processes (default one per core; 1: in this one), or the tasks submitted to ``executor``, any
    :class:`concurrent.futures.Executor` (a Dask cluster's ``Client(...).get_executor()``), whose
    workers must see ``folder``. ``job`` must be a module-level function (the workers are spawned,
    and receive it by name). Each replicate's file is written by the worker that computed it,
    atomically (a rename), so a worker that dies loses only the replicate it was computing, which
    the next run of the study redoes."""
    todo = sorted(set(range(sims)) - set(valid_replicates(folder, sims)))
    workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
    bar = _progress_bar(len(todo), sims, progress)
    if executor is not None and todo:
        futures = [executor.submit(_run_and_write, job, arguments, replicate, folder) for replicate in todo]
        for future in as_completed(futures):
            future.result()
            bar.update()
    elif workers == 1:
        for replicate in todo:
            _run_and_write(job, arguments, replicate, folder)
            bar.update()
    elif todo:
        # spawn, not fork: JAX's threads do not survive a fork
        with ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=exit_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = [pool.submit(_run_and_write, job, arguments, replicate, folder) for replicate in todo]
            for future in as_completed(futures):
                future.result()
                bar.update()
    bar.close()


def dask_executor(address: str) -> Executor:
    """The Dask cluster whose scheduler is at ``address`` as a :class:`concurrent.futures.Executor`
    (``distributed.Client(address).get_executor()``), for the CLI's ``--scheduler``."""
    from ..errors import SpecError

    try:
        from distributed import Client
    except ImportError as error:
        raise SpecError("--scheduler needs Dask: pip install 'dask[distributed]'") from error
    try:
        return Client(address, timeout=30).get_executor()
    except (OSError, TimeoutError) as error:
        raise SpecError(f"--scheduler {address}: no Dask scheduler answered ({error})") from error


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this process when the study's main process dies (a SIGKILL gives the
    pool no chance to stop its workers, which would go on fitting). Linux's PR_SET_PDEATHSIG
    signals at once; elsewhere a daemon thread checks the parent every half second."""
    import threading
    import time

    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _progress_bar(todo: int, sims: int, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=todo, desc=f"replicates ({sims - todo} of {sims} already done)", disable=not show or todo == 0)

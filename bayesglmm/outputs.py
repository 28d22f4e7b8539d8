"""Output files of the command line: checked before any work, never lost after it.

A long fit or sampling run must not end in a traceback because ``--json`` names a folder that
does not exist; and if writing fails anyway at the end (a full disk, a folder removed meanwhile),
the result goes to a file in the temporary folder whose name is printed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import SpecError


def check_output_path(option: str, path) -> None:
    """Refuse an output path that cannot be written, before any fitting or sampling."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise SpecError(f"--{option} {path}: is a folder; give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError(f"--{option} {path}: folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise SpecError(f"--{option} {path}: not writable (permission denied); choose another path")


def check_study_folder(path) -> None:
    """--out: an existing folder, or one that can be created."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise SpecError(f"--out {path}: is a file; give a folder for the study's replicates")
    existing = next((p for p in (target, *target.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK):
        raise SpecError(f"--out {path}: {existing} is not writable; choose another folder")


def write_outputs(writers: dict) -> int:
    """Call each ``writer(path)`` for the paths given; a write that fails anyway (disk full, the
    folder removed during a long run) goes to a fallback file in the temporary folder, whose name
    is printed, so the result is never lost. Returns the exit status (1 if a fallback was used)."""
    status = 0
    for path, writer in writers.items():
        if path is None:
            continue
        try:
            writer(path)
        except OSError as error:
            fallback = Path(tempfile.gettempdir()) / f"bayesglmm-{os.getpid()}-{Path(path).name or 'output'}"
            writer(str(fallback))
            print(
                f"bayesglmm: could not write {path} ({error.strerror or error}); the result is in {fallback}",
                file=sys.stderr,
            )
            status = 1
    return status

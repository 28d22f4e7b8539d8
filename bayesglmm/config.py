"""The one data setting: where the seed data sets live.

``BAYESGLMM_DATA`` names a folder holding ``amenorrhea.csv``, ``epilepsy.csv``
and ``cbpp.csv`` (the project's ``../shared/data``).  Nothing else in the package
knows a data path.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "BAYESGLMM_DATA"


def data_dir() -> Path | None:
    """The folder named by ``$BAYESGLMM_DATA``, or ``None`` when it is unset."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def data_file(name: str) -> Path:
    """Path of a seed data file under the data setting, with an error that says what to set."""
    folder = data_dir()
    if folder is None:
        raise FileNotFoundError(
            f"the data setting is not set: export {DATA_ENV}=/path/to/folder holding {name} "
            f"(in this project: {DATA_ENV}=../shared/data)"
        )
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in {folder} (from ${DATA_ENV})")
    return path

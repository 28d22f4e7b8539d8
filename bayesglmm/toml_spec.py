"""Model specs in TOML files (``models/*.toml``): the model, its data and how to fit it.

::

    [model]
    formula = "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)"
    family = "bernoulli"          # required: bernoulli | binomial | poisson | gaussian | nbinom2 | nbinom1 | gamma
    link = "logit"                # optional; the canonical link by default
    trials = "n"                  # binomial only: column of numbers of trials
    reference = { trt = "0" }     # optional reference levels of categorical columns

    [data]
    dataset = "amenorrhea"        # a built-in data set (bayesglmm.model.datasets), or
    # file = "mydata.csv"         # a CSV path, relative to this TOML file
    [data.derive]                 # optional new columns, pandas.eval expressions
    time2 = "time ** 2"

    [ml]
    method = "agq"                # laplace | agq
    qpoints = 5                   # or "auto"
    empirical = true              # sandwich SEs for tests and intervals
    max_grid_gb = 8               # optional: refuse AGQ grids estimated to need more memory

    [bayes]
    prior_set = "brms_proper"     # default | brms | brms_proper
    sampler = "marginal"          # auto (default) | full | marginal | laplace
    qpoints = 15                  # marginal and laplace: points per dimension, or "auto" (the ML rule)
    chains = 4
    draws = 1000
    warmup = 1000
    thin = 1
    seed = 0
    target_accept = 0.8
    [bayes.priors]                # overrides, by class or parameter name
    "beta[time:trt]" = "normal(0, 2)"
    sd = "half_normal(3)"
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .csv_input import read_csv
from .errors import SpecError
from .model import datasets
from .model.spec import ModelSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SECTIONS = {"model", "data", "ml", "bayes", "gee", "predict"}
_MODEL_KEYS = {"formula", "family", "link", "trials", "zi", "reference", "name", "description"}
_DATA_KEYS = {"dataset", "file", "derive"}
_PREDICT_KEYS = {"x", "values", "group", "levels", "derive", "group_labels", "ylabel"}


def _engine_keys() -> dict[str, set[str]]:
    """The allowed keys of [ml], [bayes] and [gee]: their options classes' fields, plus what the
    section names besides (the prior choice and sampler; the GEE mean model's columns)."""
    from .bayes.options import NUTSOptions
    from .gee.options import GEEOptions
    from .ml.options import MLOptions
    from .options import option_names

    return {
        "ml": option_names(MLOptions),
        "bayes": option_names(NUTSOptions) | {"prior_set", "priors", "sampler", "qpoints", "re_steps", "group_loglik"},
        "gee": option_names(GEEOptions) | {"formula", "cluster", "within", "subcluster"},
    }


@dataclass(frozen=True)
class SpecFile:
    """A TOML model file: where it is, its model section, data frame and fitting options."""

    path: Path
    model: dict
    data: pd.DataFrame
    ml: dict = field(default_factory=dict)
    bayes: dict = field(default_factory=dict)
    gee: dict = field(default_factory=dict)  # formula (default: the model's without bars), cluster, within, corr
    predict: dict = field(default_factory=dict)  # the trajectory grid: x, values, group, levels, derive

    def spec(self, **overrides) -> ModelSpec:
        """The :class:`ModelSpec`, with model-section keys overridden by ``overrides``."""
        model = {**self.model, **{k: v for k, v in overrides.items() if v is not None}}
        return ModelSpec.from_formula(
            model["formula"],
            self.data,
            family=model.get("family"),
            link=model.get("link"),
            trials=model.get("trials"),
            reference=model.get("reference"),
            zi=model.get("zi"),
        )


def _check_keys(section: str, table: dict, allowed: set) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise SpecError(f"unknown key(s) {sorted(unknown)} in [{section}]; allowed: {sorted(allowed)}")


def read_data(section: dict, base: Path) -> pd.DataFrame:
    """The data frame a [data] section names, with derived columns added."""
    _check_keys("data", section, _DATA_KEYS)
    if ("dataset" in section) == ("file" in section):
        raise SpecError("[data] needs exactly one of 'dataset' (built-in) or 'file' (a CSV path)")
    if "dataset" in section:
        frame = datasets.load(section["dataset"])
    else:
        path = Path(section["file"]).expanduser()
        frame = read_csv(path if path.is_absolute() else base / path)
    for name, expression in section.get("derive", {}).items():
        try:
            frame[name] = frame.eval(expression)
        except Exception as error:
            raise SpecError(f"cannot derive column {name!r} = {expression!r}: {error}") from error
    return frame


def _check_types(path: Path, content: dict) -> None:
    """Every value of the file has the type and range its option needs, checked by the same
    objects the Python API uses (:mod:`bayesglmm.options`); errors name the section and key."""
    from .bayes.options import NUTSOptions
    from .bayes.priors import PRIOR_SETS
    from .gee.options import GEEOptions
    from .ml.options import MLOptions
    from .options import check_choice, check_qpoints, in_section, option_names

    def strings(section: str, table: dict, keys) -> None:
        for key in keys:
            if key in table and not isinstance(table[key], str):
                raise SpecError(
                    f"[{section}] of {path}: {key} must be a string, got {type(table[key]).__name__} {table[key]!r}"
                )

    model = content["model"]
    strings("model", model, ("formula", "family", "link", "trials", "zi", "name", "description"))
    if "family" not in model:
        from .model.families import FAMILIES

        raise SpecError(f"[model] of {path} needs a family (as lme4's glmer): {', '.join(FAMILIES)}")
    if "reference" in model and not isinstance(model["reference"], dict):
        raise SpecError(
            f'[model] of {path}: reference must be a table such as {{ trt = "placebo" }}, got {model["reference"]!r}'
        )
    strings("data", content.get("data", {}), ("dataset", "file"))
    try:
        MLOptions(**content.get("ml", {}))
    except SpecError as error:
        raise in_section("ml", path, error) from None
    bayes = content.get("bayes", {})
    try:
        nuts_keys = option_names(NUTSOptions)
        NUTSOptions(**{k: v for k, v in bayes.items() if k in nuts_keys})
        if "sampler" in bayes:
            check_choice("sampler", bayes["sampler"], ("auto", "full", "marginal", "laplace"))
        if "prior_set" in bayes:
            check_choice("prior_set", bayes["prior_set"], tuple(PRIOR_SETS))
        check_qpoints("qpoints", bayes.get("qpoints"))
        if "priors" in bayes and not isinstance(bayes["priors"], dict):
            raise SpecError(f'priors must be a table of parameter = "prior", got {bayes["priors"]!r}')
    except SpecError as error:
        raise in_section("bayes", path, error) from None
    gee = content.get("gee", {})
    strings("gee", gee, ("formula", "cluster", "within", "corr", "subcluster"))
    try:
        gee_keys = option_names(GEEOptions)
        GEEOptions(**{k: v for k, v in gee.items() if k in gee_keys})
    except SpecError as error:
        raise in_section("gee", path, error) from None


def load_spec_file(path) -> SpecFile:
    """Read and check a TOML model file (errors name the section and key)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            content = tomllib.load(handle)
    except FileNotFoundError:
        raise SpecError(f"model file {path} not found") from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a folder; give the path of a TOML model file") from None
    except UnicodeDecodeError as error:
        raise SpecError(f"{path} is not UTF-8 text: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path} is not valid TOML: {error}") from error
    unknown = set(content) - _SECTIONS
    if unknown:
        raise SpecError(f"unknown section(s) {sorted(unknown)} in {path}")
    for name in _SECTIONS & set(content):
        if not isinstance(content[name], dict):
            raise SpecError(f"{name} in {path} must be a section [{name}], got {content[name]!r}")
    if "model" not in content or "formula" not in content["model"]:
        raise SpecError(f"{path} needs a [model] section with a formula")
    _check_keys("model", content["model"], _MODEL_KEYS)
    for section, keys in _engine_keys().items():
        _check_keys(section, content.get(section, {}), keys)
    _check_keys("predict", content.get("predict", {}), _PREDICT_KEYS)
    _check_types(path, content)
    frame = read_data(content.get("data", {}), path.parent)
    return SpecFile(
        path,
        content["model"],
        frame,
        content.get("ml", {}),
        content.get("bayes", {}),
        content.get("gee", {}),
        content.get("predict", {}),
    )

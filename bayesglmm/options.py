"""The checks every options object uses: one set of rules for Python, TOML and the CLI.

Each engine keeps its options as a frozen dataclass that checks its values' types and ranges
when it is built (:class:`bayesglmm.ml.options.MLOptions`, as lme4's ``glmerControl``;
:class:`bayesglmm.bayes.options.NUTSOptions`, split as NumPyro's ``NUTS`` and ``MCMC``;
:class:`bayesglmm.gee.options.GEEOptions`), with the helpers below, so ``empirical = "no"`` in a
TOML file or ``--chains 0`` on the command line fails before any work with a message that names
the option, the value and what is allowed — the same message from every entry point. A TOML
section's allowed keys are the fields of its options class (:func:`option_names`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import fields

from .errors import SpecError


def _type_name(value) -> str:
    return f"{type(value).__name__} {value!r}"


def check_bool(name: str, value) -> bool:
    """``value`` as a bool; strings such as ``"no"`` are refused (they would be truthy)."""
    if isinstance(value, bool):
        return value
    raise SpecError(f"{name} must be true or false, got {_type_name(value)}")


def check_int(name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int of at least ``minimum`` (a whole float such as 4.0 is accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{name} must be a whole number, got {_type_name(value)}")
    if value != int(value):
        raise SpecError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def check_float(
    name: str, value, low: float | None = None, high: float | None = None, low_open: bool = True, high_open: bool = True
) -> float:
    """``value`` as a finite float inside the given bounds (open by default)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{name} must be a number, got {_type_name(value)}")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise SpecError(f"{name} must satisfy {left}{name}{right}, got {value!r}")
    return value


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SpecError(f"{name} must be one of {', '.join(choices)}, got {_type_name(value)}")
    return value


def check_qpoints(name: str, value, allow_auto: bool = True) -> int | str | None:
    """A positive whole number of points per dimension, or ``"auto"`` (or None: the default)."""
    if value is None or (allow_auto and value == "auto"):
        return value
    if isinstance(value, str):
        allowed = "a whole number >= 1" + (" or 'auto'" if allow_auto else "")
        raise SpecError(f"{name} must be {allowed}, got {value!r}")
    return check_int(name, value, 1)


def option_names(options_class) -> set[str]:
    """The keys an options class takes (a TOML section's allowed keys come from here)."""
    return {item.name for item in fields(options_class)}


def in_section(section: str, source, error: SpecError) -> SpecError:
    """``error`` with where the value came from (a TOML section of a file) in front."""
    return SpecError(f"[{section}] of {source}: {error}")

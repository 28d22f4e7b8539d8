"""The zero-inflation formula (``zi = "~ trt"``): parsed and checked at entry, before any row is read.

glmmTMB's ``ziformula`` and brms's ``zi ~`` take a one-sided formula of fixed effects for
logit π (:mod:`bayesglmm.model.families.zero_inflated`); random effects and offsets in it are
not supported here and are refused with a message that says so.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import DataWarning, FormulaError, SpecError
from .families import Family
from .families.zero_inflated import ZERO_INFLATED, _ZeroInflated
from .formula import ParsedFormula, parse_formula


def parse_zi_formula(zi: str | None, parsed: ParsedFormula, family: Family) -> ParsedFormula | None:
    """The zi formula as a :class:`ParsedFormula` of the model's response (None without zero
    inflation); a zero-inflated family without ``zi`` gets ``"~ 1"`` (brms's default)."""
    if zi is None:
        return parse_formula(f"{parsed.response or 'y'} ~ 1") if isinstance(family, _ZeroInflated) else None
    if not isinstance(zi, str) or not zi.strip().startswith("~"):
        raise FormulaError(f"zi must be a one-sided formula such as '~ 1' or '~ trt', got {zi!r}")
    if not isinstance(family, _ZeroInflated) and family.name not in ZERO_INFLATED:
        raise SpecError(
            f"zero inflation (zi=) is available for the count families {', '.join(ZERO_INFLATED)} "
            f"(or zipoisson, zinbinom2), not {family.name!r}"
        )
    zi_parsed = parse_formula(f"{parsed.response or 'y'} {zi.strip()}")
    if zi_parsed.bars or zi_parsed.offsets:
        raise FormulaError(
            f"the zi formula {zi!r} has random effects or an offset; zero inflation takes fixed effects only here "
            "(as '~ 1' or '~ trt + x')"
        )
    return zi_parsed


def warn_without_zeros(y: np.ndarray, response: str) -> None:
    """A :class:`DataWarning` when a zero-inflated model meets a response without zeros (π → 0)."""
    if not np.any(y == 0):
        warnings.warn(
            f"response '{response}' has no zeros: the zero-inflation probability will go to 0 (its estimate sits "
            "on the boundary); fit the count family without zi",
            DataWarning,
            stacklevel=4,
        )

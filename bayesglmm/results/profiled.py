"""An ML fit that reports profile-likelihood intervals: the engines ``laplace-profile`` and
``agqK-profile`` of ``compare`` and the coverage study (:mod:`bayesglmm.compare.engines`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import pandas as pd

from .intervals import confidence_intervals
from .mlfit import MLFit
from .protocol import ComparisonColumns


@dataclass(frozen=True)
class ProfiledFit(MLFit):
    """An ML fit that reports profile-likelihood intervals where it reports intervals
    (:meth:`comparison_columns`: ``compare`` and the coverage study), computed once when it is
    made (:func:`profiled`): the engines ``laplace-profile`` and ``agqK-profile``."""

    profile_table: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def comparison_columns(self) -> ComparisonColumns:
        view = super().comparison_columns()
        table = view.table.copy()
        table.loc[self.profile_table.index, ["lower", "upper"]] = self.profile_table[["lower", "upper"]].to_numpy()
        return replace(view, method=f"{view.method}-profile", interval="profile likelihood", table=table)


def profiled(fit: MLFit, level: float = 0.95) -> ProfiledFit:
    """``fit`` with its profile-likelihood intervals (:class:`ProfiledFit`); a singular fit, whose
    profile is not defined, raises :class:`~bayesglmm.errors.SpecError` here."""
    table = confidence_intervals(fit, "profile", level)
    return ProfiledFit(**{f.name: getattr(fit, f.name) for f in fields(MLFit)}, profile_table=table)

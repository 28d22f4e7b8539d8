"""Design rows of new data for a fitted model: X, the random-effect covariates Z and the offset.

Built from the fit's :class:`~bayesglmm.model.newdata.DesignTemplate`, so the columns, factor levels,
reference levels and stateful transforms are the fit's whatever levels the new rows hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import SpecError

NEW_GROUPS = ("error", "population")


@dataclass(frozen=True)
class PredictionDesign:
    X: np.ndarray  # (n, p), the fit's fixed-effect columns in its order
    Z: np.ndarray  # (n, q), the fit's random-effect terms (empty with no random part)
    offset: np.ndarray  # (n,)


def prediction_design(fit, frame: pd.DataFrame, fixed_names, group: str | None = None, re_terms=()) -> PredictionDesign:
    """X, Z (the terms of ``group``'s random effects) and offset of ``frame``'s rows for ``fit``.

    The response column is not needed; nor is the group column (conditional predictions look it up).
    """
    template = getattr(fit, "template", None)
    if template is None:
        raise SpecError("this fit carries no design template (it was saved by an older version); refit it to predict")
    X = template.fixed(frame, fixed_names)
    Z = template.random(frame, group, re_terms) if re_terms else np.zeros((len(frame), 0))
    return PredictionDesign(X, Z, template.offset(frame))


def group_positions(data: pd.DataFrame, group: str, levels, new_groups: str) -> np.ndarray:
    """Each row's position in the fitted ``levels`` of ``group`` (-1 for a group the fit has not seen).

    ``new_groups="error"`` (lme4's ``allow.new.levels = FALSE``, the default) refuses rows of an
    unseen or missing group; ``"population"`` gives them b = 0 (lme4's ``allow.new.levels = TRUE``,
    brms's ``allow_new_levels`` with the population mean).
    """
    from ..model.design import group_labels, level_strings

    if new_groups not in NEW_GROUPS:
        raise SpecError(f"new_groups must be one of {', '.join(NEW_GROUPS)}, not {new_groups!r}")
    position = {str(level): i for i, level in enumerate(levels)}
    columns = [group] if group in data.columns else group.split(":")  # a nested group a:b needs a and b
    missing = [column for column in columns if column not in data.columns]
    if missing:
        if new_groups == "error":
            needed = " and ".join(repr(column) for column in missing)
            raise SpecError(
                f"conditional predictions need the group column {needed} in the new data; add it, use "
                "kind='typical' or 'marginal', or new_groups='population' to predict with b = 0"
            )
        return np.full(len(data), -1)
    if group not in data.columns:  # the nested group's labels, built as the fit built them
        labels = pd.Series(group_labels(group, data.reset_index(drop=True))).astype(str)
    elif data[group].notna().all():
        labels = level_strings(data[group].reset_index(drop=True))
    else:
        labels = data[group].astype(str)
    index = np.array([position.get(label, -1) for label in labels])
    if new_groups == "error" and np.any(index < 0):
        shown = data[group] if group in data.columns else labels
        unseen = list(dict.fromkeys(np.asarray(shown)[index < 0].tolist()))
        raise SpecError(
            f"{int(np.sum(index < 0))} row(s) of the new data belong to {group} level(s) not in the fit "
            f"({', '.join(map(repr, unseen[:5]))}{', ...' if len(unseen) > 5 else ''}); pass new_groups='population' "
            "to predict them with b = 0 (a new subject), or kind='typical'"
        )
    return index

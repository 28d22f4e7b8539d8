"""The named prior sets (:mod:`.priors` explains the text of a prior and how overrides apply).

``default`` and ``brms_proper`` are fixed texts; ``brms`` is computed from the spec's response, as
brms computes its defaults from the data (:func:`brms_default_priors`).
"""

from __future__ import annotations

import numpy as np


def brms_default_priors(spec) -> dict[str, str]:
    """brms's default priors for ``spec`` (brms ≥ 2.13: ``def_scale_prior.brmsterms``), as the text
    of this module: with y* the response on the link scale where the link is identity, log,
    inverse or sqrt (zeros as 0.1 under log and inverse; other links, e.g. logit: no y*),

        b: flat;   Intercept (centred): student_t(3, round(median(y*), 1) − mean(offset), s);
        sd: half_student_t(3, s);   sigma: half_student_t(3, s);   corr: lkj(1),

    s = max(2.5, round(mad(y*), 1)) (R's mad: 1.4826 × median |y* − median y*|), location 0
    and s = 2.5 without y*. brms rounds half to even, as numpy does."""
    location, scale = 0.0, 2.5
    link = spec.family.link
    if link in ("identity", "log", "inverse", "sqrt"):
        y = np.asarray(spec.y, dtype=float)
        if link in ("log", "inverse"):
            y = np.where(y == 0, y + 0.1, y)
        with np.errstate(all="ignore"):
            y_link = {"identity": y, "log": np.log(y), "inverse": 1.0 / y, "sqrt": np.sqrt(y)}[link]
        mad = 1.4826 * np.median(np.abs(y_link - np.median(y_link)))
        if np.isfinite(mad):
            scale = max(scale, round(float(mad), 1))
        median = round(float(np.median(y_link)), 1)
        if np.isfinite(median):
            location = median
        offset = np.asarray(spec.offset, dtype=float)
        if np.any(offset != 0) and np.isfinite(offset.mean()):
            location -= float(offset.mean())
    priors = {
        "beta": "flat",
        "Intercept": f"student_t(3, {location:.10g}, {scale:g})",
        "sd": f"half_student_t(3, {scale:g})",
        "corr": "lkj(1)",
    }
    if "sigma" in {p.name for p in spec.family.extra_parameters}:
        priors["sigma"] = f"half_student_t(3, {scale:g})"
    return priors


PRIOR_SETS = {
    "default": {
        "beta": "normal(0, 5)",
        "sd": "half_student_t(3, 2.5)",
        "corr": "lkj(2)",
    },
    "brms": brms_default_priors,
    "brms_proper": {
        "beta": "normal(0, 10)",
        "sd": "half_student_t(3, 2.5)",
        "corr": "lkj(1)",
    },
}

"""Exception and warning types a user can catch or filter."""


class SpecError(ValueError):
    """The model or its data cannot be used as given; the message says what to fix."""


class FormulaError(SpecError):
    """The formula cannot be parsed; the message says where and how to fix it."""


class DataWarning(UserWarning):
    """The data were changed on the way in (rows with missing values dropped)."""


class ConvergenceWarning(UserWarning):
    """An optimiser or sampler did not converge; the message says what to try."""


class SingularFitWarning(ConvergenceWarning):
    """The random-effects covariance is on the boundary (a zero variance or a correlation of ±1)."""


class InferenceWarning(UserWarning):
    """Standard errors or tests that the data cannot support (e.g. a sandwich SE resting on one cluster)."""

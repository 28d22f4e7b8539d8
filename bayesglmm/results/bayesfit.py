"""BayesFit: posterior draws as ArviZ InferenceData, with tables in the common parameterisation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, SpecError
from ..model.newdata import DesignTemplate
from ..model.parameters import reported_names
from .io import dump_json
from .protocol import CONDITIONAL, ComparisonColumns
from .sampler_diagnostics import above, nuts_messages, remedy
from .sampler_record import SamplerRecord

if TYPE_CHECKING:
    import xarray as xr

RHAT_LIMIT = 1.01
ESS_LIMIT = 400
RE_ACCEPTANCE_LIMIT = 0.5


def _json_scalar(value):
    """numpy scalars in a saved record as Python numbers."""
    return value.item() if hasattr(value, "item") else str(value)


@dataclass(frozen=True)
class BayesFit:
    """A Bayesian GLMM fit: ``idata`` (ArviZ) plus how it was obtained."""

    formula: str
    family: str
    link: str
    idata: object
    sampler: str
    chains: int
    draws: int
    warmup: int
    thin: int
    seed: int
    target_accept: float
    divergences: int
    seconds: float
    priors: tuple  # (parameter, prior) rows
    nobs: int
    ngroups: dict
    parameter_names: tuple[str, ...] = ()  # the common names, in order (their draws: parameter_draws)
    record: SamplerRecord = field(default_factory=SamplerRecord)  # sampler details: qpoints, acceptance, timings
    template: object = field(default=None, compare=False, repr=False)  # DesignTemplate: the design for new data

    warning_category = ConvergenceWarning

    @classmethod
    def from_run(cls, spec, program, **values) -> BayesFit:
        return cls(
            formula=spec.formula,
            family=spec.family.name,
            link=spec.family.link,
            priors=tuple(program.priors.table(spec.fixed.names, spec.random)),
            nobs=spec.nobs,
            ngroups={factor.group: len(factor.levels) for factor in spec.random},
            parameter_names=tuple(reported_names(program.fixed_names, program.factors, program.family)),
            template=spec.template,
            **values,
        )

    def parameter_draws(self) -> xr.DataArray:
        """The draws of every parameter in the common names, an xarray DataArray (chain, draw,
        parameter), gathered from the posterior's variables (:mod:`bayesglmm.bayes.convert`)."""
        import xarray as xr

        from ..model.parameters import posterior_location

        posterior = self.idata.posterior
        columns = []
        for name in self.parameter_names:
            variable, selection = posterior_location(name)
            columns.append(posterior[variable].sel(selection).drop_vars(list(selection), errors="ignore"))
        return (
            xr.concat(columns, dim="parameter")
            .assign_coords(parameter=list(self.parameter_names))
            .transpose("chain", "draw", "parameter")
        )

    def params(self) -> pd.DataFrame:
        """Posterior summaries of the common parameterisation (``beta[..]``, ``sd[..]``, ``corr[..]``).

        mean, sd, 2.5/50/97.5% quantiles, R-hat (rank-normalised), bulk and tail ESS, MCSE of the mean.
        """
        import arviz as az

        draws = self.parameter_draws()
        stats = az.summary(draws.to_dataset(name="parameters"), kind="diagnostics", round_to="none")
        values = draws.values.reshape(-1, draws.shape[-1])
        table = pd.DataFrame(
            {
                "mean": values.mean(axis=0),
                "sd": values.std(axis=0, ddof=1),
                "q2.5": np.quantile(values, 0.025, axis=0),
                "q50": np.quantile(values, 0.5, axis=0),
                "q97.5": np.quantile(values, 0.975, axis=0),
                "r_hat": stats["r_hat"].to_numpy(),
                "ess_bulk": stats["ess_bulk"].to_numpy(),
                "ess_tail": stats["ess_tail"].to_numpy(),
                "mcse_mean": stats["mcse_mean"].to_numpy(),
            },
            index=pd.Index(list(draws["parameter"].values), name="name"),
        )
        return table

    def diagnostic_messages(self) -> list[str]:
        """Warnings a user must see, each saying what to try."""
        table = self.params()
        messages = []
        acceptance = self.record.re_acceptance
        if acceptance is not None and acceptance < RE_ACCEPTANCE_LIMIT:
            messages.append(
                f"the random-effect draws accepted {acceptance:.0%} of their proposals (< {RE_ACCEPTANCE_LIMIT:.0%}): "
                "the conditional posteriors are far from their Laplace approximations; raise re_steps"
            )
        if self.sampler == "prior":
            return messages  # independent prior draws: no sampler to diagnose
        if self.sampler == "laplace":
            record = self.record
            if any(
                check is not None and not check for check in (record.mode_converged, record.hessian_positive_definite)
            ):
                messages.append(
                    f"the posterior mode search did not converge (max |gradient| {record.mode_gradient_norm:.2g}, "
                    f"Hessian positive definite: {record.hessian_positive_definite}): the Laplace posterior is "
                    "not usable; use the marginal sampler or tighter priors"
                )
            return messages  # independent draws: R-hat, ESS and divergences do not apply
        worst_rhat = table["r_hat"].max()
        if worst_rhat > RHAT_LIMIT:
            worst = table["r_hat"][table["r_hat"] > RHAT_LIMIT].sort_values(ascending=False)[:4]
            messages.append(
                f"R-hat up to {above(worst_rhat, RHAT_LIMIT)} (limit {RHAT_LIMIT}) for "
                f"{', '.join(f'{name} ({above(value, RHAT_LIMIT)})' for name, value in worst.items())}: "
                "the chains disagree; run more warm-up and draws, or check the model"
            )
        low_ess = table[["ess_bulk", "ess_tail"]].min(axis=1)
        if low_ess.min() < ESS_LIMIT:
            worst = low_ess[low_ess < ESS_LIMIT].sort_values()[:4]
            messages.append(
                f"effective sample size down to {low_ess.min():.0f} (< {ESS_LIMIT}) for "
                f"{', '.join(f'{name} ({value:.0f})' for name, value in worst.items())}: run more draws"
            )
        if self.divergences:
            messages.append(
                f"{self.divergences} divergent transitions after warm-up: the posterior is poorly explored; "
                f"{remedy(self.sampler, len(self.ngroups))}"
            )
        if "sample_stats" in self.idata.groups():
            stats = self.idata.sample_stats
            messages += nuts_messages(stats, self.record.max_tree_depth, self.sampler, len(self.ngroups))
        return messages

    def loo(self) -> pd.DataFrame:
        """PSIS-LOO on each stored log-likelihood: leave one observation out (``y``) and, with
        ``group_loglik``, leave one group out (``y_marginal``); elpd, SE, p_loo, Pareto k
        (:mod:`bayesglmm.results.loo`)."""
        from .loo import loo_table

        if self.sampler == "prior":
            raise SpecError("a prior-only fit has no likelihood to cross-validate; LOO needs a posterior fit")
        return loo_table(self.idata)

    def comparison_columns(self) -> ComparisonColumns:
        """:func:`bayesglmm.compare.compare`'s view of the fit (:class:`~.protocol.ComparisonColumns`)."""
        params = self.params()
        table = pd.DataFrame(
            {
                "estimate": params["mean"],
                "median": params["q50"],
                "se": params["sd"],
                "se_empirical": np.nan,
                "lower": params["q2.5"],
                "upper": params["q97.5"],
            }
        )
        method = {"full": "nuts", "marginal": "marginal", "laplace": "laplace-posterior", "prior": "prior"}[
            self.sampler
        ]
        return ComparisonColumns("bayes", method, CONDITIONAL, "equal-tailed 95% credible", table)

    def predict(self, data, scale: str = "response", kind: str = "conditional", **options) -> pd.DataFrame:
        """Predicted means (``scale="response"``) or linear predictors on ``data`` with 95% intervals;
        see :func:`bayesglmm.predict.predict` for the kinds (conditional, typical, marginal)."""
        from . import protocol

        return protocol.predict(self, data, scale, kind, **options)

    def to_dict(self) -> dict:
        """The documented machine-readable form (``bayesglmm fit --engine bayes --json``)."""
        table = self.params()
        return {
            "engine": "bayes",
            "sampler": self.sampler,
            "formula": self.formula,
            "family": self.family,
            "link": self.link,
            "chains": self.chains,
            "draws": self.draws,
            "warmup": self.warmup,
            "thin": self.thin,
            "seed": self.seed,
            "target_accept": self.target_accept,
            "divergences": self.divergences,
            "seconds": self.seconds,
            "nobs": self.nobs,
            "ngroups": self.ngroups,
            "record": self.record.to_dict(),
            "priors": [{"name": name, "prior": prior} for name, prior in self.priors],
            "params": [{"name": name, **{k: float(v) for k, v in row.items()}} for name, row in table.iterrows()],
        }

    def to_json(self, path=None, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON, written to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent)

    def summary(self) -> str:
        from .format import bayes_summary

        return bayes_summary(self)

    def save(self, path) -> None:
        """Write the fit to NetCDF (the InferenceData with the fit's record in its attributes)."""
        record = {k: v for k, v in self.to_dict().items() if k != "params"}
        record["parameter_names"] = list(self.parameter_names)
        if self.template is not None:
            record["template"] = self.template.to_dict()
        self.idata.posterior.attrs["bayesglmm"] = json.dumps(record, default=_json_scalar)
        self.idata.to_netcdf(str(path))

    @classmethod
    def load(cls, path) -> BayesFit:
        """Read a fit written by :meth:`save`."""
        import arviz as az

        idata = az.from_netcdf(str(path))
        record = json.loads(idata.posterior.attrs["bayesglmm"])
        return cls(
            formula=record["formula"],
            family=record["family"],
            link=record["link"],
            idata=idata,
            sampler=record["sampler"],
            chains=record["chains"],
            draws=record["draws"],
            warmup=record["warmup"],
            thin=record["thin"],
            seed=record["seed"],
            target_accept=record["target_accept"],
            divergences=record["divergences"],
            seconds=record["seconds"],
            priors=tuple((row["name"], row["prior"]) for row in record["priors"]),
            nobs=record["nobs"],
            ngroups=record["ngroups"],
            parameter_names=tuple(record["parameter_names"]),
            record=SamplerRecord.from_dict(record.get("record")),
            template=DesignTemplate.from_dict(record["template"]) if "template" in record else None,
        )

    def __repr__(self) -> str:
        return f"<BayesFit {self.sampler} {self.formula!r} {self.chains}x{self.draws} draws>"

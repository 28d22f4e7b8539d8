"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, "Validating
Bayesian inference algorithms with simulation-based calibration", arXiv:1804.06788): the Bayesian
twin of the coverage study (:mod:`.coverage`), on the same machinery (:mod:`.study_runner`).

Replicate r draws parameters θ̃ from the prior (:func:`~bayesglmm.bayes.fit.prior_fit`, one draw),
a data set from the model at θ̃ on the spec's design (random effects and response,
:func:`~bayesglmm.model.simulate.simulate_response`), fits the Bayesian engine to it, and records
for each parameter the rank of θ̃ among L posterior draws spread evenly over the chains (L =
``ranks``; evenly spread, as the paper's thinning, to weaken autocorrelation): the number of draws
below θ̃, in 0..L. If the engine samples the posterior the data imply, each rank is uniform on
0..L (the paper's theorem 1); a histogram that is ∪-shaped says the posterior is too narrow, ∩
too wide, skewed that it is biased. Fitting with priors other than those the data were drawn
from (``bayes``'s priors against ``prior_set``/``priors``) must show up as non-uniform ranks:
the check that the check can fail.

Per parameter the table gives the number of replicates, the mean rank / L (0.5 expected), the
chi-square statistic of the ranks in ``bins`` equal bins and its p-value, and the largest
distance of the ranks' ECDF from the uniform one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import SpecError
from ..options import check_int
from .engines import BAYESIAN_ENGINES, BayesSettings, fit_engine
from .study_runner import (
    check_folder,
    read_plan,
    release_compiled_programs,
    run_replicates,
    start_folder,
    valid_replicates,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class SBCPlan:
    """Everything that determines a calibration study's results; stored in ``out/study.json``.
    ``prior_set``/``priors`` draw the parameters; ``bayes`` holds the fits' priors and sampler lengths."""

    formula: str
    family: str
    link: str
    nobs: int
    prior_set: str
    priors: dict | None
    engine: str
    ranks: int
    sims: int
    seed: int
    bayes: BayesSettings

    def to_json(self) -> dict:
        plan = asdict(self)
        plan["bayes"] = asdict(self.bayes)
        return plan


def replicate_ranks(spec, plan: SBCPlan, replicate: int) -> list[dict]:
    """Draw θ̃ and data for replicate ``replicate``, fit, and rank θ̃: one row per parameter."""
    import warnings

    from ..bayes.fit import prior_fit
    from ..model.simulate import simulate_response

    seeds = np.random.SeedSequence([plan.seed, replicate])
    prior_seed, data_seed, fit_seed = (int(s) for s in seeds.generate_state(3) >> 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drawn = prior_fit(spec, plan.prior_set, plan.priors, draws=1, seed=prior_seed).parameter_draws()
        truth = {str(name): float(value) for name, value in drawn.isel(chain=0, draw=0).to_series().items()}
        simulated = simulate_response(spec, truth, np.random.default_rng(data_seed))
        try:
            fit = fit_engine(simulated, plan.engine, BayesSettings(**{**asdict(plan.bayes), "seed": fit_seed}), False)
        except Exception as error:  # a failed fit is a result of the study: counted, not fatal
            return [
                {
                    "replicate": replicate,
                    "engine": plan.engine,
                    "name": None,
                    "error": f"{type(error).__name__}: {error}",
                }
            ]
    release_compiled_programs()
    draws = fit.parameter_draws()
    flat = draws.values.reshape(-1, draws.shape[-1])
    kept = flat[np.linspace(0, len(flat) - 1, plan.ranks).round().astype(int)]
    return [
        {
            "replicate": replicate,
            "engine": plan.engine,
            "name": str(name),
            "truth": truth[str(name)],
            "rank": int(np.sum(kept[:, k] < truth[str(name)])),
            "divergences": int(fit.divergences),
        }
        for k, name in enumerate(draws["parameter"].values)
    ]


def summarise_ranks(ranks: pd.DataFrame, L: int, bins: int) -> pd.DataFrame:
    """Per parameter: n, mean rank / L, the chi-square test of uniform ranks in ``bins`` bins of
    0..L, and the largest ECDF distance from uniform (module docstring)."""
    from scipy import stats

    rows = []
    edges = np.linspace(0, L + 1, bins + 1)
    for name, group in ranks[ranks["name"].notna()].groupby("name", sort=False):
        values = group["rank"].to_numpy(dtype=float)
        counts, _ = np.histogram(values, bins=edges)
        chi2, p_value = stats.chisquare(counts)
        ecdf = np.searchsorted(np.sort(values), np.arange(L + 1), side="right") / len(values)
        rows.append(
            {
                "name": name,
                "n": len(values),
                "mean_rank": float(values.mean() / L),
                "chi2": float(chi2),
                "bins": bins,
                "p_value": float(p_value),
                "ecdf_distance": float(np.max(np.abs(ecdf - (np.arange(L + 1) + 1) / (L + 1)))),
            }
        )
    return pd.DataFrame(rows).set_index("name")


@dataclass
class SBCStudy:
    """The plan, every replicate's ranks and the per-parameter uniformity table."""

    plan: SBCPlan
    ranks: pd.DataFrame
    table: pd.DataFrame
    bins: int

    def failures(self) -> pd.DataFrame:
        """Replicates whose fit raised an error."""
        return self.ranks[self.ranks["name"].isna()]

    def to_dict(self) -> dict:
        import json

        table = self.table.reset_index()
        return {"plan": self.plan.to_json(), "table": json.loads(table.to_json(orient="records", double_precision=15))}

    def summary(self) -> str:
        table = self.table.copy()
        lines = [
            f"Simulation-based calibration: {self.plan.formula} ({self.plan.family}), engine {self.plan.engine}, "
            f"{table['n'].max() if len(table) else 0} of {self.plan.sims} replicates, ranks among {self.plan.ranks} draws",
            table.round(4).to_string(),
            "Uniform ranks: p_value is the chi-square test's in "
            f"{self.bins} bins; mean_rank near 0.5 and a small ecdf_distance (about 1.36/sqrt(n) at 5%) are expected.",
        ]
        if len(self.failures()):
            lines.append(f"{len(self.failures())} fits failed (see .failures())")
        return "\n".join(lines)

    def plot(self, path=None) -> Figure:
        """Per parameter a histogram of the ranks in the study's bins with the 99% band of a uniform
        histogram (binomial; the paper's figure 1)."""
        import matplotlib.pyplot as plt
        from scipy import stats

        names = list(self.table.index)
        figure, axes = plt.subplots(1, max(len(names), 1), figsize=(3.2 * max(len(names), 1), 2.8), squeeze=False)
        L, bins = self.plan.ranks, self.bins
        for ax, name in zip(axes[0], names):
            values = self.ranks.loc[self.ranks["name"] == name, "rank"].to_numpy(dtype=float)
            n = len(values)
            low, high = stats.binom(n, 1 / bins).ppf([0.005, 0.995])
            ax.axhspan(low, high, color="#dddddd", label="99% if uniform")
            ax.hist(values, bins=np.linspace(0, L + 1, bins + 1), color="#6baed6", edgecolor="white")
            ax.axhline(n / bins, color="grey", lw=0.8)
            ax.set_title(f"{name}\np = {self.table.loc[name, 'p_value']:.3f}", fontsize=9)
            ax.set_xlabel(f"rank of the prior draw among {L} posterior draws", fontsize=8)
        axes[0, 0].legend(fontsize=7)
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=120, bbox_inches="tight")
        return figure


def load_sbc(out, bins: int = 20) -> SBCStudy:
    """Read a calibration study's folder (finished or not) and summarise the ranks it holds."""
    plan_json = read_plan(out)
    plan = SBCPlan(**{**plan_json, "bayes": BayesSettings(**plan_json["bayes"])})
    done = valid_replicates(Path(out) / "replicates", plan.sims)
    rows = [row for replicate in sorted(done) for row in done[replicate]]
    ranks = pd.DataFrame(rows, columns=["replicate", "engine", "name", "truth", "rank", "divergences", "error"])
    return SBCStudy(plan, ranks, summarise_ranks(ranks, plan.ranks, bins), bins)


def sbc_study(
    spec,
    out,
    sims: int = 200,
    prior_set: str = "default",
    priors: dict | None = None,
    engine: str = "bayes",
    bayes: BayesSettings | None = None,
    ranks: int = 99,
    bins: int = 20,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    executor=None,
) -> SBCStudy:
    """Simulation-based calibration of a Bayesian engine on ``spec``'s model and design.

    Parameters
    ----------
    prior_set, priors : the priors the parameters are drawn from (proper priors only).
    engine : ``bayes`` (the automatic sampler), ``nuts``, ``marginal`` or ``laplace-posterior``.
    bayes : the fits' priors and sampler lengths (default: the same priors, 2 chains x 500 draws);
        priors other than the generating ones are a deliberate misspecification.
    ranks : L, the posterior draws each prior draw is ranked among (ranks 0..L).
    bins : the chi-square test's and the plot's bins of 0..L.
    out, seed, workers, progress, executor : as :func:`~.coverage.coverage_study` (resumable folder).
    """
    from ..bayes.priors import check_proper, resolve_priors

    if engine not in BAYESIAN_ENGINES:
        raise SpecError(f"simulation-based calibration checks a Bayesian engine: {', '.join(BAYESIAN_ENGINES)}")
    check_int("sims", sims, 1)
    check_int("ranks", ranks, 1)
    check_int("bins", bins, 2)
    check_int("seed", seed, 0)
    if workers is not None:
        check_int("workers", workers, 1)
    check_proper(resolve_priors(spec, prior_set, priors))  # before any replicate: a flat prior has no draws
    bayes = bayes or BayesSettings(prior_set, priors, chains=2, draws=500)
    plan = SBCPlan(
        spec.formula,
        spec.family.name,
        spec.family.link,
        spec.nobs,
        prior_set,
        priors,
        engine,
        int(ranks),
        int(sims),
        int(seed),
        bayes,
    )
    out = Path(out)
    check_folder(out, plan.to_json())
    folder = start_folder(out, plan.to_json())
    run_replicates(replicate_ranks, (spec, plan), folder, sims, workers, progress, executor)
    return load_sbc(out, bins)

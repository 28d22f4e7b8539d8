"""The argument parser of the command line (argparse, standard library: it keeps start-up fast,
and the whole command is what a user waits for)."""

from __future__ import annotations

import argparse


def _qpoints(text: str):
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--qpoints takes a whole number or 'auto', not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("--qpoints must be >= 1")
    return value


def _model_arguments(command) -> None:
    command.add_argument("spec", nargs="?", help="TOML model file (models/*.toml)")
    command.add_argument("--formula", help="lme4 formula, e.g. 'y ~ x + (1 + x | g)' (instead of a spec file)")
    command.add_argument("--data", help="CSV file with the data (with --formula)")
    command.add_argument(
        "--family",
        help="bernoulli | binomial | poisson | gaussian | nbinom2 | nbinom1 | gamma | beta | zipoisson | zinbinom2",
    )
    command.add_argument("--link", help="link function (default: canonical)")
    command.add_argument("--trials", help="binomial: column holding the number of trials")
    command.add_argument("--zi", help="zero-inflation formula for poisson/nbinom2, e.g. '~ 1' or '~ trt'")


def _sampler_arguments(group) -> None:
    group.add_argument(
        "--prior-set",
        "--priors",
        dest="prior_set",
        help="prior set: default | brms (brms's own defaults) | brms_proper (as fit_bayes(prior_set=); overrides go in the spec's [bayes.priors]; "
        "--priors is the former name)",
    )
    group.add_argument("--chains", type=int, help="number of chains (default 4)")
    group.add_argument("--draws", type=int, help="draws kept per chain (default 1000)")
    group.add_argument("--warmup", type=int, help="warm-up iterations per chain (default 1000; marginal 500)")
    group.add_argument("--seed", type=int, help="random seed (default 0)")


def _parser() -> argparse.ArgumentParser:
    from ..compare.engines import ENGINE_HELP

    parser = argparse.ArgumentParser(prog="bayesglmm", description="Generalized linear mixed models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a model and print its summary")
    _model_arguments(fit)
    fit.add_argument("--engine", default="ml", choices=["ml", "bayes", "gee"], help="fitting engine (default: ml)")
    fit.add_argument("--method", choices=["laplace", "agq"], help="laplace or agq (default: the spec's, else laplace)")
    fit.add_argument("--qpoints", type=_qpoints, help="points per dimension for agq, or 'auto'")
    fit.add_argument(
        "--max-grid-gb",
        type=float,
        help="refuse AGQ grids (or several-factor fits) estimated to need more memory (default: 3/4 of RAM)",
    )
    fit.add_argument(
        "--empirical",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tests and intervals from the empirical (sandwich) covariance",
    )
    fit.add_argument(
        "--profile",
        action="store_true",
        help="also profile-likelihood 95%% intervals of every parameter (lme4's confint(method = 'profile'); "
        "one grouping factor), printed and in --json as profile_intervals",
    )
    bayes = fit.add_argument_group("Bayesian engine (--engine bayes)")
    bayes.add_argument(
        "--sampler",
        choices=["auto", "full", "marginal", "laplace"],
        help="auto (default): marginal where it applies and is cheap, else full (the choice is printed); "
        "full: NUTS on every random effect; marginal: NUTS with the random effects "
        "integrated out by quadrature (--qpoints, default the ML rule's); laplace: Gaussian "
        "approximation at the posterior mode",
    )
    _sampler_arguments(bayes)
    bayes.add_argument(
        "--prior-only",
        action="store_true",
        help="draw from the priors and the prior predictive only, no data used (brms's sample_prior = 'only'; "
        "--draws of them); check them with `bayesglmm ppcheck`",
    )
    bayes.add_argument("--thin", type=int, help="keep every thin-th iteration (default 1)")
    bayes.add_argument("--target-accept", type=float, help="NUTS target acceptance (default 0.8)")
    bayes.add_argument(
        "--dense-mass",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a dense NUTS metric (the default) or, with --no-dense-mass, a diagonal one (Stan's diag_e)",
    )
    bayes.add_argument("--save", metavar="OUT.nc", help="save the posterior (ArviZ NetCDF)")
    gee = fit.add_argument_group("marginal model (--engine gee)")
    gee.add_argument("--cluster", help="column of the independent units (default: the formula's grouping factor)")
    gee.add_argument("--within", help="column of the occasion inside a cluster (SAS withinsubject=)")
    gee.add_argument(
        "--corr",
        help="independence | exchangeable | ar1 | unstructured | alr-exch | alr-fullclust | "
        "alr-nest1 (default: the spec's [gee] corr, else exchangeable)",
    )
    gee.add_argument("--subcluster", help="column of the subclusters for --corr alr-nest1 (SAS subclust=)")
    gee.add_argument("--ar1", choices=["lag1", "pairs"], help="AR(1) estimator: lag1 (SAS, default) or pairs (geepack)")
    gee.add_argument(
        "--score-tests",
        action="store_true",
        default=None,
        help="also print the type III generalized score tests (SAS's default type3)",
    )
    fit.add_argument("--json", metavar="OUT", help="write the fit as JSON to OUT")
    fit.add_argument("--quiet", action="store_true", help="print nothing (with --json)")

    compare = commands.add_parser("compare", help="fit one model with several engines and print them side by side")
    _model_arguments(compare)
    compare.add_argument("--engines", default="laplace,agq,nuts", help=f"comma-separated: {ENGINE_HELP}")
    compare.add_argument(
        "--reference", help="fit the others are measured against (default: the ML fit with most points)"
    )
    compare.add_argument("--max-std-diff", type=float, default=0.5, help="flag |estimate - reference| / SE above this")
    _sampler_arguments(compare.add_argument_group("Bayesian engines"))
    compare.add_argument("--json", metavar="OUT", help="write the comparison table as JSON")
    compare.add_argument("--plot", metavar="OUT.png", help="forest plot of every parameter and fit")
    compare.add_argument(
        "--density-plot", metavar="OUT.png", help="posterior densities with the ML normal approximations"
    )
    compare.add_argument("--quiet", action="store_true", help="print nothing")

    predict = commands.add_parser("predict", help="predicted means on the spec's [predict] grid, table and plot")
    predict.add_argument("spec", help="TOML model file with a [predict] section")
    predict.add_argument("--engine", default="ml", choices=["ml", "bayes", "gee"], help="fitting engine (default: ml)")
    predict.add_argument(
        "--kind",
        choices=["conditional", "typical", "marginal"],
        help="GLMM: typical subject (b = 0) or population-averaged (default: both); GEE: marginal",
    )
    predict.add_argument("--scale", default="response", choices=["response", "link"])
    _sampler_arguments(predict.add_argument_group("Bayesian engine"))
    predict.add_argument("--json", metavar="OUT", help="write the predictions as JSON")
    predict.add_argument("--plot", metavar="OUT.png", help="predicted trajectories, one line per group level")
    predict.add_argument("--quiet", action="store_true", help="print nothing")

    loo = commands.add_parser(
        "loo", help="PSIS-LOO of saved Bayesian fits (fit --engine bayes --save F.nc): per fit, and compared"
    )
    loo.add_argument("fits", nargs="+", metavar="FIT.nc", help="Bayesian fits saved with --save")
    loo.add_argument(
        "--var-name",
        default="y_marginal",
        choices=["y_marginal", "y"],
        help="the comparison's log-likelihood: y_marginal leaves one group out (default), y one observation",
    )
    loo.add_argument("--json", metavar="OUT", help="write the tables as JSON")

    sbc = commands.add_parser(
        "sbc", help="simulation-based calibration: parameters from the priors, data from the model, refit, rank"
    )
    _model_arguments(sbc)
    sbc.add_argument(
        "--engine",
        default="bayes",
        choices=["bayes", "nuts", "marginal", "laplace-posterior"],
        help="the Bayesian engine to calibrate (default bayes: the automatic sampler)",
    )
    sbc.add_argument("--sims", type=int, default=200, help="number of prior draws and data sets (default 200)")
    sbc.add_argument(
        "--ranks", type=int, default=99, help="posterior draws each prior draw is ranked among (default 99)"
    )
    sbc.add_argument("--out", required=True, metavar="DIR", help="folder for the replicates (resumes if it exists)")
    sbc.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    sbc.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the replicates on a Dask cluster (its scheduler's address, e.g. tcp://host:8786; needs "
        "dask[distributed]) instead of local processes; its workers must see --out",
    )
    _sampler_arguments(sbc.add_argument_group("Bayesian engine (its priors draw the parameters too)"))
    sbc.add_argument("--json", metavar="OUT", help="write the rank table as JSON")
    sbc.add_argument("--plot", metavar="OUT.png", help="rank histograms per parameter with the uniform 99% band")
    sbc.add_argument("--quiet", action="store_true", help="print nothing, no progress bar")

    ppcheck = commands.add_parser(
        "ppcheck",
        help="predictive check of a saved Bayesian fit (fit --engine bayes [--prior-only] --save F.nc), as brms's pp_check",
    )
    ppcheck.add_argument("fit", metavar="FIT.nc", help="a Bayesian fit saved with --save")
    ppcheck.add_argument(
        "--stats",
        default="mean,sd,zeros,dispersion",
        help="comma-separated statistics: mean, sd, zeros, max, dispersion (variance/mean), within "
        "(mean within-group variance); default mean,sd,zeros,dispersion",
    )
    ppcheck.add_argument(
        "--group",
        default="posterior_predictive",
        choices=["posterior_predictive", "prior_predictive"],
        help="the replicates: the fit's posterior predictive (a prior-only fit's: the prior predictive), "
        "or the prior predictive a fit made with prior draws",
    )
    ppcheck.add_argument(
        "--plot", metavar="OUT.png", help="the observed distribution and statistics against the replicates"
    )
    ppcheck.add_argument("--json", metavar="OUT", help="write the table as JSON")

    coverage = commands.add_parser("coverage", help="simulate from the fitted model, refit, report bias and coverage")
    _model_arguments(coverage)
    coverage.add_argument("--engines", default="agq", help=f"comma-separated: {ENGINE_HELP}")
    coverage.add_argument("--sims", type=int, default=200, help="number of simulated data sets (default 200)")
    coverage.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the replicates (resumes if it exists)"
    )
    coverage.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    coverage.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the replicates on a Dask cluster (its scheduler's address, e.g. tcp://host:8786; needs "
        "dask[distributed]) instead of local processes; its workers must see --out",
    )
    _sampler_arguments(coverage.add_argument_group("Bayesian engines"))
    coverage.add_argument("--json", metavar="OUT", help="write the coverage table as JSON")
    coverage.add_argument("--plot", metavar="OUT.png", help="coverage per parameter and engine")
    coverage.add_argument("--quiet", action="store_true", help="print nothing, no progress bar")
    return parser

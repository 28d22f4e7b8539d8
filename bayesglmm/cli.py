"""Command line: ``bayesglmm fit|compare|coverage|predict SPEC.toml`` (or ``--formula ... --data FILE.csv``).

argparse (standard library) keeps start-up fast: the whole command is what a
user waits for, and a CLI framework import would cost more than the fit.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .errors import SpecError
from .outputs import check_output_path, check_study_folder, write_outputs


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
    command.add_argument("--family", help="bernoulli | binomial | poisson | gaussian")
    command.add_argument("--link", help="link function (default: canonical)")
    command.add_argument("--trials", help="binomial: column holding the number of trials")


def _sampler_arguments(group) -> None:
    group.add_argument("--priors", help="prior set: default | brms (overrides go in the spec's [bayes.priors])")
    group.add_argument("--chains", type=int, help="number of chains (default 4)")
    group.add_argument("--draws", type=int, help="draws kept per chain (default 1000)")
    group.add_argument("--warmup", type=int, help="warm-up iterations per chain (default 1000; marginal 500)")
    group.add_argument("--seed", type=int, help="random seed (default 0)")


def _parser() -> argparse.ArgumentParser:
    from .compare.engines import ENGINE_HELP

    parser = argparse.ArgumentParser(prog="bayesglmm", description="Generalized linear mixed models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a model and print its summary")
    _model_arguments(fit)
    fit.add_argument("--engine", default="ml", choices=["ml", "bayes", "gee"], help="fitting engine (default: ml)")
    fit.add_argument("--method", choices=["laplace", "agq"], help="laplace or agq (default: the spec's, else laplace)")
    fit.add_argument("--qpoints", type=_qpoints, help="points per dimension for agq, or 'auto'")
    fit.add_argument(
        "--max-grid-gb", type=float, help="refuse AGQ grids estimated to need more memory (default: 3/4 of RAM)"
    )
    fit.add_argument(
        "--empirical",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tests and intervals from the empirical (sandwich) covariance",
    )
    bayes = fit.add_argument_group("Bayesian engine (--engine bayes)")
    bayes.add_argument(
        "--sampler",
        choices=["full", "marginal", "laplace"],
        help="full: NUTS on every random effect (default); marginal: NUTS with the random effects "
        "integrated out by quadrature (--qpoints, default the ML rule's); laplace: Gaussian "
        "approximation at the posterior mode",
    )
    _sampler_arguments(bayes)
    bayes.add_argument("--thin", type=int, help="keep every thin-th iteration (default 1)")
    bayes.add_argument("--target-accept", type=float, help="NUTS target acceptance (default 0.8)")
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

    coverage = commands.add_parser("coverage", help="simulate from the fitted model, refit, report bias and coverage")
    _model_arguments(coverage)
    coverage.add_argument("--engines", default="agq", help=f"comma-separated: {ENGINE_HELP}")
    coverage.add_argument("--sims", type=int, default=200, help="number of simulated data sets (default 200)")
    coverage.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the replicates (resumes if it exists)"
    )
    coverage.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    _sampler_arguments(coverage.add_argument_group("Bayesian engines"))
    coverage.add_argument("--json", metavar="OUT", help="write the coverage table as JSON")
    coverage.add_argument("--plot", metavar="OUT.png", help="coverage per parameter and engine")
    coverage.add_argument("--quiet", action="store_true", help="print nothing, no progress bar")
    return parser


def _load(args, section: str = "ml"):
    from .csv_input import read_csv
    from .model.spec import ModelSpec
    from .toml_spec import load_spec_file

    if args.spec:
        spec_file = load_spec_file(args.spec)
        spec = spec_file.spec(
            family=args.family,
            link=args.link,
            trials=args.trials,
            **({"formula": args.formula} if args.formula else {}),
        )
        return spec, getattr(spec_file, section)
    if not (args.formula and args.data):
        raise SpecError("give a spec file, or --formula and --data (and --family)")
    if not args.family:
        raise SpecError(
            "--family is required with --formula (as lme4's glmer): bernoulli, binomial, poisson or gaussian"
        )
    spec = ModelSpec.from_formula(
        args.formula, read_csv(args.data), family=args.family, link=args.link, trials=args.trials
    )
    return spec, {}


def _fit(args) -> int:
    if args.engine == "bayes":
        return _fit_bayes(args)
    if args.engine == "gee":
        return _fit_gee(args)
    from ._jax import enable_compilation_cache

    enable_compilation_cache()
    spec, options = _load(args)
    fit = _ml_fit(spec, options, args)
    status = write_outputs({args.json: fit.to_json})
    if not args.quiet:
        print(fit.summary())
    return status


def _ml_fit(spec, options: dict, args=None):
    """ML fit with the spec's [ml] options, command-line options (when given) first."""
    from .ml import fit_ml

    given = lambda name: getattr(args, name, None)  # noqa: E731  (predict has no ML options)
    method = given("method") or options.get("method", "laplace")
    # the spec's qpoints belong to its method; --qpoints with --method laplace is refused by fit_ml
    qpoints = given("qpoints") if given("qpoints") is not None else options.get("qpoints") if method == "agq" else None
    empirical = given("empirical") if given("empirical") is not None else options.get("empirical", False)
    max_grid_gb = given("max_grid_gb") if given("max_grid_gb") is not None else options.get("max_grid_gb")
    return fit_ml(spec, method=method, qpoints=qpoints, empirical=empirical, max_grid_gb=max_grid_gb)


def _fit_bayes(args) -> int:
    from .bayes import fit_bayes, laplace_fit, set_cpu_devices
    from .options import NUTSOptions

    NUTS_KEYS = ("chains", "warmup", "draws", "thin", "seed", "target_accept")

    spec, options = _load(args, "bayes")
    chosen = {
        "prior_set": args.priors,
        "sampler": args.sampler,
        "qpoints": args.qpoints,
        "chains": args.chains,
        "draws": args.draws,
        "warmup": args.warmup,
        "thin": args.thin,
        "seed": args.seed,
        "target_accept": args.target_accept,
    }
    settings = {**options, **{k: v for k, v in chosen.items() if v is not None}}
    if settings.get("qpoints") == "auto":
        settings["qpoints"] = None  # the ML engine's rule, the marginal sampler's default
    NUTSOptions(**{k: v for k, v in settings.items() if k in NUTS_KEYS})  # checked before JAX starts
    set_cpu_devices(settings.get("chains", 4))  # before JAX's first computation: chains in parallel
    if settings.get("sampler") == "laplace":
        unused = sorted(set(settings) & {"chains", "warmup", "thin", "target_accept"})
        if unused:
            raise SpecError(f"the Laplace posterior draws independently; {', '.join(unused)} do not apply")
        settings.pop("sampler")
        fit = laplace_fit(spec, **settings)
    else:
        fit = fit_bayes(spec, **settings)
    status = write_outputs({args.save: fit.save, args.json: fit.to_json})
    if not args.quiet:
        print(fit.summary())
    return status


def _fit_gee(args) -> int:
    """GEE on the spec's data: the [gee] section, else the model formula without its bars."""
    from .csv_input import read_csv
    from .toml_spec import load_spec_file

    if args.spec:
        spec_file = load_spec_file(args.spec)
        fit = _gee_fit(spec_file.data, spec_file.model, spec_file.gee, args)
    elif args.formula and args.data:
        if not args.family:
            raise SpecError("--family is required with --formula: bernoulli, binomial, poisson or gaussian")
        fit = _gee_fit(read_csv(args.data), {}, {}, args)
    else:
        raise SpecError("give a spec file, or --formula and --data (and --family, --cluster)")
    status = write_outputs({args.json: fit.to_json})
    if not args.quiet:
        print(fit.summary())
    return status


def _gee_fit(data, model: dict, options: dict, args=None):
    """GEE from a spec's [model] and [gee] sections, command-line options (when given) first.

    The mean model is the [gee] formula, else the model formula without its bars; the cluster
    defaults to the formula's grouping factor.
    """
    from .gee import fit_gee
    from .model.formula import mean_model_formula

    given = lambda name: getattr(args, name, None)  # noqa: E731  (predict has no GEE options)
    formula, group = mean_model_formula(given("formula") or options.get("formula") or model["formula"])
    return fit_gee(
        formula,
        data,
        family=given("family") or model.get("family"),
        cluster=given("cluster") or options.get("cluster") or group,
        within=given("within") or options.get("within"),
        corr=given("corr") or options.get("corr", "exchangeable"),
        link=given("link") or model.get("link"),
        trials=given("trials") or model.get("trials"),
        reference=model.get("reference"),
        ar1=given("ar1") or options.get("ar1", "lag1"),
        score_tests=bool(given("score_tests") or options.get("score_tests", False)),
        subcluster=given("subcluster") or options.get("subcluster"),
    )


def _predict(args) -> int:
    from .predict import trajectory_grid, trajectory_plot
    from .toml_spec import load_spec_file

    spec_file = load_spec_file(args.spec)
    grid_options = spec_file.predict
    missing = sorted({"x", "values", "group", "levels"} - set(grid_options))
    if missing:
        raise SpecError(f"{args.spec} needs a [predict] section with {', '.join(missing)} (the grid to predict on)")
    derive = {
        name: (lambda frame, e=expression: frame.eval(e)) for name, expression in grid_options.get("derive", {}).items()
    }
    grid = trajectory_grid(
        grid_options["x"], grid_options["values"], grid_options["group"], grid_options["levels"], **derive
    )
    fit = _fit_for_prediction(args, spec_file)
    if args.engine == "gee":
        fits = {"GEE": (fit, "marginal")}
    else:
        labels = {"marginal": "population-averaged", "typical": "typical subject", "conditional": "conditional"}
        fits = {
            f"{args.engine} {labels[kind]}": (fit, kind)
            for kind in ([args.kind] if args.kind else ["typical", "marginal"])
        }
    figure, table = trajectory_plot(
        fits,
        grid,
        grid_options["x"],
        grid_options["group"],
        scale=args.scale,
        ylabel=grid_options.get("ylabel"),
        group_labels=grid_options.get("group_labels"),
    )
    status = write_outputs({args.plot: lambda path: figure.savefig(path, dpi=120, bbox_inches="tight")})
    status = write_outputs({args.json: lambda path: Path(path).write_text(table.to_json(orient="records", indent=2))})
    if not args.quiet:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return status


def _fit_for_prediction(args, spec_file):
    """The spec's fit by the chosen engine, with the spec's options for that engine."""
    if args.engine == "gee":
        return _gee_fit(spec_file.data, spec_file.model, spec_file.gee)
    spec = spec_file.spec()
    if args.engine == "ml":
        return _ml_fit(spec, spec_file.ml)
    from .bayes import set_cpu_devices
    from .compare.engines import fit_engine

    bayes = _bayes_settings(args, spec_file.bayes)
    set_cpu_devices(bayes.chains)
    return fit_engine(spec, "nuts" if spec_file.bayes.get("sampler", "full") == "full" else "marginal", bayes)


def _bayes_settings(args, options: dict):
    from .compare.engines import BayesSettings

    chosen = {
        "prior_set": args.priors,
        "chains": args.chains,
        "warmup": args.warmup,
        "draws": args.draws,
        "seed": args.seed,
    }
    settings = {
        **{k: options[k] for k in ("prior_set", "priors", "chains", "warmup", "draws", "seed") if k in options},
        **{k: v for k, v in chosen.items() if v is not None},
    }
    return BayesSettings(**settings)


def _compare(args) -> int:
    from .bayes import set_cpu_devices
    from .compare import compare, fit_engine, parse_engines

    engines = parse_engines(args.engines)
    spec, options = _load(args, "bayes")
    bayes = _bayes_settings(args, options)
    set_cpu_devices(bayes.chains)  # before JAX's first computation: chains in parallel
    if args.reference is not None and args.reference not in engines:
        raise SpecError(
            f"--reference {args.reference!r} is not one of the fits compared ({', '.join(engines)}); "
            "name one of --engines"
        )
    if args.max_std_diff <= 0:
        raise SpecError(f"--max-std-diff must be > 0, got {args.max_std_diff}")
    fits = [fit_engine(spec, engine, bayes) for engine in engines]
    comparison = compare(*fits, labels=list(engines), reference=args.reference, max_std_diff=args.max_std_diff)
    status = write_outputs(
        {
            args.json: lambda path: Path(path).write_text(json.dumps(comparison.to_dict(), indent=2)),
            args.plot: comparison.plot,
            args.density_plot: comparison.plot_densities,
        }
    )
    if not args.quiet:
        print(comparison.summary())
    return status


def _coverage(args) -> int:
    from .compare import coverage_study, parse_engines

    engines = parse_engines(args.engines)
    spec, options = _load(args, "bayes")
    bayes = _bayes_settings(args, options)
    study = coverage_study(
        spec,
        args.out,
        engines,
        sims=args.sims,
        seed=args.seed or 0,
        workers=args.workers,
        bayes=bayes,
        progress=not args.quiet,
    )
    status = write_outputs(
        {
            args.json: lambda path: Path(path).write_text(json.dumps(study.to_dict(), indent=2)),
            args.plot: study.plot,
        }
    )
    if not args.quiet:
        print(study.summary())
    return status


COMMANDS = {"fit": _fit, "compare": _compare, "coverage": _coverage, "predict": _predict}
OUTPUT_OPTIONS = ("json", "save", "plot", "density_plot")


def _check_arguments(args) -> None:
    """What can be checked before loading data or fitting: output paths and counts."""
    for option in OUTPUT_OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            check_output_path(option.replace("_", "-"), value)
    if getattr(args, "out", None) is not None:
        check_study_folder(args.out)
        if args.sims < 1:
            raise SpecError(f"--sims must be >= 1, got {args.sims}")
        if args.workers is not None and args.workers < 1:
            raise SpecError(f"--workers must be >= 1, got {args.workers}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        formatwarning = warnings.formatwarning
        warnings.formatwarning = lambda message, category, *rest: f"{category.__name__}: {message}\n"
        try:
            _check_arguments(args)
            return COMMANDS[args.command](args)
        except (SpecError, OSError) as error:
            print(f"bayesglmm: error: {_one_line(error)}", file=sys.stderr)
            return 2
        finally:
            warnings.formatwarning = formatwarning


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())

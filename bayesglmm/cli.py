"""Command line: ``bayesglmm fit SPEC.toml`` or ``bayesglmm fit --formula ... --data FILE.csv``.

argparse (standard library) keeps start-up fast: the whole command is what a
user waits for, and a CLI framework import would cost more than the fit.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .errors import SpecError


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesglmm", description="Generalized linear mixed models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a model and print its summary")
    fit.add_argument("spec", nargs="?", help="TOML model file (models/*.toml)")
    fit.add_argument("--engine", default="ml", choices=["ml", "bayes"], help="fitting engine (default: ml)")
    fit.add_argument("--formula", help="lme4 formula, e.g. 'y ~ x + (1 + x | g)' (instead of a spec file)")
    fit.add_argument("--data", help="CSV file with the data (with --formula)")
    fit.add_argument("--family", help="bernoulli | binomial | poisson | gaussian")
    fit.add_argument("--link", help="link function (default: canonical)")
    fit.add_argument("--trials", help="binomial: column holding the number of trials")
    fit.add_argument("--method", choices=["laplace", "agq"], help="laplace or agq (default: the spec's, else laplace)")
    fit.add_argument("--qpoints", type=_qpoints, help="points per dimension for agq, or 'auto'")
    fit.add_argument("--empirical", action=argparse.BooleanOptionalAction, default=None,
                     help="tests and intervals from the empirical (sandwich) covariance")
    bayes = fit.add_argument_group("Bayesian engine (--engine bayes)")
    bayes.add_argument("--priors", help="prior set: default | brms (overrides go in the spec's [bayes.priors])")
    bayes.add_argument("--sampler", choices=["full", "marginal", "laplace"],
                       help="full: NUTS on every random effect (default); marginal: NUTS with the random effects "
                            "integrated out by quadrature (--qpoints, default the ML rule's); laplace: Gaussian "
                            "approximation at the posterior mode")
    bayes.add_argument("--chains", type=int, help="number of chains (default 4)")
    bayes.add_argument("--draws", type=int, help="draws kept per chain (default 1000)")
    bayes.add_argument("--warmup", type=int, help="warm-up iterations per chain (default 1000; marginal 500)")
    bayes.add_argument("--thin", type=int, help="keep every thin-th iteration (default 1)")
    bayes.add_argument("--seed", type=int, help="random seed (default 0)")
    bayes.add_argument("--target-accept", type=float, help="NUTS target acceptance (default 0.8)")
    bayes.add_argument("--save", metavar="OUT.nc", help="save the posterior (ArviZ NetCDF)")
    fit.add_argument("--json", metavar="OUT", help="write the fit as JSON to OUT")
    fit.add_argument("--quiet", action="store_true", help="print nothing (with --json)")
    return parser


def _load(args):
    import pandas as pd

    from .spec import ModelSpec
    from .toml_spec import load_spec_file

    if args.spec:
        spec_file = load_spec_file(args.spec)
        spec = spec_file.spec(family=args.family, link=args.link, trials=args.trials,
                              **({"formula": args.formula} if args.formula else {}))
        return spec, spec_file.ml if args.engine == "ml" else spec_file.bayes
    if not (args.formula and args.data):
        raise SpecError("give a spec file, or --formula and --data (and --family)")
    path = Path(args.data)
    if not path.is_file():
        raise SpecError(f"data file {path} not found")
    spec = ModelSpec.from_formula(args.formula, pd.read_csv(path), family=args.family or "bernoulli",
                                  link=args.link, trials=args.trials)
    return spec, {}


def _fit(args) -> int:
    if args.engine == "bayes":
        return _fit_bayes(args)
    from ._jax import enable_compilation_cache
    from .ml import fit_ml

    enable_compilation_cache()
    spec, options = _load(args)
    method = args.method or options.get("method", "laplace")
    qpoints = args.qpoints if args.qpoints is not None else options.get("qpoints")
    if method == "laplace":
        qpoints = None
    empirical = args.empirical if args.empirical is not None else bool(options.get("empirical", False))
    fit = fit_ml(spec, method=method, qpoints=qpoints, empirical=empirical)
    if args.json:
        fit.to_json(args.json)
    if not args.quiet:
        print(fit.summary())
    return 0


def _fit_bayes(args) -> int:
    from .bayes import fit_bayes, laplace_fit, set_cpu_devices

    spec, options = _load(args)
    chosen = {
        "prior_set": args.priors, "sampler": args.sampler, "qpoints": args.qpoints, "chains": args.chains,
        "draws": args.draws, "warmup": args.warmup, "thin": args.thin, "seed": args.seed,
        "target_accept": args.target_accept,
    }
    settings = {**options, **{k: v for k, v in chosen.items() if v is not None}}
    if settings.get("qpoints") == "auto":
        settings["qpoints"] = None  # the ML engine's rule, the marginal sampler's default
    set_cpu_devices(settings.get("chains", 4))  # before JAX's first computation: chains in parallel
    if settings.get("sampler") == "laplace":
        unused = sorted(set(settings) & {"chains", "warmup", "thin", "target_accept"})
        if unused:
            raise SpecError(f"the Laplace posterior draws independently; {', '.join(unused)} do not apply")
        settings.pop("sampler")
        fit = laplace_fit(spec, **settings)
    else:
        fit = fit_bayes(spec, **settings)
    if args.save:
        fit.save(args.save)
    if args.json:
        fit.to_json(args.json)
    if not args.quiet:
        print(fit.summary())
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, category, *rest: f"{category.__name__}: {message}\n"
    try:
        return _fit(args)
    except (SpecError, FileNotFoundError) as error:
        print(f"bayesglmm: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

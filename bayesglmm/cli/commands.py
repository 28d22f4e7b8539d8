"""The commands ``fit``, ``compare``, ``coverage`` and ``predict``: options from the spec file and
the flags, the fit, and its outputs (text, JSON, plots, saved posteriors)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import SpecError
from ..outputs import write_outputs
from ..results.io import dump_json


def _load(args, section: str = "ml"):
    from ..csv_input import read_csv
    from ..model.families import FAMILIES
    from ..model.spec import ModelSpec
    from ..toml_spec import load_spec_file

    if args.spec:
        spec_file = load_spec_file(args.spec)
        spec = spec_file.spec(
            family=args.family,
            link=args.link,
            trials=args.trials,
            zi=args.zi,
            **({"formula": args.formula} if args.formula else {}),
        )
        return spec, getattr(spec_file, section)
    if not (args.formula and args.data):
        raise SpecError("give a spec file, or --formula and --data (and --family)")
    if not args.family:
        raise SpecError(f"--family is required with --formula (as lme4's glmer): {', '.join(FAMILIES)}")
    spec = ModelSpec.from_formula(
        args.formula, read_csv(args.data), family=args.family, link=args.link, trials=args.trials, zi=args.zi
    )
    return spec, {}


def _fit(args) -> int:
    if args.prior_only and args.engine != "bayes":
        raise SpecError("--prior-only draws from a Bayesian model's priors: add --engine bayes")
    if args.profile and args.engine != "ml":
        raise SpecError("--profile gives profile-likelihood intervals of an ML fit: leave out --engine or use ml")
    if args.engine == "bayes":
        return _fit_bayes(args)
    if args.engine == "gee":
        return _fit_gee(args)
    spec, options = _load(args)
    if args.profile and len(spec.random) != 1:
        raise SpecError("--profile needs one grouping factor; this model has several")
    fit = _ml_fit(spec, options, args)
    profile, problem = None, None
    if args.profile:
        try:
            profile = fit.confint("profile")
        except SpecError as error:  # e.g. a singular fit: the fit itself is still written
            problem = f"bayesglmm: no profile intervals: {error}"
    record = fit.to_dict() if profile is None else {**fit.to_dict(), "profile_intervals": _rows(profile)}
    status = write_outputs({args.json: lambda path: dump_json(record, path)})
    if not args.quiet:
        print(fit.summary())
        if profile is not None:
            print("\nProfile-likelihood 95% intervals\n" + profile.to_string(float_format=lambda v: f"{v:.5g}"))
    if problem:
        print(problem, file=sys.stderr)
        status = 1
    return status


def _rows(table) -> dict:
    """A table indexed by common name as {name: {column: value}} for JSON."""
    return {name: {column: float(value) for column, value in row.items()} for name, row in table.iterrows()}


def _merged(section: dict, args, names) -> dict:
    """The spec file's section with the command-line flags that were given on top: the one way
    every command combines a TOML section and flags (the options classes then check the result,
    as they do for the Python API)."""
    given = {name: getattr(args, name, None) for name in names}
    return {**section, **{name: value for name, value in given.items() if value is not None}}


def _ml_fit(spec, options: dict, args=None):
    """ML fit with the spec's [ml] options, command-line options (when given) first, as one
    :class:`~bayesglmm.ml.options.MLOptions` (checked the same way as from Python)."""
    from ..ml import fit_ml
    from ..ml.options import MLOptions

    merged = _merged(options, args, ("method", "qpoints", "empirical", "max_grid_gb"))
    if merged.get("method", "laplace") != "agq" and getattr(args, "qpoints", None) is None:
        merged.pop("qpoints", None)  # the spec's qpoints belong to its method; --qpoints with laplace is refused
    return fit_ml(spec, options=MLOptions(**merged))


def _fit_bayes(args) -> int:
    from ..bayes import fit_bayes, laplace_fit, set_cpu_devices
    from ..bayes.options import NUTSOptions
    from ..options import option_names

    spec, options = _load(args, "bayes")
    flags = (
        "prior_set",
        "sampler",
        "qpoints",
        "chains",
        "draws",
        "warmup",
        "thin",
        "seed",
        "target_accept",
        "dense_mass",
    )
    settings = _merged(options, args, flags)
    if settings.get("qpoints") == "auto":
        settings["qpoints"] = None  # the ML engine's rule, the marginal sampler's default
    nuts_keys = option_names(NUTSOptions)
    NUTSOptions(**{k: v for k, v in settings.items() if k in nuts_keys})  # checked before JAX starts
    set_cpu_devices(settings.get("chains", 4))  # before JAX's first computation: chains in parallel
    if args.prior_only:
        return _prior_only(args, spec, settings)
    if settings.get("sampler") == "laplace":
        unused = sorted(set(settings) & {"chains", "warmup", "thin", "target_accept", "max_tree_depth", "dense_mass"})
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


def _prior_only(args, spec, settings: dict) -> int:
    """``fit --engine bayes --prior-only``: prior and prior-predictive draws (:func:`~bayesglmm.bayes.fit.prior_fit`)."""
    from ..bayes import prior_fit

    unused = [
        f"--{flag.replace('_', '-')}"
        for flag in ("chains", "warmup", "thin", "target_accept", "dense_mass")
        if getattr(args, flag, None) is not None
    ]
    if unused:
        raise SpecError(f"--prior-only draws independently from the priors; {', '.join(unused)} do not apply")
    keys = ("prior_set", "priors", "draws", "seed")
    fit = prior_fit(spec, **{key: settings[key] for key in keys if key in settings})
    status = write_outputs({args.save: fit.save, args.json: fit.to_json})
    if not args.quiet:
        print(fit.summary())
    return status


def _ppcheck(args) -> int:
    """A saved fit's predictive check table (:func:`~bayesglmm.compare.ppcheck.pp_check_table`) and plot."""
    from ..compare.ppcheck import pp_check, pp_check_table
    from ..results.bayesfit import BayesFit

    fit = BayesFit.load(args.fit)
    stats = [name.strip() for name in args.stats.split(",") if name.strip()]
    table = pp_check_table(fit, stats, args.group)
    print(table.round(4).to_string())
    return write_outputs(
        {
            args.plot: lambda path: pp_check(fit, stats, args.group, path=path),
            args.json: lambda path: Path(path).write_text(table.to_json(orient="index", indent=2)),
        }
    )


def _fit_gee(args) -> int:
    """GEE on the spec's data: the [gee] section, else the model formula without its bars."""
    from ..csv_input import read_csv
    from ..toml_spec import load_spec_file

    if args.spec:
        spec_file = load_spec_file(args.spec)
        fit = _gee_fit(spec_file.data, spec_file.model, spec_file.gee, args)
    elif args.formula and args.data:
        if not args.family:
            from ..model.families import FAMILIES

            raise SpecError(f"--family is required with --formula: {', '.join(FAMILIES)}")
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
    from ..gee import fit_gee
    from ..model.formula import mean_model_formula

    gee = _merged(options, args, ("formula", "cluster", "within", "corr", "ar1", "score_tests", "subcluster"))
    model = _merged(model, args, ("family", "link", "trials"))  # predict has none of these flags
    formula, group = mean_model_formula(gee.pop("formula", None) or model["formula"])
    return fit_gee(
        formula,
        data,
        family=model.get("family"),
        cluster=gee.pop("cluster", None) or group,
        link=model.get("link"),
        trials=model.get("trials"),
        reference=model.get("reference"),
        **{"corr": "exchangeable", **gee},
    )


def _predict(args) -> int:
    from ..predict import trajectory_grid, trajectory_plot
    from ..toml_spec import load_spec_file

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
    from ..bayes import set_cpu_devices
    from ..compare.engines import fit_engine

    bayes = _bayes_settings(args, spec_file.bayes)
    set_cpu_devices(bayes.chains)
    engines = {"auto": "bayes", "full": "nuts", "marginal": "marginal", "laplace": "laplace-posterior"}
    return fit_engine(spec, engines[spec_file.bayes.get("sampler", "auto")], bayes)


def _bayes_settings(args, options: dict):
    from ..compare.engines import BayesSettings

    keys = ("prior_set", "priors", "chains", "warmup", "draws", "seed")
    section = {key: options[key] for key in keys if key in options}
    return BayesSettings(**_merged(section, args, ("prior_set", "chains", "warmup", "draws", "seed")))


def _compare(args) -> int:
    from ..bayes import set_cpu_devices
    from ..compare import compare, fit_engine, parse_engines

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
    from ..compare import coverage_study, parse_engines
    from ..compare.study_runner import dask_executor

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
        executor=dask_executor(args.scheduler) if args.scheduler else None,
    )
    return _study_outputs(args, study)


def _study_outputs(args, study) -> int:
    """A study's JSON and plot where asked for, then its summary (coverage and calibration alike)."""
    status = write_outputs(
        {
            args.json: lambda path: Path(path).write_text(json.dumps(study.to_dict(), indent=2)),
            args.plot: study.plot,
        }
    )
    if not args.quiet:
        print(study.summary())
    return status


def _sbc(args) -> int:
    """Simulation-based calibration of a Bayesian engine on the spec's model and design
    (:func:`~bayesglmm.compare.sbc.sbc_study`): the parameters drawn from the spec's priors, the
    fits made with the same priors."""
    from ..compare import sbc_study
    from ..compare.study_runner import dask_executor

    spec, options = _load(args, "bayes")
    bayes = _bayes_settings(args, options)
    study = sbc_study(
        spec,
        args.out,
        sims=args.sims,
        prior_set=bayes.prior_set,
        priors=bayes.priors,
        engine=args.engine,
        bayes=bayes,
        ranks=args.ranks,
        seed=args.seed or 0,
        workers=args.workers,
        progress=not args.quiet,
        executor=dask_executor(args.scheduler) if args.scheduler else None,
    )
    return _study_outputs(args, study)


def _loo(args) -> int:
    """Each saved fit's LOO table (:meth:`BayesFit.loo`) and, for several, ArviZ's comparison."""
    from ..results.bayesfit import BayesFit
    from ..results.loo import loo_compare

    fits = {path: BayesFit.load(path) for path in args.fits}
    tables = {path: fit.loo() for path, fit in fits.items()}
    for path, table in tables.items():
        print(f"{path}\n{table.round(3).to_string()}\n")
    result = {"loo": {path: table.reset_index().to_dict(orient="records") for path, table in tables.items()}}
    if len(fits) > 1:
        comparison = loo_compare(fits, var_name=args.var_name)
        print(f"comparison by {args.var_name}\n{comparison.round(3).to_string()}")
        result["compare"] = json.loads(
            comparison.drop(columns=["warning", "scale"], errors="ignore").to_json(orient="index")
        )
    if args.json:
        return write_outputs(
            {args.json: lambda path: Path(path).write_text(json.dumps(result, indent=2, default=float))}
        )
    return 0

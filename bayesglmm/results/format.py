"""Plain-text summaries in the order of SAS PROC GLIMMIX's output sections."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.families import FAMILIES


def _family_label(name: str) -> str:
    """The family's printed name (its class's ``label``; the name itself for an unregistered one)."""
    family = FAMILIES.get(name)
    return getattr(family, "label", name)


def _section(title: str, body: str) -> str:
    return f"{title}\n{'-' * len(title)}\n{body}\n"


def _pairs(rows) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


def _table(frame: pd.DataFrame, digits: int = 4) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.{digits}f}")


def _factor_rows(factor, several: bool) -> list:
    """Dimensions rows of one grouping factor (GLIMMIX: subjects; with several factors, levels)."""
    unit = "levels" if several else "Subjects"
    return [
        (f"{unit.capitalize()} ({factor.group})", f"{len(factor.levels)}"),
        (f"Obs per {'level' if several else 'subject'}", f"min {factor.sizes.min()}, max {factor.sizes.max()}"),
        ("Random effects", f"{', '.join(factor.terms)}  (type={factor.covariance_type})"),
    ]


def ml_summary(fit) -> str:
    """GLIMMIX-style text: model information, dimensions, optimisation, fit statistics,
    covariance parameters, fixed-effect solutions, odds ratios and type III tests."""
    opt = fit.optimization
    method = (
        "Laplace"
        if fit.method == "laplace"
        else f"adaptive Gauss-Hermite quadrature, {fit.qpoints} points per dimension (fully adaptive)"
    )
    se_kind = "empirical (sandwich)" if fit.empirical else "model-based (observed information)"
    info = _pairs(
        [
            ("Formula", fit.formula),
            ("Response", fit.response),
            ("Distribution", _family_label(fit.family)),
            ("Link function", fit.link),
            ("Estimation", f"maximum likelihood, {method}"),
            ("Fixed-effects SEs", se_kind),
        ]
    )
    dropped = ", ".join(f"{k}: {v}" for k, v in fit.dropped.items())
    dims = _pairs(
        [
            ("Observations read", f"{fit.nobs_read}"),
            ("Observations used", f"{fit.nobs}" + (f"   (dropped for missing values: {dropped})" if dropped else "")),
            *[row for factor in fit.factors for row in _factor_rows(factor, several=len(fit.factors) > 1)],
            ("Fixed-effect columns", f"{len(fit.fixed_names)}"),
            ("Parameters", f"{fit.n_params}"),
        ]
    )
    stages = "; ".join(
        f"{m.replace('agq', f'agq({k})', 1) if m.startswith('agq') else m}: {it} it., -2LL {dev:.4f}"
        for m, k, it, dev in opt.stages
    )
    optim = _pairs(
        [
            ("Optimizer", opt.optimizer),
            ("Stages", stages),
            ("Status", opt.message),
            ("Max |gradient|", f"{opt.gradient_norm:.3g}"),
            ("Hessian positive definite", "yes" if opt.hessian_positive_definite else "NO"),
            (
                "Seconds",
                f"{fit.seconds:.3f}"
                + (
                    f" ({opt.compile_seconds:.1f} of them compiling JAX programs)"
                    if opt.compile_seconds >= 0.05
                    else ""
                ),
            ),
        ]
    )
    stats = _pairs(
        [
            ("-2 Log Likelihood", f"{fit.deviance:.4f}"),
            ("AIC", f"{fit.aic:.4f}"),
            ("BIC", f"{fit.bic:.4f}"),
        ]
    )
    covparms = fit.covariance_parameters().reset_index()
    groups = {p.name: p.group for p in fit.parameters}
    covparms.insert(1, "subject", [groups[name] or "" for name in covparms["name"]])
    family = FAMILIES[fit.family](fit.link)
    for row in covparms[covparms["kind"] == "family"].itertuples():
        sas = family.sas_scale(row.estimate, row.se, row.se_empirical)
        if sas is not None:  # the value as GLIMMIX prints it, under the reported one
            label, estimate, se, se_empirical = sas
            extra = {"name": "", "label": label, "kind": "family", "subject": "", "estimate": estimate}
            covparms.loc[len(covparms)] = {**extra, "se": se, "se_empirical": se_empirical}
    # drop a column with nothing in it: the sandwich SEs of a crossed fit (no independent clusters)
    covparms = covparms.set_index("label").drop(columns=["kind"]).dropna(axis=1, how="all")
    text = [
        _section("Model Information", info),
        _section("Dimensions", dims),
        _section("Optimization", optim),
        _section("Fit Statistics", stats),
    ]
    if opt.qpoints_table:
        table = pd.Series(opt.qpoints_table, name="-2 log likelihood").rename_axis("qpoints").to_frame()
        title = (
            "automatic rule"
            if len(opt.qpoints_table) > 2 or opt.qpoints not in opt.qpoints_table
            else "check of the fixed number against the next"
        )
        text.append(_section(f"Quadrature points ({title}, -2LL at the estimates)", _table(table)))
    text += [
        _section("Covariance Parameter Estimates", _table(covparms)),
        _section("Solutions for Fixed Effects", _table(fit.fixed_effects().dropna(axis=1, how="all"))),
    ]
    if fit.link == "logit":
        text.append(_section("Odds Ratio Estimates (exp(beta), 95% Wald limits)", _table(fit.odds_ratios(), 3)))
    type3 = fit.type3()
    if len(type3):
        text.append(_section("Type III Tests of Fixed Effects (Wald)", _table(type3)))
    if fit.is_singular:
        text.append("WARNING: boundary (singular) fit: see the covariance parameters.\n")
    if not fit.converged:
        text.append(f"WARNING: the optimizer did not converge: {opt.message}.\n")
    return "\n".join(text)


def _tree_depth_rows(fit) -> list[tuple[str, str]]:
    """The largest tree depth reached and how often the limit was hit (NUTS samplers only)."""
    limit = fit.record.max_tree_depth
    if limit is None or "sample_stats" not in fit.idata.groups() or "tree_depth" not in fit.idata.sample_stats:
        return []
    depth = fit.idata.sample_stats["tree_depth"].values
    return [("Tree depth", f"max {int(depth.max())} of limit {limit} ({np.mean(depth >= limit):.1%} at the limit)")]


def _sampler_label(fit) -> str:
    metric = "diagonal metric, " if fit.record.dense_mass is not None and not fit.record.dense_mass else ""
    if fit.sampler == "full":
        return f"NUTS, every random effect sampled (full latent), {metric}target acceptance {fit.target_accept}"
    if fit.sampler == "marginal":
        return (
            f"NUTS on the marginal likelihood (adaptive Gauss-Hermite, {fit.record.qpoints} points per dimension), "
            f"{metric}target acceptance {fit.target_accept}"
        )
    if fit.sampler == "prior":
        return "prior draws only (no data used: brms's sample_prior = 'only'), independent draws"
    return f"Laplace posterior: Gaussian at the posterior mode ({fit.record.qpoints} points per dimension), independent draws"


def _random_effect_rows(fit) -> list:
    if fit.record.re_acceptance is None:
        return []
    return [
        (
            "Random effects",
            f"drawn afterwards: {fit.record.re_steps} independence Metropolis steps per draw, "
            f"acceptance {fit.record.re_acceptance:.1%}",
        )
    ]


def bayes_summary(fit) -> str:
    """Model, priors, sampler and the posterior table with diagnostics, then any warnings."""
    info = _pairs(
        [
            ("Formula", fit.formula),
            ("Distribution", _family_label(fit.family)),
            ("Link function", fit.link),
            ("Observations", f"{fit.nobs}"),
            ("Groups", ", ".join(f"{g}: {n}" for g, n in fit.ngroups.items())),
        ]
    )
    priors = _pairs(list(fit.priors))
    sampler = _pairs(
        [
            ("Sampler", _sampler_label(fit)),
            *(
                [("Chosen by", f"sampler='auto': {fit.record.sampler_choice}")]
                if fit.record.sampler_choice is not None
                else []
            ),
            (
                "Chains x draws",
                f"{fit.chains} x {fit.draws} (warm-up {fit.warmup}, thinned by {fit.thin}), seed {fit.seed}",
            ),
            ("Divergent transitions", f"{fit.divergences}"),
            *_tree_depth_rows(fit),
            ("Seconds", f"{fit.seconds:.1f} (compilation included)"),
        ]
        + _random_effect_rows(fit)
    )
    text = [
        _section("Model Information", info),
        _section("Priors", priors),
        _section("Sampling", sampler),
        _section("Posterior (common parameterisation)", _table(fit.params(), 4)),
    ]
    text += [f"WARNING: {message}\n" for message in fit.diagnostic_messages()]
    return "\n".join(text)


def comparison_text(comparison) -> str:
    """Fits side by side: per parameter and fit the estimate, uncertainty, interval and the
    standardised difference from the reference fit, with a mark where they disagree."""
    fits = _pairs(
        [
            (
                c.label,
                f"{c.kind}, {c.scale}; interval: {c.interval}"
                + ("   <- reference" if c.label == comparison.reference else ""),
            )
            for c in comparison.fits.values()
        ]
    )
    table = comparison.table[
        ["estimate", "median", "se", "se_empirical", "lower", "upper", "std_diff", "se_ratio"]
    ].copy()
    table["flag"] = comparison.table["flag"].map({True: "*", False: ""})
    low, high = comparison.se_ratio_range
    rule = (
        f"std_diff = (estimate - reference) / reference SE; se_ratio = SE or posterior SD / reference SE.\n"
        f"* : |std_diff| > {comparison.max_std_diff} or se_ratio outside [{low}, {high}]"
    )
    averaged = [c.label for c in comparison.fits.values() if c.scale != "conditional"]
    if averaged:
        rule += (
            f"\n{', '.join(averaged)}: population-averaged coefficients, not compared with the conditional "
            "(subject-specific) GLMM coefficients; they are smaller in absolute value by design"
        )
    text = (
        _section("Fits", fits)
        + "\n"
        + _section("Parameters", table.to_string(float_format=lambda v: f"{v:.4f}", na_rep=""))
    )
    flagged = comparison.flagged()
    verdict = (
        "every conditional fit agrees with the reference within the thresholds"
        if flagged.empty
        else "\n".join(
            f"  {fit}: {name} (std_diff {row.std_diff:+.2f}, se_ratio {row.se_ratio:.2f})"
            for (name, fit), row in flagged.iterrows()
        )
    )
    return text + "\n" + rule + "\n\n" + _section("Disagreements", verdict)


def coverage_text(study) -> str:
    """A coverage study's plan and, per engine and parameter, bias, RMSE and 95% coverage ± MCSE."""
    plan = study.plan
    done = study.replicates["replicate"].nunique()
    failed = len(study.failures())
    info = _pairs(
        [
            ("Model", f"{plan.formula}  ({plan.family}, {plan.link}); {plan.nobs} observations"),
            ("Engines", ", ".join(plan.engines)),
            (
                "Replicates",
                f"{done} of {plan.sims} done; {failed} fits raised an error (left out) or did not converge "
                "(kept: see not_converged)",
            ),
            ("Seed", f"{plan.seed}"),
        ]
    )
    table = study.table.copy()
    table["coverage"] = [f"{c:.3f} ± {m:.3f}" for c, m in zip(table["coverage"], table["coverage_mcse"])]
    table = table.drop(columns="coverage_mcse")
    return (
        _section("Coverage study", info)
        + "\n"
        + _section(
            "Per engine and parameter (coverage of the 95% interval ± its Monte Carlo SE)",
            table.to_string(float_format=lambda v: f"{v:.4f}"),
        )
    )


GEE_CORRELATIONS = {
    "independence": "independent",
    "exchangeable": "exchangeable",
    "ar1": "first-order autoregressive",
    "unstructured": "unstructured",
    "alr-exch": "alternating logistic regression, one log odds ratio",
    "alr-fullclust": "alternating logistic regression, a log odds ratio per pair of occasions (logor=fullclust)",
    "alr-nest1": "alternating logistic regression, one log odds ratio within and one between subclusters (logor=nest1)",
    "alr-zrep": "alternating logistic regression, log odds ratios z'alpha with a given design per pair (logor=zrep)",
}


def gee_summary(fit) -> str:
    """GENMOD-style text: model and GEE information, parameter estimates with empirical SEs,
    the association parameters or working correlation, and type III Wald tests."""
    dropped = ", ".join(f"{k}: {v}" for k, v in fit.dropped.items())
    info = _pairs(
        [
            ("Formula", fit.formula),
            ("Distribution", _family_label(fit.family)),
            ("Link function", fit.link),
            ("Observations read", f"{fit.nobs_read}"),
            ("Observations used", f"{fit.nobs}" + (f"   (dropped for missing values: {dropped})" if dropped else "")),
            ("Subject effect", f"{fit.cluster} ({fit.n_clusters} levels)"),
            (
                "Within-subject effect",
                f"{fit.within} ({len(fit.occasion_labels)} levels)" if fit.within else "row order",
            ),
            ("Cluster size", f"min {fit.cluster_sizes.min()}, max {fit.cluster_sizes.max()}"),
            ("Correlation structure", GEE_CORRELATIONS[fit.corr]),
            ("Scale", f"{fit.scale:.4f}" + ("" if fit.corr.startswith("alr") else " (Pearson, sum r^2 / N)")),
            ("Iterations", f"{fit.iterations} ({'converged' if fit.converged else 'NOT converged'})"),
        ]
    )
    text = _section("GEE model information", info) + "\n"
    text += _section("GEE fit criteria", _pairs([("QIC", f"{fit.qic:.4f}"), ("QICu", f"{fit.qicu:.4f}")])) + "\n"
    text += _section("Parameter estimates (empirical SE; model-based in se_model)", _table(fit.fixed_effects())) + "\n"
    if len(fit.association):
        text += _section("Association parameters", _table(fit.association)) + "\n"
    working = fit.working_correlation_frame()
    if working is not None and fit.corr != "independence":
        text += _section("Working correlation (by occasion)", _table(working)) + "\n"
    if fit.link == "logit":
        text += _section("Odds ratios (population-averaged)", _table(fit.odds_ratios())) + "\n"
    if fit.type3_score is not None and len(fit.type3_score):
        text += _section("Type III generalized score tests", _table(fit.type3_score)) + "\n"
    if len(fit.type3()):
        text += _section("Type III Wald tests (empirical covariance)", _table(fit.type3()))
    return text

"""The comparison's plots and the random-effect plots (issue 22, item 7): the ML density is the one
the Wald interval assumes, every fit is visible on a common grid, exp(beta) forest plots, the
caterpillar and shrinkage plots read the effects the engines report."""

import warnings

import matplotlib
import numpy as np
import pytest
from scipy import integrate

from bayesglmm import compare
from bayesglmm.bayes import laplace_fit
from bayesglmm.compare.effects_plots import caterpillar_plot, group_effects, shrinkage_plot
from bayesglmm.compare.plots import interval_density
from bayesglmm.results.stats import wald_interval

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def posterior(epilepsy_spec, epilepsy_laplace):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return laplace_fit(epilepsy_spec, "brms_proper", draws=1000, ml_fit=epilepsy_laplace, predictive=False)


@pytest.mark.parametrize(
    "estimate, se, scale, support",
    [
        (0.3, 0.2, "identity", (-3, 3)),
        (0.7, 0.15, "log", (1e-9, 10)),
        (0.4, 0.3, "fisher", (-1, 1)),
        (0.2, 0.05, "logit", (0, 1)),
    ],
)
def test_interval_density_is_the_wald_intervals(estimate, se, scale, support):
    """A density (integrates to 1) whose 2.5% and 97.5% quantiles are the Wald interval's ends."""
    lower, upper = wald_interval(estimate, se, scale)
    total = integrate.quad(lambda x: interval_density(np.array([x]), estimate, se, scale)[0], *support, limit=200)[0]
    inside = integrate.quad(lambda x: interval_density(np.array([x]), estimate, se, scale)[0], lower, upper)[0]
    assert total == pytest.approx(1.0, abs=1e-6) and inside == pytest.approx(0.95, abs=1e-6)


def test_density_plot_shows_every_fit_with_labels_and_the_prior(epilepsy_laplace, posterior):
    comparison = compare(epilepsy_laplace, posterior)
    figure = comparison.plot_densities(prior=True)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == len(comparison.wide().index)
    for ax in panels:
        lines = ax.get_lines()
        assert len(lines) >= 2 and all(np.nanmax(line.get_ydata()) > 0 for line in lines[:2]), ax.get_title()
        assert ax.get_xlabel() == "value (natural scale)" and ax.get_ylabel() == "density"
    sd_panel = next(ax for ax in panels if ax.get_title() == "sd[id,time]")
    assert min(line.get_xdata().min() for line in sd_panel.get_lines()) > 0  # inside the SD's range
    assert len(sd_panel.get_lines()) == 3  # ML, posterior, prior
    matplotlib.pyplot.close("all")


def test_forest_plot_on_the_ratio_scale(epilepsy_laplace, posterior):
    figure = compare(epilepsy_laplace, posterior).plot(exponentiate=True)
    beta_panel = figure.axes[0]
    assert beta_panel.get_xscale() == "log" and "odds or rate ratios" in beta_panel.get_title(loc="left")
    ml_points = np.asarray(beta_panel.lines[0].get_xdata(), dtype=float)  # the first fit's markers
    estimates = np.exp(epilepsy_laplace.params().loc[lambda t: t.index.str.startswith("beta["), "estimate"])
    np.testing.assert_allclose(np.sort(ml_points), np.sort(estimates.to_numpy(dtype=float)))
    matplotlib.pyplot.close("all")


def test_group_effects_are_the_engines_own(epilepsy_laplace, posterior):
    ml = group_effects(epilepsy_laplace)
    modes = epilepsy_laplace.conditional_modes()
    np.testing.assert_allclose(ml.xs("time", level="term")["estimate"].to_numpy(), modes["time"].to_numpy())
    np.testing.assert_allclose(ml.xs("time", level="term")["sd"].to_numpy(), modes["sd(time)"].to_numpy())
    bayes = group_effects(posterior)
    draws = posterior.idata.random_effects["b_id"].values.reshape(-1, 59, 2)
    np.testing.assert_allclose(bayes.xs("(Intercept)", level="term")["estimate"].to_numpy(), draws[:, :, 0].mean(0))
    assert len(bayes) == len(ml) == 118


def test_caterpillar_and_shrinkage_plots(epilepsy_laplace, posterior):
    figure = caterpillar_plot(posterior)
    assert [ax.get_title() for ax in figure.axes] == ["(Intercept)", "time"]
    assert len(figure.axes[0].get_yticks()) == 59
    shrinkage = shrinkage_plot(epilepsy_laplace, posterior)
    slopes = [float(ax.get_title().split("slope ")[1].rstrip(")")) for ax in shrinkage.axes]
    assert all(0.8 < slope < 1.2 for slope in slopes), slopes  # posterior means track the modes
    matplotlib.pyplot.close("all")
    from bayesglmm import SpecError

    with pytest.raises(SpecError, match="no grouping factor 'herd'"):
        group_effects(posterior, "herd")


def test_loo_pit_values_and_panel(epilepsy_spec, epilepsy_laplace):
    """Randomised LOO-PIT: one value per row in [0, 1], reproducible by seed; on epilepsy's
    Poisson posterior (Laplace, 1000 draws) its ends are over-full — the ∪ of a model too sure
    of each count (measured with 2000 draws: 72 and 66 of 295 in the outer fifths, 47-56 inside;
    NB2 fits better, KS p 0.45 against 0.07)."""
    from bayesglmm.compare.ppcheck import loo_pit, pp_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = laplace_fit(epilepsy_spec, "brms_proper", draws=1000, seed=1, ml_fit=epilepsy_laplace)
        u = loo_pit(post)
        figure = pp_check(post, ("zeros",), loo_pit_panel=True)
    assert u.shape == (295,) and np.all((0 <= u) & (u <= 1))
    np.testing.assert_array_equal(u, loo_pit(post))
    counts = np.histogram(u, bins=5, range=(0, 1))[0]
    assert counts[0] + counts[-1] > 2 * 295 / 5  # the outer fifths hold more than uniform ranks would
    assert len(figure.axes) == 3 and figure.axes[-1].get_title() == "LOO-PIT (randomised)"
    matplotlib.pyplot.close("all")

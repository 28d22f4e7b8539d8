"""Gauss–Hermite grids and adaptive quadrature against closed forms."""

import jax.numpy as jnp
import numpy as np
import pytest

from bayesglmm.core.quadrature import agq_log_integral, gauss_hermite_grid


@pytest.mark.parametrize("qpoints", [1, 3, 5, 11])
def test_grid_integrates_polynomials_exactly(qpoints):
    nodes, log_weights = gauss_hermite_grid(qpoints, 2)
    weights = np.exp(log_weights)
    assert nodes.shape == (qpoints**2, 2)
    # ∫∫ exp(-x'x) x1^(2a) x2^(2b) dx = Γ(a+1/2) Γ(b+1/2), exact for 2a, 2b <= 2 qpoints - 1
    from scipy.special import gamma

    for a in range(qpoints):
        for b in range(qpoints - a):
            got = np.sum(weights * nodes[:, 0] ** (2 * a) * nodes[:, 1] ** (2 * b))
            np.testing.assert_allclose(got, gamma(a + 0.5) * gamma(b + 0.5), rtol=1e-10)


@pytest.mark.parametrize("qpoints", [1, 4, 9])
def test_adaptive_rule_is_exact_for_a_gaussian_integrand(qpoints):
    # f(b) = c - (b - m)' A (b - m) / 2 has ∫ exp f = exp(c) (2π)^{q/2} |A|^{-1/2}
    A = np.array([[2.0, 0.6], [0.6, 1.5]])
    m = np.array([0.3, -1.2])
    c = -3.0
    nodes, log_weights = gauss_hermite_grid(qpoints, 2)

    def joint_at_nodes(b_hat, scale):
        points = b_hat[:, None, :] + np.sqrt(2.0) * jnp.einsum("mij,kj->mki", scale, nodes)
        centred = points - m
        return c - 0.5 * jnp.einsum("mki,ij,mkj->mk", centred, A, centred)

    got = agq_log_integral(
        jnp.asarray(m)[None], jnp.asarray(A)[None], jnp.asarray(nodes), jnp.asarray(log_weights), joint_at_nodes
    )
    expected = c + np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(A))
    np.testing.assert_allclose(np.asarray(got), [expected], rtol=1e-12)

"""Link functions as objects: η = g(μ) and its inverse, in JAX (for the engines) and NumPy (for
the GLM start), looked up by name.

A link is stateless and hashable, so a family holding one stays a valid static argument of
``jax.jit``. Each inverse is written to keep its tails accurate: the complementary log-log
inverse uses ``expm1``, probit ``ndtr``.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri
from scipy.special import expit
from scipy.special import ndtr as np_ndtr
from scipy.special import ndtri as np_ndtri

from .. import _jax  # noqa: F401  (float64)


class Link:
    """A link g: ``inverse(η) = μ`` and ``__call__(μ) = η`` (JAX), ``mean_and_slope(η)`` (NumPy)."""

    name: ClassVar[str]

    def inverse(self, eta) -> jax.Array:
        raise NotImplementedError

    def __call__(self, mu) -> jax.Array:
        raise NotImplementedError

    def mean_and_slope(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(μ, dμ/dη) in NumPy, for iteratively reweighted least squares."""
        raise NotImplementedError

    def numpy_link(self, mu: np.ndarray) -> np.ndarray:
        """g(μ) in NumPy, for the GLM start: no eager JAX operation, which would compile a
        program for each new data size."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self).__qualname__)


class Logit(Link):
    name = "logit"

    def inverse(self, eta) -> jax.Array:
        return jax.nn.sigmoid(eta)

    def __call__(self, mu) -> jax.Array:
        return jnp.log(mu) - jnp.log1p(-mu)

    def mean_and_slope(self, eta) -> tuple[np.ndarray, np.ndarray]:
        mu = expit(eta)
        return mu, mu * (1.0 - mu)

    def numpy_link(self, mu) -> np.ndarray:
        return np.log(mu) - np.log1p(-mu)


class Probit(Link):
    name = "probit"

    def inverse(self, eta) -> jax.Array:
        return ndtr(eta)

    def __call__(self, mu) -> jax.Array:
        return ndtri(mu)

    def mean_and_slope(self, eta) -> tuple[np.ndarray, np.ndarray]:
        return np_ndtr(eta), np.exp(-0.5 * eta**2) / np.sqrt(2.0 * np.pi)

    def numpy_link(self, mu) -> np.ndarray:
        return np_ndtri(mu)


class Cloglog(Link):
    name = "cloglog"

    def inverse(self, eta) -> jax.Array:
        return -jnp.expm1(-jnp.exp(eta))

    def __call__(self, mu) -> jax.Array:
        return jnp.log(-jnp.log1p(-mu))

    def mean_and_slope(self, eta) -> tuple[np.ndarray, np.ndarray]:
        return -np.expm1(-np.exp(eta)), np.exp(eta - np.exp(eta))

    def numpy_link(self, mu) -> np.ndarray:
        return np.log(-np.log1p(-mu))


class Log(Link):
    name = "log"

    def inverse(self, eta) -> jax.Array:
        return jnp.exp(eta)

    def __call__(self, mu) -> jax.Array:
        return jnp.log(mu)

    def mean_and_slope(self, eta) -> tuple[np.ndarray, np.ndarray]:
        mu = np.exp(eta)
        return mu, mu

    def numpy_link(self, mu) -> np.ndarray:
        return np.log(mu)


class Identity(Link):
    name = "identity"

    def inverse(self, eta) -> jax.Array:
        return eta

    def __call__(self, mu) -> jax.Array:
        return mu

    def mean_and_slope(self, eta) -> tuple[np.ndarray, np.ndarray]:
        return eta, np.ones_like(eta)

    def numpy_link(self, mu) -> np.ndarray:
        return np.asarray(mu, dtype=float)


class Inverse(Link):
    """η = 1/μ (the canonical Gamma link; the linear predictor must stay positive)."""

    name = "inverse"

    def inverse(self, eta) -> jax.Array:
        return 1.0 / eta

    def __call__(self, mu) -> jax.Array:
        return 1.0 / mu

    def mean_and_slope(self, eta) -> tuple[np.ndarray, np.ndarray]:
        return 1.0 / eta, -1.0 / eta**2

    def numpy_link(self, mu) -> np.ndarray:
        return 1.0 / np.asarray(mu, dtype=float)


LINKS: dict[str, Link] = {link.name: link for link in (Logit(), Probit(), Cloglog(), Log(), Identity(), Inverse())}


def get_link(name: str) -> Link:
    """The link called ``name`` (ValueError naming the choices otherwise)."""
    try:
        return LINKS[name]
    except KeyError:
        raise ValueError(f"unknown link {name!r}; choose one of {', '.join(LINKS)}") from None


def inverse_link(link: str, eta) -> jax.Array:
    """Mean as a function of the linear predictor, μ = g⁻¹(η), for a link given by name."""
    return get_link(link).inverse(eta)


def link_function(link: str, mu) -> jax.Array:
    """The link itself, η = g(μ): the inverse of :func:`inverse_link`, differentiable in JAX."""
    return get_link(link)(mu)

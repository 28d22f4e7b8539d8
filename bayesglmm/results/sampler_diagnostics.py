"""NUTS diagnostics beyond R-hat and ESS: tree-depth saturation and E-BFMI, and their messages.

E-BFMI (Betancourt 2016, "Diagnosing suboptimal cotangent disintegrations in Hamiltonian Monte
Carlo"): per chain Σ(E_n − E_{n−1})² / Σ(E_n − Ē)² over the energies E of the transitions; below
0.3 the momentum resampling explores the energy distribution poorly (heavy tails, funnels), as
Stan and ArviZ warn.  Tree depth: a transition at the maximum depth stopped its trajectory
before it turned, so the sampler moves slowly (Stan warns on any).
"""

from __future__ import annotations

import numpy as np

E_BFMI_LIMIT = 0.3


def e_bfmi(energy: np.ndarray) -> np.ndarray:
    """E-BFMI per chain of energies (chains, draws)."""
    energy = np.asarray(energy, dtype=float)
    return np.sum(np.diff(energy, axis=1) ** 2, axis=1) / np.sum(
        (energy - energy.mean(axis=1, keepdims=True)) ** 2, axis=1
    )


def above(value: float, limit: float) -> str:
    """``value`` with enough decimals that it visibly exceeds ``limit`` (1.0104, not "1.010 (> 1.01)")."""
    for decimals in range(3, 8):
        text = f"{value:.{decimals}f}"
        if float(text) > limit:
            return text
    return f"{value:.8g}"


def remedy(sampler: str, n_factors: int) -> str:
    """The project's own remedy for a poorly explored posterior, where it applies."""
    if sampler == "full" and n_factors == 1:
        return (
            "try sampler='marginal' (random effects integrated out: no funnel between them and their SDs), "
            "or raise target_accept (e.g. 0.95), lengthen warm-up, or use tighter priors on the SDs"
        )
    return "raise target_accept (e.g. 0.95), lengthen warm-up, or use tighter priors on the SDs"


def nuts_messages(sample_stats, max_tree_depth: int | None, sampler: str, n_factors: int) -> list[str]:
    """Warnings about tree-depth saturation and low E-BFMI (empty when all is well)."""
    messages = []
    if max_tree_depth is not None and "tree_depth" in sample_stats:
        depth = np.asarray(sample_stats["tree_depth"])
        saturated = float(np.mean(depth >= max_tree_depth))
        if saturated > 0:
            messages.append(
                f"{saturated:.1%} of transitions hit the maximum tree depth ({max_tree_depth}): their trajectories "
                f"stopped early, so the chains move slowly; {remedy(sampler, n_factors)}, or raise max_tree_depth"
            )
    if "energy" in sample_stats:
        values = e_bfmi(np.asarray(sample_stats["energy"]))
        low = [f"chain {chain} ({value:.2f})" for chain, value in enumerate(values) if value < E_BFMI_LIMIT]
        if low:
            messages.append(
                f"E-BFMI below {E_BFMI_LIMIT} in {', '.join(low)}: the sampler explores the energy distribution "
                f"poorly (heavy tails or a funnel); {remedy(sampler, n_factors)}"
            )
    return messages

"""NUTS diagnostics that never stay silent: tree-depth saturation, E-BFMI, R-hat messages, remedies."""

from __future__ import annotations

import numpy as np
import pytest

from bayesglmm.results.sampler_diagnostics import above, e_bfmi, nuts_messages


def test_e_bfmi_is_the_energy_transition_ratio():
    """iid energies: E[Σ ΔE²]/E[Σ (E − Ē)²] = 2; a random walk (a funnel's slow energy) is near 0;
    and the formula itself on a small hand-checked example."""
    rng = np.random.default_rng(0)
    assert e_bfmi(rng.normal(size=(2, 20000))) == pytest.approx([2.0, 2.0], abs=0.05)
    assert np.all(e_bfmi(np.cumsum(rng.normal(size=(2, 2000)), axis=1)) < 0.05)
    energy = np.array([[1.0, 3.0, 2.0, 6.0]])  # ΔE = 2, −1, 4: 21; deviations from 3: 4 + 0 + 1 + 9 = 14
    assert e_bfmi(energy)[0] == pytest.approx(21 / 14)


def test_rhat_is_shown_with_the_digits_that_exceed_the_limit():
    assert above(1.0104, 1.01) == "1.0104"  # not "1.010 (> 1.01)"
    assert above(1.644, 1.01) == "1.644"


def test_saturated_trees_and_low_e_bfmi_warn_with_the_projects_remedy():
    rng = np.random.default_rng(1)
    depth = np.full((2, 100), 6)
    depth[1, :7] = 10
    stats = {"tree_depth": depth, "energy": np.vstack([rng.normal(size=100), np.cumsum(rng.normal(size=100))])}
    messages = nuts_messages(stats, 10, "full", 1)
    assert len(messages) == 2
    assert "3.5% of transitions hit the maximum tree depth (10)" in messages[0]
    assert "sampler='marginal'" in messages[0] and "max_tree_depth" in messages[0]
    assert messages[1].startswith("E-BFMI below 0.3 in chain 1 (")
    assert "sampler='marginal'" not in nuts_messages(stats, 10, "full", 2)[0]  # crossed: no marginal sampler
    quiet = {"tree_depth": np.full((2, 50), 4), "energy": rng.normal(size=(2, 50))}
    assert nuts_messages(quiet, 10, "full", 1) == []

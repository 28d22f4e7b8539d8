"""Formula parsing: lme4 bars, offsets and cbind, including property tests over generated formulas."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesglmm import FormulaError
from bayesglmm.model.formula import parse_formula

names = st.sampled_from(["x", "time", "dose", "age", "z2", "w.1"])
groups = st.sampled_from(["id", "site", "school"])
spaces = st.sampled_from(["", " ", "  "])


@st.composite
def formulas(draw):
    fixed = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    bars = draw(st.lists(st.tuples(st.lists(names, max_size=2, unique=True), groups, st.booleans()), max_size=2))
    offset = draw(st.one_of(st.none(), names))
    pad = draw(spaces)
    parts = list(fixed)
    for terms, group, correlated in bars:
        bar = "|" if correlated else "||"
        parts.append(f"({pad}{' + '.join(['1', *terms])}{pad}{bar}{pad}{group}{pad})")
    if offset:
        parts.append(f"offset({offset})")
    return f"y{pad}~{pad}" + f"{pad}+{pad}".join(parts), fixed, bars, offset


@settings(max_examples=200, deadline=None)
@given(formulas())
def test_parts_survive_any_spacing(case):
    text, fixed, bars, offset = case
    parsed = parse_formula(text)
    assert parsed.response == "y"
    assert [term.strip() for term in parsed.fixed.split("+")] == fixed
    assert [(bar.group, bar.correlated) for bar in parsed.bars] == [(g, c) for _, g, c in bars]
    assert [bar.expr.replace(" ", "") for bar in parsed.bars] == ["+".join(["1", *t]) for t, _, _ in bars]
    assert parsed.offsets == ((offset,) if offset else ())
    assert set(parsed.columns()) >= {"y", *fixed}


def test_cbind_response_and_minus_one():
    parsed = parse_formula("cbind(k, n - k) ~ x - 1 + (1 | g)")
    assert parsed.cbind == ("k", "n - k") and parsed.response == ""
    assert parsed.fixed == "x - 1"
    assert parsed.columns() == ["k", "n", "x", "g"]


def test_quoted_levels_are_not_columns():
    assert parse_formula("y ~ C(dose, Treatment('low')) + (1 | g)").columns() == ["y", "dose", "g"]


@pytest.mark.parametrize("text", ["", "~ x", "y ~", "y ~ x ~ z", "y ~ (x", "y ~ x)", "y ~ -(1 | g)"])
def test_malformed_formulas_raise(text):
    with pytest.raises(FormulaError):
        parse_formula(text)

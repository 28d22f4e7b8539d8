"""The parameter map (bayesglmm.model.parameters): names round-trip, and it is the only place
that spells them (issue 20: the common names were f-strings in six files)."""

import re
from pathlib import Path

import pytest

from bayesglmm.model.parameters import common_name, corr_name, parse_common_name, sd_name

PACKAGE = Path(__file__).resolve().parent.parent / "bayesglmm"


@pytest.mark.parametrize(
    "kind, parts",
    [
        ("beta", ("time:trt",)),
        ("sd", ("id", "(Intercept)")),
        ("corr", ("id", "(Intercept)", "poly(x, 2)1")),
        ("sigma", ()),
    ],
)
def test_names_round_trip(kind, parts):
    assert parse_common_name(common_name(kind, *parts)) == (kind, parts)


def test_named_helpers_match_the_documented_spelling():
    assert sd_name("id", "time") == "sd[id,time]"
    assert corr_name("id", "(Intercept)", "time") == "corr[id,(Intercept),time]"
    with pytest.raises(ValueError, match="not a parameter name"):
        parse_common_name("sd id time")


def test_no_module_spells_common_names_or_sites_itself():
    spelled = re.compile(r'f"(beta|sd|corr|var|cov)\[|f"(sd|corr|b|z|L)_\{')
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "parameters.py" or path.parent.name != "model"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert offenders == []

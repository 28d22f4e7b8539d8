"""Parse an lme4-style mixed-model formula into its parts (strings only).

``formulae`` parses and builds the fixed-effects design (see :mod:`design`), but
it does not keep random-effect *blocks* together, does not know lme4's ``||``
and builds a dense per-group Z matrix.  This module does only what no library
does: split ``(terms | group)`` and ``(terms || group)`` bars, ``offset(x)``
terms and a ``cbind(successes, failures)`` response off the formula, as
lme4's ``findbars``/``nobars`` do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaError

_IDENT = re.compile(r"`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*")  # a name, or a backticked one (lme4: `my var`)
_QUOTED = re.compile(r"(['\"]).*?\1")


def unquote(name: str) -> str:
    """A column name without lme4's backticks: `my var` -> my var."""
    return name[1:-1] if len(name) > 1 and name.startswith("`") and name.endswith("`") else name


@dataclass(frozen=True)
class RandomBar:
    """One ``(expr | group)`` or ``(expr || group)`` term of the formula."""

    expr: str  # left of the bar, e.g. "1 + time"
    group: str  # right of the bar, e.g. "id"
    correlated: bool  # False for lme4's "||"


@dataclass(frozen=True)
class ParsedFormula:
    """The pieces of a mixed-model formula, before any data is seen."""

    text: str
    response: str  # a column name, or "" when cbind() is used
    cbind: tuple[str, str] | None  # (successes, failures) columns
    fixed: str  # right-hand side without bars and offsets, for formulae
    offsets: tuple[str, ...]  # column names (or expressions) inside offset()
    bars: tuple[RandomBar, ...]

    def columns(self) -> list[str]:
        """Identifiers that must be data columns (function names such as ``log(`` excluded)."""
        return expression_columns(self.text)

    def variable_order(self) -> list[str]:
        """Identifiers in order of first appearance, as R orders variables in term labels."""
        seen: list[str] = []
        for name in _IDENT.findall(_QUOTED.sub("''", self.text)):
            if unquote(name) not in seen:
                seen.append(unquote(name))
        return seen


def expression_columns(text: str) -> list[str]:
    """Identifiers of ``text`` that must be data columns, in order of first appearance (function
    names such as ``log(`` and quoted level names inside ``C(x, Treatment('b'))`` excluded)."""
    names = []
    text = _QUOTED.sub("''", text)
    for match in _IDENT.finditer(text):
        following = text[match.end() :].lstrip()[:1]
        if following != "(" and unquote(match.group()) not in names:
            names.append(unquote(match.group()))
    return names


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` characters that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {text!r}")
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {text!r}")
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _parse_bar(inner: str, formula: str) -> RandomBar:
    correlated = "||" not in inner
    pieces = inner.split("||") if not correlated else inner.split("|")
    if len(pieces) != 2 or not pieces[0].strip() or not pieces[1].strip():
        raise FormulaError(
            f"cannot read the random-effect term ({inner}) in {formula!r}: "
            "write it as (terms | group), e.g. (1 + time | id)"
        )
    group = "/".join(unquote(part.strip()) for part in pieces[1].split("/"))
    return RandomBar(pieces[0].strip(), group, correlated)


def _signed_terms(rhs: str) -> list[tuple[str, str]]:
    """Top-level terms of the right-hand side with the sign before each ('+' or '-')."""
    terms, depth, current, sign = [], 0, [], "+"
    for char in rhs:
        depth += char == "("
        depth -= char == ")"
        if char in "+-" and depth == 0:
            if "".join(current).strip():
                terms.append((sign, "".join(current).strip()))
            elif char == "-" and sign == "-":
                raise FormulaError(f"'--' in {rhs!r}")
            sign, current = char, []
        else:
            current.append(char)
    if "".join(current).strip():
        terms.append((sign, "".join(current).strip()))
    return terms


def _interaction_key(term: str):
    """``a:b`` and ``b:a`` (any order of plain names) are one term, as in R; other terms are themselves."""
    parts = [part.strip() for part in term.split(":")]
    if all(_IDENT.fullmatch(part) for part in parts):
        return frozenset(unquote(part) for part in parts)
    return term


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula ``y ~ fixed + (re | group) + offset(o)`` into its parts.

    Raises :class:`FormulaError` with a hint when the text cannot be a formula.
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"a formula needs a response and '~', e.g. 'y ~ x + (1 | g)'; got {formula!r}")
    sides = _split_top_level(formula, "~")
    if len(sides) != 2 or not sides[0] or not sides[1]:
        raise FormulaError(f"a formula has one '~' with a response on the left: {formula!r}")
    lhs, rhs = sides

    cbind = None
    response = lhs
    match = re.fullmatch(r"cbind\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)", lhs)
    if match:
        cbind, response = (unquote(match.group(1)), unquote(match.group(2))), ""
    elif _IDENT.fullmatch(lhs):
        response = unquote(lhs)
    else:
        raise FormulaError(
            f"the response {lhs!r} must be a column name or cbind(successes, failures); "
            "derive transformed responses as new columns first"
        )

    fixed, offsets, bars, seen = [], [], [], set()
    for sign, term in _signed_terms(rhs):
        if term.startswith("(") and term.endswith(")") and "|" in term:
            if sign == "-":
                raise FormulaError(f"a random-effect term cannot be subtracted: -{term}")
            bars.append(_parse_bar(term[1:-1], formula))
        elif re.fullmatch(r"offset\((.+)\)", term):
            offsets.append(re.fullmatch(r"offset\((.+)\)", term).group(1).strip())
        elif "|" in term:
            raise FormulaError(f"random-effect terms need parentheses: write ({term}) in {formula!r}")
        else:
            key = (sign, _interaction_key(term))
            if key in seen:  # R reads b:a after a:b as the same term, once
                continue
            seen.add(key)
            fixed.append(f"{sign} {term}" if fixed or sign == "-" else term)
    fixed_text = " ".join(fixed) if fixed else "1"
    if fixed_text.startswith("- "):
        fixed_text = "1 " + fixed_text
    return ParsedFormula(formula, response, cbind, fixed_text, tuple(offsets), tuple(bars))


def mean_model_formula(text: str) -> tuple[str, str | None]:
    """The formula without its random-effect bars, and the grouping factor when there is one bar.

    ``y ~ time + offset(t) + (1 + time | id)`` → (``y ~ time + offset(t)``, ``id``): the mean
    model and cluster a marginal (GEE) fit of the same analysis uses.
    """
    parsed = parse_formula(text)
    rhs = " + ".join([parsed.fixed] + [f"offset({name})" for name in parsed.offsets])
    groups = {bar.group for bar in parsed.bars}
    return f"{text.split('~', 1)[0].strip()} ~ {rhs}", groups.pop() if len(groups) == 1 else None

"""The package's imports run one way (DESIGN.md §7; CONTRIBUTING.md "Layers").

Every ``import`` and ``from … import`` of every module is read with :mod:`ast` — function-level
imports included, since a cycle hidden inside a function is still a cycle — and the tests fail on

- a cycle between modules, and
- an import against the layer order below: a module may import its own top-level package and
  layers strictly below its own, never a layer above or beside it. The one exception: ``bayes``
  reaches the ML engine through its public functions only (``bayesglmm.ml``: ``fit_ml``;
  ``bayesglmm.ml.evaluate``: ``loglik_at``, ``qpoints_rule_at``).

The checker itself is tested on a deliberately added back-import, so these tests can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bayesglmm"

# Lowest first. Rank 0 is the foundation every layer may use (and whose modules may use each other).
LAYERS = {
    0: {"_jax", "cache", "errors", "config", "options", "outputs", "csv_input", "distributed"},
    1: {"model"},
    2: {"core"},
    3: {"results"},
    4: {"ml", "gee", "bayes"},
    5: {"predict"},
    6: {"compare"},
    7: {"toml_spec"},
    8: {"cli"},
    9: {"__init__"},  # the package's public names
}
RANK = {part: rank for rank, parts in LAYERS.items() for part in parts}
PUBLIC_ML = {"bayesglmm.ml", "bayesglmm.ml.evaluate"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.startswith("bayesglmm")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                if not origin.startswith("bayesglmm"):
                    continue
                for alias in node.names:  # `from pkg import module` imports the module
                    targets.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up or sideways in the layer order (module docstring)."""
    found = []
    for source, targets in graph.items():
        for target in targets:
            a, b = _top(source), _top(target)
            if a == b or target == "bayesglmm":
                continue
            if a not in RANK or b not in RANK:
                found.append(
                    f"{source} -> {target}: {a if a not in RANK else b} has no layer in tests/test_architecture.py"
                )
            elif a == "bayes" and b == "ml" and target in PUBLIC_ML:
                continue
            elif RANK[b] > RANK[a] or (RANK[b] == RANK[a] and RANK[a] != 0):
                found.append(f"{source} -> {target} ({a}: layer {RANK[a]}, {b}: layer {RANK[b]})")
    return sorted(found)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_top_level_part_has_a_layer():
    parts = {_top(module) for module in _modules()}
    assert parts <= set(RANK), f"give these a layer in LAYERS: {sorted(parts - set(RANK))}"


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_imports_follow_the_layer_order():
    assert layer_violations(import_graph()) == []


@pytest.mark.parametrize(
    "source, target",
    [
        ("bayesglmm.results.mlfit", "bayesglmm.predict.fits"),  # results -> predict: the reverse of the rule
        ("bayesglmm.core.modes", "bayesglmm.ml.fit"),  # core -> an engine
        ("bayesglmm.bayes.fit", "bayesglmm.ml.fit"),  # bayes -> the ML driver, not its public functions
        ("bayesglmm.gee.fit", "bayesglmm.bayes.fit"),  # one engine -> another
    ],
)
def test_a_deliberate_back_import_is_caught(source, target):
    graph = import_graph()
    graph[source] = graph[source] | {target}
    assert any(line.startswith(f"{source} -> {target}") for line in layer_violations(graph))


def test_a_deliberate_cycle_is_caught():
    graph = import_graph()
    graph["bayesglmm.model.formula"] = graph["bayesglmm.model.formula"] | {"bayesglmm.model.spec"}
    assert ["bayesglmm.model.formula", "bayesglmm.model.spec"] in [
        sorted(set(c) & {"bayesglmm.model.formula", "bayesglmm.model.spec"}) for c in cycles(graph)
    ]


def test_no_module_over_400_lines():
    """Small modules with one responsibility (issue 20): split a module before it passes 400 lines."""
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_public_functions_and_methods_have_return_types():
    """Type hints on every public function and method, return types included (issue 20);
    functions nested inside others are implementation detail and exempt."""
    missing = []
    for name, path in _modules().items():

        def visit(node, nested: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    if not nested and not child.name.startswith("_") and child.returns is None:
                        missing.append(f"{name}.{child.name}")
                    visit(child, True)
                elif isinstance(child, ast.ClassDef):
                    visit(child, nested)

        visit(ast.parse(path.read_text()), False)
    assert missing == []


def test_importing_the_package_leaves_the_heavy_optional_modules_unloaded():
    """``import bayesglmm`` (every command-line call pays it) does not load NumPyro (a Bayesian fit
    loads it) or scipy.stats (0.4 s; the few statistics that need it import it where they run)."""
    import subprocess
    import sys

    probe = "import sys, bayesglmm.cli; print(sorted(m for m in ('numpyro', 'scipy.stats') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

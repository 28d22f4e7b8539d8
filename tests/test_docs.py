"""The documentation: the Sphinx build (warnings are errors) and every code block of the README
and docs/*.md, executed as a reader would run them, so that none goes stale.

Python blocks of one page run in order in one namespace; shell blocks' ``bayesglmm`` command
lines run through the command-line entry point. Both run in a temporary folder holding a copy
of ``models/`` and, for the README's "my own CSV" example, the amenorrhea data as ``my.csv``.
Chains, sampler lengths and replicate counts are shortened (``SHORTER``): the blocks are checked to run
and to print, not for their Monte Carlo numbers, which the engine tests check.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHORTER = {  # a warm-up much shorter than 200 adapts so poorly that NUTS runs slower, not faster
    "chains=4": "chains=2",
    "--chains 4": "--chains 2",  # CI has 2 cores: 4 chains take twice as long
    "warmup=1000": "warmup=200",
    "draws=1000": "draws=100",
    "thin=4": "thin=1",
    "sims=200": "sims=2",
    "workers=2": "workers=1",
    "--draws 1000": "--draws 100",
    "--warmup 1000": "--warmup 200",
    "--sims 200": "--sims 2",
    "--workers 2": "--workers 1",
}
_BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)
_NOT_RUN = ("pip install", "python3 -m venv", "python -m pytest", "benchmarks/")  # set-up lines: CI runs these itself


def blocks(page: Path) -> list[tuple[str, str]]:
    """(language, code) of each fenced python or bash block of ``page``."""
    return [(match.group(1), match.group(2)) for match in _BLOCK.finditer(page.read_text())]


def shorten(code: str) -> str:
    for long, short in SHORTER.items():
        code = code.replace(long, short)
    return code


def commands(code: str) -> list[list[str]]:
    """The ``bayesglmm`` command lines of a shell block (continuation lines joined)."""
    lines = code.replace("\\\n", " ").splitlines()
    return [
        shlex.split(line, comments=True)[1:]
        for line in lines
        if line.strip().startswith("bayesglmm ") and not any(skip in line for skip in _NOT_RUN)
    ]


def runnable(page: Path) -> bool:
    return any(language == "python" or commands(code) for language, code in blocks(page))


def test_every_page_with_code_is_checked():
    assert sum(runnable(page) for page in PAGES) >= 4


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda path: path.name)
def test_notebooks_are_stored_without_outputs(notebook):
    import nbformat

    cells = [cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    assert cells and all(not cell.outputs and cell.execution_count is None for cell in cells)


def test_docs_build_without_warnings(tmp_path):
    from sphinx.cmd.build import build_main

    assert build_main(["-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(tmp_path / "html")]) == 0
    assert (tmp_path / "html" / "api.html").is_file()


@pytest.mark.parametrize("page", [page for page in PAGES if runnable(page)], ids=lambda page: page.name)
def test_code_blocks_run(page, amenorrhea, tmp_path, monkeypatch):
    from bayesglmm.cli import main

    shutil.copytree(ROOT / "models", tmp_path / "models")
    amenorrhea.drop(columns="time2").to_csv(tmp_path / "my.csv", index=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs:{page.name}"}
    for number, (language, code) in enumerate(blocks(page), start=1):
        where = f"{page.name}, block {number}"
        if language == "python":
            exec(compile(shorten(code), where, "exec"), namespace)
        else:
            for argv in commands(shorten(code)):
                assert main(argv) == 0, f"{where}: bayesglmm {shlex.join(argv)}"
    plt.close("all")

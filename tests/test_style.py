"""House style, checked by the suite so CI fails on findings: ``ruff check`` (lint) and
``ruff format --check`` over the repository, with the configuration in ``pyproject.toml``.
ruff is pinned in the ``test`` extra: another version may format differently.
Fix findings with ``ruff check --fix . && ruff format .``."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

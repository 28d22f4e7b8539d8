"""Command line: ``bayesglmm fit|compare|coverage|sbc|predict SPEC.toml``, ``bayesglmm loo|ppcheck FIT.nc`` (or ``--formula ... --data FILE.csv``).

A user error (bad input, an output path that cannot be written) exits with status 2 and one line
``bayesglmm: error: ...``, never a traceback; warnings print as ``Category: message``.
"""

from __future__ import annotations

import sys
import warnings

from ..errors import SpecError
from ..outputs import check_output_path, check_study_folder
from .commands import _compare, _coverage, _fit, _loo, _ppcheck, _predict, _sbc
from .parser import _parser

COMMANDS = {
    "fit": _fit,
    "compare": _compare,
    "coverage": _coverage,
    "predict": _predict,
    "loo": _loo,
    "ppcheck": _ppcheck,
    "sbc": _sbc,
}
OUTPUT_OPTIONS = ("json", "save", "plot", "density_plot")


def _check_arguments(args) -> None:
    """What can be checked before loading data or fitting: output paths and counts."""
    for option in OUTPUT_OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            check_output_path(option.replace("_", "-"), value)
    if getattr(args, "out", None) is not None:
        check_study_folder(args.out)
        if args.sims < 1:
            raise SpecError(f"--sims must be >= 1, got {args.sims}")
        if args.workers is not None and args.workers < 1:
            raise SpecError(f"--workers must be >= 1, got {args.workers}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        formatwarning = warnings.formatwarning
        warnings.formatwarning = lambda message, category, *rest: f"{category.__name__}: {message}\n"
        try:
            _check_arguments(args)
            return COMMANDS[args.command](args)
        except (SpecError, OSError) as error:
            print(f"bayesglmm: error: {_one_line(error)}", file=sys.stderr)
            return 2
        finally:
            warnings.formatwarning = formatwarning


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return " ".join(str(error).split())

"""Reading a user's CSV file with errors that say what is wrong with it.

pandas alone renames duplicate columns (``x``, ``x.1``) without a word, reports an empty file
as ``EmptyDataError`` and non-UTF-8 bytes as a codec traceback; a model fitted to such a file
is silently wrong or fails far from the cause.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from .errors import SpecError


def read_csv(path) -> pd.DataFrame:
    """The data frame in the CSV file ``path``; :class:`SpecError` naming the file and the fix for a
    missing, empty, header-only or non-UTF-8 file and for duplicate column names."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SpecError(f"data file {path} not found" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as error:
        raise SpecError(
            f"data file {path} is not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8 CSV"
        ) from None
    if not header or not any(name.strip() for name in header):
        raise SpecError(
            f"data file {path} is empty; it needs a header line of column names and one row per observation"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise SpecError(f"data file {path} has duplicate column names {duplicated}; give each column its own name")
    frame = pd.read_csv(path, encoding="utf-8-sig")
    if frame.empty:
        raise SpecError(f"data file {path} has a header ({', '.join(header)}) but no rows of data")
    return frame

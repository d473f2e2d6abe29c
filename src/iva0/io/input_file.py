"""The one check every input file goes through before it is opened."""

from __future__ import annotations

import os
from pathlib import Path

from iva0.errors import UserError


def require_regular_file(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> Path:
    """`path` as a Path if it is a regular file; else `error` with one line saying what it is instead.

    A FIFO or a device is refused: reading it would block or never end.
    """
    p = Path(path)
    if not p.exists():
        raise error(f"{what} not found: {p}" + (" (a broken link)" if p.is_symlink() else ""))
    if p.is_dir():
        raise error(f"{what} is a folder, not a file: {p}")
    if not p.is_file():
        raise error(f"{what} is not a regular file: {p}")
    return p

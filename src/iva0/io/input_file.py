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


def require_folder(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> Path:
    """`path` as a Path if it is a folder; else `error` with one line: not there, or a file."""
    p = Path(path)
    if not p.is_dir():
        raise error(f"{what} {'is a file, not a folder' if p.exists() else 'not found'}: {p}")
    return p


# the first bytes of the files a user may hand over under a wrong name
_MAGIC = (
    (b"PK\x03\x04", "a .zip archive"),
    (b"PK\x05\x06", "a .zip archive (an empty one)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (b"\xff\xd8\xff", "a JPEG picture"),
    (b"GIF8", "a GIF picture"),
    (b"\x1f\x8b", "a gzip file"),
    (b"%PDF", "a PDF document"),
)


def file_kind(data: bytes) -> str | None:
    """What a file is by its first bytes ("a .zip archive ...", "a PNG picture"), or None if none of those."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None

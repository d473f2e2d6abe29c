"""Write-then-rename, so that a crash or a kill never leaves a half-written output."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from iva0.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False,
                may_replace: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`.

    The temporary name keeps the suffix (encoders pick the container from it)
    and starts with a dot, so a folder listing or a resumed benchmark run can
    tell it from a finished file. On any error the temporary is removed.
    directory=True: an existing folder at `path` is swapped out only when
    `may_replace(folder)` says so at the swap itself (the output rule's
    `replaceable_folder`); without it an existing folder is never replaced.
    """
    final = Path(path)
    if final.name in ("", ".", ".."):
        raise UserError(f"output {path}: give a file or folder name, not {str(path)!r}")
    parent = final.parent if str(final.parent) else Path(".")
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=parent)
        os.close(fd)
        tmp = Path(name)
    # mkstemp/mkdtemp make private files (0600/0700); outputs get the usual mode
    tmp.chmod((0o777 if directory else 0o666) & ~_umask())
    old = None  # where a replaced folder waits until the new one is in place
    try:
        yield tmp
        if directory and (final.exists() or final.is_symlink()):
            # checked again at the swap itself: only an empty folder or one iva0 wrote whole
            # (frames manifest, tiny-models folder) may be moved away and deleted
            if may_replace is None or not may_replace(final):
                raise UserError(f"output folder {final}/ exists and holds files iva0 did not write")
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=parent))
            os.replace(final, old / "x")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        if old is not None:
            if (old / "x").exists() and not final.exists():
                os.replace(old / "x", final)  # the swap failed half-way: put the previous folder back
            if not (old / "x").exists():
                shutil.rmtree(old, ignore_errors=True)
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def is_partial(path: str | os.PathLike) -> bool:
    """True for the temporary names `atomic_path` makes."""
    name = Path(path).name
    return name.startswith(".") and ".partial" in name

"""Reading the JSON files users write or hand over (layouts, benchmark.json, run folders).

One place for what `json.loads` gets wrong for a user-facing tool: a UTF-8 byte-order
mark (Windows editors add one) is skipped, NaN/Infinity are refused, a key given twice in
one object is refused (json.loads keeps the last one silently), and every failure
(bad UTF-8, bad syntax, nesting deep enough to exhaust Python's stack, an integer with
thousands of digits) becomes one `error`-class exception with a plain message instead
of a traceback. Only regular files are read: a FIFO or a device would block forever.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from iva0.errors import UserError, printable
from iva0.io.input_file import file_kind, require_regular_file


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFinite(f"non-finite number {name} is not allowed")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a key given twice raises (a hand-edited layout with two `keyframes`
    would otherwise lose the first list without a word)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            shown = '"' + printable(key[:80]) + ("…" if len(key) > 80 else "") + '"'
            raise _DuplicateKey(f"the key {shown} given twice in one object (JSON would keep only the last); "
                                "remove one")
        obj[key] = value
    return obj


def decode_json(text: str, source: str, error: type[UserError] = UserError) -> Any:
    """Parse `text` (from `source`, named in messages); raises `error` with one line."""
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise error(f"{source}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (_NonFinite, _DuplicateKey) as e:
        raise error(f"{source}: {e}") from None
    except RecursionError:
        raise error(f"{source}: JSON nested too deeply") from None
    except ValueError:  # an integer literal over Python's digit limit
        raise error(f"{source}: a number with too many digits") from None


def read_json(path: str | os.PathLike, error: type[UserError] = UserError, what: str = "file",
              max_bytes: int | None = None) -> Any:
    """Read and parse a JSON file; a missing, unreadable, too large (over `max_bytes`) or non-UTF-8 file raises
    `error` with one line, and a file of another kind (a .zip, a picture) says what it is."""
    p = require_regular_file(path, what, error)
    try:
        with open(p, "rb") as f:
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)  # never more than the limit + 1 byte
    except OSError as e:
        raise error(f"cannot read {what} {p}: {e.strerror or e}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise error(f"{what} {p} is too large: more than {max_bytes // 2**20} MB (at most {max_bytes} bytes)")
    kind = file_kind(data)
    if kind is not None:
        hint = ("; pass it under a .zip name (the page's layout.zip: layout.json and masks/), or unzip it and "
                "pass its layout.json"
                if kind.startswith("a .zip") and "layout" in what else "")
        raise error(f"{what} {p} is {kind}, not JSON text{hint}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{p}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); save it as UTF-8") from None
    return decode_json(text, str(p), error)

"""Errors a user can cause. The CLI turns each into one `error: ...` line and exit 2."""

import re


class UserError(Exception):
    """A mistake in the user's input (file, option, layout, model folder)."""


class LayoutError(UserError, ValueError):
    """A layout that breaks the rules of DESIGN.md; the message names the field."""


class ImageError(UserError, ValueError):
    """An image that cannot be read or is too large."""


class ModelError(UserError):
    """A model folder or checkpoint that is missing or broken."""


def printable(text: str) -> str:
    """`text` safe to print in a one-line message: every character that is not printable (control characters
    such as ESC, which start terminal escape codes; line breaks; C1 controls; bidirectional overrides) is shown
    escaped, as Python writes it (\\x1b, \\n, \\u202e), and nothing reaches the terminal as a command."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def one_line(e: BaseException) -> str:
    """An exception's first line (at most 300 characters) for an `error: ...` message; its type name if it has none."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()  # no terminal colour codes
    return (text[0].strip() if text else type(e).__name__)[:300]


def torch_load_reason(e: BaseException) -> str:
    """Why torch.load(weights_only=True) refused a file, in one line. torch's own text goes on to
    explain how to bypass the check with weights_only=False, which iva0 never does."""
    why = one_line(e)
    if "Weights only load failed" in why:
        why = "Weights only load failed: the pickle holds more than tensors, e.g. code to run"
    return why

"""What the page says when something goes wrong: a warning toast, never an error badge.

Raising `gr.Error` in an event marks every output of that event with a red
"Error" badge that stays and swallows clicks. So a user's mistake (a
`UserError`, the CLI's own checks) becomes a warning toast, the event changes
nothing (`gr.skip()`), and the page stays as it was before the mistake. A bug is
logged with its traceback on the server; the page gets one line without it.
Messages never show server paths (Gradio's upload folder, our work folder) or
Python exception names: a file is named by its own name only.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from typing import Callable

import gradio as gr

from iva0.errors import UserError

log = logging.getLogger("iva0.ui")

INTERNAL_ERROR = "internal error; the details are in the server's log"

# "/tmp/gradio/3f2a.../notimage.png" -> "notimage.png" (also inside quotes, before ":" or ",")
_ABS_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\](?:[^\s/\\'\"]+[/\\])+([^\s/\\'\":,;)]+)")
# " (UnidentifiedImageError)", " (DecompressionBombWarning)"
_EXCEPTION_NAME = re.compile(r"\s*\((?:\w+\.)*[A-Z]\w*(?:Error|Exception|Warning)\)")


def page_message(text: str) -> str:
    """`text` as the page shows it: one line, server paths cut to the file's own name, no exception names."""
    text = " ".join(str(text).split())
    text = _ABS_PATH.sub(r"\1", text)
    return _EXCEPTION_NAME.sub("", text)


# Markdown's inline punctuation: emphasis, code, links and images ("![x](http://...)"), strike-through, escapes
_MARKDOWN = re.compile(r"([\\`*_\[\]~])")


def md_text(text: str) -> str:
    """`text` (an object's name, a message quoting one) as literal text inside the page's Markdown lines: one line,
    Markdown's punctuation escaped, `<` and `&` as entities. A name is shown as typed: rendered, an image or a tag
    in it would make the browser ask another site for a file (the page talks to nothing but 127.0.0.1)."""
    return html.escape(_MARKDOWN.sub(r"\\\1", " ".join(str(text).split())), quote=False)


def warn(text: str) -> None:
    """A warning toast (outside a page event, as in tests, a Python warning). Gradio renders a toast's text as
    HTML: `<`, `>` and `&` (in a file's or an object's name) go as entities, shown as typed."""
    gr.Warning(html.escape(page_message(text), quote=False))


def info(text: str) -> None:
    """An info toast, shown as `warn`'s."""
    gr.Info(html.escape(page_message(text), quote=False))


def guarded(fn: Callable) -> Callable:
    """`fn` as a page event: a `UserError` or a bug becomes a warning toast and the event changes nothing."""

    @functools.wraps(fn)  # keeps the signature: Gradio looks for the gr.Progress default in it
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            warn(str(e))
        except Exception:  # noqa: BLE001 - a bug: log it in full, show one line
            log.exception("iva0 ui: %s failed", fn.__name__)
            warn(INTERNAL_ERROR)
        return gr.skip()  # one skip stands for all the event's outputs

    return wrapper

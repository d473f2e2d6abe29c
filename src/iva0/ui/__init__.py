"""`iva0 ui`: a local web page to draw key boxes on a picture and animate it.

Gradio is imported only here and below, and analytics are switched off before
it is: the page works with no network at all.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before any `import gradio`

from iva0.ui.config import UiConfig  # noqa: E402


def build_app(config: UiConfig | None = None, work_dir=None):
    import tempfile

    from iva0.ui.app import build_app as _build

    return _build(config or UiConfig(), work_dir or tempfile.mkdtemp(prefix="iva0-ui-"))


def launch(config: UiConfig | None = None, **kwargs):
    from iva0.ui.app import launch as _launch

    return _launch(config or UiConfig(), **kwargs)


__all__ = ["UiConfig", "build_app", "launch"]

"""The Hugging Face libraries' own output while iva0 loads or saves a model: their per-file progress bars
("Loading weights", "Writing model shards") and info chatter, silenced for the duration (iva0 shows its own
progress). Shared by every loader: the diffusion and ttm backends and the SAM 2 segmenter."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def quiet_libraries():
    """Silence the libraries' per-file progress bars and info chatter while we load."""
    import diffusers.utils.logging as dlog  # imported here: the module itself stays free to import
    import transformers.utils.logging as tlog

    levels = (dlog.get_verbosity(), tlog.get_verbosity())
    bars = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled())
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        dlog.set_verbosity(levels[0])
        tlog.set_verbosity(levels[1])
        if bars[0]:
            dlog.enable_progress_bar()
        if bars[1]:
            tlog.enable_progress_bar()

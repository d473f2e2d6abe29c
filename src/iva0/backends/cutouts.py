"""The frame-0 cut-out options every backend shares: segmenter, segmenter_model and fill.

The composite backend takes them as its own config; the iva0 backend makes its
background plate, and the ttm backend its stage-1 reference video, with a
composite backend built from them (`cutout_backend`), so `--segmenter`,
`--segmenter-model` and `--fill` mean the same thing whichever backend runs.
`check_cutouts` is the layout check they need, cheap enough to run before any
backend (or model) is loaded.
"""

from __future__ import annotations

from typing import Any, Mapping

from iva0.layout import Layout

CUTOUT_OPTIONS = ("segmenter", "segmenter_model", "fill", "depth_model")  # depth_model: the camera's parallax


def cutout_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The cut-out options among a backend's `options` that are set (None = the composite backend's default)."""
    options = options or {}
    out = {k: options[k] for k in CUTOUT_OPTIONS if options.get(k) is not None}
    for key in ("segmenter_model", "depth_model"):
        if key in out:
            out[key] = str(out[key])  # a Path from the CLI: the config holds text
    return out


def cutout_backend(options: Mapping[str, Any] | None = None):
    """A composite backend with these cut-out options: it cuts the objects out and fills the hole for the others.

    A bad segmenter name, a bad fill or `sam2` with no model folder is a UserError here; a SAM 2 folder is read
    on first use of its `segmenter` (so callers that must check it early touch that property).
    """
    from iva0.backends.composite import CompositeBackend

    return CompositeBackend(**cutout_options(options))


def check_cutouts(layout: Layout, options: Mapping[str, Any] | None = None) -> None:
    """Before any compute: the cut-outs can be made as asked (`--segmenter mask` needs every object's mask)."""
    from iva0.backends.composite import CompositeConfig, check_segmentation

    check_segmentation(layout, CompositeConfig(**cutout_options(options)))


__all__ = ["CUTOUT_OPTIONS", "check_cutouts", "cutout_backend", "cutout_options"]

"""Pixel-space parts of the pipeline: the background plate (step 3) and the exact paste (step 7)."""

from __future__ import annotations

import numpy as np

from iva0.layout import Layout
from iva0.masks import feather_mask, layout_masks


def background_plate(image: np.ndarray, layout: Layout, seed: int = 0, composite=None) -> np.ndarray:
    """The input with the layout's objects removed, RGB uint8 (H, W, 3).

    `composite` (a CompositeBackend, see iva0.backends.cutouts) cuts the objects
    out and fills the hole they leave: its config picks the segmenter and the
    fill, and its segmenter is built once and kept (a SAM 2 model loads once per
    backend, not once per video). None: the composite backend's defaults.
    """
    from iva0.backends.composite import CompositeBackend, segment_objects
    from iva0.backends.composite import background_plate as composite_plate

    composite = composite if composite is not None else CompositeBackend()
    needs = any(o.mask is None for o in layout.objects)  # objects with their own mask need no segmenter
    cutouts = segment_objects(image, layout, composite.config, seed, segmenter=composite.segmenter if needs else None)
    return composite_plate(image, layout, composite.config, cutouts)


def paste_alpha(layout: Layout, height: int, width: int, feather_px: float) -> np.ndarray:
    """Weight of the input's pixels per frame, (F, H, W) float32.

    1 on the kept region K(f) = outside G(f), ramping to 0 inside G(f) over
    `feather_px` pixels, so every pixel outside G(f) is the input's exactly and
    the generated region fades in at its border. Frame 0 is all 1.
    """
    G = layout_masks(layout, height, width).G  # hard, (F, H, W)
    return np.stack([feather_mask(1.0 - g, feather_px) for g in G]).astype(np.float32)


def paste_kept(frames: np.ndarray, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """frames (F, H, W, 3) uint8 <- alpha * image + (1 - alpha) * frames, exact where alpha is 1."""
    a = alpha[..., None].astype(np.float32)  # (F, H, W, 1)
    out = a * image[None].astype(np.float32) + (1.0 - a) * frames.astype(np.float32)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    full = alpha >= 1.0  # copy, not recompute, where the input wins outright
    out[full] = np.broadcast_to(image[None], frames.shape)[full]
    return out

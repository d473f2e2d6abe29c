"""Pixel-space parts of the pipeline: the background plate (step 3) and the exact paste (step 7)."""

from __future__ import annotations

import cv2
import numpy as np

from iva0.layout import Layout
from iva0.masks import feather_mask, layout_masks


def background_plate(image: np.ndarray, layout: Layout, seed: int = 0) -> np.ndarray:
    """The input with the layout's objects removed, RGB uint8 (H, W, 3).

    Uses the composite backend's fill (GrabCut cut-outs + inpainting) when it
    is available; otherwise inpaints every frame-0 box whole with OpenCV Telea.
    """
    try:
        from iva0.backends.composite import background_plate as composite_plate
    except ImportError:  # pragma: no cover - the composite backend ships with the package
        composite_plate = None
    if composite_plate is not None:
        return composite_plate(image, layout, seed=seed)
    H, W = image.shape[:2]
    hole = (layout_masks(layout, H, W).per_object[:, 0].max(axis=0) > 0.5).astype(np.uint8)  # (H, W)
    return cv2.inpaint(image, hole, 5, cv2.INPAINT_TELEA)


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

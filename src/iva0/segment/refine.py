"""Soft edges for a hard mask: an edge-aware guided filter instead of a plain feather.

The guided filter (He et al., in opencv-contrib's ximgproc) makes the alpha
follow the picture's own edges within `radius` px of the mask's border, so
hair, fur and blurred rims get partial alpha instead of a cut or a halo.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np


def feather(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """Alpha (H, W) float32: 1 well inside the mask, ramping to 0 at its edge over `feather_px`."""
    if feather_px <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)  # px to the edge, inside
    return np.clip(inside / float(feather_px), 0.0, 1.0).astype(np.float32)


def guided_alpha(image: np.ndarray, mask: np.ndarray, radius: int, eps: float = 1e-2) -> np.ndarray:
    """Alpha (H, W) float32 in [0, 1] of hard `mask` (H, W) {0, 1}, edges refined by the picture.

    Only a band of `radius` px around the mask's border changes: deep inside
    stays 1, far outside stays 0, so the filter never invents a far-off object.
    """
    radius = max(1, int(radius))
    m = mask.astype(np.float32)
    if not m.any():
        return m
    if not hasattr(cv2, "ximgproc"):
        # a plain opencv-python (no contrib modules) shadows ours, as on some GPU images: a feather still works
        warnings.warn("OpenCV without contrib modules (ximgproc): cut-out edges are feathered, not guided-filtered; "
                      "install opencv-contrib-python-headless for the guided edge", RuntimeWarning, stacklevel=2)
        return feather(mask, radius / 2)
    guide = image.astype(np.float32) / 255.0
    soft = cv2.ximgproc.guidedFilter(guide, m, radius, eps)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    near = cv2.dilate(mask.astype(np.uint8), k)  # the band the filter may touch
    core = cv2.erode(mask.astype(np.uint8), k)
    out = np.clip(soft, 0.0, 1.0) * near
    out[core > 0] = 1.0
    # ramp to 0 at the band's outer edge: no hard step where the filter's support ends
    return np.minimum(out, feather(near, max(1.0, radius / 2))).astype(np.float32)

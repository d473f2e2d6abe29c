"""Spatio-temporal masks of a layout, shared by every backend and the metrics.

For frame f and objects j with boxes b_j(f) (DESIGN.md, step 2):

    O(f) = U_j b_j(f)                 objects now
    V(f) = U_j b_j(0) minus b_j(f)    vacated: where an object was and is no more
    G(f) = O(f) U V(f)                regenerated
    K(f) = 1 - G(f)                   kept from the input

Frame 0 keeps everything: G(0) = 0, K(0) = 1 (O(0) still marks the objects).
Masks are float32 arrays of shape (F, H, W) in [0, 1], at any resolution (pixels
for pasting, latents for blending). A feathered mask ramps linearly from 1 on
the hard region to 0 at `feather` pixels outside it, so the hard region is never
softened and K = 1 - G holds exactly in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from iva0.layout import Layout


@dataclass(frozen=True)
class LayoutMasks:
    objects: np.ndarray  # O, (F, H, W)
    vacated: np.ndarray  # V, (F, H, W)
    regenerated: np.ndarray  # G, (F, H, W)
    kept: np.ndarray  # K, (F, H, W)
    per_object: np.ndarray  # b_j(f) as masks, (J, F, H, W)

    @property
    def O(self) -> np.ndarray:  # noqa: N802 - the paper's names
        return self.objects

    @property
    def V(self) -> np.ndarray:  # noqa: N802
        return self.vacated

    @property
    def G(self) -> np.ndarray:  # noqa: N802
        return self.regenerated

    @property
    def K(self) -> np.ndarray:  # noqa: N802
        return self.kept


def box_mask(box, height: int, width: int) -> np.ndarray:
    """Hard mask of one normalised xyxy box: a pixel is in when its centre is, (H, W)."""
    x0, y0, x1, y1 = box
    xs = (np.arange(width) + 0.5) / width
    ys = (np.arange(height) + 0.5) / height
    mx = (xs >= x0) & (xs < x1)
    my = (ys >= y0) & (ys < y1)
    m = (my[:, None] & mx[None, :]).astype(np.float32)
    if not m.any():
        # A box smaller than a cell still marks the cell that holds its centre,
        # so tiny objects never vanish at latent resolution.
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if 0 <= cx < 1 and 0 <= cy < 1:
            m[int(cy * height), int(cx * width)] = 1.0
    return m


def feather_mask(mask: np.ndarray, feather: float) -> np.ndarray:
    """Ramp a hard (H, W) mask outward: 1 inside, falling to 0 at `feather` px away."""
    if feather < 1e-3 or not mask.any():  # below a thousandth of a pixel it is a hard mask
        return mask.astype(np.float32)
    outside = (mask < 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # px to the nearest inside pixel
    return np.clip(1.0 - dist / float(feather), 0.0, 1.0).astype(np.float32)


def boxes_masks(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Hard masks of per-frame boxes (J, F, 4) -> (J, F, H, W)."""
    J, F, _ = boxes.shape
    out = np.zeros((J, F, height, width), dtype=np.float32)
    for j in range(J):
        for f in range(F):
            out[j, f] = box_mask(boxes[j, f], height, width)
    return out


def layout_masks(layout: Layout | np.ndarray, height: int, width: int, feather: float = 0.0) -> LayoutMasks:
    """O, V, G, K of a layout (or of boxes shaped (J, F, 4)) at (height, width)."""
    boxes = layout.boxes() if isinstance(layout, Layout) else np.asarray(layout, dtype=np.float64)
    per_obj = boxes_masks(boxes, height, width)  # (J, F, H, W)
    start = per_obj[:, :1]  # b_j(0), (J, 1, H, W)
    O = per_obj.max(axis=0)  # (F, H, W)
    V = (start * (1.0 - per_obj)).max(axis=0)  # (F, H, W)
    G = np.maximum(O, V)
    G[0] = 0.0  # frame 0 keeps everything
    V[0] = 0.0
    if feather > 0:
        O = np.stack([feather_mask(m, feather) for m in O])
        V = np.stack([feather_mask(m, feather) for m in V])
        G = np.stack([feather_mask(m, feather) for m in G])
    K = 1.0 - G
    return LayoutMasks(objects=O, vacated=V, regenerated=G, kept=K, per_object=per_obj)


def never_occupied(layout: Layout | np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixels that no object's box covers in any frame, (H, W) bool: the far background."""
    boxes = layout.boxes() if isinstance(layout, Layout) else np.asarray(layout, dtype=np.float64)
    return boxes_masks(boxes, height, width).max(axis=(0, 1)) < 0.5

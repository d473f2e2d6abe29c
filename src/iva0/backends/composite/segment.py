"""Cut an object out of its box: GrabCut initialised from the box, cleaned, with a soft edge."""

from __future__ import annotations

import cv2
import numpy as np

# A GrabCut result outside these shares of the box is not trusted: the box is
# then used as an ellipse-shaped cut-out, which still moves the object whole.
MIN_FOREGROUND, MAX_FOREGROUND = 0.08, 0.97


def box_to_int(box_px: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel box clipped to the image, as integer (x0, y0, x1, y1) with at least 1 px sides."""
    x0, y0, x1, y1 = box_px
    x0 = int(np.clip(np.floor(x0), 0, width - 1))
    y0 = int(np.clip(np.floor(y0), 0, height - 1))
    x1 = int(np.clip(np.ceil(x1), x0 + 1, width))
    y1 = int(np.clip(np.ceil(y1), y0 + 1, height))
    return x0, y0, x1, y1


def ellipse_mask(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return ((((yy - cy) / max(h / 2, 1)) ** 2 + ((xx - cx) / max(w / 2, 1)) ** 2) <= 1.0).astype(np.uint8)


def grabcut_in_box(
    image: np.ndarray, box_px: np.ndarray, iterations: int = 4, seed: int = 0, work_side: int = 256
) -> np.ndarray:
    """Hard foreground mask (H, W) uint8 {0, 1} of the object inside `box_px`.

    GrabCut runs on a crop around the box (the box plus a margin) for speed;
    pixels outside the box are sure background. The crop is segmented at most
    `work_side` px on its longer side (GrabCut's cost grows with the pixel
    count; the soft alpha edge hides the coarser boundary) and the mask is
    scaled back up. When the box touches the crop's
    border on every side (no background to learn from), a thin band inside the
    box is marked probable background instead.
    """
    H, W = image.shape[:2]
    x0, y0, x1, y1 = box_to_int(box_px, W, H)
    bw, bh = x1 - x0, y1 - y0
    m = max(8, int(0.25 * max(bw, bh)))
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + m)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    gc = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    bx0, by0, bx1, by1 = x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0
    gc[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    if (gc == cv2.GC_BGD).sum() < 64:
        band = max(1, int(0.05 * min(bw, bh)))
        inner = np.zeros_like(gc)
        inner[by0 + band : by1 - band, bx0 + band : bx1 - band] = 1
        gc[(gc == cv2.GC_PR_FGD) & (inner == 0)] = cv2.GC_PR_BGD
    box_area = bw * bh
    fallback = np.zeros((H, W), np.uint8)
    fallback[y0:y1, x0:x1] = ellipse_mask(bh, bw)
    if bw < 4 or bh < 4:
        return fallback
    ch, cw = crop.shape[:2]
    scale = min(1.0, work_side / max(ch, cw))
    if scale < 1.0:
        size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        gc = cv2.resize(gc, size, interpolation=cv2.INTER_NEAREST)
    cv2.setRNGSeed(seed)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return fallback
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1.0:
        fg = cv2.resize(fg, (cw, ch), interpolation=cv2.INTER_LINEAR)
    fg = (fg >= 0.5).astype(np.uint8)
    fg = clean_mask(fg)
    share = fg[by0:by1, bx0:bx1].sum() / max(box_area, 1)
    if not MIN_FOREGROUND <= share <= MAX_FOREGROUND:
        return fallback
    out = np.zeros((H, W), np.uint8)
    out[cy0:cy1, cx0:cx1] = fg
    out[:y0], out[y1:], out[:, :x0], out[:, x1:] = 0, 0, 0, 0  # never outside the box
    return out


def clean_mask(fg: np.ndarray) -> np.ndarray:
    """Close small holes, drop specks: keep the components holding most of the mask."""
    k = max(3, int(round(min(fg.shape) * 0.02)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 2:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= 0.15 * areas.max())
    return np.isin(labels, keep).astype(np.uint8)


def soft_alpha(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """Feathered alpha (H, W) float32 in [0, 1]: 1 well inside, ramping to 0 at the edge."""
    if feather_px <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)  # px to the edge, inside
    return np.clip(inside / float(feather_px), 0.0, 1.0).astype(np.float32)

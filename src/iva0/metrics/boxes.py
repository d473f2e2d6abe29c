"""Box helpers shared by the metrics: pixel xyxy boxes, clipping and IoU."""

from __future__ import annotations

import numpy as np


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip pixel xyxy boxes (..., 4) to the frame [0, W] x [0, H].

    A box fully outside the frame becomes an empty box (zero width or height).
    """
    b = np.asarray(boxes, dtype=np.float64).copy()
    b[..., [0, 2]] = np.clip(b[..., [0, 2]], 0.0, float(width))
    b[..., [1, 3]] = np.clip(b[..., [1, 3]], 0.0, float(height))
    # keep x0 <= x1, y0 <= y1 after clipping (a box left of the frame has x0 = x1 = 0)
    b[..., 2] = np.maximum(b[..., 2], b[..., 0])
    b[..., 3] = np.maximum(b[..., 3], b[..., 1])
    return b


def box_area(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes, broadcast over leading dims; 0 when the union is empty."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def box_centres(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2], axis=-1)


def fully_inside(boxes: np.ndarray, width: int, height: int, tol: float = 0.5) -> np.ndarray:
    """True where a pixel box lies inside the frame (with `tol` px of rounding slack)."""
    b = np.asarray(boxes, dtype=np.float64)
    return (b[..., 0] >= -tol) & (b[..., 1] >= -tol) & (b[..., 2] <= width + tol) & (b[..., 3] <= height + tol)

"""Scores of a cut-out against a known mask: region IoU and boundary F-score (as in DAVIS' J and F)."""

from __future__ import annotations

import cv2
import numpy as np


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """|P ∩ T| / |P ∪ T| of two masks (H, W), thresholded at 0.5; 1.0 when both are empty."""
    p, t = pred > 0.5, truth > 0.5
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0


def _boundary(m: np.ndarray) -> np.ndarray:
    m = (m > 0.5).astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: float = 0.008) -> float:
    """F-score of boundary pixels matched within `tolerance` of the image diagonal (at least 1 px)."""
    bp, bt = _boundary(pred), _boundary(truth)
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    r = max(1, int(round(tolerance * np.hypot(*pred.shape[:2]))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near_t = cv2.dilate(bt.astype(np.uint8), disk) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), disk) > 0
    precision = (bp & near_t).sum() / bp.sum()
    recall = (bt & near_p).sum() / bt.sum()
    return float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.0

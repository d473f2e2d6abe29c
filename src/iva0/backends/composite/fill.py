"""Fill the hole an object leaves, so the background shows where it used to be."""

from __future__ import annotations

import cv2
import numpy as np

FILLS = ("telea", "ns", "fsr")


def fill_hole(image: np.ndarray, hole: np.ndarray, method: str = "telea", work_side: int = 384) -> np.ndarray:
    """Inpaint `hole` (H, W) {0, 1} in RGB uint8 `image` (or a one-channel float32 map, telea/ns: the depth
    behind the objects, iva0.backends.composite.parallax); pixels outside the hole are unchanged.

    Large holes are filled at a reduced working size (the longer side at most
    `work_side`): the fill is smooth there anyway, and it keeps the cost of
    inpainting independent of the picture's size. telea/ns: OpenCV's fast
    inpainting; fsr: xphoto's frequency-selective reconstruction (better
    texture, several times slower).
    """
    if method not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {method!r}")
    hole = (hole > 0).astype(np.uint8)
    if not hole.any():
        return image.copy()
    H, W = image.shape[:2]
    s = min(1.0, work_side / max(H, W))
    if s < 1.0:
        w, h = max(8, round(W * s)), max(8, round(H * s))
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        small_hole = cv2.dilate(cv2.resize(hole, (w, h), interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
        filled = cv2.resize(_inpaint(small, small_hole, method), (W, H), interpolation=cv2.INTER_CUBIC)
    else:
        filled = _inpaint(image, hole, method)
    out = image.copy()
    out[hole > 0] = filled[hole > 0]
    return out


def _inpaint(image: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray:
    radius = max(3, int(0.02 * max(image.shape[:2])))
    if image.ndim == 2:  # a one-channel float map (fsr takes 8-bit colour only: Telea)
        return cv2.inpaint(image, hole * 255, radius, cv2.INPAINT_NS if method == "ns" else cv2.INPAINT_TELEA)
    bgr = np.ascontiguousarray(image[..., ::-1])
    if method == "fsr":
        out = np.zeros_like(bgr)
        cv2.xphoto.inpaint(bgr, (1 - hole) * 255, out, cv2.xphoto.INPAINT_FSR_FAST)  # mask: non-zero = valid
    else:
        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        out = cv2.inpaint(bgr, hole * 255, radius, flag)
    return np.ascontiguousarray(out[..., ::-1])

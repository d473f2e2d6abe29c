"""Synthetic videos with known answers, for the metrics' tests and speed runs."""

from __future__ import annotations

import cv2
import numpy as np


def texture(height: int, width: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """A random, smooth-ish RGB texture (uint8), which trackers and SSIM can latch onto."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if blur > 0:
        t = cv2.GaussianBlur(t, (0, 0), blur)
    return t


def moving_patch_video(
    boxes_px: np.ndarray,
    height: int,
    width: int,
    seed: int = 0,
    background: np.ndarray | None = None,
    fill_vacated: bool = True,
) -> np.ndarray:
    """Frames (F, H, W, 3): a textured patch pasted exactly at each box in `boxes_px` (F, 4).

    The patch is the frame-0 content of box 0 (a distinct texture), resized to
    each box. With `fill_vacated`, the background shows where the patch was;
    otherwise the patch's frame-0 pixels stay behind (an afterimage).
    """
    bg = texture(height, width, seed) if background is None else background
    b0 = np.round(boxes_px[0]).astype(int)
    pw, ph = b0[2] - b0[0], b0[3] - b0[1]
    patch = texture(ph, pw, seed + 1, blur=1.0)
    # a bright border and a dark cross make the patch easy to tell from the background
    patch = patch // 2 + 64
    patch[:, pw // 2 - 1 : pw // 2 + 1] = 0
    patch[ph // 2 - 1 : ph // 2 + 1] = 0
    first = bg.copy()
    _paste(first, patch, b0)
    frames = []
    for b in boxes_px:
        fr = bg.copy() if fill_vacated else first.copy()
        bi = np.round(b).astype(int)
        _paste(fr, cv2.resize(patch, (bi[2] - bi[0], bi[3] - bi[1]), interpolation=cv2.INTER_LINEAR), bi)
        frames.append(fr)
    return np.stack(frames)  # (F, H, W, 3)


def _paste(dst: np.ndarray, patch: np.ndarray, box: np.ndarray) -> None:
    """Paste `patch` at integer xyxy `box`, cropped where it leaves the frame."""
    H, W = dst.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    dst[cy0:cy1, cx0:cx1] = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def linear_boxes(start, end, num_frames: int) -> np.ndarray:
    """Boxes (F, 4) moving linearly from `start` to `end` (pixel xyxy)."""
    t = np.linspace(0.0, 1.0, num_frames)[:, None]
    return (1 - t) * np.asarray(start, dtype=np.float64) + t * np.asarray(end, dtype=np.float64)

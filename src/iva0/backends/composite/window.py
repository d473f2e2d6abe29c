"""Resample a window of a picture-space image to the output size: the composite's camera (iva0.camera).

Sub-pixel, bilinear (`cv2.warpAffine`) when the window is no larger than the
output; when it is larger (zooming out by up to n times) the warp samples n x n
points per output pixel and `cv2.INTER_AREA` averages each block: an area filter
at any sub-pixel phase, so fine texture does not alias.
Coordinates are corner coordinates: an image of width W spans [0, W], pixel i
covers [i, i + 1].
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def window_to_px(window: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised window(s) (..., 4) -> pixel xyxy in a (width, height) image."""
    return np.asarray(window, dtype=np.float64) * np.array([width, height, width, height], dtype=np.float64)


def window_region(win_px: np.ndarray, width: int, height: int, out_w: int, out_h: int) -> tuple[int, int, int, int]:
    """The integer part [x0, x1) x [y0, y1) of a (width, height) image that resampling `win_px` reads: the window
    grown by the filter's reach (a few output pixels' worth), clipped to the image. Pixels past the image's edge
    are never needed: the resampler replicates (or zeroes) the image's own edge."""
    wx0, wy0, wx1, wy1 = (float(v) for v in win_px)
    mx = 2.0 + 2.0 * (wx1 - wx0) / out_w  # two output pixels and two input pixels
    my = 2.0 + 2.0 * (wy1 - wy0) / out_h
    x0 = min(max(0, math.floor(wx0 - mx)), width - 1)
    y0 = min(max(0, math.floor(wy0 - my)), height - 1)
    x1 = max(min(width, math.ceil(wx1 + mx)), x0 + 1)
    y1 = max(min(height, math.ceil(wy1 + my)), y0 + 1)
    return x0, y0, x1, y1


def resample_window(image: np.ndarray, win_px: np.ndarray, out_w: int, out_h: int, *, origin: tuple[int, int] = (0, 0),
                    interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Window `win_px` (xyxy px of the full picture) of `image` scaled to (out_h, out_w[, C]), same dtype as image.

    Past the picture's edges the edge pixels go on (replicated). `image` may be a crop of the full picture (as
    `window_region` gives) whose top-left pixel is `origin` (x, y) in the full picture: its edges that are not
    the picture's must lie past what the window reads (`window_region` makes sure).
    """
    ox, oy = origin
    wx0, wy0, wx1, wy1 = (float(v) for v in win_px)
    wx0, wx1, wy0, wy1 = wx0 - ox, wx1 - ox, wy0 - oy, wy1 - oy  # in the crop's coordinates
    # zooming out: sample n x n points per output pixel (magnifying, so bilinear is exact enough), then average each
    # n x n block (INTER_AREA at an integer factor is a plain box average): an area filter at any sub-pixel phase
    nx = max(1, math.ceil((wx1 - wx0) / out_w - 1e-9))
    ny = max(1, math.ceil((wy1 - wy0) / out_h - 1e-9))
    sw, sh = out_w * nx, out_h * ny
    sx, sy = sw / (wx1 - wx0), sh / (wy1 - wy0)  # sample px per picture px, >= 1
    # inverse map, sample index u -> source index: corner x = wx0 + (u + 0.5) / sx, index = corner - 0.5
    inv = np.array([[1.0 / sx, 0.0, wx0 + 0.5 / sx - 0.5], [0.0, 1.0 / sy, wy0 + 0.5 / sy - 0.5]], dtype=np.float64)
    out = cv2.warpAffine(image, inv, (sw, sh), flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    if (nx, ny) != (1, 1):
        out = cv2.resize(out, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return out


def inside_picture(win_px: np.ndarray, width: int, height: int, out_w: int, out_h: int) -> np.ndarray:
    """(out_h, out_w) float32: the share of each output pixel that lies on the picture (1 inside, 0 past its edges,
    in between on a pixel the edge crosses)."""
    wx0, wy0, wx1, wy1 = (float(v) for v in win_px)
    xs = wx0 + np.arange(out_w + 1, dtype=np.float64) * (wx1 - wx0) / out_w  # output pixel edges in picture px
    ys = wy0 + np.arange(out_h + 1, dtype=np.float64) * (wy1 - wy0) / out_h
    cover_x = (np.clip(xs[1:], 0, width) - np.clip(xs[:-1], 0, width)) / (xs[1:] - xs[:-1])  # (out_w,)
    cover_y = (np.clip(ys[1:], 0, height) - np.clip(ys[:-1], 0, height)) / (ys[1:] - ys[:-1])  # (out_h,)
    return np.outer(cover_y, cover_x).astype(np.float32)  # (out_h, out_w)


__all__ = ["inside_picture", "resample_window", "window_region", "window_to_px"]

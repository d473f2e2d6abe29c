"""The canvas around the picture: a hatched band where a camera window may reach past the picture's edges.

A layout's camera window may reach past the picture (camera.WINDOW_RANGE: at most one picture width/height
beyond each side); the page draws it there, on a band of "outside the picture" around the picture. Without a
camera the canvas is the picture itself (band 0), as before. With one the band starts at BAND_START of the
picture's size per side and grows by BAND_STEP (up to BAND_MAX) while a key window reaches its edge, so a
window dragged against the edge can go further on the next showing.

`Geometry` maps the annotator's pixels (of the banded canvas) to the layout's normalised picture coordinates
and back: a box's numbers never depend on the band (x = (px - offset) / picture width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from iva0.camera import WINDOW_RANGE

Box = tuple[float, float, float, float]

BAND_START = 0.25  # share of the picture's width (height) shown beyond each side once there is a camera
BAND_STEP = 0.05
BAND_MAX = float(WINDOW_RANGE[1] - 1.0)  # 1.0: as far as a layout's window may reach
REACH = 0.02  # a window this close to the band's edge (normalised) reaches it: the band grows
HATCH = ((92, 92, 92), (70, 70, 70))  # the band's stripes (RGB): grey, unlike any picture's edge
HATCH_PX = 12  # stripe width, canvas px


@dataclass(frozen=True)
class Geometry:
    """A canvas of the picture (`width` x `height` px, the view copy) with `band` of its size around each side."""

    width: int
    height: int
    band: float = 0.0

    @property
    def offset(self) -> tuple[int, int]:
        """Where the picture's top-left corner is on the canvas (px)."""
        return round(self.width * self.band), round(self.height * self.band)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the canvas, px: the picture's shape, so it is shown undistorted like the picture."""
        ox, oy = self.offset
        return self.width + 2 * ox, self.height + 2 * oy

    def box_to_pixels(self, box: Box, *, clip_to_picture: bool = True) -> dict:
        """Normalised picture xyxy -> annotator box in canvas px, clipped to the picture (an object's box) or
        to the canvas (a camera window, which may reach into the band)."""
        ox, oy = self.offset
        cw, ch = self.size
        lo_x, hi_x = (ox, ox + self.width) if clip_to_picture else (0, cw)
        lo_y, hi_y = (oy, oy + self.height) if clip_to_picture else (0, ch)
        x0, y0, x1, y1 = box
        px = lambda v, size, off, lo, hi: int(round(min(max(v * size + off, lo), hi)))  # noqa: E731
        return {
            "xmin": px(x0, self.width, ox, lo_x, hi_x), "ymin": px(y0, self.height, oy, lo_y, hi_y),
            "xmax": px(x1, self.width, ox, lo_x, hi_x), "ymax": px(y1, self.height, oy, lo_y, hi_y),
        }  # fmt: skip

    def box_from_pixels(self, b: dict) -> Box:
        """An annotator box {xmin, ymin, xmax, ymax} in canvas px -> normalised picture xyxy (may reach past 0..1)."""
        ox, oy = self.offset
        x0, x1 = sorted((float(b["xmin"]), float(b["xmax"])))
        y0, y1 = sorted((float(b["ymin"]), float(b["ymax"])))
        return ((x0 - ox) / self.width, (y0 - oy) / self.height, (x1 - ox) / self.width, (y1 - oy) / self.height)

    def same_box(self, a: Box | None, b: Box | None, tol: float, *, clip_to_picture: bool = True) -> bool:
        """Equal up to `tol` canvas px per side, comparing the parts the canvas shows."""
        if a is None or b is None:
            return a is None and b is None
        pa = np.array(list(self.box_to_pixels(a, clip_to_picture=clip_to_picture).values()), dtype=float)
        pb = np.array(list(self.box_to_pixels(b, clip_to_picture=clip_to_picture).values()), dtype=float)
        return bool(np.all(np.abs(pa - pb) <= tol))

    def canvas(self, picture: np.ndarray) -> np.ndarray:
        """`picture` (h, w, 3) uint8 on the canvas: in the middle of the hatched band, (H, W, 3) uint8."""
        if self.band <= 0:
            return picture
        cw, ch = self.size
        ox, oy = self.offset
        yy, xx = np.mgrid[0:ch, 0:cw]  # (H, W) each
        stripes = ((xx + yy) // HATCH_PX) % 2  # (H, W): diagonal stripes
        out = np.where(stripes[..., None] == 0, np.array(HATCH[0], np.uint8), np.array(HATCH[1], np.uint8))  # (H, W, 3)
        out = np.ascontiguousarray(out, dtype=np.uint8)
        out[oy : oy + self.height, ox : ox + self.width] = picture
        # the picture's edge, so a window's part outside it reads as outside
        cv2.rectangle(out, (ox - 1, oy - 1), (ox + self.width, oy + self.height), (230, 230, 230), 1)
        return out


def reach(windows) -> float:
    """How far past the picture's edges any of `windows` (normalised xyxy) reaches (0 when all lie inside)."""
    out = 0.0
    for x0, y0, x1, y1 in windows:
        out = max(out, -x0, -y0, x1 - 1.0, y1 - 1.0)
    return out


def band_for(windows, has_camera: bool) -> float:
    """The band to show: 0 without a camera; else BAND_START, grown in BAND_STEPs (up to BAND_MAX) while a key
    window reaches within REACH of its edge."""
    if not has_camera:
        return 0.0
    need = reach(windows)
    band = BAND_START
    if need >= band - REACH:
        steps = math.floor((need + REACH - BAND_START) / BAND_STEP + 1e-9) + 1
        band = BAND_START + steps * BAND_STEP
    return round(min(band, BAND_MAX), 6)

"""Parallax for the composite's camera: near pixels move more than far ones as the window moves.

The model (README, "Camera motion"). Depth d in [0, 1] (larger = nearer, iva0.depth); the reference depth d_ref is
the median depth of what window 0 shows (pixels at d_ref move exactly with the window, as without parallax).
Window f has centre c_f and size S_f (picture px, per axis), window 0 c_0 and S_0, r = S_f / S_0. Through the
camera alone a picture point p appears at o_f(p) = (p - c_f) / S_f in the window; with parallax s, a point at depth
d moves on screen (1 + s (d - d_ref)) times as far as that, i.e. in picture space it is moved by

    D_f(p) = s (d(p) - d_ref) [(p - c_f) - r (p - c_0)]

before window f is resampled: a pan (r = 1) shifts it by s (d - d_ref) (c_0 - c_f) (near pixels against the pan,
far ones with it), a zoom about a fixed centre scales it about the window's centre by 1 + s (d - d_ref) (1 - r).
D_0 = 0: frame 0 is the input.

The move is a forward warp with a z-buffer: every source pixel lands on the pixel its moved centre falls in, the
nearest (largest depth) wins; each target then samples the picture bilinearly at its own centre moved back by its
winner's displacement. Cracks -- gaps of at most 2 px with nearer pixels on both sides (along x or y), where near
content is stretched and the far pixels behind it (or nothing) would show through -- take their nearest neighbour's
source. Target pixels no source reaches after that are disoccluded, the background that near pixels uncovered,
filled with the composite's fill (with the near pixels beside them hidden from it, so that it draws on the far
side) and marked unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

CRACK_PX = 3  # a gap narrower than this between nearer pixels on both sides is a crack (stretched content)
CRACK_DEPTH = 0.05  # "nearer": by this much depth (of [0, 1])
NEAR_DEPTH = 0.1  # beside a disocclusion, pixels this much nearer than its farthest rim pixel are hidden from its fill
FILL_BAND = 0.25  # ... within a band as wide as the hole, at most this share of the region's longer side
FILL_SIDE = 192  # the disocclusions are filled at this working size (fill.py; they are unknown pixels anyway)


@dataclass(frozen=True)
class ParallaxModel:
    """The per-video part of the model: the strength, the depth map in picture space, the reference depth."""

    strength: float  # s, 0..4
    depth: np.ndarray  # (H, W) float32 in [0, 1], larger = nearer, at picture-space size
    ref: float  # d_ref: the median depth window 0 shows
    window0: np.ndarray  # (4,) window 0 in picture px

    @classmethod
    def build(cls, strength: float, depth: np.ndarray, window0_px: np.ndarray) -> "ParallaxModel":
        H, W = depth.shape
        x0, y0, x1, y1 = (float(v) for v in window0_px)
        shown = depth[max(0, math.floor(y0)):min(H, math.ceil(y1)), max(0, math.floor(x0)):min(W, math.ceil(x1))]
        ref = float(np.median(shown)) if shown.size else float(np.median(depth))
        return cls(float(strength), depth.astype(np.float32), ref, np.asarray(window0_px, np.float64))

    def terms(self, window_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) with D_f(p) = s (d - d_ref) (a * p + b) per axis (x, y): a = 1 - r, b = r c_0 - c_f."""
        w0, wf = self.window0, np.asarray(window_px, np.float64)
        c0, cf = (w0[:2] + w0[2:]) / 2, (wf[:2] + wf[2:]) / 2
        r = (wf[2:] - wf[:2]) / (w0[2:] - w0[:2])
        return 1.0 - r, r * c0 - cf

    def reach(self, window_px: np.ndarray, region: tuple[int, int, int, int] | None = None) -> float:
        """The longest move (px) a pixel of `region` (x0, y0, x1, y1; default the whole picture) makes at window f."""
        a, b = self.terms(window_px)
        H, W = self.depth.shape
        x0, y0, x1, y1 = region or (0, 0, W, H)
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)  # the affine part peaks at a corner
        span = float(np.max(np.hypot(*(corners * a + b).T)))
        dd = max(float(self.depth.max()) - self.ref, self.ref - float(self.depth.min()))
        return self.strength * dd * span

    def source_region(self, window_px: np.ndarray, region: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """`region` grown to hold every pixel that may move into it at window f: grown by the longest move of a
        pixel of the grown region, to a fixed point (or the whole picture)."""
        H, W = self.depth.shape
        grown = region
        for _ in range(16):
            bigger = grow_region(region, self.reach(window_px, grown), W, H)
            if bigger == grown:
                break
            grown = bigger
        else:
            grown = (0, 0, W, H)
        return grown

    def active(self, window_px: np.ndarray) -> bool:
        return self.strength > 0 and self.reach(window_px) > 1e-6


def grow_region(region: tuple[int, int, int, int], by: float, width: int, height: int) -> tuple[int, int, int, int]:
    """`region` [x0, x1) x [y0, y1) grown by `by` px (and a pixel) on every side, clipped to the picture."""
    g = int(math.ceil(by)) + 1
    x0, y0, x1, y1 = region
    return max(0, x0 - g), max(0, y0 - g), min(width, x1 + g), min(height, y1 + g)


def warp(model: ParallaxModel, window_px: np.ndarray, depth: np.ndarray, origin: tuple[int, int],
         canvas: np.ndarray, planes: list[np.ndarray], fill: str) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Move a region of picture space by the parallax of window f: (canvas, planes, disoccluded).

    canvas (h, w, 3) float32 and planes (h, w) float32 (masks that move with the pixels) are the region whose
    top-left pixel is `origin` (x, y) in picture space; depth (h, w) is that region's depth (the objects' own where
    they are now). disoccluded (h, w) bool: target pixels no source reached, filled with `fill`; the planes are 0
    there.
    """
    from iva0.backends.composite.fill import fill_hole

    h, w = depth.shape
    ox, oy = origin
    a, b = model.terms(window_px)
    xs = np.arange(w, dtype=np.float32)[None]  # (1, w): broadcast, not a full grid
    ys = np.arange(h, dtype=np.float32)[:, None]  # (h, 1)
    amount = model.strength * (depth - model.ref)  # (h, w)
    dx = amount * np.float32(a[0]) * (xs + np.float32(0.5 + ox)) + amount * np.float32(b[0])  # centres in picture px
    dy = amount * np.float32(a[1]) * (ys + np.float32(0.5 + oy)) + amount * np.float32(b[1])
    tx, ty = np.rint(xs + dx).astype(np.int64), np.rint(ys + dy).astype(np.int64)  # (h, w) each
    inside = ((tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)).ravel()
    n = h * w
    # z-buffer: each target keeps the source of largest (depth, index): depth in 1/65535 steps above, the source's
    # index in the low 32 bits (no sort needed)
    key = (np.rint(depth.ravel() * 65535).astype(np.int64) << 32) | np.arange(n, dtype=np.int64)  # (n,)
    buf = np.full(n, -1, np.int64)
    np.maximum.at(buf, (ty * w + tx).ravel()[inside], key[inside])
    buf = buf.reshape(h, w)
    for _ in range(2):  # twice: where a crack along x crosses one along y, neither side is nearer at first
        buf = fill_cracks(buf, (buf >> 32).astype(np.float32) / 65535)
    holes = buf < 0
    src = np.where(holes, 0, buf & 0xFFFFFFFF).ravel()  # (n,) each target's source pixel
    map_x = np.where(holes, xs, xs - dx.ravel()[src].reshape(h, w)).astype(np.float32)  # the centre moved back
    map_y = np.where(holes, ys, ys - dy.ravel()[src].reshape(h, w)).astype(np.float32)
    out = cv2.remap(canvas, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved = [cv2.remap(p, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) * ~holes for p in planes]
    if holes.any():  # the disoccluded background: the composite's own fill, drawn from the far side
        zd = (buf >> 32).astype(np.float32) / 65535  # (h, w) each target's depth
        filled = fill_hole(np.clip(out + 0.5, 0, 255).astype(np.uint8), fill_region(holes, zd), fill, FILL_SIDE)
        out[holes] = filled[holes]
    return out, moved, holes


def fill_region(holes: np.ndarray, zd: np.ndarray) -> np.ndarray:
    """What the fill of `holes` (h, w) bool repaints, (h, w) uint8 {0, 1}: the holes and the nearer pixels beside
    them. A disocclusion shows what lay behind the near pixels that moved away, so its fill must come from the far
    side: within a band around each hole (as wide as the widest hole, at most FILL_BAND of the region's longer
    side), the pixels nearer (by NEAR_DEPTH) than the farthest pixel on that hole's rim are hidden from the fill
    (only the holes are copied back)."""
    hole = holes.astype(np.uint8)
    width = 2.0 * float(cv2.distanceTransform(hole, cv2.DIST_L2, 3).max())  # the widest hole, px
    band = min(width, FILL_BAND * max(holes.shape)) + 1.5
    # every other pixel's distance to the nearest hole, and which hole (connected component) that is
    dist, label = cv2.distanceTransformWithLabels(1 - hole, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_CCOMP)
    rim = (dist <= 1.5) & ~holes
    far = np.full(int(label.max()) + 1, np.inf)
    np.minimum.at(far, label[rim], zd[rim])  # each hole's farthest rim pixel
    hidden = (dist <= band) & ~holes & (zd > far[label] + NEAR_DEPTH)
    return (holes | hidden).astype(np.uint8)


def fill_cracks(buf: np.ndarray, zd: np.ndarray) -> np.ndarray:
    """The z-buffer `buf` (h, w) of keys ((depth step << 32) | source, -1 = no source) with its cracks closed: pixels with a
    nearer surface (by CRACK_DEPTH) within CRACK_PX - 1 px on both sides, along x or along y, take their nearest
    3 x 3 neighbour's source. Stretched near content leaves such gaps, which the far pixels behind (or nothing)
    would show through; a gap open on one side is a disocclusion and stays."""
    zd = np.where(buf < 0, -1.0, zd).astype(np.float32)  # (h, w) depth of each target's winner; -1: none
    r = CRACK_PX - 1
    zp = np.pad(zd, r, constant_values=-1.0)  # (h + 2r, w + 2r)
    h, w = zd.shape
    crack = np.zeros((h, w), bool)
    for axis in (0, 1):
        shifted = [zp[r + k:r + k + h, r:r + w] if axis == 0 else zp[r:r + h, r + k:r + k + w] for k in range(-r, r + 1)]
        before, after = np.max(shifted[:r], axis=0), np.max(shifted[r + 1:], axis=0)
        crack |= np.minimum(before, after) > zd + CRACK_DEPTH
    if crack.any():
        near = ndimage.maximum_filter(buf, size=3, mode="nearest")  # the largest key: the nearest neighbour
        buf = np.where(crack, near, buf)
    return buf


def fill_depth(depth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The depth map with the objects' hole filled by the plate's own fill (Telea on the float map): the depth of
    the background they leave behind, (H, W) float32."""
    from iva0.backends.composite.fill import fill_hole

    return fill_hole(depth.astype(np.float32), hole, "telea")


__all__ = ["CRACK_DEPTH", "CRACK_PX", "ParallaxModel", "fill_cracks", "fill_depth", "fill_region", "grow_region", "warp"]

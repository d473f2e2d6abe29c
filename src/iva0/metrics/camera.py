"""Camera metric: does the background move as the layout's camera window asks?

Frame f of a camera video shows window f of the picture scaled to the output
(iva0.camera). A picture point at output position x in frame f is, for a still
background, at

    x' = (x * s_f + o_f - o_{f+1}) / s_{f+1}

in frame f+1, with o the window's top-left corner and s its size per output
pixel (both in picture pixels, per axis): the requested motion, an axis-aligned
scale and shift. The measured motion is the background's global motion between
the two frames: SIFT features (OpenCV) of each frame, outside every object's
box (grown by BOX_MARGIN) and outside what the window shows past the picture's
edges (filled, not the picture), matched with Lowe's ratio test, and a
similarity transform (scale, rotation, shift) fitted to the matches with RANSAC
(`cv2.estimateAffinePartial2D`). The error of a pair of frames is the mean
distance, in output pixels, between where the two motions take the points of a
grid over frame f; `camera_error` is the mean over pairs (px per frame, at the
evaluated size). Pairs with too few matches (MIN_MATCHES) are skipped and
counted; None when no pair could be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BOX_MARGIN = 0.1  # objects' boxes grow by this share of their size before their features are left out
MIN_MATCHES = 8  # fewer matches agreeing on a motion: the pair is not measured
RANSAC_PX = 2.0  # px: a match agrees with the fitted motion within this distance
GRID = 16  # points per side of the grid the two motions are compared on


@dataclass
class CameraScore:
    error: float | None  # mean px per frame pair (None: no pair measured)
    per_pair: list  # (F - 1,) px or None per pair
    unmeasured: int  # pairs with too few matches

    def to_dict(self) -> dict:
        return {
            "camera_error": self.error,
            "camera_errors": [None if v is None else round(float(v), 3) for v in self.per_pair],
            "camera_unmeasured_pairs": self.unmeasured,
        }


def requested_motion(windows_px: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """(F - 1, 2, 3) affine maps output px of frame f -> frame f+1 for a still picture seen through the windows.

    windows_px: (F, 4) picture px xyxy.
    """
    w = np.asarray(windows_px, dtype=np.float64)
    s = (w[:, 2:] - w[:, :2]) / np.array([out_w, out_h], dtype=np.float64)  # (F, 2) picture px per output px
    o = w[:, :2]  # (F, 2)
    a = s[:-1] / s[1:]  # (F-1, 2) scale per axis
    t = (o[:-1] - o[1:]) / s[1:]  # (F-1, 2)
    M = np.zeros((len(a), 2, 3))
    M[:, 0, 0], M[:, 1, 1] = a[:, 0], a[:, 1]
    M[:, :, 2] = t
    return M


def _mask(shape: tuple[int, int], boxes_f: np.ndarray, on_picture: np.ndarray | None) -> np.ndarray:
    """uint8 (H, W): 255 where features may come from (not an object's box, on the picture)."""
    H, W = shape
    m = np.full((H, W), 255, np.uint8) if on_picture is None else (on_picture > 0.99).astype(np.uint8) * 255
    for b in np.asarray(boxes_f, dtype=np.float64).reshape(-1, 4):
        g = BOX_MARGIN * (b[2:] - b[:2])
        x0, y0 = (int(np.floor(v)) for v in np.maximum(b[:2] - g, 0))
        x1, y1 = (int(np.ceil(v)) for v in np.minimum(b[2:] + g, [W, H]))
        if x1 > x0 and y1 > y0:
            m[y0:y1, x0:x1] = 0
    return m


def on_picture_masks(windows_px: np.ndarray, picture_w: int, picture_h: int, out_w: int, out_h: int) -> np.ndarray:
    """(F, H, W) share of each output pixel that shows the picture (not what a window reveals past its edges)."""
    from iva0.backends.composite.window import inside_picture

    return np.stack([inside_picture(w, picture_w, picture_h, out_w, out_h) for w in windows_px])


def camera_error(frames: np.ndarray, windows_px: np.ndarray, picture_size: tuple[int, int],
                 boxes_px: np.ndarray | None = None) -> CameraScore:
    """The camera metric of a video. frames (F, H, W, 3) uint8 at the evaluated size; windows_px (F, 4) the
    layout's windows in picture px of a picture of `picture_size` (w, h); boxes_px (J, F, 4) the objects' boxes
    in the frames' pixels (left out of the background)."""
    F, H, W, _ = frames.shape
    pw, ph = picture_size
    req = requested_motion(windows_px, W, H)  # (F-1, 2, 3)
    on_pic = on_picture_masks(windows_px, pw, ph, W, H)  # (F, H, W)
    boxes = np.zeros((0, F, 4)) if boxes_px is None else np.asarray(boxes_px, dtype=np.float64)
    sift = cv2.SIFT_create()
    feats = []
    for f in range(F):
        grey = cv2.cvtColor(np.ascontiguousarray(frames[f]), cv2.COLOR_RGB2GRAY)
        feats.append(sift.detectAndCompute(grey, _mask((H, W), boxes[:, f], on_pic[f])))
    gx, gy = np.meshgrid(np.linspace(0, W, GRID), np.linspace(0, H, GRID))
    grid = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)], axis=0)  # (3, GRID^2) homogeneous
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    per_pair: list = []
    for f in range(F - 1):
        (k0, d0), (k1, d1) = feats[f], feats[f + 1]
        M = None
        if d0 is not None and d1 is not None and len(k0) >= MIN_MATCHES and len(k1) >= 2:
            good = [m for m, n in (p for p in matcher.knnMatch(d0, d1, k=2) if len(p) == 2) if m.distance < 0.75 * n.distance]
            if len(good) >= MIN_MATCHES:
                p0 = np.float32([k0[m.queryIdx].pt for m in good])  # (N, 2)
                p1 = np.float32([k1[m.trainIdx].pt for m in good])
                M, inl = cv2.estimateAffinePartial2D(p0, p1, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
                if M is not None and int(inl.sum()) < MIN_MATCHES:
                    M = None
        if M is None:
            per_pair.append(None)
            continue
        per_pair.append(float(np.linalg.norm(M @ grid - req[f] @ grid, axis=0).mean()))
    done = [v for v in per_pair if v is not None]
    return CameraScore(float(np.mean(done)) if done else None, per_pair, sum(v is None for v in per_pair))

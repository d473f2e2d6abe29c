"""Draw boxes, names, paths and camera windows over frames, so users see what was asked.

The drawing functions take arrays (boxes and windows in the frames' pixels);
`iva0.layout_overlay` reads them off a layout (video I/O knows no layout).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

# distinct, colour-blind friendly (Okabe-Ito), RGB
PALETTE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167)]
CAMERA_COLOR = (255, 255, 255)  # the camera's window: white, drawn over a dark outline


def color(j: int) -> tuple[int, int, int]:
    return PALETTE[j % len(PALETTE)]


def _style(H: int, W: int) -> tuple[int, float]:
    return max(1, round(min(H, W) / 256)), max(0.35, min(H, W) / 700)  # line thickness, font scale


def _copy(frames: np.ndarray) -> np.ndarray:
    # C order: OpenCV draws on contiguous frames only, and a backend may hand back a strided view (ttm)
    return np.array(frames, dtype=np.uint8, order="C", copy=True)


def _path(img: np.ndarray, centres: np.ndarray, f: int, keys: Sequence[int], c, thick: int) -> None:
    """The whole path of `centres` (F, 2) px thin, the part travelled up to frame f thick, a dot per key frame."""
    pts = np.round(centres).astype(np.int32).reshape(-1, 1, 2)  # (F, 1, 2), what polylines takes
    cv2.polylines(img, [pts], False, c, 1, cv2.LINE_AA)
    cv2.polylines(img, [pts[: f + 1]], False, c, thick + 1, cv2.LINE_AA)
    for k in keys:
        if 0 <= k < len(pts):
            cv2.circle(img, tuple(int(v) for v in pts[k, 0]), thick + 2, c, -1, cv2.LINE_AA)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], -1)


def draw_boxes(frames: np.ndarray, boxes_px: np.ndarray, names: Sequence[str], keys: Sequence[Sequence[int]] = (),
               path: bool = True, numbers: bool = True) -> np.ndarray:
    """Copy of frames (F, H, W, 3) uint8 with each object's box at that frame (boxes_px (J, F', 4) in the frames'
    pixels, F' >= 1: frames past F' show the last), its name, and the path of its box centre (the whole path
    thin, the part travelled so far thick, a dot at each of `keys[j]`'s frames); the frame number bottom left."""
    out = _copy(frames)
    F, H, W = out.shape[:3]
    boxes = np.asarray(boxes_px, dtype=np.float64)
    thick, scale = _style(H, W)
    for f in range(F):
        fb = min(f, boxes.shape[1] - 1) if boxes.size else 0
        img = out[f]
        for j, name in enumerate(names):
            c = color(j)
            if path:
                _path(img, _centres(boxes[j]), fb, keys[j] if j < len(keys) else (), c, thick)
            x0, y0, x1, y1 = np.round(boxes[j, fb]).astype(int)
            cv2.rectangle(img, (x0, y0), (x1, y1), c, thick + 1, cv2.LINE_AA)
            (tw, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            ty = y0 - 4 if y0 - th - 6 >= 0 else y0 + th + 4
            tx = int(np.clip(x0, 0, max(0, W - tw - 2)))
            cv2.rectangle(img, (tx, ty - th - 2), (tx + tw + 2, ty + base), c, -1)
            cv2.putText(img, name, (tx + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        if numbers:
            cv2.putText(img, f"{f}", (4, H - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def draw_windows(frames: np.ndarray, windows_px: np.ndarray, keys: Sequence[int] = (), label: str = "camera") -> np.ndarray:
    """Copy of frames (F, H, W, 3) with the camera's window at each frame (windows_px (F', 4) in the frames'
    pixels, frames past F' show the last) and the path of its centre (travelled part thick, a dot per key)."""
    out = _copy(frames)
    F, H, W = out.shape[:3]
    win = np.asarray(windows_px, dtype=np.float64)
    thick, scale = _style(H, W)
    for f in range(F):
        fw = min(f, len(win) - 1)
        img = out[f]
        _path(img, _centres(win), fw, keys, CAMERA_COLOR, thick)
        x0, y0, x1, y1 = np.round(win[fw]).astype(int)
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), thick + 3, cv2.LINE_AA)
        cv2.rectangle(img, (x0, y0), (x1, y1), CAMERA_COLOR, thick + 1, cv2.LINE_AA)
        tx, ty = int(np.clip(x0 + 4, 0, W - 4)), int(np.clip(y1 - 6, 12, H - 4))
        cv2.putText(img, label, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, label, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, CAMERA_COLOR, 1, cv2.LINE_AA)
    return out


def draw_minimap(frames: np.ndarray, windows: np.ndarray, picture_aspect: float, keys: Sequence[int] = (),
                 share: float = 0.28) -> np.ndarray:
    """Copy of output frames (F, H, W, 3) with a small map in the top-right corner: the picture's outline
    (aspect `picture_aspect` = width / height), the window's path over it and window f (windows (F', 4)
    normalised picture xyxy); the map spans the windows too, where they reach past the picture."""
    out = _copy(frames)
    F, H, W = out.shape[:3]
    win = np.asarray(windows, dtype=np.float64)
    lo = np.minimum(win[:, :2].min(0), 0.0)  # the map's extent in picture units: picture and windows
    hi = np.maximum(win[:, 2:].max(0), 1.0)
    ext_w, ext_h = (hi[0] - lo[0]) * picture_aspect, hi[1] - lo[1]  # in picture heights
    mw = max(8, int(W * share))
    mh = max(8, int(round(mw * ext_h / ext_w)))
    if mh > H * share * 1.5:  # a tall extent: bound by height instead
        mh = max(8, int(H * share * 1.5))
        mw = max(8, int(round(mh * ext_w / ext_h)))
    ox, oy = W - mw - 4, 4
    to_px = np.array([mw / (hi[0] - lo[0]), mh / (hi[1] - lo[1])])

    def px(xy: np.ndarray) -> np.ndarray:
        return (xy - lo) * to_px + [ox, oy]

    thick = 1
    pic = np.round(np.concatenate([px(np.array([0.0, 0.0])), px(np.array([1.0, 1.0]))])).astype(int)
    centres = px(_centres(win))  # (F', 2)
    for f in range(F):
        fw = min(f, len(win) - 1)
        img = out[f]
        region = img[oy:oy + mh, ox:ox + mw]
        region[:] = (region.astype(np.float32) * 0.35).astype(np.uint8)  # darken under the map
        cv2.rectangle(img, tuple(pic[:2]), tuple(pic[2:]), (170, 170, 170), thick, cv2.LINE_AA)
        _path(img, centres, fw, keys, CAMERA_COLOR, thick)
        w = np.round(np.concatenate([px(win[fw, :2]), px(win[fw, 2:])])).astype(int)
        cv2.rectangle(img, tuple(w[:2]), tuple(w[2:]), CAMERA_COLOR, thick + 1, cv2.LINE_AA)
    return out


__all__ = ["CAMERA_COLOR", "PALETTE", "color", "draw_boxes", "draw_minimap", "draw_windows"]

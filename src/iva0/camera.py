"""The layout's camera: a key-framed window on the picture (DESIGN.md, "Camera motion").

    "camera": {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.6, 0.6]},
                             {"frame": 9, "box": [0.4, 0.1, 1.0, 0.7]}]}

Two coordinate systems, one rule. Objects' boxes live in picture space
(normalised to the picture's width/height); the camera's `box` at frame f is the
part of the picture that frame f shows, in the same coordinates. Frame f of the
video is window f of the animated picture scaled to the output size:

    x_out = (x - wx0) / (wx1 - wx0) * out_w,    y_out = (y - wy0) / (wy1 - wy0) * out_h

with x, y normalised picture coordinates and (wx0, wy0, wx1, wy1) window f; pixel
coordinates are "corner" coordinates (the output spans [0, out_w] x [0, out_h]).
A window's own aspect ratio in pixels, (wx1 - wx0) * picture_w / ((wy1 - wy0) *
picture_h), must equal the output's, out_w / out_h, within 2 % (the small rest is
absorbed by scaling x and y independently). Windows between keys follow the
layout's `interpolation` (like objects' boxes; both linear and smooth keep a
constant aspect ratio between keys of the same one) and hold still after the last
key. A window may reach past the picture's edges (at most one picture width/height
beyond): what it shows there is not in the picture, and backends fill it (the
composite replicates the edge pixels) and mark it unknown.

Optional parallax: `"parallax": s` (0..4, default 0 = off) moves near pixels more than far ones as the window
moves, from a depth map (`"depth": "file"`, a greyscale PNG or .npy beside the layout, larger = nearer; or a
Depth Anything V2 model, `--depth-model`). The model is in iva0.backends.composite.parallax.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iva0.errors import LayoutError

from iva0.layout import Keyframe, _kind, _show, four_numbers, interpolate_keyframes, layout_file_path, parse_keyframes

if TYPE_CHECKING:
    from iva0.layout import Layout

ASPECT_TOLERANCE = 0.02  # a window's aspect ratio may differ from the output's by this share
MIN_WINDOW_SIDE = 1e-2  # a narrower window zooms in more than 100x: surely a mistake
WINDOW_RANGE = (-1.0, 2.0)  # a window may reach past the picture, by at most one picture
MAX_PARALLAX = 4.0  # near pixels move up to 1 + 4 = 5 times as far as the reference plane: more tears the picture
_CAMERA_KEYS = {"keyframes", "parallax", "depth"}


@dataclass(frozen=True)
class Camera:
    """Key windows (normalised picture xyxy), sorted by frame, the first at frame 0."""

    keyframes: tuple[Keyframe, ...]
    parallax: float = 0.0  # 0 = off: every pixel moves with the window (iva0.backends.composite.parallax)
    depth: str | None = None  # the depth map file (larger = nearer), resolved; None: from --depth-model

    def windows(self, num_frames: int, method: str = "linear") -> np.ndarray:
        """Window per frame 0..num_frames-1, shape (F, 4) normalised picture xyxy; held after the last key."""
        return interpolate_keyframes(self.keyframes, num_frames, method)

    def to_dict(self) -> dict:
        return {"keyframes": [{"frame": k.frame, "box": [round(float(v), 6) for v in k.box]} for k in self.keyframes],
                **({"parallax": self.parallax} if self.parallax else {}),
                **({"depth": self.depth} if self.depth is not None else {})}

    def check_aspect(self, picture_w: float, picture_h: float, out_w: float, out_h: float) -> None:
        """Raise LayoutError unless every key window's pixel aspect ratio is the output's within 2 %."""
        want = out_w / out_h
        for k in self.keyframes:
            x0, y0, x1, y1 = k.box
            have = (x1 - x0) * picture_w / ((y1 - y0) * picture_h)
            if abs(have / want - 1.0) > ASPECT_TOLERANCE:
                h_ok = (x1 - x0) * picture_w / (want * picture_h)  # the window's height that would fit
                raise LayoutError(
                    f"camera.keyframes[frame {k.frame}].box: aspect ratio {have:.3f} (on a {picture_w:g}x{picture_h:g} "
                    f"picture) differs from the output's {int(out_w)}x{int(out_h)} ({want:.3f}) by more than "
                    f"{ASPECT_TOLERANCE:.0%}; e.g. a height of {h_ok:.4f} fits"
                )


# ---------------------------------------------------------------------------
# coordinates
# ---------------------------------------------------------------------------
def picture_to_output(boxes: np.ndarray, window: np.ndarray, out_w: float, out_h: float) -> np.ndarray:
    """Normalised picture xyxy `boxes` (..., 4) -> output pixel xyxy through `window` (..., 4), broadcast.

    E.g. boxes (J, F, 4) with windows (F, 4) gives each object's box at each frame in output pixels.
    """
    b = np.asarray(boxes, dtype=np.float64)
    w = np.asarray(window, dtype=np.float64)
    origin = w[..., [0, 1, 0, 1]]  # (..., 4)
    size = (w[..., [2, 3, 2, 3]] - origin) / np.array([out_w, out_h, out_w, out_h], dtype=np.float64)
    return (b - origin) / size


def output_to_picture(boxes_px: np.ndarray, window: np.ndarray, out_w: float, out_h: float) -> np.ndarray:
    """Output pixel xyxy (..., 4) -> normalised picture xyxy through `window` (..., 4): `picture_to_output`'s inverse."""
    b = np.asarray(boxes_px, dtype=np.float64)
    w = np.asarray(window, dtype=np.float64)
    origin = w[..., [0, 1, 0, 1]]
    size = (w[..., [2, 3, 2, 3]] - origin) / np.array([out_w, out_h, out_w, out_h], dtype=np.float64)
    return b * size + origin


def layout_windows(layout: "Layout") -> np.ndarray:
    """The layout's window per frame (F, 4) normalised; without a camera the whole picture at every frame."""
    if layout.camera is None:
        return np.tile(np.array([0.0, 0.0, 1.0, 1.0]), (layout.num_frames, 1))
    return layout.camera.windows(layout.num_frames, layout.interpolation)


def output_boxes_px(layout: "Layout", out_w: float, out_h: float) -> np.ndarray:
    """Every object's box at every frame in output pixels, through the window (J, F, 4); without a camera boxes_px."""
    return picture_to_output(layout.boxes(), layout_windows(layout)[None], out_w, out_h)


def picture_space_size(picture_w: int, picture_h: int, out_w: int, out_h: int, windows: np.ndarray,
                       max_side: int = 2048) -> tuple[int, int]:
    """The size to render picture space at, so that the tightest window shows the picture at (up to) 1:1 in the
    output: never above the picture's own size (no detail there to gain) nor `max_side`, never below 16 px."""
    w = np.asarray(windows, dtype=np.float64)
    # s such that the tightest window spans at least the output's pixels: s * picture_w * min width >= out_w
    s_need = max(out_w / (picture_w * float(np.min(w[:, 2] - w[:, 0]))), out_h / (picture_h * float(np.min(w[:, 3] - w[:, 1]))))
    s = min(s_need, 1.0, max_side / max(picture_w, picture_h))
    return max(16, int(round(picture_w * s))), max(16, int(round(picture_h * s)))


# ---------------------------------------------------------------------------
# parsing and validation
# ---------------------------------------------------------------------------
def parse_camera(raw: Any, num_frames: int, base_dir: str | os.PathLike | None = None,
                 root: tuple[Path, str] | None = None) -> Camera:
    """Validate the layout's "camera" (decoded JSON) and build a `Camera`; errors name the field. The depth map's
    path is relative to `base_dir` and must resolve inside `root` (as the objects' masks, iva0.layout)."""
    where = "camera"
    if not isinstance(raw, dict):
        raise LayoutError(f"{where}: must be an object with 'keyframes', got {_kind(raw)}")
    unknown = sorted(set(raw) - _CAMERA_KEYS)
    if unknown:
        raise LayoutError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: "
                          f"{', '.join(sorted(_CAMERA_KEYS))}")
    parsed = parse_keyframes(raw.get("keyframes"), where, num_frames, _parse_window)
    if parsed[0].frame != 0:
        raise LayoutError(f"{where}.keyframes: needs a key window at frame 0 (what the first frame shows)")
    parallax = parse_parallax(raw.get("parallax", 0), f"{where}.parallax")
    depth = raw.get("depth")
    if depth is not None:
        if not isinstance(depth, str) or not depth.strip():
            raise LayoutError(f"{where}.depth: must be the path of a depth map (a greyscale PNG or .npy, larger = "
                              f"nearer), got {_show(depth)}")
        depth = layout_file_path(depth, f"{where}.depth", "depth map", base_dir, root)
    return Camera(keyframes=tuple(parsed), parallax=parallax, depth=depth)


def parse_parallax(raw: Any, where: str) -> float:
    """The parallax strength: a finite number from 0 (off) to MAX_PARALLAX."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise LayoutError(f"{where}: must be a number from 0 (off) to {MAX_PARALLAX:g}, got {_show(raw)}")
    if isinstance(raw, int) and abs(raw) > 2**53:
        raw = math.inf
    if not (math.isfinite(raw) and 0 <= raw <= MAX_PARALLAX):
        raise LayoutError(f"{where}: must be from 0 (off) to {MAX_PARALLAX:g}, got {_show(raw)}")
    return float(raw)


def _parse_window(raw: Any, where: str) -> tuple[float, float, float, float]:
    vals = four_numbers(raw, where)
    x0, y0, x1, y1 = vals
    lo, hi = WINDOW_RANGE
    if any(v < lo or v > hi for v in vals):
        hint = " (windows are normalised to the picture size, 0..1; these look like pixels)" if max(map(abs, vals)) > 2 else ""
        raise LayoutError(f"{where}: values must lie in [{lo:g}, {hi:g}]{hint}, got {_show(raw)}")
    if not (x1 - x0 >= MIN_WINDOW_SIDE and y1 - y0 >= MIN_WINDOW_SIDE):
        raise LayoutError(f"{where}: a window with no area (x0 < x1 and y0 < y1, sides at least {MIN_WINDOW_SIDE:g}), "
                          f"got {_show(raw)}")
    if min(x1, 1.0) - max(x0, 0.0) <= 0 or min(y1, 1.0) - max(y0, 0.0) <= 0:
        raise LayoutError(f"{where}: the window must show part of the picture (overlap [0, 0, 1, 1]), got {_show(raw)}")
    return (x0, y0, x1, y1)


__all__ = [
    "ASPECT_TOLERANCE",
    "Camera",
    "MAX_PARALLAX",
    "layout_windows",
    "output_boxes_px",
    "output_to_picture",
    "parse_camera",
    "parse_parallax",
    "picture_space_size",
    "picture_to_output",
]

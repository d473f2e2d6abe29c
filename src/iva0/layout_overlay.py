"""The layout drawn over frames: `draw_layout` over a finished video (the boxes through the camera's
window, in output pixels) and `draw_preview` over the still picture (boxes and the camera's window in
picture pixels). The drawing itself is `iva0.io.overlay`'s, over arrays."""

from __future__ import annotations

import numpy as np

from iva0.camera import output_boxes_px
from iva0.io.overlay import draw_boxes, draw_minimap, draw_windows
from iva0.layout import Layout


def draw_layout(frames: np.ndarray, layout: Layout, path: bool = True) -> np.ndarray:
    """Copy of a video's frames (F, H, W, 3) uint8 with each object's box at that frame, its name and the path
    of its box centre, in the frames' pixels. With a camera the boxes are seen through the window (output
    pixels) and a small map top right shows the window's path over the picture."""
    F, H, W = frames.shape[:3]
    keys = [[k.frame for k in o.keyframes] for o in layout.objects]
    if layout.camera is None:
        return draw_boxes(frames, layout.boxes_px(W, H), layout.names, keys, path)
    windows = layout.camera.windows(layout.num_frames, layout.interpolation)  # (F, 4)
    drawn = draw_boxes(frames, output_boxes_px(layout, W, H), layout.names, keys, path)
    # the picture's aspect: the output's, divided by the window's shape in picture units (iva0.camera's rule)
    w0 = windows[0]
    aspect = W / H * (w0[3] - w0[1]) / (w0[2] - w0[0])
    return draw_minimap(drawn, windows, aspect, [k.frame for k in layout.camera.keyframes])


def draw_preview(frames: np.ndarray, layout: Layout, path: bool = True) -> np.ndarray:
    """Copy of frames of the still picture (F, H, W, 3) with each object's box, name and path in the picture's
    pixels and, with a camera, its window at each frame and the path of the window's centre."""
    F, H, W = frames.shape[:3]
    keys = [[k.frame for k in o.keyframes] for o in layout.objects]
    drawn = draw_boxes(frames, layout.boxes_px(W, H), layout.names, keys, path)
    if layout.camera is None:
        return drawn
    windows = layout.camera.windows(layout.num_frames, layout.interpolation) * [W, H, W, H]  # (F, 4) px
    return draw_windows(drawn, windows, [k.frame for k in layout.camera.keyframes])


__all__ = ["draw_layout", "draw_preview"]

"""Pictures for the page: the draft's boxes and paths over the still picture at a chosen frame.

`iva0.io.overlay.draw_layout` draws a finished layout over video frames; the
editor also has to show drafts that are not valid yet (an object without its
frame-0 box) and one chosen frame of a still picture, so it draws here with the
same palette.
"""

from __future__ import annotations

import cv2
import numpy as np

from iva0.io.image import fit_size, resize_image
from iva0.io.overlay import color, draw_layout
from iva0.layout import Layout
from iva0.ui.editor import Draft, object_boxes


def view_copy(picture: np.ndarray, max_side: int) -> np.ndarray:
    """The picture scaled down to at most `max_side` px (for the page; boxes are normalised, so any size works)."""
    h, w = picture.shape[:2]
    vw, vh = fit_size(w, h, max_side=max_side, multiple=1)
    return resize_image(picture, vw, vh)


def draw_draft(
    picture: np.ndarray,
    draft: Draft,
    frame: int,
    num_frames: int,
    interpolation: str = "linear",
    *,
    selected: int | None = None,
    skip: int | None = None,
) -> np.ndarray:
    """Copy of `picture` (H, W, 3) uint8 with each object's centre path (thin), key frames (dots),
    box at `frame` and name. `selected` is drawn thicker; `skip` is not drawn at all (the
    annotator shows that one as its editable box)."""
    img = np.array(picture, dtype=np.uint8, copy=True)
    H, W = img.shape[:2]
    thick = max(1, round(min(H, W) / 300))
    scale = max(0.4, min(H, W) / 900)
    scale_px = np.array([W, H, W, H], dtype=np.float64)
    for j, obj in enumerate(draft):
        boxes = object_boxes(obj, num_frames, interpolation)  # (F, 4) normalised, or None
        if boxes is None:
            continue
        c = color(j)
        px = boxes * scale_px  # (F, 4) px
        centres = np.stack([(px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2], 1)  # (F, 2)
        pts = np.round(centres).astype(np.int32).reshape(-1, 1, 2)  # (F, 1, 2) for polylines
        cv2.polylines(img, [pts], False, c, thick, cv2.LINE_AA)
        for f in obj.keys:
            if 0 <= f < num_frames:
                cv2.circle(img, tuple(int(v) for v in pts[f, 0]), thick + 2, c, -1, cv2.LINE_AA)
        if j == skip:
            continue
        f = int(np.clip(frame, 0, num_frames - 1))
        x0, y0, x1, y1 = np.round(px[f]).astype(int)
        w = thick + 2 if j == selected else thick
        cv2.rectangle(img, (x0, y0), (x1, y1), c, w, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(obj.name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y0 - 4 if y0 - th - 6 >= 0 else y0 + th + 4
        tx = int(np.clip(x0, 0, max(0, W - tw - 2)))
        cv2.rectangle(img, (tx, ty - th - 2), (tx + tw + 2, ty + base), c, -1)
        cv2.putText(img, obj.name, (tx + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    label = f"frame {int(frame)} / {num_frames - 1}"
    cv2.putText(img, label, (6, H - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, label, (6, H - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def overlay_frames(picture: np.ndarray, layout: Layout, max_side: int = 512) -> np.ndarray:
    """The path preview video's frames: the still picture with every object's box per frame, (F, H, W, 3)."""
    small = view_copy(picture, max_side)
    h, w = small.shape[:2]
    small = resize_image(small, w - w % 2, h - h % 2)  # H.264 wants even sides
    still = np.repeat(small[None], layout.num_frames, axis=0)  # (F, H, W, 3); a real copy, cv2 draws into it
    return draw_layout(still, layout)

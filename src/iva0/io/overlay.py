"""Draw the layout's boxes, names and paths over frames, so users see what was asked."""

from __future__ import annotations

import cv2
import numpy as np

from iva0.layout import Layout

# distinct, colour-blind friendly (Okabe-Ito), RGB
PALETTE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167)]


def color(j: int) -> tuple[int, int, int]:
    return PALETTE[j % len(PALETTE)]


def draw_layout(frames: np.ndarray, layout: Layout, path: bool = True) -> np.ndarray:
    """Copy of frames (F, H, W, 3) uint8 with each object's box at that frame,
    its name, and the path of its box centre (the whole path thin, the part
    travelled so far thick)."""
    # C order: OpenCV draws on contiguous frames only, and a backend may hand back a strided view (ttm)
    out = np.array(frames, dtype=np.uint8, order="C", copy=True)
    F, H, W = out.shape[:3]
    boxes = layout.boxes_px(W, H)  # (J, F, 4)
    thick = max(1, round(min(H, W) / 256))
    scale = max(0.35, min(H, W) / 700)
    for f in range(F):
        fb = min(f, boxes.shape[1] - 1)
        img = out[f]
        for j, name in enumerate(layout.names):
            c = color(j)
            if path:
                centres = np.stack([(boxes[j, :, 0] + boxes[j, :, 2]) / 2, (boxes[j, :, 1] + boxes[j, :, 3]) / 2], 1)
                pts = np.round(centres).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(img, [pts], False, c, 1, cv2.LINE_AA)
                cv2.polylines(img, [pts[: fb + 1]], False, c, thick + 1, cv2.LINE_AA)
                for kf in layout.objects[j].keyframes:
                    cv2.circle(img, tuple(int(v) for v in pts[kf.frame, 0]), thick + 2, c, -1, cv2.LINE_AA)
            x0, y0, x1, y1 = np.round(boxes[j, fb]).astype(int)
            cv2.rectangle(img, (x0, y0), (x1, y1), c, thick + 1, cv2.LINE_AA)
            label = name
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            ty = y0 - 4 if y0 - th - 6 >= 0 else y0 + th + 4
            tx = int(np.clip(x0, 0, max(0, W - tw - 2)))
            cv2.rectangle(img, (tx, ty - th - 2), (tx + tw + 2, ty + base), c, -1)
            cv2.putText(img, label, (tx + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{f}", (4, H - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out

"""Pictures for the page: the draft's boxes and paths over the still picture at a chosen frame.

`iva0.layout_overlay.draw_layout` draws a finished layout over video frames; the
editor also has to show drafts that are not valid yet (an object without its
frame-0 box) and one chosen frame of a still picture, so it draws here with the
same palette.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from iva0.io.image import resize_image
from iva0.io.overlay import CAMERA_COLOR, color
from iva0.layout import Layout
from iva0.layout_overlay import draw_preview
from iva0.ui.editor import Draft, DraftObject, object_boxes
from iva0.ui.pictures import view_copy

CAMERA_COLOUR = CAMERA_COLOR  # the camera's windows: white over a dark edge, as in previews and overlays
CAMERA_EDGE = (20, 20, 20)
DIM = 0.4  # how strongly objects other than the selected one show (their layer's opacity)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_draft(
    picture: np.ndarray,
    draft: Draft,
    frame: int,
    num_frames: int,
    interpolation: str = "linear",
    *,
    selected: int | None = None,
    skip: int | None = None,
    area: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Copy of `picture` (H, W, 3) uint8 with each object's centre path, key frames (dots), box at
    `frame` and name. With `selected`, that object is drawn bold and the others dimmed; `skip`'s
    box is left out (the annotator shows it as its editable box), its path and keys are drawn.
    `area` (x, y, w, h, px) is where the picture itself lies in `picture` (band.Geometry: a canvas with a
    band around the picture); the whole of it by default."""
    img = np.array(picture, dtype=np.uint8, copy=True)
    H, W = img.shape[:2]
    area = area or (0, 0, W, H)
    thick = max(1, round(min(area[2:]) / 300))  # sized by the picture, band or not
    scale = max(0.4, min(area[2:]) / 900)
    others = [j for j in range(len(draft)) if j != selected]
    if selected is not None and others:
        layer = img.copy()
        for j in others:
            _draw_object(layer, draft[j], j, frame, num_frames, interpolation, thick, scale, box=j != skip, area=area)
        img = cv2.addWeighted(layer, DIM, img, 1 - DIM, 0)
    else:
        for j in others:
            _draw_object(img, draft[j], j, frame, num_frames, interpolation, thick, scale, box=j != skip, area=area)
    if selected is not None and 0 <= selected < len(draft):
        if draft[selected].mask and int(frame) == 0 and not draft[selected].camera:  # the mask is the object's shape in the picture, at frame 0
            x, y, w, h = area
            img[y : y + h, x : x + w] = tint_mask(img[y : y + h, x : x + w], draft[selected].mask, entry_colour(draft[selected], selected))
        _draw_object(img, draft[selected], selected, frame, num_frames, interpolation, thick + 1, scale,
                     box=selected != skip, area=area)
    _label(img, f"frame {int(frame)} / {num_frames - 1}", area[0] + 4, area[1] + area[3] - 4, scale, (255, 255, 255), (0, 0, 0), anchor="bottom")
    return img


def tint_mask(img: np.ndarray, mask_path: str, colour, opacity: float = 0.45) -> np.ndarray:
    """`img` with the mask's white part tinted in `colour` (a mask that cannot be read is left out)."""
    inside = _mask_at(mask_path, img.shape[1], img.shape[0])
    if inside is None:
        return img
    out = img.copy()
    out[inside] = (img[inside] * (1 - opacity) + np.array(colour, np.float32) * opacity).astype(np.uint8)
    return out


@functools.lru_cache(maxsize=16)  # every timeline move redraws the canvas; the mask file never changes (named by content)
def _mask_at(path: str, width: int, height: int) -> np.ndarray | None:
    grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if grey is None:
        return None
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA) >= 128  # (H, W) bool


def entry_colour(obj: DraftObject, j: int) -> tuple[int, int, int]:
    """The colour entry `j` of the draft is drawn in: the object's palette colour, or the camera's own."""
    return CAMERA_COLOUR if obj.camera else color(j)


def _to_px(boxes: np.ndarray, area) -> np.ndarray:
    """(F, 4) normalised picture xyxy -> px of the image the picture lies in at `area` (x, y, w, h)."""
    x, y, w, h = area
    return boxes * np.array([w, h, w, h], dtype=np.float64) + np.array([x, y, x, y], dtype=np.float64)  # (F, 4) px


def _draw_object(img, obj: DraftObject, j: int, frame, num_frames, interpolation, thick: int, scale: float, box: bool,
                 area) -> None:
    boxes = object_boxes(obj, num_frames, interpolation)  # (F, 4) normalised, or None
    if boxes is None:
        return
    if obj.camera:
        _draw_camera(img, obj, _to_px(boxes, area), frame, num_frames, thick, scale, box)
        return
    c = entry_colour(obj, j)
    px = _to_px(boxes, area)  # (F, 4) px
    centres = np.stack([(px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2], 1)  # (F, 2)
    pts = np.round(centres).astype(np.int32).reshape(-1, 1, 2)  # (F, 1, 2) for polylines
    cv2.polylines(img, [pts], False, c, thick, cv2.LINE_AA)
    for f in obj.keys:
        if 0 <= f < num_frames:
            cv2.circle(img, tuple(int(v) for v in pts[f, 0]), thick + 2, c, -1, cv2.LINE_AA)
    if not box:
        return
    f = int(np.clip(frame, 0, num_frames - 1))
    x0, y0, x1, y1 = np.round(px[f]).astype(int)
    cv2.rectangle(img, (x0, y0), (x1, y1), c, thick, cv2.LINE_AA)
    _label(img, obj.name, x0, y0, scale, (0, 0, 0), c, anchor="above")


def _draw_camera(img, obj: DraftObject, px: np.ndarray, frame, num_frames, thick: int, scale: float, box: bool) -> None:
    """The camera: its window at each key frame (thin, labelled with the frame), the path of the window's
    centre, and (`box`) the window at `frame` (bold), `px` (F, 4) in the image's px. White over a dark edge, so
    it shows on any picture."""
    centres = np.stack([(px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2], 1)  # (F, 2)
    pts = np.round(centres).astype(np.int32).reshape(-1, 1, 2)  # (F, 1, 2) for polylines

    def rect(b, t):
        x0, y0, x1, y1 = np.round(b).astype(int)
        cv2.rectangle(img, (x0, y0), (x1, y1), CAMERA_EDGE, t + 2, cv2.LINE_AA)
        cv2.rectangle(img, (x0, y0), (x1, y1), CAMERA_COLOUR, t, cv2.LINE_AA)
        return x1, y0

    cv2.polylines(img, [pts], False, CAMERA_EDGE, thick + 2, cv2.LINE_AA)
    cv2.polylines(img, [pts], False, CAMERA_COLOUR, thick, cv2.LINE_AA)
    for f in sorted(obj.keys):
        if 0 <= f < num_frames:
            x1, y0 = rect(px[f], max(1, thick - 1))
            cv2.circle(img, tuple(int(v) for v in pts[f, 0]), thick + 2, CAMERA_COLOUR, -1, cv2.LINE_AA)
            text = f"camera {f}"  # inside the window's top-right corner (windows often share their top-left)
            tw = cv2.getTextSize(text, FONT, scale * 0.8, 1)[0][0]
            _label(img, text, x1 - tw - 6 - thick, y0 + thick + 2, scale * 0.8, CAMERA_EDGE, CAMERA_COLOUR, anchor="below")
    if box:
        f = int(np.clip(frame, 0, num_frames - 1))
        rect(px[f], thick + 1)


def _label(img, text: str, x: int, y: int, scale: float, fg, bg, anchor: str) -> None:
    """`text` on a filled box. One putText over a box (no outline drawn twice): a thick outline
    and a thin fill advance by different widths per glyph and drift apart along the text."""
    H, W = img.shape[:2]
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    if anchor == "bottom":  # (x, y) is the box's bottom-left corner
        top = y - th - base - 4
    elif anchor == "below":  # (x, y) is the label's top-left corner
        top = y
    else:  # above (x, y), or inside the box when there is no room above
        top = y - th - base - 4 if y - th - base - 4 >= 0 else y
    left = int(np.clip(x, 0, max(0, W - tw - 4)))
    top = int(np.clip(top, 0, max(0, H - th - base - 4)))
    cv2.rectangle(img, (left, top), (left + tw + 4, top + th + base + 4), bg, -1)
    cv2.putText(img, text, (left + 2, top + 2 + th), FONT, scale, fg, 1, cv2.LINE_AA)


def overlay_frames(picture: np.ndarray, layout: Layout, max_side: int = 512) -> np.ndarray:
    """The path preview video's frames: the still picture with every object's box per frame and the camera's
    window (iva0 preview's drawing), (F, H, W, 3)."""
    small = view_copy(picture, max_side, min_side=min(256, max_side))
    h, w = small.shape[:2]
    small = resize_image(small, max(2, w - w % 2), max(2, h - h % 2))  # H.264 wants even sides (a 1-px strip: 2)
    still = np.repeat(small[None], layout.num_frames, axis=0)  # (F, H, W, 3); a real copy, cv2 draws into it
    return draw_preview(still, layout)

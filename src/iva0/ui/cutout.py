"""The cut-out view: what of the selected object will move, at frame 0, and clicks that fix it.

The object is cut out of its frame-0 box exactly as the backends do it
(`iva0.backends.composite.segment_objects` with the page's cut-out options: the
default segmenter, GrabCut, or SAM 2 when IVA0_SAM2_MODEL names a folder; the
object's own mask when it has one), but on the picture scaled down to the page's
preview size, so GrabCut answers in a fraction of a second. The view draws it over
the picture as the canvas shows it: the object at full colour, the rest dimmed, its
outline and frame-0 box in its colour, its points as green (object) and red (not
object) dots.

Cut-outs are cached per (picture, frame-0 box, points, mask, seed): moving the
timeline or selecting another object and back costs nothing. Each view carries a
`tag` naming the picture and the object it shows; a click sends back the tag of the
view it was made on, so a click that arrives after the page moved on to another
object is refused instead of landing on whatever is selected now.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from iva0.errors import UserError
from iva0.io.overlay import color
from iva0.ui.editor import Draft, DraftObject, check_mask_file
from iva0.ui.files import WorkDir
from iva0.ui.messages import md_text, page_message
from iva0.ui.pictures import Picture

REST = 0.3  # brightness of what stays behind (the picture outside the cut-out)
OBJECT_DOT = (40, 200, 60)  # a point marking the object (label 1)
NOT_OBJECT_DOT = (230, 40, 40)  # a point marking what is not the object (label 0)


class CutoutView:
    """Cut-outs of draft objects at the preview size, cached, and the view drawn from them."""

    CACHE = 24  # cut-outs kept (each (h, w) float32 at the preview size, about 0.7 MB at 512 px)

    def __init__(self, work: WorkDir, options: Mapping[str, Any] | None, side: int, segmenter_source) -> None:
        from iva0.backends.composite import CompositeConfig
        from iva0.backends.cutouts import cutout_options

        self.work = work
        self.side = int(side)
        self.config = CompositeConfig(**cutout_options(options))  # the cut-out options every backend gets
        self._segmenter = None
        self._segmenter_source = segmenter_source  # () -> the segmenter Generate uses (one SAM 2 model, not two)
        self._cache: OrderedDict[tuple, tuple[np.ndarray, str | None]] = OrderedDict()  # key -> (alpha, view file)
        self._lock = threading.Lock()  # one segmentation at a time (a SAM 2 model is one object)
        self.segmentations = 0  # cut-outs computed, not taken from the cache

    # ------------------------------------------------------------------
    def segmenter_name(self) -> str:
        from iva0.segment import resolve_segmenter

        return resolve_segmenter(self.config.segmenter, self.config.segmenter_model)[0]

    def _key(self, pic: Picture, obj: DraftObject, seed: int) -> tuple:
        return (pic.digest, self.side, tuple(obj.keys[0]), obj.points if not obj.mask else (), obj.mask,
                0 if obj.mask else int(seed))  # fmt: skip

    def alpha(self, pic: Picture, obj: DraftObject, seed: int = 0) -> np.ndarray:
        """The object's cut-out as the backends make it, on `pic.smaller(side)`: (h, w) float32 in [0, 1].

        `seed`: the run's seed plus the object's place among those the backends segment (see `view`).
        """
        key = self._key(pic, obj, seed)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit[0]
            alpha = self._segment(pic.smaller(self.side), obj, int(seed))
            self.segmentations += 1
            self._cache[key] = (alpha, None)
            while len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
        return alpha

    def _segment(self, image: np.ndarray, obj: DraftObject, seed: int) -> np.ndarray:
        from iva0.backends.composite import segment_objects

        segmenter = None
        if not obj.mask:
            if self._segmenter is None:  # the page's one segmenter: a SAM 2 model loads once, not per view
                self._segmenter = self._segmenter_source()
            segmenter = self._segmenter
        layout = one_object_layout(obj)
        return segment_objects(image, layout, self.config, seed, segmenter=segmenter)[0].alpha

    # ------------------------------------------------------------------
    @staticmethod
    def tag(pic: Picture | None, draft: Draft, index: int | None) -> str:
        """Which showing a view is: the picture and the object (its place in the list and its name)."""
        if pic is None:
            return ""
        name = draft[index].name if index is not None and 0 <= index < len(draft) else ""
        return hashlib.blake2b(f"{pic.digest}|{index}|{name}".encode(), digest_size=8).hexdigest()

    def view(self, pic: Picture | None, draft: Draft, index: int | None, seed: int = 0) -> tuple[str | None, str, str]:
        """(the view's picture file or None, one line above it, tag) for object `index` of the draft."""
        tag = self.tag(pic, draft, index)
        if pic is None:
            return None, "Pick a sample or upload a picture first.", tag
        if index is None or not 0 <= index < len(draft):
            return None, "Select an object in the list to see its cut-out here.", tag
        obj = draft[index]
        if obj.camera:
            return None, "**camera**: a view window; nothing is cut out of the picture for it.", tag
        if 0 not in obj.keys:
            return None, f"**{md_text(obj.name)}**: draw its box at frame 0; its cut-out shows here.", tag
        # the backends seed the k-th object they segment (those without a mask of their own) with seed + k
        k = sum(1 for o in draft[:index] if not o.mask and not o.camera)
        try:
            path = self._view_file(pic, obj, index, int(seed) + k)
        except UserError as e:  # e.g. a SAM 2 folder that cannot be read: said here, not as a toast per edit
            return None, f"**{md_text(obj.name)}**: no cut-out to show: {page_message(str(e))}", tag
        if obj.mask:
            line = (f"**{md_text(obj.name)}** at frame 0: its own mask is what moves (full colour). Clicks guide the automatic "
                    f"cut-out only: Remove mask to use them.")
        else:
            n = len(obj.points)
            pts = f", {n} point{'s' * (n != 1)}" if n else ""
            segmenter = self.segmenter_name()
            line = (f"**{md_text(obj.name)}** at frame 0: full colour is what moves ({segmenter}{pts}). "
                    f"Click a spot to mark it as object or not object.")
            if segmenter == "grabcut":
                from iva0.segment import SAM2_HINT

                line += f" For SAM 2 cut-outs: `{SAM2_HINT}`, then restart the page."
        return path, line, tag

    def _view_file(self, pic: Picture, obj: DraftObject, index: int, seed: int) -> str:
        alpha = self.alpha(pic, obj, seed)
        key = self._key(pic, obj, seed)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1] is not None and Path(hit[1]).exists():  # drawn files are pruned after an hour
                return hit[1]
        image = draw_cutout(pic.view, alpha, obj.keys[0], obj.points if not obj.mask else (), color(index))
        path = self.work.image_file(image)
        with self._lock:
            if key in self._cache:
                self._cache[key] = (alpha, path)
        return path


def one_object_layout(obj: DraftObject):
    """The object alone at frame 0, as a layout (the layout's own checks: points in the box, a readable mask)."""
    from iva0.layout import parse_layout

    check_mask_file(obj)
    data = {"num_frames": 2, "fps": 8, "objects": [{
        "name": obj.name,
        "keyframes": [{"frame": 0, "box": [round(float(v), 6) for v in obj.keys[0]]}],
        **({"mask": obj.mask} if obj.mask else {}),
        **({"points": [list(p) for p in obj.points]} if obj.points and not obj.mask else {}),
    }]}  # fmt: skip
    return parse_layout(data)


def click_point(pic: Picture, index: Any) -> tuple[float, float]:
    """A click on the view ([x, y] px of the view's picture, as Gradio reports it) as normalised (x, y)."""
    try:
        x, y = (float(v) for v in index)
    except (TypeError, ValueError):
        raise UserError("click on the picture itself") from None
    w, h = pic.size  # the view is drawn at the canvas's picture size
    return float(np.clip(x / w, 0.0, 1.0)), float(np.clip(y / h, 0.0, 1.0))


def draw_cutout(view: np.ndarray, alpha: np.ndarray, box0, points, colour) -> np.ndarray:
    """`view` (H, W, 3) uint8 with the cut-out `alpha` (any size, resized) at full colour and the rest dimmed;
    the cut-out's outline and the frame-0 box (normalised) in `colour`; points as dots."""
    H, W = view.shape[:2]
    a = cv2.resize(alpha.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)  # (H, W)
    out = (view.astype(np.float32) * (REST + (1.0 - REST) * a[..., None]) + 0.5).astype(np.uint8)
    thick = max(1, round(min(H, W) / 300))
    contours, _ = cv2.findContours((a >= 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, colour, thick, cv2.LINE_AA)
    x0, y0, x1, y1 = (int(round(v)) for v in np.asarray(box0, np.float64) * [W, H, W, H])
    cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick, cv2.LINE_AA)
    r = max(4, round(min(H, W) / 90))
    for x, y, label in points:
        c = (int(round(x * W)), int(round(y * H)))
        cv2.circle(out, c, r + max(1, r // 3), (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, c, r, OBJECT_DOT if label else NOT_OBJECT_DOT, -1, cv2.LINE_AA)
    return out

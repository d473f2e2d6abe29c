"""The composite backend: classical cut-out and paste, no weights, seconds on a CPU.

Per object, once: cut it out of its frame-0 box (iva0.segment: GrabCut by
default, SAM 2 with a model folder, or the layout's own mask), then fill the hole
all objects leave (OpenCV inpainting) to get a background plate. Per frame: warp
each cut-out from its frame-0 box to its box at that frame (scale + translate)
and alpha-blend it over the plate with feathered edges, objects whose box bottom
is lower drawn in front. Frame 0 is the input, pixel for pixel. The prompt is
ignored: this backend adds no in-place motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from iva0.backends.base import ProgressFn, no_progress
from iva0.backends.composite.fill import FILLS, fill_hole
from iva0.errors import LayoutError, UserError
from iva0.layout import Layout
from iva0.segment import Segmenter, box_to_int, create_segmenter, resolve_segmenter, segment_all
from iva0.segment.mask import layout_mask, object_field


@dataclass(frozen=True)
class CompositeConfig:
    hole_margin: float = 0.03  # the hole to fill grows by this share past the object's mask (issue 11: 0.012 left rims behind)
    fill: str = "telea"  # telea | ns | fsr (see fill.py)
    segmenter: str = "auto"  # auto | grabcut | sam2 | mask (iva0.segment); auto: sam2 when a model folder is known
    segmenter_model: str | None = None  # SAM 2 model folder (default: $IVA0_SAM2_MODEL)


@dataclass
class Cutout:
    """One object as lifted from the input: its pixels, soft alpha, and frame-0 box (px)."""

    rgb: np.ndarray  # (H, W, 3) float32, the input image
    alpha: np.ndarray  # (H, W) float32 in [0, 1], non-zero only inside the frame-0 box
    mask: np.ndarray  # (H, W) uint8 {0, 1}, the hard segmentation
    box0: np.ndarray  # (4,) px xyxy, as in the layout (may extend past the frame)


def check_segmentation(layout: Layout, config: CompositeConfig) -> None:
    """Raise a UserError before any compute when the cut-outs cannot be made as asked."""
    name, _ = resolve_segmenter(config.segmenter, config.segmenter_model)
    if name == "mask":
        for j, obj in enumerate(layout.objects):
            if obj.mask is None:
                raise LayoutError(f"{object_field(layout, j)}: missing; --segmenter mask needs a mask for every object")


def segment_objects(image: np.ndarray, layout: Layout, config: CompositeConfig = CompositeConfig(), seed: int = 0,
                    progress: ProgressFn = no_progress, segmenter: Segmenter | None = None) -> list[Cutout]:
    """One cut-out per layout object: its own mask when the layout gives one, else the segmenter's."""
    H, W = image.shape[:2]
    boxes = layout.boxes_px(W, H)  # (J, F, 4)
    J = boxes.shape[0]
    # the masks follow the picture as the caller resized it (iva0.animate checked them against the picture itself)
    own = [layout_mask(layout, j, W, H, check_aspect=False) for j in range(J)]
    todo = [j for j in range(J) if own[j] is None]
    if todo:
        check_segmentation(layout, config)
        segmenter = segmenter or create_segmenter(config.segmenter, config.segmenter_model)
        points = layout.points_px(W, H)  # the layout's clicks guide the cut-out (None: box only)
        for j, alpha in zip(todo, segment_all(segmenter, image, boxes[todo, 0], [points[j] for j in todo], seed=seed)):
            own[j] = alpha
    rgb = image.astype(np.float32)
    cutouts = []
    for j in range(J):
        alpha = own[j].astype(np.float32)
        cutouts.append(Cutout(rgb=rgb, alpha=alpha, mask=(alpha >= 0.5).astype(np.uint8), box0=boxes[j, 0]))
        progress(j + 1, J, "segmenting")
    return cutouts


def background_plate(image: np.ndarray, layout: Layout, config: CompositeConfig = CompositeConfig(),
                     cutouts: list[Cutout] | None = None, seed: int = 0) -> np.ndarray:
    """The input with every layout object removed and the holes filled, RGB uint8 (H, W, 3)."""
    if cutouts is None:
        cutouts = segment_objects(image, layout, config, seed)
    H, W = image.shape[:2]
    r = max(1, int(round(config.hole_margin * min(H, W))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    hole = np.zeros((H, W), np.uint8)
    for c in cutouts:
        grown = cv2.dilate(c.mask | (c.alpha > 0.05).astype(np.uint8), disk)  # the soft edge leaves too
        x0, y0, x1, y1 = box_to_int(c.box0, W, H)
        hole[y0:y1, x0:x1] |= grown[y0:y1, x0:x1]  # never past the box: the picture outside every box stays
    return fill_hole(image, hole, config.fill)


def paste(canvas: np.ndarray, cut: Cutout, box: np.ndarray) -> None:
    """Alpha-blend `cut`, scaled and moved from its frame-0 box to `box` (px), into float canvas in place."""
    H, W = canvas.shape[:2]
    b0 = cut.box0
    sx = (box[2] - box[0]) / (b0[2] - b0[0])
    sy = (box[3] - box[1]) / (b0[3] - b0[1])
    # destination region: the box clipped to the frame, 1 px margin for the bilinear edge
    dx0, dy0 = max(0, int(np.floor(box[0])) - 1), max(0, int(np.floor(box[1])) - 1)
    dx1, dy1 = min(W, int(np.ceil(box[2])) + 1), min(H, int(np.ceil(box[3])) + 1)
    if dx1 <= dx0 or dy1 <= dy0:
        return  # the object has left the frame
    # maps source px -> destination px, shifted into the region's coordinates
    M = np.array([[sx, 0.0, box[0] - b0[0] * sx - dx0], [0.0, sy, box[1] - b0[1] * sy - dy0]], dtype=np.float64)
    size = (dx1 - dx0, dy1 - dy0)
    rgb = cv2.warpAffine(cut.rgb, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(cut.alpha, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = a[..., None]  # (h, w, 1)
    region = canvas[dy0:dy1, dx0:dx1]
    region *= 1.0 - a
    region += a * rgb


def placed_alpha(cut: Cutout, box: np.ndarray, height: int, width: int) -> np.ndarray:
    """The cut-out's alpha moved (and scaled) from its frame-0 box to `box`, as `paste` places it, (H, W) float32."""
    canvas = np.zeros((height, width, 3), np.float32)
    white = Cutout(rgb=np.ones_like(cut.rgb), alpha=cut.alpha, mask=cut.mask, box0=cut.box0)
    paste(canvas, white, box)  # over black, a white cut-out leaves exactly its alpha
    return canvas[..., 0]


class CompositeBackend:
    name = "composite"
    max_side = 1024
    size_multiple = 2

    def __init__(self, config: CompositeConfig | None = None, **options) -> None:
        if config is None:
            fields = CompositeConfig.__dataclass_fields__
            unknown = sorted(set(options) - set(fields))
            if unknown:
                raise UserError(f"composite backend: unknown option(s) {', '.join(unknown)}")
            config = CompositeConfig(**options)
        if config.fill not in FILLS:
            raise UserError(f"composite backend: fill must be one of {', '.join(FILLS)}, got {config.fill!r}")
        resolve_segmenter(config.segmenter, config.segmenter_model)  # a bad name fails here, before any compute
        self.config = config
        self._segmenter: Segmenter | None = None

    @property
    def segmenter(self) -> Segmenter:
        """Built on first use and kept: a SAM 2 model loads once per backend, not once per video."""
        if self._segmenter is None:
            self._segmenter = create_segmenter(self.config.segmenter, self.config.segmenter_model)
        return self._segmenter

    def check_layout(self, layout: Layout) -> None:
        """Before any compute: every object can be cut out as asked (a SAM 2 folder loads here, once)."""
        check_segmentation(layout, self.config)
        if any(o.mask is None for o in layout.objects):
            self.segmenter  # noqa: B018 - loads (and so checks) the model folder now

    def animate(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None) -> np.ndarray:
        return self.render(image, layout, seed=seed, progress=progress)[0]

    def render(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None,
               alphas: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(frames, per-frame union of the objects' cut-out alphas at their place (F, H, W) float32 or None)."""
        progress = progress or no_progress
        H, W = image.shape[:2]
        boxes = layout.boxes_px(W, H)  # (J, F, 4)
        F = layout.num_frames
        self.check_layout(layout)
        needs = any(o.mask is None for o in layout.objects)
        cutouts = segment_objects(image, layout, self.config, seed, progress, self.segmenter if needs else None)
        plate = background_plate(image, layout, self.config, cutouts).astype(np.float32)
        frames = np.empty((F, H, W, 3), np.uint8)
        frames[0] = image
        union = np.zeros((F, H, W), np.float32) if alphas else None
        progress(1, F, "compositing")
        for f in range(F):
            if union is not None:
                for j in range(len(cutouts)):
                    union[f] = np.maximum(union[f], placed_alpha(cutouts[j], boxes[j, f], H, W))
            if f == 0:
                continue
            canvas = plate.copy()
            # lower box bottom = nearer the camera = drawn last, in front
            for j in np.argsort(boxes[:, f, 3], kind="stable"):
                paste(canvas, cutouts[j], boxes[j, f])
            frames[f] = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
            progress(f + 1, F, "compositing")
        return frames, union


__all__ = ["CompositeBackend", "CompositeConfig", "Cutout", "background_plate", "check_segmentation", "paste", "placed_alpha",
           "segment_objects"]

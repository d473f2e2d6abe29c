"""The composite backend: classical cut-out and paste, no weights, seconds on a CPU.

Per object, once: segment it inside its frame-0 box (GrabCut), then fill the hole
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
from iva0.backends.composite.segment import grabcut_in_box, soft_alpha
from iva0.errors import UserError
from iva0.layout import Layout


@dataclass(frozen=True)
class CompositeConfig:
    feather: float = 0.006  # soft edge of each cut-out, as a share of the shorter image side
    hole_margin: float = 0.012  # the hole to fill grows by this share past the object's mask
    grabcut_iterations: int = 4
    fill: str = "telea"  # telea | ns | fsr (see fill.py)


@dataclass
class Cutout:
    """One object as lifted from the input: its pixels, soft alpha, and frame-0 box (px)."""

    rgb: np.ndarray  # (H, W, 3) float32, the input image
    alpha: np.ndarray  # (H, W) float32 in [0, 1], non-zero only inside the frame-0 box
    mask: np.ndarray  # (H, W) uint8 {0, 1}, the hard segmentation
    box0: np.ndarray  # (4,) px xyxy, as in the layout (may extend past the frame)


def segment_objects(image: np.ndarray, layout: Layout, config: CompositeConfig = CompositeConfig(), seed: int = 0,
                    progress: ProgressFn = no_progress) -> list[Cutout]:
    H, W = image.shape[:2]
    boxes = layout.boxes_px(W, H)  # (J, F, 4)
    feather = max(1.0, config.feather * min(H, W))
    rgb = image.astype(np.float32)
    cutouts = []
    for j in range(boxes.shape[0]):
        mask = grabcut_in_box(image, boxes[j, 0], config.grabcut_iterations, seed=seed + j)
        cutouts.append(Cutout(rgb=rgb, alpha=soft_alpha(mask, feather), mask=mask, box0=boxes[j, 0]))
        progress(j + 1, boxes.shape[0], "segmenting")
    return cutouts


def background_plate(image: np.ndarray, layout: Layout, config: CompositeConfig = CompositeConfig(),
                     cutouts: list[Cutout] | None = None, seed: int = 0) -> np.ndarray:
    """The input with every layout object removed and the holes filled, RGB uint8 (H, W, 3)."""
    if cutouts is None:
        cutouts = segment_objects(image, layout, config, seed)
    H, W = image.shape[:2]
    hole = np.zeros((H, W), np.uint8)
    for c in cutouts:
        hole |= c.mask
    r = max(1, int(round(config.hole_margin * min(H, W))))
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
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
        self.config = config

    def animate(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None) -> np.ndarray:
        return self.render(image, layout, seed=seed, progress=progress)[0]

    def render(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None,
               alphas: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(frames, per-frame union of the objects' cut-out alphas at their place (F, H, W) float32 or None)."""
        progress = progress or no_progress
        H, W = image.shape[:2]
        boxes = layout.boxes_px(W, H)  # (J, F, 4)
        F = layout.num_frames
        cutouts = segment_objects(image, layout, self.config, seed, progress)
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


__all__ = ["CompositeBackend", "CompositeConfig", "Cutout", "background_plate", "paste", "placed_alpha", "segment_objects"]

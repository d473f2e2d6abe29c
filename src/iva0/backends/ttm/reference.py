"""Stage 1: the cut-and-drag reference video and its motion mask, made by the composite backend.

The layout is first retimed to the model's frame rule keeping its duration
(frames = 4k+1 at the model's fps); then the composite backend renders it at
the model's size: objects cut out at frame 0, moved along their boxes, the
hole they leave filled (the fill is part of the reference). The motion mask is
the union of the objects' cut-out alphas at their frame-f place -- the object
pixels, not the boxes -- binarised and dilated by `dilate_px`.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import cv2
import numpy as np

from iva0.backends.base import ProgressFn
from iva0.backends.ttm.families import Family
from iva0.retime import retime_layout
from iva0.errors import UserError
from iva0.layout import Layout


@dataclass
class Reference:
    frames: np.ndarray  # (F, H, W, 3) uint8; frame 0 is the input
    mask: np.ndarray  # (F, H, W) float32 in {0, 1}: where the objects are, dilated
    layout: Layout  # the retimed layout the frames follow


def model_frames(layout: Layout, family: Family, max_frames: int | None = None) -> int:
    """Frames the model makes for the layout's duration at its fps: the nearest step*k+1 (step = the family's
    frame_step), at least step+1.

    A layout longer than the model's native length is refused, naming both (the
    models are trained on their native length; past it they repeat or fall apart).
    """
    max_frames = max_frames or family.num_frames
    seconds = (layout.num_frames - 1) / layout.fps
    step = family.frame_step
    k = max(1, math.floor(seconds * family.fps / step + 0.5))  # halves up, as in scale_index
    frames = step * k + 1
    if frames > max_frames:
        longest = (max_frames - 1) / family.fps
        raise UserError(f"the layout lasts {seconds:.2f} s ({layout.num_frames} frames at {layout.fps} fps); "
                        f"{family.name} makes at most {longest:.2f} s ({max_frames} frames at {family.fps} fps): "
                        f"shorten it with --frames or raise --fps")
    return frames


def model_layout(layout: Layout, family: Family) -> Layout:
    """The layout retimed to the model's frame count and fps, same duration (to the nearest frame group)."""
    frames = model_frames(layout, family)
    return retime_layout(layout, frames).with_overrides(fps=family.fps)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Binarise (> 0.5) and grow each (H, W) frame by `px` pixels (a disc), float32 {0, 1}."""
    hard = (mask > 0.5).astype(np.uint8)
    if px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
        hard = np.stack([cv2.dilate(m, kernel) for m in hard])
    return hard.astype(np.float32)


def camera_mask(alphas: np.ndarray, known: np.ndarray, dilate_px: int) -> np.ndarray:
    """The pinned mask of a camera video (F, H, W) float32 {0, 1}: every pixel whose reference is known.

    The objects' cut-outs at their place, dilated by `dilate_px` as without a camera, and the background the
    window shows of the picture's own pixels (`known` > 0.5, not dilated). Revealed borders (a window past the
    picture's edge) and filled holes (where an object was and nothing covers it now) are not known: they stay on
    the weak clock, free from step tweak, as in TTM's camera-control examples.
    """
    return np.maximum(dilate(alphas, dilate_px), (known > 0.5).astype(np.float32))


def build_reference(image: np.ndarray, layout: Layout, *, dilate_px: int = 8, seed: int = 0,
                    composite_options: dict | None = None, composite=None,
                    progress: ProgressFn | None = None, out_size: tuple[int, int] | None = None) -> Reference:
    """The composite backend's video of `layout` (already retimed) over `image` (at model size) and its motion mask.

    `composite`: a ready CompositeBackend (iva0.backends.cutouts.cutout_backend; its SAM 2 model, if any, loads
    once); else one is built from `composite_options` (CompositeConfig fields; none = the defaults).
    With a camera, `image` is in picture space, `out_size` (width, height) the video's, and the mask
    `camera_mask`'s.
    """
    if composite is None:
        from iva0.backends.composite import CompositeBackend

        composite = CompositeBackend(**(composite_options or {}))
    if getattr(layout, "camera", None) is None:
        frames, alphas = composite.render(image, layout, seed=seed, progress=progress, alphas=True)
        return Reference(frames=frames, mask=dilate(alphas, dilate_px), layout=layout)
    r = composite.render_video(image, layout, seed=seed, progress=progress, alphas=True, known=True, out_size=out_size)
    return Reference(frames=r.frames, mask=camera_mask(r.alphas, r.known, dilate_px), layout=layout)

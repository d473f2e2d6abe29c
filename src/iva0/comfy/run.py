"""What the nodes do, on numpy arrays: the same functions as `iva0 animate --backend composite` and `bench eval`.

- `cut_and_drag`: `iva0.animate.animate` with a composite backend (same size
  rule, checks and frames as the CLI), plus the backend's own per-frame union of
  the cut-out alphas at their place, binarised and dilated as the ttm backend's
  stage 1 does (`iva0.backends.ttm.reference.dilate`): the motion mask. With a
  camera in the layout the mask also holds every output pixel whose reference is
  known (the camera-moved background; not revealed borders, not the hole's fill),
  as Time-to-Move pins for camera motion (DESIGN.md, "Camera motion").
- `animate_model`: `iva0 animate --backend ttm|iva0` (the same `iva0.animate.animate`), with the backend kept
  between runs while its options stay the same (a model loads once, not once per queue).
- `preview`: `iva0 preview`'s drawing (`iva0.layout_overlay.draw_preview`; over a video: `draw_layout`).
- `evaluate`: `bench eval`'s `evaluate_frames`.

Masks given as arrays (ComfyUI's MASK batch, one per object in the layout's
order) become the objects' own masks exactly as mask files named in the layout
do: written as 8-bit PNGs to a temporary folder that is removed afterwards.
Every user mistake is a `ValueError` with one line, raised before any compute.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from iva0.errors import UserError
from iva0.extras import missing_extra

DEFAULT_MASK_DILATE = 8  # as the ttm backend's --mask-dilate
MIN_SIDE = 16  # as the CLI's --width/--height


def value_errors(fn):
    """Turn iva0's user errors (and a missing optional library) into one-line plain ValueErrors: ComfyUI shows the
    exception's full type name (`iva0.errors.LayoutError` for iva0's own), so the node raises ValueError itself."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:  # LayoutError and ImageError are ValueErrors too, under their own names
            raise ValueError(str(e).replace("\n", " ")) from None
        except ImportError as e:
            line = missing_extra(e)
            if line is None:
                raise
            raise ValueError(line) from None

    return wrapper


def parse_layout_text(text: str):
    """The layout JSON text (as the web page downloads it) -> Layout; LayoutError (a ValueError) naming the field."""
    from iva0.layout import parse_layout_json

    if not isinstance(text, str) or not text.strip():
        raise ValueError("layout: empty; give the layout JSON text (e.g. from 'iva0 Layout from file' or the web page)")
    return parse_layout_json(text, "layout")


def with_frames(layout, frames: int):
    """The layout retimed to `frames` frames (0 = the layout's own): its key frames scale with the video, so the
    motion spans all of it, as the ttm backend retimes a layout to its model's length (iva0.retime)."""
    from iva0.retime import retime_layout
    from iva0.layout import MAX_FRAMES

    if frames in (0, None):
        return layout
    if not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames: 0 (the layout's) or from 2 to {MAX_FRAMES}, got {frames}")
    return retime_layout(layout, int(frames))


def check_masks(masks: np.ndarray, layout, width: int, height: int) -> None:
    """One mask per object, the picture's aspect ratio, none empty (before any compute)."""
    from iva0.segment.mask import MAX_RATIO_ERROR

    J = len(layout.objects)
    if len(masks) != J:
        raise ValueError(f"masks: {len(masks)} mask(s) for {J} layout object(s) ({', '.join(layout.names)}); "
                         "give one mask per object, in the layout's order")
    h, w = masks.shape[1:]
    if abs(w / h - width / height) / (width / height) > MAX_RATIO_ERROR:
        raise ValueError(f"masks: {w}x{h}, not the picture's aspect ratio ({width}x{height})")
    for j, m in enumerate(masks):
        if not (m >= 0.5).any():
            raise ValueError(f'masks[{j}] ("{layout.names[j]}"): empty (no pixel at or above 0.5; 1 marks the object)')


@contextmanager
def layout_with_masks(layout, masks: np.ndarray | None) -> Iterator:
    """The layout whose objects' own masks are `masks` (J, h, w) in [0, 1], as files in a temporary folder."""
    if masks is None:
        yield layout
        return
    from PIL import Image

    from iva0.layout import parse_layout

    with tempfile.TemporaryDirectory(prefix="iva0-comfy-masks-") as tmp:
        data = layout.to_dict()
        for j, (obj, m) in enumerate(zip(data["objects"], masks)):
            path = os.path.join(tmp, f"mask{j}.png")
            Image.fromarray(np.round(m * 255.0).astype(np.uint8), mode="L").save(path)
            obj["mask"] = path
        yield parse_layout(data)


@dataclass
class CutAndDrag:
    frames: np.ndarray  # (F, H, W, 3) uint8; frame 0 is the picture at output size
    motion_mask: np.ndarray  # (F, H, W) float32 {0, 1}: the moved cut-outs, dilated (+ the known pixels with a camera)
    layout: object  # the Layout the frames follow


def _composite_keeping_masks(**options):
    """A composite backend whose `animate` also keeps its per-frame masks: the union of the placed cut-out alphas
    and, with a camera, which output pixels show the picture's own pixels (`Render.known`)."""
    from iva0.backends.composite import CompositeBackend

    class KeepMasks(CompositeBackend):
        render_out = None

        def animate(self, image, layout, *, seed=0, progress=None, out_size=None):
            self.render_out = self.render_video(image, layout, seed=seed, progress=progress, alphas=True,
                                                known=layout.camera is not None, out_size=out_size)
            return self.render_out.frames

    return KeepMasks(**options)


def motion_mask(render, dilate_px: int) -> np.ndarray:
    """What TTM pins, (F, H, W) float32 {0, 1}: the moved cut-outs (binarised, dilated by `dilate_px`); with a camera
    also every pixel whose reference is known (camera-moved background), not revealed borders nor the fill."""
    from iva0.backends.ttm.reference import dilate

    mask = dilate(render.alphas, dilate_px)
    if render.known is not None:
        mask = np.maximum(mask, (render.known >= 0.5).astype(np.float32))
    return mask


def cut_and_drag(image: np.ndarray, layout, *, masks: np.ndarray | None = None, frames: int = 0, width: int = 0,
                 height: int = 0, segmenter: str = "auto", segmenter_model: str = "", fill: str = "telea",
                 mask_dilate: int = DEFAULT_MASK_DILATE, seed: int = 0, progress=None) -> CutAndDrag:
    """`iva0 animate --backend composite` on a picture (H, W, 3) uint8, with its motion mask."""
    from iva0.animate import animate

    layout = with_frames(layout, frames)
    for name, v in (("width", width), ("height", height)):
        if v and not MIN_SIDE <= v:
            raise ValueError(f"{name}: 0 (the picture's) or at least {MIN_SIDE} px, got {v}")
    if not 0 <= mask_dilate <= 256:
        raise ValueError(f"mask_dilate: from 0 to 256 px, got {mask_dilate}")
    options = {"fill": fill, "segmenter": segmenter, "segmenter_model": segmenter_model or None}
    if masks is not None:
        check_masks(masks, layout, image.shape[1], image.shape[0])
        options["segmenter"] = "mask"  # every object brings its own mask: nothing is computed
        options["segmenter_model"] = None
    backend = _composite_keeping_masks(**{k: v for k, v in options.items() if v is not None})
    with layout_with_masks(layout, masks) as lay:
        anim = animate(image, lay, backend, width=width or None, height=height or None, seed=seed, progress=progress)
    return CutAndDrag(frames=anim.frames, motion_mask=motion_mask(backend.render_out, mask_dilate), layout=layout)


_BACKEND_CACHE: dict = {}  # at most one model backend: (backend, options) -> the instance


def animate_model(image: np.ndarray, layout, *, backend: str, model: str, prompt: str = "", frames: int = 0,
                  width: int = 0, height: int = 0, steps: int = 0, guidance: float = -1.0, tweak_index: int = -1,
                  tstrong_index: int = -1, device: str = "auto", segmenter: str = "auto", fill: str = "telea",
                  seed: int = 0, progress=None) -> tuple[np.ndarray, int]:
    """`iva0 animate --backend ttm|iva0 --model MODEL` on a picture; (frames (F, H, W, 3) uint8, fps).

    0 / -1 / "" / "auto" leave an option at the backend's default (steps, guidance, the TTM indices, the prompt:
    the layout's, the device). The ttm backend retimes the layout to its model's length and fps itself.
    """
    from iva0.animate import animate
    from iva0.backends import create_backend

    if backend not in ("ttm", "iva0"):
        raise ValueError(f"backend: ttm or iva0, got {backend!r}")
    if not (model or "").strip():
        raise ValueError(f"model: empty; give the {backend} backend's model folder")
    if backend == "iva0" and (tweak_index >= 0 or tstrong_index >= 0):
        raise ValueError("tweak_index/tstrong_index apply to the ttm backend only; set them to -1")
    layout = with_frames(layout, frames)
    if prompt.strip():
        layout = layout.with_overrides(prompt=prompt)
    options = {"model": os.path.expanduser(model.strip()), "steps": steps or None,
               "guidance": guidance if guidance >= 0 else None, "device": None if device == "auto" else device,
               "segmenter": segmenter, "fill": fill}
    if backend == "ttm":
        options.update(tweak_index=tweak_index if tweak_index >= 0 else None,
                       tstrong_index=tstrong_index if tstrong_index >= 0 else None)
    options = {k: v for k, v in options.items() if v is not None}
    key = (backend, json.dumps(options, sort_keys=True))
    be = _BACKEND_CACHE.get(key)
    if be is None:
        _BACKEND_CACHE.clear()  # one model in memory at a time
        be = create_backend(backend, **options)
        _BACKEND_CACHE[key] = be
    anim = animate(image, layout, be, width=width or None, height=height or None, seed=seed, progress=progress)
    return anim.frames, anim.fps


def preview(images: np.ndarray, layout, frames: int = 0) -> np.ndarray:
    """The layout's boxes and paths drawn over a picture repeated over the layout's frames (one picture in), or
    over a batch of frames (the layout retimed to their count, as `bench eval` does); (F, H, W, 3) uint8."""
    from iva0.retime import retime_layout
    from iva0.layout_overlay import draw_layout, draw_preview
    from iva0.limits import check_frame_memory

    layout = with_frames(layout, frames)
    B, H, W = images.shape[:3]
    if B == 1:
        check_frame_memory(layout.num_frames, W, H)
        still = np.repeat(images, layout.num_frames, axis=0)  # (F, H, W, 3)
        return draw_preview(still, layout)
    if B < 2:
        raise ValueError("image: empty batch")
    return draw_layout(images, retime_layout(layout, B) if B != layout.num_frames else layout)


def evaluate(frames: np.ndarray, layout, *, image: np.ndarray | None = None, masks: np.ndarray | None = None,
             eval_side: int = 512) -> tuple[dict, np.ndarray]:
    """`bench eval`'s metrics of one video (frames (F, H, W, 3) uint8) against its input picture (default: frame 0)
    and the layout; and the frames with the layout drawn (retimed to the video, as the metrics see it)."""
    from iva0.bench.evaluate import EvalOptions, evaluate_frames
    from iva0.retime import retime_layout
    from iva0.layout_overlay import draw_layout

    if len(frames) < 2:
        raise ValueError(f"frames: a video needs at least 2 frames, got {len(frames)}")
    if not 64 <= eval_side <= 4096:
        raise ValueError(f"eval_side: from 64 to 4096 px, got {eval_side}")
    picture = frames[0] if image is None else image
    if masks is not None:
        check_masks(masks, layout, picture.shape[1], picture.shape[0])
    with layout_with_masks(layout, masks) as lay:
        metrics = evaluate_frames(frames, picture, lay, EvalOptions(eval_side=eval_side))
    overlay = draw_layout(frames, retime_layout(layout, len(frames)) if len(frames) != layout.num_frames else layout)
    return json.loads(json.dumps(metrics, default=_plain)), overlay


def _plain(v):
    """numpy scalars -> Python numbers for JSON."""
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")

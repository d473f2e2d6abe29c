"""The one entry point shared by the CLI, the web app and the benchmark."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iva0.backends import BACKENDS, Backend, ProgressFn, check_camera, create_backend
from iva0.backends.cutouts import check_cutouts
from iva0.errors import UserError
from iva0.io.image import fit_size, read_image, resize_image
from iva0.layout_overlay import draw_layout
from iva0.io.video import check_output_path, write_video
from iva0.layout import Layout, load_layout
from iva0.limits import check_frame_memory, check_seed
from iva0.segment.mask import check_layout_masks


@dataclass
class Animation:
    frames: np.ndarray  # (F, H, W, 3) uint8; frame 0 is the (resized) input
    layout: Layout
    backend: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> int:
        return self.layout.fps


def animate(
    image: np.ndarray | str | os.PathLike,
    layout: Layout | str | os.PathLike,
    backend: str | Backend = "composite",
    *,
    width: int | None = None,
    height: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    **backend_options: Any,
) -> Animation:
    """Animate `image` along `layout` with a backend (by name or instance)."""
    check_seed(seed)
    if not isinstance(layout, Layout):
        layout = load_layout(layout)
    if not isinstance(image, np.ndarray):
        image = read_image(image)
    h, w = image.shape[:2]
    if width or height:  # an asked size passes every cap: check the budget before loading a backend
        check_frame_memory(layout.num_frames, *fit_size(w, h, width, height, multiple=1))
    check_camera(layout, backend)  # a backend without camera motion refuses a camera before it loads a model
    if isinstance(backend, str) and backend in BACKENDS:  # every backend starts from the frame-0 cut-outs
        check_cutouts(layout, backend_options)  # `--segmenter mask` without every object's mask: before a model loads
    # the layout's own masks: readable, non-empty, the picture's aspect ratio (the picture's, not the output's:
    # a backend may round the output to another aspect, and the masks then follow the picture there)
    check_layout_masks(layout, w, h)
    # the camera's parallax: its depth file (readable, the picture's aspect ratio) or a depth model folder
    from iva0.depth import check_depth

    depth_model = backend_options.get("depth_model") or next(  # a backend instance: its config's (composite, ttm)
        (getattr(getattr(backend, k, None), "depth_model", None) for k in ("config", "settings")
         if getattr(getattr(backend, k, None), "depth_model", None)), None)
    check_depth(layout, w, h, depth_model)
    be = create_backend(backend, **backend_options) if isinstance(backend, str) else backend
    if hasattr(be, "output_size"):  # a backend whose model fixes the size rule (ttm)
        out_w, out_h = be.output_size(w, h, width, height)
    else:
        out_w, out_h = fit_size(w, h, width, height, max_side=be.max_side, multiple=be.size_multiple)
    if hasattr(be, "model_layout"):  # a backend that makes its model's own frame count and fps (ttm)
        layout = be.model_layout(layout)
    check_frame_memory(layout.num_frames, out_w, out_h)
    if hasattr(be, "check_size"):  # the sizes the backend's model supports (optional)
        be.check_size(out_w, out_h, layout.num_frames)
    if layout.camera is not None:  # the windows' aspect ratio is the output's (iva0.camera)
        layout.camera.check_aspect(w, h, out_w, out_h)
    check = getattr(be, "check_layout", None)
    if check is not None:
        check(layout)
    if layout.camera is None:
        frames = be.animate(resize_image(image, out_w, out_h), layout, seed=seed, progress=progress)
    else:  # picture space at the size the tightest window needs; the backend resamples each window to the output
        from iva0.camera import picture_space_size

        pw, ph = picture_space_size(w, h, out_w, out_h, layout.camera.windows(layout.num_frames, layout.interpolation))
        check_frame_memory(2, pw, ph)  # the picture and its plate, in picture space
        frames = be.animate(resize_image(image, pw, ph), layout, seed=seed, progress=progress, out_size=(out_w, out_h))
    return Animation(frames=frames, layout=layout, backend=be.name, info={"width": out_w, "height": out_h, "seed": seed})


def overlay_path(out: str | os.PathLike) -> Path:
    """`<out>_overlay.mp4` beside the output."""
    p = Path(str(out).rstrip("/\\"))
    stem = p.stem if p.suffix else p.name
    return p.with_name(f"{stem}_overlay.mp4")


def check_outputs(out: str | os.PathLike, *, overlay: bool = False, inputs=()) -> None:
    """The output rule (iva0.io.output_rule) for the video and, with `overlay`, its overlay video."""
    check_output_path(out, inputs=inputs)
    if overlay:
        check_output_path(overlay_path(out), inputs=inputs)


def save_animation(anim: Animation, out: str | os.PathLike, overlay: bool = False) -> list[Path]:
    """Write the video (and the overlay video); returns the paths written."""
    check_outputs(out, overlay=overlay)
    try:
        written = [write_video(anim.frames, out, anim.fps)]
        if overlay:
            written.append(write_video(draw_layout(anim.frames, anim.layout), overlay_path(out), anim.fps))
    except OSError as e:  # read-only file system, permissions, disk full: the user's to fix
        raise UserError(f"cannot write output {out}: {e.strerror or e}") from None
    return written

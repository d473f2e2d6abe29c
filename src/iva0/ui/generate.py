"""Generation in the page: the video size it will have, the box preview, the run and its files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from iva0.errors import UserError
from iva0.io.image import fit_size
from iva0.layout_overlay import draw_layout
from iva0.io.video import write_video
from iva0.layout import Layout
from iva0.ui import editor
from iva0.ui.backend_choice import BackendPool
from iva0.ui.config import UiConfig
from iva0.ui.files import WorkDir
from iva0.ui.pictures import Picture
from iva0.ui.render import overlay_frames


@dataclass(frozen=True)
class Run:
    video: str  # the MP4
    overlay: str  # the MP4 with the layout's boxes drawn over it
    status: str  # one line for the page


class Generator:
    def __init__(self, config: UiConfig, work: WorkDir) -> None:
        self.config = config
        self.work = work
        self.pool = BackendPool(config.model, config.backend_options)

    def side(self, side: Any) -> int:
        return int(np.clip(editor.as_int(side, self.config.default_output_side), 64, self.config.max_output_side))

    def video_size(self, pic: Picture, side: Any) -> tuple[int, int]:
        """(width, height) of the video: the picture scaled down to `side`, never up."""
        h, w = pic.full.shape[:2]
        return fit_size(w, h, max_side=self.side(side), multiple=2)

    def video_note(self, pic: Picture | None, side: Any, frames: Any, fps: Any, backend: str | None = None) -> str:
        """One line said before generating: the size the video will have, and why when it is not the one asked for."""
        if pic is None:
            return ""
        n, rate = editor.as_int(frames, 16), max(1, editor.as_int(fps, 8))
        ph, pw = pic.full.shape[:2]
        if self.makes_model_size(backend):
            try:
                be = self.pool.get(backend)
                w, h, capped = self.model_video_size(be, pic)
                timed = be.model_layout(_timing_layout(n, rate))
            except UserError as e:  # too long for the model, a size it cannot make: say it here, before Generate
                return f"{_label(self.pool, backend)}: {e}"
            m, r = timed.num_frames, timed.fps
            line = f"Video: {w}×{h} px, {m} frames at {r} fps ({m / r:.1f} s): {_label(self.pool, backend)} makes its model's "
            line += f"size and frame count (the layout's {n} frames at {rate} fps, retimed; the size slider does not apply)."
            if capped:
                line += f" Scaled down to this page's largest side, {self.config.max_output_side} px (iva0 ui --max-side)."
            return line
        w, h = self.video_size(pic, side)
        line = f"Video: {w}×{h} px, {n} frames at {rate} fps ({n / rate:.1f} s)."
        if self.side(side) > max(pw, ph):
            line += f" The picture is {pw}×{ph} px; videos are never larger than their picture."
        return line

    def makes_model_size(self, backend: str | None) -> bool:
        """A backend whose model fixes the video's size and frame count (ttm), not the page's settings."""
        return backend == "ttm" and backend in self.pool.names

    def model_video_size(self, be: Any, pic: Picture) -> tuple[int, int, bool]:
        """(width, height, capped): the model's size for the picture (`be.output_size`), scaled down to the
        page's largest side when above it (keeping the model's size multiple)."""
        ph, pw = pic.full.shape[:2]
        w, h = be.output_size(pw, ph, None, None)
        cap = self.config.max_output_side
        if max(w, h) <= cap:
            return w, h, False
        if getattr(getattr(be, "geometry", None), "fixed", False):
            raise UserError(f"the model makes {w}×{h} videos only; this page allows at most {cap} px per side "
                            f"(iva0 ui --max-side)")
        m, s = be.size_multiple, cap / max(w, h)
        return max(m, int(w * s) // m * m), max(m, int(h * s) // m * m), True

    def preview(self, pic: Picture, layout: Layout) -> str:
        """The box preview: the still picture with each object's box per frame (an MP4's path)."""
        frames = overlay_frames(pic.view, layout, self.config.preview_side)  # (F, h, w, 3)
        return str(write_video(frames, self.work.run_dir() / "preview.mp4", layout.fps))

    def run(
        self, pic: Picture, layout: Layout, backend: str, seed: Any, side: Any, steps: Any, guidance: Any,
        report: Callable[[int, int, str], None],
    ) -> Run:  # fmt: skip
        seed = editor.as_int(seed, -1)
        if not 0 <= seed < 2**32:  # what every random generator takes
            raise UserError(f"seed: must be a whole number from 0 to {2**32 - 1}")
        be = self.pool.get(backend, steps=steps, guidance=guidance)  # checks the name before any work
        if self.makes_model_size(backend):
            out_w, out_h, capped = self.model_video_size(be, pic)
            if not capped:
                out_w = out_h = None  # the model's own size rule (`be.output_size`)
        else:
            out_w, out_h = self.video_size(pic, side)  # the page's cap; the backend may round further

        from iva0.animate import animate

        t0 = time.perf_counter()
        anim = animate(pic.full, layout, be, width=out_w, height=out_h, seed=seed, progress=report)
        dt = time.perf_counter() - t0
        folder = self.work.run_dir()
        stem = f"iva0_{_slug(pic.name)}_{backend}_seed{seed}"
        made = anim.layout  # the layout as made: ttm retimes it to its model's frame count and fps
        video = write_video(anim.frames, folder / f"{stem}.mp4", made.fps)
        overlay = write_video(draw_layout(anim.frames, made), folder / f"{stem}_overlay.mp4", made.fps)
        F, H, W = anim.frames.shape[:3]
        status = f"**Done:** {F} frames, {W}×{H}, {made.fps} fps, {anim.backend} backend, seed {seed}, {dt:.1f} s."
        return Run(video=str(video), overlay=str(overlay), status=status)


def _label(pool: BackendPool, name: str | None) -> str:
    return next((c.label for c in pool.choices if c.name == name), str(name))


def _timing_layout(num_frames: int, fps: int) -> Layout:
    """A layout with only the page's timing (one still box): what a backend's `model_layout` retimes, for the note."""
    from iva0.layout import parse_layout

    box = {"frame": 0, "box": [0.25, 0.25, 0.75, 0.75]}
    return parse_layout({"num_frames": max(2, num_frames), "fps": fps, "objects": [{"name": "timing", "keyframes": [box]}]})


def _slug(name: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]
    return s or "picture"

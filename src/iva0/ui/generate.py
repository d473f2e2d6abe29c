"""Generation in the page: the video size it will have, the box preview, the run and its files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from iva0.errors import UserError
from iva0.io.image import fit_size
from iva0.io.overlay import draw_layout
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

    def video_note(self, pic: Picture | None, side: Any, frames: Any, fps: Any) -> str:
        """One line said before generating: the size the video will have, and why when it is not the one asked for."""
        if pic is None:
            return ""
        w, h = self.video_size(pic, side)
        n, rate = editor.as_int(frames, 16), max(1, editor.as_int(fps, 8))
        line = f"Video: {w}×{h} px, {n} frames at {rate} fps ({n / rate:.1f} s)."
        ph, pw = pic.full.shape[:2]
        if self.side(side) > max(pw, ph):
            line += f" The picture is {pw}×{ph} px; videos are never larger than their picture."
        return line

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
        out_w, out_h = self.video_size(pic, side)  # the page's cap; the backend may round further

        from iva0.animate import animate

        t0 = time.perf_counter()
        anim = animate(pic.full, layout, be, width=out_w, height=out_h, seed=seed, progress=report)
        dt = time.perf_counter() - t0
        folder = self.work.run_dir()
        stem = f"iva0_{_slug(pic.name)}_{backend}_seed{seed}"
        video = write_video(anim.frames, folder / f"{stem}.mp4", layout.fps)
        overlay = write_video(draw_layout(anim.frames, layout), folder / f"{stem}_overlay.mp4", layout.fps)
        F, H, W = anim.frames.shape[:3]
        status = f"**Done:** {F} frames, {W}×{H}, {layout.fps} fps, {anim.backend} backend, seed {seed}, {dt:.1f} s."
        return Run(video=str(video), overlay=str(overlay), status=status)


def _slug(name: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]
    return s or "picture"

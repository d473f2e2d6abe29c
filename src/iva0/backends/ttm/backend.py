"""TTMBackend: the ttm pipeline behind the Backend protocol (`iva0 animate --backend ttm`)."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from iva0.backends.base import ProgressFn, no_progress
from iva0.errors import UserError
from iva0.layout import Layout

PASTE_FEATHER = 0.02  # the keep-background ramp inside G(f), as a share of the shorter side (as the iva0 backend)


@dataclass
class TTMSettings:
    """What the CLI's ttm options become; None = the family's default."""

    model: str | None = None
    steps: int = 50
    guidance: float | None = None
    guidance_2: float | None = None
    flow_shift: float | None = None
    negative_prompt: str | None = None
    tweak_index: int | None = None
    tstrong_index: int | None = None
    dual_clock: bool = True
    keep_background: bool = False
    mask_dilate: int = 8
    device: str | None = None
    dtype: str | None = None
    offload: str = "none"
    vae_tiling: bool = False
    vae_slicing: bool = False
    # stage 1's cut-outs and fill (iva0.backends.cutouts; None = the composite backend's default)
    segmenter: str | None = None
    segmenter_model: str | None = None
    fill: str | None = None
    depth_model: str | None = None  # the camera's parallax without a depth file in the layout (iva0.depth_model)


def validate(s: TTMSettings) -> None:
    """The checks that need no model (the rest run in `TTMPipeline.check_inputs`)."""
    if s.model is None:
        raise UserError("the ttm backend needs --model DIR (a Wan 2.1/2.2 image-to-video or CogVideoX-5b-I2V folder)")
    if isinstance(s.steps, bool) or not isinstance(s.steps, int) or not 1 <= s.steps <= 1000:
        raise UserError(f"--steps must be an integer from 1 to 1000, got {s.steps!r}")
    for flag, v in (("--guidance", s.guidance), ("--guidance-2", s.guidance_2)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 50):
            raise UserError(f"{flag} must be a number from 0 to 50, got {v!r}")
    if s.flow_shift is not None and not (math.isfinite(s.flow_shift) and 0 < s.flow_shift <= 100):
        raise UserError(f"--flow-shift must be a number above 0 (at most 100), got {s.flow_shift!r}")
    for flag, v in (("--tweak-index", s.tweak_index), ("--tstrong-index", s.tstrong_index)):
        if v is not None and not 0 <= v < s.steps:
            raise UserError(f"{flag} {v} must be in 0..{s.steps - 1} (an index into the {s.steps} steps)")
    if s.tweak_index is not None and s.tstrong_index is not None and s.tweak_index > s.tstrong_index:
        raise UserError(f"--tweak-index {s.tweak_index} must not exceed --tstrong-index {s.tstrong_index}")
    if not 0 <= s.mask_dilate <= 256:
        raise UserError(f"--mask-dilate must be from 0 to 256 px, got {s.mask_dilate}")
    if not s.dual_clock and (s.tweak_index is not None or s.tstrong_index is not None):
        raise UserError("--tweak-index/--tstrong-index need the dual clock; drop --no-dual-clock")


class TTMBackend:
    name = "ttm"
    supports_camera = True  # a layout's camera: the reference is the composite's camera video (docs/ttm.md)

    def __init__(self, **options: Any) -> None:
        known = {f.name for f in fields(TTMSettings)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(f"unknown ttm backend option(s): {', '.join(unknown)}")
        options = {k: (str(v) if k in ("model", "segmenter_model", "depth_model") else v) for k, v in options.items()
                   if v is not None}
        self.settings = s = TTMSettings(**options)
        validate(s)
        from dataclasses import asdict

        from iva0.backends.cutouts import cutout_backend

        # stage 1's cut-and-drag video: a bad segmenter or fill is refused here, a SAM 2 folder is read in check_layout
        self.composite = cutout_backend(asdict(s))
        from iva0.backends.ttm.loading import check_folder, check_offload, geometry, pick_device, pick_dtype, resolve

        # everything that can be checked without weights, before loading them (on the first animate)
        dev = pick_device(s.device)
        pick_dtype(s.dtype, dev)
        check_offload(s.offload, dev)
        self.folder = resolve(s.model)
        self.family, components = check_folder(self.folder)
        bad = [c for c in components if c.problem]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise UserError(f"{self.folder}: component '{bad[0].name}' {bad[0].problem}{more}")
        family = self.family
        if s.guidance_2 is not None and family.name != "wan22-a14b":
            raise UserError(f"--guidance-2 sets Wan 2.2 I2V-A14B's second expert; {s.model} is {family.name}")
        if s.flow_shift is not None and family.kind != "wan":
            raise UserError(f"--flow-shift applies to Wan's flow-matching scheduler; {s.model} is {family.name}")
        self.geometry = geometry(self.folder, family)
        self.size_multiple = self.geometry.multiple
        self.max_side = max(self.geometry.native)
        self._pipe = None
        self.last = None  # the last TTMPipelineOutput (reference video, masks, timings) for callers that want it

    @property
    def pipe(self):
        """The TTMPipeline, loaded on first use (so every input check runs before the weights are read)."""
        if self._pipe is None:
            from iva0.backends.ttm.pipeline import TTMPipeline

            s = self.settings
            self._pipe = TTMPipeline.from_pretrained(self.folder, dtype=s.dtype, device=s.device, offload=s.offload,
                                                     vae_tiling=s.vae_tiling, vae_slicing=s.vae_slicing)
            if s.flow_shift is not None:
                sched = self._pipe.pipe.scheduler
                self._pipe.pipe.scheduler = type(sched).from_config(sched.config, flow_shift=s.flow_shift)
        return self._pipe

    # hooks `iva0.animate.animate` asks before it resizes the picture and writes the video
    def output_size(self, width: int, height: int, target_width: int | None, target_height: int | None) -> tuple[int, int]:
        """The picture's size for this model: Wan keeps the aspect at the native area, CogVideoX has one size."""
        from iva0.backends.ttm.loading import model_size

        if target_width or target_height:
            from iva0.io.image import fit_size

            w, h = fit_size(width, height, target_width, target_height, multiple=self.size_multiple)
            if self.geometry.fixed and (h, w) != self.geometry.native:
                nh, nw = self.geometry.native
                raise UserError(f"CogVideoX-5b-I2V makes {nw}x{nh} videos only; drop --width/--height")
            return w, h
        return model_size(width, height, self.geometry)

    def model_layout(self, layout: Layout) -> Layout:
        """The layout retimed to the model's frames and fps, same duration (refused when longer than the model's)."""
        from iva0.backends.ttm.reference import model_layout

        return model_layout(layout, self.family)

    def check_layout(self, layout: Layout) -> None:
        """Before any compute (the model loads on the first animate): stage 1's cut-outs can be made as asked
        (`--segmenter mask`: every object's mask; a SAM 2 folder is read here, once); a camera needs the dual
        clock and no --keep-background."""
        from iva0.backends.ttm.pipeline import has_camera

        if has_camera(layout):
            if not self.settings.dual_clock:
                raise UserError("camera: --no-dual-clock is the model's plain image-to-video, which has no camera; "
                                "drop --no-dual-clock or the layout's camera")
            if self.settings.keep_background:
                raise UserError("camera: --keep-background pastes the input's pixels where they are, and the camera "
                                "moves them; drop --keep-background or the layout's camera")
        self.composite.check_layout(layout)

    def animate(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None,
                out_size: tuple[int, int] | None = None) -> np.ndarray:
        """image at the video's size; with a camera in picture space and out_size (width, height) the video's."""
        import torch

        from iva0.backends.ttm import dual_clock
        from iva0.backends.ttm.pipeline import has_camera

        s = self.settings
        progress = progress or no_progress
        retimed = self.model_layout(layout)
        if s.dual_clock:
            tweak, tstrong = dual_clock.resolve_indices(*self.family.indices50(has_camera(layout)), s.steps,
                                                        s.tweak_index, s.tstrong_index)
            warning = dual_clock.no_pin_warning(tweak, tstrong, s.steps)
            if warning:
                print(f"warning: {warning}", file=sys.stderr, flush=True)
        else:
            tweak = tstrong = 0
        # --negative-prompt "" (settings "") = none; not given: the layout's, else the family's standard one
        negative = s.negative_prompt if s.negative_prompt is not None else (
            layout.negative_prompt or self.family.negative_prompt)
        kwargs = dict(num_frames=retimed.num_frames, num_inference_steps=s.steps, guidance_scale=s.guidance,
                      guidance_scale_2=s.guidance_2, tweak_index=tweak, tstrong_index=tstrong,
                      dual_clock_on=s.dual_clock)
        try:
            self.pipe.check_inputs(image, retimed.num_frames, s.steps, tweak, tstrong,
                                   self.family.guidance if s.guidance is None else s.guidance, s.guidance_2,
                                   None, None, s.dual_clock, layout=retimed, out_size=out_size)
        except ValueError as e:
            raise UserError(str(e)) from None
        out = self.pipe(image, retimed if s.dual_clock else None, prompt=layout.prompt, negative_prompt=negative,
                        mask_dilate=s.mask_dilate, generator=torch.Generator().manual_seed(seed), progress=progress,
                        composite=self.composite, out_size=out_size, **kwargs)
        frames = out.frames
        if s.keep_background:
            from iva0.backends.diffusion.compose import paste_alpha, paste_kept

            H, W = image.shape[:2]
            frames = paste_kept(frames, image, paste_alpha(retimed, H, W, max(1.0, PASTE_FEATHER * min(H, W))))
        self.last = out
        return frames

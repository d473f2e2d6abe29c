"""TTMPipeline: boxes -> composite reference video + motion mask -> dual-clock denoising on Wan / CogVideoX.

Composes a loaded diffusers image-to-video pipeline (WanImageToVideoPipeline or
CogVideoXImageToVideoPipeline): its prompt/image encoders, prepare_latents,
transformer(s), scheduler and VAE. The loop is our own because diffusers'
`__call__` always starts at the first timestep; with the dual clock off it
runs from step 0 from diffusers' own noise and gives diffusers' frames.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from iva0.backends.base import ProgressFn, no_progress
from iva0.backends.ttm import dual_clock
from iva0.backends.ttm.families import Family
from iva0.backends.ttm.parts import parts_for
from iva0.layout import Layout


@dataclass
class TTMPipelineOutput:
    frames: np.ndarray  # (F, H, W, 3) uint8; frame 0 is the input
    reference: np.ndarray | None  # (F, H, W, 3) uint8, stage 1's cut-and-drag video (None with the dual clock off)
    masks: np.ndarray | None  # (F, H, W) float32 {0, 1}, the pixel motion mask
    latent_mask: torch.Tensor | None  # (F', h, w), the mask the loop pins with
    layout: Layout | None  # the layout retimed to the model's frames and fps
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    peak_memory: dict[str, Any] = field(default_factory=dict)  # {"kind": ..., "bytes": ...}
    info: dict[str, Any] = field(default_factory=dict)  # family, steps, indices, transformer calls


def has_camera(layout: Layout | None) -> bool:
    """Whether a layout moves the camera (the layout's optional `camera` field)."""
    return getattr(layout, "camera", None) is not None


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"kind": "cuda max_memory_allocated", "bytes": int(torch.cuda.max_memory_allocated(device))}
    # the CPU has no per-call counter: the process's peak resident size so far (Linux reports KiB)
    return {"kind": "process peak RSS", "bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024}


class TTMPipeline:
    """Time-to-Move on a diffusers image-to-video pipeline; see the module docstring."""

    def __init__(self, pipe, family: Family, *, device: torch.device | None = None, folder: Path | None = None) -> None:
        self.pipe = pipe
        self.family = family
        self.parts = parts_for(family.kind, pipe)
        self.folder = folder
        self.device = device or pipe._execution_device

    @classmethod
    def from_pretrained(cls, source: str | Path, *, dtype: str | None = None, device: str | None = None,
                        offload: str = "none", vae_tiling: bool = False, vae_slicing: bool = False) -> "TTMPipeline":
        """A local diffusers folder or a cached repo id (offline, safetensors only) of a supported family."""
        from iva0.backends.ttm.loading import load_pipeline

        pipe, family, folder, dev, _ = load_pipeline(source, dtype=dtype, device=device, offload=offload,
                                                     vae_tiling=vae_tiling, vae_slicing=vae_slicing)
        return cls(pipe, family, device=dev, folder=folder)

    # ------------------------------------------------------------------ sizes
    @property
    def size_multiple(self) -> int:
        return self.parts.size_multiple

    @property
    def temporal(self) -> int:
        return self.parts.temporal

    def native_size(self) -> tuple[int, int]:
        """(height, width) the model was made for; CogVideoX's learned positions allow no other."""
        if self.family.kind == "cogvideox":
            cfg = self.pipe.transformer.config
            return cfg.sample_height * self.parts.spatial, cfg.sample_width * self.parts.spatial
        return self.family.height, self.family.width

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) for a picture: CogVideoX its fixed size; Wan the picture's aspect at the native area."""
        from iva0.backends.ttm.loading import Geometry, model_size

        g = Geometry(self.parts.spatial, self.temporal, self.size_multiple, self.native_size(),
                     self.family.kind == "cogvideox")
        return model_size(width, height, g)

    def default_indices(self, steps: int, camera: bool = False) -> tuple[int, int]:
        """TTM's 50-step indices (cut-and-drag, or camera control) scaled to `steps`."""
        return dual_clock.default_indices(*self.family.indices50(camera), steps)

    def negative_prompt(self, layout: Layout | None, given: str | None = None) -> str:
        """`given` when not None ("" = none); else the layout's when not empty; else the family's standard one."""
        if given is not None:
            return given
        return (layout.negative_prompt if layout is not None else "") or self.family.negative_prompt

    # ------------------------------------------------------------------ checks
    def check_inputs(self, image: np.ndarray, num_frames: int, num_inference_steps: int, tweak_index: int,
                     tstrong_index: int, guidance_scale: float, guidance_scale_2: float | None,
                     reference: np.ndarray | None, motion_mask: np.ndarray | None, dual_clock_on: bool,
                     callback_on_step_end_tensor_inputs: list[str] | None = None, layout: Layout | None = None,
                     out_size: tuple[int, int] | None = None) -> None:
        """ValueError for anything the loop cannot run, before any compute (with a layout, stage 1 makes the
        reference and mask at the right shapes, so only their absence is checked). `out_size` (width, height):
        the video's size when a camera layout's picture is in picture space."""
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            raise ValueError("image must be an RGB uint8 array (H, W, 3)")
        camera = has_camera(layout)
        if out_size is not None and not camera:
            raise ValueError("out_size is for a layout with a camera; without one the video is the image's size")
        if camera and not dual_clock_on:
            raise ValueError("the camera is made by the dual clock's reference video; the model's plain "
                             "image-to-video (dual clock off) has no camera")
        H, W = image.shape[:2] if out_size is None else (out_size[1], out_size[0])
        m = self.size_multiple
        if H % m or W % m:
            raise ValueError(f"height and width must be multiples of {m} for {self.family.name}; got {W}x{H}")
        if self.family.kind == "cogvideox" and (H, W) != self.native_size():
            nh, nw = self.native_size()
            raise ValueError(f"CogVideoX-5b-I2V makes {nw}x{nh} only (learned positions); got {W}x{H}")
        step = self.family.frame_step
        if num_frames < 1 + step or (num_frames - 1) % step:
            raise ValueError(f"num_frames must be {step}k+1 for {self.family.name}, at least {step + 1}; got {num_frames}")
        if not 1 <= num_inference_steps <= 1000:
            raise ValueError(f"steps must be from 1 to 1000; got {num_inference_steps}")
        if guidance_scale < 0:
            raise ValueError(f"guidance must be >= 0; got {guidance_scale}")
        if guidance_scale_2 is not None and self.family.name != "wan22-a14b":
            raise ValueError("guidance-2 applies to Wan 2.2 I2V-A14B's second expert only")
        if callback_on_step_end_tensor_inputs and set(callback_on_step_end_tensor_inputs) - {"latents"}:
            raise ValueError("callback_on_step_end_tensor_inputs may only hold 'latents'")
        if dual_clock_on:
            dual_clock.check_indices(tweak_index, tstrong_index, num_inference_steps)
            if layout is not None:
                return
            if reference is None or motion_mask is None:
                raise ValueError("the dual clock needs a reference video and its motion mask (or a layout)")
            if reference.shape != (num_frames, H, W, 3) or motion_mask.shape != (num_frames, H, W):
                raise ValueError(f"reference {reference.shape} and mask {motion_mask.shape} must be "
                                 f"({num_frames}, {H}, {W}[, 3])")

    # ------------------------------------------------------------------ the call
    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        layout: Layout | None = None,
        *,
        reference: np.ndarray | None = None,
        motion_mask: np.ndarray | None = None,
        num_frames: int | None = None,
        prompt: str = "",
        negative_prompt: str | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float | None = None,
        guidance_scale_2: float | None = None,
        tweak_index: int | None = None,
        tstrong_index: int | None = None,
        dual_clock_on: bool = True,
        mask_dilate: int = 8,
        generator: torch.Generator | None = None,
        composite_options: dict | None = None,
        composite=None,
        out_size: tuple[int, int] | None = None,
        callback_on_step_end: Callable[["TTMPipeline", int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        progress: ProgressFn | None = None,
    ) -> TTMPipelineOutput:
        """image (H, W, 3) uint8 at the model's size; `layout` (any length: retimed here) or a ready
        `reference` + `motion_mask` (F, H, W[, 3]). Returns frames (F, H, W, 3) uint8, frame 0 = image.

        Stage 1 (with a layout) cuts the objects out with `composite`, a ready CompositeBackend
        (iva0.backends.cutouts.cutout_backend: segmenter, SAM 2 folder, fill), or one built from
        `composite_options`; neither: GrabCut and Telea.

        With a camera in the layout, `image` is the picture at picture-space size (iva0.animate picks it) and
        `out_size` (width, height) the video's: the reference is the composite's camera video, its frame 0
        (window 0) is the picture the model starts from, and the pinned mask covers every pixel whose reference
        is known (see `reference.camera_mask`).

        negative_prompt: None = the layout's when it has one, else the family's standard one (Wan's
        `sample_neg_prompt`; none on CogVideoX); "" = no negative prompt."""
        progress = progress or no_progress
        timings: dict[str, float] = {}
        _peak_reset(self.device)
        steps = num_inference_steps
        camera = has_camera(layout)
        tweak, tstrong = dual_clock.resolve_indices(*self.family.indices50(camera), steps, tweak_index, tstrong_index)
        guidance = self.family.guidance if guidance_scale is None else guidance_scale
        negative_prompt = self.negative_prompt(layout, negative_prompt)

        # 1. The layout at the model's frame rule (same duration), and the frame count
        from iva0.backends.ttm.reference import build_reference, model_layout

        retimed = model_layout(layout, self.family) if layout is not None else None
        if num_frames is None:
            num_frames = retimed.num_frames if retimed is not None else (
                len(reference) if reference is not None else self.family.num_frames)

        # 2. Check inputs. Raise error if not correct
        self.check_inputs(image, num_frames, steps, tweak, tstrong, guidance, guidance_scale_2, reference, motion_mask,
                          dual_clock_on, callback_on_step_end_tensor_inputs, layout=retimed, out_size=out_size)

        # 3. Stage 1: the cut-and-drag reference video and motion mask (composite backend)
        t0 = time.perf_counter()
        if dual_clock_on and layout is not None:
            ref = build_reference(image, retimed, dilate_px=mask_dilate, seed=generator.initial_seed() if generator else 0,
                                  composite_options=composite_options, composite=composite, progress=progress,
                                  out_size=(out_size or image.shape[1::-1]) if camera else None)
            reference, motion_mask = ref.frames, ref.mask
            if camera:
                image = reference[0]  # window 0 of the picture, at the video's size: what the model starts from
        timings["reference"] = time.perf_counter() - t0

        # 4. Encode prompt and image, set the timesteps, draw diffusers' own starting noise
        t0 = time.perf_counter()
        device = self.pipe._execution_device
        pil = Image.fromarray(image)
        H, W = image.shape[:2]
        latents, state = self.parts.prepare(pil, prompt, negative_prompt, H, W, num_frames, steps, guidance,
                                            guidance_scale_2, generator, device)
        scheduler = self.pipe.scheduler
        timesteps = scheduler.timesteps

        # 5. Dual clock: reference latents, one noise for the whole run, start at step `tweak` from the noised reference
        start, lat_mask, ref_latents, noise = 0, None, None, None
        if dual_clock_on:
            from diffusers.utils.torch_utils import randn_tensor

            ref_latents = self.parts.encode_video(reference, device).to(latents.dtype)
            noise = randn_tensor(ref_latents.shape, generator=generator, device=device, dtype=ref_latents.dtype)
            lat_mask = dual_clock.latent_mask(torch.from_numpy(motion_mask), self.temporal, self.parts.spatial)
            pin_mask = self.parts.mask_layout(lat_mask).to(device)
            latents = dual_clock.start_latents(scheduler, ref_latents, noise, timesteps, tweak).to(latents.dtype)
            start = tweak
        timings["encode"] = time.perf_counter() - t0

        # 6. Denoising loop, from timesteps[start]
        t0 = time.perf_counter()
        calls = 0
        total = len(timesteps) - start
        for i in range(start, len(timesteps)):
            t = timesteps[i]
            latents = self.parts.step(state, latents, i, t)
            calls += 1 + int(state["cfg"] and self.family.kind == "wan")
            if dual_clock_on and dual_clock.pinning(i, tstrong):
                target = dual_clock.pinned_target(scheduler, ref_latents, noise, timesteps, i)
                latents = dual_clock.pin(latents, target, pin_mask)
            if callback_on_step_end is not None:
                out = callback_on_step_end(self, i, t, {"latents": latents}) or {}
                latents = out.pop("latents", latents)
            progress(i - start + 1, total, "denoising")
        timings["denoise"] = time.perf_counter() - t0

        # 7. Decode; frame 0 is the input, as in every backend
        t0 = time.perf_counter()
        video = self.parts.decode(state, latents)  # (F, H, W, 3) float in [0, 1]
        frames = np.clip(np.rint(video * 255.0), 0, 255).astype(np.uint8)
        frames[0] = image
        timings["decode"] = time.perf_counter() - t0
        self.pipe.maybe_free_model_hooks()
        return TTMPipelineOutput(
            frames=frames, reference=reference if dual_clock_on else None,
            masks=motion_mask if dual_clock_on else None, latent_mask=lat_mask, layout=retimed, timings=timings,
            peak_memory=_peak(self.device),
            info={"family": self.family.name, "steps": steps, "tweak_index": tweak if dual_clock_on else 0,
                  "tstrong_index": tstrong if dual_clock_on else 0, "dual_clock": dual_clock_on,
                  "transformer_calls": calls, "guidance": guidance, "num_frames": num_frames,
                  "negative_prompt": negative_prompt, "camera": camera},
        )

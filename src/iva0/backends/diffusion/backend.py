"""IVA0Backend: the diffusion pipeline behind the Backend protocol (`iva0 animate --backend iva0`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iva0.backends.base import ProgressFn, no_progress
from iva0.errors import UserError
from iva0.io.input_file import require_regular_file
from iva0.layout import Layout

DTYPES = {
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float32": "float32", "fp32": "float32", "float": "float32",
}


@dataclass
class IVA0Settings:
    """What the CLI's iva0 options become, validated."""

    model: str | None = None
    base: str | None = None
    gligen: str | None = None
    motion_adapter: str | None = None
    steps: int = 25
    guidance: float = 7.5
    device: str | None = None
    dtype: str | None = None
    offload: bool = False
    mas: bool = True
    inversion: bool = True
    null_text: bool = False
    inversion_iters: int = 0
    motion_init: bool = True
    paste: bool = True
    grounding_steps: float = 0.3
    blend_steps: float = 0.8
    tuned: str | None = None
    # the background plate's cut-outs and fill (iva0.backends.cutouts; None = the composite backend's default)
    segmenter: str | None = None
    segmenter_model: str | None = None
    fill: str | None = None


def _resolve_device(device: str | None):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise UserError(f"--device: unknown device {device!r} (use cuda, cuda:N, cpu or mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS is not available on this machine")
    if dev.type not in ("cuda", "cpu", "mps"):
        raise UserError(f"--device: unsupported device type {dev.type!r} (use cuda, cpu or mps)")
    return dev


def validate_settings(s: IVA0Settings):
    """Check every option before any model is loaded; returns (device, torch dtype)."""
    import torch

    if s.model is None and not (s.base and s.gligen and s.motion_adapter):
        given = [n for n, v in (("--base", s.base), ("--gligen", s.gligen), ("--motion-adapter", s.motion_adapter)) if v]
        extra = f" (only {', '.join(given)} given)" if given else ""
        raise UserError(f"the iva0 backend needs --model DIR, or all of --base, --gligen and --motion-adapter{extra}")
    if isinstance(s.steps, bool) or not isinstance(s.steps, int) or not 1 <= s.steps <= 1000:
        raise UserError(f"--steps must be an integer from 1 to 1000, got {s.steps!r}")
    if not (isinstance(s.guidance, (int, float)) and math.isfinite(s.guidance) and 0 <= s.guidance <= 50):
        raise UserError(f"--guidance must be a number from 0 to 50, got {s.guidance!r}")
    for flag, v in (("--grounding-steps", s.grounding_steps), ("--blend-steps", s.blend_steps)):
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise UserError(f"{flag} must be a share of the steps between 0 and 1, got {v!r}")
    if isinstance(s.inversion_iters, bool) or not isinstance(s.inversion_iters, int) or not 0 <= s.inversion_iters <= 10:
        raise UserError(f"--inversion-iters must be an integer from 0 to 10, got {s.inversion_iters!r}")
    if s.null_text and not s.inversion:
        raise UserError("--null-text needs inversion: drop --no-inversion or --null-text")
    device = _resolve_device(s.device)
    if s.dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    else:
        name = DTYPES.get(str(s.dtype).lower())
        if name is None:
            raise UserError(f"--dtype must be float16, bfloat16 or float32, got {s.dtype!r}")
        dtype = getattr(torch, name)
        if dtype == torch.float16 and device.type == "cpu":
            raise UserError("--dtype float16 needs a GPU; on the CPU use float32 or bfloat16")
    if s.offload and device.type != "cuda":
        raise UserError("--offload moves idle models between the CPU and a CUDA GPU; it needs --device cuda")
    if s.tuned is not None:
        p = require_regular_file(s.tuned, "--tuned: file")  # a folder or a FIFO says so
        if p.suffix != ".safetensors":
            raise UserError(f"--tuned: expected a .safetensors file from `iva0 tune`, got {p.name}")
    return device, dtype


class IVA0Backend:
    name = "iva0"
    max_side = 512
    # SD 1.x was trained at 512 px: past twice that it repeats objects, and the UNet's
    # memory and time grow with the square of the side, so larger sizes are refused up front
    max_supported_side = 1024

    def __init__(self, **options: Any) -> None:
        known = set(IVA0Settings.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(f"unknown iva0 backend option(s): {', '.join(unknown)}")
        paths = ("model", "base", "gligen", "motion_adapter", "tuned", "segmenter_model")
        options = {k: (str(v) if k in paths else v) for k, v in options.items() if v is not None}
        self.settings = IVA0Settings(**options)
        self.device, self.dtype = validate_settings(self.settings)
        self.composite = self._cutouts()
        self.pipe = self._load()
        self.size_multiple = self.pipe.size_multiple
        self.tuned = None
        if self.settings.tuned is not None:
            from iva0.backends.diffusion.tuning import apply_tuned, load_tuned

            self.tuned = load_tuned(self.settings.tuned)
            apply_tuned(self.pipe.unet, self.tuned)

    def check_size(self, width: int, height: int, num_frames: int) -> None:
        """Refuse, before any compute, a size the SD 1.x models cannot serve."""
        if max(width, height) > self.max_supported_side:
            raise UserError(
                f"output too large for the iva0 backend: {width}x{height} px (SD 1.x models serve at most "
                f"{self.max_supported_side} px per side; ask a smaller --width/--height)"
            )

    def _cutouts(self):
        """The composite backend that makes the background plate, checked before the diffusion model loads:
        a bad segmenter or fill, `sam2` with no folder, a broken SAM 2 folder (read here, once)."""
        from dataclasses import asdict

        from iva0.backends.cutouts import cutout_backend
        from iva0.segment import resolve_segmenter

        composite = cutout_backend(asdict(self.settings))
        if resolve_segmenter(composite.config.segmenter, composite.config.segmenter_model)[0] == "sam2":
            composite.segmenter  # noqa: B018 - loads (and so checks) the SAM 2 folder now
        return composite

    def check_layout(self, layout: Layout) -> None:
        """Before any compute: the plate's cut-outs can be made as asked (`--segmenter mask`: every object's mask)."""
        from iva0.backends.composite import check_segmentation

        check_segmentation(layout, self.composite.config)

    def _load(self):
        from iva0.backends.diffusion.pipeline import IVA0Pipeline

        s = self.settings
        pipe = IVA0Pipeline.from_pretrained(
            s.model, base=s.base, gligen=s.gligen, motion_adapter=s.motion_adapter, torch_dtype=self.dtype
        )
        pipe.set_progress_bar_config(disable=True)
        if s.offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        return pipe

    def options(self):
        from iva0.backends.diffusion.pipeline import IVA0Options

        s = self.settings
        return IVA0Options(
            grounding_steps=s.grounding_steps, blend_steps=s.blend_steps, mas=s.mas, inversion=s.inversion,
            null_text=s.null_text, motion_init=s.motion_init, paste=s.paste, inversion_iters=s.inversion_iters,
        )

    def animate(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None) -> np.ndarray:
        import torch

        from iva0.backends import check_camera

        check_camera(layout, self)  # the method keeps the input's pixels in place: no camera motion (README, Camera)
        progress = progress or no_progress
        embeds = None
        if self.tuned is not None:
            embeds = self.tuned.image_embeds
        opts = self.options()
        try:
            self.pipe.check_inputs(image, layout, self.settings.steps, self.settings.guidance, opts, embeds, self.composite)
        except ValueError as e:
            raise UserError(str(e)) from None
        out = self.pipe(
            image, layout, num_inference_steps=self.settings.steps, guidance_scale=self.settings.guidance,
            generator=torch.Generator().manual_seed(seed), options=opts, object_image_embeds=embeds, progress=progress,
            composite=self.composite,
        )
        return out.frames

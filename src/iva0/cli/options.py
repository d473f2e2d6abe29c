"""Options of the iva0 diffusion backend, defined once for `animate` and `bench run`."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from iva0.errors import UserError

Model = Annotated[Optional[Path], typer.Option("--model", help="[iva0] Model folder (diffusers layout) or HF repo id in the local cache.")]
Base = Annotated[Optional[str], typer.Option("--base", help="[iva0] SD1.x base model (folder, .safetensors file or cached repo id).")]
Gligen = Annotated[Optional[str], typer.Option("--gligen", help="[iva0] GLIGEN text-image UNet (folder or cached repo id).")]
MotionAdapter = Annotated[Optional[str], typer.Option("--motion-adapter", help="[iva0] AnimateDiff motion adapter (folder, file or cached repo id).")]
Steps = Annotated[Optional[int], typer.Option("--steps", min=1, max=1000, help="[iva0] Denoising steps (default 25).")]
Guidance = Annotated[Optional[float], typer.Option("--guidance", min=0.0, help="[iva0] Classifier-free guidance scale (default 7.5).")]
Device = Annotated[Optional[str], typer.Option("--device", help="[iva0] cuda, cuda:1, cpu, mps (default: cuda if present; under accelerate launch: cuda:<local rank>).")]
Dtype = Annotated[Optional[str], typer.Option("--dtype", help="[iva0] float16, bfloat16 or float32 (default: float16 on CUDA).")]
Offload = Annotated[bool, typer.Option("--offload", help="[iva0] Offload idle models to the CPU (less GPU memory, slower).")]
NoMas = Annotated[bool, typer.Option("--no-mas", help="[iva0] Turn off Motion Afterimage Suppression.")]
NoInversion = Annotated[bool, typer.Option("--no-inversion", help="[iva0] Start from random noise instead of DDIM inversion.")]
NullText = Annotated[bool, typer.Option("--null-text", help="[iva0] Null-text inversion for closer reconstruction under CFG (slower).")]
InversionIters = Annotated[Optional[int], typer.Option("--inversion-iters", min=0, max=10, help="[iva0] Fixed-point refinements per inversion step (default 0; each adds a UNet call per step).")]
NoMotionInit = Annotated[bool, typer.Option("--no-motion-init", help="[iva0] Turn off motion-aligned initial noise.")]
NoPaste = Annotated[bool, typer.Option("--no-paste", help="[iva0] Do not paste the input's pixels over the kept region.")]
GroundingSteps = Annotated[Optional[float], typer.Option("--grounding-steps", min=0.0, max=1.0, help="[iva0] Share of steps with grounding on (beta, default 0.3).")]
BlendSteps = Annotated[Optional[float], typer.Option("--blend-steps", min=0.0, max=1.0, help="[iva0] Share of steps with the background latent blend (lambda, default 0.8).")]
Tuned = Annotated[Optional[Path], typer.Option("--tuned", help="[iva0] One-shot tuned weights from `iva0 tune`.")]

# the flag behind each option whose name differs from it
_FLAGS = {"mas": "--no-mas", "inversion": "--no-inversion", "motion_init": "--no-motion-init", "paste": "--no-paste"}


def diffusion_options(
    *,
    model: Optional[Path] = None,
    base: Optional[str] = None,
    gligen: Optional[str] = None,
    motion_adapter: Optional[str] = None,
    steps: Optional[int] = None,
    guidance: Optional[float] = None,
    device: Optional[str] = None,
    dtype: Optional[str] = None,
    offload: bool = False,
    no_mas: bool = False,
    no_inversion: bool = False,
    null_text: bool = False,
    inversion_iters: Optional[int] = None,
    no_motion_init: bool = False,
    no_paste: bool = False,
    grounding_steps: Optional[float] = None,
    blend_steps: Optional[float] = None,
    tuned: Optional[Path] = None,
) -> dict[str, Any]:
    """The backend options the user set (the backend's own defaults fill the rest), JSON-friendly."""
    raw = dict(
        model=model, base=base, gligen=gligen, motion_adapter=motion_adapter, steps=steps, guidance=guidance,
        device=device, dtype=dtype, offload=offload or None, mas=False if no_mas else None,
        inversion=False if no_inversion else None, null_text=null_text or None, inversion_iters=inversion_iters,
        motion_init=False if no_motion_init else None, paste=False if no_paste else None,
        grounding_steps=grounding_steps, blend_steps=blend_steps, tuned=tuned,
    )
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in raw.items() if v is not None}


def from_params(params: dict[str, Any]) -> dict[str, Any]:
    """`diffusion_options` of a command whose parameters carry the same names (pass its `locals()`)."""
    names = inspect.signature(diffusion_options).parameters
    return diffusion_options(**{k: params[k] for k in names})


def refuse_diffusion_options(options: dict[str, Any], what: str) -> None:
    """Raise a UserError naming every diffusion-only flag that was given for another backend."""
    used = [_FLAGS.get(k, "--" + k.replace("_", "-")) for k in options]
    if used:
        verb = "applies" if len(used) == 1 else "apply"
        raise UserError(f"{', '.join(used)} only {verb} to {what}")

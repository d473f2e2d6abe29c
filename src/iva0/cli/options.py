"""Options of the iva0 diffusion backend, defined once for `animate` and `bench run`."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from iva0.errors import UserError

FILE_SUFFIXES = {".mp4", ".gif", ".webm", ".mov", ".mkv", ".avi", ".json", ".safetensors", ".png", ".jpg", ".jpeg", ".webp"}


def file_output(raw: str) -> Path:
    """An output path as typed: `name.gif/` (or `name.gif/.`) names a folder, which a file cannot be.

    pathlib drops a trailing slash and a trailing `/.`, so without this `-o name.gif/` silently wrote
    a GIF; refused in one line instead. `-o frames/` (PNG frames) stays a folder. `-o -` is refused too.
    """
    raw = str(raw)
    if raw == "-":  # standard output to most tools; here it would be a PNG-frames folder named `-`
        raise typer.BadParameter("'-' (standard output) is not supported: iva0 writes files; give a name such as out.mp4")
    p = Path(raw)
    trimmed = re.sub(r"(?:[/\\]+\.?)+$", "", raw)  # "x.gif/", "x.gif//", "x.gif/.", "x.gif/./" -> "x.gif" (not "/..")
    if trimmed != raw and trimmed and Path(trimmed).suffix.lower() in FILE_SUFFIXES:
        raise typer.BadParameter(f"{raw!r} ends with a slash{' and a dot' if raw.endswith('.') else ''}, so it names a folder, but {Path(trimmed).suffix!r} is a "
                                 f"file's suffix; for the file write {trimmed!r}")
    return p


Model = Annotated[Optional[Path], typer.Option("--model", help="[iva0, ttm] Model folder (diffusers layout) or HF repo id in the local cache.")]
Base = Annotated[Optional[str], typer.Option("--base", help="[iva0] SD1.x base model (folder, .safetensors file or cached repo id).")]
Gligen = Annotated[Optional[str], typer.Option("--gligen", help="[iva0] GLIGEN text-image UNet (folder or cached repo id).")]
MotionAdapter = Annotated[Optional[str], typer.Option("--motion-adapter", help="[iva0] AnimateDiff motion adapter (folder, file or cached repo id).")]
Steps = Annotated[Optional[int], typer.Option("--steps", min=1, max=1000, help="[iva0, ttm] Denoising steps (default 25 for iva0, 50 for ttm).")]
Guidance = Annotated[Optional[float], typer.Option("--guidance", min=0.0, help="[iva0, ttm] Classifier-free guidance scale (default 7.5 for iva0; ttm: the model's, 5.0 Wan, 3.5 Wan 2.2 A14B, 6.0 CogVideoX).")]
Device = Annotated[Optional[str], typer.Option("--device", help="[iva0, ttm] cuda, cuda:1, cpu, mps (default: cuda if present; under accelerate launch: cuda:<local rank>).")]
Dtype = Annotated[Optional[str], typer.Option("--dtype", help="[iva0, ttm] float16, bfloat16 or float32 (default on CUDA: float16 for iva0, bfloat16 for ttm).")]
Offload = Annotated[bool, typer.Option("--offload", help="[iva0, ttm] Offload idle models to the CPU (less GPU memory, slower).")]
NoMas = Annotated[bool, typer.Option("--no-mas", help="[iva0] Turn off Motion Afterimage Suppression.")]
NoInversion = Annotated[bool, typer.Option("--no-inversion", help="[iva0] Start from random noise instead of DDIM inversion.")]
NullText = Annotated[bool, typer.Option("--null-text", help="[iva0] Null-text inversion for closer reconstruction under CFG (slower).")]
InversionIters = Annotated[Optional[int], typer.Option("--inversion-iters", min=0, max=10, help="[iva0] Fixed-point refinements per inversion step (default 0; each adds a UNet call per step).")]
NoMotionInit = Annotated[bool, typer.Option("--no-motion-init", help="[iva0] Turn off motion-aligned initial noise.")]
NoPaste = Annotated[bool, typer.Option("--no-paste", help="[iva0] Do not paste the input's pixels over the kept region.")]
GroundingSteps = Annotated[Optional[float], typer.Option("--grounding-steps", min=0.0, max=1.0, help="[iva0] Share of steps with grounding on (beta, default 0.3).")]
BlendSteps = Annotated[Optional[float], typer.Option("--blend-steps", min=0.0, max=1.0, help="[iva0] Share of steps with the background latent blend (lambda, default 0.8).")]
Tuned = Annotated[Optional[Path], typer.Option("--tuned", help="[iva0] One-shot tuned weights from `iva0 tune`.")]

SegmenterOpt = Annotated[Optional[str], typer.Option("--segmenter", help="[composite, iva0, ttm] Frame-0 cut-outs (the composite's objects, the iva0 plate, ttm's reference video): auto (default: sam2 when --segmenter-model, IVA0_SAM2_MODEL or a SAM 2 model in the local Hugging Face cache gives one, else grabcut), grabcut (no weights), sam2 (needs a model folder) or mask (every object's layout \"mask\").")]
FillOpt = Annotated[Optional[str], typer.Option("--fill", help="[composite, iva0, ttm] Fill of the hole the objects leave: telea (default, fast), ns, or fsr (OpenCV xphoto; less smear, slower).")]
SegmenterModel = Annotated[Optional[Path], typer.Option("--segmenter-model", help="[composite, iva0, ttm] SAM 2 model folder (transformers layout, safetensors); picks --segmenter sam2 unless another is named.")]


def segment_options(segmenter: Optional[str], segmenter_model: Optional[Path], what: str, applies: bool,
                    fill: Optional[str] = None) -> dict[str, Any]:
    """The cut-out and fill options the user set (every backend's, iva0.backends.cutouts); a UserError when
    they do not apply (`what` names the backends they apply to) or name no segmenter or fill."""
    raw = {"segmenter": segmenter, "segmenter_model": str(segmenter_model) if segmenter_model else None, "fill": fill}
    raw = {k: v for k, v in raw.items() if v is not None}
    if not applies:
        refuse_flags(raw, what, {})
    if fill is not None:
        from iva0.backends.composite.fill import FILLS

        if fill not in FILLS:
            raise UserError(f"--fill must be one of {', '.join(FILLS)}, got {fill!r}")
    if raw:
        from iva0.segment import resolve_segmenter

        resolve_segmenter(raw.get("segmenter"), raw.get("segmenter_model"))  # bad name / missing folder: before any work
    return raw


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


def refuse_flags(options: dict[str, Any], what: str, flags: dict[str, str] = _FLAGS) -> None:
    """Raise a UserError naming the flag of every option set in `options` (given where it does not apply).

    flags: the options whose flag is not `--` + their name (default: the diffusion ones, e.g. mas -> --no-mas).
    """
    used = [flags.get(k, "--" + k.replace("_", "-")) for k in options]
    if used:
        verb = "applies" if len(used) == 1 else "apply"
        raise UserError(f"{', '.join(used)} only {verb} to {what}")


# ---- the ttm backend (Time-to-Move on Wan / CogVideoX); --model, --steps, --guidance, --device, --dtype,
# --offload and --negative-prompt are shared with iva0 ----
Guidance2 = Annotated[Optional[float], typer.Option("--guidance-2", min=0.0, help="[ttm] Guidance of Wan 2.2 I2V-A14B's low-noise expert (default: --guidance).")]
FlowShift = Annotated[Optional[float], typer.Option("--flow-shift", min=0.0, help="[ttm] Wan's flow-matching shift (default: the folder's scheduler config).")]
TweakIndex = Annotated[Optional[int], typer.Option("--tweak-index", min=0, help="[ttm] Step the whole video starts denoising at (default: TTM's 3 of 50 on Wan, 4 of 50 on CogVideoX, with a camera 2 / 3, scaled to --steps).")]
TstrongIndex = Annotated[Optional[int], typer.Option("--tstrong-index", min=0, help="[ttm] Step the pinned region is released at (default: 7 of 50 on Wan, 9 of 50 on CogVideoX, with a camera 5 / 7, scaled).")]
DualClock = Annotated[Optional[bool], typer.Option("--dual-clock/--no-dual-clock", help="[ttm] Time-to-Move's dual clock (on); off = the model's plain image-to-video from noise.")]
KeepBackground = Annotated[Optional[bool], typer.Option("--keep-background/--no-keep-background", help="[ttm] Paste the input's exact pixels outside the objects' boxes (off).")]
MaskDilate = Annotated[Optional[int], typer.Option("--mask-dilate", min=0, max=256, help="[ttm] Grow the objects' motion mask by this many pixels (default 8).")]
OffloadMode = Annotated[Optional[str], typer.Option("--offload-mode", help="[ttm] none, model (= --offload), sequential or group: diffusers' offloading.")]
VaeTiling = Annotated[bool, typer.Option("--vae-tiling", help="[ttm] Decode the video in tiles (less GPU memory).")]
VaeSlicing = Annotated[bool, typer.Option("--vae-slicing", help="[ttm] Decode one video slice at a time.")]

SHARED_WITH_TTM = ("model", "steps", "guidance", "device", "dtype", "offload")
_TTM_FLAGS = {"dual_clock": "--dual-clock/--no-dual-clock", "keep_background": "--keep-background/--no-keep-background",
              "offload": "--offload-mode"}


def ttm_options(
    *,
    guidance_2: Optional[float] = None,
    flow_shift: Optional[float] = None,
    tweak_index: Optional[int] = None,
    tstrong_index: Optional[int] = None,
    dual_clock: Optional[bool] = None,
    keep_background: Optional[bool] = None,
    mask_dilate: Optional[int] = None,
    offload_mode: Optional[str] = None,
    vae_tiling: bool = False,
    vae_slicing: bool = False,
) -> dict[str, Any]:
    """The ttm-only options the user set, JSON-friendly."""
    raw = dict(guidance_2=guidance_2, flow_shift=flow_shift, tweak_index=tweak_index, tstrong_index=tstrong_index,
               dual_clock=dual_clock, keep_background=keep_background, mask_dilate=mask_dilate, offload=offload_mode,
               vae_tiling=vae_tiling or None, vae_slicing=vae_slicing or None)
    return {k: v for k, v in raw.items() if v is not None}


def ttm_from_params(params: dict[str, Any]) -> dict[str, Any]:
    """`ttm_options` of a command's parameters, with its --negative-prompt when given (shared with iva0): the ttm
    backend tells `--negative-prompt ""` (none) from no flag (the layout's, else the family's standard one)."""
    names = inspect.signature(ttm_options).parameters
    options = ttm_options(**{k: params[k] for k in names})
    if params.get("negative_prompt") is not None:
        options["negative_prompt"] = params["negative_prompt"]
    return options


def backend_options(backend: str, diffusion: dict[str, Any], ttm: dict[str, Any], flag: str) -> dict[str, Any]:
    """The options for `backend`, refusing (one UserError) every flag that belongs to another backend.

    flag: "--backend" (animate) or "--method" (bench run), for the messages.
    """
    if backend == "ttm":
        refuse_flags({k: v for k, v in diffusion.items() if k not in SHARED_WITH_TTM}, f"{flag} iva0")
        options = {k: v for k, v in diffusion.items() if k in SHARED_WITH_TTM}
        if options.pop("offload", None):  # iva0's plain --offload = diffusers' model offload
            if ttm.get("offload", "model") != "model":
                raise UserError(f"--offload is --offload-mode model; it contradicts --offload-mode {ttm['offload']}")
            options["offload"] = "model"
        return {**options, **ttm}
    refuse_flags({k: v for k, v in ttm.items() if k != "negative_prompt"}, f"{flag} ttm", _TTM_FLAGS)
    if backend != "iva0":
        refuse_flags({k: v for k, v in diffusion.items() if k in SHARED_WITH_TTM}, f"{flag} iva0 or ttm")  # both take them
        refuse_flags(diffusion, f"{flag} iva0")
    return diffusion

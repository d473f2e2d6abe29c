"""`iva0 animate` and `iva0 demo`."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from iva0.cli import options as opts
from iva0.cli.progress import progress_bar
from iva0.limits import MAX_SEED


DEFAULT_DEMO_OUT = Path("out/demo.mp4")


class BackendName(str, Enum):
    composite = "composite"
    iva0 = "iva0"
    ttm = "ttm"


def run_animate(
    image: Path,
    layout_path: Path,
    out: Path,
    *,
    backend: str = "composite",
    prompt: Optional[str] = None,
    negative_prompt: Optional[str] = None,
    frames: Optional[int] = None,
    fps: Optional[int] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    seed: int = 0,
    overlay: bool = False,
    quiet: bool = False,
    backend_options: Optional[dict] = None,
    parallax: Optional[float] = None,
) -> list[Path]:
    from iva0.layout_zip import unpacked_layout

    with unpacked_layout(layout_path) as layout_file:  # a layout .zip: unpacked into a private folder, removed after
        return _run_animate(image, layout_path, layout_file, out, backend=backend, prompt=prompt,
                            negative_prompt=negative_prompt, frames=frames, fps=fps, width=width, height=height,
                            seed=seed, overlay=overlay, quiet=quiet, backend_options=backend_options, parallax=parallax)


def _run_animate(image: Path, layout_path: Path, layout_file: Path, out: Path, *, backend: str, prompt, negative_prompt,
                 frames, fps, width, height, seed: int, overlay: bool, quiet: bool, backend_options,
                 parallax: Optional[float] = None) -> list[Path]:
    from iva0.animate import animate, check_outputs, save_animation
    from iva0.io.image import read_image
    from iva0.layout import load_layout

    # validate everything before any work, so a mistake costs nothing and writes nothing
    layout = load_layout(layout_file)
    check_outputs(out, overlay=overlay, inputs=[image, layout_path, *layout.mask_files()])  # masks, depth: inputs too
    layout = layout.with_overrides(num_frames=frames, fps=fps, prompt=prompt, negative_prompt=negative_prompt,
                                   parallax=parallax)
    picture = read_image(image)
    segmenter_line = None  # the first progress line: which segmenter cuts the objects out, and how to get SAM 2
    if not quiet and any(o.mask is None for o in layout.objects):
        from iva0.segment import describe_segmenter

        options = backend_options or {}
        segmenter_line = describe_segmenter(options.get("segmenter"), options.get("segmenter_model"))
    with progress_bar(not quiet, first_line=segmenter_line) as progress:
        anim = animate(
            picture, layout, backend, width=width, height=height, seed=seed, progress=progress, **(backend_options or {})
        )
    return save_animation(anim, out, overlay=overlay)


def register(app: typer.Typer) -> None:
    @app.command("animate")
    def animate_cmd(
        image: Path = typer.Argument(..., help="The still picture to animate (PNG, JPEG, WebP, ...)."),
        layout: Path = typer.Option(..., "--layout", "-l", help="Layout JSON: objects and their key boxes (or the page's layout.zip: layout.json + masks/)."),
        out: Path = typer.Option(..., "--out", "-o", parser=opts.file_output, help="Output: .mp4, .gif, or a folder name for PNG frames."),
        backend: BackendName = typer.Option(BackendName.composite, "--backend", "-b", help="composite (no weights, CPU), iva0 (SD1.5 diffusion) or ttm (Time-to-Move on Wan / CogVideoX)."),
        prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="Scene and in-place motion text; overrides the layout's. The composite backend ignores it."),
        negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", help="Overrides the layout's negative prompt (iva0, ttm). ttm without it: the layout's, else Wan's standard one; \"\" = none."),
        frames: Optional[int] = typer.Option(None, "--frames", min=2, max=256, help="Number of frames; overrides the layout's."),
        fps: Optional[int] = typer.Option(None, "--fps", min=1, max=120, help="Frames per second; overrides the layout's."),
        width: Optional[int] = typer.Option(None, "--width", min=16, max=4096, help="Output width (default: the picture's, capped per backend)."),
        height: Optional[int] = typer.Option(None, "--height", min=16, max=4096, help="Output height."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Random seed."),
        overlay: bool = typer.Option(False, "--overlay", help="Also write <out>_overlay.mp4 with the boxes and paths drawn (through the camera's window, with a map of its path)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        # ---- iva0 backend (iva0.cli.options) ----
        model: opts.Model = None,
        base: opts.Base = None,
        gligen: opts.Gligen = None,
        motion_adapter: opts.MotionAdapter = None,
        steps: opts.Steps = None,
        guidance: opts.Guidance = None,
        device: opts.Device = None,
        dtype: opts.Dtype = None,
        offload: opts.Offload = False,
        no_mas: opts.NoMas = False,
        no_inversion: opts.NoInversion = False,
        null_text: opts.NullText = False,
        inversion_iters: opts.InversionIters = None,
        no_motion_init: opts.NoMotionInit = False,
        no_paste: opts.NoPaste = False,
        grounding_steps: opts.GroundingSteps = None,
        blend_steps: opts.BlendSteps = None,
        tuned: opts.Tuned = None,
        # ---- ttm backend (iva0.cli.options) ----
        guidance_2: opts.Guidance2 = None,
        flow_shift: opts.FlowShift = None,
        tweak_index: opts.TweakIndex = None,
        tstrong_index: opts.TstrongIndex = None,
        dual_clock: opts.DualClock = None,
        keep_background: opts.KeepBackground = None,
        mask_dilate: opts.MaskDilate = None,
        offload_mode: opts.OffloadMode = None,
        vae_tiling: opts.VaeTiling = False,
        vae_slicing: opts.VaeSlicing = False,
        # ---- every backend's cut-outs (iva0.cli.options) ----
        segmenter: opts.SegmenterOpt = None,
        segmenter_model: opts.SegmenterModel = None,
        fill: opts.FillOpt = None,
        # ---- the camera's parallax (composite, ttm) ----
        parallax: Optional[float] = typer.Option(None, "--parallax", min=0.0, max=4.0, help="Camera parallax 0..4 (0 = off): near pixels move more than far ones as the window moves; overrides the layout camera's \"parallax\"."),
        depth_model: Optional[Path] = typer.Option(None, "--depth-model", help="A local Depth Anything V2 folder (transformers, safetensors) for the parallax's depth when the layout's camera names no \"depth\" file."),
    ) -> None:
        """Animate IMAGE: each object in the layout travels along its key boxes."""
        # the command's own parameters, picked by name (their definitions live in cli/options.py)
        params = locals()
        options = opts.backend_options(backend.value, opts.from_params(params), opts.ttm_from_params(params), "--backend")
        options.update(opts.segment_options(segmenter, segmenter_model, "every backend", True, fill))
        if depth_model is not None:
            if backend == BackendName.iva0:
                from iva0.errors import UserError

                raise UserError("--depth-model: the iva0 backend has no camera motion, so no parallax; use "
                                "--backend composite or ttm")
            from iva0.depth_model import check_depth_model

            check_depth_model(depth_model)  # given, so checked, even where this layout needs no depth (a typo shows)
            options["depth_model"] = str(depth_model)
        written = run_animate(
            image, layout, out, backend=backend.value, prompt=prompt, negative_prompt=negative_prompt, frames=frames,
            fps=fps, width=width, height=height, seed=seed, overlay=overlay, quiet=quiet, backend_options=options,
            parallax=parallax,
        )
        for p in written[1:]:
            print(p)
        print(written[0])

    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(DEFAULT_DEMO_OUT, "--out", "-o", parser=opts.file_output, help="Where to write the demo video."),
        sample: Optional[str] = typer.Option(None, "--sample", help="Which shipped sample (see `iva0 samples`)."),
    ) -> None:
        """Animate a sample photo that ships with iva0 (composite backend); prints the MP4's path last."""
        from iva0.samples import default_sample, get_sample

        s = get_sample(sample) if sample else default_sample()
        if out == DEFAULT_DEMO_OUT:
            out.parent.mkdir(parents=True, exist_ok=True)  # only our own default folder is created
        written = run_animate(s.image, s.layout, out, overlay=True)
        print(f"sample: {s.name} ({s.description})", file=sys.stderr)
        for p in written[1:]:
            print(p)
        print(written[0].resolve())

    @app.command("samples")
    def samples_cmd() -> None:
        """List the sample pictures and layouts that ship with iva0."""
        from iva0.samples import list_samples

        for s in list_samples():
            print(f"{s.name:14s} {s.image}  {s.layout}  {s.description}")

    @app.command("preview")
    def preview_cmd(
        image: Path = typer.Argument(..., help="The still picture."),
        layout: Path = typer.Option(..., "--layout", "-l", help="Layout JSON to check (or the page's layout.zip)."),
        out: Path = typer.Option(..., "--out", "-o", parser=opts.file_output, help="Output: .mp4, .gif, or a folder name for PNG frames."),
        frames: Optional[int] = typer.Option(None, "--frames", min=2, max=256, help="Number of frames; overrides the layout's."),
        width: Optional[int] = typer.Option(None, "--width", min=16, max=4096, help="Output width (default: the picture's, longer side capped at 1024)."),
    ) -> None:
        """Check a layout before a long run: its boxes and paths (and the camera's window) drawn over the still picture, in seconds."""
        import numpy as np

        from iva0.io.image import fit_size, read_image, resize_image
        from iva0.layout_overlay import draw_preview
        from iva0.io.video import check_output_path, write_video
        from iva0.layout import load_layout
        from iva0.limits import check_frame_memory

        from iva0.layout_zip import unpacked_layout

        with unpacked_layout(layout) as layout_file:  # a layout .zip: unpacked into a private folder, removed after
            lay = load_layout(layout_file)
            check_output_path(out, inputs=[image, layout, *lay.mask_files()])  # the masks it names are inputs too
            lay = lay.with_overrides(num_frames=frames)
            picture = read_image(image)
            w, h = fit_size(picture.shape[1], picture.shape[0], width, None, max_side=1024)
            check_frame_memory(lay.num_frames, w, h)
            still = np.repeat(resize_image(picture, w, h)[None], lay.num_frames, axis=0)  # (F, H, W, 3)
            print(write_video(draw_preview(still, lay), out, lay.fps))

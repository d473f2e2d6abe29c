"""Speed and memory of the ttm pipeline against diffusers' own image-to-video pipeline, in one run.

Both run in the same process on the same components (one diffusers pipeline
object: random weights built in memory from the real configs, or a model
folder), same size, frames, steps and guidance. ttm's time includes
everything it adds: stage 1 (the composite's cut-and-drag video and its
mask) and the VAE encoding of the reference; it skips the first `tweak`
denoising steps, so the goal is a time ratio <= 1.0.

    python benchmarks/ttm_speed.py --tiny --family wan21           # CPU smoke run, tiny models
    python benchmarks/ttm_speed.py --full-size --family wan22-ti2v --offload model --json ti2v.json
    python benchmarks/ttm_speed.py --model /models/Wan2.1-I2V-14B-480P-Diffusers --steps 40

Printed: wall time and peak memory of each (CUDA: max_memory_allocated;
CPU: the process's peak RSS, which only grows, so the second figure is an
upper bound), per-stage times of ttm, seconds per denoising step of each
(from callback_on_step_end time stamps, the device synchronised), and the
ratios. With few steps TTM's tweak index scales to 0 (no step skipped): then
only the per-step ratio can be <= 1. `--json FILE` saves the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from iva0.bench.device_clock import peak_gb, reset_peak, sync


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", default="wan22-ti2v", choices=["wan21", "wan22-a14b", "wan22-ti2v", "cogvideox"])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tiny", action="store_true", help="tiny random models (CPU smoke run); the default")
    size.add_argument("--full-size", action="store_true", help="the real architectures' sizes, random weights")
    size.add_argument("--model", default=None, help="a model folder instead of random weights (its family is read)")
    p.add_argument("--height", type=int, default=None, help="default: the family's native size (tiny: 32)")
    p.add_argument("--width", type=int, default=None, help="default: the family's native size (tiny: 48 or 64)")
    p.add_argument("--frames", type=int, default=None, help="default: the family's native length (tiny: 9)")
    p.add_argument("--steps", type=int, default=None, help="default 50 (tiny: 4)")
    p.add_argument("--guidance", type=float, default=None, help="default: the family's")
    p.add_argument("--tweak-index", type=int, default=None, help="default: TTM's, scaled to --steps (0 below 9 steps)")
    p.add_argument("--tstrong-index", type=int, default=None, help="default: TTM's, scaled to --steps")
    p.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    p.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default bfloat16 on CUDA)")
    p.add_argument("--offload", default="none", choices=["none", "model", "sequential", "group"])
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--no-warmup", action="store_true", help="skip the 1-step warm-up of each pipeline")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def scene(height: int, width: int, frames: int, fps: int):
    """The astronaut picture and a layout that walks her across, lasting exactly `frames` at `fps`."""
    from skimage import data

    from iva0.io.image import resize_image
    from iva0.layout import make_layout

    image = resize_image(data.astronaut(), width, height)
    layout = make_layout([("astronaut", [(0, (0.05, 0.1, 0.55, 0.95)), (frames - 1, (0.35, 0.1, 0.85, 0.95))])],
                         num_frames=frames, fps=fps, prompt="an astronaut walking")
    return image, layout


def main(argv=None) -> int:
    args = parse_args(argv)
    from PIL import Image

    from iva0.backends.ttm import dual_clock
    from iva0.backends.ttm.families import FAMILIES
    from iva0.backends.ttm.loading import check_offload, load_pipeline, pick_device, pick_dtype
    from iva0.backends.ttm.pipeline import TTMPipeline

    full = args.full_size
    tiny = not full and args.model is None
    if tiny:
        torch.set_num_threads(1)  # tiny models are dominated by thread hand-offs on a busy CPU
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    check_offload(args.offload, device)
    t0 = time.perf_counter()
    if args.model:
        pipe, family, _, _, _ = load_pipeline(args.model, dtype=args.dtype, device=args.device, offload=args.offload,
                                              vae_tiling=args.vae_tiling)
    else:
        from iva0.backends.diffusion.loading import quiet_libraries
        from iva0.backends.ttm.tiny import build_pipeline

        family = FAMILIES[args.family]
        # made on the device (seconds, not minutes); with offloading each part then moves to the CPU at once
        with quiet_libraries():  # Wan 2.2's VAE configs carry a key diffusers 0.42 ignores, with a warning
            pipe = build_pipeline(family.name, full, dtype=dtype, device=device,
                                  place="cpu" if args.offload != "none" else device)
        pipe.set_progress_bar_config(disable=True)
        if args.vae_tiling:
            pipe.vae.enable_tiling()
        if args.offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif args.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        elif args.offload == "group":
            pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"), offload_type="leaf_level")
        else:
            pipe.to(device)
    build_s = time.perf_counter() - t0
    ttm = TTMPipeline(pipe, family, device=device)
    nh, nw = ttm.native_size()
    if tiny:
        nh, nw = (nh, nw) if family.kind == "cogvideox" else (32, 64 if family.name == "wan22-ti2v" else 48)
    height, width = args.height or nh, args.width or nw
    frames = args.frames or (9 if tiny else family.num_frames)
    steps = args.steps or (4 if tiny else 50)
    guidance = family.guidance if args.guidance is None else args.guidance
    # the backend's own rule: a late --tweak-index drags tstrong past it, so a pinned step survives
    tweak, tstrong = dual_clock.resolve_indices(*family.indices50(False), steps, args.tweak_index, args.tstrong_index)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    what = args.model or f"{'tiny' if tiny else 'full-size'} random {family.name}"
    print(f"device: {card}; {what}, {str(dtype).removeprefix('torch.')}; {width}x{height}, {frames} frames, "
          f"{steps} steps (ttm from {tweak}, pinned to {tstrong}), guidance {guidance}, offload {args.offload}; "
          f"built in {build_s:.1f} s", file=sys.stderr)
    image, layout = scene(height, width, frames, family.fps)

    stamps: list[float] = []

    def stamp(*_args):
        # after each denoising step: per-step cost, free of the fixed costs (stage 1, encoders, decode)
        sync(device)
        stamps.append(time.perf_counter())
        return {}

    def per_step(loop_start: float) -> float:
        """Seconds per denoising step: between the first and the last step's end (the loop's start if one step)."""
        if len(stamps) > 1:
            return (stamps[-1] - stamps[0]) / (len(stamps) - 1)
        return stamps[-1] - loop_start

    def run_ttm(n):
        t, s = (tweak, tstrong) if n == steps else ttm.default_indices(n)
        return ttm(image, layout, prompt=layout.prompt, num_inference_steps=n, tweak_index=t, tstrong_index=s,
                   guidance_scale=guidance, generator=torch.Generator().manual_seed(0), callback_on_step_end=stamp)

    def run_base(n):
        return pipe(image=Image.fromarray(image), prompt=layout.prompt, height=height, width=width, num_frames=frames,
                    num_inference_steps=n, guidance_scale=guidance, output_type="np",
                    generator=torch.Generator().manual_seed(0), callback_on_step_end=stamp)

    results = {"device": card, "model": what, "family": family.name, "dtype": str(dtype).removeprefix("torch."),
               "height": height, "width": width, "frames": frames, "steps": steps, "guidance": guidance,
               "tweak_index": tweak, "tstrong_index": tstrong, "offload": args.offload, "build_s": round(build_s, 2)}
    if not args.no_warmup:
        run_ttm(1)  # kernels, allocator; ttm with 1 step runs 1 step
    reset_peak(device)
    sync(device)
    t = time.perf_counter()
    stamps.clear()
    out = run_ttm(steps)
    sync(device)
    results["ttm_s"] = time.perf_counter() - t
    # the loop's start: the end of the encode stage (stage 1 and the encoders come before it)
    loop_start = t + out.timings["reference"] + out.timings["encode"]
    results["ttm_step_s"] = per_step(loop_start)
    results["ttm_peak_gb"] = peak_gb(device, cpu_rss=True)
    results["ttm_stages_s"] = {k: round(v, 3) for k, v in out.timings.items()}
    results["ttm_transformer_calls"] = out.info["transformer_calls"]
    if not args.skip_baseline:
        if not args.no_warmup:
            run_base(1)
        reset_peak(device)
        sync(device)
        t = time.perf_counter()
        stamps.clear()
        run_base(steps)
        sync(device)
        results["diffusers_s"] = time.perf_counter() - t
        if len(stamps) > 1:  # diffusers does not say when its loop starts: steps 2.. only
            results["diffusers_step_s"] = per_step(0.0)
            results["step_ratio"] = results["ttm_step_s"] / results["diffusers_step_s"]
        results["diffusers_peak_gb"] = peak_gb(device, cpu_rss=True)
        results["time_ratio"] = results["ttm_s"] / results["diffusers_s"]
        results["peak_ratio"] = results["ttm_peak_gb"] / results["diffusers_peak_gb"]
    mem = "peak GPU" if device.type == "cuda" else "process peak RSS"
    print(f"ttm ({family.name}, stage 1 included): {results['ttm_s']:.2f} s, {mem} {results['ttm_peak_gb']:.2f} GB; "
          f"stages {results['ttm_stages_s']}")
    if not args.skip_baseline:
        print(f"{family.pipeline_class}: {results['diffusers_s']:.2f} s, {mem} {results['diffusers_peak_gb']:.2f} GB")
        print(f"ratio ttm / diffusers: time {results['time_ratio']:.3f}, peak memory {results['peak_ratio']:.3f}"
              + (f", per step {results['step_ratio']:.3f}" if "step_ratio" in results else ""))
    if tweak == 0:
        print(f"note: tweak index 0 at {steps} steps: ttm skips no step here, so its fixed costs (stage 1, the "
              f"reference's VAE encode) are not paid back; TTM's 3 of 50 skips 6% of a 50-step run", file=sys.stderr)
    if args.json:
        from iva0.io.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed and memory of the iva0 diffusion pipeline against diffusers' plain AnimateDiffPipeline.

Both run in the same process on the same random-weight models (full size: the
real SD1.5 + GLIGEN text-image + AnimateDiff v1-5-3 architectures), same
resolution, frames, steps and classifier-free guidance. iva0's time includes
everything it adds: CLIP image embeddings, the background plate, DDIM
inversion of the input and the plate, grounding, MAS, the blend and the paste.

    python benchmarks/diffusion_speed.py                 # GPU: 512x512, 16 frames, 25 steps, CFG 7.5
    python benchmarks/diffusion_speed.py --offload       # + model CPU offload (peak GPU memory)
    python benchmarks/diffusion_speed.py --tiny          # CPU smoke run: tiny models, 128x128

Printed: wall time and peak GPU memory of each, their ratios (goals: time
<= 1.25, peak <= 12 GB, <= 8 GB with --offload), and the UNet loop's achieved
TFLOP/s (FLOPs of one guided UNet call counted with torch.utils.flop_counter,
times the steps, over the measured denoising time). `--json FILE` saves them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from iva0.bench.device_clock import peak_gb, reset_peak, sync


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny random models (CPU smoke run) instead of full size")
    p.add_argument("--size", type=int, default=None, help="image side (default 512, or 128 with --tiny)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    p.add_argument("--dtype", default=None, help="float16 | bfloat16 | float32 (default float16 on CUDA)")
    p.add_argument("--offload", action="store_true", help="model CPU offload for both pipelines")
    p.add_argument("--null-text", action="store_true", help="include null-text inversion in iva0's time")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def scene(size: int, frames: int):
    from skimage import data

    from iva0.io.image import resize_image
    from iva0.layout import make_layout

    image = resize_image(data.astronaut(), size, size)
    layout = make_layout(
        [("astronaut", [(0, (0.05, 0.1, 0.55, 0.95)), (frames - 1, (0.35, 0.1, 0.85, 0.95))]),
         ("rocket", [(0, (0.65, 0.05, 0.95, 0.6)), (frames - 1, (0.65, 0.0, 0.95, 0.45))])],
        num_frames=frames, prompt="an astronaut walking, a rocket lifting off",
    )
    return image, layout


def unet_call_flops(unet, latents, text) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unet(latents, 500, encoder_hidden_states=text)
    return counter.get_total_flops()


def main(argv=None) -> int:
    args = parse_args(argv)
    from diffusers import AnimateDiffPipeline
    from diffusers.models.attention_processor import AttnProcessor2_0

    from iva0.backends.diffusion.attention import motion_attention_modules
    from iva0.backends.diffusion.pipeline import IVA0Options, IVA0Pipeline
    from iva0.backends.diffusion.tiny import build_components

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.float16 if device.type == "cuda" else torch.float32)
    size = args.size or (128 if args.tiny else 512)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {card}; {'tiny' if args.tiny else 'full-size'} random weights, {dtype}; "
          f"{size}x{size}, {args.frames} frames, {args.steps} steps, guidance {args.guidance}"
          f"{', offload' if args.offload else ''}", file=sys.stderr)

    t0 = time.perf_counter()
    comps = build_components(full_size=not args.tiny)  # fp32 on the CPU, then cast once
    comps.to(dtype=dtype)
    print(f"built models in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in comps.num_parameters().items()), file=sys.stderr)

    iva0 = IVA0Pipeline.from_components(comps)
    iva0.set_progress_bar_config(disable=True)
    base = AnimateDiffPipeline(vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer,
                               unet=comps.unet, motion_adapter=None, scheduler=comps.scheduler)
    base.set_progress_bar_config(disable=True)

    def place(p):
        # one pipeline at a time holds offload hooks: both share the same modules
        if args.offload:
            p.enable_model_cpu_offload(device=device)
        else:
            p.to(device)

    def release(p):
        if args.offload:
            p.remove_all_hooks()
            for m in comps.modules().values():
                torch.nn.Module.to(m, device="cpu")

    image, layout = scene(size, args.frames)
    opts = IVA0Options(null_text=args.null_text)

    def run_iva0(steps):
        return iva0(image, layout, num_inference_steps=steps, guidance_scale=args.guidance,
                    generator=torch.Generator().manual_seed(0), options=opts)

    def run_base(steps):
        for m in motion_attention_modules(base.unet):  # diffusers' own temporal attention
            m.set_processor(AttnProcessor2_0())
        return base(prompt=layout.prompt, num_frames=args.frames, height=size, width=size,
                    num_inference_steps=steps, guidance_scale=args.guidance, output_type="np",
                    generator=torch.Generator().manual_seed(0), decode_chunk_size=8)

    results = {"device": card, "dtype": str(dtype).replace("torch.", ""), "size": size, "frames": args.frames,
               "steps": args.steps, "guidance": args.guidance, "offload": args.offload, "tiny": args.tiny}
    # each pipeline: placed, warmed up (kernels, allocator), then measured
    place(iva0)
    run_iva0(2)
    reset_peak(device)
    sync(device)
    t = time.perf_counter()
    out = run_iva0(args.steps)
    sync(device)
    results["iva0_s"] = time.perf_counter() - t
    results["iva0_peak_gb"] = peak_gb(device)
    results["iva0_stages_s"] = {k: round(v, 3) for k, v in out.info["seconds"].items()}
    release(iva0)

    if not args.skip_baseline:
        place(base)
        run_base(2)
        reset_peak(device)
        sync(device)
        t = time.perf_counter()
        run_base(args.steps)
        sync(device)
        results["animatediff_s"] = time.perf_counter() - t
        results["animatediff_peak_gb"] = peak_gb(device)
        release(base)
        results["time_ratio"] = results["iva0_s"] / results["animatediff_s"]
        if device.type == "cuda":
            results["peak_ratio"] = results["iva0_peak_gb"] / results["animatediff_peak_gb"]

    # achieved TFLOP/s of iva0's UNet loop: one guided call = 2 x frames
    h = w = size // iva0.vae_scale_factor
    exec_dev = device
    torch.nn.Module.to(comps.unet, device=device)
    lat = torch.randn(2, comps.unet.config.in_channels, args.frames, h, w, device=exec_dev, dtype=dtype)
    txt = torch.randn(2 * args.frames, comps.tokenizer.model_max_length, comps.text_encoder.config.hidden_size,
                      device=exec_dev, dtype=dtype)
    flops = unet_call_flops(iva0.unet, lat, txt)
    results["unet_call_tflop"] = flops / 1e12
    results["unet_loop_tflops_per_s"] = flops * args.steps / results["iva0_stages_s"]["denoise"] / 1e12

    print(f"iva0 (inversion included): {results['iva0_s']:.2f} s, peak GPU {results['iva0_peak_gb']:.2f} GB; "
          f"stages {results['iva0_stages_s']}")
    if not args.skip_baseline:
        print(f"AnimateDiffPipeline:       {results['animatediff_s']:.2f} s, peak GPU {results['animatediff_peak_gb']:.2f} GB")
        line = f"ratio iva0 / AnimateDiff:  time {results['time_ratio']:.3f}"
        if "peak_ratio" in results:
            line += f", peak memory {results['peak_ratio']:.3f}"
        print(line)
    print(f"UNet loop: {results['unet_call_tflop']:.3f} TFLOP per guided call, "
          f"{results['unet_loop_tflops_per_s']:.3f} TFLOP/s achieved")
    if args.json:
        from iva0.io.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

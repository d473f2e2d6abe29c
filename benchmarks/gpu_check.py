"""The full-size GPU check of the diffusion backends (issue 12), as one run that fits a short device lease.

    bash benchmarks/gpu_check.sh                 # on the GPU machine (installs carried wheels, then this)
    python benchmarks/gpu_check.py --tiny        # the same sections on tiny models: a CPU smoke run

Sections, each timed and written to `<out>/gpu_check.json` as soon as it ends,
so that a run cut short by its time limit keeps everything it measured:

    env           card, driver, library versions
    build         full-size random-weight models (the real SD1.5 + GLIGEN text-image + AnimateDiff
                  v1-5-3 architectures), built on the device
    speed:<dtype> iva0 vs diffusers' AnimateDiffPipeline on the same UNet and settings (512x512,
                  16 frames, 25 steps, CFG 7.5), warm-up excluded, median of --repeats; per-stage
                  times; peak memory; UNet TFLOP/s and model FLOP utilisation; no NaN/Inf anywhere
                  (latents after every step, the inversion trajectory, the decoded frames)
    fp32_diff     fp16 vs fp32 final latents on one small case (same weights, same seed)
    offload       peak memory of both pipelines with model CPU offload (fp16)
    null_text     time of iva0 with null-text inversion (fp16)
    ttm           benchmarks/ttm_speed.py: Wan2.2-TI2V-5B at full size, 704x1280x121, ttm vs diffusers'
                  WanImageToVideoPipeline (time, peak memory)
    ttm_offload   the same with model CPU offload and VAE tiling: peak memory (goal: within 24 GB)

A section that would not fit the remaining --budget-s is skipped and says so.
Nothing here is a hard-coded figure: every number is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diffusion_speed as ds  # noqa: E402  (the scene and FLOP counting)

from iva0.bench import device_clock  # noqa: E402

# dense (no sparsity) fp16/bf16 tensor-core peaks, TFLOP/s, from NVIDIA's data sheets
PEAK_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0,
               "A100": 312.0, "L40S": 362.1, "RTX 4090": 165.2}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny random models, small sizes (CPU smoke run)")
    p.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu_check", help="folder for gpu_check.json")
    p.add_argument("--budget-s", type=float, default=470.0, help="stop starting sections after this many seconds")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per pipeline (default 3, 1 with --tiny)")
    p.add_argument("--size", type=int, default=None, help="image side (default 512, 64 with --tiny)")
    p.add_argument("--frames", type=int, default=None, help="default 16, 8 with --tiny")
    p.add_argument("--steps", type=int, default=None, help="default 25, 3 with --tiny")
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--sections", default="env,build,speed:float16,fp32_diff,speed:bfloat16,offload,null_text,ttm,ttm_offload",
                   help="comma-separated, in order")
    p.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    return p.parse_args(argv)


def peak_tflops(card: str) -> float | None:
    for key, v in PEAK_TFLOPS.items():
        if key in card:
            return v
    return None


def finite(x) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x.float()).all())
    import numpy as np

    return bool(np.isfinite(np.asarray(x, dtype=np.float64)).all())


class Check:
    """Shared state of one run: models, scene, settings, the results file."""

    def __init__(self, args):
        self.args = args
        self.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.card = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        self.size = args.size or (64 if args.tiny else 512)
        self.steps = args.steps or (3 if args.tiny else 25)
        self.repeats = args.repeats or (1 if args.tiny else 3)
        self.frames = args.frames or (8 if args.tiny else 16)
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.results: dict = {"sections": {}, "settings": {
            "tiny": args.tiny, "size": self.size, "frames": self.frames, "steps": self.steps,
            "guidance": args.guidance, "repeats": self.repeats, "device": self.card}}
        self.t_start = time.perf_counter()
        self.comps = None
        self.image, self.layout = ds.scene(self.size, self.frames)

    # ---------------------------------------------------------------- bookkeeping
    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.t_start)

    def save(self) -> None:
        from iva0.io.atomic import atomic_write_text

        self.results["elapsed_s"] = round(time.perf_counter() - self.t_start, 1)
        atomic_write_text(self.out / "gpu_check.json", json.dumps(self.results, indent=2, default=str) + "\n")

    def sync(self):
        device_clock.sync(self.device)

    # ---------------------------------------------------------------- pipelines
    def pipelines(self, dtype):
        from diffusers import AnimateDiffPipeline

        from iva0.backends.diffusion.pipeline import IVA0Pipeline

        self.comps.to(device=self.device, dtype=dtype)
        iva0 = IVA0Pipeline.from_components(self.comps)
        iva0.set_progress_bar_config(disable=True)
        c = self.comps
        base = AnimateDiffPipeline(vae=c.vae, text_encoder=c.text_encoder, tokenizer=c.tokenizer, unet=c.unet,
                                   motion_adapter=None, scheduler=c.scheduler)
        base.set_progress_bar_config(disable=True)
        return iva0, base

    def run_iva0(self, iva0, steps, watch: list | None = None, **options):
        from iva0.backends.diffusion.pipeline import IVA0Options

        def on_step(pipe, i, t, tensors):
            watch.append((i, finite(tensors["latents"])))
            return None

        return iva0(self.image, self.layout, num_inference_steps=steps, guidance_scale=self.args.guidance,
                    generator=torch.Generator().manual_seed(0), options=IVA0Options(**options),
                    callback_on_step_end=on_step if watch is not None else None)

    def run_base(self, base, steps):
        from diffusers.models.attention_processor import AttnProcessor2_0

        from iva0.backends.diffusion.attention import motion_attention_modules

        for m in motion_attention_modules(base.unet):  # diffusers' own temporal attention
            m.set_processor(AttnProcessor2_0())
        return base(prompt=self.layout.prompt, num_frames=self.frames, height=self.size, width=self.size,
                    num_inference_steps=steps, guidance_scale=self.args.guidance, output_type="np",
                    generator=torch.Generator().manual_seed(0), decode_chunk_size=8)  # decoded, as iva0 is

    def timed(self, fn):
        """(result, seconds, peak GPU GB or None on a CPU)."""
        device_clock.reset_peak(self.device)
        self.sync()
        t = time.perf_counter()
        out = fn()
        self.sync()
        return out, time.perf_counter() - t, device_clock.peak_gb(self.device) if self.device.type == "cuda" else None

    # ---------------------------------------------------------------- sections
    def env(self):
        import diffusers
        import transformers

        r = {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
             "transformers": transformers.__version__, "card": self.card, "peak_tflops_dense_16bit": peak_tflops(self.card)}
        if self.device.type == "cuda":
            p = torch.cuda.get_device_properties(self.device)
            r.update(cuda=torch.version.cuda, memory_gb=round(p.total_memory / 1e9, 1), sms=p.multi_processor_count)
            try:
                r["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                             capture_output=True, text=True, timeout=20).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                pass
        return r

    def build(self):
        from iva0.backends.diffusion.tiny import build_components

        t = time.perf_counter()
        # random init on the device itself: seconds instead of a minute of CPU init for 2.3 B parameters
        with torch.device(self.device):
            self.comps = build_components(full_size=not self.args.tiny)
        self.sync()
        return {"seconds": round(time.perf_counter() - t, 1),
                "parameters_m": {k: round(v / 1e6, 1) for k, v in self.comps.num_parameters().items()}}

    def speed(self, dtype_name: str):
        dtype = getattr(torch, dtype_name)
        iva0, base = self.pipelines(dtype)
        watch: list = []
        # warm-up: kernels, allocator, cuDNN/cuBLAS heuristics
        self.run_iva0(iva0, 2)
        self.run_base(base, 2)
        runs_i, runs_b, stages, peaks_i, peaks_b, final_ok = [], [], [], [], [], []
        for _ in range(self.repeats):  # interleaved, so drift in clocks hits both alike
            out, s, pk = self.timed(lambda: self.run_iva0(iva0, self.steps))
            runs_i.append(s), peaks_i.append(pk), stages.append(out.info["seconds"])
            final_ok.append(finite(out.latents) and all(finite(z) for z in out.trajectory) and finite(out.frames))
            base_out, s, pk = self.timed(lambda: self.run_base(base, self.steps))
            runs_b.append(s), peaks_b.append(pk)
            final_ok.append(finite(base_out.frames))
        # numerics: every step's latents, once, outside the timed runs (the checks synchronise)
        out = self.run_iva0(iva0, self.steps, watch=watch)
        bad_steps = [i for i, ok in watch if not ok]
        r = {
            "iva0_s": statistics.median(runs_i), "animatediff_s": statistics.median(runs_b),
            "iva0_runs_s": runs_i, "animatediff_runs_s": runs_b,
            "iva0_stages_s": {k: statistics.median(st[k] for st in stages) for k in stages[0]},
            "iva0_peak_gb": peaks_i[0] if None in peaks_i else max(peaks_i),
            "animatediff_peak_gb": peaks_b[0] if None in peaks_b else max(peaks_b),
            "all_finite": all(final_ok) and not bad_steps and finite(out.frames),
            "nonfinite_steps": bad_steps,
        }
        r["time_ratio"] = r["iva0_s"] / r["animatediff_s"]
        # UNet throughput: FLOPs of one guided call, times the steps, over the measured denoise stage
        h = w = self.size // iva0.vae_scale_factor
        lat = torch.randn(2, self.comps.unet.config.in_channels, self.frames, h, w, device=self.device, dtype=dtype)
        txt = torch.randn(2 * self.frames, self.comps.tokenizer.model_max_length,
                          self.comps.text_encoder.config.hidden_size, device=self.device, dtype=dtype)
        flops = ds.unet_call_flops(iva0.unet, lat, txt)  # the UNet as loaded (MAS only masks the temporal scores)
        r["unet_call_tflop"] = flops / 1e12
        r["unet_tflops_per_s"] = flops * self.steps / r["iva0_stages_s"]["denoise"] / 1e12
        pk = peak_tflops(self.card)
        r["unet_mfu"] = r["unet_tflops_per_s"] / pk if pk else None
        return r

    def fp32_diff(self):
        """fp16 vs fp32 on one small case: the fp16 weights cast up exactly, same seed, same scene."""
        size, frames, steps = (64, 4, 3) if self.args.tiny else (256, 8, 10)
        image, layout = ds.scene(size, frames)
        lat = {}
        for dt in (torch.float16, torch.float32):
            iva0, _ = self.pipelines(dt)
            out = iva0(image, layout, num_inference_steps=steps, guidance_scale=self.args.guidance,
                       generator=torch.Generator().manual_seed(0))
            lat[dt] = out.latents.float()
        d = (lat[torch.float16] - lat[torch.float32]).abs()
        return {"size": size, "frames": frames, "steps": steps, "max_abs": float(d.max()),
                "mean_abs": float(d.mean()), "relative_l2": float(d.norm() / lat[torch.float32].norm()),
                "fp32_latent_std": float(lat[torch.float32].std()), "fp16_finite": finite(lat[torch.float16])}

    def offload(self):
        if self.device.type != "cuda":
            return {"skipped": "model CPU offload needs a CUDA device"}
        iva0, base = self.pipelines(torch.float16)
        r = {}
        for name, pipe, run in (("iva0", iva0, lambda: self.run_iva0(iva0, self.steps)),
                                ("animatediff", base, lambda: self.run_base(base, self.steps))):
            pipe.enable_model_cpu_offload(device=self.device)
            run_out, s, pk = self.timed(run)
            r[f"{name}_s"], r[f"{name}_peak_gb"] = s, pk
            pipe.remove_all_hooks()  # one pipeline at a time holds hooks: both share the modules
            self.comps.to(device=self.device)
        return r

    def null_text(self):
        iva0, _ = self.pipelines(torch.float16 if self.device.type == "cuda" else torch.float32)
        try:
            out, s, pk = self.timed(lambda: self.run_iva0(iva0, self.steps, null_text=True))
        except ValueError as e:  # the pipeline may refuse a precision for it: that is a finding too
            return {"refused": str(e)}
        return {"iva0_null_text_s": s, "peak_gb": pk, "stages_s": out.info["seconds"], "all_finite": finite(out.frames)}

    def ttm(self, offload: str = "none"):
        """benchmarks/ttm_speed.py in its own process (the 5 B video model replaces the SD models in memory)."""
        script = Path(__file__).with_name("ttm_speed.py")
        if not script.exists():
            return {"skipped": "benchmarks/ttm_speed.py is not in this checkout (the ttm backend has not landed)"}
        self.comps = None  # free the SD models for the video model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        json_path = self.out / f"ttm_speed_{offload}.json"
        cmd = [sys.executable, str(script), "--json", str(json_path), "--offload", offload, "--device", str(self.device)]
        if self.args.tiny:
            cmd += ["--tiny", "--family", "wan22-ti2v"]
        else:  # Wan2.2-TI2V-5B at its native 704x1280x121, a few steps: the per-step cost is what matters
            cmd += ["--family", "wan22-ti2v", "--full-size", "--height", "704", "--width", "1280", "--frames", "121",
                    "--steps", "5" if offload == "none" else "2"]
            if offload != "none":
                cmd += ["--skip-baseline", "--no-warmup", "--vae-tiling"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=max(30, self.left()))
        except subprocess.TimeoutExpired as e:
            return {"command": " ".join(cmd), "error": f"timed out after {e.timeout:.0f} s"}
        r = {"command": " ".join(cmd), "returncode": p.returncode, "output_tail": (p.stdout + p.stderr)[-3000:]}
        if json_path.exists():
            r["figures"] = json.loads(json_path.read_text())
        if p.returncode:
            r["error"] = f"ttm_speed.py exited {p.returncode}"
        return r

    def ttm_offload(self):
        if self.device.type != "cuda":
            return {"skipped": "offload needs a CUDA device"}
        return self.ttm("model")


# rough seconds each section needs on an H100 (full size) - a section is skipped when less is left
NEEDS_S = {"env": 1, "build": 60, "speed:float16": 150, "speed:bfloat16": 150, "fp32_diff": 20, "offload": 60,
           "null_text": 90, "ttm": 120, "ttm_offload": 150}


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 parts (the CFG arithmetic, the blend) as a user would run them
    chk = Check(args)
    print(f"gpu_check: {chk.card}, {'tiny' if args.tiny else 'full size'}, {chk.size}x{chk.size}x{chk.frames}, "
          f"{chk.steps} steps, budget {args.budget_s:.0f} s", flush=True)
    failed = False
    for name in [s.strip() for s in args.sections.split(",") if s.strip()]:
        need = 1 if args.tiny else NEEDS_S.get(name, 60)
        if chk.left() < need:
            chk.results["sections"][name] = {"skipped": f"time budget: {chk.left():.0f} s left, about {need} s needed"}
            print(f"[{name}] skipped (time budget)", flush=True)
            chk.save()
            continue
        if name not in ("env", "build", "ttm", "ttm_offload") and chk.comps is None:
            chk.results["sections"][name] = {"skipped": "no models (the build section did not run)"}
            chk.save()
            continue
        t = time.perf_counter()
        print(f"[{name}] ...", flush=True)
        try:
            fn = chk.speed if name.startswith("speed:") else getattr(chk, name)
            r = fn(name.split(":", 1)[1]) if name.startswith("speed:") else fn()
        except Exception as e:  # record and go on: the other sections still tell something
            r = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
        failed = failed or "error" in r
        r["section_s"] = round(time.perf_counter() - t, 1)
        chk.results["sections"][name] = r
        chk.save()
        print(f"[{name}] {json.dumps(r, default=str)[:1500]}", flush=True)
    summary = summarize(chk.results)
    chk.results["summary"] = summary
    chk.save()
    print("\n".join(summary))
    print(f"wrote {chk.out / 'gpu_check.json'}")
    return 1 if failed else 0


def ratio_at(f: dict, steps: int, tweak: int = 3) -> float:
    """ttm / diffusers total time at `steps` steps (ttm starting at `tweak`, TTM's Wan default), from one short run:
    each one's fixed cost (total minus its measured steps) plus `steps` times its measured seconds per step."""
    ttm_fixed = f["ttm_s"] - (f["steps"] - f["tweak_index"]) * f["ttm_step_s"]
    base_fixed = f["diffusers_s"] - f["steps"] * f["diffusers_step_s"]
    return (ttm_fixed + (steps - tweak) * f["ttm_step_s"]) / (base_fixed + steps * f["diffusers_step_s"])


def gb(x) -> str:
    return "n/a (CPU)" if x is None else f"{x:.2f} GB"


def summarize(results: dict) -> list[str]:
    """The figures the issue asks for, as lines (goals in brackets), from what this run measured."""
    lines = [f"card: {results['settings']['device']}"]
    s = results["sections"]
    for name, r in s.items():
        dt = name.split(":", 1)[-1]
        if name.startswith("speed:") and "iva0_s" in r:
            mfu = f", MFU {r['unet_mfu']:.1%}" if r.get("unet_mfu") else ""
            lines.append(
                f"{dt}: iva0 {r['iva0_s']:.2f} s vs AnimateDiff {r['animatediff_s']:.2f} s = {r['time_ratio']:.3f}x [<= 1.25]; "
                f"peak {gb(r['iva0_peak_gb'])} [<= 12 GB] vs {gb(r['animatediff_peak_gb'])}; "
                f"UNet {r['unet_tflops_per_s']:.1f} TFLOP/s{mfu} [>= 35%]; finite {r['all_finite']}")
    r = s.get("offload", {})
    if "iva0_peak_gb" in r:
        lines.append(f"offload fp16: iva0 peak {r['iva0_peak_gb']:.2f} GB [<= 8], {r['iva0_s']:.2f} s; "
                     f"AnimateDiff peak {r['animatediff_peak_gb']:.2f} GB")
    r = s.get("fp32_diff", {})
    if "relative_l2" in r:
        lines.append(f"fp16 vs fp32 final latents: relative L2 {r['relative_l2']:.2e}, max abs {r['max_abs']:.3g}")
    r = s.get("null_text", {})
    if r:
        lines.append(f"null-text: {r.get('iva0_null_text_s', r.get('refused', r.get('error', r.get('skipped'))))}")
    for name in ("ttm", "ttm_offload"):
        f = s.get(name, {}).get("figures")
        if f:
            line = (f"{name} {f['family']} {f['width']}x{f['height']}x{f['frames']}, {f['steps']} steps, offload {f['offload']}: "
                    f"ttm {f['ttm_s']:.2f} s, peak {f['ttm_peak_gb']:.2f} GB")
            if "step_ratio" in f:
                line += (f"; diffusers {f['diffusers_s']:.2f} s; per step {f['ttm_step_s']:.2f} vs "
                         f"{f['diffusers_step_s']:.2f} s = {f['step_ratio']:.3f}; at 50 steps (from these figures) "
                         f"{ratio_at(f, 50):.3f} [<= 1.0]")
            lines.append(line + (" [<= 24 GB]" if name == "ttm_offload" else ""))
    for name, r in s.items():
        if "error" in r:
            lines.append(f"{name}: FAILED {r['error']}")
        elif "skipped" in r:
            lines.append(f"{name}: skipped ({r['skipped']})")
    return lines


if __name__ == "__main__":
    sys.exit(main())

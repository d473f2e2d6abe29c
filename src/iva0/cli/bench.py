"""`iva0 bench run | eval | report`: the benchmark (see docs/benchmark.md)."""

from __future__ import annotations

import contextlib
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from iva0.cli import options as opts
from iva0.cli.progress import lazy_progress
from iva0.errors import UserError
from iva0.limits import MAX_SEED


class Method(str, Enum):
    composite = "composite"
    iva0 = "iva0"
    ttm = "ttm"
    static = "static"


@contextlib.contextmanager
def _bar(description: str, enabled: bool = True) -> Iterator:
    """A progress bar on stderr; yields (start(total), advance(label), step(done, total, stage))
    where step drives a second bar for the work inside one sample (a backend's progress)."""
    with lazy_progress(enabled, label=True) as p:
        task = p.add(description, label="")
        inner: dict[str, int] = {}

        def step(done: int, total: int, stage: str) -> None:
            if "task" not in inner:
                inner["task"] = p.add("sample", total=total, label=stage)
            p.update(inner["task"], completed=done, total=total, label=stage)

        yield (lambda total: p.update(task, total=total)), (lambda label: p.update(task, advance=1, label=label)), step


def register(app: typer.Typer) -> None:
    bench_app = typer.Typer(
        help="Benchmark: run a method over a benchmark folder, evaluate videos, compare runs in a report.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(bench_app, name="bench")

    @bench_app.command("run")
    def run_cmd(
        bench: Path = typer.Argument(..., help="Benchmark folder (with benchmark.json)."),
        method: Method = typer.Option(..., "--method", "-m", help="composite, iva0 (SD1.5 diffusion), ttm (Time-to-Move on Wan / CogVideoX) or static (input repeated: the lower bound)."),
        out: Path = typer.Option(..., "--out", "-o", help="Run folder (videos/, records/, run.json). Rerunning resumes it."),
        width: Optional[int] = typer.Option(None, "--width", min=16, max=4096, help="Output width (default: each image's, capped per backend)."),
        height: Optional[int] = typer.Option(None, "--height", min=16, max=4096, help="Output height."),
        frames: Optional[int] = typer.Option(None, "--frames", min=2, max=256, help="Retime every layout to this many frames (key frames scale alike)."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Random seed."),
        shard: Optional[str] = typer.Option(None, "--shard", help="i/n: run the i-th of n shards (default: RANK/WORLD_SIZE from accelerate launch or torchrun)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        # ---- iva0 method (iva0.cli.options) ----
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
        # ---- ttm method (iva0.cli.options) ----
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
        # ---- the cut-outs of every method but static (iva0.cli.options) ----
        segmenter: opts.SegmenterOpt = None,
        segmenter_model: opts.SegmenterModel = None,
        fill: opts.FillOpt = None,
    ) -> None:
        """Animate every sample of BENCH with a method: OUT/videos/<id>.mp4 and OUT/run.json.

        Resumable (finished samples are skipped, half-written files removed); a failing
        sample is recorded and the run goes on. With `accelerate launch -m iva0 bench run ...`
        each process takes every n-th sample.
        """
        from iva0.bench.format import load_benchmark
        from iva0.bench.run import RunConfig, run_benchmark, shard_from_env

        # only what the user set goes into the record (the backend's defaults stay its own)
        # the command's own parameters, picked by name (their definitions live in cli/options.py)
        params = locals()
        options = opts.backend_options(method.value, opts.from_params(params), opts.ttm_from_params(params), "--method")
        options.update(opts.segment_options(segmenter, segmenter_model, "--method composite, iva0 or ttm",
                                            method.value != "static", fill))
        rank, world = _parse_shard(shard) if shard else shard_from_env()
        if method in (Method.iva0, Method.ttm) and device is None and world > 1 and "LOCAL_RANK" in os.environ:
            # one GPU per process under accelerate launch / torchrun (when there are GPUs)
            import torch

            if torch.cuda.is_available():
                options["device"] = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
        b = load_benchmark(bench)
        cfg = RunConfig(method=method.value, options=options, seed=seed, width=width, height=height, frames=frames)
        label = f"{method.value}" + (f" [{rank}/{world}]" if world > 1 else "")
        with _bar(label, enabled=not quiet) as (start, advance, step):
            res = run_benchmark(
                b, cfg, out, rank=rank, world_size=world,
                on_start=lambda todo, total: start(todo),
                on_sample=lambda sid, rec: advance(sid if rec["status"] == "ok" else f"{sid} FAILED"),
                progress=step,
            )
        print(
            f"{b.name}: {res['ran']} ran, {res['skipped']} already done, {res['failed']} failed"
            + (f" (shard {rank}/{world})" if world > 1 else ""),
            file=sys.stderr,
        )
        print(Path(out) / "run.json")

    @bench_app.command("eval")
    def eval_cmd(
        path: Path = typer.Argument(..., help="A run folder from `bench run`, or a folder of videos <id>.mp4 (give --bench)."),
        bench: Optional[Path] = typer.Option(None, "--bench", help="Benchmark folder (needed for a plain videos folder)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", parser=opts.file_output, help="metrics.json to write (default: PATH/metrics.json)."),
        eval_side: int = typer.Option(512, "--eval-side", min=32, max=4096, help="Longer side the metrics see (videos are resized to the image)."),
        track_side: int = typer.Option(256, "--track-side", min=32, max=4096, help="Longer side the CSRT tracker sees."),
        clip: Optional[Path] = typer.Option(None, "--clip", help="Local CLIP model folder: adds CLIP text/image scores (skipped otherwise)."),
        i3d: Optional[Path] = typer.Option(None, "--i3d", help="Local I3D weights (.safetensors, see convert-i3d): adds FVD against --fvd-reference."),
        fvd_reference: Optional[Path] = typer.Option(None, "--fvd-reference", help="Folder of reference videos (or a run folder) for FVD."),
        fvd_size: int = typer.Option(224, "--fvd-size", min=32, max=512, help="Frame side the I3D network sees (224 as in the reference FVD)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Score videos against their benchmark: vIoU, vIoU@0.5, object/background consistency, afterimage, warp error."""
        from iva0.bench.evaluate import EvalOptions, evaluate_path

        opts = EvalOptions(
            eval_side=eval_side, track_side=track_side, clip=str(clip) if clip else None,
            i3d=str(i3d) if i3d else None, fvd_reference=str(fvd_reference) if fvd_reference else None, fvd_size=fvd_size,
        )
        with _bar("eval", enabled=not quiet) as (start, advance, _step):
            result, written = evaluate_path(path, bench, out, opts, on_sample=lambda sid, rec: advance(sid), on_start=start)
        s = result["summary"]
        print(_summary_line(s), file=sys.stderr)
        print(written)

    @bench_app.command("convert-i3d")
    def convert_i3d_cmd(
        src: Path = typer.Argument(..., help="A PyTorch I3D state dict (.pt), e.g. rgb_imagenet.pt of the common PyTorch port."),
        dst: Path = typer.Argument(..., help="The .safetensors file to write (give it to bench eval --i3d)."),
    ) -> None:
        """Convert I3D weights to safetensors (read with torch.load(weights_only=True): no code is unpickled)."""
        from iva0.metrics.fvd import convert_state_dict

        print(convert_state_dict(src, dst))

    @bench_app.command("report")
    def report_cmd(
        runs: List[Path] = typer.Argument(..., help="Run folders (evaluated; unevaluated ones are evaluated first)."),
        out: Path = typer.Option(..., "--out", "-o", help="Report folder (report.md, report.html, plots, strips)."),
        strips: int = typer.Option(4, "--strips", min=0, max=50, help="How many samples get a strip of frames side by side."),
        speed: bool = typer.Option(True, "--speed/--no-speed", help="Measure the evaluation speed (16 frames, 512x512) for the report."),
    ) -> None:
        """Compare runs: a table, plots, frame strips and the evaluation speed, as report.md and report.html."""
        from iva0.bench.report import make_report

        written = make_report(runs, out, strips=strips, measure_speed=speed)
        print(written)


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard: expected i/n such as 0/2, got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard: need 0 <= i < n, got {text!r}")
    return i, n


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _summary_line(s: dict) -> str:
    return (
        f"vIoU@0.5 {_fmt(s['viou_at_0.5'])}  mean vIoU {_fmt(s['mean_viou'])}  object SSIM {_fmt(s['object_ssim'])}  "
        f"background PSNR {_fmt(s['background_psnr'])}  afterimage {_fmt(s['afterimage'])}  "
        + (f"afterimage (masks) {_fmt(s['afterimage_masked'])}  " if s.get("afterimage_masked") is not None else "")
        + f"left behind {_fmt(s.get('left_behind'))}  "
        f"warp {_fmt(s['warp_error'])}  ({s['num_evaluated']}/{s['num_samples']} videos, {s['num_objects']} tracks"
        + "".join(f", {s[k]} {k[4:]}" for k in ("num_missing", "num_failed") if s.get(k))
        + ")"
    )

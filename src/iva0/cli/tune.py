"""`iva0 tune`: one-shot tuning of the object embeddings and value projections (experimental)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from iva0.cli import options as opts
from iva0.errors import UserError
from iva0.limits import MAX_SEED


def run_tune(
    image: Path,
    layout_path: Path,
    out: Path,
    *,
    model: Optional[str] = None,
    base: Optional[str] = None,
    gligen: Optional[str] = None,
    motion_adapter: Optional[str] = None,
    steps: int = 200,
    lr: float = 2e-5,
    embed_lr: float = 1e-3,
    size: Optional[int] = None,
    device: Optional[str] = None,
    seed: int = 0,
    quiet: bool = False,
) -> Path:
    from iva0.backends.diffusion.backend import IVA0Backend
    from iva0.backends.diffusion.tuning import TuneConfig, save_tuned, tune
    from iva0.cli.progress import progress_bar
    from iva0.io.image import fit_size, read_image, resize_image
    from iva0.layout import load_layout

    from iva0.io.output_rule import check_output

    check_output(out, "tuned", inputs=[image, layout_path])
    if not (lr > 0 and embed_lr >= 0):
        raise UserError("--lr must be > 0 and --embed-lr >= 0")
    layout = load_layout(layout_path)
    picture = read_image(image)
    # fp32 for gradients: tuning in half precision underflows
    backend = IVA0Backend(model=model, base=base, gligen=gligen, motion_adapter=motion_adapter, device=device,
                          dtype="float32")
    h, w = picture.shape[:2]
    tw, th = fit_size(w, h, size, None, max_side=backend.max_side, multiple=backend.size_multiple)
    picture = resize_image(picture, tw, th)
    with progress_bar(not quiet) as progress:
        tuned = tune(backend.pipe, picture, layout, TuneConfig(steps=steps, lr=lr, embed_lr=embed_lr, seed=seed),
                     progress=progress)
    save_tuned(tuned, out)
    return out


def register(app: typer.Typer) -> None:
    @app.command("tune")
    def tune_cmd(
        image: Path = typer.Argument(..., help="The picture you will animate."),
        layout: Path = typer.Option(..., "--layout", "-l", help="Its layout JSON (the frame-0 boxes mark the objects)."),
        out: Path = typer.Option(..., "--out", "-o", parser=opts.file_output, help="Where to write the tuned weights (.safetensors)."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder (diffusers layout) or cached repo id."),
        base: Optional[str] = typer.Option(None, "--base", help="SD1.x base model (with --gligen and --motion-adapter)."),
        gligen: Optional[str] = typer.Option(None, "--gligen", help="GLIGEN text-image UNet."),
        motion_adapter: Optional[str] = typer.Option(None, "--motion-adapter", help="AnimateDiff motion adapter."),
        steps: int = typer.Option(200, "--steps", min=1, max=100000, help="Optimisation steps."),
        lr: float = typer.Option(2e-5, "--lr", min=0.0, max=1.0, help="Learning rate of the value projections."),
        embed_lr: float = typer.Option(1e-3, "--embed-lr", min=0.0, max=1.0, help="Learning rate of the object image embeddings."),
        width: Optional[int] = typer.Option(None, "--width", min=16, max=4096, help="Tuning width (use animate's)."),
        device: Optional[str] = typer.Option(None, "--device", help="cuda, cuda:1, cpu (default: cuda if present)."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Random seed."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Experimental one-shot tuning (paper supplement section 2); use the file with `animate --tuned`."""
        written = run_tune(
            image, layout, out, model=str(model) if model else None, base=base, gligen=gligen,
            motion_adapter=motion_adapter, steps=steps, lr=lr, embed_lr=embed_lr, size=width, device=device,
            seed=seed, quiet=quiet,
        )
        print(written)

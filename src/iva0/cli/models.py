"""`iva0 models check PATH`, `iva0 models convert DIR` and `iva0 tiny-models DIR`: model folders on disk."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from iva0.limits import MAX_SEED


class DType(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


class TinyFamily(str, Enum):
    iva0 = "iva0"  # SD1.5 + GLIGEN + AnimateDiff, for --backend iva0
    wan21 = "wan21"
    wan22_a14b = "wan22-a14b"
    wan22_ti2v = "wan22-ti2v"
    cogvideox = "cogvideox"
    depth_anything = "depth-anything"  # a Depth Anything V2 folder for --depth-model (the camera's parallax)


class AdapterVersion(str, Enum):
    v153 = "v1-5-3"
    v152 = "v1-5-2"


def _millions(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:,.1f} M" if n >= 1e6 else f"{n:,}"


def run_check(path: str | None, *, base: str | None = None, gligen: str | None = None,
              motion_adapter: str | None = None) -> int:
    """Print the component table; 0 when every component is there, 2 otherwise."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from iva0.backends.diffusion.checks import check_model

    if path is not None and not (base or gligen or motion_adapter):
        from iva0.backends.ttm.families import detect_family
        from iva0.backends.ttm.loading import resolve

        folder = resolve(path)
        if detect_family(folder) is not None:
            return run_check_ttm(folder)
    report = check_model(path, base=base, gligen=gligen, motion_adapter=motion_adapter)
    several = any(c.origin for c in report.components)
    title = f"iva0 model {report.folder}" if report.folder else "iva0 model sources"
    table = Table(title=title, title_justify="left")
    for col in (["from"] if several else []) + ["component", "status", "class", "parameters"]:
        table.add_column(col, justify="right" if col == "parameters" else "left", no_wrap=True)
    table.add_column("where / problem", overflow="fold", min_width=40)
    for c in report.components:
        status = "present" if c.present else ("missing" if "missing" in c.problem or "no weights" in c.problem else "broken")
        shown = c.weights[0] if c.weights else c.folder
        rel = report.folder and shown.is_relative_to(report.folder)
        where = c.problem or (str(shown.relative_to(report.folder)) if rel else str(shown))
        if c.pytorch_bin and not c.problem:
            where += " (PyTorch .bin: read with torch.load(weights_only=True); `iva0 models convert` makes safetensors)"
        row = [c.name, status, c.class_name, _millions(c.num_parameters), where]
        table.add_row(*([c.origin] if several else []), *row)
    console = Console(width=max(140, Console().width))
    console.print(table)
    total = sum(c.num_parameters or 0 for c in report.components)
    console.print(f"total parameters: {_millions(total)}" + ("  (random weights, from iva0 tiny-models)" if report.random_weights else ""))
    if not report.ok:
        where = f"{report.folder}: " if report.folder else ""
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        print(f"error: {where}{report.problems[0]}{more}", file=sys.stderr)
        return 2
    return 0


def run_convert(folder: str, *, quiet: bool = False) -> int:
    """Rewrite the .bin weights under `folder` as safetensors; one line per file written."""
    from iva0.backends.diffusion.convert import convert, plan
    from iva0.cli.progress import progress_bar
    from iva0.errors import ModelError

    steps = plan(folder)  # checks the folder before torch is imported
    if not steps:
        raise ModelError(f"{folder}: no PyTorch .bin weights to convert (diffusion_pytorch_model*.bin, pytorch_model*.bin)")
    with progress_bar(not quiet) as progress:
        steps = convert(folder, progress=progress)
    for s in steps:
        if s.done:
            print(f"wrote {s.target} ({s.tensors} tensors, from {s.source.name}; the .bin is kept)")
        else:
            print(f"kept {s.target} (already there)")
    return 0


def run_check_ttm(folder: Path) -> int:
    """The component table of a Wan / CogVideoX folder (the ttm backend's); 0 when complete, 2 otherwise."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from iva0.backends.ttm.loading import check_folder, is_random_weights

    family, components = check_folder(folder, count=True)
    table = Table(title=f"ttm model {folder} ({family.name}: {family.pipeline_class})", title_justify="left")
    for col in ("component", "status", "class", "parameters"):
        table.add_column(col, justify="right" if col == "parameters" else "left", no_wrap=True)
    table.add_column("where / problem", overflow="fold", min_width=40)
    for c in components:
        table.add_row(c.name, "present" if c.present else "missing", c.class_name, _millions(c.num_parameters),
                      c.problem or str(c.folder.relative_to(folder)))
    console = Console(width=max(140, Console().width))
    console.print(table)
    total = sum(c.num_parameters or 0 for c in components)
    console.print(f"total parameters: {_millions(total)}" + ("  (random weights, from iva0 tiny-models)" if is_random_weights(folder) else ""))
    bad = [c for c in components if c.problem]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        print(f"error: {folder}: component '{bad[0].name}' {bad[0].problem}{more}", file=sys.stderr)
        return 2
    return 0


def run_tiny_models(folder: Path, *, full_size: bool = False, dtype: str = "float32", seed: int = 0,
                    adapter: str = "v1-5-3", force: bool = False, quiet: bool = False, family: str = "iva0") -> Path:
    import torch

    from iva0.backends.diffusion.tiny import write_model_folder
    from iva0.cli.progress import progress_bar

    if family == "depth-anything":
        from iva0.depth_model import write_random_depth_model
        from iva0.errors import UserError

        if full_size or force or dtype != "float32":
            raise UserError("--family depth-anything writes a tiny float32 folder only, into a new folder "
                            "(no --full-size, --force or --dtype)")
        return write_random_depth_model(folder, seed=seed)
    if family != "iva0":
        from iva0.backends.ttm.tiny import write_model_folder as write_ttm_folder

        with progress_bar(not quiet) as progress:
            return write_ttm_folder(folder, family, full_size, seed=seed, dtype=getattr(torch, dtype), overwrite=force,
                                    progress=lambda d, t, s: progress(d, t, "writing"))
    with progress_bar(not quiet) as progress:
        out = write_model_folder(folder, full_size, seed=seed, dtype=getattr(torch, dtype), adapter=adapter,
                                 overwrite=force, progress=lambda d, t, s: progress(d, t, "writing"))
    return out


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="Inspect model folders.", no_args_is_help=True)

    @models_app.command("check")
    def check(
        path: Optional[str] = typer.Argument(None, help="A model folder (or an HF repo id in the local cache)."),
        base: Optional[str] = typer.Option(None, "--base", help="SD1.x base model (folder, .safetensors file or cached repo id)."),
        gligen: Optional[str] = typer.Option(None, "--gligen", help="GLIGEN text-image model (folder or cached repo id)."),
        motion_adapter: Optional[str] = typer.Option(None, "--motion-adapter", help="AnimateDiff motion adapter (folder, file or cached repo id)."),
    ) -> None:
        """List each component: present or missing, class, parameter count (no weights loaded).

        Takes the same sources as `iva0 animate --backend iva0`; exit status 2 when something is missing.
        """
        code = run_check(path, base=base, gligen=gligen, motion_adapter=motion_adapter)
        if code:
            raise typer.Exit(code)

    @models_app.command("convert")
    def convert_cmd(
        folder: str = typer.Argument(..., help="A model folder (or one component's folder) holding PyTorch .bin weights."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Rewrite PyTorch .bin weights as safetensors beside them (read with torch.load(weights_only=True)).

        Never deletes or overwrites a file; a pickle that weights_only refuses stays refused.
        """
        run_convert(folder, quiet=quiet)

    app.add_typer(models_app, name="models")

    @app.command("tiny-models")
    def tiny_models(
        folder: Path = typer.Argument(..., help="Folder to create (must not exist unless --force)."),
        full_size: bool = typer.Option(False, "--full-size", help="Real architectures' sizes (iva0 ~2 B parameters; Wan / CogVideoX 11-34 B) instead of tiny."),
        dtype: DType = typer.Option(DType.float32, "--dtype", help="Weight dtype on disk."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Random seed for the weights."),
        adapter: AdapterVersion = typer.Option(AdapterVersion.v153, "--adapter", help="AnimateDiff adapter layout: v1-5-3 (no motion mid block) or v1-5-2 (with one)."),
        force: bool = typer.Option(False, "--force", help="Replace FOLDER if it exists (only once the new one is complete)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        family: TinyFamily = typer.Option(TinyFamily.iva0, "--family", help="iva0 (SD1.5+GLIGEN+AnimateDiff, default) or, for --backend ttm: wan21, wan22-a14b, wan22-ti2v, cogvideox (from the real configs); depth-anything: a Depth Anything V2 folder for --depth-model."),
    ) -> None:
        """Write a random-weight model folder in the real on-disk layout (for tests, smoke and speed runs)."""
        if family != TinyFamily.iva0 and adapter != AdapterVersion.v153:
            raise typer.BadParameter("--adapter applies to --family iva0 only", param_hint="--adapter")
        out = run_tiny_models(folder, full_size=full_size, dtype=dtype.value, seed=seed, adapter=adapter.value,
                              force=force, quiet=quiet, family=family.value)
        what = "" if family == TinyFamily.iva0 else f" {family.value}"
        typer.echo(f"wrote {out} ({'full size' if full_size else 'tiny'}{what}, random weights, seed {seed})")

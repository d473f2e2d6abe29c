"""`iva0 ui`: serve the web page (Gradio) on this machine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from iva0.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("ui")
    def ui_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 opens the page to your network."),
        port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder: offers the iva0 diffusion backend in the page."),
        device: Optional[str] = typer.Option(None, "--device", help="[iva0] cuda, cuda:1, cpu, mps (default: cuda if present)."),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="[iva0] float16, bfloat16 or float32."),
        max_frames: int = typer.Option(64, "--max-frames", min=2, max=256, help="Most frames the page lets one ask for."),
        max_side: int = typer.Option(1024, "--max-side", min=64, max=4096, help="Largest video side (px) the page lets one ask for."),
    ) -> None:
        """Serve the web page: draw key boxes on a picture, preview the paths, generate, download. No share links."""
        from iva0.ui import UiConfig, launch

        if model is not None and not model.exists() and not re.fullmatch(r"[\w.-]+/[\w.-]+", str(model)):
            # not a folder and not a cached repo id ("org/name"): say so now, not at the first Generate
            raise UserError(f"--model: model folder not found: {model}")
        if (device or dtype) and model is None:
            raise UserError("--device/--dtype only apply with --model")
        options = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        config = UiConfig(
            host=host, port=port, model=model, backend_options=options, max_frames=max_frames,
            max_output_side=max_side, default_output_side=min(512, max_side),
        )  # fmt: skip
        launch(config)

"""`iva0 ui`: serve the web page (Gradio) on this machine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from iva0.errors import UserError


DEFAULT_MAX_SIDE = 1024


def register(app: typer.Typer) -> None:
    @app.command("ui")
    def ui_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 opens the page to your network."),
        port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder: an iva0/SD one offers the iva0 backend, a Wan 2.1/2.2 or CogVideoX one the ttm backend."),
        device: Optional[str] = typer.Option(None, "--device", help="[iva0/ttm] cuda, cuda:1, cpu, mps (default: cuda if present)."),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="[iva0/ttm] float16, bfloat16 or float32."),
        max_frames: int = typer.Option(64, "--max-frames", min=2, max=256, help="Most frames the page lets one ask for."),
        max_side: Optional[int] = typer.Option(
            None, "--max-side", min=64, max=4096,
            help="Largest video side (px) the page lets one ask for (default 1024, or a ttm model's native side if larger).",
        ),
    ) -> None:
        """Serve the web page: draw key boxes on a picture, preview the paths, generate, download. No share links."""
        from iva0.ui import UiConfig, launch

        if model is not None and not model.exists() and not re.fullmatch(r"[\w.-]+/[\w.-]+", str(model)):
            # not a folder and not a cached repo id ("org/name"): say so now, not at the first Generate
            raise UserError(f"--model: model folder not found: {model}")
        if (device or dtype) and model is None:
            raise UserError("--device/--dtype only apply with --model")
        if model is not None:
            from iva0.ui.backend_choice import available_backends

            # which backend the folder serves; a folder that serves none is refused now
            families = [c.family for c in available_backends(model) if c.family]
            if max_side is None and families:
                from iva0.backends.ttm import FAMILIES

                max_side = max(DEFAULT_MAX_SIDE, *(max(FAMILIES[f].width, FAMILIES[f].height) for f in families))
        max_side = max_side or DEFAULT_MAX_SIDE
        options = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        config = UiConfig(
            host=host, port=port, model=model, backend_options=options, max_frames=max_frames,
            max_output_side=max_side, default_output_side=min(512, max_side),
        )  # fmt: skip
        launch(config)

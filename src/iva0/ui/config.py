"""Settings of the web app: where it listens, which model it offers, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class UiConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    model: Path | None = None  # a model folder enables the iva0 backend in the page
    backend_options: dict[str, Any] = field(default_factory=dict)  # extra iva0 options (device, dtype, ...)
    # limits: one page must not be able to take the machine down
    max_upload_mb: int = 20  # any uploaded file (Gradio refuses bigger ones before they reach us)
    max_image_side: int = 4096  # longer side of an uploaded picture, px
    max_frames: int = 64
    max_output_side: int = 1024  # longer side of the generated video, px
    default_output_side: int = 512
    max_layout_bytes: int = 1_000_000
    view_side: int = 1024  # the picture as shown for drawing, longer side at most
    min_view_side: int = 1024  # smaller pictures are shown enlarged to this (an 8x8 icon must be drawable on)
    preview_side: int = 512  # the path preview video

    @property
    def backends(self) -> list[str]:
        from iva0.ui.backend_choice import available_backends

        return [c.name for c in available_backends(self.model)]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

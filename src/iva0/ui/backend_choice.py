"""Which backends the page offers, what each one does, and the loaded ones kept between runs.

`available_backends` is the one place that decides the choices: composite
always, plus what the `--model` folder serves. A new model family (e.g. a ttm
backend with its own `detect_family(folder)`) is added in `_model_backends`.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iva0.errors import UserError
from iva0.ui import editor


@dataclass(frozen=True)
class BackendChoice:
    name: str  # as `iva0.backends.create_backend` knows it
    label: str  # as the page lists it
    note: str  # one line: what it does, what it needs


COMPOSITE = BackendChoice(
    "composite",
    "composite (CPU preview)",
    "**composite**: cuts each object out and pastes it along its boxes over the filled-in background. "
    "A quick cut-and-paste preview on the CPU, no weights; nothing moves in place and the prompt is ignored.",
)
IVA0 = BackendChoice(
    "iva0",
    "iva0 (diffusion)",
    "**iva0**: generative (SD 1.5 + GLIGEN + AnimateDiff): redraws the objects along their boxes and animates "
    "in place as the prompt says. Needs a GPU and the model weights; minutes per video.",
)


def _model_backends(model: Path) -> list[BackendChoice]:
    """The generative backends a model folder serves. New families go here (detect the
    folder's family, then offer that backend)."""
    return [IVA0]


def available_backends(model: Path | None) -> list[BackendChoice]:
    """The page's backend choices for `iva0 ui --model MODEL` (None: no model folder)."""
    return [COMPOSITE] + (_model_backends(Path(model)) if model is not None else [])


def backend_note(choices: list[BackendChoice], name: str | None) -> str:
    return next((c.note for c in choices if c.name == name), "")


class BackendPool:
    """Backends built once and kept: a diffusion backend's models take long to load.
    Steps and guidance are per-run settings, changed without reloading."""

    def __init__(self, model: Path | None, options: dict[str, Any]) -> None:
        self.model = model
        self.options = dict(options)
        self.names = [c.name for c in available_backends(model)]
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str, *, steps: Any = None, guidance: Any = None):
        from iva0.backends import create_backend

        if name not in self.names:
            raise UserError(f"backend {name!r} is not available here; choose one of: {', '.join(self.names)}")
        if name == "composite":
            return create_backend("composite")
        with self._lock:
            be = self._made.get(name)
            if be is None:
                be = create_backend(name, model=self.model, **self.options)
                self._made[name] = be
        if getattr(be, "settings", None) is not None and (steps is not None or guidance is not None):
            new = dataclasses.replace(
                be.settings,
                steps=be.settings.steps if steps is None else editor.as_int(steps, be.settings.steps),
                guidance=be.settings.guidance if guidance is None else float(guidance),
            )
            if not 1 <= new.steps <= 1000 or not 0.0 <= new.guidance <= 50.0:
                raise UserError(f"steps must be 1..1000 and guidance 0..50, got {new.steps} and {new.guidance}")
            be.settings = new  # safe: generation runs one at a time (concurrency_limit=1)
        return be

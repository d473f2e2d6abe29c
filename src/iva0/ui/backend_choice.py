"""Which backends the page offers, what each one does, and the loaded ones kept between runs.

`available_backends` is the one place that decides the choices: composite
always, plus what the `--model` folder serves (`_model_backends`): a Wan 2.x /
CogVideoX folder (`iva0.backends.ttm.detect_family`) offers ttm, an SD / iva0
folder offers iva0, anything else is refused in one line naming what was found.
Each generative choice carries its own defaults for the page's steps and
guidance (the backend's own, so the page never overrides them unasked).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iva0.errors import ModelError, UserError
from iva0.ui import editor


@dataclass(frozen=True)
class BackendChoice:
    name: str  # as `iva0.backends.create_backend` knows it
    label: str  # as the page lists it
    note: str  # one line: what it does, what it needs
    steps: int | None = None  # the backend's own defaults, shown in the advanced settings when it is chosen
    guidance: float | None = None
    family: str | None = None  # ttm: the model family (`iva0.backends.ttm.FAMILIES`)


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
    steps=25,  # IVA0Settings' defaults (a test keeps them equal; not imported here: that module imports torch)
    guidance=7.5,
)
TTM_NOTE = (
    "**ttm ({family})**: generative video model ({model}): Time-to-Move's dual-clock denoising over the composite's "
    "cut-and-drag video, so the objects follow their boxes and the scene moves as the prompt says. Makes the model's "
    "own size and frame count. Needs a big GPU and the model weights; minutes per video."
)
TTM_MODELS = {"wan21": "Wan 2.1 I2V", "wan22-a14b": "Wan 2.2 I2V-A14B", "wan22-ti2v": "Wan 2.2 TI2V-5B",
              "cogvideox": "CogVideoX-5b-I2V"}


def ttm_choice(family: str) -> BackendChoice:
    from iva0.backends.ttm import FAMILIES
    from iva0.backends.ttm.backend import TTMSettings

    return BackendChoice(
        "ttm", f"ttm ({family})", TTM_NOTE.format(family=family, model=TTM_MODELS.get(family, family)),
        steps=TTMSettings().steps,  # what `--backend ttm` runs without --steps
        guidance=FAMILIES[family].guidance,  # the family's (TTMSettings.guidance None means this)
        family=family,
    )  # fmt: skip


def resolve_model(model: str | Path) -> Path:
    """The folder `--model` names: a path as is, or a repo id from the local Hugging Face cache (offline)."""
    from iva0.backends.diffusion.hub import resolve_source

    return resolve_source(model, "--model")


def _model_backends(model: Path) -> list[BackendChoice]:
    """The generative backends a model folder serves, or one ModelError line naming what was found.
    New families go here (detect the folder's family, then offer that backend)."""
    from iva0.backends.ttm import detect_family

    folder = resolve_model(model)
    if not folder.is_dir():
        raise ModelError(f"--model {model}: not a folder (iva0 ui takes an iva0/SD model folder or a Wan/CogVideoX one)")
    family = detect_family(folder)
    if family is not None:
        return [ttm_choice(family)]
    found = _model_index_class(folder)
    if (folder / "unet").is_dir() or found == "IVA0Pipeline":  # an iva0 folder, or SD + GLIGEN parts to load
        return [IVA0]
    what = f"its model_index.json names {found}" if found else (
        "its model_index.json is unreadable" if (folder / "model_index.json").exists()
        else "it has no model_index.json and no unet/ folder")  # fmt: skip
    raise ModelError(
        f"--model {model}: neither an iva0/SD model folder (unet/, vae/, ...) nor a ttm one (Wan 2.1/2.2 "
        f"image-to-video or CogVideoX-5b-I2V): {what}"
    )


def _model_index_class(folder: Path) -> str | None:
    try:
        data = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return str(data.get("_class_name") or "no _class_name") if isinstance(data, dict) else None


def available_backends(model: Path | None) -> list[BackendChoice]:
    """The page's backend choices for `iva0 ui --model MODEL` (None: no model folder)."""
    return [COMPOSITE] + (_model_backends(Path(model)) if model is not None else [])


def find_choice(choices: list[BackendChoice], name: str | None) -> BackendChoice | None:
    return next((c for c in choices if c.name == name), None)


def backend_note(choices: list[BackendChoice], name: str | None) -> str:
    c = find_choice(choices, name)
    return c.note if c else ""


class BackendPool:
    """Backends built once and kept: a diffusion backend's models take long to load.
    Steps and guidance are per-run settings, changed without reloading."""

    def __init__(self, model: Path | None, options: dict[str, Any]) -> None:
        self.model = model
        self.options = dict(options)
        self.choices = available_backends(model)  # the folder is read once, here
        self.names = [c.name for c in self.choices]
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def composite(self):
        """The page's one composite backend, with the page's cut-out options: kept, so its segmenter (a SAM 2
        model when IVA0_SAM2_MODEL names one) loads once per page and serves both Generate and the Cut-out view."""
        from iva0.backends.cutouts import cutout_backend

        with self._lock:
            if "composite" not in self._made:
                self._made["composite"] = cutout_backend(self.options)
            return self._made["composite"]

    def get(self, name: str, *, steps: Any = None, guidance: Any = None):
        from iva0.backends import create_backend

        if name not in self.names:
            raise UserError(f"backend {name!r} is not available here; choose one of: {', '.join(self.names)}")
        if name == "composite":
            return self.composite()
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
            if not 1 <= new.steps <= 1000 or (new.guidance is not None and not 0.0 <= new.guidance <= 50.0):
                raise UserError(f"steps must be 1..1000 and guidance 0..50, got {new.steps} and {new.guidance}")
            be.settings = new  # safe: generation runs one at a time (concurrency_limit=1)
        return be

"""Backends turn (image, layout) into frames.

- composite: classical cut-out and paste, no weights, CPU, the default.
- iva0: the diffusion method (SD1.x + GLIGEN + AnimateDiff), needs model weights.
- ttm: the composite's cut-and-drag video, then Time-to-Move on Wan 2.x / CogVideoX, needs model weights.
"""

from __future__ import annotations

from typing import Any

from iva0.backends.base import Backend, ProgressFn, no_progress
from iva0.errors import UserError

BACKENDS = ("composite", "iva0", "ttm")
CAMERA_BACKENDS = ("composite", "ttm")  # the backends that honour a layout's camera (an instance says `supports_camera`)


def check_camera(layout: Any, backend: Any) -> None:
    """Refuse a layout with a camera for a backend (a name or an instance) that has no camera motion, before it
    is built: the iva0 method has none (it keeps the input's pixels in place, DESIGN.md), so it would ignore it."""
    if getattr(layout, "camera", None) is None:
        return
    name = backend if isinstance(backend, str) else getattr(backend, "name", type(backend).__name__)
    ok = name in CAMERA_BACKENDS if isinstance(backend, str) else getattr(backend, "supports_camera", False)
    if not ok:
        raise UserError(f"camera: the {name} backend has no camera motion (the layout has a camera); "
                        f"use a backend that has: {', '.join(CAMERA_BACKENDS)}")


def create_backend(name: str, **options: Any) -> Backend:
    """Build a backend by name; options are the backend's own (None values are dropped)."""
    options = {k: v for k, v in options.items() if v is not None}
    if name == "composite":
        from iva0.backends.composite import CompositeBackend

        return CompositeBackend(**options)
    if name == "iva0":
        try:
            from iva0.backends.diffusion import IVA0Backend
        except ImportError as e:  # pragma: no cover - until the diffusion backend lands
            raise UserError(f"backend 'iva0' is not available yet ({e})") from None
        return IVA0Backend(**options)
    if name == "ttm":
        from iva0.backends.ttm.backend import TTMBackend

        return TTMBackend(**options)
    raise UserError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "CAMERA_BACKENDS", "Backend", "check_camera", "ProgressFn", "create_backend", "no_progress"]

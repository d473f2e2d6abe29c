"""The IVA0 diffusion backend: SD1.x + GLIGEN text-image grounding + AnimateDiff motion modules.

- models.py, motion_unet.py, tiny.py: loading model folders, assembling the
  motion UNet with GLIGEN layers, and writing random-weight folders.
- pipeline.py (IVA0Pipeline) and its parts; backend.py (IVA0Backend) adapts it to
  the Backend protocol. Heavy imports stay lazy so the CLI starts fast.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "IVA0Backend":
        from iva0.backends.diffusion.backend import IVA0Backend

        return IVA0Backend
    if name == "IVA0Pipeline":
        from iva0.backends.diffusion.pipeline import IVA0Pipeline

        return IVA0Pipeline
    raise AttributeError(name)

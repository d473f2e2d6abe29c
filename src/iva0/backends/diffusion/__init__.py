"""The IVA0 diffusion backend: SD1.x + GLIGEN text-image grounding + AnimateDiff motion modules.

- Models on disk: checks.py (what a folder holds, from configs and safetensors
  headers; no torch), hub.py (local path or cached HF repo id), loading.py
  (load_components), single_file.py (SD1.x single-file checkpoints), configs.py
  (the shipped real configs), components.py (IVA0Components, grounding tokens),
  motion_unet.py (the motion UNet with GLIGEN layers), tiny.py (random-weight folders).
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

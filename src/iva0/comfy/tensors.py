"""ComfyUI's IMAGE and MASK tensors <-> iva0's numpy arrays.

ComfyUI's types: IMAGE is a float32 tensor [B, H, W, 3] in 0..1, MASK is a
float32 tensor [B, H, W] (or [H, W]) in 0..1. iva0 works on RGB uint8 (H, W, 3)
pictures and (F, H, W, 3) frames. torch is imported inside the functions: the
module itself imports nothing heavy.
"""

from __future__ import annotations

import numpy as np


def _array(t, name: str) -> np.ndarray:
    """A tensor (any device) or array as a float32 numpy array."""
    if hasattr(t, "detach"):  # a torch tensor
        t = t.detach().to("cpu").float().numpy()
    try:
        return np.asarray(t, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a ComfyUI tensor, got {type(t).__name__}") from None


def images_to_uint8(images, name: str = "image") -> np.ndarray:
    """IMAGE [B, H, W, 3] in 0..1 -> RGB uint8 (B, H, W, 3)."""
    a = _array(images, name)
    if a.ndim == 3:  # one picture without its batch axis
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.shape[0] < 1 or min(a.shape[1:3]) < 1:
        raise ValueError(f"{name}: expected an IMAGE batch [B, H, W, 3], got shape {list(a.shape)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: holds NaN or infinite values")
    return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)


def masks_to_float(masks, name: str = "masks") -> np.ndarray:
    """MASK [B, H, W] (or [H, W]) in 0..1 -> float32 (B, H, W) in [0, 1]."""
    a = _array(masks, name)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] < 1 or min(a.shape[1:]) < 1:
        raise ValueError(f"{name}: expected a MASK batch [B, H, W], got shape {list(a.shape)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: holds NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


def to_image(frames: np.ndarray):
    """RGB uint8 (F, H, W, 3) -> IMAGE float32 tensor [F, H, W, 3] in 0..1."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.uint8)).float().div_(255.0)


def to_mask(mask: np.ndarray):
    """float (F, H, W) in [0, 1] -> MASK float32 tensor [F, H, W]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))

"""Which optional extra brings which library, so that a missing one is one clear line.

iva0's core install (numpy, OpenCV, scikit-image, SciPy, PyAV, Pillow, typer,
rich) runs the CLI's composite backend, `bench eval` without FVD/CLIP, the
layout tools and the ComfyUI nodes. The rest is optional:

- `iva0[comfy]`: torch (the ComfyUI nodes' tensors; ComfyUI brings its own);
- `iva0[diffusion]`: torch, diffusers, transformers, accelerate, ... (the iva0
  and ttm backends, SAM 2 cut-outs, CLIP and FVD scores, `iva0 models`);
- `iva0[ui]`: gradio (the web page `iva0 ui`).
"""

from __future__ import annotations

# top-level module -> the extra that installs it
EXTRA_OF = {
    "torch": "diffusion",
    "diffusers": "diffusion",
    "transformers": "diffusion",
    "accelerate": "diffusion",
    "safetensors": "diffusion",
    "huggingface_hub": "diffusion",
    "einops": "diffusion",
    "ftfy": "diffusion",
    "gradio": "ui",
    "gradio_image_annotation": "ui",
}


def missing_extra(e: BaseException) -> str | None:
    """For an ImportError of a library an extra brings: one line naming what to pip install; else None."""
    if not isinstance(e, ImportError):
        return None
    name = (getattr(e, "name", None) or "").split(".")[0]
    extra = EXTRA_OF.get(name)
    if extra is None:
        return None
    return f"{name} is not installed: it comes with iva0's [{extra}] extra (pip install 'iva0[{extra}]')"


__all__ = ["EXTRA_OF", "missing_extra"]

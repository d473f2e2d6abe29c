"""iva0's ComfyUI node pack: link or copy this folder into ComfyUI/custom_nodes/ (see the repository's README,
"ComfyUI"). The nodes live in the iva0 package (iva0.comfy); this file only re-exports them, so iva0 must be
installed in ComfyUI's own Python first."""

from pathlib import Path


def _install_hint() -> str:
    """What to pip install: the checkout this folder came from when it is one, else the iva0 source folder."""
    root = Path(__file__).resolve().parent.parent
    source = str(root) if (root / "src" / "iva0" / "comfy").is_dir() else "<the iva0 source folder>"
    # no constraints file here: iva0's own ranges keep ComfyUI's torch and libraries as they are
    return f"python -m pip install -e '{source}[comfy]'"


try:
    from iva0.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except ImportError as e:
    if (getattr(e, "name", None) or "").split(".")[0] != "iva0":
        raise  # iva0 is there but something it needs is not: that error says what
    raise ImportError(
        "iva0 nodes: the iva0 package is not installed in this ComfyUI's Python. "
        f"With ComfyUI's own Python (its venv, or python_embeded\\python.exe in the portable build) run: {_install_hint()}"
    ) from None

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]

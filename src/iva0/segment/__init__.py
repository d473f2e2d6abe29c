"""Cut-outs: the object in each frame-0 box as a soft alpha, shared by every backend.

- grabcut (default, no weights): GrabCut in the box, see grabcut.py.
- sam2: Segment Anything 2 box prompts through transformers (local weights), see sam2.py.
- mask: the mask image the layout gives an object (`"mask": "masks/cup.png"`), see mask.py.

`create_segmenter(name, model)` builds one. "auto" (the default) is sam2 when a
model folder is given, or IVA0_SAM2_MODEL is set, or a SAM 2 model is in the
local Hugging Face cache (the smallest of SAM2_HUB_REPOS found: fast on a CPU;
name a larger one with --segmenter-model), else grabcut. An object with its
own mask in the layout always uses that mask, whatever the segmenter.
IVA0_SAM2_DTYPE=bfloat16 runs SAM 2 in bfloat16 (default float32).
"""

from __future__ import annotations

import json
import os

from iva0.errors import UserError
from iva0.segment.base import Segmenter, box_to_int, hard_mask, segment_all
from iva0.segment.grabcut import GrabCutOptions, GrabCutSegmenter

SEGMENTERS = ("auto", "grabcut", "sam2", "mask")
SAM2_ENV = "IVA0_SAM2_MODEL"
SAM2_DTYPE_ENV = "IVA0_SAM2_DTYPE"
SAM2_DTYPES = ("float32", "bfloat16")  # as iva0.segment.sam2.DTYPES (not imported here: it pulls in no torch)
# transformers-format SAM 2 checkpoints "auto" looks for in the HF cache, smallest first
SAM2_HUB_REPOS = tuple(f"facebook/sam2{v}-hiera-{size}" for v in (".1", "") for size in ("tiny", "small", "base-plus", "large"))
SAM2_HINT = "hf download facebook/sam2.1-hiera-tiny"  # how a user gets SAM 2 cut-outs with no flag at all


def cached_sam2() -> str | None:
    """The snapshot folder of the first SAM2_HUB_REPOS model in the local HF cache (transformers layout:
    config.json of model_type sam2 and safetensors weights), or None. Reads the cache only; never downloads.
    None too without the [diffusion] extra (huggingface_hub, transformers): SAM 2 could not run, "auto" is GrabCut."""
    import importlib.util

    if importlib.util.find_spec("huggingface_hub") is None or importlib.util.find_spec("transformers") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    for repo in SAM2_HUB_REPOS:
        try:
            config = try_to_load_from_cache(repo, "config.json")
        except Exception:  # noqa: BLE001 - an unreadable cache is no cache
            continue
        if not isinstance(config, str):
            continue
        folder = os.path.dirname(config)
        try:
            with open(config, encoding="utf-8") as f:
                model_type = json.load(f).get("model_type")
        except (OSError, ValueError, AttributeError):
            continue
        if model_type == "sam2" and any(n.endswith(".safetensors") for n in os.listdir(folder)):
            return folder
    return None


def sam2_dtype() -> str:
    """SAM 2's compute dtype from IVA0_SAM2_DTYPE (default float32); a bad value is the user's to fix."""
    value = (os.environ.get(SAM2_DTYPE_ENV) or "").strip() or "float32"  # unset, empty or blank: the default
    if value not in SAM2_DTYPES:
        raise UserError(f"{SAM2_DTYPE_ENV} must be one of {', '.join(SAM2_DTYPES)}, got {value!r}")
    return value


def resolve_segmenter(name: str | None, model: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """(segmenter name, model folder or None) after the defaults: auto -> sam2 if a folder is known
    (given, IVA0_SAM2_MODEL, or a SAM 2 model in the local HF cache), else grabcut."""
    name = "auto" if name is None else name  # `--segmenter ''` is a mistake, not the default
    if name not in SEGMENTERS:
        raise UserError(f"segmenter must be one of {', '.join(SEGMENTERS)}, got {name!r}")
    model = str(model) if model else ((os.environ.get(SAM2_ENV) or "").strip() or None)  # blank: unset
    if name == "auto":
        model = model or cached_sam2()
        name = "sam2" if model else "grabcut"
    if name == "sam2" and not model:
        raise UserError(f"--segmenter sam2 needs a model folder: give --segmenter-model DIR or set {SAM2_ENV}")
    if name == "sam2":
        sam2_dtype()  # a bad IVA0_SAM2_DTYPE fails here, before any compute
    if name != "sam2" and model and name != "auto":
        model = None  # a folder from the environment does not bind other segmenters
    return name, model if name == "sam2" else None


def describe_segmenter(name: str | None, model: str | os.PathLike | None = None) -> str:
    """One line saying which segmenter cuts the objects out (and how to get SAM 2 when it is GrabCut)."""
    name, model = resolve_segmenter(name, model)
    if name == "sam2":
        return f"cut-outs: SAM 2 ({model})"
    if name == "mask":
        return "cut-outs: the layout's masks"
    return f"cut-outs: GrabCut (objects with a layout mask use it; for SAM 2 cut-outs: {SAM2_HINT})"


def create_segmenter(name: str | None = "auto", model: str | os.PathLike | None = None, **options) -> Segmenter:
    name, model = resolve_segmenter(name, model)
    if name == "sam2":
        from iva0.segment.sam2 import Sam2Segmenter

        return Sam2Segmenter.from_pretrained(model, **{"dtype": sam2_dtype(), **options})
    if name == "mask":
        from iva0.segment.mask import MaskOnlySegmenter

        return MaskOnlySegmenter()
    return GrabCutSegmenter(**options)


__all__ = ["GrabCutOptions", "GrabCutSegmenter", "SAM2_DTYPE_ENV", "SAM2_ENV", "SAM2_HINT", "SAM2_HUB_REPOS", "SEGMENTERS", "Segmenter", "box_to_int",
           "cached_sam2", "create_segmenter", "describe_segmenter",
           "hard_mask", "resolve_segmenter", "sam2_dtype", "segment_all"]

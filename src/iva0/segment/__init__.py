"""Cut-outs: the object in each frame-0 box as a soft alpha, shared by every backend.

- grabcut (default, no weights): GrabCut in the box, see grabcut.py.
- sam2: Segment Anything 2 box prompts through transformers (local weights), see sam2.py.
- mask: the mask image the layout gives an object (`"mask": "masks/cup.png"`), see mask.py.

`create_segmenter(name, model)` builds one; name "auto" is sam2 when a model
folder is given (or IVA0_SAM2_MODEL is set), else grabcut. An object with its
own mask in the layout always uses that mask, whatever the segmenter.
IVA0_SAM2_DTYPE=bfloat16 runs SAM 2 in bfloat16 (default float32).
"""

from __future__ import annotations

import os

from iva0.errors import UserError
from iva0.segment.base import Segmenter, box_to_int, hard_mask, segment_all
from iva0.segment.grabcut import GrabCutOptions, GrabCutSegmenter

SEGMENTERS = ("auto", "grabcut", "sam2", "mask")
SAM2_ENV = "IVA0_SAM2_MODEL"
SAM2_DTYPE_ENV = "IVA0_SAM2_DTYPE"
SAM2_DTYPES = ("float32", "bfloat16")  # as iva0.segment.sam2.DTYPES (not imported here: it pulls in no torch)


def sam2_dtype() -> str:
    """SAM 2's compute dtype from IVA0_SAM2_DTYPE (default float32); a bad value is the user's to fix."""
    value = (os.environ.get(SAM2_DTYPE_ENV) or "").strip() or "float32"  # unset, empty or blank: the default
    if value not in SAM2_DTYPES:
        raise UserError(f"{SAM2_DTYPE_ENV} must be one of {', '.join(SAM2_DTYPES)}, got {value!r}")
    return value


def resolve_segmenter(name: str | None, model: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """(segmenter name, model folder or None) after the defaults: auto -> sam2 if a folder is known."""
    name = "auto" if name is None else name  # `--segmenter ''` is a mistake, not the default
    if name not in SEGMENTERS:
        raise UserError(f"segmenter must be one of {', '.join(SEGMENTERS)}, got {name!r}")
    model = str(model) if model else ((os.environ.get(SAM2_ENV) or "").strip() or None)  # blank: unset
    if name == "auto":
        name = "sam2" if model else "grabcut"
    if name == "sam2" and not model:
        raise UserError(f"--segmenter sam2 needs a model folder: give --segmenter-model DIR or set {SAM2_ENV}")
    if name == "sam2":
        sam2_dtype()  # a bad IVA0_SAM2_DTYPE fails here, before any compute
    if name != "sam2" and model and name != "auto":
        model = None  # a folder from the environment does not bind other segmenters
    return name, model if name == "sam2" else None


def create_segmenter(name: str | None = "auto", model: str | os.PathLike | None = None, **options) -> Segmenter:
    name, model = resolve_segmenter(name, model)
    if name == "sam2":
        from iva0.segment.sam2 import Sam2Segmenter

        return Sam2Segmenter.from_pretrained(model, **{"dtype": sam2_dtype(), **options})
    if name == "mask":
        from iva0.segment.mask import MaskOnlySegmenter

        return MaskOnlySegmenter()
    return GrabCutSegmenter(**options)


__all__ = ["GrabCutOptions", "GrabCutSegmenter", "SAM2_DTYPE_ENV", "SAM2_ENV", "SEGMENTERS", "Segmenter", "box_to_int", "create_segmenter",
           "hard_mask", "resolve_segmenter", "sam2_dtype", "segment_all"]

"""The depth map behind the camera's parallax (iva0.camera, iva0.backends.composite.parallax).

A depth map is (H, W) float32 in [0, 1], larger = nearer, normalised per picture (nearest pixel 1, farthest 0; a
flat map is all 0: no parallax). It comes from the layout's `camera.depth` file, read like the objects' masks
(inside the layout's folder, at most 8192 px a side from the header, never a decompression bomb, the picture's
aspect ratio within 2 %), or, when the layout names none, from a local Depth Anything V2 model (`--depth-model
DIR`, iva0.depth_model). Files: a PNG (8- or 16-bit greyscale; an RGB file whose channels are equal is grey too)
or a .npy of one 2-D numeric array. Every check runs before any compute (`check_depth`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from iva0.errors import LayoutError, UserError
from iva0.io.input_file import require_regular_file
from iva0.segment.mask import MAX_MASK_SIDE, fit_mask, read_limited_image

FIELD = "camera.depth"
GREY_MODES = ("L", "I;16", "I;16B", "I;16L", "I", "F")


def normalise(depth: np.ndarray) -> np.ndarray:
    """(H, W) -> float32 in [0, 1]: nearest (largest) 1, farthest 0; a flat map is all 0."""
    d = np.asarray(depth, np.float64)
    lo, hi = float(d.min()), float(d.max())
    if hi - lo <= 0:
        return np.zeros(d.shape, np.float32)
    return ((d - lo) / (hi - lo)).astype(np.float32)


def read_depth_file(path: str | os.PathLike, field: str = FIELD) -> np.ndarray:
    """The depth map of a PNG or .npy file, normalised, (h, w) float32; LayoutError naming `field` if unusable."""
    p = Path(path)
    raw = _read_npy(p, field) if p.suffix.lower() == ".npy" else read_limited_image(p, field, "depth map", _grey)[1]
    if not np.isfinite(raw).all():
        raise LayoutError(f"{field}: depth map {p} holds non-finite values (NaN or infinity)")
    return normalise(raw)


def _grey(im) -> np.ndarray:
    """A greyscale PIL image's values, 8 or 16 bit; an RGB(A) one only when its colour channels are equal."""
    if im.mode in GREY_MODES:
        return np.asarray(im).astype(np.float32)
    if im.mode in ("RGB", "RGBA", "LA", "P"):
        rgb = np.asarray(im.convert("RGB"))
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0].astype(np.float32)
    raise ValueError(f"a depth map is greyscale (8- or 16-bit; larger = nearer), this one is {im.mode} in colour")


def _read_npy(p: Path, field: str) -> np.ndarray:
    """One 2-D numeric array, its shape read from the header (at most MAX_MASK_SIDE a side) before the data."""
    require_regular_file(p, f"{field}: depth map file", LayoutError)
    try:
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)  # no data read yet
            if len(shape) != 2:
                raise LayoutError(f"{field}: depth map {p} holds a {len(shape)}-D array; one 2-D (H, W) array is read")
            if max(shape) > MAX_MASK_SIDE or min(shape) < 1:
                raise LayoutError(f"{field}: depth map {p}: {shape[1]}x{shape[0]} px, from 1 to {MAX_MASK_SIDE} px a side")
            if dtype.kind not in "biuf":
                raise LayoutError(f"{field}: depth map {p} holds {dtype} values; numbers are read (larger = nearer)")
            f.seek(0)
            return np.load(f, allow_pickle=False).astype(np.float32)
    except LayoutError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise LayoutError(f"{field}: cannot read depth map {p}: {e}") from None


def fit_depth(depth: np.ndarray, width: int, height: int, check_aspect: bool = True) -> np.ndarray:
    """`depth` resized to (height, width) (the masks' rule: the picture's aspect ratio within 2 %)."""
    return fit_mask(depth, width, height, FIELD, check_aspect, what="depth map")


def needs_depth(layout) -> bool:
    """Whether the layout's video needs a depth map: a camera with parallax on."""
    return layout.camera is not None and layout.camera.parallax > 0


def check_depth(layout, width: int, height: int, depth_model: str | os.PathLike | None = None) -> None:
    """Before any compute: with parallax on, the layout's depth file is readable and has the (width, height)
    picture's aspect ratio, or else a depth model folder passes its checks (no weights read); neither is an error."""
    if not needs_depth(layout):
        return
    if layout.camera.depth is not None:
        fit_depth(read_depth_file(layout.camera.depth), width, height)
    else:
        require_depth_model(depth_model)


def require_depth_model(depth_model: str | os.PathLike | None) -> None:
    """A layout with parallax and no depth file needs a depth model folder that passes its checks."""
    if depth_model is None:
        raise UserError("camera.parallax: parallax needs a depth map: name one in the layout (camera.depth, a "
                        "greyscale PNG or .npy, larger = nearer) or pass --depth-model DIR (a Depth Anything V2 "
                        "folder)")
    from iva0.depth_model import check_depth_model

    check_depth_model(depth_model)


def picture_depth(layout, image: np.ndarray, model=None) -> np.ndarray:
    """The depth map of `image` (H, W, 3) for the layout's camera, (H, W) float32 in [0, 1]: the layout's file
    (its aspect ratio was checked against the picture itself before any compute), else `model`'s estimate
    (a DepthModel, or a model folder to load)."""
    H, W = image.shape[:2]
    if layout.camera is not None and layout.camera.depth is not None:
        return fit_depth(read_depth_file(layout.camera.depth), W, H, check_aspect=False)
    if model is None:
        raise UserError("camera.parallax: parallax needs a depth map (camera.depth in the layout, or --depth-model DIR)")
    if not hasattr(model, "estimate"):
        from iva0.depth_model import DepthModel

        model = DepthModel.load(model)
    return model.estimate(image)


__all__ = ["check_depth", "fit_depth", "needs_depth", "normalise", "picture_depth", "read_depth_file",
           "require_depth_model"]

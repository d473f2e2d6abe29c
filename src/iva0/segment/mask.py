"""User masks: a layout object may name a mask image (`"mask": "masks/cup.png"`).

The path is relative to the layout file. White (or opaque, for an image with
an alpha channel) is the object. The mask may have any size with the picture's
aspect ratio (within MAX_RATIO_ERROR); it is resized to the picture, and its
grey levels become the soft alpha, so an anti-aliased or matted mask keeps its
soft edge. Every check runs before any compute (`check_layout_masks`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from iva0.errors import LayoutError, printable
from iva0.io.image import header_size
from iva0.io.input_file import require_regular_file
from iva0.limits import MAX_SIDE

MAX_RATIO_ERROR = 0.02  # |mask w/h - picture w/h| / picture w/h
MAX_MASK_SIDE = MAX_SIDE  # as for pictures


def read_mask(path: str | os.PathLike, field: str = "mask") -> np.ndarray:
    """Mask (h, w) float32 in [0, 1] from an image file; LayoutError naming `field` if unusable."""

    def grey_of(im: Image.Image) -> np.ndarray:
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            a = np.asarray(im.convert("RGBA"))[..., 3]
            return np.asarray(im.convert("L")) if a.min() == 255 else a
        return np.asarray(im.convert("L"))

    p, grey = read_limited_image(path, field, "mask", grey_of)
    m = grey.astype(np.float32) / 255.0
    if (m >= 0.5).sum() == 0:
        raise LayoutError(f"{field}: mask {p} is empty (no white pixels; white marks the object)")
    return m


def read_limited_image(path: str | os.PathLike, field: str, what: str,
                       to_array: Callable[[Image.Image], np.ndarray]) -> tuple[Path, np.ndarray]:
    """(path, `to_array(image)`) of an image file a layout names (a mask, a depth map), read within the limits: a
    regular file, at most MAX_MASK_SIDE px a side read from its header before any pixel is decoded, never a
    decompression bomb; every problem is one LayoutError naming `field` and calling the file a `what`."""
    p = require_regular_file(path, f"{field}: {what} file", LayoutError)
    size = header_size(p)  # from the header, before Pillow's own bomb check (which fires inside Image.open)
    if size is not None and max(size) > MAX_MASK_SIDE:
        raise LayoutError(f"{field}: {what} {p}: {size[0]}x{size[1]} px, at most {MAX_MASK_SIDE} px a side")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
        with im:
            if max(im.size) > MAX_MASK_SIDE:
                raise LayoutError(f"{field}: {what} {p}: {im.size[0]}x{im.size[1]} px, at most {MAX_MASK_SIDE} px a side")
            im.load()
            return p, to_array(im)
    except LayoutError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # no format told its size
        raise LayoutError(f"{field}: {what} {p}: too large to decode safely (at most {MAX_MASK_SIDE} px a side)") from None
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise LayoutError(f"{field}: cannot read {what} image {p}: {e}") from None


def fit_mask(mask: np.ndarray, width: int, height: int, field: str = "mask", check_aspect: bool = True,
             what: str = "mask") -> np.ndarray:
    """`mask` resized to (height, width); LayoutError when its aspect ratio is not the picture's.

    check_aspect=False: (width, height) is the picture as a backend resized it, perhaps to another aspect
    ratio (the iva0 backend's multiples of 64, a ttm model's size); the mask follows the picture there, and its
    aspect ratio was checked against the picture itself before any compute (`check_layout_masks`).
    """
    h, w = mask.shape[:2]
    want = width / height
    if check_aspect and abs(w / h - want) / want > MAX_RATIO_ERROR:
        raise LayoutError(f"{field}: {what} is {w}x{h}, not the picture's aspect ratio ({width}x{height})")
    if (w, h) == (width, height):
        return mask.astype(np.float32)
    interp = cv2.INTER_AREA if w * h > width * height else cv2.INTER_LINEAR
    return np.clip(cv2.resize(mask, (width, height), interpolation=interp), 0.0, 1.0).astype(np.float32)


def object_field(layout, j: int) -> str:
    return f'objects[{j}] ("{printable(layout.objects[j].name)}").mask'


def check_layout_masks(layout, width: int, height: int) -> None:
    """Read every mask the layout names and check it against the (width, height) picture it was drawn on
    (the input's own size, not an output size that a backend rounded to another aspect ratio)."""
    for j, obj in enumerate(layout.objects):
        if obj.mask is not None:
            fit_mask(read_mask(obj.mask, object_field(layout, j)), width, height, object_field(layout, j))


def layout_mask(layout, j: int, width: int, height: int, check_aspect: bool = True) -> np.ndarray | None:
    """Alpha (height, width) of object j's own mask, or None when it has none (check_aspect: see fit_mask)."""
    obj = layout.objects[j]
    if obj.mask is None:
        return None
    field = object_field(layout, j)
    return fit_mask(read_mask(obj.mask, field), width, height, field, check_aspect)


class MaskOnlySegmenter:
    """`--segmenter mask`: every object must bring its own mask; none is computed."""

    name = "mask"

    def segment(self, image, box_px, points=None, seed: int = 0):
        raise LayoutError("--segmenter mask: this object has no \"mask\" in the layout")

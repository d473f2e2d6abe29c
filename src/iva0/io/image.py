"""Reading pictures the way users have them: any orientation, mode or size up to a limit."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from iva0.errors import ImageError
from iva0.io.input_file import require_regular_file
from iva0.limits import MAX_SIDE


def read_image(path: str | os.PathLike, max_side: int = MAX_SIDE) -> np.ndarray:
    """Read PNG/JPEG/WebP/... as RGB uint8 (H, W, 3), EXIF orientation applied.

    Transparent pixels are composited over white; grey and palette images
    become RGB. Unreadable files and sides over `max_side` raise `ImageError`.
    """
    p = require_regular_file(path, "image", ImageError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size  # read from the header, before decoding pixels
                if max(w, h) > max_side:
                    raise ImageError(_too_large(p, w, h, max_side))
                im = ImageOps.exif_transpose(im)
                return to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL refuses huge pictures inside Image.open, before we see the size: read the header ourselves
        size = header_size(p)
        if size and max(size) > max_side:
            raise ImageError(_too_large(p, *size, max_side)) from None
        raise ImageError(f"{p}: image too large to decode safely") from None
    except UnidentifiedImageError:
        raise ImageError(f"cannot read image {p}: not a supported picture") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"cannot read image {p}: {e}") from None


def _too_large(p: Path, w: int, h: int, max_side: int) -> str:
    return f"{p}: image too large: {w}x{h} px (at most {max_side} px per side)"


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from a picture's header without PIL's decompression-bomb check
    (which fires inside Image.open, before the size can be read); None if no format knows it.
    Uses PIL's own format parsers; no pixel is decoded."""
    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            fp.seek(0)
            try:  # some formats' tests raise on a prefix shorter than they read (an empty or cut-off file)
                if accept and not accept(prefix):
                    continue
                return tuple(factory(fp, str(path)).size)
            except Exception:  # noqa: BLE001 - not this format; try the next parser
                continue
    return None


def picture_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) of a picture as `read_image` returns it (EXIF orientation applied), from its header
    without decoding pixels; None when it cannot be read (read_image then says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1)  # 5..8: rotated by 90 degrees, sides swap
    except Exception:  # noqa: BLE001 - any unreadable picture: the caller's later read reports it
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def to_rgb(im: Image.Image) -> np.ndarray:
    """PIL image of any mode -> RGB uint8 array; alpha is composited over white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit ints, 32-bit floats (0..1 or any range)
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("the picture holds non-finite values (NaN or infinity)")
        # scaled by its maximum (a 0..1 float image by 1); negative values are black, not wrapped round uint8
        arr = np.clip(arr / max(arr.max(), 1.0) * 255.0, 0.0, 255.0)
        im = Image.fromarray(arr.astype(np.uint8))
    im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ImageError(f"cannot use image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def fit_size(
    width: int,
    height: int,
    target_width: int | None = None,
    target_height: int | None = None,
    max_side: int | None = None,
    multiple: int = 2,
) -> tuple[int, int]:
    """Output (width, height): the targets if given (one keeps the aspect ratio),
    else the input scaled down to `max_side`; rounded down to `multiple` (video
    encoders need even sides, latents need multiples of 8)."""
    if target_width is not None and target_width <= 0 or target_height is not None and target_height <= 0:
        raise ImageError("--width/--height must be positive")
    if target_width and target_height:
        w, h = float(target_width), float(target_height)
    elif target_width:
        w, h = float(target_width), target_width * height / width
    elif target_height:
        w, h = target_height * width / height, float(target_height)
    else:
        w, h = float(width), float(height)
        if max_side and max(w, h) > max_side:
            s = max_side / max(w, h)
            w, h = w * s, h * s
    rw = max(multiple, int(round(w)) // multiple * multiple)
    rh = max(multiple, int(round(h)) // multiple * multiple)
    return rw, rh


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize RGB uint8 to (height, width, 3): area filter down, cubic up."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)

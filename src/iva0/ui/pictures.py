"""The picture a page works on: read with the CLI's checks, plus a copy sized for drawing."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from iva0.errors import UserError
from iva0.io.image import fit_size, read_image, resize_image
from iva0.ui.messages import page_message

# A picture is shown with its longer side at least this many px: an 8x8 icon must still be drawable on.
MIN_VIEW_SIDE = 1024


@dataclass
class Picture:
    full: np.ndarray  # (H, W, 3) uint8 as read, for generation
    view: np.ndarray  # (h, w, 3) uint8, longer side min_view_side..view_side px, for drawing
    name: str  # the user's own file name, without folder or suffix
    _memo: dict = field(default_factory=dict, repr=False, compare=False)  # digest, smaller copies: made once

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the view copy, the annotator's pixel space."""
        return self.view.shape[1], self.view.shape[0]

    @property
    def digest(self) -> str:
        """The picture's pixels, hashed: what caches of results computed from it are keyed by."""
        if "digest" not in self._memo:
            h = hashlib.blake2b(np.ascontiguousarray(self.full).data, digest_size=12)
            h.update(repr(self.full.shape).encode())
            self._memo["digest"] = h.hexdigest()
        return self._memo["digest"]

    def smaller(self, max_side: int) -> np.ndarray:
        """The picture scaled down to `max_side` (never up), (h, w, 3) uint8, made once per size."""
        key = ("smaller", int(max_side))
        if key not in self._memo:
            self._memo[key] = view_copy(self.full, int(max_side), min_side=1)
        return self._memo[key]


def view_copy(picture: np.ndarray, max_side: int, min_side: int = MIN_VIEW_SIDE) -> np.ndarray:
    """The picture for the page: scaled down to `max_side`, or up to `min_side` (boxes are
    normalised, so any size works). Small pictures are enlarged in blocks, as a person zooms in."""
    h, w = picture.shape[:2]
    if max(w, h) >= min_side:
        vw, vh = fit_size(w, h, max_side=max_side, multiple=1)
        return resize_image(picture, vw, vh)
    s = min_side / max(w, h)
    vw, vh = max(1, round(w * s)), max(1, round(h * s))
    # a few times larger: smooth; an icon: in blocks, as a person zooms in
    return cv2.resize(picture, (vw, vh), interpolation=cv2.INTER_CUBIC if s < 4 else cv2.INTER_NEAREST)


def load_picture(
    path: str | os.PathLike, *, max_mb: int, max_side: int, view_side: int, min_view_side: int = MIN_VIEW_SIDE,
    name: str | None = None,
) -> Picture:
    """Read an uploaded picture with the CLI's checks and the page's size limits. Messages name
    the file by its own name, never by the server's upload folder."""
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > max_mb * 1024 * 1024:
            raise UserError(f"picture {p.name} is too large: {p.stat().st_size / 2**20:.1f} MB (at most {max_mb} MB)")
        full = read_image(p, max_side=max_side)
    except UserError as e:
        raise UserError(page_message(str(e).replace(str(p), p.name))) from None
    return Picture(full=full, view=view_copy(full, view_side, min_view_side), name=name or p.stem)

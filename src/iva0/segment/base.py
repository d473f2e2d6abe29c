"""What every segmenter does: a box (and optional points) in, a soft alpha at the picture's size out."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    name: str

    def segment(self, image: np.ndarray, box_px: np.ndarray, points: np.ndarray | None = None,
                seed: int = 0) -> np.ndarray:
        """Soft alpha (H, W) float32 in [0, 1] of the object in `box_px` (xyxy px) of RGB uint8 `image`.

        `points` (N, 3): x, y (px) and label (1 = object, 0 = background), optional.
        """
        ...


def segment_all(segmenter: Segmenter, image: np.ndarray, boxes_px: np.ndarray,
                points: Sequence[np.ndarray | None] | None = None, seed: int = 0) -> list[np.ndarray]:
    """Alphas of several boxes (J, 4) of one picture; a segmenter with `segment_many` shares its work."""
    points = list(points) if points is not None else [None] * len(boxes_px)
    many = getattr(segmenter, "segment_many", None)
    if many is not None:
        return many(image, boxes_px, points, seed=seed)
    return [segmenter.segment(image, b, p, seed=seed + j) for j, (b, p) in enumerate(zip(boxes_px, points))]


def box_to_int(box_px: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel box clipped to the image, as integer (x0, y0, x1, y1) with at least 1 px sides."""
    x0, y0, x1, y1 = box_px
    x0 = int(np.clip(np.floor(x0), 0, width - 1))
    y0 = int(np.clip(np.floor(y0), 0, height - 1))
    x1 = int(np.clip(np.ceil(x1), x0 + 1, width))
    y1 = int(np.clip(np.ceil(y1), y0 + 1, height))
    return x0, y0, x1, y1


def hard_mask(alpha: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(H, W) uint8 {0, 1}: where the object is at least half there."""
    return (alpha >= threshold).astype(np.uint8)

"""Object consistency: does the object still look like itself where it now is?

object_ssim: SSIM of the grey 64x64 crop at b(f) against the frame-0 crop at
b(0), mean over frames f >= 1 where b(f) lies fully inside the frame (None when
no frame qualifies). `bench eval` also passes the tracked boxes: per frame the
crop (at the tracked or at the layout box) that looks more like the frame-0
object counts, so that a drift off the path, which vIoU scores, does not count
again as a change of looks, and a tracker's mistake does not count either. Crops are the pixel boxes rounded to whole pixels and
clipped to the frame, resized with area averaging. object_psnr alike (dB).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from iva0.metrics.boxes import fully_inside

CROP = 64
PSNR_CAP = 100.0  # dB reported for identical crops (the MSE is 0)


def grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def crop_resized(image: np.ndarray, box, size: int = CROP) -> np.ndarray | None:
    """Crop pixel box xyxy (rounded, clipped) from an (H, W[, C]) image and resize to size x size."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1 = max(0, x0), min(W, x1)
    y0, y1 = max(0, y0), min(H, y1)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    crop = image[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if (x1 - x0 >= size and y1 - y0 >= size) else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, mask: np.ndarray | None = None) -> float:
    """PSNR in dB; PSNR_CAP when identical. `mask` (H, W) bool restricts the pixels."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        d = d[mask]
    mse = float(np.mean(d * d)) if d.size else 0.0
    if mse <= 0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10.0 * np.log10(data_range**2 / mse)))


def _object_pairs(frames: np.ndarray, boxes_px: np.ndarray, size: int, ref_box: np.ndarray | None = None):
    """(f, (frame-0 crop, frame-f crop)) grey pairs over frames f >= 1 where b(f) is inside."""
    F, H, W, _ = frames.shape
    boxes_px = np.asarray(boxes_px, dtype=np.float64)
    ref = crop_resized(frames[0], boxes_px[0] if ref_box is None else ref_box, size)
    if ref is None:
        return []
    inside = fully_inside(boxes_px, W, H)
    pairs = []
    for f in range(1, F):
        if not inside[f]:
            continue
        cur = crop_resized(frames[f], boxes_px[f], size)
        if cur is not None:
            pairs.append((f, (grey(ref), grey(cur))))  # crop first, then grey: 64x64 instead of the frame
    return pairs


def object_scores(frames: np.ndarray, boxes_px: np.ndarray, size: int = CROP,
                  tracked: np.ndarray | None = None) -> tuple[float | None, float | None]:
    """(object_ssim, object_psnr) from the same crops (one pass over the frames).

    tracked (F, 4): where a tracker found the object (NaN where lost). Per frame
    the crop at the tracked box and the one at the layout box are both scored
    and the one that looks more like the frame-0 object counts: the object's
    looks where it is, whether it drifted off its path (the tracked box is
    right) or the tracker lost it (the layout box is).
    """
    frames = np.asarray(frames)
    # f -> (ssim, pair) per frame whose layout box is inside
    scored = {f: (structural_similarity(*pair, data_range=255), pair) for f, pair in _object_pairs(frames, boxes_px, size)}
    if tracked is not None:
        where = np.where(np.isnan(tracked), boxes_px, tracked)
        for f, pair in _object_pairs(frames, where, size, ref_box=np.asarray(boxes_px)[0]):
            if f in scored:  # only frames whose layout box is inside count (as without `tracked`)
                s_new = structural_similarity(*pair, data_range=255)
                if s_new > scored[f][0]:
                    scored[f] = (s_new, pair)
    if not scored:
        return None, None
    return float(np.mean([v for v, _ in scored.values()])), float(np.mean([psnr(*pair) for _, pair in scored.values()]))


def object_ssim(frames: np.ndarray, boxes_px: np.ndarray, size: int = CROP) -> float | None:
    pairs = _object_pairs(np.asarray(frames), boxes_px, size)
    if not pairs:
        return None
    return float(np.mean([structural_similarity(a, b, data_range=255) for _, (a, b) in pairs]))


def object_psnr(frames: np.ndarray, boxes_px: np.ndarray, size: int = CROP) -> float | None:
    pairs = _object_pairs(np.asarray(frames), boxes_px, size)
    if not pairs:
        return None
    return float(np.mean([psnr(a, b) for _, (a, b) in pairs]))

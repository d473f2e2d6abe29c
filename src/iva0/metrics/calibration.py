"""Synthetic videos whose true object boxes are known, to calibrate `bench eval`'s metrics.

Each case pastes one object (a photo-textured shape, `synthetic.object_shape`,
skinned with a patch of one scikit-image photo) over another scikit-image photo
(a clean plate: where the object leaves, the true background shows), moves it
and records, per frame f:

- requested B(f): the layout's box (the object's tight frame-0 box moved along
  the requested path);
- carried P(f): where the object's body took its frame-0 box (the box of the
  sprite as pasted);
- extent T(f): the tight box of the object's pixels that moved with it (equals
  P(f) unless a part stayed behind).

Cases: `whole` (moved along the path), `left_behind` (its trailing 30 % stays
where it was, like a wheel the video forgot), `drift` (whole, but its path
leaves the requested one by up to 60 % of its height), `blur` (whole, blurred
more and more, sigma up to 3 px), `still` (never moves: the static method).

The truth (`truth`) follows the metrics' definitions with the true boxes and
masks in place of estimates (docs/benchmark.md, "Calibration"):
- vIoU: mean over frames f >= 1 of IoU(P(f), B(f)): did the object's body
  take its box where it was asked to? (`viou_extent`, with T(f) in place of
  P(f), also shrinks the box to what moved: a part left behind lowers it. It is
  reported for comparison; left behind and object SSIM score that part.)
- object SSIM: mean over frames f >= 1 of the grey 64x64 SSIM of the crop at
  P(f) against the frame-0 crop at P(0) (the object where it is, not where it
  was asked to be);
- left behind: mean over frames f >= 1 (with >= 16 such pixels) of the share of
  the object's frame-0 pixels outside B(f) that still show the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from iva0.metrics.boxes import box_iou, clip_boxes, fully_inside
from iva0.metrics.consistency import crop_resized, grey
from iva0.metrics.synthetic import object_shape

CASES = ("whole", "left_behind", "drift", "blur", "still")
LEFT_SHARE = 0.3  # the trailing share of the object's box that `left_behind` leaves in place


@dataclass
class CalibrationCase:
    name: str
    frames: np.ndarray  # (F, H, W, 3) uint8
    requested: np.ndarray  # (F, 4) px xyxy: B(f)
    carried: np.ndarray  # (F, 4) px xyxy: P(f)
    extent: np.ndarray  # (F, 4) px xyxy: T(f)
    object_mask: np.ndarray  # (H, W) bool: the object's frame-0 pixels
    left_mask: np.ndarray  # (H, W) bool: the object's pixels that stay at their frame-0 place

    @property
    def image(self) -> np.ndarray:
        return self.frames[0]


def photo(name: str, width: int, height: int) -> np.ndarray:
    """A scikit-image data photo (shipped in the wheel), RGB uint8, cropped to the aspect and resized."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = img[..., :3]
    h, w = img.shape[:2]
    a = width / height
    if w / h > a:
        cw = int(round(h * a))
        img = img[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = int(round(w / a))
        img = img[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=cv2.INTER_AREA)


def _sprite(size: int, seed: int, skin_photo: str) -> tuple[np.ndarray, np.ndarray]:
    """An object cut to its tight box: RGB (h, w, 3) uint8 and mask (h, w) {0, 1}."""
    rng = np.random.default_rng(seed)
    src = photo(skin_photo, 2 * size, 2 * size)
    x, y = rng.integers(0, size, 2)
    rgb, mask = object_shape(size, "textured", rng, src[y : y + size, x : x + size])
    ys, xs = np.nonzero(mask)
    sl = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return rgb[sl], mask[sl]


def _paste(frame: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend rgb (h, w, 3) with alpha (h, w) in 0..1 into frame at integer (x, y), cropped to the frame."""
    H, W = frame.shape[:2]
    h, w = alpha.shape
    cx0, cy0, cx1, cy1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    a = alpha[cy0 - y : cy1 - y, cx0 - x : cx1 - x, None]
    src = rgb[cy0 - y : cy1 - y, cx0 - x : cx1 - x].astype(np.float32)
    dst = frame[cy0:cy1, cx0:cx1].astype(np.float32)
    frame[cy0:cy1, cx0:cx1] = np.clip(a * src + (1 - a) * dst + 0.5, 0, 255).astype(np.uint8)


def _box_of(mask: np.ndarray, x: int, y: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return np.array([x, y, x, y], np.float64)
    return np.array([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1], np.float64)


def make_case(name: str, width: int = 384, height: int = 256, num_frames: int = 16, seed: int = 0,
              background: str = "coffee", skin: str = "astronaut", size: int = 96) -> CalibrationCase:
    """One calibration video (see the module docstring). Motion: right and down by ~1.6 and ~0.5 object sizes."""
    if name not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {name!r}")
    bg = photo(background, width, height)
    rgb, mask = _sprite(size, seed, skin)
    h, w = mask.shape
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)  # an anti-aliased edge, as photographed
    F = num_frames
    t = np.linspace(0.0, 1.0, F)
    x0, y0 = round(0.12 * width), round(0.2 * height)
    # (F, 2) requested top-left corners, whole pixels: the truth has no rounding of its own
    path = np.round(np.stack([x0 + t * 1.6 * w, y0 + t * 0.5 * h], axis=1))
    actual = path.copy()
    if name == "drift":
        actual[:, 1] -= t * 0.6 * h  # leaves the requested path upwards, more and more
    if name == "still":
        actual[:] = path[0]
    actual = np.round(actual).astype(int)
    left = np.zeros_like(mask)
    if name == "left_behind":
        left[:, : int(round(LEFT_SHARE * w))] = mask[:, : int(round(LEFT_SHARE * w))]  # the trailing part
    moving = mask & (1 - left)
    frames, requested, carried, extent = [], [], [], []
    for f in range(F):
        fr = bg.copy()
        ax, ay = actual[f]
        if left.any():  # the part that stays; at frame 0 it and the moving part are the whole object, pasted once
            _paste(fr, rgb, alpha * left, *actual[0])
        a, img = alpha * moving, rgb
        if name == "blur" and f:
            s = 3.0 * t[f]
            img = cv2.GaussianBlur(rgb, (0, 0), s)
            a = cv2.GaussianBlur(a, (0, 0), s)
        _paste(fr, img, a, ax, ay)
        frames.append(fr)
        px, py = path[f]
        requested.append([px, py, px + w, py + h])
        carried.append([ax, ay, ax + w, ay + h])
        extent.append(_box_of(mask if f == 0 else moving, ax, ay))
    requested = np.asarray(requested, np.float64)
    obj = np.zeros((height, width), bool)
    obj[actual[0][1] : actual[0][1] + h, actual[0][0] : actual[0][0] + w] = mask > 0
    lm = np.zeros((height, width), bool)
    lm[actual[0][1] : actual[0][1] + h, actual[0][0] : actual[0][0] + w] = left > 0
    if name == "still":
        lm = obj.copy()  # the whole object stays where it was
    return CalibrationCase(name, np.stack(frames), requested, np.asarray(carried, np.float64),
                           np.asarray(extent, np.float64), obj, lm)


def truth(case: CalibrationCase) -> dict:
    """The metrics computed with the true boxes and masks (module docstring)."""
    F, H, W, _ = case.frames.shape
    req = clip_boxes(case.requested, W, H)
    iou = box_iou(clip_boxes(case.carried, W, H), req)  # (F,)
    iou_extent = box_iou(clip_boxes(case.extent, W, H), req)  # (F,)
    ref = crop_resized(case.frames[0], case.carried[0])
    inside = fully_inside(case.carried, W, H)
    ssims = [structural_similarity(grey(ref), grey(crop_resized(case.frames[f], case.carried[f])), data_range=255)
             for f in range(1, F) if inside[f]]
    shares = []
    for f in range(1, F):
        x0, y0, x1, y1 = (int(v) for v in np.clip(np.round(case.requested[f]), 0, [W, H, W, H]))
        out = case.object_mask.copy()
        out[y0:y1, x0:x1] = False
        if out.sum() >= 16:
            shares.append(float((out & case.left_mask).sum() / out.sum()))
    return {
        "viou": float(iou[1:].mean()),
        "viou_extent": float(iou_extent[1:].mean()),
        "object_ssim": float(np.mean(ssims)) if ssims else None,
        "left_behind": float(np.mean(shares)) if shares else None,
    }


def case_layout(case: CalibrationCase):
    """The layout that asked for the case's motion: a key at every frame (B(f), normalised)."""
    from iva0.layout import make_layout

    F, H, W, _ = case.frames.shape
    norm = case.requested / np.array([W, H, W, H], np.float64)
    return make_layout([("object", [(f, norm[f].tolist()) for f in range(F)])], num_frames=F)

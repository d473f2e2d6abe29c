"""Synthetic videos with known answers, for the metrics' tests and speed runs."""

from __future__ import annotations

import cv2
import numpy as np


def texture(height: int, width: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """A random, smooth-ish RGB texture (uint8), which trackers and SSIM can latch onto."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if blur > 0:
        t = cv2.GaussianBlur(t, (0, 0), blur)
    return t


def moving_patch_video(
    boxes_px: np.ndarray,
    height: int,
    width: int,
    seed: int = 0,
    background: np.ndarray | None = None,
    fill_vacated: bool = True,
) -> np.ndarray:
    """Frames (F, H, W, 3): a textured patch pasted exactly at each box in `boxes_px` (F, 4).

    The patch is the frame-0 content of box 0 (a distinct texture), resized to
    each box. With `fill_vacated`, the background shows where the patch was;
    otherwise the patch's frame-0 pixels stay behind (an afterimage).
    """
    bg = texture(height, width, seed) if background is None else background
    b0 = np.round(boxes_px[0]).astype(int)
    pw, ph = b0[2] - b0[0], b0[3] - b0[1]
    patch = texture(ph, pw, seed + 1, blur=1.0)
    # a bright border and a dark cross make the patch easy to tell from the background
    patch = patch // 2 + 64
    patch[:, pw // 2 - 1 : pw // 2 + 1] = 0
    patch[ph // 2 - 1 : ph // 2 + 1] = 0
    first = bg.copy()
    _paste(first, patch, b0)
    frames = []
    for b in boxes_px:
        fr = bg.copy() if fill_vacated else first.copy()
        bi = np.round(b).astype(int)
        _paste(fr, cv2.resize(patch, (bi[2] - bi[0], bi[3] - bi[1]), interpolation=cv2.INTER_LINEAR), bi)
        frames.append(fr)
    return np.stack(frames)  # (F, H, W, 3)


def _paste(dst: np.ndarray, patch: np.ndarray, box: np.ndarray) -> None:
    """Paste `patch` at integer xyxy `box`, cropped where it leaves the frame."""
    H, W = dst.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    dst[cy0:cy1, cx0:cx1] = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def linear_boxes(start, end, num_frames: int) -> np.ndarray:
    """Boxes (F, 4) moving linearly from `start` to `end` (pixel xyxy)."""
    t = np.linspace(0.0, 1.0, num_frames)[:, None]
    return (1 - t) * np.asarray(start, dtype=np.float64) + t * np.asarray(end, dtype=np.float64)


# ---------------------------------------------------------------------------
# scenes with a known object mask, for scoring segmenters (benchmarks/segment_quality.py)
# ---------------------------------------------------------------------------
OBJECT_KINDS = ("textured", "thin", "dark")


def object_shape(size: int, kind: str, rng: np.random.Generator, skin: np.ndarray,
                 dark: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An object on a (size, size) canvas: RGB uint8 and its mask {0, 1}.

    Its body is a few overlapping ellipses dressed in `skin` (size, size, 3), a
    patch of a real photo, so its colours and texture are a photo's, not a
    synthetic pattern's. textured: just that. thin: plus 1-3 thin parts (a
    handle, legs) 1.5-3 % of its size wide reaching its edge. dark: a body in
    `dark` (the background's darkest colour, as a black helmet against night)
    inside a bright rim.
    """
    mask = np.zeros((size, size), np.uint8)
    c = size // 2
    for _ in range(3):
        ax = (int(rng.uniform(0.15, 0.3) * size), int(rng.uniform(0.15, 0.3) * size))
        ctr = (int(c + rng.uniform(-0.12, 0.12) * size), int(c + rng.uniform(-0.12, 0.12) * size))
        cv2.ellipse(mask, ctr, ax, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    rgb = skin.astype(np.float32)
    if kind == "thin":
        t = max(2, int(round(rng.uniform(0.015, 0.03) * size)))
        for _ in range(int(rng.integers(1, 4))):
            ang = rng.uniform(0, 2 * np.pi)
            end = (int(c + 0.49 * size * np.cos(ang)), int(c + 0.49 * size * np.sin(ang)))
            cv2.line(mask, (c, c), end, 1, t)
    elif kind == "dark":
        inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size // 8 | 1, size // 8 | 1)))
        base = np.asarray(dark if dark is not None else (20, 20, 20), np.float32)
        body = np.clip(base[None, None] + (rgb - rgb.mean((0, 1))) * 0.15, 0, 255)
        rim = np.clip(rgb * 0.3 + 170, 0, 255)
        rgb = np.where(inner[..., None] > 0, body, rim)
    elif kind != "textured":
        raise ValueError(f"kind must be one of {OBJECT_KINDS}, got {kind!r}")
    return np.clip(rgb, 0, 255).astype(np.uint8), mask


def object_scene(background: np.ndarray, kind: str, seed: int = 0, skin_source: np.ndarray | None = None):
    """`background` (H, W, 3) uint8 with one object pasted: (image, mask (H, W) {0, 1}, box px xyxy).

    The object is 25-60 % of the shorter side, anywhere; its skin is a patch of
    `skin_source` (another photo; default: the background itself, elsewhere);
    its edge is anti-aliased like a photographed one; the box is its tight box
    loosened by 3-10 % on each side, as a user draws it.
    """
    rng = np.random.default_rng(seed)
    H, W = background.shape[:2]
    size = int(rng.uniform(0.25, 0.6) * min(H, W))
    src = background if skin_source is None else skin_source
    sh, sw = src.shape[:2]
    s = min(size, sh, sw)
    sx, sy = int(rng.integers(0, sw - s + 1)), int(rng.integers(0, sh - s + 1))
    skin = cv2.resize(src[sy : sy + s, sx : sx + s], (size, size), interpolation=cv2.INTER_LINEAR)
    x, y = int(rng.integers(0, W - size + 1)), int(rng.integers(0, H - size + 1))
    around = background[max(0, y - size // 4) : y + size + size // 4, max(0, x - size // 4) : x + size + size // 4].reshape(-1, 3)
    darkest = around[np.argsort(around.astype(int).sum(1))[: max(1, len(around) // 10)]].mean(0)
    rgb, mask = object_shape(size, kind, rng, skin, darkest)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)[..., None]
    img = background.copy().astype(np.float32)
    img[y : y + size, x : x + size] = alpha * rgb + (1 - alpha) * img[y : y + size, x : x + size]
    full = np.zeros((H, W), np.uint8)
    full[y : y + size, x : x + size] = mask
    ys, xs = np.nonzero(full)
    bw, bh = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    loosen = rng.uniform(0.03, 0.10, 4)
    box = np.array([xs.min() - loosen[0] * bw, ys.min() - loosen[1] * bh, xs.max() + 1 + loosen[2] * bw, ys.max() + 1 + loosen[3] * bh])
    box = np.clip(box, 0, [W, H, W, H])
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), full, box

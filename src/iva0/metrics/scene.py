"""Video-level metrics: background consistency, afterimage, temporal smoothness.

All take frames (F, H, W, 3) uint8 RGB and the input image `reference`
(H, W, 3) uint8 at the same size. With a camera the input differs per frame:
background_psnr/ssim and afterimage also take one reference per frame
(F, H, W, 3) and one mask per frame (the picture through window f and the
pixels on it, iva0.metrics.window_view); a still reference scores as before.

- background_psnr / background_ssim: frames f >= 1 against the input over the
  pixels that no object's box covers in any frame (`iva0.masks.never_occupied`).
  PSNR pools the squared error of all those pixels (RGB) over all frames f >= 1
  (identical -> PSNR_CAP dB); SSIM is skimage's grey SSIM map averaged over the
  mask, then over frames, computed at most `ssim_side` px on the longer side.
- afterimage (ours, low is good): how much the vacated region V(f) still looks
  like the original object there. For each frame f >= 1 whose V(f) holds at
  least `min_pixels` pixels: the Pearson correlation (NCC) between the grey
  pixels of V(f) in frame f and the same pixels of the input, clipped at 0;
  mean over those frames. A frozen ghost (or a fading one: NCC ignores
  contrast and brightness) scores 1, a background unrelated to the object
  scores ~0; a flat fill scores 0. Frames whose input pixels in V(f) are flat
  (grey std < 2) are skipped: there is no object texture to leave behind. None
  when no frame qualifies (nothing moved away).
  V(f) is made of boxes, so it also holds the background around the object,
  which every good method rightly leaves in place: that part correlates with
  the input too, and sets a floor no cut-out can go under (measured with exact
  masks in benchmarks/segment_quality.py --motion). Given the objects' masks
  (`object_mask`, the layout's "mask" fields), V(f) is cut to their frame-0
  pixels: the afterimage of the objects themselves, with no such floor.
- warp_error: mean absolute RGB difference (0..1) between frame f+1 and frame
  f warped to it by DIS optical flow (OpenCV), over pixels that the flow maps
  inside the frame, mean over neighbouring pairs. Flow runs on grey frames
  downscaled to at most `flow_side` px; 0 for a still video, small for smooth
  motion, large for flicker or jumps. No occlusion handling: objects that
  uncover background add a little error to every method alike.
"""

from __future__ import annotations

import cv2
from scipy.ndimage import distance_transform_edt
import numpy as np
from skimage.metrics import structural_similarity

from iva0.metrics.consistency import PSNR_CAP, grey

FLOW_SIDE = 192
SSIM_SIDE = 192


def per_frame(x: np.ndarray, num_frames: int, still_ndim: int, fn=None) -> list:
    """`x` for each frame: one still array (`still_ndim` dims) for all frames, or a stack with one per frame;
    `fn` applied once per distinct array (a still one is prepared once)."""
    x = np.asarray(x)
    fn = fn or (lambda a: a)
    if x.ndim == still_ndim:
        return [fn(x)] * num_frames
    if x.ndim != still_ndim + 1 or x.shape[0] != num_frames:
        raise ValueError(f"expected one array of {still_ndim} dims or {num_frames} of them, got shape {x.shape}")
    return [fn(a) for a in x]


def background_psnr(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float | None:
    """reference (H, W, 3) or one per frame (F, H, W, 3); mask (H, W) or one per frame (F, H, W)."""
    F = frames.shape[0]
    masks = per_frame(mask, F, 2, lambda m: np.asarray(m, dtype=bool))
    count = sum(int(m.sum()) for m in masks[1:])  # mask pixels over frames f >= 1
    if F < 2 or count == 0:
        return None
    m8s = per_frame(mask, F, 2, lambda m: np.asarray(m, dtype=bool).astype(np.uint8))
    refs = per_frame(reference, F, 3, np.ascontiguousarray)
    # cv2.norm sums squared differences over the masked pixels and all channels
    sse = sum(cv2.norm(np.ascontiguousarray(frames[f]), refs[f], cv2.NORM_L2SQR, mask=m8s[f]) for f in range(1, F))
    mse = float(sse) / (3.0 * float(count))
    if mse <= 0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10 * np.log10(255.0**2 / mse)))


def background_ssim(
    frames: np.ndarray, reference: np.ndarray, mask: np.ndarray, ssim_side: int | None = SSIM_SIDE
) -> float | None:
    """Grey SSIM over the mask; frames larger than `ssim_side` are downscaled first (speed). reference and mask:
    still or one per frame, as for `background_psnr`; frames whose mask is empty are left out."""
    F = frames.shape[0]
    H, W = frames.shape[1:3]
    scale = min(1.0, ssim_side / max(H, W)) if ssim_side else 1.0
    size = (max(8, round(W * scale)), max(8, round(H * scale)))

    def prep(im: np.ndarray) -> np.ndarray:
        g = grey(im)
        return cv2.resize(g, size, interpolation=cv2.INTER_AREA) if size != (W, H) else g

    def prep_mask(m: np.ndarray) -> np.ndarray | None:
        m = np.asarray(m, dtype=bool)
        if not m.any():
            return None
        if size != (W, H):
            # a pixel counts when most of it lies in the mask at the smaller size
            m = cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
        return m if m.any() else None

    masks = per_frame(mask, F, 2, prep_mask)
    if F < 2 or all(m is None for m in masks[1:]):
        return None
    refs = per_frame(reference, F, 3, prep)
    vals = []
    for f in range(1, F):
        if masks[f] is None:
            continue
        _, smap = structural_similarity(refs[f], prep(frames[f]), data_range=255, full=True)
        vals.append(float(smap[masks[f]].mean()))
    return float(np.mean(vals))


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two pixel vectors; 0 when either is flat."""
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-9 else 0.0


def afterimage(
    frames: np.ndarray, reference: np.ndarray, vacated: np.ndarray, min_pixels: int = 16, flat_std: float = 2.0,
    object_mask: np.ndarray | None = None,
) -> float | None:
    """Mean over frames of max(0, NCC) between V(f) in frame f and in the input. vacated: (F, H, W).

    reference: (H, W, 3) or one per frame (F, H, W, 3). object_mask (H, W) or one per frame (F, H, W): the
    objects' frame-0 pixels; V(f) is cut to them when given.
    """
    F = frames.shape[0]
    refs = per_frame(reference, F, 3, grey)
    keeps = [None] * F if object_mask is None else per_frame(object_mask, F, 2, lambda m: m > 0.5)
    vals = []
    for f in range(1, F):
        m = vacated[f] > 0.5
        if keeps[f] is not None:
            m &= keeps[f]
        if m.sum() < min_pixels:
            continue
        a = refs[f][m]
        if a.std() < flat_std:
            continue
        vals.append(max(0.0, ncc(a, grey(frames[f])[m])))
    return float(np.mean(vals)) if vals else None


def warp_error(frames: np.ndarray, flow_side: int | None = FLOW_SIDE) -> float | None:
    F, H, W, _ = frames.shape
    if F < 2:
        return None
    scale = min(1.0, flow_side / max(H, W)) if flow_side else 1.0
    w, h = max(8, round(W * scale)), max(8, round(H * scale))
    small = np.stack([cv2.resize(fr, (w, h), interpolation=cv2.INTER_AREA) if (w, h) != (W, H) else fr for fr in frames])
    greys = [grey(fr) for fr in small]
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    errs = []
    for f in range(F - 1):
        # flow from frame f+1 to frame f: frame f+1 at x looks like frame f at x + flow(x)
        flow = dis.calc(greys[f + 1], greys[f], None)  # (h, w, 2)
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        warped = cv2.remap(small[f], mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = ((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)).astype(np.uint8)  # (h, w)
        if not valid.any():
            continue
        # mean |warped - next| over valid pixels, per channel, then over channels; 0..1
        diff = cv2.absdiff(warped, small[f + 1])  # (h, w, 3) uint8
        errs.append(float(np.mean(cv2.mean(diff, mask=valid)[:3])) / 255.0)
    return float(np.mean(errs)) if errs else None


RING = 0.25  # the surroundings that explain the background: this share of the box's shorter side around it
COLOUR_BINS = 12  # per channel, for the colour histograms of the box and its surroundings
OBJECT_MEDIAN = 7  # px: the estimate is cleaned of specks by a median filter this wide
SAME_OPEN = 5  # px: "still the input's colour" must hold over a patch this wide, not a lone pixel


def _box_slices(box0: np.ndarray, W: int, H: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in np.clip(np.round(box0), 0, [W, H, W, H]))
    return x0, y0, x1, y1


def differs_from_fill(reference: np.ndarray, box0: np.ndarray, differ: float = 20.0) -> np.ndarray:
    """(H, W) bool: pixels whose colour differs (max channel > `differ`) from the background that OpenCV's
    Telea inpainting paints over the box from its surroundings.

    Where the object has the colour of what would be behind it, even a perfect
    fill would look the same there: such a pixel cannot tell "left behind" from
    "moved away", so neither the estimate nor a given mask counts it.
    """
    H, W = reference.shape[:2]
    x0, y0, x1, y1 = _box_slices(box0, W, H)
    inbox = np.zeros((H, W), np.uint8)
    inbox[y0:y1, x0:x1] = 1
    r = max(3, int(0.02 * max(H, W)))
    est = cv2.inpaint(reference, cv2.dilate(inbox, np.ones((5, 5), np.uint8)), r, cv2.INPAINT_TELEA)
    return np.abs(reference.astype(np.int16) - est).max(-1) > differ


def object_pixels(reference: np.ndarray, box0: np.ndarray, differ: float = 20.0,
                  differs: np.ndarray | None = None) -> np.ndarray:
    """An estimate of the object's pixels in its frame-0 box (H, W) bool, from the input alone.

    Seed: a pixel is the object's when its colour is at least twice as common
    in the box as in a ring of RING times the box's shorter side around it
    (colour histograms of COLOUR_BINS per channel): the surroundings do not
    explain it; and it differs from the fill over the box (`differs_from_fill`).
    Specks are removed with a median filter (OBJECT_MEDIAN px). The seed misses
    object parts whose colours also occur around the box, so it is grown with
    OpenCV's GrabCut (GRABCUT_ITERS iterations, seeded: the ring is background,
    the seed probable object, the rest of the box probable background; a fixed
    RNG seed), which follows the object's colour model and edges over the
    whole box, and kept where it differs from the fill. The same for every
    method scored. On the calibration videos (docs/benchmark.md) the largest
    error of left behind fell from 0.12 (a Telea estimate alone) to 0.05 (the
    colour seed) to 0.02 (with GrabCut). `differs`: `differs_from_fill`'s map
    when the caller has it (left behind needs it too: one inpainting, not two).
    """
    H, W = reference.shape[:2]
    x0, y0, x1, y1 = _box_slices(box0, W, H)
    inbox = np.zeros((H, W), bool)
    inbox[y0:y1, x0:x1] = True
    m = max(4, int(RING * min(x1 - x0, y1 - y0)))
    ring = np.zeros((H, W), bool)
    ring[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] = True
    ring &= ~inbox
    q = reference.astype(np.int32) * COLOUR_BINS // 256  # (H, W, 3) bin per channel
    idx = (q[..., 0] * COLOUR_BINS + q[..., 1]) * COLOUR_BINS + q[..., 2]  # (H, W) one bin per colour
    in_box = np.bincount(idx[inbox], minlength=COLOUR_BINS**3) / max(1, int(inbox.sum()))
    around = np.bincount(idx[ring], minlength=COLOUR_BINS**3) / max(1, int(ring.sum()))
    rare = (2 * around[idx] < in_box[idx]) & inbox
    if differs is None:
        differs = differs_from_fill(reference, box0, differ)
    seed = (cv2.medianBlur((rare & differs).astype(np.uint8), OBJECT_MEDIAN) > 0) & inbox
    return _grow_with_grabcut(reference, seed, inbox, ring)


GRABCUT_ITERS = 3


def _grow_with_grabcut(reference: np.ndarray, seed: np.ndarray, inbox: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """GrabCut over the box and its ring, from `seed` (H, W) bool; the seed alone where GrabCut cannot run."""
    if seed.sum() < 16 or ring.sum() < 16:  # too little to learn a colour model from
        return seed
    ys, xs = np.nonzero(inbox | ring)
    sl = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]  # the crop GrabCut works on
    gc = np.full(seed[sl].shape, cv2.GC_BGD, np.uint8)  # (h, w) outside box and ring: certain background
    gc[inbox[sl]] = cv2.GC_PR_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws from OpenCV's RNG: the same input, the same estimate
    try:
        cv2.grabCut(np.ascontiguousarray(reference[sl]), gc, None, bgd, fgd, GRABCUT_ITERS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # degenerate colour models (a flat crop): keep the seed
        return seed
    out = np.zeros_like(seed)
    out[sl] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    return out & inbox


def left_behind(frames: np.ndarray, reference: np.ndarray, box0: np.ndarray, boxes_f: np.ndarray,
                same_diff: float = 20.0, min_pixels: int = 16, object_mask: np.ndarray | None = None,
                same_open: int = SAME_OPEN, judged: np.ndarray | None = None) -> float | None:
    """Share of an object's frame-0 pixels still showing it where its box has moved away (low is good).

    No human mask is needed: the object's pixels are estimated from the input
    (`object_pixels`, the same for every method scored, with `differ` =
    `same_diff`). At frame f, of those
    pixels that no box covers any more, the share whose colour is still the
    input's (max channel < `same_diff`, over patches of `same_open` px: lone
    pixels whose colour happens to match are not the object) was left behind;
    the mean over frames. boxes_f: (F, J, 4) px of every object, box0 (4,) px
    of this one. Given the object's mask (`object_mask` (H, W), the layout's
    "mask"), its pixels inside the box are the object's instead. An object pixel
    coloured like the fill behind it (`differs_from_fill` false) takes the
    verdict of the nearest one that is not; `judged` (H, W) gives that map when
    the caller has it (a camera video, scored frame by frame).
    """
    H, W = reference.shape[:2]
    x0, y0, x1, y1 = _box_slices(box0, W, H)
    if x1 <= x0 or y1 <= y0:
        return None
    # pixels coloured like the fill behind them read "still there" whether they stayed or left: they take the
    # verdict of the nearest pixel that can be judged
    if judged is None:  # (H, W) bool; given by a caller that has it (bench eval: it estimated the object with it)
        judged = differs_from_fill(reference, box0, same_diff)
    else:
        judged = np.asarray(judged) > 0.5
    if object_mask is not None:
        inbox = np.zeros((H, W), bool)
        inbox[y0:y1, x0:x1] = True
        obj = (object_mask > 0.5) & inbox
    else:
        obj = object_pixels(reference, box0, differ=same_diff, differs=judged)
    kernel = np.ones((same_open, same_open), np.uint8) if same_open > 1 else None
    vals = []
    for f in range(1, frames.shape[0]):
        covered = np.zeros((H, W), bool)
        for b in boxes_f[f]:
            bx0, by0, bx1, by1 = _box_slices(b, W, H)
            covered[by0:by1, bx0:bx1] = True
        v = obj & ~covered
        if v.sum() < min_pixels:
            continue
        same = np.abs(frames[f].astype(np.int16) - reference).max(-1) < same_diff
        if kernel is not None:  # an opening, then the opened patches grown back over the matching pixels
            kept = cv2.morphologyEx(same.astype(np.uint8), cv2.MORPH_OPEN, kernel)
            same &= cv2.dilate(kept, kernel) > 0
        vals.append(float(_verdicts(same, v, v & judged).sum() / v.sum()))
    return float(np.mean(vals)) if vals else None


def _verdicts(same: np.ndarray, pixels: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """(H, W) bool "still shows the object" over `pixels`: `same` where judged, else the nearest judged pixel's."""
    if not judged.any() or judged.sum() == pixels.sum():
        return same & pixels
    ys, xs = np.nonzero(pixels)
    sl = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]  # the pixels' bounding box: all a verdict needs
    _, (iy, ix) = distance_transform_edt(~judged[sl], return_indices=True)  # (2, h, w) nearest judged pixel
    out = np.zeros_like(pixels)
    out[sl] = np.where(judged[sl], same[sl], same[sl][iy, ix]) & pixels[sl]
    return out

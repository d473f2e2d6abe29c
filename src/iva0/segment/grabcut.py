"""GrabCut inside the box: no weights, a second or so per object on a CPU.

GrabCut learns a colour model of the object (inside the box) and of the
background (a margin around it) and cuts along colour edges. What goes wrong
with it, and what this module does about each:

- a large object segmented at a small fixed size loses its thin parts, a small
  one wastes time: the crop is scaled so the *box* has `work_box` px on its
  longer side (never enlarged);
- a dark part next to a dark background (a black helmet inside its white rim,
  the hub of a wheel inside its tyre) is cut away: holes enclosed by the
  object are filled back;
- a part joined to the rest only through a thin stalk, or split off by a shadow
  (a wheel, a spoon's tip) was dropped by "keep the largest component": every
  component of some size inside the box is kept;
- a plain feather eats into the object; the edge is instead refined with a
  guided filter that follows the picture (`refine.py`).

A result under MIN_FOREGROUND of the box (or over `max_share`) is not trusted
and the box's inscribed ellipse is used, which still moves the object whole. A
result filling the whole box is trusted: a tight box around a square object
is one (the old rule, over 97 % -> ellipse, cut such an object's corners off).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from iva0.segment.base import box_to_int
from iva0.segment.refine import feather, guided_alpha

MIN_FOREGROUND = 0.08
FLAT_STD = 2.0  # a crop whose every channel varies less than this (grey levels) holds no object colour can cut


@dataclass(frozen=True)
class GrabCutOptions:
    iterations: int = 3  # 5 before the box prior, which adds rounds of its own: same quality, ~25 % less time
    work_box: int | None = 320  # longer box side GrabCut sees (px); None: the crop's longer side is `work_side`
    work_side: int = 256  # used only when work_box is None (the old fixed working size)
    fill_holes: bool = True  # fill holes enclosed by the object
    centre: float = 0.3  # a central ellipse of this share of the box's sides is sure object (0: none)
    min_part: float = 0.01  # keep every component at least this share of the box (0 < share); old: 15 % of the largest
    keep_largest_only: bool = False  # old behaviour: components under 15 % of the largest are dropped
    edge: str = "guided"  # guided | feather
    max_share: float = 1.0  # a mask over this share of the box falls back to the ellipse (old: 0.97)
    edge_px: float | None = None  # soft edge width in px; None: 1.5 % of the box's shorter side (at least 1.5 px)
    tight: float = 0.1  # box prior: every row and column of the box, less this share of its sides, crosses the object (0: off)
    tight_rounds: int = 3  # at most this many rounds of pinpointing (box_prior)


LEGACY = GrabCutOptions(iterations=4, work_box=None, work_side=256, fill_holes=False, centre=0.0, keep_largest_only=True,
                        max_share=0.97, edge="feather", tight=0.0)


class GrabCutSegmenter:
    name = "grabcut"

    def __init__(self, options: GrabCutOptions = GrabCutOptions(), feather_px: float | None = None) -> None:
        self.options = options
        self.feather_px = feather_px  # the legacy feather width (px) when edge == "feather"

    def segment(self, image: np.ndarray, box_px: np.ndarray, points: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        mask = grabcut_mask(image, box_px, self.options, points=points, seed=seed)
        H, W = image.shape[:2]
        x0, y0, x1, y1 = box_to_int(box_px, W, H)
        o = self.options
        if o.edge == "feather":
            f = self.feather_px if self.feather_px is not None else max(1.0, 0.006 * min(H, W))
            return feather(mask, f)
        r = int(round(o.edge_px if o.edge_px is not None else max(1.5, 0.015 * min(x1 - x0, y1 - y0))))
        # the filter only changes pixels within 2r of the mask, which lies in the box: filter the box's crop
        cx0, cy0, cx1, cy1 = max(0, x0 - 2 * r), max(0, y0 - 2 * r), min(W, x1 + 2 * r), min(H, y1 + 2 * r)
        alpha = np.zeros((H, W), np.float32)
        alpha[cy0:cy1, cx0:cx1] = guided_alpha(image[cy0:cy1, cx0:cx1], mask[cy0:cy1, cx0:cx1], r)
        inside = np.zeros((H, W), np.float32)
        inside[y0:y1, x0:x1] = 1.0
        return alpha * inside  # never outside the box


def ellipse_mask(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return ((((yy - cy) / max(h / 2, 1)) ** 2 + ((xx - cx) / max(w / 2, 1)) ** 2) <= 1.0).astype(np.uint8)


def grabcut_mask(image: np.ndarray, box_px: np.ndarray, options: GrabCutOptions = GrabCutOptions(),
                 points: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Hard foreground mask (H, W) uint8 {0, 1} of the object inside `box_px`.

    GrabCut runs on a crop around the box (the box plus a margin); pixels
    outside the box are sure background, points (x, y, label) are sure object
    (1) or sure background (0). When the box fills the crop on every side (no
    background to learn from), a thin band inside the box is probable
    background instead.
    """
    o = options
    H, W = image.shape[:2]
    x0, y0, x1, y1 = box_to_int(box_px, W, H)
    bw, bh = x1 - x0, y1 - y0
    fallback = np.zeros((H, W), np.uint8)
    fallback[y0:y1, x0:x1] = ellipse_mask(bh, bw)
    if bw < 4 or bh < 4:
        return fallback
    m = max(8, int(0.25 * max(bw, bh)))
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + m)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    ch, cw = crop.shape[:2]
    if crop.reshape(-1, crop.shape[-1]).std(axis=0).max() < FLAT_STD:
        # one flat colour (a plain wall, a graphic's background): GrabCut has nothing to learn, and OpenCV's
        # max-flow on its tied energies took seconds (7 s for a 320 px box with the box prior's rounds)
        return fallback
    gc = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    bx0, by0, bx1, by1 = x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0
    gc[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    if (gc == cv2.GC_BGD).sum() < 64:
        band = max(1, int(0.05 * min(bw, bh)))
        inner = np.zeros_like(gc)
        inner[by0 + band : by1 - band, bx0 + band : bx1 - band] = 1
        gc[(gc == cv2.GC_PR_FGD) & (inner == 0)] = cv2.GC_PR_BGD
    if o.work_box is not None:
        scale = min(1.0, o.work_box / max(bw, bh))
    else:
        scale = min(1.0, o.work_side / max(ch, cw))
    if scale < 1.0:
        size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        gc = cv2.resize(gc, size, interpolation=cv2.INTER_NEAREST)
    if o.centre > 0:
        sb = [round(v * scale) for v in (bx0, by0, bx1, by1)]
        c = ((sb[0] + sb[2]) // 2, (sb[1] + sb[3]) // 2)
        axes = (max(1, int(o.centre * (sb[2] - sb[0]) / 2)), max(1, int(o.centre * (sb[3] - sb[1]) / 2)))
        cv2.ellipse(gc, c, axes, 0, 0, 360, int(cv2.GC_FGD), -1)
    clicks = []  # the points inside the crop, in its working pixels: (x, y, label)
    if points is not None:
        for x, y, label in np.asarray(points, dtype=np.float64).reshape(-1, 3):
            px, py = int((x - cx0) * scale), int((y - cy0) * scale)
            if 0 <= px < gc.shape[1] and 0 <= py < gc.shape[0]:
                clicks.append((px, py, int(label > 0)))
        if any(not lab and gc[py, px] == cv2.GC_FGD for px, py, lab in clicks):
            gc[gc == cv2.GC_FGD] = cv2.GC_PR_FGD  # a background click in the central sure-object guess: the click wins
        for px, py, lab in clicks:
            cv2.circle(gc, (px, py), 2, int(cv2.GC_FGD if lab else cv2.GC_BGD), -1)
    cv2.setRNGSeed(seed % 2**31)  # OpenCV takes a C int; our seeds go to 2**32 - 1
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    box_small = (round(bx0 * scale), round(by0 * scale), round(bx1 * scale), round(by1 * scale))
    try:
        cv2.grabCut(crop, gc, None, bgd, fgd, o.iterations, cv2.GC_INIT_WITH_MASK)
        if o.tight > 0:
            box_prior(crop, gc, bgd, fgd, box_small, o.tight, o.tight_rounds)
    except cv2.error:
        return fallback
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    fg = honour_clicks(clean_mask(fg, box_small, o), fg, clicks) if clicks else clean_mask(fg, box_small, o)
    if scale < 1.0:
        fg = (cv2.resize(fg.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR) >= 0.5).astype(np.uint8)
    out = np.zeros((H, W), np.uint8)
    out[cy0:cy1, cx0:cx1] = fg
    out[:y0], out[y1:], out[:, :x0], out[:, x1:] = 0, 0, 0, 0  # never outside the box
    share = out[y0:y1, x0:x1].sum() / max(bw * bh, 1)
    if not MIN_FOREGROUND <= share <= o.max_share:
        return fallback
    return out


def gmm_log_likelihood(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """log p(x) of pixels (N, 3) under one of OpenCV GrabCut's colour models ((1, 65): 5 weights, 5x3 means, 5x3x3 covs)."""
    w, mu, cov = model[0, :5], model[0, 5:20].reshape(5, 3), model[0, 20:65].reshape(5, 3, 3)
    x = pixels.astype(np.float64)
    comps = []
    for k in range(5):
        if w[k] <= 0:
            continue
        c = cov[k] + 1e-3 * np.eye(3)
        d = x - mu[k]  # (N, 3)
        maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(c), d)
        comps.append(np.log(w[k]) - 0.5 * (maha + np.log(np.linalg.det(c)) + 3 * np.log(2 * np.pi)))
    return np.logaddexp.reduce(np.stack(comps), axis=0) if comps else np.zeros(len(x))


def box_prior(crop: np.ndarray, gc: np.ndarray, bgd: np.ndarray, fgd: np.ndarray, box: tuple[int, int, int, int],
              tight: float, rounds: int) -> None:
    """Pinpointing (Lempitsky et al., "Image segmentation with a bounding box prior", ICCV 2009), on `gc` in place.

    A box is drawn around its object, so each row and column through the box
    (less `tight` of its sides, for a loosely drawn box) crosses the object.
    GrabCut's colour model alone drops parts that look like the background
    nearby (a motorcycle's front wheel on a dark floor): in every such line
    that holds no object pixel, the pixel most likely object by the colour
    models becomes a sure-object seed, and GrabCut runs again from there. A
    seed that does not grow is dropped later with the specks (clean_mask).
    """
    x0, y0, x1, y1 = box
    mx, my = int(tight * (x1 - x0)), int(tight * (y1 - y0))
    ix0, iy0, ix1, iy1 = x0 + mx, y0 + my, x1 - mx, y1 - my
    if ix1 <= ix0 or iy1 <= iy0:
        return
    for _ in range(rounds):
        fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        rows = iy0 + np.flatnonzero(~fg[iy0:iy1, x0:x1].any(axis=1))
        cols = ix0 + np.flatnonzero(~fg[y0:y1, ix0:ix1].any(axis=0))
        if rows.size == 0 and cols.size == 0:
            return
        inside = crop[y0:y1, x0:x1].reshape(-1, 3)
        llr = (gmm_log_likelihood(fgd, inside) - gmm_log_likelihood(bgd, inside)).reshape(y1 - y0, x1 - x0)
        llr[gc[y0:y1, x0:x1] == cv2.GC_BGD] = -np.inf  # never a seed on a background click
        llr[np.isnan(llr)] = -np.inf
        # a line all background clicks gets no seed (argmax of all -inf would put one on a click)
        for y in rows:
            if np.isfinite(llr[y - y0]).any():
                gc[y, x0 + int(np.argmax(llr[y - y0]))] = cv2.GC_FGD
        for x in cols:
            if np.isfinite(llr[:, x - x0]).any():
                gc[y0 + int(np.argmax(llr[:, x - x0])), x] = cv2.GC_FGD
        cv2.grabCut(crop, gc, None, bgd, fgd, 2, cv2.GC_EVAL)


def clean_mask(fg: np.ndarray, box: tuple[int, int, int, int], o: GrabCutOptions) -> np.ndarray:
    """Close small gaps, drop specks, keep the object's parts, fill its enclosed holes."""
    if o.keep_largest_only:  # the old cleaning, kept for comparison (benchmarks/segment_quality.py)
        k = max(3, int(round(min(fg.shape) * 0.02)) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    else:
        # close with a kernel scaled to the object, open only with 3 px: a larger
        # opening erases thin parts (a spoon's handle, a tripod's legs)
        x0, y0, x1, y1 = box
        k = max(3, int(round(min(x1 - x0, y1 - y0) * 0.02)) | 1)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        if o.keep_largest_only:
            keep = 1 + np.flatnonzero(areas >= 0.15 * areas.max())
        else:
            x0, y0, x1, y1 = box
            keep = 1 + np.flatnonzero(areas >= o.min_part * max(1, (x1 - x0) * (y1 - y0)))
            if keep.size == 0:
                keep = np.array([1 + int(np.argmax(areas))])
        fg = np.isin(labels, keep).astype(np.uint8)
    if o.fill_holes:
        fg = fill_enclosed(fg)
    return fg


def honour_clicks(fg: np.ndarray, raw: np.ndarray, clicks: list[tuple[int, int, int]]) -> np.ndarray:
    """The user's points overrule the cleaning: a hole with a background point in it stays open (a mug
    handle's opening), a part with an object point in it stays, however small. `raw`: GrabCut's own mask."""
    out = fg.copy()
    for label in (1, 0):
        region = (raw > 0) if label else (raw == 0)
        seeds = [(x, y) for x, y, lab in clicks if lab == label and region[y, x]]
        if not seeds:
            continue
        _, parts = cv2.connectedComponents(region.astype(np.uint8), connectivity=8 if label else 4)
        out[np.isin(parts, [parts[y, x] for x, y in seeds])] = label
    return out


def fill_enclosed(fg: np.ndarray) -> np.ndarray:
    """Background pixels not connected to the crop's border (holes inside the object) become object."""
    bg = (fg == 0).astype(np.uint8)
    n, labels = cv2.connectedComponents(bg, connectivity=4)
    if n <= 2:
        return fg
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = ~np.isin(labels, border) & (bg > 0)
    out = fg.copy()
    out[holes] = 1
    return out

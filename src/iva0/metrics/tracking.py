"""vIoU: does the object travel along its boxes? Track it and compare.

The object is tracked through the video with OpenCV's CSRT tracker (no model
weights) from its frame-0 box; per frame, the tracked box is compared by IoU
with the layout box, both clipped to the frame. vIoU is the mean IoU over
frames f >= 1: frame 0 is the input, where the tracker starts on the layout box
(IoU 1 by construction), so counting it would only pull every score towards 1
(by (1 - vIoU) / F: +0.016 for vIoU 0.74 over 16 frames). `ious` still lists
frame 0 (1.0).

Conventions (documented in docs/benchmark.md):
- a frame where the tracker reports failure is "lost": IoU 0 (unless the
  layout box itself has left the frame, see below);
- a frame where the layout box lies fully outside the frame (the object has
  exited): IoU 1 if the tracker also lost it or its box is empty, else 0;
- centroid error: distance between the centres of the tracked box and of the
  clipped layout box, divided by the frame's diagonal, mean over frames f >= 1;
  a lost frame counts 1.0 (a full diagonal). Frames where the layout box has
  left the frame are skipped.
- tracking runs on frames downscaled so that the longer side is at most
  `track_side` px (default 256) for speed, but never so far that the object's
  frame-0 box gets a side shorter than 32 px (small objects are tracked at up
  to full resolution; CSRT's cost follows the object's size, so this is cheap);
  boxes are scaled alike and the results are reported in the original pixels.
- CSRT reports whole pixels of those small frames, and its scale moves in 2 %
  steps: each of its boxes is corrected at full resolution (`Refiner`) by the
  motion of corner points on the object's own frame-0 pixels (given by the
  caller: the layout's mask or an estimate), followed frame to frame, which
  places it to a fraction of a pixel; for an object with too few corners (a
  flat shape before a textured background, which CSRT follows instead) by
  matching its frame-0 pixels around CSRT's box; where neither answers (a
  regenerated object), CSRT's box stands. The tracker is seeded once, from the
  frame-0 layout box, and never sees the later layout boxes. Calibrated
  against known true boxes in
  `iva0.metrics.calibration` (docs/benchmark.md, "Calibration").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from iva0.metrics.boxes import box_area, box_centres, box_iou, clip_boxes

TRACK_SIDE = 256  # longer side of the frames the tracker sees
MIN_TRACK_SIDE = 2.0  # px (at tracking scale): a smaller start box cannot be tracked
MIN_OBJECT_SIDE = 32.0  # px: frames are downscaled less when the object would get smaller
TRACK_BORDER = 0.5  # the tracker's frames get a border of this share of the box's longer side


@dataclass
class TrackResult:
    viou: float  # mean IoU over frames f >= 1
    ious: np.ndarray  # (F,) IoU per frame
    tracked: np.ndarray  # (F, 4) tracked pixel boxes xyxy (NaN where lost)
    lost: np.ndarray  # (F,) bool, the tracker reported failure
    centroid_error: float  # mean centre distance / frame diagonal (lost = 1.0)

    def to_dict(self) -> dict:
        return {
            "viou": float(self.viou),
            "ious": [round(float(v), 4) for v in self.ious],
            "centroid_error": float(self.centroid_error),
            "lost_frames": int(self.lost.sum()),
        }


def _create_csrt():
    """CSRT, tuned for speed. Colour-name features, the segmentation prior, 24 of
    its 33 scales, 2 of 4 ADMM iterations and a search area of 2 (not 3) box
    sizes cost ~60% of its time; without them vIoU on the starter benchmark's
    composite and static videos stays the same (mean vIoU 0.76 vs 0.75, equal
    vIoU@0.5; docs/benchmark.md, "Speed")."""
    params = cv2.TrackerCSRT_Params()
    params.use_color_names = False
    params.use_segmentation = False
    params.number_of_scales = 9
    params.admm_iterations = 2
    params.padding = 2.0
    return cv2.TrackerCSRT.create(params)


def track_box(frames: np.ndarray, box0: np.ndarray, track_side: int | None = TRACK_SIDE,
              refine: bool = True, object_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Track a pixel box (xyxy) from frame 0 through RGB frames (F, H, W, 3).

    Returns tracked boxes (F, 4) in the frames' pixels (NaN where lost) and the
    lost flags (F,). Frame 0's tracked box is `box0` clipped to the frame.
    CSRT finds the object; with `refine`, the motion of the frame-0 box's
    corner points then places it to a fraction of a pixel (`Refiner`).
    """
    F, H, W, _ = frames.shape
    start = clip_boxes(np.asarray(box0, dtype=np.float64), W, H)
    scale = 1.0
    if track_side and max(H, W) > track_side:
        scale = track_side / max(H, W)
        # a small object keeps at least MIN_OBJECT_SIDE px (or its full size): CSRT's
        # cost follows the object's area, and a few-pixel target is easily lost
        short = min(start[2] - start[0], start[3] - start[1])
        if short * scale < MIN_OBJECT_SIDE:
            scale = min(1.0, MIN_OBJECT_SIDE / max(short, 1e-6))
    tw, th = max(1, round(W * scale)), max(1, round(H * scale))
    sx, sy = tw / W, th / H

    tracked = np.full((F, 4), np.nan)
    lost = np.zeros(F, dtype=bool)
    tracked[0] = start
    x0, y0, x1, y1 = start * np.array([sx, sy, sx, sy])
    if (x1 - x0) < MIN_TRACK_SIDE or (y1 - y0) < MIN_TRACK_SIDE:
        lost[1:] = True  # nothing to track
        return tracked, lost

    # CSRT shrinks a target that fills much of the frame at its first update (a 415x256 px motorcycle
    # in a 512x345 frame came back 18 % smaller): the frames get a grey border of the box's size
    pad = int(np.ceil(max(x1 - x0, y1 - y0) * TRACK_BORDER))
    grey_fill = [float(v) for v in frames[0].reshape(-1, 3).mean(0)[::-1]]  # BGR

    def small(fr: np.ndarray) -> np.ndarray:
        # the tracker wants BGR; INTER_AREA avoids aliasing on textured objects
        fr = cv2.cvtColor(np.ascontiguousarray(fr), cv2.COLOR_RGB2BGR)
        fr = cv2.resize(fr, (tw, th), interpolation=cv2.INTER_AREA) if (tw, th) != (W, H) else fr
        return cv2.copyMakeBorder(fr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=grey_fill) if pad else fr

    tracker = _create_csrt()
    rect = (int(round(x0)) + pad, int(round(y0)) + pad, max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0))))
    tracker.init(small(frames[0]), rect)
    refiner = Refiner.of(frames[0], start, object_mask) if refine else None
    for f in range(1, F):
        ok, r = tracker.update(small(frames[f]))
        if not ok:
            lost[f] = True
            continue
        x, y, w, h = (float(v) for v in r)
        x, y = x - pad, y - pad
        # CSRT reports whole pixels of the small frames (1.5-2 px of the eval frames): the refiner
        # places the box to a fraction of a pixel where it can
        box = np.array([x / sx, y / sy, (x + w) / sx, (y + h) / sy])
        tracked[f] = refiner.refine(frames[f], box) if refiner is not None else box
    return tracked, lost


REFINE_POINTS = 200  # corners followed inside the frame-0 box (on the object's own pixels where they are known)
REFINE_MIN_SIDE = 48  # px: boxes of a smaller area than this side squared keep CSRT's box
REFINE_MIN_INLIERS = 8  # fewer points agreeing on one motion: the points give no answer
REFINE_RANSAC_PX = 1.0  # px: a point agrees with the motion within this distance
REFINE_FB_PX = 1.0  # px: a point followed to the next frame and back must land this close to where it was
REFINE_MAX_SHARE = 0.25  # the points' box may differ from CSRT's by this share of the box's side, at most
MATCH_CLUSTERS = 6  # colour clusters of the object's look, matched each on its own
MATCH_SEARCH = 0.5  # the object is looked for within this share of its size around CSRT's box
MATCH_SAME = 30  # grey levels: a pixel of the object matches its frame-0 colour within this (max channel) ...
MATCH_MIN_SHARE = 0.5  # ... and a match where fewer of its pixels do gives no answer (a regenerated object)
LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)


@dataclass
class Refiner:
    """Places a tracker's box to a fraction of a pixel, and corrects it where the object is easier to follow
    than its box. In order, the first that answers:

    1. points: Shi-Tomasi corners on the object's frame-0 pixels (or anywhere in the box when those are not
       given or too few), followed frame to frame by pyramidal Lucas-Kanade (kept only when the way back lands
       within REFINE_FB_PX), a similarity transform from their frame-0 places fitted with RANSAC; points that
       disagree are dropped for good (a part left behind, a background corner). Answers when at least
       REFINE_MIN_INLIERS points agree and the box is within REFINE_MAX_SHARE of CSRT's.
    2. the object's look: its frame-0 pixels looked for around CSRT's box at CSRT's scale, at the place where
       most of them match their colour (`_disagreement`; sub-pixel by a parabola), for an object with too few corners of its own (a flat
       shape before a textured background, which CSRT follows instead). Answers when at least
       MATCH_MIN_SHARE of the object's pixels match their frame-0 colour there (a part left behind may not).
    3. CSRT's box.
    """

    prev: np.ndarray  # (H, W) uint8 the last frame seen (grey)
    p0: np.ndarray  # (N, 1, 2) float32 the followed points' frame-0 places
    cur: np.ndarray  # (N, 1, 2) float32 their places in `prev`
    box: np.ndarray  # (4,) the frame-0 box xyxy
    look: np.ndarray | None = None  # (h, w, 3) float32 the frame-0 box's pixels, from its rounded-in corner
    look_mask: np.ndarray | None = None  # (h, w) float32 the object's pixels among them
    look_at: np.ndarray | None = None  # (2,) the rounded-in corner's offset from the box's corner
    _colours: tuple | None = None  # `look_colours`, once computed

    @classmethod
    def of(cls, frame0: np.ndarray, box: np.ndarray, object_mask: np.ndarray | None = None) -> "Refiner | None":
        g = cv2.cvtColor(np.ascontiguousarray(frame0), cv2.COLOR_RGB2GRAY)
        H, W = g.shape
        x0, y0 = (int(np.ceil(v)) for v in box[:2])
        x1, y1 = (int(np.floor(v)) for v in box[2:])
        if (x1 - x0) * (y1 - y0) < REFINE_MIN_SIDE**2 or min(x1 - x0, y1 - y0) < 8:
            # small objects are tracked at (nearly) full resolution, where CSRT's whole pixels are fine,
            # and hold too few corners of their own: the stars around a 25 px galaxy outvote it
            return None
        inbox = np.zeros((H, W), np.uint8)
        inbox[y0:y1, x0:x1] = 255
        gap = max(2.0, min(x1 - x0, y1 - y0) / 25)
        pts = None
        if object_mask is not None:
            pts = cv2.goodFeaturesToTrack(g, REFINE_POINTS, 0.01, gap, mask=inbox & np.where(object_mask, 255, 0).astype(np.uint8))
        if pts is None or len(pts) < REFINE_MIN_INLIERS:
            pts = cv2.goodFeaturesToTrack(g, REFINE_POINTS, 0.01, gap, mask=inbox)  # (N, 1, 2)
        if pts is None:
            pts = np.zeros((0, 1, 2), np.float32)
        box = np.asarray(box, np.float64)
        ref = cls(g, pts.astype(np.float32), pts.astype(np.float32), box)
        if object_mask is not None and object_mask[y0:y1, x0:x1].sum() >= 64:
            ref.look = frame0[y0:y1, x0:x1].astype(np.float32)
            ref.look_mask = object_mask[y0:y1, x0:x1].astype(np.float32)
            ref.look_at = np.array([x0, y0], np.float64) - box[:2]
        if len(pts) < REFINE_MIN_INLIERS and ref.look is None:
            return None
        return ref

    def refine(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """`box` (CSRT's estimate of where the frame-0 box went in `frame`), corrected (class docstring)."""
        g = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        out = self._by_points(g, box)
        self.prev = g
        if out is None and self.look is not None:
            out = self._by_look(frame, box)
        return box if out is None else out

    def _by_points(self, g: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        if len(self.cur) < REFINE_MIN_INLIERS:
            return None
        size0 = self.box[2:] - self.box[:2]
        win = int(np.clip(min(size0) / 5, 7, 41)) | 1  # small windows: mostly the object's texture, little else
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(self.prev, g, self.cur, None, winSize=(win, win), maxLevel=3,
                                              criteria=LK_CRITERIA)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(g, self.prev, nxt, None, winSize=(win, win), maxLevel=3,
                                                    criteria=LK_CRITERIA)
        ok = (ok.ravel() > 0) & (ok_back.ravel() > 0) & (np.linalg.norm((back - self.cur)[:, 0], axis=1) < REFINE_FB_PX)
        if ok.sum() < REFINE_MIN_INLIERS:
            self.p0, self.cur = self.p0[ok], nxt[ok]
            return None
        M, inl = cv2.estimateAffinePartial2D(self.p0[ok], nxt[ok], method=cv2.RANSAC,
                                             ransacReprojThreshold=REFINE_RANSAC_PX)
        if M is None or inl.sum() < REFINE_MIN_INLIERS:
            self.p0, self.cur = self.p0[ok], nxt[ok]
            return None
        keep = np.flatnonzero(ok)[inl.ravel() > 0]  # the points that move with the object, from now on
        self.p0, self.cur = self.p0[keep], nxt[keep]
        scale = float(np.hypot(M[0, 0], M[1, 0]))
        centre = M[:, :2] @ ((self.box[:2] + self.box[2:]) / 2) + M[:, 2]
        out = np.concatenate([centre - scale * size0 / 2, centre + scale * size0 / 2])
        # points that agree on a motion far from CSRT's follow something else (a background the object's
        # estimate took in): the next way answers
        if np.abs(out - box).max() > REFINE_MAX_SHARE * float(min(box[2:] - box[:2])):
            return None
        return out

    def _by_look(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        H, W = frame.shape[:2]
        k = float(np.mean((box[2:] - box[:2]) / (self.box[2:] - self.box[:2])))  # CSRT's scale since frame 0
        h0, w0 = self.look_mask.shape
        tw, th = max(4, round(w0 * k)), max(4, round(h0 * k))
        look = cv2.resize(self.look, (tw, th), interpolation=cv2.INTER_AREA)  # (th, tw, 3)
        mask = cv2.resize(self.look_mask, (tw, th), interpolation=cv2.INTER_AREA)  # (th, tw)
        r = int(max(8, MATCH_SEARCH * max(tw, th)))
        at = box[:2] + k * self.look_at  # where CSRT puts the look's corner
        sx0, sy0 = max(0, int(round(at[0])) - r), max(0, int(round(at[1])) - r)
        sx1, sy1 = min(W, int(round(at[0])) + tw + r), min(H, int(round(at[1])) + th + r)
        if sx1 - sx0 < tw + 2 or sy1 - sy0 < th + 2:
            return None
        search = frame[sy0:sy1, sx0:sx1].astype(np.float32)
        ssd = self._disagreement(search, look, mask)  # (sh, sw)
        _, _, (mx, my), _ = cv2.minMaxLoc(ssd)
        same = np.abs(search[my : my + th, mx : mx + tw] - look).max(-1) < MATCH_SAME  # (th, tw)
        if (mask * same).sum() < MATCH_MIN_SHARE * mask.sum():
            return None
        x = sx0 + mx + _vertex(ssd[my, mx - 1 : mx + 2]) if 0 < mx < ssd.shape[1] - 1 else sx0 + mx
        y = sy0 + my + _vertex(ssd[my - 1 : my + 2, mx]) if 0 < my < ssd.shape[0] - 1 else sy0 + my
        corner = np.array([x, y]) - k * self.look_at  # the box's corner
        return np.concatenate([corner, corner + k * (self.box[2:] - self.box[:2])])


    def _disagreement(self, search: np.ndarray, look: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(sh, sw) minus the count of the object's pixels that match their frame-0 colour, per place of the look.

        A count, not a sum of squares: a part left behind (or regenerated) costs the pixels it holds, not their
        squared colour differences, so the match follows the part that came along. The look's colours are in a
        few clusters (`look_colours`); per cluster, the search pixels near its centre (within MATCH_SAME, binary)
        are correlated with where the look has that cluster (OpenCV matchTemplate)."""
        centres, labels = self.look_colours
        th, tw = mask.shape
        lab = cv2.resize(labels, (tw, th), interpolation=cv2.INTER_NEAREST)  # (th, tw) cluster, -1 off the object
        lab[mask <= 0.5] = -1
        score = np.zeros((search.shape[0] - th + 1, search.shape[1] - tw + 1), np.float32)
        for k, c in enumerate(centres):
            near = (np.abs(search - c).max(-1) < MATCH_SAME).astype(np.float32)  # (sh, sw)
            score += cv2.matchTemplate(near, (lab == k).astype(np.float32), cv2.TM_CCORR)
        return -score

    @property
    def look_colours(self) -> tuple[np.ndarray, np.ndarray]:
        """The look's colours in at most MATCH_CLUSTERS k-means clusters (fixed RNG seed): centres (K, 3) and the
        cluster of every look pixel (h, w) int32, -1 off the object. Computed once."""
        if self._colours is None:
            keep = self.look_mask > 0.5
            px = self.look[keep].reshape(-1, 3).astype(np.float32)
            K = int(min(MATCH_CLUSTERS, max(1, len(px) // 32)))
            cv2.setRNGSeed(0)
            _, labels, centres = cv2.kmeans(px, K, None, (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0),
                                            2, cv2.KMEANS_PP_CENTERS)
            lab = np.full(keep.shape, -1, np.int32)
            lab[keep] = labels.ravel()
            self._colours = (centres, lab)
        return self._colours


def _vertex(v: np.ndarray) -> float:
    """The sub-pixel offset of a parabola's vertex through three values around a minimum."""
    den = float(v[0] - 2 * v[1] + v[2])
    return 0.5 * float(v[0] - v[2]) / den if den > 0 else 0.0


def viou(frames: np.ndarray, boxes_px: np.ndarray, track_side: int | None = TRACK_SIDE,
         object_mask: np.ndarray | None = None) -> TrackResult:
    """Track one object and score it against its per-frame layout boxes.

    frames: (F, H, W, 3) uint8 RGB; boxes_px: (F, 4) pixel xyxy layout boxes.
    """
    frames = np.asarray(frames)
    boxes_px = np.asarray(boxes_px, dtype=np.float64)
    F, H, W, _ = frames.shape
    if boxes_px.shape != (F, 4):
        raise ValueError(f"boxes_px must be (F, 4) = ({F}, 4), got {boxes_px.shape}")
    tracked, lost = track_box(frames, boxes_px[0], track_side, object_mask=object_mask)
    ious, centroid_error = score_track(tracked, lost, boxes_px, W, H)
    # frame 0 is the input (IoU 1 by construction): it says nothing about the motion and is left out
    return TrackResult(viou=float(ious[1:].mean() if F > 1 else ious.mean()), ious=ious, tracked=tracked, lost=lost,
                       centroid_error=centroid_error)


def score_track(tracked: np.ndarray, lost: np.ndarray, boxes_px: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """Per-frame IoU (F,) and centroid error of a track against the layout boxes (F, 4).

    Pure function (the conventions of the module docstring), unit-tested by hand.
    """
    W, H = width, height
    target = clip_boxes(boxes_px, W, H)  # (F, 4)
    gone = box_area(target) <= 0  # the object has left the frame here
    got = clip_boxes(np.nan_to_num(tracked, nan=0.0), W, H)
    ious = box_iou(got, target)  # (F,)
    ious = np.where(lost & ~gone, 0.0, ious)
    empty_track = lost | (box_area(got) <= 0)
    ious = np.where(gone, empty_track.astype(np.float64), ious)
    ious[0] = 1.0

    diag = float(np.hypot(W, H))
    dist = np.linalg.norm(box_centres(got) - box_centres(target), axis=-1) / diag  # (F,)
    dist = np.where(lost, 1.0, np.minimum(dist, 1.0))
    keep = ~gone
    keep[0] = len(keep) == 1  # frame 0 (distance 0 by construction) counts only in a one-frame video
    return ious, float(dist[keep].mean()) if keep.any() else 0.0


def viou_at(values, threshold: float = 0.5) -> float | None:
    """Share of tracks with vIoU > threshold (the spatio-temporal grounding convention)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return None
    return float((v > threshold).mean())

"""The picture as a camera video should show it: frame f's view through window f (iva0.camera).

For the metrics that compare a frame with the input pixel for pixel (background
PSNR/SSIM, afterimage, left behind): with a camera, frame f is compared with
the picture seen through window f, resampled to the frames' size exactly as the
composite backend resamples its windows (`resample_window`, from picture space
as iva0.animate sizes it), over the pixels
that lie on the picture (`known`: what a window reveals past the picture's edges
is not the picture, and any fill there is right). Objects' boxes and masks are
mapped through the same window (`iva0.camera.picture_to_output`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iva0.backends.composite.window import inside_picture, resample_window, window_to_px
from iva0.camera import picture_space_size, picture_to_output
from iva0.io.image import resize_image
from iva0.masks import boxes_masks

ON_PICTURE = 0.99  # an output pixel is known when this share of it lies on the picture (as iva0.metrics.camera)


@dataclass
class WindowViews:
    """The picture through each window, at the frames' size."""

    references: np.ndarray  # (F, H, W, 3) uint8: the picture through window f
    known: np.ndarray  # (F, H, W) bool: the pixels of window f that lie on the picture
    windows: np.ndarray  # (F, 4) the windows, normalised picture xyxy
    space: np.ndarray  # (sh, sw, 3) uint8: the picture in picture space, what the windows are resampled from

    def through(self, picture_mask: np.ndarray) -> np.ndarray:
        """A mask of the picture (any size of its aspect ratio, float) seen through every window: (F, H, W)
        float32 in [0, 1], 0 where not known."""
        F, H, W = self.known.shape
        m = np.ascontiguousarray(picture_mask, dtype=np.float32)
        win_px = window_to_px(self.windows, m.shape[1], m.shape[0])  # (F, 4)
        return np.stack([np.clip(resample_window(m, w, W, H), 0, 1) * self.known[f] for f, w in enumerate(win_px)])


def window_views(picture: np.ndarray, windows: np.ndarray, out_w: int, out_h: int) -> WindowViews:
    """The picture (ph, pw, 3) uint8 through `windows` (F, 4) normalised picture xyxy, at (out_w, out_h).

    As iva0.animate makes a camera video: the picture resized to picture space (`picture_space_size`: no larger
    than the tightest window needs at this output size), then each window resampled to the output."""
    ph, pw = picture.shape[:2]
    windows = np.asarray(windows, dtype=np.float64)
    sw, sh = picture_space_size(pw, ph, out_w, out_h, windows)
    space = np.ascontiguousarray(resize_image(picture, sw, sh))
    refs = np.stack([resample_window(space, w, out_w, out_h) for w in window_to_px(windows, sw, sh)])  # (F, H, W, 3)
    known = np.stack([inside_picture(w, pw, ph, out_w, out_h) >= ON_PICTURE
                      for w in window_to_px(windows, pw, ph)])  # (F, H, W)
    return WindowViews(references=refs, known=known, windows=windows, space=space)


def boxes_in_frames(boxes: np.ndarray, windows: np.ndarray, out_w: float, out_h: float) -> np.ndarray:
    """Every box at every frame seen in every frame: (F, J, F, 4) px, [f, j, g] = object j's box at frame g
    through window f. boxes (J, F, 4) normalised picture xyxy, windows (F, 4)."""
    w = np.asarray(windows, dtype=np.float64)
    return picture_to_output(np.asarray(boxes)[None], w[:, None, None, :], out_w, out_h)  # (F, J, F, 4)


def never_occupied_views(seen: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(F, H, W) bool: the known pixels of frame f whose picture point no box covers at any frame.

    seen: `boxes_in_frames` (F, J, F, 4) px; known (F, H, W)."""
    F, H, W = known.shape
    scale = np.array([W, H, W, H], dtype=np.float64)
    if seen.shape[1] == 0:  # no objects: all the background
        return known.copy()
    return np.stack([(boxes_masks(seen[f] / scale, H, W).max(axis=(0, 1)) < 0.5) & known[f] for f in range(F)])


def vacated_views(seen: np.ndarray, known: np.ndarray) -> np.ndarray:
    """V(f) of iva0.masks seen in frame f: (F, H, W) bool, U_j b_j(0) minus b_j(f), through window f, known only."""
    F, H, W = known.shape
    scale = np.array([W, H, W, H], dtype=np.float64)
    out = np.zeros((F, H, W), bool)
    for f in range(1, F):
        m = boxes_masks(seen[f][:, [0, f]] / scale, H, W) > 0.5  # (J, 2, H, W): b_j(0) and b_j(f) in frame f
        out[f] = (m[:, 0] & ~m[:, 1]).any(axis=0) & known[f]
    return out


__all__ = ["WindowViews", "boxes_in_frames", "never_occupied_views", "vacated_views", "window_views"]

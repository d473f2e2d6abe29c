"""Overlapping context windows for layouts longer than the motion modules (DESIGN.md step 6).

AnimateDiff's motion modules carry learnt positional embeddings for
`motion_max_seq_length` frames (32 for the SD1.5 adapters), so one UNet call
sees at most that many frames. A longer video is denoised as overlapping windows
of at most that length, each through the full UNet (grounding tokens, MAS masks
and text cut to the window's frames), and each frame's noise prediction is the
weighted mean over the windows that hold it -- AnimateDiff's context windows and
FreeNoise do the same, but both live inside diffusers' motion blocks, which
would drop iva0's MAS processors. The weights are a pyramid (highest mid-window,
lowest at a window's edges), so the seam between windows is a linear cross-fade
over the overlap rather than a cut.
"""

from __future__ import annotations

import torch

DEFAULT_OVERLAP_SHARE = 4  # overlap = window // 4: AnimateDiff-Evolved's 4 frames for 16-frame windows


def context_windows(num_frames: int, length: int, overlap: int | None = None) -> list[tuple[int, int]]:
    """Contiguous windows [start, stop) of at most `length` frames covering 0..num_frames-1.

    One window when the video fits. Otherwise windows start every `length - overlap`
    frames and the last one ends at the last frame (so it may overlap more).
    """
    if length < 1:
        raise ValueError(f"context window length must be >= 1, got {length}")
    if num_frames <= length:
        return [(0, num_frames)]
    overlap = length // DEFAULT_OVERLAP_SHARE if overlap is None else overlap
    if not 0 <= overlap < length:
        raise ValueError(f"context overlap must be between 0 and {length - 1}, got {overlap}")
    stride = length - overlap
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    return [(s, s + length) for s in starts]


def window_weights(windows: list[tuple[int, int]], num_frames: int) -> list[torch.Tensor]:
    """Per window, each frame's share of its noise prediction (float32, shares of a frame sum to 1).

    A single window gets weight exactly 1.0 everywhere (w / w), so a video that fits in one
    window is denoised bit-for-bit as without windows.
    """
    raw = []
    total = torch.zeros(num_frames, dtype=torch.float32)
    for start, stop in windows:
        n = stop - start
        k = torch.arange(n, dtype=torch.float32)
        w = torch.minimum(k + 1, n - k)  # pyramid: 1, 2, ..., 2, 1
        raw.append(w)
        total[start:stop] += w
    if (total <= 0).any():
        raise ValueError("context windows leave a frame uncovered")
    return [w / total[start:stop] for w, (start, stop) in zip(raw, windows)]

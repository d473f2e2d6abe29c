"""Resource limits, checked before any work so that a too-large request fails in one line
instead of a traceback after minutes (or an out-of-memory kill).

- Pictures: at most `MAX_SIDE` (8192) px per side, read from the file's header
  before any pixel is decoded (iva0.io.image).
- Frames: the output video is held in memory as uint8 RGB, frames x H x W x 3
  bytes; at most `FRAME_MEMORY_BUDGET` (4 GiB), whatever the backend.
- Seeds: 0..`MAX_SEED` (2^32 - 1), the range the web app offers too.
- A backend may refuse sizes its model does not support with its own
  `check_size(width, height, num_frames)` (optional; iva0.animate calls it
  before the backend's work).
"""

from __future__ import annotations

from iva0.errors import UserError

MAX_SIDE = 8192
FRAME_MEMORY_BUDGET = 4 * 2**30  # bytes
MAX_SEED = 2**32 - 1  # what every random generator used takes (numpy, torch, OpenCV via the backends)


def frame_memory(num_frames: int, width: int, height: int) -> int:
    """Bytes of the uint8 RGB frames (F, H, W, 3)."""
    return int(num_frames) * int(width) * int(height) * 3


def check_frame_memory(num_frames: int, width: int, height: int, *, what: str = "") -> None:
    """Refuse output frames over the budget (one line, before any work)."""
    need = frame_memory(num_frames, width, height)
    if need > FRAME_MEMORY_BUDGET:
        raise UserError(
            f"{what}output too large: {num_frames} frames of {width}x{height} px need {need / 2**30:.1f} GiB "
            f"of frame memory (at most {FRAME_MEMORY_BUDGET / 2**30:.0f} GiB); use fewer --frames or a smaller --width/--height"
        )


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed: must be a whole number from 0 to {MAX_SEED}, got {seed!r}")

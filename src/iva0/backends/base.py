"""What every backend offers: animate(image, layout) -> frames."""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from iva0.layout import Layout

# progress(done, total, stage): called as work advances, e.g. (3, 25, "denoising")
ProgressFn = Callable[[int, int, str], None]


class Backend(Protocol):
    name: str
    max_side: int  # default cap on the output's longer side when no size is asked
    size_multiple: int  # output sides are rounded down to a multiple of this

    def animate(
        self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """image: RGB uint8 (H, W, 3) already at output size -> frames (F, H, W, 3) uint8, frame 0 = image."""
        ...

    # Optional: `check_size(width, height, num_frames) -> None` raising UserError for sizes the
    # backend's model does not support; iva0.animate calls it before `animate` (see iva0.limits).


def no_progress(done: int, total: int, stage: str) -> None:
    pass

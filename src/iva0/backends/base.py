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


def no_progress(done: int, total: int, stage: str) -> None:
    pass

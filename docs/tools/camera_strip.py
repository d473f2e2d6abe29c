"""docs/camera-strip.png: the rocket-follow sample (camera motion) on the composite backend.

    .venv/bin/python docs/tools/camera_strip.py

Top row: `iva0 preview`'s drawing over the still picture (the rocket's box and the camera's window at
frames 0, 5, 10 and 15, with the window's path); bottom row: the video's frames there (window f of the
animated picture, scaled to the output).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from iva0.animate import animate
from iva0.io.image import read_image, resize_image
from iva0.layout_overlay import draw_preview
from iva0.layout import load_layout
from iva0.samples import get_sample

ROOT = Path(__file__).resolve().parents[2]
FRAMES = (0, 5, 10, 15)
WIDTH = 240  # per tile


def main() -> None:
    s = get_sample("rocket-follow")
    image = read_image(s.image)
    layout = load_layout(s.layout)
    video = animate(image, layout, width=WIDTH).frames  # (F, h, w, 3)
    h, w = video.shape[1:3]
    still = np.repeat(resize_image(image, w, h)[None], layout.num_frames, axis=0)  # (F, h, w, 3)
    preview = draw_preview(still, layout)
    gap = np.full((h, 4, 3), 255, np.uint8)
    rows = []
    for frames in (preview, video):
        tiles = [t for f in FRAMES for t in (frames[f], gap)][:-1]
        rows.append(np.concatenate(tiles, axis=1))
    strip = np.concatenate([rows[0], np.full((4, rows[0].shape[1], 3), 255, np.uint8), rows[1]], axis=0)
    out = ROOT / "docs" / "camera-strip.png"
    Image.fromarray(strip).save(out, optimize=True)
    print(out, strip.shape[1], "x", strip.shape[0])


if __name__ == "__main__":
    main()

"""Extract the starter benchmark's photos from the copy of scikit-image's data
that ships with the package (no download), as small JPEG/PNG files in images/.

The images are committed; this script documents (and can redo) where they came
from: `python benchmarks/starter/make_images.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).resolve().parent
MAX_SIDE = 512

# name in images/ <- skimage.data function (all bundled with the wheel; see SOURCES.md)
PHOTOS = {
    "astronaut": data.astronaut,
    "chelsea": data.chelsea,
    "coffee": data.coffee,
    "coins": data.coins,
    "rocket": data.rocket,
    "motorcycle": data.stereo_motorcycle,
    "hubble": data.hubble_deep_field,
    "camera": data.camera,
    "clock": data.clock,
    "horse": data.horse,
    "cell": data.cell,
}


def to_rgb_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = (255 * (a - a.min()) / max(1e-9, float(a.max() - a.min()))).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return a[..., :3]


def main() -> None:
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    for name, fn in PHOTOS.items():
        a = fn()
        if name == "motorcycle":
            a = a[0]  # the left view of the stereo pair
        im = Image.fromarray(to_rgb_uint8(a))
        if max(im.size) > MAX_SIDE:
            s = MAX_SIDE / max(im.size)
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
        im.save(out / f"{name}.jpg", quality=92)
        print(name, im.size)


if __name__ == "__main__":
    main()

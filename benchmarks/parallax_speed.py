"""Composite speed with the camera's parallax: the time to animate a layout with a camera and parallax against the
same layout with the camera alone, same picture, same output size, measured in the same run, in turns
(`iva0.animate.animate`, everything included: reading the depth file, cut-outs, fill, the parallax warp per frame
with its disocclusion fill, the window resampling).

    .venv/bin/python benchmarks/parallax_speed.py [--repeats 5] [--width 512] [--parallax 1.5] [--sample coffee]

Each shipped sample gets its own camera (rocket-follow) or camera_speed.py's (a pan with a zoom in), and a
synthetic depth map written as a .npy: a ground plane (nearer towards the bottom, 0..0.6) with the objects'
frame-0 boxes 0.4 nearer, so that the warp has near objects to move, a z-buffer to settle and disocclusions to fill.
No depth model runs (its cost is one inference per video, not per frame: see README, *Camera motion*).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from camera_speed import CAMERA, median_times, print_ratios  # noqa: E402 - benchmarks/ is the script's folder
from iva0.animate import animate
from iva0.io.image import read_image
from iva0.layout import load_layout
from iva0.samples import get_sample, list_samples


def synthetic_depth(layout, width: int, height: int) -> np.ndarray:
    """(H, W) float32: a ground plane (0 at the top, 0.6 at the bottom) and every object's frame-0 box 0.4 nearer."""
    depth = np.repeat(np.linspace(0.0, 0.6, height, dtype=np.float32)[:, None], width, axis=1)  # (H, W)
    for x0, y0, x1, y1 in layout.boxes_px(width, height)[:, 0]:
        xa, ya = max(0, int(x0)), max(0, int(y0))
        depth[ya:max(ya, int(y1)), xa:max(xa, int(x1))] += 0.4
    return depth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sample", default=None, help="one sample (default: all shipped samples)")
    ap.add_argument("--width", type=int, default=512, help="output width (height: the picture's aspect ratio)")
    ap.add_argument("--parallax", type=float, default=1.5, help="parallax strength (0..4)")
    args = ap.parse_args(argv)
    samples = [get_sample(args.sample)] if args.sample else list_samples()
    print(f"{'sample':14s} {'objects':>7s} {'output':>9s} {'camera s':>9s} {'+parallax s':>12s} {'ratio':>6s} "
          f"{'CPU camera s':>13s} {'CPU +parallax s':>16s} {'CPU ratio':>9s}")
    ratios, cpu_ratios = [], []
    with tempfile.TemporaryDirectory(prefix="iva0-parallax-bench-") as tmp:
        for s in samples:
            image = read_image(s.image)
            layout = load_layout(s.layout)
            cam = layout if layout.camera is not None else layout.with_overrides(camera=CAMERA)
            depth_file = Path(tmp) / f"{s.name}.npy"
            np.save(depth_file, synthetic_depth(cam, image.shape[1], image.shape[0]))
            with_par = cam.with_overrides(camera={**cam.camera.to_dict(), "depth": str(depth_file),
                                                  "parallax": args.parallax})
            a = animate(image, cam, width=args.width)  # warm-up (and the output size)
            animate(image, with_par, width=args.width)
            h, w = a.frames.shape[1:3]
            (t0, c0), (t1, c1) = median_times([lambda: animate(image, cam, width=args.width),
                                               lambda: animate(image, with_par, width=args.width)], args.repeats)
            ratios.append(t1 / t0)
            cpu_ratios.append(c1 / c0)
            print(f"{s.name:14s} {len(layout.objects):7d} {f'{w}x{h}':>9s} {t0:9.3f} {t1:12.3f} {t1 / t0:6.2f} "
                  f"{c0:13.3f} {c1:16.3f} {c1 / c0:9.2f}")
    print_ratios("camera+parallax / camera alone", ratios, cpu_ratios)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

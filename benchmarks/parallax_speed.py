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

import tempfile
from pathlib import Path

import numpy as np

from camera_speed import camera_samples, print_ratios, speed_args, timed_pair  # noqa: E402 - benchmarks/ is the script's folder


def synthetic_depth(layout, width: int, height: int) -> np.ndarray:
    """(H, W) float32: a ground plane (0 at the top, 0.6 at the bottom) and every object's frame-0 box 0.4 nearer."""
    depth = np.repeat(np.linspace(0.0, 0.6, height, dtype=np.float32)[:, None], width, axis=1)  # (H, W)
    for x0, y0, x1, y1 in layout.boxes_px(width, height)[:, 0]:
        xa, ya = max(0, int(x0)), max(0, int(y0))
        depth[ya:max(ya, int(y1)), xa:max(xa, int(x1))] += 0.4
    return depth


def main(argv: list[str] | None = None) -> int:
    ap = speed_args(__doc__, repeats=5)
    ap.add_argument("--parallax", type=float, default=1.5, help="parallax strength (0..4)")
    args = ap.parse_args(argv)
    print(f"{'sample':14s} {'objects':>7s} {'output':>9s} {'camera s':>9s} {'+parallax s':>12s} {'ratio':>6s} "
          f"{'CPU camera s':>13s} {'CPU +parallax s':>16s} {'CPU ratio':>9s}")
    ratios, cpu_ratios = [], []
    with tempfile.TemporaryDirectory(prefix="iva0-parallax-bench-") as tmp:
        for s, image, layout, cam in camera_samples(args.sample):
            depth_file = Path(tmp) / f"{s.name}.npy"
            np.save(depth_file, synthetic_depth(cam, image.shape[1], image.shape[0]))
            with_par = cam.with_overrides(camera={**cam.camera.to_dict(), "depth": str(depth_file),
                                                  "parallax": args.parallax})
            w, h, (t0, c0), (t1, c1) = timed_pair(image, cam, with_par, args.width, args.repeats)
            ratios.append(t1 / t0)
            cpu_ratios.append(c1 / c0)
            print(f"{s.name:14s} {len(layout.objects):7d} {f'{w}x{h}':>9s} {t0:9.3f} {t1:12.3f} {t1 / t0:6.2f} "
                  f"{c0:13.3f} {c1:16.3f} {c1 / c0:9.2f}")
    print_ratios("camera+parallax / camera alone", ratios, cpu_ratios)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

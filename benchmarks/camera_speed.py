"""Composite speed with a camera: the time to animate a layout with a camera against the same layout without
one, same picture, same output size, measured in the same run (`iva0.animate.animate`, everything included:
cut-outs, fill, compositing, and with a camera the picture-space size and the window resampling).

    .venv/bin/python benchmarks/camera_speed.py [--repeats 5] [--width 512] [--sample coffee]

Samples with their own camera (rocket-follow) are compared with that camera removed; the others get the
camera below (a pan with a zoom in from 0.8 to 0.55 of the picture, windows of the picture's aspect ratio).
Goal (issue 17): with / without <= 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import time

from iva0.animate import animate
from iva0.camera import picture_space_size
from iva0.io.image import read_image
from iva0.layout import load_layout
from iva0.samples import get_sample, list_samples

CAMERA = {"keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.9, 0.9]},
                        {"frame": 8, "box": [0.35, 0.05, 0.9, 0.6]},
                        {"frame": 15, "box": [0.1, 0.4, 0.65, 0.95]}]}


def print_ratios(what: str, ratios: list[float], cpu_ratios: list[float], goal: str = "") -> None:
    """The summary lines of a with/without benchmark: median and largest ratio, wall and CPU time."""
    for kind, r in (("wall", ratios), ("CPU", cpu_ratios)):
        print(f"{kind} time {what} over {len(r)} samples: median {statistics.median(r):.2f}x, "
              f"largest {max(r):.2f}x{goal}")


def median_times(fns, repeats: int) -> list[tuple[float, float]]:
    """(median wall s, median CPU s of this process) of each of `fns`, run in turns (a, b, a, b, ...) so that a
    busy machine slows both alike; CPU time (all threads) is the steadier figure on a shared machine."""
    times = [([], []) for _ in fns]
    for _ in range(repeats):
        for (wall, cpu), fn in zip(times, fns):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return [(statistics.median(w), statistics.median(c)) for w, c in times]


def speed_args(description: str, repeats: int) -> argparse.ArgumentParser:
    """The options every camera speed script takes: --repeats, --sample, --width."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--sample", default=None, help="one sample (default: all shipped samples)")
    ap.add_argument("--width", type=int, default=512, help="output width (height: the picture's aspect ratio)")
    return ap


def camera_samples(name: str | None):
    """(sample, its picture, its layout, that layout with a camera: its own, else CAMERA) for the sample named,
    else every shipped one."""
    for s in [get_sample(name)] if name else list_samples():
        layout = load_layout(s.layout)
        yield s, read_image(s.image), layout, layout if layout.camera is not None else layout.with_overrides(camera=CAMERA)


def timed_pair(image, first, second, width: int, repeats: int):
    """(output w, h, (wall s, CPU s) of `first`, of `second`): each layout animated once to warm up, then both
    timed in turns (median_times)."""
    a = animate(image, first, width=width)  # warm-up (and the output size)
    animate(image, second, width=width)
    h, w = a.frames.shape[1:3]
    times = median_times([lambda: animate(image, first, width=width), lambda: animate(image, second, width=width)],
                         repeats)
    return w, h, *times


def main(argv: list[str] | None = None) -> int:
    args = speed_args(__doc__, repeats=7).parse_args(argv)
    print(f"{'sample':14s} {'objects':>7s} {'output':>9s} {'picture space':>13s} {'without s':>10s} {'with s':>8s} "
          f"{'ratio':>6s} {'CPU without s':>14s} {'CPU with s':>11s} {'CPU ratio':>9s}")
    ratios, cpu_ratios = [], []
    for s, image, layout, with_cam in camera_samples(args.sample):
        without = with_cam.with_overrides(camera={})
        w, h, (t0, c0), (t1, c1) = timed_pair(image, without, with_cam, args.width, args.repeats)
        pw, ph = picture_space_size(image.shape[1], image.shape[0], w, h, with_cam.camera.windows(with_cam.num_frames, with_cam.interpolation))
        ratios.append(t1 / t0)
        cpu_ratios.append(c1 / c0)
        print(f"{s.name:14s} {len(layout.objects):7d} {f'{w}x{h}':>9s} {f'{pw}x{ph}':>13s} {t0:10.3f} {t1:8.3f} "
              f"{t1 / t0:6.2f} {c0:14.3f} {c1:11.3f} {c1 / c0:9.2f}")
    print_ratios("with/without camera", ratios, cpu_ratios, " (goal <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

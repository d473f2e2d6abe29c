"""Composite backend speed: time to animate 16 frames at 512x512 against the time
to only encode the same 16 frames as H.264, measured in the same run.

    .venv/bin/python benchmarks/composite_speed.py [--repeats 5] [--sample coffee]

Goal (issue 2): composite / encode <= 5x.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from iva0.backends.composite import CompositeBackend
from iva0.io.image import read_image, resize_image
from iva0.io.video import write_video
from iva0.layout import load_layout
from iva0.samples import get_sample, list_samples


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sample", default=None, help="one sample (default: all shipped samples)")
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    samples = [get_sample(args.sample)] if args.sample else list_samples()
    backend = CompositeBackend()
    print(f"{'sample':12s} {'objects':>7s} {'composite s':>12s} {'encode s':>9s} {'ratio':>6s}")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in samples:
            image = resize_image(read_image(s.image), args.size, args.size)
            layout = load_layout(s.layout).with_overrides(num_frames=16)
            frames = backend.animate(image, layout)  # warm-up, and the frames to encode
            t_comp = median_time(lambda: backend.animate(image, layout), args.repeats)
            t_enc = median_time(lambda: write_video(frames, Path(tmp) / "v.mp4", 8), args.repeats)
            ratios.append(t_comp / t_enc)
            print(f"{s.name:12s} {len(layout.objects):7d} {t_comp:12.3f} {t_enc:9.3f} {t_comp / t_enc:6.2f}")
    print(f"median ratio composite/encode over {len(ratios)} samples: {statistics.median(ratios):.2f}x (goal <= 5x)")


if __name__ == "__main__":
    main()

"""Evaluation speed on CPU: one 16-frame 512x512 video with 1, 2 and 4 objects.

    .venv/bin/python benchmarks/eval_speed.py [--threads N]

Prints seconds per video and per object (goal: <= 0.3 s per object). Includes
tracking (CSRT on frames downscaled to 256 px), object SSIM/PSNR, background
PSNR/SSIM, afterimage and warp error; video decoding is not included.
"""

from __future__ import annotations

import argparse
import os
import platform


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: OpenCV's choice)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import cv2

    if args.threads:
        cv2.setNumThreads(args.threads)
    from iva0.bench.speed import measure_eval_speed

    r = measure_eval_speed(repeats=args.repeats)
    print(f"eval speed, {r['frames']} frames {r['size'][0]}x{r['size'][1]}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, OpenCV threads {cv2.getNumThreads()}, load average {r['load_average_1min']}")
    for row in r["rows"]:
        print(f"  {row['objects']} object(s): {row['seconds']:.3f} s per video, {row['seconds_per_object']:.3f} s per object"
              f" (CPU time {row['cpu_seconds_per_object']:.3f} s per object)")
    worst = max(row["seconds_per_object"] for row in r["rows"])
    print(f"worst per object: {worst:.3f} s (goal <= {r['goal_seconds_per_object']} s): {'ok' if worst <= r['goal_seconds_per_object'] else 'SLOWER than the goal'}")


if __name__ == "__main__":
    main()

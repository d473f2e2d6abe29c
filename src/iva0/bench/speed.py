"""How long evaluating one video takes: 16 frames at 512x512, per object (issue 4, goal <= 0.3 s)."""

from __future__ import annotations

import os
import time

import cv2

import numpy as np

from iva0.bench.evaluate import EvalOptions, evaluate_frames
from iva0.layout import make_layout
from iva0.metrics.synthetic import linear_boxes, moving_patch_video


def _video(num_objects: int, size: int, frames: int):
    rng = np.random.default_rng(0)
    objs, video = [], None
    bg = None
    for j in range(num_objects):
        x0, y0 = rng.uniform(0.05, 0.45, size=2)
        w, h = rng.uniform(0.15, 0.3, size=2)
        dx, dy = rng.uniform(-0.25, 0.25, size=2)
        b0 = [x0, y0, x0 + w, y0 + h]
        b1 = [x0 + dx + 0.2, y0 + dy + 0.1, x0 + w + dx + 0.2, y0 + h + dy + 0.1]
        objs.append((f"object {j}", [(0, b0), (frames - 1, b1)]))
        boxes = linear_boxes(np.array(b0) * size, np.array(b1) * size, frames)
        video = moving_patch_video(boxes, size, size, seed=j, background=bg)
        bg = video[-1]  # the next object moves over this one's last frame: a still background for it
    return video, make_layout(objs, num_frames=frames)


def measure_eval_speed(num_objects=(1, 2, 4), size: int = 512, frames: int = 16, repeats: int = 2) -> dict:
    """Best-of-`repeats` wall time of `evaluate_frames` on synthetic videos with J objects."""
    rows = []
    for J in num_objects:
        video, layout = _video(J, size, frames)
        image = video[0]
        best = best_cpu = float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            evaluate_frames(video, image, layout, EvalOptions())
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        rows.append(
            {
                "objects": J,
                "seconds": round(best, 4),
                "seconds_per_object": round(best / J, 4),
                "cpu_seconds": round(best_cpu, 4),  # CPU time of this process (all its threads)
                "cpu_seconds_per_object": round(best_cpu / J, 4),
            }
        )
    # other work on the machine slows the wall time down; say how busy it was
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "size": [size, size],
        "frames": frames,
        "rows": rows,
        "goal_seconds_per_object": 0.3,
        "cpu_count": os.cpu_count(),
        "load_average_1min": None if load is None else round(load, 2),
        "opencv_threads": cv2.getNumThreads(),
    }

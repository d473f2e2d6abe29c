"""Segmentation quality without human labels: objects with known masks pasted onto real photos.

    .venv/bin/python benchmarks/segment_quality.py [--scenes 8] [--side 512] [--sam2-timing]

Each scene is one of the starter benchmark's photos (resized to --side on its
longer side) with one synthetic object pasted at a random place, its skin a patch of the
next photo (textured; with thin parts; or a body in the background's darkest
colour inside a bright rim: iva0.metrics.synthetic.object_scene),
boxed loosely as a user would. Per segmenter and object kind: mean mask IoU,
mean boundary F-score (DAVIS-style, tolerance 0.8 % of the diagonal) and
seconds per object. "grabcut (old)" is the GrabCut of before issue 11
(iva0.segment.grabcut.LEGACY), "grabcut" today's default.

--sam2-timing builds sam2.1-hiera-tiny at its real size with random weights
(the shipped config) and times one box on a 1024 px picture; its masks are
meaningless with random weights, so only its time is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from iva0.io.image import fit_size, read_image, resize_image
from iva0.metrics.segmentation import boundary_f, mask_iou
from iva0.metrics.synthetic import OBJECT_KINDS, object_scene
from iva0.segment.grabcut import LEGACY, GrabCutOptions, GrabCutSegmenter

IMAGES = Path(__file__).resolve().parent / "starter" / "images"


def scenes(n_per_kind: int, side: int):
    photos = sorted(IMAGES.glob("*.jpg"))
    out = []
    for k, kind in enumerate(OBJECT_KINDS):
        for i in range(n_per_kind):
            img, skin = read_image(photos[i % len(photos)]), read_image(photos[(i + 1 + k) % len(photos)])
            w, h = fit_size(img.shape[1], img.shape[0], max_side=side, multiple=1)
            out.append((kind, *object_scene(resize_image(img, w, h), kind, seed=1000 * k + i, skin_source=skin)))
    return out


def score(segmenter, data) -> dict[str, tuple[float, float, float]]:
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for i, (kind, img, truth, box) in enumerate(data):
        t = time.perf_counter()
        alpha = segmenter.segment(img, box, seed=i)
        dt = time.perf_counter() - t
        rows.setdefault(kind, []).append((mask_iou(alpha, truth), boundary_f(alpha, truth), dt))
    rows["all"] = [r for v in list(rows.values()) for r in v]
    return {k: tuple(float(np.mean([r[c] for r in v])) for c in range(3)) for k, v in rows.items()}


def sam2_time(repeats: int = 2) -> float:
    from iva0.segment.sam2 import Sam2Segmenter, write_random_sam2

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as d:
        write_random_sam2(d, tiny=False)
        seg = Sam2Segmenter.from_pretrained(d)
        seg.segment(img, np.array([300, 200, 700, 600]))  # warm-up: first-call allocations
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            seg.segment(img, np.array([300, 200, 700, 600]))
            times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=8, help="scenes per object kind")
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--sam2-timing", action="store_true", help="also time sam2.1-hiera-tiny (random weights) at 1024 px")
    args = ap.parse_args()
    data = scenes(args.scenes, args.side)
    segmenters = {"grabcut (old)": GrabCutSegmenter(LEGACY), "grabcut": GrabCutSegmenter(GrabCutOptions())}
    kinds = list(OBJECT_KINDS) + ["all"]
    print(f"{len(data)} scenes ({args.scenes} per kind), longer side {args.side} px; mask IoU / boundary F / s per object")
    print(f"{'segmenter':<16}" + "".join(f"{k:>22}" for k in kinds))
    for name, seg in segmenters.items():
        res = score(seg, data)
        print(f"{name:<16}" + "".join(f"{res[k][0]:>8.3f} /{res[k][1]:>6.3f} /{res[k][2]:>5.2f}" for k in kinds))
    if args.sam2_timing:
        print(f"sam2.1-hiera-tiny (random weights, real size): {sam2_time():.2f} s for one box on a 1024x768 picture")


if __name__ == "__main__":
    main()

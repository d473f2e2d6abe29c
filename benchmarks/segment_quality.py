"""Segmentation quality without human labels: objects with known masks pasted onto real photos.

    .venv/bin/python benchmarks/segment_quality.py [--scenes 8] [--side 512] [--loosen 0.15] [--motion] [--sam2-timing]

Each scene is one of the starter benchmark's photos (resized to --side on its
longer side) with one synthetic object pasted at a random place, its skin a patch of the
next photo (textured; with thin parts; or a body in the background's darkest
colour inside a bright rim: iva0.metrics.synthetic.object_scene),
boxed loosely as a user would. Per segmenter and object kind: mean mask IoU,
mean boundary F-score (DAVIS-style, tolerance 0.8 % of the diagonal) and
seconds per object. "grabcut (old)" is the GrabCut of before issue 11
(iva0.segment.grabcut.LEGACY), "grabcut" today's default.

--loosen 0.15 pushes every box side out by a further 15 % of the box, as a user
who draws far around the object would (the box prior assumes each side lies
within 10 % of the object).

--motion also moves each scene's object away along its box (16 frames, 1.2
box widths, the composite backend) and scores the video as `iva0 bench eval`
does, with the object's cut-out from each segmenter and from its exact mask
(the layout's "mask"): the box-based afterimage and left behind, and the same
two on the exact mask's pixels. The exact mask's row is the floor the
box-based figures cannot go under: background inside the box stays in place
in every good video and still correlates with the input.

--sam2-timing builds sam2.1-hiera-tiny at its real size with random weights
(the shipped config) and times one box on a 1024 px picture, in float32 and
bfloat16 (IVA0_SAM2_DTYPE); its masks are meaningless with random weights, so
only its time is printed, with the load average: other work on the machine
slows it several times.
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


def scenes(n_per_kind: int, side: int, loosen: float = 0.0):
    photos = sorted(IMAGES.glob("*.jpg"))
    out = []
    for k, kind in enumerate(OBJECT_KINDS):
        for i in range(n_per_kind):
            img, skin = read_image(photos[i % len(photos)]), read_image(photos[(i + 1 + k) % len(photos)])
            w, h = fit_size(img.shape[1], img.shape[0], max_side=side, multiple=1)
            scene, truth, box = object_scene(resize_image(img, w, h), kind, seed=1000 * k + i, skin_source=skin)
            if loosen:  # a user who draws far around the object: each side pushed out by `loosen` of the box
                grow = loosen * np.array([-1, -1, 1, 1]) * np.tile([box[2] - box[0], box[3] - box[1]], 2)
                box = np.clip(box + grow, 0, [w, h, w, h])
            out.append((kind, scene, truth, box))
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


def motion_scores(data, segmenters: dict) -> dict[str, dict[str, tuple[float, ...]]]:
    """Per segmenter ("exact" = the true mask) and kind: afterimage, afterimage (masks), left behind (estimated, mask), vIoU."""
    from PIL import Image

    from iva0.backends.composite import CompositeBackend
    from iva0.bench.evaluate import evaluate_frames
    from iva0.layout import parse_layout

    rows: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, img, truth, box) in enumerate(data):
            H, W = img.shape[:2]
            b = box / np.array([W, H, W, H])
            w = b[2] - b[0]
            d = 1.2 * w if b[2] + 1.2 * w <= 1.0 + 0.5 * w else -1.2 * w  # right, or left when there is no room
            Image.fromarray(truth * 255).save(Path(tmp) / f"{i}.png")
            raw = {"num_frames": 16, "objects": [{"name": kind, "keyframes": [{"frame": 0, "box": b.tolist()},
                                                                            {"frame": 15, "box": (b + [d, 0, d, 0]).tolist()}]}]}
            plain = parse_layout(raw)
            raw["objects"][0]["mask"] = f"{i}.png"
            masked = parse_layout(raw, base_dir=tmp)  # scored with the true mask, whatever cut the video
            for name, seg in {"exact mask": None, **segmenters}.items():
                backend = CompositeBackend()
                if seg is not None:
                    backend._segmenter = seg  # this segmenter instance (its options), not one built by name
                frames = backend.animate(img, plain if seg is not None else masked, seed=i)
                est = evaluate_frames(frames, img, plain)
                exact = evaluate_frames(frames, img, masked)
                vals = (est["afterimage"], exact["afterimage_masked"], est["objects"][0]["left_behind"],
                        exact["objects"][0]["left_behind"], est["objects"][0]["viou"])
                rows.setdefault(name, {}).setdefault(kind, []).append(vals)
    out = {}
    for name, by_kind in rows.items():
        by_kind["all"] = [r for v in list(by_kind.values()) for r in v]
        out[name] = {k: tuple(float(np.mean([r[c] for r in v if r[c] is not None])) for c in range(5)) for k, v in by_kind.items()}
    return out


def sam2_time(repeats: int = 3, dtypes=("float32", "bfloat16")) -> dict[str, float]:
    """Seconds for one box on a 1024x768 picture (best of `repeats`, after a warm-up), per model dtype."""
    from iva0.segment.sam2 import Sam2Segmenter, write_random_sam2

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        write_random_sam2(d, tiny=False)
        for dtype in dtypes:
            seg = Sam2Segmenter.from_pretrained(d, dtype=dtype)
            seg.segment(img, np.array([300, 200, 700, 600]))  # warm-up: first-call allocations
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                seg.segment(img, np.array([300, 200, 700, 600]))
                times.append(time.perf_counter() - t)
            out[dtype] = min(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=8, help="scenes per object kind")
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--loosen", type=float, default=0.0, help="push each box side out by this share of the box (looser boxes)")
    ap.add_argument("--motion", action="store_true", help="also score the cut-outs in motion (composite videos)")
    ap.add_argument("--sam2-timing", action="store_true", help="also time sam2.1-hiera-tiny (random weights) at 1024 px")
    args = ap.parse_args()
    data = scenes(args.scenes, args.side, args.loosen)
    segmenters = {"grabcut (old)": GrabCutSegmenter(LEGACY), "grabcut": GrabCutSegmenter(GrabCutOptions()),
                  "no box prior": GrabCutSegmenter(GrabCutOptions(tight=0.0))}
    kinds = list(OBJECT_KINDS) + ["all"]
    print(f"{len(data)} scenes ({args.scenes} per kind), longer side {args.side} px; mask IoU / boundary F / s per object")
    print(f"{'segmenter':<16}" + "".join(f"{k:>22}" for k in kinds))
    for name, seg in segmenters.items():
        res = score(seg, data)
        print(f"{name:<16}" + "".join(f"{res[k][0]:>8.3f} /{res[k][1]:>6.3f} /{res[k][2]:>5.2f}" for k in kinds))
    if args.motion:
        print("\nin motion (composite, 16 frames): afterimage boxes / masks, left behind estimated / mask, vIoU; low is good but vIoU")
        print(f"{'cut-out':<16}" + "".join(f"{k:>36}" for k in kinds))
        for name, res in motion_scores(data, segmenters).items():
            print(f"{name:<16}" + "".join(f"{res[k][0]:>7.3f}/{res[k][1]:.3f} {res[k][2]:>6.3f}/{res[k][3]:.3f} {res[k][4]:>7.3f}"
                                          for k in kinds))
    if args.sam2_timing:
        import os

        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        for dtype, t in sam2_time().items():
            print(f"sam2.1-hiera-tiny (random weights, real size, {dtype}): {t:.2f} s for one box on a 1024x768 picture"
                  f" (goal <= 2 s; load average {load:.1f}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

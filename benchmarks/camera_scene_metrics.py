"""Background PSNR/SSIM, afterimage and left behind of camera videos (issue 17): frame f against the picture
seen through window f (iva0.metrics.window_view), each figure beside a control that must score worse.

    .venv/bin/python benchmarks/camera_scene_metrics.py [--bench benchmarks/starter] [--width 512]

1. A still photo through a moving window (a pan with a zoom whose last window reaches past the picture's
   edge), rendered by the composite: background PSNR/SSIM as for a perfect still video; the control is the
   same frames in reversed order (window f's view no longer at frame f).
2. The benchmark's samples with a camera, composite output (`iva0 animate`, then written as H.264 and read
   back, as `bench run` + `bench eval` do), against two controls: the same camera with the objects held at
   their frame-0 boxes (a method that moves only the camera: left behind and afterimage must be high), and
   frame 0 repeated (a method that ignores the camera: the background must score low). The composite of the
   same layout without its camera gives the figures the metrics had before for comparison, and the baseline
   of the evaluation's CPU time (`bench eval` of the composite video with / without the camera, one thread).
Everything is measured in this run; nothing is compared with figures from elsewhere.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from iva0.animate import animate
from iva0.bench.evaluate import EvalOptions, evaluate_frames
from iva0.bench.format import load_benchmark
from iva0.io.image import read_image
from iva0.io.video import read_video, write_video
from iva0.layout import make_layout, parse_layout
from iva0.metrics.calibration import photo

# pans right and down, zooms in by 1.2; the last window reaches 0.1 past the picture's right edge
PAN_ZOOM = [(0, [0.0, 0.1, 0.6, 0.7]), (15, [0.6, 0.35, 1.1, 0.85])]
KEYS = ("background_psnr", "background_ssim", "afterimage", "afterimage_masked", "left_behind", "camera_error")


def fmt(v, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def row(label: str, r: dict) -> str:
    lb = [o["left_behind"] for o in r["objects"] if o["left_behind"] is not None]
    vals = {**r, "left_behind": float(np.mean(lb)) if lb else None}
    return (f"| {label} | " + " | ".join(fmt(vals[k], 2 if k == "background_psnr" else 3) for k in KEYS) + " |")


def timed_eval(frames, img, lay, opts) -> tuple[dict, float]:
    """evaluate_frames and its CPU time (s, this process)."""
    t = time.process_time()
    r = evaluate_frames(frames, img, lay, opts)
    return r, time.process_time() - t


def header(first: str) -> str:
    names = ("bg PSNR", "bg SSIM", "afterimage", "afterimage (masks)", "left behind", "camera error px")
    return f"| {first} | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1)


def through_codec(frames: np.ndarray, fps: int, tmp: Path, name: str) -> np.ndarray:
    """The frames as `bench eval` reads them from a `bench run` folder: H.264 and back."""
    path = write_video(frames, tmp / f"{name}.mp4", fps)
    return read_video(path)[0]


def held_still(layout):
    """The layout with every object held at its frame-0 box (the camera unchanged)."""
    data = layout.to_dict()
    for o in data["objects"]:
        o["keyframes"] = o["keyframes"][:1]
    return parse_layout(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(Path(__file__).parent / "starter"))
    ap.add_argument("--width", type=int, default=512, help="output width of the composite videos")
    args = ap.parse_args(argv)
    opts = EvalOptions(workers=1)

    print("1. A still photo through a moving window (composite, 16 frames, 240x160; no codec)\n")
    print(header("photo / frames"))
    for name in ("chelsea", "coffee"):
        for pw, ph in ((384, 256), (900, 600)):  # picture space the picture itself / half the picture
            img = photo(name, pw, ph)
            lay = make_layout([], num_frames=16, camera=PAN_ZOOM)
            frames = animate(img, lay, width=240, height=160).frames
            print(row(f"{name} {pw}x{ph}, in order", evaluate_frames(frames, img, lay, opts)))
            print(row(f"{name} {pw}x{ph}, reversed (control)", evaluate_frames(frames[::-1].copy(), img, lay, opts)))

    bench = load_benchmark(args.bench)
    samples = [s for s in bench.samples if s.layout.camera is not None]
    print(f"\n2. {bench.name}: its {len(samples)} samples with a camera (composite at {args.width} px wide, H.264)\n")
    print(header("sample / video"))
    timings = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for s in samples:
            img = read_image(s.image)
            lay = s.layout
            videos = {
                "composite": animate(img, lay, width=args.width).frames,
                "objects held still (control)": animate(img, held_still(lay), width=args.width).frames,
            }
            videos["frame 0 repeated (control)"] = np.repeat(videos["composite"][:1], lay.num_frames, axis=0)
            for label, frames in videos.items():
                got, cpu = timed_eval(through_codec(frames, lay.fps, tmp, f"{s.id}-{len(label)}"), img, lay, opts)
                print(row(f"{s.id}, {label}", got))
                if label == "composite":
                    cpu_camera = cpu
            plain = lay.with_overrides(camera={})
            frames = through_codec(animate(img, plain, width=args.width).frames, lay.fps, tmp, f"{s.id}-plain")
            got, cpu_plain = timed_eval(frames, img, plain, opts)
            print(row(f"{s.id}, composite without the camera (for comparison)", got))
            timings.append(f"{s.id}: bench eval CPU {cpu_camera:.2f} s with the camera, {cpu_plain:.2f} s without "
                           f"(ratio {cpu_camera / cpu_plain:.2f})")
    print("\n" + "\n".join(timings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`iva0 bench eval`: score a folder of videos (ours or another method's) against a benchmark.

Each video `<id>.mp4` (any size, fps or length) is resized to the sample's
image (longer side capped at `eval_side`); when its length differs from the
layout's, the layout is retimed to the video (the motion spans the whole
video). Metrics per object track and per video are those of `iva0.metrics`;
the summary averages object metrics over all tracks and video metrics over
videos. Samples without a video are listed as missing and unreadable videos
(corrupt, or a picture under a video name) as failed; neither is scored as zero
or dropped silently.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from iva0.bench.format import Benchmark, BenchSample, check_masks, load_benchmark
from iva0.retime import retime_layout
from iva0.errors import UserError
from iva0.io.atomic import atomic_write_text
from iva0.io.input_file import require_folder
from iva0.io.output_rule import check_output
from iva0.io.image import fit_size, read_image
from iva0.io.video import read_video
from iva0.layout import MAX_FRAMES
from iva0.masks import boxes_masks
from iva0.segment.mask import layout_mask
from iva0.metrics.consistency import object_scores
from iva0.metrics.scene import (afterimage, background_psnr, background_ssim, differs_from_fill, left_behind,
                                object_pixels, warp_error)
from iva0.metrics.tracking import TRACK_SIDE, viou, viou_at

VIDEO_EXTS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
OBJECT_KEYS = ("viou", "object_ssim", "object_psnr", "centroid_error", "left_behind")
VIDEO_KEYS = ("background_psnr", "background_ssim", "afterimage", "afterimage_masked", "warp_error", "camera_error")
SKIPPED = {
    "fvd": "not computed: give --i3d WEIGHTS.safetensors (I3D, local) and --fvd-reference VIDEOS_DIR (real videos)",
    "clip_text": "not computed: give --clip DIR (a local CLIP model folder) to score frames against the captions",
    "clip_image": "not computed: give --clip DIR (a local CLIP model folder) to score frames against frame 0",
}


@dataclass
class EvalOptions:
    eval_side: int = 512  # longer side of the frames the metrics see
    track_side: int = TRACK_SIDE  # longer side of the frames the tracker sees
    clip: str | None = None  # local CLIP model folder (optional scores)
    workers: int | None = None  # threads for one video's metrics (default: up to 4 cores)
    i3d: str | None = None  # local I3D weights (.safetensors): FVD against fvd_reference
    fvd_reference: str | None = None  # folder of reference videos (or a run folder)
    fvd_size: int = 224  # frame side the I3D network sees (224 as in the reference FVD)


def find_video(videos_dir: Path, sample_id: str) -> Path | None:
    for ext in VIDEO_EXTS:
        p = videos_dir / f"{sample_id}{ext}"
        if p.is_file():
            return p
    d = videos_dir / sample_id
    return d if d.is_dir() else None


def prepare(frames: np.ndarray, image: np.ndarray, layout, eval_side: int):
    """Bring a video and its input to a common size and the layout to the video's length.

    With a camera the frames are windows of the picture, of the output's aspect
    ratio: they keep it (longer side capped at `eval_side`), and the input stays
    as it is (picture space)."""
    if len(frames) > MAX_FRAMES:  # longer than a layout may be: subsample evenly
        frames = frames[np.round(np.linspace(0, len(frames) - 1, MAX_FRAMES)).astype(int)]
    F, fh, fw, _ = frames.shape
    h, w = image.shape[:2]
    if layout.camera is not None:
        W, H = fit_size(fw, fh, max_side=eval_side, multiple=1)
        ref = image
    else:
        W, H = fit_size(w, h, max_side=eval_side, multiple=1)
        ref = cv2.resize(image, (W, H), interpolation=cv2.INTER_AREA) if (W, H) != (w, h) else image
    if (fw, fh) != (W, H):
        interp = cv2.INTER_AREA if fw * fh > W * H else cv2.INTER_LINEAR
        frames = np.stack([cv2.resize(fr, (W, H), interpolation=interp) for fr in frames])  # (F, H, W, 3)
    layout = retime_layout(layout, F) if F != layout.num_frames else layout
    return frames, ref, layout


def evaluate_frames(frames: np.ndarray, image: np.ndarray, layout, opts: EvalOptions | None = None) -> dict:
    """Every metric of one video. frames (F, h, w, 3) uint8, image (H, W, 3) uint8."""
    opts = opts or EvalOptions()
    frames, ref, layout = prepare(np.asarray(frames), image, layout, opts.eval_side)
    F, H, W, _ = frames.shape
    if layout.camera is not None:
        return _evaluate_camera(frames, ref, layout, opts)
    boxes = layout.boxes_px(W, H)  # (J, F, 4)
    # the layout's own masks, where it gives them: scores of the objects' pixels, not of their boxes
    masks = [layout_mask(layout, j, W, H, check_aspect=False) for j in range(len(boxes))]  # (checked: check_masks)

    def score_object(j: int) -> dict:
        b = boxes[j]
        # the object's own frame-0 pixels (the layout's mask, else an estimate from the input): the tracker
        # follows them, and left behind counts them
        judged = differs_from_fill(ref, b[0])  # (H, W) bool: its pixels unlike the fill behind them (left behind)
        obj = masks[j] > 0.5 if masks[j] is not None else object_pixels(ref, b[0], differs=judged)
        tr = viou(frames, b, track_side=opts.track_side, object_mask=obj)
        # the object's looks where it is (the tracked box, or the layout box where that looks more like
        # it), not only where it was asked to be: a drift is vIoU's to score
        ssim, psnr = object_scores(frames, b, tracked=tr.tracked)
        return {
            "name": layout.names[j],
            "viou": tr.viou,
            "object_ssim": ssim,
            "object_psnr": psnr,
            "centroid_error": tr.centroid_error,
            "left_behind": left_behind(frames, ref, b[0], boxes.transpose(1, 0, 2), object_mask=obj, judged=judged),
            "ious": [round(float(v), 4) for v in tr.ious],
        }

    def score_video() -> dict:
        per_obj = boxes_masks(layout.boxes(), H, W) > 0.5  # (J, F, H, W): b_j(f) as masks
        far = ~per_obj.any(axis=(0, 1))  # never inside any box: iva0.masks.never_occupied
        vacated = (per_obj[:, :1] & ~per_obj).any(axis=0)  # (F, H, W): V(f) of iva0.masks.layout_masks
        vacated[0] = False
        return {
            "background_psnr": background_psnr(frames, ref, far),
            "background_ssim": background_ssim(frames, ref, far),
            "afterimage": afterimage(frames, ref, vacated),
            # only when every object has a mask: else the objects without one would not count
            "afterimage_masked": (afterimage(frames, ref, vacated, object_mask=np.max(masks, axis=0))
                                  if masks and all(m is not None for m in masks) else None),
            "warp_error": warp_error(frames),
        }

    workers = opts.workers or min(4, os.cpu_count() or 1)
    if workers > 1:
        # OpenCV and scikit-image release the GIL in their heavy loops: the object
        # tracks and the video metrics run side by side on several cores
        with ThreadPoolExecutor(max_workers=workers) as pool:
            video = pool.submit(score_video)
            objects = list(pool.map(score_object, range(len(boxes))))
            video = video.result()
    else:
        objects = [score_object(j) for j in range(len(boxes))]
        video = score_video()
    return {"frames": F, "size": [W, H], "objects": objects, **video, "camera_error": None}


def _evaluate_camera(frames: np.ndarray, picture: np.ndarray, layout, opts: EvalOptions) -> dict:
    """The metrics of a video made through the layout's camera: boxes seen through the window (output pixels),
    the camera metric (iva0.metrics.camera), warp error; frame f's background, afterimage and left behind
    against the picture seen through window f, on the pixels that lie on the picture (iva0.metrics.window_view)."""
    from iva0.camera import layout_windows, output_boxes_px
    from iva0.metrics.camera import camera_error
    from iva0.metrics.window_view import boxes_in_frames, never_occupied_views, vacated_views, window_views

    F, H, W, _ = frames.shape
    ph, pw = picture.shape[:2]
    boxes = output_boxes_px(layout, W, H)  # (J, F, 4) output px
    windows = layout_windows(layout)  # (F, 4) normalised
    views = window_views(picture, windows, W, H)
    # [f, j, g]: object j's box at frame g seen in frame f; its frame-0 box only where it was on the picture
    seen = boxes_in_frames(layout.boxes(), windows, W, H)  # (F, J, F, 4) px
    start = boxes_in_frames(np.clip(layout.boxes()[:, :1], 0.0, 1.0), windows, W, H)[:, :, 0]  # (F, J, 4) px
    # the objects' pixels in picture space, through every window ((F, H, W) each): the layout's own masks where
    # it gives them; for left behind, the others estimated once from the picture (`object_pixels`, as without a
    # camera, where it is estimated once from the input)
    sh, sw = views.space.shape[:2]
    own = [layout_mask(layout, j, sw, sh, check_aspect=False) for j in range(len(boxes))]
    masks = [None if m is None else views.through(m) for m in own]
    box0_space = np.clip(layout.boxes()[:, 0], 0.0, 1.0) * np.array([sw, sh, sw, sh], dtype=np.float64)  # (J, 4)
    # with which of them differ from the fill behind them (`left_behind`'s judged pixels), also once
    differs = [differs_from_fill(views.space, box0_space[j]) for j in range(len(boxes))]  # (sh, sw) bool each
    obj = [m if m is not None else views.through(object_pixels(views.space, box0_space[j], differs=differs[j])
                                                 .astype(np.float32)) for j, m in enumerate(masks)]
    judged = [views.through(d.astype(np.float32)) for d in differs]

    def score_object(j: int) -> dict:
        b = boxes[j]
        tr = viou(frames, b, track_side=opts.track_side, object_mask=obj[j][0] > 0.5)  # its pixels seen in frame 0
        ssim, psnr = object_scores(frames, b, tracked=tr.tracked)
        # left behind frame by frame, each against its own view of the picture (a clip of frame f alone)
        per = [left_behind(frames[[f, f]], views.references[f], start[f, j], np.stack([seen[f, :, f]] * 2),
                           object_mask=obj[j][f], judged=judged[j][f]) for f in range(1, F)]
        return {"name": layout.names[j], "viou": tr.viou, "object_ssim": ssim, "object_psnr": psnr,
                "centroid_error": tr.centroid_error, "left_behind": _mean(per),
                "ious": [round(float(v), 4) for v in tr.ious]}

    objects = [score_object(j) for j in range(len(boxes))]
    far = never_occupied_views(seen, views.known)  # (F, H, W)
    vacated = vacated_views(seen, views.known)  # (F, H, W)
    refs = views.references
    windows_px = windows * np.array([pw, ph, pw, ph], dtype=np.float64)  # (F, 4) picture px
    cam = camera_error(frames, windows_px, (pw, ph), boxes)
    return {"frames": F, "size": [W, H], "objects": objects,
            "background_psnr": background_psnr(frames, refs, far),
            "background_ssim": background_ssim(frames, refs, far),
            "afterimage": afterimage(frames, refs, vacated),
            "afterimage_masked": (afterimage(frames, refs, vacated, object_mask=np.max(masks, axis=0))
                                  if masks and all(m is not None for m in masks) else None),
            "warp_error": warp_error(frames), **cam.to_dict()}


class UnreadableVideo(UserError):
    """A video file that cannot be decoded as a video (corrupt, or a picture under a video name)."""


def evaluate_sample(sample: BenchSample, video: Path, opts: EvalOptions, clip_scorer=None, fvd=None) -> dict:
    t0 = time.perf_counter()
    try:
        frames, _fps = read_video(video)
    except UserError as e:
        raise UnreadableVideo(str(e)) from None
    if len(frames) < 2:  # e.g. a JPEG renamed .mp4: FFmpeg decodes it as one picture
        raise UnreadableVideo(f"{video.name} holds {len(frames)} frame; a video needs at least 2")
    image = read_image(sample.image)
    out = evaluate_frames(frames, image, sample.layout, opts)
    if clip_scorer is not None:
        out.update(clip_scorer(frames, sample.caption))
    if fvd is not None:
        fvd.add(frames)
    out["seconds"] = round(time.perf_counter() - t0, 4)
    out["seconds_per_object"] = round(out["seconds"] / max(1, len(out["objects"])), 4)
    return {"id": sample.id, "video": video.name, **out}


def _mean(vals) -> float | None:
    v = [x for x in vals if x is not None]
    return float(np.mean(v)) if v else None


def summarise(samples: list[dict], clip: bool = False) -> dict:
    ok = [s for s in samples if "error" not in s]
    tracks = [o for s in ok for o in s["objects"]]
    summary = {
        "viou_at_0.5": viou_at([o["viou"] for o in tracks]),
        "mean_viou": _mean(o["viou"] for o in tracks),
        "object_ssim": _mean(o["object_ssim"] for o in tracks),
        "object_psnr": _mean(o["object_psnr"] for o in tracks),
        "centroid_error": _mean(o["centroid_error"] for o in tracks),
        "left_behind": _mean(o.get("left_behind") for o in tracks),
    }
    for k in VIDEO_KEYS:
        summary[k] = _mean(s[k] for s in ok)
    if clip:
        for k in ("clip_text", "clip_image"):
            summary[k] = _mean(s.get(k) for s in ok)
    summary.update(
        num_samples=len(samples),
        num_evaluated=len(ok),
        num_missing=sum(s.get("error") == "no video" for s in samples),
        num_failed=sum("error" in s and s["error"] != "no video" for s in samples),
        num_objects=len(tracks),
        eval_seconds_per_object=_mean(s["seconds_per_object"] for s in ok),
    )
    return summary


def evaluate_videos(
    bench: Benchmark,
    videos_dir: str | os.PathLike,
    out: str | os.PathLike,
    opts: EvalOptions | None = None,
    on_sample: Callable[[str, dict], None] | None = None,
    source: dict | None = None,
    on_start: Callable[[int], None] | None = None,
) -> dict:
    """Score `<id>.<ext>` videos in `videos_dir` for every sample; write metrics.json to `out`."""
    opts = opts or EvalOptions()
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise UserError(f"videos folder not found: {videos_dir}")
    # the output rule, before any work: never a video, never a file bench eval did not write
    videos = {s.id: find_video(videos_dir, s.id) for s in bench.samples}
    check_output(out, "metrics", inputs=[v for v in videos.values() if v is not None])
    check_masks([s for s in bench.samples if videos[s.id] is not None])  # the masks the scores will use
    clip_scorer = None
    skipped = dict(SKIPPED)
    fvd = FvdSet.open(opts) if (opts.i3d or opts.fvd_reference) else None
    if opts.clip:
        from iva0.metrics.clip import ClipScorer

        clip_scorer = ClipScorer.load(opts.clip)
        skipped.pop("clip_text")
        skipped.pop("clip_image")
    samples = []
    if on_start:
        on_start(len(bench.samples))
    for s in bench.samples:
        video = videos[s.id]
        if video is None:
            rec = {"id": s.id, "error": "no video"}
        else:
            try:
                rec = evaluate_sample(s, video, opts, clip_scorer, fvd)
            except UnreadableVideo as e:  # recorded and counted as failed; evaluation goes on
                rec = {"id": s.id, "video": video.name, "error": f"unreadable video: {e}"}
            except UserError as e:  # any other problem with this sample: recorded as failed too
                rec = {"id": s.id, "video": video.name, "error": str(e)}
        samples.append(rec)
        if on_sample:
            on_sample(s.id, rec)
    summary = summarise(samples, clip=clip_scorer is not None)
    if fvd is not None:
        summary.update(fvd.result())
        skipped.pop("fvd")
    result = {
        "summary": summary,
        "skipped": skipped,
        "benchmark": bench.name,
        "benchmark_path": str(bench.root),
        "videos": str(videos_dir),
        "source": source or {},
        "options": asdict(opts),
        "samples": samples,
    }
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    return result


class FvdSet:
    """Collects I3D features of the evaluated videos; FVD against a reference folder at the end."""

    def __init__(self, model, reference: Path, opts: EvalOptions, device: str):
        self.model, self.reference, self.opts, self.device = model, reference, opts, device
        self.features: list[np.ndarray] = []

    @classmethod
    def open(cls, opts: EvalOptions) -> "FvdSet":
        import torch

        from iva0.metrics.fvd import load_i3d

        if not (opts.i3d and opts.fvd_reference):
            raise UserError("FVD needs both --i3d WEIGHTS.safetensors and --fvd-reference VIDEOS_DIR")
        ref = Path(opts.fvd_reference)
        if (ref / "config.json").is_file() and (ref / "videos").is_dir():
            ref = ref / "videos"  # a run folder
        require_folder(ref, "--fvd-reference: folder")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(load_i3d(opts.i3d, device), ref, opts, device)

    def _features(self, frames: np.ndarray) -> np.ndarray:
        from iva0.metrics.fvd import i3d_features

        return i3d_features(self.model, [frames], size=self.opts.fvd_size, device=self.device)[0]

    def add(self, frames: np.ndarray) -> None:
        self.features.append(self._features(frames))

    def result(self) -> dict:
        from iva0.metrics.fvd import frechet_distance

        refs = sorted(p for p in self.reference.iterdir() if not p.name.startswith(".") and (p.suffix.lower() in VIDEO_EXTS or p.is_dir()))
        ref_feats = [self._features(read_video(p)[0]) for p in refs]
        if len(self.features) < 2 or len(ref_feats) < 2:
            return {"fvd": None, "fvd_note": f"needs at least 2 videos on each side (have {len(self.features)} and {len(ref_feats)})"}
        out = {
            "fvd": frechet_distance(np.stack(self.features), np.stack(ref_feats)),
            "fvd_videos": len(self.features),
            "fvd_reference_videos": len(ref_feats),
            "fvd_reference": str(self.reference),
        }
        dims = self.features[0].shape[0]
        if min(len(self.features), len(ref_feats)) <= dims:
            out["fvd_note"] = f"fewer videos than feature dimensions ({dims}): singular covariances, a noisy figure"
        return out


def evaluate_path(
    path: str | os.PathLike,
    bench: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    opts: EvalOptions | None = None,
    on_sample=None,
    on_start=None,
) -> tuple[dict, Path]:
    """A run folder (its config names the benchmark) or a folder of videos plus --bench."""
    from iva0.bench.run import load_run

    p = Path(path)
    if not p.is_dir():
        raise UserError(f"not a folder: {p}")
    source: dict = {}
    if (p / "config.json").is_file():
        run = load_run(p)
        source = {k: run.get(k) for k in ("method", "options", "seed", "width", "height", "frames", "versions", "total_seconds")}
        bench_path = bench or run.get("benchmark_path")
        videos = p / "videos"
    else:
        if bench is None:
            raise UserError(f"{p} is not a run folder (no config.json); give the benchmark with --bench BENCH")
        bench_path = bench
        videos = p
        source = {"method": p.name}
    b = load_benchmark(bench_path)
    out = Path(out) if out else p / "metrics.json"
    return evaluate_videos(b, videos, out, opts, on_sample=on_sample, source=source, on_start=on_start), out

"""`iva0 bench run`: one video per benchmark sample, resumable and shardable.

Layout of a run folder:

    RUN/config.json          method, options, seed, sizes, package versions
    RUN/videos/<id>.mp4      one per finished sample (written to a temporary
                             name and renamed: never half-written)
    RUN/records/<id>.json    per-sample time / error, one file per sample so that
                             several processes never write the same file
    RUN/run.json             config + all records, merged (rewritten by each
                             process when it ends; `load_run` merges again on read)

A rerun with the same configuration skips samples whose video exists, removes
stale temporary files of its own samples and retries failed ones. Sharding: the
process with rank r of n takes samples r, r+n, r+2n, ... (RANK / WORLD_SIZE, as
set by `accelerate launch` or torchrun).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from iva0.backends import BACKENDS
from iva0.backends.cutouts import check_cutouts
from iva0.bench.format import Benchmark, BenchSample, check_depth_files, check_masks
from iva0.retime import retime_layout
from iva0.errors import UserError, one_line
from iva0.io.atomic import atomic_write_text, is_partial
from iva0.io.json_input import read_json
from iva0.io.output_rule import check_output
from iva0.io.video import write_video
from iva0.layout import Layout

METHODS = ("composite", "iva0", "ttm", "static")
_VERSION_PACKAGES = ("iva0", "numpy", "opencv-contrib-python-headless", "scikit-image", "torch", "diffusers", "transformers", "av")


class StaticBackend:
    """The lower bound: the input repeated, nothing moves."""

    name = "static"
    max_side = 1024
    size_multiple = 2

    def animate(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress=None) -> np.ndarray:
        return np.repeat(image[None], layout.num_frames, axis=0)  # (F, H, W, 3)


@dataclass
class RunConfig:
    method: str
    options: dict[str, Any] = field(default_factory=dict)  # backend options (None dropped)
    seed: int = 0
    width: int | None = None
    height: int | None = None
    frames: int | None = None  # retime every layout to this many frames

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def shard_from_env() -> tuple[int, int]:
    """(rank, world_size) from the launcher's environment; (0, 1) when run alone."""
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"bad sharding: RANK={rank} WORLD_SIZE={world}")
    return rank, world


def shard(samples, rank: int, world_size: int) -> list:
    """Samples r, r+n, r+2n, ...: disjoint across ranks, together all of them."""
    return list(samples[rank::world_size])


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine_info(method: str) -> dict:
    """Where the run was made: CPU, and the GPU for the diffusion method (timings depend on it)."""
    info = {"host": platform.node(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    if method in ("iva0", "ttm"):
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    return info


def _config_header(bench: Benchmark, cfg: RunConfig) -> dict:
    return {"benchmark": bench.name, "benchmark_path": str(bench.root), **cfg.to_dict()}


def _check_config(run_dir: Path, bench: Benchmark, cfg: RunConfig) -> None:
    """A run folder holds one configuration; resuming with another would mix videos."""
    path = run_dir / "config.json"
    want = _config_header(bench, cfg)
    if path.exists():
        have = json.loads(path.read_text())
        # the device may differ between processes of one run (cuda:0, cuda:1, ...): it changes no result
        for d in (have, want):
            d["options"] = {k: v for k, v in (d.get("options") or {}).items() if k != "device"}
        diff = [k for k in ("benchmark", "method", "options", "seed", "width", "height", "frames") if have.get(k) != want.get(k)]
        if diff:
            raise UserError(
                f"{run_dir} holds a run with another configuration ({', '.join(f'{k}={have.get(k)!r}' for k in diff)}); "
                "resume it with the same options or choose another -o folder"
            )
        return
    atomic_write_text(path, json.dumps({**want, "versions": package_versions(), "machine": machine_info(cfg.method)}, indent=2) + "\n")


def make_backend(cfg: RunConfig):
    if cfg.method == "static":
        return StaticBackend()
    if cfg.method not in METHODS:
        raise UserError(f"unknown method {cfg.method!r}; choose one of: {', '.join(METHODS)}")
    from iva0.backends import create_backend

    return create_backend(cfg.method, **cfg.options)


def _remove_stale(folder: Path, ids: set[str]) -> int:
    """Delete temporary files left by a killed run, for this shard's samples only
    (another process may be writing its own right now)."""
    # atomic_path names them ".<stem>.<random, no dots>.partial<suffix>"
    pattern = re.compile(r"^\.(?P<id>.+)\.[^./]+\.partial")
    n = 0
    for p in folder.iterdir():
        m = pattern.match(p.name)
        if is_partial(p) and m and m.group("id") in ids:
            if p.is_dir():
                import shutil

                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
    return n


def check_sizes(samples: list[BenchSample], cfg: RunConfig) -> None:
    """Refuse, before any sample runs, a --width/--height/--frames whose frames would not fit
    the frame-memory budget (iva0.limits); reads only image headers."""
    if cfg.width is None and cfg.height is None and cfg.frames is None:
        return  # each backend caps its default size: always within the budget
    from PIL import Image

    from iva0.io.image import fit_size
    from iva0.limits import check_frame_memory

    for s in samples:
        with Image.open(s.image) as im:
            w, h = im.size
        W, H = fit_size(w, h, cfg.width, cfg.height, max_side=1024, multiple=1)
        check_frame_memory(cfg.frames or s.layout.num_frames, W, H, what=f"sample {s.id}: ")


def check_layouts(samples: list[BenchSample], check) -> None:
    """Run check(layout) on every sample still to make, before anything is written: one error for the run
    (`--segmenter mask` with an object that has no mask, a broken SAM 2 folder), not one failure per sample."""
    for s in samples:
        try:
            check(s.layout)
        except UserError as e:
            raise type(e)(f"sample {s.id}: {one_line(e)}") from None


def run_sample(sample: BenchSample, backend, cfg: RunConfig, out: Path, progress=None) -> dict:
    """Animate one sample into `out` (written atomically); returns its record."""
    from iva0.animate import animate

    layout = retime_layout(sample.layout, cfg.frames) if cfg.frames else sample.layout
    t0 = time.perf_counter()
    anim = animate(sample.image, layout, backend, width=cfg.width, height=cfg.height, seed=cfg.seed, progress=progress)
    seconds = time.perf_counter() - t0
    write_video(anim.frames, out, anim.fps)  # the backend's own fps when it retimes (ttm)
    F, H, W, _ = anim.frames.shape
    return {"status": "ok", "seconds": round(seconds, 3), "width": W, "height": H, "frames": F}


def run_benchmark(
    bench: Benchmark,
    cfg: RunConfig,
    run_dir: str | os.PathLike,
    *,
    rank: int = 0,
    world_size: int = 1,
    on_sample: Callable[[str, dict], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Run this process's shard of the benchmark; returns a summary of what it did.

    on_start(todo, shard size) once; on_sample(id, record) after each sample;
    progress(done, total, stage) within a sample (the backend's own progress)."""
    run_dir = check_output(run_dir, "run", read_folders=[bench.root])
    mine = shard(bench.samples, rank, world_size)
    check_sizes(mine, cfg)
    unmade = [s for s in mine if not (run_dir / "videos" / f"{s.id}.mp4").exists()]
    check_masks(unmade)  # the layouts' masks
    if cfg.method in BACKENDS:  # the static method never reads a depth map
        check_depth_files(unmade)
    videos = run_dir / "videos"
    records = run_dir / "records"
    if (run_dir / "config.json").exists():
        _check_config(run_dir, bench, cfg)  # a run of another configuration is refused before a model loads
        load_run(run_dir)  # and a damaged record now, not once every sample ran and run.json is merged
    todo = [s for s in mine if not (videos / f"{s.id}.mp4").exists()]
    # the backend is built (its models read) and every sample still to make checked before anything is written
    if cfg.method in BACKENDS:  # the cut-out options every backend shares, before a model loads
        check_layouts(todo, lambda layout: check_cutouts(layout, cfg.options))
    backend = make_backend(cfg) if todo else None
    if hasattr(backend, "check_layout"):  # e.g. reads a SAM 2 folder, once
        check_layouts(todo, backend.check_layout)
    run_dir.mkdir(exist_ok=True)  # never its parents: a mistyped path is refused above
    _check_config(run_dir, bench, cfg)  # config.json first: it marks the folder as a run folder
    videos.mkdir(exist_ok=True)
    records.mkdir(exist_ok=True)
    ids = {s.id for s in mine}
    removed = _remove_stale(videos, ids) + _remove_stale(records, ids)
    skipped = 0
    for s in mine:
        rec_path = records / f"{s.id}.json"
        if (videos / f"{s.id}.mp4").exists():
            skipped += 1
            if not rec_path.exists():  # killed between the video and its record
                atomic_write_text(rec_path, json.dumps({"id": s.id, "status": "ok", "seconds": None, "rank": rank}) + "\n")
    if on_start:
        on_start(len(todo), len(mine))
    done = failed = 0
    for s in todo:
        try:
            rec = run_sample(s, backend, cfg, videos / f"{s.id}.mp4", progress=progress)
            done += 1
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - a failing sample is recorded, the run goes on
            failed += 1
            rec = {
                "status": "error",
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8),
            }
        rec = {"id": s.id, **rec, "rank": rank, "host": platform.node()}
        atomic_write_text(records / f"{s.id}.json", json.dumps(rec, indent=1) + "\n")
        if on_sample:
            on_sample(s.id, rec)
    write_run_json(run_dir)
    return {"rank": rank, "world_size": world_size, "shard": len(mine), "ran": done, "failed": failed, "skipped": skipped, "stale_removed": removed}


def load_run(run_dir: str | os.PathLike) -> dict:
    """config + every sample record of a run folder, merged (safe while processes write)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{run_dir} is not a benchmark run (no config.json); make one with `iva0 bench run`")
    config = read_json(cfg_path)
    if not isinstance(config, dict) or not all(k in config for k in ("method", "benchmark")):
        raise UserError(f"{cfg_path}: not the config.json of an iva0 benchmark run (no 'method' and 'benchmark')")
    # the fields eval and report use, as `bench run` writes them (a hand-edited one ended in a TypeError)
    for key, kind, what in (("method", str, "a string"), ("benchmark", str, "a string"),
                            ("benchmark_path", str, "the benchmark folder's path"), ("options", (dict, type(None)), "an object")):
        if not isinstance(config.get(key), kind):
            got = json.dumps(config.get(key)) if key in config else "nothing"
            raise UserError(f"{cfg_path}: not the config.json of an iva0 benchmark run ('{key}' must be {what}, "
                            f"got {got[:80]})")
    samples = []
    rec_dir = run_dir / "records"
    if rec_dir.is_dir():
        for p in sorted(rec_dir.glob("*.json")):
            if is_partial(p):
                continue
            try:
                rec = json.loads(p.read_text())
            except json.JSONDecodeError:  # pragma: no cover - records are written atomically
                continue
            seconds = rec.get("seconds") if isinstance(rec, dict) else None
            if not isinstance(rec, dict) or seconds is not None and (
                    isinstance(seconds, bool) or not isinstance(seconds, (int, float))):  # a hand-edited one
                raise UserError(f"{p}: not a sample record of `iva0 bench run` (an object whose seconds is a number); "
                                "remove it and run `iva0 bench run` again, which writes it anew")
            samples.append(rec)
    ok = [r for r in samples if r.get("status") == "ok"]
    times = [r["seconds"] for r in ok if r.get("seconds") is not None]
    return {
        **config,
        "num_ok": len(ok),
        "num_failed": sum(r.get("status") == "error" for r in samples),
        "total_seconds": round(float(sum(times)), 3),
        "samples": samples,
    }


def write_run_json(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir) / "run.json"
    atomic_write_text(path, json.dumps(load_run(run_dir), indent=1) + "\n")
    return path

"""`iva0 tiny-models --family`, `iva0 models check` and `iva0 animate --backend ttm` end to end, and their refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0.io.video import read_video

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def iva0(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "iva0", *map(str, args)], env=ENV, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ttm-cli")
    r = iva0("tiny-models", d / "wan", "--family", "wan21", "-q")
    assert r.returncode == 0, r.stderr
    assert "wan21" in r.stdout
    yy, xx = np.mgrid[0:64, 0:96]
    img = np.full((64, 96, 3), 80, np.uint8)
    img[((xx - 30) ** 2 + (yy - 32) ** 2) < 200] = (230, 40, 40)
    Image.fromarray(img).save(d / "img.png")
    (d / "lay.json").write_text(json.dumps({"num_frames": 3, "fps": 8, "prompt": "a red ball", "objects": [
        {"name": "ball", "keyframes": [{"frame": 0, "box": [0.2, 0.3, 0.5, 0.7]},
                                       {"frame": 2, "box": [0.5, 0.3, 0.8, 0.7]}]}]}))
    return d


def test_models_check_and_animate(work, tmp_path):
    r = iva0("models", "check", work / "wan")
    assert r.returncode == 0, r.stderr
    assert "wan21" in r.stdout and "transformer" in r.stdout and "random weights" in r.stdout
    out = tmp_path / "out.mp4"
    r = iva0("animate", work / "img.png", "-l", work / "lay.json", "-b", "ttm", "--model", work / "wan", "--width", 48,
             "--height", 32, "--steps", 4, "--tweak-index", 1, "--tstrong-index", 2, "--mask-dilate", 2, "-q", "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(str(out))
    frames, fps = read_video(out)
    assert frames.shape[1:3] == (32, 48) and frames.shape[0] == 5 and round(fps) == 16  # 0.25 s at Wan's 16 fps


@pytest.mark.parametrize("args,message", [
    (["--tweak-index", 3, "--tstrong-index", 2], "must not exceed"),
    (["--tweak-index", 4], "must be in 0..3"),
    (["--tstrong-index", 9], "must be in 0..3"),
    (["--dtype", "float16"], "float16 is not supported on the CPU"),
    (["--guidance-2", 2], "second expert"),
    (["--no-inversion"], "only applies to --backend iva0"),
    (["--offload-mode", "sequential"], "needs --device cuda"),
    (["--frames", 81], "at most 5.00 s"),  # 10 s at 8 fps: longer than Wan's 81 frames at 16 fps
])
def test_bad_input_is_one_error_line(work, tmp_path, args, message):
    out = tmp_path / "out.mp4"
    r = iva0("animate", work / "img.png", "-l", work / "lay.json", "-b", "ttm", "--model", work / "wan", "--steps", 4,
             "-q", "-o", out, *args)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_wrong_folders_are_refused(work, tmp_path):
    other = tmp_path / "sd"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    broken = tmp_path / "broken"
    shutil.copytree(work / "wan", broken)
    shutil.rmtree(broken / "vae")
    out = tmp_path / "o" / "out.mp4"
    out.parent.mkdir()
    for model, message in ((other, "StableDiffusionPipeline"), (broken, "component 'vae' missing")):
        r = iva0("animate", work / "img.png", "-l", work / "lay.json", "-b", "ttm", "--model", model, "-q", "-o", out)
        assert r.returncode == 2 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1, r.stderr
        assert message in r.stderr
        assert not out.exists()
    r = iva0("models", "check", broken)
    assert r.returncode == 2 and "vae" in r.stderr


def test_negative_prompt_given_empty_is_not_the_same_as_not_given():
    from iva0.cli import options as opts

    base = {name: None for name in ("guidance_2", "flow_shift", "tweak_index", "tstrong_index", "dual_clock",
                                    "keep_background", "mask_dilate", "offload_mode")}
    base.update(vae_tiling=False, vae_slicing=False)
    assert opts.backend_options("ttm", {}, opts.ttm_from_params({**base, "negative_prompt": ""}), "--backend") == \
        {"negative_prompt": ""}  # --negative-prompt "": none
    assert opts.backend_options("ttm", {}, opts.ttm_from_params({**base, "negative_prompt": None}), "--backend") == {}
    assert opts.backend_options("iva0", {}, opts.ttm_from_params({**base, "negative_prompt": "x"}), "--backend") == {}


CAMERA = {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.5, 0.5]}, {"frame": 2, "box": [0.5, 0.25, 1.0, 0.75]}]}


def test_camera_layout_runs_and_its_contradictions_are_one_error_line(work, tmp_path):
    lay = json.loads((work / "lay.json").read_text())
    (tmp_path / "cam.json").write_text(json.dumps({**lay, "objects": [], "camera": CAMERA}))  # pure camera motion
    (tmp_path / "both.json").write_text(json.dumps({**lay, "camera": CAMERA}))
    out = tmp_path / "o" / "out.mp4"
    out.parent.mkdir()
    r = iva0("animate", work / "img.png", "-l", tmp_path / "cam.json", "-b", "ttm", "--model", work / "wan", "--width",
             48, "--height", 32, "--steps", 2, "-q", "-o", out)
    assert r.returncode == 0, r.stderr
    frames, _ = read_video(out)
    assert frames.shape[:3] == (5, 32, 48)
    out.unlink()
    for flag, message in (("--keep-background", "camera: --keep-background"), ("--no-dual-clock", "camera: --no-dual-clock")):
        r = iva0("animate", work / "img.png", "-l", tmp_path / "both.json", "-b", "ttm", "--model", work / "wan",
                 "--width", 48, "--height", 32, "--steps", 2, "-q", "-o", out, flag)
        assert r.returncode == 2 and r.stderr.startswith("error: " + message) and r.stderr.count("\n") == 1, r.stderr
        assert list(out.parent.iterdir()) == []


def test_ttm_options_are_refused_for_other_backends(work, tmp_path):
    r = iva0("animate", work / "img.png", "-l", work / "lay.json", "--no-dual-clock", "-o", tmp_path / "x.mp4")
    assert r.returncode == 2 and "only applies to --backend ttm" in r.stderr


def test_bench_run_method_ttm(work, tmp_path):
    root = tmp_path / "bench"
    root.mkdir()
    shutil.copy(work / "img.png", root / "p0.png")
    shutil.copy(work / "lay.json", root / "s0.json")
    (root / "benchmark.json").write_text(json.dumps({"name": "one", "samples": [
        {"id": "s0", "image": "p0.png", "layout": "s0.json", "caption": "a red ball rolls"}]}))
    run = tmp_path / "run"
    r = iva0("bench", "run", root, "-m", "ttm", "--model", work / "wan", "--width", 48, "--height", 32, "--steps", 2,
             "-o", run, "-q")
    assert r.returncode == 0, r.stderr
    frames, fps = read_video(run / "videos" / "s0.mp4")
    assert frames.shape[0] == 5 and round(fps) == 16  # written at the model's fps
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "ttm" and config["options"]["steps"] == 2
    r = iva0("bench", "run", root, "-m", "composite", "--tweak-index", 1, "-o", tmp_path / "run2", "-q")
    assert r.returncode == 2 and "only applies to --method ttm" in r.stderr

"""`iva0 animate --backend iva0` and `iva0 tune` end to end on a tiny random-weight model folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from iva0.cli import main
from iva0.io.image import fit_size, read_image, resize_image
from iva0.io.video import read_video
from iva0.layout import load_layout, make_layout
from iva0.masks import never_occupied
from iva0.samples import get_sample

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny") / "m"
    r = subprocess.run([sys.executable, "-m", "iva0", "tiny-models", str(d)], env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return d


def _two_object_sample():
    s = get_sample("coffee")  # an espresso cup and a spoon, both moving
    assert len(load_layout(s.layout).objects) == 2
    return s


def test_animate_end_to_end(model_dir, tmp_path):
    s = _two_object_sample()
    out = tmp_path / "out.mp4"
    r = subprocess.run(
        [sys.executable, "-m", "iva0", "animate", str(s.image), "--layout", str(s.layout), "--backend", "iva0",
         "--model", str(model_dir), "--width", "128", "--height", "128", "--steps", "3", "-q", "-o", str(out)],
        env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(str(out))
    frames, fps = read_video(out)
    layout = load_layout(s.layout)
    assert frames.shape == (16, 128, 128, 3) and fps == layout.fps
    picture = read_image(s.image)
    w, h = fit_size(picture.shape[1], picture.shape[0], 128, 128, max_side=512, multiple=64)
    image = resize_image(picture, w, h)
    assert psnr(frames[0], image) >= 30
    far = never_occupied(layout, 128, 128)
    assert far.mean() > 0.1  # enough far background to measure
    for f in range(16):
        assert psnr(frames[f][far], image[far]) >= 30, f
    # the objects' regions are regenerated, not copied: the moved cup differs from the input there
    boxes = layout.boxes_px(128, 128).astype(int)
    x0, y0, x1, y1 = boxes[0, 15]
    assert psnr(frames[15][y0:y1, x0:x1], image[y0:y1, x0:x1]) < 30
    assert not list(tmp_path.glob(".*partial*"))


BAD = [
    (["--steps", "0"], "--steps"),
    (["--guidance", "-1"], "--guidance"),
    (["--dtype", "float8"], "--dtype"),
    (["--dtype", "float16", "--device", "cpu"], "float16"),
    (["--device", "tpu"], "--device"),
    (["--offload", "--device", "cpu"], "--offload"),
    (["--null-text", "--no-inversion"], "--null-text"),
    (["--grounding-steps", "1.5"], "--grounding-steps"),
    (["--blend-steps", "-0.1"], "--blend-steps"),
    (["--tuned", "missing.safetensors"], "--tuned"),
    (["--width", "2048", "--height", "1024"], "at most 1024 px"),  # SD 1.x's supported size, before any compute
]


@pytest.mark.parametrize("extra,word", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_options_exit_2_one_line(model_dir, tmp_path, capsys, extra, word):
    s = _two_object_sample()
    argv = ["animate", str(s.image), "--layout", str(s.layout), "--backend", "iva0", "--model", str(model_dir),
            "-q", "-o", str(tmp_path / "o.mp4"), *extra]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and word in err, err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_and_missing_model(tmp_path, capsys, model_dir):
    s = _two_object_sample()
    base = ["animate", str(s.image), "--layout", str(s.layout), "--backend", "iva0", "-q", "-o", str(tmp_path / "o.mp4")]
    for extra, word in ((["--model", str(model_dir), "--device", "cuda"], "CUDA"),
                        ([], "--model"),
                        (["--model", str(tmp_path / "nowhere")], "nowhere")):
        with pytest.raises(SystemExit) as e:
            main(base + extra)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error:") and word in err, err


def test_tune_then_animate_with_tuned(model_dir, tmp_path, capsys):
    from iva0.backends.diffusion.backend import IVA0Backend
    from iva0.backends.diffusion.tuning import load_tuned, value_projections

    s = _two_object_sample()
    full = load_layout(s.layout)
    b = full.boxes()  # (J, 16, 4): the same paths, squeezed into 4 frames
    layout = make_layout([(n, [(0, b[j, 0]), (3, b[j, -1])]) for j, n in enumerate(full.names)], num_frames=4,
                         prompt=full.prompt)
    lay_path = tmp_path / "l.json"
    layout.save(lay_path)
    tuned_path = tmp_path / "t.safetensors"
    rc = main(["tune", str(s.image), "--layout", str(lay_path), "--model", str(model_dir), "--width", "64",
               "--steps", "2", "-q", "-o", str(tuned_path)])
    assert rc == 0 and tuned_path.is_file()
    tuned = load_tuned(tuned_path)
    assert tuned.image_embeds.shape[0] == 2 and tuned.objects == layout.names
    assert tuned.values and all(".to_v." in k and "motion_modules" not in k for k in tuned.values)

    be = IVA0Backend(model=str(model_dir), tuned=str(tuned_path), steps=2)
    params = dict(be.pipe.unet.named_parameters())
    for k, v in tuned.values.items():
        assert torch.equal(params[k], v)  # the tuned value projections are in the model
    assert set(tuned.values) == {f"{n}.weight" for n in value_projections(be.pipe.unet)}

    out = tmp_path / "o.gif"
    rc = main(["animate", str(s.image), "--layout", str(lay_path), "--backend", "iva0", "--model", str(model_dir),
               "--tuned", str(tuned_path), "--width", "64", "--height", "64", "--steps", "2", "-q", "-o", str(out)])
    assert rc == 0 and out.is_file()
    # a tuned file for another layout (3 objects) is refused with one line
    three = layout.to_dict()
    three["objects"].append({"name": "saucer", "keyframes": [{"frame": 0, "box": [0.1, 0.5, 0.9, 0.95]}]})
    (tmp_path / "l3.json").write_text(json.dumps(three))
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["animate", str(s.image), "--layout", str(tmp_path / "l3.json"), "--backend", "iva0", "--model",
              str(model_dir), "--tuned", str(tuned_path), "--width", "64", "--height", "64", "--steps", "2", "-q",
              "-o", str(tmp_path / "o3.gif")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 object embeddings" in err


def test_tuning_lowers_the_object_loss(model_dir):
    from iva0.backends.diffusion.grounding import GroundingTokens, frame_boxes
    from iva0.backends.diffusion.pipeline import IVA0Pipeline
    from iva0.backends.diffusion.tuning import TuneConfig, masked_eps_loss, object_loss_mask, tune

    s = _two_object_sample()
    layout = load_layout(s.layout)
    image = resize_image(read_image(s.image), 64, 64)
    pipe = IVA0Pipeline.from_pretrained(str(model_dir))
    z0 = pipe.encode_images(image[None], "cpu")
    text = pipe.encode_prompt(layout.prompt, "cpu")
    tokens = pipe.grounding_tokens(image, layout, "cpu")
    fb, fm = frame_boxes(layout.boxes()[:, :1])
    mask = object_loss_mask(layout, 8, 8)[None, None]
    g = torch.Generator().manual_seed(5)
    probes = [(int(t), torch.randn(z0.shape, generator=g)) for t in (100, 400, 700)]

    def eval_loss(embeds):
        tok = GroundingTokens(boxes=fb, masks=fm, phrase_embeds=tokens.phrase_embeds, image_embeds=embeds)
        with torch.no_grad():
            return sum(masked_eps_loss(pipe, z0, text, tok, mask, t, n).item() for t, n in probes)

    before = eval_loss(tokens.image_embeds)
    tuned = tune(pipe, image, layout, TuneConfig(steps=12, lr=1e-3, embed_lr=1e-2, seed=0))
    after = eval_loss(tuned.image_embeds)
    assert len(tuned.losses) == 12
    assert after < 0.9 * before, (before, after)
    assert not torch.equal(tuned.image_embeds, tokens.image_embeds.float())


def test_speed_benchmark_smoke(tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "diffusion_speed.py"
    spec = importlib.util.spec_from_file_location("diffusion_speed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "speed.json"
    assert mod.main(["--tiny", "--size", "64", "--frames", "4", "--steps", "2", "--device", "cpu", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["time_ratio"] == pytest.approx(res["iva0_s"] / res["animatediff_s"])
    assert res["unet_call_tflop"] > 0 and res["unet_loop_tflops_per_s"] > 0
    assert set(res["iva0_stages_s"]) == {"encode", "invert", "denoise", "decode"}
    printed = capsys.readouterr().out
    assert "ratio iva0 / AnimateDiff:  time" in printed and "TFLOP/s achieved" in printed


def test_flags_reach_the_pipeline(model_dir, tmp_path):
    """PNG output is lossless: with paste the far background is the input's exactly; --no-paste changes that."""
    s = _two_object_sample()
    full = load_layout(s.layout)
    b = full.boxes()
    layout = make_layout([(n, [(0, b[j, 0]), (3, b[j, -1])]) for j, n in enumerate(full.names)], num_frames=4,
                         prompt=full.prompt)
    lay_path = tmp_path / "l.json"
    layout.save(lay_path)
    image = resize_image(read_image(s.image), 64, 64)
    far = never_occupied(layout, 64, 64)
    base = ["animate", str(s.image), "--layout", str(lay_path), "--backend", "iva0", "--model", str(model_dir),
            "--width", "64", "--height", "64", "--steps", "2", "-q"]

    def run(name, *flags):
        out = tmp_path / name
        assert main(base + ["-o", str(out), *flags]) == 0
        frames, _ = read_video(out)
        assert frames.shape == (4, 64, 64, 3) and np.array_equal(frames[0], image)
        return frames

    pasted = run("a", "--null-text")
    assert all(np.array_equal(f[far], image[far]) for f in pasted)
    raw = run("b", "--no-paste", "--no-mas", "--no-motion-init", "--no-inversion", "--grounding-steps", "0",
              "--blend-steps", "1")
    assert not np.array_equal(raw[1][far], image[far])


def test_inversion_iters_reaches_the_options(model_dir, tmp_path, capsys):
    from iva0.backends.diffusion.backend import IVA0Backend

    assert IVA0Backend(model=str(model_dir), inversion_iters=2).options().inversion_iters == 2
    s = _two_object_sample()
    argv = ["animate", str(s.image), "--layout", str(s.layout), "--backend", "iva0", "--model", str(model_dir),
            "-q", "-o", str(tmp_path / "o.mp4"), "--inversion-iters", "11"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "--inversion-iters" in capsys.readouterr().err


@pytest.mark.parametrize("flags, want", [
    ((), {"mas": True, "inversion": True, "motion_init": True}),
    (("--no-mas",), {"mas": False, "inversion": True, "motion_init": True}),
    (("--no-inversion",), {"mas": True, "inversion": False, "motion_init": True}),
    (("--no-motion-init",), {"mas": True, "inversion": True, "motion_init": False}),
])
def test_cli_switches_reach_the_pipeline(model_dir, tmp_path, monkeypatch, flags, want):
    """Each switch arrives in IVA0Backend.options() and the pipeline's options, and does what it says."""
    import iva0.backends.diffusion.pipeline as pipeline_module
    from iva0.backends.diffusion.backend import IVA0Backend
    from iva0.backends.diffusion.pipeline import IVA0Pipeline

    seen, calls = [], {"invert": 0, "mas_on": 0}
    real_call, real_options, real_invert = IVA0Pipeline.__call__, IVA0Backend.options, pipeline_module.ddim_invert

    def options(self):
        seen.append(("backend", real_options(self)))
        return seen[-1][1]

    def call(self, image, layout, **kw):
        seen.append(("pipeline", kw["options"]))
        return real_call(self, image, layout, **kw)

    def invert(*a, **kw):
        calls["invert"] += 1
        return real_invert(*a, **kw)

    def on_step(pipe, i, t, tensors):
        calls["mas_on"] += int(pipe.mas_state.enabled)

    monkeypatch.setattr(IVA0Backend, "options", options)
    monkeypatch.setattr(IVA0Pipeline, "__call__", lambda self, image, layout, **kw: call(
        self, image, layout, **{**kw, "callback_on_step_end": on_step}))
    monkeypatch.setattr(pipeline_module, "ddim_invert", invert)
    s = _two_object_sample()
    full = load_layout(s.layout)
    b = full.boxes()
    layout = make_layout([(n, [(0, b[j, 0]), (3, b[j, -1])]) for j, n in enumerate(full.names)], num_frames=4,
                         prompt=full.prompt)
    layout.save(tmp_path / "l.json")
    argv = ["animate", str(s.image), "--layout", str(tmp_path / "l.json"), "--backend", "iva0", "--model",
            str(model_dir), "--width", "64", "--height", "64", "--steps", "2", "-q", "-o", str(tmp_path / "o.mp4"),
            *flags]
    assert main(argv) == 0
    by_where = dict(seen)
    for where in ("backend", "pipeline"):
        got = {k: getattr(by_where[where], k) for k in want}
        assert got == want, (where, got)
    assert calls["invert"] == int(want["inversion"])  # --no-inversion: no DDIM inversion at all
    assert calls["mas_on"] == 2 * int(want["mas"])  # MAS switched on for every denoising step, or never


def test_more_frames_than_the_motion_modules_hold(model_dir, tmp_path):
    """40 frames > motion_max_seq_length (32): denoised in two context windows instead of crashing mid-run."""
    s = _two_object_sample()
    out = tmp_path / "long.mp4"
    argv = ["animate", str(s.image), "--layout", str(s.layout), "--backend", "iva0", "--model", str(model_dir),
            "--frames", "40", "--width", "64", "--height", "64", "--steps", "1", "-q", "-o", str(out)]
    assert main(argv) == 0
    frames, _ = read_video(out)
    assert frames.shape == (40, 64, 64, 3)

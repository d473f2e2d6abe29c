"""--segmenter, --segmenter-model and --fill reach every backend: the iva0 backend's background plate and the ttm
backend's stage-1 reference video; their refusals come before any compute, for every backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import iva0.backends.composite as composite_module
import iva0.backends.diffusion.pipeline as pipeline_module
import iva0.backends.ttm.reference as reference_module
from iva0.backends.composite import CompositeConfig
from iva0.backends.composite import background_plate as composite_plate
from iva0.segment import SAM2_ENV
from iva0_test_helpers import run_cli

H, W = 64, 128  # the picture; its boxes and mask keep this aspect at every backend's size


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    from iva0.backends.diffusion import tiny as iva0_tiny
    from iva0.backends.ttm import tiny as ttm_tiny
    from iva0.segment.sam2 import write_random_sam2

    d = tmp_path_factory.mktemp("cutout-routes")
    iva0_tiny.write_model_folder(d / "iva0")
    ttm_tiny.write_model_folder(d / "wan", "wan21")
    write_random_sam2(d / "sam2", tiny=True)
    (d / "broken").mkdir()
    (d / "broken" / "config.json").write_text("{}")  # no weights
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([60 + 40 * np.sin(xx / 5.0), 90 + 30 * np.cos(yy / 4.0), 120 + 0 * xx], -1).astype(np.uint8)
    img[((xx - 40) ** 2 + (yy - 32) ** 2) < 13**2] = (230, 40, 40)  # a red disc in the box below
    Image.fromarray(img).save(d / "img.png")
    mask = np.zeros((H, W), np.uint8)
    mask[20:44, 26:40] = 255  # the disc's left half only: a cut no segmenter would make
    Image.fromarray(mask).save(d / "m.png")
    keys = [{"frame": 0, "box": [0.125, 0.25, 0.5, 0.75]}, {"frame": 2, "box": [0.5, 0.25, 0.875, 0.75]}]
    for name, extra in (("lay.json", {}), ("laym.json", {"mask": "m.png"})):
        (d / name).write_text(json.dumps({"num_frames": 3, "fps": 8, "prompt": "a red ball",
                                          "objects": [{"name": "ball", **extra, "keyframes": keys}]}))
    return d


@pytest.fixture(autouse=True)
def no_env_model(monkeypatch):
    monkeypatch.delenv(SAM2_ENV, raising=False)  # only the flags pick a segmenter here


@pytest.fixture
def spies(monkeypatch):
    """What reaches the cut-outs: every segmenter built (name, folder), every iva0 plate, every ttm reference."""
    seen = {"segmenters": [], "plates": [], "references": []}
    real_create, real_plate, real_reference = (composite_module.create_segmenter, pipeline_module.background_plate,
                                               reference_module.build_reference)

    def create(name, model=None, **kw):
        seen["segmenters"].append((name, str(model) if model else None))
        return real_create(name, model, **kw)

    def plate(image, layout, seed=0, composite=None):
        out = real_plate(image, layout, seed=seed, composite=composite)
        seen["plates"].append({"image": image, "layout": layout, "seed": seed, "composite": composite, "plate": out})
        return out

    def reference(image, layout, **kw):
        out = real_reference(image, layout, **kw)
        seen["references"].append({"image": image, "kw": kw, "reference": out})
        return out

    monkeypatch.setattr(composite_module, "create_segmenter", create)
    monkeypatch.setattr(pipeline_module, "background_plate", plate)
    monkeypatch.setattr(reference_module, "build_reference", reference)
    return seen


def iva0_args(work, layout, out):
    return ["animate", work / "img.png", "-l", work / layout, "-b", "iva0", "--model", work / "iva0", "--width", 128,
            "--height", 64, "--steps", 1, "-q", "-o", out]


def ttm_args(work, layout, out):
    return ["animate", work / "img.png", "-l", work / layout, "-b", "ttm", "--model", work / "wan", "--width", 64,
            "--height", 32, "--steps", 2, "--tweak-index", 0, "--tstrong-index", 1, "--mask-dilate", 0, "-q", "-o", out]


def test_iva0_plate_uses_sam2_and_the_fill(work, tmp_path, capsys, spies):
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(iva0_args(work, "lay.json", out) + ["--segmenter-model", work / "sam2", "--fill", "ns"], capsys)
    assert code == 0 and out.exists(), err
    assert spies["segmenters"] == [("auto", str(work / "sam2"))]  # SAM 2, read once (before the diffusion model)
    (p,) = spies["plates"]
    assert p["composite"].config.fill == "ns" and type(p["composite"].segmenter).__name__ == "Sam2Segmenter"
    # the plate is the one the composite backend makes with these options, not the default (GrabCut + Telea) one
    want = composite_plate(p["image"], p["layout"], CompositeConfig(segmenter="sam2", segmenter_model=str(work / "sam2"),
                                                                    fill="ns"), seed=p["seed"])
    default = composite_plate(p["image"], p["layout"], seed=p["seed"])
    assert np.array_equal(p["plate"], want) and not np.array_equal(p["plate"], default)


def test_iva0_plate_hole_follows_the_layout_mask(work, tmp_path, capsys, spies):
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(iva0_args(work, "laym.json", out) + ["--segmenter", "mask", "--fill", "fsr"], capsys)
    assert code == 0 and out.exists(), err
    assert spies["segmenters"] == []  # every object has its mask: no segmenter is built
    (p,) = spies["plates"]
    assert p["composite"].config.segmenter == "mask" and p["composite"].config.fill == "fsr"
    image, plate = p["image"], p["plate"].astype(int)
    assert image.shape == (64, 128, 3)
    changed = np.abs(plate - image).sum(-1) > 0
    assert changed[22:42, 27:39].mean() > 0.5  # the masked left half of the disc is filled
    assert not changed[:, 44:].any()  # 3 % of 64 px (2 px) past the mask and beyond: the input, pixel for pixel
    red = (plate[..., 0] > 200) & (plate[..., 1] < 80)
    assert red[26:38, 44:50].mean() > 0.9  # the disc's unmasked right half stays: the hole is the mask's, not the box's


def test_ttm_reference_uses_sam2_and_the_fill(work, tmp_path, capsys, spies):
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(ttm_args(work, "lay.json", out) + ["--segmenter-model", work / "sam2", "--fill", "ns"], capsys)
    assert code == 0 and out.exists(), err
    assert spies["segmenters"] == [("auto", str(work / "sam2"))]  # read once, in the check before the model loads
    (r,) = spies["references"]
    composite = r["kw"]["composite"]
    assert composite.config.fill == "ns" and type(composite.segmenter).__name__ == "Sam2Segmenter"


def test_ttm_motion_mask_follows_the_layout_mask(work, tmp_path, capsys, spies):
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(ttm_args(work, "laym.json", out) + ["--segmenter", "mask"], capsys)
    assert code == 0 and out.exists(), err
    (r,) = spies["references"]
    assert r["kw"]["composite"].config.segmenter == "mask"
    mask0 = r["reference"].mask[0] > 0.5  # (32, 64): the picture at half size, no dilation
    want = np.zeros((32, 64), bool)
    want[10:22, 13:20] = True  # m.png's square at half size
    assert mask0.shape == want.shape and (mask0 & want).sum() / (mask0 | want).sum() > 0.8
    assert not mask0[:, 22:].any()  # the disc's right half is not in the motion mask


REFUSALS = [
    (["--segmenter", "magic"], "lay.json", "segmenter must be one of"),
    (["--segmenter", "sam2"], "lay.json", "needs a model folder"),
    (["--segmenter-model", "BROKEN"], "lay.json", "no .safetensors"),
    (["--segmenter", "mask"], "lay.json", "--segmenter mask needs a mask for every object"),
    (["--fill", "magic"], "laym.json", "--fill must be one of"),
]


@pytest.mark.parametrize("backend", ["iva0", "ttm"])
@pytest.mark.parametrize("extra,layout,message", REFUSALS, ids=[r[2][:20] for r in REFUSALS])
def test_bad_cutout_options_are_one_error_line(work, tmp_path, capsys, spies, backend, extra, layout, message):
    out = tmp_path / "o" / "out.mp4"
    out.parent.mkdir()
    args = (iva0_args if backend == "iva0" else ttm_args)(work, layout, out)
    code, _, err = run_cli(args + [work / "broken" if a == "BROKEN" else a for a in extra], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not any(out.parent.iterdir())
    assert spies["plates"] == [] and spies["references"] == []


def test_bench_run_records_and_checks_the_cutout_options(work, tmp_path, capsys):
    root = tmp_path / "bench"
    root.mkdir()
    (root / "p0.png").write_bytes((work / "img.png").read_bytes())
    (root / "s0.json").write_text((work / "lay.json").read_text())
    (root / "benchmark.json").write_text(json.dumps({"name": "one", "samples": [
        {"id": "s0", "image": "p0.png", "layout": "s0.json", "caption": "a red ball rolls"}]}))
    for method, extra, message in (
        ("iva0", ["--model", work / "iva0", "--segmenter", "mask"], "sample s0: objects[0] (\"ball\").mask: missing"),
        ("ttm", ["--model", work / "wan", "--segmenter-model", work / "broken"], "sample s0: sam2 model"),
        ("composite", ["--segmenter-model", work / "broken"], "sample s0: sam2 model"),
        ("static", ["--fill", "ns"], "--fill only applies to --method composite, iva0 or ttm"),
    ):
        run = tmp_path / f"run-{method}"
        code, _, err = run_cli(["bench", "run", root, "-m", method, "-o", run, "-q", *extra], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (method, err)
        assert not run.exists()  # refused before the run folder is made
    run = tmp_path / "run"
    code, _, err = run_cli(["bench", "run", root, "-m", "ttm", "--model", work / "wan", "--width", 64, "--height", 32,
                            "--steps", 1, "--fill", "ns", "--segmenter-model", work / "sam2", "-o", run, "-q"], capsys)
    assert code == 0, err
    options = json.loads((run / "config.json").read_text())["options"]
    assert options["fill"] == "ns" and options["segmenter_model"] == str(work / "sam2")
    assert json.loads((run / "records" / "s0.json").read_text())["status"] == "ok"

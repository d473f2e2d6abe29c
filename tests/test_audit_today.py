"""An outside audit of what landed on 2026-11-26 (layout points, cut-out options on every backend, IVA0_SAM2_DTYPE,
masks in `bench eval`, GrabCut's box prior, `-o name.gif/`): each test failed before its fix.

Bad input is one `error:` line, exit 2, nothing written; tiny pictures, no model weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from iva0.errors import UserError
from iva0_test_helpers import run_cli

H, W = 48, 64


def picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    a = np.zeros((H, W, 3), np.uint8)
    a[:] = (40, 120, 200)
    a[12:36, 20:44] = (230, 60, 30)
    return np.clip(a.astype(int) + rng.integers(-10, 10, a.shape), 0, 255).astype(np.uint8)


def write_mask(path: Path, shape=(H, W), empty=False) -> None:
    m = np.zeros(shape, np.uint8)
    if not empty:
        h, w = shape
        m[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 255
    Image.fromarray(m).save(path)


def layout(mask: str | None = "masks/obj.png") -> dict:
    obj = {"name": "square", "keyframes": [{"frame": 0, "box": [0.3, 0.25, 0.7, 0.75]},
                                           {"frame": 3, "box": [0.0, 0.25, 0.4, 0.75]}]}
    if mask:
        obj["mask"] = mask
    return {"num_frames": 4, "fps": 4, "objects": [obj]}


@pytest.fixture
def scene(tmp_path):
    Image.fromarray(picture()).save(tmp_path / "pic.png")
    (tmp_path / "masks").mkdir()
    write_mask(tmp_path / "masks" / "obj.png")
    (tmp_path / "L.json").write_text(json.dumps(layout()))
    return tmp_path


def one_error(code, err, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], err
    assert "Traceback" not in err


# ---- a layout mask follows the picture when a backend's output has another aspect ratio ----
def test_mask_of_the_picture_is_accepted_when_the_output_aspect_differs(scene, capsys):
    """Before: the mask was checked against the *output* size, so a mask of exactly the picture's size was
    refused whenever the output was rounded to another aspect ratio (the iva0 backend's multiples of 64,
    a ttm model's size, --width with --height): `mask is 64x48, not the picture's aspect ratio (64x64)`."""
    out = scene / "o.mp4"
    code, _, err = run_cli(["animate", scene / "pic.png", "-l", scene / "L.json", "-o", out, "-q",
                            "--width", 64, "--height", 64], capsys)
    assert code == 0 and out.is_file(), err


def test_mask_of_another_aspect_is_still_refused_naming_the_picture(scene, capsys):
    write_mask(scene / "masks" / "obj.png", shape=(48, 48))
    out = scene / "o.mp4"
    code, _, err = run_cli(["animate", scene / "pic.png", "-l", scene / "L.json", "-o", out, "-q",
                            "--width", 64, "--height", 64], capsys)
    one_error(code, err, "mask is 48x48, not the picture's aspect ratio (64x48)")
    assert not out.exists()


def test_segment_objects_resizes_the_mask_with_the_picture(tmp_path):
    from iva0.backends.composite import CompositeConfig, segment_objects
    from iva0.layout import parse_layout

    # the picture stretched from 64x48 to 64x64 (as the iva0 backend rounds sizes): the mask stretches alike
    write_mask(tmp_path / "m.png")
    lay = parse_layout(layout("m.png"), base_dir=tmp_path)
    image = cv2.resize(picture(), (64, 64), interpolation=cv2.INTER_LINEAR)
    cut = segment_objects(image, lay, CompositeConfig(segmenter="mask"))[0]
    assert cut.alpha.shape == (64, 64)
    rows = np.flatnonzero(cut.alpha.max(axis=1) >= 0.5)
    assert rows.min() == pytest.approx(16, abs=1) and rows.max() == pytest.approx(47, abs=1)  # 12..35 of 48, x 4/3


# ---- bench run / bench eval: a broken mask is one line before any work, not a failed sample ----
def make_bench(root: Path) -> Path:
    bench = root / "bench"
    (bench / "images").mkdir(parents=True)
    (bench / "masks").mkdir()
    (bench / "layouts").mkdir()
    Image.fromarray(picture()).save(bench / "images" / "pic.png")
    write_mask(bench / "masks" / "obj.png")
    (bench / "layouts" / "a.json").write_text(json.dumps(layout("../masks/obj.png")))
    (bench / "layouts" / "b.json").write_text(json.dumps(layout(None)))
    (bench / "benchmark.json").write_text(json.dumps({"name": "t", "samples": [
        {"id": "a", "image": "images/pic.png", "layout": "layouts/a.json"},
        {"id": "b", "image": "images/pic.png", "layout": "layouts/b.json"}]}))
    return bench


@pytest.mark.parametrize("broken, fragment", [("empty", "is empty"), ("aspect", "not the picture's aspect ratio (64x48)")])
def test_bench_run_refuses_a_broken_mask_before_writing(tmp_path, capsys, broken, fragment):
    """Before: the sample was recorded as failed (even with `-m static`, which uses no mask) and the run went on."""
    bench = make_bench(tmp_path)
    write_mask(bench / "masks" / "obj.png", shape=(48, 48) if broken == "aspect" else (H, W), empty=broken == "empty")
    run = tmp_path / "run"
    code, _, err = run_cli(["bench", "run", bench, "-m", "static", "-o", run, "-q"], capsys)
    one_error(code, err, f"sample 'a': objects[0] (\"square\").mask: ")
    assert fragment in err
    assert not run.exists()


def test_bench_eval_refuses_a_broken_mask_before_scoring(tmp_path, capsys):
    """Before: the sample was counted failed and the summary averaged the others, as if the method had failed it."""
    bench = make_bench(tmp_path)
    run = tmp_path / "run"
    code, _, err = run_cli(["bench", "run", bench, "-m", "static", "-o", run, "-q"], capsys)
    assert code == 0, err
    write_mask(bench / "masks" / "obj.png", empty=True)
    code, _, err = run_cli(["bench", "eval", run], capsys)
    one_error(code, err, "sample 'a': objects[0] (\"square\").mask: mask")
    assert not (run / "metrics.json").exists()
    write_mask(bench / "masks" / "obj.png")
    code, _, err = run_cli(["bench", "eval", run], capsys)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["summary"]["num_failed"] == 0 and metrics["samples"][0]["afterimage_masked"] is not None


def test_picture_size_applies_the_exif_orientation(tmp_path):
    from iva0.io.image import picture_size, read_image

    im = Image.fromarray(picture())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: read_image returns it 48 wide, 64 high
    im.save(tmp_path / "r.jpg", exif=exif)
    assert picture_size(tmp_path / "r.jpg") == read_image(tmp_path / "r.jpg").shape[1::-1] == (48, 64)
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    assert picture_size(tmp_path / "bad.png") is None


# ---- -o name.gif/. names a folder too ----
@pytest.mark.parametrize("name", ["clip.gif/.", "clip.mp4/./", "clip.mp4//."])
def test_a_file_output_ending_in_slash_dot_is_refused(scene, capsys, name):
    """Before: pathlib dropped the trailing `/.` and a file clip.gif was written."""
    code, _, err = run_cli(["animate", scene / "pic.png", "-l", scene / "L.json", "-o", f"{scene}/{name}", "-q"], capsys)
    one_error(code, err, "ends with a slash")
    assert not list(scene.glob("clip*"))


def test_frames_folder_with_slash_dot_is_still_a_folder(scene, capsys):
    code, _, err = run_cli(["animate", scene / "pic.png", "-l", scene / "L.json", "-o", str(scene / "frames") + "/.",
                            "-q"], capsys)
    assert code == 0 and (scene / "frames" / "000.png").is_file(), err


# ---- segmenter name and IVA0_SAM2_DTYPE ----
def test_an_empty_segmenter_name_is_refused(scene, capsys):
    """Before: `--segmenter ''` quietly meant the default."""
    from iva0.segment import resolve_segmenter

    with pytest.raises(UserError, match="segmenter must be one of"):
        resolve_segmenter("")
    out = scene / "o.mp4"
    code, _, err = run_cli(["animate", scene / "pic.png", "-l", scene / "L.json", "-o", out, "-q", "--segmenter", ""],
                           capsys)
    one_error(code, err, "segmenter must be one of auto, grabcut, sam2, mask, got ''")
    assert not out.exists()


@pytest.mark.parametrize("value, want", [("", "float32"), ("   ", "float32"), (" bfloat16\n", "bfloat16")])
def test_sam2_dtype_blank_means_the_default(monkeypatch, value, want):
    """Before: an empty value meant float32 but a blank one was refused as `got ''`."""
    from iva0.segment import sam2_dtype

    monkeypatch.setenv("IVA0_SAM2_DTYPE", value)
    assert sam2_dtype() == want


# ---- GrabCut on degenerate pictures ----
def test_grabcut_on_a_flat_crop_returns_the_ellipse_without_running_grabcut(monkeypatch):
    """Before: a box on one flat colour ran GrabCut and the box prior's rounds, 7 s for a 320 px box
    (OpenCV's max-flow on tied energies), to return what the fallback ellipse gives at once."""
    from iva0.segment import grabcut as G

    calls = []
    real = cv2.grabCut
    monkeypatch.setattr(cv2, "grabCut", lambda *a: (calls.append(a[5]), real(*a))[1])
    flat = np.full((120, 160, 3), 90, np.uint8)
    box = np.array([40.0, 30.0, 120.0, 90.0])
    mask = G.grabcut_mask(flat, box, points=np.array([[80.0, 60.0, 1], [45.0, 35.0, 0]]))
    fallback = np.zeros((120, 160), np.uint8)
    fallback[30:90, 40:120] = G.ellipse_mask(60, 80)
    assert calls == [] and np.array_equal(mask, fallback)
    alpha = G.GrabCutSegmenter().segment(flat, box)
    assert np.isfinite(alpha).all() and 0 <= alpha.min() and alpha.max() <= 1
    noisy = np.clip(flat.astype(int) + np.random.default_rng(0).integers(-12, 13, flat.shape), 0, 255).astype(np.uint8)
    G.grabcut_mask(noisy, box)
    assert calls, "a picture with texture still goes through GrabCut"


def test_box_prior_puts_no_seed_on_a_line_of_background_clicks():
    """Before: in a line where every pixel was a background click, argmax over all -inf picked its first pixel
    and made a sure-object seed of a background click."""
    from iva0.segment.grabcut import box_prior

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    crop[10:30, 10:30] = (220, 40, 40)
    gc = np.full((40, 40), cv2.GC_BGD, np.uint8)
    gc[5:35, 5:35] = cv2.GC_PR_FGD
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(crop, gc, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
    gc[8, 5:35] = cv2.GC_BGD  # a row of the box (inside its 10 % margin) all background clicks
    box_prior(crop, gc, bgd, fgd, (5, 5, 35, 35), 0.1, 3)
    assert (gc[8, 5:35] == cv2.GC_BGD).all()


@pytest.mark.parametrize("box", [[0, 0, 16, 16], [7, 7, 8, 8], [15, 15, 16, 16], [-5, -5, 40, 40], [3, 3, 7, 7]])
def test_grabcut_on_a_16px_picture_with_points_on_the_box_edge(box):
    from iva0.segment.grabcut import GrabCutSegmenter

    img = cv2.resize(picture(), (16, 16), interpolation=cv2.INTER_AREA)
    b = np.array(box, np.float64)
    pts = np.array([[b[2], b[3], 1], [b[0], b[1], 0], [16, 16, 1], [0, 0, 0]], np.float64)
    alpha = GrabCutSegmenter().segment(img, b, pts)
    assert alpha.shape == (16, 16) and np.isfinite(alpha).all() and 0 <= alpha.min() and alpha.max() <= 1


@pytest.mark.parametrize("value", ["", "  "])
def test_a_blank_sam2_model_variable_is_unset(monkeypatch, value):
    """Before: IVA0_SAM2_MODEL=' ' picked SAM 2 and failed on a folder named ' '."""
    from iva0.segment import resolve_segmenter

    monkeypatch.setenv("IVA0_SAM2_MODEL", value)
    assert resolve_segmenter(None) == ("grabcut", None)

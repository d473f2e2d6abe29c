import json

import numpy as np
import pytest
from PIL import Image

from iva0.backends.composite import CompositeBackend
from iva0.cli import main
from iva0_test_helpers import run_cli as run
from iva0.errors import LayoutError, UserError
from iva0.layout import load_layout, make_layout
from iva0.metrics.scene import left_behind
from iva0.metrics.segmentation import boundary_f, mask_iou
from iva0.metrics.synthetic import OBJECT_KINDS, linear_boxes, moving_patch_video, object_scene, texture
from iva0.segment import create_segmenter, resolve_segmenter
from iva0.segment.grabcut import LEGACY, GrabCutOptions, GrabCutSegmenter


def disc_scene(H=96, W=128):
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([60 + 40 * np.sin(xx / 9.0), 90 + 30 * np.cos(yy / 7.0), 120 + 0 * xx], -1).astype(np.float32)
    disc = (xx - 40) ** 2 + (yy - 48) ** 2 <= 16**2
    img[disc] = (230, 40, 30)
    return np.clip(img, 0, 255).astype(np.uint8), disc, np.array([20.0, 28.0, 60.0, 68.0])




@pytest.mark.parametrize("options", [GrabCutOptions(), LEGACY])
def test_grabcut_alpha_is_soft_in_box_and_finds_the_object(options):
    img, disc, box = disc_scene()
    a = GrabCutSegmenter(options).segment(img, box)
    assert a.shape == disc.shape and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert a[:28].max() == 0 and a[:, 60:].max() == 0  # never outside the box
    assert mask_iou(a, disc) > 0.85


def test_grabcut_fills_a_dark_body_inside_its_rim():
    H, W = 120, 120
    img = np.zeros((H, W, 3), np.uint8) + 15  # dark background, like space behind a helmet
    yy, xx = np.mgrid[0:H, 0:W]
    r = np.hypot(xx - 60, yy - 60)
    img[r <= 30] = (230, 230, 230)  # the white rim
    img[r <= 24] = (18, 18, 18)  # the black body, the background's colour
    a = GrabCutSegmenter().segment(img, np.array([26.0, 26.0, 94.0, 94.0]))
    assert a[r <= 20].mean() > 0.9  # the body comes along with its rim


def test_gmm_log_likelihood_reads_opencvs_colour_model():
    """The (1, 65) model GrabCut returns is 5 weights, 5x3 means, 5x3x3 covariances: the log-density of a
    mixture built from those numbers (scipy) equals ours."""
    import cv2
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from iva0.segment.grabcut import gmm_log_likelihood

    img, disc, box = disc_scene()
    gc = np.full(disc.shape, cv2.GC_PR_BGD, np.uint8)
    gc[disc] = cv2.GC_PR_FGD
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(img, gc, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
    px = img.reshape(-1, 3)[::97]
    for model in (bgd, fgd):
        w, mu, cov = model[0, :5], model[0, 5:20].reshape(5, 3), model[0, 20:].reshape(5, 3, 3)
        ref = logsumexp([np.log(w[k]) + multivariate_normal(mu[k], cov[k] + 1e-3 * np.eye(3)).logpdf(px)
                         for k in range(5) if w[k] > 0], axis=0)
        assert np.allclose(gmm_log_likelihood(model, px), ref, rtol=1e-6, atol=1e-6)


def test_box_prior_makes_the_cut_cross_every_line_of_the_box():
    """On a real photo where GrabCut's colour model leaves rows of the box empty (the camera sample), the box
    prior's pinpointing fills more of them, and what it adds is inside the box."""
    import dataclasses
    from pathlib import Path

    from iva0.io.image import fit_size, read_image, resize_image
    from iva0.segment.grabcut import grabcut_mask

    root = Path(__file__).resolve().parent.parent / "benchmarks" / "starter"
    img = read_image(root / "images" / "camera.jpg")
    w, h = fit_size(img.shape[1], img.shape[0], max_side=512, multiple=8)
    img = resize_image(img, w, h)
    box = load_layout(root / "layouts" / "camera-tripod-slide.json").boxes_px(w, h)[0, 0]
    x0, y0, x1, y1 = (int(v) for v in np.clip(box, 0, [w, h, w, h]))
    mx, my = int(0.1 * (x1 - x0)), int(0.1 * (y1 - y0))

    def empty_lines(m):
        return int((~m[y0 + my : y1 - my, x0:x1].any(1)).sum() + (~m[y0:y1, x0 + mx : x1 - mx].any(0)).sum())

    off = grabcut_mask(img, box, dataclasses.replace(GrabCutOptions(), tight=0.0))
    on = grabcut_mask(img, box)
    assert empty_lines(off) > 10 and empty_lines(on) < empty_lines(off) / 2
    assert on[:y0].max() == 0 and on[:, :x0].max() == 0 and on[:, x1:].max() == 0


def test_segmentation_scores():
    m = np.zeros((50, 50), np.uint8)
    m[10:40, 10:40] = 1
    assert mask_iou(m, m) == 1.0 and boundary_f(m, m) == 1.0
    shifted = np.roll(m, 15, axis=1)
    assert mask_iou(m, shifted) == pytest.approx(15 * 30 / (45 * 30))
    assert boundary_f(m, shifted) < 0.6
    assert mask_iou(np.zeros_like(m), m) == 0.0


@pytest.mark.parametrize("kind", OBJECT_KINDS)
def test_object_scene_has_a_known_mask_inside_a_loose_box(kind):
    bg = texture(120, 160, seed=3)
    img, mask, box = object_scene(bg, kind, seed=5)
    assert img.shape == bg.shape and mask.shape == bg.shape[:2] and mask.any()
    ys, xs = np.nonzero(mask)
    assert box[0] <= xs.min() and box[1] <= ys.min() and box[2] >= xs.max() + 1 and box[3] >= ys.max() + 1
    assert not np.array_equal(img, bg)


def test_left_behind_tells_a_removed_object_from_one_that_stayed():
    H, W = 96, 128
    boxes = linear_boxes([10, 30, 40, 60], [80, 30, 110, 60], 6)
    for fill, lo, hi in ((True, 0.0, 0.2), (False, 0.8, 1.0)):
        fr = moving_patch_video(boxes, H, W, seed=2, background=np.full((H, W, 3), 120, np.uint8), fill_vacated=fill)
        v = left_behind(fr, fr[0], boxes[0], boxes[:, None])
        assert lo <= v <= hi


def test_resolve_segmenter(monkeypatch, tmp_path):
    monkeypatch.delenv("IVA0_SAM2_MODEL", raising=False)
    assert resolve_segmenter("auto") == ("grabcut", None)
    assert resolve_segmenter(None, tmp_path) == ("sam2", str(tmp_path))
    monkeypatch.setenv("IVA0_SAM2_MODEL", str(tmp_path))
    assert resolve_segmenter("auto") == ("sam2", str(tmp_path))
    assert resolve_segmenter("grabcut") == ("grabcut", None)
    monkeypatch.delenv("IVA0_SAM2_MODEL")
    with pytest.raises(UserError, match="needs a model folder"):
        resolve_segmenter("sam2")
    with pytest.raises(UserError, match="segmenter must be one of"):
        resolve_segmenter("magic")


# ---- layout masks ----------------------------------------------------------
def write_case(tmp_path, mask_img=None, mask_name="masks/disc.png", size=(128, 96)):
    img, disc, box = disc_scene()
    Image.fromarray(img).save(tmp_path / "pic.png")
    if mask_img is not None:
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(mask_img).save(tmp_path / mask_name)
    W, H = size
    lay = {"num_frames": 4, "objects": [{"name": "disc", "mask": mask_name, "keyframes": [
        {"frame": 0, "box": [20 / 128, 28 / 96, 60 / 128, 68 / 96]}, {"frame": 3, "box": [68 / 128, 28 / 96, 108 / 128, 68 / 96]}]}]}
    (tmp_path / "layout.json").write_text(json.dumps(lay))
    return img, disc


def test_layout_mask_is_relative_to_the_layout_and_is_used(tmp_path):
    img, disc = disc_scene()[:2]
    half = (disc & (np.mgrid[0:96, 0:128][0] < 48)).astype(np.uint8) * 255  # the top half only, at half size
    half_small = np.array(Image.fromarray(half).resize((64, 48), Image.NEAREST))
    write_case(tmp_path, half_small)
    lay = load_layout(tmp_path / "layout.json")
    assert lay.objects[0].mask == str((tmp_path / "masks/disc.png").resolve())
    assert load_layout(tmp_path / "layout.json") == lay and lay.to_dict()["objects"][0]["mask"] == lay.objects[0].mask
    fr = CompositeBackend(segmenter="mask").animate(img, lay)
    red = (fr[..., 0] > 200) & (fr[..., 1] < 100)
    assert red[3, 30:46, 72:104].mean() > 0.5  # the top half arrived
    assert red[3, 52:64, 30:50].mean() > 0.5  # the bottom half was not cut out: it stayed


@pytest.mark.parametrize("case,msg", [
    ("missing", "mask file not found"), ("unreadable", "cannot read mask image"), ("empty", "is empty"),
    ("ratio", "aspect ratio"),
])
def test_bad_layout_mask_is_one_error_line_and_writes_nothing(tmp_path, capsys, case, msg):
    m = np.zeros((48, 64), np.uint8)
    m[10:30, 10:30] = 255
    if case == "missing":
        write_case(tmp_path, None)
    elif case == "empty":
        write_case(tmp_path, np.zeros((48, 64), np.uint8))
    elif case == "ratio":
        write_case(tmp_path, np.full((64, 64), 255, np.uint8))
    else:
        write_case(tmp_path, m)
        (tmp_path / "masks/disc.png").write_bytes(b"not a png")
    out = tmp_path / "out.mp4"
    code, _, err = run(["animate", tmp_path / "pic.png", "-l", tmp_path / "layout.json", "-o", out, "-q"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0] and "mask" in lines[0]
    assert not out.exists()


def test_segmenter_mask_needs_every_mask(tmp_path):
    img, disc, box = disc_scene()
    lay = make_layout([("disc", [(0, [0.2, 0.3, 0.5, 0.7]), (3, [0.5, 0.3, 0.8, 0.7])])], num_frames=4)
    with pytest.raises(LayoutError, match=r'objects\[0\] \("disc"\).mask: missing'):
        CompositeBackend(segmenter="mask").animate(img, lay)


def test_layout_mask_field_must_be_a_path():
    with pytest.raises(LayoutError, match=r"\.mask: must be the path"):
        make_layout([("a", [(0, [0.1, 0.1, 0.5, 0.5])])]).from_dict(
            {"objects": [{"name": "a", "mask": 3, "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.5, 0.5]}]}]})


# ---- SAM 2 -----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sam2(tmp_path_factory):
    from iva0.segment.sam2 import write_random_sam2

    return write_random_sam2(tmp_path_factory.mktemp("sam2"), tiny=True)


def test_sam2_tiny_segments_boxes_offline(tiny_sam2):
    import os

    files = sorted(os.listdir(tiny_sam2))
    assert "config.json" in files and "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    seg = create_segmenter("sam2", tiny_sam2)
    img, disc, box = disc_scene()
    alphas = seg.segment_many(img, np.stack([box, box + 40]), [None, None])
    assert len(alphas) == 2
    for a, b in zip(alphas, (box, box + 40)):
        assert a.shape == disc.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
        outside = np.ones_like(disc)
        outside[int(b[1]) : int(b[3]), int(b[0]) : int(b[2])] = False
        assert a[outside].max() == 0


def test_sam2_real_config_matches_meta_hiera_t():
    from iva0.segment.sam2 import sam2_config

    b = sam2_config().vision_config.backbone_config
    assert (b.hidden_size, b.blocks_per_stage, b.global_attention_blocks) == (96, [1, 2, 7, 2], [5, 7, 9])
    assert sam2_config().vision_config.backbone_channel_list == [768, 384, 192, 96]


def test_animate_with_sam2_and_bad_folders(tiny_sam2, tmp_path, capsys):
    img, disc, box = disc_scene()
    Image.fromarray(img).save(tmp_path / "pic.png")
    make_layout([("disc", [(0, [0.15, 0.3, 0.47, 0.7]), (3, [0.5, 0.3, 0.82, 0.7])])], num_frames=4).save(tmp_path / "l.json")
    out = tmp_path / "o.mp4"
    code, stdout, err = run(["animate", tmp_path / "pic.png", "-l", tmp_path / "l.json", "-o", out, "-q",
                             "--segmenter-model", tiny_sam2], capsys)
    assert code == 0 and out.exists(), err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    for extra, msg in (
        (["--segmenter", "sam2"], "needs a model folder"),
        (["--segmenter-model", tmp_path / "nope"], "neither a folder"),
        (["--segmenter-model", broken], "no .safetensors"),
        (["--segmenter", "mask"], "--segmenter mask needs a mask for every object"),
        (["--fill", "magic"], "--fill must be one of"),
        (["--segmenter", "magic"], "segmenter must be one of"),
    ):
        o2 = tmp_path / "o2.mp4"
        code, _, err = run(["animate", tmp_path / "pic.png", "-l", tmp_path / "l.json", "-o", o2, "-q", *extra], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], err
        assert not o2.exists()


def test_guided_edge_falls_back_to_a_feather_without_contrib(monkeypatch):
    """A plain opencv-python (as on the GPU machine's image) has no ximgproc: the cut-out still gets a soft edge."""
    import cv2

    from iva0.segment.refine import feather, guided_alpha

    img = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1
    guided = guided_alpha(img, mask, 4)
    monkeypatch.delattr(cv2, "ximgproc")
    with pytest.warns(RuntimeWarning, match="contrib"):
        plain = guided_alpha(img, mask, 4)
    assert np.array_equal(plain, feather(mask, 2.0)) and not np.array_equal(plain, guided)
    assert plain[20, 20] == 1.0 and plain[0, 0] == 0.0 and 0 < plain[10, 20] < 1

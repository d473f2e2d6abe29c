"""Points with the box (issue 11): the layout's "points", the composite passing them on, GrabCut and SAM 2
using them, and SAM 2 in bfloat16 (IVA0_SAM2_DTYPE)."""

from __future__ import annotations

import numpy as np
import pytest

from iva0.backends.composite import CompositeConfig, segment_objects
from iva0.errors import LayoutError, UserError
from iva0.layout import load_layout, parse_layout
from iva0.segment import create_segmenter, resolve_segmenter
from iva0.segment.grabcut import GrabCutOptions, GrabCutSegmenter, grabcut_mask

H, W = 96, 128
YY, XX = np.mgrid[0:H, 0:W]


def layout_dict(points=None, box=(0.2, 0.25, 0.7, 0.75)) -> dict:
    obj = {"name": "cup", "keyframes": [{"frame": 0, "box": list(box)}, {"frame": 3, "box": [0.3, 0.25, 0.8, 0.75]}]}
    if points is not None:
        obj["points"] = points
    return {"num_frames": 4, "objects": [obj]}


# ---- layout ------------------------------------------------------------------
def test_points_parse_round_trip_and_scale_to_pixels(tmp_path):
    lay = parse_layout(layout_dict([[0.4, 0.5, 1], [0.65, 0.3, 0.0], [0.95, 0.9, 0]]))
    assert lay.objects[0].points == ((0.4, 0.5, 1), (0.65, 0.3, 0), (0.95, 0.9, 0))  # a background point may lie anywhere
    lay.save(tmp_path / "l.json")
    again = load_layout(tmp_path / "l.json")
    assert again == lay and again.to_dict()["objects"][0]["points"] == [[0.4, 0.5, 1], [0.65, 0.3, 0], [0.95, 0.9, 0]]
    assert lay.with_overrides(fps=12).objects[0].points == lay.objects[0].points
    np.testing.assert_allclose(lay.points_px(200, 100)[0], [[80, 50, 1], [130, 30, 0], [190, 90, 0]])
    plain = parse_layout(layout_dict())
    assert plain.points_px(200, 100) == [None] and "points" not in plain.to_dict()["objects"][0]
    assert parse_layout(layout_dict([])).objects[0].points == ()


@pytest.mark.parametrize(
    "points, fragment",
    [
        ("0.4 0.5 1", "points: must be a list of [x, y, label]"),
        ([[0.4, 0.5]], "points[0]: must be [x, y, label]"),
        ([[0.4, 0.5, 1], 7], "points[1]: must be [x, y, label]"),
        ([[0.4, "0.5", 1]], "points[0]: x and y must be numbers"),
        ([[0.4, 0.5, 1], [float("nan"), 0.5, 0]], "points[1]: non-finite"),
        ([[1.2, 0.5, 0]], "points[0]: x and y must lie in [0, 1]"),
        ([[40, 50, 1]], "these look like pixels"),
        ([[10**400, 0.5, 0]], "x and y must lie in [0, 1]"),
        ([[0.4, 0.5, 2]], "points[0]: label must be 1 (part of the object) or 0"),
        ([[0.4, 0.5, True]], "label must be 1"),
        ([[0.9, 0.5, 1]], "points[0]: an object point (label 1) must lie in the object's frame-0 box"),
        ([[0.4, 0.5, 1]] * 65, "at most 64 points"),
    ],
)
def test_bad_points_are_one_line_naming_the_field(points, fragment):
    with pytest.raises(LayoutError) as e:
        parse_layout(layout_dict(points))
    msg = str(e.value)
    assert fragment in msg and 'objects[0] ("cup").points' in msg and "\n" not in msg, msg


def test_object_point_is_checked_against_the_frame_0_box_only():
    # inside the frame-3 box (x up to 0.8) but outside the frame-0 box (x up to 0.7): refused
    with pytest.raises(LayoutError, match="frame-0 box"):
        parse_layout(layout_dict([[0.75, 0.5, 1]]))


def test_cli_refuses_bad_points_in_one_line(tmp_path, capsys):
    from PIL import Image

    from iva0_test_helpers import run_cli

    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(tmp_path / "pic.png")
    (tmp_path / "l.json").write_text(__import__("json").dumps(layout_dict([[0.4, 0.5, 3]])))
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(["animate", tmp_path / "pic.png", "-l", tmp_path / "l.json", "-o", out, "-q"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "points[0]: label" in lines[0], err
    assert not out.exists()


# ---- composite: the layout's points reach the segmenter ------------------------
class Recorder:
    name = "recorder"

    def __init__(self):
        self.calls = []

    def segment(self, image, box_px, points=None, seed=0):
        self.calls.append((np.asarray(box_px), None if points is None else np.asarray(points)))
        a = np.zeros(image.shape[:2], np.float32)
        x0, y0, x1, y1 = (int(v) for v in box_px)
        a[y0:y1, x0:x1] = 1
        return a


def test_segment_objects_passes_each_objects_points_in_pixels(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((H, W), 255, np.uint8)).save(tmp_path / "m.png")
    data = {"num_frames": 2, "objects": [
        {"name": "a", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.4, 0.4]}], "points": [[0.25, 0.25, 1], [0.3, 0.2, 0]]},
        {"name": "b", "keyframes": [{"frame": 0, "box": [0.5, 0.5, 0.9, 0.9]}], "points": [[0.6, 0.6, 1]],
         "mask": "m.png"},  # its own mask: not segmented
        {"name": "c", "keyframes": [{"frame": 0, "box": [0.5, 0.1, 0.9, 0.4]}]},
    ]}  # fmt: skip
    lay = parse_layout(data, base_dir=tmp_path)
    rec = Recorder()
    segment_objects(np.zeros((H, W, 3), np.uint8), lay, CompositeConfig(), segmenter=rec)
    assert len(rec.calls) == 2
    np.testing.assert_allclose(rec.calls[0][0], [0.1 * W, 0.1 * H, 0.4 * W, 0.4 * H])
    np.testing.assert_allclose(rec.calls[0][1], [[0.25 * W, 0.25 * H, 1], [0.3 * W, 0.2 * H, 0]])
    assert rec.calls[1][1] is None


# ---- GrabCut -------------------------------------------------------------------
def noisy_ground(seed=0) -> np.ndarray:
    img = np.empty((H, W, 3), np.float32)
    img[:] = (90, 110, 130)
    return img + np.random.default_rng(seed).normal(0, 6, img.shape)


def test_grabcut_background_point_removes_a_region_inside_the_box():
    img = noisy_ground()
    disc = (XX - 50) ** 2 + (YY - 48) ** 2 <= 16**2
    square = (XX >= 72) & (XX < 84) & (YY >= 40) & (YY < 56)  # something else inside the box
    img[disc], img[square] = (230, 40, 30), (30, 40, 220)
    img = np.clip(img, 0, 255).astype(np.uint8)
    box, seg = np.array([28.0, 26.0, 90.0, 70.0]), GrabCutSegmenter()
    plain, clicked = seg.segment(img, box), seg.segment(img, box, np.array([[78, 48, 0]]))
    assert plain[square].mean() > 0.9 and plain[disc].mean() > 0.95  # without the click the square is taken along
    assert clicked[square].mean() < 0.05 and clicked[disc].mean() > 0.95


def test_grabcut_object_point_keeps_a_part_the_colour_of_the_ground():
    img = noisy_ground(1)
    disc = (XX - 50) ** 2 + (YY - 48) ** 2 <= 16**2
    handle = (XX >= 66) & (XX < 80) & (YY >= 40) & (YY < 56)  # a part close to the background's colour
    img[disc], img[handle] = (230, 40, 30), (100, 120, 140)
    img = np.clip(img, 0, 255).astype(np.uint8)
    # the box prior alone keeps this handle (it reaches towards the box's side): off, to see the click's own effect
    box, seg = np.array([28.0, 26.0, 90.0, 70.0]), GrabCutSegmenter(GrabCutOptions(tight=0.0))
    plain, clicked = seg.segment(img, box), seg.segment(img, box, np.array([[73, 48, 1]]))
    assert plain[handle].mean() < 0.3
    assert clicked[handle].mean() > 0.8 and clicked[disc].mean() > 0.95
    assert GrabCutSegmenter().segment(img, box)[handle].mean() > 0.8


def test_grabcut_background_point_keeps_an_enclosed_hole_open():
    """A ring's hole is filled back as a hole enclosed by the object (and lies in the central sure-object
    guess); a background click in it wins over both."""
    img = noisy_ground(2)
    r2 = (XX - 56) ** 2 + (YY - 48) ** 2
    ring, hole = (r2 <= 20**2) & (r2 > 9**2), r2 <= 7**2
    img[ring] = (230, 40, 30)
    img = np.clip(img, 0, 255).astype(np.uint8)
    box = np.array([32.0, 24.0, 80.0, 72.0])
    assert grabcut_mask(img, box)[hole].mean() == 1.0
    clicked = grabcut_mask(img, box, points=np.array([[56, 48, 0]]))
    assert clicked[hole].mean() == 0.0 and clicked[ring].mean() > 0.95


def test_composite_cut_out_follows_the_layout_points():
    img = noisy_ground()
    disc = (XX - 50) ** 2 + (YY - 48) ** 2 <= 16**2
    square = (XX >= 72) & (XX < 84) & (YY >= 40) & (YY < 56)
    img[disc], img[square] = (230, 40, 30), (30, 40, 220)
    img = np.clip(img, 0, 255).astype(np.uint8)
    box = [28 / W, 26 / H, 90 / W, 70 / H]
    cuts = [segment_objects(img, parse_layout(layout_dict(p, box)))[0] for p in (None, [[78 / W, 48 / H, 0]])]
    assert cuts[0].mask[square].mean() > 0.9 and cuts[1].mask[square].mean() < 0.05


# ---- SAM 2 ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def lively_sam2(tmp_path_factory):
    """The tiny random SAM 2 with PyTorch's default initialisation: transformers' (normal, std 0.02) gives mask
    logits of ~1e-5, too close to 0 for a comparison of dtypes or prompts to mean anything; these are ~0.1."""
    import torch
    from transformers import Sam2Model

    from iva0.segment.sam2 import write_random_sam2

    folder = write_random_sam2(tmp_path_factory.mktemp("sam2"), tiny=True)
    net = Sam2Model.from_pretrained(folder)
    torch.manual_seed(0)
    for m in net.modules():
        if m is not net and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    net.save_pretrained(folder, safe_serialization=True)
    return folder


def picture(seed=0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((120, 160, 3)) * 255).astype(np.uint8), (0, 0), 3)


def processor_prompts(H_, W_, boxes, points, labels, side):
    """The prompts as transformers' Sam2Processor prepares them (its image half needs torchvision; the prompt
    half runs on `original_sizes` alone)."""
    from transformers.models.sam2.processing_sam2 import Sam2Processor

    proc = object.__new__(Sam2Processor)
    proc.target_size, proc.point_pad_value = side, -10
    kw = {"input_boxes": [boxes]}
    if points is not None:
        kw.update(input_points=[points], input_labels=[labels])
    out = proc(original_sizes=[[H_, W_]], return_tensors="pt", **kw)
    return {k: v for k, v in out.items() if k != "original_sizes"}


def test_sam2_points_equal_a_direct_model_call_prepared_as_sam2processor(lively_sam2):
    import torch

    from iva0.segment.base import box_to_int
    from iva0.segment.sam2 import Sam2Segmenter

    seg = Sam2Segmenter.from_pretrained(lively_sam2)
    img = picture()
    Hh, Ww = img.shape[:2]
    boxes = np.array([[20.4, 30.0, 100.0, 110.7], [60.0, -5.0, 170.0, 90.0], [5.0, 5.0, 60.0, 50.0]])
    points = [np.array([[50.5, 60.0, 1], [70.0, 80.25, 0]]), None, np.array([[30.0, 20.0, 0], [20.0, 40.0, 1]])]
    ours = seg.mask_logits(img, boxes, points)
    clipped = [list(map(float, box_to_int(b, Ww, Hh))) for b in boxes]
    # objects 0 and 2 have two points each: one processor call for both; object 1 has none: a box-only call
    with torch.inference_mode():
        pts = [points[0][:, :2].tolist(), points[2][:, :2].tolist()]
        labs = [points[0][:, 2].astype(int).tolist(), points[2][:, 2].astype(int).tolist()]
        out = seg.model(pixel_values=seg._pixels(img), multimask_output=False,
                        **processor_prompts(Hh, Ww, [clipped[0], clipped[2]], pts, labs, seg.side))
        direct = {0: out.pred_masks[0, 0, 0].numpy(), 2: out.pred_masks[0, 1, 0].numpy()}
        out = seg.model(pixel_values=seg._pixels(img), multimask_output=False,
                        **processor_prompts(Hh, Ww, [clipped[1]], None, None, seg.side))
        direct[1] = out.pred_masks[0, 0, 0].numpy()
    for j in range(3):
        np.testing.assert_allclose(ours[j], direct[j], rtol=0, atol=1e-5)
    # one object alone gets the same mask as in company: no padding tokens from the others' points
    alone = seg.mask_logits(img, boxes[1:2], [None])[0]
    np.testing.assert_allclose(alone, ours[1], rtol=0, atol=1e-5)


def test_sam2_points_change_the_mask(lively_sam2):
    seg = create_segmenter("sam2", lively_sam2)
    img = picture(1)
    box = np.array([20.0, 30.0, 100.0, 110.0])
    base = seg.mask_logits(img, box[None], [None])[0]
    for pts in (np.array([[60.0, 70.0, 0]]), np.array([[60.0, 70.0, 1]]), np.array([[30.0, 40.0, 1], [80.0, 90.0, 0]])):
        other = seg.mask_logits(img, box[None], [pts])[0]
        assert np.abs(other - base).max() > 0.01 * np.abs(base).max(), pts
    a, b = (seg.segment(img, box, p) for p in (None, np.array([[60.0, 70.0, 0]])))
    assert a.shape == b.shape == img.shape[:2] and not np.array_equal(a, b)


def test_sam2_bfloat16_runs_and_matches_float32(lively_sam2, monkeypatch):
    """Measured on this tiny model: logits within 1.3 % of their largest magnitude, alphas within 6.2e-4."""
    import torch

    monkeypatch.setenv("IVA0_SAM2_DTYPE", "bfloat16")
    bf = create_segmenter("sam2", lively_sam2)
    monkeypatch.delenv("IVA0_SAM2_DTYPE")
    fp = create_segmenter("sam2", lively_sam2)
    assert bf.dtype == torch.bfloat16 and next(bf.model.parameters()).dtype == torch.bfloat16
    assert fp.dtype == torch.float32 and next(fp.model.parameters()).dtype == torch.float32
    img = picture(2)
    boxes = np.array([[20.0, 30.0, 100.0, 110.0], [60.0, 10.0, 150.0, 90.0]])
    points = [np.array([[50.0, 60.0, 1], [70.0, 80.0, 0]]), None]
    for lf, lb in zip(fp.mask_logits(img, boxes, points), bf.mask_logits(img, boxes, points)):
        assert lb.dtype == np.float32
        assert np.abs(lf - lb).max() <= 0.03 * np.abs(lf).max()
    for af, ab in zip(fp.segment_many(img, boxes, points), bf.segment_many(img, boxes, points)):
        assert ab.dtype == np.float32 and np.abs(af - ab).max() < 2e-3
        assert ((af >= 0.5) == (ab >= 0.5)).mean() > 0.99


def test_sam2_dtype_environment_variable_is_checked_early(lively_sam2, monkeypatch):
    from iva0.segment.sam2 import Sam2Segmenter

    monkeypatch.setenv("IVA0_SAM2_DTYPE", "float16")
    with pytest.raises(UserError, match="IVA0_SAM2_DTYPE must be one of float32, bfloat16, got 'float16'"):
        resolve_segmenter("sam2", lively_sam2)
    assert resolve_segmenter("grabcut", None) == ("grabcut", None)  # only SAM 2 reads it
    with pytest.raises(ValueError, match="dtype"):
        Sam2Segmenter.from_pretrained(lively_sam2, dtype="half")


def test_cli_bad_sam2_dtype_is_one_error_line(lively_sam2, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from iva0_test_helpers import run_cli

    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(tmp_path / "pic.png")
    parse_layout(layout_dict([[0.4, 0.5, 1]])).save(tmp_path / "l.json")
    monkeypatch.setenv("IVA0_SAM2_DTYPE", "fp8")
    out = tmp_path / "o.mp4"
    code, _, err = run_cli(["animate", tmp_path / "pic.png", "-l", tmp_path / "l.json", "-o", out, "-q",
                            "--segmenter-model", lively_sam2], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "IVA0_SAM2_DTYPE" in lines[0], err
    assert not out.exists()
    monkeypatch.setenv("IVA0_SAM2_DTYPE", "bfloat16")
    code, _, err = run_cli(["animate", tmp_path / "pic.png", "-l", tmp_path / "l.json", "-o", out, "-q",
                            "--segmenter-model", lively_sam2], capsys)
    assert code == 0 and out.exists(), err



def test_report_strip_layout_drops_points_of_a_moved_frame_0():
    from iva0.bench.report import _pick_frames

    lay = parse_layout(layout_dict([[0.25, 0.5, 1]]))  # inside the frame-0 box, outside frame 3's (x from 0.3)
    picked = _pick_frames(lay, [3, 0])
    assert picked.objects[0].points == () and picked.num_frames == 2
